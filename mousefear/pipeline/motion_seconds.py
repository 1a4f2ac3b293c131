"""The motion detector's freezing decisions per second for a grid of thresholds, against the scored seconds.

Shared by the calibration from labels (:mod:`mousefear.pipeline.calibration`) and the choice of the seconds to
score next (:mod:`mousefear.pipeline.suggest`). Per video: its measurements (stored in a run's vector file when
one has them with the detector's current measurement settings, else measured once by decoding the video), the
seconds a person scored (every frame of the second labelled, ``labels/<video_id>.csv``) and whether each is
freezing (every frame labelled ``freezing_behavior``: the whole-second rule careful scorers use), and for every
grid point whether the detector decides each second freezing (every frame of it decided freezing, as
:meth:`~mousefear.backends.motion.MotionBackend.decide_from_measurements` decides with those thresholds).

Second ``k`` covers frames ``[round(k * fps), round((k + 1) * fps))`` (:func:`~mousefear.core.intervals.second_bounds`).
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mousefear._io import json_safe
from mousefear.core.intervals import second_bounds, whole_seconds
from mousefear.core.project import Project
from mousefear.core.video import Video
from mousefear.errors import VectorFileError
from mousefear.formats.labels import read_label_file
from mousefear.formats.vectors import read_vector_measurements

__all__ = ["GRIDS", "VideoSeconds", "best_point", "f1_counts", "grid_counts", "grid_points", "measurements_of",
           "video_seconds"]

logger = logging.getLogger(__name__)

#: The thresholds searched by calibration, per method (their product is the grid). Steps of about x1.5 (1, 1.5,
#: 2, 3, 5, 7, 10, ...) over the range where a still and a moving mouse can be told apart; minimum durations of
#: 1 s and more only: per second (a second is freezing when all of it is) shorter ones cannot be told from 1 s.
GRIDS: dict[str, dict[str, tuple[float, ...]]] = {
    "animal": {
        "body_change_threshold": (0.002, 0.003, 0.005, 0.007, 0.01, 0.015, 0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2,
                                  0.3),
        "still_speed": (0.1, 0.15, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0),
        "min_freeze_seconds": (1.0, 1.5, 2.0, 3.0),
    },
    "pixels": {
        "freeze_threshold": (2e-5, 3e-5, 5e-5, 7e-5, 1e-4, 1.5e-4, 2e-4, 3e-4, 5e-4, 7e-4, 1e-3, 1.5e-3, 2e-3, 3e-3,
                             5e-3, 7e-3, 0.01, 0.015, 0.02),
        "min_freeze_seconds": (1.0, 1.5, 2.0, 3.0),
    },
}


def grid_points(method: str) -> tuple[list[dict[str, float]], tuple[int, ...]]:
    """Every grid point of ``method`` (dicts of the thresholds, the last key varying fastest) and the grid's
    shape."""
    axes = GRIDS[method]
    points = [dict(zip(axes, values, strict=True)) for values in itertools.product(*axes.values())]
    return points, tuple(len(v) for v in axes.values())


@dataclass
class VideoSeconds:
    """One video's seconds: what a person scored and what every grid point decides.

    Attributes
    ----------
    video : Video
    bounds : np.ndarray
        (n_seconds, 2) int64 half-open frame ranges of the seconds.
    scored : np.ndarray
        (n_seconds,) bool, every frame of the second labelled.
    unscored : np.ndarray
        (n_seconds,) bool, no frame of the second labelled.
    truth : np.ndarray
        (n_seconds,) bool, every frame labelled freezing.
    pred : np.ndarray
        (n_grid, n_seconds) bool, decided freezing with each grid point.
    found : np.ndarray
        (n_seconds,) bool, the detector has a decision for every frame of the second (the animal was found).
    current : np.ndarray
        (n_seconds,) bool, decided freezing with the current settings.
    measurements : dict
        The measurements decided from (see :meth:`~mousefear.backends.motion.MotionBackend.measure`).
    source : str
        Where they came from: ``run <name>`` (stored) or ``measured``.
    """

    video: Video
    bounds: np.ndarray
    scored: np.ndarray
    unscored: np.ndarray
    truth: np.ndarray
    pred: np.ndarray
    found: np.ndarray
    current: np.ndarray
    measurements: dict[str, Any]
    source: str


def measurements_of(project: Project, backend: Any, video: Video, *, measure: bool = True,
                    progress: bool = True) -> tuple[dict[str, Any] | None, str]:
    """A video's measurements with the backend's measurement settings: from the newest run whose vector file of
    the video has them (same video file, crop box and measurement settings), else measured by decoding the video
    (``measure``), else None.

    Returns
    -------
    (dict or None, str)
        The measurements (as :meth:`~mousefear.backends.motion.MotionBackend.measure` returns them) and their
        source (``run <name>``, ``measured`` or ``none``).
    """
    crop_on = project.settings.classification.preprocessing.crop
    want = json_safe(backend.measurement_settings())
    for run in project.runs_newest_first():
        path = project.paths.vector_file(run, video.id)
        if not path.is_file():
            continue
        try:
            table = read_vector_measurements(path, missing_ok=True)
        except VectorFileError as exc:
            logger.warning("%s: unreadable (%s); not using its measurements", path, exc)
            continue
        if table is None:
            continue
        meta, attrs = table.attrs["measurement"], table.attrs["file"]
        if (meta.get("method") != backend.method or meta.get("settings") != want
                or attrs.get("video_sha256") != video.sha256 or float(attrs.get("fps", 0)) != float(video.fps)
                or bool((attrs.get("preprocessing") or {}).get("crop")) != bool(crop_on)
                or (crop_on and list(attrs.get("crop") or []) != list(video.crop))):
            continue
        return {**{k: table[k].to_numpy() for k in table.columns}, **meta}, f"run {run}"
    if not measure:
        return None, "none"
    logger.info("%s: no run has its measurements with these settings; measuring it (decoding the video)", video.id)
    return backend.measure(video, crop=video.crop if crop_on else None, progress=progress), "measured"


def video_seconds(project: Project, backend: Any, video: Video, points: Sequence[Mapping[str, float]], *,
                  measure: bool = True, progress: bool = True) -> VideoSeconds | None:
    """The seconds of one video: scored, true freezing, and decided freezing at every grid point (None when its
    measurements are neither stored nor to be measured)."""
    m, source = measurements_of(project, backend, video, measure=measure, progress=progress)
    if m is None:
        return None
    fps = video.fps
    bounds = second_bounds(video.n_frames, fps)
    label_file = project.paths.label_file(video.id)
    if label_file.is_file():
        labels = read_label_file(label_file, project.behaviors, video.n_frames)
        scored = whole_seconds(labels != "", fps)
        unscored = whole_seconds(labels == "", fps)
        truth = whole_seconds(labels == project.settings.freezing_behavior, fps)
    else:
        scored = np.zeros(len(bounds), dtype=bool)
        unscored, truth = ~scored, scored.copy()
    pred = np.zeros((len(points), len(bounds)), dtype=bool)
    for i, frozen in enumerate(backend.frozen_frames(m, fps=fps, thresholds=points)):
        pred[i] = whole_seconds(frozen, fps)
    label = backend.decide_from_measurements(m, fps=fps).frame_label
    current = whole_seconds(label == backend.behaviors.index(project.settings.freezing_behavior), fps)
    return VideoSeconds(video=video, bounds=bounds, scored=scored, unscored=unscored, truth=truth, pred=pred,
                        found=whole_seconds(label >= 0, fps), current=current, measurements=m, source=source)


def grid_counts(pred: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(n_grid, 3) int64 true positives, false positives and false negatives of every grid point over the
    seconds of ``mask`` (``pred`` (n_grid, n_seconds), ``truth`` and ``mask`` (n_seconds,) bool)."""
    p = pred[:, mask]
    t = truth[mask]
    tp = (p & t).sum(axis=1)
    return np.stack([tp, p.sum(axis=1) - tp, np.full_like(tp, int(t.sum())) - tp], axis=1).astype(np.int64)


def f1_counts(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall and F1 (float64, NaN where undefined) from ``(..., 3)`` tp, fp, fn counts."""
    counts = np.asarray(counts, dtype=np.float64)
    tp, fp, fn = counts[..., 0], counts[..., 1], counts[..., 2]
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), math.nan)
        recall = np.where(tp + fn > 0, tp / (tp + fn), math.nan)
        f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), math.nan)
    return precision, recall, f1


def best_point(counts: np.ndarray, shape: tuple[int, ...]) -> int:
    """Index of the grid point with the highest F1 (``counts``: (n_grid, 3)); among equally good points the one
    nearest (in grid steps) to the median position of them all, so the choice lies inside the range of equally
    good thresholds rather than at its edge; remaining ties go to the first."""
    f1 = np.nan_to_num(f1_counts(counts)[2], nan=0.0)
    tied = np.flatnonzero(f1 >= f1.max() - 1e-12)
    idx = np.stack(np.unravel_index(tied, shape), axis=1).astype(np.float64)
    centre = np.median(idx, axis=0)
    return int(tied[int(np.argmin(((idx - centre) ** 2).sum(axis=1)))])
