"""Behaviour-vector files: bouts <-> per-frame labels, window -> frame expansion, HDF5 write/read, summaries.

Frame ranges are half-open everywhere in mousefear: a window or bout ``[start_frame, end_frame)`` covers
frames ``start_frame, start_frame + 1, ..., end_frame - 1`` and lasts ``end_frame - start_frame`` frames.
Frames are counted from 0.

File layout
-----------
One HDF5 file per video (``behavior-vectors/<run>/<video_id>.h5``), written with h5py. Every dataset carries
two attributes: ``dims`` (array of dimension names) and ``description`` (one line of text).

=========================  ========================  ============  =========================================
dataset                    shape                     dtype         content
=========================  ========================  ============  =========================================
``behaviors``              (n_behaviors,)            utf-8 str     class names, in column order
``windows/start_frame``    (n_windows,)              int64         first frame of each window
``windows/end_frame``      (n_windows,)              int64         one past the last frame of each window
``windows/label``          (n_windows,)              int16         argmax of the probabilities, -1 if NaN
``windows/probability``    (n_windows, n_behaviors)  float32       probability per class (NaN: no answer)
``windows/partial``        (n_windows,)              bool          window shorter than the others (video end)
``windows/text``           (n_windows,)              utf-8 str     raw model text, "" when not generated
``frames/label``           (n_frames,)               int16         class index per frame, -1 = none
``frames/probability``     (n_frames, n_behaviors)   float32       probability per frame (NaN: no window)
=========================  ========================  ============  =========================================

The frame arrays are gzip-compressed. File attributes: ``format`` (``"mousefear-behavior-vector"``),
``format_version`` (int, currently 1), ``mousefear_version``, ``created`` (ISO 8601, UTC), ``json_attrs``
(JSON list of the attribute names stored as JSON text) and every key of the ``attrs`` given to
:func:`write_vector`; the required ones are listed in :data:`REQUIRED_ATTRS`. Lists, dicts and None are
stored as JSON text and decoded back by the readers. Apart from ``created``, the same inputs give a
byte-identical file.

A CSV twin (``<video_id>.csv``) holds the per-frame table ``frame,label,<behavior 1>,<behavior 2>,...``:
label name (empty when none) and probabilities with 6 decimals (empty when NaN).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import logging
import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd

from mousefear import config as _config
from mousefear._io import atomic_path, atomic_write_text
from mousefear._version import __version__
from mousefear.errors import LabelError, ProjectError, VectorFileError

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "REQUIRED_ATTRS",
    "bouts_to_labels",
    "labels_to_bouts",
    "list_runs",
    "read_vector",
    "read_vector_windows",
    "select_run",
    "summarize_vector",
    "vector_csv_path",
    "windows_to_frames",
    "write_run_summary",
    "write_vector",
    "write_vector_csv",
]

logger = logging.getLogger(__name__)

FORMAT = "mousefear-behavior-vector"
"""Value of the ``format`` file attribute."""

FORMAT_VERSION = 1
"""Highest ``format_version`` this code writes and reads."""

REQUIRED_ATTRS = (
    "video_id",
    "subject",
    "session",
    "video_sha256",
    "fps",
    "n_frames",
    "run",
    "backend",
    "model_id",
    "model_revision",
    "prompt_hash",
    "icl_example_ids",
    "preprocessing",
)
"""Keys every behaviour-vector file carries as attributes (``n_frames`` is filled from the argument)."""

_RESERVED_ATTRS = ("format", "format_version", "mousefear_version", "created", "json_attrs", "behaviors")
_RESERVED_NAMES = ("frame", "label")
_PROB_ATOL = 1e-3
_RANGE_ATOL = 1e-6
_UTC = _dt.timezone.utc  # noqa: UP017 (datetime.UTC needs Python 3.11; setup.cfg allows 3.10)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")

# name: (dims, description)
_DATASETS: dict[str, tuple[tuple[str, ...], str]] = {
    "behaviors": (("behaviors",), "class names, in the column order of every probability array"),
    "windows/start_frame": (("windows",), "first frame of each window (half-open [start_frame, end_frame))"),
    "windows/end_frame": (("windows",), "one past the last frame of each window"),
    "windows/label": (("windows",), "class index with the highest probability, -1 where none"),
    "windows/probability": (("windows", "behaviors"), "probability per class, NaN where no answer"),
    "windows/partial": (("windows",), "True for a window cut short by the end of the video"),
    "windows/text": (("windows",), "raw model text, empty where not generated"),
    "frames/label": (("frames",), "class index per frame, -1 where none"),
    "frames/probability": (("frames", "behaviors"), "mean probability of the windows covering each frame"),
}


# --------------------------------------------------------------------------------------------------------
# Bouts <-> per-frame labels
# --------------------------------------------------------------------------------------------------------


def _empty_bouts() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "behavior": pd.Series([], dtype=object),
            "start_frame": pd.Series([], dtype=np.int64),
            "end_frame": pd.Series([], dtype=np.int64),
            "n_frames": pd.Series([], dtype=np.int64),
        }
    )


def _labels_to_codes(labels: Any, behaviors: Sequence[str] | None) -> tuple[np.ndarray, list[str]]:
    """Turn per-frame names or indices into int64 codes (-1 = none) and the list of names they index."""
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise ValueError(f"Expected a 1-D per-frame label array, but got shape {arr.shape}")
    names = None if behaviors is None else [str(b) for b in behaviors]
    if arr.dtype.kind == "b":
        raise ValueError("Expected behaviour names or integer class indices, but got a boolean array")
    if arr.dtype.kind in "iu":
        if names is None:
            raise ValueError("Expected `behaviors` to be given with integer class indices, but got None")
        codes = arr.astype(np.int64)
        bad = (codes < -1) | (codes >= len(names))
        if bad.any():
            raise LabelError(
                f"Expected class indices in [-1, {len(names)}), but got {codes[bad][0]} "
                f"at frame {int(np.flatnonzero(bad)[0])}"
            )
        return codes, names
    obj = arr.astype(object)
    missing = pd.isna(obj) | (obj == "")
    present = obj[~missing]
    if present.size and not all(isinstance(v, str) for v in present):
        bad = next(v for v in present if not isinstance(v, str))
        raise ValueError(f"Expected behaviour names (str), but got {bad!r}")
    uniq, inverse = np.unique(present.astype(str), return_inverse=True)
    if names is None:
        names = [str(u) for u in uniq]
        mapping = np.arange(len(uniq))
    else:
        unknown = [str(u) for u in uniq if u not in names]
        if unknown:
            raise LabelError(f"Expected behaviours among {names}, but got unknown {unknown}")
        mapping = np.array([names.index(str(u)) for u in uniq], dtype=np.int64)
    codes = np.full(arr.shape[0], -1, dtype=np.int64)
    codes[~missing] = mapping[inverse] if uniq.size else []
    return codes, names


def labels_to_bouts(labels: Any, behaviors: Sequence[str] | None = None) -> pd.DataFrame:
    """Collapse a per-frame label vector into bouts (runs of the same behaviour).

    Parameters
    ----------
    labels : array-like, shape (n_frames,)
        Either behaviour names (str/object array; ``""``, None or NaN = unlabelled) or integer class indices
        into ``behaviors`` (-1 = unlabelled).
    behaviors : sequence of str, optional
        Class names. Required with integer indices; with names, every name must be one of them.

    Returns
    -------
    pandas.DataFrame
        One row per bout, sorted by ``start_frame``, with columns ``behavior`` (str), ``start_frame``,
        ``end_frame`` (half-open) and ``n_frames`` (int64). Unlabelled runs produce no bout.

    Raises
    ------
    mousefear.errors.LabelError
        An index is out of range or a name is not in ``behaviors``.
    """
    codes, names = _labels_to_codes(labels, behaviors)
    if codes.size == 0:
        return _empty_bouts()
    change = np.flatnonzero(codes[1:] != codes[:-1]) + 1
    starts = np.concatenate(([0], change)).astype(np.int64)
    ends = np.concatenate((change, [codes.size])).astype(np.int64)
    run_codes = codes[starts]
    keep = run_codes >= 0
    starts, ends, run_codes = starts[keep], ends[keep], run_codes[keep]
    if starts.size == 0:
        return _empty_bouts()
    return pd.DataFrame(
        {
            "behavior": pd.Series(np.asarray(names, dtype=object)[run_codes], dtype=object),
            "start_frame": starts,
            "end_frame": ends,
            "n_frames": ends - starts,
        }
    )


def bouts_to_labels(bouts: pd.DataFrame, n_frames: int) -> np.ndarray:
    """Expand bouts into a per-frame label vector.

    Parameters
    ----------
    bouts : pandas.DataFrame
        Columns ``behavior`` (str), ``start_frame`` and ``end_frame`` (int, half-open); other columns are
        ignored.
    n_frames : int
        Length of the video in frames.

    Returns
    -------
    numpy.ndarray, shape (n_frames,), dtype object
        Behaviour name per frame, ``""`` where no bout covers the frame.

    Raises
    ------
    mousefear.errors.LabelError
        A bout is empty, falls outside ``[0, n_frames)``, has no name, or overlaps another bout.
    """
    n_frames = _check_count(n_frames, "n_frames", allow_zero=True)
    missing = {"behavior", "start_frame", "end_frame"} - set(bouts.columns)
    if missing:
        raise ValueError(
            f"Expected bout columns behavior, start_frame, end_frame, but missing {sorted(missing)}"
        )
    out = np.full(n_frames, "", dtype=object)
    if len(bouts) == 0:
        return out
    starts = np.asarray(bouts["start_frame"], dtype=np.int64)
    ends = np.asarray(bouts["end_frame"], dtype=np.int64)
    names = np.asarray(bouts["behavior"], dtype=object)
    for i in range(len(bouts)):
        if not isinstance(names[i], str) or not names[i]:
            raise LabelError(f"Expected a behaviour name in bout {i}, but got {names[i]!r}")
        if not 0 <= starts[i] < ends[i] <= n_frames:
            raise LabelError(
                f"Expected bout {i} ({names[i]}) to satisfy 0 <= start_frame < end_frame <= {n_frames}, "
                f"but got [{starts[i]}, {ends[i]})"
            )
    order = np.argsort(starts, kind="stable")
    s, e = starts[order], ends[order]
    overlap = np.flatnonzero(s[1:] < e[:-1])
    if overlap.size:
        a, b = order[overlap[0]], order[overlap[0] + 1]
        raise LabelError(
            f"Expected bouts not to overlap, but bout {a} ({names[a]}, [{starts[a]}, {ends[a]})) overlaps "
            f"bout {b} ({names[b]}, [{starts[b]}, {ends[b]}))"
        )
    for i in range(len(bouts)):
        out[starts[i] : ends[i]] = names[i]
    return out


# --------------------------------------------------------------------------------------------------------
# Validation helpers (raise ValueError with "Expected ..., but got ..." messages)
# --------------------------------------------------------------------------------------------------------


def _check_count(value: Any, name: str, allow_zero: bool = False) -> int:
    ok = isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)
    if not ok or value < (0 if allow_zero else 1):
        what = "a non-negative integer" if allow_zero else "a positive integer"
        raise ValueError(f"Expected {name} to be {what}, but got {value!r}")
    return int(value)


def _check_behaviors(behaviors: Sequence[str]) -> list[str]:
    if isinstance(behaviors, str) or not isinstance(behaviors, Sequence | np.ndarray):
        raise ValueError(f"Expected behaviors to be a list of names, but got {behaviors!r}")
    names = list(behaviors)
    if not names:
        raise ValueError("Expected at least one behaviour, but got an empty list")
    for b in names:
        if not isinstance(b, str) or not b.strip():
            raise ValueError(f"Expected every behaviour to be a non-empty name, but got {b!r}")
        if b in _RESERVED_NAMES:
            raise ValueError(f"Expected behaviour names other than {_RESERVED_NAMES}, but got {b!r}")
    dup = sorted({b for b in names if names.count(b) > 1})
    if dup:
        raise ValueError(f"Expected unique behaviour names, but got duplicates {dup}")
    return names


def _check_probabilities(probs: Any, n_rows: int, n_behaviors: int | None, name: str) -> np.ndarray:
    """Check (n_rows, n_behaviors) probabilities: rows all NaN, or in [0, 1] and summing to 1."""
    arr = np.asarray(probs, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] != n_rows or (n_behaviors is not None and arr.shape[1] != n_behaviors):
        want = f"({n_rows}, {'n_behaviors' if n_behaviors is None else n_behaviors})"
        raise ValueError(f"Expected {name} of shape {want}, but got {arr.shape}")
    nan = np.isnan(arr)
    row_nan = nan.all(axis=1)
    partly = np.flatnonzero(nan.any(axis=1) & ~row_nan)
    if partly.size:
        raise ValueError(
            f"Expected {name} rows to be all NaN or all numbers, but row {partly[0]} is partly NaN"
        )
    valid = arr[~row_nan]
    if valid.size:
        if np.isinf(valid).any() or (valid < -_RANGE_ATOL).any() or (valid > 1 + _RANGE_ATOL).any():
            bad = valid[np.isinf(valid) | (valid < -_RANGE_ATOL) | (valid > 1 + _RANGE_ATOL)][0]
            raise ValueError(f"Expected {name} in [0, 1], but got {bad}")
        sums = valid.sum(axis=1)
        off = np.flatnonzero(np.abs(sums - 1.0) > _PROB_ATOL)
        if off.size:
            row = np.flatnonzero(~row_nan)[off[0]]
            raise ValueError(
                f"Expected {name} rows to sum to 1 (within 1e-3), but row {row} sums to {sums[off[0]]}"
            )
    return arr


def _check_windows(
    start_frame: Any, end_frame: Any, probabilities: Any, n_frames: int, n_behaviors: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n_frames = _check_count(n_frames, "n_frames")
    start = np.asarray(start_frame)
    end = np.asarray(end_frame)
    for name, a in (("start_frame", start), ("end_frame", end)):
        if a.ndim != 1:
            raise ValueError(f"Expected {name} to be 1-D, but got shape {a.shape}")
        if a.size and a.dtype.kind not in "iu":
            raise ValueError(f"Expected {name} to hold integers, but got dtype {a.dtype}")
    if start.shape != end.shape:
        raise ValueError(
            f"Expected start_frame and end_frame of equal length, but got {start.size} and {end.size}"
        )
    start, end = start.astype(np.int64), end.astype(np.int64)
    bad = np.flatnonzero(~((start >= 0) & (start < end) & (end <= n_frames)))
    if bad.size:
        i = bad[0]
        raise ValueError(
            f"Expected every window to satisfy 0 <= start_frame < end_frame <= n_frames={n_frames}, "
            f"but window {i} is [{start[i]}, {end[i]})"
        )
    probs = _check_probabilities(probabilities, start.size, n_behaviors, "probabilities")
    return start, end, probs


# --------------------------------------------------------------------------------------------------------
# Windows -> frames
# --------------------------------------------------------------------------------------------------------


def windows_to_frames(
    start_frame: Any, end_frame: Any, probabilities: Any, n_frames: int
) -> tuple[np.ndarray, np.ndarray]:
    """Spread per-window probabilities onto frames.

    Each frame gets the mean probability of the windows covering it (several when windows overlap, e.g.
    stride < window length). Windows whose probability row is NaN (an unparseable answer) are ignored.

    Parameters
    ----------
    start_frame, end_frame : array-like of int, shape (n_windows,)
        Half-open frame range ``[start_frame, end_frame)`` of each window, within ``[0, n_frames]``.
    probabilities : array-like of float, shape (n_windows, n_behaviors)
        Probability per class; each row sums to 1 or is all NaN.
    n_frames : int
        Number of frames of the video.

    Returns
    -------
    frame_probabilities : numpy.ndarray, shape (n_frames, n_behaviors), float32
        Mean probability of the valid windows covering each frame; NaN where none covers it.
    frame_label : numpy.ndarray, shape (n_frames,), int16
        Argmax of ``frame_probabilities`` (first class on ties); -1 where no valid window covers the frame.

    Notes
    -----
    Uses difference arrays and a cumulative sum: time O(n_windows + n_frames * n_behaviors), memory
    O(n_frames * n_behaviors).
    """
    start, end, probs = _check_windows(start_frame, end_frame, probabilities, n_frames)
    n_behaviors = probs.shape[1]
    valid = ~np.isnan(probs).any(axis=1)
    start, end, probs = start[valid], end[valid], probs[valid]

    sums = np.zeros((n_frames + 1, n_behaviors), dtype=np.float64)
    np.add.at(sums, start, probs)
    np.add.at(sums, end, -probs)
    np.cumsum(sums, axis=0, out=sums)
    counts = np.zeros(n_frames + 1, dtype=np.int64)
    np.add.at(counts, start, 1)
    np.add.at(counts, end, -1)
    np.cumsum(counts, out=counts)

    covered = counts[:n_frames] > 0
    frame_probabilities = np.full((n_frames, n_behaviors), np.nan, dtype=np.float32)
    mean = sums[:n_frames][covered] / counts[:n_frames][covered, None]
    frame_probabilities[covered] = np.clip(mean, 0.0, 1.0)
    frame_label = np.full(n_frames, -1, dtype=np.int16)
    frame_label[covered] = np.argmax(frame_probabilities[covered], axis=1)
    return frame_probabilities, frame_label


# --------------------------------------------------------------------------------------------------------
# Attributes
# --------------------------------------------------------------------------------------------------------


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)


def _positive_number(value: Any) -> bool:
    return (
        isinstance(value, int | float | np.integer | np.floating)
        and not isinstance(value, bool | np.bool_)
        and math.isfinite(value)
        and value > 0
    )


_ATTR_CHECKS: dict[str, tuple[str, Any]] = {
    "video_id": ("a non-empty string", lambda v: isinstance(v, str) and bool(v)),
    "subject": ("a string", lambda v: isinstance(v, str)),
    "session": ("a string", lambda v: isinstance(v, str)),
    "video_sha256": ("64 lowercase hex digits", lambda v: isinstance(v, str) and bool(_SHA256.match(v))),
    "fps": ("a positive number", _positive_number),
    "run": ("a non-empty string", lambda v: isinstance(v, str) and bool(v)),
    "backend": ("a non-empty string", lambda v: isinstance(v, str) and bool(v)),
    "model_id": ("a string", lambda v: isinstance(v, str)),
    "model_revision": ("a string", lambda v: isinstance(v, str)),
    "prompt_hash": ("a string", lambda v: isinstance(v, str)),
    "icl_example_ids": ("a list of strings", _is_str_list),
    "preprocessing": ("a dict", lambda v: isinstance(v, dict)),
}


def _check_attrs(attrs: Mapping[str, Any], n_frames: int) -> dict[str, Any]:
    if not isinstance(attrs, Mapping):
        raise ValueError(f"Expected attrs to be a dict, but got {type(attrs).__name__}")
    missing = [k for k in REQUIRED_ATTRS if k not in attrs and k != "n_frames"]
    if missing:
        raise ValueError(f"Expected attrs to contain {missing}, but they are missing")
    reserved = [k for k in attrs if k in _RESERVED_ATTRS]
    if reserved:
        raise ValueError(f"Expected attrs without the reserved keys {reserved}, which the writer sets itself")
    for key, (what, ok) in _ATTR_CHECKS.items():
        if not ok(attrs[key]):
            raise ValueError(f"Expected attrs[{key!r}] to be {what}, but got {attrs[key]!r}")
    if "n_frames" in attrs and attrs["n_frames"] != n_frames:
        raise ValueError(
            f"Expected attrs['n_frames'] to equal n_frames={n_frames}, but got {attrs['n_frames']!r}"
        )
    out: dict[str, Any] = {}
    for key, value in attrs.items():
        if not isinstance(key, str) or not key:
            raise ValueError(f"Expected attribute names to be non-empty strings, but got {key!r}")
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, tuple):
            value = list(value)
        if not isinstance(value, str | bool | int | float | list | dict | type(None)):
            raise ValueError(
                f"Expected attrs[{key!r}] to be str, number, bool, list, dict or None, but got {value!r}"
            )
        if isinstance(value, list | dict):
            try:
                json.dumps(value)
            except (TypeError, ValueError) as exc:
                raise ValueError(
                    f"Expected attrs[{key!r}] to be JSON-serialisable, but got {value!r}"
                ) from exc
        out[key] = value
    out["fps"] = float(out["fps"])
    out["n_frames"] = n_frames
    return out


def _created_string(created: str | _dt.datetime | None) -> str:
    if created is None:
        created = _dt.datetime.now(_UTC)
    if isinstance(created, str):
        try:
            # Python 3.10's fromisoformat does not accept a trailing "Z".
            created = _dt.datetime.fromisoformat(re.sub(r"Z$", "+00:00", created))
        except ValueError as exc:
            raise ValueError(f"Expected created to be an ISO 8601 time, but got {created!r}") from exc
    if not isinstance(created, _dt.datetime) or created.tzinfo is None:
        raise ValueError(f"Expected created to be a timezone-aware time, but got {created!r}")
    return created.astimezone(_UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _decode_attr(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return [_decode_attr(v) for v in value.tolist()]
    return value


# --------------------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------------------


def vector_csv_path(path: str | os.PathLike) -> Path:
    """Path of the CSV twin of a behaviour-vector file: same folder and stem, suffix ``.csv``."""
    return Path(path).with_suffix(".csv")


def _frames_dataframe(
    behaviors: list[str], frame_label: np.ndarray, frame_probabilities: np.ndarray
) -> pd.DataFrame:
    names = np.asarray([*behaviors, ""], dtype=object)  # index -1 -> ""
    columns: dict[str, Any] = {"label": pd.Series(names[frame_label], dtype=object)}
    for j, b in enumerate(behaviors):
        columns[b] = frame_probabilities[:, j]
    df = pd.DataFrame(columns, index=pd.RangeIndex(frame_label.shape[0], name="frame"))
    return df


def write_vector_csv(path: str | os.PathLike, vector: pd.DataFrame) -> Path:
    """Write a per-frame behaviour vector as CSV, atomically.

    Parameters
    ----------
    path : path-like
        CSV file to write (usually :func:`vector_csv_path` of the HDF5 file).
    vector : pandas.DataFrame
        As returned by :func:`read_vector`: indexed by ``frame``, column ``label`` (name, ``""`` = none) and
        one float column per behaviour (``vector.attrs["behaviors"]`` gives their order if present).

    Returns
    -------
    pathlib.Path
        The written path. Columns ``frame,label,<behavior...>``; probabilities with 6 decimals, empty when
        NaN; label empty when none; ``\\n`` line ends.
    """
    atomic_write_text(path, _csv_text(vector))
    return Path(path)


def _csv_text(vector: pd.DataFrame) -> str:
    behaviors = list(vector.attrs.get("behaviors", [c for c in vector.columns if c != "label"]))
    table = vector[["label", *behaviors]].copy()
    table["label"] = table["label"].fillna("")
    table.index = pd.Index(np.asarray(vector.index, dtype=np.int64), name="frame")
    return table.to_csv(float_format="%.6f", na_rep="", lineterminator="\n")


def _create(
    group: h5py.Group, name: str, data: np.ndarray, dtype: Any = None, compress: bool = False
) -> None:
    dims, description = _DATASETS[name]
    kwargs: dict[str, Any] = {"compression": "gzip", "compression_opts": 4} if compress else {}
    ds = group.create_dataset(name, data=data, dtype=dtype if dtype is not None else data.dtype, **kwargs)
    ds.attrs["dims"] = np.asarray(dims, dtype=h5py.string_dtype("utf-8"))
    ds.attrs["description"] = description


def write_vector(
    path: str | os.PathLike,
    *,
    behaviors: Sequence[str],
    start_frame: Any,
    end_frame: Any,
    probabilities: Any,
    n_frames: int,
    attrs: Mapping[str, Any],
    text: Sequence[str | None] | None = None,
    partial: Any = None,
    frame_probabilities: Any = None,
    frame_label: Any = None,
    created: str | _dt.datetime | None = None,
    csv: bool = True,
) -> Path:
    """Validate and write one video's behaviour vector (HDF5, plus its CSV twin), atomically.

    Parameters
    ----------
    path : path-like
        HDF5 file to write (``behavior-vectors/<run>/<video_id>.h5``); replaced if it exists.
    behaviors : sequence of str, length n_behaviors
        Unique, non-empty class names, in column order.
    start_frame, end_frame : array-like of int, shape (n_windows,)
        Half-open frame range of each window, ``0 <= start_frame < end_frame <= n_frames``.
    probabilities : array-like of float, shape (n_windows, n_behaviors)
        Probability per class in [0, 1], rows summing to 1 (within 1e-3) or all NaN (no valid answer).
    n_frames : int
        Frame count of the video (counted by decoding).
    attrs : mapping
        File attributes; must contain :data:`REQUIRED_ATTRS` (``n_frames`` may be left out, and must equal
        the argument if given). Values: str, int, float, bool, None, list or dict (JSON-serialisable).
    text : sequence of str or None, length n_windows, optional
        Raw generated text per window; None or ``""`` where none was generated. Default: all ``""``.
    partial : array-like of bool, shape (n_windows,), optional
        True for a window cut short at the end of the video. Default: all False.
    frame_probabilities : array-like of float, shape (n_frames, n_behaviors), optional
    frame_label : array-like of int, shape (n_frames,), optional
        Per-frame results computed by the backend (e.g. the motion detector). Give both or neither; by
        default they are computed with :func:`windows_to_frames`. Rows of ``frame_probabilities`` that are
        NaN must have label -1.
    created : str or datetime, optional
        Creation time (timezone-aware); default now. Pass a fixed value to reproduce a file byte for byte.
    csv : bool, default True
        Also write the CSV twin at :func:`vector_csv_path`. It is renamed into place just before the HDF5
        file, whose presence marks a finished video; a failure while writing leaves neither behind.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    mousefear.errors.VectorFileError
        An argument is invalid; the message names ``path`` and the problem. Nothing is written.
    """
    path = Path(path)
    try:
        names = _check_behaviors(behaviors)
        n_frames = _check_count(n_frames, "n_frames")
        start, end, probs = _check_windows(start_frame, end_frame, probabilities, n_frames, len(names))
        n_windows = start.size
        file_attrs = _check_attrs(attrs, n_frames)
        created_str = _created_string(created)
        if text is None:
            text_arr = np.full(n_windows, "", dtype=object)
        else:
            text_list = ["" if t is None else t for t in text]
            if len(text_list) != n_windows or not all(isinstance(t, str) for t in text_list):
                raise ValueError(
                    f"Expected text to be {n_windows} strings (or None), but got {len(text_list)} items"
                )
            text_arr = np.asarray(text_list, dtype=object).reshape(n_windows)
        if partial is None:
            partial_arr = np.zeros(n_windows, dtype=bool)
        else:
            partial_arr = np.asarray(partial)
            if partial_arr.shape != (n_windows,) or partial_arr.dtype.kind != "b":
                raise ValueError(
                    f"Expected partial to be a bool array of shape ({n_windows},), "
                    f"but got {partial_arr.dtype} {partial_arr.shape}"
                )
        if (frame_probabilities is None) != (frame_label is None):
            raise ValueError("Expected frame_probabilities and frame_label together or neither, but got one")
        if frame_probabilities is None:
            fprobs, flabel = windows_to_frames(start, end, probs, n_frames)
        else:
            fprobs = _check_probabilities(frame_probabilities, n_frames, len(names), "frame_probabilities")
            flabel = np.asarray(frame_label)
            if flabel.shape != (n_frames,) or (flabel.size and flabel.dtype.kind not in "iu"):
                raise ValueError(
                    f"Expected frame_label to be integers of shape ({n_frames},), "
                    f"but got {flabel.dtype} {flabel.shape}"
                )
            if flabel.size and (flabel.min() < -1 or flabel.max() >= len(names)):
                raise ValueError(f"Expected frame_label in [-1, {len(names)}), but got values out of range")
            if (np.isnan(fprobs).all(axis=1) & (flabel != -1)).any():
                raise ValueError("Expected frame_label -1 where frame_probabilities is NaN, but got a label")
            fprobs, flabel = fprobs.astype(np.float32), flabel.astype(np.int16)
    except ValueError as exc:
        raise VectorFileError(f"Cannot write behaviour vector {path}: {exc}") from exc

    probs32 = probs.astype(np.float32)
    window_label = np.full(n_windows, -1, dtype=np.int16)
    valid = ~np.isnan(probs32).any(axis=1)
    window_label[valid] = np.argmax(probs32[valid], axis=1)

    str_dt = h5py.string_dtype("utf-8")
    datasets: dict[str, tuple[np.ndarray, Any]] = {
        "behaviors": (np.asarray(names, dtype=object), str_dt),
        "windows/start_frame": (start, None),
        "windows/end_frame": (end, None),
        "windows/label": (window_label, None),
        "windows/probability": (probs32, None),
        "windows/partial": (partial_arr.astype(bool), None),
        "windows/text": (text_arr, str_dt),
        "frames/label": (flabel, None),
        "frames/probability": (fprobs, None),
    }
    csv_text = None
    if csv:
        frames_df = _frames_dataframe(names, flabel, fprobs)
        frames_df.attrs["behaviors"] = names
        csv_text = _csv_text(frames_df)
    # Both files are written under temporary names; the CSV is renamed into place first, then the HDF5
    # file (whose presence marks a finished video). A failure while writing leaves neither behind.
    with atomic_path(path) as tmp_h5:
        with atomic_path(vector_csv_path(path)) if csv else contextlib.nullcontext() as tmp_csv:
            if tmp_csv is not None:
                with open(tmp_csv, "w", encoding="utf-8", newline="") as fh:
                    fh.write(csv_text)
                    fh.flush()
                    os.fsync(fh.fileno())
            _write_h5(tmp_h5, datasets, file_attrs, created_str)
    logger.info("Wrote behaviour vector %s (%d windows, %d frames)", path, n_windows, n_frames)
    return path


def _write_h5(
    tmp: Path, datasets: dict[str, tuple[np.ndarray, Any]], file_attrs: dict[str, Any], created_str: str
) -> None:
    """Write the HDF5 content (datasets as ``name: (array, dtype or None)``) into ``tmp``."""
    json_keys = sorted(k for k, v in file_attrs.items() if isinstance(v, list | dict) or v is None)
    with h5py.File(tmp, "w") as f:
        f.attrs["format"] = FORMAT
        f.attrs["format_version"] = np.int64(FORMAT_VERSION)
        f.attrs["mousefear_version"] = __version__
        f.attrs["created"] = created_str
        f.attrs["json_attrs"] = json.dumps(json_keys)
        for key in sorted(file_attrs):
            value = file_attrs[key]
            f.attrs[key] = json.dumps(value, sort_keys=True) if key in json_keys else value
        for name, (data, dtype) in datasets.items():
            _create(f, name, data, dtype=dtype, compress=name.startswith("frames/"))


# --------------------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------------------


def _open_checked(path: str | os.PathLike) -> tuple[h5py.File, Path]:
    """Open a behaviour-vector file for reading after checking it is one this code can read."""
    path = Path(path)
    if not path.is_file():
        raise VectorFileError(f"Behaviour-vector file {path} does not exist")
    try:
        is_hdf5 = h5py.is_hdf5(path)
    except OSError:
        is_hdf5 = False
    if not is_hdf5:
        raise VectorFileError(f"{path} is not an HDF5 file, so not a mousefear behaviour-vector file")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise VectorFileError(f"Cannot open behaviour-vector file {path}: {exc}") from exc
    try:
        fmt = _decode_attr(f.attrs.get("format"))
        if fmt != FORMAT:
            raise VectorFileError(f"Expected {path} to have format {FORMAT!r}, but got {fmt!r}")
        version = _decode_attr(f.attrs.get("format_version"))
        if not isinstance(version, int) or version < 1:
            raise VectorFileError(
                f"Expected {path} to have a positive integer format_version, but got {version!r}"
            )
        if version > FORMAT_VERSION:
            raise VectorFileError(
                f"{path} has format_version {version}, newer than the {FORMAT_VERSION} this mousefear "
                f"{__version__} reads; upgrade mousefear (pip install -U mousefear) to read it"
            )
        missing = [k for k in REQUIRED_ATTRS if k not in f.attrs]
        if missing:
            raise VectorFileError(f"Expected {path} to have the attributes {missing}, but they are missing")
        missing = [name for name in _DATASETS if not isinstance(f.get(name), h5py.Dataset)]
        if missing:
            raise VectorFileError(f"Expected {path} to contain the datasets {missing}, but they are missing")
        n_b = f["behaviors"].shape[0] if f["behaviors"].ndim == 1 else -1
        n_w = f["windows/start_frame"].shape[0] if f["windows/start_frame"].ndim == 1 else -1
        n_f = _decode_attr(f.attrs["n_frames"])
        want = {"frames": n_f, "windows": n_w, "behaviors": n_b}
        for name, (dims, _) in _DATASETS.items():
            expected = tuple(want[d] for d in dims)
            if f[name].shape != expected:
                raise VectorFileError(
                    f"Expected dataset {name} of {path} to have shape {expected} {dims}, "
                    f"but got {f[name].shape}"
                )
    except BaseException:
        f.close()
        raise
    return f, path


def _read_attrs(f: h5py.File) -> dict[str, Any]:
    json_keys = set(json.loads(_decode_attr(f.attrs.get("json_attrs", "[]"))))
    out: dict[str, Any] = {}
    for key in f.attrs:
        if key == "json_attrs":
            continue
        value = _decode_attr(f.attrs[key])
        out[key] = json.loads(value) if key in json_keys else value
    return out


def _check_label_range(label: np.ndarray, n_behaviors: int, path: Path, dataset: str) -> None:
    """Raise VectorFileError unless every behaviour index in ``label`` is in [-1, n_behaviors) (-1: none)."""
    if label.size and (label.min() < -1 or label.max() >= n_behaviors):
        raise VectorFileError(f"Expected {dataset} of {path} in [-1, {n_behaviors}), but got values out of range")


def read_vector(path: str | os.PathLike) -> pd.DataFrame:
    """Read the per-frame behaviour vector of a file written by :func:`write_vector`.

    Parameters
    ----------
    path : path-like
        Behaviour-vector HDF5 file.

    Returns
    -------
    pandas.DataFrame, n_frames rows
        Indexed by ``frame`` (int, from 0), column ``label`` (behaviour name, ``""`` where none), then one
        float32 probability column per behaviour (NaN where no window covers the frame). ``df.attrs`` holds
        every file attribute (lists and dicts decoded) and ``behaviors`` (list of str).

    Raises
    ------
    mousefear.errors.VectorFileError
        The file is missing, not HDF5, not a behaviour-vector file, written by a newer format version, or
        lacks a dataset or has inconsistent shapes; the message names the file.
    """
    f, path = _open_checked(path)
    with f:
        attrs = _read_attrs(f)
        behaviors = [str(b) for b in f["behaviors"].asstr()[()]]
        label = f["frames/label"][()].astype(np.int16)
        probs = f["frames/probability"][()].astype(np.float32)
    _check_label_range(label, len(behaviors), path, "frames/label")
    df = _frames_dataframe(behaviors, label, probs)
    df.attrs.update(attrs)
    df.attrs["behaviors"] = behaviors
    return df


def read_vector_windows(path: str | os.PathLike) -> pd.DataFrame:
    """Read the per-window results of a behaviour-vector file.

    Parameters
    ----------
    path : path-like
        Behaviour-vector HDF5 file.

    Returns
    -------
    pandas.DataFrame, n_windows rows
        Indexed by ``window`` (0, 1, ...), columns ``start_frame``, ``end_frame`` (int64, half-open),
        ``label`` (behaviour name, ``""`` where none), ``partial`` (bool), ``text`` (str), then one float32
        probability column per behaviour. ``df.attrs`` as in :func:`read_vector`.

    Raises
    ------
    mousefear.errors.VectorFileError
        As :func:`read_vector`.
    """
    f, path = _open_checked(path)
    with f:
        attrs = _read_attrs(f)
        behaviors = [str(b) for b in f["behaviors"].asstr()[()]]
        start = f["windows/start_frame"][()].astype(np.int64)
        end = f["windows/end_frame"][()].astype(np.int64)
        label = f["windows/label"][()].astype(np.int16)
        partial = f["windows/partial"][()].astype(bool)
        text = np.asarray(f["windows/text"].asstr()[()], dtype=object).reshape(-1)
        probs = f["windows/probability"][()].astype(np.float32)
    _check_label_range(label, len(behaviors), path, "windows/label")
    names = np.asarray([*behaviors, ""], dtype=object)
    columns: dict[str, Any] = {
        "start_frame": start,
        "end_frame": end,
        "label": pd.Series(names[label], dtype=object),
        "partial": partial,
        "text": pd.Series(text, dtype=object),
    }
    for j, b in enumerate(behaviors):
        columns[b] = probs[:, j]
    df = pd.DataFrame(columns, index=pd.RangeIndex(start.size, name="window"))
    df.attrs.update(attrs)
    df.attrs["behaviors"] = behaviors
    return df


# --------------------------------------------------------------------------------------------------------
# Summaries
# --------------------------------------------------------------------------------------------------------


def summarize_vector(vector: pd.DataFrame, fps: float | None = None) -> pd.DataFrame:
    """Time, share and bouts of each behaviour in a per-frame vector.

    Parameters
    ----------
    vector : pandas.DataFrame
        As returned by :func:`read_vector` (column ``label``; ``attrs["behaviors"]`` lists the classes,
        otherwise the probability columns do).
    fps : float, optional
        Frames per second; default ``vector.attrs["fps"]``.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``behavior`` (every class, in order), columns ``frames`` (int), ``seconds``, ``percent``
        (of the *labelled* frames, i.e. frames whose label is not ``""``; NaN when no frame is labelled),
        ``bouts`` (int, runs of consecutive frames; an unlabelled frame ends a bout) and ``mean_bout_s``
        (NaN without bouts). ``attrs`` holds ``fps``, ``n_frames``, ``labelled_frames``, ``duration_s``
        and ``labelled_s``.
    """
    if fps is None:
        fps = vector.attrs.get("fps")
    if not _positive_number(fps):
        raise ValueError(f"Expected fps to be a positive number, but got {fps!r}")
    fps = float(fps)
    behaviors = list(vector.attrs.get("behaviors", [c for c in vector.columns if c != "label"]))
    codes, _ = _labels_to_codes(vector["label"].to_numpy(dtype=object), behaviors)
    n_frames = int(codes.size)
    frames = np.bincount(codes[codes >= 0], minlength=len(behaviors)).astype(np.int64)
    labelled = int(frames.sum())
    bouts = labels_to_bouts(codes, behaviors)
    n_bouts = (
        bouts.groupby("behavior")["n_frames"].count().reindex(behaviors, fill_value=0).to_numpy(np.int64)
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        percent = 100.0 * frames / labelled if labelled else np.full(len(behaviors), np.nan)
        mean_bout_s = np.where(n_bouts > 0, frames / np.maximum(n_bouts, 1) / fps, np.nan)
    out = pd.DataFrame(
        {
            "frames": frames,
            "seconds": frames / fps,
            "percent": percent,
            "bouts": n_bouts,
            "mean_bout_s": mean_bout_s,
        },
        index=pd.Index(behaviors, name="behavior", dtype=object),
    )
    out.attrs.update(
        fps=fps,
        n_frames=n_frames,
        labelled_frames=labelled,
        duration_s=n_frames / fps,
        labelled_s=labelled / fps,
    )
    return out


def write_run_summary(
    vectors: str | os.PathLike | Sequence[str | os.PathLike], out_path: str | os.PathLike
) -> pd.DataFrame:
    """Summarise every behaviour-vector file of a run into one CSV table, one row per video.

    Parameters
    ----------
    vectors : path-like or sequence of path-like
        A run folder (every ``*.h5`` in it, sorted by name) or a list of behaviour-vector files.
    out_path : path-like
        CSV file to write atomically (usually ``behavior-vectors/<run>/summary.csv``).

    Returns
    -------
    pandas.DataFrame
        The table written: columns ``video_id, subject, session, n_frames, duration_s, labelled_frames,
        labelled_s``, then ``<b>_seconds, <b>_percent, <b>_bouts`` for every behaviour ``b``. Percentages
        are of the labelled frames (``labelled_frames``), not of all frames.

    Raises
    ------
    mousefear.errors.VectorFileError
        A file cannot be read, the files disagree on the behaviours, or there is no file.
    """
    if isinstance(vectors, str | os.PathLike):
        folder = Path(vectors)
        if not folder.is_dir():
            raise VectorFileError(f"Expected a run folder of behaviour vectors, but {folder} is not a folder")
        paths = sorted(folder.glob("*.h5"))
        if not paths:
            raise VectorFileError(f"Expected behaviour-vector files (*.h5) in {folder}, but found none")
    else:
        paths = [Path(p) for p in vectors]
        if not paths:
            raise VectorFileError("Expected at least one behaviour-vector file, but got an empty list")
    rows = []
    behaviors: list[str] | None = None
    first = None
    for p in paths:
        vec = read_vector(p)
        if behaviors is None:
            behaviors, first = vec.attrs["behaviors"], p
        elif vec.attrs["behaviors"] != behaviors:
            raise VectorFileError(
                f"Expected every file to have the behaviours {behaviors} of {first}, "
                f"but {p} has {vec.attrs['behaviors']}"
            )
        s = summarize_vector(vec)
        row: dict[str, Any] = {
            "video_id": vec.attrs["video_id"],
            "subject": vec.attrs["subject"],
            "session": vec.attrs["session"],
            "n_frames": s.attrs["n_frames"],
            "duration_s": s.attrs["duration_s"],
            "labelled_frames": s.attrs["labelled_frames"],
            "labelled_s": s.attrs["labelled_s"],
        }
        for b in behaviors:
            row[f"{b}_seconds"] = s.at[b, "seconds"]
            row[f"{b}_percent"] = s.at[b, "percent"]
            row[f"{b}_bouts"] = int(s.at[b, "bouts"])
        rows.append(row)
    table = pd.DataFrame(rows)
    atomic_write_text(out_path, table.to_csv(index=False, float_format="%.6f", lineterminator="\n"))
    logger.info("Wrote run summary %s (%d videos)", out_path, len(rows))
    return table


# --------------------------------------------------------------------------------------------------------
# Runs of a project
# --------------------------------------------------------------------------------------------------------


def list_runs(config: str | os.PathLike) -> list[str]:
    """Names of the runs of a project that have behaviour-vector files (``behavior-vectors/<run>/*.h5``).

    Parameters
    ----------
    config
        Path of config.yaml or the project folder.

    Returns
    -------
    list of str
        Run names (folder names), sorted by name; empty when there is none.
    """
    base = _config.project_root(config) / "behavior-vectors"
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir()
                  if p.is_dir() and not p.name.startswith(".") and any(p.glob("*.h5")))


def _newest_mtime(folder: Path) -> float:
    return max((p.stat().st_mtime for p in folder.glob("*.h5")), default=0.0)


def select_run(config: str | os.PathLike, run: str | None = None, cfg: Mapping | None = None) -> str:
    """The run a command works on when the user names one or none: the one rule of every command.

    ``run`` given: that run (it must have behaviour-vector files). ``run=None``: ``classification.run`` of
    config.yaml when it is set (an error if that run has no vector files); otherwise the only run of the
    project; otherwise the run whose vector files were written last (logged, ties to the later name).

    Parameters
    ----------
    config
        Path of config.yaml or the project folder.
    run
        Run name (a folder of ``behavior-vectors/``), or None.
    cfg
        The loaded config (read from ``config`` when not given and needed).

    Returns
    -------
    str
        The run name; its files are in ``behavior-vectors/<run>/``.

    Raises
    ------
    ProjectError
        ``run`` (or ``classification.run``) is not a run of the project; the message lists the runs.
    VectorFileError
        The project has no run with behaviour-vector files, or the named run's folder has none.
    """
    base = _config.project_root(config) / "behavior-vectors"
    runs = list_runs(config)
    if run is not None:
        if run in runs:
            return run
        if (base / run).is_dir():
            raise VectorFileError(f"{base / run}: run {run!r} has no behaviour-vector files (*.h5); classify "
                                  "the videos first (mousefear.classify_videos)")
        raise ProjectError(f"Expected a run among {runs or 'none'} (folders of {base}), but got {run!r}")
    if not runs:
        raise VectorFileError(f"{base}: no run with behaviour-vector files (*.h5) in this project; classify "
                              "the videos first (mousefear.classify_videos)")
    cfg = _config.load_config(config) if cfg is None else cfg
    configured = (cfg.get("classification") or {}).get("run")
    if configured:
        if configured not in runs:
            raise ProjectError(f"{_config.config_path(config)}: classification.run is {configured!r}, which has no "
                               f"behaviour vectors; available runs: {runs}. Pass run= to choose one.")
        return str(configured)
    if len(runs) == 1:
        return runs[0]
    newest = max(runs, key=lambda r: (_newest_mtime(base / r), r))
    logger.info("Several runs (%s) and classification.run is null: using the newest, %s", ", ".join(runs), newest)
    return newest
