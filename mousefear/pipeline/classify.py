"""Classifying videos: windows (or whole videos) through a backend, a resumable cache, behaviour-vector files.

:func:`classify_videos` is the ``mousefear classify`` step. A window backend gets every window of every video
(:func:`mousefear.core.video.iter_windows`, frames preprocessed with
:func:`mousefear.core.preprocess.preprocess_window`) as one continuous stream; a video backend gets each video
whole. Either way ``behavior-vectors/<run>/<video_id>.h5`` (layout: :mod:`mousefear.formats.vectors`) is
written with its CSV twin, then ``behavior-vectors/<run>/summary.csv`` for the run. A run's folder holds::

    behavior-vectors/<run>/run.json        every setting of the run, and what the backend resolved on loading
    behavior-vectors/<run>/prompt.txt      the conversation the model sees, as text (its SHA-256 = prompt_hash)
    behavior-vectors/<run>/timing.json     time per window of the latest call, per video
    behavior-vectors/<run>/unparseable.json  windows per video whose answer named no behaviour (NaN), every call
    behavior-vectors/<run>/<video_id>.h5   the behaviour vector (+ <video_id>.csv); a video backend's per-frame
                                           measurements in its group measurements/
    behavior-vectors/<run>/summary.csv     one row per video (time and bouts per behaviour)
    behavior-vectors/<run>/<video_id>_seconds.csv, windows.csv   one row per window (mousefear.pipeline.tables)
    cache/<run>/<video_id>/                per-window (or per-video) results as they are produced (resume)

The order of work: the backend is built (nothing loaded), the run's settings and name are worked out and checked
against an existing run of that name, the run is locked (``cache/<run>.lock``: a second process on the same run
stops at once), finished videos are skipped, every other video is checked (still the file registered, its frame
rate usable for the windows), and only then is the backend loaded. Nothing is written before the first result:
run.json, prompt.txt and the cache's meta.json appear with it, so a run that stops before leaves nothing behind.
Every result goes to the cache as it arrives (:mod:`mousefear.pipeline.cache`); a vector file is always assembled
from the cache and stamped with the run's creation time, so an interrupted and resumed run gives the same files as
an uninterrupted one. At the end the windows whose answer named no behaviour are counted per video; more than
``classification.max_unparseable`` of a video's windows ends the call with an error.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from mousefear._io import atomic_write_text, json_object_or_empty
from mousefear.backends import build_backend
from mousefear.backends.base import (
    Backend,
    Routing,
    VideoBackend,
    VideoResult,
    WindowBackend,
    check_probabilities,
)
from mousefear.core.intervals import window_bounds, window_partial
from mousefear.core.preprocess import preprocess_window
from mousefear.core.project import ConfigLike, Project
from mousefear.core.video import Video, Window, iter_windows
from mousefear.errors import ConfigError, ModelError, MousefearError, ProjectError, TaskError, VideoError
from mousefear.formats.vectors import measurement_table, write_vector
from mousefear.pipeline.cache import VideoCache
from mousefear.pipeline.cluster import EXECUTORS
from mousefear.pipeline.context import decided_label, with_context
from mousefear.pipeline.registry import check_video_unchanged
from mousefear.pipeline.runfiles import finish_run, finished, preflight, record_error, run_lock, video_locks
from mousefear.pipeline.runs import (
    RunSettings,
    check_resolved,
    check_run,
    default_run_name,
    open_run,
    run_settings,
    vector_attrs,
    video_settings,
)
from mousefear.pipeline.slurm import ACTIVE_STATES, current_task, squeue_states

__all__ = ["classify_videos", "default_run_name"]

logger = logging.getLogger(__name__)

def video_measurements(res: VideoResult) -> Any:
    """The per-frame measurements of a video backend's result as the vector file stores them (None when the
    backend gives none; a signal the backend gives no unit for is stored with unit ``""``)."""
    if not res.signals:
        return None
    missing = [k for k in res.signals if k not in res.units]
    if missing:
        logger.info("The backend gives no unit for %s: stored with unit ''", ", ".join(missing))
    units = {**{k: ("", "not described by the backend") for k in missing}, **res.units}
    return measurement_table(res.signals, units, res.info.get("measurement", {}))


#: Seconds a task waits for a video's lock (the task it replaces may still be stopping).
_TASK_LOCK_WAIT = 60.0


@dataclass
class _Job:
    """One video of a run while it is classified."""

    video: Video
    out: Path
    cache: VideoCache
    bounds: np.ndarray
    partial: np.ndarray
    records: list[dict[str, Any]]
    stat: os.stat_result  # of the video file when it was checked, compared again before results are written
    n_new: int = 0
    fed: int = 0  # windows handed to the backend
    fed_all: bool = False  # its window stream is exhausted
    stream: Any = None
    started: float | None = None
    covered_frames: int = 0  # frames covered by the windows classified in this call (overlaps counted once)
    last_end: int = 0
    measured: VideoResult | None = None  # a pass over every frame before the windows (the hybrid's detector)
    routing: Routing | None = None  # which windows that pass decides

    def cover(self, start: int, end: int) -> None:
        """Count the frames of a window classified in this call (overlaps once)."""
        self.covered_frames += max(0, int(end) - max(int(start), self.last_end))
        self.last_end = max(self.last_end, int(end))


class _Run:
    """The state of one call of :func:`classify_videos` once the run has started."""

    def __init__(self, project: Project, backend: Backend, rs: RunSettings, resolved: dict[str, Any],
                 progress: bool, overwrite: bool):
        self.project, self.backend, self.rs = project, backend, rs
        self.resolved, self.progress, self.overwrite = resolved, progress, overwrite
        self.created: str | None = None  # set by start()
        self.folder = project.paths.vectors(rs.name)
        self.timing: dict[str, Any] = {}
        self.first_input: float | None = None  # time.time() when the backend was given its first window or video
        self.wall = 0.0  # seconds of classifying (without loading the backend), set at the end

    def start(self) -> str:
        """Write run.json and prompt.txt (or take those of the run): called before the first result is kept.

        Under the run's lock, so that tasks starting together make one run.json and share its creation time."""
        if self.created is None:
            with run_lock(self.project, self.rs):
                self.created = open_run(self.project, self.rs, self.overwrite, self.resolved)
        return self.created

    def written(self, job: _Job) -> None:
        """A video's vector file is written: its last error is history."""
        self.project.paths.video_error(self.rs.name, job.video.id).unlink(missing_ok=True)

    def job(self, video: Video, stat: os.stat_result) -> _Job:
        w = self.rs.settings["windows"]
        cache = VideoCache(self.project.paths.video_cache(self.rs.name, video.id), self.rs.sha256,
                           video_settings(video, self.rs), reset=self.overwrite)
        bounds = window_bounds(video.n_frames, video.fps, w["window_seconds"], w["stride_seconds"])
        partial = window_partial(video.n_frames, video.fps, w["window_seconds"], w["stride_seconds"])
        records = cache.load_windows() if self.rs.kind == "window" else []
        return _Job(video=video, out=self.project.paths.vector_file(self.rs.name, video.id), cache=cache,
                    bounds=bounds, partial=partial, records=records, stat=stat)

    def unchanged(self, job: _Job) -> None:
        """Refuse to keep results of a video whose file changed while it was classified (its cache is dropped:
        its windows may come from two files)."""
        try:
            check_video_unchanged(job.video, job.stat)
        except VideoError:
            job.cache.close()
            shutil.rmtree(job.cache.folder, ignore_errors=True)
            raise

    # ---------------------------------------------------------------- video backends
    def classify_video(self, job: _Job) -> None:
        """Run a video backend on one video (or take its cached result) and write the vector file."""
        assert isinstance(self.backend, VideoBackend)
        t0 = time.perf_counter()
        res = job.cache.load_video()
        n_new = 0
        if res is None:
            crop = job.video.crop if self.rs.crop else None
            self.first_input = self.first_input or time.time()
            res = self.backend.classify_video(job.video, job.bounds, crop=crop, progress=self.progress)
            self.unchanged(job)
            self.start()
            job.cache.store_video(res)
            n_new = res.n_windows
        else:
            logger.info("%s: taking the cached result (%s)", job.video.id, job.cache.npz)
        self.start()
        start = np.asarray(res.start_frame, dtype=np.int64)
        write_vector(job.out, behaviors=self.backend.behaviors, start_frame=start,
                     end_frame=np.asarray(res.end_frame), probabilities=np.asarray(res.probabilities, np.float64),
                     n_frames=job.video.n_frames, attrs=self._attrs(job.video),
                     partial=job.partial if len(job.partial) == len(start) else None,
                     frame_probabilities=np.asarray(res.frame_probabilities),
                     frame_label=np.asarray(res.frame_label), created=self.start(),
                     measurements=video_measurements(res))
        self.written(job)
        self.timing[job.video.id] = {"windows_classified": n_new, "seconds": round(time.perf_counter() - t0, 3),
                                     "video_seconds": round(job.video.n_frames / job.video.fps, 3)}

    # ---------------------------------------------------------------- window backends
    def classify_windows(self, jobs: list[_Job], bar: Any, overall: Any) -> None:
        """Classify the missing windows of several videos as ONE continuous stream through the backend.

        Windows of the next video enter the backend while those of the previous one are still being classified
        (a server backend keeps its requests in flight across video boundaries). Every result is appended to its
        video's cache as it arrives, in order; a video's vector file is written as soon as its last window is in.
        """
        assert isinstance(self.backend, WindowBackend)
        by_id = {job.video.id: job for job in jobs}
        open_jobs: list[_Job] = []
        n_behaviors = len(self.backend.behaviors)

        def finish_ready() -> None:
            for job in [j for j in open_jobs if j.fed_all and j.n_new == j.fed]:  # every window fed is back
                open_jobs.remove(job)
                job.cache.close()
                self.unchanged(job)
                if len(job.records) < len(job.bounds):
                    raise VideoError(f"{job.video.path}: decoding stopped at frame "
                                     f"{getattr(job.stream, 'stopped_at', '?')}, before the {job.video.n_frames} "
                                     "frames registered; the file changed or is damaged. The windows classified so "
                                     f"far are kept in {job.cache.path}")
                self._write_from_records(job)
                seconds = time.perf_counter() - job.started if job.started is not None else 0.0
                self.timing[job.video.id] = {"windows_classified": job.n_new, "seconds": round(seconds, 3),
                                             "video_seconds": round(job.covered_frames / job.video.fps, 3),
                                             **self._model_share(job)}
                overall.update(1)

        def decided(job: _Job) -> None:  # the windows next in order that the backend's own pass decided
            r = job.routing
            while r is not None and len(job.records) < len(job.bounds) and r.decided[len(job.records)]:
                k = len(job.records)
                window = Window(job.video.id, k, int(job.bounds[k, 0]), int(job.bounds[k, 1]), np.empty(0, np.int64),
                                np.empty((0, 1, 1, 3), np.uint8), job.video.fps, bool(job.partial[k]))
                self.start()
                job.records.append(job.cache.append_window(window, r.probabilities[k], "", r.decided_by))
                job.cover(window.start_frame, window.end_frame)
                bar.update(1)

        def video(job: _Job) -> Iterator[Window]:
            open_jobs.append(job)
            job.started = time.perf_counter()
            self._route(job)
            decided(job)
            for window in self._video_windows(job):
                job.fed += 1
                self.first_input = self.first_input or time.time()
                yield window
            job.fed_all = True
            finish_ready()

        def windows() -> Iterator[Window]:
            for job in jobs:
                yield from video(job)

        batch_size = self.project.settings.classification.batch_size
        if self.rs.context == "autoregressive":  # each video a chain: a window needs its previous one's label
            results = self.backend.classify_chains((video(job) for job in jobs), batch_size=batch_size)
        else:
            results = self.backend.classify_stream(windows(), batch_size=batch_size)
        for window, result in results:
            job = by_id[window.video_id]
            p = check_probabilities(result.probabilities, n_behaviors)
            self.start()
            model = job.routing.model if job.routing is not None else None
            job.records.append(job.cache.append_window(window, p, result.text or "", model))
            job.n_new += 1
            job.cover(window.start_frame, window.end_frame)
            bar.update(1)
            decided(job)
            finish_ready()
        finish_ready()

    def _route(self, job: _Job) -> None:
        """For a backend that first passes over every frame (the hybrid's motion detector): its result from the
        cache, or made now and kept there; then which windows it decides."""
        assert isinstance(self.backend, WindowBackend)
        measured = job.cache.load_video()
        if measured is None:
            crop = job.video.crop if self.rs.crop else None
            measured = self.backend.measure_video(job.video, job.bounds, crop=crop, progress=self.progress)
            if measured is None:
                return
            self.unchanged(job)
            self.start()
            job.cache.store_video(measured)
        job.measured = measured
        job.routing = self.backend.route(measured, job.video.fps)

    def _model_share(self, job: _Job) -> dict[str, Any]:
        """``windows``, ``windows_to_model`` and ``model_share`` of a routed video (its whole run), logged."""
        if job.routing is None:
            return {}
        n, to_model = len(job.records), sum(r.get("decided_by") == job.routing.model for r in job.records)
        logger.info("Run %s, %s: %d of %d windows (%.1f %%) sent to the model (%s), the others decided by %s",
                    self.rs.name, job.video.id, to_model, n, 100 * to_model / max(n, 1), job.routing.model,
                    job.routing.decided_by)
        return {"windows": n, "windows_to_model": to_model, "model_share": round(to_model / max(n, 1), 4)}

    def _video_windows(self, job: _Job) -> Iterator[Window]:
        """The windows of a video still to classify: decoded once, preprocessed once, with their context (in a
        context mode the stream starts one window early, for the previous window's frames)."""
        pre = self.project.settings.classification.preprocessing
        w = self.rs.settings["windows"]
        mode, done, n = self.rs.context, len(job.records), len(job.bounds)
        routing = job.routing
        wanted = [k for k in range(done, n) if routing is None or not routing.decided[k]]
        if not wanted:
            return
        select = None
        if routing is not None:  # only the model's windows, and their neighbours in a context mode
            near = {j for k in wanted for j in (k - 1, k + 1) if 0 <= j < n} if mode != "none" else set()
            select = sorted(set(wanted) | near)
        job.last_end = int(job.bounds[done - 1, 1]) if done else 0
        crop = job.video.crop if self.rs.crop else None
        job.stream = iter_windows(job.video, w["window_seconds"], w["stride_seconds"], w["frames_per_window"],
                                  crop=crop, start_window=done - 1 if mode != "none" and done else done,
                                  select=select)
        plain = (replace(win, frames=preprocess_window(win.frames, pre, grid=self.rs.grid)) for win in job.stream)
        behaviors = self.backend.behaviors

        def previous_label(k: int) -> str | None:
            return decided_label(job.records[k - 1]["probabilities"], behaviors)

        hint = (lambda k: routing.hints[k]) if routing is not None else None
        yield from with_context(plain, mode, n, set(wanted), previous_label=previous_label, hint=hint)

    def _write_from_records(self, job: _Job) -> None:
        records = job.records
        start = np.array([r["start_frame"] for r in records], dtype=np.int64)
        end = np.array([r["end_frame"] for r in records], dtype=np.int64)
        if not (np.array_equal(start, job.bounds[:, 0]) and np.array_equal(end, job.bounds[:, 1])):
            raise ProjectError(f"{job.out}: the cached windows do not match the window settings; remove the run's "
                               "cache folder or pass overwrite=True")
        probs = np.array([[np.nan if x is None else x for x in r["probabilities"]] for r in records],
                         dtype=np.float64)
        self.start()
        routed = job.measured is not None
        write_vector(job.out, behaviors=self.backend.behaviors, start_frame=start, end_frame=end,
                     probabilities=probs, n_frames=job.video.n_frames, attrs=self._attrs(job.video),
                     text=[r["text"] for r in records], partial=np.array([bool(r["partial"]) for r in records]),
                     created=self.start(), decided_by=[r["decided_by"] for r in records] if routed else None,
                     measurements=video_measurements(job.measured) if routed else None)
        self.written(job)

    def _attrs(self, video: Video) -> dict[str, Any]:
        return vector_attrs(video, self.rs, self.start(), self.resolved)



