"""BORIS exports: events read into neutral state events, and the tables BORIS reads back.

`BORIS <https://www.boris.unito.it>`_ writes an observation as *tabular events* (one row per START, STOP or
POINT event, column ``Time`` or ``Status``/``Behavior type``) or *aggregated events* (one row per state event,
columns ``Start (s)`` and ``Stop (s)``), as TSV or CSV, BORIS 7 with a header block above the table. Times are
*observation* times in seconds: media time = observation time - the observation's time offset; an observation
may play several media files one after the other (player #1's playlist).

:func:`read_boris_events` pairs START and STOP rows and returns :class:`BorisEvent` s that keep everything the
export says (observation, playlist, media durations and fps, subject, behaviour, times) and nothing of a project;
placing them on registered videos is pipeline work. :func:`write_boris_tabular` and
:func:`write_boris_spreadsheet` write bouts for BORIS to open.
"""

from __future__ import annotations

import io
import logging
import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import numpy as np
import pandas as pd

from mousefear._io import atomic_write_bytes, atomic_write_text
from mousefear.errors import LabelError
from mousefear.formats.label_tables import Table, detect_format, format_table, parse_float, read_table, seconds_text

__all__ = [
    "BORIS_SPREADSHEET_COLUMNS",
    "BORIS_TABULAR_COLUMNS",
    "BorisEvent",
    "BorisExport",
    "BorisObservation",
    "ods_bytes",
    "read_boris_events",
    "write_boris_spreadsheet",
    "write_boris_tabular",
]

logger = logging.getLogger(__name__)

#: columns of the BORIS tabular-events layout written by :func:`write_boris_tabular` (as BORIS 8 writes)
BORIS_TABULAR_COLUMNS = (
    "Observation id", "Observation date", "Description", "Observation type", "Source", "Time offset (s)",
    "Media duration (s)", "FPS", "Subject", "Behavior", "Behavioral category", "Behavior type", "Time",
    "Media file name", "Image index", "Image file path", "Comment",
)
#: columns BORIS's "Import observations" from a spreadsheet (ODS/XLSX) reads into the open observation
BORIS_SPREADSHEET_COLUMNS = ("time", "subject", "code", "modifier", "comment")

#: subject names that mean "no subject"
NO_FOCAL = ("", "no focal subject")


@dataclass(frozen=True)
class BorisObservation:
    """One BORIS observation as the export describes it.

    Attributes
    ----------
    id : str
        Observation id.
    offset : float
        Time offset in seconds: observation time = media time + offset.
    media : tuple of str
        Player #1's media files in playlist order (as written: paths or names); empty when the export does not
        list them (then each row's media file name counts).
    durations : tuple of float or None
        Duration (s) of each media file, from the export (None where not a number).
    fps : tuple of float or None
        Frames per second of each media file, from the export (None where not a number).
    """

    id: str
    offset: float
    media: tuple[str, ...]
    durations: tuple[float | None, ...]
    fps: tuple[float | None, ...]


@dataclass(frozen=True)
class BorisEvent:
    """A state event of a BORIS export: ``[t0, t1]`` in observation seconds.

    Attributes
    ----------
    observation : BorisObservation
        The observation it belongs to.
    subject : str
        Subject as written (``""`` or ``"No focal subject"`` for none).
    behavior : str
        Behaviour name as written in the export.
    t0, t1 : float
        Start and stop in observation time (s), ``t0 <= t1``.
    rows : tuple of int
        Line numbers of the rows it comes from (START and STOP, or the one aggregated row).
    media_file : str
        The row's media file name (what names the video when the observation lists no playlist).
    row_fps : float or None
        The row's FPS cell (used where the observation's own fps list is empty).
    """

    observation: BorisObservation
    subject: str
    behavior: str
    t0: float
    t1: float
    rows: tuple[int, ...]
    media_file: str = ""
    row_fps: float | None = None

    @property
    def where(self) -> str:
        """``"row 5"`` or ``"rows 5 and 9"``, for messages."""
        if len(self.rows) == 1:
            return f"row {self.rows[0]}"
        return f"rows {' and '.join(str(r) for r in self.rows)}"

    @property
    def media(self) -> tuple[str, ...]:
        """The media files the event's times run over, in playlist order (one where the export lists none)."""
        return self.observation.media or (self.media_file,)

    def fps(self, k: int) -> float | None:
        """Frames per second the export states for media file ``k`` of :attr:`media` (None: not stated)."""
        obs_fps = self.observation.fps
        if k < len(obs_fps):
            return obs_fps[k]
        return self.row_fps if not obs_fps else None


