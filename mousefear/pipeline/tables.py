"""Per-window tables of a run: ``<video_id>_seconds.csv`` per video and ``windows.csv`` for the whole run.

:func:`classify_videos <mousefear.pipeline.classify.classify_videos>` writes them at the end of every call;
:func:`window_table` (``mousefear window-table``) writes them again for a run made before they existed, or
returns the table for a notebook. The layout is :mod:`mousefear.formats.windows`. The tables are made from the
behaviour-vector files found by name (:meth:`~mousefear.core.project.Project.vector_files`), so the tables
themselves are never taken for vector files.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from mousefear.core.project import ConfigLike, Project
from mousefear.core.video import Video
from mousefear.errors import ProjectError
from mousefear.formats.vectors import read_vector_windows
from mousefear.formats.windows import FIXED_COLUMNS, probability_column, window_rows, write_window_table
from mousefear.pipeline.summary import write_run_summary

__all__ = ["decided_by", "run_videos", "window_table", "write_run_tables", "write_window_tables"]

logger = logging.getLogger(__name__)


def decided_by(windows: pd.DataFrame) -> str | list[str]:
    """Which path decided each window of a vector file: a per-window ``decided_by`` column where the file has one
    (a run that combines several deciders), else the run's backend for every window."""
    if "decided_by" in windows.columns:
        return [str(d) for d in windows["decided_by"]]
    return str(windows.attrs.get("backend", ""))


def run_videos(project: Project, run: str, videos: Iterable[str] | str | None = None) -> list[tuple[Video, Path]]:
    """The videos of a run with their vector files: every one (registry order), or those named, in that order.

    Raises
    ------
    mousefear.errors.ProjectError
        A name matches no registered video, or a video named has no vector file in the run.
    """
    files = project.vector_files(run)
    chosen = [v for v in project.videos if v.id in files] if videos is None else project.select_videos(videos)
    missing = [v.id for v in chosen if v.id not in files]
    if missing:
        raise ProjectError(f"{project.paths.vectors(run)}: Expected behaviour-vector files of {missing} in run "
                           f"{run!r}, but there are none; classify them first")
    return [(v, files[v.id]) for v in chosen]


def _video_rows(path: Path, run: str) -> pd.DataFrame:
    win = read_vector_windows(path)
    a = win.attrs
    return window_rows(win, run=run, video_id=str(a.get("video_id") or path.stem), subject=str(a.get("subject", "")),
                       session=str(a.get("session", "")), fps=float(a["fps"]), decided_by=decided_by(win))


def write_window_tables(project: Project, run: str) -> pd.DataFrame:
    """(Re)write ``<video_id>_seconds.csv`` of every vector file of ``run`` and the run's ``windows.csv``.

    Returns
    -------
    pandas.DataFrame
        The rows of ``windows.csv`` (every video, registry order); empty with the fixed columns when the run has
        no vector file.
    """
    tables = []
    for vid, path in project.vector_files(run).items():
        rows = _video_rows(path, run)
        write_window_table(project.paths.seconds_table(run, vid), rows)
        tables.append(rows)
    if not tables:
        return pd.DataFrame(columns=list(FIXED_COLUMNS))
    behaviors = tables[0].attrs["behaviors"]
    table = pd.concat(tables, ignore_index=True)
    table = table[[*FIXED_COLUMNS, *(probability_column(b) for b in behaviors)]]
    table.attrs["behaviors"] = behaviors
    write_window_table(project.paths.window_table(run), table)
    logger.info("Wrote %s and %d per-video table(s) (<video_id>_seconds.csv)", project.paths.window_table(run),
                len(tables))
    return table


def window_table(config: ConfigLike, run: str | None = None, write: bool = True) -> pd.DataFrame:
    """One row per window of every video of a run: the table for pandas and R.

    Parameters
    ----------
    config : path-like or Project
        config.yaml of the project (or its folder), or an opened :class:`~mousefear.core.project.Project`.
    run : str, optional
        Run name; default ``classification.run``, else the only run, else the run written last.
    write : bool, default True
        Also (re)write ``behavior-vectors/<run>/<video_id>_seconds.csv`` for every video and
        ``behavior-vectors/<run>/windows.csv`` (for a run made by an older mousefear, or after a file was lost).

    Returns
    -------
    pandas.DataFrame, one row per window
        Columns ``run, video_id, subject, session, window, start_s, end_s, start_frame, end_frame, partial,
        label, decided_by, p_<behaviour>...`` (times in seconds, frames half-open; see
        :mod:`mousefear.formats.windows`).

    Raises
    ------
    mousefear.errors.ProjectError
        Unknown run.
    mousefear.errors.VectorFileError
        No run, or an unreadable behaviour-vector file.
    """
    project = Project.open(config)
    run = project.select_run(run)
    if write:
        return write_window_tables(project, run)
    tables = [_video_rows(p, run) for p in project.vector_files(run).values()]
    behaviors = tables[0].attrs["behaviors"]
    table = pd.concat(tables, ignore_index=True)
    table.attrs["behaviors"] = behaviors
    return table


def write_run_tables(project: Project, run: str) -> None:
    """(Re)write the tables made from a run's vector files: ``summary.csv`` and the per-window tables.

    Every step that changes a run's vector files (classify, a derived run, renaming a video) ends with this, so the
    tables always follow the files. Nothing is written for a run without vector files.
    """
    files = list(project.vector_files(run).values())
    if files:
        write_run_summary(files, project.paths.vectors(run) / "summary.csv")
        write_window_tables(project, run)
