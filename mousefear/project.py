"""Project folders: create_project, add_videos, and where things live in a project.

A project is one folder per experiment (DESIGN.md section 2)::

    {project}-{experimenter}-{YYYY-MM-DD}/
      config.yaml  videos/  exemplars/  labels/  behavior-vectors/<run>/  evaluation/<run>/  cache/<run>/

Every path stored in config.yaml is relative to the project folder, so a project can be moved or shared.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import re
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import EllipsisType
from typing import TYPE_CHECKING

from ruamel.yaml.comments import CommentedMap

from mousefear import config as _config
from mousefear.errors import ProjectError, VideoError
from mousefear.video import VIDEO_EXTENSIONS, VideoInfo, probe_video

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class ProjectPaths:
    """Absolute paths of a project's folders; ``run`` folders are made by the functions that fill them."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / _config.CONFIG_NAME

    @property
    def videos(self) -> Path:
        return self.root / "videos"

    @property
    def exemplars(self) -> Path:
        return self.root / "exemplars"

    @property
    def labels(self) -> Path:
        return self.root / "labels"

    @property
    def prompts(self) -> Path:
        return self.root / "prompts"

    def vectors(self, run: str) -> Path:
        return self.root / "behavior-vectors" / run

    def evaluation(self, run: str | None = None) -> Path:
        return self.root / "evaluation" / run if run else self.root / "evaluation"

    def cache(self, run: str) -> Path:
        return self.root / "cache" / run

    def label_file(self, video_id: str) -> Path:
        return self.labels / f"{video_id}.csv"


def project_paths(config: str | os.PathLike) -> ProjectPaths:
    """Folders of the project whose config.yaml (or folder) is ``config``."""
    return ProjectPaths(_config.project_root(config))


@dataclass(frozen=True)
class Video:
    """One registered video, as read from the registry in config.yaml.

    ``path`` is absolute (resolved against the project folder); ``crop`` is ``(x, y, width, height)`` in pixels.
    """

    key: str
    path: Path
    id: str
    subject: str
    session: str
    fps: float
    n_frames: int
    width: int
    height: int
    size_bytes: int
    sha256: str
    crop: tuple[int, int, int, int]
    pixels_per_cm: float | None

    @property
    def duration(self) -> float:
        """Duration in seconds."""
        return self.n_frames / self.fps


def registered_videos(config: str | os.PathLike, cfg: CommentedMap | None = None,
                      videos: Iterable[str] | None = None) -> list[Video]:
    """Registered videos of a project, in registry order.

    Parameters
    ----------
    config
        Path of config.yaml or the project folder.
    cfg
        The loaded config (read from ``config`` when not given).
    videos
        Restrict to these videos, given by id, by registry key, or by file path; an unknown one is an error.
    """
    cfg = _config.load_config(config) if cfg is None else cfg
    root = _config.project_root(config)
    out = []
    for key, e in cfg["videos"].items():
        out.append(Video(
            key=str(key), path=(root / str(key)), id=str(e["id"]), subject=str(e["subject"]),
            session=str(e["session"]), fps=float(e["fps"]), n_frames=int(e["n_frames"]), width=int(e["width"]),
            height=int(e["height"]), size_bytes=int(e["size_bytes"]), sha256=str(e["sha256"]),
            crop=tuple(int(c) for c in e["crop"]),
            pixels_per_cm=None if e.get("pixels_per_cm") is None else float(e["pixels_per_cm"]),
        ))
    if videos is None:
        return out
    if isinstance(videos, str | os.PathLike):
        videos = [videos]
    chosen = []
    for want in videos:
        want_s = str(want)
        match = [v for v in out if want_s in (v.id, v.key) or Path(want_s).stem == v.id]
        if not match:
            known = ", ".join(v.id for v in out) or "none"
            raise ProjectError(f"{_config.config_path(config)}: no registered video {want_s!r} (registered: {known})")
        if match[0] not in chosen:
            chosen.append(match[0])
    return chosen


