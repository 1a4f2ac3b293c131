"""Tests for mousefear.formats.vectors and core.intervals: bouts, window -> frame expansion, HDF5 + CSV files
(the summaries of a vector are tested in test_summary.py)."""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import os
import re

import h5py
import numpy as np
import pandas as pd
import pytest

from mousefear._version import __version__
from mousefear.core.intervals import bouts_to_labels, labels_to_bouts, windows_to_frames
from mousefear.errors import FileWriteError, LabelError, VectorFileError
from mousefear.formats import vectors
from mousefear.formats.vectors import (
    FORMAT,
    FORMAT_VERSION,
    read_vector,
    read_vector_windows,
    vector_csv_path,
    write_vector,
    write_vector_csv,
)

BEHAVIORS = ["freezing", "exploring", "grooming"]
CREATED = "2026-11-23T10:00:00Z"


def make_attrs(**overrides):
    attrs = {
        "video_id": "m1_day1",
        "subject": "m1",
        "session": "day1",
        "video_sha256": "ab" * 32,
        "fps": 2.0,
        "n_frames": 6,
        "run": "qwen3b",
        "backend": "transformers",
        "model_id": "Qwen/Qwen2.5-VL-3B-Instruct",
        "model_revision": "main",
        "prompt_hash": "deadbeef",
        "icl_example_ids": ["ex_freezing_01", "ex_exploring_07"],
        "preprocessing": {"resize": [224, 224], "grayscale": True},
        "seed": 7,
    }
    attrs.update(overrides)
    return attrs


def make_vector_kwargs(**overrides):
    """Three one-second windows (fps 2) over 6 frames; the middle answer was unparseable (NaN)."""
    kwargs = {
        "behaviors": BEHAVIORS,
        "start_frame": np.array([0, 2, 4]),
        "end_frame": np.array([2, 4, 6]),
        "probabilities": np.array([[0.7, 0.2, 0.1], [np.nan, np.nan, np.nan], [0.1, 0.6, 0.3]]),
        "n_frames": 6,
        "attrs": make_attrs(),
        "text": ["freezing", "uh?", None],
        "partial": np.array([False, False, True]),
        "created": CREATED,
    }
    kwargs.update(overrides)
    return kwargs


# --------------------------------------------------------------------------------------------------------
# Bouts <-> labels
# --------------------------------------------------------------------------------------------------------


def test_labels_to_bouts_names_skip_unlabelled_runs():
    labels = np.array(["freezing", "freezing", "", None, "exploring", np.nan, "freezing"], dtype=object)
    bouts = labels_to_bouts(labels)
    assert bouts["behavior"].tolist() == ["freezing", "exploring", "freezing"]
    assert bouts["start_frame"].tolist() == [0, 4, 6]
    assert bouts["end_frame"].tolist() == [2, 5, 7]
    assert bouts["n_frames"].tolist() == [2, 1, 1]
    assert bouts["start_frame"].dtype == np.int64


def test_labels_to_bouts_integer_indices():
    bouts = labels_to_bouts(np.array([-1, 2, 2, 0, -1, -1]), behaviors=BEHAVIORS)
    assert bouts[["behavior", "start_frame", "end_frame"]].values.tolist() == [
        ["grooming", 1, 3],
        ["freezing", 3, 4],
    ]


def test_labels_to_bouts_empty_and_all_unlabelled():
    assert list(labels_to_bouts(np.array([], dtype=object)).columns) == [
        "behavior",
        "start_frame",
        "end_frame",
        "n_frames",
    ]
    assert len(labels_to_bouts(np.array(["", ""], dtype=object))) == 0
    assert len(labels_to_bouts(np.array([-1, -1]), behaviors=BEHAVIORS)) == 0


def test_labels_to_bouts_errors():
    with pytest.raises(ValueError, match="behaviors"):
        labels_to_bouts(np.array([0, 1]))
    with pytest.raises(LabelError, match="Expected class indices in \\[-1, 3\\), but got 3 at frame 1"):
        labels_to_bouts(np.array([0, 3]), behaviors=BEHAVIORS)
    with pytest.raises(LabelError, match="unknown \\['sleeping'\\]"):
        labels_to_bouts(np.array(["freezing", "sleeping"], dtype=object), behaviors=BEHAVIORS)


