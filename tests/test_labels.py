"""Label files: canonical files, importers (own tables, BORIS exports) and exporters, checked frame by frame."""

from __future__ import annotations

import logging
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import snapshot

import mousefear
from mousefear.cli import main
from mousefear.errors import LabelError, ProjectError
from mousefear.formats.labels import read_label_file, write_label_file
from mousefear.pipeline.labels import export_labels, import_labels

BEHAVIORS = ["freezing", "exploring", "grooming", "rearing", "fleeing"]


def test_write_exact_contents_and_read_back(tmp_path):
    path = tmp_path / "labels" / "m1.csv"
    write_label_file(path, ["freezing", "", None, "fleeing"], BEHAVIORS)
    assert path.read_text() == "frame,behavior\n0,freezing\n1,\n2,\n3,fleeing\n"
    got = read_label_file(path, BEHAVIORS, n_frames=4)
    assert got.tolist() == ["freezing", "", "", "fleeing"] and got.dtype == object


@pytest.mark.parametrize(
    "text, message",
    [
        ("frame,label\n0,freezing\n", "Expected the header 'frame,behavior', but got 'frame,label'"),
        ("frame,behavior\n0,freezing\n2,freezing\n", r"row 3: Expected frame 1, but got '2'"),
        ("frame,behavior\n0,freezing\n1,sleeping\n", r"row 3: unknown behaviour 'sleeping'"),
        ("frame,behavior\n0,freezing,x\n", r"row 2: Expected 2 columns"),
        ("frame,behavior\n0,freezing\n", "1 frames labelled, but the video has 3 frames"),
    ],
)
def test_read_errors_name_file_and_row(tmp_path, text, message):
    path = tmp_path / "m1.csv"
    path.write_text(text)
    with pytest.raises(LabelError, match=message) as err:
        read_label_file(path, BEHAVIORS, n_frames=3 if "video has" in message else None)
    assert str(path) in str(err.value)


def test_write_refuses_unknown_behaviour_and_writes_nothing(tmp_path):
    path = tmp_path / "m1.csv"
    with pytest.raises(LabelError, match="unknown behaviour 'sleeping' at frame 1"):
        write_label_file(path, np.array(["freezing", "sleeping"], dtype=object), BEHAVIORS)
    assert not path.exists() and list(tmp_path.iterdir()) == []


# ======================================================================================================
# import_labels / export_labels
# ======================================================================================================



@pytest.fixture
def two(tmp_path, make_video):
    """Project with m1_day1 (25 fps, 100 frames = 4 s) and m1_day2 (10 fps, 40 frames = 4 s)."""
    v1 = make_video("m1_day1.avi", n_frames=100, fps=25.0)
    v2 = make_video("m1_day2.avi", n_frames=40, fps=10.0)
    return mousefear.create_project("fc", "t", [v1, v2], working_directory=tmp_path / "p", date="2026-11-23")


def labels_of(cfg, vid, n):
    return read_label_file(cfg.parent / "labels" / f"{vid}.csv", BEHAVIORS, n_frames=n).tolist()


def expect(n, *runs):
    """Per-frame list from (behavior, first_frame, one_past_last) runs, computed by hand."""
    out = [""] * n
    for b, s, e in runs:
        out[s:e] = [b] * (e - s)
    return out


