"""Fear-conditioning summaries: percent time per behaviour, freezing bouts and latency per subject x session x epoch.

The epochs of a session come from ``protocol`` in config.yaml (``project.settings.protocol``): keys are session
names or patterns (``*`` matches any text), each with a list of epochs ``{name, start, end}`` in seconds from
the start of the video. A session takes the protocol of the key equal to its name; failing that, of the
matching pattern with the most literal (non-``*``) characters; two matching patterns equally specific are an
error naming both (:func:`mousefear.core.patterns.match_session`). A video whose session matches no key gets
one epoch ``whole`` covering the video.

Epoch ``[start, end)`` in seconds covers frames ``round(start * fps)`` to ``round(end * fps)`` (half-open),
cut at the end of the video. Bouts are clipped to the epoch: a freezing bout that spans an epoch boundary
counts as one bout in each epoch it touches, with only its part inside the epoch as duration, and a bout under
way at an epoch's start gives a latency of 0. Frames without a decided behaviour (label ``""``) are left out of the
percentages and end a bout.
"""

from __future__ import annotations

import logging
import math
import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mousefear._io import atomic_write_text
from mousefear.core.intervals import labels_to_bouts, labels_to_codes
from mousefear.core.patterns import match_session
from mousefear.core.project import ConfigLike, Project
from mousefear.core.sections import Epoch
from mousefear.errors import ConfigError, VectorFileError
from mousefear.formats.labels import read_label_file
from mousefear.formats.vectors import read_vector
from mousefear.pipeline.plots import new_figure, plot_ethogram, save_figure

logger = logging.getLogger(__name__)

__all__ = ["block_bootstrap_ci", "epoch_table", "epochs_for_session", "plot_freezing_timecourse",
           "plot_session_ethograms", "summarize",
           "summarize_epochs", "summarize_vector", "write_run_summary"]

#: Columns of epochs.csv before the per-behaviour percentages.
BASE_COLUMNS = ("run", "video_id", "subject", "session", "epoch_index", "epoch", "start_s", "end_s",
                "covered_s", "decided_s")
#: Columns of epochs.csv after the percentages.
FREEZE_COLUMNS = ("freezing_bouts", "freezing_mean_bout_s", "freezing_latency_s", "freezing_percent_ci_low",
                  "freezing_percent_ci_high")
#: The confidence interval of percent freezing: blocks of this many seconds are resampled ...
CI_BLOCK_SECONDS = 5
#: ... this many times (percentile interval, 95 %).
CI_RESAMPLES = 2000


