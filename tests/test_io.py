"""Atomic writes: all or nothing, and files readable like any other file the user makes."""

from __future__ import annotations

import os
import stat

import pytest

from mousefear._io import atomic_path, atomic_write_text


def test_atomic_write_gives_umask_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "a.txt", "hello")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").read_text() == "hello"
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o644


def test_failed_write_leaves_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "b.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["b.csv"]


def _dead_pid() -> int:
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_lock_of_a_dead_process_on_this_host_is_taken_over_not_one_of_another_host(tmp_path, caplog):
    import json
    import socket

    from mousefear._io import lock_file
    from mousefear.errors import ProjectError

    lock = tmp_path / "r.lock"
    dead = _dead_pid()
    lock.write_text(json.dumps({"pid": dead, "host": socket.gethostname(), "since": "2026-11-23T00:00:00+00:00"}))
    with lock_file(lock, "run 'r'"):
        assert json.loads(lock.read_text())["pid"] == os.getpid()
    assert f"taking over the lock of process {dead}, which no longer runs" in caplog.text
    lock.write_text(json.dumps({"pid": dead, "host": "another-host", "since": "2026-11-23T00:00:00+00:00"}))
    with pytest.raises(ProjectError, match=f"run 'r' is in use by process {dead} on host another-host since "
                                           r"2026-11-23T00:00:00\+00:00; wait until it has finished"):
        with lock_file(lock, "run 'r'"):
            pass
    assert lock.exists()  # someone else's lock is left alone


def test_write_errors_say_what_to_do(tmp_path):
    import errno

    from mousefear._io import os_error_message, write_error

    path = tmp_path / "a.csv"
    assert str(write_error(path, OSError(errno.EROFS, "Read-only file system"))) == (
        f"{path}: cannot write it (Read-only file system); the folder is on a read-only file system: copy the "
        "project to a writable place")
    assert str(write_error(path, OSError(errno.EACCES, "Permission denied"))) == (
        f"{path}: cannot write it (Permission denied); you may not write there: check the owner and permissions "
        "of the folder")
    assert os_error_message(FileNotFoundError(errno.ENOENT, "No such file or directory", str(path))) == (
        f"{path}: No such file or directory")
    assert os_error_message(OSError(errno.ENOSPC, "No space left on device", str(path))).startswith(
        f"{path}: cannot write it (No space left on device); free some space")
