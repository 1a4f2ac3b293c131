"""A small local web server for the labelling and review pages (standard library only).

Security model (the pages run on a person's own machine, often next to other software):

- The server binds 127.0.0.1 only, never a public interface.
- Every request must carry ``Host: 127.0.0.1:<port>`` or ``Host: localhost:<port>``; anything else is answered
  403 (this defeats DNS rebinding, where a web site points its own name at 127.0.0.1).
- An ``Origin`` header, when present, must be ``http://127.0.0.1:<port>`` or ``http://localhost:<port>`` (403
  otherwise). Writes are POST only, with a JSON body (``Content-Type: application/json``) and an ``Origin``
  header that passes this check; a cross-site page can therefore never make the browser write.
- Paths are never built from URL text: pages and assets are looked up in a fixed table, exemplar frames are
  looked up by exemplar id (which must be in the index) and a file-name pattern, and the resolved path must
  stay inside the folder it is meant to come from. Anything else is 404, including ``..`` segments, encoded
  or not.
- Every file written is checked to resolve inside the project folder (a label file that is a link to a place
  outside is refused), and written atomically.
- At most :attr:`GuiServer.max_connections` connections are served at once (one thread each); more are closed at
  once with 503. A connection that sends nothing for :attr:`GuiServer.idle_seconds` is closed. A JSON body may
  nest at most :data:`MAX_JSON_DEPTH` deep.
"""

from __future__ import annotations

import json
import logging
import mimetypes
import re
import sys
import threading
import webbrowser
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from mousefear._io import os_error_message
from mousefear.errors import MousefearError

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
MAX_BODY_BYTES = 1 << 20
#: Deepest nesting of arrays and objects accepted in a JSON body (the pages send two or three levels).
MAX_JSON_DEPTH = 32
_STATIC_NAME = re.compile(r"^[a-z0-9_-]+\.(html|css|js|svg|png)$")


class HttpError(Exception):
    """An error answered to the client with ``status`` and a JSON body ``{"error": message}``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = int(status)
        self.message = message


class Response:
    """What a route returns: a body with its content type (JSON, page, image) and extra headers."""

    def __init__(self, body: bytes, content_type: str, status: int = 200, headers: dict[str, str] | None = None):
        self.body = body
        self.content_type = content_type
        self.status = status
        self.headers = headers or {}

    @classmethod
    def json(cls, data: Any, status: int = 200) -> Response:
        return cls(json.dumps(data, allow_nan=False).encode("utf-8"), "application/json; charset=utf-8", status,
                   {"Cache-Control": "no-store"})

    @classmethod
    def redirect(cls, location: str) -> Response:
        return cls(b"", "text/plain", HTTPStatus.FOUND, {"Location": location})


def inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` resolves to ``folder`` or a place below it (links followed)."""
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def check_write_target(path: Path, root: Path) -> Path:
    """``path`` if it (links followed) lies inside the project folder ``root``; 403 :class:`HttpError` otherwise."""
    if not inside(path, root) or (path.exists() and not path.is_file()):
        raise HttpError(HTTPStatus.FORBIDDEN, f"Refused to write {path}: it is not a file inside the project "
                                              f"folder {root}")
    return path


GetRoute = Callable[[dict[str, str]], Response]
PostRoute = Callable[[dict[str, Any]], Response]


class App:
    """Routes of one page family. Sub-classes fill ``get_routes``, ``post_routes`` and ``prefix_routes``."""

    def __init__(self) -> None:
        self.get_routes: dict[str, GetRoute] = {}
        self.post_routes: dict[str, PostRoute] = {}
        #: path prefix -> handler taking the (decoded, checked) rest of the path and the query
        self.prefix_routes: dict[str, Callable[[str, dict[str, str]], Response]] = {}


