"""The one small interface every way of running a model implements.

A backend is built from plain arguments (never from config.yaml), gets the run's prompt and in-context
examples once through :meth:`Backend.prepare`, and then classifies windows: for each window a probability for
every behaviour (summing to 1, in the order of ``behaviors``) and, where text was generated, the raw text.

Two kinds of backends exist:

- window backends (Qwen2.5-VL through transformers, an OpenAI-compatible server) implement :meth:`classify`
  on a batch of :class:`~mousefear.video.Window`; :meth:`classify_stream` feeds them a stream of windows, one
  video after another, and may overlap work across video boundaries (the server backend does);
- frame backends (``frame_level = True``, the motion detector) look at every frame of a video and implement
  :meth:`classify_video`, which returns per-frame and per-window results at once.

Either way the results go into the same behaviour-vector files (:mod:`mousefear.vectors`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from mousefear.core.video import Window


@dataclass
class WindowResult:
    """What a backend says about one window.

    Attributes
    ----------
    probabilities : np.ndarray
        (n_behaviors,) float64 probabilities in the order of the backend's behaviours, summing to 1; all NaN
        when a generated answer named no behaviour (unparseable, never guessed).
    text : str
        Raw generated text ("" when the decision was made by scoring the labels).
    info : dict
        Anything else worth keeping per window (for example which decision path a server used).
    """

    probabilities: np.ndarray
    text: str = ""
    info: dict[str, Any] = field(default_factory=dict)


class Backend:
    """Base class of all backends.

    Parameters
    ----------
    behaviors
        Behaviour names, in the order of the probability vectors the backend returns.
    """

    #: short name recorded in outputs ("transformers", "openai", "motion")
    name: ClassVar[str] = ""
    #: True for backends that look at every frame of a video (implement classify_video instead of classify)
    frame_level: ClassVar[bool] = False

    def __init__(self, behaviors: Sequence[str]):
        self.behaviors = list(behaviors)

    def describe(self) -> dict[str, Any]:
        """Provenance recorded with every output: at least backend, model_id, model_revision, settings."""
        return {"backend": self.name, "model_id": "", "model_revision": "", "settings": {}}

    def prepare(self, prompt: Any, examples: Sequence[Any]) -> None:  # noqa: B027 - optional hook
        """Receive the run's prompt and in-context examples once, before any window (default: nothing)."""

    def classify(self, windows: Sequence[Window]) -> list[WindowResult]:
        """Classify a batch of windows; one result per window, in order."""
        raise NotImplementedError(f"the {self.name} backend classifies whole videos (classify_video)")

    def classify_stream(self, windows: Iterable[Window], batch_size: int = 1) -> Iterator[tuple[Window, WindowResult]]:
        """Classify a stream of windows in batches of ``batch_size``; yield ``(window, result)`` in order."""
        batch: list[Window] = []
        for window in windows:
            batch.append(window)
            if len(batch) >= batch_size:
                yield from zip(batch, self.classify(batch), strict=True)
                batch = []
        if batch:
            yield from zip(batch, self.classify(batch), strict=True)

    def classify_video(self, video: Any, **kwargs: Any) -> Any:
        """Classify every frame of a video (frame backends only)."""
        raise NotImplementedError(f"the {self.name} backend classifies windows, not whole videos")

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release models, connections or threads (default: nothing)."""

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_probabilities(p: np.ndarray, n_behaviors: int) -> np.ndarray:
    """Validate one probability vector: (n_behaviors,) finite, >= 0, summing to 1 within 1e-4, or all NaN."""
    p = np.asarray(p, dtype=np.float64)
    if p.shape != (n_behaviors,):
        raise ValueError(f"Expected probabilities of shape ({n_behaviors},), but got {p.shape}")
    if np.isnan(p).all():
        return p
    if not np.isfinite(p).all() or (p < 0).any() or abs(p.sum() - 1.0) > 1e-4:
        raise ValueError(f"Expected probabilities >= 0 summing to 1, but got {p.tolist()}")
    return p


@dataclass
class VideoResult:
    """What a frame backend says about one whole video.

    Attributes
    ----------
    frame_probabilities : np.ndarray
        (n_frames, n_behaviors) float32 probability per frame and behaviour (rows sum to 1), in the order of
        the backend's behaviours.
    frame_label : np.ndarray
        (n_frames,) int16 index of the behaviour decided for each frame (the argmax of its row).
    start_frame, end_frame : np.ndarray
        (n_windows,) int64 half-open frame ranges ``[start_frame, end_frame)`` of the windows asked for.
    probabilities : np.ndarray
        (n_windows, n_behaviors) float32 per-window probabilities: the mean of the frame probabilities of the
        frames each window covers.
    signals : dict of str to np.ndarray
        Per-frame measurements behind the decision, each (n_frames,) float32 (for the motion backend: changed
        pixels, speed, ...); the pipeline may store them next to the behaviour vector.
    info : dict
        Per-video facts worth keeping (for example the body length the speed unit was derived from).
    """

    frame_probabilities: np.ndarray
    frame_label: np.ndarray
    start_frame: np.ndarray
    end_frame: np.ndarray
    probabilities: np.ndarray
    signals: dict[str, np.ndarray] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return int(self.frame_label.shape[0])

    @property
    def n_windows(self) -> int:
        return int(self.start_frame.shape[0])
