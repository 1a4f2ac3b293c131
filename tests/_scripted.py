"""A window backend whose answers are given per window: exact probabilities for tests of what is derived from a
run (smoothing, probability calibration) and of the ablation."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mousefear.backends.base import WindowResult
from mousefear.backends.fake import FakeWindowBackend
from mousefear.core.video import Window
from mousefear.errors import ModelError


class ScriptedBackend(FakeWindowBackend):
    """Answers window ``i`` of video ``v`` with ``script[v][i]`` (an all-NaN row: no answer, text ``"?"``).

    ``script`` is set as an attribute (not a constructor parameter, so it stays out of the run's settings);
    windows it does not list get the fake backend's answer. ``breaks_at`` (an attribute too: the run stays the
    same run) lists window indices whose classification raises ModelError, as a server that goes away; ``seen`` is
    the fake backend's.
    """

    script: dict[str, np.ndarray]
    breaks_at: tuple[int, ...]

    def __init__(self, behaviors: Sequence[str], *, salt: int = 0, unparseable: Sequence[int] = (),
                 fail_at: Sequence[int] = ()):
        super().__init__(behaviors, salt=salt, unparseable=unparseable, fail_at=fail_at)
        self.script = {}
        self.breaks_at = ()

    def classify(self, windows: Sequence[Window]) -> list[WindowResult]:
        for w in windows:
            if w.index in self.breaks_at:
                raise ModelError(f"scripted model: window {w.index} of {w.video_id} failed (breaks_at)")
        out = super().classify(windows)
        for k, w in enumerate(windows):
            rows = self.script.get(w.video_id)
            if rows is not None and w.index < len(rows):
                p = np.asarray(rows[w.index], dtype=np.float64)
                out[k] = WindowResult(p, text="?" if np.isnan(p).all() else "", info={})
        return out