# BORIS 7 "Export events" (tabular), TSV with its header block; time offset 2.5 s (media time = time - 2.5)
BORIS_TABULAR = """Observation id\tobs 1
\t
Media file(s)
\t
Player #1\t/home/alice/videos/m1_day1.avi
\t
Observation date\t2026-11-23 10:00:00
\t
Description\tday 1
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


def test_boris_tabular_with_offset_frame_by_frame(two, tmp_path, caplog):
    f = tmp_path / "obs1.tsv"
    f.write_text(BORIS_TABULAR)
    with caplog.at_level(logging.INFO, logger="mousefear"):
        ids = import_labels(two, f, mapping={"Walk": "exploring"})
    assert ids == ["m1_day1"]
    # hand computation: media times 1.000-1.720 s and 1.720-3.510 s at 25 fps -> frames [25, 43) and [43, 88)
    assert labels_of(two, "m1_day1", 100) == expect(100, ("freezing", 25, 43), ("exploring", 43, 88))
    assert not (two.parent / "labels" / "m1_day2.csv").exists()
    assert "boris-tabular" in caplog.text and "ignored 1 point event" in caplog.text and "Sniff" in caplog.text


def test_boris_media_name_in_another_unicode_form_matches(tmp_path, make_video):
    """A macOS export writes 'mäus3_day1.avi' decomposed (NFD: 'a' + U+0308); the video was registered composed
    (NFC). Both name the same video."""
    import unicodedata

    nfc = unicodedata.normalize("NFC", "m\u00e4us3_day1")
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfc != nfd
    cfg = mousefear.create_project("fc", "t", [make_video(f"{nfc}.avi", n_frames=100, fps=25.0)],
                                   working_directory=tmp_path / "p", date="2026-11-23")
    f = tmp_path / "obs_mac.tsv"
    f.write_text(BORIS_TABULAR.replace("/home/alice/videos/m1_day1.avi", f"/Users/alice/videos/{nfd}.avi"),
                 encoding="utf-8")
    ids = import_labels(cfg, f, mapping={"Walk": "exploring"})
    assert [unicodedata.normalize("NFC", i) for i in ids] == [nfc]
    assert labels_of(cfg, ids[0], 100) == expect(100, ("freezing", 25, 43), ("exploring", 43, 88))
    # an NFD name of our own per-frame format (video column) matches too
    own = tmp_path / "own.csv"
    own.write_text(f"video,frame,behavior\n{nfd},0,rearing\n", encoding="utf-8")
    assert import_labels(cfg, own) == ids


# BORIS 8 "Export aggregated events", CSV; offset -1 s; two media files in player #1 (25 fps then 10 fps)
AGG_HEADER = ("Observation id,Observation date,Description,Observation type,Source,Time offset (s),Coding duration,"
              "Media duration (s),FPS (frame/s),Subject,Observation duration by subject by observation,Behavior,"
              "Behavioral category,Behavior type,Start (s),Stop (s),Duration (s),Media file name,Image index start,"
              "Image index stop,Image file path start,Image file path stop,Comment start,Comment stop")


def agg_row(behavior, kind, start, stop, fps="25.000;10.000", media="m1_day1.avi", subject="No focal subject"):
    src = "player #1:C:\\data\\m1_day1.avi;C:\\data\\m1_day2.avi"
    return (f'obs2,2026-11-23 10:00:00,,Media file,"{src}",-1.000,7.0,"4.000;4.000","{fps}",{subject},7.0,'
            f"{behavior},,{kind},{start},{stop},,{media},NA,NA,NA,NA,,")


def test_boris_aggregated_with_offset_and_two_media(two, tmp_path):
    f = tmp_path / "agg.csv"
    f.write_text("\n".join([AGG_HEADER,
                            agg_row("Freezing", "STATE", "0.000", "1.000"),
                            agg_row("Sniff", "POINT", "1.500", "NA"),
                            agg_row("rearing", "STATE", "2.520", "3.600"),
                            agg_row("Freezing", "STATE", "5.000", "6.000", media="m1_day2.avi")]) + "\n")
    ids = import_labels(two, f)
    assert ids == ["m1_day1", "m1_day2"]
    # media time = time + 1: freezing 1-2 s -> [25, 50); rearing 3.52-4.6 s: day1 [88, 100) then day2 0-0.6 s
    # -> [0, 6) at 10 fps; freezing 6-7 s -> day2 2-3 s -> [20, 30)
    assert labels_of(two, "m1_day1", 100) == expect(100, ("freezing", 25, 50), ("rearing", 88, 100))
    assert labels_of(two, "m1_day2", 40) == expect(40, ("rearing", 0, 6), ("freezing", 20, 30))


def test_boris_restricted_to_one_video_and_subjects(two, tmp_path):
    f = tmp_path / "agg.csv"
    f.write_text("\n".join([AGG_HEADER, agg_row("Freezing", "STATE", "0.000", "1.000", subject="m1"),
                            agg_row("Freezing", "STATE", "5.000", "6.000", subject="m2")]) + "\n")
    snap = snapshot(two.parent)
    with pytest.raises(LabelError, match=r"several subjects \(m1, m2\).*subject="):
        import_labels(two, f)
    assert snapshot(two.parent) == snap
    assert import_labels(two, f, subject="m2") == ["m1_day2"]
    assert labels_of(two, "m1_day2", 40) == expect(40, ("freezing", 20, 30))
    assert import_labels(two, f, subject="m1", video="m1_day1") == ["m1_day1"]


def test_per_second_real_openfield(tmp_path, shared_video):
    video = shared_video("openfield/m3v1mp4.mp4")
    labels = video.parent / "m3v1mp4_labels_per_second.csv"
    if not labels.is_file():
        pytest.skip(f"real data not available: {labels} is missing")
    cfg = mousefear.create_project("of", "t", [video], working_directory=tmp_path, video_pattern=None)
    assert import_labels(cfg, labels) == ["m3v1mp4"]  # video from the file name, format detected
    got = labels_of(cfg, "m3v1mp4", 2330)
    assert len(got) == 2330 and set(got) == {"exploring"}


def test_per_second_and_frames_synthetic(project, tmp_path):
    # 15 fps: second s covers [15 s, 15 s + 15); start_frame/end_frame (inclusive end) must agree
    f = tmp_path / "m1_day1_seconds.csv"
    f.write_text("second,start_frame,end_frame,label\n0,0,14,freezing\n2,30,44,Fleeing\n")
    import_labels(project, f)
    assert labels_of(project, "m1_day1", 45) == expect(45, ("freezing", 0, 15), ("fleeing", 30, 45))
    f.write_text("second,start_frame,end_frame,label\n0,0,13,freezing\n")
    with pytest.raises(LabelError, match=r"row 2: Expected start_frame,end_frame 0,14 .* but got 0,13"):
        import_labels(project, f)
    g = tmp_path / "frames.csv"
    g.write_text("video,frame,label\nm1_day1,3,grooming\nm1_day1,4,grooming\nm1_day1,10,\n")
    assert import_labels(project, g, fill="exploring") == ["m1_day1"]
    assert labels_of(project, "m1_day1", 45) == expect(45, ("exploring", 0, 45), ("grooming", 3, 5))


@pytest.mark.parametrize(
    "text, kwargs, runs",
    [
        ("behavior,start_s,stop_s\nfreezing,0.5,1.2\nrearing,2,3\n", {}, [("freezing", 8, 18), ("rearing", 30, 45)]),
        ("behavior,start_frame,end_frame\nfreezing,0,10\nfleeing,10,11\n", {},
         [("freezing", 0, 10), ("fleeing", 10, 11)]),
        ("label,start,stop\nFreeze,1,2\n", {"unit": "s", "mapping": {"freeze": "freezing"}}, [("freezing", 15, 30)]),
        ("label,start,stop\nfreezing,1,2\n", {"unit": "frames"}, [("freezing", 1, 2)]),
        ("behavior,start_s,end_s\nfreezing,2.0,3.05\nOut,0,1\n", {"mapping": {"Out": ""}}, [("freezing", 30, 45)]),
    ],
)
def test_bout_tables(project, tmp_path, text, kwargs, runs):
    f = tmp_path / "bouts.csv"
    f.write_text(text)
    assert import_labels(project, f, video="m1_day1", **kwargs) == ["m1_day1"]
    assert labels_of(project, "m1_day1", 45) == expect(45, *runs)


BAD = [
    ("behavior,start_s,stop_s\nsleeping,0,1\n", {}, r"row 2: unknown behaviour 'sleeping'"),
    ("behavior,start_s,stop_s\nfreezing,0,1.5\nrearing,1.4,2\n", {},
     r"row 2 and row 3: overlapping bouts .* freezing \[0, 23\) and rearing \[21, 30\)"),
    ("behavior,start_s,stop_s\nfreezing,2.5,3.2\n", {}, r"row 2: bout 2.5-3.2 s is past the end of video m1_day1"),
    ("behavior,start_s,stop_s\nfreezing,2.5,3.05\n", {}, None),  # within one frame of the end: fine
    ("behavior,start_frame,end_frame\nfreezing,40,46\n", {}, r"row 2: bout \[40, 46\) is past the end"),
    ("behavior,start,stop\nfreezing,0,1\n", {}, r"Expected unit='s' or unit='frames'"),
    ("frame,behavior\n45,freezing\n", {}, r"row 2: Expected a frame in \[0, 45\) .* got 45"),
    ("video,frame,behavior\nm9_day1,0,freezing\n", {"video": None},
     r"row 2: media file 'm9_day1' is not a registered video .*registered: m1_day1"),
    ("foo,bar\n1,2\n", {}, r"Expected a label table"),
    ("Time\tMedia file path\tTotal length\tFPS\tSubject\tBehavior\tComment\tStatus\n"
     "1.0\tm1_day1.avi\t3\t15\t\tfreezing\t\tSTART\n", {},
     r"row 2: unpaired START of 'freezing' at 1 s: no STOP follows"),
    ("Time\tMedia file path\tTotal length\tFPS\tSubject\tBehavior\tComment\tStatus\n"
     "1.0\tm1_day1.avi\t3\t15\t\tfreezing\t\tSTART\n2.0\tm1_day1.avi\t3\t15\t\tfreezing\t\tSTOP\n"
     "2.5\tm1_day1.avi\t3\t15\t\tfreezing\t\tSTOP\n", {}, r"row 4: unpaired STOP of 'freezing'"),
    ("Time\tMedia file path\tTotal length\tFPS\tSubject\tBehavior\tComment\tStatus\n"
     "1.0\tm1_day1.avi\t3\t30.00\t\tfreezing\t\tSTART\n2.0\tm1_day1.avi\t3\t30.00\t\tfreezing\t\tSTOP\n", {},
     r"rows 2 and 3: Expected the fps of video m1_day1 \(15\), but the export says 30"),
    ("Time\tMedia file path\tTotal length\tFPS\tSubject\tBehavior\tComment\tStatus\n"
     "1.0\tother.mp4\t3\t15\t\tfreezing\t\tSTART\n2.0\tother.mp4\t3\t15\t\tfreezing\t\tSTOP\n", {"video": None},
     r"rows 2 and 3: media file 'other.mp4' is not a registered video .*registered: m1_day1"),
    ("Time\tMedia file path\tTotal length\tFPS\tSubject\tBehavior\tComment\tStatus\n"
     "1.0\tm1_day1.avi\t3\t15\t\tfreezing\t\tSTART\n3.2\tm1_day1.avi\t3\t15\t\tfreezing\t\tSTOP\n", {},
     r"rows 2 and 3: event freezing at 1.000-3.200 s .* past the end of video m1_day1"),
]


@pytest.mark.parametrize("text, kwargs, message", BAD)
def test_errors_name_file_and_row_and_change_nothing(project, tmp_path, text, kwargs, message):
    import_labels(project, _write(tmp_path / "old.csv", "behavior,start_frame,end_frame\ngrooming,0,45\n"),
                  video="m1_day1")
    snap = snapshot(project.parent)
    f = _write(tmp_path / "bad.csv", text)
    kwargs = {"video": "m1_day1", **kwargs}
    if message is None:
        assert import_labels(project, f, **kwargs) == ["m1_day1"]
        return
    with pytest.raises(LabelError, match=message) as err:
        import_labels(project, f, **kwargs)
    assert str(f) in str(err.value)
    assert snapshot(project.parent) == snap


def _write(path, text):
    path.write_text(text)
    return path


def test_unregistered_video_overwrite_and_format_errors(project, tmp_path):
    f = _write(tmp_path / "b.csv", "behavior,start_frame,end_frame\nfreezing,0,10\n")
    with pytest.raises(ProjectError, match="no registered video 'nope'"):
        import_labels(project, f, video="nope")
    with pytest.raises(LabelError, match="Expected a boris-tabular file, but the columns .* bouts file"):
        import_labels(project, f, video="m1_day1", format="boris-tabular")
    import_labels(project, f, video="m1_day1")
    snap = snapshot(project.parent)
    with pytest.raises(LabelError, match=r"label files exist for m1_day1 .*overwrite=False; nothing written"):
        import_labels(project, _write(tmp_path / "c.csv", "behavior,start_frame,end_frame\nrearing,0,5\n"),
                      video="m1_day1", overwrite=False)
    assert snapshot(project.parent) == snap
    with pytest.raises(LabelError, match="Expected a project behaviour .* but got 'walking'"):
        import_labels(project, f, video="m1_day1", mapping={"freezing": "walking"})
    xlsx = tmp_path / "x.xlsx"
    xlsx.write_bytes(b"PK\x03\x04rest")
    with pytest.raises(LabelError, match="Expected a CSV or TSV text file, but got a spreadsheet"):
        import_labels(project, xlsx, video="m1_day1")


def test_multi_video_file_is_all_or_nothing(two, tmp_path):
    f = _write(tmp_path / "f.csv", "video,frame,behavior\nm1_day1,0,freezing\nm1_day2.avi,0,freezing\n"
               "m1_day2,1,dancing\n")
    snap = snapshot(two.parent)
    with pytest.raises(LabelError, match="row 4: unknown behaviour 'dancing'"):
        import_labels(two, f)
    assert snapshot(two.parent) == snap


# ------------------------------------------------------------------------------------------------ export
@pytest.mark.parametrize("fmt", ["boris", "bouts", "frames"])
def test_export_import_round_trip_human(two, tmp_path, fmt):
    truth = expect(100, ("freezing", 0, 7), ("exploring", 7, 33), ("rearing", 50, 51), ("fleeing", 99, 100))
    write_label_file(two.parent / "labels" / "m1_day1.csv", truth, BEHAVIORS)
    out = export_labels(two, "m1_day1", format=fmt)
    ext = "tsv" if fmt == "boris" else "csv"
    assert out == two.parent / "labels" / "exports" / f"m1_day1_human_{fmt}.{ext}"
    (two.parent / "labels" / "m1_day1.csv").unlink()
    assert import_labels(two, out) == ["m1_day1"]
    assert labels_of(two, "m1_day1", 100) == truth


def test_export_exact_contents(two):
    write_label_file(two.parent / "labels" / "m1_day1.csv", expect(100, ("freezing", 5, 30)), BEHAVIORS)
    bouts = export_labels(two, "m1_day1", format="bouts")
    assert bouts.read_text() == "behavior,start_frame,end_frame,start_s,end_s\nfreezing,5,30,0.200000,1.200000\n"
    boris = export_labels(two, "m1_day1")
    lines = [ln.split("\t") for ln in boris.read_text().splitlines()]
    head = lines[0]
    rows = [dict(zip(head, ln, strict=True)) for ln in lines[1:]]
    assert [(r["Behavior type"], r["Time"], r["Behavior"]) for r in rows] == [
        ("START", "0.200000", "freezing"), ("STOP", "1.200000", "freezing")]
    assert rows[0]["FPS"] == "25.000" and rows[0]["Media file name"] == "m1_day1.avi"
    assert rows[0]["Subject"] == "m1" and rows[0]["Time offset (s)"] == "0"
    # the spreadsheet for BORIS's "Import observations": columns time, subject, code, modifier, comment
    with zipfile.ZipFile(boris.with_suffix(".ods")) as z:
        assert z.namelist()[0] == "mimetype" and z.read("mimetype") == b"application/vnd.oasis.opendocument.spreadsheet"
        content = z.read("content.xml").decode()
    cells = re.findall(r"<text:p>([^<]*)</text:p>", content)
    assert cells == ["time", "subject", "code", "modifier", "comment", "0.2", "freezing", "1.2", "freezing"]


def test_export_run_predictions(two, tmp_path):
    from mousefear.formats.vectors import write_vector

    # four one-second windows (25 frames): freezing, freezing, exploring, no answer
    probs = np.full((4, 5), np.nan)
    probs[:2] = [0.7, 0.1, 0.1, 0.05, 0.05]
    probs[2] = [0.1, 0.6, 0.1, 0.1, 0.1]
    attrs = {"video_id": "m1_day1", "subject": "m1", "session": "day1", "video_sha256": "ab" * 32, "fps": 25.0,
             "run": "r1", "backend": "motion", "model_id": "", "model_revision": "", "prompt_hash": "",
             "icl_example_ids": [], "preprocessing": {}}
    write_vector(two.parent / "behavior-vectors" / "r1" / "m1_day1.h5", behaviors=BEHAVIORS,
                 start_frame=np.array([0, 25, 50, 75]), end_frame=np.array([25, 50, 75, 100]), probabilities=probs,
                 n_frames=100, attrs=attrs)
    out = export_labels(two, "m1_day1", run="r1", format="bouts")
    assert out == two.parent / "labels" / "exports" / "m1_day1_r1_bouts.csv"
    assert out.read_text().splitlines()[1:] == ["freezing,0,50,0.000000,2.000000", "exploring,50,75,2.000000,3.000000"]
    boris = export_labels(two, "m1_day1", run="r1", out=tmp_path / "pred.tsv")
    assert boris == tmp_path / "pred.tsv" and (tmp_path / "pred.ods").is_file()
    assert not (two.parent / "labels" / "m1_day1.csv").exists()  # exporting never writes labels
    assert import_labels(two, boris) == ["m1_day1"]
    assert labels_of(two, "m1_day1", 100) == expect(100, ("freezing", 0, 50), ("exploring", 50, 75))


def test_export_errors(two):
    with pytest.raises(LabelError, match="no such label file"):
        export_labels(two, "m1_day1")
    with pytest.raises(LabelError, match="Expected format one of boris, bouts, frames, but got 'xlsx'"):
        export_labels(two, "m1_day1", format="xlsx")
    with pytest.raises(ProjectError, match="no registered video 'zz'"):
        export_labels(two, "zz")
    # a run is named through the project's one run rule: names that climb out of the project are refused
    with pytest.raises(ProjectError, match=r"Expected a run name of letters.*but got '\.\./\.\./x'"):
        export_labels(two, "m1_day1", run="../../x")
    with pytest.raises(ProjectError, match=r"Expected a run among none .* but got 'r9'"):
        export_labels(two, "m1_day1", run="r9")


def test_import_and_export_take_an_opened_project(two, tmp_path):
    from mousefear.core.project import Project

    project = Project.open(two)
    f = _write(tmp_path / "b.csv", "behavior,start_frame,end_frame\nfreezing,0,10\n")
    assert import_labels(project, f, video="m1_day1") == ["m1_day1"]
    out = export_labels(project, "m1_day1", format="frames")
    assert out.read_text() == (two.parent / "labels" / "m1_day1.csv").read_text()


def test_cli_import_export(two, tmp_path, capsys):
    f = _write(tmp_path / "obs1.tsv", BORIS_TABULAR)
    assert main(["import-labels", str(two), str(f), "--map", "Walk=exploring", "--map", "Sniff="]) == 0
    assert "labels written for 1 video(s): m1_day1" in capsys.readouterr().out
    assert labels_of(two, "m1_day1", 100) == expect(100, ("freezing", 25, 43), ("exploring", 43, 88))
    assert main(["export-labels", str(two), "m1_day1", "--format", "bouts"]) == 0
    out = Path(capsys.readouterr().out.strip())
    assert out.read_text().splitlines()[1] == "freezing,25,43,1.000000,1.720000"
    assert main(["import-labels", str(two), str(f)]) == 2
    err = capsys.readouterr().err
    assert "mousefear import-labels: error:" in err and "unknown behaviour 'Walk'" in err and str(f) in err
    assert main(["import-labels", str(two), str(f), "--map", "Walk"]) == 2
    assert "Expected NAME=BEHAVIOR" in capsys.readouterr().err
