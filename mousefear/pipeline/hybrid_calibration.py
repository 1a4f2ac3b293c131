"""Calibration of the hybrid backend's margins (``classification.hybrid.still_margin`` and ``moving_margin``) from
scored seconds.

The hybrid backend (:mod:`mousefear.backends.hybrid`) lets the motion detector decide a window when the window is
still far below the freezing threshold (its largest movement at most ``still_margin``) or moving far above it (its
median movement at least ``moving_margin``), and sends every other window to the model.
:func:`calibrate_hybrid` chooses the two margins from the windows a person scored (every frame labelled in
``labels/<video_id>.csv``; the window's behaviour: the one covering most of its frames,
:func:`~mousefear.pipeline.metrics.window_truth`):

- **The rule.** Each margin is chosen on its own, from :data:`STILL_MARGINS` or :data:`MOVING_MARGINS`: among the
  margins at which the scored windows that side decides agree with the person at least ``target`` of the time
  (the detector's freezing for the still side, its moving or fleeing decision for the moving side; a margin that
  decides no scored window counts as agreeing), the one that decides the most scored windows; among equally many,
  the middle one (in the grid's order). When no margin reaches ``target`` (even the strictest decides windows the
  person scored otherwise), the strictest is chosen and the result says so (``target_met``).
- **Out of sample.** The agreement and the share sent to the model are cross-validated: across videos when two or
  more labelled videos have scored windows (leave one video out), else across blocks of
  :data:`~mousefear.pipeline.calibration.BLOCK_SECONDS` seconds of the one video (leave one block out, as the
  motion calibration does). Each video (block) is routed with the margins chosen on the others, and the held-out
  decisions, pooled, give the agreement of the detector's windows and the share of scored windows sent to the
  model. The agreement of the chosen margins on all scored windows is reported too, marked *in-sample*.
- **What stays fixed.** The detector's thresholds (``classification.motion``; calibrate them first with
  ``mousefear calibrate-motion --from-labels``): movement is measured in multiples of them. Measurements come from
  a run that stored them with the current measurement settings, else each labelled video is measured once.

Files in ``evaluation/``: ``hybrid_calibration.json`` (the summary), ``hybrid_margins.csv`` (every margin of
both sides with its in-sample counts) and ``hybrid_cv.csv`` (one row per held-out video or block: the margins
chosen without it and its held-out counts).
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mousefear._io import atomic_write_text, json_safe
from mousefear.core.project import ConfigLike, Project
from mousefear.errors import ConfigError, ProjectError

logger = logging.getLogger(__name__)

__all__ = ["MOVING_MARGINS", "STILL_MARGINS", "HybridCalibration", "calibrate_hybrid"]

#: Candidate ``still_margin`` values (fractions of the freezing threshold), strictest first.
STILL_MARGINS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
#: Candidate ``moving_margin`` values (multiples of the freezing threshold), strictest first.
MOVING_MARGINS = (1000.0, 500.0, 300.0, 200.0, 150.0, 100.0, 70.0, 50.0, 30.0, 20.0, 15.0, 10.0, 7.0, 5.0, 3.0,
                  2.0, 1.5, 1.0)
_SIDES = {"still": STILL_MARGINS, "moving": MOVING_MARGINS}


@dataclass
class HybridCalibration:
    """What :func:`calibrate_hybrid` chose and measured.

    Attributes
    ----------
    values : dict
        ``still_margin`` and ``moving_margin`` chosen on all scored windows.
    previous : dict
        Their values before.
    written : bool
        Whether ``values`` were written to config.yaml.
    target : float
        The agreement asked of each side.
    target_met : dict
        ``still`` / ``moving`` -> whether that side reached ``target`` on all scored windows.
    agreement : float
        Cross-validated share of the held-out scored windows decided by the detector that the person scored the
        same (NaN when it decided none, or ``too_few``).
    agreement_still, agreement_moving : float
        The same for each side.
    share_to_model : float
        Cross-validated share of the held-out scored windows sent to the model.
    decided, agreeing : int
        Held-out scored windows the detector decided, and how many of them as the person did.
    agreement_in_sample : float
        Agreement of ``values`` on all the scored windows they were chosen on: optimistic, never the accuracy.
    share_to_model_all : float
        Share of all windows of the labelled videos (scored or not) that ``values`` send to the model.
    scored_windows, windows : int
        Scored windows, and all windows of the labelled videos.
    folds : str
        ``videos`` or ``blocks of <n> s`` (how the cross-validation held windows out).
    too_few : bool
        Fewer than two videos or blocks to cross-validate over: nothing written, no figure.
    message : str
        One line on the outcome.
    margins : pandas.DataFrame
        Every candidate margin of both sides with its in-sample counts.
    cv : pandas.DataFrame or None
        One row per held-out video or block.
    sources : dict
        Video id -> where its measurements came from.
    files : list of Path
        Files written besides config.yaml.
    """

    values: dict[str, float]
    previous: dict[str, float]
    written: bool = False
    target: float = 0.95
    target_met: dict[str, bool] = field(default_factory=dict)
    agreement: float = math.nan
    agreement_still: float = math.nan
    agreement_moving: float = math.nan
    share_to_model: float = math.nan
    decided: int = 0
    agreeing: int = 0
    agreement_in_sample: float = math.nan
    share_to_model_all: float = math.nan
    scored_windows: int = 0
    windows: int = 0
    folds: str = ""
    too_few: bool = False
    message: str = ""
    margins: pd.DataFrame | None = None
    cv: pd.DataFrame | None = None
    sources: dict[str, str] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)


@dataclass
class _Windows:
    """One labelled video's windows: the routing statistics, the detector's and the person's behaviour."""

    video_id: str
    start_s: np.ndarray  # (n,) window start, seconds
    still: np.ndarray  # (n,) float64, see backends.hybrid.window_statistics
    moving: np.ndarray
    detector: np.ndarray  # (n,) object, the detector's behaviour
    truth: np.ndarray  # (n,) object, the person's ("" = not scored)


