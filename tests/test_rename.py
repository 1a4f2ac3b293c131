"""rename_video: everything that carries a video id is renamed, all or nothing."""

from __future__ import annotations

import json
import os

import h5py
import pandas as pd
import pytest
from conftest import snapshot

import mousefear
from mousefear.backends.fake import FakeWindowBackend
from mousefear.core.project import Project
from mousefear.errors import ProjectError
from mousefear.formats.vectors import read_vector

BEHAVIORS = ["freezing", "exploring", "grooming", "rearing", "fleeing"]


@pytest.fixture
def full(project, make_video, tmp_path):
    """Two videos, labels, labelled exemplars, a fake model run with in-context examples and a motion run."""
    mousefear.add_videos(project, [make_video("m2_day1.avi")])
    labels = tmp_path / "l.csv"
    pd.DataFrame({"frame": range(45), "behavior": ["freezing"] * 15 + ["exploring"] * 30}).to_csv(labels, index=False)
    mousefear.import_labels(project, labels, video="m1_day1")
    mousefear.extract_exemplars(project, n_per_video=3)
    mousefear.label_exemplars(project)
    mousefear.classify_videos(project, run="fake", backend=FakeWindowBackend(BEHAVIORS), progress=False)
    p = Project.open(project)
    with p.edit() as doc:
        doc["classification"]["backend"] = "motion"
        doc["classification"]["motion"]["method"] = "pixels"  # the synthetic square is too small an animal
    motion = mousefear.classify_videos(p, progress=False)
    return p, motion


def _files(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() or p.is_symlink())


def test_rename_moves_everything_that_carries_the_id(full, caplog):
    project, motion = full
    root = project.root
    before = _files(root)
    label_bytes = (root / "labels" / "m1_day1.csv").read_bytes()
    with caplog.at_level("WARNING", logger="mousefear"):
        done = mousefear.rename_video(project.config_path, "m1_day1", "mouseA_day1")
    assert any("videos/m1_day1.avi -> " in d for d in done)
    p = Project.open(project.config_path)
    v = p.video("mouseA_day1")
    assert (v.key, v.subject, v.session) == ("videos/mouseA_day1.avi", "m1", "day1")  # subject/session kept
    assert [x.id for x in p.videos] == ["mouseA_day1", "m2_day1"]  # order kept
    assert v.path.is_file() and os.path.islink(v.path)
    after = _files(root)
    assert not [f for f in after if "m1_day1" in f and not f.endswith(("metrics.json", "metrics.csv", "report.html"))]
    assert len(after) == len(before)  # renamed, nothing lost or added
    assert (root / "labels" / "mouseA_day1.csv").read_bytes() == label_bytes
    index = mousefear.read_exemplar_index(p)
    ours = index[index["video_id"] == "mouseA_day1"]
    assert len(ours) == 3 and all(i.startswith("mouseA_day1_") for i in ours["id"])
    for ex in ours["id"]:
        info = json.loads((root / "exemplars" / ex / "info.json").read_text())
        assert info["id"] == ex and info["video_id"] == "mouseA_day1"
    for run in ("fake", motion):
        folder = root / "behavior-vectors" / run
        with h5py.File(folder / "mouseA_day1.h5", "r") as f:
            assert f.attrs["video_id"] == "mouseA_day1"
        assert read_vector(folder / "mouseA_day1.h5").attrs["video_id"] == "mouseA_day1"
        assert pd.read_csv(folder / "windows.csv")["video_id"].tolist() == ["mouseA_day1"] * 3 + ["m2_day1"] * 3
        assert pd.read_csv(folder / "summary.csv")["video_id"].tolist() == ["mouseA_day1", "m2_day1"]
        assert (folder / "mouseA_day1_seconds.csv").is_file() and (folder / "mouseA_day1.csv").is_file()
        assert (root / "cache" / run / "mouseA_day1").is_dir()
    # the motion run is finished for the renamed video: nothing is classified again
    h5_before = (root / "behavior-vectors" / motion / "mouseA_day1.h5").stat().st_mtime_ns
    mousefear.classify_videos(p, progress=False)
    assert (root / "behavior-vectors" / motion / "mouseA_day1.h5").stat().st_mtime_ns == h5_before
    assert "Run(s) fake took in-context examples from 'm1_day1'" in caplog.text
    # evaluation works under the new name
    ev = mousefear.evaluate(p, run=motion, plots=False)
    assert [x["video_id"] for x in ev.data["videos"]] == ["m2_day1", "mouseA_day1"]


def test_a_failed_rename_changes_nothing(full, monkeypatch):
    project, _ = full
    before = snapshot(project.root)

    def fail(*args, **kwargs):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr("mousefear.pipeline.rename._renamed_registry", fail)
    with pytest.raises(ProjectError, match=r"Renaming video 'm1_day1' to 'x1_day1' failed, nothing was changed: "
                                           r"disk full \(simulated\)"):
        mousefear.rename_video(project.config_path, "m1_day1", "x1_day1")
    assert snapshot(project.root) == before


@pytest.mark.parametrize("new, message", [
    ("m2_day1", "a video with id 'm2_day1' is registered already"),
    ("../up", r"Expected a new video id of letters"),
    ("m1_day1", "Expected a new id for video 'm1_day1', but got the same"),
    ("m2_day1_seconds", r"video ids 'm2_day1_seconds' and 'm2_day1' cannot both be in a project"),
])
def test_bad_new_names_are_refused(project, make_video, new, message):
    mousefear.add_videos(project, [make_video("m2_day1.avi")])
    before = snapshot(project.parent)
    with pytest.raises(ProjectError, match=message):
        mousefear.rename_video(project, "m1_day1", new)
    with pytest.raises(ProjectError, match="no registered video 'nope'"):
        mousefear.rename_video(project, "nope", "x")
    assert snapshot(project.parent) == before


def test_cli_rename_video(project, capsys):
    from mousefear.cli import main

    assert main(["rename-video", str(project), "m1_day1", "m9_day1"]) == 0
    assert "renamed video m1_day1 to m9_day1" in capsys.readouterr().out
    assert [v.id for v in Project.open(project).videos] == ["m9_day1"]
