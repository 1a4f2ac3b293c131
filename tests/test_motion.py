"""Tests of the motion baseline (mousefear/backends/motion.py) on synthetic videos with known motion and real data."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from _motion_videos import truth, write_motion_video
from conftest import REPO

from mousefear.backends.base import VideoResult
from mousefear.backends.motion import MotionBackend
from mousefear.backends.motion_measure import deduplicate_change, freezing_runs, measure_motion
from mousefear.core.intervals import window_means
from mousefear.core.settings import Settings
from mousefear.core.video import Video
from mousefear.errors import ConfigError, VideoError

BEHAVIORS = ["freezing", "exploring", "grooming", "rearing", "fleeing"]
# walk 2 px/frame, stills of 40 (freezing), 25 (too short: 0.83 s) and 45 frames, a dash at 7 px/frame
SCRIPT = [("walk", 45, 2.0), ("still", 40, 0), ("walk", 20, 2.0), ("still", 25, 0), ("dash", 15, 7.0),
          ("walk", 30, 2.0), ("still", 45, 0)]
N = sum(n for _, n, _ in SCRIPT)


def expected_freezing(script=SCRIPT, min_frames=30) -> np.ndarray:
    out = []
    for kind, n, _ in script:
        out += [kind == "still" and n >= min_frames] * n
    return np.array(out)


def boundaries(script=SCRIPT) -> np.ndarray:
    return np.cumsum([n for _, n, _ in script])[:-1]


def motion(behaviors=None, **kw) -> MotionBackend:
    """A motion backend built as classify_videos builds it: the template's settings, with changes."""
    top = {}
    if behaviors is not None:
        top["behaviors"] = [{"name": b, "definition": f"the mouse is {b}"} for b in behaviors]
    if "freezing_behavior" in kw:
        top["freezing_behavior"] = kw.pop("freezing_behavior")
    settings = Settings.default().updated(top) if top else Settings.default()
    return MotionBackend.from_settings(settings, **kw)


def backend(**kw) -> MotionBackend:
    """The ``pixels`` method (frame-exact tests of the frame-fraction measure)."""
    kw.setdefault("method", "pixels")
    kw.setdefault("flee_speed", 8.0)
    kw.setdefault("flee_speed_unit", "body_lengths/s")
    return motion(**kw)


def classify(b: MotionBackend, path, *, n_frames=None, fps=30.0, crop=None, window_bounds=(), pixels_per_cm=None,
             progress=False) -> VideoResult:
    """Classify a video file with the registry values a project would give it."""
    video = dataclasses.replace(Video.from_file(path), fps=fps, pixels_per_cm=pixels_per_cm,
                                **({} if n_frames is None else {"n_frames": n_frames}))
    bounds = np.asarray(window_bounds, dtype=np.int64).reshape(-1, 2)
    return b.classify_video(video, bounds, crop=crop, progress=progress)


def names(b: MotionBackend, res: VideoResult) -> np.ndarray:
    return np.array(b.behaviors, dtype=object)[res.frame_label]


@pytest.mark.parametrize("noise", [0.0, 4.0])
def test_still_intervals_are_freezing_frame_by_frame(tmp_path, noise):
    path = write_motion_video(tmp_path / "v.avi", SCRIPT, noise=noise)
    b = backend()
    res = classify(b, path, fps=30.0, n_frames=N, progress=False)
    pred = names(b, res)
    np.testing.assert_array_equal(pred == "freezing", expected_freezing())
    kinds = truth(SCRIPT)
    # the dash is fleeing except within the speed window (3 frames) of its ends; nothing else is
    flee = np.flatnonzero(pred == "fleeing")
    dash = np.flatnonzero(kinds == "dash")
    assert set(range(dash[0] + 3, dash[-1] - 2)) <= set(flee)
    assert flee.min() >= dash[0] - 3 and flee.max() <= dash[-1] + 3
    assert set(pred) <= {"freezing", "exploring", "fleeing"}


def test_a_window_is_freezing_only_when_every_frame_of_it_is(tmp_path):
    """freezing_unit window (the default): a stillness that fills no whole window is not freezing, as a person
    scoring per second would not call it; freezing_unit frame keeps every frame of a long-enough stillness."""
    path = write_motion_video(tmp_path / "v.avi", SCRIPT)
    bounds = [(s, min(s + 30, N)) for s in range(0, N, 30)]  # the 40-frame stillness at 45-84 fills none
    b = backend()
    by_frame = classify(backend(freezing_unit="frame"), path, n_frames=N, window_bounds=bounds)
    by_window = classify(b, path, n_frames=N, window_bounds=bounds)
    np.testing.assert_array_equal(names(b, by_frame) == "freezing", expected_freezing())
    whole = np.zeros(N, dtype=bool)
    whole[180:] = True  # windows [180, 210) and [210, 220) lie inside the last stillness (175-219)
    np.testing.assert_array_equal(names(b, by_window) == "freezing", whole)
    moved = expected_freezing() & ~whole
    assert (names(b, by_window)[moved] == "exploring").all()
    np.testing.assert_allclose(by_window.frame_probabilities[moved][:, [0, 1]],
                               by_frame.frame_probabilities[moved][:, [1, 0]])  # freezing and moving swapped
    assert np.flatnonzero(by_window.probabilities.argmax(axis=1) == 0).tolist() == [6, 7]
    assert 1 in np.flatnonzero(by_frame.probabilities.argmax(axis=1) == 0)  # half of [30, 60) still: on top
    unchanged = classify(b, path, n_frames=N)  # no windows given: the frame decisions
    np.testing.assert_array_equal(unchanged.frame_label, by_frame.frame_label)


