"""Human labels into and out of a project: :func:`import_labels` and :func:`export_labels`.

The canonical form is ``labels/<video_id>.csv`` (:mod:`mousefear.formats.labels`). Importing reads a label
table or a BORIS export into neutral events (:mod:`mousefear.formats.label_tables`,
:mod:`mousefear.formats.boris`) and places them here on the registered videos: media names matched to videos
(path, file name or stem, in Unicode normal form C), playlists split over their media files, the export's fps
checked against the video's, seconds turned into frames, ranges checked, behaviour names mapped to the
project's, overlaps refused; then every label file is written, or none. Frame ranges are half-open,
``[start_frame, end_frame)``.
"""

from __future__ import annotations

import logging
import os
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PureWindowsPath

import numpy as np
import pandas as pd

from mousefear._io import atomic_write_text
from mousefear.core.intervals import bouts_to_labels, labels_to_bouts
from mousefear.core.project import ConfigLike, Project
from mousefear.core.video import Video
from mousefear.errors import LabelError
from mousefear.formats.boris import (
    BorisEvent,
    BorisExport,
    read_boris_events,
    write_boris_spreadsheet,
    write_boris_tabular,
)
from mousefear.formats.label_tables import (
    IMPORT_FORMATS,
    VIDEO_COLS,
    LabelEvent,
    Table,
    detect_format,
    names_videos,
    read_label_events,
    read_table,
    write_bout_table,
)
from mousefear.formats.labels import format_label_file, read_label_file, write_label_file

__all__ = ["EXPORT_FORMATS", "IMPORT_FORMATS", "export_labels", "import_labels"]

logger = logging.getLogger(__name__)

#: formats ``export_labels`` writes
EXPORT_FORMATS = ("boris", "bouts", "frames")

FPS_TOLERANCE = 0.01  # frames per second: the export's fps and the video's fps may differ by this much


@dataclass(frozen=True)
class _Bout:
    """A bout placed on a registered video: frames ``[start, end)``."""

    video: str
    behavior: str
    start: int
    end: int  # exclusive
    where: str  # "row 12" or "rows 12 and 15"


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


# ------------------------------------------------------------------------------------- names -> videos
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


# --------------------------------------------------------------------------- own tables -> registered videos
def _own_video_resolver(
    table: Table, videos: Sequence[Video], video: Video | None
) -> Callable[[LabelEvent], Video | None]:
    """Which registered video an event of ``table`` belongs to (None: not the requested ``video``).

    Without a video column the video is ``video`` or the one whose id starts the file name: decided here, at
    once, before any row is read. With one, each event's media name must name a registered video.
    """
    if not names_videos(table):
        if video is None:
            stem = _nfc(table.path.stem)
            cands = [v for v in videos
                     if stem == _nfc(v.id) or any(stem.startswith(_nfc(v.id) + s) for s in "_-. ")]
            if not cands:
                raise LabelError(
                    f"{table.path}: Expected a video column ({', '.join(VIDEO_COLS)}), video= (--video), or a "
                    f"file name that starts with a video id, but got none of them (registered: "
                    f"{', '.join(v.id for v in videos) or 'none'})")
            video = max(cands, key=lambda v: len(v.id))
            logger.info("%s: labels of video %s (from the file name)", table.path, video.id)
        fixed = video
        return lambda ev: fixed

    def per_row(ev: LabelEvent) -> Video | None:
        name = ev.media or ""
        v = _match_video(name, videos)
        if v is None:
            raise _unknown_media(table.path, ev.where, name, videos)
        if video is not None and v.id != video.id:
            return None  # restricted to one video
        return v
    return per_row


