"""The review page: a run's predictions per video as an ethogram, window playback, and corrections.

A correction sets the frames of one window of the run to the behaviour the person chose, in the video's
canonical label file ``labels/<video_id>.csv``, and records the window in the side file
``labels/<video_id>.corrections.csv`` (one row per corrected window, the newest answer kept)::

    start_frame,end_frame,behavior,run,predicted,probability,time
    30,60,freezing,motion-a1b2,exploring,0.534,2026-11-23T10:15:02Z

``predicted`` is the run's label of the window and ``probability`` its probability (empty when the model gave
no answer); ``behavior == predicted`` means the person confirmed the prediction. ``time`` is UTC.

"Least certain first" orders the windows by their top probability, calibrated: when a run was calibrated
(:func:`~mousefear.pipeline.temperature.calibrate_probabilities`), the page showing it orders by the temperature
of the newest calibrated run made from it (``certainty`` of ``/api/review/data``); a calibrated run orders by its
own probabilities.

The page also lists the seconds worth scoring next for the motion calibration (``/api/review/suggest``:
:func:`~mousefear.pipeline.suggest.suggest_seconds` from the measurements runs stored, nothing decoded).
"""

from __future__ import annotations

import datetime as _dt
import math
import os
import threading
from http import HTTPStatus
from pathlib import Path
from typing import Any

import numpy as np

from mousefear._io import atomic_write_text
from mousefear.core.intervals import labels_to_bouts
from mousefear.core.project import ConfigLike, Project
from mousefear.errors import LabelError, MousefearError, ProjectError, VectorFileError
from mousefear.formats.labels import read_label_file, write_label_file
from mousefear.formats.vectors import read_vector_windows
from mousefear.gui.frames import FrameCache, FrameSource
from mousefear.gui.server import (
    App,
    HttpError,
    Response,
    check_write_target,
    page_response,
    query_int,
    require_int,
    require_str,
)
from mousefear.gui.sidefile import format_rows, read_rows
from mousefear.pipeline.plots import behavior_colors

CORRECTIONS_HEADER = ("start_frame", "end_frame", "behavior", "run", "predicted", "probability", "time")
_UTC = _dt.timezone.utc  # noqa: UP017 (datetime.UTC needs Python 3.11)


def corrections_path(labels_dir: Path, video_id: str) -> Path:
    """``labels/<video_id>.corrections.csv``."""
    return labels_dir / f"{video_id}.corrections.csv"


