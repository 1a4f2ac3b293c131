"""The OpenAI-compatible server backend against real servers and a scripted one.

- ``transformers serve`` (started once for the module, tiny random Qwen2.5-VL) for a whole project run, killed
  mid-run with SIGKILL, restarted and resumed: the files equal those of an uninterrupted run;
- a test server around the same model that offers log-probabilities (tests/_openai_shim.py; transformers serve
  ignores them): exact label scoring equals the local transformers backend's;
- a scripted server for retries and backoff, fallbacks, timeouts, concurrency, order and the API key.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from conftest import write_video

import mousefear
from mousefear.backends.openai import OpenAIBackend, answer_logprob, choice_probabilities
from mousefear.core.project import Project
from mousefear.core.prompts import Example, load_prompt_template, render_prompt
from mousefear.core.settings import Settings, load_config, save_config
from mousefear.core.video import Window
from mousefear.errors import ModelError

BEHAVIORS = ["freezing", "exploring", "grooming", "rearing", "fleeing"]


def _frames(seed: int, k: int = 4, h: int = 56, w: int = 84) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (k, h, w, 3), dtype=np.uint8)


def _window(i: int, frames: np.ndarray | None = None) -> Window:
    idx = np.array([30 * i + o for o in (0, 7, 15, 22)])
    return Window("m1_day1", i, 30 * i, 30 * i + 30, idx, _frames(100 + i) if frames is None else frames, 30.0)


@pytest.fixture(scope="module")
def prompt():
    return render_prompt(load_prompt_template("default"), [(b, f"the mouse is {b}") for b in BEHAVIORS])


# --------------------------------------------------------------------------------------------------------
# Turning log-probabilities into probabilities (hand-computed)
# --------------------------------------------------------------------------------------------------------


def test_choice_probabilities_walks_the_answer_and_its_alternatives():
    behaviors = ["freezing", "fleeing", "exploring"]
    content = [
        {"token": "f", "logprob": -0.2, "top_logprobs": [{"token": "f", "logprob": -0.2},
                                                         {"token": "ex", "logprob": -1.8},
                                                         {"token": "The", "logprob": -3.0}]},  # continues nothing
        {"token": "reez", "logprob": -0.1, "top_logprobs": [{"token": "reez", "logprob": -0.1},
                                                            {"token": "le", "logprob": -2.4}]},
        {"token": "ing", "logprob": 0.0, "top_logprobs": [{"token": "ing", "logprob": 0.0}]},
    ]
    mass = np.array([math.exp(-0.2 - 0.1), math.exp(-0.2 - 2.4), math.exp(-1.8)])
    np.testing.assert_allclose(choice_probabilities(content, behaviors), mass / mass.sum(), rtol=1e-12)
    # an alternative that starts two behaviours is split evenly between them
    content2 = [{"token": "ex", "logprob": -0.5, "top_logprobs": [{"token": "f", "logprob": -1.0}]},
                {"token": "ploring", "logprob": 0.0, "top_logprobs": []}]
    mass2 = np.array([math.exp(-1.0) / 2, math.exp(-1.0) / 2, math.exp(-0.5)])
    np.testing.assert_allclose(choice_probabilities(content2, behaviors), mass2 / mass2.sum(), rtol=1e-12)
    assert choice_probabilities([{"token": "The", "logprob": -0.1, "top_logprobs": []}], behaviors) is None


def test_answer_logprob_sums_the_answer_and_the_end_token():
    def e(tok, lp):
        return {"7": {"logprob": lp, "rank": 1, "decoded_token": tok}}

    plp = [None, e("assistant", -5.0), e("\n", -0.5), e("f", -1.0), e("reez", -2.0), e("ing", -0.25),
           e("<|im_end|>", -0.125), e("\n", -0.01)]
    assert answer_logprob(plp, "freezing") == -1.0 - 2.0 - 0.25 - 0.125
    with pytest.raises(ModelError, match="Cannot find the answer 'fleeing'"):
        answer_logprob(plp, "fleeing")


# --------------------------------------------------------------------------------------------------------
# A scripted server
# --------------------------------------------------------------------------------------------------------


class Scripted:
    """An HTTP server on 127.0.0.1 whose answers come from ``script(body, n) -> (status, json, delay_s)``."""

    def __init__(self, script):
        self.script = script
        self.bodies: list[dict] = []
        self.headers: list[dict] = []
        self.active = self.max_active = 0
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with outer.lock:
                    outer.bodies.append(body)
                    outer.headers.append(dict(self.headers))
                    n = len(outer.bodies)
                    outer.active += 1
                    outer.max_active = max(outer.max_active, outer.active)
                try:
                    status, obj, delay = outer.script(body, n)
                    time.sleep(delay)
                finally:
                    with outer.lock:
                        outer.active -= 1
                data = json.dumps(obj).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up (timeout)
                    pass

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def scripted():
    servers = []

    def make(script):
        servers.append(Scripted(script))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


def _answer(text, logprobs=None):
    choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop",
              "logprobs": logprobs}
    return {"id": "x", "object": "chat.completion", "model": "served", "choices": [choice],
            "usage": {"prompt_tokens": 10, "completion_tokens": 1}}


def _plain(text="grooming", delay=0.0):
    """Script of a server like transformers serve: 422 for extra fields, else a plain answer."""
    def script(body, n):
        extra = {"structured_outputs", "guided_choice"} & set(body)
        if extra:
            return 422, {"detail": f"Unexpected fields in the request: {extra}"}, 0.0
        return 200, _answer(text), delay
    return script


def openai_backend(url, model="m", **kw) -> OpenAIBackend:
    """An OpenAI backend built as classify_videos builds it: the template's settings with these changes."""
    settings = Settings.default().updated({"classification.backend": "openai", "classification.model": model})
    return OpenAIBackend.from_settings(settings, base_url=url, **kw)


