"""Where a run stands, per video: windows done, NaN windows, who works on it, the last error.

:func:`run_status` is ``mousefear status``. It reads only the project folder (the vector files, the cache, the
locks, the last errors and the submitted tasks kept in ``cache/_tasks/<run>/``) and asks SLURM once (``squeue``)
for the state of the tasks that hold or wait for a video; it writes nothing, loads no model, and can be run from
any machine that sees the project folder, while tasks run or after they ended.
"""

from __future__ import annotations

import json
import logging
import socket
from typing import Any

import numpy as np

from mousefear._io import json_object_or_empty, pid_alive, read_lock
from mousefear.core.intervals import window_bounds
from mousefear.core.project import ConfigLike, Project, check_name
from mousefear.core.video import Video
from mousefear.errors import ProjectError, VectorFileError
from mousefear.formats.vectors import read_vector_windows
from mousefear.pipeline.cluster import task_state
from mousefear.pipeline.runs import default_run_name
from mousefear.pipeline.slurm import ACTIVE_STATES, RUNNING_STATES, squeue_states

__all__ = ["format_status", "run_status"]

logger = logging.getLogger(__name__)

#: The states of a video, in the order the text view sorts them.
STATES = ("running", "queued", "failed", "stopped", "not started", "finished")


def _run_name(project: Project, run: str | None) -> str:
    if run is not None:
        check_name(run, "a run name")
        known = [project.paths.vectors(run), project.paths.cache(run), project.paths.tasks(run)]
        if not any(p.exists() for p in known):
            runs = sorted({p.name for base in (project.paths.vectors_base, project.root / "cache")
                           if base.is_dir() for p in base.iterdir() if p.is_dir() and not p.name.startswith("_")})
            raise ProjectError(f"Expected a run among {runs or 'none'} (folders of {project.paths.vectors_base} "
                               f"and {project.root / 'cache'}), but got {run!r}")
        return run
    return default_run_name(project)


def _cached(project: Project, run: str, video: Video, sha: str | None) -> tuple[int, int, bool]:
    """(windows cached, of them NaN, whole video cached) from ``cache/<run>/<video_id>/`` of these settings."""
    folder = project.paths.video_cache(run, video.id)
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return 0, 0, False
    if sha is not None and meta.get("settings_sha256") != sha:
        return 0, 0, False  # a cache of other settings: it will be discarded
    if (folder / "video.npz").is_file():
        return 0, 0, True
    done = nan = 0
    try:
        data = (folder / "windows.jsonl").read_bytes()
    except OSError:
        return 0, 0, False
    for line in data.split(b"\n"):
        try:
            rec = json.loads(line)
        except ValueError:
            break
        if not isinstance(rec, dict) or rec.get("index") != done:
            break
        done += 1
        nan += all(p is None for p in rec.get("probabilities") or [None])
    return done, nan, False


def _holder_alive(holder: dict[str, Any], slurm: dict[str, dict[str, str]] | None) -> bool | None:
    pid = holder.get("pid")
    if holder.get("host") == socket.gethostname() and isinstance(pid, int):
        return pid_alive(pid)
    job = holder.get("slurm_job_id")
    if job and slurm is not None:
        return slurm.get(str(job), {}).get("state") in RUNNING_STATES
    return None


