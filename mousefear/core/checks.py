"""Checks of setting values: each returns None for a good value, else what was expected (``"a positive number"``).

:mod:`mousefear.core.settings` puts one on every field (``_field(check)``) and turns a refusal into the error
``<file>: Expected <key> to be <what>, but got <value>``.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import field
from typing import Any

from mousefear.core.names import name_problem

Check = Callable[[Any], str | None]  # returns what was expected when the value is wrong, None when it is right


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def positive_number(v: Any) -> str | None:
    return None if _is_number(v) and v > 0 else "a positive number"


def nonnegative_number(v: Any) -> str | None:
    return None if _is_number(v) and v >= 0 else "a number >= 0"


def number_between(low: float, high: float, low_open: bool = False, high_open: bool = False) -> Check:
    def check(v: Any) -> str | None:
        ok = _is_number(v) and (v > low if low_open else v >= low) and (v < high if high_open else v <= high)
        return None if ok else (f"a number {'>' if low_open else '>='} {low:g} and {'<' if high_open else '<='} "
                                f"{high:g}")

    return check


def seconds_per_name(v: Any) -> str | None:
    """A mapping of names to numbers of seconds >= 0 (``{freezing: 2.0}``)."""
    ok = isinstance(v, Mapping) and all(isinstance(k, str) and k.strip() and _is_number(x) and x >= 0
                                     for k, x in v.items())
    return None if ok else "a mapping of behaviour names to seconds >= 0, such as {freezing: 2.0}"


def int_at_least(low: int) -> Check:
    def check(v: Any) -> str | None:
        return None if isinstance(v, int) and not isinstance(v, bool) and v >= low else f"a whole number >= {low}"

    return check


def boolean(v: Any) -> str | None:
    return None if isinstance(v, bool) else "true or false"


def text(v: Any) -> str | None:
    return None if isinstance(v, str) and v.strip() else "a non-empty text"


def any_text(v: Any) -> str | None:
    return None if isinstance(v, str) else "a text"


def run_name(v: Any) -> str | None:
    what = name_problem(v)
    return None if what is None else f"a run name of {what}"


def http_url(v: Any) -> str | None:
    ok = isinstance(v, str) and v.startswith(("http://", "https://")) and len(v) > len("https://")
    return None if ok else "an http:// or https:// address"


def http_urls(v: Any) -> str | None:
    """One address, or a non-empty list of different addresses (several servers)."""
    if isinstance(v, list | tuple):
        ok = bool(v) and all(http_url(u) is None for u in v) and len({str(u).rstrip("/") for u in v}) == len(v)
    else:
        ok = http_url(v) is None
    return None if ok else "an http:// or https:// address, or a list of different ones"


#: sbatch options mousefear sets itself for a task (an array of tasks, its log files, the signal before the end)
_OWN_SBATCH = ("array", "output", "error", "open-mode", "signal", "wrap", "parsable")
_SBATCH_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")


def sbatch_options(v: Any) -> str | None:
    """Extra sbatch options: ``{name: value}`` with names as sbatch spells them without ``--``."""
    ok = isinstance(v, Mapping) and all(
        isinstance(k, str) and _SBATCH_NAME.match(k) and k.replace("_", "-") not in _OWN_SBATCH
        and ((_is_number(x) or (isinstance(x, str) and x.strip() and "\n" not in x)) or x is True)
        for k, x in v.items())
    return None if ok else ("a mapping of sbatch option names (without --) to values, e.g. {account: mylab, qos: "
                            f"normal}} (not {', '.join(_OWN_SBATCH)}: mousefear sets those)")


def choice(*options: str) -> Check:
    def check(v: Any) -> str | None:
        return None if v in options else "one of " + ", ".join(options)

    return check


def optional(inner: Check) -> Check:
    def check(v: Any) -> str | None:
        if v is None:
            return None
        what = inner(v)
        return None if what is None else f"{what} or null"

    return check


def odd_or_zero(v: Any) -> str | None:
    ok = isinstance(v, int) and not isinstance(v, bool) and v >= 0 and (v == 0 or v % 2 == 1)
    return None if ok else "0 or an odd whole number"


def list_of(*options: str) -> Check:
    def check(v: Any) -> str | None:
        ok = isinstance(v, list | tuple) and all(x in options for x in v)
        return None if ok else "a list of " + ", ".join(options)

    return check


def date_text(v: Any) -> str | None:
    if isinstance(v, _dt.date):
        return None
    try:
        _dt.date.fromisoformat(str(v))
    except ValueError:
        return "a date YYYY-MM-DD"
    return None


def _field(check: Check, convert: Callable[[Any], Any] | None = None) -> Any:
    """A settings field whose value is checked with ``check`` and then stored as ``convert(value)``."""
    return field(metadata={"check": check, "convert": convert})


def _section(cls: type) -> Any:
    """A field holding a nested section (a mapping in config.yaml)."""
    return field(metadata={"section": cls})


def _float_or_none(v: Any) -> float | None:
    return None if v is None else float(v)


def _str_date(v: Any) -> str:
    return v.isoformat() if isinstance(v, _dt.date) else str(v)


_ISO_DURATION = re.compile(r"^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+S)?)?"
                           r"(/P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?)?$")


def iso_duration(v: Any) -> str | None:
    ok = isinstance(v, str) and bool(_ISO_DURATION.match(v))
    return None if ok else "an ISO 8601 duration such as P90D (90 days) or P12W"


def list_of_text(v: Any) -> str | None:
    ok = isinstance(v, list | tuple) and all(isinstance(x, str) and x.strip() for x in v)
    return None if ok else "a list of texts"


def parse_time(v: Any) -> _dt.datetime:
    """A date and time from a datetime or ISO 8601 text (``Z`` for UTC accepted); ValueError if it is neither."""
    return v if isinstance(v, _dt.datetime) else _dt.datetime.fromisoformat(re.sub(r"Z$", "+00:00", str(v)))


def aware_time(v: Any) -> str | None:
    """An ISO 8601 date and time with a time zone."""
    try:
        ok = parse_time(v).tzinfo is not None
    except ValueError:
        ok = False
    return None if ok else "a date and time with time zone, e.g. 2026-01-15T09:30:00+01:00"
