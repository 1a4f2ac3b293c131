"""Tests of the motion calibration (mousefear/calibration.py)."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pandas as pd
import pytest
from _motion_videos import write_motion_video

import mousefear
from mousefear.backends.motion_measure import freezing_runs, measure_motion
from mousefear.core.config import config_path
from mousefear.core.settings import load_config, save_config
from mousefear.errors import ConfigError, ProjectError
from mousefear.formats.labels import write_label_file

BEH = ["freezing", "exploring", "grooming", "rearing", "fleeing"]
# stills of 36 frames (1.2 s) and 60 frames freeze with a 1 s minimum; the 24-frame (0.8 s) one does not
SCRIPT = [("walk", 30, 2.0), ("still", 36, 0), ("walk", 30, 2.0), ("still", 24, 0), ("walk", 30, 2.0),
          ("still", 60, 0), ("walk", 20, 2.0)]
N = sum(n for _, n, _ in SCRIPT)


def _noise_quantile(path, q):
    """Independent computation: quantile of |grey difference| after a 5x5 blur, exact repeats left out."""
    cap = cv2.VideoCapture(str(path))
    prev, diffs = None, []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        g = cv2.GaussianBlur(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), (5, 5), 0)
        if prev is not None:
            d = cv2.absdiff(g, prev)
            if (d > 3).any():
                diffs.append(d.ravel())
        prev = g
    all_d = np.sort(np.concatenate(diffs))
    return int(all_d[min(int(np.ceil(q * all_d.size)) - 1, all_d.size - 1)])


def test_empty_chamber_cutoff_synthetic_noise(project, tmp_path):
    empty = write_motion_video(tmp_path / "empty.avi", [("still", 40, 0)], noise=6.0)
    res = mousefear.calibrate_motion(project, empty_video=empty, progress=False)
    q = _noise_quantile(empty, 0.9999)
    assert res.values == {"pixel_cutoff": max(1, math.ceil(2 * q))}
    assert res.previous == {"pixel_cutoff": 20}
    text = config_path(project).read_text()
    assert f"pixel_cutoff: {res.values['pixel_cutoff']} " in text
    assert "# grey-level change (0-255) above which a pixel counts as changed" in text  # comments kept
    # with that cutoff the empty chamber shows (next to) no changed pixels
    m = measure_motion(empty, pixel_cutoff=res.values["pixel_cutoff"], locate_animal=False, progress=False)
    assert m["changed_pixels"].max() <= 2


def test_empty_chamber_real_video(project, shared_video):
    video = shared_video("empty-chamber/Freezing_calibration.wmv")
    res = mousefear.calibrate_motion(project, empty_video=video, save=False, progress=False)
    assert 2 <= res.values["pixel_cutoff"] <= 20  # measured: 14 (noise reaches 7 grey levels after the blur)
    assert load_config(project)["classification"]["motion"]["pixel_cutoff"] == 20  # save=False wrote nothing


def _labelled_project(tmp_path, n_videos):
    videos = [write_motion_video(tmp_path / f"m{i}_day1.avi", SCRIPT, noise=3.0, seed=i) for i in range(n_videos)]
    cfg = mousefear.create_project("cal", "t", videos, working_directory=tmp_path / "p", date="2026-01-01")
    c = load_config(cfg)
    c["classification"]["motion"]["method"] = "pixels"  # the measure calibrated from labels
    save_config(cfg, c)
    ranges = []
    for i, v in enumerate(videos):
        m = measure_motion(v, locate_animal=False, progress=False)
        change = m["raw_change"]
        still = freezing_runs(change, 0.002, 30)  # the "true" rule: threshold 0.002, 1 s
        labels = np.where(still, "freezing", "exploring")
        write_label_file(tmp_path / "p" / "cal-t-2026-01-01" / "labels" / f"m{i}_day1.csv", labels, BEH)
        ranges.append((change[still].max(), change[~still & (change > 0)].min()))
    return cfg, ranges


def test_from_labels_recovers_thresholds(tmp_path):
    cfg, ranges = _labelled_project(tmp_path, 2)
    res = mousefear.calibrate_motion(cfg, run="motion", from_labels=True, progress=False)
    assert res.f1 == 1.0
    assert res.values["min_freeze_seconds"] == 1.0  # the only grid duration between 0.8 s and 1.2 s
    # any threshold between the largest still change and the smallest moving change reproduces the labels
    low, high = max(r[0] for r in ranges), min(r[1] for r in ranges)
    assert low < res.values["freeze_threshold"] <= high
    motion = load_config(cfg)["classification"]["motion"]
    assert motion["freeze_threshold"] == res.values["freeze_threshold"] and motion["min_freeze_seconds"] == 1.0
    folder = tmp_path / "p" / "cal-t-2026-01-01" / "evaluation" / "motion" / "calibration"
    grid = pd.read_csv(folder / "motion_grid.csv")
    assert list(grid.columns) == ["freeze_threshold", "min_freeze_seconds", "tp", "fp", "fn", "precision",
                                  "recall", "f1"]
    assert grid.f1.max() == 1.0 and len(grid) == 31 * 8
    held = pd.read_csv(folder / "motion_heldout.csv")
    assert held.video_id.tolist() == ["m0_day1", "m1_day1"] and (held.f1_heldout == 1.0).all()
    assert (folder / "motion_f1.png").read_bytes().startswith(b"\x89PNG")


def test_renamed_freezing_class_and_default_run_folder(tmp_path):
    """A lab calls its freezing class 'immobility' (freezing_behavior, one key for summaries and the motion backend):
    calibration, the motion run, summaries and evaluate all use it. Without run=, the calibration files go to
    evaluation/<run>/calibration/ of the run classify_videos then makes with the calibrated settings."""
    from mousefear.core.settings import save_config

    video = write_motion_video(tmp_path / "m0_day1.avi", SCRIPT, noise=3.0, seed=0)
    cfg = mousefear.create_project("cal", "t", [video], working_directory=tmp_path / "p", date="2026-01-01")
    root = cfg.parent
    c = load_config(cfg)
    c["behaviors"][0]["name"] = "immobility"
    c["freezing_behavior"] = "immobility"
    c["classification"]["backend"] = "motion"
    c["classification"]["motion"]["method"] = "pixels"  # the measure calibrated from labels
    save_config(cfg, c)
    beh = ["immobility", *BEH[1:]]
    still = freezing_runs(measure_motion(video, locate_animal=False, progress=False)["raw_change"], 0.002, 30)
    write_label_file(root / "labels" / "m0_day1.csv", np.where(still, "immobility", "exploring"), beh)

    res = mousefear.calibrate_motion(cfg, from_labels=True, progress=False)
    assert res.f1 == 1.0 and res.grid.f1.max() == 1.0
    run = mousefear.classify_videos(cfg, progress=False)
    assert run.startswith("motion-")
    assert res.files[0] == root / "evaluation" / run / "calibration" / "motion_grid.csv"
    assert res.files[0].is_file() and not (root / "evaluation" / "motion").exists()
    table = mousefear.summarize(cfg, plot=False)
    assert "immobility_percent" in table.columns and table.freezing_bouts.tolist() == [2]
    assert table.immobility_percent.iloc[0] == pytest.approx(100 * still.sum() / still.size)
    assert "percent time immobility" in mousefear.evaluate(cfg, plots=False).summary()
    # the motion backend's freezing class is the one key, not a second copy in classification.motion
    c["classification"]["motion"]["freezing_behavior"] = "grooming"
    with pytest.raises(ConfigError, match=r"unknown key classification.motion.freezing_behavior"):
        save_config(cfg, c)
    # with classification.run set, that is the run
    c = load_config(cfg)
    c["classification"]["run"] = "motion-lab"
    save_config(cfg, c)
    res = mousefear.calibrate_motion(cfg, from_labels=True, save=False, progress=False)
    assert res.files[0].parent == root / "evaluation" / "motion-lab" / "calibration"


def test_from_labels_errors_and_cli(project, tmp_path, capsys):
    from mousefear.cli import main

    with pytest.raises(ConfigError, match="either empty_video=FILE or from_labels=True, but got neither"):
        mousefear.calibrate_motion(project)
    with pytest.raises(ConfigError, match="calibration from labels fits freeze_threshold .* but the method is "
                       "'animal'"):
        mousefear.calibrate_motion(project, from_labels=True, progress=False)
    c = load_config(project)
    c["classification"]["motion"]["method"] = "pixels"
    save_config(project, c)
    with pytest.raises(ProjectError, match="Expected label files"):
        mousefear.calibrate_motion(project, from_labels=True, progress=False)
    assert main(["calibrate-motion", str(project), "--from-labels"]) == 2
    assert "Expected label files" in capsys.readouterr().err
    empty = write_motion_video(tmp_path / "empty.avi", [("still", 20, 0)], noise=4.0)
    assert main(["calibrate-motion", str(project), "--empty-video", str(empty)]) == 0
    assert "classification.motion.pixel_cutoff: 20 ->" in capsys.readouterr().out


def test_run_name_checked_and_config_read_once(tmp_path, monkeypatch):
    """A run name that is no folder name is refused before any work; a calibration reads config.yaml once
    (the default run name included) and writes it once, comments kept."""
    import mousefear.core.config as core_config

    cfg, _ = _labelled_project(tmp_path, 1)
    with pytest.raises(ProjectError, match=r"Expected a run name .* but got '\.\./elsewhere'"):
        mousefear.calibrate_motion(cfg, run="../elsewhere", from_labels=True, progress=False)
    reads = []
    real = core_config.read_document
    monkeypatch.setattr(core_config, "read_document", lambda config: reads.append(config) or real(config))
    res = mousefear.calibrate_motion(cfg, from_labels=True, progress=False)
    assert len(reads) == 1
    assert res.files[0].parent.parent.name.startswith("motion-")
    text = config_path(cfg).read_text()
    assert f"min_freeze_seconds: {res.values['min_freeze_seconds']}" in text
    assert "# grey-level change (0-255) above which a pixel counts as changed" in text
