"""Calibrated probabilities (mousefear/pipeline/temperature.py): the temperature fit recovers a known temperature,
the expected calibration error against an independent computation, the calibrated run (files, provenance,
cross-validation, refusals) and what the review page and the evaluation make of it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _scripted import ScriptedBackend

import mousefear
from mousefear.core.project import Project
from mousefear.errors import ProjectError
from mousefear.formats.labels import write_label_file
from mousefear.formats.vectors import read_vector, read_vector_windows
from mousefear.pipeline.metrics import expected_calibration_error, reliability_table
from mousefear.pipeline.temperature import apply_temperature, fit_temperature, negative_log_likelihood

BEHAVIORS = ["freezing", "exploring", "grooming", "rearing", "fleeing"]


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def synthetic(n, temperature, seed, k=5, scale=4.0):
    """Scores whose softmax is the model's probabilities while the truth follows softmax(scores / temperature)."""
    rng = np.random.default_rng(seed)
    scores = rng.normal(0.0, scale, size=(n, k))
    truth = softmax(scores / temperature)
    labels = np.array([rng.choice(k, p=row) for row in truth])
    return softmax(scores), labels


@pytest.mark.parametrize("t_true", [0.5, 1.0, 2.5, 6.0])
def test_fit_recovers_a_known_temperature(t_true):
    probs, labels = synthetic(20000, t_true, seed=int(t_true * 10))
    t = fit_temperature(probs, labels)
    assert t == pytest.approx(t_true, rel=0.05)
    # the fit is the minimum of the negative log-likelihood
    nll = negative_log_likelihood(apply_temperature(probs, t), labels)
    for other in (t * 0.9, t * 1.1):
        assert negative_log_likelihood(apply_temperature(probs, other), labels) > nll


def test_fit_recovers_one_temperature_per_behaviour():
    rng = np.random.default_rng(3)
    t_true = np.array([0.7, 1.5, 3.0])
    probs = softmax(rng.normal(0.0, 3.0, size=(40000, 3)))
    truth = softmax(np.log(probs) / t_true)  # per behaviour, the temperature acts on log p (what the files keep)
    labels = (rng.random(40000)[:, None] > np.cumsum(truth, axis=1)).sum(axis=1)
    t = fit_temperature(probs, labels, per_behavior=True)
    np.testing.assert_allclose(t, t_true, rtol=0.08)


def test_fit_bounds_and_refusals():
    probs = np.array([[0.6, 0.4], [0.3, 0.7]] * 20)
    labels = np.array([0, 1] * 20)  # always right: the sharper the better, up to the bound
    assert 0.01 <= fit_temperature(probs, labels) < 0.02
    with pytest.raises(ValueError, match="true behaviour has a probability > 0"):
        fit_temperature(np.array([[1.0, 0.0]]), np.array([1]))
    with pytest.raises(ValueError, match="at least one"):
        fit_temperature(np.zeros((0, 2)), np.zeros(0, dtype=int))


def test_apply_temperature_keeps_zeros_nan_rows_and_the_top_behaviour():
    p = np.array([[0.7, 0.2, 0.1, 0.0], [np.nan] * 4, [0.25, 0.25, 0.25, 0.25]])
    for t in (0.3, 1.0, 4.0):
        q = apply_temperature(p, t)
        assert q[0, 3] == 0.0 and np.isnan(q[1]).all()
        np.testing.assert_allclose(q[[0, 2]].sum(axis=1), 1.0)
        assert q[0].argmax() == 0
    np.testing.assert_allclose(apply_temperature(p, 1.0)[0], p[0])
    np.testing.assert_allclose(apply_temperature(p, 2.0)[0, :3], np.sqrt(p[0, :3]) / np.sqrt(p[0, :3]).sum())
    np.testing.assert_allclose(apply_temperature(p, [1.0, 2.0, 1.0, 1.0])[0, :3],
                               np.array([0.7, 0.2 ** 0.5, 0.1]) / (0.8 + 0.2 ** 0.5))


