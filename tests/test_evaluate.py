"""Evaluating a run against human labels: a full evaluation of a project whose behaviour vectors are the sample
video's ground truth with known errors, the files and report written, run comparison, CLI. The metric functions
themselves are tested in test_metrics.py."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import time
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import REPO, write_video
from sklearn import metrics as skm

import mousefear
from mousefear.core.project import Project
from mousefear.errors import LabelError, ProjectError, VectorFileError
from mousefear.formats.labels import read_label_file, write_label_file
from mousefear.formats.vectors import write_vector

B = ["freezing", "exploring", "grooming", "rearing", "fleeing"]
SAMPLE_VIDEO = REPO / "sample_project" / "mouse1_day1.mp4"
SAMPLE_LABELS = REPO / "sample_project" / "mouse1_day1_labels.csv"


# ------------------------------------------------------------------------------------------------------------
# A project with known predictions
# ------------------------------------------------------------------------------------------------------------

# sample video: 36 s at 30 fps; one-second windows. Errors injected per second:
#   second 7 (human freezing) -> predicted exploring; second 12 (human fleeing) -> no prediction (NaN);
#   second 30 (human exploring) -> predicted grooming (a behaviour absent from the labels).
ERRORS = {7: "exploring", 12: None, 30: "grooming"}


def _one_hot(name):
    if name is None:
        return [np.nan] * len(B)
    p = np.full(len(B), 0.025)
    p[B.index(name)] = 0.9
    return p.tolist()


def _attrs(video, run, **extra):
    attrs = {"video_id": video.id, "subject": video.subject, "session": video.session,
             "video_sha256": video.sha256, "fps": video.fps, "run": run, "backend": "transformers",
             "model_id": "Qwen/Qwen2.5-VL-3B-Instruct", "model_revision": "main", "prompt_hash": "abc123",
             "icl_example_ids": ["ex_freezing_01", "ex_exploring_02"],
             "preprocessing": {"grayscale": False, "motion": "none"}}
    attrs.update(extra)
    return attrs


def _write_run(cfg, run, truth_by_video, errors_by_video, **extra_attrs):
    """One-second windows whose answer is the window's true label except the injected errors."""
    project = Project.open(cfg)
    for v in project.videos:
        win = round(v.fps)
        starts = np.arange(0, v.n_frames, win)
        ends = np.minimum(starts + win, v.n_frames)
        truth = truth_by_video[v.id]
        probs = []
        for i, s in enumerate(starts):
            name = truth[s] or "exploring"
            name = errors_by_video.get(v.id, {}).get(i, name)
            probs.append(_one_hot(name))
        write_vector(project.paths.vector_file(run, v.id), behaviors=B, start_frame=starts, end_frame=ends,
                     probabilities=np.array(probs), n_frames=v.n_frames, attrs=_attrs(v, run, **extra_attrs),
                     created="2026-11-23T10:00:00Z")


