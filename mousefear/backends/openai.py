"""Qwen2.5-VL or Qwen3-VL behind an OpenAI-compatible server (vLLM, SGLang, transformers serve): one request per window.

Every window becomes one ``POST {base_url}/chat/completions`` with the same conversation the local backend
builds (:func:`mousefear.prompts.build_messages` + :func:`mousefear.prompts.query_turns`): the system text, one
user/assistant pair per in-context example, then the window's context (if any), frames and question. Frames are
sent as base64 ``image_url`` data URLs (PNG by default: lossless, the server sees exactly the pixels the local
backend sees; JPEG at quality 95 is smaller), each frame a separate image (encoded once, also when sent again as a
neighbour's context), before the turn's text. The frames are resized to
the grid of the served model's family (:meth:`OpenAIBackend.frame_grid`: ``classification.model_family``, or
read from the model's config.json where this machine has it or can fetch it), so the server's processor keeps
them as they are.

Deciding the label (``decision: score``) takes the best path the server offers. It is found once, by a small
probe request when the backend is first described or prepared, recorded as ``decision_path`` in
:meth:`OpenAIBackend.describe` (so in run.json and in every behaviour-vector file's attributes) and in each
window's :attr:`~mousefear.backends.base.WindowResult.info`:

``prompt_logprobs`` (only when ``scoring: prompt_logprobs``; vLLM)
    Exact label scoring, the same numbers as the local backend: for every behaviour one request whose
    conversation ends with the assistant answering that behaviour (``add_generation_prompt: false``), asking
    for ``prompt_logprobs: 0``. The behaviour's log-probability is the sum over its answer tokens plus the
    end-of-turn token after them (``<|im_end|>``), exactly as :mod:`mousefear.backends.transformers` scores
    it; a softmax over the behaviours gives the probabilities. Costs one request (one prefill) per behaviour
    per window; vLLM does not read its prefix cache for requests asking for prompt log-probabilities.
``choice_logprobs`` (``scoring: auto`` when the server supports it; vLLM)
    One request, constrained to answer exactly one behaviour name (``structured_outputs: {"choice": [...]}``,
    or the older ``guided_choice``), with ``logprobs: true, top_logprobs: 20``. The probabilities come from
    the log-probabilities of the answer tokens and their top alternatives (:func:`choice_probabilities`): the
    mass of every alternative token is given to the behaviours whose name continues the text generated so
    far with that token (split evenly when it starts several), the generated path keeps the rest, and the
    masses are renormalised over the behaviours. vLLM applies the choice constraint to the logits before it
    computes log-probabilities, so these are the probabilities of the constrained answer; they are close to,
    but not the same as, the local backend's label scores (which multiply all tokens of every name).
``choice_parse``
    The server honours the constraint but returns no log-probabilities: the answer (always a behaviour name)
    gets probability 1.
``generate_parse`` (``transformers serve``, and every server with ``decision: generate``)
    Greedy free answer (temperature 0, ``max_new_tokens``), parsed strictly with
    :func:`mousefear.prompts.parse_answer` like the local generate mode: an answer that names no behaviour
    gives all-NaN probabilities and keeps its text.

Requests run concurrently, at most ``max_concurrency`` at a time per server (threads, standard-library
``urllib``). ``base_url`` may list several servers of the same model (one vLLM per GPU node): each request goes
to the one with the fewest requests in flight, and every server must answer the probe with the same model and
decision path (one that does not answer then is set aside and probed again before it gets windows).
``timeout_seconds`` bounds each whole request (connecting, sending, waiting, reading): a server that answers
byte by byte, or not at all, is cut off when it runs out. A request that fails for a transient reason
(connection refused or reset, timeout, HTTP 408/429/5xx) or whose answer is not a chat completion (``{}``, a
list, an error object, ``choices`` that are not a list of messages) sets its server aside for
``backoff_seconds * 2**k`` seconds (k = 0, 1, ... its failures of that request; at most 60 s) and is tried again
at once on another server, or on the same one when it comes back, up to ``max_attempts`` attempts on every
server (:mod:`mousefear.backends.servers`). With one server a window thus waits at most ``max_attempts *
timeout_seconds + backoff_seconds * (2**(max_attempts - 1) - 1)`` seconds. A request that every server failed
raises :class:`~mousefear.errors.ModelError` naming each server and its last error, and so does a request a
server refuses (HTTP 4xx). Such a window has no result: it is not cached, and a later run classifies it. An
answer that is a chat completion but names no behaviour is a result (all NaN, its text kept).
:meth:`OpenAIBackend.classify_stream` yields results strictly in window order, so everything before the failed
window has been handed to the caller (and cached by :func:`mousefear.classify_videos`) before the error.

The API key is read from the environment variable named by ``api_key_env`` at every request and sent as
``Authorization: Bearer <key>``; it is never stored on the backend, in its description or in any file, and it is
removed from every message and log line (a server may echo it back in an error).
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import re
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np

from mousefear.backends.base import WindowBackend, WindowResult
from mousefear.backends.families import ModelFamily, resolve_family
from mousefear.backends.http_deadline import post_within
from mousefear.backends.inflight import EncodedFrames, run_chains
from mousefear.backends.logprobs import answer_logprob, choice_probabilities
from mousefear.backends.servers import ServerPool, ServersDown
from mousefear.core.preprocess import PatchGrid
from mousefear.core.prompts import Prompt, Turn, build_messages, parse_answer, query_turns
from mousefear.errors import ConfigError, ModelError

if TYPE_CHECKING:
    from mousefear.core.settings import Settings

logger = logging.getLogger(__name__)

__all__ = ["DECISION_PATHS", "OpenAIBackend", "answer_logprob", "choice_probabilities"]

#: Decision paths, best first (see the module docstring).
DECISION_PATHS = ("prompt_logprobs", "choice_logprobs", "choice_parse", "generate_parse")
#: Alternatives asked for per answer token (the OpenAI maximum, and vLLM's default --max-logprobs).
TOP_LOGPROBS = 20
#: Token budget of a constrained answer (the constraint ends it after the name).
_CHOICE_MAX_TOKENS = 32
#: Choices of the probe request: strings no model answers unless it is constrained to.
_PROBE_CHOICES = ["mousefear_probe_yes", "mousefear_probe_no"]
_TRANSIENT_STATUS = {408, 425, 429, 500, 502, 503, 504}


_BEARER = re.compile(r"Bearer\s+\S+")


class _BadAnswer(Exception):
    """A 200 answer that is not what the request asks for (not JSON, not a chat completion): tried again."""


class _Unsupported(Exception):
    """The server refused a request's form (HTTP 400/404/422): not worth retrying."""

    def __init__(self, status: int, body: str, url: str = ""):
        super().__init__(f"HTTP {status}: {body[:300]}")
        self.status, self.url = status, url


