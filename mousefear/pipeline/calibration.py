"""Calibration of the motion baseline (``classification.motion`` in config.yaml).

Two ways; both write the chosen values into config.yaml (comments kept) and log them:

- **from an empty chamber** (``empty_video=...``): the pixel-change cutoff. As in ezTrack, the camera's noise
  is measured on a recording without an animal: the absolute grey-level differences of every pixel between
  consecutive frames (after the same grey conversion, shrinking and blur as the ``pixels`` detector; exact
  repeated frames left out) are pooled, and the cutoff is their ``quantile`` (default 0.9999) times ``factor``
  (default 2), rounded up to a whole grey level and at least 1. Noise then almost never makes a pixel count
  as changed.
- **from a short scoring** (``from_labels=True``): the thresholds of :data:`~mousefear.backends.motion.CALIBRATED`
  of the method (``animal``: ``body_change_threshold``, ``still_speed``, ``min_freeze_seconds``; ``pixels``:
  ``freeze_threshold``, ``min_freeze_seconds``) that give the highest freezing F1 per second on the scored
  seconds (every frame labelled in ``labels/<video_id>.csv``; a second is freezing when all of its frames are,
  for the person and for the detector), by a search over the grid of
  :data:`~mousefear.pipeline.motion_seconds.GRIDS`; equally good points: the one in the middle of them
  (:func:`~mousefear.pipeline.motion_seconds.best_point`). The measurements come from a run that stored them
  with the current measurement settings, else every labelled video is measured once.

  **The figure reported is out of sample**: the scored seconds of each video are cut into blocks of
  :data:`BLOCK_SECONDS` seconds of video time; each block is decided with the thresholds chosen on all the other
  blocks (leave one block out), and the F1 of those held-out decisions, pooled over the blocks, is the
  cross-validated F1. Its 95 % interval comes from a bootstrap over the blocks (:data:`BOOTSTRAP_RESAMPLES`
  resamples of the blocks with replacement, seeded with ``seed`` of config.yaml; percentile interval). The F1 of
  the chosen thresholds on all the scored seconds is reported too, always marked *in-sample*: it was measured
  on the seconds the thresholds were chosen on, and is optimistic. With fewer than
  :data:`MIN_FREEZING_SECONDS` scored freezing seconds, fewer than :data:`MIN_FREEZING_BLOCKS` blocks holding
  one, or fewer than :data:`MIN_OTHER_SECONDS` scored seconds of anything else, there is too little to fit or
  check thresholds: config.yaml is left as it is, the result says so (``too_few``, ``message``) and no F1 is
  reported.

  Files in ``evaluation/<run>/calibration/``, where ``<run>`` is by default the run
  :func:`~mousefear.pipeline.classify.classify_videos` would make with the motion backend and the calibrated
  values (``classification.run`` when set, else the derived name such as ``motion-animal-0.03-1s-1a2b3c``):
  ``motion_calibration.json`` (the summary: values, cross-validated F1 with its interval, precision, recall,
  the in-sample F1, counts, the grid, the block length, where the measurements came from, ``too_few``),
  ``motion_grid.csv`` (every grid point: the thresholds, ``tp, fp, fn`` on all scored seconds and
  ``precision_in_sample, recall_in_sample, f1_in_sample``), ``motion_cv.csv`` (one row per block: ``video_id,
  block, start_s, end_s, scored_s, freezing_s``, the thresholds chosen without it, and its held-out ``tp, fp,
  fn``) and ``motion_f1.png`` (in-sample F1 against the first threshold, the choice marked, the cross-validated
  F1 in the title).
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mousefear._io import atomic_path, atomic_write_text, json_safe
from mousefear.core.project import ConfigLike, Project, check_name
from mousefear.core.sections import MotionSettings
from mousefear.errors import ConfigError, ProjectError

logger = logging.getLogger(__name__)

__all__ = ["BLOCK_SECONDS", "BOOTSTRAP_RESAMPLES", "MIN_FREEZING_BLOCKS", "MIN_FREEZING_SECONDS",
           "MIN_OTHER_SECONDS", "MotionCalibration", "calibrate_motion"]

#: Length, in seconds of video, of the blocks of the cross-validation and of the bootstrap: longer than the
#: freezing bouts of a mouse (mostly 1-10 s), so that a bout is rarely split between the seconds a choice is made
#: on and those it is checked on, and short enough that a few minutes of scoring make ten blocks or more.
BLOCK_SECONDS = 20
#: Resamples of the bootstrap of the cross-validated F1.
BOOTSTRAP_RESAMPLES = 2000
#: Fewest scored freezing seconds, ...
MIN_FREEZING_SECONDS = 10
#: ... fewest blocks holding one, ...
MIN_FREEZING_BLOCKS = 3
#: ... and fewest scored seconds of other behaviour for which a calibration is fitted and its F1 reported.
MIN_OTHER_SECONDS = 10


@dataclass
class MotionCalibration:
    """What :func:`calibrate_motion` chose and measured.

    Attributes
    ----------
    values : dict
        The ``classification.motion`` keys chosen and their values (from labels: fitted on all scored seconds).
    previous : dict
        Their values before.
    written : bool
        Whether ``values`` were written to config.yaml (not with ``save=False`` or ``too_few``).
    f1 : float
        Cross-validated freezing F1 per second (out of sample, see the module); NaN for the empty chamber and
        when ``too_few``.
    f1_ci : tuple of float
        Its 95 % bootstrap interval (NaN, NaN when there is no F1).
    precision, recall : float
        Cross-validated precision and recall of freezing seconds.
    f1_in_sample : float
        F1 of ``values`` on all the scored seconds they were chosen on: optimistic, never the accuracy (NaN
        when ``too_few``).
    too_few : bool
        Too few scored freezing (or other) seconds to fit or check thresholds; ``message`` says what is missing.
    message : str
        One line on the outcome.
    scored_seconds, freezing_seconds : int
        Scored seconds, and how many of them are freezing.
    grid : pandas.DataFrame or None
        Every grid point with its in-sample counts and F1 (columns ending in ``_in_sample``).
    blocks : pandas.DataFrame or None
        One row per block of the cross-validation: the thresholds chosen without it and its held-out counts.
    sources : dict
        video id -> where its measurements came from (``run <name>`` or ``measured``).
    files : list of Path
        Files written besides config.yaml.
    """

    values: dict[str, Any]
    previous: dict[str, Any]
    written: bool = False
    f1: float = math.nan
    f1_ci: tuple[float, float] = (math.nan, math.nan)
    precision: float = math.nan
    recall: float = math.nan
    f1_in_sample: float = math.nan
    too_few: bool = False
    message: str = ""
    scored_seconds: int = 0
    freezing_seconds: int = 0
    grid: pd.DataFrame | None = None
    blocks: pd.DataFrame | None = None
    sources: dict[str, str] = field(default_factory=dict)
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
    """Calibrate the motion baseline from an empty chamber or from a short scoring.

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
        ``motion-animal-0.03-1s-1a2b3c``.
    from_labels
        Choose the thresholds of the method (``classification.motion.method``) from the scored seconds, and
        report their cross-validated F1 (see the module).
    quantile, factor
        Empty chamber: cutoff = ``quantile`` of the noise differences times ``factor``.
    save
        Write the values into config.yaml (False: only compute and write the calibration files).
    progress
        Show tqdm progress bars (while a video is measured).

    Returns
    -------
    MotionCalibration

    Raises
    ------
    ConfigError
        Neither or both of ``empty_video`` and ``from_labels`` given, or bad ``quantile``/``factor``.
    ProjectError
        No registered video has a label file with a scored second, or ``run`` is not a usable name.
    LabelError
        A label file cannot be read.
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
        result = _from_labels(project, progress)
        if run is None:
            from mousefear.pipeline.classify import default_run_name

            changes = {"classification.backend": "motion"}
            if not result.too_few:
                changes.update({f"classification.motion.{k}": v for k, v in result.values.items()})
            run = default_run_name(project, project.settings.updated(changes))
        _write_label_files(result, project.paths.evaluation(run) / "calibration")
    if save and not result.too_few:
        with project.edit() as doc:
            for key, value in result.values.items():
                doc["classification"]["motion"][key] = value
        result.written = True
        for key, value in result.values.items():
            if value == result.previous[key]:
                logger.info("classification.motion.%s: %g, unchanged", key, value)
            else:
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
    message = (f"Empty chamber {video}: {quantile:.4g} quantile of the frame-to-frame grey-level difference is "
               f"{level}; cutoff {cutoff}")
    logger.info(message)
    return MotionCalibration(values={"pixel_cutoff": cutoff}, previous={"pixel_cutoff": motion.pixel_cutoff},
                             message=message)


