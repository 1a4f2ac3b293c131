"""A run's own files, and who works on which of its videos.

Shared by the inline call of :func:`~mousefear.pipeline.classify.classify_videos` and by its tasks on a cluster:

- **Locks.** ``cache/_tasks/<run>/<video_id>.lock`` is held while a process (this one, or a SLURM task) classifies
  that video: a second process on the same video stops at once, naming the first, while processes (tasks) on
  other videos of the run go on side by side. ``cache/<run>.lock`` is held only for a moment, while run.json or
  the run's summary is written, and waited for. A lock of a process that is gone is taken over: a process of
  this host that no longer runs, or a SLURM task that SLURM says has ended
  (:func:`~mousefear.pipeline.slurm.holder_alive`).
- **The last error** that stopped a video is kept in ``cache/_tasks/<run>/<video_id>.error.json`` until the
  video is finished (``mousefear status`` shows it).
- **The run's own files** (summary.csv, the window tables, timing.json, unparseable.json) are made from the
  vector files on disk, under the run's lock, so the last writer always writes the newest state.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import logging
import os
import socket
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from mousefear._io import atomic_write_text, lock_file
from mousefear.core.intervals import window_bounds
from mousefear.core.project import Project
from mousefear.core.video import Video
from mousefear.errors import ConfigError, VectorFileError
from mousefear.formats.vectors import read_vector_windows
from mousefear.pipeline.registry import check_video_file
from mousefear.pipeline.runs import RunSettings, changes, recorded_video_settings, video_settings
from mousefear.pipeline.slurm import current_task, holder_alive
from mousefear.pipeline.tables import write_run_tables

__all__ = ["count_unparseable", "finish_run", "finished", "preflight", "record_error", "run_lock", "video_locks",
           "write_timing"]

logger = logging.getLogger(__name__)

#: Seconds a process waits for the run's own lock (held for a moment while run.json or the summary is written).
RUN_LOCK_WAIT = 300.0


def finished(path: Path, video: Video, rs: RunSettings) -> bool:
    """Whether ``path`` is a complete vector file of this video made with these settings.

    A file of this run made with other per-video settings (crop box, pixels_per_cm, the video file) is not
    finished: a warning says what changed, and the video is classified again.
    """
    if not path.is_file():
        return False
    try:
        attrs = read_vector_windows(path).attrs
    except VectorFileError as exc:
        logger.warning("%s: unreadable (%s); classifying the video again", path, exc)
        return False
    if attrs.get("run_settings_sha256") != rs.sha256:
        return False
    found = changes(recorded_video_settings(attrs, rs), video_settings(video, rs))
    for change in found:
        key, _, rest = change.partition(" ")
        logger.warning("%s of %s %s: classifying it again (%s)", key, video.id, rest, path)
    return not found



def write_timing(project: Project, rs: RunSettings, timing: dict[str, Any], wall: float, device: Any,
                  extra: dict[str, Any] | None = None) -> None:
    """``timing.json`` of the latest call: per video and in all (``extra``: the tasks of a call on a cluster)."""
    n = sum(t["windows_classified"] for t in timing.values())
    video_secs = sum(t["video_seconds"] for t in timing.values())
    for t in timing.values():
        t["seconds_per_window"] = (round(t["seconds"] / t["windows_classified"], 4) if t["windows_classified"]
                                   else None)
    if timing:
        atomic_write_text(project.paths.vectors(rs.name) / "timing.json", json.dumps(
            {"videos": timing, "windows_classified": n, "seconds": round(wall, 3),
             "seconds_per_window": round(wall / n, 4) if n else None,
             "windows_per_second": round(n / wall, 3) if n and wall > 0 else None,
             "video_seconds": round(video_secs, 3),
             "realtime_factor": round(video_secs / wall, 3) if n and wall > 0 else None,
             "device": device, **(extra or {})}, indent=2, sort_keys=True) + "\n")
    if n:
        logger.info("Run %s: %d window(s) classified in %.1f s: %.2f windows per second, %.2f seconds of video "
                    "per second (real-time factor)", rs.name, n, wall, n / wall, video_secs / wall)



def preflight(rs: RunSettings, videos: list[Video], verify: bool) -> dict[str, os.stat_result]:
    """Check every video before anything is loaded or written: still the file registered, windows possible at
    its frame rate. Returns each file's status as checked, by video id."""
    w = rs.settings["windows"]
    out = {}
    for video in videos:
        out[video.id] = check_video_file(video, verify=verify)
        try:
            window_bounds(video.n_frames, video.fps, w["window_seconds"], w["stride_seconds"])
        except ConfigError as exc:
            raise ConfigError(f"{video.path}: video {video.id} is registered at {video.fps:g} fps: {exc}; if that "
                              "frame rate is wrong, register the video again with the real one "
                              "(add_videos(config, FILES, replace=True, fps=...))") from None
    return out



