"""The command line: help, the project commands, one-line errors with non-zero exit codes."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from mousefear.cli import COMMANDS, main


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_help(name, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([name, "--help"])
    assert exit_.value.code == 0
    assert "usage: mousefear " + name in capsys.readouterr().out


def test_create_add_info(tmp_path, make_video, capsys):
    v1 = make_video("m1_day1.avi")
    v2 = make_video("m2_day1.avi", n_frames=30, fps=10.0)
    assert main(["create-project", "fc", "bob", str(v1), "-d", str(tmp_path), "--date", "2026-11-23"]) == 0
    cfg = tmp_path / "fc-bob-2026-11-23" / "config.yaml"
    assert capsys.readouterr().out.splitlines() == [str(cfg), "registered 1 video(s)",
                                                    "  m1_day1: subject m1, session day1, 45 frames at 15 fps"]
    assert main(["add-videos", str(cfg), str(v2), "--subject", "m2", "--session", "d1"]) == 0
    assert capsys.readouterr().out.splitlines() == ["registered 1 video(s)",
                                                    "  m2_day1: subject m2, session d1, 30 frames at 10 fps"]
    assert main(["info", str(cfg)]) == 0
    out = capsys.readouterr().out.splitlines()
    header = out[2].split()
    assert header[:7] == ["id", "subject", "session", "duration_s", "fps", "frames", "resolution"]
    assert out[3].split()[:7] == ["m1_day1", "m1", "day1", "3.0", "15.0", "45", "64x48"]
    assert out[4].split()[:7] == ["m2_day1", "m2", "d1", "3.0", "10.0", "30", "64x48"]
    assert out[5] == "2 video(s), 6.0 s in all"


def test_bad_input_is_one_line_and_nonzero(tmp_path, capsys):
    missing = tmp_path / "nope.yaml"
    assert main(["info", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("mousefear info: error: ") and "no such config file" in err


def test_console_script_runs_as_module(tmp_path):
    out = subprocess.run([sys.executable, "-m", "mousefear.cli", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("mousefear ")


def test_damaged_video_error_is_the_only_line_on_stderr(tmp_path):
    junk = tmp_path / "m1_day1.mp4"
    junk.write_bytes(b"junk" * 500)
    out = subprocess.run([sys.executable, "-m", "mousefear.cli", "create-project", "p", "q", str(junk), "-d",
                          str(tmp_path)], capture_output=True, text=True)
    assert out.returncode == 2
    assert out.stderr.splitlines() == [f"mousefear create-project: error: {junk}: cannot be opened as a video "
                                       "(unreadable, damaged, or not a video file)"]


def test_create_project_with_subject_and_session_for_names_the_pattern_cannot_read(tmp_path, make_video, capsys):
    v = make_video("nounderscore.avi")
    assert main(["create-project", "fc", "bob", str(v), "-d", str(tmp_path), "--date", "2026-11-23"]) == 2
    assert ("give the subject and session (subject= and session=, or --subject and --session: they apply to every "
            "video of the call") in capsys.readouterr().err
    assert not (tmp_path / "fc-bob-2026-11-23").exists()
    assert main(["create-project", "fc", "bob", str(v), "-d", str(tmp_path), "--date", "2026-11-23", "--subject",
                 "m7", "--session", "day3"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "  nounderscore: subject m7, session day3, 45 frames at 15 fps"


def test_info_into_a_closed_pipe_ends_quietly(tmp_path, make_video):
    """``mousefear info CONFIG | head -1``: no BrokenPipeError traceback."""
    import fcntl

    videos = [str(make_video(f"m{i}_day1.avi", n_frames=5)) for i in range(80)]
    assert main(["create-project", "fc", "bob", *videos, "-d", str(tmp_path), "--date", "2026-11-23"]) == 0
    cfg = tmp_path / "fc-bob-2026-11-23" / "config.yaml"
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, 1031, 4096)  # F_SETPIPE_SZ: the ~7 KB listing cannot fit, so the writer waits for `head`
    proc = subprocess.Popen([sys.executable, "-m", "mousefear.cli", "info", str(cfg)], stdout=write_end,
                            stderr=subprocess.PIPE, bufsize=0)
    os.close(write_end)
    with os.fdopen(read_end, "rb", buffering=0) as out:
        first = out.read(10)  # read a little, then hang up like `head` does
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141 and first == b"project fc"
    assert "Traceback" not in err and "BrokenPipeError" not in err