def test_bouts_to_labels_basic():
    bouts = pd.DataFrame({"behavior": ["exploring", "freezing"], "start_frame": [3, 0], "end_frame": [5, 2]})
    assert bouts_to_labels(bouts, 6).tolist() == ["freezing", "freezing", "", "exploring", "exploring", ""]


@pytest.mark.parametrize(
    ("starts", "ends", "match"),
    [
        ([0, 2], [3, 4], "overlap"),
        ([0], [7], "0 <= start_frame < end_frame <= 6"),
        ([-1], [2], "0 <= start_frame"),
        ([3], [3], "but got \\[3, 3\\)"),
    ],
)
def test_bouts_to_labels_refuses_bad_bouts(starts, ends, match):
    bouts = pd.DataFrame({"behavior": ["freezing"] * len(starts), "start_frame": starts, "end_frame": ends})
    with pytest.raises(LabelError, match=match):
        bouts_to_labels(bouts, 6)


@pytest.mark.parametrize("seed", range(20))
def test_bouts_round_trip_random(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 60))
    # runs of random length so that bouts are longer than one frame
    codes = np.repeat(rng.integers(-1, 3, size=n), rng.integers(1, 5, size=n))
    names = np.array([*BEHAVIORS, ""], dtype=object)[codes]
    bouts = labels_to_bouts(names)
    assert (bouts["n_frames"] > 0).all()
    assert (bouts["behavior"].to_numpy()[1:] != bouts["behavior"].to_numpy()[:-1])[
        bouts["start_frame"].to_numpy()[1:] == bouts["end_frame"].to_numpy()[:-1]
    ].all(), "adjacent bouts must differ"
    assert bouts_to_labels(bouts, codes.size).tolist() == names.tolist()
    by_index = labels_to_bouts(codes, behaviors=BEHAVIORS)
    pd.testing.assert_frame_equal(by_index, bouts)
    # and bouts -> labels -> bouts
    pd.testing.assert_frame_equal(labels_to_bouts(bouts_to_labels(bouts, codes.size)), bouts)


# --------------------------------------------------------------------------------------------------------
# Windows -> frames
# --------------------------------------------------------------------------------------------------------


def test_windows_to_frames_overlapping_hand_computed():
    # windows [0,4) and [2,6) (stride 2 < length 4) plus [6,7); frame 7 is covered by nothing
    probs, label = windows_to_frames([0, 2, 6], [4, 6, 7], [[1.0, 0.0], [0.5, 0.5], [0.2, 0.8]], n_frames=8)
    expected = np.array(
        [
            [1.0, 0.0],
            [1.0, 0.0],
            [0.75, 0.25],
            [0.75, 0.25],
            [0.5, 0.5],
            [0.5, 0.5],
            [0.2, 0.8],
            [np.nan, np.nan],
        ]
    )
    assert probs.dtype == np.float32 and probs.shape == (8, 2)
    assert label.dtype == np.int16
    np.testing.assert_allclose(probs, expected, atol=1e-7)
    assert label.tolist() == [0, 0, 0, 0, 0, 0, 1, -1]  # tie at frames 4-5 -> first class


def test_windows_to_frames_ignores_nan_windows():
    probs, label = windows_to_frames([0, 1], [2, 3], [[np.nan, np.nan], [0.0, 1.0]], n_frames=4)
    assert np.isnan(probs[0]).all() and np.isnan(probs[3]).all()
    np.testing.assert_array_equal(probs[1:3], [[0.0, 1.0], [0.0, 1.0]])
    assert label.tolist() == [-1, 1, 1, -1]


def test_windows_to_frames_no_windows():
    probs, label = windows_to_frames(
        np.array([], dtype=np.int64), np.array([], dtype=np.int64), np.empty((0, 3)), n_frames=3
    )
    assert probs.shape == (3, 3) and np.isnan(probs).all()
    assert label.tolist() == [-1, -1, -1]


