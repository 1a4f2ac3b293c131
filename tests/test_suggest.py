"""Which seconds to score next (mousefear/pipeline/suggest.py): near the threshold first, spread over videos."""

from __future__ import annotations

import numpy as np
import pytest
from _motion_videos import write_mouse_video

import mousefear
from mousefear.errors import ConfigError
from mousefear.formats.labels import write_label_file

BEH = ["freezing", "exploring", "grooming", "rearing", "fleeing"]
# a 30 px mouse: fast walks (60 px/s = 2 body lengths/s), stillness, and slow walks (4-8 px/s: 0.13-0.27 body
# lengths/s) that lie between: still by some thresholds that fit the scoring, moving by others
SEGMENTS = [("walk", 2), ("still", 2), ("walk", 2, 4), ("walk", 2), ("still", 3), ("walk", 2, 8), ("walk", 2),
            ("still", 2), ("walk", 2, 6), ("walk", 2)]
SLOW = {4, 5, 11, 12, 17, 18}  # the seconds of the slow walks


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("suggest")
    return [write_mouse_video(tmp / f"{name}.avi", SEGMENTS, body=30, seed=i)[0]
            for i, name in enumerate(("m1_day1", "m2_day2"))]


def score_all_but_slow(cfg, video_id, n_frames=630):
    """Label every second but the slow walks: still seconds freezing, fast walks exploring."""
    kinds = np.concatenate([[seg[0] if len(seg) == 2 else "slow"] * seg[1] for seg in SEGMENTS])
    labels = np.repeat(np.where(kinds == "still", "freezing", np.where(kinds == "walk", "exploring", "")), 30)
    write_label_file(cfg.parent / "labels" / f"{video_id}.csv", labels[:n_frames].astype(object), BEH)
    return set(np.flatnonzero(kinds == "slow").tolist())


def test_near_threshold_seconds_first_spread_over_videos(tmp_path, videos, capsys):
    from mousefear.cli import main

    cfg = mousefear.create_project("sg", "t", videos, working_directory=tmp_path, date="2026-01-01")
    for vid in ("m1_day1", "m2_day2"):
        assert score_all_but_slow(cfg, vid) == SLOW
    table = mousefear.suggest_seconds(cfg, n=6, progress=False)
    assert list(table.columns) == ["rank", "video_id", "subject", "session", "second", "start_s", "end_s",
                                   "start_frame", "end_frame", "disagreement", "freezing_share", "margin",
                                   "predicted", "reason"]
    assert table["rank"].tolist() == [1, 2, 3, 4, 5, 6]
    # only unscored seconds: the slow walks, which the thresholds that fit the scoring do not agree on
    assert set(table.second) <= SLOW and table.disagreement.iloc[0] > 0.5
    assert (table.disagreement.iloc[:2] > 0).all()
    assert table.start_frame.tolist() == (table.second * 30).tolist() and (table.end_s - table.start_s == 1).all()
    # spread: the two best come from the two videos (and sessions), and seconds of a video lie 5 s apart or more
    assert set(table.video_id.iloc[:2]) == {"m1_day1", "m2_day2"}
    for _, part in table.groupby("video_id"):
        starts = np.sort(part.start_s.to_numpy())
        assert (np.diff(starts) >= 5).all()
    assert table.attrs["scored_seconds"] == 2 * (21 - len(SLOW)) and 0 < table.attrs["committee"] < 560
    assert "of the fitting thresholds call it freezing" in table.reason.iloc[0]
    assert set(table.predicted) <= {"freezing", "exploring"}
    # the command line lists the same seconds
    assert main(["suggest", str(cfg), "--n", "3"]) == 0
    out = capsys.readouterr().out.splitlines()
    attrs = table.attrs
    assert out[0] == (f"{attrs['scored_seconds']} second(s) scored; {attrs['committee']} of 560 threshold settings "
                      "fit them")
    listed = [line.split()[1:3] for line in out[2:5]]
    assert listed == [[r.video_id, str(r.second)] for r in table.iloc[:3].itertuples()]


def test_without_scoring_the_whole_grid_votes_and_bad_n(tmp_path, videos):
    cfg = mousefear.create_project("sg", "t", videos[:1], working_directory=tmp_path, date="2026-01-01")
    table = mousefear.suggest_seconds(cfg, n=3, progress=False)
    assert table.attrs["committee"] == table.attrs["grid"] == 560 and table.attrs["scored_seconds"] == 0
    assert len(table) == 3 and (table.disagreement > 0).all()
    # seconds whose first frames show no animal yet (it has not moved) are never suggested
    assert 0 not in set(table.second)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ConfigError, match="Expected n to be a positive whole number of seconds"):
            mousefear.suggest_seconds(cfg, n=bad)
    # without stored measurements and measure=False nothing is decoded: the video is left out
    empty = mousefear.suggest_seconds(cfg, n=3, measure=False)
    assert empty.empty and empty.attrs["left_out"] == ["m1_day1"]