def classify_videos(
    config: ConfigLike,
    videos: Iterable[str] | str | None = None,
    run: str | None = None,
    overwrite: bool = False,
    *,
    backend: Backend | None = None,
    progress: bool = True,
    verify: bool = False,
    executor: str = "inline",
    wait: bool = True,
) -> str:
    """Classify every window of the project's videos and write their behaviour vectors.

    Parameters
    ----------
    config
        Path of config.yaml or the project folder.
    videos
        Only these videos (ids, registry keys or file paths); default all registered videos.
    run
        Run name; default ``classification.run`` of config.yaml, else derived from the settings
        (a readable stem and 6 hex digits of the settings' hash, e.g. ``qwen3b-icl1-1a2b3c``,
        ``motion-animal-0.03-1s-1a2b3c``).
    overwrite
        Classify finished videos again, and replace a run of the same name made with other settings.
    backend
        Use this backend (not loaded yet) instead of building the one config.yaml names (for custom backends; it
        must have the project's behaviours in config order; with a cluster executor it must be picklable).
    progress
        Show tqdm progress bars (overall and per video; tasks on a cluster: videos finished).
    verify
        Hash every video file before classifying it (by default only a file whose size or modification time
        differs from the registry's is hashed).
    executor
        ``"inline"`` (default): in this process. ``"slurm"``: one SLURM array task per video (or per
        ``cluster.videos_per_task`` videos) through submitit, with the resources of the ``cluster`` section of
        config.yaml; each task runs the same resumable per-video work, failed tasks are submitted again (up to
        ``cluster.resubmit`` times) and resume from the cache; the project folder (on storage every node sees)
        is the only state. ``"local"``: the same tasks as processes on this machine. See docs/cluster.md.
    wait
        With a cluster executor: wait for the tasks, then write the run's summary (default); False: submit and
        return at once (the job ids are logged and kept in ``cache/_tasks/<run>/jobs.json``; follow them with
        :func:`~mousefear.pipeline.status.run_status`, and call again when they have ended to submit what is
        missing and write the summary).

    Returns
    -------
    str
        The run name; results are in ``behavior-vectors/<run>/``. With ``postprocess.smoothing: hmm`` the
        smoothed run (:func:`~mousefear.pipeline.smoothing.smooth`) is written beside it, for the same videos.

    Raises
    ------
    ProjectError
        The run exists with other settings (and not ``overwrite``), another process is classifying one of the
        videos, a behaviour has no labelled exemplar while ``classification.icl_required`` is true, or the run
        name is not usable as a folder name.
    ModelError
        The model cannot be found or loaded (the message says how to get the weights), a server keeps failing
        (what was classified is kept), or more than ``classification.max_unparseable`` of a video's windows named
        no behaviour (the files are written).
    TaskError
        With a cluster executor: tasks could not be submitted, failed for good (after ``cluster.resubmit``
        resubmissions; the finished videos are kept and summarised), or did not end within
        ``cluster.max_wait_hours`` (they keep running).
    VideoError
        A video is not the file registered (missing, changed), or decodes fewer frames than registered (what was
        classified is kept for a later call).
    ConfigError
        A video's frame rate is too low for a window, or ``executor`` is not one of inline, local, slurm.
    FileWriteError
        The project cannot be written (read-only folder, full disk); nothing half-written is left.
    """
    project = Project.open(config)
    if executor not in EXECUTORS:
        raise ConfigError(f"Expected executor to be one of {', '.join(EXECUTORS)}, but got {executor!r}")
    behaviors = project.behaviors
    chosen = project.select_videos(videos)
    given = backend
    if backend is None:
        backend = build_backend(project.settings)
    if list(backend.behaviors) != behaviors:
        raise ProjectError(f"Expected a backend for the behaviours {behaviors} of config.yaml, but it has "
                           f"{list(backend.behaviors)}")
    rs = run_settings(project, backend, run)
    existing = check_run(project, rs, overwrite)  # a conflicting run stops us before the model loads
    if executor != "inline":
        name = _classify_in_tasks(project, given, rs, chosen, overwrite, progress, verify, executor, wait)
        if not wait:
            return name
    else:
        with video_locks(project, rs, chosen):
            call = _classify_locked(project, backend, rs, existing, chosen, overwrite, progress, verify)
        error = finish_run(project, rs, chosen, call.timing if call else {}, call.wall if call else 0.0,
                           call.resolved.get("device") if call else None)
        if error:
            raise ModelError(error)
    if project.settings.postprocess.smoothing != "none":  # the smoothed run beside it (a derived run)
        from mousefear.pipeline.smoothing import smooth

        logger.info("Run %s: smoothed into run %s", rs.name, smooth(project, rs.name, videos=[v.id for v in chosen]))
    return rs.name


