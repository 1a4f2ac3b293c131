"""Checkpoints on disk: finding a model's files, reading its config.json alone, counting its parameters, memory.

Everything here works without loading weights: :func:`read_model_config` reads (or fetches) config.json only,
which is what the model family is read from (:mod:`mousefear.backends.families`) before a run's identity is
worked out; :func:`resolve_model` finds (or downloads) the whole checkpoint when the weights are needed;
:func:`count_parameters` reads the tensor shapes from the safetensors headers; :func:`available_memory` says
how much memory a device has free. :func:`import_torchvision_safely` makes the processors importable next to a
CPU-only torch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import struct
import sys
from pathlib import Path
from typing import Any

from mousefear._io import read_json_object
from mousefear.errors import ConfigError, ModelError

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_MODEL", "available_memory", "count_parameters", "how_to_get", "import_torchvision_safely",
           "read_model_config", "resolve_model"]

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
    torchvision::nms does not exist``; transformers then reports the Qwen-VL classes as missing. Only when the
    plain import fails this way, the two operator schemas torchvision expects are declared with
    ``torch.library.Library("torchvision", "FRAGMENT")`` and the import is tried again: the pure-Python image
    transforms, which are all the Qwen-VL processors use, then work (NMS itself does not). Must run before any
    transformers model or processor class is imported.

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
# Finding the files
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


def how_to_get(model: str) -> str:
    """How to put a model on this machine (the end of every "model not found" message)."""
    return (f"download it where there is network with `huggingface-cli download {model}` (it lands in the "
            f"Hugging Face cache, ~/.cache/huggingface), or set classification.model in config.yaml to a local "
            f"folder holding the model (config.json, weights, processor and tokenizer files)")


def _check_model_name(model: str) -> Path:
    if not isinstance(model, str) or not model.strip():
        raise ConfigError(f"Expected classification.model to be a hub id or a folder, but got {model!r}")
    return Path(model).expanduser()


def _local_folder(model: str) -> Path | None:
    """The model's folder when ``model`` names one (checked), None for a hub id."""
    folder = _check_model_name(model)
    if folder.is_dir():
        if not (folder / "config.json").is_file():
            raise ModelError(f"Model folder {folder} has no config.json, so it is not a transformers model folder")
        return folder.resolve()
    if _looks_like_path(model):
        raise ModelError(f"Model folder {folder} does not exist; set classification.model in config.yaml to a "
                         f"folder holding the model, or to a hub id such as {DEFAULT_MODEL}")
    return None


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__


