"""run_status / mousefear status: per video windows done of all, NaN windows, who holds it, the last error."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import write_video

import mousefear
from mousefear.backends.fake import FakeWindowBackend
from mousefear.cli import main
from mousefear.core.project import Project
from mousefear.errors import ModelError, ProjectError

BEHAVIORS = ["freezing", "exploring", "grooming", "rearing", "fleeing"]


@pytest.fixture
def cfg(tmp_path) -> Path:
    """Two videos: m1_day1 (45 frames at 15 fps: 3 windows) and m2_day1 (60 frames: 4 windows)."""
    src = tmp_path / "src"
    src.mkdir()
    videos = [write_video(src / "m1_day1.avi", n_frames=45), write_video(src / "m2_day1.avi", n_frames=60)]
    path = Path(mousefear.create_project("fc", "t", videos, working_directory=tmp_path, date="2026-11-23"))
    with Project.open(path).edit() as doc:
        c = doc["classification"]
        c.update(frames_per_window=2, icl_per_class=0, max_unparseable=1.0)
        c["preprocessing"]["max_pixels"] = 28 * 28 * 4
    return path


class Breaking(FakeWindowBackend):
    """The fake model breaking on window 2 of every video; ``breaks`` is no parameter, so a later call with the
    plain fake model (same ``unparseable``) resumes the same run."""

    breaks = (2,)

    def classify(self, windows):
        for w in windows:
            if w.index in self.breaks:
                raise ModelError(f"fake model: window {w.index} of {w.video_id} broke")
        return super().classify(windows)


def _rows(cfg: Path, run: str) -> dict[str, dict]:
    return {r["video_id"]: r for r in mousefear.run_status(cfg, run=run)["videos"]}


def test_a_finished_run_with_nan_windows(cfg):
    mousefear.classify_videos(cfg, run="r", backend=FakeWindowBackend(BEHAVIORS, unparseable=[1]), progress=False)
    status = mousefear.run_status(cfg, run="r")
    assert status["run"] == "r" and status["folder"] == str(cfg.parent / "behavior-vectors" / "r")
    rows = {r["video_id"]: r for r in status["videos"]}
    assert [(r["state"], r["windows_done"], r["windows_total"], r["nan_windows"]) for r in rows.values()] == [
        ("finished", 3, 3, 1), ("finished", 4, 4, 1)]
    assert all(r["holder"] is None and r["task"] is None and r["last_error"] is None for r in rows.values())
    assert status["tasks"] == []
    assert status["totals"] == {"videos": 2, "finished": 2, "windows_done": 7, "windows_total": 7, "nan_windows": 2,
                                "running": 0, "queued": 0, "failed": 0, "stopped": 0, "not started": 0}


def test_a_run_stopped_by_a_failing_window_shows_its_windows_and_the_error(cfg):
    with pytest.raises(ModelError):
        mousefear.classify_videos(cfg, run="r", backend=Breaking(BEHAVIORS, unparseable=[0]), progress=False)
    rows = _rows(cfg, "r")
    m1, m2 = rows["m1_day1"], rows["m2_day1"]
    assert (m1["state"], m1["windows_done"], m1["windows_total"], m1["nan_windows"]) == ("failed", 2, 3, 1)
    assert m1["last_error"]["error"] == "ModelError: fake model: window 2 of m1_day1 broke"
    assert m1["last_error"]["pid"] == os.getpid() and m1["last_error"]["host"] == socket.gethostname()
    assert (m2["state"], m2["windows_done"], m2["windows_total"]) == ("failed", 0, 4)  # the call stopped before it
    assert m1["holder"] is None  # the lock went with the call
    mousefear.classify_videos(cfg, run="r", backend=FakeWindowBackend(BEHAVIORS, unparseable=[0]), progress=False)
    assert [(r["state"], r["last_error"]) for r in _rows(cfg, "r").values()] == [("finished", None)] * 2
    assert not (cfg.parent / "cache" / "_tasks" / "r").exists()  # nothing left: no lock, no error


def test_status_names_the_process_that_holds_a_video_and_sees_one_that_is_gone(cfg):
    with pytest.raises(ModelError):
        mousefear.classify_videos(cfg, run="r", backend=Breaking(BEHAVIORS), progress=False)
    lock = cfg.parent / "cache" / "_tasks" / "r" / "m1_day1.lock"
    lock.write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": "2026-11-23T10:00:00+00:00",
                                "task": "SLURM job 12_0", "slurm_job_id": "13", "run": "r", "video": "m1_day1"}))
    m1 = _rows(cfg, "r")["m1_day1"]
    assert m1["state"] == "running" and m1["holder"]["alive"] is True and m1["holder"]["task"] == "SLURM job 12_0"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    lock.write_text(json.dumps({"pid": int(dead), "host": socket.gethostname(), "since": "2026-11-23T10:00:00+00:00"}))
    m1 = _rows(cfg, "r")["m1_day1"]
    assert m1["holder"]["alive"] is False and m1["state"] == "failed"  # its last error; nobody works on it
    lock.write_text(json.dumps({"pid": 1, "host": "another-host", "since": "2026-11-23T10:00:00+00:00"}))
    m1 = _rows(cfg, "r")["m1_day1"]
    assert m1["holder"]["alive"] is None and m1["state"] == "running"  # cannot be told: taken as working


def test_status_of_the_run_classify_would_make_before_anything_is_written(cfg):
    with Project.open(cfg).edit() as doc:
        doc["classification"]["backend"] = "motion"
    status = mousefear.run_status(cfg)
    assert status["run"] == mousefear.pipeline.classify.default_run_name(cfg)
    assert [(r["state"], r["windows_done"], r["windows_total"]) for r in status["videos"]] == [
        ("not started", 0, 3), ("not started", 0, 4)]
    with pytest.raises(ProjectError, match=r"^Expected a run among none \(folders of .*behavior-vectors and .*cache\), "
                                           r"but got 'nope'$"):
        mousefear.run_status(cfg, run="nope")


def test_the_command_prints_a_table_or_json(cfg, capsys):
    mousefear.classify_videos(cfg, run="r", backend=FakeWindowBackend(BEHAVIORS, unparseable=[0]), progress=False,
                              videos=["m1_day1"])
    assert main(["status", str(cfg), "--run", "r"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (f"run r ({cfg.parent / 'behavior-vectors' / 'r'}): 1 of 2 video(s) finished; 1 not started; "
                      "windows 3 of 7 (42.9 %), 1 without a behaviour (NaN)")
    assert out[1].split() == ["video", "windows", "NaN", "state", "who", "/", "last", "error"]
    assert out[2].split() == ["m1_day1", "3/3", "1", "finished"]
    assert out[3].split() == ["m2_day1", "0/4", "0", "not", "started"]
    assert main(["status", str(cfg), "--run", "r", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == mousefear.run_status(cfg, run="r")
    assert mousefear.run_status(cfg, run="r")["tasks"] == []


def test_classify_refuses_an_unknown_executor_and_no_wait_without_tasks(cfg, capsys):
    from mousefear.errors import ConfigError

    with pytest.raises(ConfigError, match=r"^Expected executor to be one of inline, local, slurm, but got 'sge'$"):
        mousefear.classify_videos(cfg, executor="sge")
    assert main(["classify", str(cfg), "--no-wait"]) == 2
    assert capsys.readouterr().err.strip() == "mousefear classify: error: --no-wait needs --executor slurm or local"
