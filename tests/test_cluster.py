"""Classifying through tasks: a real single-node SLURM cluster (tests/_slurm.py) and submitit's local executor.

Every run here is compared with an inline run of the same settings on the same videos, file by file: the
vector files (arrays and every attribute but the run's creation time), their CSV twins, the per-second tables,
windows.csv, summary.csv and unparseable.json must be identical.
"""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import write_video

import mousefear
from mousefear.backends.fake import FakeWindowBackend
from mousefear.core.project import Project
from mousefear.errors import ProjectError, TaskError

BEHAVIORS = ["freezing", "exploring", "grooming", "rearing", "fleeing"]
VIDEOS = ("m1_day1", "m2_day1", "m3_day1")


def _project(root: Path, n_frames=(45, 60, 30), **cluster) -> Path:
    """Three short synthetic videos (15 fps), small frames, no in-context examples, tasks of one CPU."""
    src = root / "src"
    src.mkdir(parents=True, exist_ok=True)
    files = [write_video(src / f"{vid}.avi", n_frames=n, moving=i != 1) for i, (vid, n) in
             enumerate(zip(VIDEOS, n_frames, strict=True))]
    cfg = mousefear.create_project("fc", "t", files, working_directory=root, date="2026-11-23")
    with Project.open(cfg).edit() as doc:
        c = doc["classification"]
        c["frames_per_window"] = 2
        c["icl_per_class"] = 0
        c["max_unparseable"] = 1.0
        c["preprocessing"]["max_pixels"] = 28 * 28 * 4
        doc["cluster"]["cpus_per_task"] = 1
        doc["cluster"]["mem_gb"] = None
        doc["cluster"]["time_minutes"] = 10
        for key, value in cluster.items():
            doc["cluster"][key] = value
    return Path(cfg)


def _motion(cfg: Path) -> Path:
    with Project.open(cfg).edit() as doc:
        doc["classification"]["backend"] = "motion"
    return cfg


def _h5(path: Path) -> dict:
    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                out[name] = obj[()]
            for k, v in obj.attrs.items():
                if k not in ("run_created", "created"):
                    out[f"{name}@{k}"] = v
        f.visititems(visit)
        for k, v in f.attrs.items():
            if k not in ("run_created", "created"):
                out[f"@{k}"] = v
    return out


def assert_same_results(a: Path, b: Path, run: str) -> None:
    """The results of run ``run`` in two projects are the same, file by file (only the creation time differs)."""
    fa, fb = a.parent / "behavior-vectors" / run, b.parent / "behavior-vectors" / run
    names = sorted(p.name for p in fa.iterdir() if p.is_file() and p.name not in ("run.json", "timing.json"))
    assert names == sorted(p.name for p in fb.iterdir() if p.is_file() and p.name not in ("run.json",
                                                                                          "timing.json"))
    assert {f"{v}.h5" for v in VIDEOS} <= set(names)
    for name in names:
        if name.endswith(".h5"):
            x, y = _h5(fa / name), _h5(fb / name)
            assert sorted(x) == sorted(y), name
            for k in x:
                if isinstance(x[k], np.ndarray):
                    np.testing.assert_array_equal(x[k], y[k], err_msg=f"{name}:{k}")
                else:
                    assert x[k] == y[k], f"{name}:{k}"
        else:
            assert (fa / name).read_bytes() == (fb / name).read_bytes(), name
    ra, rb = (json.loads((f / "run.json").read_text()) for f in (fa, fb))
    for r in (ra, rb):  # settings that change no result (how slow the fake backend is) may differ
        for key in r["settings"]["backend"]["runtime"]:
            r["settings"]["backend"]["settings"].pop(key, None)
    assert ra["settings"] == rb["settings"] and ra["resolved"] == rb["resolved"]
    assert ra["settings_sha256"] == rb["settings_sha256"]


def _jobs(cfg: Path, run: str) -> list[dict]:
    return json.loads((cfg.parent / "cache" / "_tasks" / run / "jobs.json").read_text())["tasks"]


def _no_locks_left(cfg: Path, run: str) -> None:
    tasks = cfg.parent / "cache" / "_tasks" / run
    assert not list(tasks.glob("*.lock")) and not (cfg.parent / "cache" / f"{run}.lock").exists()


