"""Per-frame measurements inside a behaviour-vector file: the optional group ``measurements/``.

Read and written through :mod:`mousefear.formats.vectors` (:func:`~mousefear.formats.vectors.write_vector` with
``measurements=``, :func:`~mousefear.formats.vectors.read_vector_measurements`); this module holds the group's
layout. One dataset per measurement, ``measurements/<name>`` of shape (n_frames,), float32 (NaN where not
measured), gzip-compressed, with the attributes ``dims`` (``["frames"]``), ``unit`` and ``description``; the
group's attribute ``measurement`` (JSON text) holds what besides the arrays a decision needs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd

from mousefear.errors import VectorFileError

__all__ = ["MEASUREMENTS_GROUP", "check_measurements", "measurement_table", "read_measurements",
           "write_measurements"]

MEASUREMENTS_GROUP = "measurements"
"""Name of the optional group of per-frame measurements."""

_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def measurement_table(
    arrays: Mapping[str, Any],
    units: Mapping[str, tuple[str, str]],
    measurement: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Per-frame measurements as :func:`~mousefear.formats.vectors.write_vector` takes them.

    Parameters
    ----------
    arrays
        name -> (n_frames,) numeric array, the same length for all.
    units
        name -> ``(unit, description)`` for every name of ``arrays``.
    measurement
        What besides the arrays a decision needs (JSON-serialisable), kept as ``attrs["measurement"]``.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``frame``, one float32 column per measurement in the order of ``arrays``; ``attrs``:
        ``units``, ``descriptions`` (name -> str) and ``measurement`` (dict).
    """
    missing = [k for k in arrays if k not in units]
    if missing:
        raise ValueError(f"Expected a unit and description for every measurement, but got none for {missing}")
    df = pd.DataFrame({k: np.asarray(v, dtype=np.float32).reshape(-1) for k, v in arrays.items()})
    df.index = pd.RangeIndex(len(df), name="frame")
    df.attrs["units"] = {k: str(units[k][0]) for k in arrays}
    df.attrs["descriptions"] = {k: str(units[k][1]) for k in arrays}
    df.attrs["measurement"] = dict(measurement or {})
    return df


def check_measurements(table: Any, n_frames: int) -> dict[str, Any]:
    """Check a table of :func:`measurement_table` for a video of ``n_frames`` frames (ValueError naming the
    problem); returns the float32 ``arrays``, ``units``, ``descriptions`` and the ``meta`` as JSON text."""
    if not isinstance(table, pd.DataFrame):
        raise ValueError(f"Expected measurements to be a DataFrame, but got {type(table).__name__}")
    if len(table) != n_frames:
        raise ValueError(f"Expected measurements of {n_frames} frames, but got {len(table)} rows")
    units, desc = table.attrs.get("units", {}), table.attrs.get("descriptions", {})
    arrays = {}
    for name in table.columns:
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValueError(f"Expected measurement names of letters, digits, '_', '.', '-', but got {name!r}")
        if not isinstance(units.get(name), str) or not isinstance(desc.get(name), str):
            raise ValueError(f"Expected a unit and a description of measurement {name!r}, but it has none")
        values = np.asarray(table[name])
        if values.dtype.kind not in "biuf":
            raise ValueError(f"Expected numeric measurement {name!r}, but got {values.dtype}")
        arrays[name] = values.astype(np.float32)
    meta = table.attrs.get("measurement", {})
    try:
        meta_text = json.dumps(meta, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"Expected measurements.attrs['measurement'] to be JSON, but got {meta!r}") from exc
    return {"arrays": arrays, "units": units, "descriptions": desc, "meta": meta_text}


def write_measurements(f: h5py.File, checked: dict[str, Any]) -> None:
    """Write the group from the output of :func:`check_measurements` into an open file."""
    group = f.create_group(MEASUREMENTS_GROUP, track_order=True)  # columns keep their order
    group.attrs["measurement"] = checked["meta"]
    str_dt = h5py.string_dtype("utf-8")
    for name, data in checked["arrays"].items():
        ds = group.create_dataset(name, data=data, compression="gzip", compression_opts=4)
        ds.attrs["dims"] = np.asarray(["frames"], dtype=str_dt)
        ds.attrs["unit"] = checked["units"][name]
        ds.attrs["description"] = checked["descriptions"][name]


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def read_measurements(f: h5py.File, attrs: dict[str, Any], path: Path, missing_ok: bool) -> pd.DataFrame | None:
    """The group of an open, checked behaviour-vector file as a DataFrame (see
    :func:`~mousefear.formats.vectors.read_vector_measurements`); ``attrs``: the file's attributes."""
    group = f.get(MEASUREMENTS_GROUP)
    if not isinstance(group, h5py.Group):
        if missing_ok:
            return None
        raise VectorFileError(f"{path} has no per-frame measurements (group {MEASUREMENTS_GROUP}/): it was made "
                              f"by the {attrs.get('backend')!r} backend, which stores none, or by an older "
                              "mousefear; classify the video again with the motion backend to get them")
    n_f = int(attrs["n_frames"])
    columns, units, desc = {}, {}, {}
    for name, ds in group.items():
        if not isinstance(ds, h5py.Dataset) or ds.shape != (n_f,):
            raise VectorFileError(f"Expected {MEASUREMENTS_GROUP}/{name} of {path} to have shape ({n_f},) "
                                  f"(frames), but got {getattr(ds, 'shape', 'a group')}")
        columns[name] = ds[()].astype(np.float32)
        units[name] = _text(ds.attrs.get("unit", ""))
        desc[name] = _text(ds.attrs.get("description", ""))
    try:
        meta = json.loads(_text(group.attrs.get("measurement", "{}")))
    except ValueError as exc:
        raise VectorFileError(f"{path}: the attribute measurement of {MEASUREMENTS_GROUP}/ is not JSON "
                              f"({exc})") from None
    df = pd.DataFrame(columns, index=pd.RangeIndex(n_f, name="frame"))
    df.attrs.update({"units": units, "descriptions": desc, "measurement": meta, "file": attrs})
    return df
