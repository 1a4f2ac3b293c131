"""Tests of the motion detector's ``animal`` method (mousefear/backends/motion_animal.py) on synthetic mice with
known stillness, per second, and on the real videos."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _motion_videos import write_mouse_video
from conftest import REPO

from mousefear.backends.motion import MotionBackend
from mousefear.backends.motion_animal import analysis_stride, measure_animal, still_runs
from mousefear.core.intervals import second_bounds, whole_seconds
from mousefear.core.settings import Settings
from mousefear.core.video import Video

# walk 2 s, still 2 s, walk 1 s, still 3 s, walk 2 s, still 1 s, walk 1 s: seconds 2, 3, 5, 6, 7, 10 are still
SECONDS = [("walk", 2), ("still", 2), ("walk", 1), ("still", 3), ("walk", 2), ("still", 1), ("walk", 1)]
TRUTH = [0, 0, 1, 1, 0, 1, 1, 1, 0, 0, 1, 0]


def animal_backend(**kw) -> MotionBackend:
    return MotionBackend.from_settings(Settings.default(), **kw)


def freezing_seconds(path, fps, backend=None) -> tuple[np.ndarray, object]:
    backend = backend or animal_backend()
    video = Video.from_file(path)
    res = backend.classify_video(video, np.zeros((0, 2), np.int64), crop=None, progress=False)
    frozen = (res.frame_label == backend.behaviors.index("freezing"))
    return whole_seconds(frozen, fps).astype(int), res


@pytest.mark.parametrize(("body", "fps", "repeats", "noise", "cable"), [
    (30, 30.0, (1,), 2.0, 0.0),      # medium mouse
    (20, 30.0, (1,), 2.0, 0.0),      # small mouse
    (60, 30.0, (1,), 2.0, 0.0),      # large mouse
    (30, 25.0, (1,), 2.0, 0.0),      # 25 fps: every frame analysed
    (30, 60.0, (1,), 2.0, 0.0),      # 60 fps: every 4th frame analysed
    (30, 30.0, (2, 1, 2), 2.0, 0.0),  # 40 % duplicated frames
    (30, 30.0, (3,), 2.0, 0.0),      # a 10 fps source written at 30 fps: 2 of 3 frames duplicated
    (30, 30.0, (1,), 6.0, 0.0),      # noisy camera
    (30, 30.0, (1,), 2.0, 8.0),      # a head-mounted cable swaying 8 px all the time
    (30, 30.0, (2, 1, 2), 4.0, 6.0),  # all at once
])
def test_stillness_per_second_is_exact_on_synthetic_mice(tmp_path, body, fps, repeats, noise, cable):
    path, truth = write_mouse_video(tmp_path / "m.avi", SECONDS, fps=fps, body=body, repeat_pattern=repeats,
                                    noise=noise, cable=cable)
    pred, res = freezing_seconds(path, fps)
    assert truth.astype(int).tolist() == TRUTH
    assert pred.tolist() == TRUTH
    # the first frame's animal is part of the background until it moves: no prediction there, never freezing
    assert (res.frame_label[: int(fps) // 2] != 0).all()
    assert res.info["body_length_px"] == pytest.approx(body, rel=0.15)  # the tail is removed by the opening


def test_no_animal_no_prediction(tmp_path):
    path, _ = write_mouse_video(tmp_path / "empty.avi", [("still", 3)], body=30, noise=3.0)
    # an empty arena (the "mouse" never moves from the first frame: part of the background, like the floor)
    pred, res = freezing_seconds(path, 30.0)
    assert (res.frame_label == -1).all() and np.isnan(res.frame_probabilities).all()
    assert pred.sum() == 0 and res.info["animal_found_frames"] == 0


def test_measurement_units_and_lag(tmp_path):
    path, _ = write_mouse_video(tmp_path / "m.avi", [("walk", 3)], body=30, speed=90.0, noise=0.0, tail=False)
    m = measure_animal(path, fps=30.0, progress=False)
    assert analysis_stride(30.0) == 2 and analysis_stride(25.0) == 1 and analysis_stride(60.0) == 4
    assert m["lag_frames"] == 4 and m["analysis_stride"] == 2
    walking = np.isfinite(m["centroid_shift"])
    # 90 px/s for 4 frames at 30 fps = 12 px between the frames compared (away from the bounces)
    assert np.median(m["centroid_shift"][walking]) == pytest.approx(12.0, abs=0.6)
    area = np.nanmedian(m["area"])
    assert area == pytest.approx(np.pi * 15 * 7.5, rel=0.1)  # the ellipse 30 x 15 px


def test_still_runs_place_movement_between_frames():
    n = 20
    pair = np.ones(n, bool)
    pair[[9, 10, 11, 12]] = False  # pairs (t - 4, t) spanning one movement at the step 8 -> 9
    runs = still_runs(pair, np.ones(n, bool), lag_frames=4, stride=1, min_frames=3)
    assert runs.all()  # 0..8 and 9..19 are two runs, each at least 3 frames
    runs = still_runs(pair, np.ones(n, bool), lag_frames=4, stride=1, min_frames=10)
    assert runs.tolist() == [False] * 9 + [True] * 11
    found = np.ones(n, bool)
    found[15] = False  # a frame without the animal ends a run and is never still
    runs = still_runs(np.ones(n, bool), found, lag_frames=4, stride=1, min_frames=10)
    assert runs.tolist() == [True] * 15 + [False] * 5


def test_second_bounds_and_whole_seconds():
    assert second_bounds(65, 30.0).tolist() == [[0, 30], [30, 60], [60, 65]]
    mask = np.ones(65, bool)
    mask[40] = False
    assert whole_seconds(mask, 30.0).tolist() == [True, False, True]


def test_sample_video_per_second():
    from mousefear.formats.labels import read_label_file

    labels = read_label_file(REPO / "sample_project" / "mouse1_day1_labels.csv",
                             ["freezing", "exploring", "grooming", "rearing", "fleeing"])
    pred, _ = freezing_seconds(REPO / "sample_project" / "mouse1_day1.mp4", 30.0)
    assert pred.tolist() == whole_seconds(labels == "freezing", 30.0).astype(int).tolist()  # measured: exact


def test_empty_chamber_and_open_field_have_no_freezing_second(shared_video):
    pred, res = freezing_seconds(shared_video("empty-chamber/Freezing_calibration.wmv"), 30.0)
    assert pred.sum() == 0 and (res.frame_label == -1).all()  # no animal found: no prediction at all
    pred, _ = freezing_seconds(shared_video("openfield/m3v1mp4.mp4"), 30.0)
    assert pred.sum() == 0  # every second is exploring


def test_tracktor_run_reports_freezing_by_the_rule_it_is_scored_by(shared_video, tmp_path):
    """The published number: a motion run's percent freezing (evaluate, summaries) counts only the seconds in which
    the mouse is still throughout, as the per-second scorer did; frame, window and bout figures agree. Counted
    per frame, a stillness of 1.5 s across two seconds would add 1.5 s the scorer never called freezing (on this
    video 14.1 % of the frames against 4.8 % scored, measured with freezing_unit frame)."""
    import mousefear
    from mousefear.core.project import Project

    video = shared_video("tracktor/mouse_video.mp4")
    cfg = mousefear.create_project("tr", "t", [video], working_directory=tmp_path, date="2026-01-01")
    mousefear.import_labels(cfg, video.parent / "mouse_video_labels_per_second.csv", video="mouse_video")
    with Project.open(cfg).edit() as doc:
        doc["classification"]["backend"] = "motion"
    run = mousefear.classify_videos(cfg, progress=False)
    frames = mousefear.read_vector(cfg.parent / "behavior-vectors" / run / "mouse_video.h5")
    frozen = (frames["label"] == "freezing").to_numpy()
    seconds = frozen[: frozen.size // 30 * 30].reshape(-1, 30).all(axis=1)
    assert frozen.sum() == 30 * seconds.sum()  # every freezing frame lies in a wholly freezing second
    overall = mousefear.evaluate(cfg, run, plots=False).data["overall"]
    assert overall["percent_time"]["freezing"]["predicted"] == pytest.approx(100 * frozen.mean(), abs=0.01)
    assert abs(overall["percent_time"]["freezing"]["predicted"] - overall["percent_time"]["freezing"]["human"]) <= 2
    f1 = {level: overall[level]["per_behavior"]["freezing"]["f1"] for level in ("frame", "window")}
    assert f1["frame"] == pytest.approx(f1["window"]) and f1["window"] >= 0.85


def test_tracktor_freezing_f1(shared_video):
    """Defaults against the per-second human labels (measured: F1 0.97, 16 of 16 freezing seconds found, 1
    false; percent freezing 4.8 true, 5.1 predicted). Runs in the default suite (about 10 s)."""
    video = shared_video("tracktor/mouse_video.mp4")
    labels = pd.read_csv(video.parent / "mouse_video_labels_per_second.csv")
    truth = (labels["label"] == "freezing").to_numpy()
    pred, _ = freezing_seconds(video, 30.0)
    pred = pred[: truth.size].astype(bool)
    tp, fp, fn = np.sum(pred & truth), np.sum(pred & ~truth), np.sum(~pred & truth)
    f1 = 2 * tp / (2 * tp + fp + fn)
    assert f1 >= 0.85
    assert abs(100 * pred.mean() - 100 * truth.mean()) <= 2.0