# ------------------------------------------------------------------------------------------------ from labels
def _blocks(seconds: list[Any]) -> tuple[list[dict[str, Any]], list[np.ndarray]]:
    """The blocks of the cross-validation: per video, scored seconds in [k * BLOCK_SECONDS, (k + 1) *
    BLOCK_SECONDS); their description and, per block, (n_grid, 3) counts of every grid point."""
    from mousefear.pipeline.motion_seconds import grid_counts

    info, counts = [], []
    for vs in seconds:
        block_of = np.arange(vs.scored.size) // BLOCK_SECONDS
        for k in np.unique(block_of[vs.scored]):
            mask = vs.scored & (block_of == k)
            counts.append(grid_counts(vs.pred, vs.truth, mask))
            info.append({"video_id": vs.video.id, "block": int(k),
                         "start_s": round(float(vs.bounds[k * BLOCK_SECONDS, 0] / vs.video.fps), 6),
                         "end_s": round(float(vs.bounds[min((k + 1) * BLOCK_SECONDS, vs.scored.size) - 1, 1]
                                              / vs.video.fps), 6),
                         "scored_s": int(mask.sum()), "freezing_s": int((mask & vs.truth).sum())})
    return info, counts


def _from_labels(project: Project, progress: bool) -> MotionCalibration:
    """Grid search, cross-validation over blocks and bootstrap on the scored seconds; writes nothing."""
    from mousefear.backends.motion import CALIBRATED, MotionBackend
    from mousefear.pipeline.motion_seconds import best_point, f1_counts, grid_points, video_seconds

    settings = project.settings
    freeze = settings.freezing_behavior
    if freeze is None:
        raise ConfigError(f"{project.config_path}: Expected freezing_behavior to name the freezing behaviour to "
                          "calibrate on, but it is null")
    backend = MotionBackend.from_settings(settings)
    method = backend.method
    keys = CALIBRATED[method]
    points, shape = grid_points(method)
    seconds, sources = [], {}
    for v in project.videos:
        if not project.paths.label_file(v.id).is_file():
            continue
        vs = video_seconds(project, backend, v, points, progress=progress)
        if vs is not None and vs.scored.any():
            seconds.append(vs)
            sources[v.id] = vs.source
    if not seconds:
        raise ProjectError(f"{project.paths.labels}: Expected label files (labels/<video_id>.csv) with scored "
                           "seconds (every frame of a second labelled) for registered videos, but found none")
    info, counts = _blocks(seconds)
    counts_arr = np.stack(counts)  # (n_blocks, n_grid, 3)
    total = counts_arr.sum(axis=0)
    n_scored = sum(int(vs.scored.sum()) for vs in seconds)
    n_freeze = int(total[0, 0] + total[0, 2])  # tp + fn: the scored freezing seconds
    freeze_blocks = sum(1 for row in info if row["freezing_s"] > 0)
    previous = {k: getattr(settings.classification.motion, k) for k in keys}
    best = best_point(total, shape)
    values = {k: points[best][k] for k in keys}
    f_in = float(f1_counts(total[best])[2])
    precision_in, recall_in, f1_in = f1_counts(total)
    grid = pd.DataFrame([{**pt, "tp": int(c[0]), "fp": int(c[1]), "fn": int(c[2]), "precision_in_sample": p,
                          "recall_in_sample": r, "f1_in_sample": f}
                         for pt, c, p, r, f in zip(points, total, precision_in, recall_in, f1_in, strict=True)])
    result = MotionCalibration(values=values, previous=previous, f1_in_sample=f_in, scored_seconds=n_scored,
                               freezing_seconds=n_freeze, grid=grid, sources=sources)
    short = []
    if n_freeze < MIN_FREEZING_SECONDS:
        short.append(f"{n_freeze} scored freezing second(s), at least {MIN_FREEZING_SECONDS} needed")
    if freeze_blocks < MIN_FREEZING_BLOCKS:
        short.append(f"freezing in {freeze_blocks} block(s) of {BLOCK_SECONDS} s, at least {MIN_FREEZING_BLOCKS} "
                     "needed")
    if n_scored - n_freeze < MIN_OTHER_SECONDS:
        short.append(f"{n_scored - n_freeze} scored second(s) of other behaviour, at least {MIN_OTHER_SECONDS} "
                     "needed")
    if short:
        result.too_few, result.f1_in_sample = True, math.nan  # no figure at all from so few seconds
        result.message = (f"Too few scored seconds to calibrate or to measure an accuracy ({'; '.join(short)}): "
                          f"config.yaml is left as it is. Score more seconds (mousefear suggest lists those that "
                          f"would help most) and calibrate again")
        logger.warning(result.message)
        return result
    held = np.zeros((len(info), 3), dtype=np.int64)
    for j, row in enumerate(info):
        choice = best_point(total - counts_arr[j], shape)
        row.update({k: points[choice][k] for k in keys})
        held[j] = counts_arr[j, choice]
    for row, c in zip(info, held, strict=True):
        row.update({"tp": int(c[0]), "fp": int(c[1]), "fn": int(c[2])})
    result.blocks = pd.DataFrame(info)
    p_cv, r_cv, f_cv = (float(x) for x in f1_counts(held.sum(axis=0)))
    rng = np.random.default_rng(settings.seed)
    draws = rng.integers(0, len(info), size=(BOOTSTRAP_RESAMPLES, len(info)))
    boot = np.nan_to_num(f1_counts(held[draws].sum(axis=1))[2], nan=0.0)
    result.f1, result.precision, result.recall = f_cv, p_cv, r_cv
    result.f1_ci = (float(np.quantile(boot, 0.025)), float(np.quantile(boot, 0.975)))
    result.message = (f"Freezing F1 per second, cross-validated over {len(info)} blocks of {BLOCK_SECONDS} s: "
                      f"{f_cv:.3f} (95 % interval {result.f1_ci[0]:.3f}-{result.f1_ci[1]:.3f}; precision "
                      f"{p_cv:.3f}, recall {r_cv:.3f}) from {n_scored} scored seconds, {n_freeze} freezing; "
                      f"in-sample F1 {f_in:.3f} (measured on the seconds the thresholds were chosen on); "
                      + ", ".join(f"{k} {v:g}" for k, v in values.items()))
    logger.info(result.message)
    return result