class GuiServer(ThreadingHTTPServer):
    """The local server of the labelling and review pages.

    Parameters
    ----------
    apps
        The page families served (labelling, review); their routes are merged.
    start_page
        Path that ``/`` redirects to (e.g. ``/label``).
    port
        TCP port on 127.0.0.1; 0 picks a free one.
    """

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64  # connections waiting to be accepted (socketserver's default is 5)
    #: connections served at once; more are answered 503 and closed (each connection is one thread)
    max_connections = 32
    #: seconds a connection may stay silent (before or between requests) before it is closed
    idle_seconds = 30.0

    def __init__(self, apps: list[App], start_page: str, port: int = 0):
        self.apps = apps
        self.start_page = start_page
        self._slots = threading.BoundedSemaphore(self.max_connections)
        self.static_files = {p.name: p for p in STATIC_DIR.iterdir() if p.is_file() and _STATIC_NAME.match(p.name)}
        self._thread: threading.Thread | None = None
        super().__init__(("127.0.0.1", int(port)), _Handler)
        self.port = int(self.server_address[1])
        self.allowed_hosts = {f"127.0.0.1:{self.port}", f"localhost:{self.port}"}
        self.allowed_origins = {f"http://{h}" for h in self.allowed_hosts}

    @property
    def url(self) -> str:
        """Address of the start page, e.g. ``http://127.0.0.1:8765/label``."""
        return f"http://127.0.0.1:{self.port}{self.start_page}"

    # ------------------------------------------------------------------ running
    def start(self) -> GuiServer:
        """Serve in a background (daemon) thread and return at once; :meth:`stop` ends it."""
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"mousefear-gui-{self.port}", daemon=True)
        self._thread.start()
        logger.info("Serving %s", self.url)
        return self

    def stop(self) -> None:
        """Stop serving (if started with :meth:`start`) and close the socket."""
        if self._thread is not None:
            self.shutdown()
            self._thread.join()
            self._thread = None
        self.server_close()

    def run_until_interrupted(self, open_browser: bool = False) -> None:
        """Serve in this thread until Ctrl-C (KeyboardInterrupt), then close cleanly."""
        logger.info("Serving %s (press Ctrl-C to stop)", self.url)
        if open_browser:
            webbrowser.open(self.url)
        try:
            self.serve_forever(poll_interval=0.2)
        except KeyboardInterrupt:
            logger.info("Stopped serving %s", self.url)
        finally:
            self.server_close()

    def __enter__(self) -> GuiServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ connections
    def process_request(self, request: Any, client_address: Any) -> None:
        """Serve the connection in a thread of its own if a slot is free; otherwise answer 503 and close it."""
        if not self._slots.acquire(blocking=False):
            try:
                request.settimeout(1.0)
                request.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n"
                                b"Retry-After: 1\r\n\r\n")
            except OSError:
                pass
            self.shutdown_request(request)
            logger.debug("Refused a connection from %s: %d connections open already", client_address,
                         self.max_connections)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A connection failed outside a route (the client went away or stayed silent): one log line."""
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):
            logger.debug("Connection from %s ended: %s", client_address, exc)
        else:
            logger.error("Connection from %s failed: %s: %s", client_address, type(exc).__name__, exc)

    # ------------------------------------------------------------------ routing
    def route_get(self, path: str, query: dict[str, str]) -> Response:
        if path == "/":
            return Response.redirect(self.start_page)
        if path == "/api/pages":  # which pages this server has (the pages hide links to the others)
            pages = [p for p in ("/label", "/review") if any(p in app.get_routes for app in self.apps)]
            return Response.json({"pages": pages})
        if path.startswith("/static/"):
            name = path[len("/static/"):]
            file = self.static_files.get(name)
            if file is None:
                raise HttpError(HTTPStatus.NOT_FOUND, "not found")
            return _file_response(file)
        for app in self.apps:
            if path in app.get_routes:
                return app.get_routes[path](query)
        for app in self.apps:
            for prefix, handler in app.prefix_routes.items():
                if path.startswith(prefix):
                    return handler(path[len(prefix):], query)
        raise HttpError(HTTPStatus.NOT_FOUND, "not found")

    def route_post(self, path: str, body: dict[str, Any]) -> Response:
        for app in self.apps:
            if path in app.post_routes:
                return app.post_routes[path](body)
        raise HttpError(HTTPStatus.NOT_FOUND, "not found")


def _file_response(path: Path) -> Response:
    ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if ctype.startswith("text/") or ctype in ("application/javascript", "image/svg+xml"):
        ctype += "; charset=utf-8"
    return Response(path.read_bytes(), ctype, headers={"Cache-Control": "no-cache"})


def page_response(name: str) -> Response:
    """One of the package's HTML pages."""
    return _file_response(STATIC_DIR / name)


