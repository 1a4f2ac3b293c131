"""Tests of the fear-conditioning summaries (mousefear/pipeline/summary.py) on hand-computable behaviour vectors:
epochs, protocol matching, the project summary and its run choice, and the per-video summaries of classify."""

from __future__ import annotations

import math
import os
import re
import time

import numpy as np
import pandas as pd
import pytest

import mousefear
from mousefear.core.project import Project
from mousefear.core.sections import Epoch
from mousefear.core.settings import Settings, load_config, save_config
from mousefear.errors import ConfigError, ProjectError, VectorFileError
from mousefear.formats.vectors import write_vector
from mousefear.pipeline.summary import epochs_for_session, summarize_epochs, summarize_vector, write_run_summary

BEH = ["freezing", "exploring", "grooming", "rearing", "fleeing"]


def write(folder, video_id, subject, session, labels, fps=10.0):
    labels = np.asarray(labels, dtype=object)
    n = labels.size
    codes = np.array([BEH.index(b) if b else -1 for b in labels], dtype=np.int16)
    probs = np.zeros((n, len(BEH)), dtype=np.float32)
    probs[codes >= 0, codes[codes >= 0]] = 1.0
    probs[codes < 0] = np.nan
    attrs = {"video_id": video_id, "subject": subject, "session": session, "video_sha256": "0" * 64, "fps": fps,
             "run": folder.name, "backend": "motion", "model_id": "", "model_revision": "", "prompt_hash": "",
             "icl_example_ids": [], "preprocessing": {}}
    valid = codes >= 0
    return write_vector(folder / f"{video_id}.h5", behaviors=BEH, start_frame=np.flatnonzero(valid),
                        end_frame=np.flatnonzero(valid) + 1, probabilities=probs[valid], n_frames=n, attrs=attrs,
                        frame_probabilities=probs, frame_label=codes)


def seq(*parts):
    out = []
    for name, n in parts:
        out += [name] * n
    return out


def test_summarize_epochs_by_hand():
    # 10 fps, 100 frames: epochs baseline [0, 3) s, tone [3, 6) s, post [6, 12) s (cut at 10 s)
    labels = seq(("exploring", 10), ("freezing", 15), ("exploring", 10), ("freezing", 10), ("", 5),
                 ("freezing", 10), ("grooming", 20), ("freezing", 20))
    epochs = [Epoch("baseline", 0.0, 3.0), Epoch("tone", 3.0, 6.0), Epoch("post", 6.0, 12.0)]
    t = summarize_epochs(labels, BEH, 10.0, epochs).set_index("epoch")
    # baseline frames 0-29: exploring 10, freezing 15 (10-24), exploring 5 -> 1 bout of 1.5 s, latency 1.0 s
    b = t.loc["baseline"]
    assert b.covered_s == 3.0 and b.decided_s == 3.0
    assert b.freezing_percent == pytest.approx(50.0) and b.exploring_percent == pytest.approx(50.0)
    assert (b.freezing_bouts, b.freezing_mean_bout_s, b.freezing_latency_s) == (1, 1.5, 1.0)
    # tone frames 30-59: exploring 30-34, freezing 35-44, unlabelled 45-49, freezing 50-59
    # labelled 25 frames: freezing 20 -> 80 %; the gap ends a bout: 2 bouts of 1 s, latency 0.5 s
    tn = t.loc["tone"]
    assert tn.decided_s == 2.5 and tn.freezing_percent == pytest.approx(80.0)
    assert tn.exploring_percent == pytest.approx(20.0)
    assert (tn.freezing_bouts, tn.freezing_mean_bout_s, tn.freezing_latency_s) == (2, 1.0, 0.5)
    # post frames 60-99 (cut at the video's end): grooming 60-79, freezing 80-99
    p = t.loc["post"]
    assert p.covered_s == 4.0 and p.end_s == 12.0
    assert p.freezing_percent == pytest.approx(50.0) and p.grooming_percent == pytest.approx(50.0)
    assert (p.freezing_bouts, p.freezing_mean_bout_s, p.freezing_latency_s) == (1, 2.0, 2.0)