def test_ece_against_an_independent_computation():
    rng = np.random.default_rng(4)
    probs = rng.dirichlet(np.ones(4) * 0.5, size=3000)
    labels = rng.integers(0, 4, size=3000)
    conf, pred = probs.max(axis=1), probs.argmax(axis=1)
    expected = 0.0
    for b in range(15):
        lo, hi = b / 15, (b + 1) / 15
        m = (conf > lo) & (conf <= hi)
        if m.any():
            expected += m.sum() / 3000 * abs((pred[m] == labels[m]).mean() - conf[m].mean())
    assert expected_calibration_error(probs, labels) == pytest.approx(expected, abs=1e-12)
    table = reliability_table(probs, labels)
    assert table["n"].sum() == 3000 and len(table) == 15
    # labels drawn from the probabilities themselves: calibrated, ECE small; over-confident: ECE large
    good, lab = synthetic(20000, 1.0, seed=5)
    bad, lab2 = synthetic(20000, 3.0, seed=6)
    assert expected_calibration_error(good, lab) < 0.02 < 0.15 < expected_calibration_error(bad, lab2)
    assert np.isnan(expected_calibration_error(np.zeros((0, 3)), np.zeros(0, dtype=int)))


# ---------------------------------------------------------------------------------------------- the calibrated run
T_TRUE = 3.0


@pytest.fixture
def labelled(tmp_path, make_video):
    """Two 40-s videos (15 fps) whose windows answer over-confident probabilities (truth ~ softmax(scores / 3)),
    every frame labelled with its window's true behaviour; the run."""
    vids = [make_video(f"m{i}_day1.avi", n_frames=600) for i in (1, 2)]
    cfg = mousefear.create_project("cal", "t", vids, working_directory=tmp_path, date="2026-01-01")
    with Project.open(cfg).edit() as doc:
        doc["classification"]["icl_per_class"] = 0
        doc["classification"]["max_unparseable"] = 1.0
    project = Project.open(cfg)
    be = ScriptedBackend(BEHAVIORS)
    truth = {}
    for i, vid in enumerate(["m1_day1", "m2_day1"]):
        probs, labels = synthetic(40, T_TRUE, seed=10 + i)
        probs[5] = np.nan  # no answer
        be.script[vid] = probs
        write_label_file(project.paths.label_file(vid), np.repeat(np.array(BEHAVIORS)[labels], 15), BEHAVIORS)
        truth[vid] = labels
    run = mousefear.classify_videos(cfg, backend=be, progress=False)
    return cfg, run, truth