def _backend(url, prompt, **kw):
    kw.setdefault("backoff_seconds", 0.01)
    be = openai_backend(url, **kw)
    be.load()
    be.prepare(prompt, [])
    return be


def test_422_for_the_constraint_falls_back_to_parsing(scripted, prompt):
    server = scripted(_plain("Grooming."))
    be = _backend(server.url, prompt)
    assert be.describe()["resolved"]["decision_path"] == "generate_parse"
    (res,) = be.classify([_window(0)])
    assert res.probabilities.tolist() == [0, 0, 1, 0, 0] and res.text == "Grooming."
    assert res.info["decision_path"] == "generate_parse"
    # probe: structured_outputs (422), guided_choice (422), plain; then the window without any constraint
    assert [("structured_outputs" in b, "guided_choice" in b) for b in server.bodies] == \
        [(True, False), (False, True), (False, False), (False, False)]
    body = server.bodies[-1]
    assert body["temperature"] == 0.0 and body["max_tokens"] == 8 and body["model"] == "m"
    # same conversation as the local backend: system, then the window's frames (PNG) before the question
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    parts = body["messages"][1]["content"]
    assert [p["type"] for p in parts] == ["image_url"] * 4 + ["text"]
    assert parts[0]["image_url"]["url"].startswith("data:image/png;base64,")
    assert parts[-1]["text"] == prompt.question(4, 1.0)


def test_ignored_constraint_and_choice_without_logprobs(scripted, prompt):
    be = _backend(scripted(lambda body, n: (200, _answer("the mouse"), 0.0)).url, prompt)
    assert be.decision_path == "generate_parse"  # accepted but not honoured -> parse
    (res,) = be.classify([_window(0)])
    assert np.isnan(res.probabilities).all() and res.text == "the mouse"  # unparseable, never guessed

    def choice_only(body, n):  # honours guided_choice only, returns no log-probabilities
        if "structured_outputs" in body:
            return 400, {"error": "unknown"}, 0.0
        return 200, _answer(body["guided_choice"][0]), 0.0
    server = scripted(choice_only)
    be = _backend(server.url, prompt)
    assert (be.decision_path, be.choice_field) == ("choice_parse", "guided_choice")
    (res,) = be.classify([_window(0)])
    assert res.probabilities.tolist() == [1, 0, 0, 0, 0] and server.bodies[-1]["guided_choice"] == BEHAVIORS