def _own_bouts(table: Table, format: str, unit: str | None, videos: Sequence[Video], video: Video | None,
               names: _Names) -> list[_Bout]:
    """Bouts on registered videos from a per-frame, per-second or bout table."""
    which = _own_video_resolver(table, videos, video)
    path = table.path
    out = []
    end_style: str | None = None  # how start_frame/end_frame of a per-second table state the second: per file
    for ev in read_label_events(table, format, unit):
        v = which(ev)
        if v is None:
            continue
        where = ev.where
        if format == "frames":
            a, b = int(ev.start), int(ev.end)
            if a >= v.n_frames:
                raise LabelError(f"{path}, {where}: Expected a frame in [0, {v.n_frames}) of video {v.id}, "
                                 f"but got {a} (past the end of the video)")
        elif format == "seconds":
            s = int(ev.start)
            a, b = _seconds_to_frame(s, v), min(_seconds_to_frame(s + 1, v), v.n_frames)
            if a >= v.n_frames:
                raise LabelError(f"{path}, {where}: second {s} is past the end of video {v.id} "
                                 f"({v.n_frames} frames, {v.duration:.3f} s at {v.fps:g} fps)")
            if ev.frames is not None:
                fa, fb = ev.frames
                styles = {st for st, ok in (("inclusive", fb == b - 1), ("exclusive", fb == b)) if ok}
                if fa != a or not styles or (end_style and end_style not in styles):
                    raise LabelError(
                        f"{path}, {where}: Expected start_frame,end_frame {a},{b - 1} (end inclusive) or "
                        f"{a},{b} (end exclusive) for second {s} at {v.fps:g} fps, but got {fa},{fb}")
                end_style = end_style or (styles.pop() if len(styles) == 1 else None)
        elif not ev.behavior:  # a bout row that labels nothing
            continue
        elif ev.unit == "frame":  # bouts in frames
            a, b = int(ev.start), int(ev.end)
            if b > v.n_frames:
                raise LabelError(f"{path}, {where}: bout [{a}, {b}) is past the end of video {v.id} "
                                 f"({v.n_frames} frames)")
        else:  # bouts in seconds
            a, b = _check_frame_range(path, where, v, _seconds_to_frame(ev.start, v), _seconds_to_frame(ev.end, v),
                                      f"bout {ev.start:g}-{ev.end:g} s")
        if ev.behavior and (name := names(ev.behavior, where)) and b > a:
            out.append(_Bout(v.id, name, a, b, where))
    return out


# --------------------------------------------------------------------------- BORIS -> registered videos
class _Placer:
    """Places BORIS state events on registered videos: time offset, playlists of several media files, fps
    check, seconds -> frames."""

    def __init__(self, path: Path, videos: Sequence[Video], video: Video | None):
        self.path, self.videos, self.video = path, videos, video
        self.skipped = 0  # pieces in media other than the requested video
        self.short = 0  # state events that cover no frame (shorter than half a frame)

    def _video_for(self, name: str, where: str, n_media: int) -> Video | None:
        if self.video is not None:
            if n_media <= 1:
                return self.video
            v = _match_video(name, self.videos)
            return self.video if v is not None and v.id == self.video.id else None
        v = _match_video(name, self.videos)
        if v is None:
            raise _unknown_media(self.path, where, name, self.videos)
        return v

    def _pieces(self, ev: BorisEvent) -> list[tuple[int, str, float, float]]:
        """``(k, media file, start, stop)`` of the parts of ``ev`` in each media file ``k`` it spans (media time)."""
        obs, media, where = ev.observation, ev.media, ev.where
        m0, m1 = ev.t0 - obs.offset, ev.t1 - obs.offset
        if len(media) == 1:
            return [(0, media[0], m0, m1)]
        pieces = []
        lo = 0.0
        for k, name in enumerate(media):
            if k and m1 <= lo:
                break
            if k == len(media) - 1:
                hi = np.inf
            else:
                reg = _match_video(name, self.videos)
                dur = reg.duration if reg is not None else (obs.durations[k] if k < len(obs.durations) else None)
                if dur is None:
                    raise LabelError(f"{self.path}, {where}: the duration of media file {name!r} (player #1, file "
                                     f"{k + 1}) is needed to place later events, but it is not in the export "
                                     "and the file is not a registered video")
                hi = lo + dur
            a, b = max(m0, -np.inf if k == 0 else lo), min(m1, hi)
            if b > a or (m0 == m1 and (k == 0 or lo <= m0) and m0 < hi):
                pieces.append((k, name, a - lo, b - lo))
            lo = hi
        return pieces

    def place(self, ev: BorisEvent, behavior: str) -> list[_Bout]:
        """Bouts of the state event ``ev`` (named ``behavior`` in the project), split over its media files."""
        out = []
        where, t0, t1 = ev.where, ev.t0, ev.t1
        for k, name, a, b in self._pieces(ev):
            v = self._video_for(name, where, len(ev.observation.media))
            if v is None:
                self.skipped += 1
                continue
            fps = ev.fps(k)
            if fps is not None and abs(fps - v.fps) > FPS_TOLERANCE:
                raise LabelError(f"{self.path}, {where}: Expected the fps of video {v.id} ({v.fps:g}), but the export "
                                 f"says {fps:g} for {name!r}; the export was scored on another version of the video")
            if a < -0.5 / v.fps:
                raise LabelError(f"{self.path}, {where}: time {t0:.3f} s is before the start of video {v.id} "
                                 f"(media time {a:.3f} s with the observation's time offset "
                                 f"{ev.observation.offset:g} s)")
            s, e = _check_frame_range(self.path, where, v, _seconds_to_frame(a, v), _seconds_to_frame(b, v),
                                      f"event {behavior} at {t0:.3f}-{t1:.3f} s (media time {a:.3f}-{b:.3f} s)")
            if e > s:
                out.append(_Bout(v.id, behavior, s, e, where))
            else:
                self.short += 1
        return out


