"""create_project and add_videos: folders, registry, moving projects, all-or-nothing errors, real videos."""

from __future__ import annotations

import hashlib
import shutil

import pytest
from conftest import snapshot

import mousefear
from mousefear.core.project import Project
from mousefear.core.settings import load_config
from mousefear.errors import ProjectError, VideoError
from mousefear.pipeline.registry import parse_subject_session


def test_create_project_makes_folders_config_and_registers(tmp_path, make_video):
    video = make_video("m7_day2.avi", n_frames=31, fps=10.0, size=(80, 64))
    cfg_path = mousefear.create_project("fear", "alice", [video], working_directory=tmp_path, date="2026-11-23")
    root = tmp_path / "fear-alice-2026-11-23"
    assert cfg_path == root / "config.yaml"
    for sub in ("videos", "exemplars", "labels", "behavior-vectors", "evaluation", "cache"):
        assert (root / sub).is_dir()
    cfg = load_config(cfg_path)
    assert cfg["project"]["name"] == "fear" and cfg["project"]["experimenter"] == "alice"
    assert str(cfg["project"]["date"]) == "2026-11-23"
    entry = cfg["videos"]["videos/m7_day2.avi"]
    assert dict(entry) | {"crop": list(entry["crop"])} == {
        "id": "m7_day2", "subject": "m7", "session": "day2", "fps": 10.0, "n_frames": 31, "width": 80,
        "height": 64, "size_bytes": video.stat().st_size, "mtime_ns": video.stat().st_mtime_ns,
        "sha256": hashlib.sha256(video.read_bytes()).hexdigest(), "crop": [0, 0, 80, 64], "pixels_per_cm": None,
    }
    assert (root / "videos" / "m7_day2.avi").resolve() == video.resolve()
    assert "crop: [0, 0, 80, 64]" in cfg_path.read_text()


def test_existing_project_folder_is_an_error(tmp_path):
    mousefear.create_project("fear", "alice", [], working_directory=tmp_path, date="2026-11-23")
    with pytest.raises(ProjectError, match="exists already"):
        mousefear.create_project("fear", "alice", [], working_directory=tmp_path, date="2026-11-23")


def test_bad_names_and_date(tmp_path):
    with pytest.raises(ProjectError, match="Expected project to be a name"):
        mousefear.create_project("my project", "alice", [], working_directory=tmp_path)
    with pytest.raises(ProjectError, match="Expected date to be YYYY-MM-DD"):
        mousefear.create_project("p", "alice", [], working_directory=tmp_path, date="23/11/2026")
    assert list(tmp_path.iterdir()) == []


def test_failed_create_leaves_no_folder(tmp_path, make_video):
    bad = make_video("m1_day1.avi")
    bad.write_bytes(b"not a video at all" * 10)
    with pytest.raises(VideoError, match="m1_day1.avi"):
        mousefear.create_project("fear", "alice", [bad], working_directory=tmp_path / "w", date="2026-11-23")
    assert not (tmp_path / "w" / "fear-alice-2026-11-23").exists()


def test_add_videos_copy_subject_session_and_order(project, make_video):
    v2 = make_video("m1_day2.avi", n_frames=20)
    v3 = make_video("odd-name.avi", n_frames=10)
    ids = mousefear.add_videos(project, [v2], copy=True)
    assert ids == ["m1_day2"]
    copied = project.parent / "videos" / "m1_day2.avi"
    assert copied.is_file() and not copied.is_symlink() and copied.read_bytes() == v2.read_bytes()
    mousefear.add_videos(project, v3, subject="m9", session="extinction")
    vids = Project.open(project).videos
    assert [(v.id, v.subject, v.session, v.n_frames) for v in vids] == [
        ("m1_day1", "m1", "day1", 45), ("m1_day2", "m1", "day2", 20), ("odd-name", "m9", "extinction", 10)]


def test_project_moved_elsewhere_still_resolves(project, tmp_path, make_video):
    mousefear.add_videos(project, [make_video("m2_day1.avi")], copy=True)
    new_root = tmp_path / "elsewhere" / "moved"
    shutil.move(str(project.parent), new_root)
    cfg_path = new_root / "config.yaml"
    assert "/tmp" not in "".join(k for k in load_config(cfg_path)["videos"])  # keys are relative
    vids = Project.open(cfg_path).videos
    assert [v.path for v in vids] == [new_root / "videos" / "m1_day1.avi", new_root / "videos" / "m2_day1.avi"]
    assert all(v.path.is_file() for v in vids)  # the link and the copy both still resolve
    assert Project.open(cfg_path).paths.labels == new_root / "labels"
    mousefear.add_videos(cfg_path, [make_video("m3_day1.avi")])  # and the moved project keeps working
    assert len(Project.open(cfg_path).videos) == 3


def _bad_inputs(make_video, tmp_path):
    good = make_video("m5_day1.avi")
    truncated = make_video("m6_day1.avi", n_frames=90)
    data = truncated.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    junk = make_video("m7_day1.avi")
    junk.write_bytes(b"\x00\x01junk" * 500)
    text = tmp_path / "src" / "m8_day1.txt"
    text.write_text("hello")
    return {
        "missing": ([tmp_path / "src" / "m9_day1.avi"], VideoError, "m9_day1.avi: no such file"),
        "truncated": ([good, truncated], VideoError,
                      r"m6_day1.avi: truncated: \d+ frames decode but the file announces 90"),
        "unreadable": ([good, junk], VideoError, "m7_day1.avi: cannot be opened as a video"),
        "not a video": ([text], VideoError, "m8_day1.txt: not a video file"),
        "duplicate id": ([good, make_video("m1_day1.mp4")], ProjectError,
                         "a video with id 'm1_day1' is registered already"),
        "twice": ([good, good], ProjectError, "video id 'm5_day1' is given twice"),
        "pattern": ([good, make_video("nounderscore.avi")], VideoError, "does not match video_pattern"),
    }