def test_bout_spanning_a_boundary_counts_in_both_epochs_clipped():
    labels = seq(("exploring", 20), ("freezing", 20), ("exploring", 10))  # bout 2.0-4.0 s
    epochs = [Epoch("a", 0.0, 3.0), Epoch("b", 3.0, 5.0)]
    t = summarize_epochs(labels, BEH, 10.0, epochs).set_index("epoch")
    assert (t.loc["a", "freezing_bouts"], t.loc["a", "freezing_mean_bout_s"]) == (1, 1.0)
    assert (t.loc["b", "freezing_bouts"], t.loc["b", "freezing_mean_bout_s"]) == (1, 1.0)
    assert t.loc["b", "freezing_latency_s"] == 0.0  # under way at the epoch's start
    none = summarize_epochs(["exploring"] * 10, BEH, 10.0, [])
    assert none.epoch.tolist() == ["whole"] and none.end_s[0] == 1.0
    assert none.freezing_bouts[0] == 0 and math.isnan(none.freezing_latency_s[0])
    assert math.isnan(none.freezing_mean_bout_s[0])


def _protocol(mapping):
    """The typed protocol of config.yaml's ``protocol`` mapping (validated as config.yaml is)."""
    return Settings.default().updated({"protocol": mapping}).protocol


def test_session_matching_rules():
    one = [{"name": "x", "start": 0, "end": 1}]
    protocol = _protocol({"day*": one, "day2": [{"name": "exact", "start": 0, "end": 1}],
                          "day2_*": [{"name": "long", "start": 0, "end": 1}],
                          "*_tone": [{"name": "t", "start": 0, "end": 1}]})
    assert epochs_for_session(protocol, "day2")[0] == "day2"
    assert epochs_for_session(protocol, "day2_a")[0] == "day2_*"  # more literal characters than day*
    assert epochs_for_session(protocol, "day1")[1] == [Epoch(name="x", start=0.0, end=1.0)]
    assert epochs_for_session(protocol, "ctx") == (None, [])
    with pytest.raises(ConfigError, match="matches the protocol patterns \\['day\\*', '\\*one'\\]"):
        epochs_for_session(_protocol({"day*": one, "*one": one}), "day_tone")


@pytest.fixture
def four_videos(tmp_path, make_video):
    """A project with the videos m1_day1, m2_day1, m1_day10 and m1_ctx (10 fps, 40 frames)."""
    videos = [make_video(f"{name}.avi", n_frames=40, fps=10.0) for name in ("m1_day1", "m2_day1", "m1_day10", "m1_ctx")]
    return mousefear.create_project("fc", "tester", videos, working_directory=tmp_path / "projects",
                                    date="2026-11-23")


