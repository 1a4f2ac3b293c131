"""Tiny, randomly initialised Qwen2.5-VL and Qwen3-VL checkpoints: for tests, benchmarks, and trying the pipeline
without weights.

Nothing here downloads anything. :func:`build_tiny_qwen` writes a complete model folder (weights, config,
tokenizer, image and video processor, chat template) of either family that loads through exactly the code path
of ``Qwen/Qwen2.5-VL-3B-Instruct`` or ``Qwen/Qwen3-VL-2B-Instruct`` (``AutoProcessor.from_pretrained`` and
``AutoModelForImageTextToText.from_pretrained``), so the real processor, chat template, vision tower and
language model of the family run; only the sizes are tiny (2 text layers of width 64, 2 vision blocks) and the
weights random. Point ``classification.model`` of a project at the folder to run the whole pipeline in seconds on
a CPU; the labels are of course random.

:func:`build_random_model` builds a model with the exact shapes of a released checkpoint (:data:`REAL_SHAPES`:
Qwen2.5-VL-3B/7B/32B/72B, Qwen3-VL-2B/4B/8B/32B) and random weights, to measure the real cost of a window
(memory, time) without the weights.

torch, transformers and tokenizers are imported inside the functions, so importing this module is cheap.

Example
-------
>>> from mousefear.testing import build_tiny_qwen
>>> path = build_tiny_qwen("/tmp/tiny-qwen3", family="qwen3_vl")   # doctest: +SKIP
>>> # config.yaml:  classification: {model: /tmp/tiny-qwen3}
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from mousefear.core.config import templates_dir

__all__ = [
    "QWEN25VL_3B_TEXT",
    "QWEN25VL_3B_TOKEN_IDS",
    "QWEN25VL_3B_VISION",
    "QWEN25VL_CHAT_TEMPLATE",
    "QWEN25VL_MAX_PIXELS",
    "QWEN25VL_MIN_PIXELS",
    "QWEN3VL_CHAT_TEMPLATE",
    "QWEN3VL_MAX_PIXELS",
    "QWEN3VL_MIN_PIXELS",
    "REAL_SHAPES",
    "TransformersServer",
    "build_qwen_processor",
    "build_random_model",
    "build_random_qwen25vl_3b",
    "build_tiny_qwen",
    "free_port",
    "run_transformers_serve",
    "train_tiny_tokenizer",
]

#: The chat template of Qwen2.5-VL-*-Instruct (its chat_template.json), verbatim.
QWEN25VL_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

#: Special tokens of the Qwen2.5 tokenizer in their original order (ids 151643..151656 in the real vocabulary).
QWEN_SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

#: The chat template of Qwen3-VL-*-Instruct (its chat_template.json), verbatim (templates/chat/qwen3_vl.jinja).
QWEN3VL_CHAT_TEMPLATE = (templates_dir() / "chat" / "qwen3_vl.jinja").read_text(encoding="utf-8")

#: Resize bounds (pixels per frame) of the Qwen2.5-VL-*-Instruct preprocessor_config.json.
QWEN25VL_MIN_PIXELS = 3136
QWEN25VL_MAX_PIXELS = 12845056
_CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
_CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
#: Resize bounds of Qwen3-VL-*-Instruct: images (preprocessor_config.json) and videos
#: (video_preprocessor_config.json); mean and std are 0.5 for both.
QWEN3VL_MIN_PIXELS = 65536
QWEN3VL_MAX_PIXELS = 16777216
_QWEN3VL_VIDEO_SIZE = {"shortest_edge": 4096, "longest_edge": 25165824}

#: Text model shapes of Qwen/Qwen2.5-VL-3B-Instruct (config.json).
QWEN25VL_3B_TEXT: dict[str, Any] = {
    "vocab_size": 151936,
    "hidden_size": 2048,
    "intermediate_size": 11008,
    "num_hidden_layers": 36,
    "num_attention_heads": 16,
    "num_key_value_heads": 2,
    "hidden_act": "silu",
    "max_position_embeddings": 128000,
    "max_window_layers": 70,
    "rms_norm_eps": 1e-6,
    "rope_parameters": {"rope_type": "default", "mrope_section": [16, 24, 24], "rope_theta": 1000000.0},
    "sliding_window": 32768,
    "use_sliding_window": False,
    "bos_token_id": 151643,
    "eos_token_id": 151645,
}
#: Vision tower shapes of Qwen/Qwen2.5-VL-3B-Instruct.
QWEN25VL_3B_VISION: dict[str, Any] = {
    "depth": 32,
    "hidden_act": "silu",
    "hidden_size": 1280,
    "intermediate_size": 3420,
    "num_heads": 16,
    "in_channels": 3,
    "out_hidden_size": 2048,
    "patch_size": 14,
    "spatial_merge_size": 2,
    "temporal_patch_size": 2,
    "window_size": 112,
    "fullatt_block_indexes": [7, 15, 23, 31],
    "tokens_per_second": 2,
}
#: Special token ids and embedding tying of Qwen/Qwen2.5-VL-3B-Instruct.
QWEN25VL_3B_TOKEN_IDS: dict[str, Any] = {
    "image_token_id": 151655,
    "video_token_id": 151656,
    "vision_start_token_id": 151652,
    "vision_end_token_id": 151653,
    "tie_word_embeddings": True,
}

_QWEN3VL_TEXT: dict[str, Any] = {  # shared by every Qwen3-VL size (config.json text_config)
    "vocab_size": 151936, "head_dim": 128, "hidden_act": "silu", "max_position_embeddings": 262144,
    "rms_norm_eps": 1e-6, "attention_bias": False, "bos_token_id": 151643, "eos_token_id": 151645,
    "rope_parameters": {"rope_type": "default", "mrope_section": [24, 20, 20], "mrope_interleaved": True,
                        "rope_theta": 5000000.0},
}
_QWEN3VL_VISION: dict[str, Any] = {  # 2B and 4B; 8B and 32B have the larger tower (see REAL_SHAPES)
    "depth": 24, "hidden_size": 1024, "intermediate_size": 4096, "num_heads": 16, "hidden_act": "gelu_pytorch_tanh",
    "in_channels": 3, "patch_size": 16, "spatial_merge_size": 2, "temporal_patch_size": 2,
    "num_position_embeddings": 2304, "deepstack_visual_indexes": [5, 11, 17],
}
_QWEN3VL_VISION_L = {**_QWEN3VL_VISION, "depth": 27, "hidden_size": 1152, "intermediate_size": 4304,
                     "deepstack_visual_indexes": [8, 16, 24]}


def _text(base: dict[str, Any], hidden: int, intermediate: int, layers: int, heads: int, kv: int,
          **more: Any) -> dict[str, Any]:
    return {**base, "hidden_size": hidden, "intermediate_size": intermediate, "num_hidden_layers": layers,
            "num_attention_heads": heads, "num_key_value_heads": kv, **more}


#: Exact shapes of the released ``-Instruct`` checkpoints (their config.json): name -> (family, text_config,
#: vision_config, tie_word_embeddings). The vision tower's ``out_hidden_size`` is the text ``hidden_size``.
REAL_SHAPES: dict[str, tuple[str, dict[str, Any], dict[str, Any], bool]] = {
    "qwen2.5-vl-3b": ("qwen2_5_vl", QWEN25VL_3B_TEXT, QWEN25VL_3B_VISION, True),
    "qwen2.5-vl-7b": ("qwen2_5_vl", _text(QWEN25VL_3B_TEXT, 3584, 18944, 28, 28, 4, vocab_size=152064),
                      QWEN25VL_3B_VISION, False),
    "qwen2.5-vl-32b": ("qwen2_5_vl", _text(QWEN25VL_3B_TEXT, 5120, 27648, 64, 40, 8, vocab_size=152064),
                       QWEN25VL_3B_VISION, False),
    "qwen2.5-vl-72b": ("qwen2_5_vl", _text(QWEN25VL_3B_TEXT, 8192, 29568, 80, 64, 8, vocab_size=152064),
                       QWEN25VL_3B_VISION, False),
    "qwen3-vl-2b": ("qwen3_vl", _text(_QWEN3VL_TEXT, 2048, 6144, 28, 16, 8), _QWEN3VL_VISION, True),
    "qwen3-vl-4b": ("qwen3_vl", _text(_QWEN3VL_TEXT, 2560, 9728, 36, 32, 8), _QWEN3VL_VISION, True),
    "qwen3-vl-8b": ("qwen3_vl", _text(_QWEN3VL_TEXT, 4096, 12288, 36, 32, 8), _QWEN3VL_VISION_L, False),
    "qwen3-vl-32b": ("qwen3_vl", _text(_QWEN3VL_TEXT, 5120, 25600, 64, 64, 8), _QWEN3VL_VISION_L, False),
}

# Training text of the tiny BPE. With 300 tokens the behaviour names split into 3-5 tokens ("f|reez|ing",
# "f|le|e|ing"), like multi-token names in the real vocabulary, and two of them share their first token.
_CORPUS = (
    "You are a helpful assistant.",
    "You are an expert in rodent behaviour. Classify the behaviour of the mouse in the video.",
    "Answer with exactly one word: freezing, exploring, grooming, rearing or fleeing.",
    "Definitions: freezing means no movement except breathing. exploring means walking and sniffing.",
    "grooming means licking or scratching the fur. rearing means standing on the hind legs.",
    "fleeing means running away fast. Example frames of a mouse. What is the mouse doing?",
    "The mouse is freezing. The mouse is exploring. 0123456789 ,.:;!?()[]{}<>'\"-_/\\|@#$%^&*+=~`",
)


def train_tiny_tokenizer(vocab_size: int = 300, corpus: tuple[str, ...] = _CORPUS) -> Any:
    """A byte-level BPE with the Qwen2 pre-tokenizer and the Qwen special tokens, as a ``Qwen2Tokenizer``.

    The special tokens get the ids right after the regular vocabulary, in Qwen's order; ``eos`` is
    ``<|im_end|>`` and ``pad`` is ``<|endoftext|>`` as in Qwen2.5-VL-Instruct. Training takes ~10 ms.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import Qwen2Tokenizer
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(corpus), trainer=trainer)
    model_json = json.loads(tok.to_str())["model"]
    vocab = model_json["vocab"]
    # Qwen2Tokenizer wants merges as tuples ("a b" strings fail with "failed to extract enum PyMerges").
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ", 1)) for m in model_json["merges"]]
    for t in QWEN_SPECIAL_TOKENS:
        vocab[t] = len(vocab)
    return Qwen2Tokenizer(
        vocab=vocab,
        merges=merges,
        unk_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        extra_special_tokens=list(QWEN_SPECIAL_TOKENS[1:]),
        model_max_length=131072,
        errors="replace",
        split_special_tokens=False,
        padding_side="left",
    )


