"""config.yaml and its settings: template, round trip with comments, validation, defaults, typed settings."""

from __future__ import annotations

import pytest

from mousefear.core import config as C
from mousefear.core.project import Project
from mousefear.core.sections import MotionSettings
from mousefear.core.settings import Settings, key_paths, load_config, save_config
from mousefear.errors import ConfigError


def validate(doc, path="config.yaml") -> Settings:
    return Settings.from_mapping(doc, path)


def node_of(doc, dotted: str):
    for part in dotted.split(".") if dotted else []:
        doc = doc[part]
    return doc


def test_template_has_every_validated_key_and_comments():
    cfg = C.template_document()
    settings = validate(cfg)  # the template itself is valid
    text = (C.templates_dir() / "config.yaml").read_text()
    for section in ("# Project", "# Behaviours", "# Videos", "# Exemplars", "# Classification", "# Evaluation",
                    "# Protocol", "# NWB and DANDI", "# Randomness"):
        assert section in text
    assert settings.behavior_names == ["freezing", "exploring", "grooming", "rearing", "fleeing"]
    for key in key_paths():  # every field of the settings has its key in the template ...
        node_of(cfg, key)
    template_keys = []

    def walk(node, prefix):
        for k, v in node.items():
            if isinstance(v, dict) and k not in ("videos", "protocol", "subjects", "session_start_times",
                                                     "sbatch_options", "min_bout_seconds"):
                walk(v, f"{prefix}{k}.")
            else:
                template_keys.append(f"{prefix}{k}")

    walk(C.template_document(), "")
    assert sorted(template_keys) == sorted(key_paths())  # ... and the template has no key the settings lack


def test_defaults_come_from_the_template_only():
    s = Settings.default()
    assert s.classification.motion == MotionSettings(
        method="animal", pixel_cutoff=20.0, body_change_threshold=0.03, still_speed=0.5, lag_seconds=0.1,
        animal_contrast=30.0, blur_kernel=5, freeze_threshold=0.0005, min_freeze_seconds=1.0, freezing_unit="window",
        flee_speed=None,
        flee_speed_unit="cm/s", animal="dark", analysis_width=320, max_repeat_frames=3,
        moving_behavior="exploring", fleeing_behavior="fleeing")
    assert isinstance(s.classification.window_seconds, float) and s.classification.stride_seconds is None
    assert s.evaluation.by == () and s.videos == () and s.protocol == ()


def test_settings_are_frozen_and_updated_through_the_same_checks():
    s = Settings.default()
    with pytest.raises(AttributeError):
        s.seed = 3  # type: ignore[misc]
    t = s.updated({"classification.motion.flee_speed": 8, "seed": 7})
    assert t.classification.motion.flee_speed == 8.0 and t.seed == 7 and s.seed == 42
    with pytest.raises(ConfigError, match=r"Expected classification.motion.pixel_cutoff to be a number >= 0 and "
                                          r"<= 255, but got 300"):
        s.updated({"classification.motion.pixel_cutoff": 300})
    with pytest.raises(ConfigError, match=r"unknown key classification.motion.freeze_treshold \(did you mean "
                                          r"classification.motion.freeze_threshold\?\)"):
        s.updated({"classification.motion.freeze_treshold": 0.1})
    assert Settings.from_mapping(s.to_mapping()) == s  # the mapping form reads back to equal settings


def test_project_reads_config_once_and_edits_keep_comments(project):
    p = Project.open(project)
    assert Project.open(p) is p
    assert p.settings.videos[0].id == "m1_day1" and p.videos[0].path == p.root / "videos" / "m1_day1.avi"
    before = project.read_text()
    with p.edit() as doc:
        doc["seed"] = 7
    assert p.settings.seed == 7 and Project.open(project).settings.seed == 7
    after = project.read_text()
    assert [a for a in after.splitlines() if a not in before.splitlines()] == ["seed: 7"]
    with pytest.raises(ConfigError, match="Expected seed to be a whole number >= 0"), p.edit() as doc:
        doc["seed"] = -1
    assert project.read_text() == after and p.settings.seed == 7  # nothing written, nothing changed


