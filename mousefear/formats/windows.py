"""The per-window table: one row per window (one second by default) of a run, as CSV for pandas and R.

Two files of a run hold this table (:mod:`mousefear.pipeline.tables` writes them):
``behavior-vectors/<run>/<video_id>_seconds.csv`` (one video) and ``behavior-vectors/<run>/windows.csv``
(every video of the run, the same columns, rows in registry order). Columns, in order:

==================  ========  ===================================================================================
column              type      content
==================  ========  ===================================================================================
``run``             str       run name
``video_id``        str       video id
``subject``         str       subject (empty when none)
``session``         str       session (empty when none)
``window``          int       window index, from 0
``start_s``         float     start of the window, seconds from the start of the video (``start_frame / fps``)
``end_s``           float     end of the window, seconds (``end_frame / fps``, exclusive)
``start_frame``     int       first frame of the window (frames counted from 0)
``end_frame``       int       one past the last frame (half-open ``[start_frame, end_frame)``)
``partial``         bool      window cut short by the end of the video
``label``           str       decided behaviour (highest probability); empty where the window has no answer
``decided_by``      str       which path decided the window (the backend's name, or per window in a hybrid run)
``p_<behaviour>``   float     probability of each behaviour, in project order (empty where no answer)
==================  ========  ===================================================================================

Times and probabilities are written with 6 decimals; booleans as ``true``/``false``; lines end with ``\\n``.
Probability columns carry the prefix ``p_`` so that no behaviour name can collide with another column.
This module reads and writes files only; which windows go in is the pipeline's decision.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from mousefear._io import atomic_write_text
from mousefear.errors import VectorFileError

__all__ = ["FIXED_COLUMNS", "SECONDS_SUFFIX", "TABLE_NAME", "probability_column", "read_window_table",
           "window_rows", "write_window_table"]

#: The columns before the probabilities, in order.
FIXED_COLUMNS = ("run", "video_id", "subject", "session", "window", "start_s", "end_s", "start_frame", "end_frame",
                 "partial", "label", "decided_by")
#: File name ending of one video's table: ``<video_id>_seconds.csv``.
SECONDS_SUFFIX = "_seconds.csv"
#: File name of the run-wide table.
TABLE_NAME = "windows.csv"

_INT = ("window", "start_frame", "end_frame")
_FLOAT = ("start_s", "end_s")
_TEXT = ("run", "video_id", "subject", "session", "label", "decided_by")


def probability_column(behavior: str) -> str:
    """Name of the probability column of a behaviour: ``p_<behaviour>``."""
    return f"p_{behavior}"


def window_rows(windows: pd.DataFrame, *, run: str, video_id: str, subject: str, session: str, fps: float,
                decided_by: str | Sequence[str]) -> pd.DataFrame:
    """The table rows of one video from its per-window results.

    Parameters
    ----------
    windows : pandas.DataFrame, n_windows rows
        As returned by :func:`mousefear.formats.vectors.read_vector_windows`: ``start_frame``, ``end_frame``,
        ``label``, ``partial`` and one probability column per behaviour (order in ``windows.attrs["behaviors"]``).
    run, video_id, subject, session : str
        Written in every row.
    fps : float
        Frames per second of the video (times in seconds are ``frame / fps``).
    decided_by : str or sequence of str (n_windows,)
        Which path decided each window; one string for every window alike.

    Returns
    -------
    pandas.DataFrame
        The columns :data:`FIXED_COLUMNS` then ``p_<behaviour>`` for each behaviour.
    """
    behaviors = list(windows.attrs["behaviors"])
    n = len(windows)
    if isinstance(decided_by, str):
        decided = [decided_by] * n
    else:
        decided = [str(d) for d in decided_by]
        if len(decided) != n:
            raise ValueError(f"Expected decided_by for {n} windows, but got {len(decided)}")
    start = windows["start_frame"].to_numpy(dtype=np.int64)
    end = windows["end_frame"].to_numpy(dtype=np.int64)
    cols: dict[str, object] = {
        "run": [run] * n, "video_id": [video_id] * n, "subject": [subject] * n, "session": [session] * n,
        "window": np.arange(n, dtype=np.int64), "start_s": start / float(fps), "end_s": end / float(fps),
        "start_frame": start, "end_frame": end, "partial": windows["partial"].to_numpy(dtype=bool),
        "label": windows["label"].astype(object).to_numpy(), "decided_by": decided,
    }
    for b in behaviors:
        cols[probability_column(b)] = windows[b].to_numpy(dtype=np.float64)
    out = pd.DataFrame(cols)
    out.attrs["behaviors"] = behaviors
    return out


def write_window_table(path: str | os.PathLike, table: pd.DataFrame) -> Path:
    """Write a per-window table (rows of :func:`window_rows`, possibly of several videos) as CSV, atomically."""
    missing = [c for c in FIXED_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"Expected the columns {missing} in a window table, but they are missing")
    out = table.copy()
    out["partial"] = np.where(out["partial"].to_numpy(dtype=bool), "true", "false")
    atomic_write_text(path, out.to_csv(index=False, float_format="%.6f", na_rep="", lineterminator="\n"))
    return Path(path)


def read_window_table(path: str | os.PathLike, behaviors: Sequence[str] | None = None) -> pd.DataFrame:
    """Read a per-window table written by :func:`write_window_table`.

    Parameters
    ----------
    path : path-like
        ``<video_id>_seconds.csv`` or ``windows.csv``.
    behaviors : sequence of str, optional
        The behaviours expected (their ``p_`` columns must be there, in this order).

    Returns
    -------
    pandas.DataFrame
        Columns as in the file: text columns as str (``""`` where empty), ``window``/``start_frame``/``end_frame``
        int64, ``partial`` bool, times and probabilities float64 (NaN where empty). ``attrs["behaviors"]`` lists
        the behaviours of the ``p_`` columns.

    Raises
    ------
    mousefear.errors.VectorFileError
        The file is missing, or lacks a column; the message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise VectorFileError(f"Window table {path} does not exist")
    try:
        header = _header(path)
        df = pd.read_csv(path, dtype={**{c: str for c in _TEXT}, "partial": str}, keep_default_na=False,
                         na_values={c: [""] for c in header if c.startswith("p_")})
    except (OSError, ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise VectorFileError(f"Cannot read window table {path}: {exc}") from None
    missing = [c for c in FIXED_COLUMNS if c not in df.columns]
    if missing:
        raise VectorFileError(f"{path}: Expected the columns {missing} of a window table, but they are missing")
    found = [c[2:] for c in df.columns if c.startswith("p_")]
    if behaviors is not None and found != list(behaviors):
        raise VectorFileError(f"{path}: Expected the probability columns "
                              f"{[probability_column(b) for b in behaviors]}, but got "
                              f"{[probability_column(b) for b in found]}")
    for c in _INT:
        df[c] = df[c].astype(np.int64)
    for c in (*_FLOAT, *(probability_column(b) for b in found)):
        df[c] = pd.to_numeric(df[c]).astype(np.float64)
    bad = sorted(set(df["partial"]) - {"true", "false"})
    if bad:
        raise VectorFileError(f"{path}: Expected partial to be true or false, but got {bad}")
    df["partial"] = df["partial"] == "true"
    df.attrs["behaviors"] = found
    return df


def _header(path: Path) -> list[str]:
    """The header of a CSV file, as column names."""
    with open(path, encoding="utf-8") as fh:
        return fh.readline().rstrip("\n").split(",")
