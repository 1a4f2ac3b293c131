"""Exemplars: picking candidates, the files written, reproducibility, labels from people and from label files."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from conftest import REPO, snapshot

import mousefear
from mousefear.cli import main
from mousefear.core.config import new_seq
from mousefear.core.preprocess import smart_resize
from mousefear.errors import LabelError, ProjectError
from mousefear.formats.labels import write_label_file
from mousefear.pipeline.exemplars import INDEX_COLUMNS, choose_kmeans, choose_motion, choose_uniform, exemplar_info

SAMPLE_VIDEO = REPO / "sample_project" / "mouse1_day1.mp4"
SAMPLE_LABELS = REPO / "sample_project" / "mouse1_day1_labels.csv"
HEADER = "id,video_id,start_frame,end_frame,method,motion_score,label,label_source\n"


def decoded_frame(path: Path, index: int) -> np.ndarray:
    """Frame ``index`` of a video by a plain read loop, RGB."""
    cap = cv2.VideoCapture(str(path))
    for _ in range(index + 1):
        ok, frame = cap.read()
        assert ok
    cap.release()
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


def sample_project(base: Path) -> Path:
    cfg = mousefear.create_project("demo", "eve", [SAMPLE_VIDEO], working_directory=base, date="2026-11-23")
    shutil.copy(SAMPLE_LABELS, Path(cfg).parent / "labels" / "mouse1_day1.csv")
    return cfg


def exemplar_files(cfg) -> dict[str, bytes]:
    return snapshot(Path(cfg).parent / "exemplars")


# ------------------------------------------------------------------------------------------------ choosing
def test_choose_uniform_is_evenly_spaced():
    assert choose_uniform(36, 6).tolist() == [3, 9, 15, 21, 27, 33]
    assert choose_uniform(10, 3).tolist() == [1, 5, 8]
    assert choose_uniform(3, 5).tolist() == [0, 1, 2]


def test_choose_motion_spans_the_range():
    scores = np.array([5.0, 0.1, 3.0, 3.1, 2.9, 3.0, 9.0, 3.05, 2.95, 0.2])
    picked = choose_motion(scores, 3)
    # targets: the minimum 0.1, the median 3.0 (two windows score 3.0: the earlier, 2, is taken), the maximum 9.0
    assert picked.tolist() == [1, 2, 6]  # rare still and rare active windows are always represented
    assert choose_motion(scores, 20).tolist() == list(range(10))


def test_choose_kmeans_one_per_cluster():
    rng = np.random.default_rng(0)
    a = rng.normal(0, 0.01, size=(5, 3))
    b = rng.normal(1, 0.01, size=(4, 3))
    feats = np.concatenate([a, b])
    picked = choose_kmeans(feats, 2, seed=1)
    assert len(picked) == 2 and picked[0] < 5 <= picked[1]
    centre_a = np.argmin(((a - a.mean(0)) ** 2).sum(1))
    assert picked[0] == centre_a
    assert choose_kmeans(np.zeros((4, 3)), 3, seed=1).tolist() == [0]  # only one distinct window


# ---------------------------------------------------------------------------------------- sample project
def test_motion_exemplars_on_sample_video(tmp_path):
    cfg = sample_project(tmp_path / "a")
    added = mousefear.extract_exemplars(cfg, n_per_video=6)
    assert list(added.columns) == list(INDEX_COLUMNS) and len(added) == 6
    index_path = Path(cfg).parent / "exemplars" / "index.csv"
    text = index_path.read_text()
    assert text.startswith(HEADER) and text.count("\n") == 7
    assert (added["method"] == "motion").all() and (added["label"] == "").all()
    assert added["id"].tolist() == [f"mouse1_day1_{s:06d}-{e:06d}" for s, e in zip(added.start_frame,
                                                                                     added.end_frame, strict=True)]
    assert ((added.end_frame - added.start_frame) == 30).all() and (added.start_frame % 30 == 0).all()

    # the stillest candidate is a freezing second, the most active a fleeing one (frame-exact ground truth)
    labelled = mousefear.labelled_exemplars(cfg)
    assert labelled.loc[labelled.motion_score.idxmin(), "label"] == "freezing"
    assert labelled.loc[labelled.motion_score.idxmax(), "label"] == "fleeing"
    assert (labelled.label_source == "labels").all()

    # files: frames preprocessed as the model sees them, a contact sheet, info.json
    cid = added.id[0]
    info = exemplar_info(cfg, cid)
    frames = mousefear.exemplar_frames(cfg, cid)
    h, w = smart_resize(240, 320, 200704)
    assert frames.shape == (4, h, w, 3) == (4, 252, 308, 3)
    start = int(added.start_frame[0])
    assert info["frame_indices"] == [start + 3, start + 11, start + 18, start + 26]
    expected = cv2.resize(decoded_frame(SAMPLE_VIDEO, info["frame_indices"][1]), (w, h),
                          interpolation=cv2.INTER_LINEAR)
    assert np.array_equal(frames[1], expected)
    sheet = cv2.imread(str(Path(cfg).parent / "exemplars" / cid / "sheet.png"))
    assert sheet.shape == (h + 22, 4 * w + 3 * 2, 3)
    assert info["preprocessing"]["version"] == 1 and info["fps"] == 30.0

    # re-running adds nothing and changes nothing
    before = exemplar_files(cfg)
    assert len(mousefear.extract_exemplars(cfg, n_per_video=6)) == 0
    assert exemplar_files(cfg) == before
    assert not any(name.split("/")[-1].startswith(".") for name in before)  # no temporary files left

    # the same project and seed give the same files, byte for byte
    cfg_b = sample_project(tmp_path / "b")
    mousefear.extract_exemplars(cfg_b, n_per_video=6)
    assert exemplar_files(cfg_b) == before


def test_uniform_then_kmeans_adds_without_duplicates(tmp_path):
    cfg = sample_project(tmp_path)
    first = mousefear.extract_exemplars(cfg, n_per_video=6, method="uniform")
    assert first.start_frame.tolist() == [90, 270, 450, 630, 810, 990]  # windows 3, 9, ..., 33 of 36
    idx = mousefear.read_exemplar_index(cfg)
    idx.loc[1, "label"] = "freezing"  # a person labels one (window 9 is really freezing)
    mousefear.write_exemplar_index(cfg, idx)
    again = mousefear.extract_exemplars(cfg, n_per_video=8, method="uniform")
    idx2 = mousefear.read_exemplar_index(cfg)
    assert idx2.id.is_unique and len(idx2) == 6 + len(again)
    assert set(again.id).isdisjoint(first.id)
    row = idx2.set_index("id").loc[first.id[1]]
    assert (row.label, row.label_source, row.method) == ("freezing", "person", "uniform")


# ----------------------------------------------------------------------------------------------- bsoid
def bsoid_project(base: Path, names: list[str], shared_video: Callable[[str], Path]) -> Path:
    clips = [shared_video(f"bsoid-clips/{n}") for n in names]
    cfg = mousefear.create_project("bsoid", "eve", [], working_directory=base, date="2026-11-23")
    mousefear.add_videos(cfg, clips, subject="m", session="s")
    c = mousefear.load_config(cfg)
    for entry in c["videos"].values():
        entry["crop"] = new_seq([450, 0, 450, 360])  # the middle of the three panels
    mousefear.save_config(cfg, c)
    return cfg


def test_kmeans_exemplars_on_bsoid_panel(tmp_path, shared_video):
    names = ["investigate_hstacked.mp4", "rear_minus_hstacked.mp4"]
    cfg = bsoid_project(tmp_path / "a", names, shared_video)
    added = mousefear.extract_exemplars(cfg, n_per_video=3, method="kmeans")
    assert added.video_id.tolist() == ["investigate_hstacked"] * 3 + ["rear_minus_hstacked"] * 3
    assert (added.method == "kmeans").all()
    for rec in added.itertuples():
        frames = mousefear.exemplar_frames(cfg, rec.id)
        assert frames.shape == (4, 364, 448, 3)  # a 450x360 panel, resized to the 28-pixel grid
        info = exemplar_info(cfg, rec.id)
        src = shared_video(f"bsoid-clips/{rec.video_id}.mp4")
        panel = decoded_frame(src, info["frame_indices"][0])[:, 450:900]
        assert np.array_equal(frames[0], cv2.resize(panel, (448, 364), interpolation=cv2.INTER_LINEAR))
    cfg_b = bsoid_project(tmp_path / "b", names, shared_video)
    mousefear.extract_exemplars(cfg_b, n_per_video=3, method="kmeans")
    assert exemplar_files(cfg_b) == exemplar_files(cfg)


# ----------------------------------------------------------------------------------------------- labels
def test_label_resolution_person_and_label_file(project):
    added = mousefear.extract_exemplars(project, n_per_video=3, method="uniform")
    assert added.start_frame.tolist() == [0, 15, 30]
    behaviors = mousefear.core.project.Project.open(project).behaviors
    labels = [""] * 45
    labels[0:7] = ["exploring"] * 7
    labels[7:14] = ["freezing"] * 7  # 7 - 7 tie in window [0, 15): freezing is listed first
    labels[30:35] = ["grooming"] * 5  # window [30, 45): 5 labelled frames, all grooming
    write_label_file(Path(project).parent / "labels" / "m1_day1.csv", labels, behaviors)

    res = mousefear.labelled_exemplars(project)
    assert res.label.tolist() == ["freezing", "", "grooming"]
    assert res.label_source.tolist() == ["labels", "", "labels"]
    assert mousefear.labelled_exemplars(project, labelled_only=True).id.tolist() == [added.id[0], added.id[2]]

    # a person labels the second and overrides the third in index.csv by hand
    path = Path(project).parent / "exemplars" / "index.csv"
    rows = path.read_text().splitlines()
    rows[2] = rows[2].rsplit(",", 2)[0] + ",rearing,"
    rows[3] = rows[3].rsplit(",", 2)[0] + ",fleeing,person"
    path.write_text("\n".join(rows) + "\n")
    table = mousefear.label_exemplars(project)
    assert table.to_dict("list") == {
        "behavior": ["freezing", "exploring", "grooming", "rearing", "fleeing"],
        "person": [0, 0, 0, 1, 1], "labels": [1, 0, 0, 0, 0], "total": [1, 0, 0, 1, 1]}
    assert table.attrs["missing"] == ["exploring", "grooming"]
    written = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert written.label.tolist() == ["freezing", "rearing", "fleeing"]
    assert written.label_source.tolist() == ["labels", "person", "person"]

    # labels taken from label files follow the file; a person's stay
    labels[0:14] = ["exploring"] * 14
    write_label_file(Path(project).parent / "labels" / "m1_day1.csv", labels, behaviors)
    mousefear.label_exemplars(project)
    assert mousefear.read_exemplar_index(project).label.tolist() == ["exploring", "rearing", "fleeing"]


def test_label_typed_over_a_derived_one_is_not_replaced_silently(project, caplog):
    """A label typed into index.csv over one taken from the label files (label_source left as 'labels') cannot
    be told from label files imported again since: the label files win, with a warning per row naming the
    exemplar, both labels and how to keep the typed one; with label_source person it stays."""
    import logging

    added = mousefear.extract_exemplars(project, n_per_video=3, method="uniform")
    behaviors = mousefear.core.project.Project.open(project).behaviors
    write_label_file(Path(project).parent / "labels" / "m1_day1.csv", ["exploring"] * 45, behaviors)
    mousefear.label_exemplars(project)
    path = Path(project).parent / "exemplars" / "index.csv"
    rows = path.read_text().splitlines()
    assert rows[1].endswith(",exploring,labels")
    rows[1] = rows[1].rsplit(",", 2)[0] + ",grooming,labels"  # typed over, label_source left as it was
    path.write_text("\n".join(rows) + "\n")
    with caplog.at_level(logging.WARNING, logger="mousefear"):
        mousefear.label_exemplars(project)
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "label_source" in
              r.getMessage()]
    assert len(warned) == 1
    assert added.id[0] in warned[0] and "'grooming'" in warned[0] and "'exploring'" in warned[0]
    assert "set its label_source to person" in warned[0]
    assert mousefear.read_exemplar_index(project).label.tolist() == ["exploring"] * 3
    # marked as a person's label, it stays, without a warning
    rows[1] = rows[1].rsplit(",", 2)[0] + ",grooming,person"
    path.write_text("\n".join(rows) + "\n")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="mousefear"):
        mousefear.label_exemplars(project)
    assert not [r for r in caplog.records if "label_source" in r.getMessage()]
    index = mousefear.read_exemplar_index(project)
    assert index.label.tolist() == ["grooming", "exploring", "exploring"]
    assert index.label_source.tolist() == ["person", "labels", "labels"]


def test_index_validation_names_file_and_row(project):
    mousefear.extract_exemplars(project, n_per_video=2, method="uniform")
    path = Path(project).parent / "exemplars" / "index.csv"
    before = path.read_bytes()
    idx = mousefear.read_exemplar_index(project)
    bad = idx.copy()
    bad.loc[1, "label"] = "sleeping"
    with pytest.raises(LabelError, match=r"index\.csv, row 3: unknown behaviour 'sleeping'"):
        mousefear.write_exemplar_index(project, bad)
    with pytest.raises(ProjectError, match="Expected the columns id,video_id"):
        mousefear.write_exemplar_index(project, idx[list(INDEX_COLUMNS)[::-1]])
    dup = pd.concat([idx, idx.iloc[:1]], ignore_index=True)
    with pytest.raises(ProjectError, match=r"row 4: candidate .* is listed twice \(also row 2\)"):
        mousefear.write_exemplar_index(project, dup)
    wrong = idx.copy()
    wrong.loc[0, "end_frame"] = 99
    with pytest.raises(ProjectError, match=r"row 2: Expected id 'm1_day1_000000-000099'"):
        mousefear.write_exemplar_index(project, wrong)
    assert path.read_bytes() == before  # nothing written
    path.write_text(before.decode().replace("m1_day1,0,15,uniform,", "m1_day1,0,15,uniform,", 1)
                    .rstrip("\n").rsplit("\n", 1)[0] + "\nm1_day1_000030-000045,m1_day1,30,45,uniform,0.5,runing,\n")
    with pytest.raises(LabelError, match=r"index\.csv, row 3: unknown behaviour 'runing'"):
        mousefear.read_exemplar_index(project)
    with pytest.raises(ProjectError, match="Expected the frames of candidate 'nope'"):
        mousefear.exemplar_frames(project, "nope")


def test_index_round_trip(project):
    mousefear.extract_exemplars(project, n_per_video=3, method="motion")
    idx = mousefear.read_exemplar_index(project)
    assert idx.start_frame.dtype == np.int64 and idx.motion_score.dtype == np.float64
    path = Path(project).parent / "exemplars" / "index.csv"
    before = path.read_bytes()
    mousefear.write_exemplar_index(project, idx)
    assert path.read_bytes() == before


# -------------------------------------------------------------------------------------------------- CLI
def test_cli_extract_and_label(project, capsys):
    assert main(["extract-exemplars", str(project), "--n-per-video", "2", "--method", "uniform"]) == 0
    out = capsys.readouterr().out
    folder = Path(project).parent / "exemplars"
    assert out.startswith(f"added 2 candidate(s) (2 in all) to {folder / 'index.csv'}")
    assert main(["extract-exemplars", str(project), "--n-per-video", "2", "--method", "uniform",
                 "--videos", "m1_day1"]) == 0
    assert capsys.readouterr().out.startswith("added 0 candidate(s) (2 in all)")
    idx = mousefear.read_exemplar_index(project)
    idx.loc[0, "label"] = "grooming"
    mousefear.write_exemplar_index(project, idx)
    assert main(["label-exemplars", str(project)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["behavior", "person", "labels", "total"]
    assert lines[3].split() == ["grooming", "1", "0", "1"]
    assert lines[-1] == "no labelled exemplar: freezing, exploring, rearing, fleeing"
    assert main(["extract-exemplars", str(project), "--videos", "m9"]) == 2
    assert "no registered video 'm9'" in capsys.readouterr().err


def test_info_json_is_plain(project):
    added = mousefear.extract_exemplars(project, n_per_video=1, method="uniform")
    info = json.loads((Path(project).parent / "exemplars" / added.id[0] / "info.json").read_text())
    assert info["start_frame"] == 15 and info["end_frame"] == 30 and info["video_id"] == "m1_day1"
    assert info["crop"] == [0, 0, 64, 48]  # the crop box the frames were cut with (x, y, width, height)


# --------------------------------------------------------------------------------------------- config reads
def test_each_public_call_reads_config_once(project, monkeypatch):
    """extract_exemplars, label_exemplars and the other public functions open the project once per call (one
    read of config.yaml) and pass it on; given an opened Project they read config.yaml not at all."""
    import mousefear.core.config as core_config
    from mousefear.core.project import Project

    reads = []
    real = core_config.read_document

    def counting(config):
        reads.append(config)
        return real(config)

    monkeypatch.setattr(core_config, "read_document", counting)

    def count(fn, *args, **kwargs):
        reads.clear()
        fn(*args, **kwargs)
        return len(reads)

    labels = ["exploring"] * 45
    write_label_file(Path(project).parent / "labels" / "m1_day1.csv", labels,
                     ["freezing", "exploring", "grooming", "rearing", "fleeing"])
    assert count(mousefear.extract_exemplars, project, n_per_video=2, method="uniform") == 1
    assert count(mousefear.extract_exemplars, project, n_per_video=3, method="motion") == 1  # adds to the index
    assert count(mousefear.label_exemplars, project) == 1
    assert count(mousefear.labelled_exemplars, project) == 1
    assert count(mousefear.read_exemplar_index, project) == 1
    index = mousefear.read_exemplar_index(project)
    assert count(mousefear.write_exemplar_index, project, index) == 1
    assert count(mousefear.exemplar_frames, project, index.id[0]) == 1
    assert count(exemplar_info, project, index.id[0]) == 1
    opened = Project.open(project)
    assert count(mousefear.extract_exemplars, opened, n_per_video=2, method="kmeans") == 0
    assert count(mousefear.label_exemplars, opened) == 0
