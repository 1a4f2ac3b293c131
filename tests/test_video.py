"""Windows: exact frame bounds, even sampling, one decoding pass, crop, truncated files."""

from __future__ import annotations

import logging
from fractions import Fraction

import cv2
import numpy as np
import pytest

import mousefear
from mousefear.core import video as mv
from mousefear.core.intervals import sample_indices, window_bounds, window_partial
from mousefear.core.project import Project
from mousefear.core.video import iter_frames, iter_windows
from mousefear.errors import ConfigError


def write_numbered(path, n_frames: int, fps: float, size=(40, 30)):
    """Lossless (FFV1) video whose frame i is filled with code(i) = (i % 50) * 5 in G and (i // 50) * 5 in R,
    with a white pixel block at the top-left corner, so that crops and frame numbers can be checked exactly."""
    w, h = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), fps, (w, h))
    assert writer.isOpened()
    for i in range(n_frames):
        writer.write(numbered_frame_bgr(i, size))
    writer.release()
    return path


def numbered_frame_bgr(i: int, size=(40, 30)) -> np.ndarray:
    w, h = size
    f = np.zeros((h, w, 3), np.uint8)
    f[..., 1] = (i % 50) * 5
    f[..., 2] = (i // 50) * 5
    f[..., 0] = np.arange(w, dtype=np.uint8)[None, :] * 3  # blue encodes the column: crops are checkable
    f[:4, :4] = 255
    return f


def frame_number(rgb: np.ndarray) -> int:
    """Frame number of a decoded RGB frame of write_numbered (read at the centre)."""
    h, w = rgb.shape[:2]
    r, g = int(rgb[h // 2, w // 2, 0]), int(rgb[h // 2, w // 2, 1])
    return (r // 5) * 50 + g // 5


# ------------------------------------------------------------------------------------------ window bounds
def test_bounds_back_to_back_exact_integers():
    b = window_bounds(100, 30.0)
    assert b.dtype == np.int64 and b.shape == (4, 2)
    assert b.tolist() == [[0, 30], [30, 60], [60, 90], [90, 100]]
    assert window_partial(100, 30.0).tolist() == [False, False, False, True]
    assert window_bounds(90, 30.0).tolist() == [[0, 30], [30, 60], [60, 90]]
    assert not window_partial(90, 30.0).any()


def test_bounds_2997_fps_one_hour_no_drift():
    n = 107_892  # one hour at 29.97 fps
    b = window_bounds(n, 29.97)
    k = np.arange(len(b), dtype=np.int64)
    # independent integer computation: round half up of k * 2997 / 100
    starts = (k * 2997 + 50) // 100
    ends = np.minimum(((k + 1) * 2997 + 50) // 100, n)
    assert np.array_equal(b[:, 0], starts) and np.array_equal(b[:, 1], ends)
    assert len(b) == 3600  # 3600 * 29.97 = 107892 exactly: the last window ends with the video, not partial
    assert b[-1].tolist() == [107_862, 107_892] and not window_partial(n, 29.97)[-1]
    assert np.array_equal(b[1:, 0], b[:-1, 1])  # contiguous: no frame lost or counted twice
    # a float accumulator would drift; ours matches the exact rational value at every window
    assert b[1800, 0] == 53_946  # 1800 * 29.97 = 53946


def test_bounds_ntsc_rate_as_float():
    fps = 30000 / 1001  # what containers report for 29.97 NTSC video
    n = 300_001
    b = window_bounds(n, fps)
    k = np.arange(len(b), dtype=object)
    exact = [int(Fraction(2 * int(i) * 30000 + 1001, 2 * 1001)) for i in k]  # floor(k*fps + 1/2)
    assert b[:, 0].tolist() == exact
    assert b[-1, 1] == n and window_partial(n, fps)[-1]


def test_bounds_overlapping_stride():
    b = window_bounds(35, 10.0, window_seconds=1.0, stride_seconds=0.5)
    assert b.tolist() == [[0, 10], [5, 15], [10, 20], [15, 25], [20, 30], [25, 35], [30, 35]]
    assert window_partial(35, 10.0, 1.0, 0.5).tolist() == [False] * 6 + [True]


def test_bounds_stride_longer_than_window():
    assert window_bounds(45, 10.0, window_seconds=0.5, stride_seconds=2.0).tolist() == [[0, 5], [20, 25], [40, 45]]
    assert window_bounds(43, 10.0, 0.5, 2.0).tolist() == [[0, 5], [20, 25], [40, 43]]
    assert window_partial(43, 10.0, 0.5, 2.0).tolist() == [False, False, True]


def test_bounds_reject_windows_shorter_than_a_frame():
    with pytest.raises(ConfigError, match="at least one frame"):
        window_bounds(100, 2.0, window_seconds=0.2)
    with pytest.raises(ConfigError, match="Expected fps to be a positive number, but got 0"):
        window_bounds(100, 0)
    assert window_bounds(0, 30.0).shape == (0, 2)


def test_sample_indices_centres_and_repeats():
    assert sample_indices(0, 30, 4).tolist() == [3, 11, 18, 26]
    assert sample_indices(30, 60, 4).tolist() == [33, 41, 48, 56]
    assert sample_indices(10, 20, 1).tolist() == [15]
    assert sample_indices(0, 30, 30).tolist() == list(range(30))
    assert sample_indices(0, 2, 4).tolist() == [0, 0, 1, 1]  # fewer frames than k: repeated evenly
    assert sample_indices(0, 3, 4).tolist() == [0, 1, 1, 2]
    with pytest.raises(ValueError, match="Expected end > start"):
        sample_indices(5, 5, 4)


# ------------------------------------------------------------------------------------------------ streaming
class CountingCapture:
    """Wraps cv2.VideoCapture and counts grab / retrieve / read calls."""

    calls: dict[str, int] = {}
    real = cv2.VideoCapture

    def __init__(self, *args):
        self._cap = CountingCapture.real(*args)

    def grab(self):
        CountingCapture.calls["grab"] = CountingCapture.calls.get("grab", 0) + 1
        return self._cap.grab()

    def retrieve(self):
        CountingCapture.calls["retrieve"] = CountingCapture.calls.get("retrieve", 0) + 1
        return self._cap.retrieve()

    def read(self):
        CountingCapture.calls["read"] = CountingCapture.calls.get("read", 0) + 1
        return self._cap.read()

    def isOpened(self):
        return self._cap.isOpened()

    def get(self, prop):
        return self._cap.get(prop)

    def release(self):
        return self._cap.release()


@pytest.fixture
def counting(monkeypatch):
    CountingCapture.calls = {}
    monkeypatch.setattr(mv.cv2, "VideoCapture", CountingCapture)
    return CountingCapture.calls


def test_windows_carry_the_right_frames(tmp_path):
    path = write_numbered(tmp_path / "v.avi", 100, 30.0)
    stream = iter_windows(path, 1.0, None, 4, fps=30.0, n_frames=100)
    windows = list(stream)
    assert stream.status == "complete" and stream.stopped_at is None and stream.n_yielded == 4
    assert [(w.index, w.start_frame, w.end_frame, w.partial) for w in windows] == [
        (0, 0, 30, False), (1, 30, 60, False), (2, 60, 90, False), (3, 90, 100, True)]
    for w in windows:
        assert w.frames.dtype == np.uint8 and w.frames.shape == (4, 30, 40, 3)
        assert w.frame_indices.tolist() == sample_indices(w.start_frame, w.end_frame, 4).tolist()
        assert [frame_number(f) for f in w.frames] == w.frame_indices.tolist()
        assert w.video_id == "v" and w.fps == 30.0
    assert windows[3].frame_indices.tolist() == [91, 93, 96, 98]
    assert np.allclose(windows[1].timestamps, np.array([33, 41, 48, 56]) / 30.0)


def test_overlapping_windows_decode_each_frame_once(tmp_path, counting):
    path = write_numbered(tmp_path / "v.avi", 35, 10.0)
    windows = list(iter_windows(path, 1.0, 0.5, 4, fps=10.0, n_frames=35))
    bounds = window_bounds(35, 10.0, 1.0, 0.5)
    assert [(w.start_frame, w.end_frame) for w in windows] == [tuple(b) for b in bounds.tolist()]
    needed = set()
    for w in windows:
        assert [frame_number(f) for f in w.frames] == w.frame_indices.tolist()
        needed.update(w.frame_indices.tolist())
    assert counting.get("read", 0) == 0
    assert counting["retrieve"] == len(needed)  # every sampled frame converted once, though windows overlap
    assert counting["grab"] == max(needed) + 1  # front to back, once, stopping after the last needed frame


def test_gaps_between_windows_are_grabbed_not_retrieved(tmp_path, counting):
    path = write_numbered(tmp_path / "v.avi", 45, 10.0)
    windows = list(iter_windows(path, 0.5, 2.0, 2, fps=10.0, n_frames=45))
    assert [w.frame_indices.tolist() for w in windows] == [[1, 3], [21, 23], [41, 43]]
    assert [[frame_number(f) for f in w.frames] for w in windows] == [[1, 3], [21, 23], [41, 43]]
    assert counting["retrieve"] == 6 and counting["grab"] == 44


def test_start_window_resumes(tmp_path, counting):
    path = write_numbered(tmp_path / "v.avi", 100, 30.0)
    full = list(iter_windows(path, fps=30.0, n_frames=100))
    counting.clear()
    rest = list(iter_windows(path, fps=30.0, n_frames=100, start_window=2))
    assert [w.index for w in rest] == [2, 3]
    for a, b in zip(full[2:], rest, strict=True):
        assert np.array_equal(a.frames, b.frames) and a.frame_indices.tolist() == b.frame_indices.tolist()
    assert counting["retrieve"] == 8  # only the two windows' frames


def test_select_yields_only_chosen_windows(tmp_path):
    path = write_numbered(tmp_path / "v.avi", 100, 30.0)
    got = list(iter_windows(path, fps=30.0, n_frames=100, select=[3, 1]))
    assert [w.index for w in got] == [1, 3]
    assert [frame_number(f) for f in got[1].frames] == [91, 93, 96, 98]


def test_fps_2997_video_streams_exact_frames(tmp_path):
    path = write_numbered(tmp_path / "ntsc.avi", 200, 29.97)
    windows = list(iter_windows(path, fps=29.97, n_frames=200, frames_per_window=2))
    assert [(w.start_frame, w.end_frame) for w in windows] == [(0, 30), (30, 60), (60, 90), (90, 120), (120, 150),
                                                              (150, 180), (180, 200)]
    for w in windows:
        assert [frame_number(f) for f in w.frames] == w.frame_indices.tolist()


def test_truncated_stream_yields_what_decodes(tmp_path, caplog):
    path = write_numbered(tmp_path / "v.avi", 75, 30.0)
    with caplog.at_level(logging.WARNING, logger="mousefear.core.video"):
        stream = iter_windows(path, fps=30.0, n_frames=120)  # registered with more frames than the file has
        windows = list(stream)
    assert [w.index for w in windows] == [0, 1]  # window 2 [60, 90) needs frames 63..86; only 0..74 decode
    assert stream.status == "truncated" and stream.stopped_at == 75
    assert "decoding stopped at frame 75" in caplog.text and "registered with 120 frames" in caplog.text


def test_cut_off_file_stops_where_decoding_stops(tmp_path, caplog):
    path = write_numbered(tmp_path / "v.avi", 120, 30.0, size=(64, 48))
    data = path.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: int(len(data) * 0.55)])
    decodable = sum(1 for _ in iter_frames(cut))
    assert 0 < decodable < 120
    with caplog.at_level(logging.WARNING, logger="mousefear.core.video"):
        stream = iter_windows(cut, fps=30.0, n_frames=120)
        windows = list(stream)
    assert stream.status == "truncated" and stream.stopped_at == decodable
    assert len(windows) == sum(1 for b in window_bounds(120, 30.0) if sample_indices(*b, 4)[-1] < decodable)
    for w in windows:
        assert [frame_number(f) for f in w.frames] == w.frame_indices.tolist()
    assert f"decoding stopped at frame {decodable}" in caplog.text


def test_iter_frames_rgb_and_crop(tmp_path):
    path = write_numbered(tmp_path / "v.avi", 3, 10.0)
    frames = list(iter_frames(path))
    assert len(frames) == 3 and frames[0].shape == (30, 40, 3)
    expected = cv2.cvtColor(numbered_frame_bgr(2), cv2.COLOR_BGR2RGB)
    assert np.array_equal(frames[2], expected)
    cropped = list(iter_frames(path, crop=(10, 5, 20, 12)))
    assert np.array_equal(cropped[2], expected[5:17, 10:30])
    with pytest.raises(mousefear.errors.VideoError, match="inside the 40x30 frame"):
        list(iter_frames(path, crop=(30, 0, 20, 10)))


def test_registry_crop_is_applied(tmp_path):
    path = write_numbered(tmp_path / "m1_day1.avi", 40, 20.0)
    cfg = mousefear.create_project("p", "q", [path], working_directory=tmp_path, date="2026-11-23")
    c = mousefear.load_config(cfg)
    key = next(iter(c["videos"]))
    c["videos"][key]["crop"] = mousefear.core.config.new_seq([8, 4, 16, 20])
    mousefear.save_config(cfg, c)
    (video,) = Project.open(cfg).videos
    windows = list(iter_windows(video))
    assert len(windows) == 2 and windows[0].frames.shape == (4, 20, 16, 3)
    for w in windows:
        for f, i in zip(w.frames, w.frame_indices, strict=True):
            full = cv2.cvtColor(numbered_frame_bgr(int(i)), cv2.COLOR_BGR2RGB)
            assert np.array_equal(f, full[4:24, 8:24])
    # crop=None gives the whole frame
    assert next(iter(iter_windows(video, crop=None))).frames.shape == (4, 30, 40, 3)


def test_real_video_windows(tmp_path, shared_video):


    path = shared_video("openfield/m3v1mp4.mp4")
    stream = iter_windows(path, fps=30.0, n_frames=2330, select=[0, 77])
    windows = list(stream)
    assert [(w.start_frame, w.end_frame, w.partial) for w in windows] == [(0, 30, False), (2310, 2330, True)]
    assert windows[1].frames.shape == (4, 480, 640, 3)
    # the frames are those a plain read loop gives
    cap = cv2.VideoCapture(str(path))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
    for _ in range(4):  # frame 3 is the first sampled frame of window 0
        ok, f = cap.read()
    cap.release()
    assert np.array_equal(windows[0].frames[0], cv2.cvtColor(f, cv2.COLOR_BGR2RGB))