def test_summarize_project_writes_epochs_csv_and_plot(four_videos):
    project = four_videos
    cfg = load_config(project)
    cfg["protocol"] = {"day*": [{"name": "baseline", "start": 0, "end": 2}, {"name": "tone", "start": 2, "end": 4}]}
    save_config(project, cfg)
    run = Project.open(project).paths.vectors("motion")
    write(run, "m1_day1", "m1", "day1", seq(("exploring", 20), ("freezing", 20)))
    write(run, "m2_day1", "m2", "day1", seq(("freezing", 10), ("exploring", 20), ("freezing", 10)))
    write(run, "m1_day10", "m1", "day10", seq(("freezing", 40)))
    write(run, "m1_ctx", "m1", "ctx", seq(("exploring", 30)))  # no protocol entry: one epoch "whole"
    # neither a file of an unregistered video nor a stray file is ever taken for a result
    write(run, "m9_day1", "m9", "day1", seq(("freezing", 40)))
    (run / "tmpk2j4.h5").write_bytes(b"not an HDF5 file")
    table = mousefear.summarize(project)
    csv = pd.read_csv(run / "epochs.csv", keep_default_na=True)
    assert list(csv.columns) == ["run", "video_id", "subject", "session", "epoch_index", "epoch", "start_s",
                                 "end_s", "covered_s", "decided_s", *[f"{b}_percent" for b in BEH],
                                 "freezing_bouts", "freezing_mean_bout_s", "freezing_latency_s",
                                 "freezing_percent_ci_low", "freezing_percent_ci_high"]
    assert list(table.columns) == list(csv.columns)
    assert (csv.freezing_percent_ci_low <= csv.freezing_percent + 1e-9).all()
    assert (csv.freezing_percent_ci_high >= csv.freezing_percent - 1e-9).all()
    # sorted by subject, then sessions in natural order (ctx, day1, day10), then epochs
    assert list(zip(csv.subject, csv.session, csv.epoch, strict=True)) == [
        ("m1", "ctx", "whole"), ("m1", "day1", "baseline"), ("m1", "day1", "tone"), ("m1", "day10", "baseline"),
        ("m1", "day10", "tone"), ("m2", "day1", "baseline"), ("m2", "day1", "tone")]
    assert csv.freezing_percent.tolist() == [0.0, 0.0, 100.0, 100.0, 100.0, 50.0, 50.0]
    assert csv.freezing_latency_s.tolist()[2:] == [0.0, 0.0, 0.0, 0.0, 1.0]
    assert csv.freezing_bouts.tolist() == [0, 0, 1, 1, 1, 1, 1]
    m2 = csv[csv.subject == "m2"].set_index("epoch")
    assert m2.loc["baseline", "freezing_latency_s"] == 0.0 and m2.loc["tone", "freezing_latency_s"] == 1.0
    assert math.isnan(csv.freezing_latency_s[0]) and csv.end_s[0] == 3.0
    png = (run / "freezing_timecourse.png").read_bytes()
    assert png.startswith(b"\x89PNG")
    # one ethogram figure per subject, one 2.6-inch panel per session (100 dpi)
    assert sorted(p.name for p in run.glob("ethograms_*.png")) == ["ethograms_m1.png", "ethograms_m2.png"]
    assert _png_size(run / "ethograms_m1.png") == (1200, 780)
    assert _png_size(run / "ethograms_m2.png") == (1200, 260)
    assert not list(run.glob(".*tmp*"))


def test_summarize_needs_a_freezing_behaviour(project):
    write(Project.open(project).paths.vectors("r"), "m1_day1", "m1", "day1", ["freezing"] * 10)
    cfg = load_config(project)
    cfg["freezing_behavior"] = None
    save_config(project, cfg)
    with pytest.raises(ConfigError, match=re.escape(f"{Project.open(project).config_path}: Expected "
                                                    "freezing_behavior to name the freezing behaviour")):
        mousefear.summarize(project, plot=False)


def _png_size(path):
    import struct

    data = path.read_bytes()
    assert data.startswith(b"\x89PNG")
    return struct.unpack(">II", data[16:24])


def test_summarize_chooses_the_run_as_evaluate_does(project):
    """summarize(cfg) with no run follows the one rule (Project.select_run) that evaluate follows:
    classification.run, else the only run, else the newest; it never refuses two runs."""
    with pytest.raises(VectorFileError, match="no run with behaviour-vector files"):
        mousefear.summarize(project)
    paths = Project.open(project).paths
    write(paths.vectors("a"), "m1_day1", "m1", "day1", ["freezing"] * 10)
    write(paths.vectors("b"), "m1_day1", "m1", "day1", ["exploring"] * 10)
    old = time.time() - 100
    os.utime(paths.vectors("a") / "m1_day1.h5", (old, old))
    table = mousefear.summarize(project, plot=False)  # the newest: b
    assert table.run.tolist() == ["b"] and table.freezing_percent.tolist() == [0.0]
    assert Project.open(project).select_run() == "b"
    cfg = load_config(project)
    cfg["classification"]["run"] = "a"
    save_config(project, cfg)
    table = mousefear.summarize(project, plot=False)  # classification.run wins over the newest
    assert table.run.tolist() == ["a"] and table.freezing_percent.tolist() == [100.0]
    assert (paths.vectors("a") / "epochs.csv").is_file()
    with pytest.raises(ProjectError, match=r"Expected a run among \['a', 'b'\].*'c'"):
        mousefear.summarize(project, run="c")
    assert mousefear.summarize(project, run="b", plot=False).freezing_percent.tolist() == [0.0]
    cfg["classification"]["run"] = "gone"
    save_config(project, cfg)
    with pytest.raises(ProjectError, match="classification.run is 'gone'.*available runs"):
        mousefear.summarize(project, plot=False)


