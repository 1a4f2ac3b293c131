"""Classifying videos: windows through a backend, a resumable cache, behaviour-vector files per video.

:func:`classify_videos` is the ``mousefear classify`` step. For every registered video it streams the windows
(:func:`mousefear.video.iter_windows`), preprocesses their frames (:func:`mousefear.preprocess.preprocess_window`),
asks the backend for a probability per behaviour, and writes ``behavior-vectors/<run>/<video_id>.h5`` (layout:
:mod:`mousefear.vectors`) with its CSV twin, then ``behavior-vectors/<run>/summary.csv`` for the run.

A *run* is one classification setting. Its folder holds::

    behavior-vectors/<run>/run.json        every setting of the run (backend and model with revision, prompt
                                           text, ICL example ids, preprocessing, windows, behaviours), created
    behavior-vectors/<run>/prompt.txt      the conversation the model sees, as text (its SHA-256 = prompt_hash)
    behavior-vectors/<run>/timing.json     time per window of the latest call, per video
    behavior-vectors/<run>/<video_id>.h5   the behaviour vector (+ <video_id>.csv)
    behavior-vectors/<run>/summary.csv     one row per video (time and bouts per behaviour)
    cache/<run>/<video_id>/windows.jsonl   per-window results as they are produced (resume)

Resuming: every window's result is appended to ``windows.jsonl`` (one JSON line, flushed and fsynced) as soon
as it is known. A killed process leaves at most a torn last line, which is ignored; the next call starts at
the first window missing from the cache and finishes the video. The vector file is always assembled from the
cache and stamped with the run's creation time from run.json, so an interrupted and resumed run gives the same
files as an uninterrupted one.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import math
import os
import re
import shutil
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from mousefear import _compat as _config
from mousefear._compat import project_paths, registered_videos
from mousefear._io import atomic_write_text
from mousefear._version import __version__
from mousefear.backends import make_backend
from mousefear.backends.base import Backend, check_probabilities
from mousefear.core.project import ConfigLike, Project
from mousefear.core.prompts import (
    Example,
    load_prompt_template,
    prompt_document,
    render_prompt,
    select_icl_examples,
    text_hash,
)
from mousefear.core.settings import Settings
from mousefear.core.video import Video
from mousefear.errors import ProjectError, VectorFileError, VideoError
from mousefear.formats.vectors import read_vector_windows, write_vector
from mousefear.pipeline.summary import write_run_summary

__all__ = ["RunSettings", "classify_videos", "run_settings", "video_settings"]

logger = logging.getLogger(__name__)

#: Backend settings that do not change results and may differ between the calls of one run.
RUNTIME_SETTINGS = ("device", "transformers_version", "server", "server_model", "max_concurrency", "timeout_seconds",
                    "max_attempts", "backoff_seconds")
_RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_UTC = _dt.timezone.utc  # noqa: UP017 (datetime.UTC needs Python 3.11)


@dataclass
class RunSettings:
    """Everything that defines a run, worked out before any window is classified.

    Attributes
    ----------
    name : str
        Run name (folder name under behavior-vectors/ and cache/).
    settings : dict
        JSON-serialisable settings saved in run.json.
    sha256 : str
        Hash of ``settings`` without :data:`RUNTIME_SETTINGS`: two calls with the same hash give the same results.
    prompt : mousefear.prompts.Prompt or None
        The rendered prompt (None for a frame-level backend).
    examples : list of mousefear.prompts.Example
        The in-context examples, in prompt order.
    """

    name: str
    settings: dict[str, Any]
    sha256: str
    prompt: Any
    examples: list[Example]


# --------------------------------------------------------------------------------------------------------
# Settings and run identity
# --------------------------------------------------------------------------------------------------------


def _identity(settings: Mapping[str, Any]) -> str:
    ident = json.loads(json.dumps(settings))
    for key in RUNTIME_SETTINGS:
        ident["backend"].get("settings", {}).pop(key, None)
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()


def _model_short(model_id: str) -> str:
    name = Path(model_id.rstrip("/")).name.lower() or "model"
    return re.sub(r"-instruct$", "", name)


def _default_run_name(settings: Mapping[str, Any], sha: str) -> str:
    desc = settings["backend"]
    if settings["frame_level"]:
        name = f"{desc['backend']}_{sha[:8]}"
    else:
        name = (f"{_model_short(desc.get('model_id') or desc['backend'])}_{settings['prompt']['template']}_"
                f"icl{settings['icl']['per_class']}_{sha[:8]}")
    return re.sub(r"[^A-Za-z0-9._-]", "-", name).lstrip("._-") or sha[:8]


def _decode_frames(video: Video, indices: Sequence[int], crop: tuple[int, int, int, int] | None) -> np.ndarray:
    """(k, h, w, 3) uint8 RGB frames ``indices`` (ascending, may repeat) of a video, decoded front to back."""
    import cv2

    from mousefear.core.video import open_video

    wanted = sorted(set(int(i) for i in indices))
    got: dict[int, np.ndarray] = {}
    with open_video(video.path) as cap:
        frame = 0
        for target in wanted:
            while frame <= target:
                if not cap.grab():
                    raise VideoError(f"{video.path}: frame {target} cannot be decoded (the file has {frame} frames)")
                if frame == target:
                    ok, img = cap.retrieve()
                    if not ok:
                        raise VideoError(f"{video.path}: frame {target} cannot be decoded")
                    if crop is not None:
                        x, y, w, h = crop
                        img = img[y:y + h, x:x + w]
                    got[target] = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
                frame += 1
    return np.stack([got[int(i)] for i in indices])


def _icl_examples(config: str | os.PathLike, cfg: Mapping, per_class: int, required: bool, seed: int,
                  frames_per_window: int, pre: Mapping[str, Any]) -> list[Example]:
    """Choose and load the in-context examples (frames preprocessed with the run's settings)."""
    from mousefear.core.preprocess import preprocess_window
    from mousefear.core.video import sample_indices
    from mousefear.pipeline.exemplars import exemplar_frames, exemplar_info, labelled_exemplars

    behaviors = _config.behavior_names(cfg)
    if per_class <= 0:
        return []
    table = labelled_exemplars(config, labelled_only=True)
    ids, shortfall = select_icl_examples(table, behaviors, per_class, seed)
    if shortfall:
        parts = [f"{b} ({per_class - n} of {per_class})" for b, n in shortfall.items()]
        msg = (f"{_config.config_path(config)}: too few labelled exemplars for in-context examples: "
               f"{', '.join(parts)} available. Label more exemplars in exemplars/index.csv (or labels/), "
               f"lower classification.icl_per_class, or set it to 0")
        if required:
            raise ProjectError(msg + " (classification.icl_required is true)")
        logger.warning(msg)
    by_id = {v.id: v for v in registered_videos(config, cfg)}
    rows = table.set_index("id")
    examples = []
    for ex_id in ids:
        row = rows.loc[ex_id]
        video = by_id.get(str(row["video_id"]))
        if video is None:
            raise ProjectError(f"Exemplar {ex_id} comes from video {row['video_id']!r}, which is not registered")
        start, end = int(row["start_frame"]), int(row["end_frame"])
        indices = sample_indices(start, end, frames_per_window)
        info = exemplar_info(config, ex_id)
        crop = video.crop if pre.get("crop") else None
        if (info.get("preprocessing") == dict(pre) and list(info.get("frame_indices", [])) == indices.tolist()
                and info.get("crop") == (None if crop is None else list(crop))):
            frames = exemplar_frames(config, ex_id)  # stored exactly as this run would make them
        else:  # extracted with other settings or another crop box: decode again and preprocess like the windows
            if pre.get("crop") and "crop" in info and info["crop"] != list(video.crop):
                logger.info("Exemplar %s was extracted with the crop box %s of %s, which is now %s: decoding its "
                            "frames again", ex_id, info["crop"], video.id, list(video.crop))
            frames = preprocess_window(_decode_frames(video, indices, crop), pre)
        examples.append(Example(id=ex_id, label=str(row["label"]), frames=frames, fps=video.fps,
                                frame_indices=indices, start_frame=start, end_frame=end, video_id=video.id))
    return examples


def run_settings(config: str | os.PathLike, backend: Backend, run: str | None = None,
                 cfg: Mapping | None = None) -> RunSettings:
    """Work out a run's settings, name and identity (and load its in-context examples) without classifying.

    Parameters
    ----------
    config
        Path of config.yaml or the project folder.
    backend
        The backend the run uses (its :meth:`~mousefear.backends.base.Backend.describe` is recorded).
    run
        Run name; default ``classification.run``, else derived from the settings.
    cfg
        The loaded config (read from ``config`` when not given).
    """
    from mousefear.core.preprocess import preprocessing_settings

    cfg = _config.load_config(config) if cfg is None else cfg
    cls = _config.classification_settings(cfg)
    paths = project_paths(config)
    definitions = [(str(b["name"]), str(b["definition"])) for b in cfg["behaviors"]]
    pre = preprocessing_settings(cfg)
    windows = {
        "window_seconds": float(cls["window_seconds"]),
        "stride_seconds": None if cls["stride_seconds"] is None else float(cls["stride_seconds"]),
        "frames_per_window": int(cls["frames_per_window"]),
    }
    desc = backend.describe()
    settings: dict[str, Any] = {
        "backend": desc,
        "frame_level": bool(backend.frame_level),
        "behaviors": [{"name": n, "definition": d} for n, d in definitions],
        "windows": windows,
    }
    prompt, examples = None, []
    if backend.frame_level:
        settings["preprocessing"] = {"crop": bool(pre["crop"])}
        settings["prompt"] = {"template": "", "text": "", "sha256": ""}
        settings["icl"] = {"per_class": 0, "example_ids": [], "seed": int(cfg["seed"])}
    else:
        template = load_prompt_template(str(cls["prompt"]), paths.root)
        prompt = render_prompt(template, definitions)
        examples = _icl_examples(config, cfg, int(cls["icl_per_class"]), bool(cls["icl_required"]),
                                 int(cfg["seed"]), windows["frames_per_window"], pre)
        text = prompt_document(prompt, examples, windows["frames_per_window"], windows["window_seconds"])
        settings["preprocessing"] = pre
        settings["prompt"] = {"template": template.name, "template_file": str(template.path), "text": text,
                              "sha256": text_hash(text)}
        # the examples' frames depend on the crop box of their videos: a crop edit there changes every window's
        # prompt, so it is part of the run's identity (a video's own crop box is compared per video instead)
        crops = {v.id: list(v.crop) for v in registered_videos(config, cfg)} if pre.get("crop") and examples else {}
        settings["icl"] = {"per_class": int(cls["icl_per_class"]), "example_ids": [e.id for e in examples],
                           "labels": [e.label for e in examples], "seed": int(cfg["seed"]),
                           "example_crops": [crops.get(e.video_id) for e in examples]}
    # the template file's location is not part of the identity (the text is)
    ident = json.loads(json.dumps(settings))
    ident["prompt"].pop("template_file", None)
    sha = _identity(ident)
    name = run if run is not None else cls.get("run")
    name = _default_run_name(settings, sha) if name is None else str(name)
    if not _RUN_NAME.match(name):
        raise ProjectError(f"Expected a run name of letters, digits, '.', '_' or '-', but got {name!r}")
    return RunSettings(name=name, settings=settings, sha256=sha, prompt=prompt, examples=examples)


def _diff_keys(a: Any, b: Any, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            out += _diff_keys(a.get(k), b.get(k), f"{prefix}{k}.")
        return out
    return [] if a == b else [prefix.rstrip(".")]


def _open_run(paths: Any, rs: RunSettings, overwrite: bool, check_only: bool = False) -> str | None:
    """Create or check the run folder and run.json; return the run's creation time (ISO 8601, UTC).

    With ``check_only`` nothing is written: a conflicting run raises, and the creation time of a matching
    existing run (or None) is returned.
    """
    folder = paths.vectors(rs.name)
    run_json = folder / "run.json"
    if run_json.is_file():
        try:
            old = json.loads(run_json.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ProjectError(f"{run_json}: not a readable run file ({exc}); remove it or use another run "
                               "name") from None
        if old.get("settings_sha256") == rs.sha256:
            return str(old["created"])
        if check_only and overwrite:
            return None
        if not overwrite:
            diff = [k for k in _diff_keys(old.get("settings", {}), rs.settings)
                    if k.rsplit(".", 1)[-1] not in RUNTIME_SETTINGS]
            raise ProjectError(
                f"Run {rs.name!r} exists in {folder} with other settings (different: {', '.join(diff[:6]) or '?'}); "
                f"results of different settings are never mixed in one run. Give this run another name "
                f"(classification.run or run=...), or pass overwrite=True (--overwrite) to replace the old run")
        logger.warning("Replacing run %s (its settings changed): removing %s and %s", rs.name, folder,
                       paths.cache(rs.name))
        shutil.rmtree(folder)
        shutil.rmtree(paths.cache(rs.name), ignore_errors=True)
    if check_only:
        return None
    created = _dt.datetime.now(_UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    record = {"run": rs.name, "created": created, "mousefear_version": __version__,
              "settings_sha256": rs.sha256, "settings": rs.settings}
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / "prompt.txt", rs.settings["prompt"]["text"])
    atomic_write_text(run_json, json.dumps(record, indent=2, sort_keys=True) + "\n")
    return created


# --------------------------------------------------------------------------------------------------------
# The per-window cache
# --------------------------------------------------------------------------------------------------------


class WindowCache:
    """Append-only JSON-lines cache of one video's window results (``cache/<run>/<video_id>/windows.jsonl``).

    Each line is ``{"index", "start_frame", "end_frame", "partial", "probabilities", "text"}`` (NaN written as
    null). Lines must hold windows 0, 1, 2, ... in order; reading stops at the first line that is torn (no
    newline, not JSON) or out of order, and the file is cut back to the last good line before appending.
    ``meta.json`` beside it ties the cache to the run settings and to the video's own settings (SHA-256, fps,
    frame count, crop box: :func:`video_settings`); a cache that does not match is discarded whole, never
    continued, so one video's windows never mix two settings.
    """

    def __init__(self, folder: Path, settings_sha256: str, video: Mapping[str, Any]):
        self.folder = folder
        self.path = folder / "windows.jsonl"
        self.meta = {"settings_sha256": settings_sha256, "video_sha256": video["video_sha256"],
                     "video": dict(video)}
        self._fh: Any = None

    def load(self) -> list[dict[str, Any]]:
        """Records cached so far (windows 0..n-1); prepares the file for appending."""
        meta_path = self.folder / "meta.json"
        if meta_path.is_file():
            try:
                meta = json.loads(meta_path.read_text(encoding="utf-8"))
            except ValueError:
                meta = None
            if meta != self.meta:
                if isinstance(meta, dict) and meta.get("settings_sha256") == self.meta["settings_sha256"]:
                    why = ("; ".join(_changes(meta["video"], self.meta["video"])) if "video" in meta else
                           "made by an older mousefear that did not record the crop box") or "its settings changed"
                else:
                    why = "cache of other run settings, or not readable"
                logger.warning("%s: discarding the cached windows (%s); classifying the video from its start",
                               self.folder, why)
                shutil.rmtree(self.folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        if not meta_path.is_file():
            self.path.unlink(missing_ok=True)
            atomic_write_text(meta_path, json.dumps(self.meta, sort_keys=True) + "\n")
        records: list[dict[str, Any]] = []
        good = 0
        if self.path.is_file():
            data = self.path.read_bytes()
            pos = 0
            while True:
                nl = data.find(b"\n", pos)
                if nl < 0:
                    break
                try:
                    rec = json.loads(data[pos:nl])
                except ValueError:
                    break
                if not isinstance(rec, dict) or rec.get("index") != len(records):
                    break
                records.append(rec)
                pos = good = nl + 1
            if good < len(data):
                logger.info("%s: ignoring %d bytes after window %d (an interrupted write)", self.path,
                            len(data) - good, len(records) - 1)
                with open(self.path, "r+b") as fh:
                    fh.truncate(good)
        return records

    def append(self, window: Any, probabilities: np.ndarray, text: str) -> None:
        """Add one window's result and make it durable (flush + fsync)."""
        if self._fh is None:
            self._fh = open(self.path, "ab")  # noqa: SIM115 - closed in close()
        probs = [None if math.isnan(p) else float(p) for p in np.asarray(probabilities, dtype=np.float64)]
        rec = {"index": int(window.index), "start_frame": int(window.start_frame),
               "end_frame": int(window.end_frame), "partial": bool(window.partial), "probabilities": probs,
               "text": text}
        self._fh.write(json.dumps(rec, allow_nan=False).encode("utf-8") + b"\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


# --------------------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------------------


def video_settings(video: Video, rs: RunSettings) -> dict[str, Any]:
    """A video's own settings that change its results in run ``rs``, compared per video when resuming.

    They are not part of the run's identity (one run covers many videos, and editing one video's crop box
    redoes only that video): a finished vector file or a window cache made with other values is classified
    again from the start.

    Returns
    -------
    dict
        ``video_sha256`` (str), ``fps`` (float, frames/s), ``n_frames`` (int), ``crop`` (``[x, y, width,
        height]`` in pixels, or None when the run does not crop) and ``pixels_per_cm`` (float or None; None
        unless the backend is frame-level, the only kind that is given the scale: the motion backend's speeds
        in cm/s).
    """
    return {
        "video_sha256": video.sha256,
        "fps": float(video.fps),
        "n_frames": int(video.n_frames),
        "crop": list(video.crop) if rs.settings["preprocessing"].get("crop") else None,
        "pixels_per_cm": video.pixels_per_cm if rs.settings["frame_level"] else None,
    }


_MISSING = object()


def _changes(old: Any, new: Mapping[str, Any]) -> list[str]:
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


def _attrs(video: Video, rs: RunSettings, created: str) -> dict[str, Any]:
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
        "model_revision": str(desc.get("model_revision", "")),
        "backend_settings": {k: v for k, v in desc.get("settings", {}).items() if k not in RUNTIME_SETTINGS},
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


def _recorded_video_settings(attrs: Mapping[str, Any], rs: RunSettings) -> dict[str, Any]:
    """The :func:`video_settings` a vector file was made with, from its attributes (missing keys left out)."""
    out = {k: attrs[k] for k in ("video_sha256", "fps", "n_frames") if k in attrs}
    if "crop" in attrs:
        out["crop"] = list(attrs["crop"]) if rs.settings["preprocessing"].get("crop") else None
    if "pixels_per_cm" in attrs:
        out["pixels_per_cm"] = attrs["pixels_per_cm"] if rs.settings["frame_level"] else None
    elif not rs.settings["frame_level"]:
        out["pixels_per_cm"] = None  # not used by window backends
    if "fps" in out:
        out["fps"] = float(out["fps"])
    if "n_frames" in out:
        out["n_frames"] = int(out["n_frames"])
    return out


def _finished(path: Path, video: Video, rs: RunSettings) -> bool:
    """Whether ``path`` is a complete vector file of this video made with these settings.

    A file of this run made with other per-video settings (:func:`video_settings`: crop box, pixels_per_cm,
    the video file) is not finished: a warning says what changed, and the video is classified again.
    """
    if not path.is_file():
        return False
    try:
        attrs = read_vector_windows(path).attrs
    except VectorFileError as exc:
        logger.warning("%s: unreadable (%s); classifying the video again", path, exc)
        return False
    if attrs.get("run_settings_sha256") != rs.sha256:
        return False
    changes = _changes(_recorded_video_settings(attrs, rs), video_settings(video, rs))
    if changes:
        for change in changes:
            key, _, rest = change.partition(" ")
            logger.warning("%s of %s %s: classifying it again (%s)", key, video.id, rest, path)
        return False
    return True


@dataclass
class _VideoJob:
    """One video of a window-backend run while its windows flow through the backend."""

    video: Video
    out: Path
    cache: WindowCache
    bounds: np.ndarray
    records: list[dict[str, Any]]
    n_new: int = 0
    fed: int = 0  # windows handed to the backend
    fed_all: bool = False  # its window stream is exhausted
    stream: Any = None
    started: float | None = None
    covered_frames: int = 0  # frames covered by the windows classified in this call (overlaps counted once)
    last_end: int = 0


def _classify_window_videos(jobs: list[_VideoJob], backend: Backend, rs: RunSettings, created: str,
                            batch_size: int, behaviors: list[str], bar: Any, overall: Any) -> dict[str, Any]:
    """Classify the missing windows of several videos as ONE continuous stream through the backend.

    Windows of the next video enter the backend while those of the previous one are still being classified (a
    server backend keeps its requests in flight across video boundaries). Every result is appended to its
    video's cache as it arrives, in order; a video's vector file is written as soon as its last window is in.

    Returns
    -------
    dict
        Per-video timing ``{video_id: {"windows_classified", "seconds", "video_seconds"}}``.
    """
    from mousefear.core.preprocess import preprocess_window
    from mousefear.core.video import iter_windows

    pre = rs.settings["preprocessing"]
    w = rs.settings["windows"]
    by_id = {job.video.id: job for job in jobs}
    open_jobs: list[_VideoJob] = []
    timing: dict[str, Any] = {}

    def finish_ready() -> None:
        for job in [j for j in open_jobs if j.fed_all and j.n_new == j.fed]:  # every window fed is back
            open_jobs.remove(job)
            job.cache.close()
            if len(job.records) < len(job.bounds):
                stream = job.stream
                raise VideoError(f"{job.video.path}: decoding stopped at frame {getattr(stream, 'stopped_at', '?')}, "
                                 f"before the {job.video.n_frames} frames registered; the file changed or is "
                                 f"damaged. The windows classified so far are kept in {job.cache.path}")
            _write_from_records(job.out, job.video, rs, created, job.records, job.bounds, behaviors)
            seconds = time.perf_counter() - job.started if job.started is not None else 0.0
            timing[job.video.id] = {"windows_classified": job.n_new, "seconds": round(seconds, 3),
                                    "video_seconds": round(job.covered_frames / job.video.fps, 3)}
            overall.update(1)

    def windows() -> Iterator[Any]:
        for job in jobs:
            open_jobs.append(job)
            job.started = time.perf_counter()
            done = len(job.records)
            if done < len(job.bounds):
                crop = job.video.crop if pre.get("crop") else None
                job.stream = iter_windows(job.video, w["window_seconds"], w["stride_seconds"],
                                          w["frames_per_window"], crop=crop, start_window=done)
                job.last_end = int(job.bounds[done - 1, 1]) if done else 0
                for window in job.stream:
                    job.fed += 1
                    yield replace(window, frames=preprocess_window(window.frames, pre))
            job.fed_all = True
            finish_ready()

    for window, result in backend.classify_stream(windows(), batch_size=batch_size):
        job = by_id[window.video_id]
        p = check_probabilities(result.probabilities, len(backend.behaviors))
        job.cache.append(window, p, result.text or "")
        job.records.append({"index": window.index, "start_frame": window.start_frame,
                            "end_frame": window.end_frame, "partial": window.partial,
                            "probabilities": [None if math.isnan(x) else float(x) for x in p],
                            "text": result.text or ""})
        job.n_new += 1
        job.covered_frames += max(0, int(window.end_frame) - max(int(window.start_frame), job.last_end))
        job.last_end = max(job.last_end, int(window.end_frame))
        bar.update(1)
        finish_ready()
    finish_ready()
    return timing


def _write_from_records(path: Path, video: Video, rs: RunSettings, created: str, records: list[dict[str, Any]],
                        bounds: np.ndarray, behaviors: list[str]) -> None:
    start = np.array([r["start_frame"] for r in records], dtype=np.int64)
    end = np.array([r["end_frame"] for r in records], dtype=np.int64)
    if not (np.array_equal(start, bounds[:, 0]) and np.array_equal(end, bounds[:, 1])):
        raise ProjectError(f"{path}: the cached windows do not match the window settings; remove the run's cache "
                           "folder or pass overwrite=True")
    probs = np.array([[np.nan if x is None else x for x in r["probabilities"]] for r in records], dtype=np.float64)
    write_vector(path, behaviors=behaviors, start_frame=start, end_frame=end, probabilities=probs,
                 n_frames=video.n_frames, attrs=_attrs(video, rs, created), text=[r["text"] for r in records],
                 partial=np.array([bool(r["partial"]) for r in records]), created=created)


def _write_frame_level(path: Path, video: Video, backend: Backend, rs: RunSettings, created: str,
                       bounds: np.ndarray, partial: np.ndarray, progress: bool) -> int:
    """Run a frame-level backend on a whole video and write its result; return the number of windows."""
    crop = video.crop if rs.settings["preprocessing"].get("crop") else None
    res = backend.classify_video(video.path, fps=video.fps, n_frames=video.n_frames, crop=crop,
                                 window_bounds=bounds, pixels_per_cm=video.pixels_per_cm, progress=progress)
    start = np.asarray(res.start_frame, dtype=np.int64)
    write_vector(path, behaviors=backend.behaviors, start_frame=start, end_frame=np.asarray(res.end_frame),
                 probabilities=np.asarray(res.probabilities, dtype=np.float64), n_frames=video.n_frames,
                 attrs=_attrs(video, rs, created), text=getattr(res, "text", None),
                 partial=partial if len(partial) == len(start) else None,
                 frame_probabilities=np.asarray(res.frame_probabilities),
                 frame_label=np.asarray(res.frame_label), created=created)
    return int(len(start))


def classify_videos(
    config: str | os.PathLike,
    videos: Iterable[str] | str | None = None,
    run: str | None = None,
    overwrite: bool = False,
    *,
    backend: Backend | None = None,
    progress: bool = True,
) -> str:
    """Classify every window of the project's videos and write their behaviour vectors.

    Parameters
    ----------
    config
        Path of config.yaml or the project folder.
    videos
        Only these videos (ids, registry keys or file paths); default all registered videos.
    run
        Run name; default ``classification.run`` of config.yaml, else derived from the settings
        (``<model>_<prompt>_icl<k>_<hash>``, e.g. ``qwen2.5-vl-3b_default_icl1_1a2b3c4d``).
    overwrite
        Classify finished videos again, and replace a run of the same name made with other settings.
    backend
        Use this backend instead of building the one config.yaml names (for custom backends; it must have the
        project's behaviours in config order).
    progress
        Show tqdm progress bars (overall and per video).

    Returns
    -------
    str
        The run name; results are in ``behavior-vectors/<run>/``.

    Raises
    ------
    ProjectError
        The run exists with other settings (and not ``overwrite``), a behaviour has no labelled exemplar while
        ``classification.icl_required`` is true, or the run name is not usable as a folder name.
    ModelError
        The model cannot be found or loaded (the message says how to get the weights).
    VideoError
        A video decodes fewer frames than registered (what was classified is kept for a later call).
    """
    from mousefear.core.video import window_bounds, window_partial

    cfg = _config.load_config(config)
    paths = project_paths(config)
    behaviors = _config.behavior_names(cfg)
    cls = _config.classification_settings(cfg)
    chosen = registered_videos(config, cfg, [videos] if isinstance(videos, str) else videos)
    if backend is None:
        backend = make_backend(cls, behaviors)
    if list(backend.behaviors) != behaviors:
        raise ProjectError(f"Expected a backend for the behaviours {behaviors} of config.yaml, but it has "
                           f"{list(backend.behaviors)}")
    rs = run_settings(config, backend, run, cfg)
    _open_run(paths, rs, overwrite, check_only=True)  # a conflicting run stops us before the model loads
    folder = paths.vectors(rs.name)
    logger.info("Run %s: %d video(s), backend %s, results in %s", rs.name, len(chosen), rs.settings["backend"]
                ["backend"], folder)

    w = rs.settings["windows"]
    todo = []
    for video in chosen:
        out = folder / f"{video.id}.h5"
        if not overwrite and _finished(out, video, rs):
            logger.info("%s: finished already (%s); skipping", video.id, out)
            continue
        todo.append(video)
    timing: dict[str, Any] = {}
    t_start = time.perf_counter()
    if todo:
        if not backend.frame_level:
            backend.prepare(rs.prompt, rs.examples)
        created = _open_run(paths, rs, overwrite)
        t_start = time.perf_counter()  # throughput without loading the model
        overall = tqdm(total=len(todo), desc=f"classify {rs.name}", unit="video", disable=not progress)
        bar = tqdm(total=0, unit="window", leave=False, disable=not progress)
        jobs: list[_VideoJob] = []
        try:
            if backend.frame_level:
                for video in todo:
                    bar.set_description(video.id)
                    out = folder / f"{video.id}.h5"
                    bounds = window_bounds(video.n_frames, video.fps, w["window_seconds"], w["stride_seconds"])
                    t0 = time.perf_counter()
                    n_new = _write_frame_level(out, video, backend, rs, created, bounds,
                                               window_partial(video.n_frames, video.fps, w["window_seconds"],
                                                              w["stride_seconds"]), progress)
                    timing[video.id] = {"windows_classified": n_new, "seconds": round(time.perf_counter() - t0, 3),
                                        "video_seconds": round(video.n_frames / video.fps, 3)}
                    overall.update(1)
            else:  # one continuous window stream over all videos (a server stays busy across video boundaries)
                for video in todo:
                    cache = WindowCache(paths.cache(rs.name) / video.id, rs.sha256, video_settings(video, rs))
                    if overwrite and cache.folder.exists():
                        shutil.rmtree(cache.folder)
                    bounds = window_bounds(video.n_frames, video.fps, w["window_seconds"], w["stride_seconds"])
                    jobs.append(_VideoJob(video=video, out=folder / f"{video.id}.h5", cache=cache, bounds=bounds,
                                          records=cache.load()))
                bar.reset(total=sum(len(j.bounds) for j in jobs))
                bar.update(sum(len(j.records) for j in jobs))
                timing = _classify_window_videos(jobs, backend, rs, created, int(cls["batch_size"]), behaviors,
                                                 bar, overall)
        finally:
            for job in jobs:
                job.cache.close()
            bar.close()
            overall.close()
    wall = time.perf_counter() - t_start
    finished = sorted(folder.glob("*.h5"))
    if finished:
        write_run_summary(finished, folder / "summary.csv")
    n = sum(t["windows_classified"] for t in timing.values())
    video_secs = sum(t["video_seconds"] for t in timing.values())
    for t in timing.values():
        t["seconds_per_window"] = round(t["seconds"] / t["windows_classified"], 4) if t["windows_classified"] else None
    if timing:
        atomic_write_text(folder / "timing.json", json.dumps(
            {"videos": timing, "windows_classified": n, "seconds": round(wall, 3),
             "seconds_per_window": round(wall / n, 4) if n else None,
             "windows_per_second": round(n / wall, 3) if n and wall > 0 else None,
             "video_seconds": round(video_secs, 3),
             "realtime_factor": round(video_secs / wall, 3) if n and wall > 0 else None,
             "device": rs.settings["backend"].get("settings", {}).get("device")}, indent=2, sort_keys=True) + "\n")
    if n:
        logger.info("Run %s: %d window(s) classified in %.1f s: %.2f windows per second, %.2f seconds of video per "
                    "second (real-time factor)", rs.name, n, wall, n / wall, video_secs / wall)
    else:
        logger.info("Run %s: nothing to classify (every video finished)", rs.name)
    return rs.name


def default_run_name(config: ConfigLike, settings: Settings | None = None) -> str:
    """The run name :func:`classify_videos` would use for these settings (classifies nothing, loads no model).

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
        ``classification.run`` when set, else the name derived from the settings (e.g. ``motion_1a2b3c4d``).
        For a model backend this loads the in-context examples, as a run would.
    """
    project = Project.open(config)
    settings = project.settings if settings is None else settings
    cfg = settings.to_mapping()
    cls = _config.classification_settings(cfg)
    backend = make_backend(cls, settings.behavior_names)
    return run_settings(project, backend, None, cfg).name


__all__ += ["default_run_name"]  # kept beside the function
