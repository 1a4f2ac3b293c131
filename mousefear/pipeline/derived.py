"""Derived runs: a new run computed from another run's files, without the model and without decoding the videos.

A *derivation* takes what a run stored for each video (its windows, its per-frame results and, for a video
backend, its per-frame measurements) and computes new results from it: re-deciding the motion detector with
other thresholds (:mod:`mousefear.pipeline.rethreshold`) is one; smoothing and probability calibration are of
the same kind. :func:`derive_run` is the one mechanism that turns a derivation into a run:

- the derived run is an ordinary run: ``behavior-vectors/<run>/`` holds the same files a classification writes
  (``<video_id>.h5`` with its CSV twin and, where the derivation gives them, the measurements; ``summary.csv``;
  ``run.json`` and ``prompt.txt``; not ``timing.json``, which times decoding and classifying, nor a cache), so
  evaluate, summarize, review, compare and export treat it like any other;
- its settings (run.json ``settings``) are the parent's as the derivation changes them, and its identity and
  name follow the rules of every run (:mod:`mousefear.pipeline.runs`): a run of that name with other settings is
  refused unless ``overwrite``; a finished video of the same settings, made from the parent's current file, is not
  derived again. A derivation whose
  result equals a classification with other settings (rethresholding) gives the very run that classification
  would give: the same settings, identity, default name and vector files;
- run.json records ``derived_from``: ``{"run": <parent>, "settings_sha256": <parent's identity>, "kind":
  <derivation>, "parameters": {...}}``, and every vector file the attribute ``derived_from`` (the same, plus
  ``parent_created``, the creation time of the parent's file, and ``parent_sha256``, its SHA-256), so where a
  result came from stays on record, and a parent file that changed (its video classified again) is derived again;
- every file of a video keeps the parent's per-video provenance (video checksum, crop box, scale): the results
  come from what the parent measured, whatever the registry says now (a warning says when they differ).

Adding a derivation: a subclass of :class:`Derivation` (its ``kind``, :meth:`~Derivation.parameters`,
:meth:`~Derivation.derive`; :meth:`~Derivation.run_settings` and :meth:`~Derivation.default_name` when the
defaults do not fit) and a public function that builds it from its arguments and calls :func:`derive_run`.
"""

from __future__ import annotations

import abc
import copy
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from mousefear._io import sha256_file
from mousefear.core.project import Project, check_name
from mousefear.errors import ProjectError, VectorFileError
from mousefear.formats.vectors import read_vector, read_vector_measurements, read_vector_windows, write_vector
from mousefear.pipeline.runs import (
    RunSettings,
    changes,
    check_run,
    identity,
    open_run,
    read_run_json,
    recorded_video_settings,
    video_settings,
)
from mousefear.pipeline.tables import write_run_tables

__all__ = ["Derivation", "DerivedVideo", "ParentVideo", "derive_run"]

logger = logging.getLogger(__name__)

#: File attributes the writer sets itself (never copied from the parent's file).
_WRITER_ATTRS = ("format", "format_version", "mousefear_version", "created", "json_attrs", "behaviors", "n_frames")


@dataclass
class ParentVideo:
    """One video of the parent run, as its behaviour-vector file holds it.

    Attributes
    ----------
    video_id : str
    path : Path
        The parent's vector file.
    attrs : dict
        Its file attributes (fps, n_frames, crop, pixels_per_cm, run settings, ...).
    behaviors : list of str
        Behaviour names, in column order.
    windows : pandas.DataFrame
        :func:`~mousefear.formats.vectors.read_vector_windows` of the file (n_windows rows).
    frames : pandas.DataFrame
        :func:`~mousefear.formats.vectors.read_vector` of the file (n_frames rows).
    measurements : pandas.DataFrame or None
        :func:`~mousefear.formats.vectors.read_vector_measurements` of the file (None: it has none).
    """

    video_id: str
    path: Path
    attrs: dict[str, Any]
    behaviors: list[str]
    windows: pd.DataFrame
    frames: pd.DataFrame
    measurements: pd.DataFrame | None

    @property
    def fps(self) -> float:
        return float(self.attrs["fps"])

    @property
    def n_frames(self) -> int:
        return int(self.attrs["n_frames"])

    @property
    def window_bounds(self) -> np.ndarray:
        """(n_windows, 2) int64 half-open frame ranges of the windows."""
        return self.windows[["start_frame", "end_frame"]].to_numpy(dtype=np.int64).reshape(-1, 2)


