"""A small OpenAI-compatible chat server around a transformers Qwen2.5-VL, with what `transformers serve` lacks.

`transformers serve` (5.x) ignores ``logprobs``/``top_logprobs``, has no constrained decoding and answers 422 to
``structured_outputs``, ``guided_choice``, ``prompt_logprobs`` and ``add_generation_prompt``. To test the
server backend's log-probability paths against a real model, this server implements them the way vLLM does:

- ``structured_outputs: {"choice": [...]}`` (or ``guided_choice``): greedy decoding constrained to the choices.
  At every step the tokens that keep the answer a prefix of some choice (and the end token once it equals one)
  are allowed, the others masked to -inf *before* the log-softmax, so ``logprobs`` / ``top_logprobs`` are those
  of the constrained distribution (vLLM applies its grammar bitmask to the logits before the sampler computes
  log-probabilities);
- ``prompt_logprobs: 0`` with ``add_generation_prompt`` / ``continue_final_message``: top-level
  ``prompt_logprobs``, ``[None, {token_id: {"logprob", "rank", "decoded_token"}}, ...]`` as vLLM returns them;
- plain greedy answers with ``max_tokens``.

Frames arrive as base64 data URLs and are decoded with PIL (lossless for PNG). Standard library HTTP only; runs
in a thread of the test process; requests are served one at a time (a lock around the model). Test code only.
"""

from __future__ import annotations