def test_probabilities_are_consistent_and_unmodelled_classes_zero(tmp_path):
    path = write_motion_video(tmp_path / "v.avi", SCRIPT, noise=2.0)
    b = backend()
    bounds = [(s, min(s + 30, N)) for s in range(0, N, 30)]
    res = classify(b, path, fps=30.0, n_frames=N, window_bounds=bounds, progress=False)
    p = res.frame_probabilities
    assert p.dtype == np.float32 and p.shape == (N, 5) and res.frame_label.dtype == np.int16
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(np.argmax(p, axis=1), res.frame_label)
    assert (p.max(axis=1) >= 0.55 - 1e-6).all()
    assert (p[:, [2, 3]] == 0).all()  # grooming, rearing
    # windows: mean of their frames
    assert res.n_windows == len(bounds)
    for (s, e), row in zip(bounds, res.probabilities, strict=True):
        np.testing.assert_allclose(row, p[s:e].mean(axis=0), atol=1e-6)
    assert set(res.signals) >= {"change", "raw_change", "repeat", "speed", "centroid_x", "changed_pixels"}
    assert all(v.shape == (N,) and v.dtype == np.float32 for v in res.signals.values())
    settings = b.describe()["settings"]
    assert settings["not_modelled"] == ["grooming", "rearing"]
    assert settings["modelled"] == ["freezing", "exploring", "fleeing"]


def test_duplicated_frames_do_not_become_freezing(tmp_path):
    walk = [("walk", 150, 2.0)]
    path = write_motion_video(tmp_path / "dup.avi", walk, repeat_pattern=(3,))  # every frame shown 3 times
    m = measure_motion(path, progress=False)
    assert m["repeat"].sum() == 100  # 2 of every 3 frames repeat the one before
    # with a short minimum duration (2 frames) the raw change would call the repeats freezing ...
    assert freezing_runs(m["raw_change"], 0.0005, 2).sum() >= 90
    # ... but repeats take the change of the next real frame, so nothing freezes
    b = backend(min_freeze_seconds=2 / 30)
    res = classify(b, path, fps=30.0, n_frames=150, progress=False)
    assert (names(b, res) == "freezing").sum() == 0
    assert res.info["repeats_filled"] == 100
    # switching the repeat handling off shows what it prevents
    b0 = backend(min_freeze_seconds=2 / 30, max_repeat_frames=0)
    assert (names(b0, classify(b0, path, fps=30.0, n_frames=150, progress=False)) == "freezing").sum() >= 90


def test_duplicated_frames_with_stills_and_dash(tmp_path):
    path = write_motion_video(tmp_path / "dup.avi", SCRIPT, noise=3.0, repeat_pattern=(2, 1, 2))
    b = backend()
    pred = names(b, classify(b, path, fps=30.0, n_frames=N, progress=False))
    wrong = np.flatnonzero((pred == "freezing") != expected_freezing())
    # a repeat at the edge of a still stretch is ambiguous: allow errors within 3 frames of a boundary only
    assert all(np.min(np.abs(boundaries() - w)) <= 3 for w in wrong), wrong
    kinds = truth(SCRIPT)
    assert not (pred[kinds == "walk"] == "freezing").any()


def test_deduplicate_change_rules():
    raw = np.array([5, 0, 0, 7, 0, 0, 0, 0, 0, 2, 0], dtype=float)
    rep = raw == 0
    out = deduplicate_change(raw, rep, max_repeat_frames=3)
    # short run [1, 3) takes frame 3's value; the long run [4, 9) is stillness; the final repeat takes frame 9's
    np.testing.assert_array_equal(out, [5, 7, 7, 7, 0, 0, 0, 0, 0, 2, 2])
    np.testing.assert_array_equal(deduplicate_change(raw, rep, 0), raw)


def test_freezing_runs_minimum_duration():
    change = np.array([0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0], dtype=float)
    np.testing.assert_array_equal(freezing_runs(change, 0.5, 3), [0, 0, 0, 1, 1, 1, 0, 1, 1, 1, 1])
    np.testing.assert_array_equal(freezing_runs(change, 0.0, 1), np.zeros(11, bool))


