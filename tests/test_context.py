"""Context modes (classification.context): the turns and messages of each mode for the first, a middle and the
last window, the pipeline's neighbours (decoded and preprocessed once) and chains (order, the previous label,
rounds across videos, resume), SIGKILL then resume in autoregressive mode, and chains in flight on a server."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import REPO, kill_when_cached, write_video

import mousefear
from mousefear.backends.fake import FakeWindowBackend
from mousefear.backends.inflight import EncodedFrames
from mousefear.core.project import Project
from mousefear.core.prompts import CONTEXT_KEYS, load_prompt_template, query_turns, render_prompt
from mousefear.core.settings import load_config, save_config
from mousefear.core.video import Window, WindowContext
from mousefear.formats.vectors import read_vector_windows
from mousefear.pipeline.context import decided_label, with_context
from mousefear.pipeline.runs import identity, run_settings

BEHAVIORS = ["freezing", "exploring", "grooming", "rearing", "fleeing"]
NAMES = ", ".join(BEHAVIORS)


@pytest.fixture(scope="module")
def prompt():
    return render_prompt(load_prompt_template("default"), [(b, f"the mouse is {b}") for b in BEHAVIORS])


def _video_windows(n: int = 5, video_id: str = "m1_day1", k: int = 2, h: int = 56, w: int = 84) -> list[Window]:
    """Windows of half a second at 30 fps (15 frames), ``k`` frames each, distinct pixels."""
    out = []
    for i in range(n):
        frames = np.random.default_rng(100 + i).integers(0, 256, (k, h, w, 3), dtype=np.uint8)
        out.append(Window(video_id, i, 15 * i, 15 * i + 15, np.array([15 * i + 3, 15 * i + 10])[:k], frames, 30.0))
    return out


def _with(windows: list[Window], i: int, mode: str, label: str | None = None) -> Window:
    prev = windows[i - 1] if i > 0 else None
    nxt = windows[i + 1] if i + 1 < len(windows) else None
    return Window(**{**windows[i].__dict__, "context": WindowContext(mode, prev, nxt, label if prev else None)})


# -------------------------------------------------------------------------------------- turns, by hand
BEFORE = "These 2 frames span the 0.5 s just before the stretch to classify; they are context only."
AFTER = "These 2 frames span the 0.5 s just after the stretch to classify; they are context only."
ASK_BEFORE = ("These 2 frames span the 0.5 s just before the stretch to classify. Which behaviour does the mouse show? "
              f"Answer with one of: {NAMES}.")
START = "The stretch to classify is the start of the video: nothing comes before it."
END = "The stretch to classify is the end of the video: nothing comes after it."
TARGET = ("These 2 frames span 0.5 s of video: the stretch to classify, which lies between the stretches shown before "
          f"and after it. Which behaviour does the mouse show in this stretch? Answer with one of: {NAMES}.")


def _expected_turns(windows: list[Window], i: int, mode: str, label: str | None) -> list[tuple]:
    """(role, text, frames or None, offsets) of the turns after the shared prefix, written out by hand."""
    w = windows[i]
    out: list[tuple] = []
    if i == 0:
        out.append(("user", START, None, None))
    elif mode == "autoregressive" and label is not None:
        out += [("user", ASK_BEFORE, windows[i - 1].frames, [3, 10]), ("assistant", label, None, None)]
    else:
        out.append(("user", BEFORE, windows[i - 1].frames, [3, 10]))
    out.append(("user", END, None, None) if i == len(windows) - 1 else ("user", AFTER, windows[i + 1].frames, [3, 10]))
    out.append(("user", TARGET, w.frames, [3, 10]))
    return out


@pytest.mark.parametrize("mode", ["temporal", "autoregressive"])
@pytest.mark.parametrize("i", [0, 2, 4])
def test_turns_of_each_mode_for_the_first_a_middle_and_the_last_window(prompt, mode, i):
    windows = _video_windows()
    turns = query_turns(prompt, _with(windows, i, mode, "rearing"))
    got = [(t.role, t.text, t.frames, None if t.frame_indices is None else t.frame_indices.tolist()) for t in turns]
    expected = _expected_turns(windows, i, mode, "rearing")
    assert [g[:2] for g in got] == [e[:2] for e in expected]
    for g, e in zip(got, expected, strict=True):
        assert (g[2] is None) == (e[2] is None) and (g[2] is None or g[2] is e[2])  # the neighbours' own arrays
        assert g[3] == e[3]
    # no context, or mode none: the one question turn of before; a hint comes first in the window's turn
    plain = query_turns(prompt, windows[i])
    assert [(t.role, t.text) for t in plain] == [("user", prompt.question(2, 0.5))]
    hinted = Window(**{**windows[i].__dict__, "context": WindowContext(hint="Moved a lot.")})
    assert query_turns(prompt, hinted)[-1].text == "Moved a lot.\n" + prompt.question(2, 0.5)


def test_an_unlabelled_previous_window_is_shown_as_context(prompt):
    windows = _video_windows()
    turns = query_turns(prompt, _with(windows, 2, "autoregressive", None))
    assert [(t.role, t.text) for t in turns] == [("user", BEFORE), ("user", AFTER), ("user", TARGET)]


def test_templates_without_context_texts_take_the_default_ones(tmp_path):
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "mine.yaml").write_text("system: 'Classify. {definitions}'\ndefinition_line: '{name}'\n"
                                                    "question: 'Which?'\nno_next: 'Last one ({names}).'\n")
    mine = load_prompt_template("mine", tmp_path)
    default = load_prompt_template("default")
    assert set(mine.context) == set(CONTEXT_KEYS)
    assert mine.context["no_next"] == "Last one ({names})." and mine.context["no_previous"] == default.context[
        "no_previous"]
    (tmp_path / "prompts" / "bad.yaml").write_text("system: 'x {definitions}'\ndefinition_line: '{name}'\n"
                                                   "question: 'Which?'\nno_next: 'Last {n_frames}.'\n")
    with pytest.raises(Exception, match=r"bad.yaml: Expected the placeholders of no_next among \{names\}"):
        load_prompt_template("bad", tmp_path)


def test_the_prompt_document_shows_a_middle_request_and_the_run_records_the_mode(project):
    _small(project)
    p = Project.open(project)
    fake = FakeWindowBackend(BEHAVIORS)
    runs = {}
    for mode in ("none", "temporal", "autoregressive"):
        rs = run_settings(p.with_settings(p.settings.updated({"classification.context": mode})), fake)
        runs[mode] = rs
        assert rs.settings["context"] == mode and rs.context == mode
    text = runs["autoregressive"].settings["prompt"]["text"]
    assert ("[user] <2 frames of the previous window>\n" + ASK_BEFORE.replace("0.5", "1.0") +
            "\n[assistant]\n<the behaviour decided for the previous window>\n[user] <2 frames of the next window>\n"
            + AFTER.replace("0.5", "1.0") + "\n[user] <2 frames of the window to classify>\n"
            + TARGET.replace("0.5", "1.0") + "\n[assistant]\n<one of: " + NAMES + ">") in text
    assert f"# the first window of a video: instead of the previous window, [user] {START}" in text
    assert f"# the last window of a video: instead of the next window, [user] {END}" in text
    assert "[assistant]\n<the behaviour" not in runs["temporal"].settings["prompt"]["text"]
    # mode none keeps the identity runs had before context modes existed: the hash of the settings without it
    none = runs["none"]
    assert none.sha256 == identity({k: v for k, v in none.settings.items() if k != "context"}, none.runtime)
    assert len({rs.sha256 for rs in runs.values()}) == 3 and len({rs.name for rs in runs.values()}) == 3
    assert runs["temporal"].name.split("-")[-2] == "temporal" and runs["autoregressive"].name.split("-")[-2] == "ar"


# -------------------------------------------------------------------------------------- backends' messages
def test_transformers_prompt_of_a_middle_autoregressive_window_and_scores_against_a_whole_prompt(tiny_model, prompt):
    from test_backends_transformers import SIZE, TOL, _backend, _examples, _reference_logprobs

    family, folder = tiny_model
    be = _backend(folder, prompt, _examples(family))
    windows = _video_windows(h=SIZE[family][0], w=SIZE[family][1])
    if family == "qwen2_5_vl":  # the chat text of the part after the shared prefix, written out
        img = "<|vision_start|><|image_pad|><|vision_end|>" * 2
        _, suffix = be._texts(query_turns(prompt, _with(windows, 2, "autoregressive", "rearing")))
        assert suffix == (f"<|im_start|>user\n{img}{ASK_BEFORE}<|im_end|>\n<|im_start|>assistant\nrearing<|im_end|>\n"
                          f"<|im_start|>user\n{img}{AFTER}<|im_end|>\n<|im_start|>user\n{img}{TARGET}<|im_end|>\n"
                          "<|im_start|>assistant\n")
    for mode, checked in (("temporal", (2,)), ("autoregressive", (0, 2, 4))):
        batch = [_with(windows, i, mode, "rearing") for i in (0, 2, 3, 4)]  # first, middles, last in one batch
        results = be.classify(batch)
        for w, res in zip(batch, results, strict=True):  # prefix reused, windows batched == whole prompt at once
            if w.index in checked:
                ref = _reference_logprobs(be, w)
                assert np.abs(np.array(res.info["logprob"]) - ref).max() < TOL
    plain = be.classify([windows[2]])[0]
    with_ctx = be.classify([_with(windows, 2, "temporal")])[0]
    assert np.abs(np.array(plain.info["logprob"]) - np.array(with_ctx.info["logprob"])).max() > 1e-3


def _png(frames: np.ndarray) -> list[dict]:
    out = []
    for f in frames:
        ok, buf = cv2.imencode(".png", cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
        out.append({"type": "image_url", "image_url": {"url": "data:image/png;base64," +
                                                       base64.b64encode(buf.tobytes()).decode()}})
    return out


@pytest.mark.parametrize("i", [0, 2, 4])
def test_server_messages_of_each_mode(prompt, i):
    from test_backends_openai import Scripted, _backend, _plain

    server = Scripted(_plain("grooming"))
    try:
        be = _backend(server.url, prompt)
        windows = _video_windows()
        for mode in ("temporal", "autoregressive"):
            be.classify([_with(windows, i, mode, "rearing")])
            msgs = server.bodies[-1]["messages"][1:]  # after the system text (no in-context examples)
            expected = [{"role": r, "content": t if f is None else [*_png(f), {"type": "text", "text": t}]}
                        for r, t, f, _ in _expected_turns(windows, i, mode, "rearing")]
            assert msgs == expected
    finally:
        server.close()


def test_frames_sent_again_as_context_are_encoded_once():
    cache = EncodedFrames(size=2)
    a, b, c = (np.full((2, 28, 28, 3), v, np.uint8) for v in (1, 2, 3))
    first = cache.urls(a, "png")
    assert cache.urls(a, "png") is first and cache.encoded == 2
    cache.urls(b, "png")
    cache.urls(c, "png")  # a is dropped (size 2)
    assert cache.urls(a.copy(), "png") == first and cache.encoded == 8  # a copy is another array: encoded again


def test_server_scores_equal_the_local_backend_with_context(tiny_qwen, prompt):
    from _openai_shim import ShimServer
    from test_backends_openai import openai_backend

    from mousefear.backends.transformers import TransformersBackend
    from mousefear.core.settings import Settings

    windows = _video_windows()
    batch = [_with(windows, 0, "autoregressive", "rearing"), _with(windows, 2, "autoregressive", "rearing"),
             _with(windows, 4, "temporal")]
    local = TransformersBackend.from_settings(Settings.default().updated({"classification.model": str(tiny_qwen)}))
    local.prepare(prompt, [])
    expected = local.classify(batch)
    with ShimServer(str(tiny_qwen)) as shim:
        exact = openai_backend(shim.base_url, str(tiny_qwen), scoring="prompt_logprobs", max_concurrency=2)
        exact.prepare(prompt, [])
        got = exact.classify(batch)
    for e, g in zip(expected, got, strict=True):
        np.testing.assert_allclose(g.info["logprob"], e.info["logprob"], atol=1e-4)


# -------------------------------------------------------------------------------------- the pipeline
def _small(cfg: Path, **classification) -> Path:
    c = load_config(cfg)
    c["classification"]["frames_per_window"] = 2
    c["classification"]["icl_per_class"] = 0
    c["classification"]["preprocessing"]["max_pixels"] = 28 * 28 * 4
    for key, value in classification.items():
        c["classification"][key] = value
    save_config(cfg, c)
    return cfg


class ContextFake(FakeWindowBackend):
    """The fake model, whose answer also depends on the previous label (so a chain matters), recording what it saw."""

    def __init__(self, behaviors, **kw):
        super().__init__(behaviors, **kw)
        self.windows: list[Window] = []
        self.batches: list[list[tuple[str, int]]] = []

    def classify(self, windows):
        self.windows += list(windows)
        self.batches.append([(w.video_id, w.index) for w in windows])
        out = super().classify(windows)
        for w, r in zip(windows, out, strict=True):
            label = w.context.previous_label if w.context is not None else None
            if label is not None and not np.isnan(r.probabilities).all():
                r.probabilities = np.roll(r.probabilities, 1 + self.behaviors.index(label))
        return out


def test_temporal_neighbours_are_the_windows_decoded_and_preprocessed_once(project, monkeypatch):
    from mousefear.pipeline import classify as classify_module

    _small(project, context="temporal")
    calls = []
    original = classify_module.preprocess_window
    monkeypatch.setattr(classify_module, "preprocess_window",
                        lambda f, *a, **k: calls.append(1) or original(f, *a, **k))
    fake = ContextFake(BEHAVIORS)
    run = mousefear.classify_videos(project, backend=fake, progress=False)
    seen = fake.windows
    assert [w.index for w in seen] == [0, 1, 2] and len(calls) == 3  # 3 windows, each preprocessed once
    for k, w in enumerate(seen):
        ctx = w.context
        assert ctx.mode == "temporal" and ctx.previous_label is None
        assert (ctx.previous is None) == (k == 0) and (ctx.next is None) == (k == 2)
        if k:
            assert ctx.previous.frames is seen[k - 1].frames and ctx.previous.context is None
        if k < 2:
            assert ctx.next.frames is seen[k + 1].frames and ctx.next.index == k + 1
    attrs = read_vector_windows(Project.open(project).paths.vector_file(run, "m1_day1")).attrs
    assert attrs["context"] == "temporal"
    assert json.loads((Project.open(project).paths.vectors(run) / "run.json").read_text())["settings"][
        "context"] == "temporal"


def _three_videos(tmp_path: Path, make_video) -> Path:
    videos = [make_video(f"m{i}_day1.avi", n_frames=n, fps=10.0, size=(48 + 16 * i, 48))  # no two frames alike
              for i, n in ((1, 50), (2, 30), (3, 40))]
    cfg = mousefear.create_project("ar", "t", videos, working_directory=tmp_path / "p", date="2026-11-23")
    return _small(cfg, context="autoregressive", batch_size=2)


def test_autoregressive_chains_use_the_decided_previous_label_and_batch_across_videos(tmp_path, make_video):
    cfg = _small(_three_videos(tmp_path, make_video), max_unparseable=0.5)  # window 2 of each names no behaviour
    fake = ContextFake(BEHAVIORS, unparseable=(2,))
    run = mousefear.classify_videos(cfg, backend=fake, progress=False)
    # rounds of 2 chains: a chain that ends makes room for the next video in the same round
    assert fake.batches[:4] == [[("m1_day1", 0), ("m2_day1", 0)], [("m1_day1", 1), ("m2_day1", 1)],
                                [("m1_day1", 2), ("m2_day1", 2)], [("m1_day1", 3), ("m3_day1", 0)]]
    assert all(len({v for v, _ in b}) == len(b) for b in fake.batches)  # never two windows of one video together
    files = Project.open(cfg).vector_files(run)
    for vid, path in files.items():
        table = read_vector_windows(path)
        probs = table[BEHAVIORS].to_numpy()
        seen = [w for w in fake.windows if w.video_id == vid]
        assert [w.index for w in seen] == list(range(len(table)))  # each chain in order, once
        for k, w in enumerate(seen):
            expected = None if k == 0 else decided_label(list(probs[k - 1]), BEHAVIORS)
            assert w.context.previous_label == expected  # the label decided (and written) for the previous window
            if k == 3:
                assert expected is None and w.context.previous is not None  # window 2 named no behaviour
        assert (seen[-1].context.next is None) and seen[0].context.previous is None


def test_autoregressive_resume_restarts_each_chain_from_its_cached_decisions(tmp_path, make_video):
    straight = _three_videos(tmp_path / "a", make_video)
    broken = _three_videos(tmp_path / "b", make_video)
    a = mousefear.classify_videos(straight, backend=ContextFake(BEHAVIORS), progress=False)
    with pytest.raises(mousefear.errors.ModelError, match="window 3"):
        mousefear.classify_videos(broken, backend=ContextFake(BEHAVIORS, fail_at=(3,)), progress=False)
    again = ContextFake(BEHAVIORS)
    b = mousefear.classify_videos(broken, backend=again, progress=False)
    assert a == b
    first = {}
    for w in again.windows:
        first.setdefault(w.video_id, w)
    assert first["m1_day1"].index == 3 and first["m1_day1"].context.previous.index == 2  # decoded again for context
    for vid in ("m1_day1", "m2_day1", "m3_day1"):
        pa = Project.open(straight).paths.vector_file(a, vid)
        pb = Project.open(broken).paths.vector_file(b, vid)
        assert pa.with_suffix(".csv").read_bytes() == pb.with_suffix(".csv").read_bytes()
        ta, tb = read_vector_windows(pa), read_vector_windows(pb)
        np.testing.assert_array_equal(ta[BEHAVIORS].to_numpy(), tb[BEHAVIORS].to_numpy())


def test_with_context_says_nothing_untrue_when_a_stream_stops_early():
    windows = _video_windows(4)
    got = list(with_context(iter(windows[:3]), "temporal", 4, range(4)))  # window 3 never decoded
    assert [w.index for w in got] == [0, 1]  # window 2 would be told of a next window it cannot be shown
    with pytest.raises(ValueError, match="window 1 of m1_day1 is needed as the previous window of 2"):
        list(with_context(iter([windows[0], windows[2], windows[3]]), "temporal", 4, {2}))


_CHILD = """
import sys, time
sys.path.insert(0, {repo!r})
from mousefear.backends.transformers import TransformersBackend
original = TransformersBackend.classify
def slow(self, windows):
    time.sleep(0.25)
    return original(self, windows)