def _classify_locked(project: Project, backend: Backend, rs: RunSettings, existing: str | None, chosen: list[Video],
                     overwrite: bool, progress: bool, verify: bool, task: bool = False) -> _Run | None:
    """Classify the videos of ``chosen`` that are not finished (their locks held); the call's state, or None
    when every video was finished. An error that stops a task, or a call that has started writing results, is
    recorded for the videos it leaves unfinished (an error before that leaves nothing behind)."""
    folder = project.paths.vectors(rs.name)
    logger.info("Run %s: %d video(s), backend %s, results in %s", rs.name, len(chosen), backend.name, folder)
    todo = []
    for video in chosen:
        out = project.paths.vector_file(rs.name, video.id)
        if not overwrite and finished(out, video, rs):
            logger.info("%s: finished already (%s); skipping", video.id, out)
            continue
        todo.append(video)
    if not todo:
        return None
    calls: list[_Run] = []
    try:
        return _classify_todo(project, backend, rs, existing, todo, overwrite, progress, verify, calls)
    except BaseException as exc:  # an interruption too (Ctrl-C, a task stopped by SLURM) is worth knowing
        if task or (calls and calls[0].created is not None):
            left = [v.id for v in todo if not finished(project.paths.vector_file(rs.name, v.id), v, rs)]
            what = ("interrupted" if isinstance(exc, KeyboardInterrupt) else
                    "stopped to be requeued (its time was running out)" if isinstance(exc, SystemExit) else
                    f"{type(exc).__name__}: {exc}")
            record_error(project, rs, left, what.splitlines()[0][:1000])
        raise


