"""The report and the comparison table on two real runs with known settings: a motion run calibrated on the labels
(in-sample) and a model run (the fake backend) with in-context examples; a screenshot in headless Chromium."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import REPO
from test_evaluate import _parse, _table_with

import mousefear
from mousefear.backends.fake import FakeWindowBackend
from mousefear.core.project import Project
from mousefear.pipeline.metrics import correlation_evidence

BEHAVIORS = ["freezing", "exploring", "grooming", "rearing", "fleeing"]
SAMPLE = REPO / "sample_project"
PROTOCOL = {"day1": [{"name": "baseline", "start": 0, "end": 12}, {"name": "tone", "start": 12, "end": 24},
                     {"name": "post", "start": 24, "end": 36}]}


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """The sample video, twice (a second mouse with the same recording: enough 20-s blocks of scored time for a
    cross-validated calibration), with its frame-exact labels; run ``motion-...`` (thresholds calibrated on those
    labels) and run ``fake`` (CLAHE, one in-context example per behaviour), both evaluated and compared."""
    tmp = tmp_path_factory.mktemp("report")
    second = tmp / "src" / "mouse2_day1.mp4"
    second.parent.mkdir()
    shutil.copyfile(SAMPLE / "mouse1_day1.mp4", second)
    cfg = mousefear.create_project("sample", "demo", [SAMPLE / "mouse1_day1.mp4", second], working_directory=tmp)
    project = Project.open(cfg)
    with project.edit() as doc:
        doc["protocol"] = PROTOCOL
        doc["classification"]["backend"] = "motion"
        doc["classification"]["motion"]["method"] = "pixels"
    for vid in ("mouse1_day1", "mouse2_day1"):
        mousefear.import_labels(project, SAMPLE / "mouse1_day1_labels.csv", video=vid)
    mousefear.extract_exemplars(project)
    mousefear.label_exemplars(project)
    mousefear.calibrate_motion(project, from_labels=True, progress=False)
    motion = mousefear.classify_videos(project, progress=False)
    with project.edit() as doc:
        doc["classification"]["preprocessing"]["clahe"] = True
    fake = mousefear.classify_videos(project, run="fake", backend=FakeWindowBackend(BEHAVIORS), progress=False)
    for run in (motion, fake):
        mousefear.evaluate(project, run=run)
    table = mousefear.compare_runs(project)
    return project, motion, fake, table


def test_comparison_columns_hold_each_runs_settings(two_runs):
    project, motion, fake, table = two_runs
    assert motion.startswith("motion-") and table.index.tolist() == sorted([motion, fake])
    prompt = (project.paths.vectors(fake) / "prompt.txt").read_text(encoding="utf-8")
    expected = {
        motion: {"backend": "motion", "model": "motion-baseline", "prompt": None, "prompt_hash": None,
                 "icl_per_class": 0, "icl_examples": 0, "preprocessing": "crop", "in_sample": "in-sample"},
        fake: {"backend": "fake", "model": "fake-0", "prompt": "default",
               "prompt_hash": hashlib.sha256(prompt.encode("utf-8")).hexdigest(), "icl_per_class": 1,
               "icl_examples": 3,  # the sample video has no grooming or rearing exemplar
               "preprocessing": "crop, max_pixels=200704, clahe 2/8", "in_sample": "partly in-sample"},
    }
    for run, want in expected.items():
        got = {k: (None if pd.isna(table.at[run, k]) else table.at[run, k]) for k in want}
        assert got == want, run
    csv = pd.read_csv(project.paths.evaluation() / "comparison.csv", index_col="run", keep_default_na=False)
    assert csv.at[fake, "backend"] == "fake" and csv.at[fake, "model"] == "fake-0"
    assert csv.at[fake, "icl_examples"] == 3 and csv.at[motion, "prompt_hash"] == ""
    assert csv.at[motion, "preprocessing"] == "crop" and csv.at[motion, "in_sample"] == "in-sample"


def test_report_marks_in_sample_figures_and_groups_the_settings(two_runs):
    project, motion, fake, _ = two_runs
    path = project.paths.evaluation(motion) / "report.html"
    text = path.read_text(encoding="utf-8")
    p = _parse(path)
    # every agreement heading carries the in-sample mark
    for h in ("Overall agreement", "Per behaviour: frames", "Confusion matrix (frames)", "Per video"):
        assert f"{h}in-sample" in p.headings
    assert "In-sample figures." in text and "Out of sample (thresholds chosen on the other 20-s blocks" in text
    assert text.count('<span class="insample">in-sample</span>') >= 7
    settings = _table_with(p, ["Model"])
    assert [r[0] for r in settings if len(r) == 1] == ["Model", "Preprocessing", "Windows", "Backend parameters",
                                                       "Behaviours", "Provenance"]  # no prompt: a video backend
    rows = dict(r for r in settings if len(r) == 2)
    assert rows["backend"] == "motion" and rows["freeze_threshold"] == str(
        Project.open(project.config_path).settings.classification.motion.freeze_threshold)
    assert not [r[0] for r in settings if "." in r[0]]  # grouped, not flattened dotted keys
    assert rows["freezing"] == Project.open(project.config_path).settings.behaviors[0].definition
    # the model run: its prompt text folded, its examples with their labels
    fake_text = (project.paths.evaluation(fake) / "report.html").read_text(encoding="utf-8")
    assert "<details><summary>show the prompt (" in fake_text and '<pre class="prompt">' in fake_text
    fp = _parse(project.paths.evaluation(fake) / "report.html")
    ftable = _table_with(fp, ["Model"])
    assert [r[0] for r in ftable if len(r) == 1] == ["Model", "Prompt", "In-context examples", "Preprocessing",
                                                     "Windows", "Backend parameters", "Behaviours", "Provenance"]
    frows = dict(r for r in ftable if len(r) == 2)
    assert frows["model"] == "fake-0" and "(freezing)" in frows["examples"]
    assert "Overall agreementpartly in-sample" in fp.headings


def test_correlation_with_two_videos_is_not_evidence_and_epochs_are_shown(two_runs):
    project, motion, _, _ = two_runs
    p = _parse(project.paths.evaluation(motion) / "report.html")
    corr = _table_with(p, ["behaviour", "Pearson r", "n videos", "note"])
    assert {r[0]: (r[1], r[2]) for r in corr[1:]}["freezing"] == ("n/a", "2")
    epochs = _table_with(p, ["subject", "session", "epoch", "start s", "end s", "covered s", "freezing %"])
    assert [r[2] for r in epochs[1:]] == ["baseline", "tone", "post"] * 2
    table = pd.read_csv(project.paths.vectors(motion) / "epochs.csv")
    assert [float(r[6]) for r in epochs[1:]] == pytest.approx(table["freezing_percent"].round(1).tolist())


def test_correlation_evidence_rules():
    assert correlation_evidence([10, 20, 30, 40], [12, 18, 33, 41]) == (
        False, "n = 4 video(s): too few for a correlation to be evidence (at least 5 needed)")
    ok, why = correlation_evidence([0, 0, 0, 40, 5], [0, 0, 0, 41, 6])
    assert not ok and why.startswith("3 of 5 videos have 0 % in the human labels")
    assert correlation_evidence([10, 20, 30, 40, 50], [12, 18, 33, 41, 49]) == (True, "")
    assert correlation_evidence([10, 20, 30, 40, np.nan, 50], [12, 18, 33, 41, 5, 49]) == (True, "")
    ok, why = correlation_evidence([10, 10, 10, 10, 10], [1, 2, 3, 4, 5])
    assert not ok and "same in every video" in why


def test_report_in_headless_chromium(two_runs, tmp_path):
    chromium = Path("/usr/bin/chromium")
    if not chromium.is_file():
        pytest.skip(f"needs Debian's chromium at {chromium}")
    sync_api = pytest.importorskip("playwright.sync_api")
    project, motion, fake, _ = two_runs
    out = Path(os.environ.get("MOUSEFEAR_TEST_ARTIFACTS") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(chromium), headless=True,
                                     args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            outside = []
            page.on("request", lambda r: None if r.url.startswith(("file://", "data:")) else outside.append(r.url))
            page.goto((project.paths.evaluation(fake) / "report.html").as_uri())
            assert page.locator("h1").inner_text().startswith("Evaluation of run fake")
            assert page.locator("img").count() >= 4
            assert all(page.evaluate("[...document.images].map(i => i.complete && i.naturalWidth > 0)"))
            assert not page.locator("pre.prompt").is_visible()  # folded until asked for
            page.locator("details > summary").first.click()
            assert page.locator("pre.prompt").is_visible()
            shot = out / "report-fake.png"
            page.screenshot(path=str(shot), full_page=True)
            page.goto((project.paths.evaluation(motion) / "report.html").as_uri())
            assert page.locator("div.insample").is_visible()
            page.screenshot(path=str(out / "report-motion.png"), full_page=False)
        finally:
            browser.close()
    assert outside == []
    import cv2

    img = cv2.imread(str(shot))
    assert img is not None and img.shape[1] == 1280 and img.shape[0] > 2000  # the whole long page


def test_epoch_section_shows_confidence_intervals_when_epochs_csv_has_them(tmp_path):
    from mousefear.pipeline.report import _epochs_section

    path = tmp_path / "epochs.csv"
    pd.DataFrame({"run": ["r", "r"], "video_id": ["m1_day1"] * 2, "subject": ["m1"] * 2, "session": ["day1"] * 2,
                  "epoch_index": [0, 1], "epoch": ["baseline", "tone"], "start_s": [0.0, 120.0],
                  "end_s": [120.0, 150.0], "covered_s": [120.0, 30.0], "decided_s": [120.0, 30.0],
                  "freezing_percent": [12.5, 60.0], "exploring_percent": [87.5, 40.0],
                  "freezing_percent_ci_low": [8.1, 41.2], "freezing_percent_ci_high": [18.0, 76.4],
                  "freezing_bouts": [3, 2], "freezing_mean_bout_s": [5.0, 9.0],
                  "freezing_latency_s": [10.0, None]}).to_csv(path, index=False)
    p = _parse_html(_epochs_section(path, "freezing"))
    table = _table_with(p, ["subject", "session", "epoch"])
    assert table[0] == ["subject", "session", "epoch", "start s", "end s", "covered s", "freezing %", "95% CI",
                        "bouts", "mean bout s", "latency s", "exploring %"]
    assert table[1] == ["m1", "day1", "baseline", "0.0", "120.0", "120.0", "12.5", "8.1 to 18.0", "3", "5.0", "10.0",
                        "87.5"]
    assert table[2][7] == "41.2 to 76.4" and table[2][10] == "n/a"
    no_ci = tmp_path / "old.csv"
    pd.read_csv(path).drop(columns=["freezing_percent_ci_low", "freezing_percent_ci_high"]).to_csv(no_ci, index=False)
    assert "95% CI" not in _table_with(_parse_html(_epochs_section(no_ci, "freezing")), ["subject"])[0]


def _parse_html(html_text):
    from test_evaluate import _ReportParser

    p = _ReportParser()
    p.feed(html_text)
    return p


def test_a_run_with_calibrated_thresholds_under_another_name_is_marked_in_sample(two_runs):
    """The mark follows the thresholds, not the run's folder: the same calibrated settings classified as run
    ``copy`` are just as much fitted on these labels."""
    project, motion, _, _ = two_runs
    copy = mousefear.classify_videos(project, run="copy", progress=False)
    ev = mousefear.evaluate(project, run=copy, plots=False)
    assert ev.data["in_sample"]["calibrated"] is True
    assert ev.data["in_sample"]["videos"] == ["mouse1_day1", "mouse2_day1"]
    assert any(f"{motion}/calibration/motion_calibration.json" in note and note.startswith("IN-SAMPLE")
               for note in ev.data["notes"])
    with project.edit() as doc:  # other thresholds: no longer the calibration's
        doc["classification"]["motion"]["freeze_threshold"] = 0.2
    other = mousefear.classify_videos(project, run="other", progress=False)
    assert mousefear.evaluate(project, run=other, plots=False).data["in_sample"]["calibrated"] is False