def block_bootstrap_ci(frozen: np.ndarray, labelled: np.ndarray, fps: float, seed: int = 0,
                       block_seconds: float = CI_BLOCK_SECONDS, n_resamples: int = CI_RESAMPLES,
                       level: float = 0.95) -> tuple[float, float]:
    """95 % confidence interval of percent freezing by a moving-block bootstrap over seconds.

    The epoch is cut into seconds; each second contributes its freezing frames and its frames with a decided
    behaviour. Blocks of ``block_seconds`` consecutive seconds (so that the dependence between neighbouring seconds
    is kept) are drawn with replacement until the epoch's length is reached, ``n_resamples`` times; the interval is
    the ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of the resampled percent freezing (of the decided
    frames). It says how much the percentage could change with another stretch of the same behaviour, given the
    per-second decisions; it does not include the error of the decisions themselves (see
    docs/motion-and-summaries.md).

    Parameters
    ----------
    frozen, labelled
        (n_frames,) bool: frames decided freezing, frames with any decision.
    fps
        Frames per second.
    seed
        Seed of the resampling (``seed`` of config.yaml): the same inputs give the same interval.

    Returns
    -------
    (low, high) : tuple of float
        Percent (0-100); NaN when the epoch has no frame with a decided behaviour.
    """
    frozen = np.asarray(frozen, dtype=bool)
    labelled = np.asarray(labelled, dtype=bool)
    if not labelled.any():
        return math.nan, math.nan
    step = max(1, round(fps))
    edges = np.arange(0, frozen.size, step)
    f = np.add.reduceat((frozen & labelled).astype(np.int64), edges)
    n = np.add.reduceat(labelled.astype(np.int64), edges)
    n_sec = f.size
    block = max(1, min(int(round(block_seconds)), n_sec))
    n_blocks = math.ceil(n_sec / block)
    starts = np.arange(n_sec - block + 1)
    rng = np.random.default_rng(seed)
    picks = rng.choice(starts, size=(n_resamples, n_blocks))
    idx = (picks[:, :, None] + np.arange(block)).reshape(n_resamples, -1)[:, :n_sec]
    tot = n[idx].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        pct = np.where(tot > 0, 100.0 * f[idx].sum(axis=1) / np.maximum(tot, 1), np.nan)
    pct = pct[np.isfinite(pct)]
    if not pct.size:
        return math.nan, math.nan
    lo, hi = np.quantile(pct, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def epochs_for_session(protocol: Sequence[tuple[str, Sequence[Epoch]]], session: str,
                       source: str | os.PathLike = "config.yaml") -> tuple[str | None, list[Epoch]]:
    """Protocol key and epochs of a session.

    Parameters
    ----------
    protocol
        ``project.settings.protocol``: (session name or pattern, epochs) in config order.
    session
        Session name of a video.
    source
        The config file, named in the error.

    Returns
    -------
    key : str or None
        The protocol key used (None when none matches).
    epochs : list of Epoch
        In protocol order; empty when no key matches.

    Raises
    ------
    ConfigError
        Two patterns with the same number of literal characters both match the session.
    """
    match = match_session(protocol, session, source)
    return (None, []) if match is None else (match[0], list(match[1]))


def summarize_epochs(
    labels: Sequence[str] | np.ndarray,
    behaviors: Sequence[str],
    fps: float,
    epochs: Sequence[Epoch],
    freeze_behavior: str = "freezing",
    seed: int = 0,
) -> pd.DataFrame:
    """Per-epoch percentages and freezing bouts of one per-frame label vector.

    Parameters
    ----------
    labels
        (n_frames,) behaviour name per frame, ``""`` where none.
    behaviors
        Behaviour names (one percentage column each).
    fps
        Frames per second.
    epochs
        Epochs (``start``, ``end`` in seconds); an empty list means one epoch ``whole`` over the video.
    freeze_behavior
        The behaviour whose bouts and latency are reported.
    seed
        Seed of the confidence interval's resampling (:func:`block_bootstrap_ci`).

    Returns
    -------
    pandas.DataFrame
        One row per epoch: ``epoch_index``, ``epoch``, ``start_s``, ``end_s`` (as in the protocol),
        ``covered_s`` (seconds of the epoch inside the video), ``decided_s`` (of them, seconds with a decided
        behaviour), ``<behavior>_percent`` for every behaviour (percent of the epoch's frames with a decided
        behaviour; NaN when none), ``freezing_bouts`` (int),
        ``freezing_mean_bout_s`` and ``freezing_latency_s`` (seconds from the epoch's start to its first
        freezing frame) — both NaN without a bout in the epoch — and ``freezing_percent_ci_low``,
        ``freezing_percent_ci_high``: the 95 % interval of the freezing percentage (:func:`block_bootstrap_ci`).
    """
    labels = np.asarray(labels, dtype=object)
    n = labels.size
    if not epochs:
        epochs = [Epoch(name="whole", start=0.0, end=n / fps)]
    rows = []
    for i, ep in enumerate(epochs):
        start_s, end_s = float(ep.start), float(ep.end)
        f0 = min(round(start_s * fps), n)
        f1 = min(round(end_s * fps), n)
        seg = labels[f0:f1]
        labelled = seg != ""
        n_lab = int(np.count_nonzero(labelled))
        row: dict[str, Any] = {"epoch_index": i, "epoch": ep.name, "start_s": start_s, "end_s": end_s,
                               "covered_s": (f1 - f0) / fps, "decided_s": n_lab / fps}
        for b in behaviors:
            row[f"{b}_percent"] = 100.0 * np.count_nonzero(seg == b) / n_lab if n_lab else math.nan
        frozen = (seg == freeze_behavior).astype(np.int8)
        edges = np.diff(np.concatenate(([0], frozen, [0])))
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        row["freezing_bouts"] = int(starts.size)
        row["freezing_mean_bout_s"] = float(np.mean(ends - starts)) / fps if starts.size else math.nan
        row["freezing_latency_s"] = (f0 + starts[0]) / fps - start_s if starts.size else math.nan
        if starts.size and row["freezing_latency_s"] < 0:  # epoch starts between frames: round to its start
            row["freezing_latency_s"] = 0.0
        row["freezing_percent_ci_low"], row["freezing_percent_ci_high"] = block_bootstrap_ci(
            frozen.astype(bool), labelled, fps, seed=seed + i)
        rows.append(row)
        if f1 - f0 < round((end_s - start_s) * fps):
            logger.warning("Epoch %r [%g, %g) s reaches past the end of the video (%.2f s); it is cut there",
                           ep.name, start_s, end_s, n / fps)
    return pd.DataFrame(rows)


def _run_files(project: Project, run: str) -> list[Path]:
    """The run's behaviour-vector files (of registered videos, found by name), sorted by file name."""
    return sorted(project.vector_files(run).values(), key=lambda p: p.name)


def epoch_table(config: ConfigLike, run: str | None = None) -> pd.DataFrame:
    """The epoch summary of a run without writing anything (see :func:`summarize`)."""
    project = Project.open(config)
    run = project.select_run(run)
    freeze = project.settings.freezing_behavior
    if freeze is None:
        raise ConfigError(f"{project.config_path}: Expected freezing_behavior to name the freezing "
                          "behaviour for the fear-conditioning summary, but it is null")
    protocol = project.settings.protocol
    frames = []
    behaviors: list[str] | None = None
    for path in _run_files(project, run):
        vec = read_vector(path)
        if behaviors is None:
            behaviors = list(vec.attrs["behaviors"])
            if freeze not in behaviors:
                raise VectorFileError(f"{path}: Expected a behaviour named {freeze!r} (freezing_behavior of "
                                      "config.yaml) for the fear-conditioning summary, but the behaviours are "
                                      f"{behaviors}")
        elif list(vec.attrs["behaviors"]) != behaviors:
            raise VectorFileError(f"{path}: Expected the behaviours {behaviors} of the other files of run "
                                  f"{run!r}, but got {vec.attrs['behaviors']}")
        session = str(vec.attrs["session"])
        key, epochs = epochs_for_session(protocol, session, project.config_path)
        if key is None and protocol:
            logger.info("Session %r of %s matches no protocol entry: one epoch 'whole'", session, path.name)
        table = summarize_epochs(vec["label"].to_numpy(dtype=object), behaviors, float(vec.attrs["fps"]), epochs,
                                 freeze_behavior=freeze, seed=project.settings.seed)
        table.insert(0, "session", session)
        table.insert(0, "subject", str(vec.attrs["subject"]))
        table.insert(0, "video_id", str(vec.attrs["video_id"]))
        table.insert(0, "run", run)
        frames.append(table)
    out = pd.concat(frames, ignore_index=True)
    cols = [*BASE_COLUMNS, *[f"{b}_percent" for b in behaviors or []], *FREEZE_COLUMNS]
    return out[cols]


def summarize(config: ConfigLike, run: str | None = None, plot: bool = True) -> pd.DataFrame:
    """Fear-conditioning summary of a run, per subject x session x epoch; writes epochs.csv and a plot.

    Parameters
    ----------
    config
        Path of config.yaml or the project folder, or an opened :class:`~mousefear.core.project.Project`.
    run
        Run name (a folder of ``behavior-vectors/``); None = ``classification.run`` of config.yaml, else the
        only run, else the run written last (the rule of every command).
    plot
        Also write ``freezing_timecourse.png`` and the per-subject ethograms with the epochs shaded
        (:func:`plot_session_ethograms`).

    Returns
    -------
    pandas.DataFrame
        One row per video x epoch, sorted by subject, session, epoch order, with the columns of
        ``behavior-vectors/<run>/epochs.csv``: ``run, video_id, subject, session, epoch_index, epoch, start_s,
        end_s, covered_s, decided_s, <behavior>_percent ..., freezing_bouts, freezing_mean_bout_s,
        freezing_latency_s, freezing_percent_ci_low, freezing_percent_ci_high`` (seconds; percentages of the
        frames of the epoch with a decided behaviour; the last two the 95 % interval of percent freezing).

    Raises
    ------
    ProjectError
        No such run (or ``classification.run`` names none).
    VectorFileError
        No run has behaviour vectors, a behaviour-vector file cannot be read, or the files disagree on the
        behaviours.
    ConfigError
        A session matches two protocol patterns equally well.
    """
    project = Project.open(config)
    run = project.select_run(run)
    folder = project.paths.vectors(run)
    table = epoch_table(project, run)
    order = _natural_order(table["session"])
    table = (table.assign(_s=table["session"].map(order))
             .sort_values(["subject", "_s", "epoch_index", "video_id"], kind="stable")
             .drop(columns="_s").reset_index(drop=True))
    out = folder / "epochs.csv"
    atomic_write_text(out, table.to_csv(index=False, float_format="%.6f", lineterminator="\n"))
    logger.info("Wrote %s (%d rows)", out, len(table))
    if plot:
        plot_freezing_timecourse(table, folder / "freezing_timecourse.png", str(project.settings.freezing_behavior))
        plot_session_ethograms(project, run)
    return table


def _natural_key(text: str) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


def _natural_order(values: pd.Series) -> dict[str, int]:
    return {v: i for i, v in enumerate(sorted(values.unique(), key=_natural_key))}


def plot_freezing_timecourse(table: pd.DataFrame, path: str | os.PathLike, behavior: str = "freezing") -> Path:
    """Percent freezing per epoch across sessions: one thin line per subject with its 95 % interval (when the
    table has the ``freezing_percent_ci_*`` columns), the group mean +- SEM in bold.

    Parameters
    ----------
    table
        As returned by :func:`summarize` (columns subject, session, epoch_index, epoch, <behavior>_percent).
    path
        PNG file to write (atomically).
    behavior
        The freezing behaviour (``freezing_behavior`` of config.yaml), whose percent time is drawn.
    """
    order = _natural_order(table["session"])
    keyed = table.assign(sidx=table["session"].map(order))
    steps = (keyed[["sidx", "session", "epoch_index", "epoch"]].drop_duplicates(["sidx", "epoch_index"])
             .sort_values(["sidx", "epoch_index"]).reset_index(drop=True))
    step_of = {(r.sidx, r.epoch_index): i for i, r in enumerate(steps.itertuples())}
    keyed["_x"] = [step_of[(s, e)] for s, e in zip(keyed["sidx"], keyed["epoch_index"], strict=True)]
    per_subject = keyed.groupby(["subject", "_x"])[f"{behavior}_percent"].mean().unstack("_x")
    per_subject = per_subject.reindex(columns=range(len(steps)))
    fig = new_figure(max(5.0, 0.7 * len(steps) + 2), 3.8)
    ax = fig.add_subplot()
    xs = np.arange(len(steps))
    lows = highs = None
    if "freezing_percent_ci_low" in keyed:
        lows = keyed.groupby(["subject", "_x"])["freezing_percent_ci_low"].mean().unstack("_x")
        highs = keyed.groupby(["subject", "_x"])["freezing_percent_ci_high"].mean().unstack("_x")
        lows, highs = lows.reindex(columns=range(len(steps))), highs.reindex(columns=range(len(steps)))
    for subject, row in per_subject.iterrows():
        line = ax.plot(xs, row.to_numpy(float), "-o", lw=0.8, ms=3, alpha=0.45, label=str(subject))[0]
        if lows is not None:  # the 95 % interval of each subject's percentage (block bootstrap over seconds)
            ax.vlines(xs, lows.loc[subject].to_numpy(float), highs.loc[subject].to_numpy(float),
                      color=line.get_color(), lw=0.8, alpha=0.45)
    values = per_subject.to_numpy(float)
    n = np.sum(np.isfinite(values), axis=0)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # epochs with one subject or none
        mean = np.nanmean(np.where(np.isfinite(values), values, np.nan), axis=0) if values.size else xs * np.nan
        sem = np.where(n > 1, np.nanstd(values, axis=0, ddof=1) / np.sqrt(np.maximum(n, 1)), 0.0)
    ax.plot(xs, mean, "-o", color="black", lw=2.2, ms=5, label=f"mean ± SEM (n={per_subject.shape[0]})")
    ax.fill_between(xs, mean - sem, mean + sem, color="black", alpha=0.15, lw=0)
    ax.set_xticks(xs, [f"{s}\n{e}" for s, e in zip(steps["session"], steps["epoch"], strict=True)], fontsize=8)
    ax.set_ylabel(f"{behavior} (% of time)")
    ax.set_ylim(-2, 102)
    ax.set_title("Freezing per epoch across sessions")
    for i in range(1, len(steps)):  # separate sessions
        if steps["sidx"][i] != steps["sidx"][i - 1]:
            ax.axvline(i - 0.5, color="0.8", lw=0.8)
    if per_subject.shape[0] <= 12:
        ax.legend(fontsize=7, frameon=False, loc="center left", bbox_to_anchor=(1.0, 0.5))
    path = save_figure(fig, path, dpi=120)
    logger.info("Wrote %s", path)
    return path


def plot_session_ethograms(config: ConfigLike, run: str | None = None) -> list[Path]:
    """Per-session ethograms of a run with the protocol's epochs shaded.

    One PNG per subject, ``behavior-vectors/<run>/ethograms_<subject>.png``, with one panel per session (in
    natural order): the predicted behaviour along time (seconds), the probabilities beneath, the human labels
    where ``labels/<video_id>.csv`` exists, and the epochs of the session's protocol shaded and named.

    Returns
    -------
    list of Path
        The files written.
    """
    project = Project.open(config)
    run = project.select_run(run)
    folder = project.paths.vectors(run)
    by_subject: dict[str, list[tuple[str, Path]]] = {}
    for h5 in _run_files(project, run):
        vec = read_vector(h5)
        by_subject.setdefault(str(vec.attrs["subject"]), []).append((str(vec.attrs["session"]), h5))
    written = []
    for subject, items in sorted(by_subject.items(), key=lambda kv: _natural_key(kv[0])):
        items.sort(key=lambda it: _natural_key(it[0]))
        fig = new_figure(12.0, 2.6 * len(items))
        axes = fig.subplots(len(items), 1, squeeze=False)[:, 0]
        for ax, (session, h5) in zip(axes, items, strict=True):
            vec = read_vector(h5)
            behaviors = list(vec.attrs["behaviors"])
            _, epochs = epochs_for_session(project.settings.protocol, session, project.config_path)
            label_file = project.paths.label_file(str(vec.attrs["video_id"]))
            human = read_label_file(label_file, behaviors, len(vec)) if label_file.is_file() else None
            plot_ethogram(ax, vec["label"].to_numpy(dtype=object), vec[behaviors], behaviors,
                          float(vec.attrs["fps"]), human=human,
                          epochs=[(e.name, e.start, e.end) for e in epochs],
                          title=f"{subject} · {session or '(no session)'} · {vec.attrs['video_id']}")
        out = save_figure(fig, folder / f"ethograms_{_safe_name(subject)}.png", dpi=100)
        logger.info("Wrote %s", out)
        written.append(out)
    return written


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text) or "subject"


