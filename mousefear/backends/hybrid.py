"""The motion detector and a model together: the detector decides the windows it is sure of, the model the rest.

``classification.backend: hybrid``. For every video the motion detector (:class:`~mousefear.backends.motion.
MotionBackend`, settings ``classification.motion``) first measures every frame, as a motion run would. Its
*movement* of a frame is the largest of the measures its freezing rule compares with a threshold, each divided by
its threshold (:meth:`~mousefear.backends.motion.MotionBackend.threshold_ratios`: for the ``animal`` method the body
change and the centroid speed, for ``pixels`` the changed pixels; below 1 is still). A window is decided by the
detector when it is

- **still far below the threshold**: every frame of the window is freezing by the detector's rule (which includes
  ``min_freeze_seconds``) and its movement is at most ``still_margin`` in every frame; the decision is freezing;
- **moving far above it**: no frame is freezing, every frame was measured, and the median movement over the
  window's frames is at least ``moving_margin``; the decision is the detector's (its moving behaviour, or
  fleeing where its speed rule says so).

The decided windows get the detector's window probabilities; every other window (movement near the threshold,
a short stillness, a frame without the animal) goes to the model backend named by ``model_backend`` (the
transformers or the server backend, with all their settings), with the window's movement told in one sentence
before the question when ``motion_hint`` is true. Each window records which path decided it (``decided_by``:
``motion`` or the model backend's name) in the vector file, the per-window tables and NWB.

Only what the detector measures can be decided without the model: a clearly moving window is the detector's
moving behaviour even when a person would call it rearing or grooming, and without ``flee_speed`` a dash is
moving too. Raising ``moving_margin`` sends more of them to the model.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from mousefear.backends.base import Routing, VideoResult, WindowBackend, WindowResult
from mousefear.backends.motion import MotionBackend
from mousefear.backends.openai import OpenAIBackend
from mousefear.backends.transformers import TransformersBackend
from mousefear.core.preprocess import PatchGrid
from mousefear.errors import ConfigError

if TYPE_CHECKING:
    from mousefear.core.prompts import Example, Prompt
    from mousefear.core.settings import Settings
    from mousefear.core.video import Video, Window

__all__ = ["HybridBackend", "decided_windows", "movement", "window_statistics"]

#: Name recorded for the windows the motion detector decides.
DECIDED_BY = "motion"


def movement(detector: MotionBackend, measured: VideoResult, fps: float) -> np.ndarray:
    """(n_frames,) float64 movement of every frame: the largest of the detector's measures divided by its
    threshold (NaN where a measure is missing), from the detector's result of a whole video."""
    m = {**{k: np.asarray(v) for k, v in measured.signals.items()}, **measured.info["measurement"]}
    ratios = detector.threshold_ratios(m, fps=fps)
    return np.stack([np.asarray(r, dtype=np.float64) for r in ratios.values()]).max(axis=0)