def _wait_for(predicate, timeout: float, what: str):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _in_background(cfg: Path, **kwargs) -> tuple[threading.Thread, dict]:
    """``classify_videos(cfg, progress=False, **kwargs)`` in a thread, started; its result or error lands in the
    dict (``run`` or ``error``) by the time the thread ends."""
    outcome: dict = {}

    def classify():
        try:
            outcome["run"] = mousefear.classify_videos(cfg, progress=False, **kwargs)
        except Exception as exc:  # noqa: BLE001 - handed to the test
            outcome["error"] = exc

    thread = threading.Thread(target=classify)
    thread.start()
    return thread, outcome


def _run_name(cfg: Path, backend) -> str:
    from mousefear.pipeline.runs import run_settings

    return run_settings(Project.open(cfg), backend).name


def _windows_cached(cfg: Path, run: str, video: str) -> int:
    path = cfg.parent / "cache" / run / video / "windows.jsonl"
    return len(path.read_text().splitlines()) if path.is_file() else 0


# ---------------------------------------------------------------------------------------------------- SLURM
def test_motion_run_through_slurm_is_identical_to_inline(slurm_cluster, tmp_path):
    inline = _motion(_project(tmp_path / "inline"))
    run = mousefear.classify_videos(inline, progress=False)
    cfg = _motion(_project(tmp_path / "slurm"))
    assert mousefear.classify_videos(cfg, executor="slurm", progress=False) == run
    assert_same_results(inline, cfg, run)
    jobs = _jobs(cfg, run)
    assert sorted(v for j in jobs for v in j["videos"]) == list(VIDEOS)  # one task per video
    assert {j["state"] for j in jobs} == {"DONE"} and {j["executor"] for j in jobs} == {"slurm"}
    assert len({j["task"].split("_")[0] for j in jobs}) == 1  # one job array
    timing = json.loads((cfg.parent / "behavior-vectors" / run / "timing.json").read_text())
    assert timing["executor"] == "slurm" and sorted(timing["videos"]) == list(VIDEOS)
    assert sorted(t["task"] for t in timing["tasks"]) == sorted(f"SLURM job {j['task']}" for j in jobs)
    _no_locks_left(cfg, run)
    status = mousefear.run_status(cfg, run=run)
    assert status["run"] == run and [r["state"] for r in status["videos"]] == ["finished"] * 3
    assert [r["windows_done"] for r in status["videos"]] == [3, 4, 2] == [r["windows_total"] for r in
                                                                         status["videos"]]
    # calling again submits nothing: every video is finished
    assert mousefear.classify_videos(cfg, executor="slurm", progress=False) == run
    assert len(_jobs(cfg, run)) == 3


def test_tiny_model_through_slurm_is_identical_to_inline(slurm_cluster, tiny_qwen, tmp_path):
    def tiny(cfg: Path) -> Path:
        with Project.open(cfg).edit() as doc:
            c = doc["classification"]
            c.update(backend="transformers", model=str(tiny_qwen), device="cpu", dtype="float32")
        return cfg

    inline = tiny(_project(tmp_path / "inline", n_frames=(30, 30, 15)))
    run = mousefear.classify_videos(inline, progress=False)
    cfg = tiny(_project(tmp_path / "slurm", n_frames=(30, 30, 15)))
    assert mousefear.classify_videos(cfg, executor="slurm", progress=False) == run
    assert_same_results(inline, cfg, run)
    assert [r["state"] for r in mousefear.run_status(cfg, run=run)["videos"]] == ["finished"] * 3