import base64
import io
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class ShimServer:
    """OpenAI-compatible server for one model folder on 127.0.0.1 (``with ShimServer(path) as s: s.base_url``)."""

    def __init__(self, model: str):
        from mousefear.backends.transformers import import_torchvision_safely

        import_torchvision_safely()
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        self.model_id = str(model)
        self.processor = AutoProcessor.from_pretrained(model)
        self.model = AutoModelForImageTextToText.from_pretrained(model, dtype=torch.float32).eval()
        tok = self.processor.tokenizer
        self.eos = tok.convert_tokens_to_ids("<|im_end|>")
        self.stop_ids = {self.eos, tok.convert_tokens_to_ids("<|endoftext|>")}
        self.pieces = [tok.decode([i]) for i in range(len(tok))]
        self.lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []
        self.httpd: ThreadingHTTPServer | None = None

    # ------------------------------------------------------------------ model work

    def _inputs(self, body: dict[str, Any]) -> dict[str, Any]:
        from PIL import Image

        msgs = []
        for m in body["messages"]:
            content = m["content"]
            if isinstance(content, str):
                content = [{"type": "text", "text": content}]
            parts = []
            for c in content:
                if c["type"] == "text":
                    parts.append({"type": "text", "text": c["text"]})
                elif c["type"] == "image_url":
                    data = c["image_url"]["url"].split(",", 1)[1]
                    image = Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB")
                    parts.append({"type": "image", "image": image})
                else:
                    raise ValueError(f"unsupported content part {c['type']!r}")
            msgs.append({"role": m["role"], "content": parts})
        add_gen = bool(body.get("add_generation_prompt", True))
        inputs = self.processor.apply_chat_template(
            msgs, add_generation_prompt=add_gen, continue_final_message=bool(body.get("continue_final_message")),
            tokenize=True, return_dict=True, return_tensors="pt")
        inputs.pop("attention_mask", None)
        return dict(inputs)

    def _logprobs(self, inputs: dict[str, Any], ids: list[int]) -> Any:
        """(len(ids), vocab) float32 log-softmax of the model's next-token logits after every position."""
        import torch

        kw = dict(inputs)
        kw["input_ids"] = torch.tensor([ids])
        n_extra = len(ids) - inputs["input_ids"].shape[1]
        if "mm_token_type_ids" in kw and n_extra:
            kw["mm_token_type_ids"] = torch.cat([kw["mm_token_type_ids"],
                                                 torch.zeros((1, n_extra), dtype=kw["mm_token_type_ids"].dtype)], 1)
        with torch.inference_mode():
            logits = self.model(**kw).logits[0].float()
        return torch.log_softmax(logits, -1)

    def _entry(self, token: int, row: Any, k: int) -> dict[str, Any]:
        import torch

        piece = self.pieces[token]
        e: dict[str, Any] = {"token": piece, "logprob": float(row[token]), "bytes": list(piece.encode())}
        if k:
            top = torch.topk(row, min(k, int(torch.isfinite(row).sum())))
            e["top_logprobs"] = [{"token": self.pieces[int(i)], "logprob": float(v), "bytes": list(self.pieces[int(i)]
                                  .encode())} for v, i in zip(top.values, top.indices, strict=True)]
        return e

    def _generate(self, inputs: dict[str, Any], choices: list[str] | None, max_tokens: int,
                  k: int) -> tuple[str, list[dict[str, Any]]]:
        import torch

        ids = inputs["input_ids"][0].tolist()
        text, content = "", []
        for _ in range(max_tokens):
            row = self._logprobs(inputs, ids)[-1]
            if choices is not None:
                allowed = torch.zeros_like(row, dtype=torch.bool)
                for t, piece in enumerate(self.pieces):
                    if piece and any(c.startswith(text + piece) for c in choices):
                        allowed[t] = True
                if text in choices:
                    allowed[self.eos] = True
                row = torch.log_softmax(row.masked_fill(~allowed, -torch.inf), -1)
            token = int(row.argmax())
            if token in self.stop_ids:
                break
            content.append(self._entry(token, row, k))
            text += self.pieces[token]
            ids.append(token)
        return text, content

    def _prompt_logprobs(self, inputs: dict[str, Any]) -> list[Any]:
        ids = inputs["input_ids"][0].tolist()
        logp = self._logprobs(inputs, ids)
        out: list[Any] = [None]
        for i in range(1, len(ids)):
            row = logp[i - 1]
            rank = int((row > row[ids[i]]).sum()) + 1
            out.append({str(ids[i]): {"logprob": float(row[ids[i]]), "rank": rank,
                                      "decoded_token": self.pieces[ids[i]]}})
        return out

    def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        choices = body.get("guided_choice") or (body.get("structured_outputs") or {}).get("choice")
        k = int(body.get("top_logprobs") or 0) if body.get("logprobs") else 0
        with self.lock:
            inputs = self._inputs(body)
            extra: dict[str, Any] = {}
            if body.get("prompt_logprobs") is not None:
                extra["prompt_logprobs"] = self._prompt_logprobs(inputs)
            max_tokens = int(body.get("max_completion_tokens") or body.get("max_tokens") or 16)
            text, content = self._generate(inputs, list(choices) if choices else None, max_tokens, k)
        n_prompt = int(inputs["input_ids"].shape[1])
        choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop",
                  "logprobs": {"content": content} if body.get("logprobs") else None}
        return {"id": "chatcmpl-" + uuid.uuid4().hex, "object": "chat.completion", "created": int(time.time()),
                "model": self.model_id, "choices": [choice],
                "usage": {"prompt_tokens": n_prompt, "completion_tokens": len(content),
                          "total_tokens": n_prompt + len(content)}, **extra}

    # ------------------------------------------------------------------ HTTP

    def start(self) -> ShimServer:
        shim = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _send(self, code: int, obj: Any) -> None:
                data = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                if self.path != "/v1/chat/completions":
                    return self._send(404, {"error": {"message": "not found"}})
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                shim.requests.append(body)
                try:
                    self._send(200, shim.complete(body))
                except (ValueError, KeyError) as exc:
                    self._send(400, {"error": {"message": f"{type(exc).__name__}: {exc}"}})

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    @property
    def base_url(self) -> str:
        assert self.httpd is not None
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def stop(self) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None

    def __enter__(self) -> ShimServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
