"""Derived runs (mousefear/pipeline/derived.py) and rethresholding a motion run from its stored measurements
(mousefear/pipeline/rethreshold.py): the same files as a fresh classification, without decoding."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pandas as pd
import pytest
from _motion_videos import write_mouse_video

import mousefear
from mousefear.core.intervals import whole_seconds
from mousefear.core.settings import load_config, save_config
from mousefear.errors import ConfigError, ProjectError, VectorFileError
from mousefear.formats.vectors import read_vector, read_vector_measurements, read_vector_windows

# walk 2 s, still 2 s, walk 1 s, still 3 s, walk 2 s, still 1 s, walk 1 s (as in test_motion_animal.py)
SECONDS = [("walk", 2), ("still", 2), ("walk", 1), ("still", 3), ("walk", 2), ("still", 1), ("walk", 1)]
#: attributes that differ between two runs of the same settings made at other times or under other names
TIME_AND_NAME = {"created", "run_created", "run", "derived_from"}


@pytest.fixture(scope="module")
def motion_project(tmp_path_factory):
    """Two synthetic mice (one with a swaying cable), the motion backend, one run at the defaults."""
    tmp = tmp_path_factory.mktemp("rethreshold")
    v1, _ = write_mouse_video(tmp / "m1_day1.avi", SECONDS, body=30)
    v2, _ = write_mouse_video(tmp / "m2_day1.avi", SECONDS, body=24, cable=6.0, seed=1)
    cfg = mousefear.create_project("rt", "t", [v1, v2], working_directory=tmp, date="2026-01-01")
    c = load_config(cfg)
    c["classification"]["backend"] = "motion"
    save_config(cfg, c)
    run = mousefear.classify_videos(cfg, progress=False)
    return cfg, run


@pytest.fixture
def proj(motion_project, tmp_path):
    """A fresh copy of the motion project (tests write into it): (config.yaml, the run at the defaults)."""
    import shutil

    cfg, run = motion_project
    dest = tmp_path / cfg.parent.name
    shutil.copytree(cfg.parent, dest, symlinks=True)
    return dest / "config.yaml", run


def set_motion(cfg, **values):
    c = load_config(cfg)
    c["classification"]["motion"].update(values)
    save_config(cfg, c)


def h5_content(path):
    """Every dataset (name -> array) and every file attribute of an HDF5 file."""
    data = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: data.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
        attrs = {k: f.attrs[k] for k in f.attrs}
        attrs["json_attrs"] = [k for k in json.loads(attrs["json_attrs"]) if k != "derived_from"]
        attrs["measurements"] = f["measurements"].attrs["measurement"]
    return data, attrs


def test_classify_stores_measurements_that_decide_the_same_again(proj):
    from mousefear.backends.motion import MEASUREMENTS, MotionBackend
    from mousefear.core.settings import Settings

    cfg, run = proj
    path = cfg.parent / "behavior-vectors" / run / "m1_day1.h5"
    table = read_vector_measurements(path)
    assert list(table.columns) == [*MEASUREMENTS["animal"], "change", "centroid_speed", "speed"]
    assert table.attrs["units"]["centroid_speed"] == "body_lengths/s"
    assert table.attrs["units"]["area"] == "pixel^2" and table.attrs["units"]["speed"] == "cm/s"
    meta = table.attrs["measurement"]
    assert meta["method"] == "animal" and meta["lag_frames"] == 4 and meta["fps"] == 30.0
    assert meta["settings"] == {"method": "animal", "pixel_cutoff": 20.0, "lag_seconds": 0.1,
                                "animal_contrast": 30.0, "animal": "dark"}
    # the animal is found once it has moved; the area is that of the 30 x 15 px ellipse
    assert table["found"].iloc[-30:].eq(1).all()
    assert np.nanmedian(table["area"]) == pytest.approx(np.pi * 15 * 7.5, rel=0.1)
    m = {k: table[k].to_numpy() for k in table.columns} | meta
    res = MotionBackend.from_settings(Settings.default()).decide_from_measurements(m, fps=30.0)
    vec = read_vector(path)
    np.testing.assert_array_equal(res.frame_probabilities, vec[vec.attrs["behaviors"]].to_numpy())
    names = np.asarray([*vec.attrs["behaviors"], ""], dtype=object)
    assert (names[res.frame_label] == vec["label"].to_numpy()).all()


def test_rethreshold_equals_a_fresh_run_file_for_file(proj, monkeypatch):
    cfg, parent = proj
    root = cfg.parent
    set_motion(cfg, min_freeze_seconds=2.0, body_change_threshold=0.05, still_speed=0.3)

    import mousefear.backends.motion_animal as motion_animal

    def no_decoding(*args, **kwargs):
        raise AssertionError("rethreshold decoded a video")

    with monkeypatch.context() as mp:
        mp.setattr(motion_animal, "measure_animal", no_decoding)
        mp.setattr("mousefear.backends.motion.measure_animal", no_decoding)
        derived = mousefear.rethreshold(cfg, parent)
    # the name and identity a classification of these settings gets
    assert derived == mousefear.pipeline.runs.default_run_name(cfg) and derived != parent
    fresh = mousefear.classify_videos(cfg, run="fresh", progress=False)
    d_json = json.loads((root / "behavior-vectors" / derived / "run.json").read_text())
    f_json = json.loads((root / "behavior-vectors" / fresh / "run.json").read_text())
    assert d_json["settings"] == f_json["settings"] and d_json["settings_sha256"] == f_json["settings_sha256"]
    p_json = json.loads((root / "behavior-vectors" / parent / "run.json").read_text())
    assert d_json["derived_from"] == {
        "run": parent, "settings_sha256": p_json["settings_sha256"], "kind": "rethreshold",
        "parameters": {"changed": {"body_change_threshold": {"from": 0.03, "to": 0.05},
                                   "min_freeze_seconds": {"from": 1.0, "to": 2.0},
                                   "still_speed": {"from": 0.5, "to": 0.3}}}}
    for video in ("m1_day1", "m2_day1"):
        d_path = root / "behavior-vectors" / derived / f"{video}.h5"
        f_path = root / "behavior-vectors" / fresh / f"{video}.h5"
        d_data, d_attrs = h5_content(d_path)
        f_data, f_attrs = h5_content(f_path)
        assert sorted(d_data) == sorted(f_data)
        for name in d_data:
            np.testing.assert_array_equal(d_data[name], f_data[name], err_msg=name)
        assert {k: v for k, v in d_attrs.items() if k not in TIME_AND_NAME} == {
            k: v for k, v in f_attrs.items() if k not in TIME_AND_NAME}
        assert d_path.with_suffix(".csv").read_bytes() == f_path.with_suffix(".csv").read_bytes()
        recorded = read_vector(d_path).attrs["derived_from"]
        assert recorded["run"] == parent and recorded["kind"] == "rethreshold"
        assert recorded["parent_created"] == read_vector(root / "behavior-vectors" / parent / f"{video}.h5").attrs[
            "created"]
    assert ((root / "behavior-vectors" / derived / "summary.csv").read_bytes()
            == (root / "behavior-vectors" / fresh / "summary.csv").read_bytes())
    # a 2 s minimum drops the 1 s stillness (second 10) the parent called freezing
    frozen = [whole_seconds(read_vector(root / "behavior-vectors" / r / "m1_day1.h5")["label"] == "freezing", 30.0)
              for r in (parent, derived)]
    assert frozen[0].astype(int).tolist() == [0, 0, 1, 1, 0, 1, 1, 1, 0, 0, 1, 0]
    assert frozen[1].astype(int).tolist() == [0, 0, 1, 1, 0, 1, 1, 1, 0, 0, 0, 0]
    # classify with these settings now finds the run finished (the same run): nothing is decoded
    with monkeypatch.context() as mp:
        mp.setattr("mousefear.backends.motion.measure_animal", no_decoding)
        assert mousefear.classify_videos(cfg, progress=False) == derived


def test_rethreshold_with_changes_names_and_cli(proj, capsys):
    from mousefear.cli import main

    cfg, parent = proj
    name = mousefear.rethreshold(cfg, parent, name="strict", changes={"body_change_threshold": 0.01})
    assert name == "strict"
    settings = json.loads((cfg.parent / "behavior-vectors" / "strict" / "run.json").read_text())["settings"]
    assert settings["backend"]["settings"]["body_change_threshold"] == 0.01
    assert load_config(cfg)["classification"]["motion"]["body_change_threshold"] == 0.03  # config.yaml unchanged
    # again with the same settings: finished, nothing rewritten
    before = (cfg.parent / "behavior-vectors" / "strict" / "m1_day1.h5").stat().st_mtime_ns
    assert mousefear.rethreshold(cfg, parent, name="strict", changes={"body_change_threshold": 0.01}) == "strict"
    assert (cfg.parent / "behavior-vectors" / "strict" / "m1_day1.h5").stat().st_mtime_ns == before
    # another setting under the same name is refused, unless overwrite
    with pytest.raises(ProjectError, match="Run 'strict' exists .* with other settings"):
        mousefear.rethreshold(cfg, parent, name="strict", changes={"body_change_threshold": 0.02})
    assert mousefear.rethreshold(cfg, parent, name="strict", changes={"body_change_threshold": 0.02},
                                 overwrite=True) == "strict"
    assert main(["rethreshold", str(cfg), "--run", parent, "--set", "min_freeze_seconds=3", "--set",
                 "still_speed=0.2", "--videos", "m2_day1"]) == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith("run motion-animal-") and out.endswith(out.split()[1].rstrip(":"))
    new = out.split()[1].rstrip(":")
    assert sorted(p.name for p in (cfg.parent / "behavior-vectors" / new).glob("*.h5")) == ["m2_day1.h5"]
    assert main(["rethreshold", str(cfg), "--run", parent, "--set", "min_freeze_seconds"]) == 2
    assert "--set: Expected KEY=VALUE, but got 'min_freeze_seconds'" in capsys.readouterr().err


def test_rethreshold_refusals(proj, tmp_path):
    cfg, parent = proj
    with pytest.raises(ProjectError, match=f"Cannot derive run '{parent}' into itself .*nothing changes"):
        mousefear.rethreshold(cfg, parent)
    with pytest.raises(ProjectError, match="a run is never derived into its own folder"):
        mousefear.rethreshold(cfg, parent, name=parent, changes={"still_speed": 0.2})
    with pytest.raises(ConfigError, match="Expected decision settings to change, but lag_seconds, pixel_cutoff "
                                          "changes the measurements"):
        mousefear.rethreshold(cfg, parent, changes={"pixel_cutoff": 10, "lag_seconds": 0.2})
    with pytest.raises(ConfigError, match=r"Expected classification.motion.body_change_threshold to be a number >= 0 "
                                          r"and <= 1, but got 2"):
        mousefear.rethreshold(cfg, parent, changes={"body_change_threshold": 2})
    with pytest.raises(ConfigError, match="Expected parameters of the motion backend among"):
        mousefear.rethreshold(cfg, parent, changes={"threshold": 2})
    with pytest.raises(ProjectError, match=r"Expected a run among \['[^]]*'\] .* but got 'nope'"):
        mousefear.rethreshold(cfg, "nope", changes={"still_speed": 0.2})
    # a run of a window backend (here written by hand) has no measurements to re-decide
    folder = cfg.parent / "behavior-vectors" / "qwen"
    folder.mkdir()
    (folder / "run.json").write_text(json.dumps({"settings": {"backend": {"backend": "transformers"}}}))
    import shutil

    shutil.copy(cfg.parent / "behavior-vectors" / parent / "m1_day1.h5", folder / "m1_day1.h5")
    with pytest.raises(ProjectError, match="Run 'qwen' was made by the 'transformers' backend; rethreshold "
                                           "re-decides runs of the motion backend"):
        mousefear.rethreshold(cfg, "qwen", changes={"still_speed": 0.2})
    # a motion file without measurements (an older mousefear) is named
    path = cfg.parent / "behavior-vectors" / parent / "m2_day1.h5"
    with h5py.File(path, "a") as f:
        del f["measurements"]
    with pytest.raises(VectorFileError, match=f"{path} has no per-frame measurements"):
        mousefear.rethreshold(cfg, parent, name="other", changes={"still_speed": 0.2})


def test_measurement_settings_in_config_are_kept_from_the_parent(proj, caplog):
    cfg, parent = proj
    set_motion(cfg, pixel_cutoff=12, min_freeze_seconds=2.0)
    name = mousefear.rethreshold(cfg, parent, name="kept")
    assert "classification.motion.pixel_cutoff is 12.0 in config.yaml but run" in caplog.text
    backend = json.loads((cfg.parent / "behavior-vectors" / name / "run.json").read_text())["settings"]["backend"]
    assert backend["settings"]["pixel_cutoff"] == 20.0 and backend["settings"]["min_freeze_seconds"] == 2.0
    win = read_vector_windows(cfg.parent / "behavior-vectors" / name / "m1_day1.h5")
    assert win.attrs["backend_settings"]["pixel_cutoff"] == 20.0
    table = pd.read_csv(cfg.parent / "behavior-vectors" / name / "summary.csv")
    assert table.video_id.tolist() == ["m1_day1", "m2_day1"]


def test_pixels_run_and_renamed_classes_rethreshold_like_a_fresh_run(tmp_path):
    """The pixels method's measurements (repeated frames included) re-decide exactly too, and decision settings
    such as the behaviour names (freezing_behavior) change without decoding."""
    v1, _ = write_mouse_video(tmp_path / "m1_day1.avi", SECONDS, body=30, repeat_pattern=(2, 1))
    cfg = mousefear.create_project("px", "t", [v1], working_directory=tmp_path, date="2026-01-01")
    c = load_config(cfg)
    c["classification"]["backend"] = "motion"
    c["classification"]["motion"]["method"] = "pixels"
    c["behaviors"][1]["name"] = "locomotion"
    c["classification"]["motion"]["moving_behavior"] = "locomotion"
    save_config(cfg, c)
    parent = mousefear.classify_videos(cfg, progress=False)
    table = read_vector_measurements(cfg.parent / "behavior-vectors" / parent / "m1_day1.h5")
    assert table["repeat"].sum() > 0 and table.attrs["measurement"]["method"] == "pixels"
    derived = mousefear.rethreshold(cfg, parent, changes={"freeze_threshold": 0.002, "max_repeat_frames": 1})
    c = load_config(cfg)
    c["classification"]["motion"].update({"freeze_threshold": 0.002, "max_repeat_frames": 1})
    save_config(cfg, c)
    fresh = mousefear.classify_videos(cfg, run="fresh", progress=False)
    d_data, _ = h5_content(cfg.parent / "behavior-vectors" / derived / "m1_day1.h5")
    f_data, _ = h5_content(cfg.parent / "behavior-vectors" / fresh / "m1_day1.h5")
    for name in f_data:
        np.testing.assert_array_equal(d_data[name], f_data[name], err_msg=name)
    renamed = mousefear.rethreshold(cfg, parent, name="renamed", changes={"freezing_behavior": "grooming"})
    labels = set(read_vector(cfg.parent / "behavior-vectors" / renamed / "m1_day1.h5")["label"])
    assert labels <= {"grooming", "locomotion", ""} and "grooming" in labels


def test_derivation_defaults_and_a_derived_parent(proj):
    """A derivation that changes results (here a stand-in that swaps nothing but is recorded) gets its own
    identity and name <parent>_<kind>_<hash>; rethreshold refuses such a run as its parent."""
    from mousefear.core.project import Project
    from mousefear.pipeline.derived import Derivation, DerivedVideo, derive_run

    class Same(Derivation):
        kind = "same"

        def parameters(self):
            return {"window": 3}

        def derive(self, video):
            probs = video.windows[video.behaviors].to_numpy(dtype=np.float64)
            return DerivedVideo(probabilities=probs, frame_probabilities=video.frames[video.behaviors].to_numpy(),
                                frame_label=np.asarray([video.behaviors.index(b) if b else -1
                                                        for b in video.frames["label"]]))

    cfg, parent = proj
    project = Project.open(cfg)
    name = derive_run(project, parent, Same())
    record = json.loads((cfg.parent / "behavior-vectors" / name / "run.json").read_text())
    assert name == f"{parent}_same_{record['settings_sha256'][:8]}"
    assert record["settings"]["derivations"] == [{"kind": "same", "window": 3}]
    assert record["derived_from"]["parameters"] == {"window": 3}
    a = read_vector(cfg.parent / "behavior-vectors" / name / "m1_day1.h5")
    b = read_vector(cfg.parent / "behavior-vectors" / parent / "m1_day1.h5")
    assert a["label"].tolist() == b["label"].tolist()
    with pytest.raises(ProjectError, match=f"Run '{name}' is derived \\(same\\) from run '{parent}'; rethreshold "
                                           "that run instead"):
        mousefear.rethreshold(cfg, name, changes={"still_speed": 0.2})
