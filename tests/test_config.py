"""config.yaml: template, round trip with comments, validation, defaults."""

from __future__ import annotations

import pytest

from mousefear import config as C
from mousefear.errors import ConfigError


def test_template_has_every_validated_key_and_comments():
    cfg = C.template_config()
    C.validate_config(cfg)  # the template itself is valid
    text = (C.templates_dir() / "config.yaml").read_text()
    for section in ("# Project", "# Behaviours", "# Videos", "# Exemplars", "# Classification", "# Evaluation",
                    "# Protocol", "# Randomness"):
        assert section in text
    assert C.behavior_names(cfg) == ["freezing", "exploring", "grooming", "rearing", "fleeing"]
    for key in C.SCHEMA:
        C.get(cfg, key)


def test_round_trip_keeps_file_byte_identical_apart_from_changed_value(project):
    before = project.read_text()
    cfg = C.load_config(project)
    C.save_config(project, cfg)
    assert project.read_text() == before  # unchanged round trip is byte-identical
    cfg["classification"]["window_seconds"] = 2.0
    C.save_config(project, cfg)
    after = project.read_text()
    diff = [(a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=True) if a != b]
    assert len(diff) == 1
    assert diff[0][0].replace("1.0", "2.0", 1) == diff[0][1]
    comment = "# length of one window, in seconds: one label per window"
    assert diff[0][1].endswith(comment)  # the comment on that line is kept


def test_reading_never_writes(project):
    mtime = project.stat().st_mtime_ns
    text = project.read_text()
    C.load_config(project)
    C.load_config(project.parent)  # the folder works too
    assert project.stat().st_mtime_ns == mtime and project.read_text() == text


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("classification.window_seconds", "abc", "Expected classification.window_seconds to be a positive number"),
        ("classification.frames_per_window", 0, "Expected classification.frames_per_window to be a whole number >= 1"),
        ("classification.backend", "tensorflow", "Expected classification.backend to be one of transformers, openai"),
        ("classification.preprocessing.grayscale", "yes", "to be true or false, but got 'yes'"),
        ("seed", 1.5, "Expected seed to be a whole number >= 0, but got 1.5"),
        ("evaluation.bout_iou", 2, "Expected evaluation.bout_iou to be a number between 0 and 1, but got 2"),
    ],
)
def test_validation_names_key_value_and_expectation(project, key, value, expected):
    cfg = C.load_config(project)
    section, _, leaf = key.rpartition(".")
    node = C.get(cfg, section) if section else cfg
    node[leaf] = value
    before = project.read_text()
    with pytest.raises(ConfigError, match=expected):
        C.save_config(project, cfg)  # refuses to write an invalid config
    assert project.read_text() == before
    project.write_text(C.dump_config(cfg))
    with pytest.raises(ConfigError) as err:
        C.load_config(project)
    assert str(project) in str(err.value) and expected.split(",")[0] in str(err.value)


def test_bad_behaviours_and_missing_file(project, tmp_path):
    cfg = C.load_config(project)
    cfg["behaviors"].append({"name": "freezing", "definition": "again"})
    with pytest.raises(ConfigError, match="behaviour 'freezing' is listed twice"):
        C.validate_config(cfg, project)
    with pytest.raises(ConfigError, match="no such config file"):
        C.load_config(tmp_path / "nowhere" / "config.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("project: [unclosed\n")
    with pytest.raises(ConfigError, match="not a readable YAML file"):
        C.load_config(bad)


def test_behaviour_roles_must_name_behaviours(project):
    cfg = C.load_config(project)
    assert cfg["freezing_behavior"] == "freezing"
    cfg["behaviors"][0]["name"] = "immobility"  # renamed, freezing_behavior not
    with pytest.raises(ConfigError, match=r"Expected freezing_behavior to be one of the behaviours \['immobility', "
                       r".*or null, but got 'freezing'"):
        C.validate_config(cfg, project)
    cfg["freezing_behavior"] = "immobility"
    C.validate_config(cfg, project)  # the motion section is only checked with the motion backend
    cfg["classification"]["backend"] = "motion"
    C.validate_config(cfg, project)  # the motion backend's freezing class is freezing_behavior itself
    assert C.classification_settings(cfg)["motion"]["freezing_behavior"] == "immobility"
    cfg["classification"]["motion"]["moving_behavior"] = "immobility"
    with pytest.raises(ConfigError, match="moving_behavior to be a behaviour other than freezing_behavior "
                       "'immobility'"):
        C.validate_config(cfg, project)
    cfg["classification"]["motion"]["moving_behavior"] = "walking"
    with pytest.raises(ConfigError, match="classification.motion.moving_behavior to be one of the behaviours"):
        C.validate_config(cfg, project)
    cfg["classification"]["motion"]["moving_behavior"] = "exploring"
    cfg["classification"]["motion"]["fleeing_behavior"] = "exploring"
    with pytest.raises(ConfigError, match="fleeing_behavior to be a behaviour other than"):
        C.validate_config(cfg, project)
    cfg["classification"]["motion"]["fleeing_behavior"] = None
    cfg["freezing_behavior"] = None  # no freezing class: not with the motion backend
    with pytest.raises(ConfigError, match="Expected freezing_behavior to be one of the behaviours .* \\(the motion "
                       "backend decides it for stillness\\), but got None"):
        C.validate_config(cfg, project)
    cfg["classification"]["backend"] = "transformers"
    C.validate_config(cfg, project)  # otherwise allowed


def test_crop_box_must_lie_inside_the_frame(project):
    cfg = C.load_config(project)
    entry = next(iter(cfg["videos"].values()))
    entry["crop"] = [0, 0, entry["width"] + 1, entry["height"]]
    with pytest.raises(ConfigError, match=r"crop to be \[x, y, width, height\] inside the 64x48 frame"):
        C.validate_config(cfg, project)


def test_missing_keys_are_filled_from_template_in_memory_only(project):
    text = project.read_text()
    cut = text.replace("  icl_required: false", "", 1)
    assert cut != text
    project.write_text(cut)
    cfg = C.load_config(project)
    assert cfg["classification"]["icl_required"] is False
    assert project.read_text() == cut


@pytest.mark.parametrize(
    "edit, message",
    [
        (("classification", "stride_secs", 0.5),
         r"unknown key classification.stride_secs \(did you mean classification.stride_seconds\?\)"),
        ((None, "sed", 1), r"unknown key sed \(did you mean seed\?\)"),
        (("classification.preprocessing", "clahe_clip", 3.0),
         r"unknown key classification.preprocessing.clahe_clip \(did you mean "
         r"classification.preprocessing.clahe_clip_limit\?\)"),
    ],
)
def test_unknown_keys_are_errors_with_a_suggestion(project, edit, message):
    section, key, value = edit
    cfg = C.load_config(project)
    node = C.get(cfg, section) if section else cfg
    node[key] = value
    project.write_text(C.dump_config(cfg))
    with pytest.raises(ConfigError, match=message) as err:
        C.load_config(project)
    assert str(project) in str(err.value)


def test_unknown_key_in_a_video_entry(project):
    cfg = C.load_config(project)
    next(iter(cfg["videos"].values()))["pixel_per_cm"] = 10.0
    with pytest.raises(ConfigError, match=r"unknown key videos\['videos/m1_day1.avi'\].pixel_per_cm \(did you mean "
                                          r"videos\['videos/m1_day1.avi'\].pixels_per_cm\?\)"):
        C.validate_config(cfg, project)