def resolve_model(model: str, revision: str | None = None, local_files_only: bool = False) -> tuple[Path, str]:
    """Find a model's folder on disk (downloading it unless ``local_files_only``) and the revision to record.

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
    folder = _local_folder(model)
    if folder is not None:
        return folder, _folder_revision(folder)
    from huggingface_hub import snapshot_download

    patterns = ["*.json", "*.safetensors", "*.jinja", "*.txt", "*.model", "*.tiktoken"]
    try:
        path = snapshot_download(model, revision=revision, local_files_only=True, allow_patterns=patterns)
        if not _has_weights(Path(path)):  # only config.json was fetched (to read the model family)
            raise FileNotFoundError(path)
    except Exception:  # not cached (or cached at another revision, or without its weights)
        if local_files_only:
            raise ModelError(f"Model {model} (revision {revision or 'main'}) is not in the Hugging Face cache and "
                             f"downloads are switched off; {how_to_get(model)}") from None
        logger.info("Downloading %s (revision %s) from the Hugging Face hub", model, revision or "main")
        try:
            path = snapshot_download(model, revision=revision, allow_patterns=patterns)
        except Exception as exc:
            raise ModelError(f"Model {model} (revision {revision or 'main'}) is not in the Hugging Face cache and "
                             f"cannot be downloaded ({_first_line(exc)}); {how_to_get(model)}") from None
    path = Path(path)
    return path, path.name  # snapshots/<commit hash>


def _has_weights(folder: Path) -> bool:
    """Whether a folder holds a complete set of weights (every shard of an index, or a weights file)."""
    for index in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        if (folder / index).is_file():
            try:
                shards = set(json.loads((folder / index).read_text(encoding="utf-8"))["weight_map"].values())
            except (OSError, ValueError, KeyError, AttributeError):
                return False
            return all((folder / s).is_file() for s in shards)
    return any(folder.glob("*.safetensors")) or any(folder.glob("*.bin"))


def read_model_config(model: str, revision: str | None = None,
                      local_files_only: bool = False) -> tuple[dict[str, Any], str]:
    """A model's config.json alone, without its weights.

    From the folder, or from the Hugging Face cache; a hub id that is not cached has its config.json (a few
    kilobytes) downloaded unless ``local_files_only``.

    Parameters
    ----------
    model, revision, local_files_only
        As for :func:`resolve_model`.

    Returns
    -------
    config : dict
        The parsed config.json.
    source : str
        Where it was read (a path), for messages.

    Raises
    ------
    ModelError
        Not a model folder, or config.json is neither cached nor downloadable (the message says how to get the
        model), or it is not JSON.
    """
    folder = _local_folder(model)
    if folder is not None:
        path = folder / "config.json"
    else:
        from huggingface_hub import hf_hub_download

        try:
            path = Path(hf_hub_download(model, "config.json", revision=revision, local_files_only=True))
        except Exception:
            if local_files_only:
                raise ModelError(f"Model {model} (revision {revision or 'main'}) is not in the Hugging Face cache "
                                 f"and downloads are switched off; {how_to_get(model)}") from None
            try:
                path = Path(hf_hub_download(model, "config.json", revision=revision))
            except Exception as exc:
                raise ModelError(f"Model {model} (revision {revision or 'main'}): its config.json is not in the "
                                 f"Hugging Face cache and cannot be downloaded ({_first_line(exc)}); "
                                 f"{how_to_get(model)}") from None
    return read_json_object(path, ModelError, "a model config.json"), str(path)


# --------------------------------------------------------------------------------------------------------
# Size and memory
# --------------------------------------------------------------------------------------------------------


def _safetensors_numel(path: Path) -> int:
    """Number of values in a .safetensors file, from its header (an 8-byte length, then JSON)."""
    with open(path, "rb") as fh:
        (length,) = struct.unpack("<Q", fh.read(8))
        header = json.loads(fh.read(length))
    return sum(math.prod(v["shape"]) for k, v in header.items() if k != "__metadata__")


def count_parameters(folder: str | Path) -> int:
    """Parameters stored in a checkpoint folder's safetensors files (read from their headers, no weights loaded).

    Parameters
    ----------
    folder
        A model folder (:func:`resolve_model`).

    Returns
    -------
    int
        The number of stored values (tied embeddings are stored, and counted, once).

    Raises
    ------
    ModelError
        The folder holds no .safetensors weights.
    """
    folder = Path(folder)
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        files = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
        paths = [folder / f for f in files]
    else:
        paths = sorted(folder.glob("*.safetensors"))
    if not paths or not all(p.is_file() for p in paths):
        raise ModelError(f"Model folder {folder} holds no complete set of .safetensors weight files")
    return sum(_safetensors_numel(p) for p in paths)


def available_memory(device: str) -> tuple[int | None, int | None]:
    """Free and total memory of a device, in bytes (None where it cannot be told).

    Parameters
    ----------
    device
        ``"cpu"`` (the machine's available RAM, from /proc/meminfo) or ``"cuda"``, ``"cuda:1"``, ...

    Returns
    -------
    (free, total) : tuple of int or None
    """
    if device.startswith("cuda"):
        import torch

        free, total = torch.cuda.mem_get_info(torch.device(device))
        return int(free), int(total)
    try:
        fields = {}
        for line in Path("/proc/meminfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields[key] = int(value.split()[0]) * 1024
        return fields.get("MemAvailable"), fields.get("MemTotal")
    except (OSError, ValueError, IndexError):
        return None, None