@dataclass
class DerivedVideo:
    """A derivation's results for one video (the windows are the parent's).

    Attributes
    ----------
    probabilities : np.ndarray
        (n_windows, n_behaviors) float probability per window (rows summing to 1, or all NaN).
    frame_probabilities : np.ndarray or None
        (n_frames, n_behaviors) float per frame; None with ``frame_label`` None: spread from the windows.
    frame_label : np.ndarray or None
        (n_frames,) int behaviour index per frame, -1 where none.
    measurements : pandas.DataFrame or None
        Per-frame measurements to store (:func:`~mousefear.formats.vectors.measurement_table`); None: none.
    """

    probabilities: np.ndarray
    frame_probabilities: np.ndarray | None = None
    frame_label: np.ndarray | None = None
    measurements: pd.DataFrame | None = None


class Derivation(abc.ABC):
    """How a derived run is computed from its parent's files (see the module)."""

    #: short name recorded in run.json and the vector files ("rethreshold", ...)
    kind: ClassVar[str] = ""

    @abc.abstractmethod
    def parameters(self) -> dict[str, Any]:
        """The derivation's settings, JSON-serialisable (run.json ``derived_from.parameters``)."""

    def check_parent(self, parent: str, record: Mapping[str, Any]) -> None:  # noqa: B027 - optional hook
        """Refuse a parent run this derivation cannot start from (raise ProjectError); default: any run.

        ``record``: the parent's run.json."""

    def run_settings(self, parent: Mapping[str, Any]) -> dict[str, Any]:
        """The derived run's settings (run.json ``settings``) from the parent's: by default the parent's with this
        derivation appended to ``derivations`` (so derived runs of other derivations differ in identity)."""
        settings = copy.deepcopy(dict(parent))
        settings["derivations"] = [*settings.get("derivations", []), {"kind": self.kind, **self.parameters()}]
        return settings

    def default_name(self, parent: str, settings: Mapping[str, Any], sha: str) -> str:
        """The run name when none is given: ``<parent>_<kind>_<sha[:8]>`` by default."""
        return f"{parent}_{self.kind}_{sha[:8]}"

    @abc.abstractmethod
    def derive(self, video: ParentVideo) -> DerivedVideo:
        """The derived results of one video of the parent run."""


def _read_parent(video_id: str, path: Path) -> ParentVideo:
    windows = read_vector_windows(path)
    frames = read_vector(path)
    return ParentVideo(video_id=video_id, path=path, attrs=dict(windows.attrs),
                       behaviors=list(windows.attrs["behaviors"]), windows=windows, frames=frames,
                       measurements=read_vector_measurements(path, missing_ok=True))


def _finished(path: Path, rs: RunSettings, parent_attrs: Mapping[str, Any], parent_sha256: str) -> bool:
    """Whether ``path`` is a vector file of this run's settings made from the same per-video settings and from the
    parent's current file (SHA-256 ``parent_sha256``: a parent video classified again is derived again)."""
    if not path.is_file():
        return False
    try:
        attrs = read_vector_windows(path).attrs
    except VectorFileError:
        return False
    made_from = (attrs.get("derived_from") or {}).get("parent_sha256")
    return (attrs.get("run_settings_sha256") == rs.sha256 and made_from == parent_sha256
            and recorded_video_settings(attrs, rs) == recorded_video_settings(parent_attrs, rs))


def _attrs(parent: ParentVideo, rs: RunSettings, created: str, derived_from: dict[str, Any],
           parent_sha256: str) -> dict[str, Any]:
    attrs = {k: v for k, v in parent.attrs.items() if k not in _WRITER_ATTRS}
    desc = rs.settings["backend"]
    attrs.update({"run": rs.name, "run_created": created, "run_settings_sha256": rs.sha256,
                  "backend_settings": {k: v for k, v in desc.get("settings", {}).items() if k not in rs.runtime},
                  "derived_from": {**derived_from, "parent_created": parent.attrs.get("created"),
                                   "parent_sha256": parent_sha256}})
    return attrs


