"""Runs: what defines one, its name, its run.json, and the per-video settings compared on resume.

A *run* is one classification setting (backend and its parameters, prompt, in-context examples, preprocessing,
windows, behaviours). Its identity is the SHA-256 of those settings without the parameters that do not change
results (each backend lists them: :attr:`~mousefear.backends.base.Backend.runtime_params`), computed before any
model is loaded, so a run that conflicts with an existing one is refused before weights are touched. What the
backend learns when it loads (the model's commit, the server's decision path, the device and dtype) is recorded
in run.json under ``resolved`` and must not change between the calls of one run.

run.json (``behavior-vectors/<run>/run.json``)::

    {"run", "created" (ISO 8601 UTC), "mousefear_version", "settings_sha256", "settings": {"backend",
     "frame_level", "behaviors", "windows", "context", "preprocessing", "prompt", "icl"}, "resolved": {...}}

``context`` (window backends only: ``none``, ``temporal`` or ``autoregressive``) is part of the identity except
when it is ``none``, so runs made before context modes existed keep theirs.

A *derived run* (:mod:`mousefear.pipeline.derived`) has the same run.json, plus ``derived_from`` (the parent run
and the derivation's settings).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mousefear._io import atomic_write_text, read_json_object, writing
from mousefear._version import __version__
from mousefear.backends.base import Backend
from mousefear.core.intervals import sample_indices
from mousefear.core.preprocess import PatchGrid, preprocess_window, preprocessing_record
from mousefear.core.project import ConfigLike, Project, check_name
from mousefear.core.prompts import (
    Example,
    Prompt,
    load_prompt_template,
    prompt_document,
    render_prompt,
    select_icl_examples,
    text_hash,
)
from mousefear.core.settings import Settings
from mousefear.core.video import Video, read_frames
from mousefear.errors import ProjectError

__all__ = ["RunSettings", "default_run_name", "icl_examples", "identity", "name_from_settings", "preprocessing_text",
           "read_run_json", "run_columns", "run_settings", "video_settings"]

logger = logging.getLogger(__name__)

_UTC = _dt.timezone.utc  # noqa: UP017 (datetime.UTC needs Python 3.11)


@dataclass
class RunSettings:
    """Everything that defines a run, worked out before any window is classified.

    Attributes
    ----------
    name : str
        Run name (folder name under behavior-vectors/ and cache/).
    settings : dict
        JSON-serialisable settings saved in run.json (``settings``).
    sha256 : str
        Identity: hash of ``settings`` without the backend's runtime parameters.
    runtime : tuple of str
        Names of the backend settings (and resolved facts) that may differ between the calls of one run.
    kind : str
        ``"window"`` or ``"video"``: the protocol of the backend.
    prompt : Prompt or None
        The rendered prompt (None for a video backend).
    examples : list of Example
        The in-context examples, in prompt order.
    grid : PatchGrid
        What the windows' frames are resized to (the model family's patch grid).
    """

    name: str
    settings: dict[str, Any]
    sha256: str
    runtime: tuple[str, ...]
    kind: str
    prompt: Prompt | None
    examples: list[Example]
    grid: PatchGrid = field(default_factory=PatchGrid)

    @property
    def preprocessing(self) -> dict[str, Any]:
        return self.settings["preprocessing"]

    @property
    def context(self) -> str:
        """The context mode of a window run (``none`` for a video backend)."""
        return str(self.settings.get("context", "none"))

    @property
    def crop(self) -> bool:
        """Whether the run cuts frames to each video's crop box."""
        return bool(self.settings["preprocessing"].get("crop"))


# ---------------------------------------------------------------------------------------------------- identity
def _without_runtime(settings: Mapping[str, Any], runtime: tuple[str, ...]) -> dict[str, Any]:
    ident = json.loads(json.dumps(dict(settings)))
    backend = ident.get("backend") if isinstance(ident.get("backend"), dict) else {}
    backend.pop("resolved", None)
    backend.pop("runtime", None)
    for key in runtime:
        (backend.get("settings") or {}).pop(key, None)
    if isinstance(ident.get("prompt"), dict):
        ident["prompt"].pop("template_file", None)  # where the template lies is not part of it (its text is)
    if ident.get("context") == "none":
        del ident["context"]  # runs without context keep the identity they had before context modes existed
    return ident


def identity(settings: Mapping[str, Any], runtime: tuple[str, ...]) -> str:
    """A run's identity: the SHA-256 of its settings (as in run.json) without the runtime parameters."""
    return hashlib.sha256(json.dumps(_without_runtime(settings, runtime), sort_keys=True).encode()).hexdigest()


