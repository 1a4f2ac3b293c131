"""Which seconds to score next: those whose label would change the motion calibration the most.

:func:`suggest_seconds` looks at every registered video's unscored seconds (no frame labelled in
``labels/<video_id>.csv``) through the calibration's grid of thresholds
(:data:`~mousefear.pipeline.motion_seconds.GRIDS`):

1. **The thresholds that fit the scoring so far**: the grid points whose freezing F1 per second on the scored
   seconds is within :data:`COMMITTEE_TOLERANCE` of the best (before any freezing second is scored: the points
   with the fewest seconds wrongly called freezing; before anything is scored: the whole grid).
2. **Disagreement**: for each unscored second, the fraction ``p`` of those thresholds that decide it freezing;
   its disagreement is ``4 p (1 - p)`` (1 when half of them say freezing, 0 when they all agree). Scoring such
   a second rules out the thresholds that got it wrong, so it narrows the calibration most: these are the
   seconds near the threshold, and the seconds where the measures disagree (the body still while the centroid
   drifts, or the reverse), whatever the current thresholds.
3. **Margin** (to order seconds of equal disagreement): how far the second is from the current thresholds'
   decision, as ``|log(r)|`` of the largest ratio measure / threshold over its frames (``animal``: body change
   / ``body_change_threshold`` and centroid speed / ``still_speed``; ``pixels``: change / ``freeze_threshold``);
   0 = right at the threshold.
4. **Spread**: the seconds are taken one at a time, best first, with the disagreement of each candidate divided
   by 1 + the number already taken from its video + the number already taken from its session, and never
   within :data:`MIN_GAP_SECONDS` of a second already taken from the same video, so a list of 20 covers the
   videos and sessions instead of one long bout.

Seconds in which the animal was not found in some frame (no prediction) are never suggested. Measurements come
from a run that stored them with the current settings, else the video is measured once (``measure=False``:
videos without stored measurements are left out, with a log line).
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import pandas as pd

from mousefear.core.project import ConfigLike, Project
from mousefear.errors import ConfigError

__all__ = ["COMMITTEE_TOLERANCE", "MIN_GAP_SECONDS", "SUGGEST_COLUMNS", "suggest_seconds"]

logger = logging.getLogger(__name__)

#: Grid points whose in-sample F1 is within this of the best count as fitting the scoring.
COMMITTEE_TOLERANCE = 0.05
#: Seconds suggested from one video are at least this many seconds apart.
MIN_GAP_SECONDS = 5
#: Columns of the table :func:`suggest_seconds` returns.
SUGGEST_COLUMNS = ("rank", "video_id", "subject", "session", "second", "start_s", "end_s", "start_frame",
                   "end_frame", "disagreement", "freezing_share", "margin", "predicted", "reason")


def _committee(seconds: list[Any], shape: tuple[int, ...]) -> np.ndarray:
    """(n_grid,) bool: the grid points that fit the scored seconds (see the module)."""
    from mousefear.pipeline.motion_seconds import f1_counts, grid_counts

    n_grid = int(np.prod(shape))
    counts = np.zeros((n_grid, 3), dtype=np.int64)
    for vs in seconds:
        if vs.scored.any():
            counts += grid_counts(vs.pred, vs.truth, vs.scored)
    if not counts.any():
        return np.ones(n_grid, dtype=bool)
    if counts[0, 0] + counts[0, 2] == 0:  # no scored freezing second: the fewest false freezing seconds
        return counts[:, 1] == counts[:, 1].min()
    f1 = np.nan_to_num(f1_counts(counts)[2], nan=0.0)
    return f1 >= f1.max() - COMMITTEE_TOLERANCE - 1e-12


def _second_max(values: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """(n_seconds,) the largest finite value of each second (NaN when none)."""
    out = np.full(len(bounds), np.nan)
    for k, (a, b) in enumerate(bounds):
        part = values[a:b]
        part = part[np.isfinite(part)]
        if part.size:
            out[k] = part.max()
    return out


def suggest_seconds(
    config: ConfigLike,
    n: int = 20,
    *,
    measure: bool = True,
    progress: bool = True,
) -> pd.DataFrame:
    """Rank the unscored seconds by how much scoring them would change the motion calibration.

    Parameters
    ----------
    config
        Path of config.yaml or the project folder, or an opened :class:`~mousefear.core.project.Project`.
    n
        How many seconds to suggest (at least 1).
    measure
        Measure videos whose measurements no run stored (decoding them); False leaves them out.
    progress
        Show tqdm progress bars while a video is measured.

    Returns
    -------
    pandas.DataFrame
        Up to ``n`` rows, best first, columns :data:`SUGGEST_COLUMNS`: ``rank`` (1, 2, ...), ``video_id``,
        ``subject``, ``session``, ``second`` (index of the second in its video), ``start_s``, ``end_s``
        (seconds of video), ``start_frame``, ``end_frame`` (half-open), ``disagreement`` (0-1, see the module),
        ``freezing_share`` (fraction of the fitting thresholds that call it freezing), ``margin`` (``|log|`` of
        the ratio to the current threshold; 0 = at it), ``predicted`` (the current thresholds' decision:
        ``freezing_behavior`` or ``moving_behavior``) and ``reason`` (one line). ``attrs``: ``committee`` (grid
        points that fit the scoring), ``grid`` (their number in all), ``scored_seconds`` and ``left_out``
        (videos without measurements).

    Raises
    ------
    ConfigError
        ``n`` is not a positive integer.
    VideoError
        A video to measure cannot be read.
    """
    from mousefear.backends.motion import MotionBackend
    from mousefear.pipeline.motion_seconds import grid_points, video_seconds

    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ConfigError(f"Expected n to be a positive whole number of seconds, but got {n!r}")
    project = Project.open(config)
    backend = MotionBackend.from_settings(project.settings)
    points, shape = grid_points(backend.method)
    seconds, left_out = [], []
    for v in project.videos:
        vs = video_seconds(project, backend, v, points, measure=measure, progress=progress)
        if vs is None:
            left_out.append(v.id)
        else:
            seconds.append(vs)
    if left_out:
        logger.info("No stored measurements of %s (classify them with the motion backend): left out",
                    ", ".join(left_out))
    committee = _committee(seconds, shape)
    freeze, moving = project.settings.freezing_behavior, backend.moving_behavior
    rows = []
    for vs in seconds:
        cand = vs.unscored & vs.found
        if not cand.any():
            continue
        share = vs.pred[committee][:, cand].mean(axis=0)
        fps = vs.video.fps
        ratios = {name: _second_max(r, vs.bounds)
                  for name, r in backend.threshold_ratios(vs.measurements, fps=fps).items()}
        stacked = np.stack(list(ratios.values()))
        worst = np.where(np.isfinite(stacked).any(axis=0), np.nan_to_num(stacked, nan=-np.inf).max(axis=0), np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            margin = np.abs(np.log(worst))
        for j, k in enumerate(np.flatnonzero(cand)):
            parts = [f"{name} {r[k]:.2g} x threshold" for name, r in ratios.items() if np.isfinite(r[k])]
            still = [name for name, r in ratios.items() if np.isfinite(r[k]) and r[k] < 1]
            moving_ = [name for name, r in ratios.items() if np.isfinite(r[k]) and r[k] >= 1]
            if still and moving_:
                parts.append(f"measures disagree ({', '.join(still)} still, {', '.join(moving_)} moving)")
            p = float(share[j])
            rows.append({"video_id": vs.video.id, "subject": vs.video.subject, "session": vs.video.session,
                         "second": int(k), "start_s": round(vs.bounds[k, 0] / fps, 6),
                         "end_s": round(vs.bounds[k, 1] / fps, 6), "start_frame": int(vs.bounds[k, 0]),
                         "end_frame": int(vs.bounds[k, 1]), "disagreement": 4 * p * (1 - p), "freezing_share": p,
                         "margin": float(margin[k]) if np.isfinite(margin[k]) else math.inf,
                         "predicted": freeze if vs.current[k] else moving,
                         "reason": f"{100 * p:.0f} % of the fitting thresholds call it freezing; " + "; ".join(parts)})
    table = _spread(pd.DataFrame(rows, columns=[c for c in SUGGEST_COLUMNS if c != "rank"]), n)
    table.attrs.update({"committee": int(committee.sum()), "grid": len(points), "left_out": left_out,
                        "scored_seconds": int(sum(vs.scored.sum() for vs in seconds))})
    return table


def _spread(cands: pd.DataFrame, n: int) -> pd.DataFrame:
    """Take ``n`` seconds one at a time (see the module, step 4)."""
    chosen: list[int] = []
    if not cands.empty:
        dis = cands["disagreement"].to_numpy(dtype=np.float64)
        margin = cands["margin"].to_numpy(dtype=np.float64)
        video = cands["video_id"].to_numpy()
        session = cands["session"].to_numpy()
        start = cands["start_s"].to_numpy(dtype=np.float64)
        free = np.ones(len(cands), dtype=bool)
        taken_v: dict[Any, int] = {}
        taken_s: dict[Any, int] = {}
        while len(chosen) < n and free.any():
            penalty = 1.0 + np.array([taken_v.get(v, 0) + taken_s.get(s, 0) for v, s in zip(video, session,
                                                                                             strict=True)])
            key = np.lexsort((np.arange(len(cands)), margin * penalty, -(dis / penalty)))
            pick = int(next(i for i in key if free[i]))
            chosen.append(pick)
            taken_v[video[pick]] = taken_v.get(video[pick], 0) + 1
            taken_s[session[pick]] = taken_s.get(session[pick], 0) + 1
            free &= ~((video == video[pick]) & (np.abs(start - start[pick]) < MIN_GAP_SECONDS))
    out = cands.iloc[chosen].reset_index(drop=True)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    return out