def derive_run(
    project: Project,
    run: str | None,
    derivation: Derivation,
    *,
    name: str | None = None,
    videos: Iterable[str] | str | None = None,
    overwrite: bool = False,
) -> str:
    """Write the derived run of ``derivation`` from the files of run ``run`` (see the module).

    Parameters
    ----------
    project
        The opened project.
    run
        The parent run (:meth:`~mousefear.core.project.Project.select_run`: ``None`` = ``classification.run``,
        else the only or the newest run).
    derivation
        What to compute.
    name
        Name of the derived run; default :meth:`Derivation.default_name`.
    videos
        Only these videos of the parent run (ids, registry keys or paths); default all of them.
    overwrite
        Derive finished videos again, and replace a run of that name made with other settings.

    Returns
    -------
    str
        The derived run's name; its files are in ``behavior-vectors/<name>/``.

    Raises
    ------
    ProjectError
        The parent run has no run.json, the derivation refuses it, the name is not usable or is the parent's,
        or a run of that name exists with other settings (and not ``overwrite``).
    VectorFileError
        A file of the parent run cannot be read (or lacks what the derivation needs).
    """
    parent = project.select_run(run)
    record = read_run_json(project, parent)
    derivation.check_parent(parent, record)
    backend = record["settings"].get("backend") or {}
    runtime = tuple(backend.get("runtime", ()))
    settings = derivation.run_settings(record["settings"])
    sha = identity(settings, runtime)
    if name is None:
        name = derivation.default_name(parent, settings, sha)
    check_name(name, "a run name")
    if name == parent:
        why = ("it has these settings already: nothing changes" if sha == record.get("settings_sha256") else
               "a run is never derived into its own folder")
        raise ProjectError(f"Cannot derive run {parent!r} into itself ({why}); give the derived run another name")
    kind = "video" if record["settings"].get("frame_level") else "window"
    rs = RunSettings(name=name, settings=settings, sha256=sha, runtime=runtime, kind=kind, prompt=None, examples=[])
    check_run(project, rs, overwrite)
    parent_files = project.vector_files(parent)
    if videos is not None:
        chosen = {v.id for v in project.select_videos(videos)}
        missing = sorted(chosen - set(parent_files))
        if missing:
            raise ProjectError(f"Run {parent!r} has no behaviour vector of {', '.join(missing)}")
        parent_files = {k: p for k, p in parent_files.items() if k in chosen}
    derived_from = {"run": parent, "settings_sha256": record.get("settings_sha256"), "kind": derivation.kind,
                    "parameters": derivation.parameters()}
    created = open_run(project, rs, overwrite, record.get("resolved") or {}, extra={"derived_from": derived_from})
    folder = project.paths.vectors(name)
    registry = {v.id: v for v in project.videos}
    t0 = time.perf_counter()
    done = 0
    for video_id, path in parent_files.items():
        out = folder / f"{video_id}.h5"
        pv = _read_parent(video_id, path)
        parent_sha = sha256_file(path)
        if not overwrite and _finished(out, rs, pv.attrs, parent_sha):
            logger.info("%s: finished already (%s); skipping", video_id, out)
            continue
        now = video_settings(registry[video_id], rs)
        for change in changes(recorded_video_settings(pv.attrs, rs), now):
            logger.warning("%s of %s since run %s: the derived run keeps the parent's (%s); classify the video "
                           "again for results of the new settings", change, video_id, parent, path)
        result = derivation.derive(pv)
        write_vector(out, behaviors=pv.behaviors, start_frame=pv.windows["start_frame"].to_numpy(),
                     end_frame=pv.windows["end_frame"].to_numpy(),
                     probabilities=np.asarray(result.probabilities, dtype=np.float64), n_frames=pv.n_frames,
                     attrs=_attrs(pv, rs, created, derived_from, parent_sha), text=pv.windows["text"].tolist(),
                     partial=pv.windows["partial"].to_numpy(dtype=bool),
                     frame_probabilities=result.frame_probabilities, frame_label=result.frame_label,
                     created=created, measurements=result.measurements)
        done += 1
    write_run_tables(project, name)
    logger.info("Run %s: %d video(s) derived (%s) from run %s in %.2f s, without decoding; results in %s", name, done,
                derivation.kind, parent, time.perf_counter() - t0, folder)
    return name