def _classify_todo(project: Project, backend: Backend, rs: RunSettings, existing: str | None, todo: list[Video],
                   overwrite: bool, progress: bool, verify: bool, calls: list[_Run]) -> _Run:
    checked = preflight(rs, todo, verify)  # nothing is loaded or written before every video passed
    backend.load()
    resolved = backend.resolved()
    if existing is not None:
        check_resolved(project, rs, resolved)
    if isinstance(backend, WindowBackend):
        backend.prepare(rs.prompt, rs.examples)
    call = _Run(project, backend, rs, resolved, progress, overwrite)
    calls.append(call)
    t_start = time.perf_counter()  # throughput without loading the model
    overall = tqdm(total=len(todo), desc=f"classify {rs.name}", unit="video", disable=not progress)
    # a video backend shows its own per-frame bar: no window bar for it (it would stay empty)
    bar = tqdm(total=0, unit="window", leave=False, disable=not progress) if rs.kind == "window" else None
    jobs: list[_Job] = []
    try:
        jobs = [call.job(video, checked[video.id]) for video in todo]
        if rs.kind == "video":
            for job in jobs:
                overall.set_postfix_str(job.video.id)
                call.classify_video(job)
                overall.update(1)
        else:
            bar.reset(total=sum(len(j.bounds) for j in jobs))
            bar.update(sum(len(j.records) for j in jobs))
            call.classify_windows(jobs, bar, overall)
    finally:
        for job in jobs:
            job.cache.close()
        if bar is not None:
            bar.close()
        overall.close()
    call.wall = time.perf_counter() - t_start
    return call


