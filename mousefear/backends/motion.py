"""Classical motion baseline: freezing detector with a speed rule for fleeing (no model weights).

Two measurements (``classification.motion.method``): ``animal`` (the default) measures movement relative to the
animal, found against a background model, over a fixed lag (:mod:`mousefear.backends.motion_animal`, where the
method and its decision are described; frames without the animal have no prediction); ``pixels`` is the
frame-fraction measure described below (:mod:`mousefear.backends.motion_measure`). Both end in the same
decision function (:func:`decide`) and the same probabilities.

What the ``pixels`` method does with every frame of a video, in one streaming pass (memory does not grow with
the video):

1. cut the frame to the video's crop box, convert it to grey, shrink it to ``analysis_width`` pixels wide
   (aspect ratio kept; never enlarged) and blur it with a ``blur_kernel`` x ``blur_kernel`` Gaussian (in
   pixels of the shrunk frame);
2. count the pixels whose grey level changed by more than ``pixel_cutoff`` since the previous frame; the
   *change* of the frame is that count divided by the number of pixels of the shrunk crop (a fraction, so the
   thresholds do not depend on the resolution);
3. find the animal as the largest connected blob darker (``animal="dark"``) or brighter than the frame's
   median grey level by at least ``animal_contrast`` grey levels that does not touch the crop's edge (walls
   and arena rims do: set the crop to the arena floor); keep its centroid, area and major axis. Blobs smaller
   than a third or larger than three times the median blob area of the video are rejected (the animal merged
   with a wall, a speck of dirt) and the centroid is interpolated over them.

Repeated frames. Videos converted to a higher frame rate repeat frames (the tracktor video repeats about 60 %
of them): such a frame shows no change although the animal is walking. A frame is a *repeat* when fewer than
``repeat_tolerance`` (fraction) of its pixels differ by more than ``repeat_level`` grey levels from the
previous frame. A run of at most ``max_repeat_frames`` consecutive repeats is treated as a frame-rate
artefact: each repeat gets the change of the next real frame (which measures the movement since the last
distinct frame), or of the previous one at the end of the video. Longer runs are real stillness (a still
animal filmed by a noise-free camera repeats frames too) and keep their change of ~0.

Decisions, per frame, in this order:

- **freezing**: the change stays below ``freeze_threshold`` for at least ``min_freeze_seconds`` (rounded to
  frames with the video's fps; every frame of such a run is freezing);
- **fleeing**: otherwise, when ``flee_speed`` is set, the animal's speed exceeds it and the frame's change
  is at least ``freeze_threshold`` (a jump of the blob without changed pixels is not a dash). The speed is the
  distance between the (5-frame median-filtered) centroids ``speed_window_seconds / 2`` before and after the
  frame, divided by the time between them, so repeated frames do not make it jump. ``flee_speed_unit`` is
  ``cm/s`` (needs the video's ``pixels_per_cm``) or ``body_lengths/s`` (body length = median major axis of the
  blob over the video);
- **exploring**: everything else.

The three decisions are the roles *freezing*, *moving* and *fleeing*; the project's behaviours that play them
are the top-level ``freezing_behavior`` of config.yaml and ``moving_behavior`` and ``fleeing_behavior`` of
``classification.motion`` (default ``freezing``, ``exploring`` and ``fleeing``), so a lab that calls its classes
``immobility`` or ``locomotion`` keeps its names. Grooming, rearing and any other class are not modelled:
their probability is 0 (listed under ``describe()["settings"]["not_modelled"]``). The behaviours must include
the freezing and moving behaviours (:class:`~mousefear.errors.ConfigError` otherwise); without the fleeing
behaviour among them, or with ``flee_speed`` null, fast movement is moving.

Probabilities. The decided class gets a confidence ``c`` between 0.55 (at the decision boundary) and 1 (far
from it); the rest, ``1 - c``, is shared equally by the other modelled classes, so the argmax is always the
rule's decision. For freezing ``c = 0.55 + 0.45 * (1 - change / freeze_threshold)``; for exploring
``c = 0.55 + 0.45 * (1 - freeze_threshold / change)`` (0.55 for a still stretch too short to be freezing),
capped by the fleeing margin ``0.55 + 0.45 * (1 - speed / flee_speed)``; for fleeing
``c = 0.55 + 0.45 * (1 - flee_speed / speed)``. Window probabilities are the means of their frames'.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from mousefear._io import json_safe
from mousefear.backends.base import VideoBackend, VideoResult
from mousefear.backends.motion_animal import ANIMAL_SIGNALS, animal_stillness, measure_animal, still_runs
from mousefear.backends.motion_measure import (
    PIXEL_SIGNALS,
    deduplicate_change,
    freezing_runs,
    measure_motion,
    speed_from_centroids,
)
from mousefear.core.intervals import window_means
from mousefear.errors import ConfigError

if TYPE_CHECKING:
    from mousefear.core.settings import Settings
    from mousefear.core.video import Video

logger = logging.getLogger(__name__)

#: Roles the motion rule can tell apart, in the order of its decision codes (0, 1, 2).
MODELLED = ("freezing", "exploring", "fleeing")
#: The same roles by their config names (``classification.motion.<role>_behavior``), in that order.
ROLES = ("freezing", "moving", "fleeing")
#: Lowest confidence of a decision (at the boundary of the rule).
MIN_CONFIDENCE = 0.55
#: Grey levels by which the ``pixels`` method's blob of the animal differs from the frame's median.
PIXELS_ANIMAL_CONTRAST = 40.0
#: Per-frame measurements of each method (name -> (unit, description)): stored in the behaviour-vector file.
MEASUREMENTS = {"animal": ANIMAL_SIGNALS, "pixels": PIXEL_SIGNALS}
#: Per-frame values the decision derives from the measurements (name -> (unit, description)), also stored;
#: ``{speed_unit}`` stands for ``flee_speed_unit``.
DERIVED = {
    "animal": {"change": ("1", "body_change of the pair of frames that straddles the frame"),
               "centroid_speed": ("body_lengths/s", "centroid_shift of that pair per second, in body lengths"),
               "speed": ("{speed_unit}", "speed of the centroid over speed_window_seconds (fleeing rule)")},
    "pixels": {"change": ("1", "raw_change with short runs of repeated frames filled (max_repeat_frames)"),
               "speed_px_s": ("pixel/s", "speed of the blob's centroid over speed_window_seconds"),
               "speed": ("{speed_unit}", "speed of the centroid over speed_window_seconds (fleeing rule)")},
}
#: What besides the arrays the decision needs, per method (stored as attributes of the measurements).
MEASUREMENT_META = {"animal": ("method", "fps", "lag_frames", "analysis_stride", "n_frames", "frame_size", "crop",
                               "settings"),
                    "pixels": ("method", "fps", "n_frames", "analysis_size", "scale", "settings")}
#: Parameters that change the measurements of each method (recorded with them as ``settings``); every other
#: parameter only changes the decision, so it can be changed without decoding again
#: (:meth:`MotionBackend.decide_from_measurements`, :func:`mousefear.pipeline.rethreshold.rethreshold`).
MEASUREMENT_SETTINGS = {"animal": ("method", "pixel_cutoff", "lag_seconds", "animal_contrast", "animal"),
                        "pixels": ("method", "pixel_cutoff", "blur_kernel", "analysis_width", "animal",
                                   "repeat_level", "repeat_tolerance")}
#: The thresholds fitted by calibration from labels, per method (:mod:`mousefear.pipeline.calibration`).
CALIBRATED = {"animal": ("body_change_threshold", "still_speed", "min_freeze_seconds"),
              "pixels": ("freeze_threshold", "min_freeze_seconds")}

__all__ = ["CALIBRATED", "DERIVED", "MEASUREMENTS", "MEASUREMENT_SETTINGS", "MODELLED", "MotionBackend", "decide"]


def decide(
    change: np.ndarray,
    speed: np.ndarray | None,
    *,
    fps: float,
    freeze_threshold: float,
    min_freeze_seconds: float,
    flee_speed: float | None,
    frozen: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame decision and confidence of the motion rule.

    Parameters
    ----------
    change
        (n_frames,) float fraction of changed pixels (after :func:`deduplicate_change`).
    speed
        (n_frames,) float speed in the unit of ``flee_speed``, or None.
    fps
        Frames per second (converts ``min_freeze_seconds`` to ``round(min_freeze_seconds * fps)`` frames).
    freeze_threshold, min_freeze_seconds, flee_speed
        As in :class:`MotionBackend`; ``flee_speed`` None = no fleeing.

    Returns
    -------
    decision : np.ndarray
        (n_frames,) int8: 0 freezing, 1 exploring, 2 fleeing.
    confidence : np.ndarray
        (n_frames,) float64 in [0.55, 1] (see the module's docstring).
    """
    change = np.asarray(change, dtype=np.float64)
    n = change.size
    if frozen is None:
        frozen = freezing_runs(change, freeze_threshold, round(min_freeze_seconds * fps))
    frozen = np.asarray(frozen, dtype=bool)

    def margin(x: np.ndarray) -> np.ndarray:
        return MIN_CONFIDENCE + (1 - MIN_CONFIDENCE) * np.clip(np.nan_to_num(x, nan=0.0), 0.0, 1.0)

    with np.errstate(divide="ignore", invalid="ignore"):
        thr = freeze_threshold
        freeze_conf = margin(1 - change / thr) if thr > 0 else np.full(n, MIN_CONFIDENCE)
        explore_conf = margin(np.where(change > 0, 1 - thr / change, 0.0))
        decision = np.where(frozen, 0, 1).astype(np.int8)
        confidence = np.where(frozen, freeze_conf, explore_conf)
        if flee_speed is not None and speed is not None:
            spd = np.asarray(speed, dtype=np.float64)
            fast = ~frozen & (change >= thr) & np.isfinite(spd) & (spd > flee_speed)
            decision[fast] = 2
            confidence[fast] = margin(1 - flee_speed / spd[fast])
            slow = ~frozen & ~fast & np.isfinite(spd)
            confidence[slow] = np.minimum(confidence[slow], margin(1 - spd[slow] / flee_speed))
    return decision, confidence


