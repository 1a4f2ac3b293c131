"""classify_videos end to end with the tiny random Qwen2.5-VL (and Qwen3-VL where the family matters): files, run
settings, resume, skip, frame backends."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from conftest import REPO, kill_when_cached, write_video

import mousefear
from mousefear.backends.base import VideoBackend, VideoResult
from mousefear.backends.fake import FakeWindowBackend
from mousefear.core.intervals import windows_to_frames
from mousefear.core.preprocess import preprocess_window, preprocessing_record
from mousefear.core.project import Project
from mousefear.core.settings import load_config, save_config
from mousefear.errors import ProjectError
from mousefear.formats.vectors import REQUIRED_ATTRS, read_vector_windows

pytest.importorskip("transformers")

BEHAVIORS = ["freezing", "exploring", "grooming", "rearing", "fleeing"]


def project_paths(cfg_path):
    return Project.open(cfg_path).paths


def registered_videos(cfg_path):
    return list(Project.open(cfg_path).videos)


def _record(cfg_path):
    return preprocessing_record(Project.open(cfg_path).settings.classification.preprocessing)


#: The smallest frames each family's processor keeps (fast runs): 56 x 56 for Qwen2.5-VL, 256 x 256 for Qwen3-VL.
MIN_PIXELS = {"qwen2_5_vl": 28 * 28 * 4, "qwen3_vl": 65536}


def _configure(cfg_path: Path, tiny_qwen: Path, family: str = "qwen2_5_vl", **classification) -> Path:
    """Point a project at the tiny model with small frames (fast), then apply ``classification`` changes."""
    _small(cfg_path, **{"model": str(tiny_qwen), **classification})
    cfg = load_config(cfg_path)
    cfg["classification"]["preprocessing"]["max_pixels"] = MIN_PIXELS[family]
    save_config(cfg_path, cfg)
    return cfg_path


def _h5_content(path: Path) -> tuple[dict, dict]:
    """Every dataset (as arrays) and every attribute of a vector file except the creation times."""
    data, attrs = {}, {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: data.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
        for k, v in f.attrs.items():
            attrs[k] = v
    return data, attrs


def _assert_same_vectors(a: Path, b: Path) -> None:
    da, aa = _h5_content(a)
    db, ab = _h5_content(b)
    assert sorted(da) == sorted(db)
    for name in da:
        np.testing.assert_array_equal(da[name], db[name], err_msg=name)
    assert {k for k in aa} == {k for k in ab}
    for k in aa:
        if k not in ("created", "run_created"):
            assert aa[k] == ab[k], k


def test_classify_writes_complete_vector_files(project, tiny_model):
    family, tiny_qwen = tiny_model
    cfg_path = _configure(project, tiny_qwen, family)
    run = mousefear.classify_videos(cfg_path, progress=False)
    paths = project_paths(cfg_path)
    folder = paths.vectors(run)
    assert run.startswith(tiny_qwen.name) and run.endswith(tuple("0123456789abcdef"))
    video = registered_videos(cfg_path)[0]

    vec = mousefear.read_vector(folder / "m1_day1.h5")
    win = read_vector_windows(folder / "m1_day1.h5")
    assert len(vec) == 45 and len(win) == 3  # 3 s at 15 fps: one window per second
    assert win["start_frame"].tolist() == [0, 15, 30] and win["end_frame"].tolist() == [15, 30, 45]
    probs = win[BEHAVIORS].to_numpy(np.float64)
    assert np.allclose(probs.sum(axis=1), 1, atol=1e-6) and (probs > 0).all()
    assert (win["text"] == "").all() and not win["partial"].any()
    fp, fl = windows_to_frames(win["start_frame"], win["end_frame"], probs, 45)
    np.testing.assert_allclose(vec[BEHAVIORS].to_numpy(), fp, atol=1e-6)
    assert vec["label"].tolist() == [BEHAVIORS[i] for i in fl]

    run_json = json.loads((folder / "run.json").read_text())
    prompt_text = (folder / "prompt.txt").read_text()
    import hashlib

    a = vec.attrs
    for key in REQUIRED_ATTRS:
        assert key in a, key
    assert (a["video_id"], a["subject"], a["session"]) == ("m1_day1", "m1", "day1")
    assert a["video_sha256"] == video.sha256 and a["fps"] == 15.0 and a["n_frames"] == 45
    assert a["run"] == run and a["backend"] == "transformers" and a["model_id"] == str(tiny_qwen)
    assert a["model_revision"].startswith("folder:")
    assert a["prompt_hash"] == hashlib.sha256(prompt_text.encode()).hexdigest() == run_json["settings"]["prompt"][
        "sha256"]
    assert a["icl_example_ids"] == [] and a["prompt_template"] == "default"
    grid = {"qwen2_5_vl": (28, 3136), "qwen3_vl": (32, 65536)}[family]  # frames resized to the family's grid
    assert a["preprocessing"] == {**_record(cfg_path), "patch_factor": grid[0], "min_pixels": grid[1]}
    assert a["backend_resolved"]["family"] == run_json["resolved"]["family"] == family
    assert a["created"] == a["run_created"] == run_json["created"]
    assert a["mousefear_version"] == mousefear.__version__
    assert a["backend_settings"]["decision"] == "score" and a["frames_per_window"] == 2
    assert "device" not in a["backend_settings"] and a["backend_resolved"]["dtype"] == "float32"
    assert run_json["resolved"]["device"] == "cpu" and run_json["resolved"]["model_revision"] == a["model_revision"]

    assert run_json["run"] == run and run_json["settings"]["behaviors"][0]["name"] == "freezing"
    assert run_json["settings"]["windows"] == {"window_seconds": 1.0, "stride_seconds": None, "frames_per_window": 2}
    assert "[system]" in prompt_text and "freezing" in prompt_text
    csv = pd.read_csv(folder / "m1_day1.csv")
    assert list(csv.columns) == ["frame", "label", *BEHAVIORS] and len(csv) == 45
    summary = pd.read_csv(folder / "summary.csv")
    assert summary["video_id"].tolist() == ["m1_day1"] and summary["n_frames"].tolist() == [45]
    timing = json.loads((folder / "timing.json").read_text())
    assert timing["windows_classified"] == 3 and timing["seconds_per_window"] > 0
    cached = (paths.cache(run) / "m1_day1" / "windows.jsonl").read_text().splitlines()
    assert [json.loads(line)["index"] for line in cached] == [0, 1, 2]


def test_skip_finished_and_overwrite(project, tiny_qwen, monkeypatch):
    from mousefear.backends.transformers import TransformersBackend

    # the random model babbles: its answers name no behaviour, which this test allows (max_unparseable 1)
    cfg_path = _configure(project, tiny_qwen, decision="generate", max_new_tokens=3, max_unparseable=1.0)
    run = mousefear.classify_videos(cfg_path, progress=False)
    h5 = project_paths(cfg_path).vectors(run) / "m1_day1.h5"
    win = read_vector_windows(h5)
    assert win["text"].map(len).gt(0).any()  # generated text kept
    stamp = h5.stat().st_mtime_ns
    calls = []
    original = TransformersBackend.classify
    monkeypatch.setattr(TransformersBackend, "classify", lambda self, w: calls.append(len(w)) or original(self, w))
    assert mousefear.classify_videos(cfg_path, progress=False) == run
    assert calls == [] and h5.stat().st_mtime_ns == stamp
    before = _h5_content(h5)
    assert mousefear.classify_videos(cfg_path, progress=False, overwrite=True) == run
    assert sum(calls) == 3 and h5.stat().st_mtime_ns != stamp
    after = _h5_content(h5)
    for name in before[0]:
        np.testing.assert_array_equal(before[0][name], after[0][name])


def test_same_run_name_with_other_settings_is_refused(project, tiny_qwen):
    cfg_path = _configure(project, tiny_qwen)
    assert mousefear.classify_videos(cfg_path, run="r1", progress=False) == "r1"
    _configure(cfg_path, tiny_qwen, prompt="minimal")
    folder = project_paths(cfg_path).vectors("r1")
    old = (folder / "run.json").read_text()
    with pytest.raises(ProjectError, match=r"Run 'r1' exists .*other settings .*prompt.*overwrite"):
        mousefear.classify_videos(cfg_path, run="r1", progress=False)
    assert (folder / "run.json").read_text() == old
    mousefear.classify_videos(cfg_path, run="r1", overwrite=True, progress=False)
    assert json.loads((folder / "run.json").read_text())["settings"]["prompt"]["template"] == "minimal"
    assert read_vector_windows(folder / "m1_day1.h5").attrs["prompt_template"] == "minimal"
    # the derived name changes with the settings, so default-named runs sit side by side
    assert mousefear.classify_videos(cfg_path, progress=False) != mousefear.classify_videos(
        _configure(cfg_path, tiny_qwen, prompt="default"), progress=False)


def _label_exemplars(cfg_path: Path, labels: dict[int, str]) -> list[str]:
    from mousefear.pipeline.exemplars import extract_exemplars, read_exemplar_index, write_exemplar_index

    extract_exemplars(cfg_path)
    index = read_exemplar_index(cfg_path).sort_values("start_frame").reset_index(drop=True)
    for row, label in labels.items():
        index.loc[row, ["label", "label_source"]] = [label, "person"]
    write_exemplar_index(cfg_path, index)
    return [index.loc[r, "id"] for r in labels]


def test_icl_examples_recorded_and_missing_ones_reported(project, tiny_qwen, caplog):
    cfg_path = _configure(project, tiny_qwen, icl_per_class=1)
    ids = _label_exemplars(cfg_path, {0: "freezing", 2: "rearing"})
    _configure(cfg_path, tiny_qwen, icl_per_class=1, icl_required=True)
    with pytest.raises(ProjectError, match=r"too few labelled exemplars.*exploring \(0 of 1\)"):
        mousefear.classify_videos(cfg_path, progress=False)
    assert not any((project_paths(cfg_path).root / "behavior-vectors").iterdir())
    _configure(cfg_path, tiny_qwen, icl_per_class=1, icl_required=False)
    with caplog.at_level("WARNING"):
        run = mousefear.classify_videos(cfg_path, progress=False)
    assert "grooming (0 of 1)" in caplog.text
    folder = project_paths(cfg_path).vectors(run)
    attrs = read_vector_windows(folder / "m1_day1.h5").attrs
    assert attrs["icl_example_ids"] == ids  # behaviour order: freezing, then rearing
    text = (folder / "prompt.txt").read_text()
    assert f"{ids[0]}: freezing" in text and f"{ids[1]}: rearing" in text
    assert text.count("[assistant]\nfreezing") == 1 and "icl1" in run


_CHILD = """
import sys, time
sys.path.insert(0, {repo!r})
from mousefear.backends.transformers import TransformersBackend
original = TransformersBackend.classify
def slow(self, windows):
    time.sleep(0.25)   # slow enough that the parent can kill it in the middle of the video
    return original(self, windows)
