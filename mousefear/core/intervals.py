"""Frame ranges, bouts and windows: pure functions on arrays (no files, no project).

Frame ranges are half-open everywhere in mousefear: a window or bout ``[start_frame, end_frame)`` covers frames
``start_frame, start_frame + 1, ..., end_frame - 1`` and lasts ``end_frame - start_frame`` frames. Frames are
counted from 0. Bouts and per-frame label vectors convert both ways (:func:`labels_to_bouts`,
:func:`bouts_to_labels`); per-window probabilities spread onto frames (:func:`windows_to_frames`) and per-frame
probabilities average into windows (:func:`window_means`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import numpy as np
import pandas as pd

from mousefear.errors import ConfigError, LabelError

__all__ = [
    "bouts_to_labels",
    "sample_indices",
    "window_bounds",
    "window_edges",
    "window_partial",
    "check_probabilities",
    "check_windows",
    "labels_to_bouts",
    "labels_to_codes",
    "second_bounds",
    "whole_seconds",
    "window_means",
    "windows_to_frames",
]

_PROB_ATOL = 1e-3
_RANGE_ATOL = 1e-6

# --------------------------------------------------------------------------------------------------------
# Bouts <-> per-frame labels
# --------------------------------------------------------------------------------------------------------


def _empty_bouts() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "behavior": pd.Series([], dtype=object),
            "start_frame": pd.Series([], dtype=np.int64),
            "end_frame": pd.Series([], dtype=np.int64),
            "n_frames": pd.Series([], dtype=np.int64),
        }
    )


def labels_to_codes(labels: Any, behaviors: Sequence[str] | None) -> tuple[np.ndarray, list[str]]:
    """Turn per-frame names or indices into int64 codes (-1 = none) and the list of names they index."""
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise ValueError(f"Expected a 1-D per-frame label array, but got shape {arr.shape}")
    names = None if behaviors is None else [str(b) for b in behaviors]
    if arr.dtype.kind == "b":
        raise ValueError("Expected behaviour names or integer class indices, but got a boolean array")
    if arr.dtype.kind in "iu":
        if names is None:
            raise ValueError("Expected `behaviors` to be given with integer class indices, but got None")
        codes = arr.astype(np.int64)
        bad = (codes < -1) | (codes >= len(names))
        if bad.any():
            raise LabelError(
                f"Expected class indices in [-1, {len(names)}), but got {codes[bad][0]} "
                f"at frame {int(np.flatnonzero(bad)[0])}"
            )
        return codes, names
    obj = arr.astype(object)
    missing = pd.isna(obj) | (obj == "")
    present = obj[~missing]
    if present.size and not all(isinstance(v, str) for v in present):
        bad = next(v for v in present if not isinstance(v, str))
        raise ValueError(f"Expected behaviour names (str), but got {bad!r}")
    uniq, inverse = np.unique(present.astype(str), return_inverse=True)
    if names is None:
        names = [str(u) for u in uniq]
        mapping = np.arange(len(uniq))
    else:
        unknown = [str(u) for u in uniq if u not in names]
        if unknown:
            raise LabelError(f"Expected behaviours among {names}, but got unknown {unknown}")
        mapping = np.array([names.index(str(u)) for u in uniq], dtype=np.int64)
    codes = np.full(arr.shape[0], -1, dtype=np.int64)
    codes[~missing] = mapping[inverse] if uniq.size else []
    return codes, names


def labels_to_bouts(labels: Any, behaviors: Sequence[str] | None = None) -> pd.DataFrame:
    """Collapse a per-frame label vector into bouts (runs of the same behaviour).

    Parameters
    ----------
    labels : array-like, shape (n_frames,)
        Either behaviour names (str/object array; ``""``, None or NaN = unlabelled) or integer class indices
        into ``behaviors`` (-1 = unlabelled).
    behaviors : sequence of str, optional
        Class names. Required with integer indices; with names, every name must be one of them.

    Returns
    -------
    pandas.DataFrame
        One row per bout, sorted by ``start_frame``, with columns ``behavior`` (str), ``start_frame``,
        ``end_frame`` (half-open) and ``n_frames`` (int64). Unlabelled runs produce no bout.

    Raises
    ------
    mousefear.errors.LabelError
        An index is out of range or a name is not in ``behaviors``.
    """
    codes, names = labels_to_codes(labels, behaviors)
    if codes.size == 0:
        return _empty_bouts()
    change = np.flatnonzero(codes[1:] != codes[:-1]) + 1
    starts = np.concatenate(([0], change)).astype(np.int64)
    ends = np.concatenate((change, [codes.size])).astype(np.int64)
    run_codes = codes[starts]
    keep = run_codes >= 0
    starts, ends, run_codes = starts[keep], ends[keep], run_codes[keep]
    if starts.size == 0:
        return _empty_bouts()
    return pd.DataFrame(
        {
            "behavior": pd.Series(np.asarray(names, dtype=object)[run_codes], dtype=object),
            "start_frame": starts,
            "end_frame": ends,
            "n_frames": ends - starts,
        }
    )


def bouts_to_labels(bouts: pd.DataFrame, n_frames: int) -> np.ndarray:
    """Expand bouts into a per-frame label vector.

    Parameters
    ----------
    bouts : pandas.DataFrame
        Columns ``behavior`` (str), ``start_frame`` and ``end_frame`` (int, half-open); other columns are
        ignored.
    n_frames : int
        Length of the video in frames.

    Returns
    -------
    numpy.ndarray, shape (n_frames,), dtype object
        Behaviour name per frame, ``""`` where no bout covers the frame.

    Raises
    ------
    mousefear.errors.LabelError
        A bout is empty, falls outside ``[0, n_frames)``, has no name, or overlaps another bout.
    """
    n_frames = check_count(n_frames, "n_frames", allow_zero=True)
    missing = {"behavior", "start_frame", "end_frame"} - set(bouts.columns)
    if missing:
        raise ValueError(
            f"Expected bout columns behavior, start_frame, end_frame, but missing {sorted(missing)}"
        )
    out = np.full(n_frames, "", dtype=object)
    if len(bouts) == 0:
        return out
    starts = np.asarray(bouts["start_frame"], dtype=np.int64)
    ends = np.asarray(bouts["end_frame"], dtype=np.int64)
    names = np.asarray(bouts["behavior"], dtype=object)
    for i in range(len(bouts)):
        if not isinstance(names[i], str) or not names[i]:
            raise LabelError(f"Expected a behaviour name in bout {i}, but got {names[i]!r}")
        if not 0 <= starts[i] < ends[i] <= n_frames:
            raise LabelError(
                f"Expected bout {i} ({names[i]}) to satisfy 0 <= start_frame < end_frame <= {n_frames}, "
                f"but got [{starts[i]}, {ends[i]})"
            )
    order = np.argsort(starts, kind="stable")
    s, e = starts[order], ends[order]
    overlap = np.flatnonzero(s[1:] < e[:-1])
    if overlap.size:
        a, b = order[overlap[0]], order[overlap[0] + 1]
        raise LabelError(
            f"Expected bouts not to overlap, but bout {a} ({names[a]}, [{starts[a]}, {ends[a]})) overlaps "
            f"bout {b} ({names[b]}, [{starts[b]}, {ends[b]}))"
        )
    for i in range(len(bouts)):
        out[starts[i] : ends[i]] = names[i]
    return out


# --------------------------------------------------------------------------------------------------------
# Validation helpers (raise ValueError with "Expected ..., but got ..." messages)
# --------------------------------------------------------------------------------------------------------


def check_count(value: Any, name: str, allow_zero: bool = False) -> int:
    ok = isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)
    if not ok or value < (0 if allow_zero else 1):
        what = "a non-negative integer" if allow_zero else "a positive integer"
        raise ValueError(f"Expected {name} to be {what}, but got {value!r}")
    return int(value)


def check_probabilities(probs: Any, n_rows: int, n_behaviors: int | None, name: str) -> np.ndarray:
    """Check (n_rows, n_behaviors) probabilities: rows all NaN, or in [0, 1] and summing to 1."""
    arr = np.asarray(probs, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] != n_rows or (n_behaviors is not None and arr.shape[1] != n_behaviors):
        want = f"({n_rows}, {'n_behaviors' if n_behaviors is None else n_behaviors})"
        raise ValueError(f"Expected {name} of shape {want}, but got {arr.shape}")
    nan = np.isnan(arr)
    row_nan = nan.all(axis=1)
    partly = np.flatnonzero(nan.any(axis=1) & ~row_nan)
    if partly.size:
        raise ValueError(
            f"Expected {name} rows to be all NaN or all numbers, but row {partly[0]} is partly NaN"
        )
    valid = arr[~row_nan]
    if valid.size:
        if np.isinf(valid).any() or (valid < -_RANGE_ATOL).any() or (valid > 1 + _RANGE_ATOL).any():
            bad = valid[np.isinf(valid) | (valid < -_RANGE_ATOL) | (valid > 1 + _RANGE_ATOL)][0]
            raise ValueError(f"Expected {name} in [0, 1], but got {bad}")
        sums = valid.sum(axis=1)
        off = np.flatnonzero(np.abs(sums - 1.0) > _PROB_ATOL)
        if off.size:
            row = np.flatnonzero(~row_nan)[off[0]]
            raise ValueError(
                f"Expected {name} rows to sum to 1 (within 1e-3), but row {row} sums to {sums[off[0]]}"
            )
    return arr


def check_windows(
    start_frame: Any, end_frame: Any, probabilities: Any, n_frames: int, n_behaviors: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n_frames = check_count(n_frames, "n_frames")
    start = np.asarray(start_frame)
    end = np.asarray(end_frame)
    for name, a in (("start_frame", start), ("end_frame", end)):
        if a.ndim != 1:
            raise ValueError(f"Expected {name} to be 1-D, but got shape {a.shape}")
        if a.size and a.dtype.kind not in "iu":
            raise ValueError(f"Expected {name} to hold integers, but got dtype {a.dtype}")
    if start.shape != end.shape:
        raise ValueError(
            f"Expected start_frame and end_frame of equal length, but got {start.size} and {end.size}"
        )
    start, end = start.astype(np.int64), end.astype(np.int64)
    bad = np.flatnonzero(~((start >= 0) & (start < end) & (end <= n_frames)))
    if bad.size:
        i = bad[0]
        raise ValueError(
            f"Expected every window to satisfy 0 <= start_frame < end_frame <= n_frames={n_frames}, "
            f"but window {i} is [{start[i]}, {end[i]})"
        )
    probs = check_probabilities(probabilities, start.size, n_behaviors, "probabilities")
    return start, end, probs


# --------------------------------------------------------------------------------------------------------
# Windows -> frames
# --------------------------------------------------------------------------------------------------------


def windows_to_frames(
    start_frame: Any, end_frame: Any, probabilities: Any, n_frames: int
) -> tuple[np.ndarray, np.ndarray]:
    """Spread per-window probabilities onto frames.

    Each frame gets the mean probability of the windows covering it (several when windows overlap, e.g.
    stride < window length). Windows whose probability row is NaN (an unparseable answer) are ignored.

    Parameters
    ----------
    start_frame, end_frame : array-like of int, shape (n_windows,)
        Half-open frame range ``[start_frame, end_frame)`` of each window, within ``[0, n_frames]``.
    probabilities : array-like of float, shape (n_windows, n_behaviors)
        Probability per class; each row sums to 1 or is all NaN.
    n_frames : int
        Number of frames of the video.

    Returns
    -------
    frame_probabilities : numpy.ndarray, shape (n_frames, n_behaviors), float32
        Mean probability of the valid windows covering each frame; NaN where none covers it.
    frame_label : numpy.ndarray, shape (n_frames,), int16
        Argmax of ``frame_probabilities`` (first class on ties); -1 where no valid window covers the frame.

    Notes
    -----
    Uses difference arrays and a cumulative sum: time O(n_windows + n_frames * n_behaviors), memory
    O(n_frames * n_behaviors).
    """
    start, end, probs = check_windows(start_frame, end_frame, probabilities, n_frames)
    n_behaviors = probs.shape[1]
    valid = ~np.isnan(probs).any(axis=1)
    start, end, probs = start[valid], end[valid], probs[valid]

    sums = np.zeros((n_frames + 1, n_behaviors), dtype=np.float64)
    np.add.at(sums, start, probs)
    np.add.at(sums, end, -probs)
    np.cumsum(sums, axis=0, out=sums)
    counts = np.zeros(n_frames + 1, dtype=np.int64)
    np.add.at(counts, start, 1)
    np.add.at(counts, end, -1)
    np.cumsum(counts, out=counts)

    covered = counts[:n_frames] > 0
    frame_probabilities = np.full((n_frames, n_behaviors), np.nan, dtype=np.float32)
    mean = sums[:n_frames][covered] / counts[:n_frames][covered, None]
    frame_probabilities[covered] = np.clip(mean, 0.0, 1.0)
    frame_label = np.full(n_frames, -1, dtype=np.int16)
    frame_label[covered] = np.argmax(frame_probabilities[covered], axis=1)
    return frame_probabilities, frame_label


def window_means(
    frame_probabilities: np.ndarray, window_bounds: Sequence[tuple[int, int]] | np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-window probabilities as the mean of the frame probabilities inside each window.

    Frames without a decision (a NaN row, e.g. where the motion detector found no animal) are left out of the
    mean; a window none of whose frames has one gets a NaN row (no answer).

    Parameters
    ----------
    frame_probabilities
        (n_frames, n_behaviors) float probabilities per frame.
    window_bounds
        (n_windows, 2) ``[start_frame, end_frame)`` pairs with ``0 <= start < end <= n_frames``.

    Returns
    -------
    start_frame, end_frame : np.ndarray
        (n_windows,) int64.
    probabilities : np.ndarray
        (n_windows, n_behaviors) float32 means.

    Raises
    ------
    ValueError
        A window is empty or reaches outside the video.
    """
    n_frames = frame_probabilities.shape[0]
    bounds = np.asarray(window_bounds, dtype=np.int64).reshape(-1, 2)
    start, end = bounds[:, 0].copy(), bounds[:, 1].copy()
    bad = np.flatnonzero(~((start >= 0) & (start < end) & (end <= n_frames)))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"Expected windows with 0 <= start_frame < end_frame <= {n_frames}, but window {i} is "
                         f"[{start[i]}, {end[i]})")
    probs_in = np.asarray(frame_probabilities, dtype=np.float64)
    decided = ~np.isnan(probs_in).any(axis=1)  # frames without a decision (NaN rows) are left out of the means
    cum = np.zeros((n_frames + 1, probs_in.shape[1]), dtype=np.float64)
    np.cumsum(np.where(decided[:, None], probs_in, 0.0), axis=0, out=cum[1:])
    count = np.concatenate(([0], np.cumsum(decided)))
    n = (count[end] - count[start])[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        probs = np.where(n > 0, (cum[end] - cum[start]) / np.maximum(n, 1), np.nan)
    return start, end, probs.astype(np.float32)


def second_bounds(n_frames: int, fps: float) -> np.ndarray:
    """(n_seconds, 2) int64 half-open frame ranges of the video's seconds: second ``k`` is frames
    ``[round(k * fps), round((k + 1) * fps))``, the last one cut at ``n_frames`` (a partial second is kept)."""
    n_sec = math.ceil(n_frames / fps - 1e-9) if n_frames else 0
    k = np.arange(n_sec + 1)
    edges = np.minimum(np.round(k * fps).astype(np.int64), n_frames)
    bounds = np.stack([edges[:-1], edges[1:]], axis=1)
    return bounds[bounds[:, 1] > bounds[:, 0]]


def whole_seconds(mask: Any, fps: float) -> np.ndarray:
    """Per second (:func:`second_bounds`), whether ``mask`` is True for every frame of it.

    Parameters
    ----------
    mask
        (n_frames,) bool per frame (e.g. frames decided freezing).
    fps
        Frames per second.

    Returns
    -------
    np.ndarray
        (n_seconds,) bool: a second is freezing when the whole second is.
    """
    m = np.asarray(mask, dtype=bool)
    bounds = second_bounds(m.size, fps)
    if not bounds.size:
        return np.zeros(0, dtype=bool)
    bad = np.concatenate(([0], np.cumsum(~m)))
    return (bad[bounds[:, 1]] - bad[bounds[:, 0]]) == 0


# ------------------------------------------------------------------------------------------------ window bounds
def _exact(value: float) -> Fraction:
    """``value`` as the exact fraction of its shortest decimal form (29.97 -> 2997/100)."""
    return Fraction(repr(float(value)))


def _round_half_up(value: Fraction) -> int:
    return math.floor(value + Fraction(1, 2))


def window_edges(n_frames: int, fps: float, window_seconds: float,
                  stride_seconds: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Window starts and nominal (unclipped) ends, both (n_windows,) int64."""
    stride_seconds = window_seconds if stride_seconds is None else stride_seconds
    if not (isinstance(n_frames, int | np.integer) and n_frames >= 0):
        raise ValueError(f"Expected n_frames to be a whole number >= 0, but got {n_frames!r}")
    for name, value in (("fps", fps), ("window_seconds", window_seconds), ("stride_seconds", stride_seconds)):
        if not (isinstance(value, int | float | np.number) and math.isfinite(value) and value > 0):
            raise ConfigError(f"Expected {name} to be a positive number, but got {value!r}")
    fps_q, win_q, stride_q = _exact(fps), _exact(window_seconds), _exact(stride_seconds)
    if _round_half_up(win_q * fps_q) < 1 or _round_half_up(stride_q * fps_q) < 1:
        raise ConfigError(
            f"Expected window_seconds and stride_seconds to span at least one frame at {fps} fps, but got "
            f"window_seconds={window_seconds}, stride_seconds={stride_seconds}"
        )
    starts: list[int] = []
    ends: list[int] = []
    k = 0
    while True:
        offset = k * stride_q * fps_q
        start = _round_half_up(offset)
        if start >= n_frames:
            break
        starts.append(start)
        ends.append(_round_half_up(offset + win_q * fps_q))
        k += 1
    return np.asarray(starts, dtype=np.int64), np.asarray(ends, dtype=np.int64)


def window_bounds(n_frames: int, fps: float, window_seconds: float = 1.0,
                  stride_seconds: float | None = None) -> np.ndarray:
    """Frame bounds of the windows of a video.

    Window ``k`` starts at frame ``round(k * stride_seconds * fps)`` and ends (exclusive) at
    ``round((k * stride_seconds + window_seconds) * fps)``, clipped to ``n_frames``. Both are computed from ``k``
    in exact rational arithmetic on the decimal values given (29.97 is 2997/100, not its binary
    approximation) and rounded half up, so there is no drift however long the video, and with
    ``stride_seconds == window_seconds`` each window ends exactly where the next starts. Every window that starts
    before ``n_frames`` is included; those cut short by the end of the video are *partial*
    (see :func:`window_partial`).

    Parameters
    ----------
    n_frames
        Frames of the video (counted by decoding).
    fps
        Frames per second.
    window_seconds
        Length of a window in seconds.
    stride_seconds
        Seconds between the starts of consecutive windows (None = ``window_seconds``: back to back). Smaller than
        the window gives overlapping windows, larger leaves gaps.

    Returns
    -------
    np.ndarray
        (n_windows, 2) int64 ``[start_frame, end_frame)`` per window.

    Raises
    ------
    ConfigError
        A length that is not a positive number, or a window or stride shorter than one frame.
    """
    starts, ends = window_edges(n_frames, fps, window_seconds, stride_seconds)
    return np.stack([starts, np.minimum(ends, n_frames)], axis=1).reshape(-1, 2)


def window_partial(n_frames: int, fps: float, window_seconds: float = 1.0,
                   stride_seconds: float | None = None) -> np.ndarray:
    """(n_windows,) bool: which windows of :func:`window_bounds` are cut short by the end of the video."""
    _, ends = window_edges(n_frames, fps, window_seconds, stride_seconds)
    return ends > n_frames


def sample_indices(start: int, end: int, k: int) -> np.ndarray:
    """Frames sampled evenly inside ``[start, end)``: the centres of ``k`` equal sub-intervals.

    Frame ``j`` (``j = 0 .. k-1``) is ``start + floor((2j + 1) * (end - start) / (2k))``, in integer
    arithmetic. There are always exactly ``k`` indices, ascending: when the window holds fewer than ``k``
    frames (a short partial window), frames repeat, each as evenly as possible, so every window shows the
    model the same number of images.

    Parameters
    ----------
    start, end
        Half-open frame range, ``end > start``.
    k
        Number of frames to sample, >= 1.

    Returns
    -------
    np.ndarray
        (k,) int64 frame indices.
    """
    start, end, k = int(start), int(end), int(k)
    if end <= start:
        raise ValueError(f"Expected end > start, but got start={start}, end={end}")
    if k < 1:
        raise ValueError(f"Expected k >= 1 frames per window, but got {k}")
    j = np.arange(k, dtype=np.int64)
    return start + ((2 * j + 1) * (end - start)) // (2 * k)