def calibrate_hybrid(config: ConfigLike, *, target: float = 0.95, save: bool = True,
                     progress: bool = True) -> HybridCalibration:
    """Choose the hybrid backend's ``still_margin`` and ``moving_margin`` from the scored seconds.

    Parameters
    ----------
    config
        Path of config.yaml or the project folder, or an opened :class:`~mousefear.core.project.Project`.
    target
        Share of the windows decided by the detector (on each side) that must agree with the person, between 0
        and 1; the margins decide as many windows as they can at this agreement (see the module).
    save
        Write the margins into ``classification.hybrid`` of config.yaml (comments kept); not when ``too_few``.
    progress
        Show tqdm progress bars (while a video is measured).

    Returns
    -------
    HybridCalibration

    Raises
    ------
    ConfigError
        ``target`` not in (0, 1], or the motion detector's roles are not behaviours of the project.
    ProjectError
        No registered video has a label file with a scored window.
    LabelError
        A label file cannot be read.
    VideoError
        A video cannot be read.
    """
    if not (isinstance(target, int | float) and 0 < target <= 1):
        raise ConfigError(f"Expected target to be a number > 0 and <= 1, but got {target!r}")
    project = Project.open(config)
    settings = project.settings
    settings.check_motion_roles()
    hybrid = settings.classification.hybrid
    previous = {"still_margin": hybrid.still_margin, "moving_margin": hybrid.moving_margin}
    videos, sources = _labelled_windows(project, progress)
    scored = [v.truth != "" for v in videos]
    if not any(s.any() for s in scored):
        raise ProjectError(f"{project.paths.labels}: Expected label files (labels/<video_id>.csv) with scored "
                           "windows (every frame of a window labelled) for registered videos, but found none")
    folds, how = _folds(videos, scored)
    # per fold and side: (n_candidates, 2) decided and agreeing scored windows
    counts = {side: np.stack([_side_counts(videos, f, side) for f in folds]) for side in _SIDES}
    total = {side: c.sum(axis=0) for side, c in counts.items()}
    chosen = {side: _choose(total[side], target) for side in _SIDES}
    values = {"still_margin": STILL_MARGINS[chosen["still"][0]], "moving_margin": MOVING_MARGINS[chosen["moving"][0]]}
    n_scored = int(sum(s.sum() for s in scored))
    n_windows = int(sum(v.truth.size for v in videos))
    from mousefear.backends.hybrid import decided_windows

    routed = sum(int((~decided_windows(v.still, v.moving, **values)).sum()) for v in videos)
    dec_in = sum(int(total[side][chosen[side][0], 0]) for side in _SIDES)
    agree_in = sum(int(total[side][chosen[side][0], 1]) for side in _SIDES)
    result = HybridCalibration(
        values=values, previous=previous, target=float(target), target_met={s: chosen[s][1] for s in _SIDES},
        agreement_in_sample=agree_in / dec_in if dec_in else math.nan, share_to_model_all=routed / n_windows,
        scored_windows=n_scored, windows=n_windows, folds=how, margins=_margin_table(total, chosen, n_scored),
        sources=sources)
    if len(folds) < 2:
        result.too_few = True
        result.message = (f"Too few scored windows to measure an agreement out of sample (one labelled video, "
                          f"scored in one block of {_block_seconds()} s; two videos or blocks needed): config.yaml "
                          "is left as it is. Score more seconds and calibrate again")
        logger.warning(result.message)
    else:
        _cross_validate(result, videos, folds, counts, total, target)
    _write_files(result, project.paths.evaluation())
    if save and not result.too_few:
        with project.edit() as doc:
            for key, value in values.items():
                doc["classification"]["hybrid"][key] = value
        result.written = True
        for key, value in values.items():
            logger.info("classification.hybrid.%s: %g -> %g (written to %s)", key, previous[key], value,
                        project.config_path)
    return result