TransformersBackend.classify = slow
import mousefear
mousefear.classify_videos({cfg!r}, progress=False)
"""


def _two_projects(tmp_path: Path, tiny_qwen: Path, family: str = "qwen2_5_vl") -> tuple[Path, Path]:
    video = write_video(tmp_path / "m2_day3.avi", n_frames=120, fps=10.0)
    out = []
    for name in ("killed", "straight"):
        cfg = mousefear.create_project(name, "t", [video], working_directory=tmp_path, date="2026-11-23")
        out.append(_configure(cfg, tiny_qwen, family))
    return out[0], out[1]


def test_resume_after_kill_gives_identical_files(tmp_path, tiny_model):
    family, tiny_qwen = tiny_model
    killed, straight = _two_projects(tmp_path, tiny_qwen, family)
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(_CHILD.format(repo=str(REPO), cfg=str(killed)))],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    cache_root = project_paths(killed).root / "cache"
    n_cached, err = kill_when_cached(child, cache_root, "*/m2_day3/windows.jsonl")
    assert 3 <= n_cached < 12, err
    (jsonl,) = cache_root.glob("*/m2_day3/windows.jsonl")
    with open(jsonl, "ab") as fh:  # a write torn by the kill
        fh.write(b'{"index": 999, "start_fr')
    run = jsonl.parent.parent.name
    assert not (project_paths(killed).vectors(run) / "m2_day3.h5").exists()

    assert mousefear.classify_videos(killed, progress=False) == run
    timing = json.loads((project_paths(killed).vectors(run) / "timing.json").read_text())
    cached_before = timing["videos"]["m2_day3"]["windows_classified"]
    assert 0 < cached_before <= 12 - n_cached  # only the missing windows were classified
    assert mousefear.classify_videos(straight, progress=False) == run
    a = project_paths(killed).vectors(run) / "m2_day3.h5"
    b = project_paths(straight).vectors(run) / "m2_day3.h5"
    _assert_same_vectors(a, b)
    assert (a.with_suffix(".csv")).read_bytes() == (b.with_suffix(".csv")).read_bytes()
    with h5py.File(a) as f:
        assert f.attrs["created"] == json.loads((a.parent / "run.json").read_text())["created"]


def test_torn_cache_line_is_ignored_and_rewritten(project, tiny_qwen):
    cfg_path = _configure(project, tiny_qwen)
    run = mousefear.classify_videos(cfg_path, progress=False)
    paths = project_paths(cfg_path)
    h5 = paths.vectors(run) / "m1_day1.h5"
    reference = _h5_content(h5)
    jsonl = paths.cache(run) / "m1_day1" / "windows.jsonl"
    lines = jsonl.read_bytes().splitlines(keepends=True)
    jsonl.write_bytes(lines[0] + lines[1][:17])  # window 1 half written when the process died
    h5.unlink()
    mousefear.classify_videos(cfg_path, progress=False)
    assert [json.loads(x)["index"] for x in jsonl.read_bytes().splitlines()] == [0, 1, 2]
    again = _h5_content(h5)
    for name in reference[0]:
        np.testing.assert_array_equal(reference[0][name], again[0][name])


class _EvenOddBackend(VideoBackend):
    """Video test backend: even frames freezing, odd frames exploring; windows get the majority."""

    name = "evenodd"

    def __init__(self, behaviors, *, rule: str = "parity"):
        super().__init__(behaviors)
        self.rule = rule
        self.calls = []

    def classify_video(self, video, window_bounds, *, crop, progress=True):
        n_frames = video.n_frames
        self.calls.append((video.path.name, video.fps, n_frames, crop))
        frame_label = (np.arange(n_frames) % 2).astype(np.int16)
        fp = np.zeros((n_frames, len(self.behaviors)), np.float32)
        fp[np.arange(n_frames), frame_label] = 1.0
        probs = np.stack([fp[s:e].mean(axis=0) for s, e in window_bounds]).astype(np.float32)
        return VideoResult(fp, frame_label, window_bounds[:, 0], window_bounds[:, 1], probs,
                           signals={"parity": frame_label.astype(np.float32)}, info={"rule": self.rule})


def test_frame_level_backend_goes_into_the_same_files(project, tiny_qwen):
    cfg_path = _configure(project, tiny_qwen)
    be = _EvenOddBackend(BEHAVIORS)
    run = mousefear.classify_videos(cfg_path, backend=be, progress=False)
    assert run.startswith("evenodd-") and be.calls == [("m1_day1.avi", 15.0, 45, (0, 0, 64, 48))]
    folder = project_paths(cfg_path).vectors(run)
    vec = mousefear.read_vector(folder / "m1_day1.h5")
    assert vec["label"].tolist() == ["freezing", "exploring"] * 22 + ["freezing"]  # per-frame, not per-window
    win = read_vector_windows(folder / "m1_day1.h5")
    np.testing.assert_allclose(win["freezing"], [8 / 15, 7 / 15, 8 / 15], rtol=1e-6)
    assert vec.attrs["backend"] == "evenodd" and vec.attrs["prompt_hash"] == "" and vec.attrs["icl_example_ids"] == []
    assert vec.attrs["backend_settings"] == {"rule": "parity"}
    # its per-frame signal is stored as a measurement (the backend gave no unit for it)
    from mousefear.formats.vectors import read_vector_measurements

    m = read_vector_measurements(folder / "m1_day1.h5")
    assert m["parity"].tolist() == [0.0, 1.0] * 22 + [0.0] and m.attrs["units"] == {"parity": ""}
    mousefear.classify_videos(cfg_path, backend=be, progress=False)
    assert len(be.calls) == 1  # finished: skipped
    # the same cache and resume as window backends: a result in the cache is not computed again
    cached = project_paths(cfg_path).cache(run) / "m1_day1" / "video.npz"
    assert cached.is_file()
    reference = _h5_content(folder / "m1_day1.h5")
    (folder / "m1_day1.h5").unlink()  # killed after the backend finished, before the file was written
    mousefear.classify_videos(cfg_path, backend=be, progress=False)
    assert len(be.calls) == 1
    again = _h5_content(folder / "m1_day1.h5")
    for name in reference[0]:
        np.testing.assert_array_equal(reference[0][name], again[0][name])


def test_cli_classify(project, tiny_qwen, capsys):
    from mousefear.cli import main

    cfg_path = _configure(project, tiny_qwen)
    assert main(["classify", str(cfg_path), "--run", "cli-run", "--videos", "m1_day1", "--no-progress"]) == 0
    assert "run cli-run" in capsys.readouterr().out
    assert (project_paths(cfg_path).vectors("cli-run") / "m1_day1.h5").is_file()
    _configure(cfg_path, tiny_qwen, prompt="minimal")
    assert main(["classify", str(cfg_path), "--run", "cli-run", "--no-progress"]) == 2
    assert "other settings" in capsys.readouterr().err


def test_real_openfield_video_one_window_per_second(tmp_path, tiny_qwen, shared_video):
    video = shared_video("openfield/m3v1mp4.mp4")
    cfg_path = mousefear.create_project("of", "t", [video], working_directory=tmp_path, video_pattern=None)
    _configure(cfg_path, tiny_qwen, input_mode="video", batch_size=4)
    (v,) = registered_videos(cfg_path)
    assert v.n_frames == 2330
    run = mousefear.classify_videos(cfg_path, progress=False)
    win = read_vector_windows(project_paths(cfg_path).vectors(run) / "m3v1mp4.h5")
    assert len(win) == 78 and win["end_frame"].iloc[-1] == 2330
    assert win["partial"].tolist() == [False] * 77 + [True]
    assert np.allclose(win[BEHAVIORS].sum(axis=1), 1, atol=1e-6)
    vec = mousefear.read_vector(project_paths(cfg_path).vectors(run) / "m3v1mp4.h5")
    assert len(vec) == 2330 and (vec["label"] != "").all()


def test_import_mousefear_stays_light():
    heavy = ["torch", "transformers", "pynwb", "hdmf", "ndx_ethogram", "av", "nwbinspector"]
    out = subprocess.run([sys.executable, "-c", f"import sys, mousefear; print([m for m in {heavy} if m in "
                          "sys.modules])"], capture_output=True, text=True, cwd=REPO,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.stdout.strip() == "[]", out.stderr


# --------------------------------------------------------------------------------------------------------
# Per-video settings (crop box, pixels_per_cm) after a finished or half-finished run
# --------------------------------------------------------------------------------------------------------


def _small(cfg_path: Path, **classification) -> Path:
    """Small frames and no in-context examples (no model is loaded: the tests pass a backend)."""
    cfg = load_config(cfg_path)
    c = cfg["classification"]
    c["frames_per_window"] = 2
    c["icl_per_class"] = 0
    c["preprocessing"]["max_pixels"] = 28 * 28 * 4
    for key, value in classification.items():
        c[key] = value
    save_config(cfg_path, cfg)
    return cfg_path


def _set_video(cfg_path: Path, video_id: str, **values) -> None:
    """Edit a video's entry in config.yaml as a user would (crop=[x, y, w, h], pixels_per_cm=...)."""
    from mousefear.core.config import new_seq

    cfg = load_config(cfg_path)
    (entry,) = [e for k, e in cfg["videos"].items() if Path(k).stem == video_id]
    for key, value in values.items():
        entry[key] = new_seq(value) if isinstance(value, list) else value
    save_config(cfg_path, cfg)


