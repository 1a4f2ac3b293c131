"""The settings of a project, validated once into frozen, typed objects.

config.yaml is read (:mod:`mousefear.core.config`) into a plain mapping, keys missing from an older file are
filled from the template (``templates/config.yaml``, the one place where defaults live), and
:meth:`Settings.from_mapping` checks every value and builds the objects below. Everything downstream takes
these objects and trusts them: no module checks a setting again.

A wrong value raises :class:`~mousefear.errors.ConfigError` with a message of the form
``<file>: Expected <key> to be <what>, but got <value>``; an unknown key (a typo such as ``stride_secs``)
names the closest known key. Each check exists once, here, next to the field it guards (``_field(check)``).

Settings are immutable. :meth:`Settings.updated` returns a new, validated copy with some dotted keys changed
(``{"classification.motion.freeze_threshold": 0.001}``), which is how code that tries other values (calibration,
a backend built with overrides) stays inside the same checks.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import difflib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mousefear.core import config as _config
from mousefear.core.checks import (
    Check,
    _field,
    _float_or_none,
    _is_number,
    _section,
    any_text,
    aware_time,
    boolean,
    int_at_least,
    optional,
    positive_number,
    text,
)
from mousefear.core.names import file_name_problem
from mousefear.core.sections import (
    _SUBJECT_KEYS,
    Behavior,
    ClassificationSettings,
    ClusterSettings,
    Epoch,
    EvaluationSettings,
    ExemplarSettings,
    NWBSettings,
    PostprocessSettings,
    ProjectInfo,
)
from mousefear.core.video import Video
from mousefear.errors import ConfigError

if TYPE_CHECKING:
    from ruamel.yaml.comments import CommentedMap

__all__ = ["Settings", "key_paths", "load_config", "save_config"]

# -------------------------------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class Settings:
    """Every setting of a project, validated.

    Attributes
    ----------
    project : ProjectInfo
    behaviors : tuple of Behavior
        In config order: the order of every probability column.
    freezing_behavior : str or None
        The behaviour that is freezing in the fear-conditioning sense (summaries, calibration, motion backend).
    video_pattern : str or None
        Filename pattern for subject and session (:mod:`mousefear.core.patterns`).
    videos : tuple of Video
        The registry, in file order, with absolute paths.
    exemplars, classification, postprocess, evaluation, nwb, cluster
        The sections of the same names.
    protocol : tuple of (str, tuple of Epoch)
        Session name or pattern -> epochs, in file order.
    seed : int
        Seed of every random choice.
    source : Path
        The config.yaml these settings were read from (for messages; not compared).
    """

    project: ProjectInfo = _section(ProjectInfo)
    behaviors: tuple[Behavior, ...] = field(metadata={"parse": "_parse_behaviors"})
    freezing_behavior: str | None = _field(optional(text))
    video_pattern: str | None = _field(optional(text))
    videos: tuple[Video, ...] = field(metadata={"parse": "_parse_videos"})
    exemplars: ExemplarSettings = _section(ExemplarSettings)
    classification: ClassificationSettings = _section(ClassificationSettings)
    postprocess: PostprocessSettings = _section(PostprocessSettings)
    evaluation: EvaluationSettings = _section(EvaluationSettings)
    protocol: tuple[tuple[str, tuple[Epoch, ...]], ...] = field(metadata={"parse": "_parse_protocol"})
    nwb: NWBSettings = _section(NWBSettings)
    cluster: ClusterSettings = _section(ClusterSettings)
    seed: int = _field(int_at_least(0))
    source: Path = field(default=Path("config.yaml"), compare=False, metadata={"internal": True})

    # ---------------------------------------------------------------- reading
    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any], source: str | Path = "config.yaml") -> Settings:
        """Validate a config mapping (every key present; see :func:`mousefear.core.config.read_document`).

        Parameters
        ----------
        mapping
            The parsed config.yaml with missing keys filled from the template.
        source
            Path of config.yaml: named in every error, and the folder video paths are resolved against.

        Raises
        ------
        ConfigError
            The first wrong, missing or unknown key, in the form ``<source>: Expected <key> to be ...``.
        """
        source = Path(source)
        ctx = _Context(source)
        values = _build(cls, mapping, "", ctx)
        settings = cls(**values, source=source)
        settings._check_roles()
        return settings

    @classmethod
    def default(cls) -> Settings:
        """The template's settings (no videos): every default in one object."""
        return cls.from_mapping(_config.template_document(), "templates/config.yaml")

    def to_mapping(self) -> dict[str, Any]:
        """Plain dicts and lists in the layout of config.yaml (what :meth:`from_mapping` reads back)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.metadata.get("internal"):
                continue
            value = getattr(self, f.name)
            if f.name == "behaviors":
                out[f.name] = [{"name": b.name, "definition": b.definition} for b in value]
            elif f.name == "videos":
                out[f.name] = {v.key: v.registry_entry() for v in value}
            elif f.name == "protocol":
                out[f.name] = {k: [dataclasses.asdict(e) for e in eps] for k, eps in value}
            elif f.name == "postprocess":
                out[f.name] = {**_plain(value), "min_bout_seconds": dict(value.min_bout_seconds)}
            elif f.name == "nwb":
                out[f.name] = {**_plain(value), "subjects": {k: dict(v) for k, v in value.subjects},
                               "session_start_times": dict(value.session_start_times)}
            else:
                out[f.name] = _plain(value)
        return out

    def updated(self, changes: Mapping[str, Any]) -> Settings:
        """A new, validated copy with dotted keys changed, e.g. ``{"classification.motion.flee_speed": 8.0}``.

        Raises
        ------
        ConfigError
            An unknown key, or a value the checks refuse (the message names the key).
        """
        data = self.to_mapping()
        for key, value in changes.items():
            node = data
            parts = key.split(".")
            for part in parts[:-1]:
                if not isinstance(node.get(part), dict):
                    raise ConfigError(f"{self.source}: unknown key {key}")
                node = node[part]
            if parts[-1] not in node:
                raise _unknown_key(self.source, key, list(node))
            node[parts[-1]] = _plain(value)
        return Settings.from_mapping(data, self.source)

    # ---------------------------------------------------------------- derived
    @property
    def behavior_names(self) -> list[str]:
        """Behaviour names in config order."""
        return [b.name for b in self.behaviors]

    @property
    def protocol_map(self) -> dict[str, list[Epoch]]:
        """``protocol`` as an ordered dict of lists."""
        return {k: list(v) for k, v in self.protocol}

    def check_motion_roles(self) -> None:
        """Raise :class:`ConfigError` unless the motion detector's roles name different behaviours of the project.

        ``freezing_behavior`` decides stillness, ``classification.motion.moving_behavior`` any other movement and
        ``classification.motion.fleeing_behavior`` (or null) fast movement. Checked on every read when the backend
        is motion, and by the motion backend whatever backend config.yaml names.
        """
        names = self.behavior_names
        freezing = self.freezing_behavior
        motion = self.classification.motion
        if freezing is None:
            raise _fail(self.source, "freezing_behavior", f"one of the behaviours {names} (the motion backend "
                        "decides it for stillness)", freezing)
        if motion.moving_behavior not in names:
            raise _fail(self.source, "classification.motion.moving_behavior", f"one of the behaviours {names}",
                        motion.moving_behavior)
        if motion.moving_behavior == freezing:
            raise _fail(self.source, "classification.motion.moving_behavior",
                        f"a behaviour other than freezing_behavior {freezing!r}", motion.moving_behavior)
        if motion.fleeing_behavior is not None and motion.fleeing_behavior in (freezing, motion.moving_behavior):
            raise _fail(self.source, "classification.motion.fleeing_behavior",
                        "a behaviour other than the freezing and moving behaviours, or null", motion.fleeing_behavior)

    def _check_roles(self) -> None:
        names = self.behavior_names
        if self.freezing_behavior is not None and self.freezing_behavior not in names:
            raise _fail(self.source, "freezing_behavior", f"one of the behaviours {names} or null",
                        self.freezing_behavior)
        if self.classification.backend in ("motion", "hybrid"):
            self.check_motion_roles()
        unknown = [b for b, _ in self.postprocess.min_bout_seconds if b not in names]
        if unknown:
            raise _fail(self.source, "postprocess.min_bout_seconds", f"a mapping whose keys are behaviours {names}",
                        dict(self.postprocess.min_bout_seconds))


# ---------------------------------------------------------------------------------------------------- parsing
@dataclass
class _Context:
    source: Path

    @property
    def root(self) -> Path:
        return self.source.resolve().parent


def _fail(path: Path | str, key: str, expected: str, value: Any) -> ConfigError:
    return ConfigError(f"{path}: Expected {key} to be {expected}, but got {_plain(value)!r}")


def _unknown_key(path: Path | str, key: str, known: Iterable[str]) -> ConfigError:
    known = [str(k) for k in known]
    leaf = key.rsplit(".", 1)[-1]
    close = difflib.get_close_matches(leaf, known, n=1, cutoff=0.6)
    hint = f" (did you mean {key[: len(key) - len(leaf)]}{close[0]}?)" if close else ""
    return ConfigError(f"{path}: unknown key {key}{hint}; the known keys here are: {', '.join(known)}")


def _plain(node: Any) -> Any:
    """Plain Python copy of a (ruamel) mapping/sequence, a settings object or a tuple."""
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        return {f.name: _plain(getattr(node, f.name)) for f in dataclasses.fields(node)
                if not f.metadata.get("internal")}
    if isinstance(node, Mapping):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list | tuple):
        return [_plain(v) for v in node]
    return node


def _build(cls: type, node: Any, prefix: str, ctx: _Context) -> dict[str, Any]:
    """Check the mapping ``node`` against the fields of ``cls``; return the constructor arguments."""
    where = prefix.rstrip(".") or "the top level"
    if not isinstance(node, Mapping):
        raise ConfigError(f"{ctx.source}: Expected a mapping of settings at {where}, but got {type(node).__name__}")
    fields = [f for f in dataclasses.fields(cls) if not f.metadata.get("internal")]
    names = [f.name for f in fields]
    for key in node:
        if key not in names:
            raise _unknown_key(ctx.source, f"{prefix}{key}", names)
    out: dict[str, Any] = {}
    for f in fields:
        key = f"{prefix}{f.name}"
        if f.name not in node:
            raise ConfigError(f"{ctx.source}: missing key {key!r}")
        value = node[f.name]
        meta = f.metadata
        if "section" in meta:
            out[f.name] = meta["section"](**_build(meta["section"], value, key + ".", ctx))
        elif "parse" in meta:
            out[f.name] = globals()[meta["parse"]](value, key, ctx)
        else:
            what = meta["check"](value)
            if what is not None:
                raise _fail(ctx.source, key, what, value)
            convert = meta.get("convert")
            out[f.name] = convert(value) if convert else _plain(value)
    return out


def _parse_behaviors(value: Any, key: str, ctx: _Context) -> tuple[Behavior, ...]:
    if not isinstance(value, list) or not value:
        raise _fail(ctx.source, key, "a non-empty list of {name, definition}", value)
    seen: set[str] = set()
    out = []
    for i, b in enumerate(value):
        if not isinstance(b, Mapping) or text(b.get("name")) or text(b.get("definition")) or set(b) - {
                "name", "definition"}:
            raise _fail(ctx.source, f"{key}[{i}]", "a mapping with a non-empty name and definition", b)
        name = str(b["name"])
        if name != name.strip() or "," in name or "\n" in name:
            raise _fail(ctx.source, f"{key}[{i}].name", "a name without commas or surrounding spaces", name)
        if name in seen:
            raise ConfigError(f"{ctx.source}: behaviour {name!r} is listed twice under {key}")
        seen.add(name)
        out.append(Behavior(name=name, definition=str(b["definition"])))
    return tuple(out)


#: Keys of one video's registry entry with their checks (``crop`` is checked against the frame size).
_VIDEO_KEYS: dict[str, Check] = {
    "id": file_name_problem,
    "subject": any_text,
    "session": any_text,
    "fps": positive_number,
    "n_frames": int_at_least(1),
    "width": int_at_least(1),
    "height": int_at_least(1),
    "size_bytes": int_at_least(0),
    "sha256": text,
    "crop": lambda v: None,  # checked below, with the frame size
    "pixels_per_cm": optional(positive_number),
}
#: Optional keys of a registry entry (registries written before they existed lack them).
_VIDEO_OPTIONAL: dict[str, Check] = {
    "mtime_ns": int_at_least(0),
    "fps_given": boolean,
}


def _parse_videos(value: Any, key: str, ctx: _Context) -> tuple[Video, ...]:
    if not isinstance(value, Mapping):
        raise _fail(ctx.source, key, "a mapping", value)
    out = []
    ids: dict[str, str] = {}
    for rel, entry in value.items():
        vkey = f"{key}[{str(rel)!r}]"
        if not isinstance(entry, Mapping):
            raise _fail(ctx.source, vkey, "a mapping", entry)
        known = [*_VIDEO_KEYS, *_VIDEO_OPTIONAL]
        for name in entry:
            if name not in known:
                raise _unknown_key(ctx.source, f"{vkey}.{name}", known)
        for name, check in {**_VIDEO_KEYS, **_VIDEO_OPTIONAL}.items():
            if name not in entry:
                if name in _VIDEO_OPTIONAL:
                    continue
                raise ConfigError(f"{ctx.source}: missing key {vkey}.{name}")
            what = check(entry[name])
            if what is not None:
                raise _fail(ctx.source, f"{vkey}.{name}", what, entry[name])
        crop = entry["crop"]
        ok = (
            isinstance(crop, list | tuple)
            and len(crop) == 4
            and all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in crop)
            and crop[2] > 0
            and crop[3] > 0
            and crop[0] + crop[2] <= entry["width"]
            and crop[1] + crop[3] <= entry["height"]
        )
        if not ok:
            raise _fail(ctx.source, f"{vkey}.crop", f"[x, y, width, height] inside the {entry['width']}x"
                        f"{entry['height']} frame", crop)
        vid = str(entry["id"])
        if vid in ids:
            raise ConfigError(f"{ctx.source}: video id {vid!r} is registered twice ({ids[vid]} and {rel}); video "
                              "ids must be unique in a project")
        ids[vid] = str(rel)
        out.append(Video(
            key=str(rel), path=ctx.root / str(rel), id=vid, subject=str(entry["subject"]),
            session=str(entry["session"]), fps=float(entry["fps"]), n_frames=int(entry["n_frames"]),
            width=int(entry["width"]), height=int(entry["height"]), size_bytes=int(entry["size_bytes"]),
            sha256=str(entry["sha256"]), crop=tuple(int(c) for c in crop),
            pixels_per_cm=_float_or_none(entry["pixels_per_cm"]),
            mtime_ns=None if entry.get("mtime_ns") is None else int(entry["mtime_ns"]),
            fps_given=bool(entry.get("fps_given", False)),
        ))
    return tuple(out)


def _parse_protocol(value: Any, key: str, ctx: _Context) -> tuple[tuple[str, tuple[Epoch, ...]], ...]:
    if not isinstance(value, Mapping):
        raise _fail(ctx.source, key, "a mapping", value)
    out = []
    for pattern, epochs in value.items():
        pkey = f"{key}[{str(pattern)!r}]"
        if not isinstance(epochs, list) or not epochs:
            raise _fail(ctx.source, pkey, "a non-empty list of {name, start, end}", epochs)
        parsed = []
        for i, ep in enumerate(epochs):
            ok = (
                isinstance(ep, Mapping)
                and set(ep) == {"name", "start", "end"}
                and not text(ep.get("name"))
                and _is_number(ep.get("start"))
                and _is_number(ep.get("end"))
                and 0 <= ep["start"] < ep["end"]
            )
            if not ok:
                raise _fail(ctx.source, f"{pkey}[{i}]", "{name, start, end} with 0 <= start < end in seconds", ep)
            parsed.append(Epoch(name=str(ep["name"]), start=float(ep["start"]), end=float(ep["end"])))
        out.append((str(pattern), tuple(parsed)))
    return tuple(out)


def _parse_nwb_subjects(value: Any, key: str, ctx: _Context) -> tuple[tuple[str, tuple[tuple[str, Any], ...]], ...]:
    if not isinstance(value, Mapping):
        raise _fail(ctx.source, key, "a mapping of subject -> {sex, age, ...}", value)
    out = []
    for subject, fields in value.items():
        skey = f"{key}[{str(subject)!r}]"
        if not isinstance(fields, Mapping):
            raise _fail(ctx.source, skey, f"a mapping with some of {', '.join(_SUBJECT_KEYS)}", fields)
        for name, v in fields.items():
            if name not in _SUBJECT_KEYS:
                raise _unknown_key(ctx.source, f"{skey}.{name}", _SUBJECT_KEYS)
            what = _SUBJECT_KEYS[name](v)
            if what is not None:
                raise _fail(ctx.source, f"{skey}.{name}", what, v)
        out.append((str(subject), tuple((str(k), _plain(v)) for k, v in fields.items())))
    return tuple(out)


def _parse_start_times(value: Any, key: str, ctx: _Context) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, Mapping):
        raise _fail(ctx.source, key, "a mapping of video id -> date and time", value)
    out = []
    for vid, t in value.items():
        what = aware_time(t)
        if what is not None:
            raise _fail(ctx.source, f"{key}[{str(vid)!r}]", what, t)
        out.append((str(vid), t.isoformat() if isinstance(t, _dt.datetime) else str(t)))
    return tuple(out)


def key_paths(cls: type = Settings, prefix: str = "") -> list[str]:
    """Every dotted key of a settings class (sections expanded), e.g. ``classification.motion.animal``.

    The free-form parts (the entries of ``behaviors``, ``videos`` and ``protocol``) are given by their own key.
    """
    out = []
    for f in dataclasses.fields(cls):
        if f.metadata.get("internal"):
            continue
        if "section" in f.metadata:
            out += key_paths(f.metadata["section"], f"{prefix}{f.name}.")
        else:
            out.append(f"{prefix}{f.name}")
    return out


# ------------------------------------------------------------------------------------- config.yaml, validated
def load_config(config: str | os.PathLike, validate: bool = True) -> CommentedMap:
    """Read config.yaml (never writes it).

    Parameters
    ----------
    config
        Path of config.yaml or of the project folder.
    validate
        Check every value and raise :class:`~mousefear.errors.ConfigError` naming the key on the first bad one.

    Returns
    -------
    CommentedMap
        The configuration, a dict-like object that keeps comments for :func:`save_config`. Keys missing from
        the file are filled from the template in memory. For the checked, typed values use
        :class:`mousefear.core.project.Project` (``Project.open(config).settings``).
    """
    path, doc = _config.read_document(config)
    if validate:
        Settings.from_mapping(doc, path)
    return doc


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
    path = _config.config_path(config)
    if validate:
        Settings.from_mapping(cfg, path)
    _config.write_document(path, cfg)
    return path