def test_choice_logprobs_path(scripted, prompt):
    def vllm_like(body, n):
        choices = body["structured_outputs"]["choice"]
        lp = {"content": [{"token": choices[1], "logprob": -0.3,
                           "top_logprobs": [{"token": choices[1], "logprob": -0.3},
                                            {"token": choices[0], "logprob": -1.5}]}]}
        return 200, _answer(choices[1], lp), 0.0
    server = scripted(vllm_like)
    be = _backend(server.url, prompt)
    assert (be.decision_path, be.choice_field) == ("choice_logprobs", "structured_outputs")
    (res,) = be.classify([_window(0)])
    expected = np.array([math.exp(-1.5), math.exp(-0.3), 0, 0, 0])
    np.testing.assert_allclose(res.probabilities, expected / expected.sum())
    body = server.bodies[-1]
    assert body["logprobs"] is True and body["top_logprobs"] == 20 and body["structured_outputs"] == {
        "choice": BEHAVIORS}


def test_transient_failures_are_retried_with_backoff(scripted, prompt):
    fails = {2, 3}  # the first window request fails twice with 503 (request 1 is the probe)

    def script(body, n):
        if "structured_outputs" in body or "guided_choice" in body:
            return 422, {}, 0.0
        return (503, {"error": "overloaded"}, 0.0) if n - 2 in fails else (200, _answer("rearing"), 0.0)
    server = scripted(script)
    be = _backend(server.url, prompt, backoff_seconds=0.2)
    n0 = len(server.bodies)
    fails.clear()
    fails.update({n0 + 1 - 2, n0 + 2 - 2})
    t0 = time.monotonic()
    (res,) = be.classify([_window(0)])
    assert time.monotonic() - t0 >= 0.2 + 0.4  # waited 0.2 s, then 0.4 s
    assert res.info["attempts"] == 3 and res.probabilities.tolist() == [0, 0, 0, 1, 0]
    assert len(server.bodies) == n0 + 3


def test_a_request_that_keeps_failing_stops_the_stream_after_the_finished_windows(scripted, prompt):
    def script(body, n):
        if "structured_outputs" in body or "guided_choice" in body:
            return 422, {}, 0.0
        frame_png = body["messages"][-1]["content"][0]["image_url"]["url"]
        bad = frame_png == bad_url[0]
        return (500, {"error": "boom"}, 0.0) if bad else (200, _answer("freezing"), 0.0)
    bad_url: list[str] = [""]
    server = scripted(script)
    be = _backend(server.url, prompt, max_attempts=3, max_concurrency=4)
    windows = [_window(i) for i in range(8)]
    from mousefear.core.prompts import query_turn

    bad_url[0] = be._message(query_turn(prompt, windows[5]))["content"][0]["image_url"]["url"]
    got = []
    with pytest.raises(ModelError) as err:
        for w, _ in be.classify_stream(windows):
            got.append(w.index)
    assert got == [0, 1, 2, 3, 4]  # everything before the failing window, in order
    msg = str(err.value)
    assert server.url in msg and "after 3 attempt(s)" in msg and "HTTP 500" in msg and "window 5 of m1_day1" in msg


def test_client_errors_are_not_retried(scripted, prompt):
    state = {"probe": True}

    def script(body, n):
        if state["probe"]:
            return (422, {}, 0.0) if ("structured_outputs" in body or "guided_choice" in body) else \
                (200, _answer("x"), 0.0)
        return 400, {"error": {"message": "image too large"}}, 0.0
    server = scripted(script)
    be = _backend(server.url, prompt)
    state["probe"] = False
    n0 = len(server.bodies)
    with pytest.raises(Exception, match="image too large"):
        be.classify([_window(0)])
    assert len(server.bodies) == n0 + 1


def test_timeouts_are_retried_then_reported(scripted, prompt):
    slow = {"on": False}

    def script(body, n):
        if "structured_outputs" in body or "guided_choice" in body:
            return 422, {}, 0.0
        return 200, _answer("fleeing"), (1.0 if slow["on"] else 0.0)
    server = scripted(script)
    be = _backend(server.url, prompt, timeout_seconds=0.3, max_attempts=2)
    slow["on"] = True
    with pytest.raises(ModelError, match=r"after 2 attempt\(s\).*TimeoutError: no complete answer within 0.3 s"):
        be.classify([_window(0)])
    slow["on"] = False
    assert be.classify([_window(1)])[0].probabilities.tolist() == [0, 0, 0, 0, 1]