def test_a_cancelled_slurm_task_is_resubmitted_and_resumes_with_the_same_result(slurm_cluster, tmp_path):
    """scancel of a running task: the wait sees it ended without a result, submits its video again, and the new
    task resumes from the windows cached; status tells the right counts during and after."""
    n_frames = (150, 150, 150)  # 10 windows each, 0.3 s per window
    inline = _project(tmp_path / "inline", n_frames=n_frames)
    run = mousefear.classify_videos(inline, backend=FakeWindowBackend(BEHAVIORS), progress=False)
    cfg = _project(tmp_path / "slurm", n_frames=n_frames, array_parallelism=2)
    thread, outcome = _in_background(cfg, backend=FakeWindowBackend(BEHAVIORS, delay_seconds=0.3), executor="slurm")
    try:
        lock = cfg.parent / "cache" / "_tasks" / run / "m2_day1.lock"
        _wait_for(lambda: lock.is_file() and _windows_cached(cfg, run, "m2_day1") >= 3, 120, "m2_day1 half-way")
        holder = json.loads(lock.read_text())
        status = {r["video_id"]: r for r in mousefear.run_status(cfg, run=run)["videos"]}
        row = status["m2_day1"]
        assert row["state"] == "running" and row["holder"]["task"] == f"SLURM job {holder['slurm_job']}"
        assert row["holder"]["alive"] is True and 3 <= row["windows_done"] < 10 and row["windows_total"] == 10
        assert status["m3_day1"]["state"] in ("queued", "running", "finished")  # at most 2 tasks at once
        assert sum(r["state"] == "running" for r in status.values()) <= 2
        slurm_cluster.run("scancel", holder["slurm_job"])
        thread.join(timeout=180)
        assert not thread.is_alive()
    finally:
        thread.join(timeout=60)
    assert "error" not in outcome, outcome.get("error")
    assert outcome["run"] == run
    assert_same_results(inline, cfg, run)
    jobs = [j for j in _jobs(cfg, run) if "m2_day1" in j["videos"]]
    assert [(j["attempt"], j["state"]) for j in jobs] == [(1, "FAILED"), (2, "DONE")]
    timing = json.loads((cfg.parent / "behavior-vectors" / run / "timing.json").read_text())
    assert 0 < timing["videos"]["m2_day1"]["windows_classified"] <= 7  # resumed: the cached windows were kept
    cache = [json.loads(x)["index"] for x in (cfg.parent / "cache" / run / "m2_day1" / "windows.jsonl")
             .read_text().splitlines()]
    assert cache == list(range(10))  # every window once, in order
    status = mousefear.run_status(cfg, run=run)
    assert [r["state"] for r in status["videos"]] == ["finished"] * 3 and status["totals"]["windows_done"] == 30
    assert all(r["last_error"] is None for r in status["videos"])
    _no_locks_left(cfg, run)


def test_a_task_that_dies_without_a_result_is_seen_ended_without_sacct(slurm_cluster, tmp_path):
    """The cluster has no accounting (sacct fails): the watcher asks squeue, sees the job FAILED, and the task
    counts as failed with the last line of its log; failed again after its resubmission, the wait ends."""
    from mousefear.core.settings import Settings
    from mousefear.pipeline.cluster import TaskCall, run_tasks

    cluster = Settings.default().updated({"cluster.cpus_per_task": 1, "cluster.mem_gb": None,
                                          "cluster.resubmit": 1}).cluster
    failures = []
    t0 = time.monotonic()
    result = run_tasks([["a"]], lambda ids: TaskCall(os.abort), executor="slurm", folder=tmp_path / "jobs",
                       cluster=cluster, name="abort", remaining=lambda ids: ids,
                       on_failure=lambda ids, msg: failures.append((ids, msg)), progress=False)
    assert time.monotonic() - t0 < 90
    assert list(result.failed) == ["a"] and len(failures) == 2  # the first attempt and its resubmission
    for ids, msg in failures:
        assert ids == ["a"] and " ended (FAILED) without a result" in msg and "_log.err)" in msg
    assert [t["attempt"] for t in result.tasks] == [1, 2] and result.outcomes == []


