"""BORIS exports read into neutral state events (no project), and the tables written for BORIS."""

from __future__ import annotations

import logging
import re
import zipfile

import pandas as pd
import pytest

from mousefear.errors import LabelError
from mousefear.formats.boris import (
    BORIS_TABULAR_COLUMNS,
    BorisEvent,
    BorisObservation,
    read_boris_events,
    write_boris_spreadsheet,
    write_boris_tabular,
)

# BORIS 7 "Export events" (tabular) with its header block; time offset 2.5 s
TABULAR = """Observation id\tobs 1
\t
Player #1\t/home/alice/videos/m1_day1.avi
\t
Time offset (s)\t2.500
\t
Time\tMedia file path\tTotal length\tFPS\tSubject\tBehavior\tBehavioral category\tComment\tStatus
3.500\t/home/alice/videos/m1_day1.avi\t6.500\t25.00\tNo focal subject\tFreezing\tfear\t\tSTART
4.220\t/home/alice/videos/m1_day1.avi\t6.500\t25.00\tNo focal subject\tFreezing\tfear\t\tSTOP
4.220\t/home/alice/videos/m1_day1.avi\t6.500\t25.00\tNo focal subject\tWalk\t\t\tSTART
5.000\t/home/alice/videos/m1_day1.avi\t6.500\t25.00\tNo focal subject\tSniff\t\t\tPOINT
6.010\t/home/alice/videos/m1_day1.avi\t6.500\t25.00\tNo focal subject\tWalk\t\tslow\tSTOP
"""

AGG_HEADER = ("Observation id,Observation date,Description,Observation type,Source,Time offset (s),Coding duration,"
              "Media duration (s),FPS (frame/s),Subject,Observation duration by subject by observation,Behavior,"
              "Behavioral category,Behavior type,Start (s),Stop (s),Duration (s),Media file name,Image index start,"
              "Image index stop,Image file path start,Image file path stop,Comment start,Comment stop")


def agg_row(behavior, kind, start, stop, media="m1_day1.avi", subject="No focal subject"):
    src = "player #1:C:\\data\\m1_day1.avi;C:\\data\\m1_day2.avi"
    return (f'obs2,2026-11-23 10:00:00,,Media file,"{src}",-1.000,7.0,"4.000;4.000","25.000;10.000",{subject},7.0,'
            f"{behavior},,{kind},{start},{stop},,{media},NA,NA,NA,NA,,")


def _write(path, text):
    path.write_text(text)
    return path


def test_tabular_events_with_header_block(tmp_path, caplog):
    f = _write(tmp_path / "obs1.tsv", TABULAR)
    with caplog.at_level(logging.INFO, logger="mousefear"):
        export = read_boris_events(f)
    obs = BorisObservation("obs 1", 2.5, ("/home/alice/videos/m1_day1.avi",), (), (25.0,))
    kw = {"media_file": "/home/alice/videos/m1_day1.avi", "row_fps": 25.0}
    assert export.format == "boris-tabular" and export.path == f
    assert export.events == (
        BorisEvent(obs, "No focal subject", "Freezing", 3.5, 4.22, (8, 9), **kw),
        BorisEvent(obs, "No focal subject", "Walk", 4.22, 6.01, (10, 12), **kw),
    )
    assert export.points == {"Sniff": 1} and export.subjects == ("No focal subject",)
    assert export.events[0].where == "rows 8 and 9" and export.events[0].media == obs.media
    assert export.events[0].fps(0) == 25.0 and export.events[0].fps(1) is None
    assert "time offset of 2.5 s" in caplog.text


def test_aggregated_events_with_playlist(tmp_path):
    f = _write(tmp_path / "agg.csv", "\n".join([AGG_HEADER, agg_row("Freezing", "STATE", "0.000", "1.000"),
                                                agg_row("Sniff", "POINT", "1.500", "NA"),
                                                agg_row("rearing", "STATE", "2.520", "3.600")]) + "\n")
    export = read_boris_events(f)
    obs = BorisObservation("obs2", -1.0, ("C:\\data\\m1_day1.avi", "C:\\data\\m1_day2.avi"), (4.0, 4.0), (25.0, 10.0))
    assert export.format == "boris-aggregated" and export.points == {"Sniff": 1}
    assert export.events == (
        BorisEvent(obs, "No focal subject", "Freezing", 0.0, 1.0, (2,), "m1_day1.avi", None),
        BorisEvent(obs, "No focal subject", "rearing", 2.52, 3.6, (4,), "m1_day1.avi", None),
    )
    assert export.events[1].where == "row 4" and [export.events[1].fps(k) for k in (0, 1)] == [25.0, 10.0]


