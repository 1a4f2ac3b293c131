"""Model families: every rule that differs between Qwen2.5-VL and Qwen3-VL, in one small description each.

==============  ============  =========  ==========  ==================================  ===================
family          patches       resize to  min pixels  time of video frames                ``-Instruct`` sizes
==============  ============  =========  ==========  ==================================  ===================
``qwen2_5_vl``  14 px, 2 x 2  28 px      3136        rotary time ids (absolute seconds)  3B, 7B, 32B, 72B
``qwen3_vl``    16 px, 2 x 2  32 px      65536       ``<t seconds>`` text per 2 frames   2B, 4B, 8B, 32B
==============  ============  =========  ==========  ==================================  ===================

The family of a checkpoint is read from its config.json (``model_type``, else ``architectures``), never from its
name: :func:`resolve_family`. ``classification.model_family`` may name it instead (needed for a server whose
model's config.json is not on this machine); the transformers backend checks it against the checkpoint.

What the families share (and the backends therefore do the same way for both): the chat template and tokenizer
come from the checkpoint; a label's score ends with the end-of-turn token ``<|im_end|>``; positions are 3-D
rotary ids (time, height, width) that the model's own ``get_rope_index`` computes for a piece of the prompt,
shifted by the position after the reused prefix; frames go as separate images or as one video with their timing
(``video_metadata``), and the processor is told to keep the frames as preprocessing made them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mousefear.backends.checkpoints import read_model_config
from mousefear.core.preprocess import PatchGrid
from mousefear.errors import ConfigError, ModelError

__all__ = ["FAMILIES", "QWEN2_5_VL", "QWEN3_VL", "ModelFamily", "family_from_config", "family_named",
           "resolve_family"]


@dataclass(frozen=True)
class ModelFamily:
    """What mousefear needs to know about one family of vision-language models.

    Attributes
    ----------
    name : str
        The value of ``classification.model_family`` (``qwen2_5_vl``).
    title : str
        Its name for people (``Qwen2.5-VL``).
    model_types, architectures : tuple of str
        ``model_type`` values and ``architectures`` entries of config.json that belong to the family.
    patch_size, merge_size, temporal_patch_size : int
        The vision tower's patch side (pixels), the side of the square of patches merged into one visual token,
        and the number of consecutive video frames in one temporal patch.
    min_pixels, max_pixels : int
        Smallest and largest frame area (pixels) the family's image processor keeps as it is
        (``preprocessor_config.json`` of the released checkpoints).
    end_of_turn : str
        Token that closes an answer: scored after every label (``"the answer is exactly this"``).
    stop_tokens : tuple of str
        Tokens that end a generated answer.
    rope_inputs : tuple of str
        Processor outputs the model's ``get_rope_index`` needs besides ids, token types and grids.
    video_time : str
        How a video's frames carry their time: ``"rotary"`` (absolute seconds in the temporal position ids,
        from ``second_per_grid_ts``) or ``"timestamps"`` (a ``<t seconds>`` text before each temporal patch).
    checkpoints : tuple of str
        The released instruction-tuned checkpoints, smallest first.
    """

    name: str
    title: str
    model_types: tuple[str, ...]
    architectures: tuple[str, ...]
    patch_size: int
    merge_size: int
    temporal_patch_size: int
    min_pixels: int
    max_pixels: int
    end_of_turn: str
    stop_tokens: tuple[str, ...]
    rope_inputs: tuple[str, ...]
    video_time: str
    checkpoints: tuple[str, ...]

    @property
    def factor(self) -> int:
        """Side of the pixel square that becomes one visual token: ``patch_size * merge_size``."""
        return self.patch_size * self.merge_size

    @property
    def grid(self) -> PatchGrid:
        """What preprocessing must produce for this family (:func:`mousefear.core.preprocess.preprocess_window`)."""
        return PatchGrid(factor=self.factor, min_pixels=self.min_pixels)

    @property
    def processor_size(self) -> dict[str, int]:
        """The processor's resize bounds per frame (``size`` of its ``images_kwargs`` / ``videos_kwargs``)."""
        return {"shortest_edge": self.min_pixels, "longest_edge": self.max_pixels}

    def visual_tokens(self, n_frames: int, height: int, width: int, input_mode: str = "images") -> int:
        """Visual tokens of ``n_frames`` frames of ``height x width`` pixels (sides multiples of :attr:`factor`).

        ``images``: every frame ``(height / factor) * (width / factor)`` tokens; ``video``: consecutive frames
        share a temporal patch (an odd last frame is repeated), so ``ceil(n / temporal_patch_size)`` times that.
        """
        if height % self.factor or width % self.factor:
            raise ValueError(f"Expected frame sides that are multiples of {self.factor} for {self.title}, but got "
                             f"{width}x{height}")
        per_frame = (height // self.factor) * (width // self.factor)
        if input_mode == "video":
            return math.ceil(n_frames / self.temporal_patch_size) * per_frame
        return n_frames * per_frame


QWEN2_5_VL = ModelFamily(
    name="qwen2_5_vl",
    title="Qwen2.5-VL",
    model_types=("qwen2_5_vl",),
    architectures=("Qwen2_5_VLForConditionalGeneration",),
    patch_size=14,
    merge_size=2,
    temporal_patch_size=2,
    min_pixels=3136,
    max_pixels=12845056,
    end_of_turn="<|im_end|>",
    stop_tokens=("<|im_end|>", "<|endoftext|>"),
    rope_inputs=("second_per_grid_ts",),
    video_time="rotary",
    checkpoints=("Qwen/Qwen2.5-VL-3B-Instruct", "Qwen/Qwen2.5-VL-7B-Instruct", "Qwen/Qwen2.5-VL-32B-Instruct",
                 "Qwen/Qwen2.5-VL-72B-Instruct"),
)

QWEN3_VL = ModelFamily(
    name="qwen3_vl",
    title="Qwen3-VL",
    model_types=("qwen3_vl",),
    architectures=("Qwen3VLForConditionalGeneration",),
    patch_size=16,
    merge_size=2,
    temporal_patch_size=2,
    min_pixels=65536,
    max_pixels=16777216,
    end_of_turn="<|im_end|>",
    stop_tokens=("<|im_end|>", "<|endoftext|>"),
    rope_inputs=(),
    video_time="timestamps",
    checkpoints=("Qwen/Qwen3-VL-2B-Instruct", "Qwen/Qwen3-VL-4B-Instruct", "Qwen/Qwen3-VL-8B-Instruct",
                 "Qwen/Qwen3-VL-32B-Instruct"),
)

#: The supported families by name (the choices of ``classification.model_family`` besides ``auto``).
FAMILIES: dict[str, ModelFamily] = {f.name: f for f in (QWEN2_5_VL, QWEN3_VL)}


def _supported() -> str:
    return ", ".join(f"{f.name} ({f.title}: {', '.join(f.architectures)})" for f in FAMILIES.values())


def family_named(name: str) -> ModelFamily:
    """The family called ``name`` (a value of ``classification.model_family`` other than ``auto``)."""
    if name not in FAMILIES:
        raise ConfigError(f"Expected classification.model_family to be one of auto, {', '.join(FAMILIES)}, but got "
                          f"{name!r}")
    return FAMILIES[name]


def family_from_config(config: Mapping[str, Any], source: str) -> ModelFamily:
    """The family a checkpoint belongs to, from its config.json (``model_type``, else ``architectures``).

    Raises
    ------
    ModelError
        Neither names a supported family (one line naming the file, what it says and the supported families).
    """
    model_type = config.get("model_type")
    architectures = [str(a) for a in config.get("architectures") or []]
    for family in FAMILIES.values():
        if model_type in family.model_types:
            return family
    for family in FAMILIES.values():
        if model_type is None and set(architectures) & set(family.architectures):
            return family
    raise ModelError(f"{source}: model_type {model_type!r} (architectures {architectures}) is not a model family "
                     f"mousefear supports; supported: {_supported()}")


def resolve_family(model: str, configured: str = "auto", revision: str | None = None,
                   local_files_only: bool = False, check: bool = True) -> ModelFamily:
    """The family of ``classification.model``: as configured, or read from its config.json (no weights).

    Parameters
    ----------
    model
        Hub id or local folder.
    configured
        ``classification.model_family``: ``auto`` reads the checkpoint's config.json; a family name is taken as
        it is, and with ``check`` also compared with the checkpoint's config.json.
    revision, local_files_only
        Where config.json comes from (:func:`mousefear.backends.checkpoints.read_model_config`).
    check
        Compare a configured family with the checkpoint (False for a server's model, whose config.json may not
        be on this machine).

    Raises
    ------
    ModelError
        config.json cannot be had (``auto``), names an unsupported family, or another family than configured.
    """
    if configured != "auto":
        family = family_named(configured)
        if not check:
            return family
    config, source = read_model_config(model, revision, local_files_only)
    found = family_from_config(config, source)
    if configured != "auto" and found.name != configured:
        raise ModelError(f"classification.model_family is {configured} ({FAMILIES[configured].title}), but {source} "
                         f"is a {found.title} checkpoint (model_type {config.get('model_type')!r}); set "
                         f"classification.model_family to auto or {found.name}")
    return found
