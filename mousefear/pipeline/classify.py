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
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from mousefear._io import atomic_write_text, lock_file
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
from mousefear.errors import ConfigError, ModelError, ProjectError, VectorFileError, VideoError
from mousefear.formats.vectors import measurement_table, read_vector_windows, write_vector
from mousefear.pipeline.cache import VideoCache
from mousefear.pipeline.context import decided_label, with_context
from mousefear.pipeline.registry import check_video_file, check_video_unchanged
from mousefear.pipeline.runs import (
    RunSettings,
    changes,
    check_resolved,
    check_run,
    default_run_name,
    open_run,
    recorded_video_settings,
    run_settings,
    vector_attrs,
    video_settings,
)
from mousefear.pipeline.tables import write_run_tables

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


def _finished(path: Path, video: Video, rs: RunSettings) -> bool:
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

    def start(self) -> str:
        """Write run.json and prompt.txt (or take those of the run): called before the first result is kept."""
        if self.created is None:
            self.created = open_run(self.project, self.rs, self.overwrite, self.resolved)
        return self.created

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

    def _attrs(self, video: Video) -> dict[str, Any]:
        return vector_attrs(video, self.rs, self.start(), self.resolved)

    # ---------------------------------------------------------------- timing
    def write_timing(self, wall: float) -> None:
        timing = self.timing
        n = sum(t["windows_classified"] for t in timing.values())
        video_secs = sum(t["video_seconds"] for t in timing.values())
        for t in timing.values():
            t["seconds_per_window"] = (round(t["seconds"] / t["windows_classified"], 4) if t["windows_classified"]
                                       else None)
        if timing:
            atomic_write_text(self.folder / "timing.json", json.dumps(
                {"videos": timing, "windows_classified": n, "seconds": round(wall, 3),
                 "seconds_per_window": round(wall / n, 4) if n else None,
                 "windows_per_second": round(n / wall, 3) if n and wall > 0 else None,
                 "video_seconds": round(video_secs, 3),
                 "realtime_factor": round(video_secs / wall, 3) if n and wall > 0 else None,
                 "device": self.resolved.get("device")}, indent=2, sort_keys=True) + "\n")
        if n:
            logger.info("Run %s: %d window(s) classified in %.1f s: %.2f windows per second, %.2f seconds of video "
                        "per second (real-time factor)", self.rs.name, n, wall, n / wall, video_secs / wall)


def _preflight(rs: RunSettings, videos: list[Video], verify: bool) -> dict[str, os.stat_result]:
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


def _count_unparseable(project: Project, rs: RunSettings, chosen: list[Video]) -> None:
    """Count the windows whose answer named no behaviour (all-NaN probabilities) in every vector file of the
    run, record them in ``unparseable.json``, log them, and raise when a video of this call has more than
    ``classification.max_unparseable`` of them."""
    limit = project.settings.classification.max_unparseable
    files = project.vector_files(rs.name)
    if not files:
        return
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
        raise ModelError(f"Run {rs.name!r}: too many windows without a behaviour ({why}): {', '.join(parts)}; "
                         f"classification.max_unparseable of {project.config_path} allows {100 * limit:g} %. The "
                         f"vector files are written (NaN where no behaviour was decided; a model's answers are in "
                         f"their windows/text) and the counts in {folder / 'unparseable.json'}. Look at the results, "
                         "change the settings, or raise classification.max_unparseable")


def classify_videos(
    config: ConfigLike,
    videos: Iterable[str] | str | None = None,
    run: str | None = None,
    overwrite: bool = False,
    *,
    backend: Backend | None = None,
    progress: bool = True,
    verify: bool = False,
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
        ``motion-0.0005-1s-1a2b3c``).
    overwrite
        Classify finished videos again, and replace a run of the same name made with other settings.
    backend
        Use this backend (not loaded yet) instead of building the one config.yaml names (for custom backends; it
        must have the project's behaviours in config order).
    progress
        Show tqdm progress bars (overall and per video).
    verify
        Hash every video file before classifying it (by default only a file whose size or modification time
        differs from the registry's is hashed).

    Returns
    -------
    str
        The run name; results are in ``behavior-vectors/<run>/``. With ``postprocess.smoothing: hmm`` the
        smoothed run (:func:`~mousefear.pipeline.smoothing.smooth`) is written beside it, for the same videos.

    Raises
    ------
    ProjectError
        The run exists with other settings (and not ``overwrite``), another process is classifying it, a
        behaviour has no labelled exemplar while ``classification.icl_required`` is true, or the run name is not
        usable as a folder name.
    ModelError
        The model cannot be found or loaded (the message says how to get the weights), a server keeps failing
        (what was classified is kept), or more than ``classification.max_unparseable`` of a video's windows named
        no behaviour (the files are written).
    VideoError
        A video is not the file registered (missing, changed), or decodes fewer frames than registered (what was
        classified is kept for a later call).
    ConfigError
        A video's frame rate is too low for a window.
    FileWriteError
        The project cannot be written (read-only folder, full disk); nothing half-written is left.
    """
    project = Project.open(config)
    behaviors = project.behaviors
    chosen = project.select_videos(videos)
    if backend is None:
        backend = build_backend(project.settings)
    if list(backend.behaviors) != behaviors:
        raise ProjectError(f"Expected a backend for the behaviours {behaviors} of config.yaml, but it has "
                           f"{list(backend.behaviors)}")
    rs = run_settings(project, backend, run)
    existing = check_run(project, rs, overwrite)  # a conflicting run stops us before the model loads
    with lock_file(project.paths.run_lock(rs.name), f"run {rs.name!r}"):
        name = _classify_locked(project, backend, rs, existing, chosen, overwrite, progress, verify)
    if project.settings.postprocess.smoothing != "none":  # the smoothed run beside it (a derived run)
        from mousefear.pipeline.smoothing import smooth

        logger.info("Run %s: smoothed into run %s", name, smooth(project, name, videos=[v.id for v in chosen]))
    return name


def _classify_locked(project: Project, backend: Backend, rs: RunSettings, existing: str | None, chosen: list[Video],
                     overwrite: bool, progress: bool, verify: bool) -> str:
    folder = project.paths.vectors(rs.name)
    logger.info("Run %s: %d video(s), backend %s, results in %s", rs.name, len(chosen), backend.name, folder)
    todo = []
    for video in chosen:
        out = project.paths.vector_file(rs.name, video.id)
        if not overwrite and _finished(out, video, rs):
            logger.info("%s: finished already (%s); skipping", video.id, out)
            continue
        todo.append(video)
    wall = 0.0
    call: _Run | None = None
    if todo:
        checked = _preflight(rs, todo, verify)  # nothing is loaded or written before every video passed
        backend.load()
        resolved = backend.resolved()
        if existing is not None:
            check_resolved(project, rs, resolved)
        if isinstance(backend, WindowBackend):
            backend.prepare(rs.prompt, rs.examples)
        call = _Run(project, backend, rs, resolved, progress, overwrite)
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
        wall = time.perf_counter() - t_start
    write_run_tables(project, rs.name)
    if call is not None:
        call.write_timing(wall)
    if call is None or not call.timing:
        logger.info("Run %s: nothing to classify (every video finished)", rs.name)
    _count_unparseable(project, rs, chosen)
    return rs.name