def test_cli_summarize(project, capsys):
    from mousefear.cli import main

    folder = Project.open(project).paths.vectors("r")
    write(folder, "m1_day1", "m1", "day1", ["freezing"] * 10)
    assert main(["summarize", str(project)]) == 0
    assert capsys.readouterr().out == (f"1 epoch row(s) written to {folder / 'epochs.csv'} and "
                                       f"{folder / 'freezing_timecourse.png'}\n")
    assert main(["summarize", str(project), "--run", "nope"]) == 2
    assert "Expected a run among ['r']" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------------------
# Per-video summaries (summary.csv of a run, written by classify_videos)
# --------------------------------------------------------------------------------------------------------

BEHAVIORS = ["freezing", "exploring", "grooming"]


def _labels_vector(labels, fps=2.0):
    df = pd.DataFrame({"label": pd.Series(labels, dtype=object)})
    for b in BEHAVIORS:
        df[b] = np.float32(np.nan)
    df.attrs.update(behaviors=BEHAVIORS, fps=fps)
    return df


def _window_vector(path, video_id, subject, fps, n_frames, start_frame, end_frame, probabilities,
                   behaviors=BEHAVIORS):
    attrs = {"video_id": video_id, "subject": subject, "session": "day1", "video_sha256": "ab" * 32, "fps": fps,
             "n_frames": n_frames, "run": "qwen3b", "backend": "transformers",
             "model_id": "Qwen/Qwen2.5-VL-3B-Instruct", "model_revision": "main", "prompt_hash": "deadbeef",
             "icl_example_ids": [], "preprocessing": {}}
    return write_vector(path, behaviors=behaviors, start_frame=np.array(start_frame), end_frame=np.array(end_frame),
                        probabilities=np.array(probabilities), n_frames=n_frames, attrs=attrs,
                        created="2026-11-23T10:00:00Z")


def _m1(path, behaviors=BEHAVIORS):
    """Three one-second windows (fps 2) over 6 frames, the middle one unparseable: frames freezing, freezing,
    none, none, exploring, exploring."""
    return _window_vector(path, "m1_day1", "m1", 2.0, 6, [0, 2, 4], [2, 4, 6],
                          [[0.7, 0.2, 0.1], [np.nan, np.nan, np.nan], [0.1, 0.6, 0.3]], behaviors=behaviors)


def test_summarize_vector_hand_computed():
    # fps 2: freezing 3 frames in 2 bouts, exploring 3 frames in 1 bout, 2 unlabelled frames
    df = _labels_vector(["freezing", "freezing", "", "freezing", "exploring", "exploring", "exploring", ""])
    s = summarize_vector(df)
    assert s.index.tolist() == BEHAVIORS
    assert s["frames"].tolist() == [3, 3, 0]
    assert s["seconds"].tolist() == [1.5, 1.5, 0.0]
    assert s["percent"].tolist() == [50.0, 50.0, 0.0]  # of the 6 labelled frames, not of all 8
    assert s["bouts"].tolist() == [2, 1, 0]
    assert s["mean_bout_s"].tolist()[:2] == [0.75, 1.5] and np.isnan(s.at["grooming", "mean_bout_s"])
    assert s.attrs == {"fps": 2.0, "n_frames": 8, "decided_frames": 6, "duration_s": 4.0, "decided_s": 3.0}
    # explicit fps wins over attrs
    assert summarize_vector(df, fps=1.0)["seconds"].tolist() == [3.0, 3.0, 0.0]


def test_summarize_vector_nothing_labelled():
    s = summarize_vector(_labels_vector(["", ""]))
    assert s["frames"].tolist() == [0, 0, 0] and s["percent"].isna().all()