def _block_seconds() -> int:
    from mousefear.pipeline.calibration import BLOCK_SECONDS

    return BLOCK_SECONDS


def _labelled_windows(project: Project, progress: bool) -> tuple[list[_Windows], dict[str, str]]:
    """The windows of every registered video with a label file: routing statistics and both behaviours."""
    from mousefear.backends.hybrid import movement, window_statistics
    from mousefear.backends.motion import MotionBackend
    from mousefear.core.intervals import window_bounds
    from mousefear.formats.labels import read_label_file
    from mousefear.pipeline.metrics import window_truth
    from mousefear.pipeline.motion_seconds import measurements_of

    settings = project.settings
    cls = settings.classification
    detector = MotionBackend.from_settings(settings)
    out, sources = [], {}
    for video in project.videos:
        label_file = project.paths.label_file(video.id)
        if not label_file.is_file():
            continue
        human = read_label_file(label_file, project.behaviors, video.n_frames)
        bounds = window_bounds(video.n_frames, video.fps, cls.window_seconds, cls.stride_seconds)
        truth = window_truth(human, bounds[:, 0], bounds[:, 1], project.behaviors, whole=True)
        if not (truth != "").any():
            continue
        detector.check_scale(video.pixels_per_cm, video.path,
                             f"set videos['{video.key}'].pixels_per_cm in config.yaml, or use flee_speed_unit: "
                             "body_lengths/s")
        m, sources[video.id] = measurements_of(project, detector, video, progress=progress)
        measured = detector.decide_from_measurements(m, fps=video.fps, window_bounds=bounds,
                                                     pixels_per_cm=video.pixels_per_cm)
        still, moving = window_statistics(detector, measured, movement(detector, measured, video.fps))
        probs = np.nan_to_num(np.asarray(measured.probabilities, dtype=np.float64), nan=-1.0)
        out.append(_Windows(video.id, bounds[:, 0] / video.fps, still, moving,
                            np.asarray(project.behaviors, dtype=object)[np.argmax(probs, axis=1)], truth))
    return out, sources


def _folds(videos: list[_Windows], scored: list[np.ndarray]) -> tuple[list[list[tuple[int, np.ndarray]]], str]:
    """The folds of the cross-validation: per fold, (video index, (n,) bool scored windows in it)."""
    if sum(1 for s in scored if s.any()) >= 2:
        return [[(i, s)] for i, s in enumerate(scored) if s.any()], "videos"
    (i,) = [i for i, s in enumerate(scored) if s.any()]
    block = np.floor(videos[i].start_s / _block_seconds() + 1e-9).astype(np.int64)
    return ([[(i, scored[i] & (block == k))] for k in np.unique(block[scored[i]])],
            f"blocks of {_block_seconds()} s")


def _side_counts(videos: list[_Windows], fold: list[tuple[int, np.ndarray]], side: str) -> np.ndarray:
    """(n_candidates, 2) int64: scored windows of the fold that each candidate margin of ``side`` lets the
    detector decide, and how many of them agree with the person."""
    margins = np.asarray(_SIDES[side])
    out = np.zeros((margins.size, 2), dtype=np.int64)
    for i, mask in fold:
        v = videos[i]
        stat = (v.still if side == "still" else v.moving)[mask]
        agree = (v.detector[mask] == v.truth[mask])
        with np.errstate(invalid="ignore"):
            dec = stat[None, :] <= margins[:, None] if side == "still" else stat[None, :] >= margins[:, None]
        out[:, 0] += dec.sum(axis=1)
        out[:, 1] += (dec & agree[None, :]).sum(axis=1)
    return out


