"""The behaviour-vector file format: one HDF5 file per video with a CSV twin (write, check, read).

Frame ranges are half-open (:mod:`mousefear.core.intervals`): a window ``[start_frame, end_frame)`` covers frames
``start_frame .. end_frame - 1``. Frames are counted from 0. This module only reads and writes files; what goes
into them is decided by the pipeline (:mod:`mousefear.pipeline.classify`).

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

Optional dataset ``windows/decided_by`` ((n_windows,) utf-8 str): which path decided each window, in a run that
combines several (the hybrid backend: ``motion`` or the model backend's name); without it the run's backend decided
every window.

Optional group ``measurements/`` (video backends that measure something per frame, such as the motion
detector): one dataset per measurement, ``measurements/<name>`` of shape (n_frames,), float32 (NaN where not
measured), gzip-compressed, with the attributes ``dims`` (``["frames"]``), ``unit`` (``"1"`` for a fraction or a
flag, ``"pixel"``, ``"pixel^2"``, ``"body_lengths/s"``, ...) and ``description``; the group's attribute
``measurement`` (JSON text) holds what besides the arrays a decision needs (the method, fps, lag, ...). Files
without the group are read as before; an older reader ignores the group, so ``format_version`` stays 1.

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

import datetime as _dt
import io
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

from mousefear._io import atomic_path, atomic_write_text
from mousefear._version import __version__
from mousefear.core.intervals import check_count, check_probabilities, check_windows, windows_to_frames
from mousefear.errors import VectorFileError
from mousefear.formats.measurements import (
    MEASUREMENTS_GROUP,
    check_measurements,
    measurement_table,
    read_measurements,
    write_measurements,
)

__all__ = [
    "FORMAT",
    "MEASUREMENTS_GROUP",
    "FORMAT_VERSION",
    "REQUIRED_ATTRS",
    "read_vector",
    "read_vector_measurements",
    "read_vector_windows",
    "measurement_table",
    "vector_csv_path",
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
#: Datasets a file may have (a reader without them reads the file as before).
_OPTIONAL_DATASETS: dict[str, tuple[tuple[str, ...], str]] = {
    "windows/decided_by": (("windows",), "which path decided each window (motion, or the model's backend)"),
}


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
    dims, description = {**_DATASETS, **_OPTIONAL_DATASETS}[name]
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
    measurements: pd.DataFrame | None = None,
    decided_by: Sequence[str] | None = None,
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
    measurements : pandas.DataFrame, optional
        Per-frame measurements behind the decisions (the optional ``measurements/`` group), as made by
        :func:`measurement_table` or returned by :func:`read_vector_measurements`: n_frames rows, one numeric
        column per measurement (stored as float32), ``attrs["units"]`` and ``attrs["descriptions"]`` (name ->
        str for every column) and ``attrs["measurement"]`` (a JSON-serialisable dict). Default: no group.
    decided_by : sequence of str, length n_windows, optional
        Which path decided each window (a run that combines several: ``motion`` or the model backend's name).
        Default: no ``windows/decided_by`` dataset (the run's backend decided every window).

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
        n_frames = check_count(n_frames, "n_frames")
        start, end, probs = check_windows(start_frame, end_frame, probabilities, n_frames, len(names))
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
            fprobs = check_probabilities(frame_probabilities, n_frames, len(names), "frame_probabilities")
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
        measured = None if measurements is None else check_measurements(measurements, n_frames)
        if decided_by is not None:
            decided = list(decided_by)
            if len(decided) != n_windows or not all(isinstance(d, str) and d for d in decided):
                raise ValueError(f"Expected decided_by to be {n_windows} non-empty strings, but got {len(decided)} "
                                 "items")
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
    if decided_by is not None:
        datasets["windows/decided_by"] = (np.asarray(decided, dtype=object).reshape(n_windows), str_dt)
    csv_text = None
    if csv:
        frames_df = _frames_dataframe(names, flabel, fprobs)
        frames_df.attrs["behaviors"] = names
        csv_text = _csv_text(frames_df)
    # The HDF5 file is built in memory and its bytes written out like the CSV's: a full disk then raises a Python
    # error naming the file (the HDF5 library itself may crash when a write fails under it). Both go to temporary
    # names; the CSV is renamed into place first, then the HDF5 file (whose presence marks a finished video). A
    # failure while writing leaves no new file behind.
    h5_bytes = _h5_bytes(datasets, file_attrs, created_str, measured)
    with atomic_path(path) as tmp_h5:
        with open(tmp_h5, "wb") as fh:
            fh.write(h5_bytes)
            fh.flush()
            os.fsync(fh.fileno())
        if csv:
            atomic_write_text(vector_csv_path(path), csv_text)
    logger.info("Wrote behaviour vector %s (%d windows, %d frames)", path, n_windows, n_frames)
    return path


def _h5_bytes(datasets: dict[str, tuple[np.ndarray, Any]], file_attrs: dict[str, Any], created_str: str,
              measured: dict[str, Any] | None = None) -> bytes:
    """The HDF5 file (datasets as ``name: (array, dtype or None)``, and the measurements group when given), built
    in memory."""
    json_keys = sorted(k for k, v in file_attrs.items() if isinstance(v, list | dict) or v is None)
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
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
        if measured is not None:
            write_measurements(f, measured)
    return buffer.getvalue()


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
        for name, (dims, _) in {**_DATASETS, **_OPTIONAL_DATASETS}.items():
            expected = tuple(want[d] for d in dims)
            if name in _OPTIONAL_DATASETS and not isinstance(f.get(name), h5py.Dataset):
                continue
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
        ``label`` (behaviour name, ``""`` where none), ``partial`` (bool), ``text`` (str), ``decided_by`` (str;
        only in a file that has ``windows/decided_by``), then one float32 probability column per behaviour.
        ``df.attrs`` as in :func:`read_vector`.

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
        decided = (np.asarray(f["windows/decided_by"].asstr()[()], dtype=object).reshape(-1)
                   if "windows/decided_by" in f else None)
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
    if decided is not None:
        columns["decided_by"] = pd.Series(decided, dtype=object)
    for j, b in enumerate(behaviors):
        columns[b] = probs[:, j]
    df = pd.DataFrame(columns, index=pd.RangeIndex(start.size, name="window"))
    df.attrs.update(attrs)
    df.attrs["behaviors"] = behaviors
    return df


def read_vector_measurements(path: str | os.PathLike, missing_ok: bool = False) -> pd.DataFrame | None:
    """Read the per-frame measurements of a behaviour-vector file (the optional ``measurements/`` group).

    Parameters
    ----------
    path : path-like
        Behaviour-vector HDF5 file.
    missing_ok : bool, default False
        Return None for a file without measurements instead of raising.

    Returns
    -------
    pandas.DataFrame or None, n_frames rows
        Indexed by ``frame``, one float32 column per measurement (NaN where not measured), in the written order.
        ``df.attrs``: ``units`` and ``descriptions`` (name -> str), ``measurement`` (dict: what besides the
        arrays the decision needs, e.g. the method, fps and lag of the motion detector) and ``file`` (every
        file attribute, as in :func:`read_vector`).

    Raises
    ------
    mousefear.errors.VectorFileError
        As :func:`read_vector`; also when the file has no measurements (unless ``missing_ok``) or a measurement
        of another length than the video.
    """
    f, path = _open_checked(path)
    with f:
        return read_measurements(f, _read_attrs(f), path, missing_ok)
