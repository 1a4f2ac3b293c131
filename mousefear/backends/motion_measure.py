"""Measurements of the motion detector: pixel change between frames, the animal's blob, repeated frames, speed.

Pure measurement, no decision: :mod:`mousefear.backends.motion` turns these signals into behaviours, and the
calibration (:mod:`mousefear.pipeline.calibration`) fits its thresholds on them.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from mousefear.core.video import check_decoded_count, open_video, read_first_frame

__all__ = ["PIXEL_SIGNALS", "analysis_size", "deduplicate_change", "freezing_runs", "measure_motion",
           "speed_from_centroids"]

#: Per-frame arrays of :func:`measure_motion`: name -> (unit, description).
PIXEL_SIGNALS: dict[str, tuple[str, str]] = {
    "changed_pixels": ("pixel", "pixels of the shrunk crop whose grey level changed by more than pixel_cutoff "
                                "since the previous frame"),
    "raw_change": ("1", "changed_pixels divided by the pixels of the shrunk crop"),
    "repeat": ("1", "1 where the frame repeats the previous one (frame-rate conversion), else 0"),
    "centroid_x": ("pixel", "x of the centroid of the animal's blob in the full frame (NaN where none)"),
    "centroid_y": ("pixel", "y of the centroid of the animal's blob in the full frame (NaN where none)"),
    "major_axis": ("pixel", "major axis of the animal's blob (NaN where none)"),
    "blob_area": ("pixel^2", "area of the animal's blob in full-frame pixels (NaN where none)"),
}


def analysis_size(crop_width: int, crop_height: int, analysis_width: int) -> tuple[int, int]:
    """(width, height) in pixels of the shrunk crop: ``analysis_width`` wide at most, aspect ratio kept."""
    if crop_width <= analysis_width:
        return crop_width, crop_height
    return analysis_width, max(1, round(crop_height * analysis_width / crop_width))


def measure_motion(
    path: str | os.PathLike,
    *,
    crop: Sequence[int] | None = None,
    n_frames: int | None = None,
    pixel_cutoff: float = 20.0,
    blur_kernel: int = 5,
    analysis_width: int = 320,
    animal: str = "dark",
    animal_contrast: float = 40.0,
    repeat_level: float = 3.0,
    repeat_tolerance: float = 1e-4,
    locate_animal: bool = True,
    difference_histogram: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Stream a video once and measure, per frame, the pixel change and the animal's blob.

    Parameters
    ----------
    path
        Video file.
    crop
        ``(x, y, width, height)`` in pixels of the full frame; None = the whole frame.
    n_frames
        Frame count of the video (counted by decoding, from the registry); when given, a video that decodes
        to another count is an error.
    pixel_cutoff
        Grey-level change (0-255) above which a pixel counts as changed.
    blur_kernel
        Side of the Gaussian blur in pixels of the shrunk frame (odd; 0 = none).
    analysis_width
        Width in pixels the crop is shrunk to before differencing (never enlarged).
    animal, animal_contrast
        ``"dark"`` or ``"bright"``: the animal's blob is made of pixels at least ``animal_contrast`` grey levels
        darker (brighter) than the frame's median.
    repeat_level, repeat_tolerance
        A frame is a repeat of the previous one when less than ``repeat_tolerance`` of its pixels differ by
        more than ``repeat_level`` grey levels.
    locate_animal
        Find the animal's blob (False skips it: faster, for calibration).
    difference_histogram
        Also return the 256-bin histogram of the absolute grey-level differences of all pixels between
        consecutive frames that are not exact repeats (for calibration from an empty chamber).
    progress
        Show a tqdm progress bar.

    Returns
    -------
    dict
        ``changed_pixels`` (n_frames,) int64 count of changed pixels in the shrunk crop (frame 0: 0);
        ``raw_change`` (n_frames,) float64 that count divided by the crop's pixels (frame 0: copied from frame
        1); ``repeat`` (n_frames,) bool; ``centroid_x``, ``centroid_y`` (n_frames,) float64 in pixels of the
        full frame (NaN where no blob); ``major_axis`` (n_frames,) float64 in pixels of the full frame and
        ``blob_area`` (n_frames,) float64 in square pixels of the full frame (NaN where no blob); ``fps``,
        ``n_frames``, ``analysis_size`` (width, height), ``scale`` (full-frame pixels per analysis pixel);
        ``histogram`` (256,) int64 when asked for.

    Raises
    ------
    VideoError
        The video cannot be opened, the crop lies outside its frames, or it decodes to a frame count other
        than ``n_frames``.
    """
    from tqdm.auto import tqdm

    path = Path(path)
    changed: list[int] = []
    repeats: list[bool] = []
    cx: list[float] = []
    cy: list[float] = []
    major: list[float] = []
    areas: list[float] = []
    hist = np.zeros(256, dtype=np.int64)
    ksize = int(blur_kernel)
    with open_video(path) as cap:
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        frame, (x, y, w, h) = read_first_frame(cap, path, crop)
        ok = True
        aw, ah = analysis_size(w, h, int(analysis_width))
        scale = w / aw
        n_pix = aw * ah
        repeat_max_pixels = repeat_tolerance * n_pix
        prev: np.ndarray | None = None
        bar = tqdm(total=n_frames, desc=f"motion {path.stem}", unit="frame", disable=not progress, leave=False)
        try:
            while ok:
                gray = cv2.cvtColor(frame[y:y + h, x:x + w], cv2.COLOR_BGR2GRAY)
                if (aw, ah) != (w, h):
                    gray = cv2.resize(gray, (aw, ah), interpolation=cv2.INTER_AREA)
                if ksize > 1:
                    gray = cv2.GaussianBlur(gray, (ksize, ksize), 0)
                if prev is None:
                    changed.append(0)
                    repeats.append(False)
                else:
                    diff = cv2.absdiff(gray, prev)
                    changed.append(int(np.count_nonzero(diff > pixel_cutoff)))
                    n_level = int(np.count_nonzero(diff > repeat_level))
                    repeats.append(n_level < repeat_max_pixels)
                    if difference_histogram and n_level > 0:  # exact repeats carry no camera noise
                        hist += np.bincount(diff.ravel(), minlength=256)
                prev = gray
                if locate_animal:
                    bx, by, bl, ba = _locate(gray, animal, animal_contrast)
                    cx.append(x + (bx + 0.5) * scale - 0.5)
                    cy.append(y + (by + 0.5) * scale - 0.5)
                    major.append(bl * scale)
                    areas.append(ba * scale * scale)
                bar.update(1)
                ok, frame = cap.read()
        finally:
            bar.close()
    n = len(changed)
    check_decoded_count(path, n, n_frames)
    counts = np.asarray(changed, dtype=np.int64)
    raw = counts / float(n_pix)
    if n > 1:
        raw[0] = raw[1]
    nan = np.full(n, np.nan)
    out: dict[str, Any] = {
        "changed_pixels": counts,
        "raw_change": raw,
        "repeat": np.asarray(repeats, dtype=bool),
        "centroid_x": np.asarray(cx, dtype=np.float64) if locate_animal else nan,
        "centroid_y": np.asarray(cy, dtype=np.float64) if locate_animal else nan.copy(),
        "major_axis": np.asarray(major, dtype=np.float64) if locate_animal else nan.copy(),
        "blob_area": np.asarray(areas, dtype=np.float64) if locate_animal else nan.copy(),
        "fps": fps,
        "n_frames": n,
        "analysis_size": (aw, ah),
        "scale": scale,
    }
    if difference_histogram:
        out["histogram"] = hist
    return out


