"""Per-window tables: <video_id>_seconds.csv and windows.csv, read back with pandas and checked value by value."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mousefear
from mousefear.backends.fake import FakeWindowBackend
from mousefear.core.project import Project
from mousefear.errors import VectorFileError
from mousefear.formats.vectors import read_vector_windows
from mousefear.formats.windows import FIXED_COLUMNS, read_window_table

BEHAVIORS = ["freezing", "exploring", "grooming", "rearing", "fleeing"]
COLUMNS = [*FIXED_COLUMNS, *(f"p_{b}" for b in BEHAVIORS)]


@pytest.fixture
def run2(project, make_video):
    """Two videos (45 and 40 frames at 15 fps) classified by the fake backend; window 1 has no answer."""
    mousefear.add_videos(project, [make_video("m2_day2.avi", n_frames=40)])
    with Project.open(project).edit() as doc:
        doc["classification"]["max_unparseable"] = 0.5  # one window in three answers nothing, on purpose
    name = mousefear.classify_videos(project, run="fake", backend=FakeWindowBackend(BEHAVIORS, unparseable=(1,)),
                                     progress=False)
    return Project.open(project), name


def test_seconds_tables_hold_every_window_with_times_and_probabilities(run2):
    project, run = run2
    folder = project.paths.vectors(run)
    for v in project.videos:
        raw = pd.read_csv(folder / f"{v.id}_seconds.csv", keep_default_na=False)
        assert list(raw.columns) == COLUMNS
        win = read_vector_windows(folder / f"{v.id}.h5")
        assert len(raw) == len(win)
        assert (raw["run"] == "fake").all() and (raw["video_id"] == v.id).all()
        assert (raw["subject"] == v.subject).all() and (raw["session"] == v.session).all()
        np.testing.assert_array_equal(raw["window"], np.arange(len(win)))
        np.testing.assert_array_equal(raw["start_frame"], win["start_frame"])
        np.testing.assert_array_equal(raw["end_frame"], win["end_frame"])
        np.testing.assert_allclose(raw["start_s"], win["start_frame"] / 15.0, atol=5e-7)
        np.testing.assert_allclose(raw["end_s"], win["end_frame"] / 15.0, atol=5e-7)
        assert (raw["decided_by"] == "fake").all()
        assert raw["label"].tolist() == win["label"].tolist()
        assert raw.loc[1, "label"] == "" and (raw.loc[1, [f"p_{b}" for b in BEHAVIORS]] == "").all()
        ok = raw.drop(index=1)
        for b in BEHAVIORS:
            np.testing.assert_allclose(ok[f"p_{b}"].astype(float), win[b].drop(index=1), atol=5e-7)
        assert ok["label"].tolist() == [BEHAVIORS[i] for i in np.argmax(win[BEHAVIORS].drop(index=1).to_numpy(), 1)]
    m2 = pd.read_csv(folder / "m2_day2_seconds.csv")
    # 40 frames at 15 fps: windows [0, 15), [15, 30), [30, 40), the last one partial
    assert m2[["start_frame", "end_frame"]].to_numpy().tolist() == [[0, 15], [15, 30], [30, 40]]
    assert m2["partial"].tolist() == [False, False, True]
    assert m2["end_s"].iloc[-1] == pytest.approx(40 / 15, abs=1e-6)


def test_windows_csv_is_every_video_in_registry_order(run2):
    project, run = run2
    folder = project.paths.vectors(run)
    table = pd.read_csv(folder / "windows.csv", keep_default_na=False)
    parts = [pd.read_csv(folder / f"{v.id}_seconds.csv", keep_default_na=False) for v in project.videos]
    pd.testing.assert_frame_equal(table, pd.concat(parts, ignore_index=True))
    assert table["video_id"].tolist() == ["m1_day1"] * 3 + ["m2_day2"] * 3
    # the reader gives typed columns
    typed = read_window_table(folder / "windows.csv", BEHAVIORS)
    assert typed["partial"].dtype == bool and typed["window"].dtype == np.int64
    assert np.isnan(typed.loc[1, "p_freezing"]) and typed.loc[1, "label"] == ""
    assert typed.attrs["behaviors"] == BEHAVIORS


def test_tables_are_never_taken_for_vector_files(run2):
    project, run = run2
    assert sorted(project.vector_files(run)) == ["m1_day1", "m2_day2"]
    assert project.runs() == ["fake"]
    summary = pd.read_csv(project.paths.vectors(run) / "summary.csv")
    assert summary["video_id"].tolist() == ["m1_day1", "m2_day2"]


def test_window_table_rewrites_the_tables_of_an_older_run(run2):
    project, run = run2
    folder = project.paths.vectors(run)
    before = {p.name: p.read_bytes() for p in folder.glob("*.csv") if p.name != "summary.csv"}
    for name in before:
        if name.endswith("_seconds.csv") or name == "windows.csv":
            (folder / name).unlink()
    table = mousefear.window_table(project.config_path)
    assert {p.name: p.read_bytes() for p in folder.glob("*.csv") if p.name != "summary.csv"} == before
    assert list(table.columns) == COLUMNS and len(table) == 6
    # without writing: the same table, nothing written
    (folder / "windows.csv").unlink()
    again = mousefear.window_table(project.config_path, write=False)
    assert not (folder / "windows.csv").exists()
    pd.testing.assert_frame_equal(again, table)


def test_read_window_table_names_the_file_and_the_problem(tmp_path):
    bad = tmp_path / "x_seconds.csv"
    bad.write_text("run,video_id\nr,x\n")
    with pytest.raises(VectorFileError, match=r"x_seconds.csv.*Expected the columns \['subject'"):
        read_window_table(bad)
    with pytest.raises(VectorFileError, match="does not exist"):
        read_window_table(tmp_path / "none.csv")


def test_cli_window_table(run2, capsys):
    from mousefear.cli import main

    project, run = run2
    (project.paths.vectors(run) / "windows.csv").unlink()
    assert main(["window-table", str(project.config_path)]) == 0
    out = capsys.readouterr().out
    assert "6 window(s) of 2 video(s)" in out and "windows.csv" in out
    assert (project.paths.vectors(run) / "windows.csv").is_file()