@dataclass(frozen=True)
class BorisExport:
    """What :func:`read_boris_events` found in an export.

    Attributes
    ----------
    path : Path
        The export.
    format : str
        ``"boris-tabular"`` or ``"boris-aggregated"``.
    events : tuple of BorisEvent
        State events of the chosen subject, in the order their STOP (or aggregated row) appears.
    points : dict of str to int
        Point events (no duration) per behaviour name: counted, not returned as events.
    subjects : tuple of str
        Subjects of the events read, sorted.
    """

    path: Path
    format: str
    events: tuple[BorisEvent, ...]
    points: dict[str, int]
    subjects: tuple[str, ...]


# --------------------------------------------------------------------------------------------------- reading
def read_boris_events(source: Table | str | os.PathLike, subject: str | None = None) -> BorisExport:
    """Read the state events of a BORIS tabular or aggregated events export.

    Parameters
    ----------
    source
        The export (TSV or CSV), or its table from :func:`mousefear.formats.label_tables.read_table`.
    subject
        Keep only this subject's events (``""`` and ``"No focal subject"`` are the same). None: every event,
        and the export must hold one subject.

    Returns
    -------
    BorisExport

    Raises
    ------
    LabelError
        Naming the file and row: not a BORIS export, a status other than START/STOP/POINT, unpaired START or
        STOP, STOP before START, a time that is not a number, events of several subjects without ``subject``.
    """
    table = source if isinstance(source, Table) else read_table(source)
    fmt = detect_format(table)
    if not fmt.startswith("boris"):
        raise LabelError(f"{table.path}: Expected a BORIS tabular or aggregated events export, but got the columns "
                         f"{','.join(table.header)!r}")
    reader = _Reader(table, subject)
    events = reader.tabular() if fmt == "boris-tabular" else reader.aggregated()
    named = {s for s in reader.subjects if s.lower() not in NO_FOCAL}
    if subject is None and (len(named) > 1 or (named and len(reader.subjects) > len(named))):
        raise LabelError(f"{table.path}: events of several subjects ({', '.join(sorted(reader.subjects))}); "
                         "Expected one subject per video: pass subject= (--subject) to choose one")
    return BorisExport(table.path, fmt, tuple(events), dict(reader.points), tuple(sorted(reader.subjects)))


def _split_list(value: str) -> list[str]:
    """``"player #1:a.mp4;b.mp4|player #2:c.mp4"`` -> ``["a.mp4", "b.mp4"]`` (player #1 only)."""
    first = value.split("|")[0]
    if ":" in first and first.lower().startswith("player #"):
        first = first.split(":", 1)[1]
    return [x.strip() for x in first.split(";") if x.strip()]


def _optional_float(value: str) -> float | None:
    try:
        x = float(value)
    except ValueError:
        return None
    return x if np.isfinite(x) else None