def _model_short(model_id: str) -> str:
    """A short readable name of a model: ``Qwen/Qwen2.5-VL-3B-Instruct`` -> ``qwen3b``, ``...-7B-Instruct-AWQ`` ->
    ``qwen7b-awq``; other names lower-cased without ``-instruct``."""
    name = Path(model_id.rstrip("/")).name.lower() or "model"
    name = re.sub(r"-instruct(?=-|$)", "", name)
    m = re.fullmatch(r"qwen[\d.]*-vl-(\d+(?:\.\d+)?b)(-.+)?", name)  # Qwen2.5-VL-7B-Instruct-AWQ -> qwen7b-awq
    return f"qwen{m.group(1)}{m.group(2) or ''}" if m else name


def _motion_stem(backend_settings: Mapping[str, Any]) -> list[str]:
    """``[<method>, <threshold>, <min_freeze_seconds>s, flee]``: the decision settings that most often differ between
    motion runs (the animal method's body-change threshold, or the pixels method's freeze threshold)."""
    method = backend_settings.get("method")
    parts = [str(method)] if method else []
    key = "body_change_threshold" if method == "animal" else "freeze_threshold"
    thr, secs = backend_settings.get(key), backend_settings.get("min_freeze_seconds")
    if thr is not None:
        parts.append(f"{float(thr):g}")
    if secs is not None:
        parts.append(f"{float(secs):g}s")
    if backend_settings.get("flee_speed") is not None:
        parts.append("flee")
    return parts


def name_from_settings(settings: Mapping[str, Any], sha: str) -> str:
    """The run name derived from a run's settings and identity when none is given: a readable stem of the
    settings, then 6 hex digits of the identity hash for uniqueness.

    Video backends: ``<backend>-<method>-<threshold of the method>-<min_freeze_seconds>s[-flee]``
    (``motion-animal-0.03-1s-5ee282``);
    model backends: ``[<backend>-]<model>[-<prompt>]-icl<k>[-temporal|-ar][-gen][-vid][-gray][-clahe]
    [-diff|-overlay][-nocrop]`` (``qwen3b-icl1-clahe-5ee282``; the backend is named unless it is transformers, the
    prompt unless it is ``default``)."""
    desc = settings["backend"]
    params = desc.get("settings") or {}
    if settings["frame_level"]:
        parts = [desc["backend"], *_motion_stem(params)]
    else:
        parts = [] if desc["backend"] == "transformers" else [desc["backend"]]
        parts.append(_model_short(desc.get("model_id") or desc["backend"]))
        if settings["prompt"]["template"] not in ("", "default"):
            parts.append(settings["prompt"]["template"])
        parts.append(f"icl{settings['icl']['per_class']}")
        parts += {"temporal": ["temporal"], "autoregressive": ["ar"]}.get(str(settings.get("context")), [])
        if params.get("decision") == "generate":
            parts.append("gen")
        if params.get("input_mode") == "video":
            parts.append("vid")
        pre = settings.get("preprocessing") or {}
        parts += [tag for key, tag in (("grayscale", "gray"), ("clahe", "clahe")) if pre.get(key)]
        parts += {"difference": ["diff"], "overlay": ["overlay"]}.get(str(pre.get("motion")), [])
        if pre.get("crop") is False:
            parts.append("nocrop")
    name = "-".join(re.sub(r"[^A-Za-z0-9._]+", "-", str(p)).strip("-._") for p in [*parts, sha[:6]] if str(p))
    return name.lstrip("._-") or sha[:6]


def preprocessing_text(pre: Mapping[str, Any] | None) -> str:
    """The preprocessing of a run in a few words: ``crop, max_pixels=200704, clahe 2/8, motion=difference``."""
    if not pre:
        return ""
    parts = []
    if pre.get("crop"):
        parts.append("crop")
    if pre.get("max_pixels") is not None:
        parts.append(f"max_pixels={pre['max_pixels']}")
    if pre.get("grayscale"):
        parts.append("grayscale")
    if pre.get("clahe"):
        parts.append(f"clahe {pre.get('clahe_clip_limit', '?'):g}/{pre.get('clahe_tile_grid', '?')}"
                     if isinstance(pre.get("clahe_clip_limit"), int | float) else "clahe")
    if pre.get("motion") not in (None, "none"):
        parts.append(f"motion={pre['motion']}")
    return ", ".join(parts) or "none"