def build_qwen_processor(tokenizer: Any = None, family: str = "qwen2_5_vl") -> Any:
    """A processor with the image/video settings and chat template of the family's released checkpoints.

    Parameters
    ----------
    tokenizer
        Tokenizer to use; default :func:`train_tiny_tokenizer` (the real one cannot be downloaded here).
    family
        ``"qwen2_5_vl"`` (a ``Qwen2_5_VLProcessor``: 14-pixel patches, CLIP mean/std, 3136-12845056 pixels) or
        ``"qwen3_vl"`` (a ``Qwen3VLProcessor``: 16-pixel patches, mean/std 0.5, images 65536-16777216 pixels,
        videos 4096-25165824, ``<t seconds>`` timestamps).
    """
    from mousefear.backends.checkpoints import import_torchvision_safely

    import_torchvision_safely()
    import transformers as tr

    tokenizer = train_tiny_tokenizer() if tokenizer is None else tokenizer
    if family == "qwen3_vl":
        common: dict[str, Any] = {"patch_size": 16, "temporal_patch_size": 2, "merge_size": 2,
                                  "image_mean": [0.5] * 3, "image_std": [0.5] * 3}
        return tr.Qwen3VLProcessor(
            image_processor=tr.Qwen2VLImageProcessor(
                **common, size={"shortest_edge": QWEN3VL_MIN_PIXELS, "longest_edge": QWEN3VL_MAX_PIXELS}),
            tokenizer=tokenizer,
            video_processor=tr.Qwen3VLVideoProcessor(**common, size=dict(_QWEN3VL_VIDEO_SIZE)),
            chat_template=QWEN3VL_CHAT_TEMPLATE,
        )
    if family != "qwen2_5_vl":
        raise ValueError(f"Expected family qwen2_5_vl or qwen3_vl, but got {family!r}")
    common = {"patch_size": 14, "temporal_patch_size": 2, "merge_size": 2, "image_mean": _CLIP_MEAN,
              "image_std": _CLIP_STD, "min_pixels": QWEN25VL_MIN_PIXELS, "max_pixels": QWEN25VL_MAX_PIXELS}
    return tr.Qwen2_5_VLProcessor(
        image_processor=tr.Qwen2VLImageProcessor(**common),
        tokenizer=tokenizer,
        video_processor=tr.Qwen2VLVideoProcessor(**common),
        chat_template=QWEN25VL_CHAT_TEMPLATE,
    )


