"""Label tables read into neutral events, with no project: delimiter, header block, formats, cell checks."""

from __future__ import annotations

import pandas as pd
import pytest

from mousefear.errors import LabelError
from mousefear.formats.label_tables import (
    LabelEvent,
    detect_format,
    format_table,
    names_videos,
    read_label_events,
    read_table,
    write_bout_table,
)


def _table(tmp_path, text, name="t.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_text(text, encoding=encoding)
    return read_table(path)


def test_read_table_csv_tsv_bom_and_empty_rows(tmp_path):
    t = _table(tmp_path, "\ufeffvideo,frame,behavior\n\nm1,0,freezing\n , ,\nm1,1,\n")
    assert t.header == ("video", "frame", "behavior") and not t.boris
    assert t.rows == ((3, ("m1", "0", "freezing")), (5, ("m1", "1", "")))  # line numbers of the file
    t = _table(tmp_path, "behavior\tstart_s\tstop_s\nfreezing\t0,5\t1\n", name="t.tsv")
    assert t.header == ("behavior", "start_s", "stop_s") and t.rows == ((2, ("freezing", "0,5", "1")),)
    t = _table(tmp_path, "frame,behavior\n0,frei\u00dfen\n", encoding="latin-1")
    assert t.rows[0][1] == ("0", "frei\u00dfen")


def test_read_table_boris_header_block(tmp_path):
    text = ("Observation id\tobs 1\n\t\nMedia file(s)\n\t\nPlayer #1\t/data/m1_day1.avi\n\t\n"
            "Time offset (s)\t2.500\n\t\nTime\tMedia file path\tFPS\tSubject\tBehavior\tStatus\n"
            "3.5\t/data/m1_day1.avi\t25\t\tFreezing\tSTART\n")
    t = _table(tmp_path, text, name="b.tsv")
    assert t.boris and t.header == ("Time", "Media file path", "FPS", "Subject", "Behavior", "Status")
    assert t.meta == {"observation id": "obs 1", "media file(s)": "", "time offset (s)": "2.500"}
    assert t.players == ("/data/m1_day1.avi",)
    assert t.rows == ((10, ("3.5", "/data/m1_day1.avi", "25", "", "Freezing", "START")),)
    assert t.col("behavior") == 4 and t.col("nope") is None and t.cell(t.rows[0][1], 9) == ""
    assert detect_format(t) == "boris-tabular"


@pytest.mark.parametrize(
    "header, fmt",
    [
        ("frame,behavior", "frames"),
        ("video_id,frame_index,label", "frames"),
        ("second,start_frame,end_frame,label", "seconds"),
        ("behavior,start_frame,end_frame", "bouts"),
        ("Behaviour,Start_s,Stop_s", "bouts"),
        ("class,start,stop", "bouts"),
        ("Behavior,Start (s),Stop (s),Behavior type", "boris-aggregated"),
    ],
)
def test_detect_format(tmp_path, header, fmt):
    assert detect_format(_table(tmp_path, header + "\n")) == fmt


def test_detect_format_and_read_errors(tmp_path):
    with pytest.raises(LabelError, match="Expected a label table .* but got the columns 'foo,bar'"):
        detect_format(_table(tmp_path, "foo,bar\n1,2\n"))
    with pytest.raises(LabelError, match=r"Expected a frame column .* but got 'behavior,when'"):
        detect_format(_table(tmp_path, "behavior,when\nfreezing,1\n"))
    with pytest.raises(LabelError, match="but the file is empty"):
        _table(tmp_path, "\n\n")
    (tmp_path / "x.xlsx").write_bytes(b"PK\x03\x04rest")
    with pytest.raises(LabelError, match="Expected a CSV or TSV text file, but got a spreadsheet"):
        read_table(tmp_path / "x.xlsx")
    with pytest.raises(LabelError, match="no such label file"):
        read_table(tmp_path / "missing.csv")


def test_frame_events(tmp_path):
    t = _table(tmp_path, "video,frame,behavior\nm1.avi,0,freezing\nm1.avi,1,\nm2,7.0,Rearing\n")
    assert names_videos(t)
    assert list(read_label_events(t, "frames")) == [
        LabelEvent("m1.avi", "freezing", 0, 1, "frame", "row 2"),
        LabelEvent("m1.avi", "", 1, 2, "frame", "row 3"),
        LabelEvent("m2", "Rearing", 7, 8, "frame", "row 4"),
    ]
    t = _table(tmp_path, "frame,behavior\n0,freezing\n-1,freezing\n")
    assert not names_videos(t)
    events = read_label_events(t, "frames")
    assert next(events) == LabelEvent(None, "freezing", 0, 1, "frame", "row 2")
    with pytest.raises(LabelError, match=r"t.csv, row 3: Expected a frame >= 0, but got -1"):
        next(events)


def test_second_events_keep_the_stated_frames(tmp_path):
    t = _table(tmp_path, "second,start_frame,end_frame,label\n0,0,14,freezing\n2,,,Fleeing\n")
    assert list(read_label_events(t, "seconds")) == [
        LabelEvent(None, "freezing", 0, 1, "second", "row 2", (0, 14)),
        LabelEvent(None, "Fleeing", 2, 3, "second", "row 3", None),
    ]
    t = _table(tmp_path, "second,label\n1.5,freezing\n")
    with pytest.raises(LabelError, match=r"row 2: Expected a whole number for the second, but got '1.5'"):
        list(read_label_events(t, "seconds"))


def test_bout_events_in_frames_seconds_and_plain_columns(tmp_path):
    t = _table(tmp_path, "behavior,start_frame,end_frame\nfreezing,0,10\n,3,4\nfleeing,10,11\n")
    assert list(read_label_events(t, "bouts")) == [  # a row without a behaviour labels nothing
        LabelEvent(None, "freezing", 0, 10, "frame", "row 2"),
        LabelEvent(None, "", 0, 0, "frame", "row 3"),
        LabelEvent(None, "fleeing", 10, 11, "frame", "row 4"),
    ]
    t = _table(tmp_path, "video\tbehavior\tstart_s\tstop_s\nm1\tfreezing\t0,5\t1.25\n", name="t.tsv")
    assert list(read_label_events(t, "bouts")) == [LabelEvent("m1", "freezing", 0.5, 1.25, "s", "row 2")]
    t = _table(tmp_path, "label,start,stop\nFreeze,1,2\n")
    assert list(read_label_events(t, "bouts", unit="s")) == [LabelEvent(None, "Freeze", 1.0, 2.0, "s", "row 2")]
    assert list(read_label_events(t, "bouts", unit="frames")) == [LabelEvent(None, "Freeze", 1, 2, "frame", "row 2")]
    with pytest.raises(LabelError, match=r"t.csv: the columns 'start','stop' carry no unit"):
        read_label_events(t, "bouts")  # checked at once, before any row is read


@pytest.mark.parametrize(
    "text, message",
    [
        ("behavior,start_frame,end_frame\nfreezing,5,5\n", r"row 2: Expected 0 <= start < end \(end exclusive\), "
                                                          r"but got \[5, 5\)"),
        ("behavior,start_s,stop_s\nfreezing,2,1\n", r"row 2: Expected 0 <= start < stop \(seconds\), but got 2, 1"),
        ("behavior,start_s,stop_s\nfreezing,x,1\n", r"row 2: Expected a number for the start time, but got 'x'"),
        ("behavior,start_s,stop_s\nfreezing,0,inf\n", r"row 2: Expected a finite number for the stop time"),
        ("behavior,start_frame,end_frame\nfreezing,0,2.5\n", r"row 2: Expected a whole number for the end frame"),
    ],
)
def test_bout_event_errors_name_file_and_row(tmp_path, text, message):
    t = _table(tmp_path, text)
    with pytest.raises(LabelError, match=message) as err:
        list(read_label_events(t, "bouts"))
    assert str(t.path) in str(err.value)


def test_write_bout_table_exact(tmp_path):
    bouts = pd.DataFrame({"behavior": ["freezing", "rearing"], "start_frame": [5, 30], "end_frame": [30, 31]})
    path = write_bout_table(tmp_path / "out" / "b.csv", bouts, 25.0)
    assert path.read_text() == ("behavior,start_frame,end_frame,start_s,end_s\n"
                                "freezing,5,30,0.200000,1.200000\nrearing,30,31,1.200000,1.240000\n")
    assert format_table(("a", "b"), [(1, "x y")], "\t") == "a\tb\n1\tx y\n"
