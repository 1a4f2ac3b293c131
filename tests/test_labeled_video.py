"""Labelled videos: decoded back, same frame count and rate, the behaviour's colour where it is drawn."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest

import mousefear
from mousefear.backends.fake import FakeWindowBackend
from mousefear.core.project import Project
from mousefear.errors import ProjectError, VideoError
from mousefear.formats.mp4 import frame_rate
from mousefear.formats.vectors import read_vector
from mousefear.pipeline.labeled_video import STRIP_SECONDS, Layout
from mousefear.pipeline.plots import NONE_COLOR, behavior_colors

av = pytest.importorskip("av")

BEHAVIORS = ["freezing", "exploring", "grooming", "rearing", "fleeing"]


def _rgb(hex_color):
    return np.array([int(hex_color[i:i + 2], 16) for i in (1, 3, 5)])


def _decode(path):
    """Every frame (RGB) with PyAV, and the stream's codec, pixel format and rate."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(s)]
        return frames, s.codec_context.name, s.codec_context.pix_fmt, s.average_rate


@pytest.fixture
def labelled(tmp_path, make_video):
    cfg = mousefear.create_project("fc", "t", [make_video("m1_day1.avi", n_frames=45, size=(640, 480))],
                                   working_directory=tmp_path / "p", date="2026-11-23")
    project = Project.open(cfg)
    with project.edit() as doc:
        doc["classification"]["max_unparseable"] = 0.5  # the last window answers nothing, on purpose
    mousefear.classify_videos(project, run="fake", backend=FakeWindowBackend(BEHAVIORS, unparseable=(2,)),
                              progress=False)
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"frame": range(45), "behavior": ["rearing"] * 15 + [""] * 15 + ["grooming"] * 15}).to_csv(
        labels, index=False)
    mousefear.import_labels(project, labels, video="m1_day1")
    return project


def test_labelled_video_has_every_frame_and_the_label_colour(labelled):
    project = labelled
    out = mousefear.create_labeled_video(project, human=True, progress=False)
    assert out == [project.root / "evaluation" / "fake" / "videos" / "m1_day1_labeled.mp4"]
    frames, codec, pix_fmt, rate = _decode(out[0])
    assert (codec, pix_fmt, rate) == ("h264", "yuv420p", 15)
    lay = Layout(640, 480, rows=2)
    assert len(frames) == 45 and frames[0].shape == (lay.out_height, lay.out_width, 3)
    # OpenCV, another decoder, agrees on the count and the rate
    cap = cv2.VideoCapture(str(out[0]))
    n = 0
    while cap.read()[0]:
        n += 1
    assert n == 45 and cap.get(cv2.CAP_PROP_FPS) == pytest.approx(15.0)
    cap.release()
    pred = read_vector(project.paths.vector_file("fake", "m1_day1"))["label"].tolist()
    colors = behavior_colors(BEHAVIORS)
    x0, y0, x1, y1 = lay.swatch
    cx = (lay.label_width + lay.out_width - lay.margin) // 2
    pred_row = lay.strip_top + lay.row_height // 2
    human_row = pred_row + lay.row_height + round(3 * lay.scale)
    for i in (3, 20, 35):  # windows 0, 1 and 2 (window 2 has no answer: grey)
        want = _rgb(colors[pred[i]]) if pred[i] else _rgb(NONE_COLOR)
        assert (pred[i] == "") == (i == 35)
        got = frames[i][(y0 + y1) // 2, (x0 + x1) // 2].astype(int)
        assert np.abs(got - want).max() <= 12, (i, got, want)
        # the strip just left of the cursor shows the same frame's behaviour
        assert np.abs(frames[i][pred_row, cx - 3].astype(int) - want).max() <= 12
    # the human row: rearing at frame 3, unlabelled (dark grey) at frame 20, grooming at frame 35
    assert np.abs(frames[3][human_row, cx - 3].astype(int) - _rgb(colors["rearing"])).max() <= 12
    assert np.abs(frames[20][human_row, cx - 3].astype(int) - np.array([70, 70, 70])).max() <= 12
    assert np.abs(frames[35][human_row, cx - 3].astype(int) - _rgb(colors["grooming"])).max() <= 12
    # the strip scrolls: STRIP_SECONDS / 2 of behaviour on each side of the cursor; before frame 0 it is empty
    px_per_s = (lay.out_width - lay.margin - lay.label_width) / STRIP_SECONDS
    before_start = cx - int(px_per_s * 0.5)  # half a second before frame 0
    assert np.abs(frames[0][pred_row, before_start].astype(int) - np.array([32, 32, 32])).max() <= 12
    # the picture itself is kept below the overlay (the dark square of the synthetic video)
    src = next(iter(mousefear.core.video.iter_frames(project.video("m1_day1").path)))
    assert np.abs(frames[0][240, 320].astype(int) - src[240, 320].astype(int)).max() <= 12


def test_without_human_one_strip_row_and_errors(labelled, monkeypatch):
    out = mousefear.create_labeled_video(labelled.config_path, videos="m1_day1", progress=False)[0]
    frames, *_ = _decode(out)
    assert frames[0].shape[0] == Layout(640, 480, rows=1).out_height
    with pytest.raises(ProjectError, match="no registered video 'nope'"):
        mousefear.create_labeled_video(labelled, videos="nope")
    import sys

    monkeypatch.setitem(sys.modules, "av", None)
    with pytest.raises(VideoError, match=r"writing MP4 video needs PyAV .*pip install 'mousefear\[video\]'"):
        mousefear.create_labeled_video(labelled, progress=False)
    assert out.is_file()  # the earlier video is kept: nothing half-written replaces it


def test_frame_rate_fractions():
    assert frame_rate(15.0) == 15 and frame_rate(29.97002997002997) == pytest.approx(30000 / 1001)
    assert float(frame_rate(30.00030000300003)) == pytest.approx(30.00030000300003, rel=1e-9)


def test_cli_create_labeled_video(labelled, capsys):
    from mousefear.cli import main

    assert main(["create-labeled-video", str(labelled.config_path), "--human"]) == 0
    out = capsys.readouterr().out
    assert "wrote 1 labelled video(s)" in out and "m1_day1_labeled.mp4" in out


def test_real_video_keeps_its_frame_count_and_rate(tmp_path, shared_video):
    """The empty conditioning chamber (320x240, 30 fps, 298 frames) through the motion backend."""
    path = shared_video("empty-chamber/Freezing_calibration.wmv")
    cfg = mousefear.create_project("ec", "t", [path], working_directory=tmp_path, subject="chamber", session="cal")
    project = Project.open(cfg)
    with project.edit() as doc:
        doc["classification"]["backend"] = "motion"
        doc["classification"]["max_unparseable"] = 1.0  # an empty chamber: no animal, no prediction, on purpose
    mousefear.classify_videos(project, progress=False)
    out = mousefear.create_labeled_video(project, progress=False)[0]
    frames, codec, _, rate = _decode(out)
    v = project.video("Freezing_calibration")
    assert len(frames) == v.n_frames == 298 and codec == "h264"
    assert float(rate) == pytest.approx(v.fps, rel=1e-6)