def _locate(gray: np.ndarray, animal: str, contrast: float) -> tuple[float, float, float, float]:
    """Centroid (x, y), major axis and area of the largest blob not touching the edge, in analysis px (or NaN)."""
    background = float(np.median(gray[::4, ::4]))  # every 16th pixel gives the median to a grey level or so
    if animal == "dark":
        mask = (gray < background - contrast).astype(np.uint8)
    else:
        mask = (gray > background + contrast).astype(np.uint8)
    n, labels, stats, centroids = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if n <= 1:
        return math.nan, math.nan, math.nan, math.nan
    hgt, wid = gray.shape
    left, top, bw, bh, area = (stats[1:, i] for i in range(5))
    touches = (left == 0) | (top == 0) | (left + bw >= wid) | (top + bh >= hgt)
    inner = np.flatnonzero(~touches)
    if not inner.size:  # only walls and rims (or an animal merged with them): no position this frame
        return math.nan, math.nan, math.nan, math.nan
    pick = int(inner[np.argmax(area[inner])])
    comp = pick + 1
    mx, my = centroids[comp]
    roi = (labels[top[pick]:top[pick] + bh[pick], left[pick]:left[pick] + bw[pick]] == comp).astype(np.uint8)
    m = cv2.moments(roi, binaryImage=True)
    if m["m00"] <= 0:
        return math.nan, math.nan, math.nan, math.nan
    a, b, c = m["mu20"] / m["m00"], m["mu02"] / m["m00"], m["mu11"] / m["m00"]
    lam = (a + b) / 2 + math.sqrt(((a - b) / 2) ** 2 + c * c)
    return float(mx), float(my), 4.0 * math.sqrt(max(lam, 0.0)), float(area[pick])