def _boris_bouts(export: BorisExport, videos: Sequence[Video], video: Video | None, names: _Names) -> list[_Bout]:
    """Bouts on registered videos from the state events of a BORIS export."""
    placer = _Placer(export.path, videos, video)
    out = []
    for ev in export.events:
        name = names(ev.behavior, f"row {ev.rows[0]}")
        if name:
            out += placer.place(ev, name)
    if export.points:
        logger.info("%s: ignored %d point event(s) (no duration): %s", export.path, sum(export.points.values()),
                    ", ".join(f"{k} x{n}" for k, n in sorted(export.points.items())))
    if placer.short:
        logger.warning("%s: ignored %d state event(s) shorter than half a frame (they cover no frame)",
                       export.path, placer.short)
    if placer.skipped:
        logger.info("%s: skipped %d event(s) in media files other than the requested video", export.path,
                    placer.skipped)
    return out


def _assemble(path: Path, bouts: Iterable[_Bout], videos: dict[str, Video], fill: str) -> dict[str, np.ndarray]:
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


# ------------------------------------------------------------------------------------------------ import
def import_labels(
    config: ConfigLike,
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
    project = Project.open(config)
    path = Path(path).expanduser()
    behaviors = project.behaviors
    videos = project.videos
    chosen = project.video(video) if video is not None else None
    if format is not None and format not in IMPORT_FORMATS:
        raise LabelError(f"Expected format one of {', '.join(IMPORT_FORMATS)}, but got {format!r}")
    if unit is not None and unit not in ("s", "frames"):
        raise LabelError(f"Expected unit 's' or 'frames', but got {unit!r}")
    if fill:
        fill = _Names(behaviors, None, path)(fill, "fill=")
    names = _Names(behaviors, mapping, path)

    table = read_table(path)
    detected = detect_format(table)
    if format is None:
        format = detected
        logger.info("%s: detected format %s", path, format)
    elif format != detected:
        raise LabelError(f"{path}: Expected a {format} file, but the columns {','.join(table.header)!r} "
                         f"are those of a {detected} file")
    if format.startswith("boris"):
        bouts = _boris_bouts(read_boris_events(table, subject), videos, chosen, names)
    else:
        bouts = _own_bouts(table, format, unit, videos, chosen, names)
    if names.ignored:
        logger.info("%s: ignored behaviours (mapped to ''): %s", path,
                    ", ".join(f"{k} x{n}" for k, n in sorted(names.ignored.items())))
    labels = _assemble(path, bouts, {v.id: v for v in videos}, fill or "")
    if not labels:
        raise LabelError(f"{path}: no labelled frame for any registered video"
                         + (f" (video {chosen.id})" if chosen else ""))

    paths = project.paths
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


# ------------------------------------------------------------------------------------------------ export
def export_labels(
    config: ConfigLike,
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
        ``video`` is not registered, or ``run`` is not a run of the project (or not a valid run name).
    VectorFileError
        The run's behaviour-vector file is missing or damaged.
    """
    from mousefear.formats.vectors import read_vector

    if format not in EXPORT_FORMATS:
        raise LabelError(f"Expected format one of {', '.join(EXPORT_FORMATS)}, but got {format!r}")
    project = Project.open(config)
    behaviors = project.behaviors
    v = project.video(video)
    paths = project.paths
    if run is None:
        labels = read_label_file(paths.label_file(v.id), behaviors, n_frames=v.n_frames)
    else:
        run = project.select_run(run)
        vector_file = paths.vector_file(run, v.id)
        labels = read_vector(vector_file)["label"].to_numpy(dtype=object)
        if len(labels) != v.n_frames:
            raise LabelError(f"{vector_file}: {len(labels)} frames, but video {v.id} has {v.n_frames} frames")
    source = "human" if run is None else run
    suffix = ".tsv" if format == "boris" else ".csv"
    out = Path(out).expanduser() if out is not None else paths.labels / "exports" / f"{v.id}_{source}_{format}{suffix}"
    bouts = labels_to_bouts(labels, behaviors)
    if format == "frames":
        atomic_write_text(out, format_label_file(labels))
    elif format == "bouts":
        write_bout_table(out, bouts, v.fps)
    else:
        write_boris_tabular(out, bouts, fps=v.fps, media=v.path.name, duration=v.duration, subject=v.subject,
                            observation_id=f"{v.id} ({source})", description=f"mousefear {source} labels")
        ods = write_boris_spreadsheet(out.with_suffix(".ods"), bouts, v.fps)
        logger.info("%s: BORIS spreadsheet for Observations > Import observations", ods)
    logger.info("%s: %d bouts of video %s (%s labels) as %s", out, len(bouts), v.id, source, format)
    return out