def test_window_means_rejects_bad_bounds():
    p = np.full((10, 2), 0.5)
    with pytest.raises(ValueError, match="Expected windows"):
        window_means(p, [(5, 11)])
    start, end, probs = window_means(p, [(0, 4), (4, 10)])
    assert start.tolist() == [0, 4] and end.tolist() == [4, 10] and probs.dtype == np.float32


def test_window_means_leave_out_frames_without_a_decision():
    """Frames without a decision (NaN rows: no animal found) do not make every later window NaN; a window with
    no decided frame has none."""
    p = np.array([[np.nan, np.nan], [np.nan, np.nan], [1.0, 0.0], [0.0, 1.0], [0.2, 0.8], [np.nan, np.nan],
                  [0.6, 0.4], [np.nan, np.nan]])
    _, _, probs = window_means(p, [(0, 2), (0, 4), (2, 5), (4, 8), (5, 6)])
    expected = [[np.nan, np.nan], [0.5, 0.5], [0.4, 0.6], [0.4, 0.6], [np.nan, np.nan]]
    np.testing.assert_allclose(probs, np.array(expected, dtype=np.float32), rtol=1e-6)


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(ConfigError, match=r"Expected classification.motion.moving_behavior to be one of the "
                       r"behaviours \['freezing', 'grooming'\], but got 'exploring'"):
        motion(["freezing", "grooming"])
    with pytest.raises(ConfigError, match="moving_behavior to be a behaviour other than freezing_behavior"):
        motion(moving_behavior="freezing")
    with pytest.raises(ConfigError, match="Expected classification.motion.blur_kernel to be 0 or an odd whole "
                       "number, but got 4"):
        motion(blur_kernel=4)
    with pytest.raises(ConfigError, match="Expected parameters of the motion backend among"):
        motion(blur=3)
    path = write_motion_video(tmp_path / "m1_day1.avi", [("walk", 30, 2.0)])
    b = motion(flee_speed=20.0, flee_speed_unit="cm/s", method="pixels")
    with pytest.raises(ConfigError, match="m1_day1.avi.*pixels_per_cm is null"):
        classify(b, path, fps=30.0, n_frames=30, progress=False)
    res = classify(b, path, fps=30.0, n_frames=30, pixels_per_cm=10.0, progress=False)
    np.testing.assert_allclose(np.nanmedian(res.signals["speed"][5:-5]), 6.0, rtol=0.05)  # 60 px/s = 6 cm/s
    with pytest.raises(VideoError, match="Expected 31 frames"):
        classify(b, path, fps=30.0, n_frames=31, pixels_per_cm=10.0, progress=False)
    with pytest.raises(VideoError, match=r"Expected a crop box \(x, y, width, height\) inside the 160x120 frame"):
        classify(b, path, fps=30.0, crop=(0, 0, 500, 10), pixels_per_cm=10.0, progress=False)


def test_without_fleeing_behaviour_fast_movement_is_exploring(tmp_path):
    path = write_motion_video(tmp_path / "v.avi", SCRIPT)
    b = motion(["freezing", "exploring", "grooming"], flee_speed=8.0, flee_speed_unit="body_lengths/s",
               method="pixels")
    res = classify(b, path, fps=30.0, n_frames=N, progress=False)
    assert set(np.array(b.behaviors)[res.frame_label]) == {"freezing", "exploring"}
    assert "fast movement is exploring" in b.describe()["settings"]["notes"][0]
    nb = motion()  # flee_speed null
    assert "fleeing" in nb.describe()["settings"]["not_modelled"]


def test_renamed_classes_get_the_same_decisions(tmp_path):
    """A lab's own class names (immobility, locomotion, escape) in another order: every frame gets the class
    playing the same role as with the default names."""
    path = write_motion_video(tmp_path / "v.avi", SCRIPT)
    ref = backend()
    want = names(ref, classify(ref, path, fps=30.0, n_frames=N, progress=False))
    own = ["escape", "grooming", "locomotion", "immobility"]
    b = motion(own, flee_speed=8.0, flee_speed_unit="body_lengths/s", freezing_behavior="immobility",
               moving_behavior="locomotion", fleeing_behavior="escape", method="pixels")
    res = classify(b, path, fps=30.0, n_frames=N, progress=False)
    rename = {"freezing": "immobility", "exploring": "locomotion", "fleeing": "escape"}
    np.testing.assert_array_equal(names(b, res), [rename[x] for x in want])
    assert (res.frame_probabilities[:, own.index("grooming")] == 0).all()
    settings = b.describe()["settings"]
    assert settings["modelled"] == ["immobility", "locomotion", "escape"]
    assert settings["not_modelled"] == ["grooming"]
    assert (settings["freezing_behavior"], settings["moving_behavior"], settings["fleeing_behavior"]) == (
        "immobility", "locomotion", "escape")