#: Failures worth trying again (on another server).
_TRANSIENT = (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError, OSError, _BadAnswer)


def _check_answer(resp: Any, prompt_logprobs: bool) -> None:
    """Raise :class:`_BadAnswer` unless ``resp`` has the shape of the chat completion the request asks for."""
    def bad(what: str) -> _BadAnswer:
        return _BadAnswer(f"{what}: {json.dumps(resp)[:200]}")

    if not isinstance(resp, dict):
        raise bad(f"Expected a JSON object (a chat completion), but got a {type(resp).__name__}")
    if "error" in resp and "choices" not in resp:
        raise bad("the server answered with an error instead of a chat completion")
    if prompt_logprobs:
        plp = resp.get("prompt_logprobs")
        if not isinstance(plp, list) or not plp or not all(e is None or isinstance(e, dict) for e in plp):
            raise bad("Expected prompt_logprobs (a list of one mapping per prompt token)")
        return
    choices = resp.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise bad("Expected choices to be a list of answers")
    message = choices[0].get("message")
    if not isinstance(message, dict) or not isinstance(message.get("content", ""), str | None):
        raise bad("Expected choices[0].message to hold the answer's text (content)")
    logprobs = choices[0].get("logprobs")
    content = logprobs.get("content") if isinstance(logprobs, dict) else None
    if (logprobs is not None and not isinstance(logprobs, dict)) or not (
            content is None or (isinstance(content, list) and all(isinstance(c, dict) for c in content))):
        raise bad("Expected choices[0].logprobs.content to be a list of tokens")


# --------------------------------------------------------------------------------------------------------
# The backend
# --------------------------------------------------------------------------------------------------------


