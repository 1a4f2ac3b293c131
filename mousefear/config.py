"""Reading, validating and writing a project's config.yaml.

config.yaml is the one file people edit by hand, so it is read and written with ruamel.yaml's round-trip mode:
comments, key order and quoting survive a read-modify-write, and a value that was not changed is written back
byte for byte. Reading never writes. Keys missing from an older file are filled in memory from the template
(``templates/config.yaml``, the single source of every default) and only reach the file on the next explicit
save.

Validation happens once, here, at the boundary: a wrong value raises :class:`~mousefear.errors.ConfigError`
with a message of the form ``<file>: Expected <key> to be <what>, but got <value>``; everything downstream
trusts the values.
"""

from __future__ import annotations

import copy
import io
import math
import os
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from mousefear._io import atomic_write_text
from mousefear.errors import ConfigError

CONFIG_NAME = "config.yaml"
CONFIG_VERSION = 1

#: Sub-folders of a project (DESIGN.md section 2).
PROJECT_SUBFOLDERS = ("videos", "exemplars", "labels", "behavior-vectors", "evaluation", "cache")


def templates_dir() -> Path:
    """Folder of the templates (config.yaml, prompts/, report template).

    Installed packages carry them as ``mousefear/templates``; a source checkout has them at the top level.
    """
    here = Path(__file__).resolve().parent
    for candidate in (here / "templates", here.parent / "templates"):
        if (candidate / CONFIG_NAME).is_file():
            return candidate
    raise ConfigError(f"The mousefear templates folder is missing (looked in {here / 'templates'} and "
                      f"{here.parent / 'templates'}); reinstall mousefear.")


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap long lines people wrote
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.representer.add_representer(type(None), _represent_null)
    return yaml


def _represent_null(representer, data):  # write None as `null`, not as an empty value
    return representer.represent_scalar("tag:yaml.org,2002:null", "null")


def config_path(config: str | os.PathLike) -> Path:
    """Path of config.yaml, given either the file itself or the project folder that holds it."""
    path = Path(config).expanduser()
    if path.is_dir():
        path = path / CONFIG_NAME
    return path


def project_root(config: str | os.PathLike) -> Path:
    """Absolute path of the project folder of ``config`` (the folder holding config.yaml)."""
    return config_path(config).resolve().parent


@lru_cache(maxsize=1)
def _template_text() -> str:
    return (templates_dir() / CONFIG_NAME).read_text(encoding="utf-8")


def template_config() -> CommentedMap:
    """A fresh copy of the template config (every key with its default and its comments)."""
    return _yaml().load(_template_text())


def defaults() -> dict[str, Any]:
    """The template's default values as plain Python objects (no comments)."""
    return _to_plain(template_config())


def _to_plain(node: Any) -> Any:
    if isinstance(node, Mapping):
        return {str(k): _to_plain(v) for k, v in node.items()}
    if isinstance(node, list | tuple):
        return [_to_plain(v) for v in node]
    return node


def load_config(config: str | os.PathLike, validate: bool = True) -> CommentedMap:
    """Read config.yaml (never writes it).

    Parameters
    ----------
    config
        Path of config.yaml or of the project folder.
    validate
        Check every value and raise :class:`ConfigError` naming the key on the first bad one.

    Returns
    -------
    CommentedMap
        The configuration, a dict-like object that keeps comments for :func:`save_config`. Keys missing from
        the file are filled from the template in memory.
    """
    path = config_path(config)
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file (expected the config.yaml of a mousefear project)")
    try:
        text = path.read_text(encoding="utf-8")
        cfg = _yaml().load(text)
    except Exception as exc:  # ruamel raises many kinds of errors; report them as one
        raise ConfigError(f"{path}: not a readable YAML file ({exc.__class__.__name__}: {exc})") from None
    if not isinstance(cfg, Mapping):
        raise ConfigError(f"{path}: Expected a mapping of settings at the top level, but got {type(cfg).__name__}")
    _fill_missing(cfg, template_config())
    if validate:
        validate_config(cfg, path)
    return cfg