class _Reader:
    """Rows of one export -> state events (observations, subjects, point counts)."""

    def __init__(self, table: Table, subject: str | None):
        self.t, self.subject = table, subject
        t = table
        self.c_obs = t.col("observation id")
        self.c_offset = t.col("time offset (s)")
        self.c_source = t.col("source")
        self.c_durations = t.col("media duration (s)")
        self.c_fps = t.col("fps", "fps (frame/s)")
        self.c_media = t.col("media file name", "media file path", "media file")
        self.c_subject = t.col("subject")
        self.c_behavior = t.col("behavior")
        self.observations: dict[str, BorisObservation] = {}
        self.points: dict[str, int] = {}
        self.subjects: set[str] = set()

    def observation(self, cells: Sequence[str], where: str) -> BorisObservation:
        t = self.t
        obs_id = t.cell(cells, self.c_obs) or t.meta.get("observation id", "")
        if obs_id in self.observations:
            return self.observations[obs_id]
        off_s = t.cell(cells, self.c_offset) if self.c_offset is not None else t.meta.get("time offset (s)", "")
        offset = parse_float(t.path, off_s, "the time offset", where) if off_s and off_s.upper() != "NA" else 0.0
        media = tuple(_split_list(t.cell(cells, self.c_source))) if self.c_source is not None else t.players
        durations = (tuple(_optional_float(x) for x in _split_list(t.cell(cells, self.c_durations)))
                     if self.c_durations is not None else ())
        fps = (tuple(_optional_float(x) for x in _split_list(t.cell(cells, self.c_fps)))
               if self.c_fps is not None else ())
        obs = BorisObservation(obs_id, offset, media, durations, fps)
        self.observations[obs_id] = obs
        if offset:
            logger.info("%s: observation %r has a time offset of %g s (media time = time - offset)", t.path,
                        obs_id, offset)
        return obs

    def keep(self, cells: Sequence[str]) -> bool:
        """Whether the row is of the chosen subject (every row when none is chosen)."""
        subj = self.t.cell(cells, self.c_subject)
        if self.subject is not None:
            return subj == self.subject or (subj.lower() in NO_FOCAL and self.subject.lower() in NO_FOCAL)
        self.subjects.add(subj)
        return True

    def event(self, cells: Sequence[str], obs: BorisObservation, behavior: str, t0: float, t1: float,
              rows: tuple[int, ...]) -> BorisEvent:
        row_fps = _optional_float(self.t.cell(cells, self.c_fps)) if self.c_fps is not None else None
        return BorisEvent(obs, self.t.cell(cells, self.c_subject), behavior, t0, t1, rows,
                          self.t.cell(cells, self.c_media), row_fps)

    def count_point(self, name: str) -> None:
        self.points[name] = self.points.get(name, 0) + 1

    def tabular(self) -> list[BorisEvent]:
        t = self.t
        c_time = t.col("time")
        c_status = t.col("status", "behavior type")
        open_: dict[tuple[str, str, str], tuple[float, int]] = {}
        out = []
        for line, cells in t.rows:
            where = f"row {line}"
            if not self.keep(cells):
                continue
            status = t.cell(cells, c_status).upper()
            raw = t.cell(cells, self.c_behavior)
            if status == "POINT":
                self.count_point(raw)
                continue
            if status not in ("START", "STOP"):
                raise LabelError(f"{t.path}, {where}: Expected the status START, STOP or POINT, but got "
                                 f"{t.cell(cells, c_status)!r}")
            obs = self.observation(cells, where)
            time = parse_float(t.path, t.cell(cells, c_time), "the time", where)
            key = (obs.id, t.cell(cells, self.c_subject), raw)
            if status == "START":
                if key in open_:
                    raise LabelError(f"{t.path}, {where}: unpaired START of {raw!r}: the START at row "
                                     f"{open_[key][1]} has no STOP before this one")
                open_[key] = (time, line)
                continue
            if key not in open_:
                raise LabelError(f"{t.path}, {where}: unpaired STOP of {raw!r}: Expected a START before it")
            t0, line0 = open_.pop(key)
            if time < t0:
                raise LabelError(f"{t.path}, {where}: Expected the STOP of {raw!r} after its START at row {line0} "
                                 f"({t0:g} s), but got {time:g} s")
            out.append(self.event(cells, obs, raw, t0, time, (line0, line)))
        if open_:
            (_, _, raw), (t0, line0) = min(open_.items(), key=lambda kv: kv[1][1])
            raise LabelError(f"{t.path}, row {line0}: unpaired START of {raw!r} at {t0:g} s: no STOP follows")
        return out

    def aggregated(self) -> list[BorisEvent]:
        t = self.t
        c_type = t.col("behavior type")
        c_start, c_stop = t.col("start (s)"), t.col("stop (s)")
        out = []
        for line, cells in t.rows:
            where = f"row {line}"
            if not self.keep(cells):
                continue
            raw = t.cell(cells, self.c_behavior)
            if c_type is not None and "point" in t.cell(cells, c_type).lower():
                self.count_point(raw)
                continue
            obs = self.observation(cells, where)
            t0 = parse_float(t.path, t.cell(cells, c_start), "Start (s)", where)
            stop = t.cell(cells, c_stop)
            if not stop or stop.upper() == "NA":
                raise LabelError(f"{t.path}, {where}: unpaired START of {raw!r} at {t0:g} s: Stop (s) is empty")
            t1 = parse_float(t.path, stop, "Stop (s)", where)
            if t1 < t0:
                raise LabelError(f"{t.path}, {where}: Expected Stop (s) >= Start (s), but got {t1:g} < {t0:g}")
            out.append(self.event(cells, obs, raw, t0, t1, (line,)))
        return out


