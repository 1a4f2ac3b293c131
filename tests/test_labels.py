"""Canonical label files: exact contents, round trip, errors naming file and row."""

from __future__ import annotations

import numpy as np
import pytest

from mousefear.errors import LabelError
from mousefear.labels import read_label_file, write_label_file

BEHAVIORS = ["freezing", "exploring", "grooming", "rearing", "fleeing"]


def test_write_exact_contents_and_read_back(tmp_path):
    path = tmp_path / "labels" / "m1.csv"
    write_label_file(path, ["freezing", "", None, "fleeing"], BEHAVIORS)
    assert path.read_text() == "frame,behavior\n0,freezing\n1,\n2,\n3,fleeing\n"
    got = read_label_file(path, BEHAVIORS, n_frames=4)
    assert got.tolist() == ["freezing", "", "", "fleeing"] and got.dtype == object


@pytest.mark.parametrize(
    "text, message",
    [
        ("frame,label\n0,freezing\n", "Expected the header 'frame,behavior', but got 'frame,label'"),
        ("frame,behavior\n0,freezing\n2,freezing\n", r"row 3: Expected frame 1, but got '2'"),
        ("frame,behavior\n0,freezing\n1,sleeping\n", r"row 3: unknown behaviour 'sleeping'"),
        ("frame,behavior\n0,freezing,x\n", r"row 2: Expected 2 columns"),
        ("frame,behavior\n0,freezing\n", "1 frames labelled, but the video has 3 frames"),
    ],
)
def test_read_errors_name_file_and_row(tmp_path, text, message):
    path = tmp_path / "m1.csv"
    path.write_text(text)
    with pytest.raises(LabelError, match=message) as err:
        read_label_file(path, BEHAVIORS, n_frames=3 if "video has" in message else None)
    assert str(path) in str(err.value)


def test_write_refuses_unknown_behaviour_and_writes_nothing(tmp_path):
    path = tmp_path / "m1.csv"
    with pytest.raises(LabelError, match="unknown behaviour 'sleeping' at frame 1"):
        write_label_file(path, np.array(["freezing", "sleeping"], dtype=object), BEHAVIORS)
    assert not path.exists() and list(tmp_path.iterdir()) == []
