"""Calibration of the hybrid's margins from scored seconds: on synthetic mice whose stills, dashes and creeps are
known the chosen margins route exactly the expected windows, cross-validated across videos; too few blocks, no
labels, the save round trip; tracktor (cross-validated across blocks)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from _motion_videos import write_mouse_video
from test_hybrid import DETECTOR, SCRIPT

import mousefear
from mousefear.backends.fake import FakeWindowBackend
from mousefear.backends.hybrid import HybridBackend, movement
from mousefear.cli import main
from mousefear.core.intervals import window_bounds
from mousefear.core.project import Project
from mousefear.core.settings import Settings, load_config
from mousefear.core.video import Video
from mousefear.errors import ConfigError, ProjectError
from mousefear.formats.labels import write_label_file
from mousefear.pipeline.hybrid_calibration import MOVING_MARGINS, STILL_MARGINS

#: What a person scored, per second of SCRIPT: the dashes exploring, the stops freezing, the creep (movement near
#: the threshold, seconds 6-8) grooming, which the detector cannot see: a moving margin low enough to let the
#: detector decide the creep disagrees with the person.
PERSON = ["exploring"] * 3 + ["freezing"] * 3 + ["grooming"] * 3 + ["exploring"] * 2 + ["freezing"] * 2


@pytest.fixture(scope="module")
def mice(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mice")
    return [write_mouse_video(folder / f"m{k}_day1.avi", SCRIPT, seed=k)[0] for k in (1, 2)]


def _project(tmp_path, videos, labelled=None):
    cfg = mousefear.create_project("h", "t", [str(v) for v in videos], working_directory=tmp_path,
                                   date="2026-11-23")
    project = Project.open(cfg)
    for video in project.videos if labelled is None else [v for v in project.videos if v.id in labelled]:
        per_frame = np.repeat(PERSON, 30)[:video.n_frames]
        write_label_file(project.paths.label_file(video.id), per_frame, project.behaviors)
    return cfg


def _medians(path):
    """The default hybrid (the fake model), the detector's result of a video, and per second its median movement
    and whether every frame is measured and none is freezing (a moving window), by hand."""
    video = Video.from_file(path)
    settings = Settings.default()
    backend = HybridBackend.from_settings(settings, classifier=FakeWindowBackend(settings.behavior_names))
    bounds = window_bounds(video.n_frames, video.fps)
    measured = backend.measure_video(video, bounds, crop=None, progress=False)
    move = movement(backend.detector, measured, video.fps)
    label, freezing = measured.frame_label, settings.behavior_names.index("freezing")
    return backend, measured, [(float(np.median(move[a:e])), bool(np.isfinite(move[a:e]).all()
                                and (label[a:e] >= 0).all() and (label[a:e] != freezing).all()))
                               for a, e in bounds]


def test_chosen_margins_route_exactly_the_windows_the_person_agrees_with(tmp_path, mice):
    cfg = _project(tmp_path, mice)
    before = load_config(cfg)["classification"]["hybrid"]
    res = mousefear.calibrate_hybrid(cfg, save=False, progress=False)
    assert not res.written and load_config(cfg)["classification"]["hybrid"] == before
    # the moving margin: above every creep second's median movement, at most the dashes' (by hand, both videos);
    # of the grid values in between, the middle one
    creep, dash = [], []
    for path in mice:
        _, _, med = _medians(path)
        creep += [med[k][0] for k in (6, 7, 8) if med[k][1]]
        dash += [med[k][0] for k, name in DETECTOR.items() if name == "exploring"]
    assert creep and max(creep) < min(dash)
    between = [m for m in MOVING_MARGINS if max(creep) < m <= min(dash)]
    assert res.values["moving_margin"] == between[(len(between) - 1) // 2]
    # the still side: the stills are exactly still; no other window is still in every frame, so every still
    # margin decides the same windows and the middle of the grid is chosen
    assert res.values["still_margin"] == STILL_MARGINS[(len(STILL_MARGINS) - 1) // 2]
    assert res.target_met == {"still": True, "moving": True}
    # routed with the chosen margins, the detector decides exactly the known stills and dashes, as the person did
    for path in mice:
        backend, measured, _ = _medians(path)
        routed = HybridBackend(backend.behaviors, model_backend="transformers", motion_hint=False,
                               detector=backend.detector, classifier=backend.classifier, **res.values
                               ).route(measured, 30.0)
        assert np.flatnonzero(routed.decided).tolist() == sorted(DETECTOR)
    # out of sample: each video routed with the margins chosen on the other (the same), pooled
    assert res.folds == "videos" and len(res.cv) == 2
    assert (res.decided, res.agreeing, res.scored_windows) == (12, 12, 26)
    assert res.agreement == 1.0 and res.share_to_model == pytest.approx(14 / 26)
    assert res.cv["to_model"].tolist() == [7, 7]
    assert res.cv["moving_margin"].tolist() == [res.values["moving_margin"]] * 2
    # per margin: the in-sample counts of the table
    table = pd.read_csv(tmp_path / "h-t-2026-11-23" / "evaluation" / "hybrid_margins.csv")
    low = table[(table["side"] == "moving") & (table["margin"] == 1.0)].iloc[0]
    assert low["decided"] > 8 and low["agreeing"] == 8  # the dashes agree, the creep does not
    summary = json.loads((tmp_path / "h-t-2026-11-23" / "evaluation" / "hybrid_calibration.json").read_text())
    assert summary["share_to_model_cross_validated"] == pytest.approx(14 / 26) and summary["target"] == 0.95


def test_save_writes_the_margins_and_keeps_the_comments(tmp_path, mice):
    cfg = _project(tmp_path, mice)
    with Project.open(cfg).edit() as doc:
        doc["classification"]["hybrid"].update({"still_margin": 0.25, "moving_margin": 3.0})
    text = cfg.read_text()
    res = mousefear.calibrate_hybrid(cfg, progress=False)
    assert res.written and res.previous == {"still_margin": 0.25, "moving_margin": 3.0}
    after = cfg.read_text()
    hybrid = load_config(cfg)["classification"]["hybrid"]
    assert {k: hybrid[k] for k in res.values} == res.values
    changed = [(a, b) for a, b in zip(text.splitlines(), after.splitlines(), strict=True) if a != b]
    assert [a.split("#")[0].split(":")[0].strip() for a, _ in changed] == ["still_margin", "moving_margin"]
    assert all(a.split("#", 1)[1] == b.split("#", 1)[1] for a, b in changed)  # the comments kept
    assert Project.open(cfg).settings.classification.hybrid.moving_margin == res.values["moving_margin"]


def test_command_line_reports_without_saving(tmp_path, mice, capsys):
    cfg = _project(tmp_path, mice)
    text = cfg.read_text()
    assert main(["calibrate-hybrid", str(cfg), "--target", "0.9", "--no-save"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert cfg.read_text() == text
    assert out[0].startswith("Hybrid margins still_margin 0.4, moving_margin ") and "target agreement 0.9)" in out[0]
    assert out[1] == "classification.hybrid.still_margin: 0.5 -> 0.4 (fitted, not written to config.yaml)"
    assert out[-1] == f"wrote {cfg.parent / 'evaluation' / 'hybrid_cv.csv'}"


def test_one_short_labelled_video_is_too_few_and_changes_nothing(tmp_path, mice):
    cfg = _project(tmp_path, mice, labelled={"m1_day1"})
    text = cfg.read_text()
    res = mousefear.calibrate_hybrid(cfg, progress=False)
    assert res.too_few and not res.written and cfg.read_text() == text and np.isnan(res.agreement)
    assert res.message == ("Too few scored windows to measure an agreement out of sample (one labelled video, "
                           "scored in one block of 20 s; two videos or blocks needed): config.yaml is left as it "
                           "is. Score more seconds and calibrate again")


def test_no_labels_is_one_clear_error(tmp_path, mice):
    cfg = _project(tmp_path, mice, labelled=set())
    with pytest.raises(ProjectError) as err:
        mousefear.calibrate_hybrid(cfg, progress=False)
    assert str(err.value) == (f"{cfg.parent / 'labels'}: Expected label files (labels/<video_id>.csv) with scored "
                              "windows (every frame of a window labelled) for registered videos, but found none")
    with pytest.raises(ConfigError, match="Expected target to be a number > 0 and <= 1, but got 0"):
        mousefear.calibrate_hybrid(cfg, target=0)


def test_tracktor_cross_validated_over_blocks(tmp_path, shared_video):
    video = shared_video("tracktor/mouse_video.mp4")
    cfg = mousefear.create_project("t", "t", [video], working_directory=tmp_path, date="2026-11-23")
    mousefear.import_labels(cfg, shared_video("tracktor/mouse_video_labels_per_second.csv"), video="mouse_video")
    res = mousefear.calibrate_hybrid(cfg, target=0.9, save=False, progress=False)
    assert res.folds == "blocks of 20 s" and len(res.cv) == 17 and res.scored_windows == 334
    # the held-out figures are the pooled counts of the blocks, each routed with margins chosen without it
    assert res.decided == int(res.cv["still_decided"].sum() + res.cv["moving_decided"].sum())
    assert res.share_to_model == pytest.approx(res.cv["to_model"].sum() / 334)
    assert res.share_to_model < 0.5 and res.agreement > 0.85