NEW_CROP = [16, 0, 32, 48]


def test_crop_edit_classifies_that_video_again(project, make_video, caplog):
    cfg_path = _small(project)
    mousefear.add_videos(cfg_path, [make_video("m2_day1.avi", moving=False)])
    be = FakeWindowBackend(BEHAVIORS)
    run = mousefear.classify_videos(cfg_path, backend=be, progress=False)
    folder = project_paths(cfg_path).vectors(run)
    assert sorted(v for v, _, _ in be.seen) == ["m1_day1"] * 3 + ["m2_day1"] * 3
    m1, m2 = folder / "m1_day1.h5", folder / "m2_day1.h5"
    old = read_vector_windows(m1)
    assert old.attrs["crop"] == [0, 0, 64, 48] and old.attrs["pixels_per_cm"] is None
    stamp2 = m2.stat().st_mtime_ns

    _set_video(cfg_path, "m1_day1", crop=NEW_CROP)
    _set_video(cfg_path, "m2_day1", pixels_per_cm=12.5)  # a window backend never sees the scale
    be.seen.clear()
    with caplog.at_level("INFO", logger="mousefear.pipeline.classify"):
        assert mousefear.classify_videos(cfg_path, backend=be, progress=False) == run
    assert "crop of m1_day1 changed from [0, 0, 64, 48] to [16, 0, 32, 48]: classifying it again" in caplog.text
    assert "m2_day1: finished already" in caplog.text and "pixels_per_cm" not in caplog.text
    assert [(v, i) for v, i, _ in be.seen] == [("m1_day1", 0), ("m1_day1", 1), ("m1_day1", 2)]
    assert m2.stat().st_mtime_ns == stamp2
    new = read_vector_windows(m1)
    assert new.attrs["crop"] == NEW_CROP and new.attrs["run_settings_sha256"] == old.attrs["run_settings_sha256"]
    assert not np.allclose(new[BEHAVIORS].to_numpy(), old[BEHAVIORS].to_numpy())  # the crop changed the results
    from mousefear.core.video import iter_windows

    (v1,) = [v for v in registered_videos(cfg_path) if v.id == "m1_day1"]
    pre = Project.open(cfg_path).settings.classification.preprocessing
    windows = [replace(w, frames=preprocess_window(w.frames, pre))
               for w in iter_windows(v1, 1.0, None, 2, crop=tuple(NEW_CROP))]
    expected = np.stack([FakeWindowBackend(BEHAVIORS).probabilities(w.frames) for w in windows])
    np.testing.assert_allclose(new[BEHAVIORS].to_numpy(), expected, rtol=1e-6)  # stored as float32

    be.seen.clear()
    mousefear.classify_videos(cfg_path, backend=be, progress=False)
    assert be.seen == []  # both finished with their current settings


