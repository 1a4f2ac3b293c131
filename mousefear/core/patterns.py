"""The one pattern syntax of config.yaml: ``video_pattern`` and the session keys of ``protocol``.

A pattern is matched against a whole name. ``*`` stands for any text (also none); ``{subject}`` and
``{session}`` stand for any non-empty text and capture it; every other character must match literally. So
``{subject}_{session}`` reads ``m1_day1`` as subject ``m1``, session ``day1`` (captures are as short as
possible from the left: ``m1_day1_cam2`` gives subject ``m1``, session ``day1_cam2``), and ``day2_*`` matches
the sessions ``day2_a`` and ``day2_``. Protocol keys take ``*`` only.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from functools import lru_cache
from typing import TypeVar

from mousefear.errors import ConfigError

__all__ = ["literal_length", "match_fields", "match_session", "other_split", "pattern_regex"]

#: Names that a pattern may capture.
FIELDS = ("subject", "session")

T = TypeVar("T")


@lru_cache(maxsize=64)
def pattern_regex(pattern: str) -> re.Pattern:
    """The compiled regular expression of a pattern (see the module docstring)."""
    out = []
    for part in re.split(r"(\{[A-Za-z_]+\}|\*)", pattern):
        if part == "*":
            out.append(r".*?")
        elif part.startswith("{") and part.endswith("}") and part[1:-1] in FIELDS:
            out.append(rf"(?P<{part[1:-1]}>.+?)")
        elif part.startswith("{") and part.endswith("}") and len(part) > 2:
            raise ConfigError(f"Expected the placeholders of pattern {pattern!r} among "
                              f"{', '.join('{' + f + '}' for f in FIELDS)}, but got {part}")
        else:
            out.append(re.escape(part))
    return re.compile("^" + "".join(out) + "$")


def match_fields(name: str, pattern: str) -> dict[str, str] | None:
    """The captured fields of ``name`` (``{"subject": ..., "session": ...}``, those the pattern has), or
    None when the name does not match."""
    m = pattern_regex(pattern).match(name)
    return None if m is None else {k: v for k, v in m.groupdict().items() if v is not None}


@lru_cache(maxsize=64)
def _greedy_regex(pattern: str) -> re.Pattern:
    """:func:`pattern_regex` with captures as long as possible."""
    return re.compile(pattern_regex(pattern).pattern.replace(".+?)", ".+)"))


def other_split(name: str, pattern: str) -> dict[str, str] | None:
    """Another way ``pattern`` can split ``name`` than :func:`match_fields` (captures as long as possible instead
    of as short as possible), or None when the split is unambiguous (or the name does not match)."""
    first = match_fields(name, pattern)
    if first is None:
        return None
    m = _greedy_regex(pattern).match(name)
    other = None if m is None else {k: v for k, v in m.groupdict().items() if v is not None}
    return other if other is not None and other != first else None


def literal_length(pattern: str) -> int:
    """How specific a ``*`` pattern is: the number of its literal (non-``*``) characters."""
    return len(pattern.replace("*", ""))


def match_session(keys: Sequence[tuple[str, T]], session: str, source: str | os.PathLike = "config.yaml"
                  ) -> tuple[str, T] | None:
    """The protocol entry of a session: the key equal to its name; failing that, the matching ``*`` pattern
    with the most literal characters; None when none matches.

    Raises
    ------
    ConfigError
        Two patterns equally specific both match (the message names ``source``, the config file).
    """
    for key, value in keys:
        if "*" not in key and key == session:
            return key, value
    matches = [(k, v) for k, v in keys if "*" in k and pattern_regex(k).match(session)]
    if not matches:
        return None
    best = max(literal_length(k) for k, _ in matches)
    top = [(k, v) for k, v in matches if literal_length(k) == best]
    if len(top) > 1:
        raise ConfigError(f"{source}: session {session!r} matches the protocol patterns {[k for k, _ in top]} "
                          "equally well; make one of them more specific or add an exact entry for the session")
    return top[0]
