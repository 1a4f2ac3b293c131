"""Shared fixtures: tiny synthetic videos with known content, fresh projects, the real-data folder."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from _gui_helpers import base_project, proj  # noqa: F401 (fixtures of test_gui.py and test_gui_browser.py)
from _slurm import slurm_cluster  # noqa: F401 (a single-node SLURM cluster, for test_cluster.py)

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("MOUSEFEAR_SHARED_DATA", REPO.parent / "shared" / "data"))


def shared_file(relative: str) -> Path:
    """Path of a file in ../shared/data (real videos and their labels), or skip the test with the reason."""
    path = SHARED_DATA / relative
    if not path.is_file():
        pytest.skip(f"real data not available: {path} is missing (../shared/data is not beside the checkout)")
    return path


@pytest.fixture
def shared_video():
    """``shared_video("tracktor/mouse_video.mp4")``: the path of a real file in ../shared/data, or skip the test.

    Tests that use it are marked ``integration`` (they decode real videos)."""
    return shared_file


def write_video(path: Path, n_frames: int = 45, fps: float = 15.0, size: tuple[int, int] = (64, 48),
                fourcc: str = "MJPG", moving: bool = True) -> Path:
    """Write a small synthetic video: a dark square on a light floor, moving one pixel per frame.

    Frame ``i`` has the square's left edge at ``x = 4 + i % (width - 16)`` (when ``moving``), so content is
    known exactly for every frame.
    """
    w, h = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    assert writer.isOpened(), f"OpenCV cannot write {path}"
    for i in range(n_frames):
        frame = np.full((h, w, 3), 200, np.uint8)
        x = 4 + (i % (w - 16) if moving else 0)
        frame[h // 2 - 5:h // 2 + 5, x:x + 10] = 30
        writer.write(frame)
    writer.release()
    return path


@pytest.fixture
def make_video(tmp_path):
    """Factory: ``make_video("m1_day1.avi", n_frames=..., fps=...)`` writes a synthetic video in tmp_path/src."""
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)

    def make(name: str = "m1_day1.avi", **kwargs) -> Path:
        fourcc = "mp4v" if name.endswith(".mp4") else "MJPG"
        kwargs.setdefault("fourcc", fourcc)
        return write_video(src / name, **kwargs)

    return make


@pytest.fixture
def project(tmp_path, make_video):
    """A fresh project with one 3-second video m1_day1 (15 fps, 45 frames); returns config.yaml's path."""
    import mousefear

    video = make_video("m1_day1.avi")
    return mousefear.create_project("fc", "tester", [video], working_directory=tmp_path / "projects",
                                    date="2026-11-23")


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` (links as their target path) -> content, to check nothing changed."""
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        if p.is_symlink():
            out[rel] = ("link:" + os.readlink(p)).encode()
        elif p.is_file():
            out[rel] = p.read_bytes()
        else:
            out[rel + "/"] = b""
    return out


#: Fixtures that make a test an integration test (a model, a server, a browser, real videos): marked
#: ``integration`` automatically, so ``pytest -m "not integration"`` runs the fast unit tests alone.
INTEGRATION_FIXTURES = ("tiny_qwen", "tiny_qwen3", "tiny_model", "shim", "browser", "page", "shared_video",
                        "serve_log", "slurm_cluster")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if any(f in getattr(item, "fixturenames", ()) for f in INTEGRATION_FIXTURES):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def tiny_qwen(tmp_path_factory) -> Path:
    """Folder of a tiny random Qwen2.5-VL (mousefear.testing.build_tiny_qwen), built once per test session.

    It loads through the same from_pretrained code path as the real model, so the real processor, chat template,
    vision tower and language model run. Random weights: labels are random, shapes and plumbing are real.
    """
    from mousefear.testing import build_tiny_qwen

    return build_tiny_qwen(tmp_path_factory.mktemp("tiny-qwen"), seed=0)


@pytest.fixture(scope="session")
def tiny_qwen3(tmp_path_factory) -> Path:
    """Folder of a tiny random Qwen3-VL (``build_tiny_qwen(..., family="qwen3_vl")``), built once per session."""
    from mousefear.testing import build_tiny_qwen

    return build_tiny_qwen(tmp_path_factory.mktemp("tiny-qwen3"), seed=0, family="qwen3_vl")


#: model family -> the session fixture of its tiny random model
TINY_MODELS = {"qwen2_5_vl": "tiny_qwen", "qwen3_vl": "tiny_qwen3"}


@pytest.fixture(params=sorted(TINY_MODELS))
def tiny_model(request) -> tuple[str, Path]:
    """``(family, folder)`` of the tiny random model of each supported family in turn (tests run once per family)."""
    return request.param, request.getfixturevalue(TINY_MODELS[request.param])


def kill_when_cached(child: subprocess.Popen, cache_root: Path, pattern: str, at_least: int = 3,
                     limit_s: float = 240) -> tuple[int, str]:
    """SIGKILL a classifying child process as soon as the cache file ``cache_root.glob(pattern)`` holds
    ``at_least`` windows (or it ended, or ``limit_s`` passed); the windows cached then and the end of its stderr."""
    deadline, n_cached = time.monotonic() + limit_s, 0
    try:
        while time.monotonic() < deadline and child.poll() is None:
            files = list(cache_root.glob(pattern))
            n_cached = files[0].read_bytes().count(b"\n") if files else 0
            if n_cached >= at_least:
                break
            time.sleep(0.05)
    finally:
        child.send_signal(signal.SIGKILL)
        _, err = child.communicate()
    return n_cached, err.decode()[-2000:]