# ---------------------------------------------------------------------------------------------------- on a cluster
class TaskStopped(BaseException):
    """SIGTERM reached a task: SLURM cancels it, pre-empts it, or its time is up. Not an ``Exception``, so that
    it ends the task without a result: the waiting call then submits it again (or SLURM requeues it), and the
    new task resumes from the cache."""


def _terminated(signum: int, frame: Any) -> None:
    raise TaskStopped(f"stopped by {signal.Signals(signum).name} (the task was cancelled, pre-empted or ran out "
                      "of time)")


def _classify_task(config: str, run: str, videos: list[str], settings_sha256: str, verify: bool,
                   backend: Backend | None) -> dict[str, Any]:
    """What one task on a cluster runs (on its node): the same locked, resumable work as an inline call, for its
    videos only; the run's own files (summary, timing) are left to the caller.

    Returns
    -------
    dict
        ``videos``, ``host``, ``pid``, the task (:func:`~mousefear.pipeline.slurm.current_task`), ``started``,
        ``first_input`` (when the backend got its first window or video) and ``ended`` (seconds since the
        epoch), ``timing`` (per video, as in timing.json), ``device``, and ``error``: None, or ``{"message",
        "type", "retry"}`` for a mousefear error (bad input is not worth retrying; a model or server that
        failed is).
    """
    if not logging.getLogger().handlers:  # the task's log file gets mousefear's messages
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminated)
    info: dict[str, Any] = {"videos": list(videos), "host": socket.gethostname(), "pid": os.getpid(),
                            **current_task(), "started": time.time(), "first_input": None, "timing": {},
                            "device": None, "error": None}
    try:
        project = Project.open(config)
        if backend is None:
            backend = build_backend(project.settings)
        rs = run_settings(project, backend, run)
        if rs.sha256 != settings_sha256:
            raise ProjectError(f"{project.config_path}: the settings of run {run!r} changed after its tasks were "
                               "submitted; run the classify command again to submit tasks with the new settings")
        chosen = [project.video(v) for v in videos]
        existing = check_run(project, rs, overwrite=False)
        with video_locks(project, rs, chosen, wait_seconds=_TASK_LOCK_WAIT):
            call = _classify_locked(project, backend, rs, existing, chosen, False, False, verify, task=True)
        if call is not None:
            info.update(timing=call.timing, first_input=call.first_input, device=call.resolved.get("device"))
    except MousefearError as exc:
        info["error"] = {"message": str(exc), "type": type(exc).__name__, "retry": isinstance(exc, ModelError)}
    finally:
        backend_close = getattr(backend, "close", None)
        if callable(backend_close):
            backend_close()
    info["ended"] = time.time()
    return info


