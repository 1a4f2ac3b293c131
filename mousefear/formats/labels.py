"""The canonical label file: ``labels/<video_id>.csv``, one row per frame (read, format, write).

Header ``frame,behavior``; one row per frame of the video, frames ``0 .. n_frames - 1`` in order; an empty
behaviour means the frame is not labelled.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mousefear._io import atomic_write_text
from mousefear.errors import LabelError

__all__ = ["LABEL_HEADER", "format_label_file", "read_label_file", "write_label_file"]

LABEL_HEADER = ("frame", "behavior")


def read_label_file(path: str | os.PathLike, behaviors: Sequence[str], n_frames: int | None = None) -> np.ndarray:
    """Read a canonical label file.

    Parameters
    ----------
    path
        ``labels/<video_id>.csv``.
    behaviors
        The project's behaviour names; any other name is an error.
    n_frames
        Frame count of the video (counted by decoding); the file must have exactly this many rows.

    Returns
    -------
    np.ndarray
        (n_frames,) object array of behaviour names, ``""`` where a frame is not labelled.

    Raises
    ------
    LabelError
        Naming the file and row: wrong header, frames missing or out of order, unknown behaviour, frame count
        that does not match the video.
    """
    path = Path(path)
    if not path.is_file():
        raise LabelError(f"{path}: no such label file")
    known = set(behaviors)
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None or tuple(h.strip() for h in header) != LABEL_HEADER:
            raise LabelError(f"{path}: Expected the header 'frame,behavior', but got {','.join(header or [])!r}")
        out: list[str] = []
        for row_no, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != 2:
                raise LabelError(f"{path}, row {row_no}: Expected 2 columns (frame,behavior), but got {len(row)}")
            frame_s, behavior = row[0].strip(), row[1].strip()
            if frame_s != str(len(out)):
                raise LabelError(f"{path}, row {row_no}: Expected frame {len(out)}, but got {frame_s!r} "
                                 "(one row per frame, in order, starting at 0)")
            if behavior and behavior not in known:
                raise LabelError(f"{path}, row {row_no}: unknown behaviour {behavior!r} (the project's behaviours: "
                                 f"{', '.join(behaviors)})")
            out.append(behavior)
    if n_frames is not None and len(out) != n_frames:
        raise LabelError(f"{path}: {len(out)} frames labelled, but the video has {n_frames} frames")
    return np.array(out, dtype=object)


def format_label_file(labels: Sequence[str] | np.ndarray) -> str:
    """Text of a canonical label file for per-frame ``labels`` (names, ``""`` or None for unlabelled)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(LABEL_HEADER)
    for i, b in enumerate(labels):
        w.writerow((i, "" if b is None or (isinstance(b, float) and np.isnan(b)) else str(b)))
    return buf.getvalue()


def write_label_file(path: str | os.PathLike, labels: Sequence[str] | np.ndarray, behaviors: Sequence[str]) -> Path:
    """Write a canonical label file atomically.

    Parameters
    ----------
    path
        Destination, ``labels/<video_id>.csv``.
    labels
        (n_frames,) behaviour names per frame, ``""`` (or None) where not labelled.
    behaviors
        The project's behaviour names; any other name is refused before anything is written.
    """
    known = set(behaviors)
    for i, b in enumerate(labels):
        if b and isinstance(b, str) and b not in known:
            raise LabelError(f"{path}: unknown behaviour {b!r} at frame {i} (the project's behaviours: "
                             f"{', '.join(behaviors)})")
    atomic_write_text(path, format_label_file(labels))
    return Path(path)
