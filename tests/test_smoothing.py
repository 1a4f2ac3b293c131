"""Temporal smoothing (mousefear/pipeline/smoothing.py): Viterbi against an exhaustive search, the merge rule of
minimum bout lengths, windows without an answer, and the smoothed run as a derived run (files, provenance,
evaluation, resume, the command)."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from _scripted import ScriptedBackend

import mousefear
from mousefear.core.intervals import window_bounds
from mousefear.core.project import Project
from mousefear.errors import ConfigError, ProjectError
from mousefear.formats.labels import write_label_file
from mousefear.formats.vectors import read_vector_windows
from mousefear.pipeline.smoothing import (
    Smooth,
    hmm_decode,
    merge_short_bouts,
    owned_seconds,
    sticky_transition,
    viterbi,
)

BEHAVIORS = ["freezing", "exploring", "grooming", "rearing", "fleeing"]


# ------------------------------------------------------------------------------------------------------ Viterbi
def brute_force(em, tr, init):
    """Every state sequence scored: the best one and its score."""
    n, k = em.shape
    best, best_path = -np.inf, None
    for path in itertools.product(range(k), repeat=n):
        score = init[path[0]] + sum(em[t, s] for t, s in enumerate(path))
        score += sum(tr[a, b] for a, b in itertools.pairwise(path))
        if score > best:
            best, best_path = score, path
    return np.array(best_path), best


def test_viterbi_finds_the_best_sequence_of_an_exhaustive_search():
    rng = np.random.default_rng(0)
    for trial in range(60):
        k = int(rng.integers(2, 5))
        n = int(rng.integers(1, 7))
        em = np.log(rng.dirichlet(np.ones(k), size=n))
        tr = np.log(rng.dirichlet(np.ones(k), size=k))
        init = np.log(rng.dirichlet(np.ones(k)))
        if trial % 3 == 0:  # forbidden states (probability 0), as a backend that does not model a class gives
            em[rng.random((n, k)) < 0.25] = -np.inf
            em[np.isinf(em).all(axis=1), 0] = np.log(0.5)
        path, score = viterbi(em, tr, init)
        want, want_score = brute_force(em, tr, init)
        assert path.tolist() == want.tolist(), (trial, em, tr, init)
        assert score == pytest.approx(want_score, rel=1e-12)


def test_viterbi_edges_and_errors():
    assert viterbi(np.zeros((0, 3)), np.zeros((3, 3)), np.zeros(3))[0].tolist() == []
    # ties go to the lower state index
    assert viterbi(np.zeros((3, 2)), np.log(np.full((2, 2), 0.5)), np.log([0.5, 0.5]))[0].tolist() == [0, 0, 0]
    with pytest.raises(ValueError, match=r"Expected emissions \(n_steps, K\), transitions \(K, K\) and initial"):
        viterbi(np.zeros((2, 3)), np.zeros((2, 2)), np.zeros(3))
    impossible = np.array([[0.0, -np.inf], [-np.inf, 0.0]])
    with np.errstate(divide="ignore"):
        never_move = np.log(np.eye(2))
    with pytest.raises(ValueError, match="every one is impossible"):
        viterbi(impossible, never_move, np.log([0.5, 0.5]))


def test_sticky_transitions_keep_a_behaviour_through_a_weak_flicker():
    tr = sticky_transition(4, 0.7)
    np.testing.assert_allclose(tr.sum(axis=1), 1.0)
    assert tr[0, 0] == 0.7 and tr[0, 1] == pytest.approx(0.1)
    assert sticky_transition(1, 0.7).tolist() == [[1.0]]
    p = np.array([[0.9, 0.1], [0.9, 0.1], [0.3, 0.7], [0.9, 0.1], [0.9, 0.1]])
    # staying: emissions lose log(0.7 / 0.3) = 0.85; switching twice costs 2 log(0.9 / 0.1) = 4.39
    assert hmm_decode(p, 0.9).tolist() == [0, 0, 0, 0, 0]
    # stay = 1 / K: every transition equally likely, the decoding is the per-window argmax
    assert hmm_decode(p, 0.5).tolist() == [0, 0, 1, 0, 0]
    rng = np.random.default_rng(1)
    q = rng.dirichlet(np.ones(5), size=40)
    assert hmm_decode(q, 0.2).tolist() == np.argmax(q, axis=1).tolist()
    # a strong, long change survives smoothing
    r = np.array([[0.9, 0.1]] * 3 + [[0.05, 0.95]] * 3)
    assert hmm_decode(r, 0.9).tolist() == [0, 0, 0, 1, 1, 1]


def test_windows_without_an_answer_carry_no_evidence():
    nan = [np.nan, np.nan]
    p = np.array([[0.9, 0.1], nan, nan, [0.9, 0.1]])
    assert hmm_decode(p, 0.9).tolist() == [0, 0, 0, 0]  # the chain runs through the gap
    q = np.array([[0.05, 0.95], nan, [0.95, 0.05]])  # log(0.95 / 0.05) = 2.94 > one switch, log(0.9 / 0.1) = 2.20
    path = hmm_decode(q, 0.9)
    assert path[0] == 1 and path[2] == 0  # evidence on both sides decides them; the gap is free


# ------------------------------------------------------------------------------------------------ bout lengths
def merged(labels, probs, minimum, seconds=None):
    labels = np.asarray(labels)
    seconds = np.ones(labels.size) if seconds is None else seconds
    return merge_short_bouts(labels, np.asarray(probs, dtype=float), seconds, np.asarray(minimum, float)).tolist()


def test_short_bouts_merge_by_the_rule():
    flat = np.full((7, 3), 1 / 3)
    # a short bout inside another behaviour joins it (and its two halves become one bout)
    assert merged([0, 0, 0, 1, 0, 0], flat[:6], [0, 2, 0]) == [0] * 6
    # between two behaviours: the neighbour with the larger summed probability over the short bout ...
    p = np.array([[1, 0, 0], [1, 0, 0], [0.35, 0.4, 0.25], [0, 0, 1], [0, 0, 1], [0, 0, 1]])
    assert merged([0, 0, 1, 2, 2, 2], p, [0, 2, 0]) == [0, 0, 0, 2, 2, 2]
    # ... equal sums: the longer neighbour ...
    p[2] = [0.3, 0.4, 0.3]
    assert merged([0, 0, 1, 2, 2, 2], p, [0, 2, 0]) == [0, 0, 2, 2, 2, 2]
    # ... equally long: the earlier one
    assert merged([0, 1, 2], [[1, 0, 0], [0.3, 0.4, 0.3], [0, 0, 1]], [0, 2, 0]) == [0, 0, 2]
    # the shortest short bout goes first: the 1-s bout of 0 joins the 2-s bout of 1, which then is long enough
    assert merged([0, 1, 1, 2, 2, 2, 2], flat, [2, 3, 0]) == [1, 1, 1, 2, 2, 2, 2]
    # a window without a decision (-1) ends bouts: a bout beside it has no neighbour on that side
    assert merged([0, 1, -1, 1, 0], flat[:5], [0, 2, 0]) == [0, 0, -1, 0, 0]
    assert merged([-1, 1, -1], flat[:3], [0, 2, 0]) == [-1, 1, -1]
    assert merged([1, 1], flat[:2], [0, 5, 0]) == [1, 1]  # the whole video: nothing to merge into
    # durations are the seconds each window owns
    assert merged([0, 1, 1, 0], flat[:4], [0, 2, 0], seconds=np.array([1, 0.5, 0.5, 1])) == [0, 0, 0, 0]
    assert merged([0, 1, 1, 0], flat[:4], [0, 2, 0], seconds=np.array([1, 1, 1, 1])) == [0, 1, 1, 0]


def test_minimum_bout_lengths_are_honoured_wherever_a_bout_has_a_neighbour():
    rng = np.random.default_rng(2)
    for _ in range(200):
        n, k = int(rng.integers(1, 30)), int(rng.integers(2, 5))
        labels = rng.integers(-1, k, size=n) if rng.random() < 0.3 else rng.integers(0, k, size=n)
        probs = rng.dirichlet(np.ones(k), size=n)
        seconds = rng.uniform(0.5, 1.5, size=n)
        minimum = rng.choice([0.0, 1.0, 2.5, 4.0], size=k)
        out = np.array(merge_short_bouts(labels, probs, seconds, minimum))
        assert ((out == -1) == (labels == -1)).all()  # decisions are never made or removed, only changed
        cut = np.flatnonzero(np.diff(out)) + 1
        bounds = list(zip(np.r_[0, cut], np.r_[cut, n], strict=True))
        bouts = [(a, b) for a, b in bounds if out[a] >= 0]
        for a, b in bouts:
            has_neighbour = any(c == b or d == a for c, d in bouts if (c, d) != (a, b))
            if has_neighbour:
                assert seconds[a:b].sum() >= minimum[out[a]] - 1e-9, (labels, out, minimum)


def test_owned_seconds_and_a_frame_of_rounding():
    fps = 29.97
    bounds = window_bounds(3000, fps, 1.0)
    secs = owned_seconds(bounds[:, 0], bounds[:, 1], fps)
    assert {int(round(s * fps)) for s in secs[:-1]} == {29, 30}
    np.testing.assert_allclose(owned_seconds(np.array([0, 10, 20]), np.array([20, 30, 25]), 10.0), [1, 1, 0.5])
    np.testing.assert_allclose(owned_seconds(np.array([0, 30]), np.array([10, 40]), 10.0), [1, 1])  # gaps: own end
    # two one-second windows fulfil a two-second minimum even when they hold 59 frames
    s = Smooth(BEHAVIORS[:2], 0.5, {"freezing": 2.0})
    p = np.array([[0.2, 0.8], [0.9, 0.1], [0.9, 0.1], [0.2, 0.8]])
    start = np.array([0, 30, 59, 89])
    end = np.array([30, 59, 89, 119])
    assert s.decide(p, start, end, fps).tolist() == [1, 0, 0, 1]
    assert s.decide(p[:3], start[:3], end[:3], fps).tolist() == [1, 0, 0]
    end2 = np.array([30, 58, 88, 118])  # two frames short: merged
    start2 = np.array([0, 30, 58, 88])
    assert s.decide(p, start2, end2, fps).tolist() == [1, 1, 1, 1]


# ---------------------------------------------------------------------------------------------- the derived run
F, E, FL = [0.9, 0.025, 0.025, 0.025, 0.025], [0.025, 0.9, 0.025, 0.025, 0.025], [0.02, 0.45, 0.02, 0.02, 0.49]
FLICKER = [0.38, 0.56, 0.02, 0.02, 0.02]
NAN = [np.nan] * 5
SCRIPT = np.array([F, F, FLICKER, F, F, E, E, E, FL, E, NAN, E])  # 12 one-second windows of m1_day1
HUMAN = ["freezing"] * 5 + ["exploring"] * 7


@pytest.fixture
def scripted(tmp_path, make_video):
    """A project with one 12-s video (15 fps), its labels, and a run whose windows answer SCRIPT."""
    video = make_video("m1_day1.avi", n_frames=180)
    cfg = mousefear.create_project("sm", "t", [video], working_directory=tmp_path, date="2026-01-01")
    with Project.open(cfg).edit() as doc:
        doc["classification"]["max_unparseable"] = 1.0
        doc["classification"]["icl_per_class"] = 0
    project = Project.open(cfg)
    write_label_file(project.paths.label_file("m1_day1"), np.repeat(HUMAN, 15), BEHAVIORS)
    be = ScriptedBackend(BEHAVIORS)
    be.script = {"m1_day1": SCRIPT}
    run = mousefear.classify_videos(cfg, backend=be, progress=False)
    return cfg, run, be


def labels_of(cfg, run):
    win = read_vector_windows(Project.open(cfg).paths.vector_file(run, "m1_day1"))
    return [str(x) for x in win["label"]], win


def test_smoothed_run_beside_the_raw_one(scripted, caplog):
    cfg, run, _ = scripted
    raw, _ = labels_of(cfg, run)
    assert raw == ["freezing"] * 2 + ["exploring"] + ["freezing"] * 2 + ["exploring"] * 3 + ["fleeing", "exploring",
                                                                                            "", "exploring"]
    name = mousefear.smooth(cfg, run)
    record = json.loads((cfg.parent / "behavior-vectors" / name / "run.json").read_text())
    assert name == f"{run}_smooth_{record['settings_sha256'][:8]}"
    params = {"method": "hmm", "stay_probability": 0.8, "min_bout_seconds": {}}
    assert record["derived_from"] == {"run": run, "settings_sha256": record["derived_from"]["settings_sha256"],
                                      "kind": "smooth", "parameters": params}
    assert record["settings"]["derivations"] == [{"kind": "smooth", **params}]
    smoothed, win = labels_of(cfg, name)
    assert smoothed == ["freezing"] * 5 + ["exploring"] * 5 + ["", "exploring"]
    probs = win[BEHAVIORS].to_numpy()
    assert np.isnan(probs[10]).all() and probs[:10].sum(axis=1).tolist() == [1.0] * 10
    assert win.attrs["derived_from"]["kind"] == "smooth"
    # both runs are evaluated and compared like any other
    table = mousefear.compare_runs(cfg, [run, name])
    # window 10 has no prediction in both runs: a false negative of exploring (F1 12/13)
    assert table.loc[name, "window_macro_f1"] == pytest.approx((1 + 12 / 13) / 2)
    # raw: freezing 8/9, exploring 10/13, fleeing predicted once and never scored (F1 0)
    assert table.loc[run, "window_macro_f1"] == pytest.approx((8 / 9 + 10 / 13 + 0) / 3)
    # finished videos are not smoothed again; a parent classified again is
    with caplog.at_level("INFO", logger="mousefear.pipeline.derived"):
        assert mousefear.smooth(cfg, run) == name
    assert "m1_day1: finished already" in caplog.text


def test_minimum_bouts_and_a_gap(scripted):
    cfg, run, _ = scripted
    name = mousefear.smooth(cfg, run, stay_probability=0.2, min_bout_seconds={"fleeing": 2.0, "exploring": 2.0})
    smoothed, _ = labels_of(cfg, name)
    # stay 0.2 = 1 / 5: no smoothing but the bouts: the exploring flicker and the fleeing window join their
    # neighbours; the last window, alone behind a window without an answer, has no neighbour and stays
    assert smoothed == ["freezing"] * 5 + ["exploring"] * 5 + ["", "exploring"]
    only_merge, _ = labels_of(cfg, mousefear.smooth(cfg, run, stay_probability=0.2))
    assert only_merge == labels_of(cfg, run)[0]


def test_a_parent_classified_again_is_smoothed_again(scripted, caplog):
    cfg, run, be = scripted
    name = mousefear.smooth(cfg, run)
    be.script = {"m1_day1": np.array([F] * 12)}
    mousefear.classify_videos(cfg, run=run, backend=be, overwrite=True, progress=False)
    with caplog.at_level("INFO", logger="mousefear.pipeline.derived"):
        assert mousefear.smooth(cfg, run) == name
    assert "finished already" not in caplog.text
    assert labels_of(cfg, name)[0] == ["freezing"] * 12


def test_classify_writes_the_smoothed_run_when_asked(scripted):
    cfg, run, be = scripted
    with Project.open(cfg).edit() as doc:
        doc["postprocess"]["smoothing"] = "hmm"
        doc["postprocess"]["min_bout_seconds"] = {"fleeing": 2.0}
    assert mousefear.classify_videos(cfg, backend=be, progress=False) == run
    runs = Project.open(cfg).runs()
    (smoothed,) = [r for r in runs if r.startswith(f"{run}_smooth_")]
    record = json.loads((cfg.parent / "behavior-vectors" / smoothed / "run.json").read_text())
    assert record["derived_from"]["parameters"]["min_bout_seconds"] == {"fleeing": 2.0}


def test_refusals(scripted):
    cfg, run, _ = scripted
    name = mousefear.smooth(cfg, run)
    with pytest.raises(ProjectError, match=f"Run '{name}' is smoothed already \\(derived from run '{run}'\\); "
                                           "smooth that run instead"):
        mousefear.smooth(cfg, name)
    with pytest.raises(ConfigError, match=r"Expected postprocess.stay_probability to be a number > 0 and < 1, "
                                          "but got 1"):
        mousefear.smooth(cfg, run, stay_probability=1)
    with pytest.raises(ConfigError, match=r"Expected postprocess.min_bout_seconds to be a mapping whose keys are "
                                          r"behaviours \['freezing'"):
        mousefear.smooth(cfg, run, min_bout_seconds={"sleeping": 2})
    with pytest.raises(ConfigError, match=r"Expected postprocess.min_bout_seconds to be a mapping of behaviour "
                                          "names to seconds >= 0"):
        mousefear.smooth(cfg, run, min_bout_seconds={"freezing": -1})


def test_smooth_command(scripted, capsys):
    from mousefear.cli import main

    cfg, run, _ = scripted
    assert main(["smooth", str(cfg), "--run", run, "--stay-probability", "0.2", "--min-bout", "fleeing=2",
                 "--min-bout", "exploring=2"]) == 0
    out = capsys.readouterr().out
    name = out.split()[1].rstrip(":")
    assert out.startswith(f"run {run}_smooth_") and labels_of(cfg, name)[0][8] == "exploring"
    assert main(["smooth", str(cfg), "--run", run, "--min-bout", "fleeing"]) == 2
    assert "--min-bout: Expected BEHAVIOUR=SECONDS, but got 'fleeing'" in capsys.readouterr().err


def test_smoothing_the_motion_detector_on_tracktor(shared_video, tmp_path):
    """Real data: the motion detector's run of tracktor has isolated freezing seconds in the mouse's short pauses;
    smoothing at the default (chosen a priori, not on these labels) makes fewer freezing windows, no less true.
    Figures: benchmarks/bench_postprocess.py."""
    video = shared_video("tracktor/mouse_video.mp4")
    labels = shared_video("tracktor/mouse_video_labels_per_second.csv")
    cfg = mousefear.create_project("tr", "t", [video], working_directory=tmp_path, date="2026-01-01")
    mousefear.import_labels(cfg, labels, video="mouse_video")
    with Project.open(cfg).edit() as doc:
        doc["classification"]["backend"] = "motion"
    run = mousefear.classify_videos(cfg, progress=False)
    smoothed = mousefear.smooth(cfg, run)
    raw = mousefear.evaluate(cfg, run, plots=False).data["overall"]["window"]["per_behavior"]["freezing"]
    new = mousefear.evaluate(cfg, smoothed, plots=False).data["overall"]["window"]["per_behavior"]["freezing"]
    assert new["predicted"] < raw["predicted"] and new["f1"] >= raw["f1"]
    assert new["tp"] >= 0.8 * raw["tp"]  # most true freezing windows survive
