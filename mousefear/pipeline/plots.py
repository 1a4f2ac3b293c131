"""Plots of mousefear: ethograms, confusion matrices, percent time, run comparisons, with one colour per behaviour.

Every plot is drawn on a :class:`matplotlib.figure.Figure` with the Agg canvas attached inside the function:
nothing here touches pyplot or the global matplotlib backend, so the functions are safe in notebooks. Colours
of behaviours come from one function, :func:`behavior_colors`, so a behaviour has the same colour in every plot
(and in the HTML report, :mod:`mousefear.pipeline.report`). matplotlib is imported inside the functions that
draw, so importing this module stays light.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mousefear._io import atomic_path

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "NONE_COLOR",
    "behavior_colors",
    "new_figure",
    "plot_comparison",
    "plot_confusion",
    "plot_ethogram",
    "plot_percent_time",
    "save_figure",
    "write_comparison_plot",
    "write_evaluation_plots",
]


#: Fixed colours of the default behaviours (colour-blind-friendly Okabe-Ito / tab10 hues).
_FIXED_COLORS = {
    "freezing": "#0072B2",  # blue
    "exploring": "#009E73",  # green
    "grooming": "#E69F00",  # orange
    "rearing": "#CC79A7",  # purple-pink
    "fleeing": "#D55E00",  # vermillion
}
#: Colours given, in order, to behaviours without a fixed colour.
_PALETTE = ("#56B4E9", "#F0E442", "#8C564B", "#7F7F7F", "#BCBD22", "#17BECF", "#9467BD", "#1F77B4",
            "#FF7F0E", "#2CA02C", "#D62728", "#E377C2")
#: Colour of frames without a prediction.
NONE_COLOR = "#BDBDBD"


def behavior_colors(behaviors: Sequence[str]) -> dict[str, str]:
    """One colour per behaviour, the same in every plot of mousefear.

    Parameters
    ----------
    behaviors : sequence of str
        Behaviour names, in project order.

    Returns
    -------
    dict
        Behaviour name -> hex colour ``"#RRGGBB"``. The five default behaviours always get the same colours
        (freezing blue, exploring green, grooming orange, rearing pink, fleeing vermillion); other names take
        the unused colours of a fixed palette in the order given, so the result depends only on ``behaviors``.
        ``"none"`` (no prediction) is :data:`NONE_COLOR`.
    """
    out: dict[str, str] = {}
    used = {c for b, c in _FIXED_COLORS.items() if b in behaviors}
    free = [c for c in (*_PALETTE, *_FIXED_COLORS.values()) if c not in used]
    i = 0
    for b in behaviors:
        if b in _FIXED_COLORS:
            out[b] = _FIXED_COLORS[b]
        elif b == "none":
            out[b] = NONE_COLOR
        else:
            out[b] = free[i % len(free)]
            i += 1
    return out


def new_figure(width: float, height: float) -> Figure:
    """A matplotlib Figure of ``width`` x ``height`` inches on the Agg canvas (no pyplot, no global state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = 100) -> Path:
    """Save a figure as PNG atomically (temporary file, then rename); returns ``path``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    return Path(path)


# ------------------------------------------------------------------------------------------------------------
# Ethogram
# ------------------------------------------------------------------------------------------------------------


def _label_names(labels: Any, behaviors: list[str], what: str) -> np.ndarray:
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise ValueError(f"Expected {what} to be 1-D (n_frames,), but got shape {arr.shape}")
    if arr.dtype.kind in "iu":
        if arr.size and (arr.min() < -1 or arr.max() >= len(behaviors)):
            raise ValueError(f"Expected {what} indices in [-1, {len(behaviors)}), but got values out of range")
        return np.asarray([*behaviors, ""], dtype=object)[arr]
    out = np.array(["" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v) for v in arr],
                   dtype=object)
    unknown = sorted({v for v in out if v and v not in behaviors})
    if unknown:
        raise ValueError(f"Expected {what} among {behaviors}, but got {unknown}")
    return out


def _runs(names: np.ndarray) -> list[tuple[str, int, int]]:
    """(name, start, end) of each run of equal values, end exclusive."""
    if names.size == 0:
        return []
    change = np.flatnonzero(names[1:] != names[:-1]) + 1
    starts = np.concatenate(([0], change))
    ends = np.concatenate((change, [names.size]))
    return [(str(names[s]), int(s), int(e)) for s, e in zip(starts, ends, strict=True)]


def plot_ethogram(
    ax_or_fig: Axes | Figure | None,
    labels: Any,
    probabilities: Any,
    behaviors: Sequence[str],
    fps: float,
    human: Any = None,
    epochs: Sequence[tuple[str, float, float]] | None = None,
    title: str | None = None,
) -> Figure:
    """Draw an ethogram: predicted (and human) behaviour along time, with the probabilities beneath.

    Everything is drawn in one Axes, bottom to top: the class probabilities as a stacked area (0-1), the
    predicted behaviour as a coloured band, and the human labels as a second band. Colours come from
    :func:`behavior_colors`; frames without a prediction are grey, unlabelled frames are left blank.

    Parameters
    ----------
    ax_or_fig : matplotlib Axes, Figure or None
        Axes to draw into (e.g. one panel per session of a summary figure), a Figure (one Axes is added to
        it), or None (a new Figure, 12 x 3 inches, with the Agg canvas).
    labels : array-like, shape (n_frames,)
        Predicted behaviour per frame: names (``""`` = none) or indices into ``behaviors`` (-1 = none).
        None draws no predicted band.
    probabilities : array-like or DataFrame, shape (n_frames, n_behaviors), or None
        Probability of each behaviour per frame (columns in ``behaviors`` order; NaN = none). None draws no
        probabilities.
    behaviors : sequence of str
        Class names.
    fps : float
        Frames per second; the time axis is in seconds (frame ``i`` spans ``[i / fps, (i + 1) / fps)``).
    human : array-like, shape (n_frames,), optional
        Human labels per frame, same forms as ``labels`` (``""`` = unlabelled).
    epochs : sequence of (name, start_s, end_s), optional
        Protocol epochs (e.g. baseline, tone, shock) in seconds from the start of the video: shaded
        alternately and named above the plot.
    title : str, optional
        Axes title.

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn into.
    """
    behaviors = [str(b) for b in behaviors]
    if not (isinstance(fps, int | float) and math.isfinite(fps) and fps > 0):
        raise ValueError(f"Expected fps to be a positive number, but got {fps!r}")
    if ax_or_fig is None:
        fig = new_figure(12, 3.2)
        ax = fig.add_subplot()
    elif hasattr(ax_or_fig, "add_subplot"):
        fig = ax_or_fig
        ax = fig.add_subplot()
    else:
        ax = ax_or_fig
        fig = ax.figure
    colors = behavior_colors(behaviors)
    rows: list[tuple[str, np.ndarray]] = []
    if labels is not None:
        rows.append(("predicted", _label_names(labels, behaviors, "labels")))
    if human is not None:
        rows.append(("human", _label_names(human, behaviors, "human")))
    n_frames = max([r[1].size for r in rows] + [0])
    probs = None
    if probabilities is not None:
        probs = np.asarray(probabilities.to_numpy() if isinstance(probabilities, pd.DataFrame) else probabilities,
                           dtype=np.float64)
        if probs.ndim != 2 or probs.shape[1] != len(behaviors) or (n_frames and probs.shape[0] != n_frames):
            raise ValueError(f"Expected probabilities of shape ({n_frames or 'n_frames'}, {len(behaviors)}), "
                             f"but got {probs.shape}")
        n_frames = probs.shape[0]
    for name, arr in rows:
        if arr.size != n_frames:
            raise ValueError(f"Expected {name} labels of length {n_frames}, but got {arr.size}")
    duration = n_frames / fps

    yticks, yticklabels = [], []
    y = 0.0
    if probs is not None:
        # probabilities are piecewise constant (one value per window): draw a step at each change only
        p = np.nan_to_num(probs, nan=0.0)
        if n_frames:
            change = np.concatenate(([0], np.flatnonzero((p[1:] != p[:-1]).any(axis=1)) + 1))
            t = np.append(change, n_frames) / fps
            p = np.vstack([p[change], p[-1:]])
            ax.stackplot(t, p.T, colors=[colors[b] for b in behaviors], alpha=0.85, linewidth=0, step="post")
        yticks += [0.0, 0.5, 1.0]
        yticklabels += ["0", "0.5", "1"]
        ax.annotate("probability", xy=(0, 0.5), xycoords=ax.get_yaxis_transform(), xytext=(-26, 0),
                    textcoords="offset points", rotation=90, ha="right", va="center", fontsize=8, color="#555")
        y = 1.1
    band_h = 0.35
    for name, arr in rows:
        for b in behaviors:
            spans = [(s / fps, (e - s) / fps) for v, s, e in _runs(arr) if v == b]
            if spans:
                ax.broken_barh(spans, (y, band_h), facecolors=colors[b], edgecolor="none")
        if name == "predicted":
            spans = [(s / fps, (e - s) / fps) for v, s, e in _runs(arr) if v == ""]
            if spans:
                ax.broken_barh(spans, (y, band_h), facecolors=NONE_COLOR, edgecolor="none", hatch="///")
        ax.add_patch(_outline(duration, y, band_h))
        yticks.append(y + band_h / 2)
        yticklabels.append(name)
        y += band_h + 0.08
    top = max(y, 1.0)
    if epochs:
        trans = ax.get_xaxis_transform()
        for i, ep in enumerate(epochs):
            name, start, end = str(ep[0]), float(ep[1]), float(ep[2])
            ax.axvspan(start, end, color="#000000", alpha=0.07 if i % 2 == 0 else 0.14, linewidth=0, zorder=0)
            ax.axvline(start, color="#555", linewidth=0.6, linestyle=":")
            ax.text((start + end) / 2, 1.01, name, transform=trans, ha="center", va="bottom", fontsize=8,
                    clip_on=False)
    ax.set_xlim(0, duration if duration > 0 else 1)
    ax.set_ylim(0, top)
    ax.set_yticks(yticks, yticklabels, fontsize=8)
    ax.set_xlabel("time (s)")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    from matplotlib.patches import Patch

    handles = [Patch(facecolor=colors[b], label=b) for b in behaviors]
    if labels is not None:
        handles.append(Patch(facecolor=NONE_COLOR, hatch="///", label="no prediction"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8, frameon=False)
    if title:
        ax.set_title(title, fontsize=10, pad=14 if epochs else 6)
    return fig


def _outline(duration: float, y: float, h: float):
    from matplotlib.patches import Rectangle

    return Rectangle((0, y), duration, h, fill=False, edgecolor="#999", linewidth=0.5)


# ------------------------------------------------------------------------------------------------------------
# Confusion matrix, percent time, comparison
# ------------------------------------------------------------------------------------------------------------


def plot_confusion(ax_or_fig: Axes | Figure | None, counts: pd.DataFrame, title: str | None = None) -> Figure:
    """Confusion matrix as a heat map of row-normalised shares, each cell annotated with count and percent.

    Parameters
    ----------
    ax_or_fig : Axes, Figure or None
        Where to draw (None: a new Figure).
    counts : pandas.DataFrame, shape (K, K + 1)
        Counts, rows = human label, columns = predicted label plus ``"none"`` (as from
        :func:`mousefear.pipeline.metrics.confusion`).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    k, m = counts.shape
    if ax_or_fig is None:
        fig = new_figure(1.6 + 0.95 * m, 1.2 + 0.8 * k)
        ax = fig.add_subplot()
    elif hasattr(ax_or_fig, "add_subplot"):
        fig, ax = ax_or_fig, ax_or_fig.add_subplot()
    else:
        ax, fig = ax_or_fig, ax_or_fig.figure
    c = counts.to_numpy(dtype=np.float64)
    sums = c.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(sums[:, None] > 0, c / np.where(sums[:, None] > 0, sums[:, None], 1), np.nan)
    ax.imshow(np.ma.masked_invalid(share), cmap="Blues", vmin=0, vmax=1, aspect="auto")
    for i in range(k):
        for j in range(m):
            if math.isnan(share[i, j]):
                txt, col = f"{int(c[i, j])}", "#999"
            else:
                txt = f"{int(c[i, j])}\n{100 * share[i, j]:.0f}%"
                col = "white" if share[i, j] > 0.6 else "#222"
            ax.text(j, i, txt, ha="center", va="center", fontsize=8, color=col)
    ax.set_xticks(range(m), [str(x) for x in counts.columns], rotation=30, ha="right", fontsize=9)
    ax.set_yticks(range(k), [f"{r} (n={int(s)})" for r, s in zip(counts.index, sums, strict=True)], fontsize=9)
    ax.set_xlabel("predicted")
    ax.set_ylabel("human")
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def plot_percent_time(ax_or_fig: Axes | Figure | None, table: pd.DataFrame, behaviors: Sequence[str],
                      title: str | None = None) -> Figure:
    """Predicted against human percent time per video, one colour per behaviour, with the identity line.

    Parameters
    ----------
    table : pandas.DataFrame
        Columns ``video_id``, ``behavior``, ``human``, ``predicted`` (percent, 0-100), as from
        :meth:`mousefear.pipeline.evaluate.Evaluation.percent_time`.
    """
    if ax_or_fig is None:
        fig = new_figure(5.2, 4.2)
        ax = fig.add_subplot()
    elif hasattr(ax_or_fig, "add_subplot"):
        fig, ax = ax_or_fig, ax_or_fig.add_subplot()
    else:
        ax, fig = ax_or_fig, ax_or_fig.figure
    colors = behavior_colors(list(behaviors))
    ax.plot([0, 100], [0, 100], color="#999", linewidth=0.8, linestyle="--", label="identity")
    for b in behaviors:
        t = table[table["behavior"] == b]
        ax.scatter(t["human"], t["predicted"], s=28, color=colors[b], label=b, edgecolor="white", linewidth=0.5)
    ax.set_xlim(-2, 102)
    ax.set_ylim(-2, 102)
    ax.set_aspect("equal")
    ax.set_xlabel("human, % of labelled time")
    ax.set_ylabel("predicted, % of labelled time")
    ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def plot_comparison(ax_or_fig: Axes | Figure | None, table: pd.DataFrame, metrics: Sequence[str] | None = None,
                    title: str | None = None) -> Figure:
    """Grouped bar chart of runs: one group of bars per metric, one bar per run.

    Parameters
    ----------
    table : pandas.DataFrame
        Indexed by run, as returned by :func:`mousefear.pipeline.compare.compare_runs`.
    metrics : sequence of str, optional
        Columns to draw; default every ``f1_<behaviour>`` column, ``macro_f1``, ``mcc`` and ``kappa``.
        NaN values draw no bar.
    """
    if metrics is None:
        metrics = [c for c in table.columns if c.startswith("f1_")] + ["macro_f1", "mcc", "kappa"]
    metrics = [m for m in metrics if m in table.columns]
    runs = [str(r) for r in table.index]
    if ax_or_fig is None:
        fig = new_figure(max(6.0, 1.0 + 0.35 * len(metrics) * max(1, len(runs))), 3.8)
        ax = fig.add_subplot()
    elif hasattr(ax_or_fig, "add_subplot"):
        fig, ax = ax_or_fig, ax_or_fig.add_subplot()
    else:
        ax, fig = ax_or_fig, ax_or_fig.figure
    n = max(1, len(runs))
    width = 0.8 / n
    x = np.arange(len(metrics))
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    for i, r in enumerate(runs):
        vals = table.loc[table.index[i], metrics].to_numpy(dtype=np.float64)
        ok = ~np.isnan(vals)
        xs = x - 0.4 + width * (i + 0.5)
        ax.bar(xs[ok], vals[ok], width * 0.95, color=cmap(i % 10), label=r)
        for xi, v in zip(xs, vals, strict=True):  # the value on each bar; n/a where undefined
            ax.text(xi, (max(v, 0.0) if not math.isnan(v) else 0.0) + 0.02, "n/a" if math.isnan(v) else f"{v:.2f}",
                    rotation=90, ha="center", va="bottom", fontsize=7, color="#333")
    ax.axhline(0, color="#444", linewidth=0.6)
    ax.set_xticks(x, [m.replace("f1_", "F1 ") for m in metrics], rotation=20, ha="right", fontsize=9)
    ax.set_ylim(min(0.0, float(np.nanmin(table[metrics].to_numpy(dtype=np.float64), initial=0.0)) - 0.05), 1.2)
    ax.set_ylabel("score")
    ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def write_comparison_plot(table: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Draw :func:`plot_comparison` of ``table`` into the PNG ``path`` (atomically)."""
    fig = plot_comparison(None, table, title="runs compared (frame level)")
    return save_figure(fig, path)


def write_evaluation_plots(evaluation: Any, videos: Mapping[str, Any]) -> list[Path]:
    """Write ``confusion.png``, ``percent_time.png`` and ``ethogram_<video>.png`` of an evaluation.

    Parameters
    ----------
    evaluation : mousefear.pipeline.evaluate.Evaluation
    videos : mapping video id -> per-video data (with ``human``, ``pred``, ``probabilities``, ``fps``)
    """
    folder = Path(evaluation.folder)
    behaviors = evaluation.behaviors
    written = []
    for old in folder.glob("ethogram_*.png"):  # ethograms of videos no longer in this evaluation
        if old.stem[len("ethogram_"):] not in videos:
            old.unlink()
    fig = plot_confusion(None, evaluation.confusion("frame"), title=f"{evaluation.run}: frames, human vs predicted")
    written.append(save_figure(fig, folder / "confusion.png"))
    fig = plot_percent_time(None, evaluation.percent_time(), behaviors, title="percent time per video")
    written.append(save_figure(fig, folder / "percent_time.png"))
    for vid, v in videos.items():
        human = v.human if v.n_labelled else None
        fig = plot_ethogram(None, v.pred, v.probabilities, behaviors, v.fps, human=human,
                            title=f"{vid} (subject {v.subject or '-'}, session {v.session or '-'})")
        written.append(save_figure(fig, folder / f"ethogram_{vid}.png"))
    return written