def window_statistics(detector: MotionBackend, measured: VideoResult,
                      move: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What the routing rule compares with the margins, per window of the detector's result of a video.

    Parameters
    ----------
    detector
        The motion detector that made ``measured``.
    measured
        Its result for the whole video (per-frame labels, the windows' frame ranges).
    move
        (n_frames,) float64 movement of every frame (:func:`movement`).

    Returns
    -------
    still, moving : np.ndarray
        Each (n_windows,) float64. ``still``: the largest movement over the window's frames where every frame was
        measured and is freezing by the detector's rule, else NaN; ``moving``: the median movement over the
        window's frames where every frame was measured and none is freezing, else NaN. A window is the
        detector's at margins ``(s, m)`` when ``still <= s`` or ``moving >= m`` (:func:`decided_windows`).
    """
    freezing = detector.behaviors.index(detector.freezing_behavior)
    label = np.asarray(measured.frame_label)
    still = np.full(measured.n_windows, np.nan)
    moving = np.full(measured.n_windows, np.nan)
    for k, (a, e) in enumerate(zip(measured.start_frame.tolist(), measured.end_frame.tolist(), strict=True)):
        lab, mv = label[a:e], move[a:e]
        if not (mv.size and np.isfinite(mv).all() and (lab >= 0).all()):
            continue
        if (lab == freezing).all():
            still[k] = float(mv.max())
        elif not (lab == freezing).any():
            moving[k] = float(np.median(mv))
    return still, moving


def decided_windows(still: np.ndarray, moving: np.ndarray, still_margin: float, moving_margin: float) -> np.ndarray:
    """(n_windows,) bool: the windows the detector decides at these margins (the routing rule of the module),
    from :func:`window_statistics`."""
    with np.errstate(invalid="ignore"):
        return (np.nan_to_num(still, nan=np.inf) <= still_margin) | (np.nan_to_num(moving, nan=-np.inf)
                                                                      >= moving_margin)


class HybridBackend(WindowBackend):
    """The motion detector decides the windows it is sure of; a model backend decides the rest.

    Build it with :meth:`from_settings` (the settings of ``classification.hybrid``; the detector from
    ``classification.motion``, the model from the settings of its backend).

    Parameters
    ----------
    behaviors
        Behaviour names, in the order of the probability vectors.
    model_backend
        ``"transformers"`` or ``"openai"``: the backend of the model.
    still_margin
        A window whose every frame is freezing and whose movement stays at most this (fraction of the threshold)
        in every frame is the detector's freezing.
    moving_margin
        A window without a freezing frame whose median movement is at least this (times the threshold) is the
        detector's decision.
    motion_hint
        Tell the model each window's movement, in words.
    detector
        The motion detector (built from the settings by :meth:`from_settings`).
    classifier
        The model's window backend (built from the settings by :meth:`from_settings`; any window backend).
    """

    name = "hybrid"
    settings_sections = ("classification.hybrid",)
    #: those of either model backend (which one is a setting)
    runtime_params = tuple(dict.fromkeys(TransformersBackend.runtime_params + OpenAIBackend.runtime_params))

    def __init__(self, behaviors: Sequence[str], *, model_backend: str, still_margin: float, moving_margin: float,
                 motion_hint: bool, detector: MotionBackend | None = None, classifier: WindowBackend | None = None):
        super().__init__(behaviors)
        self.model_backend = model_backend
        self.still_margin = still_margin
        self.moving_margin = moving_margin
        self.motion_hint = motion_hint
        self.detector = detector
        self.classifier = classifier

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> HybridBackend:
        """Build the detector and the model backend from the settings, then the hybrid.

        Parameters
        ----------
        settings
            The project's settings.
        overrides
            ``model_backend``, ``still_margin``, ``moving_margin``, ``motion_hint`` (through the settings'
            checks), ``detector`` or ``classifier`` (ready backends to use instead), and any parameter of the
            model backend (``local_files_only=True``).
        """
        own = {k: overrides.pop(k) for k in ("model_backend", "still_margin", "moving_margin", "motion_hint")
               if k in overrides}
        if own:
            settings = settings.updated({f"classification.hybrid.{k}": v for k, v in own.items()})
        settings.check_motion_roles()
        h = settings.classification.hybrid
        detector = overrides.pop("detector", None) or MotionBackend.from_settings(settings)
        classifier = overrides.pop("classifier", None)
        if classifier is None:
            from mousefear.backends import backend_class

            classifier = backend_class(h.model_backend).from_settings(settings, **overrides)
        elif overrides:
            raise ConfigError(f"Expected no settings of the model backend besides a ready classifier, but got "
                              f"{', '.join(sorted(overrides))}")
        if not isinstance(classifier, WindowBackend) or list(classifier.behaviors) != settings.behavior_names:
            raise ConfigError("Expected the hybrid's classifier to be a window backend of the project's behaviours")
        return cls(settings.behavior_names, model_backend=h.model_backend, still_margin=h.still_margin,
                   moving_margin=h.moving_margin, motion_hint=h.motion_hint, detector=detector, classifier=classifier)

    @property
    def _parts(self) -> tuple[MotionBackend, WindowBackend]:
        if self.detector is None or self.classifier is None:
            raise RuntimeError("HybridBackend needs its detector and classifier: build it with from_settings")
        return self.detector, self.classifier

    # ---------------------------------------------------------------- provenance
    @property
    def model_id(self) -> str:
        return self._parts[1].model_id

    def describe(self) -> dict[str, Any]:
        """Provenance: the model backend's settings (as its own run would record them), the hybrid's margins,
        ``classifier`` (the model backend's name) and ``detector`` (the motion detector's settings)."""
        detector, classifier = self._parts
        inner = classifier.describe()
        settings = {**inner["settings"], "model_backend": self.model_backend, "still_margin": self.still_margin,
                    "moving_margin": self.moving_margin, "motion_hint": self.motion_hint,
                    "classifier": classifier.name, "detector": detector.describe()["settings"]}
        return {"backend": self.name, "model_id": inner["model_id"], "model_revision": inner["model_revision"],
                "settings": settings, "resolved": inner["resolved"], "runtime": list(self.runtime_params)}

    def resolved(self) -> dict[str, Any]:
        return self._parts[1].resolved()

    def frame_grid(self) -> PatchGrid:
        return self._parts[1].frame_grid()

    # ---------------------------------------------------------------- life cycle
    def load(self) -> None:
        self._parts[1].load()

    def close(self) -> None:
        if self.classifier is not None:
            self.classifier.close()

    def prepare(self, prompt: Prompt, examples: Sequence[Example]) -> None:
        self._parts[1].prepare(prompt, examples)

    # ---------------------------------------------------------------- routing
    def measure_video(self, video: Video, window_bounds: np.ndarray, *, crop: tuple[int, int, int, int] | None,
                      progress: bool = True) -> VideoResult:
        """The motion detector's result for the whole video (every frame measured and decided)."""
        return self._parts[0].classify_video(video, window_bounds, crop=crop, progress=progress)

    def route(self, measured: VideoResult, fps: float) -> Routing:
        """The windows the detector decides (see the module) and, with ``motion_hint``, the sentence for the
        others."""
        detector, classifier = self._parts
        move = movement(detector, measured, fps)
        still, moving = window_statistics(detector, measured, move)
        decided = decided_windows(still, moving, self.still_margin, self.moving_margin)
        hints = [""] * measured.n_windows
        if self.motion_hint:
            for k, (a, e) in enumerate(zip(measured.start_frame.tolist(), measured.end_frame.tolist(), strict=True)):
                if not decided[k]:
                    hints[k] = _hint(move[a:e])
        return Routing(decided=decided, probabilities=np.asarray(measured.probabilities, dtype=np.float64),
                       hints=hints, decided_by=DECIDED_BY, model=classifier.name)

    # ---------------------------------------------------------------- the model's windows
    def classify(self, windows: Sequence[Window]) -> list[WindowResult]:
        """The model backend's results for windows (those :meth:`route` left to it)."""
        return self._parts[1].classify(windows)

    def classify_stream(self, windows: Iterable[Window], batch_size: int = 1) -> Iterator[tuple[Window, WindowResult]]:
        return self._parts[1].classify_stream(windows, batch_size)

    def classify_chains(self, chains: Iterable[Iterator[Window]],
                        batch_size: int = 1) -> Iterator[tuple[Window, WindowResult]]:
        return self._parts[1].classify_chains(chains, batch_size)


def _hint(move: np.ndarray) -> str:
    """One sentence on a window's movement as the detector measured it (``move``: per frame, times the
    threshold)."""
    finite = move[np.isfinite(move)]
    if finite.size == 0:
        return "A motion detector could not measure the mouse's movement in this stretch."
    part = f", in {finite.size} of its {move.size} frames" if finite.size < move.size else ""
    return (f"A motion detector measured the mouse's movement in this stretch at {np.median(finite):.2g} times its "
            f"freezing threshold (median over the frames{part}; largest {finite.max():.2g}; below 1 is still).")
