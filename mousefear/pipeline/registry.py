"""Creating a project and registering its videos: create_project, add_videos, video_table.

Registration probes each video by decoding it (frame count, fps, size), hashes it, and records it in the
registry of config.yaml under its path relative to the project folder. Subject and session come from the file
name with ``video_pattern`` (:mod:`mousefear.core.patterns`) or are given for the call.
"""

from __future__ import annotations

import datetime as _dt
import errno
import glob
import logging
import math
import os
import shutil
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import EllipsisType
from typing import TYPE_CHECKING

from ruamel.yaml.comments import CommentedMap

from mousefear._io import atomic_path, sha256_file, write_error, writing
from mousefear.core import config as _config
from mousefear.core.names import check_file_name
from mousefear.core.patterns import match_fields, other_split
from mousefear.core.project import ConfigLike, Project, check_name
from mousefear.core.settings import Settings
from mousefear.core.video import VIDEO_EXTENSIONS, Video, VideoInfo, is_truncated, open_video, probe_video
from mousefear.errors import ProjectError, VideoError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FPS_RANGE", "add_videos", "check_table_names", "check_video_file", "check_video_unchanged", "check_videos",
           "create_project", "parse_subject_session", "video_table"]

logger = logging.getLogger(__name__)


def create_project(
    project: str,
    experimenter: str,
    videos: Sequence[str | os.PathLike] = (),
    working_directory: str | os.PathLike | None = None,
    copy_videos: bool = False,
    date: str | _dt.date | None = None,
    video_pattern: str | None | EllipsisType = ...,
    behaviors: Sequence[dict] | None = None,
    subject: str | None = None,
    session: str | None = None,
) -> Path:
    """Create a project folder and register its first videos.

    Parameters
    ----------
    project, experimenter
        Names used in the folder name ``{project}-{experimenter}-{date}``: letters, digits, ``.``, ``_``, ``-``.
    videos
        Video files to register (may be empty; add more later with :func:`add_videos`).
    working_directory
        Folder in which the project folder is made (default: the current folder).
    copy_videos
        Copy the videos into ``videos/`` instead of linking them.
    date
        Date in the folder name and config (default: today), ``YYYY-MM-DD``.
    video_pattern
        Filename pattern for subject and session (``...``, the default, keeps the template's
        ``{subject}_{session}``; ``None`` takes the file name as subject).
    behaviors
        Behaviours as a list of ``{"name": ..., "definition": ...}`` (default: the template's five).
    subject, session
        Subject and session of every video of this call (as in :func:`add_videos`); when not given they are read
        from each file name with ``video_pattern``.

    Returns
    -------
    Path
        Path of the new config.yaml.

    Raises
    ------
    ProjectError
        The project folder exists already, or a name is not usable in a folder name.
    VideoError
        A video cannot be registered; the project folder is then removed again.
    """
    for what, value in (("project", project), ("experimenter", experimenter)):
        check_name(value, f"{what} to be a name")
    if date is None:
        date = _dt.date.today()
    date_s = date.isoformat() if isinstance(date, _dt.date) else str(date)
    try:
        _dt.date.fromisoformat(date_s)
    except ValueError:
        raise ProjectError(f"Expected date to be YYYY-MM-DD, but got {date_s!r}") from None
    base = Path(working_directory).expanduser() if working_directory is not None else Path.cwd()
    root = (base / f"{project}-{experimenter}-{date_s}").resolve()
    if root.exists():
        raise ProjectError(f"{root}: the project folder exists already; choose another name or remove it")
    doc = _config.template_document()
    doc["project"]["name"] = project
    doc["project"]["experimenter"] = experimenter
    doc["project"]["date"] = date_s
    if video_pattern is not ...:
        doc["video_pattern"] = video_pattern
    if behaviors is not None:
        doc["behaviors"] = [CommentedMap([("name", b["name"]), ("definition", b["definition"])]) for b in behaviors]
    config_file = root / _config.CONFIG_NAME
    Settings.from_mapping(doc, config_file)
    with writing(root):
        base.mkdir(parents=True, exist_ok=True)
        root.mkdir()
    try:
        for sub in _config.PROJECT_SUBFOLDERS:
            with writing(root / sub):
                (root / sub).mkdir()
        _config.write_document(config_file, doc)
        if videos:
            add_videos(config_file, videos, copy=copy_videos, subject=subject, session=session)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    logger.info("Created project %s", root)
    return config_file