def test_windows_to_frames_matches_naive_loop():
    rng = np.random.default_rng(0)
    n_frames, n_b = 97, 4
    start = rng.integers(0, n_frames - 1, size=40)
    end = np.minimum(start + rng.integers(1, 15, size=40), n_frames)
    p = rng.dirichlet(np.ones(n_b), size=40)
    p[rng.random(40) < 0.2] = np.nan
    got, got_label = windows_to_frames(start, end, p, n_frames)
    for f in range(n_frames):
        rows = [p[i] for i in range(40) if start[i] <= f < end[i] and not np.isnan(p[i]).any()]
        if rows:
            np.testing.assert_allclose(got[f], np.mean(rows, axis=0), rtol=1e-6, atol=1e-7)
            assert got_label[f] == np.argmax(got[f])
        else:
            assert np.isnan(got[f]).all() and got_label[f] == -1


@pytest.mark.parametrize(
    ("start", "end", "probs", "match"),
    [
        ([0], [0], [[1.0, 0.0]], "window 0 is \\[0, 0\\)"),
        ([0], [5], [[1.0, 0.0]], "end_frame <= n_frames=4"),
        ([0], [2], [[0.6, 0.6]], "sum to 1"),
        ([0], [2], [[1.5, -0.5]], "in \\[0, 1\\]"),
        ([0], [2], [[np.nan, 1.0]], "partly NaN"),
        ([0, 1], [2], [[1.0, 0.0]], "equal length"),
    ],
)
def test_windows_to_frames_validation(start, end, probs, match):
    with pytest.raises(ValueError, match=match):
        windows_to_frames(start, end, probs, n_frames=4)


# --------------------------------------------------------------------------------------------------------
# Writing and reading
# --------------------------------------------------------------------------------------------------------


def test_write_read_round_trip(tmp_path):
    path = write_vector(tmp_path / "run" / "m1_day1.h5", **make_vector_kwargs())
    assert path == tmp_path / "run" / "m1_day1.h5"
    df = read_vector(path)

    assert df.index.name == "frame" and df.index.tolist() == list(range(6))
    assert list(df.columns) == ["label", *BEHAVIORS]
    assert df["label"].tolist() == ["freezing", "freezing", "", "", "exploring", "exploring"]
    expected = np.array([[0.7, 0.2, 0.1]] * 2 + [[np.nan] * 3] * 2 + [[0.1, 0.6, 0.3]] * 2, dtype=np.float32)
    np.testing.assert_array_equal(df[BEHAVIORS].to_numpy(), expected)
    assert (df[BEHAVIORS].dtypes == np.float32).all()

    attrs = make_attrs()
    for key, value in attrs.items():
        assert df.attrs[key] == value, key
        assert type(df.attrs[key]) is type(value), key
    assert df.attrs["format"] == FORMAT
    assert df.attrs["format_version"] == FORMAT_VERSION
    assert df.attrs["mousefear_version"] == __version__
    assert df.attrs["created"] == CREATED
    assert df.attrs["behaviors"] == BEHAVIORS
    assert "json_attrs" not in df.attrs

    win = read_vector_windows(path)
    assert win.index.name == "window"
    assert list(win.columns) == ["start_frame", "end_frame", "label", "partial", "text", *BEHAVIORS]
    assert win["start_frame"].tolist() == [0, 2, 4] and win["end_frame"].tolist() == [2, 4, 6]
    assert win["label"].tolist() == ["freezing", "", "exploring"]
    assert win["partial"].tolist() == [False, False, True]
    assert win["text"].tolist() == ["freezing", "uh?", ""]
    np.testing.assert_array_equal(
        win[BEHAVIORS].to_numpy(), make_vector_kwargs()["probabilities"].astype(np.float32)
    )
    assert win.attrs["video_id"] == "m1_day1"


