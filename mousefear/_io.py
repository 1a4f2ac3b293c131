"""Small file-system helpers shared by every module that writes into a project.

Every file mousefear writes goes to a temporary name in the same folder and is renamed into place, so a
crash never leaves a half-written file under the final name. Temporary names never look like results: they
are hidden and end in ``.tmp`` (``.m1_day1.h5.3f2a1c-4711.k2j4.tmp``), and the leftovers of a killed process are
removed by the next write of the same file. A write that fails because the disk is full or the folder is
read-only raises :class:`~mousefear.errors.FileWriteError`: one line naming the file meant and the reason.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import glob
import hashlib
import json
import logging
import math
import os
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from mousefear.errors import FileWriteError, ProjectError

logger = logging.getLogger(__name__)

#: What to do about the usual reasons a write fails, by errno.
_HINTS = {
    errno.ENOSPC: "free some space on that disk and run the command again (nothing half-written was left)",
    errno.EDQUOT: "your disk quota is used up: free some space and run the command again",
    errno.EROFS: "the folder is on a read-only file system: copy the project to a writable place",
    errno.EACCES: "you may not write there: check the owner and permissions of the folder",
    errno.EPERM: "you may not write there: check the owner and permissions of the folder",
}
#: Temporary files of another host are removed by age only (their process cannot be asked): after this long.
_FOREIGN_TEMP_SECONDS = 24 * 3600


def write_error(path: str | os.PathLike, exc: OSError) -> FileWriteError:
    """A :class:`FileWriteError` for ``exc`` raised while writing ``path``: one line naming ``path``."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    hint = _HINTS.get(exc.errno or 0)
    return FileWriteError(f"{path}: cannot write it ({reason}){'; ' + hint if hint else ''}", exc.errno, str(path))


def os_error_message(exc: OSError) -> str:
    """One line for an :class:`OSError` met anywhere: the file, the system's reason and, for a write that
    failed for want of space or of a writable folder, what to do."""
    if isinstance(exc, FileWriteError):
        return str(exc)
    if exc.filename is not None and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
        return str(write_error(exc.filename, exc))
    where = f"{exc.filename}: " if exc.filename is not None else ""
    hint = "; check the owner and permissions of the file and its folder" if exc.errno in (errno.EACCES,
                                                                                           errno.EPERM) else ""
    return f"{where}{exc.strerror or exc}{hint}"


@contextlib.contextmanager
def writing(path: str | os.PathLike) -> Iterator[None]:
    """Turn an :class:`OSError` raised in the block into a :class:`FileWriteError` naming ``path``."""
    try:
        yield
    except FileWriteError:
        raise
    except OSError as exc:
        raise write_error(path, exc) from exc


def _host_tag() -> str:
    return hashlib.sha256(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:6]


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this host (True when that cannot be told)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, but belongs to someone else (or the platform cannot tell)
    return True


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Remove the temporary files that writes of ``path`` left behind (a killed process, a full disk).

    A temporary file of a process of this host that no longer runs is removed; one of another host (a shared
    project folder) when it is older than a day; one in the form of older versions of mousefear
    (``.<stem>.<random>.tmp<suffix>``) always. Returns the files removed.
    """
    path = Path(path)
    folder = path.parent
    if not folder.is_dir():
        return []
    mine = _host_tag()
    removed = []
    candidates = [(p, True) for p in folder.glob(f".{glob.escape(path.name)}.*.tmp")]
    candidates += [(p, False) for p in folder.glob(f".{glob.escape(path.stem)}.*.tmp{glob.escape(path.suffix)}")
                   if path.suffix]
    for p, tagged in candidates:
        if tagged:
            owner = p.name[len(path.name) + 2:].split(".", 1)[0]
            host, _, pid = owner.partition("-")
            if host == mine:
                if not pid.isdigit() or pid_alive(int(pid)):
                    continue
            else:
                with contextlib.suppress(OSError):
                    if time.time() - p.stat().st_mtime < _FOREIGN_TEMP_SECONDS:
                        continue
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
            removed.append(p)
            logger.info("%s: removed a temporary file left by an interrupted write", p)
    return removed


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` if the block succeeds.

    The temporary name is hidden and ends in ``.tmp`` (``.<name>.<host>-<pid>.<random>.tmp``), so nothing that
    looks for results ever takes it for one; writers that look at the extension must be told the format. The
    leftovers of earlier interrupted writes of ``path`` are removed first. On an exception the temporary file is
    removed and ``path`` is untouched; an :class:`OSError` of the write (disk full, read-only folder) becomes a
    :class:`~mousefear.errors.FileWriteError` naming ``path``.
    """
    path = Path(path)
    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{_host_tag()}-{os.getpid()}.", suffix=".tmp",
                                   dir=path.parent)
        os.close(fd)
    tmp_path = Path(tmp)
    try:
        try:
            yield tmp_path
            # mkstemp makes the file readable by its owner only; give it the permissions a plain open() would
            os.chmod(tmp_path, 0o666 & ~_umask())
            os.replace(tmp_path, path)
        except FileWriteError:
            raise
        except OSError as exc:
            if exc.filename is not None and Path(exc.filename) not in (tmp_path, path, path.parent):
                raise  # about another file: not a failure of this write
            raise write_error(path, exc) from exc
    except BaseException:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically (temporary file in the same folder, then rename)."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding=encoding, newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, then rename)."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())


