"""Qwen2.5-VL through transformers: label scoring (default) or greedy generation, with a reused prompt prefix.

How one batch of windows is classified (``decision="score"``)::

    shared prefix  system text + definitions + ICL turns (frames, answers)   prefilled ONCE per run (prepare),
                                                                              its key/value cache kept
    window suffix  user turn with the window's frames + "<|im_start|>assistant\\n"
                                                                              prefilled on a copy of that cache
    candidates     every behaviour name + <|im_end|>                          ONE batched pass over all names,
                                                                              the window's cache repeated

The log-probability of a behaviour is the sum over its tokens, *including* the end-of-turn token
``<|im_end|>``: "the answer is exactly this name and nothing more". This keeps a name that is the beginning of
another (``rear`` / ``rearing``) from getting the other's probability. A softmax over the behaviours' summed
log-probabilities gives the probabilities (they sum to 1 over the behaviours; the model's probability of
answering anything else is left out).

With ``decision="generate"`` the model answers greedily (temperature 0) on the same prompt and cache, and the
answer is parsed strictly (:func:`mousefear.prompts.parse_answer`): the named behaviour gets probability 1, an
answer that names no behaviour gives all-NaN probabilities and keeps the raw text.

Position ids: Qwen2.5-VL uses 3-D rotary positions (time, height, width). transformers infers them only for an
input without a cache, so every forward here passes them explicitly: the suffix's positions are its own
``get_rope_index`` shifted by the prefix's last position + 1 (the prefix always ends with text). This gives
positions identical to those of the whole prompt computed at once (tested).

Batches: windows with the same number and size of frames (all but a partial last one) are prefilled together;
the batch's caches are independent copies of the prefix cache.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mousefear.backends.base import WindowBackend, WindowResult
from mousefear.core.prompts import Prompt, Turn, build_messages, parse_answer, query_turn
from mousefear.errors import ConfigError, ModelError

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_MODEL", "TransformersBackend", "import_torchvision_safely", "resolve_model"]

#: Model used when ``classification.model`` is not set.
DEFAULT_MODEL = "Qwen/Qwen2.5-VL-3B-Instruct"

# --------------------------------------------------------------------------------------------------------
# torchvision next to a CPU torch
# --------------------------------------------------------------------------------------------------------

# Exact schemas of torchvision's C++ operators (csrc/ops/nms.cpp, csrc/ops/quantized/cpu/qnms_kernel.cpp).
_TORCHVISION_SCHEMAS = {
    "nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}
_TORCHVISION_FRAGMENT: Any = None  # keeps the schemas registered (dropping the Library unregisters them)


def import_torchvision_safely() -> Any:
    """Import torchvision, working around a CUDA torchvision wheel installed next to a CPU-only torch.

    Such a torchvision cannot load its compiled operators, and its import fails with ``RuntimeError: operator
    torchvision::nms does not exist``; transformers then reports the Qwen2.5-VL classes as missing. Only when
    the plain import fails this way, the two operator schemas torchvision expects are declared with
    ``torch.library.Library("torchvision", "FRAGMENT")`` and the import is tried again: the pure-Python image
    transforms, which are all the Qwen2.5-VL processor uses, then work (NMS itself does not). Must run before
    any transformers model or processor class is imported.

    Returns
    -------
    module
        The ``torchvision`` module.
    """
    global _TORCHVISION_FRAGMENT
    import torch

    try:
        import torchvision

        return torchvision
    except RuntimeError as err:
        if "torchvision::" not in str(err):
            raise
    logger.debug("torchvision's compiled operators do not load next to this torch; declaring their schemas")
    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[name]  # the failed import left half-initialised modules
    if _TORCHVISION_FRAGMENT is None:
        lib = torch.library.Library("torchvision", "FRAGMENT")
        for name, schema in _TORCHVISION_SCHEMAS.items():
            try:
                torch._C._dispatch_find_schema_or_throw(f"torchvision::{name}", "")
            except RuntimeError:  # not declared yet
                lib.define(schema)
        _TORCHVISION_FRAGMENT = lib
    import torchvision

    return torchvision


# --------------------------------------------------------------------------------------------------------
# Finding the weights
# --------------------------------------------------------------------------------------------------------


def _looks_like_path(model: str) -> bool:
    """A hub id is ``name`` or ``owner/name``; anything else (``./x``, ``/a/b``, ``~/m``, ``a/b/c``) is a path."""
    return model.startswith((".", "/", "~")) or "\\" in model or model.count("/") > 1 or model.endswith("/")


def _folder_revision(folder: Path) -> str:
    """``folder:<16 hex>``: SHA-256 of config.json and of the weights index (sharded) or weight files (single).

    A sharded checkpoint is identified by its index (which names every tensor's shard) and config; a
    single-file checkpoint by the file's content. Weight files larger than 2 GiB that are not indexed are
    identified by name and size only (hashing them would take minutes).
    """
    digest = hashlib.sha256()
    names = ["config.json", "model.safetensors.index.json", "pytorch_model.bin.index.json"]
    for name in names:
        p = folder / name
        if p.is_file():
            digest.update(name.encode() + b"\0" + p.read_bytes())
    if not any((folder / n).is_file() for n in names[1:]):
        for p in sorted([*folder.glob("*.safetensors"), *folder.glob("*.bin")]):
            digest.update(p.name.encode() + b"\0")
            size = p.stat().st_size
            if size <= 2 << 30:
                with open(p, "rb") as fh:
                    for chunk in iter(lambda fh=fh: fh.read(1 << 20), b""):
                        digest.update(chunk)
            else:
                digest.update(str(size).encode())
    return "folder:" + digest.hexdigest()[:16]


def _how_to_get(model: str) -> str:
    return (f"download it where there is network with `huggingface-cli download {model}` (it lands in the "
            f"Hugging Face cache, ~/.cache/huggingface), or set classification.model in config.yaml to a local "
            f"folder holding the model (config.json, weights, processor and tokenizer files)")


def resolve_model(model: str, revision: str | None = None, local_files_only: bool = False) -> tuple[Path, str]:
    """Find a model's folder on disk and the revision to record.

    Parameters
    ----------
    model
        Hub id (``Qwen/Qwen2.5-VL-3B-Instruct``) or local folder.
    revision
        Hub branch, tag or commit (None: the default branch). Ignored for a folder.
    local_files_only
        Never touch the network: use the Hugging Face cache only.

    Returns
    -------
    folder : pathlib.Path
        Folder with config.json and the weights.
    revision : str
        For a hub id the commit hash of the cached snapshot; for a folder ``folder:<hash>``
        (see :func:`_folder_revision`).

    Raises
    ------
    ModelError
        The folder does not exist or is not a model, or the hub id is neither cached nor downloadable (offline);
        the message names the model and says how to get the weights.
    """
    if not isinstance(model, str) or not model.strip():
        raise ConfigError(f"Expected classification.model to be a hub id or a folder, but got {model!r}")
    folder = Path(model).expanduser()
    if folder.is_dir():
        if not (folder / "config.json").is_file():
            raise ModelError(f"Model folder {folder} has no config.json, so it is not a transformers model folder")
        return folder.resolve(), _folder_revision(folder)
    if _looks_like_path(model):
        raise ModelError(f"Model folder {folder} does not exist; set classification.model in config.yaml to a "
                         f"folder holding the model, or to a hub id such as {DEFAULT_MODEL}")
    from huggingface_hub import snapshot_download

    patterns = ["*.json", "*.safetensors", "*.jinja", "*.txt", "*.model", "*.tiktoken"]
    try:
        path = snapshot_download(model, revision=revision, local_files_only=True, allow_patterns=patterns)
    except Exception:  # not cached (or cached at another revision)
        if local_files_only:
            raise ModelError(f"Model {model} (revision {revision or 'main'}) is not in the Hugging Face cache and "
                             f"downloads are switched off; {_how_to_get(model)}") from None
        logger.info("Downloading %s (revision %s) from the Hugging Face hub", model, revision or "main")
        try:
            path = snapshot_download(model, revision=revision, allow_patterns=patterns)
        except Exception as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
            raise ModelError(f"Model {model} (revision {revision or 'main'}) is not in the Hugging Face cache and "
                             f"cannot be downloaded ({reason}); {_how_to_get(model)}") from None
    path = Path(path)
    return path, path.name  # snapshots/<commit hash>


# --------------------------------------------------------------------------------------------------------
# The backend
# --------------------------------------------------------------------------------------------------------


@dataclass
class _Segment:
    """Processor output for one contiguous piece of the prompt, with its explicit 3-D position ids."""

    inputs: dict[str, Any]
    position_ids: Any  # (3, batch, length) torch.long

    def model_kwargs(self) -> dict[str, Any]:
        keep = ("input_ids", "pixel_values", "image_grid_thw", "pixel_values_videos", "video_grid_thw")
        return {k: v for k, v in self.inputs.items() if k in keep}

    @property
    def next_position(self) -> Any:
        """(batch,) position of the token after this segment (every segment ends with text)."""
        return self.position_ids[0, :, -1] + 1

    @property
    def length(self) -> int:
        return int(self.inputs["input_ids"].shape[1])


class TransformersBackend(WindowBackend):
    """Qwen2.5-VL (any size, or any model with the same processor and chat template) run locally.

    Build it with :meth:`from_settings`; the parameters without a default are settings of ``classification`` in
    config.yaml (checked there). Building it reads nothing and downloads nothing: :meth:`load` finds the weights
    (downloading them if needed and allowed), and loads the processor and the model.

    Parameters
    ----------
    behaviors
        Behaviour names, in the order of the probability vectors.
    model
        Hub id or local folder (``classification.model``).
    model_revision
        Hub revision (branch, tag or commit); None = default branch.
    dtype
        ``"auto"`` (bfloat16 on a CUDA GPU, float32 on CPU), ``"bfloat16"``, ``"float16"`` or ``"float32"``.
    device
        ``"auto"`` (``cuda`` if available, else ``cpu``), ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...
    decision
        ``"score"`` (label scoring) or ``"generate"`` (greedy answer, parsed strictly).
    input_mode
        ``"images"`` (every frame a separate image, as in the paper) or ``"video"`` (one video input; two
        consecutive frames share a temporal patch, so half the visual tokens).
    max_new_tokens
        Longest generated answer (generate mode).
    reuse_prefix
        Prefill the shared prefix once and reuse its cache (True); False prefills every window's whole prompt
        (for checks and benchmarks: same results, slower).
    min_pixels, max_pixels
        Resize bounds of the processor per frame (Qwen2.5-VL's own: 3136 and 12845056). Frames are normally
        resized by mousefear's preprocessing already (``preprocessing.max_pixels``); these only keep the
        processor from resizing them again.
    local_files_only
        Never download weights, use the Hugging Face cache or a folder only.
    """

    name = "transformers"
    settings_sections = ("classification",)
    runtime_params = ("device", "reuse_prefix", "local_files_only")

    def __init__(
        self,
        behaviors: Sequence[str],
        *,
        model: str,
        model_revision: str | None,
        dtype: str,
        device: str,
        decision: str,
        input_mode: str,
        max_new_tokens: int,
        reuse_prefix: bool = True,
        min_pixels: int = 3136,
        max_pixels: int = 12845056,
        local_files_only: bool = False,
    ):
        super().__init__(behaviors)
        self.model = model
        self.model_revision = model_revision
        self.dtype = dtype
        self.device = device
        self.decision = decision
        self.input_mode = input_mode
        self.max_new_tokens = max_new_tokens
        self.reuse_prefix = reuse_prefix
        self.min_pixels = min_pixels
        self.max_pixels = max_pixels
        self.local_files_only = local_files_only
        self.net: Any = None  # the loaded model
        self.processor: Any = None
        self._resolved: dict[str, Any] = {}
        self._prompt: Prompt | None = None
        self._prefix_turns: list[Turn] = []
        self._prefix: tuple[Any, _Segment] | None = None  # (cache, segment)
        self._cand_ids: list[list[int]] = []

    # ---------------------------------------------------------------- provenance

    @property
    def model_id(self) -> str:
        return str(self.model)

    @property
    def size(self) -> dict[str, int]:
        """The processor's resize bounds per frame, in pixels."""
        return {"shortest_edge": int(self.min_pixels), "longest_edge": int(self.max_pixels)}

    def derived(self) -> dict[str, Any]:
        return {"score_includes_end_token": True}

    def resolved(self) -> dict[str, Any]:
        """After :meth:`load`: ``model_revision`` (the commit of the cached snapshot, or ``folder:<hash>``),
        ``device``, ``dtype`` and ``transformers_version``."""
        return dict(self._resolved)

    # ---------------------------------------------------------------- loading

    def load(self) -> None:
        """Find the weights (downloading them unless ``local_files_only``) and load the processor and model.

        Raises
        ------
        ModelError
            The weights are not on this machine and cannot be downloaded, the folder is not a model, no CUDA GPU
            is available for ``device="cuda"``; the message says how to get the weights.
        """
        if self.net is not None:
            return
        import torch

        folder, revision = resolve_model(self.model, self.model_revision, self.local_files_only)
        device, dtype = _resolve_device_dtype(self.device, self.dtype)
        import_torchvision_safely()
        import transformers
        from transformers import AutoModelForImageTextToText, AutoProcessor

        logger.info("Loading %s (%s) on %s as %s", self.model, revision, device, dtype)
        try:
            self.processor = AutoProcessor.from_pretrained(folder)
            net = AutoModelForImageTextToText.from_pretrained(folder, dtype=getattr(torch, dtype))
        except (OSError, ValueError, KeyError) as exc:
            raise ModelError(f"Cannot load model {self.model} from {folder}: {exc}") from None
        self.net = net.to(device).eval()
        # transformers 5.x renamed the forward argument past_key_values to cache (the old name warns)
        self._cache_arg = "cache" if "cache" in inspect.signature(self.net.forward).parameters else "past_key_values"
        self._resolved = {"model_revision": revision, "device": device, "dtype": dtype,
                          "transformers_version": transformers.__version__}
        tok = self.processor.tokenizer
        self._im_end = tok.convert_tokens_to_ids("<|im_end|>")
        self._stop = {self._im_end, tok.convert_tokens_to_ids("<|endoftext|>")}
        self._pad = tok.pad_token_id if tok.pad_token_id is not None else self._im_end
        self._cand_ids = []
        for b in self.behaviors:
            ids = tok(b, add_special_tokens=False).input_ids  # no leading space: the answer follows "assistant\n"
            self._cand_ids.append(list(ids) + [self._im_end])

    @property
    def _device(self) -> str:
        return self._resolved["device"]

    def close(self) -> None:
        """Drop the model and caches (frees GPU memory)."""
        self.net = self.processor = None
        self._prefix = None

    # ---------------------------------------------------------------- prompt pieces

    def prepare(self, prompt: Prompt, examples: Sequence[Any]) -> None:
        """Build the shared prefix (system + ICL turns) and, with reuse, prefill it once (loads if needed)."""
        self.load()
        if tuple(prompt.behaviors) != tuple(self.behaviors):
            raise ValueError(f"Expected a prompt for the behaviours {self.behaviors}, but got {list(prompt.behaviors)}")
        self._prompt = prompt
        self._prefix_turns = build_messages(prompt, examples)
        self._prefix = None
        if self.reuse_prefix:
            self._prefix = self._prefill_prefix()

    def _chat(self, turns: Sequence[Turn]) -> list[dict[str, Any]]:
        msgs = []
        for t in turns:
            content: list[dict[str, Any]] = []
            if t.frames is not None:
                if self.input_mode == "video":
                    content.append({"type": "video"})
                else:
                    content.extend({"type": "image"} for _ in range(t.n_frames))
            content.append({"type": "text", "text": t.text})
            msgs.append({"role": t.role, "content": content})
        return msgs

    def _texts(self, query: Turn) -> tuple[str, str]:
        """(prefix text, suffix text) whose concatenation is the whole chat-templated prompt of a window."""
        apply = self.processor.apply_chat_template
        full = apply(self._chat([*self._prefix_turns, query]), add_generation_prompt=True, tokenize=False)
        prefix = apply(self._chat(self._prefix_turns), tokenize=False)
        if not full.startswith(prefix):
            raise ModelError(f"The chat template of {self.model} does not render the shared prompt prefix as a "
                             "prefix of the whole prompt; prefix reuse cannot work with it (set reuse off)")
        return prefix, full[len(prefix):]

    def _process(self, text: str, turns: Sequence[Turn]) -> dict[str, Any]:
        """Run the processor on text whose visual placeholders belong to the frames of ``turns``, in order."""
        import torch

        kw: dict[str, Any] = {"text": [text], "return_tensors": "pt"}
        visual = [t for t in turns if t.frames is not None]
        if visual:
            if self.input_mode == "video":
                kw["videos"] = [list(t.frames) for t in visual]
                kw["video_metadata"] = [_video_metadata(t) for t in visual]
                kw["cap_pixels_per_frame"] = True
                kw["videos_kwargs"] = {"size": dict(self.size)}
            else:
                kw["images"] = [f for t in visual for f in t.frames]
                kw["images_kwargs"] = {"size": dict(self.size)}
        out = self.processor(**kw)
        out.pop("attention_mask", None)
        return {k: (v.to(self._device) if torch.is_tensor(v) else v) for k, v in out.items()}

    def _positions(self, inputs: dict[str, Any], offset: Any = 0) -> Any:
        """3-D rotary position ids (3, batch, length) of a segment, starting at ``offset``."""
        import torch

        ids = inputs["input_ids"]
        if inputs.get("image_grid_thw") is None and inputs.get("video_grid_thw") is None:
            pos = torch.arange(ids.shape[1], device=ids.device).view(1, 1, -1).expand(3, ids.shape[0], -1)
        else:
            pos, _ = self.net.model.get_rope_index(
                ids,
                mm_token_type_ids=inputs["mm_token_type_ids"],
                image_grid_thw=inputs.get("image_grid_thw"),
                video_grid_thw=inputs.get("video_grid_thw"),
                second_per_grid_ts=inputs.get("second_per_grid_ts"),
            )
        if torch.is_tensor(offset):
            offset = offset.view(1, -1, 1).to(pos.device)
        return pos + offset

    def _forward(self, seg: _Segment, cache: Any) -> Any:
        return self.net(**seg.model_kwargs(), position_ids=seg.position_ids, **{self._cache_arg: cache},
                          use_cache=True, logits_to_keep=1)

    def _new_cache(self) -> Any:
        from transformers import DynamicCache

        return DynamicCache(config=self.net.config)

    def _prefill_prefix(self) -> tuple[Any, _Segment]:
        import torch

        prefix_text = self.processor.apply_chat_template(self._chat(self._prefix_turns), tokenize=False)
        inputs = self._process(prefix_text, self._prefix_turns)
        seg = _Segment(inputs, self._positions(inputs))
        cache = self._new_cache()
        with torch.inference_mode():
            self._forward(seg, cache)
        logger.info("Shared prompt prefix: %d tokens, prefilled once", seg.length)
        return cache, seg

    # ---------------------------------------------------------------- classification

    def classify(self, windows: Sequence[Any]) -> list[WindowResult]:
        """Classify a batch of windows; windows with the same frame count and size are run together."""
        if self._prompt is None:
            raise RuntimeError("TransformersBackend.prepare(prompt, examples) must be called before classify")
        results: list[WindowResult | None] = [None] * len(windows)
        groups: dict[tuple, list[int]] = {}
        for i, w in enumerate(windows):
            groups.setdefault(tuple(np.asarray(w.frames).shape), []).append(i)
        for idx in groups.values():
            if self.reuse_prefix:
                out = self._classify_group([windows[i] for i in idx])
            else:
                out = [r for i in idx for r in self._classify_group([windows[i]])]
            for i, r in zip(idx, out, strict=True):
                results[i] = r
        return [r for r in results if r is not None]

    def _prefill_windows(self, queries: list[Turn]) -> tuple[Any, Any, Any, dict[str, Any]]:
        """Prefill the prompts of windows; returns (cache, last logits (B, V), next position (B,), info)."""
        import torch

        b = len(queries)
        if self.reuse_prefix:
            assert self._prefix is not None
            prefix_cache, prefix_seg = self._prefix
            cache = _clone_cache(prefix_cache, b, self.net.config)
            per = [self._process(self._texts(q)[1], [q]) for q in queries]
            inputs = _concat_inputs(per)
            seg = _Segment(inputs, self._positions(inputs, prefix_seg.next_position.expand(b)))
            info = {"prefix_tokens": prefix_seg.length, "window_tokens": seg.length}
        else:
            if b != 1:
                raise ValueError("without prefix reuse windows are prefilled one at a time")
            prefix_text, suffix_text = self._texts(queries[0])
            inputs = self._process(prefix_text + suffix_text, [*self._prefix_turns, queries[0]])
            seg = _Segment(inputs, self._positions(inputs))
            cache = self._new_cache()
            info = {"prompt_tokens": seg.length}
        with torch.inference_mode():
            out = self._forward(seg, cache)
        return cache, out.logits[:, -1], seg.next_position, info

    def _classify_group(self, windows: list[Any]) -> list[WindowResult]:
        queries = [query_turn(self._prompt, w) for w in windows]
        cache, logits, next_pos, info = self._prefill_windows(queries)
        if self.decision == "score":
            logp = self._score_candidates(cache, logits, next_pos)  # (B, n) float64
            shifted = logp - logp.max(axis=1, keepdims=True)
            probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
            return [WindowResult(probabilities=p, text="", info={**info, "logprob": lp.tolist()})
                    for p, lp in zip(probs, logp, strict=True)]
        texts = self._generate(cache, logits, next_pos)
        results = []
        for text in texts:
            k = parse_answer(text, self.behaviors)
            p = np.full(len(self.behaviors), np.nan)
            if k is not None:
                p[:] = 0.0
                p[k] = 1.0
            else:
                logger.debug("Unparseable answer %r", text)
            results.append(WindowResult(probabilities=p, text=text, info=dict(info)))
        return results

    def _score_candidates(self, cache: Any, last_logits: Any, next_pos: Any) -> np.ndarray:
        """(B, n_behaviors) float64 log-probabilities of every behaviour name (+ end token) after each prompt.

        The first token of every candidate is scored by the prompt's last logits; the remaining tokens in one
        forward of B * n rows, right-padded (padding comes after the real tokens, so the causal mask keeps it
        from influencing them), on the window caches repeated n times.
        """
        import torch

        b, n = last_logits.shape[0], len(self._cand_ids)
        dev = last_logits.device
        with torch.inference_mode():
            logp0 = torch.log_softmax(last_logits.float(), -1)
            first = torch.tensor([c[0] for c in self._cand_ids], device=dev)
            scores = logp0[:, first].double()
            length = max(len(c) for c in self._cand_ids) - 1
            if length == 0:
                return scores.cpu().numpy()
            inp = torch.full((n, length), self._pad, dtype=torch.long, device=dev)
            tgt = torch.full((n, length), -1, dtype=torch.long, device=dev)
            for j, c in enumerate(self._cand_ids):
                inp[j, : len(c) - 1] = torch.tensor(c[:-1], device=dev)
                tgt[j, : len(c) - 1] = torch.tensor(c[1:], device=dev)
            inp, tgt = inp.repeat(b, 1), tgt.repeat(b, 1)  # rows b0c0, b0c1, ..., b1c0 (= repeat_interleave)
            pos = next_pos.repeat_interleave(n).view(1, -1, 1) + torch.arange(length, device=dev).view(1, 1, -1)
            out = self.net(input_ids=inp, position_ids=pos.expand(3, -1, -1),
                             **{self._cache_arg: _clone_cache(cache, n, self.net.config)}, use_cache=True)
            logp = torch.log_softmax(out.logits.float(), -1)
            tok = logp.gather(-1, tgt.clamp_min(0).unsqueeze(-1)).squeeze(-1) * (tgt >= 0)
            scores = scores + tok.double().sum(-1).view(b, n)
        return scores.cpu().numpy()

    def _generate(self, cache: Any, logits: Any, next_pos: Any) -> list[str]:
        """Greedy answers (temperature 0) continuing the prefilled prompts; stops at <|im_end|>."""
        import torch

        b = logits.shape[0]
        done = torch.zeros(b, dtype=torch.bool, device=logits.device)
        out_ids: list[list[int]] = [[] for _ in range(b)]
        pos = next_pos.clone()
        with torch.inference_mode():
            for step in range(self.max_new_tokens):
                nxt = logits.argmax(-1)
                for i in range(b):
                    if not done[i]:
                        if int(nxt[i]) in self._stop:
                            done[i] = True
                        else:
                            out_ids[i].append(int(nxt[i]))
                if bool(done.all()) or step == self.max_new_tokens - 1:
                    break
                feed = torch.where(done, torch.full_like(nxt, self._pad), nxt).view(b, 1)
                res = self.net(input_ids=feed, position_ids=pos.view(1, b, 1).expand(3, b, 1),
                                 **{self._cache_arg: cache}, use_cache=True)
                logits, pos = res.logits[:, -1], pos + 1
        tok = self.processor.tokenizer
        return [tok.decode(ids, skip_special_tokens=True) for ids in out_ids]

    # ---------------------------------------------------------------- measurements

    def visual_tokens(self, frames: np.ndarray, fps: float = 30.0) -> int:
        """Visual tokens the model sees for one window of ``frames`` ((k, H, W, 3) uint8) in this input mode."""
        self.load()
        k = len(frames)
        turn = Turn(role="user", text="", frames=np.asarray(frames), fps=fps,
                    frame_indices=np.arange(k, dtype=np.int64), clip_frames=k)
        text = self.processor.apply_chat_template(self._chat([turn]), tokenize=False)
        ids = self._process(text, [turn])["input_ids"]
        token = self.processor.video_token_id if self.input_mode == "video" else self.processor.image_token_id
        return int((ids == token).sum())


def _video_metadata(turn: Turn) -> dict[str, Any]:
    """Timing of already-sampled frames, so the processor spaces them correctly in time (default: 24 fps).

    With ``total_num_frames`` the length of the stretch they come from and ``frames_indices`` their offsets
    in it, the processor's sampled rate is ``k / total * fps`` (4 frames from one second: 4 per second).
    """
    return {"fps": float(turn.fps), "total_num_frames": int(turn.clip_frames),
            "frames_indices": [int(i) for i in turn.frame_indices]}


def _resolve_device_dtype(device: str, dtype: str) -> tuple[str, str]:
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelError(f"classification.device is {device!r} but no CUDA GPU is available to torch "
                         f"{torch.__version__}; set it to auto or cpu")
    if dtype == "auto":
        dtype = "bfloat16" if device.startswith("cuda") else "float32"
    return device, dtype


def _clone_cache(cache: Any, repeats: int, config: Any) -> Any:
    """Independent copy of a DynamicCache, each batch row repeated ``repeats`` times (b0, b0, ..., b1, ...).

    Forwards on the copy concatenate new keys and values, so the source cache is never changed.
    """
    from transformers import DynamicCache

    data = []
    for keys, values, *_ in cache:
        if repeats != 1:
            keys, values = keys.repeat_interleave(repeats, 0), values.repeat_interleave(repeats, 0)
        data.append((keys, values))
    return DynamicCache(ddp_cache_data=data, config=config)


def _concat_inputs(per: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack the processor outputs of windows whose prompts have the same length (same frame count and size)."""
    import torch

    if len(per) == 1:
        return per[0]
    lengths = {p["input_ids"].shape[1] for p in per}
    if len(lengths) != 1:
        raise ValueError(f"Expected windows of one batch to give prompts of one length, but got {sorted(lengths)}")
    out: dict[str, Any] = {}
    for k in per[0]:
        vals = [p[k] for p in per]
        out[k] = torch.cat(vals, 0) if torch.is_tensor(vals[0]) else [x for v in vals for x in v]
    return out