def parse_subject_session(stem: str, pattern: str | None) -> tuple[str, str] | None:
    """Subject and session from a file stem with ``pattern`` (:mod:`mousefear.core.patterns`); ``None`` when it
    does not match. With ``pattern=None`` the stem is the subject and the session is empty."""
    if pattern is None:
        return stem, ""
    fields = match_fields(stem, pattern)
    if fields is None:
        return None
    return fields.get("subject") or stem, fields.get("session") or ""


def add_videos(
    config: str | os.PathLike,
    videos: Sequence[str | os.PathLike] | str | os.PathLike,
    copy: bool = False,
    subject: str | None = None,
    session: str | None = None,
    *,
    fps: float | None = None,
    replace: bool = False,
) -> list[str]:
    """Register videos in a project: link (or copy) them into ``videos/``, probe them, record them.

    The call is all-or-nothing: if any video cannot be registered, none is, and nothing of this call is left
    in the project. Each entry records the file's size, modification time and SHA-256, which every run checks
    before it classifies the video (:func:`check_video_file`).

    Parameters
    ----------
    config
        Path of config.yaml or the project folder.
    videos
        Video files (one path or a list).
    copy
        Copy the files instead of linking them (files are copied anyway where links cannot be made).
    subject, session
        Subject and session of every video of this call; when not given they are read from each file name with
        ``video_pattern`` of config.yaml.
    fps
        Frame rate of every video of this call, frames per second, instead of the one the file states (recorded
        with ``fps_given: true``). Needed for a file that states none or an implausible one (outside
        :data:`FPS_RANGE`).
    replace
        Register a file again under an id that is registered already (the file changed, or a corrected copy):
        it is probed and hashed anew; its crop box (if it still fits) and scale are kept. Results of the old file
        are not reused: runs classify it again.

    Returns
    -------
    list of str
        Ids of the videos registered.

    Raises
    ------
    VideoError
        A file is missing, unreadable, truncated or not a video, states no or an implausible frame rate, or its
        name does not match ``video_pattern``.
    ProjectError
        A video id (file stem) is registered already (and not ``replace``) or given twice.
    FileWriteError
        The project folder is not writable (read-only, full disk).
    """
    project = Project.open(config)
    if isinstance(videos, str | os.PathLike):
        videos = [videos]
    if fps is not None and not (isinstance(fps, int | float) and not isinstance(fps, bool) and math.isfinite(fps)
                                and fps > 0):
        raise VideoError(f"Expected fps to be a positive number of frames per second, but got {fps!r}")
    sources = [Path(v).expanduser() for v in videos]
    registered_before = {v.id: v for v in project.videos}
    pattern = project.settings.video_pattern

    # 1. check every video before touching the project
    plan: list[_Planned] = []
    for src in sources:
        if src.suffix.lower() not in VIDEO_EXTENSIONS:
            raise VideoError(f"{src}: not a video file (extension {src.suffix or 'none'!r}; expected one of "
                             f"{', '.join(VIDEO_EXTENSIONS)})")
        vid = check_file_name(src.stem, f"the name of {src} (its video id)", exc=VideoError)
        old = registered_before.get(vid)
        if old is not None and not replace:
            raise ProjectError(f"{src}: a video with id {vid!r} is registered already ({old.key}); video ids (file "
                               "names without extension) must be unique in a project. To register a new file under "
                               "this id, pass replace=True (mousefear add-videos --replace)")
        if any(vid == p.vid for p in plan):
            raise ProjectError(f"{src}: video id {vid!r} is given twice in this call")
        check_table_names(vid, [*(k for k in registered_before if k != vid), *(p.vid for p in plan)], src)
        try:
            stat = src.stat()
        except OSError:
            stat = None  # probe_video names the problem
        info = probe_video(src)  # a missing or unreadable file is named before its name is parsed
        parsed = parse_subject_session(vid, pattern)
        if subject is not None or session is not None:
            subj = subject if subject is not None else (parsed[0] if parsed else vid)
            sess = session if session is not None else (parsed[1] if parsed else "")
        else:
            if parsed is None:
                raise VideoError(f"{src}: file name {vid!r} does not match video_pattern {pattern!r}; rename the "
                                 "file, change video_pattern (in config.yaml, or create_project(video_pattern=...)), "
                                 "or give the subject and session (subject= and session=, or --subject and "
                                 "--session: they apply to every video of the call, so add differently named videos "
                                 "in separate calls)")
            subj, sess = parsed
            other = other_split(vid, pattern) if pattern is not None else None
            if other is not None:
                logger.warning("%s: video_pattern %r splits %r more than one way (subject %r, session %r; or "
                               "subject %r, session %r); taking the first. Make video_pattern more specific or give "
                               "subject= and session= if that is wrong", src, pattern, vid, subj, sess,
                               other.get("subject", vid), other.get("session", ""))
        plan.append(_Planned(src, vid, info, subj, sess, _registration_fps(src, info, fps), stat, old))

    # 2. link or copy into videos/, then write config.yaml; undo everything on failure
    created: list[Path] = []
    pending: list[tuple[Path, Path]] = []  # (temporary link or copy, its place), renamed once config.yaml is saved
    registered = []
    doc = project.document()
    previous_last = doc["videos"][next(reversed(doc["videos"]))] if doc["videos"] else None
    try:
        for p in plan:
            dest = project.paths.videos / p.src.name
            key = dest.relative_to(project.root).as_posix()
            same_place = p.old is not None and p.old.key == key
            if same_place and (dest.exists() or dest.is_symlink()):
                if not _same_file(p.src, dest):
                    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.replacing.tmp")
                    _link_or_copy(p.src, tmp, copy)
                    pending.append((tmp, dest))
                    created.append(tmp)
                placed = pending[-1][0] if pending and pending[-1][1] == dest else dest
            else:
                if dest.exists() or dest.is_symlink():
                    raise ProjectError(f"{p.src}: {dest} exists already in the project")
                _link_or_copy(p.src, dest, copy)
                created.append(dest)
                placed = dest
            _check_unchanged_while_registering(p)
            if p.old is not None and not same_place:
                del doc["videos"][p.old.key]
            doc["videos"][key] = _registry_entry(p, placed, project)
            registered.append(p.vid)
        _block_style(doc)
        last = doc["videos"][next(reversed(doc["videos"]))] if doc["videos"] else None
        if previous_last is not None and last is not None and last is not previous_last:
            _config.move_trailing_comment(previous_last, last)  # the old last entry got another after it, or went
        project.save(doc)
        for tmp, dest in pending:
            with writing(dest):
                os.replace(tmp, dest)
    except BaseException:
        for path in created:
            path.unlink(missing_ok=True)
        raise
    for p in plan:
        if p.old is not None:
            _forget_old_file(project, p)
        logger.info("%s video %s (subject %r, session %r)", "Registered again" if p.old else "Registered", p.vid,
                    p.subject, p.session)
    return registered