def run_columns(record: Mapping[str, Any]) -> dict[str, Any]:
    """A run's settings as the flat columns of a comparison table.

    Parameters
    ----------
    record
        A run.json (``{"run", "created", "settings": {...}, "resolved": {...}}``) or, for a run without one, the
        attributes of one of its behaviour-vector files (``backend``, ``model_id``, ``prompt_template``, ...).

    Returns
    -------
    dict
        ``backend`` (name), ``model`` (model id; None for a backend without a model), ``prompt`` (template name),
        ``prompt_hash`` (SHA-256 of the prompt text), ``icl_per_class`` (int), ``icl_examples`` (number of
        in-context examples), ``context`` (the context mode of a model run), ``preprocessing``
        (:func:`preprocessing_text`); None where the record has no value.
    """
    s = record.get("settings") if isinstance(record.get("settings"), Mapping) else None
    if s is not None and isinstance(s.get("backend"), Mapping):  # run.json
        desc = s["backend"]
        prompt = s.get("prompt") or {}
        icl = s.get("icl") or {}
        return {
            "backend": desc.get("backend"),
            "model": desc.get("model_id") or None,
            "prompt": prompt.get("template") or None,
            "prompt_hash": prompt.get("sha256") or None,
            "icl_per_class": icl.get("per_class"),
            "icl_examples": len(icl.get("example_ids") or []),
            "context": None if s.get("frame_level") else s.get("context", "none"),
            "preprocessing": preprocessing_text(s.get("preprocessing")),
        }
    ids = record.get("icl_example_ids")
    return {  # attributes of a vector file
        "backend": record.get("backend"),
        "model": record.get("model_id") or None,
        "prompt": record.get("prompt_template") or None,
        "prompt_hash": record.get("prompt_hash") or None,
        "icl_per_class": None,
        "icl_examples": len(ids) if isinstance(ids, list) else None,
        "context": record.get("context"),
        "preprocessing": preprocessing_text(record.get("preprocessing")),
    }


# -------------------------------------------------------------------------------------------- in-context examples
def icl_examples(project: Project, grid: PatchGrid | None = None) -> list[Example]:
    """Choose and load the run's in-context examples, frames preprocessed with the run's settings.

    Up to ``classification.icl_per_class`` labelled exemplars per behaviour, chosen with ``seed``. Frames stored
    by :func:`~mousefear.pipeline.exemplars.extract_exemplars` with the same preprocessing (grid included),
    frame numbers and crop box are used as they are; otherwise the frames are decoded again and preprocessed like
    the windows, to ``grid`` (the model family's patch grid; default Qwen2.5-VL's).

    Raises
    ------
    ProjectError
        Too few labelled exemplars while ``classification.icl_required`` is true (otherwise a warning), or an
        exemplar of a video that is no longer registered.
    """
    from mousefear.pipeline.exemplars import exemplar_frames, exemplar_info, labelled_exemplars

    s = project.settings
    cls = s.classification
    per_class = cls.icl_per_class
    if per_class <= 0:
        return []
    behaviors = project.behaviors
    table = labelled_exemplars(project, labelled_only=True)
    ids, shortfall = select_icl_examples(table, behaviors, per_class, s.seed)
    if shortfall:
        parts = [f"{b} ({per_class - n} of {per_class})" for b, n in shortfall.items()]
        msg = (f"{project.config_path}: too few labelled exemplars for in-context examples: "
               f"{', '.join(parts)} available. Label more exemplars in exemplars/index.csv (or labels/), "
               f"lower classification.icl_per_class, or set it to 0")
        if cls.icl_required:
            raise ProjectError(msg + " (classification.icl_required is true)")
        logger.warning(msg)
    by_id = {v.id: v for v in project.videos}
    pre = cls.preprocessing
    record = preprocessing_record(pre, grid)
    rows = table.set_index("id")
    examples = []
    for ex_id in ids:
        row = rows.loc[ex_id]
        video = by_id.get(str(row["video_id"]))
        if video is None:
            raise ProjectError(f"Exemplar {ex_id} comes from video {row['video_id']!r}, which is not registered")
        start, end = int(row["start_frame"]), int(row["end_frame"])
        indices = sample_indices(start, end, cls.frames_per_window)
        info = exemplar_info(project, ex_id)
        crop = video.crop if pre.crop else None
        if (info.get("preprocessing") == record and list(info.get("frame_indices", [])) == indices.tolist()
                and info.get("crop") == (None if crop is None else list(crop))):
            frames = exemplar_frames(project, ex_id)  # stored exactly as this run would make them
        else:  # extracted with other settings or another crop box: decode again and preprocess like the windows
            if pre.crop and "crop" in info and info["crop"] != list(video.crop):
                logger.info("Exemplar %s was extracted with the crop box %s of %s, which is now %s: decoding its "
                            "frames again", ex_id, info["crop"], video.id, list(video.crop))
            frames = preprocess_window(read_frames(video.path, indices, crop), pre, grid=grid)
        examples.append(Example(id=ex_id, label=str(row["label"]), frames=frames, fps=video.fps,
                                frame_indices=indices, start_frame=start, end_frame=end, video_id=video.id))
    return examples