def test_max_concurrency_is_honoured_and_results_keep_their_order(scripted, prompt):
    def script(body, n):
        if "structured_outputs" in body or "guided_choice" in body:
            return 422, {}, 0.0
        # the window's number is the grey level of its frames; later windows answer faster
        import base64

        import cv2
        url = body["messages"][-1]["content"][0]["image_url"]["url"]
        img = cv2.imdecode(np.frombuffer(base64.b64decode(url.split(",", 1)[1]), np.uint8), cv2.IMREAD_COLOR)
        i = int(img[0, 0, 0])
        return 200, _answer(BEHAVIORS[i % 5]), max(0.0, 0.05 * (12 - i))
    server = scripted(script)
    be = _backend(server.url, prompt, max_concurrency=3)
    windows = [_window(i, np.full((2, 28, 28, 3), i, np.uint8)) for i in range(12)]
    server.max_active = 0
    results = list(be.classify_stream(iter(windows)))
    assert [w.index for w, _ in results] == list(range(12))
    assert [int(np.argmax(r.probabilities)) for _, r in results] == [i % 5 for i in range(12)]
    assert server.max_active == 3


def test_api_key_is_sent_as_bearer_and_never_recorded(scripted, prompt, monkeypatch):
    monkeypatch.setenv("MOUSEFEAR_TEST_KEY", "sk-test-9f8e7d")
    server = scripted(_plain())
    be = _backend(server.url, prompt, api_key_env="MOUSEFEAR_TEST_KEY")
    be.classify([_window(0)])
    assert {h.get("Authorization") for h in server.headers} == {"Bearer sk-test-9f8e7d"}
    assert "sk-test-9f8e7d" not in json.dumps(be.describe()) and "sk-test" not in repr(vars(be))
    monkeypatch.delenv("MOUSEFEAR_TEST_KEY")
    be.classify([_window(1)])
    assert "Authorization" not in server.headers[-1]


def test_server_down_gives_a_clear_error(prompt):
    from mousefear.testing import free_port

    url = f"http://127.0.0.1:{free_port()}/v1"
    be = openai_backend(url, max_attempts=2, backoff_seconds=0.01)
    assert be.describe()["resolved"] == {}  # describing contacts nothing
    with pytest.raises(ModelError, match=r"The server at http://127\.0\.0\.1:\d+/v1 failed to answer a probe request"):
        be.load()


def test_family_of_the_served_model_decides_the_frame_grid(tmp_path):
    from mousefear.core.preprocess import PatchGrid

    url = "http://127.0.0.1:9/v1"
    named = openai_backend(url, model="Qwen/Qwen3-VL-8B-Instruct", model_family="qwen3_vl")
    assert named.frame_grid() == PatchGrid(factor=32, min_pixels=65536)  # taken as it is: nothing read or sent
    assert "model_family" in named.describe()["runtime"]
    missing = tmp_path / "no-such-model"
    with pytest.raises(ModelError) as err:
        openai_backend(url, model=str(missing)).frame_grid()  # auto, and no config.json to read
    assert str(err.value) == (
        f"Model folder {missing} does not exist; set classification.model in config.yaml to a folder holding the "
        "model, or to a hub id such as Qwen/Qwen2.5-VL-3B-Instruct. The server's model family decides how frames "
        "are resized: set classification.model_family to qwen2_5_vl or qwen3_vl (the family of the model the "
        f"server at {url} serves)")


# --------------------------------------------------------------------------------------------------------
# Against a server around the tiny model that offers log-probabilities (the shim)
# --------------------------------------------------------------------------------------------------------