def run_status(config: ConfigLike, run: str | None = None) -> dict[str, Any]:
    """Where a run stands, per video: windows done of all, NaN windows, who works on it, the last error.

    Parameters
    ----------
    config
        Path of config.yaml or the project folder.
    run
        Run name; default the run ``classify`` would work on (``classification.run``, else the name derived from
        the current settings).

    Returns
    -------
    dict
        ``run``; ``folder`` (its ``behavior-vectors/<run>`` folder); ``videos``: one dict per registered video, in
        registry order, with ``video_id``, ``state`` (``finished``, ``running``: a live process holds it,
        ``queued``: a submitted task waits for it, ``failed``: its last task failed, ``stopped``: some windows done
        and nobody working on it, ``not started``), ``windows_done`` and ``windows_total`` (int), ``nan_windows``
        (windows without a behaviour so far), ``holder`` (the lock's record: ``pid``, ``host``, ``since``, ``task``
        when a SLURM or local task; plus ``alive``: True, False when the holder is gone, None when that cannot be
        told; or None), ``task`` (the latest task submitted for it: ``task`` id, ``executor``, ``attempt``,
        ``submitted``, ``stderr`` (its log) and ``state`` as SLURM tells it now; or None), ``last_error``
        (``{"error", "when", "host", ...}`` of the error that last stopped it; None once it is finished);
        ``totals``: ``videos``, ``finished``, ``windows_done``, ``windows_total``, ``nan_windows`` and the count of
        videos in each state; ``tasks``: every task submitted for the run (``cache/_tasks/<run>/jobs.json``).

    Raises
    ------
    ProjectError
        ``run`` names no run of the project.
    """
    project = Project.open(config)
    name = _run_name(project, run)
    run_json = json_object_or_empty(project.paths.vectors(name) / "run.json")  # a JSON object, or {}
    sha = run_json.get("settings_sha256")
    w = (run_json.get("settings") or {}).get("windows") or {}
    cls = project.settings.classification
    window, stride = w.get("window_seconds", cls.window_seconds), w.get("stride_seconds", cls.stride_seconds)
    jobs = json_object_or_empty(project.paths.tasks(name) / "jobs.json").get("tasks") or []
    latest: dict[str, dict[str, Any]] = {}
    for record in jobs:
        if isinstance(record, dict):
            for vid in record.get("videos") or []:
                latest[str(vid)] = record
    holders = {v.id: read_lock(project.paths.video_lock(name, v.id)) for v in project.videos
               if project.paths.video_lock(name, v.id).is_file()}
    files = project.vector_files(name)
    ask = {str(latest[v.id]["task"]) for v in project.videos if v.id in latest and v.id not in files
           and latest[v.id].get("executor") == "slurm" and latest[v.id].get("state") not in ("DONE", "FAILED")}
    ask |= {str(h["slurm_job_id"]) for h in holders.values() if h.get("slurm_job_id")}
    slurm = squeue_states(ask) if ask else {}
    rows = []
    for video in project.videos:
        try:
            total = len(window_bounds(video.n_frames, video.fps, float(window),
                                      None if stride is None else float(stride)))
        except Exception:  # noqa: BLE001 - a frame rate too low for the windows: classify says why
            total = 0
        row: dict[str, Any] = {"video_id": video.id, "state": "not started", "windows_done": 0,
                               "windows_total": total, "nan_windows": 0, "holder": None, "task": None,
                               "last_error": None}
        if video.id in files:
            try:
                table = read_vector_windows(files[video.id])
                values = table[table.attrs["behaviors"]].to_numpy(dtype=np.float64)
                row.update(state="finished", windows_done=len(table), windows_total=len(table),
                           nan_windows=int(np.isnan(values).all(axis=1).sum()))
            except VectorFileError as exc:
                row["last_error"] = {"error": str(exc)}
        if row["state"] != "finished":
            done, nan, whole = _cached(project, name, video, sha)
            row.update(windows_done=total if whole else done, nan_windows=nan)
            err = json_object_or_empty(project.paths.video_error(name, video.id))
            row["last_error"] = row["last_error"] or (err or None)
            task = latest.get(video.id)
            if task is not None:
                row["task"] = {**{k: task.get(k) for k in ("task", "executor", "attempt", "submitted", "stderr")},
                               "state": task_state(task, slurm)}
            holder = holders.get(video.id)
            if holder:
                row["holder"] = {**holder, "alive": _holder_alive(holder, slurm)}
            if holder and row["holder"]["alive"] is not False:
                row["state"] = "running"
            elif task is not None and row["task"]["state"].split()[0] in ACTIVE_STATES:
                row["state"] = "queued"
            elif row["last_error"]:
                row["state"] = "failed"
            elif row["windows_done"]:
                row["state"] = "stopped"
        rows.append(row)
    totals: dict[str, Any] = {"videos": len(rows), "finished": sum(r["state"] == "finished" for r in rows),
                              "windows_done": sum(r["windows_done"] for r in rows),
                              "windows_total": sum(r["windows_total"] for r in rows),
                              "nan_windows": sum(r["nan_windows"] for r in rows)}
    totals.update({s: sum(r["state"] == s for r in rows) for s in STATES if s != "finished"})
    return {"run": name, "folder": str(project.paths.vectors(name)), "videos": rows, "totals": totals,
            "tasks": [t for t in jobs if isinstance(t, dict)]}


def format_status(status: dict[str, Any]) -> str:
    """The text view of :func:`run_status`: a line for the run, then a table of videos."""
    t = status["totals"]
    pct = 100 * t["windows_done"] / t["windows_total"] if t["windows_total"] else 0.0
    states = ", ".join(f"{t[s]} {s}" for s in STATES if s != "finished" and t.get(s))
    lines = [f"run {status['run']} ({status['folder']}): {t['finished']} of {t['videos']} video(s) finished"
             f"{'; ' + states if states else ''}; windows {t['windows_done']} of {t['windows_total']} "
             f"({pct:.1f} %), {t['nan_windows']} without a behaviour (NaN)"]
    rows = [("video", "windows", "NaN", "state", "who / last error")]
    for r in status["videos"]:
        who = ""
        if r["holder"]:
            h = r["holder"]
            who = (f"{h.get('task') or 'process'} (pid {h.get('pid')} on {h.get('host')}) since {h.get('since')}"
                   + ("; it no longer runs (its lock will be taken over)" if h.get("alive") is False else ""))
        elif r["task"] and r["state"] == "queued":
            who = f"{'SLURM job' if r['task']['executor'] == 'slurm' else 'local task'} {r['task']['task']} " \
                  f"{r['task']['state']}"
        if r["last_error"] and r["state"] != "finished":
            who = (who + "; " if who else "") + f"last error: {r['last_error'].get('error')}"
        rows.append((r["video_id"], f"{r['windows_done']}/{r['windows_total']}", str(r["nan_windows"]), r["state"],
                     who))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        lines.append("  ".join(c.ljust(widths[i]) for i, c in enumerate(row[:4])) + "  " + row[4])
    return "\n".join(line.rstrip() for line in lines)

