"""Measurements of the motion detector relative to the animal (``classification.motion.method: animal``).

Pure measurement, no decision: :mod:`mousefear.backends.motion` turns these signals into behaviours, the
calibration (:mod:`mousefear.pipeline.calibration`) fits its thresholds on them, and they are stored in the
behaviour-vector file so that a run can be re-decided without decoding the video again.

What happens to every frame, in one streaming pass (memory does not grow with the video):

1. **Finding the animal** on a small copy of the frame (``locate_width`` pixels wide, nearest-neighbour
   sampling, grey). A *background model* of the arena (per pixel, in grey levels) is compared with the frame
   after correcting for the camera's exposure (the ratio of the median grey levels of frame and background);
   pixels darker (``animal="dark"``) than the background by more than ``contrast`` grey levels are foreground.
   The animal is the largest foreground blob; once found it is followed from frame to frame (the largest blob
   near its last box), so a larger but static change elsewhere (a shadow outside the arena) does not take its
   place. The background follows the scene with a time constant of ``background_seconds`` everywhere except
   under the animal once it has moved (a still animal is never absorbed into the background, while a shadow
   or a lighting change that is not the animal fades out of the foreground in a few seconds); pixels much
   brighter than the background (where an animal stood when the model began) are taken over at once. An
   animal that never moves from the first frame is part of the background and is not found (no prediction),
   never called freezing.
2. **Its outline at full resolution.** In a box around the blob, the frame's grey pixels darker than the
   (enlarged) background by ``contrast`` form the animal's mask; a morphological opening with a disc of
   ``opening_fraction x sqrt(typical area)`` pixels (about a third of the body's width) removes the tail and
   thin structures such as a head-mounted cable, and the largest remaining component is the animal: its area,
   centroid, major axis (4 x the square root of the largest eigenvalue of its second moments, close to the
   body length) and perimeter.
3. **Movement over a fixed time.** Frame ``t`` is compared with frame ``t - lag`` (``lag = max(1,
   round(lag_seconds * fps))`` frames, 3 at 30 fps), not with the frame before, so the repeated frames of a
   frame-rate conversion neither hide movement nor fake stillness. Inside the union of the two outlines,
   dilated by ``outline_fraction x sqrt(area)`` pixels, the pixels whose grey level (3 x 3 blur) changed by more
   than ``pixel_cutoff`` are counted; ``body_change`` is that count divided by the animal's area (the mean of
   the two frames'). ``centroid_shift`` is the distance between the two centroids and ``outline_shift`` the
   area of the symmetric difference of the two masks divided by their mean perimeter (the mean distance the
   outline moved), both in full-frame pixels.
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

__all__ = ["ANIMAL_SIGNALS", "MAX_ANALYSIS_FPS", "analysis_stride", "animal_stillness", "measure_animal"]

#: Per-frame arrays of :func:`measure_animal`: name -> (unit, description).
ANIMAL_SIGNALS: dict[str, tuple[str, str]] = {
    "found": ("1", "1 where the animal was found in the frame, 0 where not"),
    "area": ("pixel^2", "area of the animal's mask (tail and thin structures removed), full-frame pixels"),
    "centroid_x": ("pixel", "x of the animal's centroid in the full frame"),
    "centroid_y": ("pixel", "y of the animal's centroid in the full frame"),
    "major_axis": ("pixel", "major axis of the animal's mask (about its body length)"),
    "body_change": ("1", "fraction of the animal's area whose grey level changed by more than pixel_cutoff "
                         "since lag frames earlier (NaN where the animal is missing in either frame)"),
    "centroid_shift": ("pixel", "distance the centroid moved since lag frames earlier"),
    "outline_shift": ("pixel", "mean distance the outline moved since lag frames earlier (area of the "
                               "symmetric difference of the masks / mean perimeter)"),
}

_DISCS: dict[int, np.ndarray] = {}


def _disc(diameter: int) -> np.ndarray:
    d = max(1, int(diameter))
    if d not in _DISCS:
        _DISCS[d] = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (d, d))
    return _DISCS[d]


def _largest_contour(mask: np.ndarray) -> np.ndarray | None:
    """The outer contour of the largest blob of a binary image (None when there is none of positive area)."""
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return None
    if len(contours) == 1:
        return contours[0] if cv2.contourArea(contours[0]) > 0 else None
    areas = [cv2.contourArea(c) for c in contours]
    j = int(np.argmax(areas))
    return contours[j] if areas[j] > 0 else None


def _median_u8(values: np.ndarray) -> float:
    flat = values.ravel()
    return float(np.partition(flat, flat.size // 2)[flat.size // 2])


def _lag_frames(lag_seconds: float, fps: float) -> int:
    return max(1, round(lag_seconds * fps))


#: Highest rate, in frames per second, at which frames are analysed (faster videos are analysed every 2nd,
#: 3rd, ... frame; the frames in between are decoded but not converted or measured, and hold the values of
#: the frame before).
MAX_ANALYSIS_FPS = 15.0


def analysis_stride(fps: float) -> int:
    """Analyse every ``analysis_stride(fps)``-th frame: ``max(1, floor(fps / MAX_ANALYSIS_FPS))`` (2 at 30 fps)."""
    return max(1, math.floor(fps / MAX_ANALYSIS_FPS + 1e-9))


class _Animal:
    """The animal found in one frame: its mask in a box of the full frame and its shape."""

    __slots__ = ("area", "cx", "cy", "frame", "major", "mask", "perimeter", "x0", "y0")

    def __init__(self, frame: np.ndarray, mask: np.ndarray, x0: int, y0: int, contour: np.ndarray):
        moments = cv2.moments(contour)
        a = moments["m00"]
        self.frame, self.mask, self.x0, self.y0 = frame, mask, x0, y0
        self.area = float(cv2.countNonZero(mask))
        self.cx = x0 + moments["m10"] / a
        self.cy = y0 + moments["m01"] / a
        mu20, mu02, mu11 = moments["mu20"] / a, moments["mu02"] / a, moments["mu11"] / a
        lam = (mu20 + mu02) / 2 + math.sqrt(((mu20 - mu02) / 2) ** 2 + mu11 * mu11)
        self.major = 4.0 * math.sqrt(max(lam, 0.0))
        self.perimeter = max(cv2.arcLength(contour, True), 1.0)

    @property
    def box(self) -> tuple[int, int, int, int]:
        return self.x0, self.y0, self.x0 + self.mask.shape[1], self.y0 + self.mask.shape[0]


class _Tracker:
    """Background model, search and outline of the animal, one frame at a time.

    The background (on the small copy of the frame) is updated ten times a second; in between, the animal is
    looked for at full resolution in a window one body size around its last box, and on the whole small frame
    only when it was lost.
    """

    def __init__(self, frame: np.ndarray, *, crop: tuple[int, int, int, int], dark: bool, contrast: float,
                 locate_width: int, fps: float, background_seconds: float, opening_fraction: float):
        x, y, w, h = crop
        self.crop = crop
        self.dark = dark
        self.contrast = float(contrast)
        self.lw = min(int(locate_width), w)
        self.lh = max(1, round(h * self.lw / w))
        self.sx, self.sy = w / self.lw, h / self.lh
        self.every = max(1, round(fps / 10))
        self.alpha = 1.0 - math.exp(-self.every / max(background_seconds * fps, 1.0))
        self.opening_fraction = opening_fraction
        self.small = self._small(frame)
        self.background = self.small.astype(np.float32)
        self.bg_median = float(np.median(self.background[::3, ::3]))
        self.threshold = self._threshold(self.background)
        self.last: _Animal | None = None
        self.moved = False
        self.origin = (0.0, 0.0)
        self.areas: list[float] = []
        self.typical_area = 0.0
        self.n_found = 0
        self.n = -1

    def _small(self, frame: np.ndarray) -> np.ndarray:
        x, y, w, h = self.crop
        small = cv2.resize(frame[y:y + h, x:x + w], (self.lw, self.lh), interpolation=cv2.INTER_NEAREST)
        gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small
        return gray if self.dark else cv2.bitwise_not(gray)

    def _gray(self, frame: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
        patch = frame[y0:y1, x0:x1]
        gray = cv2.cvtColor(patch, cv2.COLOR_BGR2GRAY) if patch.ndim == 3 else patch
        return gray if self.dark else cv2.bitwise_not(gray)

    def step(self, frame: np.ndarray) -> _Animal | None:
        """Take the next frame (BGR, full size); return the animal found in it, or None."""
        self.n += 1
        update = self.n % self.every == 0
        if update:
            self._update(frame)
        animal = None
        if self.last is not None:
            animal = self._near(frame, self.last)
        if animal is None:
            if not update:
                self.small = self._small(frame)
            box = self._largest_blob()
            animal = None if box is None else self._outline(frame, self._full_box(box, 2))
            if animal is not None:
                self.moved, self.origin = False, (animal.cx, animal.cy)
        if animal is not None:
            if not self.moved:
                self.moved = math.hypot(animal.cx - self.origin[0], animal.cy - self.origin[1]) > math.sqrt(
                    animal.area)
            self.areas.append(animal.area)
            self.n_found += 1
            if self.n_found % 15 == 1:  # the opening is sized from the typical area of the last 300 finds
                del self.areas[:-300]
                self.typical_area = float(np.median(self.areas))
        self.last = animal
        return animal

    def _update(self, frame: np.ndarray) -> None:
        """Exposure correction and background update (on the small copy), every ``self.every`` frames."""
        small = self.small = self._small(frame)
        if self.n % (15 * self.every) == 0:
            self.bg_median = float(np.median(self.background[::3, ::3]))
        gain = _median_u8(small[::3, ::3]) / max(self.bg_median, 1.0)
        keep = None
        if self.last is not None and self.moved:  # never absorb an animal that has moved into the background
            x0, y0, x1, y1 = self.last.box
            cx, cy = self.crop[0], self.crop[1]
            keep = (max(0, int((y0 - cy) / self.sy) - 2), min(self.lh, math.ceil((y1 - cy) / self.sy) + 2),
                    max(0, int((x0 - cx) / self.sx) - 2), min(self.lw, math.ceil((x1 - cx) / self.sx) + 2))
            saved = self.background[keep[0]:keep[1], keep[2]:keep[3]].copy()
        scaled = small.astype(np.float32) * (1.0 / gain)
        cv2.accumulateWeighted(scaled, self.background, self.alpha)
        if keep is not None:
            self.background[keep[0]:keep[1], keep[2]:keep[3]] = saved
        # pixels much brighter than the model (where an animal stood when it began) are taken over at once
        cv2.max(self.background, scaled - 0.5 * self.contrast, dst=self.background)
        self.threshold = self._threshold(self.background * gain)

    def _threshold(self, expected: np.ndarray) -> np.ndarray:
        """Grey level below which a pixel is the animal: the background at this exposure less the contrast."""
        return np.clip(expected - self.contrast, 0, 255).astype(np.uint8)

    def _largest_blob(self) -> tuple[int, int, int, int] | None:
        fg = cv2.compare(self.small, self.threshold, cv2.CMP_LT)
        contours, _ = cv2.findContours(fg, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        if not contours:
            return None
        areas = [cv2.contourArea(c) for c in contours]
        pick = int(np.argmax(areas))
        return cv2.boundingRect(contours[pick]) if areas[pick] >= 1.5 else None

    def _full_box(self, box: tuple[int, int, int, int], pad: int) -> tuple[int, int, int, int]:
        """A box of the small copy, padded by ``pad`` small pixels, in crop pixels (x0, y0, x1, y1)."""
        bx, by, bw, bh = box
        w, h = self.crop[2], self.crop[3]
        return (max(0, int((bx - pad) * self.sx)), max(0, int((by - pad) * self.sy)),
                min(w, math.ceil((bx + bw + pad) * self.sx)), min(h, math.ceil((by + bh + pad) * self.sy)))

    def _near(self, frame: np.ndarray, last: _Animal) -> _Animal | None:
        """The animal in a window half a body size around its last box."""
        cx, cy, w, h = self.crop
        x0, y0, x1, y1 = last.box
        m = max(x1 - x0, y1 - y0) // 2 + 4
        return self._outline(frame, (max(0, x0 - cx - m), max(0, y0 - cy - m), min(w, x1 - cx + m),
                                     min(h, y1 - cy + m)))

    def _outline(self, frame: np.ndarray, window: tuple[int, int, int, int]) -> _Animal | None:
        """The largest blob of the animal's shape in ``window`` (x0, y0, x1, y1 in crop pixels), at full size."""
        x0, y0, x1, y1 = window
        if x1 - x0 < 1 or y1 - y0 < 1:
            return None
        cx, cy = self.crop[0], self.crop[1]
        gray = self._gray(frame, cx + x0, cy + y0, cx + x1, cy + y1)
        lx0, ly0 = int(x0 / self.sx), int(y0 / self.sy)
        lx1, ly1 = min(self.lw, math.ceil(x1 / self.sx)), min(self.lh, math.ceil(y1 / self.sy))
        bg = cv2.resize(self.threshold[ly0:ly1, lx0:lx1], (round((lx1 - lx0) * self.sx), round((ly1 - ly0) * self.sy)),
                        interpolation=cv2.INTER_LINEAR)
        ox, oy = x0 - round(lx0 * self.sx), y0 - round(ly0 * self.sy)
        bg = bg[oy:oy + y1 - y0, ox:ox + x1 - x0]
        if bg.shape != gray.shape:
            return None
        mask = cv2.compare(gray, bg, cv2.CMP_LT)
        contour = _largest_contour(mask)
        if contour is None:
            return None
        bx, by, bw, bh = cv2.boundingRect(contour)
        k = round(self.opening_fraction * math.sqrt(self.typical_area)) if self.typical_area else 0
        if k >= 2:  # open the blob's box only (cheaper than the window): tail and cables go
            px0, py0 = max(0, bx - k), max(0, by - k)
            part = cv2.morphologyEx(mask[py0:by + bh + k, px0:bx + bw + k], cv2.MORPH_OPEN, _disc(k))
            contour = _largest_contour(part)
            if contour is None:
                return None
            bx, by, bw, bh = cv2.boundingRect(contour)
            bx, by = bx + px0, by + py0
            contour = contour + (px0, py0)
        animal_mask = np.zeros((bh, bw), np.uint8)
        cv2.drawContours(animal_mask, [contour], 0, 1, -1, offset=(-bx, -by))
        return _Animal(frame, animal_mask, cx + x0 + bx, cy + y0 + by, contour - (bx, by))

    def compare(self, now: _Animal, then: _Animal, pixel_cutoff: float, outline_fraction: float,
                frame_size: tuple[int, int]) -> tuple[float, float, float]:
        """``body_change``, ``centroid_shift`` and ``outline_shift`` between two finds (see the module)."""
        fw, fh = frame_size
        r = round(outline_fraction * math.sqrt(now.area))
        nx0, ny0, nx1, ny1 = now.box
        tx0, ty0, tx1, ty1 = then.box
        x0, y0 = max(0, min(nx0, tx0) - r), max(0, min(ny0, ty0) - r)
        x1, y1 = min(fw, max(nx1, tx1) + r), min(fh, max(ny1, ty1) + r)
        m1 = np.zeros((y1 - y0, x1 - x0), np.uint8)
        m0 = np.zeros_like(m1)
        m1[ny0 - y0:ny1 - y0, nx0 - x0:nx1 - x0] = now.mask
        m0[ty0 - y0:ty1 - y0, tx0 - x0:tx1 - x0] = then.mask
        region = cv2.bitwise_or(m1, m0)
        if r > 0:
            region = cv2.dilate(region, _disc(2 * r + 1))
        g1 = cv2.GaussianBlur(self._gray(now.frame, x0, y0, x1, y1), (3, 3), 0)
        g0 = cv2.GaussianBlur(self._gray(then.frame, x0, y0, x1, y1), (3, 3), 0)
        changed = cv2.threshold(cv2.absdiff(g1, g0), pixel_cutoff, 1, cv2.THRESH_BINARY)[1]
        changed = cv2.morphologyEx(cv2.bitwise_and(changed, region), cv2.MORPH_OPEN, _disc(3))  # thin slivers go
        mean_area = 0.5 * (now.area + then.area)
        body_change = cv2.countNonZero(changed) / mean_area
        outline = cv2.countNonZero(cv2.bitwise_xor(m1, m0)) / (0.5 * (now.perimeter + then.perimeter))
        return body_change, math.hypot(now.cx - then.cx, now.cy - then.cy), outline


