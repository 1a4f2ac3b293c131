"""The hybrid backend: the motion detector decides the stills and dashes of a synthetic mouse, the model the rest;
per-window decided_by in the files and tables; the model sees only its windows (with the hint, with context);
resume takes the detector's pass from the cache; the share of windows sent to the model on tracktor."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from _motion_videos import write_mouse_video

import mousefear
from mousefear.backends import build_backend
from mousefear.backends.fake import FakeWindowBackend
from mousefear.backends.hybrid import HybridBackend, movement
from mousefear.backends.motion import MotionBackend
from mousefear.core.intervals import window_bounds
from mousefear.core.project import Project
from mousefear.core.settings import Settings, load_config, save_config
from mousefear.core.video import Video
from mousefear.errors import ConfigError, ModelError
from mousefear.formats.vectors import read_vector_measurements, read_vector_windows

#: A mouse that dashes 3 s, stops 3 s, creeps 3 s (movement near the freezing threshold), dashes 2 s, stops 2 s.
SCRIPT = [("walk", 3, 240), ("still", 3), ("walk", 3, 6), ("walk", 2, 240), ("still", 2)]
#: Seconds the detector is sure of: the dashes (every frame measured, far above the threshold) and the still
#: seconds that are still from their first frame (far below it).
DETECTOR = {1: "exploring", 2: "exploring", 5: "freezing", 9: "exploring", 10: "exploring", 12: "freezing"}
#: Seconds it leaves to the model: the first (nothing to compare its first frames with), the seconds in which the
#: mouse stops (moving, then still), the creep.
MODEL = {0, 3, 6, 7, 8, 11}


@pytest.fixture(scope="module")
def mouse(tmp_path_factory):
    path, truth = write_mouse_video(tmp_path_factory.mktemp("mouse") / "m1_day1.avi", SCRIPT)
    return path, truth


def _hybrid(settings: Settings, **kw) -> HybridBackend:
    return HybridBackend.from_settings(settings, classifier=FakeWindowBackend(settings.behavior_names), **kw)


def test_routing_decides_the_known_stills_and_dashes(mouse):
    path, truth = mouse
    video = Video.from_file(path)
    settings = Settings.default()
    backend = _hybrid(settings, motion_hint=True)
    bounds = window_bounds(video.n_frames, video.fps)
    measured = backend.measure_video(video, bounds, crop=None, progress=False)
    routing = backend.route(measured, video.fps)
    decided = set(np.flatnonzero(routing.decided).tolist())
    assert set(DETECTOR) <= decided and not decided & MODEL
    for k, name in DETECTOR.items():
        assert settings.behavior_names[int(np.argmax(routing.probabilities[k]))] == name
        assert truth[k] == (name == "freezing")  # the truth of the script
    assert routing.decided_by == "motion" and routing.model == "fake"
    # the hint: the movement the detector measured, for the model's windows only
    move = movement(backend.detector, measured, video.fps)
    a, e = bounds[7]
    assert routing.hints[7] == (f"A motion detector measured the mouse's movement in this stretch at "
                                f"{np.median(move[a:e]):.2g} times its freezing threshold (median over the frames; "
                                f"largest {move[a:e].max():.2g}; below 1 is still).")
    assert 0.5 < np.median(move[a:e]) < 10  # the creep: near the threshold
    a, e = bounds[0]
    n = int(np.isfinite(move[a:e]).sum())
    assert 0 < n < 30 and routing.hints[0] == (  # the first frames have no frame lag_seconds before them
        f"A motion detector measured the mouse's movement in this stretch at {np.nanmedian(move[a:e]):.2g} times its "
        f"freezing threshold (median over the frames, in {n} of its 30 frames; largest {np.nanmax(move[a:e]):.2g}; "
        "below 1 is still).")
    assert all(routing.hints[k] == "" for k in DETECTOR)
    # the margins decide: nothing is sure with impossible ones; the detector's speed rule makes the dashes fleeing
    strict = _hybrid(settings, still_margin=0.0, moving_margin=1e6).route(measured, video.fps)
    assert np.flatnonzero(strict.decided).tolist() == [5, 12]  # only the stills of exactly zero movement
    fleeing = _hybrid(settings.updated({"classification.motion.flee_speed": 3.0,
                                        "classification.motion.flee_speed_unit": "body_lengths/s"}))
    routed = fleeing.route(fleeing.measure_video(video, bounds, crop=None, progress=False), video.fps)
    assert [settings.behavior_names[int(np.argmax(routed.probabilities[k]))] for k in (1, 2, 9, 10)] == ["fleeing"] * 4


def test_settings_and_provenance(tiny_qwen):
    settings = Settings.default().updated({"classification.backend": "hybrid", "classification.model": str(tiny_qwen)})
    backend = build_backend(settings)
    d = backend.describe()
    assert d["backend"] == "hybrid" and d["model_id"] == str(tiny_qwen)
    s = d["settings"]
    assert (s["classifier"], s["model_backend"], s["still_margin"], s["moving_margin"], s["motion_hint"]) == (
        "transformers", "transformers", 0.5, 10.0, False)
    assert s["detector"]["method"] == "animal" and s["decision"] == "score"
    assert set(d["runtime"]) >= {"device", "base_url", "max_concurrency"}
    with pytest.raises(ConfigError, match="classification.hybrid.still_margin"):
        settings.updated({"classification.hybrid.still_margin": 2})
    with pytest.raises(ConfigError, match="classification.hybrid.model_backend"):
        settings.updated({"classification.hybrid.model_backend": "motion"})
    with pytest.raises(ConfigError, match="moving_behavior"):
        settings.updated({"classification.motion.moving_behavior": "walking"})


class Recorder(FakeWindowBackend):
    """The fake model (the same settings, so the same runs), keeping the windows it saw."""

    def classify(self, windows):
        self.__dict__.setdefault("windows", []).extend(windows)
        return super().classify(windows)


def _project(tmp_path, mouse, **classification):
    cfg = mousefear.create_project("h", "t", [mouse[0]], working_directory=tmp_path, date="2026-11-23")
    c = load_config(cfg)
    c["classification"]["backend"] = "hybrid"
    c["classification"]["icl_per_class"] = 0
    c["classification"]["frames_per_window"] = 2
    c["classification"]["preprocessing"]["max_pixels"] = 28 * 28 * 4
    for key, value in classification.items():
        c["classification"][key] = value
    save_config(cfg, c)
    return cfg


def _run(cfg, model, **kw):
    project = Project.open(cfg)
    backend = HybridBackend.from_settings(project.settings, classifier=model)
    return mousefear.classify_videos(cfg, backend=backend, progress=False, **kw)


@pytest.mark.parametrize("context", ["none", "temporal", "autoregressive"])
def test_a_hybrid_run_sends_the_model_only_its_windows_and_records_who_decided(tmp_path, mouse, context, monkeypatch):
    cfg = _project(tmp_path, mouse, context=context, hybrid={"model_backend": "transformers", "still_margin": 0.5,
                                                             "moving_margin": 10.0, "motion_hint": True})
    model = Recorder(Settings.default().behavior_names)
    run = _run(cfg, model)
    project = Project.open(cfg)
    assert run.startswith("hybrid-fake-0-icl0")
    seen = [w.index for w in model.windows]
    assert set(seen) >= MODEL and not set(seen) & set(DETECTOR) and seen == sorted(seen)
    table = read_vector_windows(project.paths.vector_file(run, "m1_day1"))
    decided_by = table["decided_by"].tolist()
    assert [k for k, d in enumerate(decided_by) if d == "fake"] == seen
    assert all(decided_by[k] == "motion" and table["label"][k] == name for k, name in DETECTOR.items())
    fake = FakeWindowBackend(Settings.default().behavior_names)
    for w in model.windows:  # the model's windows keep the model's answers; the hint is in their context
        np.testing.assert_allclose(table.loc[w.index, fake.behaviors].to_numpy(np.float64),
                                   fake.probabilities(w.frames), atol=1e-6)
        assert w.context.hint.startswith("A motion detector")
        if context != "none":  # neighbours are there even where the detector decided them
            assert (w.context.previous is None) == (w.index == 0) and w.context.next.index == w.index + 1
        if context == "autoregressive" and w.index - 1 in DETECTOR:
            assert w.context.previous_label == DETECTOR[w.index - 1]  # the detector's decision, as the answer
    assert read_vector_measurements(project.paths.vector_file(run, "m1_day1")) is not None
    seconds = pd.read_csv(project.paths.seconds_table(run, "m1_day1"))
    assert seconds["decided_by"].tolist() == decided_by
    timing = json.loads((project.paths.vectors(run) / "timing.json").read_text())["videos"]["m1_day1"]
    assert (timing["windows"], timing["windows_to_model"]) == (13, len(seen))
    assert timing["model_share"] == round(len(seen) / 13, 4)


def test_resume_takes_the_detectors_pass_from_the_cache_and_gives_the_same_files(tmp_path, mouse, monkeypatch):
    a = _project(tmp_path / "a", mouse)
    b = _project(tmp_path / "b", mouse)
    names = Settings.default().behavior_names
    run = _run(a, FakeWindowBackend(names))
    class Breaks(FakeWindowBackend):  # the same model (same settings), failing at window 7
        def classify(self, windows):
            if any(w.index == 7 for w in windows):
                raise ModelError("the model broke at window 7")
            return super().classify(windows)

    with pytest.raises(ModelError, match="window 7"):
        _run(b, Breaks(names))
    passes = []
    original = MotionBackend.classify_video
    monkeypatch.setattr(MotionBackend, "classify_video", lambda *a, **k: passes.append(1) or original(*a, **k))
    again = Recorder(names)
    assert _run(b, again) == run
    assert passes == [] and [w.index for w in again.windows] == [k for k in sorted(MODEL | {4}) if k >= 7]
    pa, pb = (Project.open(c).paths.vector_file(run, "m1_day1") for c in (a, b))
    assert pa.with_suffix(".csv").read_bytes() == pb.with_suffix(".csv").read_bytes()
    ta, tb = read_vector_windows(pa), read_vector_windows(pb)
    assert ta["decided_by"].tolist() == tb["decided_by"].tolist()
    np.testing.assert_array_equal(ta[names].to_numpy(), tb[names].to_numpy())


def test_share_of_windows_sent_to_the_model_on_tracktor(tmp_path, shared_video):
    """At the defaults, fewer than half of tracktor's windows go to the model (the fake stands in for it)."""
    cfg = mousefear.create_project("t", "t", [shared_video("tracktor/mouse_video.mp4")], working_directory=tmp_path,
                                   date="2026-11-23")
    c = load_config(cfg)
    c["classification"]["backend"] = "hybrid"
    c["classification"]["icl_per_class"] = 0
    save_config(cfg, c)
    run = _run(cfg, FakeWindowBackend(Settings.default().behavior_names))
    timing = json.loads((Project.open(cfg).paths.vectors(run) / "timing.json").read_text())["videos"]
    (share,) = [v["model_share"] for v in timing.values()]
    assert share < 0.5