def _classify_in_tasks(project: Project, given: Backend | None, rs: RunSettings, chosen: list[Video],
                       overwrite: bool, progress: bool, verify: bool, executor: str, wait: bool) -> str:
    """Submit the unfinished videos as tasks (:mod:`mousefear.pipeline.cluster`), wait for them, write the run's
    own files."""
    from mousefear.pipeline.cluster import TaskCall, run_tasks

    cluster = project.settings.cluster
    if overwrite:
        _discard(project, rs, chosen)
    todo = [v for v in chosen if not finished(project.paths.vector_file(rs.name, v.id), v, rs)]
    preflight(rs, todo, verify=False)  # the tasks check again (and hash with verify)
    with video_locks(project, rs, todo):  # a video another live process works on stops the call here
        pass
    _check_earlier_tasks(project, rs, todo)
    result = None
    if todo:
        k = cluster.videos_per_task
        groups = [[v.id for v in todo[i:i + k]] for i in range(0, len(todo), k)]
        config = str(project.config_path.resolve())

        def make_call(ids: list[str]) -> TaskCall:
            return TaskCall(_classify_task, config=config, run=rs.name, videos=ids, settings_sha256=rs.sha256,
                            verify=verify, backend=given)

        def remaining(ids: list[str]) -> list[str]:
            return [v for v in ids if not finished(project.paths.vector_file(rs.name, v), project.video(v), rs)]

        result = run_tasks(groups, make_call, executor=executor, folder=project.paths.tasks(rs.name) / "submitit",
                           cluster=cluster, name=rs.name, wait=wait, remaining=remaining,
                           on_failure=lambda ids, msg: record_error(project, rs, ids, msg),
                           on_records=lambda records: _record_submission(project, rs, records), progress=progress)
        if not wait:
            logger.warning("Run %s: %d task(s) submitted (%s %s); follow them with `mousefear status %s --run %s`, "
                           "and when they have ended run the same classify command again: it submits only what is "
                           "missing and writes the run's summary", rs.name, len(result.tasks), executor,
                           result.tasks[0]["task"] if result.tasks else "", project.config_path, rs.name)
            return rs.name
    timing: dict[str, Any] = {}
    tasks = []
    for outcome in result.outcomes if result else []:
        timing.update(outcome.get("timing") or {})
        tasks.append({k: outcome.get(k) for k in ("videos", "task", "attempt", "host", "submitted_at", "started",
                                                  "first_input", "ended")})
    device = next((o.get("device") for o in (result.outcomes if result else []) if o.get("device")), None)
    extra = {"executor": executor, "tasks": tasks}
    error = finish_run(project, rs, chosen, timing, result.seconds if result else 0.0, device, extra)
    if result is not None and result.failed:
        order = {v.id: i for i, v in enumerate(chosen)}  # in the order of the videos, not of the failures
        parts = [f"{vid}: {why}" for vid, why in sorted(result.failed.items(), key=lambda kv: order.get(kv[0], 0))]
        raise TaskError(f"Run {rs.name!r}: {len(result.failed)} of {len(chosen)} video(s) failed in their tasks "
                        f"({'; '.join(parts[:5])}{' ...' if len(parts) > 5 else ''}). The other videos are finished "
                        "and summarised; `mousefear status` shows every video, and running the command again "
                        "submits only what is missing")
    if error:
        raise ModelError(error)
    return rs.name