def test_half_cached_video_with_new_crop_starts_again(project, make_video, tmp_path, caplog):
    cfg_path = _small(project)
    be = FakeWindowBackend(BEHAVIORS)
    run = mousefear.classify_videos(cfg_path, backend=be, progress=False)
    paths = project_paths(cfg_path)
    h5 = paths.vectors(run) / "m1_day1.h5"
    old_probs = read_vector_windows(h5)[BEHAVIORS].to_numpy()
    jsonl = paths.cache(run) / "m1_day1" / "windows.jsonl"
    jsonl.write_bytes(jsonl.read_bytes().splitlines(keepends=True)[0])  # killed after window 0 ...
    h5.unlink()
    _set_video(cfg_path, "m1_day1", crop=NEW_CROP)  # ... and then the crop box was edited
    be.seen.clear()
    with caplog.at_level("WARNING", logger="mousefear.pipeline.cache"):
        mousefear.classify_videos(cfg_path, backend=be, progress=False)
    assert "discarding the cached results (crop changed from [0, 0, 64, 48] to [16, 0, 32, 48])" in caplog.text
    assert [i for _, i, _ in be.seen] == [0, 1, 2]  # from the first window, not from window 1
    assert [json.loads(x)["index"] for x in jsonl.read_bytes().splitlines()] == [0, 1, 2]
    assert json.loads((jsonl.parent / "meta.json").read_text())["video"]["crop"] == NEW_CROP

    # the same as a run that had the new crop box from the start
    fresh = _small(mousefear.create_project("fc", "tester", [tmp_path / "src" / "m1_day1.avi"],
                                            working_directory=tmp_path / "fresh", date="2026-11-23"))
    _set_video(fresh, "m1_day1", crop=NEW_CROP)
    assert mousefear.classify_videos(fresh, backend=FakeWindowBackend(BEHAVIORS), progress=False) == run
    other = project_paths(fresh).vectors(run) / "m1_day1.h5"
    _assert_same_vectors(h5, other)
    assert h5.with_suffix(".csv").read_bytes() == other.with_suffix(".csv").read_bytes()
    assert not np.allclose(read_vector_windows(h5)[BEHAVIORS].to_numpy()[0], old_probs[0])  # mixing would show


