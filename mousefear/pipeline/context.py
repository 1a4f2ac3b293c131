"""The context of each window (``classification.context``): its neighbours' frames and the previous label.

The classify pipeline streams each video once (:func:`mousefear.core.video.iter_windows`) and preprocesses every
window once; :func:`with_context` holds one window back until the next one is decoded, then hands it on with a
:class:`~mousefear.core.video.WindowContext` that refers to the neighbouring windows already preprocessed (nothing
is decoded or preprocessed twice). In autoregressive mode the label of the previous window is looked up only when
a window is handed on, which in a chain (:meth:`~mousefear.backends.base.WindowBackend.classify_chains`) is after
the previous window's result came back.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from mousefear.core.video import Window, WindowContext

__all__ = ["decided_label", "with_context"]


def decided_label(probabilities: Sequence[Any], behaviors: Sequence[str]) -> str | None:
    """The behaviour decided for a window: the one with the highest probability (the first on a tie, as the
    vector file's ``windows/label``), or None when the probabilities are NaN (``None`` in a cache record)."""
    p = np.array([np.nan if x is None else float(x) for x in probabilities], dtype=np.float64)
    if p.size == 0 or np.isnan(p).all():
        return None
    return str(behaviors[int(np.nanargmax(p))])


def with_context(
    windows: Iterable[Window],
    mode: str,
    n_windows: int,
    wanted: Collection[int],
    *,
    previous_label: Callable[[int], str | None] | None = None,
    hint: Callable[[int], str] | None = None,
) -> Iterator[Window]:
    """The wanted windows of one video with their context, from its windows in order.

    Parameters
    ----------
    windows
        The video's windows in order, frames preprocessed, without context. In a context mode it must hold the
        neighbours of every wanted window (``index - 1`` and ``index + 1`` where the video has them); other
        windows may be missing.
    mode
        ``"none"``, ``"temporal"`` or ``"autoregressive"``.
    n_windows
        Windows of the video (the last one has no next neighbour).
    wanted
        Indices of the windows to hand on; the others are only neighbours.
    previous_label
        Autoregressive: index ``k`` -> the behaviour decided for window ``k - 1`` (called when window ``k`` is
        handed on).
    hint
        Index -> a sentence for the model about that window ("" = none).

    Yields
    ------
    Window
        The wanted windows in order, each with its :class:`~mousefear.core.video.WindowContext` (None in mode
        ``none`` without a hint). In a context mode a window whose next neighbour never came (the video stopped
        decoding early) is not handed on: nothing is said to the model that is not true.
    """
    it = iter(windows)
    if mode == "none":
        for window in it:
            if window.index in wanted:
                text = hint(window.index) if hint is not None else ""
                yield replace(window, context=WindowContext(hint=text)) if text else window
        return
    prev: Window | None = None
    cur = next(it, None)
    while cur is not None:
        nxt = next(it, None)  # decoded (once) before the current window is handed on: it is its next neighbour
        if cur.index in wanted:
            before = prev if prev is not None and prev.index == cur.index - 1 else None
            after = nxt if nxt is not None and nxt.index == cur.index + 1 else None
            if after is None and cur.index < n_windows - 1:
                if nxt is None:
                    return  # the stream ended early (the pipeline reports it): nothing untrue is said
                raise ValueError(f"window {cur.index + 1} of {cur.video_id} is needed as the next window of "
                                 f"{cur.index}, but the stream skips to {nxt.index}")
            if before is None and cur.index > 0:
                raise ValueError(f"window {cur.index - 1} of {cur.video_id} is needed as the previous window of "
                                 f"{cur.index}, but the stream does not hold it")
            label = None
            if mode == "autoregressive" and before is not None and previous_label is not None:
                label = previous_label(cur.index)
            text = hint(cur.index) if hint is not None else ""
            yield replace(cur, context=WindowContext(mode, before, after, label, text))
        prev, cur = cur, nxt