def read_corrections(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Rows of a corrections side file (empty list when there is none).

    Returns
    -------
    list of dict
        ``start_frame``, ``end_frame`` (int, half-open), ``behavior``, ``run``, ``predicted`` (str),
        ``probability`` (float or None) and ``time`` (str, ISO 8601 UTC), in file order.

    Raises
    ------
    LabelError
        The file has another header or a row that cannot be read; the message names file and row.
    """
    rows = []
    for row_no, row in read_rows(path, CORRECTIONS_HEADER):
        rec: dict[str, Any] = dict(zip(CORRECTIONS_HEADER, row, strict=True))
        try:
            rec["start_frame"] = int(rec["start_frame"])
            rec["end_frame"] = int(rec["end_frame"])
            rec["probability"] = float(rec["probability"]) if rec["probability"] else None
        except ValueError as exc:
            raise LabelError(f"{path}, row {row_no}: Expected integer frames and a numeric probability, "
                             f"but got {row!r} ({exc})") from None
        rows.append(rec)
    return rows


def format_corrections(rows: list[dict[str, Any]]) -> str:
    """Text of a corrections side file for ``rows`` (as returned by :func:`read_corrections`)."""
    return format_rows(CORRECTIONS_HEADER, (
        (r["start_frame"], r["end_frame"], r["behavior"], r["run"], r["predicted"],
         "" if r["probability"] is None else f"{r['probability']:.6g}", r["time"])
        for r in rows))


def _num(x: float) -> float | None:
    return None if x is None or not math.isfinite(float(x)) else round(float(x), 5)


class ReviewApp(App):
    """Routes of the review page for one project.

    Parameters
    ----------
    config
        config.yaml of the project (or its folder), or an opened :class:`~mousefear.core.project.Project`.
    run, video
        Run and video the page opens with (default: the run every command would choose,
        :meth:`~mousefear.core.project.Project.select_run` — ``classification.run``, else the only or the newest
        run — and its first video).
    lock
        Lock held around every read-modify-write of a project file.

    Raises
    ------
    ProjectError
        The project has no behaviour vectors, ``run`` is not a run of the project, or ``video`` has no
        behaviour vector in the run.
    VectorFileError
        The folder of ``run`` holds no behaviour-vector file of a registered video.
    """

    def __init__(self, config: ConfigLike, run: str | None = None, video: str | None = None,
                 lock: threading.Lock | None = None):
        super().__init__()
        self.project = Project.open(config)
        self.root = self.project.root
        self.behaviors = self.project.behaviors
        self.videos = {v.id: v for v in self.project.videos}
        self.lock = lock or threading.Lock()
        self.runs = self.project.runs_newest_first()
        if not self.runs:
            raise ProjectError(f"{self.project.paths.vectors_base}: no behaviour vectors to review "
                               "(<run>/<video_id>.h5); classify the videos first")
        self.run = self.project.select_run(run)  # the rule of every command
        if video is not None:
            try:
                vid = self.project.video(video).id
            except ProjectError:
                vid = None
            if vid not in self.runs[self.run]:
                raise ProjectError(f"{self.root}: run {self.run!r} has no behaviour vector of video {video!r} "
                                   f"(videos: {', '.join(self.runs[self.run])})")
            self.video = vid
        else:
            self.video = self.runs[self.run][0]
        self.frames = FrameCache()
        for v in self.videos.values():
            self.frames.add_video(v.id, FrameSource(v.path, v.n_frames, v.crop))
        self.get_routes.update({
            "/review": lambda q: page_response("review.html"),
            "/api/review/runs": self.get_runs,
            "/api/review/data": self.get_data,
            "/api/review/frame": self.get_frame,
            "/api/review/suggest": self.get_suggest,
        })
        self.post_routes["/api/review/correct"] = self.post_correct

    # ------------------------------------------------------------------ helpers
    def _run_video(self, run: Any, video: Any) -> tuple[str, str]:
        self.runs = self.project.runs_newest_first()  # new runs may appear while the page is open
        if not isinstance(run, str) or run not in self.runs:
            raise HttpError(HTTPStatus.NOT_FOUND, f"Expected a run with behaviour vectors ({', '.join(self.runs)}), "
                                                  f"but got {run!r}")
        if not isinstance(video, str) or video not in self.runs[run]:
            raise HttpError(HTTPStatus.NOT_FOUND, f"Expected a video of run {run} ({', '.join(self.runs[run])}), "
                                                  f"but got {video!r}")
        return run, video

    def _windows(self, run: str, video: str):
        try:
            return read_vector_windows(self.project.paths.vector_file(run, video))
        except VectorFileError as exc:
            raise HttpError(HTTPStatus.CONFLICT, str(exc)) from None

    def _labels(self, video: str) -> np.ndarray:
        v = self.videos[video]
        path = self.project.paths.label_file(video)
        if not path.exists():
            return np.full(v.n_frames, "", dtype=object)
        try:
            return read_label_file(path, self.behaviors, n_frames=v.n_frames)
        except LabelError as exc:
            raise HttpError(HTTPStatus.CONFLICT, str(exc)) from None

    def _human(self, video: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        labels = self._labels(video)
        bouts = labels_to_bouts(labels, self.behaviors)
        human = [{"behavior": str(b.behavior), "start": int(b.start_frame), "end": int(b.end_frame)}
                 for b in bouts.itertuples(index=False)]
        try:
            corrections = read_corrections(corrections_path(self.project.paths.labels, video))
        except LabelError as exc:
            raise HttpError(HTTPStatus.CONFLICT, str(exc)) from None
        return human, corrections

    # ------------------------------------------------------------------ routes
    def get_runs(self, query: dict[str, str]) -> Response:
        self.runs = self.project.runs_newest_first()
        return Response.json({
            "project": self.project.settings.project.name,
            "root": str(self.root),
            "runs": [{"name": r, "videos": vids} for r, vids in self.runs.items()],
            "run": self.run if self.run in self.runs else next(iter(self.runs), None),
            "video": self.video,
            "behaviors": self.behaviors,
            "colors": behavior_colors(self.behaviors),
        })

    def get_data(self, query: dict[str, str]) -> Response:
        run, video = self._run_video(query.get("run"), query.get("video"))
        win = self._windows(run, video)
        v = self.videos[video]
        vb = list(win.attrs["behaviors"])
        probs = win[vb].to_numpy(dtype=np.float64) if len(win) else np.zeros((0, len(vb)))
        human, corrections = self._human(video)
        certainty, source = self._certainty(run, probs)
        return Response.json({
            "run": run,
            "video": video,
            "subject": v.subject,
            "session": v.session,
            "fps": v.fps,
            "n_frames": v.n_frames,
            "behaviors": self.behaviors,
            "vector_behaviors": vb,
            "colors": behavior_colors([*self.behaviors, *(b for b in vb if b not in self.behaviors)]),
            "windows": {
                "start": win["start_frame"].astype(int).tolist(),
                "end": win["end_frame"].astype(int).tolist(),
                "label": [str(x) for x in win["label"]],
                "probability": [[_num(p) for p in row] for row in probs],
                "certainty": certainty,
            },
            "certainty_from": source,
            "human": human,
            "corrections": corrections,
            "backend": str(win.attrs.get("backend", "")),
            "model_id": str(win.attrs.get("model_id", "")),
        })

    def _certainty(self, run: str, probs: np.ndarray) -> tuple[list[float | None] | None, str]:
        """Top calibrated probability of each window for "least certain first", from the newest run calibrated from
        ``run`` (:func:`~mousefear.pipeline.temperature.calibration_of`); ``(None, "")``: the run's own values."""
        from mousefear.pipeline.temperature import apply_temperature, calibration_of

        found = calibration_of(self.project, run)
        if found is None or not len(probs):
            return None, ""
        name, temperature = found
        top = apply_temperature(probs, temperature).max(axis=1)
        return [_num(x) for x in top], f"calibrated run {name}"

    def get_frame(self, query: dict[str, str]) -> Response:
        video = query.get("video")
        if video not in self.videos:
            raise HttpError(HTTPStatus.NOT_FOUND, f"Expected a registered video, but got {video!r}")
        frame = query_int(query, "frame")
        if not 0 <= frame < self.videos[video].n_frames:
            raise HttpError(HTTPStatus.NOT_FOUND, f"Expected a frame in [0, {self.videos[video].n_frames}), "
                                                  f"but got {frame}")
        data = self.frames.jpeg(video, frame)
        return Response(data, "image/jpeg", headers={"Cache-Control": "private, max-age=3600"})

    def get_suggest(self, query: dict[str, str]) -> Response:
        """The seconds to score next (:func:`~mousefear.pipeline.suggest.suggest_seconds`, from stored
        measurements only: nothing is decoded while the page waits)."""
        from mousefear.pipeline.suggest import suggest_seconds

        n = query_int(query, "n") if "n" in query else 20
        if not 1 <= n <= 200:
            raise HttpError(HTTPStatus.BAD_REQUEST, f"Expected n in [1, 200], but got {n}")
        try:
            table = suggest_seconds(self.project, n, measure=False, progress=False)
        except MousefearError as exc:
            return Response.json({"rows": [], "error": str(exc)})
        rows = [{"video": str(r.video_id), "second": int(r.second), "start_frame": int(r.start_frame),
                 "end_frame": int(r.end_frame), "start_s": float(r.start_s), "disagreement": _num(r.disagreement),
                 "predicted": str(r.predicted), "reason": str(r.reason)} for r in table.itertuples()]
        return Response.json({"rows": rows, "left_out": list(table.attrs["left_out"]),
                              "scored_seconds": int(table.attrs["scored_seconds"]),
                              "committee": int(table.attrs["committee"]), "grid": int(table.attrs["grid"])})

    def post_correct(self, body: dict[str, Any]) -> Response:
        run, video = self._run_video(body.get("run"), body.get("video"))
        start, end = require_int(body, "start_frame"), require_int(body, "end_frame")
        behavior = require_str(body, "behavior")
        if behavior not in self.behaviors:
            raise HttpError(HTTPStatus.BAD_REQUEST, f"Expected a behaviour of the project "
                                                    f"({', '.join(self.behaviors)}), but got {behavior!r}")
        win = self._windows(run, video)
        hit = win[(win["start_frame"] == start) & (win["end_frame"] == end)]
        if hit.empty:
            raise HttpError(HTTPStatus.BAD_REQUEST, f"Expected a window of run {run} for video {video}, but got "
                                                    f"[{start}, {end})")
        row = hit.iloc[0]
        predicted = str(row["label"])
        probability = _num(row[predicted]) if predicted else None
        label_file = check_write_target(self.project.paths.label_file(video), self.root)
        side_file = check_write_target(corrections_path(self.project.paths.labels, video), self.root)
        with self.lock:
            labels = self._labels(video)
            _, corrections = self._human(video)
            labels[start:end] = behavior
            now = _dt.datetime.now(_UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
            corrections = [c for c in corrections if (c["start_frame"], c["end_frame"]) != (start, end)]
            corrections.append({"start_frame": start, "end_frame": end, "behavior": behavior, "run": run,
                                "predicted": predicted, "probability": probability, "time": now})
            corrections.sort(key=lambda c: (c["start_frame"], c["end_frame"]))
            write_label_file(label_file, labels, self.behaviors)
            atomic_write_text(side_file, format_corrections(corrections))
            human, corrections = self._human(video)
        return Response.json({"ok": True, "human": human, "corrections": corrections})
