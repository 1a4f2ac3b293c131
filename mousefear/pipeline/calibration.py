"""Calibration of the motion baseline (``classification.motion`` in config.yaml).

Two ways, both of which write the chosen values into config.yaml (comments kept) and log them:

- **from an empty chamber** (``empty_video=...``): the pixel-change cutoff. As in ezTrack, the camera's noise
  is measured on a recording without an animal: the absolute grey-level differences of every pixel between
  consecutive frames (after the same grey conversion, shrinking and blur as the detector; exact repeated
  frames left out) are pooled, and the cutoff is their ``quantile`` (default 0.9999) times ``factor``
  (default 2), rounded up to a whole grey level and at least 1. Noise then almost never makes a pixel count
  as changed.
- **from labelled frames** (``run=..., from_labels=True``): the freezing threshold (fraction of changed
  pixels) and the minimum freezing duration that maximise freezing F1 on the labelled frames of every
  registered video with a label file (``labels/<video_id>.csv``), by grid search over
  :data:`THRESHOLD_GRID` x :data:`DURATION_GRID`. The pixel-change signal is measured once per video with the
  current ``pixel_cutoff`` and ``blur_kernel``. Ties go to the longer duration, then the lower threshold.
  With two or more labelled videos, each video's F1 with the values chosen on the others (leave one video
  out) is reported as the held-out F1. Files in ``evaluation/<run>/calibration/``, where ``<run>`` is by
  default the run :func:`~mousefear.pipeline.classify.classify_videos` would make with the motion backend once
  the chosen values are in config.yaml (``classification.run`` when set, else the derived name such as
  ``motion-0.0005-1s-1a2b3c``), so the calibration lies beside the evaluation of the run it calibrated:
  ``motion_grid.csv`` (``freeze_threshold, min_freeze_seconds, tp, fp, fn, precision, recall, f1`` for every grid
  point),
  ``motion_heldout.csv`` (``video_id, freeze_threshold, min_freeze_seconds, f1_train, f1_heldout``) and
  ``motion_f1.png`` (F1 against the threshold, one line per duration, the choice marked).
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mousefear._io import atomic_path, atomic_write_text
from mousefear.core.project import ConfigLike, Project, check_name
from mousefear.core.settings import MotionSettings
from mousefear.errors import ConfigError, LabelError, ProjectError

logger = logging.getLogger(__name__)

#: Candidate freezing thresholds (fraction of changed pixels in the crop), log-spaced.
THRESHOLD_GRID = tuple(float(f"{v:.3g}") for v in np.geomspace(2e-5, 2e-2, 31))
#: Candidate minimum freezing durations, in seconds.
DURATION_GRID = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)


@dataclass
class MotionCalibration:
    """What :func:`calibrate_motion` chose.

    Attributes
    ----------
    values : dict
        The ``classification.motion`` keys written to config.yaml and their new values.
    previous : dict
        Their values before.
    f1 : float
        Freezing F1 of the chosen values on all labelled frames (NaN for the empty-chamber calibration).
    heldout : pandas.DataFrame or None
        Leave-one-video-out results (None with fewer than two labelled videos or an empty chamber).
    grid : pandas.DataFrame or None
        Every grid point with its F1 (None for the empty-chamber calibration).
    files : list of Path
        Files written besides config.yaml.
    """

    values: dict[str, Any]
    previous: dict[str, Any]
    f1: float = math.nan
    heldout: pd.DataFrame | None = None
    grid: pd.DataFrame | None = None
    files: list[Path] = field(default_factory=list)


def calibrate_motion(
    config: ConfigLike,
    *,
    empty_video: str | os.PathLike | None = None,
    run: str | None = None,
    from_labels: bool = False,
    quantile: float = 0.9999,
    factor: float = 2.0,
    save: bool = True,
    progress: bool = True,
) -> MotionCalibration:
    """Calibrate the motion baseline from an empty chamber or from labelled frames.

    Parameters
    ----------
    config
        Path of config.yaml or the project folder, or an opened :class:`~mousefear.core.project.Project`.
    empty_video
        A recording of the empty chamber (no animal): sets ``pixel_cutoff``.
    run
        Run name under which the calibration files are written (``evaluation/<run>/calibration/``); letters,
        digits, ``.``, ``_`` and ``-``. Default: the name :func:`~mousefear.pipeline.classify.classify_videos`
        would give a motion run of the calibrated settings (:func:`~mousefear.pipeline.classify.default_run_name`
        with the chosen values applied, whether or not ``save``): ``classification.run`` when set, else e.g.
        ``motion-0.0005-1s-1a2b3c``.
    from_labels
        Choose ``freeze_threshold`` and ``min_freeze_seconds`` from the labelled frames.
    quantile, factor
        Empty chamber: cutoff = ``quantile`` of the noise differences times ``factor``.
    save
        Write the values into config.yaml (False: only compute and write the calibration files).
    progress
        Show tqdm progress bars.

    Returns
    -------
    MotionCalibration

    Raises
    ------
    ConfigError
        Neither or both of ``empty_video`` and ``from_labels`` given, or bad ``quantile``/``factor``.
    ProjectError
        No registered video has a label file with labelled frames, or ``run`` is not a usable name.
    VideoError
        A video cannot be read.
    """
    if (empty_video is None) == (not from_labels):
        raise ConfigError("Expected either empty_video=FILE or from_labels=True, but got "
                          f"{'both' if empty_video is not None else 'neither'}")
    if not (0 < quantile < 1) or not factor > 0:
        raise ConfigError(f"Expected 0 < quantile < 1 and factor > 0, but got quantile={quantile}, factor={factor}")
    if run is not None:
        check_name(run, "a run name")
    project = Project.open(config)
    motion = project.settings.classification.motion
    if empty_video is not None:
        result = _from_empty(Path(empty_video), motion, quantile, factor, progress)
    else:
        if motion.method != "pixels":
            raise ConfigError(f"{project.config_path}: calibration from labels fits freeze_threshold and "
                              "min_freeze_seconds of classification.motion.method: pixels, but the method is "
                              f"{motion.method!r}; set method: pixels to calibrate the frame-fraction measure "
                              "(the animal method's thresholds are in units of the animal and its defaults "
                              "carry across setups)")
        result = _from_labels(project, progress)
        if run is None:
            from mousefear.pipeline.classify import default_run_name

            changes = {"classification.backend": "motion",
                       **{f"classification.motion.{k}": v for k, v in result.values.items()}}
            run = default_run_name(project, project.settings.updated(changes))
        _write_label_files(result, project.paths.evaluation(run) / "calibration")
    if save:
        with project.edit() as doc:
            for key, value in result.values.items():
                doc["classification"]["motion"][key] = value
        for key, value in result.values.items():
            logger.info("classification.motion.%s: %g -> %g (written to %s)", key, result.previous[key], value,
                        project.config_path)
    return result


def _from_empty(video: Path, motion: MotionSettings, quantile: float, factor: float,
                progress: bool) -> MotionCalibration:
    from mousefear.backends.motion_measure import measure_motion

    m = measure_motion(video, pixel_cutoff=255, blur_kernel=motion.blur_kernel,
                       analysis_width=motion.analysis_width, locate_animal=False, difference_histogram=True,
                       progress=progress)
    hist = m["histogram"]
    total = int(hist.sum())
    if total == 0:
        raise ConfigError(f"{video}: every frame repeats the previous one exactly; the video shows no camera "
                          "noise to calibrate a cutoff on")
    level = int(np.searchsorted(np.cumsum(hist), quantile * total))
    cutoff = max(1, math.ceil(level * factor))
    logger.info("Empty chamber %s: %.4g quantile of the frame-to-frame grey-level difference is %d; cutoff %d",
                video, quantile, level, cutoff)
    return MotionCalibration(values={"pixel_cutoff": cutoff}, previous={"pixel_cutoff": motion.pixel_cutoff})


def _f1_counts(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    precision = tp / (tp + fp) if tp + fp else math.nan
    recall = tp / (tp + fn) if tp + fn else math.nan
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else math.nan
    return precision, recall, f1


def _grid_counts(videos: list[dict[str, Any]]) -> np.ndarray:
    """(n_videos, n_durations, n_thresholds, 3) int64 tp, fp, fn of every grid point per video."""
    from mousefear.backends.motion_measure import freezing_runs

    out = np.zeros((len(videos), len(DURATION_GRID), len(THRESHOLD_GRID), 3), dtype=np.int64)
    for v, item in enumerate(videos):
        truth = item["truth"]
        known = item["known"]
        for d, seconds in enumerate(DURATION_GRID):
            for t, thr in enumerate(THRESHOLD_GRID):
                pred = freezing_runs(item["change"], thr, round(seconds * item["fps"]))[known]
                tp = int(np.count_nonzero(pred & truth))
                out[v, d, t] = (tp, int(np.count_nonzero(pred)) - tp, int(np.count_nonzero(truth)) - tp)
    return out


def _best(counts: np.ndarray) -> tuple[int, int, float]:
    """Grid indices (duration, threshold) of the highest F1 (ties: longer duration, then lower threshold)."""
    tp, fp, fn = counts[..., 0], counts[..., 1], counts[..., 2]
    denom = 2 * tp + fp + fn
    f1 = np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)
    best = f1.max()
    cands = [(d, t) for d, t in zip(*np.nonzero(np.isclose(f1, best)), strict=True)]
    d, t = max(cands, key=lambda c: (c[0], -c[1]))
    return int(d), int(t), float(best)


def _from_labels(project: Project, progress: bool) -> MotionCalibration:
    """Grid search on the labelled frames; writes nothing (see :func:`_write_label_files`)."""
    from mousefear.backends.motion_measure import deduplicate_change, measure_motion
    from mousefear.formats.labels import read_label_file

    motion = project.settings.classification.motion
    behaviors = project.behaviors
    freeze = project.settings.freezing_behavior
    if freeze is None:
        raise ConfigError(f"{project.config_path}: Expected freezing_behavior to name the freezing "
                          "behaviour to calibrate on, but it is null")
    paths = project.paths
    videos = []
    for v in project.videos:
        label_file = paths.label_file(v.id)
        if not label_file.is_file():
            continue
        labels = read_label_file(label_file, behaviors, v.n_frames)
        known = labels != ""
        if not known.any():
            continue
        m = measure_motion(v.path, crop=v.crop, n_frames=v.n_frames, pixel_cutoff=motion.pixel_cutoff,
                           blur_kernel=motion.blur_kernel, analysis_width=motion.analysis_width,
                           locate_animal=False, progress=progress)
        change = deduplicate_change(m["raw_change"], m["repeat"], motion.max_repeat_frames)
        videos.append({"id": v.id, "fps": v.fps, "change": change, "known": known,
                       "truth": labels[known] == freeze})
    if not videos:
        raise ProjectError(f"{paths.labels}: Expected label files (labels/<video_id>.csv) with labelled frames "
                           "for registered videos, but found none")
    if not any(item["truth"].any() for item in videos):
        raise LabelError(f"{paths.labels}: Expected some frames labelled {freeze!r} (freezing_behavior) to calibrate "
                         "on, but got none")
    counts = _grid_counts(videos)
    total = counts.sum(axis=0)
    d, t, f1 = _best(total)
    rows = []
    for di, seconds in enumerate(DURATION_GRID):
        for ti, thr in enumerate(THRESHOLD_GRID):
            tp, fp, fn = (int(x) for x in total[di, ti])
            p, r, f = _f1_counts(tp, fp, fn)
            rows.append({"freeze_threshold": thr, "min_freeze_seconds": seconds, "tp": tp, "fp": fp, "fn": fn,
                         "precision": p, "recall": r, "f1": f})
    grid = pd.DataFrame(rows)
    heldout = None
    if len(videos) >= 2:
        hrows = []
        for i, item in enumerate(videos):
            train = total - counts[i]
            hd, ht, f1_train = _best(train)
            tp, fp, fn = (int(x) for x in counts[i, hd, ht])
            hrows.append({"video_id": item["id"], "freeze_threshold": THRESHOLD_GRID[ht],
                          "min_freeze_seconds": DURATION_GRID[hd], "f1_train": f1_train,
                          "f1_heldout": _f1_counts(tp, fp, fn)[2]})
        heldout = pd.DataFrame(hrows)
        logger.info("Leave-one-video-out freezing F1: mean %.3f (per video: %s)", heldout["f1_heldout"].mean(),
                    ", ".join(f"{r.video_id} {r.f1_heldout:.3f}" for r in heldout.itertuples()))
    else:
        logger.warning("Only one labelled video: the F1 of %.3f is measured on the frames it was chosen on "
                       "(no held-out estimate); label a second video to check for over-fitting", f1)
    values = {"freeze_threshold": THRESHOLD_GRID[t], "min_freeze_seconds": DURATION_GRID[d]}
    previous = {k: getattr(motion, k) for k in values}
    logger.info("Motion calibration from %d labelled video(s): freeze_threshold %g, min_freeze_seconds %g, "
                "freezing F1 %.3f", len(videos), values["freeze_threshold"], values["min_freeze_seconds"], f1)
    return MotionCalibration(values=values, previous=previous, f1=f1, heldout=heldout, grid=grid)


def _write_label_files(result: MotionCalibration, out_dir: Path) -> None:
    """Write the grid, its plot and the held-out table of a calibration from labels into ``out_dir``."""
    files = [out_dir / "motion_grid.csv", out_dir / "motion_f1.png"]
    atomic_write_text(files[0], result.grid.to_csv(index=False, float_format="%.6g", lineterminator="\n"))
    _plot_grid(result.grid, result.values["freeze_threshold"], result.values["min_freeze_seconds"], result.f1,
               files[1])
    if result.heldout is not None:
        files.append(out_dir / "motion_heldout.csv")
        atomic_write_text(files[-1], result.heldout.to_csv(index=False, float_format="%.6g", lineterminator="\n"))
    result.files = files
    logger.info("Motion calibration files in %s", out_dir)


def _plot_grid(grid: pd.DataFrame, thr: float, seconds: float, f1: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for s, part in grid.groupby("min_freeze_seconds"):
        ax.plot(part["freeze_threshold"], part["f1"], "-", lw=1.2, label=f"{s:g} s")
    ax.plot([thr], [f1], "o", color="black", ms=7, label=f"chosen: {thr:g}, {seconds:g} s (F1 {f1:.3f})")
    ax.set_xscale("log")
    ax.set_xlabel("freeze_threshold (fraction of changed pixels)")
    ax.set_ylabel("freezing F1 (labelled frames)")
    ax.set_ylim(0, 1.02)
    ax.legend(title="min_freeze_seconds", fontsize=7, title_fontsize=7, frameon=False, loc="center left",
              bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
