"""Run names: a readable stem from the settings, then 6 hex digits of the settings' hash."""

from __future__ import annotations

import pytest

from mousefear.core.project import Project
from mousefear.pipeline.runs import _model_short, default_run_name, name_from_settings, preprocessing_text

SHA = "5ee282bb" + "0" * 56


def _model_settings(model="Qwen/Qwen2.5-VL-3B-Instruct", backend="transformers", template="default", icl=1,
                    decision="score", input_mode="images", **pre):
    prep = {"crop": True, "grayscale": False, "clahe": False, "motion": "none", **pre}
    return {"backend": {"backend": backend, "model_id": model, "settings": {"decision": decision,
                                                                          "input_mode": input_mode}},
            "frame_level": False, "prompt": {"template": template}, "icl": {"per_class": icl}, "preprocessing": prep}


@pytest.mark.parametrize("settings, name", [
    (_model_settings(), "qwen3b-icl1-5ee282"),
    (_model_settings(clahe=True), "qwen3b-icl1-clahe-5ee282"),
    (_model_settings("Qwen/Qwen2.5-VL-7B-Instruct", backend="openai", template="strict", icl=0, decision="generate",
                     input_mode="video", grayscale=True, motion="difference", crop=False),
     "openai-qwen7b-strict-icl0-gen-vid-gray-diff-nocrop-5ee282"),
    (_model_settings("/models/my finetune/", motion="overlay"), "my-finetune-icl1-overlay-5ee282"),
    ({"backend": {"backend": "motion", "settings": {"freeze_threshold": 0.0005, "min_freeze_seconds": 1.0,
                                                    "flee_speed": None}}, "frame_level": True},
     "motion-0.0005-1s-5ee282"),
    ({"backend": {"backend": "motion", "settings": {"freeze_threshold": 2e-05, "min_freeze_seconds": 0.5,
                                                    "flee_speed": 4.0}}, "frame_level": True},
     "motion-2e-05-0.5s-flee-5ee282"),
    ({"backend": {"backend": "motion", "settings": {"method": "pixels", "freeze_threshold": 0.001,
                                                    "body_change_threshold": 0.03, "min_freeze_seconds": 1.0,
                                                    "flee_speed": None}}, "frame_level": True},
     "motion-pixels-0.001-1s-5ee282"),
    ({"backend": {"backend": "motion", "settings": {"method": "animal", "freeze_threshold": 0.001,
                                                    "body_change_threshold": 0.03, "min_freeze_seconds": 2.0,
                                                    "flee_speed": None}}, "frame_level": True},
     "motion-animal-0.03-2s-5ee282"),
])
def test_default_run_names_lead_with_a_readable_stem(settings, name):
    assert name_from_settings(settings, SHA) == name


def test_model_short_names():
    assert _model_short("Qwen/Qwen2.5-VL-72B-Instruct") == "qwen72b"
    assert _model_short("Qwen/Qwen2.5-VL-7B-Instruct-AWQ") == "qwen7b-awq"
    assert _model_short("/tmp/tiny-qwen0") == "tiny-qwen0"


def test_default_run_name_of_a_project(project):
    p = Project.open(project)
    name = default_run_name(p, p.settings.updated({"classification.backend": "motion"}))
    assert name.startswith("motion-animal-0.03-1s-") and len(name.rsplit("-", 1)[1]) == 6


def test_preprocessing_text():
    assert preprocessing_text({"crop": True, "max_pixels": 200704, "grayscale": True, "clahe": True,
                               "clahe_clip_limit": 2.0, "clahe_tile_grid": 8, "motion": "overlay"}) == (
        "crop, max_pixels=200704, grayscale, clahe 2/8, motion=overlay")
    assert preprocessing_text({"crop": False}) == "none" and preprocessing_text(None) == ""