def _write_label_files(result: MotionCalibration, out_dir: Path) -> None:
    """Write the summary, the grid, the blocks and the plot of a calibration from labels into ``out_dir``."""
    summary = {
        "values": result.values, "previous": result.previous, "too_few": result.too_few, "message": result.message,
        "f1_cross_validated": result.f1, "f1_cross_validated_ci95": list(result.f1_ci),
        "precision_cross_validated": result.precision, "recall_cross_validated": result.recall,
        "f1_in_sample": result.f1_in_sample, "scored_seconds": result.scored_seconds,
        "freezing_seconds": result.freezing_seconds, "block_seconds": BLOCK_SECONDS,
        "blocks": 0 if result.blocks is None else len(result.blocks), "bootstrap_resamples": BOOTSTRAP_RESAMPLES,
        "grid": {k: list(v) for k, v in _grid_axes(result).items()}, "measurements": result.sources,
        "in_sample_note": "every figure named *_in_sample was measured on the seconds the thresholds were chosen on",
    }
    files = [out_dir / "motion_calibration.json", out_dir / "motion_grid.csv", out_dir / "motion_f1.png"]
    atomic_write_text(files[0], json.dumps(json_safe(summary), indent=2, sort_keys=True) + "\n")
    atomic_write_text(files[1], result.grid.to_csv(index=False, float_format="%.6g", lineterminator="\n"))
    _plot_grid(result, files[2])
    if result.blocks is not None:
        files.append(out_dir / "motion_cv.csv")
        atomic_write_text(files[-1], result.blocks.to_csv(index=False, float_format="%.6g", lineterminator="\n"))
    result.files = files
    logger.info("Motion calibration files in %s", out_dir)


