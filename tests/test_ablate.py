"""The ablation in one command (mousefear/pipeline/ablate.py): the grid format and its refusals, a grid run on the
labelled videos that stops, resumes and skips what is finished, and the command."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _scripted import ScriptedBackend

import mousefear
from mousefear.core.project import Project
from mousefear.core.settings import key_paths
from mousefear.errors import ConfigError, LabelError, ModelError
from mousefear.formats.labels import write_label_file
from mousefear.pipeline.ablate import default_grid_path, read_grid

BEHAVIORS = ["freezing", "exploring", "grooming", "rearing", "fleeing"]


def grid_file(tmp_path, text, name="grid.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_default_grid_is_the_papers_ablation():
    path = default_grid_path()
    if "classification.context" not in key_paths():  # the context modes are not in this mousefear (yet)
        with pytest.raises(ConfigError) as info:
            read_grid()
        assert str(info.value) == (f"{path}: unknown setting classification.context in factors.context.no_icl: "
                                   "config.yaml of this mousefear has no such key")
        return
    runs = read_grid()
    assert [r.label for r in runs] == [f"{c}+{p}" for c in ("no_icl", "icl", "temporal", "autoregressive")
                                       for p in ("raw", "preprocessed")]
    assert runs[5].levels == {"context": "temporal", "preprocessing": "preprocessed"}
    assert runs[5].changes["classification.context"] == "temporal"
    assert runs[0].changes["classification.icl_per_class"] == 0 and runs[2].changes["classification.icl_per_class"] == 1


def test_grid_layout_order_and_base(tmp_path):
    path = grid_file(tmp_path, """
base: {seed: 7}
factors:
  icl:
    none: {classification.icl_per_class: 0}
    one: {classification.icl_per_class: 1}
  pre:
    raw: {classification.preprocessing.clahe: false}
    clahe: {classification.preprocessing.clahe: true, classification.preprocessing.clahe_clip_limit: 3.0}
runs:
  motion_baseline: {classification.backend: motion}
""")
    runs = read_grid(path)
    assert [r.label for r in runs] == ["none+raw", "none+clahe", "one+raw", "one+clahe", "motion_baseline"]
    assert runs[3].changes == {"seed": 7, "classification.icl_per_class": 1, "classification.preprocessing.clahe": True,
                               "classification.preprocessing.clahe_clip_limit": 3.0}
    assert runs[3].levels == {"icl": "one", "pre": "clahe"}
    assert runs[4].changes == {"seed": 7, "classification.backend": "motion"} and runs[4].levels == {}
    only_runs = read_grid(grid_file(tmp_path, "runs:\n  a: {classification.batch_size: 2}\n", "r.yaml"))
    assert [(r.label, r.changes) for r in only_runs] == [("a", {"classification.batch_size": 2})]


@pytest.mark.parametrize("text, message", [
    ("factors:\n  a:\n    x: {classification.icl_per_clas: 0}\n",
     "unknown setting classification.icl_per_clas in factors.a.x: config.yaml of this mousefear has no such key "
     "(did you mean classification.icl_per_class?)"),
    ("runs:\n  a: {classification.run: mine}\n",
     "classification.run in runs.a is not a setting a grid changes (classification.* but classification.run, "
     "postprocess.*, seed)"),
    ("runs:\n  a: {evaluation.bout_iou: 0.3}\n", "evaluation.bout_iou in runs.a is not a setting a grid changes"),
    ("factors:\n  a:\n    x: {seed: 1}\n  b:\n    y: {seed: 2}\n",
     "factors a and b both set seed; each key belongs to one factor"),
    ("base: {seed: 1}\nfactors:\n  a:\n    x: {seed: 2}\n", "seed is set in base and by factor a; give it one place"),
    ("factorz: {}\n", "unknown key factorz; a grid has base, factors and runs"),
    ("- a\n- b\n", "Expected a mapping with base, factors and runs, but got list"),
    ("base: {seed: 1}\n", "Expected factors or runs, but the grid names no run"),
    ("factors:\n  a: []\n", "Expected factors.a to be a mapping of level -> settings, but got []"),
    ("runs:\n  a: 3\n", "Expected runs.a to be a mapping of config.yaml keys to values, but got int"),
    ("factors:\n  a:\n    x: {seed: 1}\nruns:\n  x: {seed: 2}\n", "run x is named like a combination of the factors"),
    ("runs: {a: [}\n", "not a readable YAML grid"),
])
def test_grid_refusals_name_the_file(tmp_path, text, message):
    path = grid_file(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        read_grid(path)
    assert str(info.value).startswith(f"{path}: ") and message in str(info.value)
    assert "\n" not in str(info.value)


# ------------------------------------------------------------------------------------------------- a grid run
GRID = """
factors:
  icl:
    icl0: {classification.icl_per_class: 0}
    icl1: {classification.icl_per_class: 1}
  pre:
    raw: {classification.preprocessing.clahe: false}
    clahe: {classification.preprocessing.clahe: true}