def check_table_names(video_id: str, others: Sequence[str], where: object) -> None:
    """Refuse a video id whose files would share a name with another video's per-window table.

    Video ``X`` has the table ``X_seconds.csv`` beside its vector file ``X.h5`` and its CSV twin ``X.csv``; a video
    with the id ``X_seconds`` would have the CSV twin ``X_seconds.csv``.

    Raises
    ------
    ProjectError
        ``video_id`` is ``<other>_seconds`` or ``other`` is ``<video_id>_seconds``.
    """
    for other in others:
        if video_id == f"{other}_seconds" or other == f"{video_id}_seconds":
            long, short = (video_id, other) if video_id.endswith("_seconds") else (other, video_id)
            raise ProjectError(f"{where}: video ids {video_id!r} and {other!r} cannot both be in a project: the CSV "
                               f"twin of {long!r} would have the name of the per-window table of {short!r} "
                               f"({long}.csv); rename one of the files")


#: Frame rates accepted from a file without the user giving them (frames per second): outside, a container's
#: value is taken for a mistake (OpenCV's fallbacks, broken headers) and the user is asked for the real one.
FPS_RANGE = (0.5, 1000.0)


@dataclass
class _Planned:
    """One video of an add_videos call, checked, before anything is written."""

    src: Path
    vid: str
    info: VideoInfo
    subject: str
    session: str
    fps: tuple[float, bool]  # frames per second, given by the user
    stat: os.stat_result | None  # of the source before it was probed
    old: Video | None  # the registered video it replaces