def _token_ids(tokenizer: Any) -> dict[str, int]:
    tid = tokenizer.convert_tokens_to_ids
    return {"image_token_id": tid("<|image_pad|>"), "video_token_id": tid("<|video_pad|>"),
            "vision_start_token_id": tid("<|vision_start|>"), "vision_end_token_id": tid("<|vision_end|>")}


def _config(family: str, text: dict[str, Any], vision: dict[str, Any], tie: bool, token_ids: dict[str, Any]) -> Any:
    """The family's configuration class built from text and vision settings (vision output = text width)."""
    import transformers as tr

    cls = tr.Qwen3VLConfig if family == "qwen3_vl" else tr.Qwen2_5_VLConfig
    vision = {**vision, "out_hidden_size": text["hidden_size"]}
    return cls(text_config=dict(text), vision_config=vision, tie_word_embeddings=tie, **token_ids)


def _tiny_config(tokenizer: Any, initializer_range: float | None, family: str) -> Any:
    tid = tokenizer.convert_tokens_to_ids
    text: dict[str, Any] = {
        "vocab_size": len(tokenizer),
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,  # head_dim 16 -> 8 rotary frequencies = sum(mrope_section)
        "num_key_value_heads": 2,
        "hidden_act": "silu",
        "max_position_embeddings": 32768,
        "rms_norm_eps": 1e-6,
        "bos_token_id": tid("<|endoftext|>"),
        "eos_token_id": tid("<|im_end|>"),
        "pad_token_id": tid("<|endoftext|>"),
    }
    vision: dict[str, Any] = {"depth": 2, "hidden_size": 32, "intermediate_size": 64, "num_heads": 2,
                              "in_channels": 3, "spatial_merge_size": 2, "temporal_patch_size": 2}
    if family == "qwen3_vl":  # interleaved 3-D rotary frequencies (T gets the rest), deepstack from both blocks
        text.update(head_dim=16, rope_parameters={"rope_type": "default", "mrope_section": [4, 2, 2],
                                                  "mrope_interleaved": True, "rope_theta": 5000000.0})
        vision.update(patch_size=16, hidden_act="gelu_pytorch_tanh", num_position_embeddings=2304,
                      deepstack_visual_indexes=[0, 1])
    else:
        text.update(use_sliding_window=False,
                    rope_parameters={"rope_type": "default", "mrope_section": [2, 3, 3], "rope_theta": 1000000.0})
        vision.update(patch_size=14, window_size=112, fullatt_block_indexes=[1], tokens_per_second=2)
    if initializer_range is not None:
        text["initializer_range"] = vision["initializer_range"] = float(initializer_range)
    return _config(family, text, vision, False, _token_ids(tokenizer))


