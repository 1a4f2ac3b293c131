"""Tests of the fear-conditioning summaries (mousefear/summary.py) on hand-computable behaviour vectors."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import mousefear
from mousefear.core.config import load_config, save_config
from mousefear.errors import ConfigError, ProjectError
from mousefear.formats.vectors import write_vector
from mousefear.pipeline.summary import epochs_for_session, summarize_epochs

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
    epochs = [{"name": "baseline", "start": 0, "end": 3}, {"name": "tone", "start": 3, "end": 6},
              {"name": "post", "start": 6, "end": 12}]
    t = summarize_epochs(labels, BEH, 10.0, epochs).set_index("epoch")
    # baseline frames 0-29: exploring 10, freezing 15 (10-24), exploring 5 -> 1 bout of 1.5 s, latency 1.0 s
    b = t.loc["baseline"]
    assert b.covered_s == 3.0 and b.labelled_s == 3.0
    assert b.freezing_percent == pytest.approx(50.0) and b.exploring_percent == pytest.approx(50.0)
    assert (b.freezing_bouts, b.freezing_mean_bout_s, b.freezing_latency_s) == (1, 1.5, 1.0)
    # tone frames 30-59: exploring 30-34, freezing 35-44, unlabelled 45-49, freezing 50-59
    # labelled 25 frames: freezing 20 -> 80 %; the gap ends a bout: 2 bouts of 1 s, latency 0.5 s
    tn = t.loc["tone"]
    assert tn.labelled_s == 2.5 and tn.freezing_percent == pytest.approx(80.0)
    assert tn.exploring_percent == pytest.approx(20.0)
    assert (tn.freezing_bouts, tn.freezing_mean_bout_s, tn.freezing_latency_s) == (2, 1.0, 0.5)
    # post frames 60-99 (cut at the video's end): grooming 60-79, freezing 80-99
    p = t.loc["post"]
    assert p.covered_s == 4.0 and p.end_s == 12.0
    assert p.freezing_percent == pytest.approx(50.0) and p.grooming_percent == pytest.approx(50.0)
    assert (p.freezing_bouts, p.freezing_mean_bout_s, p.freezing_latency_s) == (1, 2.0, 2.0)


def test_bout_spanning_a_boundary_counts_in_both_epochs_clipped():
    labels = seq(("exploring", 20), ("freezing", 20), ("exploring", 10))  # bout 2.0-4.0 s
    epochs = [{"name": "a", "start": 0, "end": 3}, {"name": "b", "start": 3, "end": 5}]
    t = summarize_epochs(labels, BEH, 10.0, epochs).set_index("epoch")
    assert (t.loc["a", "freezing_bouts"], t.loc["a", "freezing_mean_bout_s"]) == (1, 1.0)
    assert (t.loc["b", "freezing_bouts"], t.loc["b", "freezing_mean_bout_s"]) == (1, 1.0)
    assert t.loc["b", "freezing_latency_s"] == 0.0  # under way at the epoch's start
    none = summarize_epochs(["exploring"] * 10, BEH, 10.0, [])
    assert none.epoch.tolist() == ["whole"] and none.end_s[0] == 1.0
    assert none.freezing_bouts[0] == 0 and math.isnan(none.freezing_latency_s[0])
    assert math.isnan(none.freezing_mean_bout_s[0])


def test_session_matching_rules():
    protocol = {"day*": [{"name": "x", "start": 0, "end": 1}], "day2": [{"name": "exact", "start": 0, "end": 1}],
                "day2_*": [{"name": "long", "start": 0, "end": 1}], "*_tone": [{"name": "t", "start": 0, "end": 1}]}
    assert epochs_for_session(protocol, "day2")[0] == "day2"
    assert epochs_for_session(protocol, "day2_a")[0] == "day2_*"  # more literal characters than day*
    assert epochs_for_session(protocol, "day1")[1] == [{"name": "x", "start": 0.0, "end": 1.0}]
    assert epochs_for_session(protocol, "ctx") == (None, [])
    with pytest.raises(ConfigError, match="matches the protocol patterns \\['day\\*', '\\*one'\\]"):
        epochs_for_session({"day*": [], "*one": []}, "day_tone")


def test_summarize_project_writes_epochs_csv_and_plot(project):
    from mousefear._compat import project_paths

    cfg = load_config(project)
    cfg["protocol"] = {"day*": [{"name": "baseline", "start": 0, "end": 2}, {"name": "tone", "start": 2, "end": 4}]}
    save_config(project, cfg)
    run = project_paths(project).vectors("motion")
    write(run, "m1_day1", "m1", "day1", seq(("exploring", 20), ("freezing", 20)))
    write(run, "m2_day1", "m2", "day1", seq(("freezing", 10), ("exploring", 20), ("freezing", 10)))
    write(run, "m1_day10", "m1", "day10", seq(("freezing", 40)))
    write(run, "m1_ctx", "m1", "ctx", seq(("exploring", 30)))  # no protocol entry: one epoch "whole"
    table = mousefear.summarize(project)
    csv = pd.read_csv(run / "epochs.csv", keep_default_na=True)
    assert list(csv.columns) == ["run", "video_id", "subject", "session", "epoch_index", "epoch", "start_s",
                                 "end_s", "covered_s", "labelled_s", *[f"{b}_percent" for b in BEH],
                                 "freezing_bouts", "freezing_mean_bout_s", "freezing_latency_s"]
    assert list(table.columns) == list(csv.columns)
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


def _png_size(path):
    import struct

    data = path.read_bytes()
    assert data.startswith(b"\x89PNG")
    return struct.unpack(">II", data[16:24])


def test_summarize_chooses_the_run_as_evaluate_does(project):
    """summarize(cfg) with no run follows the one rule (mousefear.vectors.select_run) that evaluate follows:
    classification.run, else the only run, else the newest; it never refuses two runs."""
    import os
    import time

    from mousefear._compat import project_paths
    from mousefear.errors import VectorFileError

    with pytest.raises(VectorFileError, match="no run with behaviour-vector files"):
        mousefear.summarize(project)
    paths = project_paths(project)
    write(paths.vectors("a"), "m1_day1", "m1", "day1", ["freezing"] * 10)
    write(paths.vectors("b"), "m1_day1", "m1", "day1", ["exploring"] * 10)
    old = time.time() - 100
    os.utime(paths.vectors("a") / "m1_day1.h5", (old, old))
    table = mousefear.summarize(project, plot=False)  # the newest: b
    assert table.run.tolist() == ["b"] and table.freezing_percent.tolist() == [0.0]
    from mousefear._compat import select_run

    assert select_run(project) == "b"
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
    from mousefear._compat import project_paths
    from mousefear.cli import main

    write(project_paths(project).vectors("r"), "m1_day1", "m1", "day1", ["freezing"] * 10)
    assert main(["summarize", str(project)]) == 0
    assert "1 epoch row(s) written" in capsys.readouterr().out
    assert main(["summarize", str(project), "--run", "nope"]) == 2
    assert "Expected a run among ['r']" in capsys.readouterr().err