def measure_animal(
    path: str | os.PathLike,
    *,
    fps: float,
    crop: Sequence[int] | None = None,
    n_frames: int | None = None,
    animal: str = "dark",
    contrast: float = 30.0,
    pixel_cutoff: float = 20.0,
    lag_seconds: float = 0.1,
    locate_width: int = 160,
    background_seconds: float = 2.0,
    opening_fraction: float = 0.3,
    outline_fraction: float = 0.0,
    decode_threads: int | None = 1,
    progress: bool = True,
) -> dict[str, Any]:
    """Stream a video once and measure, per frame, the animal and its movement over ``lag_seconds``.

    Parameters
    ----------
    path
        Video file.
    fps
        Frames per second (the registry's; sets the lag in frames and the background's time constant).
    crop
        ``(x, y, width, height)`` in pixels of the full frame; None = the whole frame.
    n_frames
        Frame count of the video (counted by decoding, from the registry); when given, a video that decodes
        to another count is an error.
    animal
        ``"dark"`` (animal darker than the floor) or ``"bright"``.
    contrast
        Grey levels by which the animal is darker (brighter) than the background.
    pixel_cutoff
        Grey-level change (0-255) above which a pixel inside the outline counts as changed.
    lag_seconds
        Time between the two frames compared.
    locate_width
        Width in pixels of the small copy of the frame on which the animal is looked for.
    background_seconds
        Time constant, in seconds, with which the background model follows the scene.
    opening_fraction
        Diameter of the opening disc as a fraction of the square root of the animal's typical area.
    outline_fraction
        Dilation of the outline, as a fraction of the square root of the animal's area.
    decode_threads
        Threads FFmpeg decodes with (1: the least CPU time; None: one per core, less wall time).
    progress
        Show a tqdm progress bar.

    Returns
    -------
    dict
        The per-frame arrays of :data:`ANIMAL_SIGNALS`, each (n_frames,) float64 (NaN where not measured),
        and ``method`` ("animal"), ``fps``, ``lag_frames``, ``n_frames``, ``frame_size`` ([width, height]),
        ``crop`` ([x, y, width, height]).

    Raises
    ------
    VideoError
        The video cannot be opened, the crop lies outside its frames, or it decodes to a frame count other
        than ``n_frames``.
    """
    from tqdm.auto import tqdm

    path = Path(path)
    stride = analysis_stride(fps)
    lag = _lag_frames(lag_seconds, fps / stride)  # in analysed frames
    rows: list[tuple[float, ...]] = []
    moves: list[tuple[float, float, float]] = []
    nan_row = (0.0, math.nan, math.nan, math.nan, math.nan)
    nan3 = (math.nan, math.nan, math.nan)
    with open_video(path, threads=decode_threads) as cap:
        frame, box = read_first_frame(cap, path, crop)
        fh, fw = frame.shape[:2]
        ok = True
        tracker = _Tracker(frame, crop=box, dark=animal == "dark", contrast=contrast, locate_width=locate_width,
                           fps=fps / stride, background_seconds=background_seconds, opening_fraction=opening_fraction)
        ring: list[_Animal | None] = [None] * (lag + 1)
        bar = tqdm(total=n_frames, desc=f"motion {path.stem}", unit="frame", disable=not progress, leave=False)
        i = 0  # frames decoded
        k = 0  # frames analysed
        try:
            while ok:
                if i % stride:  # decoded but not analysed (not even converted to colour): holds the last values
                    rows.append(rows[-1])
                    moves.append(moves[-1])
                else:
                    found = tracker.step(frame)
                    ring[k % (lag + 1)] = found
                    then = ring[(k - lag) % (lag + 1)] if k >= lag else None
                    if found is None:
                        rows.append(nan_row)
                        moves.append(nan3)
                    else:
                        rows.append((1.0, found.area, found.cx, found.cy, found.major))
                        moves.append(nan3 if then is None else
                                     tracker.compare(found, then, pixel_cutoff, outline_fraction, (fw, fh)))
                    k += 1
                i += 1
                bar.update(1)
                if i % stride:
                    ok = cap.grab()
                else:
                    ok, frame = cap.read()
        finally:
            bar.close()
    n = len(rows)
    check_decoded_count(path, n, n_frames)
    shape = np.asarray(rows, dtype=np.float64).reshape(n, 5)
    move = np.asarray(moves, dtype=np.float64).reshape(n, 3)
    out: dict[str, Any] = {name: shape[:, j] for j, name in enumerate(("found", "area", "centroid_x",
                                                                        "centroid_y", "major_axis"))}
    out.update({name: move[:, j] for j, name in enumerate(("body_change", "centroid_shift", "outline_shift"))})
    out.update({"method": "animal", "fps": float(fps), "lag_frames": lag * stride, "analysis_stride": stride,
                "n_frames": n, "frame_size": [fw, fh], "crop": list(box)})
    return out