def build_tiny_qwen(path: str | os.PathLike, seed: int = 0, initializer_range: float | None = 0.2,
                    family: str = "qwen2_5_vl") -> Path:
    """Write a tiny random model folder (weights, config, processor, chat template) of a family to ``path``.

    Parameters
    ----------
    path
        Folder to write (created; files in it are replaced).
    seed
        Seed of the random weights: the same seed gives the same weights.
    initializer_range
        Standard deviation of the random weights. The default 0.2 (ten times the usual 0.02) makes the logits
        peaky, so that a mistake in position ids or caching changes log-probabilities by O(1) instead of 1e-3;
        None keeps the transformers default.
    family
        ``"qwen2_5_vl"`` (a ``Qwen2_5_VLForConditionalGeneration``) or ``"qwen3_vl"`` (a
        ``Qwen3VLForConditionalGeneration``: 16-pixel patches, interleaved rotary sections, deepstack visual
        features, timestamps between video frames), with that family's real processor and chat template.

    Returns
    -------
    pathlib.Path
        ``path``; load it with ``AutoProcessor.from_pretrained(path)`` and
        ``AutoModelForImageTextToText.from_pretrained(path)``, or set ``classification.model`` to it.
        About 0.3 s after the imports.
    """
    import torch

    from mousefear.backends.checkpoints import import_torchvision_safely

    import_torchvision_safely()  # before any transformers model or processor import
    from transformers import AutoModelForImageTextToText, GenerationConfig

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tokenizer = train_tiny_tokenizer()
    processor = build_qwen_processor(tokenizer, family)
    config = _tiny_config(tokenizer, initializer_range, family)
    torch.manual_seed(seed)
    model = AutoModelForImageTextToText.from_config(config).eval()
    model.generation_config = GenerationConfig(
        bos_token_id=config.text_config.bos_token_id,
        eos_token_id=[config.text_config.eos_token_id, config.text_config.bos_token_id],
        pad_token_id=config.text_config.pad_token_id,
        do_sample=False,
    )
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


