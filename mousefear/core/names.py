"""The one check of names that become part of a path in a project.

Every name taken from a user or a file that becomes a folder or file name (run names, project names, video ids,
exemplar ids) is checked here, by :class:`~mousefear.core.project.ProjectPaths` when it builds a path and by the
settings when config.yaml is read, so none can climb out of the project (``..``, ``/``) or hide (a leading
``.``). :mod:`mousefear.core.project` re-exports :func:`check_name`.
"""

from __future__ import annotations

import re

from mousefear.errors import ProjectError

__all__ = ["NAME_RE", "check_file_name", "check_name", "file_name_problem", "name_problem"]

#: Names the project makes folders of (runs, projects): letters, digits, ``.``, ``_``, ``-``.
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_NAME_RULE = "letters, digits, '.', '_' or '-' (not starting with '.', '_' or '-')"
#: Characters never allowed in a file name taken from a video's file name (path separators, control characters).
_BAD_CHARS = re.compile(r"[/\\\x00-\x1f\x7f]")


def name_problem(value: object) -> str | None:
    """What is expected of a run or project name, or None when ``value`` is one."""
    return None if isinstance(value, str) and NAME_RE.match(value) else _NAME_RULE


def file_name_problem(value: object) -> str | None:
    """What is expected of a video or exemplar id (a file stem), or None when ``value`` is one.

    Looser than :func:`name_problem` (video files are often named with spaces): any text without path
    separators or control characters that does not start with ``.``.
    """
    ok = (isinstance(value, str) and bool(value) and value.strip() == value and not value.startswith(".")
          and not _BAD_CHARS.search(value))
    return None if ok else "a file name without '/', '\\' or control characters, not starting with '.'"


def check_name(value: object, what: str, exc: type[Exception] = ProjectError) -> str:
    """Return ``value`` if it is usable as a folder or file name in a project (a run name), else raise ``exc``.

    Every name taken from a user that becomes part of a path (run names, project names) goes through here, so
    none can climb out of the project (``..``, ``/``) or hide (a leading ``.``).
    """
    problem = name_problem(value)
    if problem is not None:
        raise exc(f"Expected {what} of {problem}, but got {value!r}")
    return value  # type: ignore[return-value]


def check_file_name(value: object, what: str, exc: type[Exception] = ProjectError) -> str:
    """Return ``value`` if it is usable as a video or exemplar id (see :func:`file_name_problem`), else raise."""
    problem = file_name_problem(value)
    if problem is not None:
        raise exc(f"Expected {what} to be {problem}, but got {value!r}")
    return value  # type: ignore[return-value]
