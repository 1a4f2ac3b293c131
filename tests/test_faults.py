"""The fault suite: what a hostile user, a broken server, a full disk or a killed process does to mousefear.

Each section is one numbered case of issue 12; each test states the fault and what a user must see: one line
naming the file or server and the problem, exit status 2 from the command line, nothing half-written, no data
lost, never a wrong result with exit status 0, never a wait without an end.

 1. a video changed after registration           7. paths and names taken from a user
 2. answers a server cannot give (NaN vs failure)   8. implausible frame rates
 3. temporary files of interrupted writes         9. two processes on one run
 4. a server that trickles or hangs              10. errors before a run starts leave nothing
 5. read-only folder, full disk, HTTP 4xx, ...   11. the browser pages' connections
 6. the API key echoed by a server

Run it alone with ``python -m pytest -q tests/test_faults.py``. The disk-full and read-only tests mount a small
tmpfs or a read-only bind mount and need root (they skip with the reason otherwise; the read-only tests then use
folder permissions).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from _fault_server import FaultServer
from conftest import REPO, snapshot, write_video

import mousefear
from mousefear import errors
from mousefear._io import atomic_path, atomic_write_text
from mousefear.backends.fake import FakeWindowBackend
from mousefear.cli import main
from mousefear.core.project import Project
from mousefear.errors import ConfigError, ModelError, ProjectError, VideoError
from mousefear.formats.vectors import read_vector_windows

BEHAVIORS = ["freezing", "exploring", "grooming", "rearing", "fleeing"]
KEY = "sk-fault-suite-0123456789"


# ------------------------------------------------------------------------------------------------------ helpers
def _settings(cfg: Path, **classification) -> Path:
    """Small frames, no in-context examples, then ``classification`` changes (dotted: ``openai.timeout_seconds``)."""
    with Project.open(cfg).edit() as doc:
        c = doc["classification"]
        c["frames_per_window"] = 2
        c["icl_per_class"] = 0
        c["preprocessing"]["max_pixels"] = 28 * 28 * 4
        for key, value in classification.items():
            node = c
            *parents, leaf = key.split(".")
            for part in parents:
                node = node[part]
            node[leaf] = value
    return cfg


def _server_project(cfg: Path, server: FaultServer, **openai) -> Path:
    """Point a project at a fault server (quick retries)."""
    settings = {"backend": "openai", "model": "m", "model_family": "qwen2_5_vl",  # "m" has no config.json to read
                "openai.base_url": server.base_url, "openai.max_attempts": 2,
                "openai.backoff_seconds": 0.05, "openai.timeout_seconds": 5.0, "openai.max_concurrency": 1,
                "openai.api_key_env": "MOUSEFEAR_FAULT_KEY"}
    settings.update({f"openai.{k}": v for k, v in openai.items()})
    return _settings(cfg, **settings)


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    """Run the command line in this process; (exit status, stdout, stderr)."""
    capsys.readouterr()
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def _one_line(err: str, command: str) -> str:
    """The single error line of a failed command (and nothing else: no traceback; log lines and progress bars
    aside)."""
    lines = [line for line in re.split(r"[\r\n]+", err) if line.startswith("mousefear ")]
    assert len(lines) == 1 and lines[0].startswith(f"mousefear {command}: error: "), err
    assert "Traceback" not in err and "Error:" not in err.replace(lines[0], ""), err
    return lines[0]


def _classify_through(capsys, project: Path, modes_after: dict | None = None, **server_args):
    """``mousefear classify`` through a fault server: (exit status, its error line, the server, config.yaml)."""
    with FaultServer(**server_args) as server:
        cfg = _server_project(project, server)
        server.modes_after = modes_after or {}
        rc, _, err = _cli(capsys, "classify", cfg, "--run", "r", "--no-progress")
    return rc, _one_line(err, "classify"), server, cfg


def _paths(cfg: Path):
    return Project.open(cfg).paths


def _cache_indices(cfg: Path, run: str, video: str = "m1_day1") -> list[int]:
    path = _paths(cfg).cache(run) / video / "windows.jsonl"
    return [json.loads(line)["index"] for line in path.read_text().splitlines()] if path.is_file() else []


def _source(cfg: Path, video: str = "m1_day1") -> Path:
    """The file a registered video's link points at."""
    return Project.open(cfg).video(video).path.resolve()


def _swap_bytes(path: Path) -> None:
    """Other bytes, same size: one byte in the middle flipped (the modification time moves on by 2 s)."""
    st = path.stat()
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


class Breaking(FakeWindowBackend):
    """The fake model breaking (ModelError) on the window numbers in ``breaks``, which is not a parameter, so the
    run's identity is that of the plain fake model (a later call with it resumes the same run)."""

    breaks: tuple[int, ...] = ()

    def classify(self, windows):
        for w in windows:
            if w.index in self.breaks:
                raise ModelError(f"fake model: window {w.index} of {w.video_id} broke")
        return super().classify(windows)


def _breaking(*windows: int) -> Breaking:
    be = Breaking(BEHAVIORS)
    be.breaks = windows
    return be


@pytest.fixture
def fake_key(monkeypatch):
    monkeypatch.setenv("MOUSEFEAR_FAULT_KEY", KEY)
    return KEY