# ------------------------------------------------------------------------------------------------------ locks
def json_object_or_empty(path: str | os.PathLike) -> dict[str, Any]:
    """The JSON object in a file; empty when there is none, or it cannot be read or is not an object."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def read_lock(path: str | os.PathLike) -> dict[str, Any]:
    """The record of a lock file (``{"pid", "host", "since", ...}``); empty when there is none or it cannot be
    read."""
    return json_object_or_empty(path)


def lock_holder(holder: dict[str, Any]) -> str:
    """Who holds a lock, in words: ``process 4711 on host node01 (SLURM job 1234_5) since 2026-...``."""
    if not holder:
        return "another process (the lock file is being written or cannot be read)"
    job = f" ({holder['task']})" if holder.get("task") else ""
    return f"process {holder.get('pid')} on host {holder.get('host')}{job} since {holder.get('since')}"


def _stale(holder: dict[str, Any], alive: Callable[[dict[str, Any]], bool | None] | None) -> bool:
    """Whether the process that holds a lock is gone: a process of this host that no longer runs, or one that
    ``alive`` says is gone (a SLURM task that ended). A holder that cannot be judged is not stale."""
    pid = holder.get("pid")
    if holder.get("host") == socket.gethostname() and isinstance(pid, int):
        return not pid_alive(pid)
    return bool(holder) and alive is not None and alive(holder) is False


@contextlib.contextmanager
def lock_file(path: str | os.PathLike, what: str, *, record: dict[str, Any] | None = None,
              alive: Callable[[dict[str, Any]], bool | None] | None = None,
              wait_seconds: float = 0.0) -> Iterator[Path]:
    """Hold ``path`` as a lock for the block: created exclusively, holding ``{"pid", "host", "since"}``.

    A lock whose process is gone is taken over (logged): a process of this host that no longer runs, or a
    holder of another host that ``alive`` says is gone. Any other lock stops the call at once, or, with
    ``wait_seconds``, once it has been held that long. The lock file is removed at the end of the block.

    Parameters
    ----------
    path
        The lock file.
    what
        What is locked, for the message (``"run 'motion_1a2b3c4d'"``).
    record
        More fields of the lock record (``{"task": "SLURM job 1234_5", "slurm_job_id": "1239"}``).
    alive
        For a holder on another host: True while it runs, False when it is gone, None when that cannot be told
        (the lock is then respected).
    wait_seconds
        How long to wait for a lock held by a live process before giving up (0: give up at once).

    Raises
    ------
    ProjectError
        Another process holds the lock; the message names it (pid, host, task, since when) and the lock file.
    FileWriteError
        The lock file cannot be written (read-only folder, full disk).
    """
    path = Path(path)
    mine = {"pid": os.getpid(), "host": socket.gethostname(),
            "since": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),  # noqa: UP017
            **(record or {})}
    data = (json.dumps(mine, sort_keys=True) + "\n").encode("utf-8")
    give_up = time.monotonic() + wait_seconds
    delay = 0.05
    while True:
        try:
            with writing(path):
                path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            break
        except FileWriteError as exc:
            if exc.errno == errno.ENOENT:  # its folder was removed (emptied by another process) just now
                continue
            if exc.errno != errno.EEXIST:
                raise
        holder = read_lock(path)
        if _stale(holder, alive) and read_lock(path) == holder:  # read again: another process may have taken it
            logger.warning("%s: taking over the lock of process %s, which no longer runs (host %s%s)", path,
                           holder.get("pid"), holder.get("host"), f", {holder['task']}" if holder.get("task") else "")
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            continue
        if time.monotonic() >= give_up:
            raise ProjectError(f"{path}: {what} is in use by {lock_holder(holder)}; wait until it has finished (if "
                               "that process no longer runs, remove the lock file)")
        time.sleep(delay)
        delay = min(1.0, delay * 2)
    try:
        with writing(path):
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    try:
        yield path
    finally:
        if read_lock(path).get("pid") == os.getpid() and read_lock(path).get("host") == mine["host"]:
            with contextlib.suppress(OSError):
                path.unlink()


def sha256_file(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks of ``chunk_size`` bytes (memory stays flat)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def json_safe(obj: Any) -> Any:
    """A copy of ``obj`` that ``json.dumps(..., allow_nan=False)`` accepts: dicts, lists and tuples recursed into,
    numpy scalars as Python numbers, paths as posix text, NaN and infinities as None."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    if isinstance(obj, Path):
        return obj.as_posix()
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "ndim", None) == 0:
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def read_json_object(path: str | os.PathLike, error: type[Exception], what: str, hint: str = "") -> dict[str, Any]:
    """The JSON object in a file, or ``error`` with one line naming the file and what is wrong.

    Parameters
    ----------
    path
        The file.
    error
        Exception class raised (``ProjectError``, ``ModelError``, ...).
    what
        What the file should be, for the message (``"a run file"``).
    hint
        What to do about it, appended to the message of an unreadable file (``"; remove it ..."``).
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise error(f"{path}: not a readable {what.removeprefix('a ')} ({exc}){hint}") from None
    if not isinstance(data, dict):
        raise error(f"{path}: Expected a JSON object ({what}), but got {type(data).__name__}")
    return data