def test_subjects(tmp_path):
    f = _write(tmp_path / "agg.csv", "\n".join([AGG_HEADER, agg_row("Freezing", "STATE", "0", "1", subject="m1"),
                                                agg_row("Freezing", "STATE", "5", "6", subject="m2")]) + "\n")
    with pytest.raises(LabelError, match=r"agg.csv: events of several subjects \(m1, m2\).*subject="):
        read_boris_events(f)
    export = read_boris_events(f, subject="m2")
    assert [(e.subject, e.t0, e.t1) for e in export.events] == [("m2", 5.0, 6.0)]
    g = _write(tmp_path / "nofocal.csv", AGG_HEADER + "\n" + agg_row("Freezing", "STATE", "0", "1", subject="") + "\n")
    assert len(read_boris_events(g, subject="No focal subject").events) == 1


HEAD = "Time\tMedia file path\tTotal length\tFPS\tSubject\tBehavior\tComment\tStatus\n"


@pytest.mark.parametrize(
    "rows, message",
    [
        ("1.0\tm.avi\t3\t15\t\tfreezing\t\tSTART\n", r"row 2: unpaired START of 'freezing' at 1 s: no STOP follows"),
        ("1.0\tm.avi\t3\t15\t\tfreezing\t\tSTOP\n", r"row 2: unpaired STOP of 'freezing': Expected a START"),
        ("1.0\tm.avi\t3\t15\t\tfreezing\t\tSTART\n1.5\tm.avi\t3\t15\t\tfreezing\t\tSTART\n",
         r"row 3: unpaired START of 'freezing': the START at row 2 has no STOP before this one"),
        ("2.0\tm.avi\t3\t15\t\tfreezing\t\tSTART\n1.0\tm.avi\t3\t15\t\tfreezing\t\tSTOP\n",
         r"row 3: Expected the STOP of 'freezing' after its START at row 2 \(2 s\), but got 1 s"),
        ("1.0\tm.avi\t3\t15\t\tfreezing\t\tPAUSE\n",
         r"row 2: Expected the status START, STOP or POINT, but got 'PAUSE'"),
        ("x\tm.avi\t3\t15\t\tfreezing\t\tSTART\n", r"row 2: Expected a number for the time, but got 'x'"),
    ],
)
def test_tabular_errors_name_file_and_row(tmp_path, rows, message):
    f = _write(tmp_path / "bad.tsv", HEAD + rows)
    with pytest.raises(LabelError, match=message) as err:
        read_boris_events(f)
    assert str(f) in str(err.value)


def test_not_a_boris_export(tmp_path):
    f = _write(tmp_path / "b.csv", "behavior,start_frame,end_frame\nfreezing,0,1\n")
    with pytest.raises(LabelError, match="Expected a BORIS tabular or aggregated events export"):
        read_boris_events(f)


def test_writers_and_read_back(tmp_path):
    bouts = pd.DataFrame({"behavior": ["freezing", "rearing"], "start_frame": [5, 40], "end_frame": [30, 41]})
    tsv = write_boris_tabular(tmp_path / "e.tsv", bouts, fps=25.0, media="m1_day1.avi", duration=4.0, subject="m1",
                              observation_id="m1_day1 (human)", description="mousefear human labels")
    lines = [ln.split("\t") for ln in tsv.read_text().splitlines()]
    assert tuple(lines[0]) == BORIS_TABULAR_COLUMNS and len(lines) == 5
    assert lines[1] == ["m1_day1 (human)", "", "mousefear human labels", "Media file", "player #1:m1_day1.avi", "0",
                        "4.000", "25.000", "m1", "freezing", "", "START", "0.200000", "m1_day1.avi", "5", "NA", ""]
    export = read_boris_events(tsv)
    assert [(e.behavior, e.t0, e.t1, e.where, e.media, e.fps(0)) for e in export.events] == [
        ("freezing", 0.2, 1.2, "rows 2 and 3", ("m1_day1.avi",), 25.0),
        ("rearing", 1.6, 1.64, "rows 4 and 5", ("m1_day1.avi",), 25.0)]
    ods = write_boris_spreadsheet(tmp_path / "e.ods", bouts, 25.0)
    with zipfile.ZipFile(ods) as z:
        assert z.namelist()[0] == "mimetype"
        cells = re.findall(r"<text:p>([^<]*)</text:p>", z.read("content.xml").decode())
    assert cells == ["time", "subject", "code", "modifier", "comment", "0.2", "freezing", "1.2", "freezing",
                     "1.6", "rearing", "1.64", "rearing"]
