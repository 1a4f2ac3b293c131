"""A deterministic stand-in for a model: for tests of the pipeline, and for trying a project without weights.

:class:`FakeWindowBackend` answers in microseconds with probabilities computed from the pixels of each window's
frames, so the same window always gets the same answer, and any change to the frames (a crop edit, other
preprocessing, another video) changes it. It keeps a log of what it saw, and can be told to fail or to answer
nothing on chosen windows, so tests can exercise resume, interleaving and error paths without a model. It is not
registered as a backend of config.yaml: pass it to ``classify_videos(..., backend=FakeWindowBackend(...))``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from mousefear.backends.base import WindowBackend, WindowResult
from mousefear.core.prompts import Example, Prompt
from mousefear.core.video import Window
from mousefear.errors import ModelError

__all__ = ["FakeWindowBackend"]


class FakeWindowBackend(WindowBackend):
    """Probabilities from the frames' pixels; no model.

    Parameters
    ----------
    behaviors
        Behaviour names, in the order of the probability vectors.
    salt
        Changes every answer (two fakes with different salts disagree), as a different model would.
    unparseable
        Window indices (per video) whose answer names no behaviour: all-NaN probabilities and the text ``"?"``,
        as a generating model that answered off the list.
    fail_at
        Window indices whose classification raises :class:`~mousefear.errors.ModelError` (a model or server that
        breaks), to test that a run stops cleanly and resumes.
    delay_seconds
        Time each window takes, as a slow model would (to stop a run half-way in a test).

    Attributes
    ----------
    seen : list of (str, int, tuple)
        ``(video_id, window index, frames shape)`` of every window classified, in order.
    prepared : list of str
        Ids of the in-context examples received by :meth:`prepare`.
    loads : int
        How often :meth:`load` ran.
    """

    name = "fake"
    runtime_params = ("delay_seconds",)  # how slow it is changes no result

    def __init__(self, behaviors: Sequence[str], *, salt: int = 0, unparseable: Sequence[int] = (),
                 fail_at: Sequence[int] = (), delay_seconds: float = 0.0):
        super().__init__(behaviors)
        self.salt = salt
        self.delay_seconds = delay_seconds
        self.unparseable = tuple(unparseable)
        self.fail_at = tuple(fail_at)
        self.seen: list[tuple[str, int, tuple[int, ...]]] = []
        self.prepared: list[str] = []
        self.loads = 0
        self._prompt: Prompt | None = None

    @property
    def model_id(self) -> str:
        return f"fake-{self.salt}"

    def load(self) -> None:
        self.loads += 1

    def prepare(self, prompt: Prompt, examples: Sequence[Example]) -> None:
        if tuple(prompt.behaviors) != tuple(self.behaviors):
            raise ValueError(f"Expected a prompt for the behaviours {self.behaviors}, but got {list(prompt.behaviors)}")
        self._prompt = prompt
        self.prepared = [e.id for e in examples]

    def probabilities(self, frames: np.ndarray) -> np.ndarray:
        """(n_behaviors,) float64 probabilities of a window's (k, h, w, 3) uint8 frames: a softmax of scores that
        mix the frames' mean grey levels, their spread and the salt."""
        f = np.asarray(frames, dtype=np.float64)
        means = f.reshape(f.shape[0], -1).mean(axis=1)
        j = np.arange(len(self.behaviors), dtype=np.float64)
        scores = np.sin(means.mean() / 9.0 + (j + 1) * (1.7 + 0.3 * self.salt)) * 2.0
        scores += np.cos(means.std() / 3.0 + j * 0.9 + f.shape[1] / 50.0 + f.shape[2] / 70.0)
        e = np.exp(scores - scores.max())
        return e / e.sum()

    def classify(self, windows: Sequence[Window]) -> list[WindowResult]:
        if self._prompt is None:
            raise RuntimeError("FakeWindowBackend.prepare(prompt, examples) must be called before classify")
        out = []
        for w in windows:
            if self.delay_seconds:
                time.sleep(self.delay_seconds)
            if w.index in self.fail_at:
                raise ModelError(f"fake model: window {w.index} of {w.video_id} failed (fail_at)")
            self.seen.append((w.video_id, int(w.index), tuple(np.asarray(w.frames).shape)))
            if w.index in self.unparseable:
                out.append(WindowResult(np.full(len(self.behaviors), np.nan), text="?", info={}))
            else:
                out.append(WindowResult(self.probabilities(w.frames), text="", info={"fake": True}))
        return out