def test_calibrated_run_with_held_out_figures(labelled):
    cfg, run, truth = labelled
    res = mousefear.calibrate_probabilities(cfg, run)
    folder = cfg.parent / "behavior-vectors" / res.run
    record = json.loads((folder / "run.json").read_text())
    assert res.run == f"{run}_calibrate_{record['settings_sha256'][:8]}"
    params = record["derived_from"]["parameters"]
    assert params == {"temperature": res.temperature, "per_behavior": False, "fit_videos": ["m1_day1", "m2_day1"],
                      "fit_windows": 78}
    assert record["settings"]["derivations"] == [{"kind": "calibrate", **params}]
    assert res.temperature > 1.5  # over-confident parent (80 windows: far from exact)
    assert res.folds == "videos" and res.n_folds == 2 and res.n_windows == 78 and res.n_no_answer == 2
    # the held-out figures are those of each video calibrated with the temperature of the other
    parent = {v: read_vector_windows(cfg.parent / "behavior-vectors" / run / f"{v}.h5") for v in truth}
    probs = {v: parent[v][BEHAVIORS].to_numpy(dtype=np.float64) for v in parent}  # as stored (float32)
    ok = {v: ~np.isnan(probs[v]).any(axis=1) for v in parent}
    t1 = fit_temperature(probs["m2_day1"][ok["m2_day1"]], truth["m2_day1"][ok["m2_day1"]])
    t2 = fit_temperature(probs["m1_day1"][ok["m1_day1"]], truth["m1_day1"][ok["m1_day1"]])
    assert res.fold_temperatures == pytest.approx([t1, t2])
    held = np.concatenate([apply_temperature(probs["m1_day1"][ok["m1_day1"]], t1),
                           apply_temperature(probs["m2_day1"][ok["m2_day1"]], t2)])
    y = np.concatenate([truth["m1_day1"][ok["m1_day1"]], truth["m2_day1"][ok["m2_day1"]]])
    raw = np.concatenate([probs[v][ok[v]] for v in parent])
    assert res.ece_after == pytest.approx(expected_calibration_error(held, y))
    assert res.ece_before == pytest.approx(expected_calibration_error(raw, y))
    assert res.ece_after < res.ece_before
    assert res.ece_in_sample == pytest.approx(expected_calibration_error(apply_temperature(raw, res.temperature), y))
    # the calibrated files: the parent's decisions, tempered probabilities, no answer kept
    for v in parent:
        new = read_vector_windows(folder / f"{v}.h5")
        assert new["label"].tolist() == parent[v]["label"].tolist()
        np.testing.assert_allclose(new[BEHAVIORS].to_numpy(), apply_temperature(probs[v], res.temperature),
                                   rtol=1e-5, atol=1e-7)
    summary = json.loads((folder / "probability_calibration.json").read_text())
    assert summary["ece_after"] == pytest.approx(res.ece_after) and summary["in_sample"] == ["ece_in_sample"]
    assert (folder / "reliability.png").stat().st_size > 1000
    assert "cross-validated over 2 videos" in res.message and "In-sample ECE after" in res.message


def test_one_video_is_cross_validated_over_blocks(labelled):
    cfg, run, _ = labelled
    (cfg.parent / "labels" / "m2_day1.csv").unlink()
    res = mousefear.calibrate_probabilities(cfg, run)
    assert res.folds == "blocks of 20 s" and res.n_folds == 2 and res.videos == ["m1_day1"]
    assert len(res.fold_temperatures) == 2


def test_refusals_and_too_few_windows(labelled, tmp_path):
    cfg, run, _ = labelled
    res = mousefear.calibrate_probabilities(cfg, run)
    with pytest.raises(ProjectError, match=f"Run '{res.run}' is derived \\(calibrate\\) from run '{run}'; calibrate "
                                           "that run instead"):
        mousefear.calibrate_probabilities(cfg, res.run)
    smoothed = mousefear.smooth(cfg, run)
    with pytest.raises(ProjectError, match="is derived \\(smooth\\)"):
        mousefear.calibrate_probabilities(cfg, smoothed)
    project = Project.open(cfg)
    labels = np.full(600, "", dtype=object)
    labels[:15 * 19] = "freezing"
    write_label_file(project.paths.label_file("m1_day1"), labels, BEHAVIORS)
    (cfg.parent / "labels" / "m2_day1.csv").unlink()
    with pytest.raises(ProjectError, match="Expected at least 20 labelled windows with an answer in run .* but found "
                                           "18"):
        mousefear.calibrate_probabilities(cfg, run)


def test_calibrating_then_smoothing_is_marked_in_sample_but_calibrating_alone_is_not(labelled):
    cfg, run, _ = labelled
    res = mousefear.calibrate_probabilities(cfg, run)
    ev = mousefear.evaluate(cfg, res.run, plots=False)
    assert ev.data["in_sample"]["probability_calibration"] == {}
    assert ev.data["overall"]["window"] == mousefear.evaluate(cfg, run, plots=False).data["overall"]["window"]
    smoothed = mousefear.smooth(cfg, res.run)
    ev = mousefear.evaluate(cfg, smoothed, plots=False)
    assert ev.data["in_sample"]["probability_calibration"] == {"videos": ["m1_day1", "m2_day1"]}
    assert any(n.startswith("IN-SAMPLE in part: the decisions depend on a temperature fitted on the labels of "
                            "m1_day1, m2_day1") for n in ev.data["notes"])
    table = mousefear.compare_runs(cfg, [run, res.run, smoothed])
    assert table["in_sample"].tolist() == ["", "", "partly in-sample"]
    per = mousefear.calibrate_probabilities(cfg, run, per_behavior=True)
    assert set(per.temperature) == set(BEHAVIORS)
    ev = mousefear.evaluate(cfg, per.run, plots=False)
    assert ev.data["in_sample"]["probability_calibration"]["videos"] == ["m1_day1", "m2_day1"]