def create_project(
    project: str,
    experimenter: str,
    videos: Sequence[str | os.PathLike] = (),
    working_directory: str | os.PathLike | None = None,
    copy_videos: bool = False,
    date: str | _dt.date | None = None,
    video_pattern: str | None | EllipsisType = ...,
    behaviors: Sequence[dict] | None = None,
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
        if not isinstance(value, str) or not _NAME_RE.match(value):
            raise ProjectError(f"Expected {what} to be a name of letters, digits, '.', '_' or '-', but got {value!r}")
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
    cfg = _config.template_config()
    cfg["project"]["name"] = project
    cfg["project"]["experimenter"] = experimenter
    cfg["project"]["date"] = date_s
    if video_pattern is not ...:
        cfg["video_pattern"] = video_pattern
    if behaviors is not None:
        cfg["behaviors"] = [CommentedMap([("name", b["name"]), ("definition", b["definition"])]) for b in behaviors]
    _config.validate_config(cfg, root / _config.CONFIG_NAME)
    base.mkdir(parents=True, exist_ok=True)
    root.mkdir()
    try:
        for sub in _config.PROJECT_SUBFOLDERS:
            (root / sub).mkdir()
        config_file = _config.save_config(root, cfg)
        if videos:
            add_videos(config_file, videos, copy=copy_videos)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    logger.info("Created project %s", root)
    return config_file


def pattern_regex(pattern: str) -> re.Pattern:
    """Regular expression of a filename pattern such as ``{subject}_{session}`` (``*`` matches anything)."""
    parts = re.split(r"(\{subject\}|\{session\}|\*)", pattern)
    out = []
    for part in parts:
        if part == "{subject}":
            out.append(r"(?P<subject>.+?)")
        elif part == "{session}":
            out.append(r"(?P<session>.+?)")
        elif part == "*":
            out.append(r".*?")
        else:
            out.append(re.escape(part))
    return re.compile("^" + "".join(out) + "$")


def parse_subject_session(stem: str, pattern: str | None) -> tuple[str, str] | None:
    """Subject and session from a file stem with ``pattern``; ``None`` when it does not match."""
    if pattern is None:
        return stem, ""
    m = pattern_regex(pattern).match(stem)
    if m is None:
        return None
    groups = m.groupdict()
    return groups.get("subject") or stem, groups.get("session") or ""


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
    path = _config.config_path(config)
    cfg = _config.load_config(path)
    paths = project_paths(path)
    if isinstance(videos, str | os.PathLike):
        videos = [videos]
    sources = [Path(v).expanduser() for v in videos]
    known_ids = {str(e["id"]): str(k) for k, e in cfg["videos"].items()}
    pattern = cfg["video_pattern"]

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
        if subject is not None or session is not None:
            parsed = parse_subject_session(vid, pattern) if pattern else (vid, "")
            subj = subject if subject is not None else (parsed[0] if parsed else vid)
            sess = session if session is not None else (parsed[1] if parsed else "")
        else:
            parsed = parse_subject_session(vid, pattern)
            if parsed is None:
                raise VideoError(f"{src}: file name {vid!r} does not match video_pattern {pattern!r} of {path}; "
                                 "rename the file, change video_pattern, or pass subject= and session=")
            subj, sess = parsed
        info = probe_video(src)
        plan.append((src, vid, info, subj, sess))

    # 2. link or copy into videos/, then write config.yaml; undo everything on failure
    created: list[Path] = []
    registered = []
    previous_last = cfg["videos"][next(reversed(cfg["videos"]))] if cfg["videos"] else None
    try:
        for src, vid, info, subj, sess in plan:
            dest = paths.videos / src.name
            if dest.exists() or dest.is_symlink():
                raise ProjectError(f"{src}: {dest} exists already in the project")
            _link_or_copy(src, dest, copy)
            created.append(dest)
            key = dest.relative_to(paths.root).as_posix()
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
            cfg["videos"][key] = entry
            registered.append(vid)
        _block_style(cfg)
        if previous_last is not None and registered:
            _config.move_trailing_comment(previous_last, cfg["videos"][next(reversed(cfg["videos"]))])
        _config.save_config(path, cfg)
    except BaseException:
        for dest in created:
            dest.unlink(missing_ok=True)
        raise
    for vid in registered:
        logger.info("Registered video %s", vid)
    return registered


def _block_style(cfg: CommentedMap) -> None:
    """Write the registry in block style even though the template has ``videos: {}``."""
    vids = cfg["videos"]
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
        for v in registered_videos(config)
    ]
    cols = ["id", "subject", "session", "duration_s", "fps", "frames", "resolution", "crop", "path"]
    return pd.DataFrame(rows, columns=cols)