def _check_earlier_tasks(project: Project, rs: RunSettings, todo: list[Video]) -> None:
    """Stop before submitting a video that still waits (or runs) in a task of an earlier call: a second task on it
    would wait for the first, then fail."""
    from mousefear.pipeline.cluster import task_state

    path = project.paths.tasks(rs.name) / "jobs.json"
    latest: dict[str, dict[str, Any]] = {}
    for record in json_object_or_empty(path).get("tasks") or []:
        if isinstance(record, dict):
            latest.update({str(vid): record for vid in record.get("videos") or []})
    mine = {v.id: latest[v.id] for v in todo if v.id in latest}
    ask = {str(r["task"]) for r in mine.values() if r.get("executor") == "slurm" and r.get("state") not in
           ("DONE", "FAILED")}
    slurm = squeue_states(ask) if ask else {}
    busy = {vid: f"{r.get('executor')} task {r.get('task')} {state}" for vid, r in mine.items()
            if (state := task_state(r, slurm)).split()[0] in ACTIVE_STATES}
    if busy:
        parts = [f"{vid} ({what})" for vid, what in busy.items()]
        raise ProjectError(f"{path}: {len(busy)} video(s) wait or run in tasks of an earlier call: "
                           f"{', '.join(parts[:5])}{' ...' if len(parts) > 5 else ''}; wait until they have ended "
                           "(mousefear status), or cancel them (scancel for SLURM), then run the command again")
    if slurm is None:
        logger.warning("squeue cannot be asked: whether tasks of an earlier call still wait for these videos is "
                       "unknown (a video done twice is done once: the second task finds it finished or held)")


