"""Label tables: delimited text files of human labels (CSV or TSV), read into neutral events.

A label table is what people and other tools write: one row per frame (``frame,behavior``), one row per
second (``second,behavior``), or one row per bout (``behavior,start_frame,end_frame``, ``start_s,end_s`` or
plain ``start,stop`` with a unit given by the caller); each may have a ``video`` column. BORIS exports are
tables too: :func:`read_table` recognises their header block, and :mod:`mousefear.formats.boris` reads them.

The readers here know nothing of a project: a :class:`LabelEvent` holds the video name as written in the file
(or None), the behaviour name as written, and where the event starts and ends in its own unit. Matching events
to registered videos, mapping behaviour names and converting to frames is pipeline work.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from mousefear._io import atomic_write_text
from mousefear.errors import LabelError

__all__ = [
    "BOUT_COLUMNS",
    "IMPORT_FORMATS",
    "LabelEvent",
    "Table",
    "Unit",
    "detect_format",
    "format_table",
    "names_videos",
    "parse_float",
    "parse_int",
    "read_label_events",
    "read_table",
    "seconds_text",
    "write_bout_table",
]

#: formats a label table can have (detected by :func:`detect_format`)
IMPORT_FORMATS = ("frames", "seconds", "bouts", "boris-tabular", "boris-aggregated")
#: columns of the bout table written by :func:`write_bout_table`
BOUT_COLUMNS = ("behavior", "start_frame", "end_frame", "start_s", "end_s")

# recognised column names of the own formats (compared lower-case, stripped)
LABEL_COLS = ("behavior", "behaviour", "label", "class")
FRAME_COLS = ("frame", "frame_index", "frame_number")
SECOND_COLS = ("second", "seconds", "sec")
VIDEO_COLS = ("video", "video_id")
START_FRAME_COLS = ("start_frame",)
END_FRAME_COLS = ("end_frame", "stop_frame")  # exclusive
START_S_COLS = ("start_s", "start_sec")
END_S_COLS = ("end_s", "stop_s", "end_sec", "stop_sec")
START_COLS = ("start",)  # unit from the caller
END_COLS = ("end", "stop")

#: unit of a :class:`LabelEvent`'s start and end: ``"frame"`` frame index (end exclusive), ``"second"`` index
#: of a whole second of the video (second ``s`` is ``[s, s + 1)`` s), ``"s"`` time in seconds
Unit = Literal["frame", "second", "s"]


@dataclass(frozen=True)
class Table:
    """A delimited text file: the table below an optional metadata block (BORIS).

    Attributes
    ----------
    path : Path
        The file.
    header : tuple of str
        Column names (stripped).
    rows : tuple of (int, tuple of str)
        ``(line number in the file, cells)`` of each non-empty row below the header.
    meta : dict of str to str
        BORIS header block (``Observation id``, ``Time offset (s)``, ...), keys lower-case.
    players : tuple of str
        Media files of player #1 listed in a BORIS header block.
    boris : bool
        The header row is that of a BORIS events export.
    """

    path: Path
    header: tuple[str, ...]
    rows: tuple[tuple[int, tuple[str, ...]], ...]
    meta: dict[str, str] = field(default_factory=dict)
    players: tuple[str, ...] = ()
    boris: bool = False

    def col(self, *names: str) -> int | None:
        """Index of the first column named one of ``names`` (lower-case; case is ignored), or None."""
        low = [h.strip().lower() for h in self.header]
        for n in names:
            if n in low:
                return low.index(n)
        return None

    def cell(self, cells: Sequence[str], idx: int | None) -> str:
        """Stripped text of column ``idx`` of a row; ``""`` where the column or the cell is missing."""
        return cells[idx].strip() if idx is not None and idx < len(cells) else ""


@dataclass(frozen=True)
class LabelEvent:
    """One row of a label table, neutral: nothing here knows the project.

    Attributes
    ----------
    media : str or None
        The video as the file names it (``video`` column, stripped; a path, file name or id), or None where
        the table has no video column.
    behavior : str
        Behaviour name as written; ``""`` for a row that labels nothing (per-frame and per-second tables).
    start, end : int or float
        Where the event starts and ends (end exclusive) in ``unit``.
    unit : {"frame", "second", "s"}
        ``"frame"``: frame indices; ``"second"``: whole-second indices (int); ``"s"``: seconds (float).
    where : str
        The row, for messages (``"row 12"``).
    frames : tuple of int or None
        Per-second tables only: ``(start_frame, end_frame)`` as the row states them beside its second (end
        inclusive or exclusive: the file decides), or None.
    """

    media: str | None
    behavior: str
    start: int | float
    end: int | float
    unit: Unit
    where: str
    frames: tuple[int, int] | None = None


# --------------------------------------------------------------------------------------------------- reading
def read_table(path: str | os.PathLike) -> Table:
    """Read a delimited label table: tab or comma (whichever the first lines hold more of), UTF-8 (with or
    without BOM, else Latin-1), empty rows dropped; a BORIS header block above the header row is kept in
    ``meta`` and ``players``.

    Raises
    ------
    LabelError
        The file is missing, a spreadsheet (XLSX/ODS/XLS) or empty.
    """
    path = Path(path)
    if not path.is_file():
        raise LabelError(f"{path}: no such label file")
    raw = path.read_bytes()
    if raw[:2] == b"PK" or raw[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise LabelError(f"{path}: Expected a CSV or TSV text file, but got a spreadsheet (XLSX/ODS/XLS); "
                         "export the table as TSV or CSV (BORIS: Export events > Tab Separated Values)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    head = text.splitlines()[:60]
    delimiter = "\t" if sum(ln.count("\t") for ln in head) >= sum(ln.count(",") for ln in head) and any(
        "\t" in ln for ln in head) else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[tuple[int, tuple[str, ...]]] = []
    start_line = 1
    for cells in reader:
        rows.append((start_line, tuple(cells)))
        start_line = reader.line_num + 1
    rows = [(n, c) for n, c in rows if any(x.strip() for x in c)]
    if not rows:
        raise LabelError(f"{path}: Expected a table with a header row, but the file is empty")
    # a BORIS export: the header row holds Behavior and Time (tabular) or Start (s) (aggregated)
    for i, (_, cells) in enumerate(rows):
        low = {c.strip().lower() for c in cells}
        if "behavior" in low and ("time" in low or "start (s)" in low) and ("status" in low or "behavior type" in low):
            meta: dict[str, str] = {}
            players: list[str] = []
            for _, m in rows[:i]:
                key = m[0].strip().lower()
                value = next((x.strip() for x in m[1:] if x.strip()), "")
                if key.startswith("player #1"):
                    players.append(value)
                elif key and key not in meta:
                    meta[key] = value
            return Table(path, tuple(c.strip() for c in cells), tuple(rows[i + 1:]), meta, tuple(players), True)
    return Table(path, tuple(c.strip() for c in rows[0][1]), tuple(rows[1:]))


def detect_format(table: Table) -> str:
    """The format of ``table`` (one of :data:`IMPORT_FORMATS`), from its columns.

    Raises
    ------
    LabelError
        No behaviour column and no BORIS header, or no frame, second or bout columns.
    """
    if table.boris:
        if table.col("start (s)") is not None and table.col("stop (s)") is not None:
            return "boris-aggregated"
        return "boris-tabular"
    if table.col(*LABEL_COLS) is None:
        raise LabelError(
            f"{table.path}: Expected a label table (per-frame, per-second, bouts, or a BORIS tabular or aggregated "
            f"events export), but got the columns {','.join(table.header)!r}; no behaviour column "
            f"({', '.join(LABEL_COLS)}) and no BORIS header (Time/Start (s), Behavior, Status/Behavior type)")
    if table.col(*FRAME_COLS) is not None:
        return "frames"
    if table.col(*SECOND_COLS) is not None:
        return "seconds"
    if table.col(*(START_FRAME_COLS + START_S_COLS + START_COLS)) is not None:
        return "bouts"
    raise LabelError(
        f"{table.path}: Expected a frame column ({', '.join(FRAME_COLS)}), a second column "
        f"({', '.join(SECOND_COLS)}) or bout columns (start_frame/end_frame, start_s/end_s, start/stop), but got "
        f"{','.join(table.header)!r}")


def names_videos(table: Table) -> bool:
    """True when ``table`` has a video column (its events then carry :attr:`LabelEvent.media`)."""
    return table.col(*VIDEO_COLS) is not None


def parse_float(path: Path, value: str, what: str, where: str) -> float:
    """A finite number from a cell (a decimal comma is accepted: ``"1,5"``).

    Raises
    ------
    LabelError
        ``"<path>, <where>: Expected a number for <what>, but got '<value>'"`` (or a finite number).
    """
    try:
        x = float(value.replace(",", ".") if value.count(",") == 1 and "." not in value else value)
    except ValueError:
        raise LabelError(f"{path}, {where}: Expected a number for {what}, but got {value!r}") from None
    if not np.isfinite(x):
        raise LabelError(f"{path}, {where}: Expected a finite number for {what}, but got {value!r}")
    return x


def parse_int(path: Path, value: str, what: str, where: str) -> int:
    """A whole number from a cell (``"3"``, ``"3.0"``); else LabelError as :func:`parse_float`."""
    x = parse_float(path, value, what, where)
    if x != int(x):
        raise LabelError(f"{path}, {where}: Expected a whole number for {what}, but got {value!r}")
    return int(x)


def read_label_events(table: Table, format: str, unit: str | None = None) -> Iterator[LabelEvent]:
    """The events of a per-frame, per-second or bout table, in row order.

    The columns are checked at once; each row is checked as it is reached (so a caller that stops at the first
    error of its own reports errors in row order).

    Parameters
    ----------
    table
        From :func:`read_table`.
    format
        ``"frames"``, ``"seconds"`` or ``"bouts"``.
    unit
        ``"s"`` or ``"frames"``: the unit of bout columns named plainly ``start``/``stop`` (or ``end``).

    Returns
    -------
    iterator of LabelEvent
        Per-frame: one event per row, unit ``"frame"``, ``end = start + 1``. Per-second: one event per row,
        unit ``"second"``, ``end = start + 1``, with ``frames`` where the row states them. Bouts: one event per
        row, unit ``"frame"`` or ``"s"``; a row that names no behaviour gives ``behavior == ""`` and
        ``start == end == 0`` (its times are not read).

    Raises
    ------
    LabelError
        Naming the file and row: a cell that is not a (whole) number, a negative frame or second, a bout with
        ``end <= start``, plain ``start``/``stop`` columns without ``unit``, missing bout columns.
    """
    if format == "frames":
        return _frame_events(table)
    if format == "seconds":
        return _second_events(table)
    if format == "bouts":
        return _bout_events(table, unit)
    raise ValueError(f"Expected format frames, seconds or bouts, but got {format!r}")


def _media(table: Table, cells: Sequence[str]) -> str | None:
    vcol = table.col(*VIDEO_COLS)
    return None if vcol is None else table.cell(cells, vcol)


def _frame_events(table: Table) -> Iterator[LabelEvent]:
    fcol, lcol = table.col(*FRAME_COLS), table.col(*LABEL_COLS)
    for line, cells in table.rows:
        where = f"row {line}"
        frame = parse_int(table.path, table.cell(cells, fcol), "the frame", where)
        if frame < 0:
            raise LabelError(f"{table.path}, {where}: Expected a frame >= 0, but got {frame}")
        yield LabelEvent(_media(table, cells), table.cell(cells, lcol), frame, frame + 1, "frame", where)


def _second_events(table: Table) -> Iterator[LabelEvent]:
    scol, lcol = table.col(*SECOND_COLS), table.col(*LABEL_COLS)
    sf, ef = table.col(*START_FRAME_COLS), table.col(*END_FRAME_COLS)
    for line, cells in table.rows:
        where = f"row {line}"
        s = parse_int(table.path, table.cell(cells, scol), "the second", where)
        if s < 0:
            raise LabelError(f"{table.path}, {where}: Expected a second >= 0, but got {s}")
        frames = None
        if sf is not None and ef is not None and table.cell(cells, sf) and table.cell(cells, ef):
            frames = (parse_int(table.path, table.cell(cells, sf), "start_frame", where),
                      parse_int(table.path, table.cell(cells, ef), "end_frame", where))
        yield LabelEvent(_media(table, cells), table.cell(cells, lcol), s, s + 1, "second", where, frames)


def _bout_events(table: Table, unit: str | None) -> Iterator[LabelEvent]:
    sf, ef = table.col(*START_FRAME_COLS), table.col(*END_FRAME_COLS)
    ss, es = table.col(*START_S_COLS), table.col(*END_S_COLS)
    sg, eg = table.col(*START_COLS), table.col(*END_COLS)
    if sf is not None and ef is not None:
        cols, in_frames = (sf, ef), True
    elif ss is not None and es is not None:
        cols, in_frames = (ss, es), False
    elif sg is not None and eg is not None:
        if unit not in ("s", "frames"):
            raise LabelError(f"{table.path}: the columns {table.header[sg]!r},{table.header[eg]!r} carry no unit: "
                             f"Expected unit='s' or unit='frames' (--unit), but got {unit!r}; or name the columns "
                             "start_s/end_s or start_frame/end_frame")
        cols, in_frames = (sg, eg), unit == "frames"
    else:
        raise LabelError(f"{table.path}: Expected bout columns start_frame,end_frame or start_s,end_s or "
                         f"start,stop, but got {','.join(table.header)!r}")
    return _bout_rows(table, cols, in_frames)


def _bout_rows(table: Table, cols: tuple[int, int], in_frames: bool) -> Iterator[LabelEvent]:
    lcol = table.col(*LABEL_COLS)
    for line, cells in table.rows:
        where = f"row {line}"
        label = table.cell(cells, lcol)
        if not label:  # labels nothing: its times are not read, but its video name still counts
            yield LabelEvent(_media(table, cells), "", 0, 0, "frame" if in_frames else "s", where)
            continue
        if in_frames:
            a = parse_int(table.path, table.cell(cells, cols[0]), "the start frame", where)
            b = parse_int(table.path, table.cell(cells, cols[1]), "the end frame", where)
            if not 0 <= a < b:
                raise LabelError(f"{table.path}, {where}: Expected 0 <= start < end (end exclusive), but got "
                                 f"[{a}, {b})")
            yield LabelEvent(_media(table, cells), label, a, b, "frame", where)
        else:
            t0 = parse_float(table.path, table.cell(cells, cols[0]), "the start time", where)
            t1 = parse_float(table.path, table.cell(cells, cols[1]), "the stop time", where)
            if not 0 <= t0 < t1:
                raise LabelError(f"{table.path}, {where}: Expected 0 <= start < stop (seconds), but got "
                                 f"{t0:g}, {t1:g}")
            yield LabelEvent(_media(table, cells), label, t0, t1, "s", where)


# --------------------------------------------------------------------------------------------------- writing
def format_table(header: Sequence[str], rows: Sequence[Sequence], delimiter: str = ",") -> str:
    """Text of a delimited table: ``header`` then ``rows``, lines ending in ``\\n``."""
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delimiter, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def seconds_text(t: float) -> str:
    """A time in seconds as the exports write it: six decimals (``"1.720000"``)."""
    return f"{t:.6f}"


def write_bout_table(path: str | os.PathLike, bouts: pd.DataFrame, fps: float) -> Path:
    """Write bouts as CSV ``behavior,start_frame,end_frame,start_s,end_s`` atomically.

    Parameters
    ----------
    path
        Destination.
    bouts
        Columns ``behavior``, ``start_frame``, ``end_frame`` (half-open frame range), as
        :func:`mousefear.core.intervals.labels_to_bouts` returns.
    fps
        Frames per second of the video: ``start_s = start_frame / fps`` (six decimals).
    """
    rows = [(b.behavior, b.start_frame, b.end_frame, seconds_text(b.start_frame / fps), seconds_text(b.end_frame / fps))
            for b in bouts.itertuples()]
    atomic_write_text(path, format_table(BOUT_COLUMNS, rows, ","))
    return Path(path)