def build_random_model(shape: str, dtype: Any = None, device: str = "cpu", seed: int = 0,
                       tokenizer: Any = None) -> Any:
    """A model with the exact shapes of a released checkpoint (:data:`REAL_SHAPES`) and random weights.

    For benchmarks of time and memory only (Qwen2.5-VL-3B: 3.75 billion parameters, about 7.5 GB in bfloat16,
    the default ``dtype``, and 15 GB in float32). Weights are created directly on ``device``; ``device="meta"``
    builds the shapes without memory (to count parameters). Pair it with :func:`build_qwen_processor` of the same
    family (tiny vocabulary, real image processing) and pass that processor's ``tokenizer`` here: the
    special-token ids (image, video, vision start/end) are then taken from it, so that the model finds the
    processor's placeholders. Shapes do not change.
    """
    import torch

    from mousefear.backends.checkpoints import import_torchvision_safely

    import_torchvision_safely()
    from transformers import AutoModelForImageTextToText

    if shape not in REAL_SHAPES:
        raise ValueError(f"Expected a shape among {', '.join(REAL_SHAPES)}, but got {shape!r}")
    family, text, vision, tie = REAL_SHAPES[shape]
    token_ids = {k: v for k, v in QWEN25VL_3B_TOKEN_IDS.items() if k != "tie_word_embeddings"}
    if tokenizer is not None:
        token_ids = _token_ids(tokenizer)
    config = _config(family, text, vision, tie, token_ids)
    dtype = torch.bfloat16 if dtype is None else dtype
    torch.manual_seed(seed)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = AutoModelForImageTextToText.from_config(config)
    finally:
        torch.set_default_dtype(previous)
    return model.eval()