def test_round_trip_keeps_file_byte_identical_apart_from_changed_value(project):
    before = project.read_text()
    cfg = load_config(project)
    save_config(project, cfg)
    assert project.read_text() == before  # unchanged round trip is byte-identical
    cfg["classification"]["window_seconds"] = 2.0
    save_config(project, cfg)
    after = project.read_text()
    diff = [(a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=True) if a != b]
    assert len(diff) == 1
    assert diff[0][0].replace("1.0", "2.0", 1) == diff[0][1]
    comment = "# length of one window, in seconds: one label per window"
    assert diff[0][1].endswith(comment)  # the comment on that line is kept


def test_reading_never_writes(project):
    mtime = project.stat().st_mtime_ns
    text = project.read_text()
    load_config(project)
    load_config(project.parent)  # the folder works too
    assert project.stat().st_mtime_ns == mtime and project.read_text() == text


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("classification.window_seconds", "abc", "Expected classification.window_seconds to be a positive number"),
        ("classification.frames_per_window", 0, "Expected classification.frames_per_window to be a whole number >= 1"),
        ("classification.backend", "tensorflow", "Expected classification.backend to be one of transformers, openai"),
        ("classification.preprocessing.grayscale", "yes", "to be true or false, but got 'yes'"),
        ("seed", 1.5, "Expected seed to be a whole number >= 0, but got 1.5"),
        ("evaluation.bout_iou", 2, "Expected evaluation.bout_iou to be a number > 0 and <= 1, but got 2"),
        ("evaluation.bout_iou", 0, "Expected evaluation.bout_iou to be a number > 0 and <= 1, but got 0"),
        ("classification.motion.pixel_cutoff", 256, "Expected classification.motion.pixel_cutoff to be a number >= 0 "
         "and <= 255, but got 256"),
    ],
)
def test_validation_names_key_value_and_expectation(project, key, value, expected):
    cfg = load_config(project)
    section, _, leaf = key.rpartition(".")
    node = node_of(cfg, section)
    node[leaf] = value
    before = project.read_text()
    with pytest.raises(ConfigError, match=expected):
        save_config(project, cfg)  # refuses to write an invalid config
    assert project.read_text() == before
    project.write_text(C.dump_document(cfg))
    with pytest.raises(ConfigError) as err:
        load_config(project)
    assert str(project) in str(err.value) and expected.split(",")[0] in str(err.value)