# ---------------------------------------------------------------------------------------------------- local
def test_local_executor_gives_the_inline_result_and_a_killed_task_resumes(tmp_path):
    n_frames = (150, 60, 45)
    inline = _project(tmp_path / "inline", n_frames=n_frames)
    run = mousefear.classify_videos(inline, backend=FakeWindowBackend(BEHAVIORS), progress=False)
    cfg = _project(tmp_path / "local", n_frames=n_frames)
    thread, outcome = _in_background(cfg, backend=FakeWindowBackend(BEHAVIORS, delay_seconds=0.2), executor="local")
    try:
        lock = cfg.parent / "cache" / "_tasks" / run / "m1_day1.lock"
        _wait_for(lambda: lock.is_file() and _windows_cached(cfg, run, "m1_day1") >= 2, 60, "m1_day1 started")
        holder = json.loads(lock.read_text())
        row = mousefear.run_status(cfg, run=run)["videos"][0]
        assert row["state"] == "running" and row["holder"]["pid"] == holder["pid"]
        assert row["holder"]["task"].startswith("local task ") and 2 <= row["windows_done"] < 10
        os.kill(holder["pid"], signal.SIGKILL)
        thread.join(timeout=120)
        assert not thread.is_alive()
    finally:
        thread.join(timeout=30)
    assert "error" not in outcome, outcome.get("error")
    assert_same_results(inline, cfg, run)
    jobs = [j for j in _jobs(cfg, run) if "m1_day1" in j["videos"]]
    assert [(j["attempt"], j["state"], j["executor"]) for j in jobs] == [(1, "FAILED", "local"), (2, "DONE", "local")]
    _no_locks_left(cfg, run)
    assert [r["state"] for r in mousefear.run_status(cfg, run=run)["videos"]] == ["finished"] * 3


def test_no_wait_returns_at_once_and_calling_again_finishes_the_run(tmp_path):
    cfg = _project(tmp_path / "p", videos_per_task=2)
    run = mousefear.classify_videos(cfg, backend=FakeWindowBackend(BEHAVIORS, delay_seconds=0.1),
                                    executor="local", wait=False, progress=False)
    jobs = _jobs(cfg, run)
    assert sorted(map(tuple, (j["videos"] for j in jobs))) == [("m1_day1", "m2_day1"), ("m3_day1",)]
    assert not (cfg.parent / "behavior-vectors" / run / "summary.csv").exists()
    with pytest.raises(ProjectError) as err:  # calling again while they run submits nothing twice
        mousefear.classify_videos(cfg, backend=FakeWindowBackend(BEHAVIORS), executor="local", progress=False)
    assert re.search(r"video\(s\) wait or run in tasks of an earlier call: m1_day1 \(local task \d+ RUNNING\)|"
                     r"video m[123]_day1 of run .* is in use by process", str(err.value)), str(err.value)

    def ended():
        s = mousefear.run_status(cfg, run=run)
        return s if not (s["totals"]["running"] or s["totals"]["queued"]) else None

    status = _wait_for(ended, 60, "the tasks to end")
    assert status["totals"]["finished"] == 3 and status["totals"]["windows_done"] == 9
    assert mousefear.classify_videos(cfg, backend=FakeWindowBackend(BEHAVIORS), executor="local",
                                     progress=False) == run  # submits nothing, writes the summary
    assert len(_jobs(cfg, run)) == 2
    summary = (cfg.parent / "behavior-vectors" / run / "summary.csv").read_text()
    assert all(v in summary for v in VIDEOS)


def test_a_task_that_keeps_failing_is_given_up_after_its_resubmissions(tmp_path):
    cfg = _project(tmp_path / "p", resubmit=1)
    fake = FakeWindowBackend(BEHAVIORS, fail_at=[1])  # window 1 of every video breaks, every time
    with pytest.raises(TaskError) as err:
        mousefear.classify_videos(cfg, backend=fake, executor="local", progress=False)
    run = _run_name(cfg, fake)
    msg = str(err.value)
    assert msg.startswith(f"Run {run!r}: 3 of 3 video(s) failed in their tasks (m1_day1: local task ")
    assert "ModelError" not in msg and "fake model: window 1 of m1_day1 failed (fail_at)" in msg and "\n" not in msg
    jobs = _jobs(cfg, run)
    assert sorted((j["attempt"], j["state"]) for j in jobs) == [(1, "FAILED")] * 3 + [(2, "FAILED")] * 3
    status = mousefear.run_status(cfg, run=run)
    assert [r["state"] for r in status["videos"]] == ["failed"] * 3
    assert [r["windows_done"] for r in status["videos"]] == [1, 1, 1]  # window 0 of each is cached
    assert "fake model: window 1 of m1_day1 failed" in status["videos"][0]["last_error"]["error"]
    _no_locks_left(cfg, run)


