"""Requests to one or several OpenAI-compatible servers of the same model: where each goes, retries, giving up.

:class:`ServerPool` sends each request to the server with the fewest requests in flight (ties: the one that
has had fewest). A request that fails for a transient reason (the connection refused or reset, a timeout, HTTP
408/429/5xx, an answer that is not a chat completion) sets its server aside for ``backoff_seconds * 2**(k-1)``
seconds (k: the request's attempt on it, at most 60 s), and the request is tried again at once on another
server that is not set aside; when every server is set aside it waits for the first to come back. A request
fails only when every server has failed it ``max_attempts`` times, with one line that names each server and its
last error. With one server this is plain retrying with exponential backoff. A server set aside is logged once
(and once when it answers again), not at every request.

A server that did not answer when the backend was loaded is set aside too, and probed (by ``check``) before it
gets requests again; one whose probe finds another model or another decision path takes no more requests.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from mousefear.errors import ModelError

__all__ = ["MAX_SET_ASIDE_SECONDS", "Server", "ServerPool", "ServersDown"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
#: Longest time a failing server is set aside at once, seconds.
MAX_SET_ASIDE_SECONDS = 60.0


class ServersDown(ModelError):
    """Every server failed a request as many times as allowed (they are down, or keep failing it)."""


@dataclass
class Server:
    """One server of the pool and what is known of it."""

    url: str
    in_flight: int = 0
    sent: int = 0
    aside_until: float = 0.0  # time.monotonic() before which it gets no request
    last_error: str = ""
    probed: bool = True  # False: it did not answer when the backend was loaded; probed before it gets requests
    probing: bool = False
    dropped: str = ""  # why it takes no more requests (it serves another model)


class ServerPool:
    """The servers of one backend (see the module docstring).

    Parameters
    ----------
    urls
        Base addresses (``http://host:8000/v1``), one per server.
    max_attempts
        Attempts of one request on each server before it gives up.
    backoff_seconds
        Time a server is set aside after a request's first failure on it; doubled at each further one.
    stop
        Set when the run stops: waiting requests give up at once.
    redact
        Removes secrets (the API key) from error texts.
    """

    def __init__(self, urls: Sequence[str], max_attempts: int, backoff_seconds: float, stop: threading.Event,
                 redact: Callable[[str], str] = lambda t: t):
        self.servers = [Server(u.rstrip("/")) for u in urls]
        self.max_attempts, self.backoff_seconds = max_attempts, backoff_seconds
        self.stop, self.redact = stop, redact
        self._cond = threading.Condition()

    @property
    def urls(self) -> list[str]:
        return [s.url for s in self.servers]

    def set_aside(self, url: str, error: str, probed: bool = False) -> None:
        """Give ``url`` no request for a while (it did not answer the probe at loading)."""
        with self._cond:
            server = next(s for s in self.servers if s.url == url)
            server.probed, server.last_error = probed, error
            server.aside_until = time.monotonic() + self.backoff_seconds

    # ---------------------------------------------------------------- choosing a server
    def _acquire(self, tried: dict[str, int], pin: str | None) -> Server | None:
        """The server for a request's next attempt; None when none is left to it (or the run stops)."""
        with self._cond:
            while not self.stop.is_set():
                usable = [s for s in self.servers if not s.dropped and tried.get(s.url, 0) < self.max_attempts
                          and (pin is None or s.url == pin)]
                if not usable:
                    return None
                now = time.monotonic()
                ready = [s for s in usable if s.aside_until <= now and not s.probing]
                if ready:
                    server = min(ready, key=lambda s: (tried.get(s.url, 0), s.in_flight, s.sent))
                    server.in_flight += 1
                    server.sent += 1
                    if not server.probed:
                        server.probing = True
                    return server
                waits = [s.aside_until - now for s in usable if s.aside_until > now]
                self._cond.wait(timeout=min([0.5, *waits]))
            return None

    def _release(self, server: Server, error: str | None, attempt: int) -> None:
        with self._cond:
            server.in_flight -= 1
            server.probing = False
            if error is None:
                if server.last_error and len(self.servers) > 1:
                    logger.info("Server %s answers again", server.url)
                server.last_error = ""
            else:
                now = time.monotonic()
                aside = min(MAX_SET_ASIDE_SECONDS, self.backoff_seconds * 2 ** (attempt - 1))
                if len(self.servers) > 1 and server.aside_until <= now and not server.last_error:
                    logger.warning("Server %s failed (%s); it gets no requests for %.0f s, its windows go to the "
                                   "other servers", server.url, error, aside)
                server.last_error = error
                server.aside_until = max(server.aside_until, now + aside)
            self._cond.notify_all()

    # ---------------------------------------------------------------- a request
    def request(self, send: Callable[[str], T], what: str, transient: tuple[type[BaseException], ...],
                model: str, pin: str | None = None,
                check: Callable[[str], str | None] | None = None) -> tuple[T, int]:
        """Send one request (``send(url)``) until a server answers it; return (answer, attempts).

        Parameters
        ----------
        send
            Makes the request to a server's base address; raises one of ``transient`` for a failure worth
            trying again, anything else to stop at once.
        what
            What the request is for, for messages (``"window 5 of m1_day1"``).
        transient
            Exception types that mean "try again (elsewhere)".
        model
            The model the servers should serve, for the message.
        pin
            Only this server (a probe of one server).
        check
            Probes a server that did not answer at loading before it gets the request: None when it is usable,
            else why it is not (it then takes no more requests); raises ``transient`` when it still does not
            answer.

        Raises
        ------
        ModelError
            Every server failed the request ``max_attempts`` times (one line naming each one and its last
            error), or the run is stopping.
        """
        tried: dict[str, int] = {}
        errors: dict[str, str] = {}
        t0 = time.monotonic()
        while True:
            server = self._acquire(tried, pin)
            if server is None:
                break
            tried[server.url] = tried.get(server.url, 0) + 1
            error: str | None = None
            try:
                if not server.probed and check is not None:
                    why = check(server.url)
                    server.probed = True
                    if why:
                        server.dropped = why
                        logger.error("Server %s takes no requests: %s", server.url, why)
                        tried[server.url] = self.max_attempts
                        continue
                return send(server.url), sum(tried.values())
            except transient as exc:
                reason = getattr(exc, "reason", None) or exc
                error = self.redact(f"{reason.__class__.__name__}: {reason}")
                errors[server.url] = error
                if len(self.servers) == 1 and tried[server.url] < self.max_attempts and not self.stop.is_set():
                    logger.warning("Server %s, %s: %s (attempt %d of %d); retrying in %.1f s", server.url, what,
                                   error, tried[server.url], self.max_attempts,
                                   min(MAX_SET_ASIDE_SECONDS, self.backoff_seconds * 2 ** (tried[server.url] - 1)))
            finally:
                self._release(server, error, tried[server.url])
        if self.stop.is_set() and not errors:
            raise ModelError(f"Request for {what} to {', '.join(self.urls)} cancelled (the run is stopping)")
        seconds = time.monotonic() - t0
        tail = (f"Check that the server{'s are' if len(self.servers) > 1 else ' is'} running and serve"
                f"{'' if len(self.servers) > 1 else 's'} model {model!r}; that window has no result (nothing of it "
                "is saved) and the windows classified before it are saved, so running again resumes there")
        if len(self.servers) == 1 or pin is not None:
            url = pin or self.servers[0].url
            raise ServersDown(self.redact(
                f"The server at {url} failed to answer {what} after {tried.get(url, 0)} attempt(s) over "
                f"{seconds:.1f} s; last error: {errors.get(url, 'cancelled')}. {tail}"))
        parts = [f"{s.url}: {errors.get(s.url) or s.dropped or s.last_error or 'not tried'}" for s in self.servers]
        raise ServersDown(self.redact(
            f"All {len(self.servers)} servers failed to answer {what} ({self.max_attempts} attempt(s) on each, "
            f"over {seconds:.1f} s); last errors: {'; '.join(parts)}. {tail}"))

    def describe(self) -> list[dict[str, Any]]:
        """Per server: ``url``, ``sent`` (requests), ``in_flight``, ``set_aside`` (bool), ``last_error``."""
        now = time.monotonic()
        with self._cond:
            return [{"url": s.url, "sent": s.sent, "in_flight": s.in_flight, "set_aside": s.aside_until > now,
                     "last_error": s.last_error or s.dropped} for s in self.servers]