def _fill_missing(target: CommentedMap, template: CommentedMap) -> None:
    """Insert keys of ``template`` missing from ``target`` (recursively into mappings), in place."""
    for key, value in template.items():
        if key not in target:
            target[key] = copy.deepcopy(value)
        elif isinstance(value, Mapping) and isinstance(target[key], Mapping) and key not in ("videos", "protocol"):
            _fill_missing(target[key], value)


def dump_config(cfg: Mapping) -> str:
    """The YAML text of ``cfg`` as :func:`save_config` would write it."""
    buf = io.StringIO()
    _yaml().dump(cfg, buf)
    return buf.getvalue()


def save_config(config: str | os.PathLike, cfg: Mapping, validate: bool = True) -> Path:
    """Write ``cfg`` to config.yaml atomically, keeping comments and key order.

    Parameters
    ----------
    config
        Path of config.yaml or of the project folder.
    cfg
        Configuration as returned by :func:`load_config` (possibly modified).
    validate
        Refuse to write a configuration that does not validate (the file is left as it was).

    Returns
    -------
    Path
        The path written.
    """
    path = config_path(config)
    if validate:
        validate_config(cfg, path)
    atomic_write_text(path, dump_config(cfg))
    return path


def get(cfg: Mapping, key: str) -> Any:
    """Value of a dotted key such as ``"classification.window_seconds"``."""
    node: Any = cfg
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise ConfigError(f"config.yaml: missing key {key!r}")
        node = node[part]
    return node


def behavior_names(cfg: Mapping) -> list[str]:
    """Ordered behaviour names of the project."""
    return [str(b["name"]) for b in cfg["behaviors"]]


def to_plain(node: Any) -> Any:
    """Copy of a (part of a) loaded config as plain dicts and lists, for JSON or for passing to backends."""
    return _to_plain(node)


# --------------------------------------------------------------------------------------------------- validation
Check = Callable[[Any], str | None]  # returns a description of what was expected when the value is wrong


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _positive_number(v: Any) -> str | None:
    return None if _is_number(v) and v > 0 else "a positive number"


def _nonnegative_number(v: Any) -> str | None:
    return None if _is_number(v) and v >= 0 else "a number >= 0"


def _fraction(v: Any) -> str | None:
    return None if _is_number(v) and 0 <= v <= 1 else "a number between 0 and 1"


def _int_at_least(low: int) -> Check:
    def check(v: Any) -> str | None:
        return None if isinstance(v, int) and not isinstance(v, bool) and v >= low else f"a whole number >= {low}"

    return check


def _bool(v: Any) -> str | None:
    return None if isinstance(v, bool) else "true or false"


def _text(v: Any) -> str | None:
    return None if isinstance(v, str) and v.strip() else "a non-empty text"


def _choice(*options: str) -> Check:
    def check(v: Any) -> str | None:
        return None if v in options else "one of " + ", ".join(options)

    return check


def _optional(inner: Check) -> Check:
    def check(v: Any) -> str | None:
        if v is None:
            return None
        what = inner(v)
        return None if what is None else f"{what} or null"

    return check


def _odd_or_zero(v: Any) -> str | None:
    ok = isinstance(v, int) and not isinstance(v, bool) and v >= 0 and (v == 0 or v % 2 == 1)
    return None if ok else "0 or an odd whole number"


def _list_of(options: Iterable[str]) -> Check:
    allowed = tuple(options)

    def check(v: Any) -> str | None:
        ok = isinstance(v, list) and all(x in allowed for x in v)
        return None if ok else "a list of " + ", ".join(allowed)

    return check


def _mapping(v: Any) -> str | None:
    return None if isinstance(v, Mapping) else "a mapping"


def _date(v: Any) -> str | None:
    import datetime as _dt

    if isinstance(v, _dt.date):
        return None
    try:
        _dt.date.fromisoformat(str(v))
    except ValueError:
        return "a date YYYY-MM-DD"
    return None