@pytest.mark.parametrize("case", ["missing", "truncated", "unreadable", "not a video", "duplicate id", "twice",
                                  "pattern"])
def test_bad_input_gives_one_error_and_leaves_project_unchanged(project, make_video, tmp_path, case):
    videos, exc, message = _bad_inputs(make_video, tmp_path)[case]
    before = snapshot(project.parent)
    with pytest.raises(exc, match=message):
        mousefear.add_videos(project, videos)
    assert snapshot(project.parent) == before


def test_pattern_parsing():
    assert parse_subject_session("m1_day1", "{subject}_{session}") == ("m1", "day1")
    assert parse_subject_session("m1_day1_cam2", "{subject}_{session}") == ("m1", "day1_cam2")
    assert parse_subject_session("exp3-m12-extinction", "exp*-{subject}-{session}") == ("m12", "extinction")
    assert parse_subject_session("m1", "{subject}_{session}") is None
    assert parse_subject_session("anything", None) == ("anything", "")


@pytest.mark.parametrize(
    "relative, n_frames, fps, size",
    [
        ("tracktor/mouse_video.mp4", 10000, 30.0, (640, 480)),
        ("openfield/m3v1mp4.mp4", 2330, 30.0, (640, 480)),
        ("empty-chamber/Freezing_calibration.wmv", 298, 30.0, (320, 240)),
    ],
)
def test_real_videos_register_with_decoded_frame_counts(tmp_path, relative, n_frames, fps, size, shared_video):
    video = shared_video(relative)
    cfg_path = mousefear.create_project("real", "lab", [], working_directory=tmp_path, video_pattern=None)
    mousefear.add_videos(cfg_path, [video])
    (v,) = Project.open(cfg_path).videos
    assert v.n_frames == n_frames
    assert v.fps == pytest.approx(fps, abs=1e-3)
    assert (v.width, v.height) == size and v.crop == (0, 0, *size)
    assert v.subject == video.stem and v.session == ""


def test_adding_videos_keeps_the_next_section_header_in_place(tmp_path, make_video):
    cfg_path = mousefear.create_project("fear", "alice", [], working_directory=tmp_path, date="2026-11-23")
    for name in ("m1_day1.avi", "m2_day1.avi", "m3_day1.avi"):
        mousefear.add_videos(cfg_path, [make_video(name)])
    lines = cfg_path.read_text().splitlines()
    start, end = lines.index("videos:"), lines.index("exemplars:")
    block = lines[start:end]
    # the three entries follow each other, and the Exemplars header sits right above `exemplars:`
    assert [ln for ln in block if ln.startswith("  videos/")] == [
        "  videos/m1_day1.avi:", "  videos/m2_day1.avi:", "  videos/m3_day1.avi:"]
    first_comment = next(i for i, ln in enumerate(block) if ln.startswith("#"))
    assert all(not ln.startswith("  ") for ln in block[first_comment:])
    assert block[first_comment].startswith("# Exemplars ---")
    assert block[first_comment - 1] == ""


def test_ambiguous_split_is_warned_and_every_registration_logged(project, make_video, caplog):
    v = make_video("body_groom_hstacked.avi")
    with caplog.at_level("INFO", logger="mousefear"):
        mousefear.add_videos(project, [v])
    warn = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warn) == 1 and ("splits 'body_groom_hstacked' more than one way (subject 'body', session "
                               "'groom_hstacked'; or subject 'body_groom', session 'hstacked'); taking the first"
                               ) in warn[0]
    assert "Registered video body_groom_hstacked (subject 'body', session 'groom_hstacked')" in caplog.text
    assert Project.open(project).video("body_groom_hstacked").subject == "body"


def test_unambiguous_names_give_no_warning(project, make_video, caplog):
    with caplog.at_level("WARNING", logger="mousefear"):
        mousefear.add_videos(project, [make_video("m2_day1.avi")])
    assert caplog.records == []


def test_create_project_subject_and_session_apply_to_every_video(tmp_path, make_video):
    videos = [make_video("a.avi"), make_video("b.avi")]
    cfg = mousefear.create_project("fc", "x", videos, working_directory=tmp_path, subject="m9", session="day2")
    assert [(v.id, v.subject, v.session) for v in Project.open(cfg).videos] == [("a", "m9", "day2"),
                                                                              ("b", "m9", "day2")]


def test_a_video_id_that_clashes_with_a_window_table_is_refused(project, make_video):
    before = snapshot(project.parent)
    with pytest.raises(ProjectError, match=r"video ids 'm1_day1_seconds' and 'm1_day1' cannot both be in a "
                                           r"project: the CSV twin of 'm1_day1_seconds' would have the name of the "
                                           r"per-window table of 'm1_day1'"):
        mousefear.add_videos(project, [make_video("m1_day1_seconds.avi")])
    assert snapshot(project.parent) == before


def test_a_missing_file_is_named_before_its_name_is_checked_against_the_pattern(tmp_path, make_video):
    cfg = mousefear.create_project("p", "t", [make_video("m1_day1.avi")], working_directory=tmp_path)
    missing = tmp_path / "cropped.mp4"  # does not match {subject}_{session} either
    with pytest.raises(VideoError) as err:
        mousefear.add_videos(cfg, [missing])
    assert str(missing) in str(err.value) and "video_pattern" not in str(err.value)
