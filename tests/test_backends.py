"""One conformance test over every registered backend (and the fake): the protocol every backend keeps.

Each backend is built from the template's settings the way classify_videos builds it, and must: take every
constructor parameter without a default from the settings; report provenance from its signature without side
effects (no weights touched, no request sent, twice the same); load; classify into probability vectors of the
right shape that sum to 1 (or are all NaN); and close twice without complaint.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from conftest import write_video

from mousefear.backends import BACKENDS, backend_class
from mousefear.backends.base import Backend, VideoBackend, WindowBackend
from mousefear.backends.fake import FakeWindowBackend
from mousefear.core.intervals import window_bounds
from mousefear.core.prompts import load_prompt_template, render_prompt
from mousefear.core.settings import Settings
from mousefear.core.video import Video, Window

NAMES = sorted(BACKENDS) + ["fake"]


@pytest.fixture(scope="module")
def shim(tiny_qwen):
    pytest.importorskip("transformers")
    from _openai_shim import ShimServer

    with ShimServer(str(tiny_qwen)) as server:
        yield server


def _build(name: str, request) -> tuple[Backend, Settings]:
    settings = Settings.default()
    if name == "fake":
        return FakeWindowBackend(settings.behavior_names, salt=3), settings
    if name == "transformers":
        settings = settings.updated({"classification.model": str(request.getfixturevalue("tiny_qwen"))})
    elif name == "openai":
        server = request.getfixturevalue("shim")
        settings = settings.updated({"classification.backend": "openai", "classification.model": server.model_id,
                                     "classification.openai.base_url": server.base_url})
    elif name == "motion":
        settings = settings.updated({"classification.backend": "motion"})
    elif name == "hybrid":  # the motion detector, and the tiny model for the windows it leaves
        settings = settings.updated({"classification.backend": "hybrid",
                                     "classification.model": str(request.getfixturevalue("tiny_qwen"))})
    return backend_class(name).from_settings(settings), settings


def _windows(k: int = 2) -> list[Window]:
    rng = np.random.default_rng(5)
    return [Window("v", i, 30 * i, 30 * i + 30, np.array([30 * i, 30 * i + 15]),
                   rng.integers(0, 256, (2, 56, 56, 3), dtype=np.uint8), 30.0) for i in range(k)]


def _check_probabilities(p: np.ndarray, n: int) -> None:
    p = np.asarray(p, dtype=np.float64)
    assert p.shape[-1] == n
    rows = p.reshape(-1, n)
    nan = np.isnan(rows).all(axis=1)
    assert (np.isnan(rows).any(axis=1) == nan).all()  # a row is all numbers or all NaN
    np.testing.assert_allclose(rows[~nan].sum(axis=1), 1.0, atol=1e-4)
    assert (rows[~nan] >= 0).all()


@pytest.mark.parametrize("name", NAMES)
def test_backend_conformance(name, request, tmp_path):
    backend, settings = _build(name, request)
    cls = type(backend)
    n = len(settings.behavior_names)
    assert backend.name == name and backend.kind in ("window", "video")
    assert isinstance(backend, WindowBackend if backend.kind == "window" else VideoBackend)

    # parameters: those without a default come from the settings; provenance is read from the signature
    sig = inspect.signature(cls.__init__)
    for p in cls.param_names():
        if sig.parameters[p].default is inspect.Parameter.empty:
            assert cls.settings_key(p, settings) is not None, f"{name}: parameter {p} is not a setting"
    assert cls(settings.behavior_names, **backend.get_params()).get_params() == backend.get_params()

    # describing has no side effects: nothing loaded, nothing sent, the same twice
    sent = len(request.getfixturevalue("shim").requests) if name == "openai" else 0
    d1, d2 = backend.describe(), backend.describe()
    assert d1 == d2 and d1["resolved"] == {} and d1["backend"] == name
    assert set(cls.param_names()) <= set(d1["settings"]) and set(d1["runtime"]) == set(cls.runtime_params)
    if name == "openai":
        assert len(request.getfixturevalue("shim").requests) == sent
    if name == "transformers":
        assert backend.net is None

    backend.load()
    if backend.kind == "window":
        prompt = render_prompt(load_prompt_template("default"), [(b.name, b.definition) for b in settings.behaviors])
        backend.prepare(prompt, [])
        windows = _windows()
        results = backend.classify(windows)
        assert len(results) == len(windows)
        for r in results:
            assert r.probabilities.shape == (n,)
            _check_probabilities(r.probabilities, n)
        streamed = list(backend.classify_stream(iter(windows), batch_size=2))
        assert [w.index for w, _ in streamed] == [0, 1]
    else:
        video = Video.from_file(write_video(tmp_path / "m1_day1.avi", n_frames=45, fps=15.0))
        bounds = window_bounds(video.n_frames, video.fps)
        res = backend.classify_video(video, bounds, crop=None, progress=False)
        assert res.frame_probabilities.shape == (45, n) and res.frame_label.shape == (45,)
        assert res.probabilities.shape == (3, n) and res.start_frame.tolist() == [0, 15, 30]
        _check_probabilities(res.frame_probabilities, n)
        _check_probabilities(res.probabilities, n)
        assert all(v.shape == (45,) for v in res.signals.values())
    if name in ("transformers", "openai"):
        assert backend.describe()["resolved"]  # what loading learnt is reported after it
    backend.close()
    backend.close()  # idempotent