def test_summarize_vector_needs_fps():
    df = _labels_vector(["freezing"])
    del df.attrs["fps"]
    with pytest.raises(ValueError, match="Expected fps to be a positive number, but got None"):
        summarize_vector(df)


def test_write_run_summary(tmp_path):
    run = tmp_path / "run"
    m1 = _m1(run / "m1_day1.h5")
    m2 = _window_vector(run / "m2_day1.h5", "m2_day1", "m2", 4.0, 4, [0], [4], [[0.0, 0.0, 1.0]])
    (run / "tmpx1.h5").write_bytes(b"a stray temporary file is never read")
    out = tmp_path / "summary.csv"
    table = write_run_summary([m1, m2], out)
    assert list(table.columns) == [
        "video_id", "subject", "session", "n_frames", "duration_s", "decided_frames", "decided_s",
        "freezing_seconds", "freezing_percent", "freezing_bouts",
        "exploring_seconds", "exploring_percent", "exploring_bouts",
        "grooming_seconds", "grooming_percent", "grooming_bouts",
    ]  # fmt: skip
    assert out.read_text() == (
        "video_id,subject,session,n_frames,duration_s,decided_frames,decided_s,"
        "freezing_seconds,freezing_percent,freezing_bouts,exploring_seconds,exploring_percent,exploring_bouts,"
        "grooming_seconds,grooming_percent,grooming_bouts\n"
        "m1_day1,m1,day1,6,3.000000,4,2.000000,1.000000,50.000000,1,1.000000,50.000000,1,0.000000,0.000000,0\n"
        "m2_day1,m2,day1,4,1.000000,4,1.000000,0.000000,0.000000,0,0.000000,0.000000,0,1.000000,100.000000,1\n"
    )
    # rows follow the order of the files given
    assert write_run_summary([m2, m1], tmp_path / "s2.csv")["video_id"].tolist() == ["m2_day1", "m1_day1"]


def test_write_run_summary_refuses_mixed_behaviours_empty_lists_and_folders(tmp_path):
    a = _m1(tmp_path / "a.h5")
    b = _m1(tmp_path / "b.h5", behaviors=["freezing", "exploring", "rearing"])
    with pytest.raises(VectorFileError, match=re.escape(f"but {b} has")):
        write_run_summary([a, b], tmp_path / "summary.csv")
    assert not (tmp_path / "summary.csv").exists()
    with pytest.raises(VectorFileError, match="Expected at least one behaviour-vector file, but got an empty list"):
        write_run_summary([], tmp_path / "summary.csv")
    with pytest.raises(TypeError, match=re.escape(f"Expected a list of behaviour-vector files, but got the single "
                                                  f"path {tmp_path}")):
        write_run_summary(tmp_path, tmp_path / "summary.csv")
    assert not (tmp_path / "summary.csv").exists()


def test_block_bootstrap_ci_against_an_independent_computation():
    """The interval of percent freezing: resampling blocks of 5 seconds, recomputed here by hand."""
    from mousefear.pipeline.summary import block_bootstrap_ci

    fps = 10.0
    rng = np.random.default_rng(1)
    sec = rng.random(60) < 0.3  # 60 seconds, ~30 % freezing, whole seconds
    frozen = np.repeat(sec, 10)
    labelled = np.ones(600, bool)
    lo, hi = block_bootstrap_ci(frozen, labelled, fps, seed=7)
    r = np.random.default_rng(7)
    picks = r.choice(np.arange(56), size=(2000, 12))
    idx = (picks[:, :, None] + np.arange(5)).reshape(2000, -1)[:, :60]
    pct = 100 * sec[idx].mean(axis=1)
    assert (lo, hi) == pytest.approx(tuple(np.quantile(pct, [0.025, 0.975])))
    assert lo < 100 * sec.mean() < hi
    # a constant epoch has a zero-width interval; no labelled frame: NaN
    assert block_bootstrap_ci(np.ones(600, bool), labelled, fps) == (100.0, 100.0)
    assert all(np.isnan(block_bootstrap_ci(frozen, np.zeros(600, bool), fps)))