# ============================================================================================================
# 1. A video changed after registration
# ============================================================================================================
def test_a_video_swapped_for_other_bytes_of_the_same_size_is_refused(project):
    cfg = _settings(project)
    _swap_bytes(_source(cfg))
    before = snapshot(cfg.parent)
    with pytest.raises(VideoError) as err:
        mousefear.classify_videos(cfg, run="r", backend=FakeWindowBackend(BEHAVIORS), progress=False)
    msg = str(err.value)
    assert msg.startswith(f"{cfg.parent / 'videos' / 'm1_day1.avi'}: video m1_day1 is not the file registered: its "
                          "content changed (SHA-256 ")
    assert "replace=True" in msg and "mousefear add-videos CONFIG" in msg and "mousefear check CONFIG" in msg
    assert "\n" not in msg
    assert snapshot(cfg.parent) == before  # nothing classified, nothing written


def test_a_longer_file_is_refused_not_cut_at_the_registered_frame_count(project, tmp_path):
    cfg = _settings(project)
    write_video(_source(cfg), n_frames=60)
    with pytest.raises(VideoError, match=r"is not the file registered: its size changed from \d+ to \d+ bytes"):
        mousefear.classify_videos(cfg, run="r", backend=FakeWindowBackend(BEHAVIORS), progress=False)


def test_a_swap_that_keeps_size_and_time_is_found_with_verify_and_by_check(project):
    cfg = _settings(project)
    src = _source(cfg)
    st = src.stat()
    _swap_bytes(src)
    os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns))  # the cheap check cannot see this one
    with pytest.raises(VideoError, match="its content changed"):
        mousefear.classify_videos(cfg, run="r", backend=FakeWindowBackend(BEHAVIORS), progress=False, verify=True)
    with pytest.raises(VideoError, match=r"1 of 1 video\(s\) are not the files registered: m1_day1 \(content "
                                         r"\(SHA-256\) differs\)"):
        mousefear.check_videos(cfg)