def animal_stillness(body_change: np.ndarray, centroid_shift: np.ndarray, lag_frames: int, fps: float,
                     body_length_px: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame movement centred on each frame: body change and centroid speed.

    Frame ``f`` takes the comparison of frames ``f + lag // 2 - lag`` and ``f + lag // 2`` (the pair that
    straddles it; clamped at the end of the video), so a still stretch is not shifted by the lag.

    Parameters
    ----------
    body_change, centroid_shift
        (n_frames,) float, as returned by :func:`measure_animal` (per frame ``t``: frames ``t - lag`` and ``t``).
    lag_frames
        ``lag`` in frames.
    fps
        Frames per second.
    body_length_px
        Body length in pixels (the median major axis of the animal).

    Returns
    -------
    change : np.ndarray
        (n_frames,) float64 fraction of the animal's area changed (NaN where not measured).
    centroid_speed : np.ndarray
        (n_frames,) float64 centroid speed in body lengths per second (NaN where not measured).
    """
    change = np.asarray(body_change, dtype=np.float64)
    n = change.size
    idx = np.minimum(np.arange(n) + lag_frames // 2, max(n - 1, 0))
    shift = np.asarray(centroid_shift, dtype=np.float64)[idx]
    scale = body_length_px * lag_frames / fps if body_length_px > 0 else math.nan
    return change[idx], shift / scale


def still_runs(still_pair: np.ndarray, found: np.ndarray, lag_frames: int, stride: int, min_frames: int,
               ) -> np.ndarray:
    """Frames of stillness runs at least ``min_frames`` long, from the stillness of frame pairs.

    A pair (frames ``t - lag`` and ``t``, measured at analysed frames ``t``, every ``stride``-th) that shows no
    movement proves every step between its two frames still. A step between two analysed frames is still when
    some still pair spans it; otherwise the movement is placed at the later analysed frame (the frames in
    between, which were not analysed, stay with the earlier one). A run of frames joined by still steps, with
    the animal found in each, is a stillness run.

    Parameters
    ----------
    still_pair
        (n_frames,) bool, per frame ``t``: the pair ending at ``t`` shows no movement (read at analysed frames).
    found
        (n_frames,) bool, the animal was found.
    lag_frames, stride
        The lag and the analysis stride, in frames (``lag_frames`` a multiple of ``stride``).
    min_frames
        Shortest run that counts (at least 1).

    Returns
    -------
    np.ndarray
        (n_frames,) bool, True for the frames of a long enough run.
    """
    n = still_pair.size
    out = np.zeros(n, dtype=bool)
    if n == 0:
        return out
    stride = max(1, int(stride))
    analysed = np.arange(0, n, stride)
    sp = np.asarray(still_pair, dtype=bool)[analysed]
    lag_a = max(1, int(lag_frames) // stride)
    # step j (analysed frame j-1 -> j) is still when a still pair t in [j, j + lag_a - 1] spans it
    padded = np.concatenate((sp, np.zeros(lag_a, dtype=bool)))
    spans = np.lib.stride_tricks.sliding_window_view(padded, lag_a)[: sp.size].any(axis=1)
    link = np.ones(n, dtype=bool)  # link[f]: frames f - 1 and f belong to the same run
    link[0] = False
    link[analysed[1:]] = spans[1:]
    ok = np.asarray(found, dtype=bool)
    link &= ok
    link[1:] &= ok[:-1]
    starts = np.flatnonzero(~link)
    ends = np.append(starts[1:], n)
    for s, e in zip(starts, ends, strict=True):
        if e - s >= max(1, int(min_frames)) and ok[s]:
            out[s:e] = True
    return out