#: Every scalar key later stages read, with what it must be.
SCHEMA: dict[str, Check] = {
    "project.name": _text,
    "project.experimenter": _text,
    "project.date": _date,
    "project.config_version": _int_at_least(1),
    "freezing_behavior": _optional(_text),  # must also name a behaviour: _validate_behavior_roles
    "video_pattern": _optional(_text),
    "videos": _mapping,
    "exemplars.method": _choice("kmeans", "uniform", "motion"),
    "exemplars.n_per_video": _int_at_least(1),
    "exemplars.downsample_width": _int_at_least(4),
    "exemplars.contact_sheet": _bool,
    "classification.run": _optional(_text),
    "classification.backend": _choice("transformers", "openai", "motion"),
    "classification.model": _text,
    "classification.model_revision": _optional(_text),
    "classification.dtype": _choice("auto", "bfloat16", "float16", "float32"),
    "classification.device": _text,
    "classification.decision": _choice("score", "generate"),
    "classification.window_seconds": _positive_number,
    "classification.stride_seconds": _optional(_positive_number),
    "classification.frames_per_window": _int_at_least(1),
    "classification.input_mode": _choice("images", "video"),
    "classification.prompt": _text,
    "classification.icl_per_class": _int_at_least(0),
    "classification.icl_required": _bool,
    "classification.batch_size": _int_at_least(1),
    "classification.max_new_tokens": _int_at_least(1),
    "classification.preprocessing.crop": _bool,
    "classification.preprocessing.max_pixels": _int_at_least(28 * 28),
    "classification.preprocessing.grayscale": _bool,
    "classification.preprocessing.clahe": _bool,
    "classification.preprocessing.clahe_clip_limit": _positive_number,
    "classification.preprocessing.clahe_tile_grid": _int_at_least(1),
    "classification.preprocessing.motion": _choice("none", "difference", "overlay"),
    "classification.openai.base_url": _text,
    "classification.openai.api_key_env": _optional(_text),
    "classification.openai.timeout_seconds": _positive_number,
    "classification.openai.max_concurrency": _int_at_least(1),
    "classification.openai.scoring": _choice("auto", "prompt_logprobs", "choice_logprobs", "parse"),
    "classification.openai.image_format": _choice("png", "jpeg"),
    "classification.openai.max_attempts": _int_at_least(1),
    "classification.openai.backoff_seconds": _nonnegative_number,
    "classification.motion.pixel_cutoff": _nonnegative_number,
    "classification.motion.blur_kernel": _odd_or_zero,
    "classification.motion.freeze_threshold": _fraction,
    "classification.motion.min_freeze_seconds": _nonnegative_number,
    "classification.motion.flee_speed": _optional(_positive_number),
    "classification.motion.flee_speed_unit": _choice("cm/s", "body_lengths/s"),
    "classification.motion.animal": _choice("dark", "bright"),
    "classification.motion.analysis_width": _int_at_least(16),
    "classification.motion.max_repeat_frames": _int_at_least(0),
    "classification.motion.moving_behavior": _text,
    "classification.motion.fleeing_behavior": _optional(_text),
    "evaluation.bout_iou": _fraction,
    "evaluation.by": _list_of(("subject", "session")),
    "protocol": _mapping,
    "seed": _int_at_least(0),
}


def _fail(path: Path | str, key: str, expected: str, value: Any) -> ConfigError:
    return ConfigError(f"{path}: Expected {key} to be {expected}, but got {value!r}")