def _grid_axes(result: MotionCalibration) -> dict[str, list[float]]:
    return {k: sorted(result.grid[k].unique().tolist()) for k in result.values}


def _plot_grid(result: MotionCalibration, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    keys = list(result.values)
    x, rest = keys[0], keys[1:]
    part = result.grid
    for k in rest[1:]:  # hold the third threshold (if any) at its chosen value
        part = part[part[k] == result.values[k]]
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for val, line in part.groupby(rest[0]):
        ax.plot(line[x], line["f1_in_sample"], "-", lw=1.2, label=f"{val:g}")
    chosen = part[(part[x] == result.values[x]) & (part[rest[0]] == result.values[rest[0]])]
    ax.plot(chosen[x], chosen["f1_in_sample"], "o", color="black", ms=7,
            label=", ".join(f"{result.values[k]:g}" for k in keys) + " (chosen)")
    ax.set_xscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel("freezing F1 per second, in-sample")
    ax.set_ylim(0, 1.02)
    title = (result.message.split(" (")[0] if result.too_few else
             f"cross-validated F1 {result.f1:.3f} (95 % {result.f1_ci[0]:.3f}-{result.f1_ci[1]:.3f})")
    ax.set_title(title, fontsize=8)
    ax.legend(title=rest[0], fontsize=7, title_fontsize=7, frameon=False, loc="center left",
              bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