def test_file_layout_is_self_describing(tmp_path):
    path = write_vector(tmp_path / "v.h5", **make_vector_kwargs())
    with h5py.File(path, "r") as f:
        layout = {name: (f[name].shape, f[name].dtype) for name in vectors._DATASETS}
        assert layout["windows/label"] == ((3,), np.dtype(np.int16))
        assert f["windows/label"][()].tolist() == [0, -1, 1]
        assert layout["windows/start_frame"] == ((3,), np.dtype(np.int64))
        assert layout["windows/probability"] == ((3, 3), np.dtype(np.float32))
        assert layout["windows/partial"] == ((3,), np.dtype(bool))
        assert layout["frames/label"] == ((6,), np.dtype(np.int16))
        assert layout["frames/probability"] == ((6, 3), np.dtype(np.float32))
        assert h5py.check_string_dtype(f["behaviors"].dtype).encoding == "utf-8"
        assert h5py.check_string_dtype(f["windows/text"].dtype).encoding == "utf-8"
        assert f["frames/probability"].compression == "gzip"
        assert list(f["frames/probability"].attrs["dims"]) == ["frames", "behaviors"]
        for name in vectors._DATASETS:
            assert f[name].attrs["description"]
            assert len(f[name].attrs["dims"]) == f[name].ndim
        assert f.attrs["preprocessing"] == '{"grayscale": true, "resize": [224, 224]}'
        assert f.attrs["fps"] == 2.0 and f.attrs["n_frames"] == 6


def test_same_inputs_give_identical_files(tmp_path):
    a = write_vector(tmp_path / "a" / "v.h5", **make_vector_kwargs())
    b = write_vector(tmp_path / "b" / "v.h5", **make_vector_kwargs())
    digest = [hashlib.sha256(p.read_bytes()).hexdigest() for p in (a, b)]
    assert digest[0] == digest[1]