def test_exact_scoring_through_prompt_logprobs_equals_the_local_backend(tiny_model, prompt):
    pytest.importorskip("transformers")
    from _openai_shim import ShimServer

    from mousefear.backends.transformers import TransformersBackend

    family, tiny_qwen = tiny_model
    h, w = {"qwen2_5_vl": (56, 84), "qwen3_vl": (256, 288)}[family]  # frames the family's processor keeps
    examples = [Example("m1_day1_000030-000060", "freezing", _frames(1, h=w, w=h), 30.0,
                        np.array([30, 37, 45, 52]), 30, 60, "m1_day1")]
    windows = [_window(i, _frames(100 + i, h=h, w=w)) for i in range(3)]
    local = TransformersBackend.from_settings(Settings.default().updated({"classification.model": str(tiny_qwen)}))
    local.prepare(prompt, examples)
    expected = local.classify(windows)
    with ShimServer(str(tiny_qwen)) as shim:
        exact = openai_backend(shim.base_url, str(tiny_qwen), scoring="prompt_logprobs", max_concurrency=2)
        exact.prepare(prompt, examples)
        got = exact.classify(windows)
        auto = openai_backend(shim.base_url, str(tiny_qwen))
        auto.prepare(prompt, examples)
        choice = auto.classify(windows[:1])
    for e, g in zip(expected, got, strict=True):
        assert g.info["decision_path"] == "prompt_logprobs"
        # the same forward passes in float32, once with a reused prefix cache and once whole: 1e-5
        np.testing.assert_allclose(g.info["logprob"], e.info["logprob"], atol=1e-4)
        np.testing.assert_allclose(g.probabilities, e.probabilities, atol=1e-5)
    assert exact.describe()["resolved"]["score_includes_end_token"] is True
    # the constrained-choice path is found and gives valid probabilities (a different estimator: see server.md)
    assert (auto.decision_path, auto.choice_field) == ("choice_logprobs", "structured_outputs")
    p = choice[0].probabilities
    assert np.isfinite(p).all() and abs(p.sum() - 1) < 1e-9 and choice[0].info["decision_path"] == "choice_logprobs"


# --------------------------------------------------------------------------------------------------------
# A whole project through `transformers serve`: SIGKILL mid-run, restart, resume
# --------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def serve_log(tmp_path_factory):
    return tmp_path_factory.mktemp("serve") / "serve.log"