TransformersBackend.classify = slow
import mousefear
mousefear.classify_videos({cfg!r}, progress=False)
"""


def test_autoregressive_run_killed_and_resumed_gives_identical_files(tmp_path, tiny_qwen):
    from test_classify import _assert_same_vectors

    video = write_video(tmp_path / "m2_day3.avi", n_frames=100, fps=10.0)
    projects = []
    for name in ("killed", "straight"):
        cfg = mousefear.create_project(name, "t", [video], working_directory=tmp_path, date="2026-11-23")
        projects.append(_small(cfg, model=str(tiny_qwen), context="autoregressive"))
    killed, straight = projects
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(_CHILD.format(repo=str(REPO), cfg=str(killed)))],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    cache_root = Project.open(killed).paths.root / "cache"
    n_cached, err = kill_when_cached(child, cache_root, "*/m2_day3/windows.jsonl")
    assert 3 <= n_cached < 10, err
    run = mousefear.classify_videos(killed, progress=False)
    assert mousefear.classify_videos(straight, progress=False) == run and run.split("-")[-2] == "ar"
    a = Project.open(killed).paths.vector_file(run, "m2_day3")
    b = Project.open(straight).paths.vector_file(run, "m2_day3")
    _assert_same_vectors(a, b)
    assert a.with_suffix(".csv").read_bytes() == b.with_suffix(".csv").read_bytes()


def test_server_keeps_several_videos_in_flight_while_each_chain_is_serial(tmp_path, make_video):
    import threading
    import zlib

    from test_backends_openai import Scripted, _answer

    delay, log, lock = 0.15, [], threading.Lock()

    def label_of(url: str) -> str:
        return BEHAVIORS[zlib.crc32(url.encode()) % 5]

    def script(body, n):
        if "structured_outputs" in body or "guided_choice" in body:
            return 422, {"detail": "Unexpected fields"}, 0.0
        msgs = body["messages"]
        if body.get("max_tokens") != 1:
            with lock:
                log.append((time.monotonic(), msgs))
        return 200, _answer(label_of(msgs[-1]["content"][0]["image_url"]["url"])), delay

    server = Scripted(script)
    try:
        cfg = _three_videos(tmp_path, make_video)
        c = load_config(cfg)
        c["classification"].update(backend="openai", model="served-model", model_family="qwen2_5_vl")
        c["classification"]["openai"].update(base_url=server.url, max_concurrency=3)
        save_config(cfg, c)
        server.max_active = 0
        run = mousefear.classify_videos(cfg, progress=False)
    finally:
        server.close()
    assert server.max_active == 3 and len(log) == 5 + 3 + 4  # three chains at once
    asked = {m[-1]["content"][0]["image_url"]["url"]: t for t, m in log}  # target frames -> when asked
    previous = 0
    for t, msgs in log:
        if msgs[1]["content"] == START:  # the first window of a video
            continue
        previous += 1
        prev_url = msgs[1]["content"][0]["image_url"]["url"]  # the previous window, shown with its answer
        assert msgs[2]["role"] == "assistant" and msgs[2]["content"] == label_of(prev_url)
        assert t >= asked[prev_url] + delay  # asked only once the previous window's answer had come back
    assert previous == 12 - 3
    texts = [t for path in Project.open(cfg).vector_files(run).values() for t in read_vector_windows(path)["text"]]
    assert sorted(texts) == sorted(label_of(m[-1]["content"][0]["image_url"]["url"]) for _, m in log)