def _discard(project: Project, rs: RunSettings, videos: list[Video]) -> None:
    """For ``overwrite`` with tasks: remove the old results before the tasks start (a task that is resubmitted
    must resume, not start again). A run of other settings goes whole; otherwise the chosen videos' files."""
    run_json = project.paths.vectors(rs.name) / "run.json"
    with video_locks(project, rs, videos):
        if run_json.is_file() and json_object_or_empty(run_json).get("settings_sha256") != rs.sha256:
            logger.warning("Replacing run %s: removing %s and %s", rs.name, run_json.parent,
                           project.paths.cache(rs.name))
            shutil.rmtree(run_json.parent, ignore_errors=True)
            shutil.rmtree(project.paths.cache(rs.name), ignore_errors=True)
            return
        for video in videos:
            out = project.paths.vector_file(rs.name, video.id)
            for path in (out, out.with_suffix(".csv"), project.paths.seconds_table(rs.name, video.id)):
                path.unlink(missing_ok=True)
            shutil.rmtree(project.paths.video_cache(rs.name, video.id), ignore_errors=True)


def _record_submission(project: Project, rs: RunSettings, records: list[dict[str, Any]]) -> None:
    """Keep the tasks of a run in ``cache/_tasks/<run>/jobs.json`` (new ones added, ended ones updated): what
    status reads to name a video's task."""
    path = project.paths.tasks(rs.name) / "jobs.json"
    tasks = {(str(t.get("task")), str(t.get("submitted"))): t for t in json_object_or_empty(path).get("tasks", [])
             if isinstance(t, dict)}  # a local task's id is a process id, which may come again: with its time
    tasks.update({(str(r["task"]), str(r["submitted"])): dict(r) for r in records})
    atomic_write_text(path, json.dumps({"run": rs.name, "tasks": list(tasks.values())}, indent=2, sort_keys=True)
                      + "\n")