def whole_window_freezing(probs: np.ndarray, label: np.ndarray, bounds: np.ndarray, freezing: int, moving: int) -> int:
    """Keep freezing only in windows whose every frame is freezing (in place); returns the frames changed.

    A person scoring per second calls a second freezing when the mouse is still for the whole of it; a stillness
    of 1.5 s that straddles two seconds fills neither. The frames decided freezing outside a wholly freezing
    window (of any window holding them, when windows overlap) get the moving behaviour, with their freezing and
    moving probabilities swapped, so each window's mean probabilities put freezing on top only when the whole
    window is freezing.

    Parameters
    ----------
    probs
        (n_frames, n_behaviors) float frame probabilities, changed in place.
    label
        (n_frames,) int frame labels (-1: no decision), changed in place.
    bounds
        (n_windows, 2) half-open ``[start_frame, end_frame)`` windows; none = nothing changes.
    freezing, moving
        Columns of the freezing and the moving behaviour.
    """
    is_freezing = label == freezing
    keep = np.zeros(label.size, dtype=bool)
    for start, end in bounds:
        if end > start and is_freezing[start:end].all():
            keep[start:end] = True
    trim = is_freezing & ~keep
    if bounds.size == 0 or not trim.any():
        return 0
    probs[trim, freezing], probs[trim, moving] = probs[trim, moving], probs[trim, freezing].copy()
    label[trim] = moving
    return int(trim.sum())