def test_pixels_per_cm_edit_redoes_a_frame_level_video(project, caplog):
    cfg_path = _small(project)
    be = _EvenOddBackend(BEHAVIORS)
    run = mousefear.classify_videos(cfg_path, backend=be, progress=False)
    h5 = project_paths(cfg_path).vectors(run) / "m1_day1.h5"
    _set_video(cfg_path, "m1_day1", pixels_per_cm=12.5)
    with caplog.at_level("WARNING", logger="mousefear.pipeline.classify"):
        mousefear.classify_videos(cfg_path, backend=be, progress=False)
    assert "pixels_per_cm of m1_day1 changed from None to 12.5: classifying it again" in caplog.text
    assert len(be.calls) == 2 and read_vector_windows(h5).attrs["pixels_per_cm"] == 12.5
    _set_video(cfg_path, "m1_day1", crop=NEW_CROP)
    mousefear.classify_videos(cfg_path, backend=be, progress=False)
    assert be.calls[-1][3] == tuple(NEW_CROP) and len(be.calls) == 3
    mousefear.classify_videos(cfg_path, backend=be, progress=False)
    assert len(be.calls) == 3


def test_icl_frames_made_again_after_a_crop_edit(project, monkeypatch):
    import mousefear.pipeline.runs as runs
    from mousefear.pipeline.exemplars import exemplar_frames, exemplar_info

    cfg_path = _small(project)
    (ex_id,) = _label_exemplars(cfg_path, {0: "freezing"})
    _small(cfg_path, icl_per_class=1)
    decoded = []
    original = runs.read_frames
    monkeypatch.setattr(runs, "read_frames", lambda v, i, c: decoded.append(c) or original(v, i, c))
    be = FakeWindowBackend(BEHAVIORS)
    info_path = project_paths(cfg_path).exemplars / ex_id / "info.json"
    info = exemplar_info(cfg_path, ex_id)
    assert info["crop"] == [0, 0, 64, 48]

    rs = runs.run_settings(Project.open(cfg_path), be)
    assert decoded == []  # stored frames reused: made with the same preprocessing and crop box
    stored = exemplar_frames(cfg_path, ex_id)
    np.testing.assert_array_equal(rs.examples[0].frames, stored)
    assert rs.settings["icl"]["example_crops"] == [[0, 0, 64, 48]]

    _set_video(cfg_path, "m1_day1", crop=NEW_CROP)
    rs2 = runs.run_settings(Project.open(cfg_path), be)
    assert decoded == [tuple(NEW_CROP)]
    import cv2

    cap = cv2.VideoCapture(str(registered_videos(cfg_path)[0].path))
    frames = []
    for i in range(max(info["frame_indices"]) + 1):
        ok, img = cap.read()
        assert ok
        if i in info["frame_indices"]:
            frames.append(cv2.cvtColor(img[0:48, 16:48], cv2.COLOR_BGR2RGB))
    cap.release()
    expected = preprocess_window(np.stack(frames), Project.open(cfg_path).settings.classification.preprocessing)
    np.testing.assert_array_equal(rs2.examples[0].frames, expected)
    assert rs2.examples[0].frames.shape != stored.shape
    # every window's prompt shows the examples: their crop boxes are part of the run's identity
    assert rs2.settings["icl"]["example_crops"] == [NEW_CROP] and rs2.sha256 != rs.sha256

    # info.json from before the crop box was recorded: not trusted, decoded again
    _set_video(cfg_path, "m1_day1", crop=[0, 0, 64, 48])
    info.pop("crop")
    info_path.write_text(json.dumps(info))
    rs3 = runs.run_settings(Project.open(cfg_path), be)
    assert decoded == [tuple(NEW_CROP), (0, 0, 64, 48)] and rs3.sha256 == rs.sha256
    np.testing.assert_array_equal(rs3.examples[0].frames, stored)