def test_created_defaults_to_now_utc(tmp_path):
    kwargs = make_vector_kwargs()
    del kwargs["created"]
    before = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)  # noqa: UP017
    created = read_vector(write_vector(tmp_path / "v.h5", **kwargs)).attrs["created"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", created)
    assert dt.datetime.fromisoformat(created.replace("Z", "+00:00")) >= before


def test_csv_twin_exact_contents(tmp_path):
    kwargs = make_vector_kwargs(
        behaviors=["freezing", "exploring"],
        start_frame=[0, 2],
        end_frame=[2, 3],
        probabilities=[[0.25, 0.75], [1.0, 0.0]],
        n_frames=4,
        attrs=make_attrs(n_frames=4),
        text=None,
        partial=None,
    )
    path = write_vector(tmp_path / "v.h5", **kwargs)
    assert vector_csv_path(path) == tmp_path / "v.csv"
    assert (tmp_path / "v.csv").read_text(encoding="utf-8") == (
        "frame,label,freezing,exploring\n"
        "0,exploring,0.250000,0.750000\n"
        "1,exploring,0.250000,0.750000\n"
        "2,freezing,1.000000,0.000000\n"
        "3,,,\n"
    )
    # the standalone writer gives the same text from what read_vector returns
    write_vector_csv(tmp_path / "again.csv", read_vector(path))
    assert (tmp_path / "again.csv").read_bytes() == (tmp_path / "v.csv").read_bytes()


def test_csv_twin_can_be_skipped(tmp_path):
    write_vector(tmp_path / "v.h5", **make_vector_kwargs(), csv=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.h5"]


def test_explicit_frame_arrays_are_stored_as_given(tmp_path):
    frame_probs = np.eye(3)[[0, 0, 1, 1, 2, 2]].astype(np.float32)
    frame_probs[5] = np.nan
    frame_label = np.array([0, 0, 1, 1, 2, -1])
    path = write_vector(
        tmp_path / "v.h5",
        **make_vector_kwargs(
            attrs=make_attrs(backend="motion", model_id="", model_revision="", prompt_hash="")
        ),
        frame_probabilities=frame_probs,
        frame_label=frame_label,
    )
    df = read_vector(path)
    np.testing.assert_array_equal(df[BEHAVIORS].to_numpy(), frame_probs)
    assert df["label"].tolist() == ["freezing", "freezing", "exploring", "exploring", "grooming", ""]
    assert df.attrs["backend"] == "motion" and df.attrs["model_id"] == ""


def _assert_dir_empty(folder):
    assert sorted(p.name for p in folder.iterdir()) == []


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"attrs": make_attrs(fps=-1)}, "Expected attrs['fps'] to be a positive number, but got -1"),
        ({"attrs": make_attrs(fps=True)}, "Expected attrs['fps'] to be a positive number, but got True"),
        ({"attrs": make_attrs(video_sha256="xyz")}, "Expected attrs['video_sha256'] to be 64 lowercase hex"),
        (
            {"attrs": make_attrs(icl_example_ids="ex1")},
            "Expected attrs['icl_example_ids'] to be a list of str",
        ),
        ({"attrs": make_attrs(preprocessing=None)}, "Expected attrs['preprocessing'] to be a dict"),
        ({"attrs": make_attrs(n_frames=7)}, "Expected attrs['n_frames'] to equal n_frames=6, but got 7"),
        ({"attrs": make_attrs(format="x")}, "reserved keys ['format']"),
        ({"attrs": make_attrs(extra=object())}, "Expected attrs['extra'] to be str, number"),
        ({"attrs": {"video_id": "v"}}, "Expected attrs to contain ['subject'"),
        ({"behaviors": ["freezing", "freezing", "x"]}, "Expected unique behaviour names, but got duplicates"),
        ({"behaviors": ["freezing", "", "x"]}, "Expected every behaviour to be a non-empty name, but got ''"),
        ({"behaviors": ["freezing", "label", "x"]}, "Expected behaviour names other than"),
        ({"behaviors": ["freezing", "exploring"]}, "Expected probabilities of shape (3, 2), but got (3, 3)"),
        ({"start_frame": [0, 4, 4]}, "window 1 is [4, 4)"),
        ({"n_frames": 0}, "Expected n_frames to be a positive integer, but got 0"),
        ({"probabilities": np.full((3, 3), 0.5)}, "rows to sum to 1 (within 1e-3), but row 0 sums to 1.5"),
        ({"text": ["a", "b"]}, "Expected text to be 3 strings"),
        ({"partial": [0, 0, 1]}, "Expected partial to be a bool array"),
        ({"frame_label": np.zeros(6, dtype=int)}, "frame_probabilities and frame_label together"),
        ({"created": "yesterday"}, "Expected created to be an ISO 8601 time"),
        ({"created": dt.datetime(2026, 1, 1)}, "timezone-aware"),
    ],
)
def test_write_validation_errors_leave_nothing(tmp_path, overrides, message):
    path = tmp_path / "v.h5"
    with pytest.raises(VectorFileError) as info:
        write_vector(path, **make_vector_kwargs(**overrides))
    assert str(path) in str(info.value)
    assert message in str(info.value)
    _assert_dir_empty(tmp_path)


def test_frame_label_must_be_minus_one_where_probabilities_are_nan(tmp_path):
    with pytest.raises(VectorFileError, match="frame_label -1 where frame_probabilities is NaN"):
        write_vector(
            tmp_path / "v.h5",
            **make_vector_kwargs(),
            frame_probabilities=np.full((6, 3), np.nan),
            frame_label=np.zeros(6, dtype=int),
        )
    _assert_dir_empty(tmp_path)


def test_failure_while_writing_keeps_old_files_and_leaves_no_temporaries(tmp_path, monkeypatch):
    path = write_vector(tmp_path / "v.h5", **make_vector_kwargs())
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert sorted(before) == ["v.csv", "v.h5"]

    real_fsync = os.fsync

    def fsync(fd):  # the disk fills while the HDF5 file's bytes are written
        if os.path.basename(os.readlink(f"/proc/self/fd/{fd}")).startswith(".v.h5."):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_fsync(fd)

    monkeypatch.setattr(vectors.os, "fsync", fsync)
    with pytest.raises(FileWriteError) as err:
        write_vector(path, **make_vector_kwargs(probabilities=np.tile([[0.0, 0.0, 1.0]], (3, 1))))
    assert str(err.value) == (f"{path}: cannot write it (No space left on device); free some space on that disk and "
                              "run the command again (nothing half-written was left)")
    assert isinstance(err.value, OSError) and err.value.errno == errno.ENOSPC
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