# ---------------------------------------------------------------------------------------------------- settings
def run_settings(project: Project, backend: Backend, run: str | None = None) -> RunSettings:
    """Work out a run's settings, name and identity (and load its in-context examples) without classifying.

    Parameters
    ----------
    project
        The opened project.
    backend
        The backend the run uses, not loaded yet (its :meth:`~mousefear.backends.base.Backend.describe` is
        recorded; it has no side effects).
    run
        Run name; default ``classification.run``, else derived from the settings.

    Raises
    ------
    ProjectError
        The run name is not usable as a folder name, the in-context examples cannot be had, or
        ``preprocessing.max_pixels`` is below the smallest frame the model family's processor keeps.
    ModelError
        The model family cannot be told (a window backend reads its model's config.json for it).
    """
    s = project.settings
    cls = s.classification
    definitions = [(b.name, b.definition) for b in s.behaviors]
    windows = {"window_seconds": cls.window_seconds, "stride_seconds": cls.stride_seconds,
               "frames_per_window": cls.frames_per_window}
    desc = backend.describe()
    desc.pop("resolved", None)
    runtime = tuple(desc.get("runtime", ()))
    settings: dict[str, Any] = {
        "backend": desc,
        "frame_level": backend.kind == "video",
        "behaviors": [{"name": n, "definition": d} for n, d in definitions],
        "windows": windows,
    }
    prompt, examples, grid = None, [], PatchGrid()
    if backend.kind == "video":
        settings["preprocessing"] = {"crop": cls.preprocessing.crop}
        settings["prompt"] = {"template": "", "text": "", "sha256": ""}
        settings["icl"] = {"per_class": 0, "example_ids": [], "seed": s.seed}
    else:
        grid = backend.frame_grid()  # the model family's: may read the model's config.json, never its weights
        if cls.preprocessing.max_pixels < grid.min_pixels:
            raise ProjectError(f"{project.config_path}: classification.preprocessing.max_pixels is "
                               f"{cls.preprocessing.max_pixels}, below the {grid.min_pixels} pixels the model's "
                               f"processor enlarges every smaller frame to ({grid.factor}-pixel grid); set it to at "
                               f"least {grid.min_pixels}")
        template = load_prompt_template(cls.prompt, project.root)
        prompt = render_prompt(template, definitions)
        examples = icl_examples(project, grid)
        text = prompt_document(prompt, examples, cls.frames_per_window, cls.window_seconds, cls.context)
        settings["context"] = cls.context
        settings["preprocessing"] = preprocessing_record(cls.preprocessing, grid)
        settings["prompt"] = {"template": template.name, "template_file": str(template.path), "text": text,
                              "sha256": text_hash(text)}
        # the examples' frames depend on the crop box of their videos: a crop edit there changes every window's
        # prompt, so it is part of the run's identity (a video's own crop box is compared per video instead)
        crops = {v.id: list(v.crop) for v in project.videos} if cls.preprocessing.crop and examples else {}
        settings["icl"] = {"per_class": cls.icl_per_class, "example_ids": [e.id for e in examples],
                           "labels": [e.label for e in examples], "seed": s.seed,
                           "example_crops": [crops.get(e.video_id) for e in examples]}
    sha = identity(settings, runtime)
    name = run if run is not None else cls.run
    name = name_from_settings(settings, sha) if name is None else check_name(name, "a run name")
    return RunSettings(name=name, settings=settings, sha256=sha, runtime=runtime, kind=backend.kind,
                       prompt=prompt, examples=examples, grid=grid)