class OpenAIBackend(WindowBackend):
    """Windows classified by an OpenAI-compatible chat-completions server.

    Build it with :meth:`from_settings`: its parameters are settings of ``classification.openai`` and
    ``classification`` in config.yaml (checked there). Building it contacts nothing; :meth:`load` probes the server
    once for its decision path.

    Parameters
    ----------
    behaviors
        Behaviour names, in the order of the probability vectors.
    model
        Model name sent with every request (``classification.model``): what the server serves, e.g.
        ``Qwen/Qwen2.5-VL-3B-Instruct`` for ``vllm serve Qwen/Qwen2.5-VL-3B-Instruct``.
    model_family
        The served model's family: ``"auto"`` (read from the config.json of ``model``, a local folder or a hub
        id) or a family name (``qwen2_5_vl``, ``qwen3_vl``), taken as it is.
    base_url
        The server's OpenAI base address, ending in ``/v1`` (``http://gpu-node:8000/v1``), or several (a list).
    api_key_env
        Name of the environment variable holding the API key (None or unset: no key is sent).
    timeout_seconds
        Time limit of one request, seconds.
    max_concurrency
        Requests in flight at once, per server.
    decision
        ``"score"`` (probabilities from the server's log-probabilities where it offers them) or ``"generate"``
        (free answer, parsed strictly).
    scoring
        With ``decision="score"``: ``"auto"`` (``choice_logprobs`` where the server supports it, else a parsed
        answer), ``"prompt_logprobs"`` (exact label scoring, one request per behaviour), ``"choice_logprobs"``
        (required: an error if unsupported) or ``"parse"`` (always parse the answer).
    input_mode
        Only ``"images"`` (every frame a separate image).
    max_new_tokens
        Longest generated answer on the ``generate_parse`` path, in tokens.
    image_format
        ``"png"`` (lossless) or ``"jpeg"`` (quality 95) for the frames.
    max_attempts
        Attempts per request and server before giving up on transient failures (1 = no retry).
    backoff_seconds
        Wait before the first retry; doubled before every further one.
    """

    name = "openai"
    settings_sections = ("classification.openai", "classification")
    runtime_params = ("base_url", "api_key_env", "timeout_seconds", "max_concurrency", "max_attempts",
                      "backoff_seconds", "model_family")

    def __init__(
        self,
        behaviors: Sequence[str],
        *,
        model: str,
        model_family: str,
        base_url: str,
        api_key_env: str | None,
        timeout_seconds: float,
        max_concurrency: int,
        decision: str,
        scoring: str,
        input_mode: str,
        max_new_tokens: int,
        image_format: str,
        max_attempts: int,
        backoff_seconds: float,
    ):
        super().__init__(behaviors)
        self.model = model
        self.model_family = model_family
        self.base_url = base_url
        self.api_key_env = api_key_env
        self.timeout_seconds = timeout_seconds
        self.max_concurrency = max_concurrency
        self.decision = decision
        self.scoring = scoring
        self.input_mode = input_mode
        self.max_new_tokens = max_new_tokens
        self.image_format = image_format
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.decision_path: str | None = None
        self.choice_field: str | None = None  # "structured_outputs" or "guided_choice"
        self.server_model = ""
        self._family: ModelFamily | None = None
        self._prompt: Prompt | None = None
        self._prefix: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._frames = EncodedFrames()  # a window's frames are encoded once, also when sent again as context
        self._pool: ServerPool | None = None

    @classmethod
    def check_settings(cls, settings: Settings) -> None:
        """Frames go to a server as separate images: ``classification.input_mode`` must be ``images``."""
        if settings.classification.input_mode != "images":
            raise ConfigError(f"{settings.source}: Expected classification.input_mode to be images with the openai "
                              f"backend (frames are sent as separate images), but got "
                              f"{settings.classification.input_mode!r}")

    # ---------------------------------------------------------------- provenance

    @property
    def model_id(self) -> str:
        return str(self.model)

    @property
    def _urls(self) -> list[str]:
        urls = [self.base_url] if isinstance(self.base_url, str) else list(self.base_url)
        return [u.rstrip("/") for u in urls]

    @property
    def _url(self) -> str:
        """The server's address, for messages (with several: all of them)."""
        return ", ".join(self._urls)

    def _servers(self) -> ServerPool:
        pool = self._pool
        if pool is None or (pool.urls, pool.max_attempts, pool.backoff_seconds) != (
                self._urls, self.max_attempts, self.backoff_seconds):
            self._pool = ServerPool(self._urls, self.max_attempts, self.backoff_seconds, self._stop, self._redact)
        return self._pool

    def derived(self) -> dict[str, Any]:
        return {"temperature": 0.0}

    def family(self) -> ModelFamily:
        """The served model's family: ``model_family``, or with ``auto`` read from the model's config.json
        (a folder, the Hugging Face cache, or fetched from the hub; no weights).

        Raises
        ------
        ModelError
            ``auto`` and the config.json cannot be had (the message says to set ``model_family``), or it names
            an unsupported family.
        """
        if self._family is None:
            try:
                self._family = resolve_family(self.model, self.model_family, check=False)
            except ModelError as exc:
                if self.model_family != "auto":
                    raise
                raise ModelError(f"{exc}. The server's model family decides how frames are resized: set "
                                 "classification.model_family to qwen2_5_vl or qwen3_vl (the family of the model "
                                 f"the server at {self._url} serves)") from None
        return self._family

    def frame_grid(self) -> PatchGrid:
        """The served model family's patch grid: frames are resized to it before they are sent."""
        return self.family().grid

    def resolved(self) -> dict[str, Any]:
        """After :meth:`load` (the probe): ``decision_path``, ``choice_field``, ``top_logprobs``,
        ``score_includes_end_token``, ``server_model`` (the model name the server answers with) and, once it is
        known, ``family`` (the model family)."""
        if self.decision_path is None:
            return {}
        out = {"decision_path": self.decision_path, "choice_field": self.choice_field,
               "top_logprobs": TOP_LOGPROBS if self.decision_path == "choice_logprobs" else None,
               "score_includes_end_token": self.decision_path == "prompt_logprobs",
               "server_model": self.server_model}
        if self._family is not None:
            out["family"] = self._family.name
        return out

    def load(self) -> None:
        """Probe the server once for its decision path (a few tiny requests)."""
        self._probe()

    # ---------------------------------------------------------------- HTTP

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        key = os.environ.get(self.api_key_env) if self.api_key_env else None
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _redact(self, text: str) -> str:
        """``text`` without the API key (a server may echo it back, e.g. "Invalid API key: Bearer sk-...")."""
        key = os.environ.get(self.api_key_env) if self.api_key_env else None
        if key:
            text = text.replace(key, "<redacted>")
        return _BEARER.sub("Bearer <redacted>", text)

    def _post_once(self, url: str, body: dict[str, Any]) -> dict[str, Any]:
        req = urllib.request.Request(url + "/chat/completions", data=json.dumps(body).encode("utf-8"),
                                     headers=self._headers(), method="POST")
        status, data = post_within(req, self.timeout_seconds)
        if status >= 400:
            text = self._redact(data.decode("utf-8", "replace"))
            if status in (401, 403):
                raise ModelError(f"The server at {url} refused the request (HTTP {status}: {text[:300]}); check "
                                 f"the API key in the environment variable {self.api_key_env or '(none set)'} "
                                 "(classification.openai.api_key_env)")
            if status in _TRANSIENT_STATUS:
                raise ConnectionError(f"HTTP {status}: {text[:300]}")
            raise _Unsupported(status, text, url)
        try:
            resp = json.loads(data)
        except (ValueError, RecursionError):
            raise _BadAnswer(f"not a JSON answer: {self._redact(repr(data[:200]))}") from None
        try:
            _check_answer(resp, "prompt_logprobs" in body)
        except _BadAnswer as exc:
            raise _BadAnswer(self._redact(str(exc))) from None
        return resp

    def _post(self, body: dict[str, Any], what: str, pin: str | None = None) -> tuple[dict[str, Any], int]:
        """POST to the server with the fewest requests in flight, trying others (and again) on transient
        failures and unusable answers (:class:`~mousefear.backends.servers.ServerPool`); (response, attempts)."""
        if self._stop.is_set():
            raise ModelError(f"Request for {what} to {self._url} cancelled (the run is stopping)")
        return self._servers().request(lambda url: self._post_once(url, body), what, _TRANSIENT, self.model_id,
                                       pin=pin, check=self._check_server)

    # ---------------------------------------------------------------- messages

    def _message(self, turn: Turn) -> dict[str, Any]:
        if turn.frames is None:
            return {"role": turn.role, "content": turn.text}
        urls = self._frames.urls(turn.frames, self.image_format)
        content: list[dict[str, Any]] = [{"type": "image_url", "image_url": {"url": u}} for u in urls]
        content.append({"type": "text", "text": turn.text})
        return {"role": turn.role, "content": content}

    def _body(self, messages: list[dict[str, Any]], path: str, choices: Sequence[str],
              field: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "messages": messages, "temperature": 0.0, "stream": False}
        if path in ("choice_logprobs", "choice_parse"):
            body["max_tokens"] = _CHOICE_MAX_TOKENS
            if (field or self.choice_field) == "structured_outputs":
                body["structured_outputs"] = {"choice": list(choices)}
            else:
                body["guided_choice"] = list(choices)
            if path == "choice_logprobs":
                body.update(logprobs=True, top_logprobs=TOP_LOGPROBS)
        elif path == "prompt_logprobs":
            body.update(max_tokens=1, prompt_logprobs=0, add_generation_prompt=False, continue_final_message=False)
        else:
            body["max_tokens"] = self.max_new_tokens
        return body

    # ---------------------------------------------------------------- probing the servers

    def _probe(self) -> None:
        """Find the decision path once (a few tiny requests to every server, side by side). Every server that
        answers must give the same path and model; one that does not answer is set aside, and probed again
        before it gets windows."""
        if self.decision_path is not None:
            return
        pool = self._servers()
        found: dict[str, tuple[str, str | None, str]] = {}
        down: dict[str, ModelError] = {}
        errors: list[BaseException] = []

        def probe(url: str) -> None:
            try:
                found[url] = self._probe_server(url)
            except ServersDown as exc:
                down[url] = exc
            except BaseException as exc:  # noqa: BLE001 - raised below, in the caller's thread
                errors.append(exc)

        threads = [threading.Thread(target=probe, args=(u,), daemon=True) for u in pool.urls]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        if not found:
            if len(down) == 1:
                raise next(iter(down.values()))
            raise ServersDown(f"None of the {len(down)} servers answered a probe request: "
                              + "; ".join(f"{u}: {str(e).split('; last error: ')[-1].split('. Check')[0]}"
                                          for u, e in down.items()))
        first_url = next(u for u in pool.urls if u in found)
        first = found[first_url]
        other = [f"{u} answers as model {m!r} on path {p}" for u, (p, _, m) in found.items() if found[u] != first]
        if other:
            raise ModelError(f"The servers of classification.openai.base_url differ: {first_url} answers as model "
                             f"{first[2]!r} on path {first[0]}, {'; '.join(other)}. Every server of a run must serve "
                             "the same model with the same options")
        self.decision_path, self.choice_field, self.server_model = first
        for url, exc in down.items():
            pool.set_aside(url, str(exc))
            logger.warning("Server %s does not answer (%s); it gets no windows until it answers a probe",
                           url, str(exc).split("; last error: ")[-1].split(". Check")[0])
        logger.info("Server%s %s (model %s): decision path %s%s", "s" if len(found) > 1 else "", ", ".join(found),
                    self.server_model or self.model_id, self.decision_path,
                    f" via {self.choice_field}" if self.choice_field else "")

    def _check_server(self, url: str) -> str | None:
        """Probe a server that did not answer at loading (one attempt): None when it serves what the others do,
        else why it takes no windows."""
        path, field, model = self._probe_server(url, once=True)
        if (path, field, model) == (self.decision_path, self.choice_field, self.server_model):
            logger.info("Server %s answers now; it gets windows", url)
            return None
        return (f"it answers as model {model!r} on path {path}, the others as {self.server_model!r} on "
                f"{self.decision_path}")

    def _probe_server(self, url: str, once: bool = False) -> tuple[str, str | None, str]:
        """(decision path, choice field, server model) of one server."""
        def post(body: dict[str, Any], what: str) -> dict[str, Any]:
            return self._post_once(url, body) if once else self._post(body, what, pin=url)[0]

        frame = np.full((28, 28, 3), 128, np.uint8)
        turn = Turn(role="user", text="Answer with one of the allowed words.", frames=frame[None])
        msgs = [{"role": "system", "content": "You are a helpful assistant."}, self._message(turn)]
        if self.decision == "generate" or self.scoring == "parse":
            return "generate_parse", None, self._probe_plain(msgs, url, post)
        if self.scoring == "prompt_logprobs":
            body = self._body([*msgs, {"role": "assistant", "content": _PROBE_CHOICES[0]}], "prompt_logprobs", [])
            try:
                resp = post(body, "a probe request (prompt_logprobs)")
            except _Unsupported as exc:
                raise ModelError(f"The server at {url} does not accept prompt_logprobs requests "
                                 f"({exc}); set classification.openai.scoring to auto") from None
            if not resp.get("prompt_logprobs"):
                raise ModelError(f"The server at {url} returns no prompt_logprobs; set "
                                 "classification.openai.scoring to auto")
            return "prompt_logprobs", None, str(resp.get("model") or "")
        path, field, model = self._probe_choice(msgs, url, post)
        if self.scoring == "choice_logprobs" and path != "choice_logprobs":
            raise ModelError(f"The server at {url} does not return log-probabilities for a "
                             f"constrained choice (it supports {path}); set "
                             "classification.openai.scoring to auto")
        return path, field, model

    def _probe_plain(self, msgs: list[dict[str, Any]], url: str, post: Callable[..., dict[str, Any]]) -> str:
        body = self._body(msgs, "generate_parse", [])
        body["max_tokens"] = 1
        try:
            resp = post(body, "a probe request")
        except _Unsupported as exc:
            raise ModelError(f"The server at {url} refuses a plain chat request with an image for "
                             f"model {self.model_id!r}: {exc}") from None
        return str(resp.get("model") or "")

    def _probe_choice(self, msgs: list[dict[str, Any]], url: str,
                      post: Callable[..., dict[str, Any]]) -> tuple[str, str | None, str]:
        for field in ("structured_outputs", "guided_choice"):
            body = self._body(msgs, "choice_logprobs", _PROBE_CHOICES, field)
            try:
                resp = post(body, f"a probe request ({field})")
            except _Unsupported as exc:
                logger.info("Server %s refuses %s: %s", url, field, exc)
                continue
            choice = (resp.get("choices") or [{}])[0]
            content = str((choice.get("message") or {}).get("content") or "")
            if content not in _PROBE_CHOICES:  # accepted but ignored
                logger.info("Server %s ignores %s (answered %r)", url, field, content[:40])
                continue
            lp = (choice.get("logprobs") or {}).get("content") or []
            path = "choice_logprobs" if lp and lp[0].get("top_logprobs") else "choice_parse"
            return path, field, str(resp.get("model") or "")
        return "generate_parse", None, self._probe_plain(msgs, url, post)

    # ---------------------------------------------------------------- classification

    def prepare(self, prompt: Prompt, examples: Sequence[Any]) -> None:
        """Encode the shared prefix (system text and ICL turns) once (probes the server first if needed)."""
        if tuple(prompt.behaviors) != tuple(self.behaviors):
            raise ValueError(f"Expected a prompt for the behaviours {self.behaviors}, but got {list(prompt.behaviors)}")
        self._probe()
        self._prompt = prompt
        self._prefix = [self._message(t) for t in build_messages(prompt, examples)]

    def _requests(self, window: Any) -> list[dict[str, Any]]:
        """The request bodies of one window (one, or one per behaviour on the prompt_logprobs path)."""
        msgs = [*self._prefix, *(self._message(t) for t in query_turns(self._prompt, window))]
        path = self.decision_path
        if path == "prompt_logprobs":
            return [self._body([*msgs, {"role": "assistant", "content": b}], path, []) for b in self.behaviors]
        return [self._body(msgs, path, self.behaviors)]

    def _run_window(self, window: Any) -> list[tuple[dict[str, Any], int]]:
        """Run a window's requests (called in a worker thread); (response, attempts) per request."""
        what = f"window {window.index} of {window.video_id}"
        try:
            return [self._post(body, what) for body in self._requests(window)]
        except _Unsupported as exc:
            raise ModelError(f"The server at {exc.url} refused {what} ({exc}); that window has no result and the "
                             "windows classified before it are saved, so running again resumes there once the cause "
                             "is fixed") from None

    def _decide(self, window: Any, answers: list[tuple[dict[str, Any], int]], seconds: float) -> WindowResult:
        path = self.decision_path
        n = len(self.behaviors)
        info: dict[str, Any] = {"decision_path": path, "attempts": max(a for _, a in answers),
                                "seconds": round(seconds, 4)}
        usage = answers[0][0].get("usage") or {}
        if "prompt_tokens" in usage:
            info["prompt_tokens"] = usage["prompt_tokens"]
        if path == "prompt_logprobs":
            logp = np.array([answer_logprob(resp.get("prompt_logprobs") or [], b)
                             for (resp, _), b in zip(answers, self.behaviors, strict=True)])
            p = np.exp(logp - logp.max())
            info["logprob"] = logp.tolist()
            return WindowResult(probabilities=p / p.sum(), text="", info=info)
        choice = (answers[0][0].get("choices") or [{}])[0]
        text = str((choice.get("message") or {}).get("content") or "")
        if path == "choice_logprobs":
            p = choice_probabilities((choice.get("logprobs") or {}).get("content") or [], self.behaviors)
            if p is not None:
                return WindowResult(probabilities=p, text="", info=info)
            info["fallback"] = "no log-probabilities matched a behaviour; answer parsed"
        k = parse_answer(text, self.behaviors)
        p = np.full(n, np.nan)
        if k is not None:
            p[:] = 0.0
            p[k] = 1.0
        return WindowResult(probabilities=p, text=text, info=info)

    def classify(self, windows: Sequence[Any]) -> list[WindowResult]:
        """Classify a batch of windows (concurrently); one result per window, in order."""
        return [r for _, r in self.classify_stream(windows)]

    def classify_stream(self, windows: Iterable[Any], batch_size: int = 1) -> Iterator[tuple[Any, WindowResult]]:
        """Classify a stream of windows continuously; yield ``(window, result)`` in order.

        Up to ``max_concurrency`` requests are in flight at any time (windows of the next video start while the
        previous one finishes); ``batch_size`` is ignored (the server batches). Windows are pulled from
        ``windows`` in the calling thread, at most ``max_concurrency + 1`` ahead of the last one yielded.

        Raises
        ------
        ModelError
            A request kept failing; every window before it has been yielded.
        """
        if self._prompt is None:
            raise RuntimeError("OpenAIBackend.prepare(prompt, examples) must be called before classify")
        self._stop.clear()
        workers = self.max_concurrency * len(self._urls)  # max_concurrency in flight on each server
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mousefear-openai")
        pending: deque[tuple[Any, Future, float]] = deque()
        it = iter(windows)
        exhausted = False
        ahead = workers + 1
        try:
            while True:
                while not exhausted and len(pending) < ahead:
                    try:
                        window = next(it)
                    except StopIteration:
                        exhausted = True
                        break
                    pending.append((window, pool.submit(self._run_window, window), time.monotonic()))
                if not pending:
                    return
                window, fut, t0 = pending[0]
                answers = fut.result()  # raises ModelError when the request kept failing
                pending.popleft()
                yield window, self._decide(window, answers, time.monotonic() - t0)
        finally:
            self._stop.set()  # running requests stop retrying; queued ones are cancelled
            for _, fut, _ in pending:
                fut.cancel()
            pool.shutdown(wait=True, cancel_futures=True)
            self._stop.clear()

    def classify_chains(self, chains: Iterable[Iterator[Any]],
                        batch_size: int = 1) -> Iterator[tuple[Any, WindowResult]]:
        """Chains of windows (an autoregressive run's videos): one request in flight per chain, up to
        ``max_concurrency`` chains at once on each server, results as they arrive
        (:func:`~mousefear.backends.inflight.run_chains`; a request that keeps failing raises :class:`ModelError`
        after the results before it)."""
        if self._prompt is None:
            raise RuntimeError("OpenAIBackend.prepare(prompt, examples) must be called before classify")
        yield from run_chains(chains, self._run_window, self._decide, self.max_concurrency * len(self._urls),
                              self._stop)

    def close(self) -> None:
        """Stop retries of requests still running."""
        self._stop.set()
