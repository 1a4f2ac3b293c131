"""Human labels: the canonical per-frame label files, importers and exporters.

Canonical form: ``labels/<video_id>.csv`` with the header ``frame,behavior`` and one row per frame of the
video, frames ``0 .. n_frames - 1`` in order; an empty behaviour means the frame is not labelled. Frame ranges
elsewhere (bouts) are half-open, ``[start_frame, end_frame)``.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PureWindowsPath
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mousefear._io import atomic_write_text
from mousefear.core.intervals import bouts_to_labels, labels_to_bouts
from mousefear.errors import LabelError
from mousefear.formats.labels import format_label_file, read_label_file, write_label_file

if TYPE_CHECKING:
    from mousefear.core.video import Video

logger = logging.getLogger(__name__)

# ==========================================================================================================
# Import: own CSV formats (per frame, per second, bouts) and BORIS exports (tabular and aggregated events)
# ==========================================================================================================

#: formats ``import_labels`` reads (``format=`` or detected from the file content)
IMPORT_FORMATS = ("frames", "seconds", "bouts", "boris-tabular", "boris-aggregated")
#: formats ``export_labels`` writes
EXPORT_FORMATS = ("boris", "bouts", "frames")

# recognised column names of the own formats (compared lower-case, stripped)
_LABEL_COLS = ("behavior", "behaviour", "label", "class")
_FRAME_COLS = ("frame", "frame_index", "frame_number")
_SECOND_COLS = ("second", "seconds", "sec")
_VIDEO_COLS = ("video", "video_id")
_START_FRAME_COLS = ("start_frame",)
_END_FRAME_COLS = ("end_frame", "stop_frame")  # exclusive
_START_S_COLS = ("start_s", "start_sec")
_END_S_COLS = ("end_s", "stop_s", "end_sec", "stop_sec")
_START_COLS = ("start",)  # unit from the ``unit`` argument
_END_COLS = ("end", "stop")

FPS_TOLERANCE = 0.01  # frames per second: the export's fps and the video's fps may differ by this much
_NO_FOCAL = ("", "no focal subject")


@dataclass
class _Table:
    """A delimited text file: the table below an optional metadata block."""

    path: Path
    header: list[str]
    rows: list[tuple[int, list[str]]]  # (line number in the file, cells)
    meta: dict[str, str] = field(default_factory=dict)  # BORIS header block, lower-case keys
    players: list[str] = field(default_factory=list)  # media files of player #1 from a BORIS header block
    boris: bool = False

    def col(self, *names: str) -> int | None:
        low = [h.strip().lower() for h in self.header]
        for n in names:
            if n in low:
                return low.index(n)
        return None

    def cell(self, cells: list[str], idx: int | None) -> str:
        return cells[idx].strip() if idx is not None and idx < len(cells) else ""


@dataclass
class _Bout:
    video: str
    behavior: str
    start: int
    end: int  # exclusive
    where: str  # "row 12" or "rows 12 and 15"


def _read_table(path: Path) -> _Table:
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
    rows: list[tuple[int, list[str]]] = []
    start_line = 1
    for cells in reader:
        rows.append((start_line, cells))
        start_line = reader.line_num + 1
    rows = [(n, c) for n, c in rows if any(x.strip() for x in c)]
    if not rows:
        raise LabelError(f"{path}: Expected a table with a header row, but the file is empty")
    # a BORIS export: the header row holds Behavior and Time (tabular) or Start (s) (aggregated)
    for i, (_, cells) in enumerate(rows):
        low = {c.strip().lower() for c in cells}
        if "behavior" in low and ("time" in low or "start (s)" in low) and ("status" in low or "behavior type" in low):
            table = _Table(path, [c.strip() for c in cells], rows[i + 1:], boris=True)
            for _, m in rows[:i]:
                key = m[0].strip().lower()
                value = next((x.strip() for x in m[1:] if x.strip()), "")
                if key.startswith("player #1"):
                    table.players.append(value)
                elif key and key not in table.meta:
                    table.meta[key] = value
            return table
    return _Table(path, [c.strip() for c in rows[0][1]], rows[1:])


def _detect_format(table: _Table) -> str:
    if table.boris:
        if table.col("start (s)") is not None and table.col("stop (s)") is not None:
            return "boris-aggregated"
        return "boris-tabular"
    if table.col(*_LABEL_COLS) is None:
        raise LabelError(
            f"{table.path}: Expected a label table (per-frame, per-second, bouts, or a BORIS tabular or aggregated "
            f"events export), but got the columns {','.join(table.header)!r}; no behaviour column "
            f"({', '.join(_LABEL_COLS)}) and no BORIS header (Time/Start (s), Behavior, Status/Behavior type)")
    if table.col(*_FRAME_COLS) is not None:
        return "frames"
    if table.col(*_SECOND_COLS) is not None:
        return "seconds"
    if table.col(*(_START_FRAME_COLS + _START_S_COLS + _START_COLS)) is not None:
        return "bouts"
    raise LabelError(
        f"{table.path}: Expected a frame column ({', '.join(_FRAME_COLS)}), a second column "
        f"({', '.join(_SECOND_COLS)}) or bout columns (start_frame/end_frame, start_s/end_s, start/stop), but got "
        f"{','.join(table.header)!r}")


class _Names:
    """Maps external behaviour names to project names: ``mapping`` first, then project names ignoring case."""

    def __init__(self, behaviors: Sequence[str], mapping: Mapping[str, str | None] | None, path: Path):
        self.behaviors = list(behaviors)
        self.path = path
        self.mapping: dict[str, str] = {}
        lower = {b.lower(): b for b in self.behaviors}
        for ext, proj in (mapping or {}).items():
            target = "" if proj is None else str(proj).strip()
            if target and target not in self.behaviors:
                if target.lower() in lower:
                    target = lower[target.lower()]
                else:
                    raise LabelError(f"mapping {ext!r} -> {proj!r}: Expected a project behaviour "
                                     f"({', '.join(self.behaviors)}) or '' (ignore), but got {proj!r}")
            self.mapping[str(ext).strip().lower()] = target
        self.lower = lower
        self.ignored: dict[str, int] = {}

    def __call__(self, name: str, where: str) -> str:
        """Project behaviour for ``name``; ``""`` where the mapping says to ignore it."""
        key = name.strip().lower()
        if key in self.mapping:
            target = self.mapping[key]
        elif key in self.lower:
            target = self.lower[key]
        else:
            raise LabelError(
                f"{self.path}, {where}: unknown behaviour {name!r} (the project's behaviours: "
                f"{', '.join(self.behaviors)}); map it with mapping={{{name!r}: 'freezing'}} "
                f"or --map '{name}=freezing', or to '' to ignore it")
        if not target:
            self.ignored[name] = self.ignored.get(name, 0) + 1
        return target


def _nfc(name: str) -> str:
    """``name`` in Unicode normal form C: macOS writes file names decomposed (NFD: ``a`` + combining
    diaeresis for ``ä``), most other systems composed (NFC); both must name the same video."""
    return unicodedata.normalize("NFC", name)


def _name_variants(name: str) -> set[str]:
    name = _nfc(name.strip())
    base = PureWindowsPath(name).name if "\\" in name else Path(name).name
    return {name, base, Path(base).stem} - {""}


def _match_video(name: str, videos: Sequence[Video]) -> Video | None:
    """The registered video that a media file name of a label file names (path, file name or stem; compared
    in Unicode normal form C), or None."""
    want = _name_variants(name)
    for v in videos:
        own = {_nfc(x) for x in (v.id, v.key, Path(v.key).name, v.path.name)} | _name_variants(v.key)
        if want & own:
            return v
    return None


def _unknown_media(path: Path, where: str, name: str, videos: Sequence[Video]) -> LabelError:
    known = ", ".join(v.id for v in videos) or "none"
    return LabelError(f"{path}, {where}: media file {name!r} is not a registered video of the project "
                      f"(registered: {known}); register it with add_videos or pass video=")


def _float(table: _Table, value: str, what: str, where: str) -> float:
    try:
        x = float(value.replace(",", ".") if value.count(",") == 1 and "." not in value else value)
    except ValueError:
        raise LabelError(f"{table.path}, {where}: Expected a number for {what}, but got {value!r}") from None
    if not np.isfinite(x):
        raise LabelError(f"{table.path}, {where}: Expected a finite number for {what}, but got {value!r}")
    return x


def _int(table: _Table, value: str, what: str, where: str) -> int:
    x = _float(table, value, what, where)
    if x != int(x):
        raise LabelError(f"{table.path}, {where}: Expected a whole number for {what}, but got {value!r}")
    return int(x)


def _seconds_to_frame(t: float, video: Video) -> int:
    """Frame at time ``t`` (s): ``t * fps`` rounded half up (a time within half a frame of a frame start)."""
    return int(np.floor(t * video.fps + 0.5 + 1e-9))


def _check_frame_range(path: Path, where: str, video: Video, start: int, end: int, what: str) -> tuple[int, int]:
    """Clip [start, end) to the video, allowing one frame of slack at either end; error beyond that."""
    if start < -1 or end < -1:
        raise LabelError(f"{path}, {where}: {what} starts before the start of video {video.id}")
    if start > video.n_frames + 1 or end > video.n_frames + 1:
        raise LabelError(f"{path}, {where}: {what} is past the end of video {video.id} "
                         f"({video.n_frames} frames, {video.duration:.3f} s at {video.fps:g} fps)")
    return max(0, start), min(video.n_frames, end)


# ---------------------------------------------------------------------------------------------- own formats
def _own_video_resolver(table: _Table, videos: Sequence[Video], video: Video | None):
    vcol = table.col(*_VIDEO_COLS)
    if vcol is None:
        if video is None:
            stem = _nfc(table.path.stem)
            cands = [v for v in videos
                     if stem == _nfc(v.id) or any(stem.startswith(_nfc(v.id) + s) for s in "_-. ")]
            if not cands:
                raise LabelError(
                    f"{table.path}: Expected a video column ({', '.join(_VIDEO_COLS)}), video= (--video), or a "
                    f"file name that starts with a video id, but got none of them (registered: "
                    f"{', '.join(v.id for v in videos) or 'none'})")
            video = max(cands, key=lambda v: len(v.id))
            logger.info("%s: labels of video %s (from the file name)", table.path, video.id)

        def fixed(cells: list[str], where: str) -> Video | None:
            return video
        return fixed

    def per_row(cells: list[str], where: str) -> Video | None:
        name = table.cell(cells, vcol)
        v = _match_video(name, videos)
        if v is None:
            raise _unknown_media(table.path, where, name, videos)
        if video is not None and v.id != video.id:
            return None  # restricted to one video
        return v
    return per_row


def _own_video_rows(
    table: _Table, videos: Sequence[Video], video: Video | None
) -> Iterator[tuple[str, list[str], Video]]:
    """``(where, cells, video)`` of every row of ``table`` that belongs to ``video`` (or to any registered one).

    The video column (or file name) is checked at once, before the first row is read; a row naming an
    unregistered video raises LabelError when it is reached.
    """
    which = _own_video_resolver(table, videos, video)

    def rows() -> Iterator[tuple[str, list[str], Video]]:
        for line, cells in table.rows:
            where = f"row {line}"
            v = which(cells, where)
            if v is not None:
                yield where, cells, v
    return rows()


def _read_frames(table: _Table, videos, video, names: _Names, unit: str | None) -> list[_Bout]:
    fcol, lcol = table.col(*_FRAME_COLS), table.col(*_LABEL_COLS)
    rows = _own_video_rows(table, videos, video)
    out = []
    for where, cells, v in rows:
        frame = _int(table, table.cell(cells, fcol), "the frame", where)
        label = table.cell(cells, lcol)
        if not 0 <= frame < v.n_frames:
            raise LabelError(f"{table.path}, {where}: Expected a frame in [0, {v.n_frames}) of video {v.id}, "
                             f"but got {frame} (past the end of the video)" if frame >= 0 else
                             f"{table.path}, {where}: Expected a frame >= 0, but got {frame}")
        if label and (b := names(label, where)):
            out.append(_Bout(v.id, b, frame, frame + 1, where))
    return out


def _read_seconds(table: _Table, videos, video, names: _Names, unit: str | None) -> list[_Bout]:
    scol, lcol = table.col(*_SECOND_COLS), table.col(*_LABEL_COLS)
    sf, ef = table.col(*_START_FRAME_COLS), table.col(*_END_FRAME_COLS)
    rows = _own_video_rows(table, videos, video)
    out = []
    end_style: str | None = None  # how start_frame/end_frame columns (if any) state the second: checked per file
    for where, cells, v in rows:
        s = _int(table, table.cell(cells, scol), "the second", where)
        if s < 0:
            raise LabelError(f"{table.path}, {where}: Expected a second >= 0, but got {s}")
        start, end = _seconds_to_frame(s, v), min(_seconds_to_frame(s + 1, v), v.n_frames)
        if start >= v.n_frames:
            raise LabelError(f"{table.path}, {where}: second {s} is past the end of video {v.id} "
                             f"({v.n_frames} frames, {v.duration:.3f} s at {v.fps:g} fps)")
        if sf is not None and ef is not None and table.cell(cells, sf) and table.cell(cells, ef):
            a = _int(table, table.cell(cells, sf), "start_frame", where)
            b = _int(table, table.cell(cells, ef), "end_frame", where)
            styles = {st for st, ok in (("inclusive", b == end - 1), ("exclusive", b == end)) if ok}
            if a != start or not styles or (end_style and end_style not in styles):
                raise LabelError(
                    f"{table.path}, {where}: Expected start_frame,end_frame {start},{end - 1} (end inclusive) or "
                    f"{start},{end} (end exclusive) for second {s} at {v.fps:g} fps, but got {a},{b}")
            end_style = end_style or (styles.pop() if len(styles) == 1 else None)
        label = table.cell(cells, lcol)
        if label and (bname := names(label, where)):
            out.append(_Bout(v.id, bname, start, end, where))
    return out


def _read_bouts(table: _Table, videos, video, names: _Names, unit: str | None) -> list[_Bout]:
    lcol = table.col(*_LABEL_COLS)
    rows = _own_video_rows(table, videos, video)
    sf, ef = table.col(*_START_FRAME_COLS), table.col(*_END_FRAME_COLS)
    ss, es = table.col(*_START_S_COLS), table.col(*_END_S_COLS)
    sg, eg = table.col(*_START_COLS), table.col(*_END_COLS)
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
    out = []
    for where, cells, v in rows:
        label = table.cell(cells, lcol)
        if not label:
            continue
        if in_frames:
            a = _int(table, table.cell(cells, cols[0]), "the start frame", where)
            b = _int(table, table.cell(cells, cols[1]), "the end frame", where)
            if not 0 <= a < b:
                raise LabelError(f"{table.path}, {where}: Expected 0 <= start < end (end exclusive), but got "
                                 f"[{a}, {b})")
            if b > v.n_frames:
                raise LabelError(f"{table.path}, {where}: bout [{a}, {b}) is past the end of video {v.id} "
                                 f"({v.n_frames} frames)")
        else:
            t0 = _float(table, table.cell(cells, cols[0]), "the start time", where)
            t1 = _float(table, table.cell(cells, cols[1]), "the stop time", where)
            if not 0 <= t0 < t1:
                raise LabelError(f"{table.path}, {where}: Expected 0 <= start < stop (seconds), but got "
                                 f"{t0:g}, {t1:g}")
            a, b = _check_frame_range(table.path, where, v, _seconds_to_frame(t0, v), _seconds_to_frame(t1, v),
                                      f"bout {t0:g}-{t1:g} s")
        if (bname := names(label, where)) and b > a:
            out.append(_Bout(v.id, bname, a, b, where))
    return out


# -------------------------------------------------------------------------------------------------- BORIS
@dataclass
class _Observation:
    id: str
    offset: float  # s: observation time = media time + offset
    media: list[str]  # player #1 media files in playlist order ([] when the export does not list them)
    durations: list[float | None]  # s, from the export
    fps: list[float | None]  # from the export


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


class _Boris:
    """Turns BORIS rows into bouts on registered videos (time offset, several media files, fps check)."""

    def __init__(self, table: _Table, videos: Sequence[Video], video: Video | None, names: _Names,
                 subject: str | None):
        self.t, self.videos, self.video, self.names, self.subject = table, videos, video, names, subject
        t = table
        self.c_obs = t.col("observation id")
        self.c_offset = t.col("time offset (s)")
        self.c_source = t.col("source")
        self.c_durations = t.col("media duration (s)")
        self.c_fps = t.col("fps", "fps (frame/s)")
        self.c_media = t.col("media file name", "media file path", "media file")
        self.c_subject = t.col("subject")
        self.c_behavior = t.col("behavior")
        self.observations: dict[str, _Observation] = {}
        self.points: dict[str, int] = {}
        self.skipped = 0  # pieces in media other than the requested video
        self.short = 0  # state events that cover no frame (shorter than half a frame)
        self.bouts: list[_Bout] = []
        self.subjects: set[str] = set()

    def observation(self, cells: list[str], where: str) -> _Observation:
        t = self.t
        obs_id = t.cell(cells, self.c_obs) or t.meta.get("observation id", "")
        if obs_id in self.observations:
            return self.observations[obs_id]
        off_s = t.cell(cells, self.c_offset) if self.c_offset is not None else t.meta.get("time offset (s)", "")
        offset = _float(t, off_s, "the time offset", where) if off_s and off_s.upper() != "NA" else 0.0
        media = _split_list(t.cell(cells, self.c_source)) if self.c_source is not None else list(t.players)
        durations = ([_optional_float(x) for x in _split_list(t.cell(cells, self.c_durations))]
                     if self.c_durations is not None else [])
        fps = [_optional_float(x) for x in _split_list(t.cell(cells, self.c_fps))] if self.c_fps is not None else []
        obs = _Observation(obs_id, offset, media, durations, fps)
        self.observations[obs_id] = obs
        if offset:
            logger.info("%s: observation %r has a time offset of %g s (media time = time - offset)", t.path,
                        obs_id, offset)
        return obs

    def keep_subject(self, cells: list[str]) -> bool:
        subj = self.t.cell(cells, self.c_subject)
        if self.subject is not None:
            return subj == self.subject or (subj.lower() in _NO_FOCAL and self.subject.lower() in _NO_FOCAL)
        self.subjects.add(subj)
        return True

    def _video_for(self, name: str, where: str, n_media: int) -> Video | None:
        if self.video is not None:
            if n_media <= 1:
                return self.video
            v = _match_video(name, self.videos)
            return self.video if v is not None and v.id == self.video.id else None
        v = _match_video(name, self.videos)
        if v is None:
            raise _unknown_media(self.t.path, where, name, self.videos)
        return v

    def add_interval(self, cells: list[str], obs: _Observation, behavior: str, t0: float, t1: float, where: str):
        """Add the state event [t0, t1) (observation time, s), split over the media files it spans."""
        t = self.t
        m0, m1 = t0 - obs.offset, t1 - obs.offset
        if len(obs.media) > 1:
            pieces = []
            lo = 0.0
            for k, name in enumerate(obs.media):
                if k and m1 <= lo:
                    break
                last = k == len(obs.media) - 1
                if last:
                    hi = np.inf
                else:
                    reg = _match_video(name, self.videos)
                    dur = reg.duration if reg is not None else (obs.durations[k] if k < len(obs.durations) else None)
                    if dur is None:
                        raise LabelError(f"{t.path}, {where}: the duration of media file {name!r} (player #1, file "
                                         f"{k + 1}) is needed to place later events, but it is not in the export "
                                         "and the file is not a registered video")
                    hi = lo + dur
                a, b = max(m0, -np.inf if k == 0 else lo), min(m1, hi)
                if b > a or (m0 == m1 and (k == 0 or lo <= m0) and m0 < hi):
                    pieces.append((k, name, a - lo, b - lo))
                lo = hi
        else:
            name = obs.media[0] if obs.media else t.cell(cells, self.c_media)
            pieces = [(0, name, m0, m1)]
        for i, name, a, b in pieces:
            v = self._video_for(name, where, len(obs.media))
            if v is None:
                self.skipped += 1
                continue
            fps = obs.fps[i] if i < len(obs.fps) else None
            if fps is None and self.c_fps is not None and not obs.fps:
                fps = _optional_float(t.cell(cells, self.c_fps))
            if fps is not None and abs(fps - v.fps) > FPS_TOLERANCE:
                raise LabelError(f"{t.path}, {where}: Expected the fps of video {v.id} ({v.fps:g}), but the export "
                                 f"says {fps:g} for {name!r}; the export was scored on another version of the video")
            if a < -0.5 / v.fps:
                raise LabelError(f"{t.path}, {where}: time {t0:.3f} s is before the start of video {v.id} "
                                 f"(media time {a:.3f} s with the observation's time offset {obs.offset:g} s)")
            s, e = _check_frame_range(t.path, where, v, _seconds_to_frame(a, v), _seconds_to_frame(b, v),
                                      f"event {behavior} at {t0:.3f}-{t1:.3f} s (media time {a:.3f}-{b:.3f} s)")
            if e > s:
                self.bouts.append(_Bout(v.id, behavior, s, e, where))
            else:
                self.short += 1

    def check_subjects(self):
        named = {s for s in self.subjects if s.lower() not in _NO_FOCAL}
        if len(named) > 1 or (named and len(self.subjects) > len(named)):
            raise LabelError(f"{self.t.path}: events of several subjects ({', '.join(sorted(self.subjects))}); "
                             "Expected one subject per video: pass subject= (--subject) to choose one")

    def is_point(self, kind: str) -> bool:
        return "point" in kind.lower()

    def count_point(self, name: str):
        self.points[name] = self.points.get(name, 0) + 1


def _read_boris_tabular(table: _Table, videos, video, names: _Names, unit, subject=None) -> list[_Bout]:
    b = _Boris(table, videos, video, names, subject)
    c_time = table.col("time")
    c_status = table.col("status", "behavior type")
    open_: dict[tuple[str, str, str], tuple[float, int, str]] = {}
    for line, cells in table.rows:
        where = f"row {line}"
        if not b.keep_subject(cells):
            continue
        status = table.cell(cells, c_status).upper()
        raw = table.cell(cells, b.c_behavior)
        if status == "POINT":
            b.count_point(raw)
            continue
        if status not in ("START", "STOP"):
            raise LabelError(f"{table.path}, {where}: Expected the status START, STOP or POINT, but got "
                             f"{table.cell(cells, c_status)!r}")
        obs = b.observation(cells, where)
        time = _float(table, table.cell(cells, c_time), "the time", where)
        key = (obs.id, table.cell(cells, b.c_subject), raw)
        if status == "START":
            if key in open_:
                raise LabelError(f"{table.path}, {where}: unpaired START of {raw!r}: the START at row {open_[key][1]} "
                                 "has no STOP before this one")
            open_[key] = (time, line, where)
            continue
        if key not in open_:
            raise LabelError(f"{table.path}, {where}: unpaired STOP of {raw!r}: Expected a START before it")
        t0, line0, _ = open_.pop(key)
        if time < t0:
            raise LabelError(f"{table.path}, {where}: Expected the STOP of {raw!r} after its START at row {line0} "
                             f"({t0:g} s), but got {time:g} s")
        name = names(raw, f"row {line0}")
        if name:
            b.add_interval(cells, obs, name, t0, time, f"rows {line0} and {line}")
    if open_:
        t0, line0, _ = min(open_.values(), key=lambda x: x[1])
        raw = next(k[2] for k, v in open_.items() if v[1] == line0)
        raise LabelError(f"{table.path}, row {line0}: unpaired START of {raw!r} at {t0:g} s: no STOP follows")
    b.check_subjects()
    _log_boris(table, b)
    return b.bouts


def _read_boris_aggregated(table: _Table, videos, video, names: _Names, unit, subject=None) -> list[_Bout]:
    b = _Boris(table, videos, video, names, subject)
    c_type = table.col("behavior type")
    c_start, c_stop = table.col("start (s)"), table.col("stop (s)")
    for line, cells in table.rows:
        where = f"row {line}"
        if not b.keep_subject(cells):
            continue
        raw = table.cell(cells, b.c_behavior)
        if c_type is not None and b.is_point(table.cell(cells, c_type)):
            b.count_point(raw)
            continue
        obs = b.observation(cells, where)
        t0 = _float(table, table.cell(cells, c_start), "Start (s)", where)
        stop = table.cell(cells, c_stop)
        if not stop or stop.upper() == "NA":
            raise LabelError(f"{table.path}, {where}: unpaired START of {raw!r} at {t0:g} s: Stop (s) is empty")
        t1 = _float(table, stop, "Stop (s)", where)
        if t1 < t0:
            raise LabelError(f"{table.path}, {where}: Expected Stop (s) >= Start (s), but got {t1:g} < {t0:g}")
        name = names(raw, where)
        if name:
            b.add_interval(cells, obs, name, t0, t1, where)
    b.check_subjects()
    _log_boris(table, b)
    return b.bouts


def _log_boris(table: _Table, b: _Boris) -> None:
    if b.points:
        logger.info("%s: ignored %d point event(s) (no duration): %s", table.path, sum(b.points.values()),
                    ", ".join(f"{k} x{n}" for k, n in sorted(b.points.items())))
    if b.short:
        logger.warning("%s: ignored %d state event(s) shorter than half a frame (they cover no frame)",
                       table.path, b.short)
    if b.skipped:
        logger.info("%s: skipped %d event(s) in media files other than the requested video", table.path, b.skipped)


_READERS = {
    "frames": _read_frames,
    "seconds": _read_seconds,
    "bouts": _read_bouts,
    "boris-tabular": _read_boris_tabular,
    "boris-aggregated": _read_boris_aggregated,
}


def _assemble(path: Path, bouts: list[_Bout], videos: dict[str, Video], fill: str) -> dict[str, np.ndarray]:
    """Per-frame labels per video from bouts; overlapping bouts are an error naming both rows."""
    by_video: dict[str, list[_Bout]] = {}
    for b in bouts:
        by_video.setdefault(b.video, []).append(b)
    out = {}
    for vid, items in by_video.items():
        items.sort(key=lambda b: (b.start, b.end))
        for prev, cur in zip(items, items[1:], strict=False):
            if cur.start < prev.end:
                raise LabelError(
                    f"{path}, {prev.where} and {cur.where}: overlapping bouts in video {vid}: {prev.behavior} "
                    f"[{prev.start}, {prev.end}) and {cur.behavior} [{cur.start}, {cur.end}) (frames, end "
                    "exclusive); the project's behaviours are mutually exclusive")
        frame = pd.DataFrame({"behavior": [b.behavior for b in items], "start_frame": [b.start for b in items],
                              "end_frame": [b.end for b in items]})
        labels = bouts_to_labels(frame, videos[vid].n_frames)
        if fill:
            labels[labels == ""] = fill
        out[vid] = labels
    return out


def import_labels(
    config: str | os.PathLike,
    path: str | os.PathLike,
    video: str | None = None,
    format: str | None = None,
    mapping: Mapping[str, str | None] | None = None,
    overwrite: bool = True,
    subject: str | None = None,
    unit: str | None = None,
    fill: str | None = None,
) -> list[str]:
    """Import human labels into the project's canonical ``labels/<video_id>.csv`` files.

    Reads per-frame, per-second and bout tables (CSV or TSV) and BORIS exports (tabular events and aggregated
    events, TSV or CSV); see docs/labels.md for the columns each format needs. The call is all-or-nothing:
    the whole file is converted and checked first, and nothing is written if anything is wrong.

    Parameters
    ----------
    config
        Path of config.yaml or the project folder.
    path
        The file to import.
    video
        Video (id, registry key or file name) the labels belong to. Needed for own tables without a ``video``
        column whose file name does not start with a video id. For a BORIS observation of one media file it
        replaces matching the media file name; for several media files it restricts the import to this one.
    format
        One of ``IMPORT_FORMATS``; detected from the file content when None (the choice is logged).
    mapping
        External behaviour name -> project behaviour (``""`` or None: ignore events of that name). Keys are
        compared ignoring case; names not in ``mapping`` must equal a project behaviour ignoring case.
    overwrite
        Replace existing label files of the imported videos (logged). With False an existing file is an error
        and nothing is written. Label files of other videos are never touched.
    subject
        BORIS subject whose events to import, when an export holds several.
    unit
        ``"s"`` or ``"frames"``: the unit of bout columns named plainly ``start``/``stop`` (or ``end``).
    fill
        Behaviour given to frames that no bout covers (default: leave them unlabelled, ``""``).

    Returns
    -------
    list of str
        Ids of the videos whose label files were written, in registry order.

    Raises
    ------
    LabelError
        Naming the file and row: format not recognised, unknown behaviour, overlapping bouts, unpaired
        START/STOP, fps that disagrees with the video's, times past the end of the video, unknown media file,
        label file exists and ``overwrite`` is False.
    ProjectError
        ``video`` is not a registered video.
    """
    from mousefear import _compat as _config
    from mousefear._compat import project_paths, registered_videos

    path = Path(path).expanduser()
    cfg = _config.load_config(config)
    behaviors = _config.behavior_names(cfg)
    videos = registered_videos(config, cfg)
    chosen = registered_videos(config, cfg, [video])[0] if video is not None else None
    if format is not None and format not in IMPORT_FORMATS:
        raise LabelError(f"Expected format one of {', '.join(IMPORT_FORMATS)}, but got {format!r}")
    if unit is not None and unit not in ("s", "frames"):
        raise LabelError(f"Expected unit 's' or 'frames', but got {unit!r}")
    if fill:
        fill = _Names(behaviors, None, path)(fill, "fill=")
    names = _Names(behaviors, mapping, path)

    table = _read_table(path)
    detected = _detect_format(table)
    if format is None:
        format = detected
        logger.info("%s: detected format %s", path, format)
    elif format != detected:
        raise LabelError(f"{path}: Expected a {format} file, but the columns {','.join(table.header)!r} "
                         f"are those of a {detected} file")
    reader = _READERS[format]
    if format.startswith("boris"):
        bouts = reader(table, videos, chosen, names, unit, subject)
    else:
        bouts = reader(table, videos, chosen, names, unit)
    if names.ignored:
        logger.info("%s: ignored behaviours (mapped to ''): %s", path,
                    ", ".join(f"{k} x{n}" for k, n in sorted(names.ignored.items())))
    by_id = {v.id: v for v in videos}
    labels = _assemble(path, bouts, by_id, fill or "")
    if not labels:
        raise LabelError(f"{path}: no labelled frame for any registered video"
                         + (f" (video {chosen.id})" if chosen else ""))

    paths = project_paths(config)
    targets = {vid: paths.label_file(vid) for vid in labels}
    existing = [vid for vid, p in targets.items() if p.exists()]
    if existing and not overwrite:
        raise LabelError(f"{path}: label files exist for {', '.join(existing)} ({paths.labels}); Expected "
                         "overwrite=True to replace them, but got overwrite=False; nothing written")
    written = []
    for v in videos:  # registry order
        if v.id not in labels:
            continue
        if v.id in existing:
            logger.info("replacing %s", targets[v.id])
        write_label_file(targets[v.id], labels[v.id], behaviors)
        n = int((labels[v.id] != "").sum())
        logger.info("%s: %d of %d frames labelled (%s)", targets[v.id], n, v.n_frames, format)
        written.append(v.id)
    return written


# ==========================================================================================================
# Export: human labels or a run's predictions as a BORIS table, a bout table or a per-frame table
# ==========================================================================================================

#: columns of the BORIS tabular-events layout written by ``export_labels(format="boris")`` (as BORIS 8 writes)
BORIS_TABULAR_COLUMNS = (
    "Observation id", "Observation date", "Description", "Observation type", "Source", "Time offset (s)",
    "Media duration (s)", "FPS", "Subject", "Behavior", "Behavioral category", "Behavior type", "Time",
    "Media file name", "Image index", "Image file path", "Comment",
)
#: columns BORIS's "Import observations" from a spreadsheet (ODS/XLSX) reads into the open observation
BORIS_SPREADSHEET_COLUMNS = ("time", "subject", "code", "modifier", "comment")
_BOUT_COLUMNS = ("behavior", "start_frame", "end_frame", "start_s", "end_s")


def _seconds_text(t: float) -> str:
    return f"{t:.6f}"


def _table_text(header: Sequence[str], rows: Sequence[Sequence], delimiter: str) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delimiter, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def _ods_bytes(header: Sequence[str], rows: Sequence[Sequence], sheet: str = "events") -> bytes:
    """A minimal OpenDocument spreadsheet (one sheet) that pandas/odfpy, LibreOffice and BORIS read."""
    import zipfile
    from xml.sax.saxutils import escape, quoteattr

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


def export_labels(
    config: str | os.PathLike,
    video: str,
    run: str | None = None,
    format: str = "boris",
    out: str | os.PathLike | None = None,
) -> Path:
    """Write a video's human labels, or a run's predictions, as a table for BORIS or for people.

    Parameters
    ----------
    config
        Path of config.yaml or the project folder.
    video
        Registered video (id, registry key or file name).
    run
        Run whose predictions to export (``behavior-vectors/<run>/<video_id>.h5``, per-frame ``label``);
        None exports the human labels ``labels/<video_id>.csv``.
    format
        ``"boris"``: BORIS tabular events (TSV; one START and one STOP row per bout, times in seconds of the
        video, time offset 0, fps, media file name, subject), plus, beside it with the suffix ``.ods``, the
        spreadsheet (columns time, subject, code, modifier, comment) that BORIS's *Observations > Import
        observations* reads into an open observation of this video. ``"bouts"``: CSV with
        behavior,start_frame,end_frame,start_s,end_s (frames half-open, seconds = frame / fps).
        ``"frames"``: the canonical per-frame CSV ``frame,behavior``.
    out
        Output file; default ``labels/exports/<video_id>_<run or human>_<format>.tsv`` (``.csv`` for bouts and
        frames). Overwritten if it exists.

    Returns
    -------
    pathlib.Path
        The file written (for ``"boris"`` the TSV; the ODS sits beside it).

    Raises
    ------
    LabelError
        Unknown format, or no label file for the video.
    ProjectError
        ``video`` is not registered.
    VectorFileError
        The run's behaviour-vector file is missing or damaged.
    """
    from mousefear import _compat as _config
    from mousefear._compat import project_paths, registered_videos
    from mousefear.formats.vectors import read_vector

    if format not in EXPORT_FORMATS:
        raise LabelError(f"Expected format one of {', '.join(EXPORT_FORMATS)}, but got {format!r}")
    cfg = _config.load_config(config)
    behaviors = _config.behavior_names(cfg)
    v = registered_videos(config, cfg, [video])[0]
    paths = project_paths(config)
    if run is None:
        labels = read_label_file(paths.label_file(v.id), behaviors, n_frames=v.n_frames)
    else:
        vec = read_vector(paths.vectors(run) / f"{v.id}.h5")
        labels = vec["label"].to_numpy(dtype=object)
        if len(labels) != v.n_frames:
            raise LabelError(f"{paths.vectors(run) / f'{v.id}.h5'}: {len(labels)} frames, but video {v.id} has "
                             f"{v.n_frames} frames")
    source = "human" if run is None else run
    suffix = ".tsv" if format == "boris" else ".csv"
    out = Path(out).expanduser() if out is not None else paths.labels / "exports" / f"{v.id}_{source}_{format}{suffix}"
    bouts = labels_to_bouts(labels, behaviors)
    fps = v.fps
    if format == "frames":
        atomic_write_text(out, format_label_file(labels))
    elif format == "bouts":
        rows = [(b.behavior, b.start_frame, b.end_frame, _seconds_text(b.start_frame / fps),
                 _seconds_text(b.end_frame / fps)) for b in bouts.itertuples()]
        atomic_write_text(out, _table_text(_BOUT_COLUMNS, rows, ","))
    else:
        media = v.path.name
        obs_id = f"{v.id} ({source})"
        rows, sheet = [], []
        for b in bouts.itertuples():
            for status, frame in (("START", b.start_frame), ("STOP", b.end_frame)):
                t = _seconds_text(frame / fps)
                rows.append((obs_id, "", f"mousefear {source} labels", "Media file", f"player #1:{media}", "0",
                             f"{v.duration:.3f}", f"{fps:.3f}", v.subject, b.behavior, "", status, t, media,
                             frame, "NA", ""))
                sheet.append((float(t), "", b.behavior, "", ""))
        atomic_write_text(out, _table_text(BORIS_TABULAR_COLUMNS, rows, "\t"))
        from mousefear._io import atomic_write_bytes

        ods = out.with_suffix(".ods")
        atomic_write_bytes(ods, _ods_bytes(BORIS_SPREADSHEET_COLUMNS, sheet))
        logger.info("%s: BORIS spreadsheet for Observations > Import observations", ods)
    logger.info("%s: %d bouts of video %s (%s labels) as %s", out, len(bouts), v.id, source, format)
    return out