def default_run_name(config: ConfigLike, settings: Settings | None = None) -> str:
    """The run name :func:`~mousefear.pipeline.classify.classify_videos` would use (classifies nothing, loads no
    model).

    Parameters
    ----------
    config
        Path of config.yaml or the project folder, or an opened :class:`~mousefear.core.project.Project`.
    settings
        Settings to assume (e.g. ``project.settings.updated({"classification.backend": "motion"})``); default
        the project's own.

    Returns
    -------
    str
        ``classification.run`` when set, else the name derived from the settings (e.g.
        ``motion-animal-0.03-1s-1a2b3c``).
        For a model backend this loads the in-context examples, as a run would.
    """
    from mousefear.backends import build_backend

    project = Project.open(config)
    if settings is not None:
        project = project.with_settings(settings)
    return run_settings(project, build_backend(project.settings)).name


# ----------------------------------------------------------------------------------------------------- run.json
def _diff_keys(a: Any, b: Any, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            out += _diff_keys(a.get(k), b.get(k), f"{prefix}{k}.")
        return out
    return [] if a == b else [prefix.rstrip(".")]


def read_run_json(project: Project, run: str) -> dict[str, Any]:
    """The run.json of a run (see the module), read and checked to be a JSON object.

    Raises
    ------
    ProjectError
        The run has no run.json or it cannot be read.
    """
    path = project.paths.vectors(run) / "run.json"
    if not path.is_file():
        raise ProjectError(f"{path}: run {run!r} has no run.json (made by an older mousefear?); classify its "
                           "videos again to record its settings")
    data = _read_run_json(path)
    if not isinstance(data.get("settings"), dict):
        raise ProjectError(f"{path}: Expected the run's settings under 'settings', but found none")
    return data


def _read_run_json(path: Path) -> dict[str, Any]:
    return read_json_object(path, ProjectError, "a run file", "; remove it or use another run name")


def check_run(project: Project, rs: RunSettings, overwrite: bool) -> str | None:
    """Refuse a run that exists with other settings (unless ``overwrite``); writes nothing.

    Returns
    -------
    str or None
        The creation time of the existing run with these settings (None: none yet, or it will be replaced).

    Raises
    ------
    ProjectError
        The run exists with other settings and ``overwrite`` is False (the message names what differs).
    """
    run_json = project.paths.vectors(rs.name) / "run.json"
    if not run_json.is_file():
        return None
    old = _read_run_json(run_json)
    if old.get("settings_sha256") == rs.sha256:
        return str(old["created"])
    if overwrite:
        return None
    new = _without_runtime(rs.settings, rs.runtime)
    diff = _diff_keys(_without_runtime(old.get("settings") or {}, rs.runtime), new)
    raise ProjectError(
        f"Run {rs.name!r} exists in {run_json.parent} with other settings (different: {', '.join(diff[:6]) or '?'}); "
        f"results of different settings are never mixed in one run. Give this run another name "
        f"(classification.run or run=...), or pass overwrite=True (--overwrite) to replace the old run")


def check_resolved(project: Project, rs: RunSettings, resolved: Mapping[str, Any]) -> None:
    """Refuse to continue a run whose backend now resolves to something else (another model commit, another
    decision path of the server, another dtype): its results would not be comparable with those cached.

    Raises
    ------
    ProjectError
        A recorded fact that changes results differs (the message names it and how to proceed).
    """
    run_json = project.paths.vectors(rs.name) / "run.json"
    if not run_json.is_file():
        return
    old = _read_run_json(run_json).get("resolved") or {}
    diff = [f"{k} was {old[k]!r}, now {resolved.get(k)!r}" for k in sorted(old)
            if k not in rs.runtime and old[k] != resolved.get(k)]
    if diff:
        raise ProjectError(f"Run {rs.name!r} ({run_json}) was made with other resolved settings ({'; '.join(diff)}); "
                           "its results are not mixed with these. Give this run another name, or pass "
                           "overwrite=True (--overwrite) to replace the old run")


def open_run(project: Project, rs: RunSettings, overwrite: bool, resolved: Mapping[str, Any],
             extra: Mapping[str, Any] | None = None) -> str:
    """Create the run folder with run.json and prompt.txt (or keep those of the same run); return its creation
    time (ISO 8601, UTC). With ``overwrite`` a run of the same name and other settings is removed first,
    with its cache. ``extra``: more keys of a new run.json (``derived_from`` of a derived run)."""
    created = check_run(project, rs, overwrite)
    folder = project.paths.vectors(rs.name)
    if created is not None:
        check_resolved(project, rs, resolved)
        return created
    if (folder / "run.json").is_file() or (overwrite and folder.exists()):
        logger.warning("Replacing run %s: removing %s and %s", rs.name, folder, project.paths.cache(rs.name))
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(project.paths.cache(rs.name), ignore_errors=True)
    created = _dt.datetime.now(_UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    record = {"run": rs.name, "created": created, "mousefear_version": __version__,
              "settings_sha256": rs.sha256, "settings": rs.settings, "resolved": dict(resolved), **(extra or {})}
    with writing(folder):
        folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / "prompt.txt", rs.settings["prompt"]["text"])
    atomic_write_text(folder / "run.json", json.dumps(record, indent=2, sort_keys=True) + "\n")
    return created


# ------------------------------------------------------------------------------------------- per-video settings
def video_settings(video: Video, rs: RunSettings) -> dict[str, Any]:
    """A video's own settings that change its results in run ``rs``, compared per video when resuming.

    They are not part of the run's identity (one run covers many videos, and editing one video's crop box
    redoes only that video): a finished vector file or a cache made with other values is classified again from
    the start.

    Returns
    -------
    dict
        ``video_sha256`` (str), ``fps`` (float, frames/s), ``n_frames`` (int), ``crop`` (``[x, y, width,
        height]`` in pixels, or None when the run does not crop) and ``pixels_per_cm`` (float or None; None
        unless the backend is a video backend, the only kind that is given the scale: the motion backend's
        speeds in cm/s).
    """
    return {
        "video_sha256": video.sha256,
        "fps": float(video.fps),
        "n_frames": int(video.n_frames),
        "crop": list(video.crop) if rs.crop else None,
        "pixels_per_cm": video.pixels_per_cm if rs.kind == "video" else None,
    }


_MISSING = object()


def changes(old: Any, new: Mapping[str, Any]) -> list[str]:
    """``"<key> changed from <old> to <new>"`` for every key of ``new`` that ``old`` records otherwise."""
    old = old if isinstance(old, Mapping) else {}
    out = []
    for key, value in new.items():
        was = old.get(key, _MISSING)
        if was is _MISSING:
            out.append(f"{key} was not recorded")
        elif was != value:
            out.append(f"{key} changed from {was} to {value}")
    return out


def recorded_video_settings(attrs: Mapping[str, Any], rs: RunSettings) -> dict[str, Any]:
    """The :func:`video_settings` a vector file was made with, from its attributes (missing keys left out)."""
    out = {k: attrs[k] for k in ("video_sha256", "fps", "n_frames") if k in attrs}
    if "crop" in attrs:
        out["crop"] = list(attrs["crop"]) if rs.crop else None
    if "pixels_per_cm" in attrs:
        out["pixels_per_cm"] = attrs["pixels_per_cm"] if rs.kind == "video" else None
    elif rs.kind != "video":
        out["pixels_per_cm"] = None  # not used by window backends
    if "fps" in out:
        out["fps"] = float(out["fps"])
    if "n_frames" in out:
        out["n_frames"] = int(out["n_frames"])
    return out


def vector_attrs(video: Video, rs: RunSettings, created: str, resolved: Mapping[str, Any]) -> dict[str, Any]:
    """The attributes of a behaviour-vector file of ``video`` in run ``rs`` (see
    :data:`mousefear.formats.vectors.REQUIRED_ATTRS`)."""
    s = rs.settings
    desc = s["backend"]
    return {
        "video_id": video.id,
        "subject": video.subject,
        "session": video.session,
        "video_sha256": video.sha256,
        "fps": float(video.fps),
        "run": rs.name,
        "run_created": created,
        "run_settings_sha256": rs.sha256,
        "backend": str(desc["backend"]),
        "model_id": str(desc.get("model_id", "")),
        "model_revision": str(resolved.get("model_revision") or desc.get("model_revision", "")),
        "backend_settings": {k: v for k, v in desc.get("settings", {}).items() if k not in rs.runtime},
        "backend_resolved": {k: v for k, v in resolved.items() if k not in rs.runtime},
        "context": rs.context,
        "prompt_template": s["prompt"]["template"],
        "prompt_hash": s["prompt"]["sha256"],
        "icl_example_ids": list(s["icl"]["example_ids"]),
        "preprocessing": dict(s["preprocessing"]),
        "window_seconds": s["windows"]["window_seconds"],
        "stride_seconds": s["windows"]["stride_seconds"],
        "frames_per_window": s["windows"]["frames_per_window"],
        "crop": list(video.crop),
        "pixels_per_cm": video.pixels_per_cm,
    }