_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": ("default-src 'self'; img-src 'self' data: blob:; style-src 'self'; "
                                "script-src 'self'; connect-src 'self'; frame-ancestors 'none'"),
}


def _clean_path(raw: str) -> str | None:
    """The decoded URL path, or None when it is one that is never served (traversal, odd characters)."""
    path = unquote(raw, errors="strict") if "%" in raw else raw
    if "%" in path:  # doubly encoded
        return None
    if not path.startswith("/") or "\\" in path or "\x00" in path or "//" in path:
        return None
    if any(seg in (".", "..") for seg in path.split("/")):
        return None
    return path


class _Handler(BaseHTTPRequestHandler):
    server: GuiServer
    server_version = "mousefear-gui"
    sys_version = ""
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        self.timeout = self.server.idle_seconds  # a silent connection is closed (socket timeout)
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (signature of the base class)
        logger.debug("%s %s", self.address_string(), format % args)

    # --------------------------------------------------------------- answering
    def _send(self, resp: Response) -> None:
        self.send_response(resp.status)
        self.send_header("Content-Type", resp.content_type)
        self.send_header("Content-Length", str(len(resp.body)))
        for key, value in {**_SECURITY_HEADERS, **resp.headers}.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(resp.body)

    def _send_error(self, status: int, message: str) -> None:
        self._send(Response(json.dumps({"error": message}).encode("utf-8"), "application/json; charset=utf-8",
                            status, {"Cache-Control": "no-store"}))

    def _check_origin(self, require: bool) -> str | None:
        """None when Host (and Origin) are acceptable, else the reason."""
        host = self.headers.get("Host", "")
        if host not in self.server.allowed_hosts:
            return f"Expected the Host header to be one of {sorted(self.server.allowed_hosts)}, but got {host!r}"
        origin = self.headers.get("Origin")
        if origin is None:
            if require:
                return "Expected an Origin header on a write request, but got none"
            return None
        if origin not in self.server.allowed_origins:
            return f"Expected the Origin to be one of {sorted(self.server.allowed_origins)}, but got {origin!r}"
        return None

    def _parse(self) -> tuple[str, dict[str, str]] | None:
        parts = urlsplit(self.path)
        try:
            path = _clean_path(parts.path)
        except UnicodeDecodeError:
            path = None
        if path is None:
            return None
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        return path, query

    def _handle(self, fn: Callable[[], Response]) -> None:
        try:
            resp = fn()
        except HttpError as exc:
            if exc.status >= 500:
                logger.error("%s %s: %s", self.command, self.path, exc.message)
            self._send_error(exc.status, exc.message)
            return
        except (MousefearError, OSError) as exc:  # a file that cannot be written (full disk, read-only): one line
            message = os_error_message(exc) if isinstance(exc, OSError) else str(exc)
            logger.error("%s %s: %s", self.command, self.path, message)
            self._send_error(HTTPStatus.INTERNAL_SERVER_ERROR, message)
            return
        except Exception as exc:  # a bug or unexpected state: report it, keep serving
            logger.exception("%s %s failed", self.command, self.path)
            self._send_error(HTTPStatus.INTERNAL_SERVER_ERROR, f"{type(exc).__name__}: {exc}")
            return
        self._send(resp)

    # --------------------------------------------------------------- methods
    def do_GET(self) -> None:  # noqa: N802 (name fixed by http.server)
        reason = self._check_origin(require=False)
        if reason:
            self._send_error(HTTPStatus.FORBIDDEN, reason)
            return
        parsed = self._parse()
        if parsed is None:
            self._send_error(HTTPStatus.NOT_FOUND, "not found")
            return
        self._handle(lambda: self.server.route_get(*parsed))

    def do_HEAD(self) -> None:  # noqa: N802
        self.do_GET()

    def do_POST(self) -> None:  # noqa: N802
        reason = self._check_origin(require=True)
        if reason:
            self._discard_body()
            self._send_error(HTTPStatus.FORBIDDEN, reason)
            return
        parsed = self._parse()
        if parsed is None:
            self._discard_body()
            self._send_error(HTTPStatus.NOT_FOUND, "not found")
            return
        ctype = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if ctype != "application/json":
            self._discard_body()
            self._send_error(HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                             f"Expected Content-Type application/json, but got {ctype or 'none'!r}")
            return
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self.close_connection = True
            self._send_error(HTTPStatus.LENGTH_REQUIRED, "Expected a Content-Length header, but got none")
            return
        if length < 0 or length > MAX_BODY_BYTES:
            self.close_connection = True
            self._send_error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                             f"Expected a body of at most {MAX_BODY_BYTES} bytes, but got {length}")
            return
        raw = self.rfile.read(length)
        try:
            text = raw.decode("utf-8")
            if _nesting(text) > MAX_JSON_DEPTH:
                self._send_error(HTTPStatus.BAD_REQUEST, f"Expected a JSON body nested at most {MAX_JSON_DEPTH} "
                                                         "levels deep, but got a deeper one")
                return
            body = json.loads(text)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            self._send_error(HTTPStatus.BAD_REQUEST, f"Expected a JSON body, but got unreadable text "
                                                     f"({type(exc).__name__}: {str(exc)[:200]})")
            return
        if not isinstance(body, dict):
            self._send_error(HTTPStatus.BAD_REQUEST, f"Expected a JSON object, but got {type(body).__name__}")
            return
        path = parsed[0]
        self._handle(lambda: self.server.route_post(path, body))

    def _discard_body(self) -> None:
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = 0
        if 0 < length <= MAX_BODY_BYTES:
            self.rfile.read(length)
        else:
            self.close_connection = True

    def _not_allowed(self) -> None:
        self.close_connection = True
        self._send_error(HTTPStatus.METHOD_NOT_ALLOWED, f"{self.command} is not allowed")

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _not_allowed  # noqa: N815


_BRACKETS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _nesting(text: str) -> int:
    """How deep arrays and objects nest in JSON ``text`` (brackets inside strings do not count)."""
    depth = deepest = 0
    for m in _BRACKETS.finditer(text):
        c = m.group()
        if c in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif c in "]}":
            depth -= 1
    return deepest


def require_str(body: dict[str, Any], key: str) -> str:
    """``body[key]`` as a non-empty string, or a 400 :class:`HttpError` naming the key."""
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise HttpError(HTTPStatus.BAD_REQUEST, f"Expected {key!r} to be a non-empty string, but got {value!r}")
    return value


def require_int(body: dict[str, Any], key: str) -> int:
    """``body[key]`` as an int, or a 400 :class:`HttpError` naming the key."""
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise HttpError(HTTPStatus.BAD_REQUEST, f"Expected {key!r} to be an integer, but got {value!r}")
    return value


def query_int(query: dict[str, str], key: str) -> int:
    """Query parameter ``key`` as an int, or a 400 :class:`HttpError`."""
    try:
        return int(query[key])
    except (KeyError, ValueError):
        raise HttpError(HTTPStatus.BAD_REQUEST,
                        f"Expected the query parameter {key!r} to be an integer, but got {query.get(key)!r}") from None