runs:
  smoothed: {classification.icl_per_class: 0, classification.preprocessing.clahe: false, postprocess.smoothing: hmm}
"""


@pytest.fixture
def ablation_project(tmp_path, make_video):
    """Two 6-s videos; only m1_day1 is labelled."""
    vids = [make_video(f"m{i}_day1.avi", n_frames=90) for i in (1, 2)]
    cfg = mousefear.create_project("ab", "t", vids, working_directory=tmp_path, date="2026-01-01")
    project = Project.open(cfg)
    write_label_file(project.paths.label_file("m1_day1"), ["freezing"] * 45 + ["exploring"] * 45, BEHAVIORS)
    return cfg, grid_file(tmp_path, GRID)


class Factory:
    """Builds a scripted backend per run and remembers them (with ``fail`` set, the run icl1+raw breaks at its
    third window)."""

    def __init__(self, fail=False):
        self.fail = fail
        self.made = []

    def __call__(self, settings):
        c = settings.classification
        breaks = self.fail and c.icl_per_class == 1 and not c.preprocessing.clahe
        be = ScriptedBackend(settings.behavior_names)
        be.breaks_at = (2,) if breaks else ()
        rng = np.random.default_rng(c.icl_per_class * 2 + c.preprocessing.clahe)
        be.script = {"m1_day1": rng.dirichlet(np.ones(5), size=6)}
        self.made.append(((c.icl_per_class, c.preprocessing.clahe, settings.postprocess.smoothing), be))
        return be


def test_ablation_stops_resumes_and_skips_what_is_finished(ablation_project, caplog):
    cfg, grid = ablation_project
    first = Factory(fail=True)
    with pytest.raises(ModelError, match="window 2 of m1_day1 failed"), caplog.at_level("ERROR"):
        mousefear.ablate(cfg, grid, backend=first, progress=False)
    assert "Ablation stopped at run 3 of 5 (icl1+raw); what was classified is kept" in caplog.text
    assert [(k, [i for _, i, _ in be.seen]) for k, be in first.made] == [
        ((0, False, "none"), list(range(6))), ((0, True, "none"), list(range(6))), ((1, False, "none"), [0, 1])]
    assert all(v == "m1_day1" for _, be in first.made for v, _, _ in be.seen)  # the labelled video only
    evaluated = sorted(p.parent.name for p in (cfg.parent / "evaluation").glob("*/metrics.json"))
    assert len(evaluated) == 2

    second = Factory()
    table = mousefear.ablate(cfg, grid, backend=second, progress=False)
    seen = {k: [i for _, i, _ in be.seen] for k, be in second.made}
    assert seen == {(0, False, "none"): [], (0, True, "none"): [], (1, False, "none"): [2, 3, 4, 5],
                    (1, True, "none"): list(range(6)), (0, False, "hmm"): []}
    assert table["grid_run"].tolist() == ["icl0+raw", "icl0+clahe", "icl1+raw", "icl1+clahe", "smoothed"]
    assert table["icl"].tolist() == ["icl0", "icl0", "icl1", "icl1", ""]
    assert table["pre"].tolist() == ["raw", "clahe", "raw", "clahe", ""]
    runs = list(table.index)
    assert runs[4].startswith(f"{runs[0]}_smooth_")  # the smoothed run of the same classification
    assert table["icl_per_class"].tolist() == [0, 0, 1, 1, 0]
    assert (table["n_videos"] == 1).all()
    on_disk = pd.read_csv(cfg.parent / "evaluation" / "ablation.csv", index_col="run", keep_default_na=False)
    assert on_disk.index.tolist() == runs and on_disk["grid_run"].tolist() == table["grid_run"].tolist()
    np.testing.assert_allclose(on_disk["macro_f1"].astype(float), table["macro_f1"], rtol=1e-5)
    assert (cfg.parent / "evaluation" / "ablation.png").stat().st_size > 1000
    assert pd.read_csv(cfg.parent / "evaluation" / "comparison.csv", index_col="run").index.tolist() == runs
    # the same call again classifies and evaluates nothing
    stamps = {r: (cfg.parent / "evaluation" / r / "metrics.json").stat().st_mtime_ns for r in runs}
    third = Factory()
    again = mousefear.ablate(cfg, grid, backend=third, progress=False)
    assert all(be.seen == [] for _, be in third.made)
    assert stamps == {r: (cfg.parent / "evaluation" / r / "metrics.json").stat().st_mtime_ns for r in runs}
    pd.testing.assert_frame_equal(again.drop(columns="evaluated"), table.drop(columns="evaluated"))
    # new labels: evaluated again
    project = Project.open(cfg)
    write_label_file(project.paths.label_file("m1_day1"), ["exploring"] * 90, BEHAVIORS)
    mousefear.ablate(cfg, grid, backend=Factory(), progress=False)
    assert all((cfg.parent / "evaluation" / r / "metrics.json").stat().st_mtime_ns > stamps[r] for r in runs)


def test_a_bad_value_stops_the_ablation_before_anything_runs(ablation_project, tmp_path):
    cfg, _ = ablation_project
    path = grid_file(tmp_path, "runs:\n  ok: {classification.icl_per_class: 0}\n"
                               "  bad: {classification.icl_per_class: -1}\n", "bad.yaml")
    with pytest.raises(ConfigError) as info:
        mousefear.ablate(cfg, path, backend=Factory(), progress=False)
    assert str(info.value) == (f"{path}: run bad: {cfg}: Expected classification.icl_per_class to be a whole number "
                               ">= 0, but got -1")
    assert not (cfg.parent / "behavior-vectors").exists() or not any((cfg.parent / "behavior-vectors").iterdir())
    (cfg.parent / "labels" / "m1_day1.csv").unlink()
    with pytest.raises(LabelError, match="Expected label files with labelled frames for the videos of the ablation"):
        mousefear.ablate(cfg, grid_file(tmp_path, "runs:\n  ok: {seed: 1}\n", "ok.yaml"), backend=Factory(),
                         progress=False)


def test_ablate_command_with_the_motion_detector(ablation_project, tmp_path, capsys):
    from mousefear.cli import main

    cfg, _ = ablation_project
    path = grid_file(tmp_path, """
base: {classification.backend: motion, classification.motion.method: pixels}
factors:
  threshold:
    strict: {classification.motion.freeze_threshold: 0.0001}
    lenient: {classification.motion.freeze_threshold: 0.05}
""", "motion.yaml")
    assert main(["ablate", str(cfg), "--grid", str(path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "strict" in out and "lenient" in out and "ablation.csv" in out
    table = pd.read_csv(cfg.parent / "evaluation" / "ablation.csv", index_col="run")
    assert table["grid_run"].tolist() == ["strict", "lenient"] and (table["backend"] == "motion").all()
    bad = grid_file(tmp_path, "runs:\n  a: {classification.no_such_key: none}\n", "typo.yaml")
    assert main(["ablate", str(cfg), "--grid", str(bad)]) == 2
    assert capsys.readouterr().err == (f"mousefear ablate: error: {bad}: unknown setting classification.no_such_key "
                                       "in runs.a: config.yaml of this mousefear has no such key\n")
