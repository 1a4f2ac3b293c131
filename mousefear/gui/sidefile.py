"""Side files of the pages: small CSV tables with a fixed header (labelling state, corrections).

Read and written whole: :func:`read_rows` checks the header and the number of columns of every row (blank
rows are skipped), :func:`format_rows` gives the text the pages write atomically.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from mousefear.errors import LabelError


def read_rows(path: str | os.PathLike, header: Sequence[str]) -> list[tuple[int, list[str]]]:
    """The rows of a side file with the given header, as ``(row number, cells)`` (empty when there is no file).

    Parameters
    ----------
    path
        The CSV file (UTF-8).
    header
        Its expected column names, in order.

    Returns
    -------
    list of (int, list of str)
        Row number in the file (the header is row 1) and the cells of every non-blank row, in file order.

    Raises
    ------
    LabelError
        The file has another header or a row with another number of columns; the message names file and row.
    """
    path = Path(path)
    if not path.is_file():
        return []
    header = tuple(header)
    rows: list[tuple[int, list[str]]] = []
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        found = next(reader, None)
        if found is None or tuple(found) != header:
            raise LabelError(f"{path}: Expected the header {','.join(header)!r}, but got {','.join(found or [])!r}")
        for row_no, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != len(header):
                raise LabelError(f"{path}, row {row_no}: Expected {len(header)} columns ({','.join(header)}), "
                                 f"but got {len(row)}")
            rows.append((row_no, row))
    return rows


def format_rows(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """Text of a side file: ``header`` then ``rows`` (CSV, ``\\n`` line ends)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()