# --------------------------------------------------------------------------------------------------- writing
def write_boris_tabular(
    path: str | os.PathLike,
    bouts: pd.DataFrame,
    *,
    fps: float,
    media: str,
    duration: float,
    subject: str,
    observation_id: str,
    description: str,
) -> Path:
    """Write bouts as a BORIS tabular-events TSV (:data:`BORIS_TABULAR_COLUMNS`) atomically.

    Parameters
    ----------
    path
        Destination (``.tsv``).
    bouts
        Columns ``behavior``, ``start_frame``, ``end_frame`` (half-open frame range), as
        :func:`mousefear.core.intervals.labels_to_bouts` returns.
    fps
        Frames per second of the video: a bout's START is at ``start_frame / fps`` s and its STOP at
        ``end_frame / fps`` s (six decimals); time offset 0.
    media
        Media file name of the video (the observation plays this one file).
    duration
        Duration of the video (s).
    subject, observation_id, description
        Written into every row.

    Returns
    -------
    Path
        ``path``: one START and one STOP row per bout.
    """
    rows = []
    for b in bouts.itertuples():
        for status, frame in (("START", b.start_frame), ("STOP", b.end_frame)):
            rows.append((observation_id, "", description, "Media file", f"player #1:{media}", "0", f"{duration:.3f}",
                         f"{fps:.3f}", subject, b.behavior, "", status, seconds_text(frame / fps), media, frame, "NA",
                         ""))
    atomic_write_text(path, format_table(BORIS_TABULAR_COLUMNS, rows, "\t"))
    return Path(path)


def write_boris_spreadsheet(path: str | os.PathLike, bouts: pd.DataFrame, fps: float) -> Path:
    """Write bouts as the spreadsheet (ODS, :data:`BORIS_SPREADSHEET_COLUMNS`) that BORIS's *Observations >
    Import observations* reads into an open observation: one row at each START and STOP time (s), behaviour in
    ``code``.

    Parameters
    ----------
    path
        Destination (``.ods``).
    bouts
        As for :func:`write_boris_tabular`.
    fps
        Frames per second of the video.
    """
    sheet = []
    for b in bouts.itertuples():
        for frame in (b.start_frame, b.end_frame):
            sheet.append((float(seconds_text(frame / fps)), "", b.behavior, "", ""))
    atomic_write_bytes(path, ods_bytes(BORIS_SPREADSHEET_COLUMNS, sheet))
    return Path(path)


def ods_bytes(header: Sequence[str], rows: Sequence[Sequence], sheet: str = "events") -> bytes:
    """A minimal OpenDocument spreadsheet (one sheet) that pandas/odfpy, LibreOffice and BORIS read."""

    def cell(v) -> str:
        if isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool):
            return (f'<table:table-cell office:value-type="float" office:value="{v!r}">'
                    f"<text:p>{v!r}</text:p></table:table-cell>")
        if v is None or v == "":
            return "<table:table-cell/>"
        return f'<table:table-cell office:value-type="string"><text:p>{escape(str(v))}</text:p></table:table-cell>'

    body = "".join("<table:table-row>" + "".join(cell(v) for v in r) + "</table:table-row>"
                   for r in [list(header), *rows])
    content = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
        f"<office:body><office:spreadsheet><table:table table:name={quoteattr(sheet)}>{body}"
        "</table:table></office:spreadsheet></office:body></office:document-content>"
    )
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" '
        'manifest:version="1.2">'
        '<manifest:file-entry manifest:full-path="/" manifest:version="1.2" '
        'manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
        "</manifest:manifest>"
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.spreadsheet",
                   compress_type=zipfile.ZIP_STORED)
        z.writestr("META-INF/manifest.xml", manifest, compress_type=zipfile.ZIP_DEFLATED)
        z.writestr("content.xml", content, compress_type=zipfile.ZIP_DEFLATED)
    return buf.getvalue()