def test_family_grid_reaches_icl_frames_and_is_checked_before_anything(project, tiny_qwen3, monkeypatch):
    import mousefear.pipeline.runs as runs
    from mousefear.backends import build_backend
    from mousefear.core.preprocess import PatchGrid
    from mousefear.core.video import read_frames

    cfg_path = _small(project)
    (ex_id,) = _label_exemplars(cfg_path, {0: "freezing"})  # extracted with the default (Qwen2.5-VL) grid
    _configure(cfg_path, tiny_qwen3, "qwen3_vl", icl_per_class=1)
    decoded = []
    original = runs.read_frames
    monkeypatch.setattr(runs, "read_frames", lambda v, i, c: decoded.append(c) or original(v, i, c))
    proj = Project.open(cfg_path)
    be = build_backend(proj.settings)
    rs = runs.run_settings(proj, be)
    assert be.net is None  # the family came from config.json: nothing loaded
    assert rs.grid == PatchGrid(factor=32, min_pixels=65536) and rs.preprocessing["patch_factor"] == 32
    assert decoded == [(0, 0, 64, 48)]  # the stored frames were made for the 28-pixel grid: decoded again
    info = mousefear.pipeline.exemplars.exemplar_info(cfg_path, ex_id)
    raw = read_frames(registered_videos(cfg_path)[0].path, np.array(info["frame_indices"]), (0, 0, 64, 48))
    expected = preprocess_window(raw, proj.settings.classification.preprocessing, grid=rs.grid)
    np.testing.assert_array_equal(rs.examples[0].frames, expected)
    assert expected.shape == (2, 224, 320, 3)  # 48 x 64 enlarged to at least 65536 pixels, sides multiples of 32

    cfg = load_config(cfg_path)
    cfg["classification"]["preprocessing"]["max_pixels"] = 28 * 28 * 4  # fine for Qwen2.5-VL, not for Qwen3-VL
    save_config(cfg_path, cfg)
    with pytest.raises(ProjectError) as err:
        mousefear.classify_videos(cfg_path, progress=False)
    assert str(err.value) == (f"{cfg_path}: classification.preprocessing.max_pixels is 3136, below the 65536 pixels "
                              "the model's processor enlarges every smaller frame to (32-pixel grid); set it to at "
                              "least 65536")
    assert not any((project_paths(cfg_path).root / "behavior-vectors").iterdir())