def _choose(counts: np.ndarray, target: float) -> tuple[int, bool]:
    """The index of the chosen candidate (see the module) and whether it reaches ``target``."""
    decided, agree = counts[:, 0], counts[:, 1]
    ok = (decided == 0) | (agree >= target * decided - 1e-9)
    if not ok.any():
        return 0, False
    best = np.flatnonzero(ok & (decided == decided[ok].max()))
    return int(best[(best.size - 1) // 2]), True


def _cross_validate(result: HybridCalibration, videos: list[_Windows], folds: list, counts: dict[str, np.ndarray],
                    total: dict[str, np.ndarray], target: float) -> None:
    rows = []
    held = {side: np.zeros(2, dtype=np.int64) for side in _SIDES}
    for j, fold in enumerate(folds):
        (i, mask), = fold
        row: dict[str, Any] = {"video_id": videos[i].video_id, "start_s": float(videos[i].start_s[mask].min()),
                               "end_s": float(videos[i].start_s[mask].max()), "scored_windows": int(mask.sum())}
        for side, grid in _SIDES.items():
            k = _choose(total[side] - counts[side][j], target)[0]
            c = counts[side][j, k]
            held[side] += c
            row.update({f"{side}_margin": grid[k], f"{side}_decided": int(c[0]), f"{side}_agreeing": int(c[1])})
        row["to_model"] = row["scored_windows"] - row["still_decided"] - row["moving_decided"]
        rows.append(row)
    result.cv = pd.DataFrame(rows)
    result.decided = int(held["still"][0] + held["moving"][0])
    result.agreeing = int(held["still"][1] + held["moving"][1])
    result.agreement = result.agreeing / result.decided if result.decided else math.nan
    result.agreement_still = held["still"][1] / held["still"][0] if held["still"][0] else math.nan
    result.agreement_moving = held["moving"][1] / held["moving"][0] if held["moving"][0] else math.nan
    result.share_to_model = 1 - result.decided / result.scored_windows
    missed = [s for s, met in result.target_met.items() if not met]
    result.message = (
        f"Hybrid margins still_margin {result.values['still_margin']:g}, moving_margin "
        f"{result.values['moving_margin']:g} (target agreement {target:g}"
        + (f"; not reached on the {' and '.join(missed)} side even at the strictest margin" if missed else "")
        + f"). Cross-validated over {len(folds)} {result.folds.split(' of ')[0]}: {100 * result.share_to_model:.1f} % "
        f"of {result.scored_windows} scored windows sent to the model; the detector decided {result.decided}, "
        f"{result.agreeing} as the person did ({100 * result.agreement:.1f} %; still {100 * result.agreement_still:.1f}"
        f" %, moving {100 * result.agreement_moving:.1f} %). In-sample agreement {100 * result.agreement_in_sample:.1f}"
        f" % (measured on the windows the margins were chosen on); {100 * result.share_to_model_all:.1f} % of all "
        f"{result.windows} windows of the labelled videos go to the model")
    log = logger.warning if missed else logger.info
    log(result.message)


def _margin_table(total: dict[str, np.ndarray], chosen: dict[str, tuple[int, bool]], n_scored: int) -> pd.DataFrame:
    rows = []
    for side, grid in _SIDES.items():
        for k, margin in enumerate(grid):
            d, a = (int(x) for x in total[side][k])
            rows.append({"side": side, "margin": margin, "decided": d, "agreeing": a,
                         "agreement_in_sample": a / d if d else math.nan, "share_decided": d / n_scored,
                         "chosen": k == chosen[side][0]})
    return pd.DataFrame(rows)


def _write_files(result: HybridCalibration, folder: Path) -> None:
    summary = {
        "values": result.values, "previous": result.previous, "target": result.target,
        "target_met": result.target_met, "too_few": result.too_few, "message": result.message,
        "agreement_cross_validated": result.agreement, "agreement_still_cross_validated": result.agreement_still,
        "agreement_moving_cross_validated": result.agreement_moving,
        "share_to_model_cross_validated": result.share_to_model, "decided_cross_validated": result.decided,
        "agreeing_cross_validated": result.agreeing, "agreement_in_sample": result.agreement_in_sample,
        "share_to_model_all_windows": result.share_to_model_all, "scored_windows": result.scored_windows,
        "windows": result.windows, "folds": result.folds, "measurements": result.sources,
        "in_sample_note": "agreement_in_sample was measured on the windows the margins were chosen on",
    }
    files = [folder / "hybrid_calibration.json", folder / "hybrid_margins.csv"]
    atomic_write_text(files[0], json.dumps(json_safe(summary), indent=2, sort_keys=True) + "\n")
    atomic_write_text(files[1], result.margins.to_csv(index=False, float_format="%.6g", lineterminator="\n"))
    if result.cv is not None:
        files.append(folder / "hybrid_cv.csv")
        atomic_write_text(files[2], result.cv.to_csv(index=False, float_format="%.6g", lineterminator="\n"))
    result.files = files
    logger.info("Hybrid calibration files in %s", folder)