# --------------------------------------------------------------------------------------------------------
# Checks before reading
# --------------------------------------------------------------------------------------------------------


@pytest.fixture
def vector_file(tmp_path):
    return write_vector(tmp_path / "v.h5", **make_vector_kwargs(), csv=False)


@pytest.mark.parametrize("reader", [read_vector, read_vector_windows])
def test_read_refuses_missing_file(tmp_path, reader):
    with pytest.raises(VectorFileError, match=re.escape(f"{tmp_path / 'nope.h5'} does not exist")):
        reader(tmp_path / "nope.h5")


@pytest.mark.parametrize("reader", [read_vector, read_vector_windows])
def test_read_refuses_non_hdf5(tmp_path, reader):
    path = tmp_path / "fake.h5"
    path.write_text("frame,label\n0,freezing\n")
    with pytest.raises(VectorFileError, match=re.escape(f"{path} is not an HDF5 file")):
        reader(path)


def test_read_refuses_newer_format_version(vector_file):
    with h5py.File(vector_file, "a") as f:
        f.attrs["format_version"] = FORMAT_VERSION + 1
    with pytest.raises(VectorFileError) as info:
        read_vector(vector_file)
    assert str(vector_file) in str(info.value)
    assert f"format_version {FORMAT_VERSION + 1}" in str(info.value)
    assert "upgrade mousefear" in str(info.value)