# ------------------------------------------------------------------------------------------- per-video summaries
def summarize_vector(vector: pd.DataFrame, fps: float | None = None) -> pd.DataFrame:
    """Time, share and bouts of each behaviour in a per-frame vector.

    Parameters
    ----------
    vector : pandas.DataFrame
        As returned by :func:`read_vector` (column ``label``; ``attrs["behaviors"]`` lists the classes,
        otherwise the probability columns do).
    fps : float, optional
        Frames per second; default ``vector.attrs["fps"]``.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``behavior`` (every class, in order), columns ``frames`` (int), ``seconds``, ``percent``
        (of the frames with a decided behaviour, i.e. whose label is not ``""``; NaN when there is none),
        ``bouts`` (int, runs of consecutive frames; a frame without a decided behaviour ends a bout) and
        ``mean_bout_s`` (NaN without bouts). ``attrs`` holds ``fps``, ``n_frames``, ``decided_frames`` (frames
        with a decided behaviour), ``duration_s`` and ``decided_s``.
    """
    if fps is None:
        fps = vector.attrs.get("fps")
    if not (isinstance(fps, int | float) and not isinstance(fps, bool) and math.isfinite(fps) and fps > 0):
        raise ValueError(f"Expected fps to be a positive number, but got {fps!r}")
    fps = float(fps)
    behaviors = list(vector.attrs.get("behaviors", [c for c in vector.columns if c != "label"]))
    codes, _ = labels_to_codes(vector["label"].to_numpy(dtype=object), behaviors)
    n_frames = int(codes.size)
    frames = np.bincount(codes[codes >= 0], minlength=len(behaviors)).astype(np.int64)
    labelled = int(frames.sum())
    bouts = labels_to_bouts(codes, behaviors)
    n_bouts = (
        bouts.groupby("behavior")["n_frames"].count().reindex(behaviors, fill_value=0).to_numpy(np.int64)
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        percent = 100.0 * frames / labelled if labelled else np.full(len(behaviors), np.nan)
        mean_bout_s = np.where(n_bouts > 0, frames / np.maximum(n_bouts, 1) / fps, np.nan)
    out = pd.DataFrame(
        {
            "frames": frames,
            "seconds": frames / fps,
            "percent": percent,
            "bouts": n_bouts,
            "mean_bout_s": mean_bout_s,
        },
        index=pd.Index(behaviors, name="behavior", dtype=object),
    )
    out.attrs.update(
        fps=fps,
        n_frames=n_frames,
        decided_frames=labelled,
        duration_s=n_frames / fps,
        decided_s=labelled / fps,
    )
    return out


def write_run_summary(vectors: Sequence[str | os.PathLike], out_path: str | os.PathLike) -> pd.DataFrame:
    """Summarise behaviour-vector files (usually every file of a run) into one CSV table, one row per video.

    Parameters
    ----------
    vectors : sequence of path-like
        The behaviour-vector files, in row order (a run's: :meth:`~mousefear.core.project.Project.vector_files`).
        Files are named, never found by listing a folder, so a stray or temporary file is never read.
    out_path : path-like
        CSV file to write atomically (usually ``behavior-vectors/<run>/summary.csv``).

    Returns
    -------
    pandas.DataFrame
        The table written: columns ``video_id, subject, session, n_frames, duration_s, decided_frames,
        decided_s``, then ``<b>_seconds, <b>_percent, <b>_bouts`` for every behaviour ``b``. Percentages
        are of the frames with a decided behaviour (``decided_frames``), not of all frames.

    Raises
    ------
    mousefear.errors.VectorFileError
        A file cannot be read, the files disagree on the behaviours, or there is no file.
    TypeError
        ``vectors`` is one path (a folder is never listed: name its files).
    """
    if isinstance(vectors, str | os.PathLike):
        raise TypeError(f"Expected a list of behaviour-vector files, but got the single path {vectors}")
    paths = [Path(p) for p in vectors]
    if not paths:
        raise VectorFileError("Expected at least one behaviour-vector file, but got an empty list")
    rows = []
    behaviors: list[str] | None = None
    first = None
    for p in paths:
        vec = read_vector(p)
        if behaviors is None:
            behaviors, first = vec.attrs["behaviors"], p
        elif vec.attrs["behaviors"] != behaviors:
            raise VectorFileError(
                f"Expected every file to have the behaviours {behaviors} of {first}, "
                f"but {p} has {vec.attrs['behaviors']}"
            )
        s = summarize_vector(vec)
        row: dict[str, Any] = {
            "video_id": vec.attrs["video_id"],
            "subject": vec.attrs["subject"],
            "session": vec.attrs["session"],
            "n_frames": s.attrs["n_frames"],
            "duration_s": s.attrs["duration_s"],
            "decided_frames": s.attrs["decided_frames"],
            "decided_s": s.attrs["decided_s"],
        }
        for b in behaviors:
            row[f"{b}_seconds"] = s.at[b, "seconds"]
            row[f"{b}_percent"] = s.at[b, "percent"]
            row[f"{b}_bouts"] = int(s.at[b, "bouts"])
        rows.append(row)
    table = pd.DataFrame(rows)
    atomic_write_text(out_path, table.to_csv(index=False, float_format="%.6f", lineterminator="\n"))
    logger.info("Wrote run summary %s (%d videos)", out_path, len(rows))
    return table