def test_review_orders_by_calibrated_probabilities(labelled):
    from mousefear.gui.review import ReviewApp
    from mousefear.pipeline.temperature import calibration_of

    cfg, run, _ = labelled
    app = ReviewApp(cfg, run=run)
    before = json.loads(app.get_data({"run": run, "video": "m1_day1"}).body)
    assert before["windows"]["certainty"] is None and before["certainty_from"] == ""
    res = mousefear.calibrate_probabilities(cfg, run, per_behavior=True)
    assert calibration_of(Project.open(cfg), run)[0] == res.run
    data = json.loads(app.get_data({"run": run, "video": "m1_day1"}).body)
    probs = read_vector_windows(cfg.parent / "behavior-vectors" / run / "m1_day1.h5")[BEHAVIORS].to_numpy()
    want = apply_temperature(probs, [res.temperature[b] for b in BEHAVIORS]).max(axis=1)
    got = np.array([np.nan if c is None else c for c in data["windows"]["certainty"]])
    np.testing.assert_allclose(got[~np.isnan(want)], want[~np.isnan(want)], atol=1e-5)
    assert got[5] != got[5]  # no answer: no certainty
    assert data["certainty_from"] == f"calibrated run {res.run}"
    own = json.loads(app.get_data({"run": res.run, "video": "m1_day1"}).body)  # a calibrated run: its own values
    assert own["windows"]["certainty"] is None


def test_a_frame_level_run_keeps_its_frame_decisions_with_one_temperature(tmp_path):
    from _motion_videos import write_mouse_video

    seconds = [("walk", 3), ("still", 3), ("walk", 2), ("still", 1), ("walk", 4), ("still", 4), ("walk", 3),
               ("still", 2), ("walk", 2)]
    video, still = write_mouse_video(tmp_path / "m1_day1.avi", seconds)
    cfg = mousefear.create_project("fl", "t", [video], working_directory=tmp_path, date="2026-01-01")
    with Project.open(cfg).edit() as doc:
        doc["classification"]["backend"] = "motion"
    project = Project.open(cfg)
    write_label_file(project.paths.label_file("m1_day1"), np.repeat(np.where(still, "freezing", "exploring"), 30),
                     BEHAVIORS)
    run = mousefear.classify_videos(cfg, progress=False)
    parent = read_vector(project.paths.vector_file(run, "m1_day1"))
    one = mousefear.calibrate_probabilities(cfg, run)
    frames = read_vector(project.paths.vector_file(one.run, "m1_day1"))
    assert frames["label"].tolist() == parent["label"].tolist()
    np.testing.assert_allclose(frames[BEHAVIORS].to_numpy(), apply_temperature(parent[BEHAVIORS].to_numpy(),
                                                                               one.temperature), atol=1e-6)
    assert one.macro_f1_before == one.macro_f1_after  # one temperature keeps every decision
    per = mousefear.calibrate_probabilities(cfg, run, per_behavior=True)
    windows = read_vector_windows(project.paths.vector_file(per.run, "m1_day1"))
    frames = read_vector(project.paths.vector_file(per.run, "m1_day1"))
    spread = np.repeat(windows["label"].to_numpy(dtype=object), 30)
    assert frames["label"].tolist() == spread.tolist()  # per behaviour: the frames take their window's decision