def test_a_task_that_stopped_on_bad_input_is_not_resubmitted(tmp_path):
    """A video file replaced while its task classifies it: the task stops with a VideoError, which no
    resubmission mends; the call ends with one line, status shows the error."""
    cfg = _project(tmp_path / "p", n_frames=(150, 30, 30), resubmit=2)
    run = _run_name(cfg, FakeWindowBackend(BEHAVIORS))
    thread, outcome = _in_background(cfg, backend=FakeWindowBackend(BEHAVIORS, delay_seconds=0.2), executor="local",
                                     videos=["m1_day1"])
    try:
        _wait_for(lambda: _windows_cached(cfg, run, "m1_day1") >= 2, 60, "m1_day1 started")
        write_video(Path(os.path.realpath(cfg.parent / "videos" / "m1_day1.avi")), n_frames=150, moving=False)
        thread.join(timeout=60)
        assert not thread.is_alive()
    finally:
        thread.join(timeout=30)
    err = outcome.get("error")
    assert isinstance(err, TaskError), err
    msg = str(err)
    assert msg.startswith(f"Run {run!r}: 1 of 1 video(s) failed in their tasks (m1_day1: local task ")
    assert "video m1_day1 changed while it was being classified" in msg and "\n" not in msg
    assert [(j["attempt"], j["state"]) for j in _jobs(cfg, run)] == [(1, "FAILED")]  # not resubmitted
    row = mousefear.run_status(cfg, run=run)["videos"][0]
    assert row["state"] == "failed" and "changed while it was being classified" in row["last_error"]["error"]
    _no_locks_left(cfg, run)


# ---------------------------------------------------------------------------------------------------- parts
def test_the_watcher_takes_a_job_squeue_no_longer_lists_for_ended_but_not_at_the_first_look(monkeypatch):
    from mousefear.pipeline import cluster

    answers = [{"5_0": {"state": "RUNNING", "node": "n1", "job_id": "6"}}, {}, None, {}]
    monkeypatch.setattr(cluster, "squeue_states", lambda ids: answers.pop(0))
    watcher = cluster._watcher()
    watcher.use_sacct = False  # accounting disabled
    watcher.register_job("5_0")
    watcher.update()
    assert watcher.get_state("5_0", mode="cache") == "RUNNING" and not watcher.is_done("5_0", mode="cache")
    watcher.update()  # not listed once: maybe a hiccup
    assert not watcher.is_done("5_0", mode="cache")
    watcher.update()  # squeue cannot be asked: nothing is concluded
    assert not watcher.is_done("5_0", mode="cache")
    watcher.update()  # not listed again: it has ended
    assert watcher.is_done("5_0", mode="cache")
    assert watcher.get_state("5_0", mode="cache") == "ENDED (no longer known to SLURM)"


def test_sbatch_options_are_checked():
    from mousefear.core.settings import Settings
    from mousefear.errors import ConfigError

    s = Settings.default().updated({"cluster.sbatch_options": {"account": "lab", "qos": "normal", "exclusive": True,
                                                               "gres": "gpu:a100:1"}})
    assert s.cluster.sbatch_options == {"account": "lab", "qos": "normal", "exclusive": True, "gres": "gpu:a100:1"}
    for bad in ({"array": "0-3"}, {"Account": "lab"}, {"account": ["a"]}, ["account"], {"output": "x.log"}):
        with pytest.raises(ConfigError, match=r"Expected cluster.sbatch_options to be a mapping of sbatch option names "
                                              r"\(without --\) to values, e.g. \{account: mylab, qos: normal\} \(not "
                                              r"array, output, error, open-mode, signal, wrap, parsable: mousefear "
                                              r"sets those\), but got"):
            Settings.default().updated({"cluster.sbatch_options": bad})


def test_the_command_submits_and_returns_with_no_wait(tmp_path, capsys):
    from mousefear.cli import main

    cfg = _motion(_project(tmp_path / "p"))
    assert main(["classify", str(cfg), "--executor", "local", "--no-wait", "--no-progress"]) == 0
    out = capsys.readouterr().out.splitlines()
    run = mousefear.run_status(cfg)["run"]
    assert re.fullmatch(rf"run {re.escape(run)}: submitted 3 task\(s\): \d+ \d+ \d+", out[0]), out
    assert out[1] == f"follow them with: mousefear status {cfg} --run {run}"
    _wait_for(lambda: mousefear.run_status(cfg)["totals"]["finished"] == 3, 60, "the tasks")