# ------------------------------------------------------------------------------------------------ backend
class MotionBackend(VideoBackend):
    """Pixel-change freezing detector with a speed rule for fleeing (a video backend, no model weights).

    Build it with :meth:`from_settings` (its settings are ``classification.motion`` and the top-level
    ``freezing_behavior`` of config.yaml, checked there; the parameters below without a default are those).

    Parameters
    ----------
    behaviors
        The project's behaviour names; include ``freezing_behavior`` and ``moving_behavior``.
    method
        ``"animal"`` (movement measured on the animal, :mod:`~mousefear.backends.motion_animal`) or ``"pixels"``
        (fraction of changed pixels in the crop, :mod:`~mousefear.backends.motion_measure`).
    pixel_cutoff
        Grey-level change (0-255) above which a pixel counts as changed between frames.
    body_change_threshold
        ``animal``: still while less than this fraction of the animal's area changes within ``lag_seconds``.
    still_speed
        ``animal``: still only while the centroid moves slower than this, in body lengths per second.
    lag_seconds
        ``animal``: time between the frames compared.
    animal_contrast
        ``animal``: grey levels by which the animal is darker (brighter) than the background.
    blur_kernel
        Side in pixels (of the shrunk frame) of the Gaussian blur before differencing; odd, 0 = none.
    freeze_threshold
        Freezing while the fraction of changed pixels in the crop stays below this (0-1).
    min_freeze_seconds
        Shortest stillness, in seconds, that counts as freezing.
    freezing_unit
        ``"window"``: a window is freezing only when every frame of it is (as a person scoring per second decides);
        the freezing frames of other windows get the moving behaviour (:func:`whole_window_freezing`).
        ``"frame"``: every frame of a stillness of at least ``min_freeze_seconds`` is freezing (percent of frames,
        as ezTrack reports it).
    flee_speed
        Speed above which a moving animal is fleeing, in ``flee_speed_unit``; None = fleeing not detected.
    flee_speed_unit
        ``"cm/s"`` (needs ``pixels_per_cm`` per video) or ``"body_lengths/s"``.
    animal
        ``"dark"`` (animal darker than the floor) or ``"bright"``.
    analysis_width
        Width in pixels the crop is shrunk to before differencing (never enlarged).
    max_repeat_frames
        Runs of at most this many repeated frames are frame-rate artefacts, not stillness (0 = off).
    moving_behavior, fleeing_behavior, freezing_behavior
        The behaviours decided for movement, fast movement and stillness; ``fleeing_behavior`` None, or not
        among ``behaviors``, = fast movement is ``moving_behavior``.
    speed_window_seconds
        Time over which the speed is measured.
    repeat_level, repeat_tolerance
        What counts as a repeated frame (see :func:`~mousefear.backends.motion_measure.measure_motion`).
    """

    name = "motion"
    settings_sections = ("classification.motion", "")

    def __init__(
        self,
        behaviors: Sequence[str],
        *,
        method: str,
        pixel_cutoff: float,
        body_change_threshold: float,
        still_speed: float,
        lag_seconds: float,
        animal_contrast: float,
        blur_kernel: int,
        freeze_threshold: float,
        min_freeze_seconds: float,
        freezing_unit: str,
        flee_speed: float | None,
        flee_speed_unit: str,
        animal: str,
        analysis_width: int,
        max_repeat_frames: int,
        moving_behavior: str,
        fleeing_behavior: str | None,
        freezing_behavior: str,
        speed_window_seconds: float = 0.2,
        repeat_level: float = 3.0,
        repeat_tolerance: float = 1e-4,
    ):
        super().__init__(behaviors)
        self.method = method
        self.pixel_cutoff = pixel_cutoff
        self.body_change_threshold = body_change_threshold
        self.still_speed = still_speed
        self.lag_seconds = lag_seconds
        self.blur_kernel = blur_kernel
        self.freeze_threshold = freeze_threshold
        self.min_freeze_seconds = min_freeze_seconds
        self.freezing_unit = freezing_unit
        self.flee_speed = flee_speed
        self.flee_speed_unit = flee_speed_unit
        self.animal = animal
        self.analysis_width = analysis_width
        self.max_repeat_frames = max_repeat_frames
        self.moving_behavior = moving_behavior
        self.fleeing_behavior = fleeing_behavior
        self.freezing_behavior = freezing_behavior
        self.animal_contrast = animal_contrast
        self.speed_window_seconds = speed_window_seconds
        self.repeat_level = repeat_level
        self.repeat_tolerance = repeat_tolerance

    @classmethod
    def check_settings(cls, settings: Settings) -> None:
        """The freezing, moving and fleeing behaviours must be different behaviours of the project."""
        settings.check_motion_roles()

    @property
    def model_id(self) -> str:
        return "motion-baseline"

    @property
    def _role_names(self) -> list[str | None]:
        """Behaviour deciding each role, in decision-code order (None: not among the behaviours)."""
        flee = self.fleeing_behavior if self.fleeing_behavior in self.behaviors else None
        return [self.freezing_behavior, self.moving_behavior, flee]

    @property
    def _detect_flee(self) -> bool:
        return self.flee_speed is not None and self._role_names[2] is not None

    @property
    def modelled(self) -> list[str]:
        """Behaviours this backend can decide (the others always get probability 0)."""
        return [str(b) for b in self._role_names[:3 if self._detect_flee else 2]]

    def derived(self) -> dict[str, Any]:
        notes = []
        flee, moving = self.fleeing_behavior, self.moving_behavior
        if self._role_names[2] is not None and not self._detect_flee:
            notes.append(f"{flee} is not detected because flee_speed is null")
        if self._role_names[2] is None:
            notes.append(f"the behaviours have no {flee or 'fleeing behaviour'}: fast movement is {moving}")
        return {"modelled": self.modelled, "not_modelled": [b for b in self.behaviors if b not in self.modelled],
                "notes": notes}

    def classify_video(self, video: Video, window_bounds: np.ndarray, *, crop: tuple[int, int, int, int] | None,
                       progress: bool = True) -> VideoResult:
        """Classify every frame of a registered video, and the given windows.

        Parameters
        ----------
        video
            The registered video (its path, fps, frame count and pixels_per_cm are used).
        window_bounds
            (n_windows, 2) half-open ``[start_frame, end_frame)`` ranges to report window probabilities for.
        crop
            ``(x, y, width, height)`` analysed part of the frame, in pixels; None = whole frame.
        progress
            Show a tqdm progress bar.

        Returns
        -------
        VideoResult
            Frame and window probabilities in the order of ``behaviors`` (NaN rows and label -1 where the
            ``animal`` method found no animal: no prediction); ``signals``: the per-frame measurements the
            decision was made from (:data:`MEASUREMENTS` of the method: name, unit and meaning), each (n_frames,)
            float32, from which :meth:`decide_from_measurements` decides again without decoding; ``info``:
            ``measurement`` (method, fps, lag and sizes: what :meth:`decide_from_measurements` needs besides the
            arrays) and per-video facts (``body_length_px``, ``speed_unit``, ``animal_found_frames``, ...).

        Raises
        ------
        ConfigError
            Fleeing is detected in cm/s but the video's ``pixels_per_cm`` is null (the message names the video).
        VideoError
            The video cannot be read, or decodes to a frame count other than the registry's.
        """
        self.check_scale(video.pixels_per_cm, video.path, f"set videos['{video.key}'].pixels_per_cm in config.yaml, "
                         "or use flee_speed_unit: body_lengths/s")
        m = self.measure(video, crop=crop, progress=progress)
        return self.decide_from_measurements(m, fps=video.fps, window_bounds=window_bounds,
                                             pixels_per_cm=video.pixels_per_cm)

    def check_scale(self, pixels_per_cm: float | None, source: Any, fix: str) -> None:
        """Raise ConfigError (naming ``source`` and how to ``fix`` it) when fleeing is detected in cm/s and the
        video has no scale."""
        if self._detect_flee and self.flee_speed_unit == "cm/s" and pixels_per_cm is None:
            raise ConfigError(f"{source}: fleeing is detected in cm/s (classification.motion.flee_speed_unit), "
                              f"but the video's pixels_per_cm is null; {fix}")

    def measurement_settings(self) -> dict[str, Any]:
        """The parameters that change the measurements (:data:`MEASUREMENT_SETTINGS` of the method), by name."""
        return {k: getattr(self, k) for k in MEASUREMENT_SETTINGS[self.method]}

    def measure(self, video: Video, *, crop: tuple[int, int, int, int] | None, progress: bool = True,
                ) -> dict[str, Any]:
        """Decode a registered video once and measure every frame (no decision).

        Returns
        -------
        dict
            The per-frame arrays of :data:`MEASUREMENTS` of the method, each (n_frames,), and the values of
            :data:`MEASUREMENT_META` (``settings``: :meth:`measurement_settings`): what
            :meth:`decide_from_measurements` takes.

        Raises
        ------
        VideoError
            The video cannot be read, or decodes to a frame count other than the registry's.
        """
        path = video.path
        if self.method == "animal":
            m = measure_animal(path, fps=video.fps, crop=crop, n_frames=video.n_frames, animal=self.animal,
                               contrast=self.animal_contrast, pixel_cutoff=self.pixel_cutoff,
                               lag_seconds=self.lag_seconds, progress=progress)
        else:
            m = measure_motion(path, crop=crop, n_frames=video.n_frames, pixel_cutoff=self.pixel_cutoff,
                               blur_kernel=self.blur_kernel, analysis_width=self.analysis_width, animal=self.animal,
                               animal_contrast=PIXELS_ANIMAL_CONTRAST, repeat_level=self.repeat_level,
                               repeat_tolerance=self.repeat_tolerance, progress=progress)
            m["method"] = "pixels"
        m["settings"] = json_safe(self.measurement_settings())
        return m

    def _prepared(self, m: dict[str, Any]) -> tuple[dict[str, Any], int]:
        """Check that ``m`` are measurements of this method and its measurement settings; the arrays rounded
        to float32 (as stored) and back to float64; the frame count."""
        method = str(m.get("method", "pixels"))
        if method != self.method:
            raise ConfigError(f"Expected measurements of the {self.method!r} method "
                              f"(classification.motion.method), but got measurements of {method!r}")
        recorded = m.get("settings")
        if recorded is not None:
            mine = json_safe(self.measurement_settings())
            diff = [f"{k} {recorded.get(k)!r} (now {v!r})" for k, v in mine.items() if recorded.get(k) != v]
            if diff:
                raise ConfigError(f"Expected measurements made with this detector's measurement settings, but "
                                  f"they were made with {', '.join(diff)}; measure again (classify the video)")
        names = MEASUREMENTS[method]
        m = {**m, **{k: np.asarray(m[k], dtype=np.float32).astype(np.float64) for k in names}}
        return m, int(np.asarray(m[next(iter(names))]).size)

    def frozen_frames(self, m: dict[str, Any], *, fps: float, thresholds: Sequence[Mapping[str, float]],
                      ) -> Iterator[np.ndarray]:
        """Frames decided freezing with each set of thresholds, from one video's measurements.

        What :meth:`decide_from_measurements` would decide as freezing (label of ``freezing_behavior``) with
        the thresholds of :data:`CALIBRATED` of the method replaced by those given, for many sets at once (the
        parts that do not depend on the thresholds are computed once): calibration from labels scores its grid
        with it.

        Parameters
        ----------
        m
            Measurements of this method (see :meth:`decide_from_measurements`).
        fps
            Frames per second.
        thresholds
            Each a dict of the names of :data:`CALIBRATED` of the method -> value.

        Yields
        ------
        np.ndarray
            (n_frames,) bool per set of thresholds, in order.
        """
        m, _ = self._prepared(m)
        if self.method == "animal":
            found, lag, stride, _, shift_speed = self._animal_parts(m, fps)
            for t in thresholds:
                pair_still = (m["body_change"] < t["body_change_threshold"]) & (shift_speed < t["still_speed"])
                yield still_runs(pair_still, found, lag, stride, round(t["min_freeze_seconds"] * fps))
        else:
            change = deduplicate_change(m["raw_change"], m["repeat"] > 0, self.max_repeat_frames)
            for t in thresholds:
                yield freezing_runs(change, t["freeze_threshold"], round(t["min_freeze_seconds"] * fps))

    def threshold_ratios(self, m: dict[str, Any], *, fps: float) -> dict[str, np.ndarray]:
        """Per frame, each measure the freezing decision compares with a threshold, divided by that threshold.

        Returns
        -------
        dict
            ``animal``: ``"body change"`` (``body_change / body_change_threshold``) and ``"centroid speed"``
            (centroid speed of the pair in body lengths per second / ``still_speed``); ``pixels``: ``"change"``
            (``change / freeze_threshold``). Each (n_frames,) float64; below 1 = still by that measure; NaN where
            not measured.
        """
        m, _ = self._prepared(m)
        if self.method == "animal":
            _, _, _, _, shift_speed = self._animal_parts(m, fps)
            return {"body change": m["body_change"] / self.body_change_threshold,
                    "centroid speed": shift_speed / self.still_speed}
        change = deduplicate_change(m["raw_change"], m["repeat"] > 0, self.max_repeat_frames)
        return {"change": change / self.freeze_threshold}

    def decide_from_measurements(
        self,
        m: dict[str, Any],
        *,
        fps: float,
        window_bounds: Sequence[tuple[int, int]] | np.ndarray = (),
        pixels_per_cm: float | None = None,
    ) -> VideoResult:
        """Decide from measurements (of :func:`measure_animal` or :func:`measure_motion`, or read back from a
        behaviour-vector file with :func:`~mousefear.formats.vectors.read_vector_measurements`); see
        :meth:`classify_video`. The arrays are rounded to float32 first, so deciding again from the stored
        measurements with the same settings gives the same result."""
        m, n = self._prepared(m)
        method = self.method
        names = MEASUREMENTS[method]
        if method == "animal":
            decision, conf, signals, info = self._decide_animal(m, fps, pixels_per_cm)
        else:
            decision, conf, signals, info = self._decide_pixels(m, fps, pixels_per_cm)
        cols = [self.behaviors.index(b) for b in self.modelled]
        col_of = {name: self.behaviors.index(name) for name in self.modelled}
        probs = np.zeros((n, len(self.behaviors)), dtype=np.float64)
        rest = (1.0 - conf) / max(len(cols) - 1, 1)
        for k, name in enumerate(self._role_names):
            if name not in col_of:
                continue
            sel = decision == k
            probs[np.ix_(sel, cols)] = rest[sel, None]
            probs[sel, col_of[name]] = conf[sel]
        none = decision < 0
        probs[none] = np.nan  # no animal: no prediction
        label_map = np.full(4, -1, dtype=np.int16)  # decision -1 (index 3) -> label -1
        for k, name in enumerate(self._role_names):
            if name in col_of:
                label_map[k] = col_of[name]
        frame_label = label_map[decision]
        bounds = np.asarray(window_bounds, dtype=np.int64).reshape(-1, 2)
        if self.freezing_unit == "window":
            whole_window_freezing(probs, frame_label, bounds, col_of[self.freezing_behavior],
                                  col_of[self.moving_behavior])
        start, end, wprobs = window_means(probs, bounds)
        out_signals = {k: np.asarray(m[k], dtype=np.float32) for k in names}
        out_signals.update({k: np.asarray(v, dtype=np.float32) for k, v in signals.items()})
        meta = {k: m[k] for k in MEASUREMENT_META[method] if k in m}
        info = {"measurement": json_safe(meta), "speed_unit": self.flee_speed_unit, **info}
        units = {**names, **{k: (u.format(speed_unit=self.flee_speed_unit), d)
                             for k, (u, d) in DERIVED[method].items()}}
        return VideoResult(frame_probabilities=probs.astype(np.float32), frame_label=frame_label.astype(np.int16),
                           start_frame=start, end_frame=end, probabilities=wprobs, signals=out_signals, info=info,
                           units={k: units[k] for k in out_signals})

    def _speed(self, cx: np.ndarray, cy: np.ndarray, body_px: float, fps: float, pixels_per_cm: float | None,
               ) -> tuple[np.ndarray, np.ndarray]:
        n = cx.size
        speed_px = speed_from_centroids(cx, cy, fps, self.speed_window_seconds)
        if self.flee_speed_unit == "cm/s":
            speed = speed_px / pixels_per_cm if pixels_per_cm else np.full(n, np.nan)
        else:
            speed = speed_px / body_px if body_px > 0 else np.full(n, np.nan)
        return speed_px, speed

    def _decide_pixels(self, m: dict[str, Any], fps: float, pixels_per_cm: float | None):
        raw = m["raw_change"]
        change = deduplicate_change(raw, m["repeat"] > 0, self.max_repeat_frames)
        cx, cy, area = m["centroid_x"], m["centroid_y"], m["blob_area"]
        found = np.isfinite(cx) & np.isfinite(area)
        if found.any():  # a blob far smaller or larger than usual is not the animal (merged with a wall, a speck)
            typical = float(np.median(area[found]))
            found &= (area >= typical / 3) & (area <= typical * 3)
        cx, cy = np.where(found, cx, np.nan), np.where(found, cy, np.nan)
        major = m["major_axis"][found]
        body_px = float(np.median(major)) if major.size else math.nan
        speed_px, speed = self._speed(cx, cy, body_px, fps, pixels_per_cm)
        decision, conf = decide(change, speed if self._detect_flee else None, fps=fps,
                                freeze_threshold=self.freeze_threshold, min_freeze_seconds=self.min_freeze_seconds,
                                flee_speed=self.flee_speed if self._detect_flee else None)
        signals = {"change": change, "speed_px_s": speed_px, "speed": speed}
        info = {"body_length_px": body_px, "analysis_size": list(m.get("analysis_size", [])),
                "repeated_frames": int(np.count_nonzero(m["repeat"])),
                "repeats_filled": int(np.count_nonzero(change != raw)),
                "animal_found_frames": int(np.count_nonzero(found))}
        return decision, conf, signals, info

    @staticmethod
    def _animal_parts(m: dict[str, Any], fps: float) -> tuple[np.ndarray, int, int, float, np.ndarray]:
        """What the animal method's decision needs besides its thresholds: found, lag, stride, body length (px)
        and the centroid speed of each pair in body lengths per second."""
        found = m["found"] > 0
        lag = int(m["lag_frames"])
        major = m["major_axis"][found]
        body_px = float(np.median(major)) if major.size else math.nan
        shift_speed = m["centroid_shift"] / (body_px * lag / fps) if body_px > 0 else np.full(found.size, np.nan)
        return found, lag, int(m.get("analysis_stride", 1)), body_px, shift_speed

    def _decide_animal(self, m: dict[str, Any], fps: float, pixels_per_cm: float | None):
        found, lag, stride, body_px, _ = self._animal_parts(m, fps)
        change, centroid_speed = animal_stillness(m["body_change"], m["centroid_shift"], lag, fps, body_px)
        cx, cy = np.where(found, m["centroid_x"], np.nan), np.where(found, m["centroid_y"], np.nan)
        speed_px, speed = self._speed(cx, cy, body_px, fps, pixels_per_cm)
        thresholds = {k: getattr(self, k) for k in CALIBRATED["animal"]}
        frozen = next(self.frozen_frames(m, fps=fps, thresholds=[thresholds]))
        decision, conf = decide(change, speed if self._detect_flee else None, fps=fps,
                                freeze_threshold=self.body_change_threshold,
                                min_freeze_seconds=self.min_freeze_seconds,
                                flee_speed=self.flee_speed if self._detect_flee else None, frozen=frozen)
        decision[~found | (~np.isfinite(change) & ~frozen)] = -1  # no animal, or no movement measured
        signals = {"change": change, "centroid_speed": centroid_speed, "speed": speed}
        info = {"body_length_px": body_px, "animal_found_frames": int(np.count_nonzero(found)),
                "lag_frames": lag, "analysis_stride": stride}
        return decision, conf, signals, info