def validate_config(cfg: Mapping, path: Path | str = CONFIG_NAME) -> None:
    """Check every key of ``cfg``; raise :class:`ConfigError` naming the first bad key and value.

    A key the template does not know (a typo such as ``stride_secs``) is an error too, with the closest known
    key suggested: silently ignoring it would run with the default instead of what was meant.
    """
    _check_unknown_keys(cfg, template_config(), "", path)
    for key, check in SCHEMA.items():
        node: Any = cfg
        for part in key.split("."):
            if not isinstance(node, Mapping) or part not in node:
                raise ConfigError(f"{path}: missing key {key!r}")
            node = node[part]
        what = check(node)
        if what is not None:
            raise _fail(path, key, what, node)
    _validate_behaviors(cfg["behaviors"], path)
    _validate_behavior_roles(cfg, path)
    for rel, entry in cfg["videos"].items():
        _validate_video_entry(str(rel), entry, path)
    for pattern, epochs in cfg["protocol"].items():
        _validate_epochs(str(pattern), epochs, path)


def _unknown_key_error(path: Path | str, key: str, known: Iterable[str]) -> ConfigError:
    import difflib

    leaf = key.rsplit(".", 1)[-1]
    close = difflib.get_close_matches(leaf, list(known), n=1, cutoff=0.6)
    hint = f" (did you mean {key[: len(key) - len(leaf)]}{close[0]}?)" if close else ""
    return ConfigError(f"{path}: unknown key {key}{hint}; the known keys here are: {', '.join(known)}")


def _check_unknown_keys(node: Mapping, template: Mapping, prefix: str, path: Path | str) -> None:
    for key, value in node.items():
        dotted = f"{prefix}{key}"
        if key not in template:
            raise _unknown_key_error(path, dotted, [str(k) for k in template])
        if key in ("videos", "protocol"):  # free-form keys (video paths, session patterns)
            continue
        if isinstance(value, Mapping) and isinstance(template[key], Mapping):
            _check_unknown_keys(value, template[key], dotted + ".", path)


def _validate_behaviors(behaviors: Any, path: Path | str) -> None:
    if not isinstance(behaviors, list) or not behaviors:
        raise _fail(path, "behaviors", "a non-empty list of {name, definition}", behaviors)
    seen: set[str] = set()
    for i, b in enumerate(behaviors):
        if not isinstance(b, Mapping) or _text(b.get("name")) or _text(b.get("definition")):
            raise _fail(path, f"behaviors[{i}]", "a mapping with a non-empty name and definition", _to_plain(b))
        name = str(b["name"])
        if name != name.strip() or "," in name or "\n" in name:
            raise _fail(path, f"behaviors[{i}].name", "a name without commas or surrounding spaces", name)
        if name in seen:
            raise ConfigError(f"{path}: behaviour {name!r} is listed twice under behaviors")
        seen.add(name)


def _validate_behavior_roles(cfg: Mapping, path: Path | str) -> None:
    """``freezing_behavior`` names a behaviour (or is null); with the motion backend, it is not null and the
    motion backend's moving and fleeing behaviours name other behaviours."""
    names = [str(b["name"]) for b in cfg["behaviors"]]
    freezing = cfg["freezing_behavior"]
    if freezing is not None and freezing not in names:
        raise _fail(path, "freezing_behavior", f"one of the behaviours {names} or null", freezing)
    if cfg["classification"]["backend"] != "motion":
        return
    if freezing is None:
        raise _fail(path, "freezing_behavior", f"one of the behaviours {names} (the motion backend decides it "
                    "for stillness)", freezing)
    motion = cfg["classification"]["motion"]
    if motion["moving_behavior"] not in names:
        raise _fail(path, "classification.motion.moving_behavior", f"one of the behaviours {names}",
                    motion["moving_behavior"])
    if motion["moving_behavior"] == freezing:
        raise _fail(path, "classification.motion.moving_behavior",
                    f"a behaviour other than freezing_behavior {freezing!r}", motion["moving_behavior"])
    if motion["fleeing_behavior"] is not None and motion["fleeing_behavior"] in (freezing, motion["moving_behavior"]):
        raise _fail(path, "classification.motion.fleeing_behavior",
                    "a behaviour other than the freezing and moving behaviours, or null", motion["fleeing_behavior"])


