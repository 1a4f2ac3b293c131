"""A chat server that misbehaves on demand, for the fault tests (standard library only, a thread of the test).

It speaks just enough of the OpenAI chat-completions protocol for mousefear's server backend: the probes that
ask for a constrained choice are answered 422 (as ``transformers serve`` does), so the backend takes the
``generate_parse`` path; the plain probe (``max_tokens: 1``) is always answered well; every other request (a
window) is answered as :attr:`FaultServer.mode` says:

``ok``            a chat completion whose text is :attr:`FaultServer.answer`
``empty``         200 ``{}``
``list``          200 ``[]``
``error``         200 ``{"error": {"message": "model is overloaded"}}``
``choices_str``   200 ``{"choices": "x"}``
``bad_request``   400 ``{"error": "image too large"}``
``echo_key_401``  401 ``{"error": "Invalid API key: <the Authorization header received>"}``, to probes too
``trickle``       200 with a Content-Length, then one byte every ``trickle_interval`` seconds (for at most
                  ``trickle_for`` seconds, then the connection is closed)
``hang``          reads the request and answers nothing for ``hang_for`` seconds, then closes

``die_after = n``: after the n-th request (probes included) the server closes its listening socket, so the next
request is refused, as when a server is killed. ``modes_after = {k: mode}`` switches the mode once k window
requests have been answered. Every request is kept in :attr:`FaultServer.requests`.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def chat_answer(text: str) -> dict[str, Any]:
    """A minimal chat completion answering ``text``."""
    return {"id": "x", "object": "chat.completion", "model": "fault", "usage": {"prompt_tokens": 5},
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]}


class FaultServer:
    """``with FaultServer(mode="list") as server: ... server.base_url ...``"""

    def __init__(self, mode: str = "ok", answer: str = "freezing", die_after: int | None = None,
                 trickle_interval: float = 0.5, trickle_for: float = 20.0, hang_for: float = 20.0):
        self.mode = mode
        self.answer = answer
        self.die_after = die_after
        self.modes_after: dict[int, str] = {}
        self.trickle_interval, self.trickle_for, self.hang_for = trickle_interval, trickle_for, hang_for
        self.requests: list[dict[str, Any]] = []
        self.windows = 0
        self.lock = threading.Lock()
        self._closing = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 (name fixed by http.server)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with outer.lock:
                    outer.requests.append({"body": body, "authorization": self.headers.get("Authorization")})
                    n = len(outer.requests)
                    probe = "structured_outputs" in body or "guided_choice" in body or body.get("max_tokens") == 1
                    if not probe:
                        outer.mode = outer.modes_after.get(outer.windows, outer.mode)
                        outer.windows += 1
                    mode = "ok" if probe and outer.mode != "echo_key_401" else outer.mode
                if mode != "echo_key_401" and ("structured_outputs" in body or "guided_choice" in body):
                    self._json(422, {"detail": "Unexpected fields"})
                else:
                    self._answer(mode)
                if outer.die_after is not None and n >= outer.die_after:
                    threading.Thread(target=outer.close, daemon=True).start()

            def _json(self, status: int, obj: Any) -> None:
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _answer(self, mode: str) -> None:
                if mode == "ok":
                    self._json(200, chat_answer(outer.answer))
                elif mode == "empty":
                    self._json(200, {})
                elif mode == "list":
                    self._json(200, [])
                elif mode == "error":
                    self._json(200, {"error": {"message": "model is overloaded"}})
                elif mode == "choices_str":
                    self._json(200, {"choices": "x"})
                elif mode == "bad_request":
                    self._json(400, {"error": "image too large"})
                elif mode == "echo_key_401":
                    self._json(401, {"error": f"Invalid API key: {self.headers.get('Authorization')}"})
                elif mode == "trickle":
                    data = json.dumps(chat_answer(outer.answer)).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    end = time.monotonic() + outer.trickle_for
                    for byte in data:
                        if time.monotonic() > end or outer._closing.wait(outer.trickle_interval):
                            break
                        try:
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                        except OSError:
                            break
                    self.close_connection = True
                elif mode == "hang":
                    outer._closing.wait(outer.hang_for)
                    self.close_connection = True
                else:
                    raise ValueError(f"unknown mode {mode!r}")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        self._closed = False

    def window_requests(self) -> list[dict[str, Any]]:
        """The requests that were windows (not probes)."""
        return [r for r in self.requests if not ({"structured_outputs", "guided_choice"} & set(r["body"]))
                and r["body"].get("max_tokens") != 1]

    def close(self) -> None:
        """Stop listening (further connections are refused) and end trickling or hanging answers."""
        if self._closed:
            return
        self._closed = True
        self._closing.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> FaultServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