def _avi_header_fps(path: Path) -> float | None:
    """The frame rate an AVI file's headers state: ``dwRate / dwScale`` of the first video stream header, else
    1e6 / ``dwMicroSecPerFrame`` of the main header; 0.0 when neither states one (FFmpeg then assumes 25 fps);
    None for a file that is not an AVI."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(1 << 16)
    except OSError:
        return None
    if head[:4] != b"RIFF" or head[8:12] != b"AVI ":
        return None
    i = head.find(b"avih")
    usec = struct.unpack_from("<I", head, i + 8)[0] if 0 <= i <= len(head) - 12 else 0
    k = head.find(b"strh")
    while 0 <= k <= len(head) - 36:
        if head[k + 8:k + 12] == b"vids":
            scale, rate = struct.unpack_from("<II", head, k + 28)
            if scale and rate:
                return rate / scale
            break
        k = head.find(b"strh", k + 4)
    return 1e6 / usec if usec else 0.0


def _registration_fps(src: Path, info: VideoInfo, given: float | None) -> tuple[float, bool]:
    """The frame rate to register and whether the user gave it; refuse a file whose own rate is not plausible."""
    if given is not None:
        return float(given), True
    if _avi_header_fps(src) == 0.0:
        raise VideoError(f"{src}: the file states no frame rate (OpenCV would assume {info.fps:g} fps); give the "
                         "real one: add_videos(config, FILES, fps=...) or mousefear add-videos CONFIG FILES --fps N")
    low, high = FPS_RANGE
    if not low <= info.fps <= high:
        raise VideoError(f"{src}: the file states {info.fps:g} frames per second, outside the plausible {low:g} to "
                         f"{high:g}; give the real frame rate: add_videos(config, FILES, fps=...) or mousefear "
                         "add-videos CONFIG FILES --fps N")
    return info.fps, False


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _check_unchanged_while_registering(p: _Planned) -> None:
    st = p.src.stat()
    if p.stat is None or (st.st_size, st.st_mtime_ns) != (p.stat.st_size, p.stat.st_mtime_ns) \
            or st.st_size != p.info.size_bytes:
        raise VideoError(f"{p.src}: the file changed while it was being registered; register it again once it is "
                         "complete")


def _registry_entry(p: _Planned, placed: Path, project: Project) -> CommentedMap:
    info = p.info
    entry = CommentedMap()
    entry["id"] = p.vid
    entry["subject"] = p.subject
    entry["session"] = p.session
    entry["fps"] = p.fps[0]
    if p.fps[1]:
        entry["fps_given"] = True
    entry["n_frames"] = info.n_frames
    entry["width"] = info.width
    entry["height"] = info.height
    entry["size_bytes"] = info.size_bytes
    entry["mtime_ns"] = placed.stat().st_mtime_ns  # the file the registry points at (a copy has its own time)
    entry["sha256"] = info.sha256
    crop = [0, 0, info.width, info.height]
    if p.old is not None:
        x, y, w, h = p.old.crop
        if x + w <= info.width and y + h <= info.height:
            crop = [x, y, w, h]
        else:
            logger.warning("%s: the crop box %s does not fit the new %dx%d frame; the whole frame is analysed",
                           p.vid, list(p.old.crop), info.width, info.height)
    entry["crop"] = _config.new_seq(crop)
    entry["pixels_per_cm"] = p.old.pixels_per_cm if p.old is not None else None
    return entry


def _forget_old_file(project: Project, p: _Planned) -> None:
    """After a video was registered again: remove the link of the old file if it had another name, and say what
    was made from the old file."""
    old_path = p.old.path
    new_key = (project.paths.videos / p.src.name).relative_to(project.root).as_posix()
    if p.old.key != new_key and old_path.parent == project.paths.videos:
        if old_path.is_symlink():
            old_path.unlink(missing_ok=True)
        elif old_path.exists():
            logger.warning("%s is no longer registered (video %s is now %s); remove it if it is not needed",
                           old_path, p.vid, new_key)
    exemplars = project.paths.exemplars
    if exemplars.is_dir() and any(exemplars.glob(f"{glob.escape(p.vid)}_*")):
        logger.warning("Video %s was registered again: its exemplars were extracted from the old file; extract "
                       "them again (mousefear.extract_exemplars) if the frames changed", p.vid)


# ------------------------------------------------------------------------------------------- integrity checks
def _reregister_hint(video: Video) -> str:
    return (f"If the new file is the one to analyse, register it again: mousefear.add_videos(config, "
            f"[{str(video.path)!r}], replace=True) (mousefear add-videos CONFIG {video.path} --replace); "
            "mousefear check CONFIG re-probes every video")


def check_video_file(video: Video, verify: bool = False) -> os.stat_result:
    """Check that a registered video's file is still the one registered, before it is classified.

    Cheap by default: the file's size and modification time are compared with those recorded at registration;
    only when they differ (or the registry predates ``mtime_ns``) is the file hashed and its SHA-256 compared.

    Parameters
    ----------
    video
        The registered video.
    verify
        Always hash the file (reads it whole).

    Returns
    -------
    os.stat_result
        The file's status as checked: the caller compares it again before writing results
        (:func:`check_video_unchanged`).

    Raises
    ------
    VideoError
        The file is missing, or its size or content differ from the registered ones; the message names the
        video, what changed and how to register the new file.
    """
    path = video.path
    try:
        st = os.stat(path)
    except FileNotFoundError:
        link = " (a link to a file that is gone)" if path.is_symlink() else ""
        raise VideoError(f"{path}: video {video.id} is registered but the file is missing{link}; put it back, or "
                         f"register it where it is now. {_reregister_hint(video)}") from None
    except OSError as exc:
        raise VideoError(f"{path}: video {video.id} cannot be read ({exc.strerror or exc})") from None
    changed = None
    if st.st_size != video.size_bytes:
        changed = f"its size changed from {video.size_bytes} to {st.st_size} bytes"
    elif verify or video.mtime_ns is None or st.st_mtime_ns != video.mtime_ns:
        if video.mtime_ns is None and not verify:
            logger.info("%s: no modification time in the registry (registered by an older mousefear): hashing the "
                        "file; mousefear check CONFIG records it so that runs need not hash", path)
        digest = sha256_file(path)
        if digest != video.sha256:
            changed = (f"its content changed (SHA-256 {digest[:12]}..., registered {video.sha256[:12]}...) though "
                       "its size did not")
        elif video.mtime_ns is not None and st.st_mtime_ns != video.mtime_ns:
            logger.info("%s: modified since registration but the content is the one registered (same SHA-256); "
                        "mousefear check CONFIG records the new time so that runs need not hash it", path)
    if changed:
        raise VideoError(f"{path}: video {video.id} is not the file registered: {changed}, so it is not classified "
                         f"(its results would not be those of the recording registered). {_reregister_hint(video)}")
    _check_container(video)
    return st


def _check_container(video: Video) -> None:
    """Compare the registry's frame size and count with what the file's container states (opening it only):
    a registry edited by hand, or one that no longer matches its file, stops a run before it starts."""
    import cv2

    with open_video(video.path) as cap:
        size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        announced = int(max(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0, 0))
    what = None
    if all(size) and size != (video.width, video.height):
        what = f"its frames are {size[0]}x{size[1]} pixels, registered as {video.width}x{video.height}"
    elif is_truncated(video.n_frames, announced):
        what = f"the file announces {announced} frames, registered with {video.n_frames}"
    if what:
        raise VideoError(f"{video.path}: video {video.id} does not match its registry entry in config.yaml: {what}. "
                         "mousefear check CONFIG re-probes it; register it again with mousefear.add_videos(config, "
                         f"[{str(video.path)!r}], replace=True) (mousefear add-videos CONFIG {video.path} --replace)")


def check_video_unchanged(video: Video, before: os.stat_result) -> None:
    """Raise :class:`VideoError` when a video's file changed since ``before`` (:func:`check_video_file`): what
    was classified may be of two files, so no result of it may be written."""
    try:
        st = os.stat(video.path)
    except OSError:
        st = None
    if st is None or (st.st_size, st.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
        raise VideoError(f"{video.path}: video {video.id} changed while it was being classified; its results are not "
                         f"written. {_reregister_hint(video)}")


def check_videos(config: ConfigLike, videos: Sequence[str] | str | None = None) -> pd.DataFrame:
    """Re-probe registered videos (decode and hash each file) and compare them with the registry.

    A video whose content is the one registered but whose modification time changed (copied, touched) gets
    its new time recorded, so that later runs check it cheaply again. Registries written before modification
    times were recorded get them here.

    Parameters
    ----------
    config
        Path of config.yaml or the project folder, or an opened :class:`~mousefear.core.project.Project`.
    videos
        Only these videos (ids, registry keys or paths); default every registered video.

    Returns
    -------
    pandas.DataFrame
        One row per video: ``id``, ``path`` (registry key), ``status`` (``ok``, or ``ok, time recorded``).

    Raises
    ------
    VideoError
        A file is missing, unreadable, or differs from its registry entry (size, content, frames, frame size or
        rate); the message lists every such video with what changed and how to register the new files.
    """
    import pandas as pd

    project = Project.open(config)
    rows, problems, times = [], [], {}
    chosen = project.select_videos(videos)
    for v in chosen:
        try:
            st = os.stat(v.path)
            info = probe_video(v.path)
        except (OSError, VideoError) as exc:
            problems.append(f"{v.id} ({exc.strerror if isinstance(exc, OSError) else exc})")
            continue
        diffs = [f"{what} {old} -> {new}" for what, old, new in (
            ("size", v.size_bytes, info.size_bytes), ("frames", v.n_frames, info.n_frames),
            ("frame size", f"{v.width}x{v.height}", f"{info.width}x{info.height}"),
            ("fps", v.fps, v.fps if v.fps_given else info.fps)) if old != new]
        if info.sha256 != v.sha256:
            diffs.append("content (SHA-256) differs")
        if diffs:
            problems.append(f"{v.id} ({', '.join(diffs)})")
            continue
        status = "ok"
        if v.mtime_ns != st.st_mtime_ns:
            times[v.key] = st.st_mtime_ns  # taken before hashing: a later change is seen by the next check
            status = "ok, time recorded"
        rows.append({"id": v.id, "path": v.key, "status": status})
    if times:
        with project.edit() as doc:
            for key, mtime in times.items():
                doc["videos"][key]["mtime_ns"] = mtime
    if problems:
        raise VideoError(f"{project.config_path}: {len(problems)} of {len(chosen)} video(s) are not the files "
                         f"registered: {'; '.join(problems)}. Put the registered files back, or register the new ones "
                         "with mousefear.add_videos(config, FILES, replace=True) (mousefear add-videos CONFIG FILES "
                         "--replace)")
    logger.info("%d video(s) checked: every file is the one registered", len(rows))
    return pd.DataFrame(rows, columns=["id", "path", "status"])


def _block_style(doc: CommentedMap) -> None:
    """Write the registry in block style even though the template has ``videos: {}``."""
    vids = doc["videos"]
    if isinstance(vids, CommentedMap):
        vids.fa.set_block_style()


def _link_or_copy(src: Path, dest: Path, copy: bool) -> None:
    """Link ``dest`` to ``src`` (or copy it). A copy is made when links are not possible on that file system;
    a folder that cannot be written is reported as such (never as a failed copy to a temporary file)."""
    with writing(dest):
        dest.parent.mkdir(parents=True, exist_ok=True)
    if not copy:
        try:
            os.symlink(src.resolve(), dest)
            return
        except OSError as exc:
            if exc.errno not in _NO_LINKS:
                raise write_error(dest, exc) from None
            logger.info("Cannot link %s (%s); copying it instead", src, exc)
    with atomic_path(dest) as tmp:
        shutil.copy2(src, tmp)


#: errno of a symlink that fails because the file system or platform has no links (a copy is made instead).
_NO_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS, errno.EXDEV}


def video_table(config: str | os.PathLike) -> pd.DataFrame:
    """The video registry as a pandas DataFrame (id, subject, session, duration_s, fps, frames, resolution)."""
    import pandas as pd

    rows = [
        {
            "id": v.id,
            "subject": v.subject,
            "session": v.session,
            "duration_s": round(v.duration, 2),
            "fps": round(v.fps, 3),
            "frames": v.n_frames,
            "resolution": f"{v.width}x{v.height}",
            "crop": "full" if v.crop == (0, 0, v.width, v.height) else "x{} y{} {}x{}".format(*v.crop),
            "path": v.key,
        }
        for v in Project.open(config).videos
    ]
    cols = ["id", "subject", "session", "duration_s", "fps", "frames", "resolution", "crop", "path"]
    return pd.DataFrame(rows, columns=cols)