def _vector_content(path: Path) -> tuple[dict, dict]:
    import h5py

    data, attrs = {}, {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda n, o: data.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
        attrs = {k: v for k, v in f.attrs.items() if k not in ("created", "run_created", "run")}
    return data, attrs


def test_project_run_survives_a_killed_server(tmp_path, tiny_qwen, serve_log, monkeypatch):
    pytest.importorskip("fastapi")  # the serving extras of transformers
    from mousefear.testing import TransformersServer

    monkeypatch.setenv("MOUSEFEAR_TEST_KEY", "sk-never-written-4d3c")
    src = tmp_path / "src"
    src.mkdir()
    videos = [write_video(src / "m1_day1.avi", n_frames=45), write_video(src / "m2_day1.avi", n_frames=150)]
    cfg_path = mousefear.create_project("fc", "t", videos, working_directory=tmp_path, date="2026-11-23")
    cfg = load_config(cfg_path)
    c = cfg["classification"]
    # transformers serve parses the random model's babble: no behaviour named, which this test allows
    c.update(backend="openai", model=str(tiny_qwen), frames_per_window=2, icl_per_class=0, max_unparseable=1.0)
    c["preprocessing"]["max_pixels"] = 28 * 28 * 4
    c["openai"].update(api_key_env="MOUSEFEAR_TEST_KEY", max_attempts=2, backoff_seconds=0.2, max_concurrency=2)
    paths = Project.open(cfg_path).paths

    def point_at(server):
        cfg["classification"]["openai"]["base_url"] = server.base_url
        save_config(cfg_path, cfg)

    server = TransformersServer(tiny_qwen, log=serve_log).start()
    try:
        point_at(server)
        mousefear.classify_videos(cfg_path, run="whole", progress=False)
        caches = [paths.cache("killed") / v / "windows.jsonl" for v in ("m1_day1", "m2_day1")]

        def kill_after_some_windows():
            while sum(len(p.read_bytes().splitlines()) for p in caches if p.is_file()) < 5:
                time.sleep(0.02)
            server.kill()
        killer = threading.Thread(target=kill_after_some_windows, daemon=True)
        killer.start()
        with pytest.raises(ModelError) as err:
            mousefear.classify_videos(cfg_path, run="killed", progress=False)
        killer.join(5)
        assert server.base_url in str(err.value) and "after 2 attempt(s)" in str(err.value)
        cached = [len(p.read_bytes().splitlines()) if p.is_file() else 0 for p in caches]
        assert cached[0] == 3 and 2 <= cached[1] < 10  # video 1 done (its file written), video 2 part-way
        assert (paths.vectors("killed") / "m1_day1.h5").is_file()
        assert not (paths.vectors("killed") / "m2_day1.h5").exists()

        server = TransformersServer(tiny_qwen, log=serve_log).start()  # a new port: not part of the run's identity
        point_at(server)
        mousefear.classify_videos(cfg_path, run="killed", progress=False)
    finally:
        server.stop()
    timing = json.loads((paths.vectors("killed") / "timing.json").read_text())
    assert timing["windows_classified"] == 10 - cached[1] and timing["windows_per_second"] > 0
    assert timing["realtime_factor"] > 0 and timing["video_seconds"] == pytest.approx((10 - cached[1]) * 1.0)
    for vid in ("m1_day1", "m2_day1"):
        a, b = _vector_content(paths.vectors("whole") / f"{vid}.h5"), _vector_content(paths.vectors("killed") /
                                                                                         f"{vid}.h5")
        assert sorted(a[0]) == sorted(b[0]) and a[1].keys() == b[1].keys()
        for name in a[0]:
            np.testing.assert_array_equal(a[0][name], b[0][name], err_msg=name)
        for k in a[1]:
            assert str(a[1][k]) == str(b[1][k]), k
    run_json = json.loads((paths.vectors("whole") / "run.json").read_text())
    assert run_json["resolved"]["decision_path"] == "generate_parse"
    assert "generate_parse" in str(_vector_content(paths.vectors("whole") / "m1_day1.h5")[1]["backend_resolved"])
    # the API key is in no file of the project
    for p in Path(paths.root).rglob("*"):
        if p.is_file():
            assert b"sk-never-written" not in p.read_bytes(), p


# --------------------------------------------------------------------------------------------------------
# What counts as an answer: a chat completion (kept, even naming no behaviour) or not (retried, then an error)
# --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("resp", "prompt_logprobs", "problem"), [
    (_answer("freezing"), False, None),
    (_answer("the mouse sits"), False, None),  # names no behaviour: an answer all the same (NaN, kept)
    ({"choices": [{"message": {"role": "assistant", "content": None}}]}, False, None),
    ({}, False, "Expected choices to be a list of answers"),
    ([], False, "Expected a JSON object (a chat completion), but got a list"),
    ({"error": {"message": "overloaded"}}, False, "the server answered with an error"),
    ({"choices": "x"}, False, "Expected choices to be a list of answers"),
    ({"choices": []}, False, "Expected choices to be a list of answers"),
    ({"choices": [{"message": "freezing"}]}, False, "Expected choices[0].message to hold the answer's text"),
    ({"choices": [{"message": {"content": 3}}]}, False, "Expected choices[0].message to hold the answer's text"),
    ({"choices": [{"message": {"content": "f"}, "logprobs": "x"}]}, False, "logprobs.content to be a list"),
    ({"choices": [{"message": {"content": "f"}, "logprobs": {"content": [1]}}]}, False, "logprobs.content"),
    ({"prompt_logprobs": [None, {"1": {"logprob": -1.0}}]}, True, None),
    ({"prompt_logprobs": None}, True, "Expected prompt_logprobs"),
    ({"prompt_logprobs": [None, [1]]}, True, "Expected prompt_logprobs"),
])
def test_answers_of_the_wrong_shape_are_told_apart_from_answers(resp, prompt_logprobs, problem):
    from mousefear.backends.openai import _BadAnswer, _check_answer

    if problem is None:
        _check_answer(resp, prompt_logprobs)
    else:
        with pytest.raises(_BadAnswer, match=re.escape(problem)):
            _check_answer(resp, prompt_logprobs)