def classification_settings(cfg: Mapping) -> dict[str, Any]:
    """The ``classification`` section as plain values, as backends get it.

    The motion backend's freezing class is the project-wide ``freezing_behavior`` (one key, not two), so it is
    copied into ``motion.freezing_behavior`` here.
    """
    cls = _to_plain(cfg["classification"])
    cls["motion"]["freezing_behavior"] = cfg["freezing_behavior"]
    return cls


_VIDEO_KEYS: dict[str, Check] = {
    "id": _text,
    "subject": lambda v: None if isinstance(v, str) else "a text",
    "session": lambda v: None if isinstance(v, str) else "a text",
    "fps": _positive_number,
    "n_frames": _int_at_least(1),
    "width": _int_at_least(1),
    "height": _int_at_least(1),
    "size_bytes": _int_at_least(0),
    "sha256": _text,
    "pixels_per_cm": _optional(_positive_number),
}


def _validate_video_entry(rel: str, entry: Any, path: Path | str) -> None:
    key = f"videos[{rel!r}]"
    if not isinstance(entry, Mapping):
        raise _fail(path, key, "a mapping", entry)
    known = [*_VIDEO_KEYS, "crop"]
    for name in entry:
        if name not in known:
            raise _unknown_key_error(path, f"{key}.{name}", known)
    for name, check in _VIDEO_KEYS.items():
        if name not in entry:
            raise ConfigError(f"{path}: missing key {key}.{name}")
        what = check(entry[name])
        if what is not None:
            raise _fail(path, f"{key}.{name}", what, entry[name])
    crop = entry.get("crop")
    ok = (
        isinstance(crop, list)
        and len(crop) == 4
        and all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in crop)
        and crop[2] > 0
        and crop[3] > 0
        and crop[0] + crop[2] <= entry["width"]
        and crop[1] + crop[3] <= entry["height"]
    )
    if not ok:
        raise _fail(path, f"{key}.crop", f"[x, y, width, height] inside the {entry['width']}x{entry['height']} "
                    "frame", _to_plain(crop))


def _validate_epochs(pattern: str, epochs: Any, path: Path | str) -> None:
    key = f"protocol[{pattern!r}]"
    if not isinstance(epochs, list) or not epochs:
        raise _fail(path, key, "a non-empty list of {name, start, end}", _to_plain(epochs))
    for i, ep in enumerate(epochs):
        ok = (
            isinstance(ep, Mapping)
            and not _text(ep.get("name"))
            and _is_number(ep.get("start"))
            and _is_number(ep.get("end"))
            and 0 <= ep["start"] < ep["end"]
        )
        if not ok:
            raise _fail(path, f"{key}[{i}]", "{name, start, end} with 0 <= start < end in seconds", _to_plain(ep))


def _last_leaf(node: Any) -> tuple[CommentedMap | None, Any]:
    """The mapping and key of the last key at the deepest level of nested block mappings."""
    parent, key = None, None
    while isinstance(node, CommentedMap) and len(node):
        key = next(reversed(node))
        parent, node = node, node[key]
    return parent, key


def move_trailing_comment(src: Any, dst: Any) -> None:
    """Move the comment lines that follow the block ``src`` so that they follow the block ``dst``.

    ruamel.yaml attaches the comments after a nested block (for example the header of the next section) to
    the block's last key. When entries are appended after that block, call this with the old last entry and
    the new one so the comments stay where a person wrote them, instead of ending up between entries.
    """
    p, k = _last_leaf(src)
    if p is None:
        return
    item = p.ca.items.get(k)
    if not item or len(item) < 3 or item[2] is None:
        return
    token = item[2]
    item[2] = None
    q, key = _last_leaf(dst)
    if q is None:
        return
    q.ca.items.setdefault(key, [None, None, None, None])[2] = token


def new_seq(items: Iterable[Any], flow: bool = True) -> CommentedSeq:
    """A YAML list (written inline as ``[a, b]`` when ``flow``), for values such as crop boxes."""
    seq = CommentedSeq(list(items))
    if flow:
        seq.fa.set_flow_style()
    return seq