def test_crop_limits_the_analysed_area(tmp_path):
    path = write_motion_video(tmp_path / "v.avi", [("walk", 60, 2.0)])
    b = backend()
    # a crop below the disc's track sees no movement at all: everything is freezing
    res = classify(b, path, fps=30.0, n_frames=60, crop=(0, 90, 160, 30), progress=False)
    assert (names(b, res) == "freezing").all()
    assert res.signals["changed_pixels"].max() == 0


def test_video_result_round_trips_through_a_vector_file(tmp_path):
    from mousefear.formats.vectors import read_vector, read_vector_windows, write_vector

    path = write_motion_video(tmp_path / "v.avi", SCRIPT, noise=2.0)
    b = backend()
    bounds = [(s, min(s + 30, N)) for s in range(0, N, 30)]
    res = classify(b, path, fps=30.0, n_frames=N, window_bounds=bounds, progress=False)
    d = b.describe()
    attrs = {"video_id": "v", "subject": "m1", "session": "day1", "video_sha256": "0" * 64, "fps": 30.0,
             "run": "motion", "backend": d["backend"], "model_id": d["model_id"], "model_revision": "",
             "prompt_hash": "", "icl_example_ids": [], "preprocessing": d["settings"]}
    out = write_vector(tmp_path / "v.h5", behaviors=BEHAVIORS, start_frame=res.start_frame,
                       end_frame=res.end_frame, probabilities=res.probabilities, n_frames=N, attrs=attrs,
                       frame_probabilities=res.frame_probabilities, frame_label=res.frame_label)
    vec = read_vector(out)
    np.testing.assert_array_equal(vec["label"].to_numpy(), names(b, res))
    np.testing.assert_allclose(vec[BEHAVIORS].to_numpy(), res.frame_probabilities)
    win = read_vector_windows(out)
    np.testing.assert_allclose(win[BEHAVIORS].to_numpy(), res.probabilities)
    assert vec.attrs["preprocessing"]["not_modelled"] == ["grooming", "rearing"]


def test_sample_project_freezing_f1():
    from mousefear.formats.labels import read_label_file

    video = REPO / "sample_project" / "mouse1_day1.mp4"
    labels = read_label_file(REPO / "sample_project" / "mouse1_day1_labels.csv", BEHAVIORS)
    b = backend(flee_speed=4.0)
    pred = names(b, classify(b, video, fps=30.0, n_frames=labels.size, progress=False))
    t, p = labels == "freezing", pred == "freezing"
    f1 = 2 * np.sum(t & p) / (np.sum(t) + np.sum(p))
    assert f1 >= 0.99  # measured: 1.000 (450 freezing frames)
    tf, pf = labels == "fleeing", pred == "fleeing"
    assert 2 * np.sum(tf & pf) / (np.sum(tf) + np.sum(pf)) >= 0.8  # measured: 0.92


def test_empty_chamber_shows_no_animal_movement(shared_video):
    video = shared_video("empty-chamber/Freezing_calibration.wmv")
    b = backend(flee_speed=2.0)  # a low bar for fleeing: noise and static blobs must still stay far below it
    res = classify(b, video, fps=30.0, n_frames=298, progress=False)
    pred = names(b, res)
    assert (pred == "freezing").all()  # no frame of movement, so no exploring or fleeing bout
    assert res.signals["changed_pixels"].max() == 0  # camera noise stays below the default cutoff of 20


@pytest.mark.slow
def test_tracktor_duplicates_do_not_freeze_walking_stretches(shared_video):
    """Measured: 35 walking seconds (median speed > 2 body lengths/s), 2.1 % of their frames freezing with the
    defaults; with a 0.1 s minimum freezing duration the repeat handling lowers freezing there."""
    video = shared_video("tracktor/mouse_video.mp4")
    b = backend()
    res = classify(b, video, fps=30.0, n_frames=10000, progress=False)
    assert res.info["repeated_frames"] > 3000
    speed = res.signals["speed"][: 10000 // 30 * 30].reshape(-1, 30)
    walking = np.repeat(np.nanmedian(speed, axis=1) > 2.0, 30)
    assert walking.sum() > 30 * 30
    frozen = names(b, res)[: walking.size] == "freezing"
    assert frozen[walking].mean() < 0.05  # measured: 2.1 % (one pause reaching into a walking second)
    short = int(round(0.1 * 30))
    raw = freezing_runs(res.signals["raw_change"], b.freeze_threshold, short)[: walking.size]
    dedup = freezing_runs(res.signals["change"], b.freeze_threshold, short)[: walking.size]
    assert dedup[walking].mean() < raw[walking].mean()