def count_unparseable(project: Project, rs: RunSettings, chosen: list[Video]) -> str | None:
    """Count the windows whose answer named no behaviour (all-NaN probabilities) in every vector file of the
    run, record them in ``unparseable.json`` and log them; return the error message when a video of this call
    has more than ``classification.max_unparseable`` of them."""
    limit = project.settings.classification.max_unparseable
    files = project.vector_files(rs.name)
    if not files:
        return None
    counts: dict[str, dict[str, Any]] = {}
    for vid, path in files.items():
        table = read_vector_windows(path)
        n = len(table)
        k = int(table[table.attrs["behaviors"]].isna().all(axis=1).sum())
        counts[vid] = {"windows": n, "unparseable": k, "fraction": round(k / n, 6) if n else 0.0}
    folder = project.paths.vectors(rs.name)
    over = {vid: c for vid, c in counts.items() if c["fraction"] > limit and vid in {v.id for v in chosen}}
    record = {"max_unparseable": limit, "videos": counts, "over_limit": sorted(over)}
    atomic_write_text(folder / "unparseable.json", json.dumps(record, indent=2, sort_keys=True) + "\n")
    # a window backend's NaN is an answer that named no behaviour; a video backend's, a stretch it could not
    # decide (the motion detector found no animal)
    why = ("the answer named no behaviour" if rs.kind == "window" else
           "no prediction: the detector found no animal (check classification.motion.animal and the crop box)")
    for vid, c in counts.items():
        if c["unparseable"]:
            logger.warning("Run %s, %s: %d of %d windows (%.1f %%) without a behaviour: %s", rs.name, vid,
                           c["unparseable"], c["windows"], 100 * c["fraction"], why)
    if not any(c["unparseable"] for c in counts.values()):
        logger.info("Run %s: every window of %d video(s) has a behaviour (0 unparseable)", rs.name, len(counts))
    if over:
        parts = [f"{vid} {c['unparseable']} of {c['windows']} ({100 * c['fraction']:.1f} %)" for vid, c in over.items()]
        return (f"Run {rs.name!r}: too many windows without a behaviour ({why}): {', '.join(parts)}; "
                f"classification.max_unparseable of {project.config_path} allows {100 * limit:g} %. The "
                f"vector files are written (NaN where no behaviour was decided; a model's answers are in "
                f"their windows/text) and the counts in {folder / 'unparseable.json'}. Look at the results, "
                "change the settings, or raise classification.max_unparseable")
    return None



@contextlib.contextmanager
def run_lock(project: Project, rs: RunSettings) -> Iterator[None]:
    """The run's own lock, held for a moment while run.json or the run's summary is written (waited for)."""
    with lock_file(project.paths.run_lock(rs.name), f"run {rs.name!r}", record=current_task(), alive=holder_alive,
                   wait_seconds=RUN_LOCK_WAIT):
        yield


@contextlib.contextmanager
def video_locks(project: Project, rs: RunSettings, videos: list[Video], wait_seconds: float = 0.0) -> Iterator[None]:
    """Hold ``cache/_tasks/<run>/<video_id>.lock`` of every video: a second process on one of them stops at once
    (a task waits ``wait_seconds`` for the task it replaces to stop), processes on other videos go on."""
    record = {"run": rs.name, **current_task()}
    try:
        with contextlib.ExitStack() as stack:
            for video in videos:
                stack.enter_context(lock_file(project.paths.video_lock(rs.name, video.id),
                                              f"video {video.id} of run {rs.name!r}",
                                              record={**record, "video": video.id}, alive=holder_alive,
                                              wait_seconds=wait_seconds))
            yield
    finally:
        for folder in (project.paths.tasks(rs.name), project.paths.tasks(rs.name).parent):
            with contextlib.suppress(OSError):  # not empty: another process works on the run, or errors are kept
                folder.rmdir()


def record_error(project: Project, rs: RunSettings, video_ids: Iterable[str], message: str) -> None:
    """Keep the error that stopped these videos in ``cache/_tasks/<run>/<video_id>.error.json`` (for status)."""
    record = {"error": message, "when": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),  # noqa: UP017
              "host": socket.gethostname(), "pid": os.getpid(), **current_task()}
    for vid in video_ids:
        try:
            atomic_write_text(project.paths.video_error(rs.name, vid), json.dumps(record, sort_keys=True) + "\n")
        except OSError as exc:  # the error being recorded matters more than its record
            logger.warning("%s", exc)


def finish_run(project: Project, rs: RunSettings, chosen: list[Video], timing: dict[str, Any], wall: float,
                device: Any, extra: dict[str, Any] | None = None) -> str | None:
    """The run's own files from its vector files, under the run's lock: summary.csv, the window tables,
    timing.json (when this call classified something) and unparseable.json. Returns the error message of
    too many NaN windows, if any."""
    with run_lock(project, rs):
        write_run_tables(project, rs.name)
        write_timing(project, rs, timing, wall, device, extra)
        if not timing:
            logger.info("Run %s: nothing to classify (every video finished)", rs.name)
        return count_unparseable(project, rs, chosen)
