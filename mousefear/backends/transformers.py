"""Qwen2.5-VL and Qwen3-VL through transformers: label scoring (default) or greedy generation, with a reused prompt
prefix.

What differs between the families (patch grid, processor bounds, end-of-turn token, what the rotary position ids
need, how video frames carry their time) comes from their description in :mod:`mousefear.backends.families`;
the family is read from the checkpoint's config.json before anything loads (:meth:`TransformersBackend.family`).

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

Position ids: both families use 3-D rotary positions (time, height, width). transformers infers them only for an
input without a cache, so every forward here passes them explicitly: the suffix's positions are the model's own
``get_rope_index`` of the suffix shifted by the prefix's last position + 1 (the prefix always ends with text).
Both families' rules are linear in the start position (Qwen2.5-VL: video time from ``second_per_grid_ts``;
Qwen3-VL: every temporal patch of a video its own grid, after a ``<t seconds>`` timestamp text), so this gives
positions identical to those of the whole prompt computed at once (tested for both).

Batches: windows with the same number and size of frames (all but a partial last one) are prefilled together;
the batch's caches are independent copies of the prefix cache.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mousefear.backends.base import WindowBackend, WindowResult
from mousefear.backends.checkpoints import (
    DEFAULT_MODEL,
    available_memory,
    count_parameters,
    import_torchvision_safely,
    resolve_model,
)
from mousefear.backends.families import ModelFamily, family_from_config, resolve_family
from mousefear.core.preprocess import PatchGrid
from mousefear.core.prompts import Prompt, Turn, build_messages, parse_answer, query_turns
from mousefear.errors import ModelError

logger = logging.getLogger(__name__)

# DEFAULT_MODEL, import_torchvision_safely and resolve_model live in checkpoints.py; importable from here too
__all__ = ["DEFAULT_MODEL", "TransformersBackend", "import_torchvision_safely", "resolve_model"]

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
    """Qwen2.5-VL or Qwen3-VL (any size of either family) run locally.

    Build it with :meth:`from_settings`; the parameters without a default are settings of ``classification`` in
    config.yaml (checked there). Building it reads nothing and downloads nothing: :meth:`family` reads the
    checkpoint's config.json (the pipeline asks for it before a run's identity is worked out), :meth:`load` finds
    the weights (downloading them if needed and allowed), checks that the device has the memory for them, and
    loads the processor and the model.

    Parameters
    ----------
    behaviors
        Behaviour names, in the order of the probability vectors.
    model
        Hub id or local folder (``classification.model``).
    model_revision
        Hub revision (branch, tag or commit); None = default branch.
    model_family
        ``"auto"`` (read from the checkpoint's config.json) or a family name (``qwen2_5_vl``, ``qwen3_vl``),
        which must then agree with the checkpoint.
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
    local_files_only
        Never download weights, use the Hugging Face cache or a folder only.
    """

    name = "transformers"
    settings_sections = ("classification",)
    runtime_params = ("device", "reuse_prefix", "local_files_only", "model_family")

    def __init__(
        self,
        behaviors: Sequence[str],
        *,
        model: str,
        model_revision: str | None,
        model_family: str,
        dtype: str,
        device: str,
        decision: str,
        input_mode: str,
        max_new_tokens: int,
        reuse_prefix: bool = True,
        local_files_only: bool = False,
    ):
        super().__init__(behaviors)
        self.model = model
        self.model_revision = model_revision
        self.model_family = model_family
        self.dtype = dtype
        self.device = device
        self.decision = decision
        self.input_mode = input_mode
        self.max_new_tokens = max_new_tokens
        self.reuse_prefix = reuse_prefix
        self.local_files_only = local_files_only
        self.net: Any = None  # the loaded model
        self.processor: Any = None
        self.n_parameters: int | None = None  # stored parameters of the checkpoint (after load)
        self._family: ModelFamily | None = None
        self._resolved: dict[str, Any] = {}
        self._prompt: Prompt | None = None
        self._prefix_turns: list[Turn] = []
        self._prefix: tuple[Any, _Segment] | None = None  # (cache, segment)
        self._cand_ids: list[list[int]] = []

    # ---------------------------------------------------------------- provenance

    @property
    def model_id(self) -> str:
        return str(self.model)

    def family(self) -> ModelFamily:
        """The model family, read from the checkpoint's config.json on first use (no weights are touched; a hub
        model's config.json alone is downloaded if it is not cached and downloads are allowed).

        Raises
        ------
        ModelError
            config.json cannot be had, names an unsupported family, or not ``model_family``.
        """
        if self._family is None:
            self._family = resolve_family(self.model, self.model_family, self.model_revision, self.local_files_only)
        return self._family

    def frame_grid(self) -> PatchGrid:
        """The family's patch grid: frames are resized to it before they come here."""
        return self.family().grid

    def derived(self) -> dict[str, Any]:
        return {"score_includes_end_token": True}

    def resolved(self) -> dict[str, Any]:
        """After :meth:`load`: ``model_revision`` (the commit of the cached snapshot, or ``folder:<hash>``),
        ``family`` (the model family), ``device``, ``dtype`` and ``transformers_version``."""
        return dict(self._resolved)

    # ---------------------------------------------------------------- loading

    def load(self) -> None:
        """Find the weights (downloading them unless ``local_files_only``) and load the processor and model.

        Raises
        ------
        ModelError
            The weights are not on this machine and cannot be downloaded, the folder is not a model of a supported
            family (or not of ``model_family``), no CUDA GPU is available for ``device="cuda"``, the device has
            not the memory for the weights in ``dtype``; the message says what to do.
        """
        if self.net is not None:
            return
        import torch

        folder, revision = resolve_model(self.model, self.model_revision, self.local_files_only)
        family = self.family()
        device, dtype = _resolve_device_dtype(self.device, self.dtype)
        self.n_parameters = _check_memory(self.model, folder, family, device, dtype)
        import_torchvision_safely()
        import transformers
        from transformers import AutoModelForImageTextToText, AutoProcessor

        logger.info("Loading %s (%s, %s) on %s as %s", self.model, family.title, revision, device, dtype)
        try:
            self.processor = AutoProcessor.from_pretrained(folder)
            net = AutoModelForImageTextToText.from_pretrained(folder, dtype=getattr(torch, dtype))
        except (OSError, ValueError, KeyError) as exc:
            raise ModelError(f"Cannot load model {self.model} from {folder}: {exc}") from None
        loaded = family_from_config(net.config.to_dict(), str(folder / "config.json"))
        if loaded != family:  # the folder changed since its config.json was read
            raise ModelError(f"Model {self.model} in {folder} is now a {loaded.title} checkpoint, not {family.title}")
        self.net = net.to(device).eval()
        # transformers 5.x renamed the forward argument past_key_values to cache (the old name warns)
        self._cache_arg = "cache" if "cache" in inspect.signature(self.net.forward).parameters else "past_key_values"
        self._resolved = {"model_revision": revision, "family": family.name, "device": device, "dtype": dtype,
                          "transformers_version": transformers.__version__}
        tok = self.processor.tokenizer
        self._im_end = tok.convert_tokens_to_ids(family.end_of_turn)
        self._stop = {tok.convert_tokens_to_ids(t) for t in family.stop_tokens}
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

    def _texts(self, query: Sequence[Turn]) -> tuple[str, str]:
        """(prefix text, suffix text) whose concatenation is the whole chat-templated prompt of a window (its
        turns after the shared prefix: :func:`~mousefear.core.prompts.query_turns`)."""
        apply = self.processor.apply_chat_template
        full = apply(self._chat([*self._prefix_turns, *query]), add_generation_prompt=True, tokenize=False)
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
            # the processor keeps the frames as preprocessing made them: bounds of the family, no frame sampling,
            # no per-frame cap (sides are multiples of the family's factor already)
            size = self.family().processor_size
            if self.input_mode == "video":
                kw["videos"] = [list(t.frames) for t in visual]
                kw["video_metadata"] = [_video_metadata(t) for t in visual]
                kw["videos_kwargs"] = {"size": size, "do_sample_frames": False, "cap_pixels_per_frame": False}
            else:
                kw["images"] = [f for t in visual for f in t.frames]
                kw["images_kwargs"] = {"size": size}
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
                **{k: inputs.get(k) for k in self.family().rope_inputs},
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
        """Classify a batch of windows; windows whose prompts (after the shared prefix) have the same length and
        frame grids are run together (all but a partial last window, in autoregressive context those whose
        previous labels have the same length)."""
        if self._prompt is None:
            raise RuntimeError("TransformersBackend.prepare(prompt, examples) must be called before classify")
        results: list[WindowResult | None] = [None] * len(windows)
        groups: dict[Any, list[int]] = {}
        inputs = []
        for i, w in enumerate(windows):
            turns = query_turns(self._prompt, w)  # the window's turns after the shared prefix, with its context
            prefix_text, suffix_text = self._texts(turns)
            if self.reuse_prefix:
                inputs.append(self._process(suffix_text, turns))
                groups.setdefault(_group_key(inputs[-1]), []).append(i)
            else:
                inputs.append(self._process(prefix_text + suffix_text, [*self._prefix_turns, *turns]))
                groups[i] = [i]
        for idx in groups.values():
            for i, r in zip(idx, self._classify_group([inputs[i] for i in idx]), strict=True):
                results[i] = r
        return [r for r in results if r is not None]

    def _prefill_windows(self, per: list[dict[str, Any]]) -> tuple[Any, Any, Any, dict[str, Any]]:
        """Prefill the processed prompts of windows (after the shared prefix, or whole without reuse); returns
        (cache, last logits (B, V), next position (B,), info)."""
        import torch

        b = len(per)
        if self.reuse_prefix:
            assert self._prefix is not None
            prefix_cache, prefix_seg = self._prefix
            cache = _clone_cache(prefix_cache, b, self.net.config)
            inputs = _concat_inputs(per)
            seg = _Segment(inputs, self._positions(inputs, prefix_seg.next_position.expand(b)))
            info = {"prefix_tokens": prefix_seg.length, "window_tokens": seg.length}
        else:
            if b != 1:
                raise ValueError("without prefix reuse windows are prefilled one at a time")
            seg = _Segment(per[0], self._positions(per[0]))
            cache = self._new_cache()
            info = {"prompt_tokens": seg.length}
        with torch.inference_mode():
            out = self._forward(seg, cache)
        return cache, out.logits[:, -1], seg.next_position, info

    def _classify_group(self, per: list[dict[str, Any]]) -> list[WindowResult]:
        cache, logits, next_pos, info = self._prefill_windows(per)
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


def _check_memory(model: str, folder: Any, family: ModelFamily, device: str, dtype: str) -> int | None:
    """Refuse to load weights that cannot fit in the device's free memory; return the parameter count.

    The weights need ``parameters * bytes per value`` (from the safetensors headers); loading fails for certain
    when that exceeds the free memory, so the message says it before minutes of loading. A margin below 20 % is
    only warned about (activations and caches need some too). Checkpoints without safetensors are not checked.
    """
    try:
        n = count_parameters(folder)
    except (ModelError, OSError, ValueError, KeyError) as exc:
        logger.debug("Cannot count the parameters of %s (%s): memory not checked", folder, exc)
        return None
    need = n * _BYTES_PER_VALUE[dtype]
    free, _ = available_memory(device)
    if free is None:
        return n
    if need > free:
        smaller = [c for c in family.checkpoints if c != model][:1]
        hint = (" or a smaller model (" + smaller[0] + ")") if smaller else ""
        fp32 = ", or bfloat16 instead of float32 (classification.dtype)" if dtype == "float32" else ""
        raise ModelError(f"Model {model} ({n / 1e9:.2f} billion parameters) needs {need / 2**30:.1f} GiB for its "
                         f"weights in {dtype}, but {device} has {free / 2**30:.1f} GiB free; use a device with "
                         f"more memory{fp32}{hint}, or run it on a server (classification.backend: openai)")
    if need > 0.8 * free:
        logger.warning("Model %s needs %.1f GiB for its weights in %s and %s has %.1f GiB free: little is left "
                       "for the prompts", model, need / 2**30, dtype, device, free / 2**30)
    return n


#: Bytes per parameter value of each dtype.
_BYTES_PER_VALUE = {"float32": 4, "bfloat16": 2, "float16": 2}


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


def _group_key(inputs: dict[str, Any]) -> tuple:
    """Windows whose processed prompts share this key are prefilled as one batch: same length, same grids."""
    grids = tuple(tuple(inputs[k].flatten().tolist()) if inputs.get(k) is not None else ()
                  for k in ("image_grid_thw", "video_grid_thw"))
    return int(inputs["input_ids"].shape[1]), grids


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
