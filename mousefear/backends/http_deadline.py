"""HTTP requests whose whole exchange has a time limit (standard library only).

``urllib``'s ``timeout`` applies to each blocking socket operation, so a server that sends one byte a second
keeps a request alive for ever. :func:`post_within` bounds the whole exchange: a timer shuts the request's
sockets down when the time is up, which ends any read or handshake blocked on them, and the request fails
with :class:`TimeoutError`. Proxies and HTTPS work as with :func:`urllib.request.urlopen`.
"""

from __future__ import annotations

import http.client
import socket
import threading
import urllib.error
import urllib.request
from typing import Any

__all__ = ["post_within"]


class _Deadline:
    """Shuts down the sockets of one request when its time is up, which ends any read blocked on them."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.expired = False
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._socks.append(sock)
            if self.expired:
                _shutdown(sock)

    def expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._socks:
                _shutdown(sock)


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _watched(base: type[http.client.HTTPConnection], deadline: _Deadline) -> Any:
    """``base`` whose sockets are handed to ``deadline`` as soon as they exist (before a TLS handshake)."""

    class Connection(base):  # type: ignore[valid-type,misc]
        def __init__(self, *args: Any, **kwargs: Any):
            super().__init__(*args, **kwargs)
            plain = self._create_connection

            def create(*a: Any, **k: Any) -> socket.socket:
                sock = plain(*a, **k)
                deadline.watch(sock)
                return sock

            self._create_connection = create

    return Connection


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, deadline: _Deadline):
        super().__init__()
        self.deadline = deadline

    def http_open(self, req: urllib.request.Request) -> Any:
        return self.do_open(_watched(http.client.HTTPConnection, self.deadline), req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, deadline: _Deadline):
        super().__init__()
        self.deadline = deadline

    def https_open(self, req: urllib.request.Request) -> Any:
        return self.do_open(_watched(http.client.HTTPSConnection, self.deadline), req, context=self._context)


def _exchange(req: urllib.request.Request, deadline: _Deadline) -> tuple[int, bytes]:
    """Send ``req`` and read the whole answer: (HTTP status, body)."""
    opener = urllib.request.build_opener(_HTTPHandler(deadline), _HTTPSHandler(deadline))
    try:
        with opener.open(req, timeout=deadline.seconds) as resp:
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return int(exc.code), exc.read()


def post_within(req: urllib.request.Request, seconds: float) -> tuple[int, bytes]:
    """Send ``req`` and read the whole answer within ``seconds``.

    Returns
    -------
    tuple of (int, bytes)
        The HTTP status (error statuses included, never raised) and the body.

    Raises
    ------
    TimeoutError
        The exchange did not end within ``seconds`` (whatever the server was doing: silent, or trickling).
    urllib.error.URLError, OSError, http.client.HTTPException
        The connection failed.
    """
    deadline = _Deadline(seconds)
    timer = threading.Timer(seconds, deadline.expire)
    timer.daemon = True
    timer.start()
    try:
        return _exchange(req, deadline)
    except Exception as exc:
        # the deadline cut the exchange, or a socket operation timed out (at the same limit) just before it
        if deadline.expired or isinstance(getattr(exc, "reason", exc), TimeoutError):
            raise TimeoutError(f"no complete answer within {seconds:g} s") from None
        raise
    finally:
        timer.cancel()