def build_random_qwen25vl_3b(dtype: Any = None, device: str = "cpu", seed: int = 0, tokenizer: Any = None) -> Any:
    """:func:`build_random_model` with the shapes of Qwen2.5-VL-3B-Instruct."""
    return build_random_model("qwen2.5-vl-3b", dtype=dtype, device=device, seed=seed, tokenizer=tokenizer)


# --------------------------------------------------------------------------------------------------------
# `transformers serve` for tests and benchmarks of the server backend
# --------------------------------------------------------------------------------------------------------


def run_transformers_serve(argv: list[str]) -> int:
    """Run the ``transformers`` command line (``argv`` = ``["serve", MODEL, ...]``) with two environment fixes.

    1. torchvision's compiled operators may not load next to a CPU torch (see
       :func:`mousefear.backends.checkpoints.import_torchvision_safely`); their schemas are declared first.
    2. Such a torchvision cannot decode images either ("Couldn't load the image extension"), and
       ``transformers serve`` decodes the base64 ``image_url`` frames with ``torchvision.io.decode_image``;
       ``load_image_as_tensor`` falls back to PIL on that error.

    On a machine where torch and torchvision match, neither fix changes anything and this is plain
    ``transformers serve``. Needs the serving extras (``pip install "transformers[serving]"``).
    """
    import numpy as np
    import torch

    from mousefear.backends.checkpoints import import_torchvision_safely

    import_torchvision_safely()
    import transformers.image_processing_backends as ipb
    import transformers.image_utils as iu

    original = iu.load_image_as_tensor

    def load_image_as_tensor(image: Any, timeout: Any = None) -> Any:
        try:
            return original(image, timeout=timeout)
        except RuntimeError as err:
            if "image extension" not in str(err):
                raise
            pil = iu.load_image(image, timeout=timeout)
            return torch.from_numpy(np.asarray(pil.convert("RGB")).copy()).permute(2, 0, 1).contiguous()

    iu.load_image_as_tensor = load_image_as_tensor
    ipb.load_image_as_tensor = load_image_as_tensor
    import sys

    from transformers.cli.transformers import main

    sys.argv = ["transformers", *argv]
    result = main()
    return int(result or 0)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TransformersServer:
    """A ``transformers serve`` process for one local model folder on 127.0.0.1 (tests and benchmarks).

    Parameters
    ----------
    model
        Model folder (e.g. from :func:`build_tiny_qwen`); the server is pinned to it, so requests must name
        the model exactly ``str(model)``.
    port
        TCP port (default: a free one).
    log
        File that receives the server's output (default: discarded).

    Example
    -------
    >>> with TransformersServer(build_tiny_qwen("/tmp/tiny")) as server:   # doctest: +SKIP
    ...     print(server.base_url)                                          # http://127.0.0.1:PORT/v1
    """

    def __init__(self, model: str | os.PathLike, port: int | None = None, log: str | os.PathLike | None = None):
        self.model = str(model)
        self.port = free_port() if port is None else int(port)
        self.log = log
        self.process: Any = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, timeout: float = 120.0) -> TransformersServer:
        """Start the server and wait until ``/health`` answers (about 10 s: mostly imports)."""
        import subprocess
        import sys
        import time
        import urllib.request

        code = "import sys; from mousefear.testing import run_transformers_serve; " \
               "sys.exit(run_transformers_serve(sys.argv[1:]))"
        cmd = [sys.executable, "-c", code, "serve", self.model, "--host", "127.0.0.1", "--port", str(self.port),
               "--device", "cpu", "--dtype", "float32", "--log-level", "warning"]
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[1])
               + os.pathsep + os.environ.get("PYTHONPATH", "")}
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"transformers serve exited with code {self.process.returncode} "
                                   f"(log: {self.log or 'not kept'})")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"transformers serve did not become ready within {timeout} s")

    def kill(self) -> None:
        """SIGKILL the server (as a crash would) and wait for it."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 10 s)."""
        import subprocess

        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self) -> TransformersServer:
        return self.start() if self.process is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()