def _make_project(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(SAMPLE_VIDEO, src / "mouse1_day1.mp4")
    v2 = write_video(src / "m2_day1.avi", n_frames=45, fps=15.0)
    v3 = write_video(src / "m3_day2.avi", n_frames=30, fps=15.0)
    cfg = mousefear.create_project("ev", "tester", [src / "mouse1_day1.mp4", v2, v3],
                                   working_directory=tmp_path / "projects", date="2026-11-23")
    root = Path(cfg).parent
    sample = read_label_file(SAMPLE_LABELS, B)
    write_label_file(root / "labels" / "mouse1_day1.csv", sample, B)
    m2 = np.array(["freezing"] * 15 + ["exploring"] * 15 + [""] * 15, dtype=object)
    write_label_file(root / "labels" / "m2_day1.csv", m2, B)
    truth = {"mouse1_day1": sample, "m2_day1": m2, "m3_day2": np.full(30, "", dtype=object)}
    _write_run(cfg, "qwen", truth, {"mouse1_day1": ERRORS})
    return cfg, truth


@pytest.fixture
def eval_project(tmp_path):
    """Project: the sample video (labelled), m2_day1 (15 fps, 45 frames, first 30 frames labelled) and
    m3_day2 (no labels); run 'qwen' = ground truth with ERRORS in the sample video."""
    return _make_project(tmp_path)


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """eval_project evaluated once with plots (run qwen by subject), plus run 'perfect' (no errors, other
    prompt hash and preprocessing) compared with it; shared by the tests that only read the outputs."""
    cfg, truth = _make_project(tmp_path_factory.mktemp("evaluated"))
    _write_run(cfg, "perfect", truth, {}, prompt_hash="fff", preprocessing={"grayscale": True, "motion": "overlay"})
    with pytest.raises(ProjectError, match="no evaluated run"):
        mousefear.compare_runs(cfg)
    ev = mousefear.evaluate(cfg, run="qwen", by=["subject"])
    table = mousefear.compare_runs(cfg, runs=["qwen", "perfect"])  # 'perfect' is evaluated on the way
    return cfg, ev, table


def test_evaluate_known_errors(eval_project):
    cfg, truth = eval_project
    ev = mousefear.evaluate(cfg, run="qwen", by=["subject", "session"], plots=False)
    d = ev.data
    # sample video: freezing 450 frames, exploring 540, fleeing 90; m2: 15 freezing, 15 exploring labelled
    fr = ev.per_behavior("frame")
    assert fr.at["freezing", "support"] == 450 + 15 and fr.at["exploring", "support"] == 540 + 15
    assert fr.at["freezing", "precision"] == 1.0
    assert fr.at["freezing", "recall"] == pytest.approx((420 + 15) / 465)
    assert fr.at["exploring", "precision"] == pytest.approx((510 + 15) / (540 + 15))
    assert fr.at["exploring", "recall"] == pytest.approx((510 + 15) / 555)
    assert fr.at["fleeing", "recall"] == pytest.approx(60 / 90) and fr.at["fleeing", "precision"] == 1.0
    assert fr.at["grooming", "precision"] == 0 and math.isnan(fr.at["grooming", "recall"])
    assert fr.at["grooming", "f1"] == 0
    assert fr.loc["rearing", ["precision", "recall", "f1"]].isna().all()
    f1 = fr["f1"]
    assert f1["freezing"] == pytest.approx(2 * 435 / (2 * 435 + 30))
    assert f1["fleeing"] == pytest.approx(0.8)
    assert d["overall"]["frame"]["macro_f1"] == pytest.approx(
        (f1["freezing"] + f1["exploring"] + f1["fleeing"] + 0) / 4)
    assert d["overall"]["frame"]["macro_f1_behaviors"] == ["freezing", "exploring", "grooming", "fleeing"]
    assert d["overall"]["frame"]["accuracy"] == pytest.approx((1080 - 90 + 30) / (1080 + 30))
    assert d["overall"]["frame"]["no_prediction"] == 30
    assert d["overall"]["labelled_frames"] == 1110
    # independent check of the pooled frame scores with scikit-learn
    y_true = np.concatenate([truth["mouse1_day1"], truth["m2_day1"][:30]])
    pred1 = np.repeat([ERRORS.get(i, truth["mouse1_day1"][30 * i]) or "none" for i in range(36)], 30)
    y_pred = np.concatenate([pred1, ["freezing"] * 15 + ["exploring"] * 15])
    assert d["overall"]["frame"]["mcc"] == pytest.approx(skm.matthews_corrcoef(y_true, y_pred))
    assert d["overall"]["frame"]["kappa"] == pytest.approx(skm.cohen_kappa_score(y_true, y_pred))
    # the confusion matrix counts the missing prediction in its own column
    cm = ev.confusion()
    assert cm.at["fleeing", "none"] == 30 and cm.at["freezing", "exploring"] == 30
    assert cm.at["exploring", "grooming"] == 30 and cm.to_numpy().sum() == 1110
    assert ev.confusion(normalized=True).at["fleeing", "none"] == pytest.approx(1 / 3)
    # windows: one label per second; m2 has 2 labelled windows
    w = ev.per_behavior("window")
    assert w.at["freezing", "support"] == 15 + 1 and w.at["freezing", "recall"] == pytest.approx(15 / 16)
    assert d["overall"]["window"]["n"] == 38 and d["overall"]["window"]["no_prediction"] == 1
    # bouts (IoU >= .5): see the comment above ERRORS
    bt = ev.per_behavior("bout")
    assert bt.loc["freezing", ["human_bouts", "predicted_bouts", "matched"]].tolist() == [4, 5, 4]
    assert bt.loc["exploring", ["human_bouts", "predicted_bouts", "matched"]].tolist() == [4, 6, 4]
    assert bt.loc["fleeing", ["human_bouts", "predicted_bouts", "matched"]].tolist() == [2, 2, 2]
    assert bt.loc["grooming", ["human_bouts", "predicted_bouts", "matched"]].tolist() == [0, 1, 0]
    assert bt.at["freezing", "precision"] == pytest.approx(4 / 5)
    # percent time in the sample video
    pt = ev.percent_time().set_index(["video_id", "behavior"])
    assert pt.at[("mouse1_day1", "freezing"), "human"] == pytest.approx(100 * 450 / 1080)
    assert pt.at[("mouse1_day1", "freezing"), "predicted"] == pytest.approx(100 * 420 / 1080)
    assert pt.at[("mouse1_day1", "freezing"), "difference"] == pytest.approx(-100 * 30 / 1080)
    assert pt.at[("mouse1_day1", "none"), "predicted"] == pytest.approx(100 * 30 / 1080)
    assert pt.at[("m2_day1", "freezing"), "human"] == pytest.approx(50.0)
    # two labelled videos: no correlation, with the reason
    c = d["correlation"]["freezing"]
    assert math.isnan(c["r"]) and c["n"] == 2 and "n = 2 video(s): too few" in c["note"]
    # the unlabelled video is reported, not crashed on
    status = {v["video_id"]: v["status"] for v in d["videos"]}
    assert status == {"mouse1_day1": "evaluated", "m2_day1": "evaluated", "m3_day2": "no labels"}
    assert any("m3_day2" in n for n in d["notes"])
    # breakdowns
    assert sorted(d["groups"]) == ["session", "subject"]
    assert sorted(d["groups"]["subject"]) == ["m2", "mouse1"]
    assert list(d["groups"]["session"]) == ["day1"]
    assert ev.overall("subject", "m2").at["frame", "accuracy"] == 1.0
    assert ev.per_behavior("frame", "video", "mouse1_day1").at["freezing", "recall"] == pytest.approx(420 / 450)
    assert ev.data["settings"]["model_id"] == "Qwen/Qwen2.5-VL-3B-Instruct"


def test_evaluate_writes_files(evaluated):
    cfg, ev, _ = evaluated
    out = Path(cfg).parent / "evaluation" / "qwen"
    assert ev.folder == out and ev.run == "qwen"
    names = sorted(p.name for p in out.iterdir())
    assert names == ["confusion.png", "ethogram_m2_day1.png", "ethogram_m3_day2.png", "ethogram_mouse1_day1.png",
                     "metrics.csv", "metrics.json", "percent_time.png", "report.html"]
    m = pd.read_csv(out / "metrics.csv", keep_default_na=False, na_values=[""])
    assert m.columns.tolist() == ["scope", "group", "level", "behavior", "metric", "value"]
    m["group"] = m["group"].fillna("")
    m["behavior"] = m["behavior"].fillna("")

    def val(scope, group, level, behavior, metric):
        row = m[(m.scope == scope) & (m.group == group) & (m.level == level) & (m.behavior == behavior)
                & (m.metric == metric)]
        assert len(row) == 1, (scope, group, level, behavior, metric)
        return row["value"].iloc[0]

    assert val("video", "mouse1_day1", "frame", "freezing", "recall") == pytest.approx(420 / 450, rel=1e-5)
    assert val("all", "", "frame", "fleeing", "f1") == pytest.approx(0.8, rel=1e-5)
    assert math.isnan(val("all", "", "frame", "rearing", "f1"))
    assert val("all", "", "frame", "freezing", "support") == 465
    assert val("all", "", "frame", "", "no_prediction") == 30
    assert val("video", "m3_day2", "frame", "", "labelled_frames") == 0
    assert val("all", "", "time", "freezing", "pearson_n") == 2
    assert val("video", "mouse1_day1", "time", "freezing", "percent_difference") == pytest.approx(
        -100 * 30 / 1080, rel=1e-5)
    assert val("all", "", "bout", "freezing", "matched") == 4
    j = json.loads((out / "metrics.json").read_text())
    assert j["format"] == "mousefear-evaluation" and j["run"] == "qwen"
    assert j["overall"]["frame"]["per_behavior"]["rearing"]["f1"] is None  # NaN -> null
    assert j["settings"]["prompt_hash"] == "abc123"
    assert j["settings_source"].startswith("attributes")
    assert j["videos"][0]["vector_file"].startswith("behavior-vectors/qwen/")
    # the layout of metrics.json, which other tools read
    assert list(j) == ["format", "format_version", "mousefear_version", "run", "evaluated", "settings",
                       "settings_source", "behaviors", "freezing_behavior", "bout_iou", "by", "n_videos",
                       "n_videos_evaluated", "videos", "notes", "overall", "per_video", "groups", "correlation",
                       "in_sample", "protocol"]
    assert list(j["videos"][0]) == ["video_id", "subject", "session", "fps", "n_frames", "labelled_frames", "status",
                                    "vector_file", "label_file", "created"]
    for scores in [j["overall"], *j["per_video"].values(), *j["groups"]["subject"].values()]:
        assert list(scores) == ["labelled_frames", "frame", "window", "bout", "percent_time"]
        for level in ("frame", "window"):
            assert list(scores[level]) == ["n", "no_prediction", "accuracy", "balanced_accuracy", "macro_f1",
                                           "macro_f1_behaviors", "mcc", "kappa", "per_behavior", "confusion"]
            assert list(scores[level]["per_behavior"]) == B
            assert all(list(x) == ["precision", "recall", "f1", "f2", "support", "predicted", "tp", "fp", "fn"]
                       for x in scores[level]["per_behavior"].values())
            assert list(scores[level]["confusion"]) == ["rows", "columns", "counts", "row_normalized"]
        assert list(scores["bout"]) == ["per_behavior", "macro_f1", "macro_f1_behaviors"]
        assert all(list(x) == ["human_bouts", "predicted_bouts", "matched", "precision", "recall", "f1", "mean_iou"]
                   for x in scores["bout"]["per_behavior"].values())
        assert list(scores["percent_time"]) == [*B, "none"]
        assert all(list(x) == ["human", "predicted", "difference"] for x in scores["percent_time"].values())
    assert list(j["per_video"]) == ["m2_day1", "mouse1_day1"] and list(j["groups"]) == ["subject"]
    assert j["correlation"]["freezing"] == {"r": None, "n": 2, "note": "n = 2 video(s): too few for a correlation "
                                            "to be evidence (at least 5 needed)", "evidence": False}
    assert j["overall"]["frame"]["confusion"]["counts"][4] == [0, 0, 0, 0, 60, 30]
    assert j["overall"]["bout"]["per_behavior"]["freezing"]["matched"] == 4
    # the typed scores of the result are those of the file
    assert ev.scores.frame.confusion.to_numpy().tolist() == j["overall"]["frame"]["confusion"]["counts"]
    assert ev.per_video["m2_day1"].labelled_frames == j["per_video"]["m2_day1"]["labelled_frames"] == 30
    assert ev.groups["subject"]["mouse1"].bout.macro_f1 == pytest.approx(
        j["groups"]["subject"]["mouse1"]["bout"]["macro_f1"])
    for p in out.glob("*.png"):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(out.glob(".*"))  # no temporary files left


class _ReportParser(HTMLParser):
    def __init__(self):
        super().__init__()
        self.imgs, self.external, self.tables, self._cell, self._row, self._table = [], [], [], None, None, None
        self.headings = []
        self._h = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.imgs.append(a.get("src", ""))
        for k in ("src", "href"):
            if k in a and not a[k].startswith(("data:", "#")):
                self.external.append(a[k])
        if tag == "table":
            self._table = []
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = ""
        elif tag in ("h1", "h2", "h3"):
            self._h = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self._row.append(self._cell.strip())
            self._cell = None
        elif tag == "tr":
            self._table.append(self._row)
        elif tag == "table":
            self.tables.append(self._table)
        elif tag in ("h1", "h2", "h3"):
            self.headings.append(self._h.strip())
            self._h = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data
        if self._h is not None:
            self._h += data


def _parse(path):
    p = _ReportParser()
    p.feed(Path(path).read_text(encoding="utf-8"))
    return p


def _table_with(p, header):
    found = [t for t in p.tables if t and t[0][: len(header)] == header]
    assert found, f"no table with header {header}"
    return found[0]


def test_report_is_self_contained_and_complete(evaluated):
    cfg, ev, _ = evaluated
    p = _parse(ev.report_path)
    assert p.external == []
    # confusion, percent time, 3 ethograms, comparison
    assert len(p.imgs) == 6 and all(s.startswith("data:image/png;base64,") for s in p.imgs)
    for h in ("Run settings", "Overall agreement", "Per behaviour: frames", "Per behaviour: windows",
              "Confusion matrix (frames)", "Percent time per video", "Per video", "By subject", "Ethograms",
              "Comparison of runs", "Definitions"):
        assert h in p.headings
    table = _table_with(p, ["Model"])  # grouped: a header row per group, then (setting, value) rows
    groups = [r[0] for r in table if len(r) == 1]
    assert groups == ["Model", "Prompt", "In-context examples", "Preprocessing", "Windows", "Provenance"]
    settings = dict((r[0], r[1]) for r in table if len(r) == 2)
    assert settings["model_id"] == "Qwen/Qwen2.5-VL-3B-Instruct" and settings["sha256"] == "abc123"
    assert settings["examples"] == "ex_freezing_01, ex_exploring_02"
    assert settings["motion"] == "none" and settings["backend"] == "transformers"
    assert settings["created"] == "2026-11-23T10:00:00Z"
    per_b = _table_with(p, ["behaviour", "precision", "recall", "F1", "F2", "support", "predicted"])
    rows = {r[0]: r for r in per_b[1:]}
    assert rows["freezing"][2] == f"{435 / 465:.3f}" and rows["freezing"][5] == "465"
    assert rows["rearing"][3] == "n/a" and rows["grooming"][3] == "0.000"
    overall = _table_with(p, ["level", "n", "no prediction", "accuracy"])
    assert overall[1][:4] == ["frames", "1110", "30", f"{1020 / 1110:.3f}"]
    conf = _table_with(p, ["human \\ predicted"])
    assert conf[0][1:] == [*B, "none", "total"]
    assert {r[0]: r[6] for r in conf[1:]}["fleeing"] == "30"
    bouts = _table_with(p, ["behaviour", "human bouts", "predicted bouts", "matched"])
    assert {r[0]: r[1:4] for r in bouts[1:]}["freezing"] == ["4", "5", "4"]
    corr = _table_with(p, ["behaviour", "Pearson r", "n videos", "note"])
    assert {r[0]: r[1] for r in corr[1:]}["freezing"] == "n/a"
    pv = _table_with(p, ["video", "subject", "session", "labelled frames"])
    assert [r[0] for r in pv[1:]] == ["m2_day1", "mouse1_day1"]  # files by name
    assert "m3_day2" in ev.report_path.read_text()


# ------------------------------------------------------------------------------------------------------------
# Choosing a run, errors
# ------------------------------------------------------------------------------------------------------------


def test_run_choice_and_unknown_run(eval_project):
    cfg, truth = eval_project
    _write_run(cfg, "perfect", truth, {})
    vec = Path(cfg).parent / "behavior-vectors"
    old = time.time() - 100
    for p in (vec / "qwen").glob("*.h5"):
        os.utime(p, (old, old))
    assert mousefear.evaluate(cfg, plots=False).run == "perfect"  # newest
    with pytest.raises(ProjectError, match=r"Expected a run among \['perfect', 'qwen'\].*'nope'"):
        mousefear.evaluate(cfg, run="nope")
    text = Path(cfg).read_text().replace("  run: null", "  run: qwen")
    Path(cfg).write_text(text)
    assert mousefear.evaluate(cfg, plots=False).run == "qwen"
    Path(cfg).write_text(text.replace("  run: qwen", "  run: other"))
    with pytest.raises(ProjectError, match="classification.run is 'other'.*available runs"):
        mousefear.evaluate(cfg, plots=False)


def test_no_runs_and_empty_run(project):
    with pytest.raises(VectorFileError, match="no run with behaviour-vector files"):
        mousefear.evaluate(project)
    (Path(project).parent / "behavior-vectors" / "empty").mkdir(parents=True)
    with pytest.raises(VectorFileError, match=r"empty.*no behaviour-vector files"):
        mousefear.evaluate(project, run="empty")


def test_no_labels_at_all(eval_project):
    cfg, _ = eval_project
    for p in (Path(cfg).parent / "labels").glob("*.csv"):
        p.unlink()
    with pytest.raises(LabelError, match="no labelled frame for any video of run 'qwen'"):
        mousefear.evaluate(cfg)
    assert not (Path(cfg).parent / "evaluation" / "qwen").exists()


def test_frame_count_mismatch_names_both_files(eval_project):
    cfg, truth = eval_project
    lab = Path(cfg).parent / "labels" / "m2_day1.csv"
    write_label_file(lab, truth["m2_day1"][:40], B)
    with pytest.raises(LabelError) as exc:
        mousefear.evaluate(cfg)
    msg = str(exc.value)
    assert str(lab) in msg and "m2_day1.h5" in msg and "40" in msg and "45" in msg


def test_videos_argument(eval_project):
    cfg, _ = eval_project
    ev = mousefear.evaluate(cfg, videos=["m2_day1"], plots=False)
    assert [v["video_id"] for v in ev.data["videos"]] == ["m2_day1"]
    assert ev.data["overall"]["frame"]["accuracy"] == 1.0
    with pytest.raises(ProjectError, match="nope"):
        mousefear.evaluate(cfg, videos=["nope"])


def test_by_defaults_to_config_and_is_checked(eval_project):
    cfg, _ = eval_project
    with Project.open(cfg).edit() as doc:
        doc["evaluation"]["by"] = ["session"]
    ev = mousefear.evaluate(cfg, plots=False)
    assert ev.data["by"] == ["session"] and list(ev.data["groups"]) == ["session"]
    assert list(ev.groups) == ["session"] and list(ev.groups["session"]) == ["day1"]
    assert mousefear.evaluate(cfg, by="subject", plots=False).data["by"] == ["subject"]
    with pytest.raises(ProjectError, match=re.escape("Expected by among subject, session, but got ['cage']")):
        mousefear.evaluate(cfg, by=["subject", "cage"], plots=False)


def test_stray_files_in_the_run_folder_are_not_read(eval_project):
    cfg, _ = eval_project
    folder = Path(cfg).parent / "behavior-vectors" / "qwen"
    (folder / "tmpq8w2.h5").write_bytes(b"half-written temporary file")
    shutil.copy(folder / "m2_day1.h5", folder / "m9_day1.h5")  # not a registered video
    ev = mousefear.evaluate(cfg, plots=False)
    assert [v["video_id"] for v in ev.data["videos"]] == ["m2_day1", "m3_day2", "mouse1_day1"]
    with pytest.raises(ProjectError, match=re.escape("Expected videos among ['m2_day1', 'm3_day2', "
                                                     "'mouse1_day1'], but got ['m9_day1']")):
        mousefear.evaluate(cfg, videos=["m9_day1"], plots=False)


def test_run_json_settings_are_used(eval_project):
    cfg, _ = eval_project
    run_json = Path(cfg).parent / "behavior-vectors" / "qwen" / "run.json"
    run_json.write_text(json.dumps({"run": "qwen", "backend": "transformers", "model": "Qwen/Qwen2.5-VL-7B",
                                    "prompt": "default", "icl_per_class": 1,
                                    "preprocessing": {"clahe": True}}))
    ev = mousefear.evaluate(cfg, plots=False)
    assert ev.data["settings_source"] == "run.json" and ev.data["settings"]["model"] == "Qwen/Qwen2.5-VL-7B"
    run_json.write_text("{not json")
    with pytest.raises(VectorFileError, match="run.json"):
        mousefear.evaluate(cfg, plots=False)


# ------------------------------------------------------------------------------------------------------------
# Comparing runs, command line
# ------------------------------------------------------------------------------------------------------------


def test_compare_runs(evaluated):
    cfg, _, table = evaluated
    assert table.index.tolist() == ["qwen", "perfect"]
    assert table.at["perfect", "macro_f1"] == 1.0 and table.at["perfect", "mcc"] == pytest.approx(1.0)
    assert table.at["qwen", "f1_fleeing"] == pytest.approx(0.8)
    assert math.isnan(table.at["qwen", "f1_rearing"])
    assert table.at["perfect", "prompt_hash"] == "fff"
    assert table.at["perfect", "preprocessing"] == "grayscale, motion=overlay"
    assert table.at["qwen", "icl_examples"] == 2 and table.at["qwen", "model"] == "Qwen/Qwen2.5-VL-3B-Instruct"
    ev_dir = Path(cfg).parent / "evaluation"
    csv = pd.read_csv(ev_dir / "comparison.csv", index_col="run")
    assert csv.at["qwen", "f1_fleeing"] == pytest.approx(0.8)
    assert (ev_dir / "comparison.png").read_bytes()[:4] == b"\x89PNG"
    for run in ("qwen", "perfect"):
        p = _parse(ev_dir / run / "report.html")
        assert "Comparison of runs" in p.headings
        comp = _table_with(p, ["run", "backend", "model"])
        assert [r[0] for r in comp[1:]] == ["qwen", "perfect"]
        assert len(p.imgs) == 6
    with pytest.raises(ProjectError, match="Expected runs among"):
        mousefear.compare_runs(cfg, runs=["nope"])


def test_cli_evaluate_and_compare(evaluated, capsys):
    from mousefear.cli import main

    cfg, _, _ = evaluated
    assert main(["evaluate", str(cfg), "--run", "perfect", "--videos", "m2_day1", "--by", "subject",
                 "session"]) == 0
    out = capsys.readouterr().out
    assert "run perfect" in out and "freezing" in out and "report.html" in out and "macro_f1" in out
    assert "Pearson r = n/a (n = 1)" in out
    assert main(["compare-runs", str(cfg)]) == 0  # every evaluated run, by name
    out = capsys.readouterr().out
    assert out.splitlines()[1].startswith("run") or "perfect" in out
    assert "comparison.csv" in out
    table = pd.read_csv(Path(cfg).parent / "evaluation" / "comparison.csv", index_col="run")
    assert table.index.tolist() == ["perfect", "qwen"] and table.at["perfect", "n_videos"] == 1
    assert main(["evaluate", str(cfg), "--run", "nope"]) == 2
    assert "Expected a run among" in capsys.readouterr().err