# ------------------------------------------------------------------------------------------------ signals
def deduplicate_change(raw_change: np.ndarray, repeat: np.ndarray, max_repeat_frames: int) -> np.ndarray:
    """Replace the change of short runs of repeated frames by the change of the next real frame.

    Parameters
    ----------
    raw_change
        (n_frames,) float change of each frame against the previous one.
    repeat
        (n_frames,) bool, True where a frame repeats the previous one.
    max_repeat_frames
        Runs of at most this many consecutive repeats are frame-rate artefacts; longer runs are stillness and
        keep their values.

    Returns
    -------
    np.ndarray
        (n_frames,) float64 change with the artefacts filled: each frame of a short run gets the change of the
        first frame after the run (the movement since the last distinct frame), or of the frame before the run
        when the run ends the video. A run at the very start keeps its values.
    """
    change = np.asarray(raw_change, dtype=np.float64).copy()
    rep = np.asarray(repeat, dtype=bool)
    n = change.size
    if n == 0 or max_repeat_frames <= 0:
        return change
    edges = np.diff(np.concatenate(([0], rep.astype(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    for s, e in zip(starts, ends, strict=True):
        if e - s > max_repeat_frames:
            continue
        if e < n:
            change[s:e] = change[e]
        elif s > 0:
            change[s:e] = change[s - 1]
    return change


def freezing_runs(change: np.ndarray, threshold: float, min_frames: int) -> np.ndarray:
    """Frames in runs where ``change < threshold`` for at least ``min_frames`` consecutive frames.

    Parameters
    ----------
    change
        (n_frames,) float change per frame (fraction of changed pixels).
    threshold
        Freezing while the change is strictly below this.
    min_frames
        Shortest run, in frames, that counts (values below 1 count as 1).

    Returns
    -------
    np.ndarray
        (n_frames,) bool, True for frames of a long enough run.
    """
    still = np.asarray(change) < threshold
    out = np.zeros(still.size, dtype=bool)
    if not still.any():
        return out
    edges = np.diff(np.concatenate(([0], still.astype(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    keep = (ends - starts) >= max(1, int(min_frames))
    for s, e in zip(starts[keep], ends[keep], strict=True):
        out[s:e] = True
    return out


def _median5(values: np.ndarray) -> np.ndarray:
    if values.size < 5:
        return values.copy()
    padded = np.concatenate((values[:1].repeat(2), values, values[-1:].repeat(2)))
    return np.median(np.lib.stride_tricks.sliding_window_view(padded, 5), axis=1)


def speed_from_centroids(cx: np.ndarray, cy: np.ndarray, fps: float, window_seconds: float = 0.2) -> np.ndarray:
    """Speed of the animal in full-frame pixels per second from per-frame centroids.

    Missing centroids (NaN) are filled by linear interpolation (held at the ends); both coordinates are
    median-filtered over 5 frames (a blob picked wrongly in one frame does not make a dash); the speed at a
    frame is the distance between the centroids ``h = max(1, round(window_seconds * fps / 2))`` frames before
    and after it, divided by the time between them (clamped at the ends of the video).

    Parameters
    ----------
    cx, cy
        (n_frames,) float centroid coordinates in pixels.
    fps
        Frames per second.
    window_seconds
        Time over which the displacement is measured.

    Returns
    -------
    np.ndarray
        (n_frames,) float64 speed in pixels per second; NaN everywhere when no centroid was found.
    """
    cx, cy = np.asarray(cx, dtype=np.float64), np.asarray(cy, dtype=np.float64)
    n = cx.size
    good = np.isfinite(cx) & np.isfinite(cy)
    if n == 0 or not good.any():
        return np.full(n, np.nan)
    idx = np.arange(n)
    fx = _median5(np.interp(idx, idx[good], cx[good]))
    fy = _median5(np.interp(idx, idx[good], cy[good]))
    h = max(1, round(window_seconds * fps / 2))
    lo, hi = np.clip(idx - h, 0, n - 1), np.clip(idx + h, 0, n - 1)
    dt = np.maximum(hi - lo, 1) / fps
    return np.hypot(fx[hi] - fx[lo], fy[hi] - fy[lo]) / dt
