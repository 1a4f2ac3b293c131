"""Several model servers behind one backend (mousefear.backends.servers): the fewest in flight get the request, a
server that fails is set aside and its windows go to the others, the run stops (in one line) only when all are
down. Real servers: the fault server (tests/_fault_server.py) and the shim around the tiny model."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from _fault_server import FaultServer

import mousefear
from mousefear.backends.servers import ServerPool, ServersDown
from mousefear.core.project import Project
from mousefear.core.settings import Settings
from mousefear.errors import ConfigError, ModelError
from mousefear.formats.vectors import read_vector_windows

BEHAVIORS = ["freezing", "exploring", "grooming", "rearing", "fleeing"]


# ------------------------------------------------------------------------------------------------ the pool alone
def test_requests_go_to_the_server_with_the_fewest_in_flight():
    """4 requests always in flight: a slow server keeps its requests longer, so it is given fewer; the fast one
    takes most (here each keeps 2 in flight: 2 / 0.2 s against 2 / 0.01 s)."""
    pool = ServerPool(["http://slow/v1", "http://fast/v1"], max_attempts=2, backoff_seconds=0.1,
                      stop=threading.Event())
    seen: list[str] = []
    most = {"http://slow/v1": 0, "http://fast/v1": 0}
    lock = threading.Lock()

    def send(url: str) -> str:
        with lock:
            seen.append(url)
            most[url] = max(most[url], next(s.in_flight for s in pool.servers if s.url == url))
        time.sleep(0.2 if "slow" in url else 0.01)
        return url

    end = time.monotonic() + 1.0

    def worker():
        while time.monotonic() < end:
            pool.request(send, "w", (ConnectionError,), "m")

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    counts = Counter(seen)
    assert counts["http://fast/v1"] >= 5 * counts["http://slow/v1"] > 0, counts
    assert most == {"http://slow/v1": 2, "http://fast/v1": 2}, most  # never more in flight on one than the other


def test_a_failing_server_is_set_aside_and_its_requests_go_to_the_other(caplog):
    pool = ServerPool(["http://a/v1", "http://b/v1"], max_attempts=3, backoff_seconds=0.5, stop=threading.Event())
    seen = []

    def send(url: str) -> str:
        seen.append(url)
        if url == "http://a/v1":
            raise ConnectionError("refused")
        return "ok"

    with caplog.at_level(logging.WARNING, logger="mousefear.backends.servers"):
        t0 = time.monotonic()
        results = [pool.request(send, f"window {i}", (ConnectionError,), "m") for i in range(10)]
    assert time.monotonic() - t0 < 0.4  # nobody waited: b took the request at once
    assert results[0] == ("ok", 2) and all(r == ("ok", 1) for r in results[1:])  # a tried once, then set aside
    assert seen.count("http://a/v1") == 1
    warnings = [r.getMessage() for r in caplog.records]
    assert warnings == ["Server http://a/v1 failed (ConnectionError: refused); it gets no requests for 0 s, its "
                        "windows go to the other servers"]
    time.sleep(0.55)  # set aside no longer: a gets a request again (and fails again)
    assert pool.request(send, "window 10", (ConnectionError,), "m") == ("ok", 2)


def test_only_when_every_server_failed_does_a_request_fail_in_one_line():
    pool = ServerPool(["http://a/v1", "http://b/v1"], max_attempts=2, backoff_seconds=0.05, stop=threading.Event())

    def send(url: str) -> str:
        raise TimeoutError(f"no complete answer within 1 s from {url[7]}")

    with pytest.raises(ServersDown) as err:
        pool.request(send, "window 3 of m1_day1", (TimeoutError,), "Qwen/Qwen2.5-VL-3B-Instruct")
    msg = str(err.value)
    assert msg.startswith("All 2 servers failed to answer window 3 of m1_day1 (2 attempt(s) on each, over ")
    assert ("last errors: http://a/v1: TimeoutError: no complete answer within 1 s from a; http://b/v1: "
            "TimeoutError: no complete answer within 1 s from b. Check that the servers are running and serve model "
            "'Qwen/Qwen2.5-VL-3B-Instruct'") in msg and "\n" not in msg


# ------------------------------------------------------------------------------------------------ settings
def test_base_url_takes_one_address_or_a_list():
    s = Settings.default().updated({"classification.openai.base_url": ["http://gpu1:8000/v1", "http://gpu2:8000/v1"]})
    assert s.classification.openai.base_url == ("http://gpu1:8000/v1", "http://gpu2:8000/v1")
    assert Settings.default().classification.openai.base_url == "http://127.0.0.1:8000/v1"
    for bad in ([], ["http://a/v1", "http://a/v1/"], ["gpu1:8000"], 7):
        with pytest.raises(ConfigError, match=r"Expected classification.openai.base_url to be an http:// or "
                                              r"https:// address, or a list of different ones, but got"):
            Settings.default().updated({"classification.openai.base_url": bad})


def test_servers_that_serve_different_models_are_refused(monkeypatch):
    from mousefear.backends.openai import OpenAIBackend

    settings = Settings.default().updated({"classification.backend": "openai", "classification.model": "m",
                                           "classification.model_family": "qwen2_5_vl"})
    be = OpenAIBackend.from_settings(settings, base_url=["http://a/v1", "http://b/v1"])
    answers = {"http://a/v1": ("choice_logprobs", "structured_outputs", "Qwen/Qwen2.5-VL-7B-Instruct"),
               "http://b/v1": ("generate_parse", None, "Qwen/Qwen2.5-VL-3B-Instruct")}
    monkeypatch.setattr(OpenAIBackend, "_probe_server", lambda self, url, once=False: answers[url])
    with pytest.raises(ModelError, match=re.escape(
            "The servers of classification.openai.base_url differ: http://a/v1 answers as model "
            "'Qwen/Qwen2.5-VL-7B-Instruct' on path choice_logprobs, http://b/v1 answers as model "
            "'Qwen/Qwen2.5-VL-3B-Instruct' on path generate_parse. Every server of a run must serve the same model")):
        be.load()


# ------------------------------------------------------------------------------------------------ real servers
def _project(root: Path, urls: list[str], n_frames: int = 150, **openai) -> Path:
    from conftest import write_video

    src = root / "src"
    src.mkdir(parents=True)
    videos = [write_video(src / f"m{i}_day1.avi", n_frames=n_frames) for i in (1, 2)]
    cfg = Path(mousefear.create_project("fc", "t", videos, working_directory=root, date="2026-11-23"))
    with Project.open(cfg).edit() as doc:
        c = doc["classification"]
        c.update(backend="openai", model="m", model_family="qwen2_5_vl", frames_per_window=2, icl_per_class=0)
        c["preprocessing"]["max_pixels"] = 28 * 28 * 4
        c["openai"].update(base_url=urls, max_attempts=2, backoff_seconds=0.2, timeout_seconds=5.0,
                           max_concurrency=2, api_key_env=None, **openai)
    return cfg


def test_one_of_two_servers_killed_mid_run_the_other_finishes_it(tmp_path, caplog):
    with FaultServer(answer="rearing") as a, FaultServer(answer="rearing", die_after=6) as b:
        cfg = _project(tmp_path, [a.base_url, b.base_url])
        with caplog.at_level(logging.WARNING):
            run = mousefear.classify_videos(cfg, run="r", progress=False)
    assert len(b.window_requests()) >= 3 and len(a.window_requests()) >= 10  # b took its share until it died
    for vid in ("m1_day1", "m2_day1"):
        table = read_vector_windows(Project.open(cfg).paths.vector_file(run, vid))
        assert len(table) == 10 and (table["rearing"] == 1).all()  # every window classified
    set_aside = [r.getMessage() for r in caplog.records if "its windows go to the other servers" in r.getMessage()]
    assert len(set_aside) == 1 and set_aside[0].startswith(f"Server {b.base_url} failed (")


def test_both_servers_down_ends_the_run_in_one_line_and_keeps_the_windows_done(tmp_path):
    with FaultServer(answer="rearing", die_after=5) as a, FaultServer(answer="rearing", die_after=5) as b:
        cfg = _project(tmp_path, [a.base_url, b.base_url])
        with pytest.raises(ModelError) as err:
            mousefear.classify_videos(cfg, run="r", progress=False)
    msg = str(err.value)
    assert re.match(r"All 2 servers failed to answer window \d+ of m1_day1 \(2 attempt\(s\) on each, over ", msg)
    assert f"{a.base_url}: " in msg and f"{b.base_url}: " in msg and "\n" not in msg
    cached = Project.open(cfg).paths.video_cache("r", "m1_day1") / "windows.jsonl"
    assert len(cached.read_text().splitlines()) >= 4  # the windows answered before are kept


def test_a_server_down_at_the_start_is_set_aside_and_the_run_goes_on(tmp_path, caplog):
    from mousefear.testing import free_port

    dead = f"http://127.0.0.1:{free_port()}/v1"
    with FaultServer(answer="grooming") as a:
        cfg = _project(tmp_path, [dead, a.base_url], n_frames=45)
        with caplog.at_level(logging.WARNING):
            run = mousefear.classify_videos(cfg, run="r", progress=False)
    table = read_vector_windows(Project.open(cfg).paths.vector_file(run, "m1_day1"))
    assert len(table) == 3 and (table["grooming"] == 1).all()
    assert any(r.getMessage().startswith(f"Server {dead} does not answer (") and "it gets no windows until it "
               "answers a probe" in r.getMessage() for r in caplog.records)


def _vectors(cfg: Path, run: str) -> dict[str, np.ndarray]:
    return {vid: read_vector_windows(path)[BEHAVIORS].to_numpy() for vid, path in
            Project.open(cfg).vector_files(run).items()}


def test_two_tiny_model_servers_one_killed_mid_run_give_the_result_of_one(tmp_path, tiny_qwen):
    """Windows spread over two servers of the tiny model; one is stopped half-way; the vector files hold the
    probabilities a single server gives."""
    from _openai_shim import ShimServer

    with ShimServer(str(tiny_qwen)) as one:
        single = _project(tmp_path / "single", [one.base_url], n_frames=60, scoring="auto")
        run = mousefear.classify_videos(single, run="r", progress=False)
    expected = _vectors(single, run)
    with ShimServer(str(tiny_qwen)) as a, ShimServer(str(tiny_qwen)) as b:
        cfg = _project(tmp_path / "two", [a.base_url, b.base_url], n_frames=60, scoring="auto")
        n_probe = 1  # the probe of the decision path (a constrained choice)

        def kill_b():
            while len(b.requests) < n_probe + 3:
                time.sleep(0.01)
            b.stop()

        killer = threading.Thread(target=kill_b, daemon=True)
        killer.start()
        mousefear.classify_videos(cfg, run="r", progress=False)
        killer.join(timeout=60)
        got = _vectors(cfg, "r")
    assert len(b.requests) - n_probe >= 3 and len(a.requests) >= 4  # both took windows
    assert sorted(got) == sorted(expected)
    for vid in expected:
        np.testing.assert_array_equal(got[vid], expected[vid])
