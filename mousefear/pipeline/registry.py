"""Creating a project and registering its videos: create_project, add_videos, video_table.

Registration probes each video by decoding it (frame count, fps, size), hashes it, and records it in the
registry of config.yaml under its path relative to the project folder. Subject and session come from the file
name with ``video_pattern`` (:mod:`mousefear.core.patterns`) or are given for the call.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from types import EllipsisType
from typing import TYPE_CHECKING

from ruamel.yaml.comments import CommentedMap

from mousefear.core import config as _config
from mousefear.core.patterns import match_fields, other_split
from mousefear.core.project import Project, check_name
from mousefear.core.settings import Settings
from mousefear.core.video import VIDEO_EXTENSIONS, VideoInfo, probe_video
from mousefear.errors import ProjectError, VideoError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["add_videos", "check_table_names", "create_project", "parse_subject_session", "video_table"]

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
    base.mkdir(parents=True, exist_ok=True)
    root.mkdir()
    try:
        for sub in _config.PROJECT_SUBFOLDERS:
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
) -> list[str]:
    """Register videos in a project: link (or copy) them into ``videos/``, probe them, record them.

    The call is all-or-nothing: if any video cannot be registered, none is, and nothing of this call is left
    in the project.

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

    Returns
    -------
    list of str
        Ids of the videos registered.

    Raises
    ------
    VideoError
        A file is missing, unreadable, truncated or not a video, or its name does not match ``video_pattern``.
    ProjectError
        A video id (file stem) is registered already or given twice.
    """
    project = Project.open(config)
    if isinstance(videos, str | os.PathLike):
        videos = [videos]
    sources = [Path(v).expanduser() for v in videos]
    known_ids = {v.id: v.key for v in project.videos}
    pattern = project.settings.video_pattern

    # 1. check every video before touching the project
    plan: list[tuple[Path, str, VideoInfo, str, str]] = []
    for src in sources:
        if src.suffix.lower() not in VIDEO_EXTENSIONS:
            raise VideoError(f"{src}: not a video file (extension {src.suffix or 'none'!r}; expected one of "
                             f"{', '.join(VIDEO_EXTENSIONS)})")
        vid = src.stem
        if vid in known_ids:
            raise ProjectError(f"{src}: a video with id {vid!r} is registered already ({known_ids[vid]}); "
                               "video ids (file names without extension) must be unique in a project")
        if any(vid == p[1] for p in plan):
            raise ProjectError(f"{src}: video id {vid!r} is given twice in this call")
        check_table_names(vid, [*known_ids, *(p[1] for p in plan)], src)
        parsed = parse_subject_session(vid, pattern)
        if subject is not None or session is not None:
            subj = subject if subject is not None else (parsed[0] if parsed else vid)
            sess = session if session is not None else (parsed[1] if parsed else "")
        else:
            if parsed is None:
                raise VideoError(f"{src}: file name {vid!r} does not match video_pattern {pattern!r} of "
                                 f"{project.config_path}; rename the file, change video_pattern, or give the "
                                 "subject and session (subject= and session=, or --subject and --session)")
            subj, sess = parsed
            other = other_split(vid, pattern) if pattern is not None else None
            if other is not None:
                logger.warning("%s: video_pattern %r splits %r more than one way (subject %r, session %r; or "
                               "subject %r, session %r); taking the first. Make video_pattern more specific or give "
                               "subject= and session= if that is wrong", src, pattern, vid, subj, sess,
                               other.get("subject", vid), other.get("session", ""))
        info = probe_video(src)
        plan.append((src, vid, info, subj, sess))

    # 2. link or copy into videos/, then write config.yaml; undo everything on failure
    created: list[Path] = []
    registered = []
    doc = project.document()
    previous_last = doc["videos"][next(reversed(doc["videos"]))] if doc["videos"] else None
    try:
        for src, vid, info, subj, sess in plan:
            dest = project.paths.videos / src.name
            if dest.exists() or dest.is_symlink():
                raise ProjectError(f"{src}: {dest} exists already in the project")
            _link_or_copy(src, dest, copy)
            created.append(dest)
            key = dest.relative_to(project.root).as_posix()
            entry = CommentedMap()
            entry["id"] = vid
            entry["subject"] = subj
            entry["session"] = sess
            entry["fps"] = info.fps
            entry["n_frames"] = info.n_frames
            entry["width"] = info.width
            entry["height"] = info.height
            entry["size_bytes"] = info.size_bytes
            entry["sha256"] = info.sha256
            entry["crop"] = _config.new_seq([0, 0, info.width, info.height])
            entry["pixels_per_cm"] = None
            doc["videos"][key] = entry
            registered.append(vid)
        _block_style(doc)
        if previous_last is not None and registered:
            _config.move_trailing_comment(previous_last, doc["videos"][next(reversed(doc["videos"]))])
        project.save(doc)
    except BaseException:
        for dest in created:
            dest.unlink(missing_ok=True)
        raise
    for _, vid, _, subj, sess in plan:
        logger.info("Registered video %s (subject %r, session %r)", vid, subj, sess)
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


def _block_style(doc: CommentedMap) -> None:
    """Write the registry in block style even though the template has ``videos: {}``."""
    vids = doc["videos"]
    if isinstance(vids, CommentedMap):
        vids.fa.set_block_style()


def _link_or_copy(src: Path, dest: Path, copy: bool) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not copy:
        try:
            os.symlink(src.resolve(), dest)
            return
        except OSError as exc:  # e.g. Windows without privileges, file systems without links
            logger.info("Cannot link %s (%s); copying it instead", src, exc)
    tmp = dest.with_name(f".{dest.name}.tmp")
    try:
        shutil.copy2(src, tmp)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


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