def test_read_refuses_other_hdf5(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("tracks", data=np.zeros(3))
    with pytest.raises(VectorFileError, match=re.escape(f"Expected {path} to have format")):
        read_vector(path)


@pytest.mark.parametrize("reader", [read_vector, read_vector_windows])
def test_read_refuses_missing_dataset(vector_file, reader):
    with h5py.File(vector_file, "a") as f:
        del f["frames/label"]
    with pytest.raises(VectorFileError) as info:
        reader(vector_file)
    assert str(vector_file) in str(info.value)
    assert "['frames/label']" in str(info.value)


def test_read_refuses_inconsistent_shapes(vector_file):
    with h5py.File(vector_file, "a") as f:
        del f["windows/end_frame"]
        f.create_dataset("windows/end_frame", data=np.array([2, 4]))
    with pytest.raises(VectorFileError, match="Expected dataset windows/end_frame of .* shape \\(3,\\)"):
        read_vector(vector_file)


@pytest.mark.parametrize(("reader", "dataset"), [(read_vector, "frames/label"), (read_vector_windows, "windows/label")])
@pytest.mark.parametrize("bad", [-2, 3])
def test_read_refuses_label_index_out_of_range(vector_file, reader, dataset, bad):
    with h5py.File(vector_file, "a") as f:
        f[dataset][0] = bad
    with pytest.raises(VectorFileError, match=re.escape(
            f"Expected {dataset} of {vector_file} in [-1, 3), but got values out of range")):
        reader(vector_file)


def test_read_refuses_missing_attribute(vector_file):
    with h5py.File(vector_file, "a") as f:
        del f.attrs["fps"]
    with pytest.raises(VectorFileError, match="attributes \\['fps'\\]"):
        read_vector(vector_file)


# --------------------------------------------------------------------------------------------------------
# Per-frame measurements (the optional group measurements/)
# --------------------------------------------------------------------------------------------------------

UNITS = {"body_change": ("1", "fraction of the body changed"), "area": ("pixel^2", "area of the animal"),
         "found": ("1", "1 where the animal was found")}


def make_measurements(n=6):
    from mousefear.formats.vectors import measurement_table

    arrays = {"body_change": np.array([0.0, 0.013, np.nan, 0.5, 1 / 3, 0.25])[:n],
              "area": np.arange(n) * 100.5, "found": np.array([1, 1, 0, 1, 1, 1])[:n]}
    return measurement_table(arrays, UNITS, {"method": "animal", "fps": 2.0, "lag_frames": 1,
                                             "settings": {"pixel_cutoff": 20.0}})


def test_measurements_round_trip_with_units_and_dims(tmp_path):
    from mousefear.formats.vectors import read_vector_measurements

    table = make_measurements()
    path = write_vector(tmp_path / "v.h5", **make_vector_kwargs(), measurements=table)
    back = read_vector_measurements(path)
    assert list(back.columns) == ["body_change", "area", "found"]  # in the order given
    for name in table.columns:
        np.testing.assert_array_equal(back[name].to_numpy(), table[name].to_numpy(dtype=np.float32))
        assert back[name].dtype == np.float32
    assert back.index.name == "frame" and back.index.tolist() == list(range(6))
    assert back.attrs["units"] == {k: u for k, (u, _) in UNITS.items()}
    assert back.attrs["descriptions"] == {k: d for k, (_, d) in UNITS.items()}
    assert back.attrs["measurement"] == {"method": "animal", "fps": 2.0, "lag_frames": 1,
                                         "settings": {"pixel_cutoff": 20.0}}
    assert back.attrs["file"]["video_id"] == "m1_day1" and back.attrs["file"]["format_version"] == 1
    with h5py.File(path, "r") as f:  # self-describing for h5py, MATLAB, R users
        ds = f["measurements/body_change"]
        assert ds.dtype == np.float32 and ds.shape == (6,) and ds.compression == "gzip"
        assert list(ds.attrs["dims"]) == ["frames"] and ds.attrs["unit"] == "1"
        assert ds.attrs["description"] == "fraction of the body changed"
    # the rest of the file reads as before, and the same inputs still give the same bytes
    assert read_vector(path)["label"].tolist() == ["freezing", "freezing", "", "", "exploring", "exploring"]
    again = write_vector(tmp_path / "w.h5", **make_vector_kwargs(), measurements=make_measurements())
    assert again.read_bytes() == path.read_bytes()


def test_files_without_measurements_still_read(vector_file):
    from mousefear.formats.vectors import read_vector_measurements

    assert read_vector_measurements(vector_file, missing_ok=True) is None
    with pytest.raises(VectorFileError, match=re.escape(
            f"{vector_file} has no per-frame measurements (group measurements/): it was made by the "
            "'transformers' backend, which stores none")):
        read_vector_measurements(vector_file)
    assert len(read_vector(vector_file)) == 6 and len(read_vector_windows(vector_file)) == 3


@pytest.mark.parametrize(("change", "message"), [
    (lambda t: t.iloc[:5], "Expected measurements of 6 frames, but got 5 rows"),
    (lambda t: t.assign(extra=1.0), "Expected a unit and a description of measurement 'extra'"),
    (lambda t: t.rename(columns={"area": "a/b"}), "Expected measurement names of letters"),
    (lambda t: t.assign(found="yes"), "Expected numeric measurement 'found'"),
])
def test_bad_measurements_are_refused_and_nothing_written(tmp_path, change, message):
    table = make_measurements()
    bad = change(table)
    bad.attrs = dict(table.attrs)
    with pytest.raises(VectorFileError, match=re.escape(message)):
        write_vector(tmp_path / "v.h5", **make_vector_kwargs(), measurements=bad)
    _assert_dir_empty(tmp_path)


def test_measurement_of_another_length_is_refused_on_reading(tmp_path):
    from mousefear.formats.vectors import read_vector_measurements

    path = write_vector(tmp_path / "v.h5", **make_vector_kwargs(), measurements=make_measurements())
    with h5py.File(path, "a") as f:
        del f["measurements/area"]
        f["measurements"].create_dataset("area", data=np.zeros(4, np.float32))
    with pytest.raises(VectorFileError, match=re.escape(
            f"Expected measurements/area of {path} to have shape (6,) (frames), but got (4,)")):
        read_vector_measurements(path)