def test_a_resumed_run_refuses_a_swapped_video_then_reregistering_classifies_it_again(project):
    cfg = _settings(project)
    with pytest.raises(ModelError):
        mousefear.classify_videos(cfg, run="r", backend=_breaking(2), progress=False)
    assert _cache_indices(cfg, "r") == [0, 1]
    src = _source(cfg)
    write_video(src, n_frames=45, moving=False)  # another recording of the same length
    with pytest.raises(VideoError, match="is not the file registered"):
        mousefear.classify_videos(cfg, run="r", backend=FakeWindowBackend(BEHAVIORS), progress=False)
    assert _cache_indices(cfg, "r") == [0, 1]  # the windows of the old file are neither used nor lost yet

    assert mousefear.add_videos(cfg, [src], replace=True) == ["m1_day1"]
    fake = FakeWindowBackend(BEHAVIORS)
    mousefear.classify_videos(cfg, run="r", backend=fake, progress=False)
    assert [s[:2] for s in fake.seen] == [("m1_day1", 0), ("m1_day1", 1), ("m1_day1", 2)]  # all from the new file
    attrs = read_vector_windows(_paths(cfg).vector_file("r", "m1_day1")).attrs
    assert attrs["video_sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()


def test_a_video_changed_while_it_is_classified_gets_no_result(project):
    cfg = _settings(project)
    src = _source(cfg)

    class Swapping(FakeWindowBackend):
        def classify(self, windows):
            if any(w.index == 1 for w in windows):
                _swap_bytes(src)
            return super().classify(windows)

    with pytest.raises(VideoError, match="video m1_day1 changed while it was being classified; its results are not "
                                         "written"):
        mousefear.classify_videos(cfg, run="r", backend=Swapping(BEHAVIORS), progress=False)
    assert not _paths(cfg).vector_file("r", "m1_day1").exists()
    assert not _paths(cfg).video_cache("r", "m1_day1").exists()  # its windows may come from two files


def test_a_registry_without_modification_times_hashes_and_check_records_them(project):
    cfg = _settings(project)
    with Project.open(cfg).edit() as doc:
        doc["videos"]["videos/m1_day1.avi"].pop("mtime_ns", None)
    assert Project.open(cfg).videos[0].mtime_ns is None
    mousefear.classify_videos(cfg, run="r", backend=FakeWindowBackend(BEHAVIORS), progress=False)  # hashed: fine
    table = mousefear.check_videos(cfg)
    assert table.to_dict("records") == [{"id": "m1_day1", "path": "videos/m1_day1.avi", "status": "ok, time recorded"}]
    assert Project.open(cfg).videos[0].mtime_ns == _source(cfg).stat().st_mtime_ns
    assert mousefear.check_videos(cfg)["status"].tolist() == ["ok"]


def test_check_command_names_the_changed_videos(project, make_video, capsys):
    cfg = _settings(project)
    mousefear.add_videos(cfg, [make_video("m2_day1.avi")])
    rc, out, _ = _cli(capsys, "check", cfg)
    assert rc == 0 and out.splitlines()[-1] == "2 video(s): every file is the one registered"
    write_video(_source(cfg, "m2_day1"), n_frames=50)
    rc, _, err = _cli(capsys, "check", cfg)
    line = _one_line(err, "check")
    assert rc == 2 and "1 of 2 video(s) are not the files registered: m2_day1 (size " in line
    assert "frames 45 -> 50" in line and "--replace" in line


# ============================================================================================================
# 2. Answers: a model that named no behaviour (kept, counted) vs a server that failed (retried, not cached)
# ============================================================================================================
@pytest.mark.parametrize("mode", ["empty", "list", "error", "choices_str"])
def test_an_unusable_answer_stops_the_run_and_is_not_cached(project, fake_key, mode):
    with FaultServer() as server:
        cfg = _server_project(project, server)
        server.modes_after = {1: mode}  # window 0 is answered well, then the server answers nonsense
        with pytest.raises(ModelError) as err:
            mousefear.classify_videos(cfg, run="r", progress=False)
        msg = str(err.value)
        assert msg.startswith(f"The server at {server.base_url} failed to answer window 1 of m1_day1 after 2 "
                              "attempt(s)") and "_BadAnswer" in msg and "\n" not in msg
        assert _cache_indices(cfg, "r") == [0]  # the failed window has no result: resume retries it
        assert not _paths(cfg).vector_file("r", "m1_day1").exists()
        server.mode = "ok"  # the server is fixed
        mousefear.classify_videos(cfg, run="r", progress=False)
    table = read_vector_windows(_paths(cfg).vector_file("r", "m1_day1"))
    assert table["label"].tolist() == ["freezing"] * 3  # no NaN window: every window was answered


def test_unparseable_answers_are_kept_counted_and_too_many_end_the_run(project):
    cfg = _settings(project)
    fake = FakeWindowBackend(BEHAVIORS, unparseable=[1])
    with pytest.raises(ModelError) as err:
        mousefear.classify_videos(cfg, run="r", backend=fake, progress=False)
    folder = _paths(cfg).vectors("r")
    assert str(err.value) == (
        "Run 'r': too many windows without a behaviour (the answer named no behaviour): m1_day1 1 of 3 (33.3 %); "
        f"classification.max_unparseable of {cfg} allows 5 %. The vector files are written (NaN where no behaviour "
        f"was decided; a model's answers are in their windows/text) and the counts in {folder / 'unparseable.json'}. "
        "Look at the results, change the settings, or raise classification.max_unparseable")
    assert json.loads((folder / "unparseable.json").read_text()) == {
        "max_unparseable": 0.05, "over_limit": ["m1_day1"],
        "videos": {"m1_day1": {"windows": 3, "unparseable": 1, "fraction": 0.333333}}}
    table = read_vector_windows(folder / "m1_day1.h5")
    assert table["label"].tolist()[1] == "" and table["text"].tolist()[1] == "?"  # kept, never guessed
    with pytest.raises(ModelError, match="too many windows"):  # a second call does not pretend all is well
        mousefear.classify_videos(cfg, run="r", backend=fake, progress=False)
    _settings(cfg, max_unparseable=0.5)
    mousefear.classify_videos(cfg, run="r", backend=fake, progress=False)
    record = json.loads((folder / "unparseable.json").read_text())
    assert record["max_unparseable"] == 0.5 and record["over_limit"] == []


def test_a_model_that_names_no_behaviour_is_not_retried_and_the_command_fails(project, fake_key, capsys):
    rc, line, server, cfg = _classify_through(capsys, project, answer="The mouse sits in the corner.")
    assert rc == 2 and ("too many windows without a behaviour (the answer named no behaviour): m1_day1 3 of 3 "
                        "(100.0 %)") in line
    assert len(server.window_requests()) == 3  # one request per window: an answer is not a failure
    assert _cache_indices(cfg, "r") == [0, 1, 2]


# ============================================================================================================
# 3. Temporary files of interrupted writes
# ============================================================================================================
def test_temporary_names_never_look_like_results(tmp_path):
    for name in ("m1_day1.h5", "m1_day1.csv", "run.json"):
        with atomic_path(tmp_path / name) as tmp:
            assert tmp.name.startswith(f".{name}.") and tmp.name.endswith(".tmp"), tmp.name
            assert tmp.suffix == ".tmp"
            tmp.write_text("x")


_WRITER = """
import sys, time
sys.path.insert(0, {repo!r})
from mousefear._io import atomic_path
with atomic_path({target!r}) as tmp:
    tmp.write_bytes(b"half a file")
    print("writing", flush=True)
    time.sleep(120)
"""


def test_leftovers_of_a_killed_writer_are_removed_by_the_next_write_but_not_those_of_a_live_one(tmp_path):
    target = tmp_path / "m1_day1.h5"
    writers = [subprocess.Popen([sys.executable, "-c", _WRITER.format(repo=str(REPO), target=str(target))],
                                stdout=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        for w in writers:
            assert w.stdout.readline().strip() == "writing"
        writers[0].send_signal(signal.SIGKILL)
        writers[0].wait()
        temps = sorted(p.name for p in tmp_path.iterdir())
        assert len(temps) == 2 and all(t.startswith(".m1_day1.h5.") for t in temps)
        legacy = tmp_path / ".m1_day1.k2j4x9.tmp.h5"  # left by an older version of mousefear
        legacy.write_bytes(b"not an HDF5 file")
        atomic_write_text(target, "complete")
        left = sorted(p.name for p in tmp_path.iterdir())
        assert left == sorted(["m1_day1.h5", *(t for t in temps if f"-{writers[1].pid}." in t)])
    finally:
        for w in writers:
            w.kill()
            w.wait()


def test_a_leftover_temporary_vector_file_does_not_disturb_the_run(project):
    cfg = _settings(project)
    mousefear.classify_videos(cfg, run="r", backend=FakeWindowBackend(BEHAVIORS), progress=False)
    target = _paths(cfg).vectors("r") / "m1_day1.h5"
    writer = subprocess.Popen([sys.executable, "-c", _WRITER.format(repo=str(REPO), target=str(target))],
                              stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline().strip() == "writing"
    writer.send_signal(signal.SIGKILL)  # killed while it wrote the vector file
    writer.wait()
    legacy = target.parent / ".m1_day1.3f9a1c.tmp.h5"  # as older versions named them
    legacy.write_bytes(b"half")
    leftovers = sorted(p for p in target.parent.iterdir() if p.name.startswith(".m1_day1."))
    assert len(leftovers) == 2
    assert list(Project.open(cfg).vector_files("r")) == ["m1_day1"]
    mousefear.summarize(cfg, run="r", plot=False)  # reads the files it expects, by name
    mousefear.classify_videos(cfg, run="r", backend=FakeWindowBackend(BEHAVIORS), progress=False, overwrite=True)
    assert not [p for p in leftovers if p.exists()]  # the next write of m1_day1.h5 removed both


# ============================================================================================================
# 4. A server that trickles or hangs: the timeout bounds the whole request
# ============================================================================================================
def _openai_backend(server: FaultServer, **params):
    from mousefear.backends.openai import OpenAIBackend
    from mousefear.core.prompts import load_prompt_template, render_prompt
    from mousefear.core.settings import Settings

    settings = Settings.default().updated({"classification.backend": "openai", "classification.model": "m",
                                           "classification.model_family": "qwen2_5_vl"})
    be = OpenAIBackend.from_settings(settings, base_url=server.base_url, api_key_env="MOUSEFEAR_FAULT_KEY", **params)
    be.load()
    be.prepare(render_prompt(load_prompt_template("default"), [(b, f"the mouse is {b}") for b in BEHAVIORS]), [])
    return be


def _window(i: int = 0):
    from mousefear.core.video import Window

    frames = np.random.default_rng(i).integers(0, 256, (2, 28, 28, 3), dtype=np.uint8)
    return Window("m1_day1", i, 15 * i, 15 * i + 15, np.array([15 * i, 15 * i + 7]), frames, 15.0)


@pytest.mark.parametrize("mode", ["trickle", "hang"])
def test_a_slow_server_cannot_hold_a_window_longer_than_attempts_times_timeout(mode, fake_key):
    timeout, attempts, backoff = 1.0, 2, 0.2
    with FaultServer(mode=mode, trickle_interval=0.2, trickle_for=15.0, hang_for=15.0) as server:
        be = _openai_backend(server, timeout_seconds=timeout, max_attempts=attempts, backoff_seconds=backoff)
        t0 = time.monotonic()
        with pytest.raises(ModelError) as err:
            be.classify([_window()])
        elapsed = time.monotonic() - t0
    bound = attempts * timeout + backoff * (2 ** (attempts - 1) - 1)
    assert bound - 0.1 <= elapsed < bound + 2.0, elapsed  # (a trickle used to hold each attempt 15 s here)
    assert "after 2 attempt(s)" in str(err.value) and "TimeoutError: no complete answer within 1 s" in str(err.value)
    assert len(server.window_requests()) == attempts


# ============================================================================================================
# 5. One line, exit status 2, nothing half-written: read-only folder, full disk, HTTP 4xx, wrong JSON, deep JSON
# ============================================================================================================
@contextlib.contextmanager
def _read_only(folder: Path):
    """Make ``folder`` read-only: a read-only bind mount as root (root ignores permissions), else permissions."""
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in [folder, *folder.rglob("*")] if p.is_dir() and not p.is_symlink()}
        for p in modes:
            p.chmod(0o555)
        try:
            yield "Permission denied"
        finally:
            for p, mode in modes.items():
                p.chmod(mode)
        return
    r = subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot make a read-only bind mount ({r.stderr.strip()}): the test needs CAP_SYS_ADMIN")
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(folder)], check=True, capture_output=True)
        yield "Read-only file system"
    finally:
        subprocess.run(["umount", str(folder)], check=True)


@pytest.mark.parametrize("command", ["classify", "add-videos", "import-labels", "extract-exemplars"])
def test_a_read_only_project_gives_one_line(project, make_video, tmp_path, capsys, command):
    cfg = _settings(project, backend="motion", **{"motion.method": "pixels"})
    labels = tmp_path / "m1_day1.csv"
    labels.write_text("frame,behavior\n" + "".join(f"{i},freezing\n" for i in range(45)))
    args = {"classify": ["--run", "r", "--no-progress"], "add-videos": [make_video("m2_day1.avi")],
            "import-labels": [labels], "extract-exemplars": ["--method", "uniform"]}[command]
    before = snapshot(cfg.parent)
    with _read_only(cfg.parent) as reason:
        rc, _, err = _cli(capsys, command, cfg, *args)
    line = _one_line(err, command)
    assert rc == 2 and f"{cfg.parent}{os.sep}" in line and f"cannot write it ({reason})" in line, line
    assert ".tmp" not in line  # the file meant, never a temporary name
    assert snapshot(cfg.parent) == before


_FULL_DISK = """
import sys
sys.path.insert(0, {repo!r})
from mousefear.cli import main
sys.exit(main(["classify", {cfg!r}, "--run", "r", "--no-progress"]))
"""


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MB tmpfs (root only): the folder, and a function that fills it up to ``free`` bytes."""
    if os.geteuid() != 0:
        pytest.skip("a full disk is made with a small tmpfs, which needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs ({r.stderr.strip()}): the test needs CAP_SYS_ADMIN")

    def fill(free: int) -> Path:
        filler = disk / "filler"
        filler.unlink(missing_ok=True)
        st = os.statvfs(disk)
        with open(filler, "wb") as fh:
            fh.write(b"\0" * max(0, st.f_bavail * st.f_frsize - free))
        return filler

    yield disk, fill
    subprocess.run(["umount", str(disk)], check=True)


def test_a_full_disk_gives_one_line_and_a_resume_gives_the_same_files(small_disk, tmp_path):
    """The motion backend on a disk with 40 to 250 KB free: at about 230 KB the HDF5 library used to crash
    (segmentation fault) while it wrote the behaviour vector."""
    disk, fill = small_disk
    video = write_video((tmp_path / "m1_day1.avi"), n_frames=1800, fps=30.0)
    straight = mousefear.create_project("fc", "t", [video], working_directory=tmp_path / "straight", date="2026-11-23")
    _settings(straight, backend="motion", **{"motion.method": "pixels"})
    mousefear.classify_videos(straight, run="r", progress=False)
    for free_kb in (40, 120, 200, 230, 250):
        root = disk / f"p{free_kb}"
        cfg = mousefear.create_project("fc", "t", [video], working_directory=root, date="2026-11-23")
        _settings(cfg, backend="motion", **{"motion.method": "pixels"})
        filler = fill(free_kb * 1024)
        r = subprocess.run([sys.executable, "-c", _FULL_DISK.format(repo=str(REPO), cfg=str(cfg))],
                           capture_output=True, text=True, cwd=REPO)
        assert r.returncode == 2, (free_kb, r.returncode, r.stderr[-2000:])
        line = _one_line(r.stderr, "classify")
        assert f"{cfg.parent}{os.sep}" in line and "cannot write it (No space left on device)" in line, line
        assert not [p for p in cfg.parent.rglob("*") if p.name.endswith(".tmp")]  # no temporary file left
        h5 = _paths(cfg).vector_file("r", "m1_day1")
        assert not h5.exists() or len(read_vector_windows(h5)) == 60  # no half result: none, or a whole one
        filler.unlink()
        mousefear.classify_videos(cfg, run="r", progress=False)
        a, b = _paths(cfg).vector_file("r", "m1_day1"), _paths(straight).vector_file("r", "m1_day1")
        assert a.with_suffix(".csv").read_bytes() == b.with_suffix(".csv").read_bytes(), free_kb
        shutil.rmtree(root)


def test_a_refused_request_mid_run_gives_one_line_and_keeps_what_was_done(project, fake_key, capsys):
    rc, line, server, cfg = _classify_through(capsys, project, modes_after={1: "bad_request"})
    assert rc == 2 and line == (
        f"mousefear classify: error: The server at {server.base_url} refused window 1 of m1_day1 (HTTP 400: "
        '{"error": "image too large"}); that window has no result and the windows classified before it are saved, '
        "so running again resumes there once the cause is fixed")
    assert _cache_indices(cfg, "r") == [0]


def test_an_answer_of_the_wrong_shape_gives_one_line(project, fake_key, capsys):
    rc, line, _, _ = _classify_through(capsys, project, mode="list")
    assert rc == 2 and "failed to answer window 0 of m1_day1 after 2 attempt(s)" in line
    assert "Expected a JSON object (a chat completion), but got a list: []" in line


def test_deeply_nested_json_posted_to_the_pages_is_refused(proj, caplog):
    from mousefear.gui import start_labelling

    server = start_labelling(proj)
    try:
        def post(body: bytes) -> tuple[int, dict]:
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            conn.request("POST", "/api/label/answer", body=body,
                         headers={"Content-Type": "application/json", "Origin": f"http://127.0.0.1:{server.port}"})
            resp = conn.getresponse()
            data = json.loads(resp.read())
            conn.close()
            return resp.status, data

        deep = b"[" * 200_000 + b"]" * 200_000
        status, data = post(deep)
        assert status == 400 and data["error"].startswith("Expected a JSON body nested at most 32 levels deep")
        nested: object = "x"
        for _ in range(32):  # 33 levels with the object around it
            nested = [nested]
        status, data = post(json.dumps({"id": nested}).encode())
        assert status == 400 and "nested at most 32" in data["error"]
        status, data = post(json.dumps({"id": "no-such-candidate", "answer": "freezing"}).encode())
        assert status in (400, 404) and "nested" not in data["error"]  # an ordinary body is read as usual
    finally:
        server.stop()
    assert "RecursionError" not in caplog.text and "Traceback" not in caplog.text


def test_write_errors_name_the_file_meant_not_a_temporary_one(tmp_path, monkeypatch):
    target = tmp_path / "labels" / "m1_day1.csv"
    real_open = open

    def full_disk_open(file, mode="r", *args, **kwargs):
        fh = real_open(file, mode, *args, **kwargs)
        if "w" in mode and str(file).endswith(".tmp"):
            fh.close()
            raise OSError(errno.ENOSPC, "No space left on device")
        return fh

    monkeypatch.setattr("builtins.open", full_disk_open)
    with pytest.raises(errors.FileWriteError) as err:
        atomic_write_text(target, "frame,behavior\n")
    assert str(err.value) == (f"{target}: cannot write it (No space left on device); free some space on that disk "
                              "and run the command again (nothing half-written was left)")
    assert err.value.errno == errno.ENOSPC and err.value.filename == str(target) and isinstance(err.value, OSError)
    assert list((tmp_path / "labels").iterdir()) == []


# ============================================================================================================
# 6. An API key echoed back by a server is in no message and no log line
# ============================================================================================================
def test_an_echoed_api_key_is_redacted_from_errors_and_logs(project, fake_key, capsys, caplog):
    caplog.set_level("DEBUG")
    with FaultServer(mode="echo_key_401") as server:
        with pytest.raises(ModelError) as err:
            _openai_backend(server)
        assert server.requests[0]["authorization"] == f"Bearer {KEY}"  # the key was sent ...
        msg = str(err.value)
        assert msg.startswith(f"The server at {server.base_url} refused the request (HTTP 401: ")
        assert "Invalid API key: Bearer <redacted>" in msg and "MOUSEFEAR_FAULT_KEY" in msg
        cfg = _server_project(project, server)
        server.mode = "ok"
        server.modes_after = {1: "echo_key_401"}  # ... and once the run is going
        rc, out, err_text = _cli(capsys, "classify", cfg, "--run", "r", "--no-progress")
    assert rc == 2 and "HTTP 401" in _one_line(err_text, "classify")
    for text in (msg, out, err_text, caplog.text):
        assert KEY not in text and "sk-fault" not in text  # ... but is printed nowhere


# ============================================================================================================
# 7. Paths and names taken from a user never leave the project
# ============================================================================================================
def test_a_run_name_in_config_yaml_that_climbs_out_is_refused_when_read(project):
    with Project.open(project).edit() as doc:
        doc["classification"]["run"] = "ok"
    text = project.read_text().replace("run: ok", "run: ../../../evil")
    project.write_text(text)
    with pytest.raises(ConfigError, match=r"config.yaml: Expected classification.run to be a run name of letters, "
                                          r"digits, '\.', '_' or '-' \(not starting with '\.', '_' or '-'\) or null, "
                                          r"but got '\.\./\.\./\.\./evil'"):
        Project.open(project)


@pytest.mark.parametrize("video_id", ["../../evil", ".hidden", "a/b", "a\\b"])
def test_a_video_id_in_the_registry_that_climbs_out_is_refused_when_read(project, video_id):
    text = project.read_text().replace("id: m1_day1", f"id: '{video_id}'")
    project.write_text(text)
    with pytest.raises(ConfigError, match=r"Expected videos\['videos/m1_day1.avi'\].id to be a file name without "):
        Project.open(project)


def test_project_paths_check_every_name(project):
    paths = _paths(project)
    for build in (lambda: paths.vectors("../x"), lambda: paths.cache("a/b"), lambda: paths.evaluation(".."),
                  lambda: paths.vector_file("r", "../../x"), lambda: paths.label_file("../x"),
                  lambda: paths.video_cache("r", ".."), lambda: paths.run_lock("../r"),
                  lambda: paths.exemplar("../../labels")):
        with pytest.raises(ProjectError, match="Expected"):
            build()
    with pytest.raises(ProjectError, match="Expected an exemplar id to be a file name"):
        mousefear.exemplar_frames(project, "../labels")


@pytest.mark.parametrize("args", [
    ["export-labels", "{cfg}", "m1_day1", "--run", "m/../../../OTHER"],
    ["export-labels", "{cfg}", "m1_day1", "--run", "../OTHER/behavior-vectors/x"],
    ["classify", "{cfg}", "--run", "../../x", "--no-progress"],
    ["evaluate", "{cfg}", "--run", "../x"],
    ["summarize", "{cfg}", "--run", "../x"],
    ["calibrate-motion", "{cfg}", "--from-labels", "--run", "../x"],
    ["compare-runs", "{cfg}", "--runs", "../x"],
    ["review", "{cfg}", "--run", "../x"],
])
def test_no_command_reads_or_writes_outside_the_project(project, tmp_path, capsys, args):
    cfg = _settings(project, backend="motion", **{"motion.method": "pixels"})
    mousefear.classify_videos(cfg, run="m", progress=False)
    other = tmp_path / "OTHER" / "behavior-vectors" / "x"
    other.mkdir(parents=True)
    before = snapshot(tmp_path)
    rc, _, err = _cli(capsys, *[a.format(cfg=cfg) for a in args])
    assert rc == 2 and ("Expected a run name of letters" in err or "Expected runs among" in err), err
    assert snapshot(tmp_path) == before


# ============================================================================================================
# 8. Frame rates: implausible ones are refused unless the user gives the real one
# ============================================================================================================
def _avi_with_rate(path: Path, rate: int, scale: int = 1, usec_per_frame: int | None = None) -> Path:
    """A synthetic AVI whose headers state ``rate / scale`` fps (and ``usec_per_frame`` in the main header)."""
    write_video(path, n_frames=30, fps=15.0)
    data = bytearray(path.read_bytes())
    strh = data.find(b"strh")
    struct.pack_into("<II", data, strh + 28, scale, rate)
    if usec_per_frame is not None:
        struct.pack_into("<I", data, data.find(b"avih") + 8, usec_per_frame)
    path.write_bytes(bytes(data))
    return path


def test_a_file_that_states_no_frame_rate_is_not_registered_at_opencvs_25(project, tmp_path):
    src = tmp_path / "src" / "m2_day1.avi"
    _avi_with_rate(src, rate=0, usec_per_frame=0)
    before = snapshot(project.parent)
    with pytest.raises(VideoError, match=r"m2_day1.avi: the file states no frame rate \(OpenCV would assume 25 fps\); "
                                         r"give the real one: add_videos\(config, FILES, fps=...\)"):
        mousefear.add_videos(project, [src])
    assert snapshot(project.parent) == before
    assert mousefear.add_videos(project, [src], fps=12.5) == ["m2_day1"]
    entry = Project.open(project).video("m2_day1")
    assert (entry.fps, entry.fps_given, entry.n_frames) == (12.5, True, 30)
    assert "fps_given: true" in project.read_text()


@pytest.mark.parametrize(("rate", "scale", "shown"), [(1_000_000, 1, "1e+06"), (1, 1000, "0.001")])
def test_implausible_frame_rates_are_refused_unless_given(project, tmp_path, capsys, rate, scale, shown):
    src = _avi_with_rate(tmp_path / "src" / "m2_day1.avi", rate=rate, scale=scale)
    rc, _, err = _cli(capsys, "add-videos", project, src)
    line = _one_line(err, "add-videos")
    assert rc == 2 and f"the file states {shown} frames per second, outside the plausible 0.5 to 1000" in line
    rc, out, _ = _cli(capsys, "add-videos", project, src, "--fps", "30")
    assert rc == 0 and Project.open(project).video("m2_day1").fps == 30.0
    with pytest.raises(VideoError, match="Expected fps to be a positive number of frames per second, but got 0"):
        mousefear.add_videos(project, [src], fps=0, replace=True)


def test_a_frame_rate_too_low_for_a_window_names_the_video_and_leaves_nothing(project):
    cfg = _settings(project)
    with Project.open(cfg).edit() as doc:
        doc["videos"]["videos/m1_day1.avi"]["fps"] = 0.001
    before = snapshot(cfg.parent)
    with pytest.raises(ConfigError) as err:
        mousefear.classify_videos(cfg, run="r", backend=FakeWindowBackend(BEHAVIORS), progress=False)
    assert snapshot(cfg.parent) == before
    assert str(err.value).startswith(f"{cfg.parent / 'videos' / 'm1_day1.avi'}: video m1_day1 is registered at "
                                     "0.001 fps: Expected window_seconds and stride_seconds to span at least one frame")


# ============================================================================================================
# 9. Two processes on one video: the second stops at once, naming the first; one on another video of the run goes
#    on beside it; a dead one's lock is taken over
# ============================================================================================================
_SLOW_RUN = """
import sys, time
sys.path.insert(0, {repo!r})
import mousefear
from mousefear.backends.fake import FakeWindowBackend

class Slow(FakeWindowBackend):
    def classify(self, windows):
        print("window", windows[0].index, flush=True)
        time.sleep(0.5)
        return super().classify(windows)

mousefear.classify_videos({cfg!r}, videos=["m1_day1"], run="r", backend=Slow({behaviors!r}), progress=False)
"""


def test_a_second_process_on_the_same_video_stops_at_once_and_a_dead_ones_lock_is_taken_over(tmp_path, make_video):
    videos = [make_video("m1_day1.avi", n_frames=150), make_video("m2_day1.avi")]  # m1: 10 windows of 0.5 s work
    cfg = _settings(mousefear.create_project("fc", "t", videos, working_directory=tmp_path, date="2026-11-23"))
    first = subprocess.Popen([sys.executable, "-c", _SLOW_RUN.format(repo=str(REPO), cfg=str(cfg),
                                                                     behaviors=BEHAVIORS)],
                             stdout=subprocess.PIPE, text=True)
    lock = cfg.parent / "cache" / "_tasks" / "r" / "m1_day1.lock"
    try:
        assert first.stdout.readline().split()[0] == "window"
        t0 = time.monotonic()
        with pytest.raises(ProjectError) as err:  # every video, so m1_day1 too
            mousefear.classify_videos(cfg, run="r", backend=FakeWindowBackend(BEHAVIORS), progress=False)
        assert time.monotonic() - t0 < 5
        assert str(err.value).startswith(f"{lock}: video m1_day1 of run 'r' is in use by process {first.pid} on "
                                         f"host {socket.gethostname()} since ")
        held = json.loads(lock.read_text())
        assert (held["pid"], held["run"], held["video"]) == (first.pid, "r", "m1_day1")
        assert not _paths(cfg).vector_file("r", "m2_day1").exists()  # the refused call classified nothing
        # another video of the same run is classified beside the first process
        mousefear.classify_videos(cfg, videos=["m2_day1"], run="r", backend=FakeWindowBackend(BEHAVIORS),
                                  progress=False)
        assert _paths(cfg).vector_file("r", "m2_day1").is_file() and first.poll() is None
        first.stdout.readline()
        first.send_signal(signal.SIGKILL)  # killed: its lock stays behind
        first.wait()
    finally:
        first.kill()
        first.wait()
    done = _cache_indices(cfg, "r")
    assert lock.exists() and 1 <= len(done) < 10
    fake = FakeWindowBackend(BEHAVIORS)
    mousefear.classify_videos(cfg, run="r", backend=fake, progress=False)  # takes the dead process's lock over
    assert [s[1] for s in fake.seen] == list(range(len(done), 10))
    assert _cache_indices(cfg, "r") == list(range(10))  # every window once, in order
    assert not lock.exists() and not lock.parent.exists()
    assert sorted(mousefear.read_vector(_paths(cfg).vector_file("r", v)).attrs["video_id"]
                  for v in ("m1_day1", "m2_day1")) == ["m1_day1", "m2_day1"]


def test_the_lock_holds_pid_and_host_and_is_removed_afterwards(tmp_path):
    from mousefear._io import lock_file

    lock = tmp_path / "r.lock"
    with lock_file(lock, "run 'r'"):
        held = json.loads(lock.read_text())
        assert (held["pid"], held["host"]) == (os.getpid(), socket.gethostname())
        with pytest.raises(ProjectError, match=f"run 'r' is in use by process {os.getpid()} on host"):
            with lock_file(lock, "run 'r'"):
                pass
    assert not lock.exists()


# ============================================================================================================
# 10. Errors before a run starts leave nothing: no run.json, no prompt.txt, no cache
# ============================================================================================================
def _edit_entry(cfg: Path, **values) -> None:
    with Project.open(cfg).edit() as doc:
        doc["videos"]["videos/m1_day1.avi"].update(values)


@pytest.mark.parametrize("fault", ["deleted video", "frame count", "frame size"])
def test_an_early_error_leaves_the_project_as_it_was(project, fault):
    cfg = _settings(project)
    if fault == "deleted video":
        _source(cfg).unlink()
        expected = "video m1_day1 is registered but the file is missing (a link to a file that is gone)"
    elif fault == "frame count":
        _edit_entry(cfg, n_frames=30)
        expected = "does not match its registry entry in config.yaml: the file announces 45 frames, registered with 30"
    else:
        _edit_entry(cfg, width=32, crop=[0, 0, 32, 48])
        expected = "does not match its registry entry in config.yaml: its frames are 64x48 pixels, registered as 32x48"
    before = snapshot(cfg.parent)
    with pytest.raises(VideoError) as err:
        mousefear.classify_videos(cfg, run="r", backend=FakeWindowBackend(BEHAVIORS), progress=False)
    assert snapshot(cfg.parent) == before
    assert expected in str(err.value)


def test_a_server_that_is_gone_before_the_first_window_leaves_nothing(project, fake_key):
    with FaultServer(die_after=3) as server:  # answers the three probe requests, then is gone
        cfg = _server_project(project, server)
        before = snapshot(cfg.parent)
        with pytest.raises(ModelError, match="failed to answer window 0 of m1_day1 after 2 attempt"):
            mousefear.classify_videos(cfg, run="r", progress=False)
    assert snapshot(cfg.parent) == before


# ============================================================================================================
# 11. The browser pages: bounded connections, idle connections closed
# ============================================================================================================
def test_the_pages_serve_a_bounded_number_of_connections(proj, monkeypatch):
    from mousefear.gui import start_labelling
    from mousefear.gui.server import GuiServer

    monkeypatch.setattr(GuiServer, "max_connections", 8, raising=False)
    server = start_labelling(proj)
    socks = []
    try:
        threads_before = threading.active_count()
        for _ in range(60):  # half-open connections that never send a request
            socks.append(socket.create_connection(("127.0.0.1", server.port), timeout=5))
        time.sleep(0.5)
        assert threading.active_count() - threads_before <= 8
        refused = 0
        for s in socks:
            s.settimeout(0.2)
            with contextlib.suppress(OSError):
                if s.recv(64).startswith(b"HTTP/1.1 503"):
                    refused += 1
        assert refused == 60 - 8
        for s in socks:
            s.close()
        socks.clear()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # the slots come back: the page is served again
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
            try:
                conn.request("GET", "/api/pages")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                pass
            finally:
                conn.close()
            time.sleep(0.1)
        else:
            pytest.fail("the page was not served again after the connections closed")
    finally:
        for s in socks:
            s.close()
        server.stop()


def test_the_pages_close_a_connection_that_stays_silent(proj, monkeypatch):
    from mousefear.gui import start_labelling
    from mousefear.gui.server import GuiServer

    monkeypatch.setattr(GuiServer, "idle_seconds", 0.5, raising=False)
    server = start_labelling(proj)
    try:
        s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        t0 = time.monotonic()
        assert s.recv(64) == b""  # closed by the server ...
        assert time.monotonic() - t0 < 3  # ... soon after it went idle
        s.close()
    finally:
        server.stop()
