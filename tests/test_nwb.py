"""NWB export: files read back with pynwb and checked value by value, and the NWB Inspector finds no error."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mousefear
from mousefear.backends.fake import FakeWindowBackend
from mousefear.core.intervals import labels_to_bouts
from mousefear.core.project import Project
from mousefear.errors import ProjectError
from mousefear.formats.vectors import read_vector, read_vector_windows

pynwb = pytest.importorskip("pynwb")
pytest.importorskip("ndx_ethogram")
nwbinspector = pytest.importorskip("nwbinspector")

BEHAVIORS = ["freezing", "exploring", "grooming", "rearing", "fleeing"]
START = "2026-01-15T09:30:00+01:00"


@pytest.fixture
def nwb_project(tmp_path, make_video):
    """Two videos (90 and 40 frames at 15 fps) classified by the fake backend, human labels for the first, and
    the nwb section of config.yaml filled in."""
    cfg = mousefear.create_project("fc", "tester", [make_video("m1_day1.avi", n_frames=90),
                                                    make_video("m2_day2.avi", n_frames=40)],
                                   working_directory=tmp_path / "projects", date="2026-11-23")
    project = Project.open(cfg)
    with project.edit() as doc:
        doc["classification"]["icl_per_class"] = 0
        doc["classification"]["max_unparseable"] = 0.5  # window 1 answers nothing, on purpose
        doc["nwb"].update({"experimenter": ["Tester, Tom"], "institution": "University of Somewhere",
                           "lab": "Fear lab", "experiment_description": "Cued fear conditioning, day 1 and 2.",
                           "strain": "C57BL/6J", "sex": "M", "age": "P90D",
                           "subjects": {"m2": {"sex": "F", "age": "P84D", "description": "littermate of m1"},
                                        "m1": {"description": "implanted mouse"}},
                           "session_start_times": {"m1_day1": START, "m2_day2": "2026-01-16T10:00:00Z"}})
    mousefear.classify_videos(project, run="fake", backend=FakeWindowBackend(BEHAVIORS, unparseable=(1,)),
                              progress=False)
    labels = tmp_path / "m1_labels.csv"
    pd.DataFrame({"frame": range(90), "behavior": ["freezing"] * 30 + ["exploring"] * 20 + [""] * 25
                  + ["rearing"] * 15}).to_csv(labels, index=False)
    mousefear.import_labels(project, labels, video="m1_day1")
    return Project.open(cfg)


def _read(path):
    import ndx_ethogram  # noqa: F401  (registers the extension's types for reading)

    io = pynwb.NWBHDF5IO(str(path), "r")
    return io, io.read()


def _inspect(path, config=None):
    kw = {"config": nwbinspector.load_config(config)} if config else {}
    return [m for m in nwbinspector.inspect_nwbfile(nwbfile_path=str(path), **kw)]


def test_export_nwb_writes_one_file_per_video_that_reads_back(nwb_project):
    project = nwb_project
    files = mousefear.export_nwb(project.config_path, progress=False)
    folder = project.paths.vectors("fake") / "nwb"
    assert files == [folder / "m1_day1.nwb", folder / "m2_day2.nwb"]
    vec = read_vector(project.paths.vector_file("fake", "m1_day1"))
    win = read_vector_windows(project.paths.vector_file("fake", "m1_day1"))
    io, f = _read(files[0])
    with io:
        assert f.session_start_time == dt.datetime.fromisoformat(START)
        assert f.session_id == "day1" and f.experimenter == ("Tester, Tom",)
        assert f.institution == "University of Somewhere" and f.lab == "Fear lab"
        s = f.subject
        assert (s.subject_id, s.species, s.sex, s.age, s.strain, s.description) == (
            "m1", "Mus musculus", "M", "P90D", "C57BL/6J", "implanted mouse")
        video = f.acquisition["behavior_video"]
        assert (Path(files[0]).parent / video.external_file[0]).resolve() == project.video("m1_day1").path.resolve()
        assert video.rate == 15.0 and list(video.starting_frame) == [0]
        behavior = f.processing["behavior"]
        eth = behavior["ethogram"].to_dataframe()
        assert eth["behavior"].tolist() == BEHAVIORS
        assert eth["definition"].tolist() == [b.definition for b in project.settings.behaviors]
        pred = behavior["predicted_bouts"]
        assert pred.labeling_method == "automated" and pred.source_software.startswith("mousefear ")
        params = json.loads(pred.parameters)
        assert params["run"] == "fake" and params["settings"]["backend"]["backend"] == "fake"
        bouts = labels_to_bouts(vec["label"].to_numpy(dtype=object), BEHAVIORS)
        table = pred.to_dataframe()
        assert table["label"].tolist() == bouts["behavior"].tolist()
        np.testing.assert_allclose(table["start_time"], bouts["start_frame"] / 15.0)
        np.testing.assert_allclose(table["stop_time"], bouts["end_frame"] / 15.0)
        probs = behavior["behavior_probabilities"].time_series
        assert sorted(probs) == sorted(BEHAVIORS)  # HDF5 lists them by name; the ethogram gives the order
        for b, ts in probs.items():
            assert json.loads(ts.comments) == {"behavior": b}
            assert ts.rate == 1.0 and ts.starting_time == 0.0  # one-second windows from 0
            np.testing.assert_array_equal(ts.data[:], win[b].to_numpy(dtype=np.float32))
            assert np.isnan(ts.data[1])  # window 1 had no answer
        windows = behavior["windows"].to_dataframe()
        assert windows["label"].tolist() == win["label"].tolist() and set(windows["decided_by"]) == {"fake"}
        np.testing.assert_allclose(windows["stop_time"], win["end_frame"] / 15.0)
        human = behavior["human_bouts"]
        assert human.labeling_method == "manual" and human.annotator == "tester"
        ht = human.to_dataframe()
        assert ht["label"].tolist() == ["freezing", "exploring", "rearing"]
        np.testing.assert_allclose(ht[["start_time", "stop_time"]].to_numpy(), [[0, 2], [2, 50 / 15], [5, 6]])
        observed = human.observation_intervals.to_dataframe()
        np.testing.assert_allclose(observed[["start_time", "stop_time"]].to_numpy(), [[0, 50 / 15], [5, 6]])
    io, f = _read(files[1])
    with io:
        assert (f.subject.subject_id, f.subject.sex, f.subject.age, f.subject.description) == (
            "m2", "F", "P84D", "littermate of m1")
        assert "human_bouts" not in f.processing["behavior"].data_interfaces  # no labels for m2
        assert f.session_start_time == dt.datetime(2026, 1, 16, 10, tzinfo=dt.UTC)


def test_nwb_inspector_finds_no_error(nwb_project):
    """No critical finding and no best-practice violation, with the default and the DANDI configuration."""
    for path in mousefear.export_nwb(nwb_project.config_path, progress=False):
        for config in (None, "dandi"):
            found = _inspect(path, config)
            serious = [(m.importance.name, m.check_function_name, m.message) for m in found
                       if m.importance.name in ("CRITICAL", "BEST_PRACTICE_VIOLATION", "ERROR", "PYNWB_VALIDATION")]
            assert serious == [], path
            # the suggestions left: a table with one row (a video scored in one stretch)
            assert {m.check_function_name for m in found} <= {"check_single_row"}


def test_same_inputs_same_identifier_and_files_replaced(nwb_project):
    first = mousefear.export_nwb(nwb_project.config_path, videos="m1_day1", progress=False)
    io, f = _read(first[0])
    with io:
        ident = f.identifier
    again = mousefear.export_nwb(nwb_project.config_path, videos=["m1_day1"], progress=False)
    io, f = _read(again[0])
    with io:
        assert f.identifier == ident
    assert sorted(p.name for p in first[0].parent.iterdir()) == ["m1_day1.nwb"]  # no temporary file left


def test_missing_age_and_start_time_are_warned(project, caplog):
    mousefear.classify_videos(project, run="fake", backend=FakeWindowBackend(BEHAVIORS), progress=False)
    with caplog.at_level(logging.WARNING, logger="mousefear"):
        path = mousefear.export_nwb(project, progress=False)[0]
    text = caplog.text
    assert ("no age for subject(s) m1 (nwb.age or nwb.subjects); DANDI refuses NWB files without the subject's "
            "age") in text
    assert "m1_day1: no nwb.session_start_times entry" in text and "modification time" in text
    io, f = _read(path)
    with io:
        assert "session_start_time is the modification time of the video file m1_day1.avi" in f.notes
    assert [m.check_function_name for m in _inspect(path) if m.importance.name == "CRITICAL"] == ["check_subject_age"]


def test_errors_name_the_problem(nwb_project, monkeypatch):
    with pytest.raises(ProjectError, match="no registered video 'nope'"):
        mousefear.export_nwb(nwb_project.config_path, videos="nope")
    monkeypatch.setitem(sys.modules, "pynwb", None)
    with pytest.raises(ProjectError, match=r"NWB export needs pynwb and ndx-ethogram .*pip install 'mousefear\[nwb\]'"):
        mousefear.export_nwb(nwb_project.config_path)


def test_cli_export_nwb(nwb_project, capsys):
    from mousefear.cli import main

    assert main(["export-nwb", str(nwb_project.config_path), "--video", "m2_day2"]) == 0
    out = capsys.readouterr().out
    assert "wrote 1 NWB file(s)" in out and "m2_day2.nwb" in out