def test_bad_behaviours_and_missing_file(project, tmp_path):
    cfg = load_config(project)
    cfg["behaviors"].append({"name": "freezing", "definition": "again"})
    with pytest.raises(ConfigError, match="behaviour 'freezing' is listed twice"):
        validate(cfg, project)
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "nowhere" / "config.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("project: [unclosed\n")
    with pytest.raises(ConfigError, match="not a readable YAML file"):
        load_config(bad)


def test_behaviour_roles_must_name_behaviours(project):
    cfg = load_config(project)
    assert cfg["freezing_behavior"] == "freezing"
    cfg["behaviors"][0]["name"] = "immobility"  # renamed, freezing_behavior not
    with pytest.raises(ConfigError, match=r"Expected freezing_behavior to be one of the behaviours \['immobility', "
                       r".*or null, but got 'freezing'"):
        validate(cfg, project)
    cfg["freezing_behavior"] = "immobility"
    validate(cfg, project)  # the motion section is only checked with the motion backend
    cfg["classification"]["backend"] = "motion"
    validate(cfg, project)  # the motion backend's freezing class is freezing_behavior itself
    cfg["classification"]["motion"]["moving_behavior"] = "immobility"
    with pytest.raises(ConfigError, match="moving_behavior to be a behaviour other than freezing_behavior "
                       "'immobility'"):
        validate(cfg, project)
    cfg["classification"]["motion"]["moving_behavior"] = "walking"
    with pytest.raises(ConfigError, match="classification.motion.moving_behavior to be one of the behaviours"):
        validate(cfg, project)
    cfg["classification"]["motion"]["moving_behavior"] = "exploring"
    cfg["classification"]["motion"]["fleeing_behavior"] = "exploring"
    with pytest.raises(ConfigError, match="fleeing_behavior to be a behaviour other than"):
        validate(cfg, project)
    cfg["classification"]["motion"]["fleeing_behavior"] = None
    cfg["freezing_behavior"] = None  # no freezing class: not with the motion backend
    with pytest.raises(ConfigError, match="Expected freezing_behavior to be one of the behaviours .* \\(the motion "
                       "backend decides it for stillness\\), but got None"):
        validate(cfg, project)
    cfg["classification"]["backend"] = "transformers"
    validate(cfg, project)  # otherwise allowed


def test_crop_box_must_lie_inside_the_frame(project):
    cfg = load_config(project)
    entry = next(iter(cfg["videos"].values()))
    entry["crop"] = [0, 0, entry["width"] + 1, entry["height"]]
    with pytest.raises(ConfigError, match=r"crop to be \[x, y, width, height\] inside the 64x48 frame"):
        validate(cfg, project)


def test_missing_keys_are_filled_from_template_in_memory_only(project):
    text = project.read_text()
    cut = text.replace("  icl_required: false", "", 1)
    assert cut != text
    project.write_text(cut)
    cfg = load_config(project)
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
    cfg = load_config(project)
    node = node_of(cfg, section)
    node[key] = value
    project.write_text(C.dump_document(cfg))
    with pytest.raises(ConfigError, match=message) as err:
        load_config(project)
    assert str(project) in str(err.value)


def test_unknown_key_in_a_video_entry(project):
    cfg = load_config(project)
    next(iter(cfg["videos"].values()))["pixel_per_cm"] = 10.0
    with pytest.raises(ConfigError, match=r"unknown key videos\['videos/m1_day1.avi'\].pixel_per_cm \(did you mean "
                                          r"videos\['videos/m1_day1.avi'\].pixels_per_cm\?\)"):
        validate(cfg, project)


def test_nwb_settings_checked_with_one_line_errors():
    from mousefear.core.settings import Settings
    from mousefear.errors import ConfigError

    s = Settings.default()
    assert s.nwb.subject("m1") == {"subject_id": "m1", "species": "Mus musculus", "strain": None, "sex": "U",
                                   "age": None, "genotype": None}
    s2 = s.updated({"nwb.age": "P90D", "nwb.subjects": {"m2": {"sex": "F", "age": "P84D"}},
                    "nwb.session_start_times": {"m2_day1": "2026-01-15T09:30:00Z"}})
    assert s2.nwb.subject("m2")["sex"] == "F" and s2.nwb.subject("m2")["age"] == "P84D"
    assert s2.nwb.subject("m1")["age"] == "P90D"
    assert s2.nwb.start_time("m2_day1").isoformat() == "2026-01-15T09:30:00+00:00" and s2.nwb.start_time("x") is None
    assert s2.updated({"seed": 1}).nwb == s2.nwb  # to_mapping and back keeps the section
    for key, value, message in [
        ("nwb.age", "90 days", r"Expected nwb.age to be an ISO 8601 duration such as P90D \(90 days\) or P12W or null"),
        ("nwb.sex", "male", r"Expected nwb.sex to be one of M, F, U, O, but got 'male'"),
        ("nwb.subjects", {"m1": {"sexx": "F"}}, r"unknown key nwb.subjects\['m1'\].sexx \(did you mean "
                                                r"nwb.subjects\['m1'\].sex\?\)"),
        ("nwb.subjects", {"m1": {"age": "old"}}, r"Expected nwb.subjects\['m1'\].age to be an ISO 8601 duration"),
        ("nwb.session_start_times", {"v1": "2026-01-15T09:30:00"},
         r"Expected nwb.session_start_times\['v1'\] to be a date and time with time zone"),
        ("nwb.keywords", "fear", r"Expected nwb.keywords to be a list of texts"),
    ]:
        with pytest.raises(ConfigError, match=message):
            s.updated({key: value})
