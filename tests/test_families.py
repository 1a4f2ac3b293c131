"""Model families: the family read from a checkpoint's config, and the resize rule against each family's own
processor (the frames preprocessing makes must be kept as they are, and give the visual tokens we count)."""

from __future__ import annotations

import numpy as np
import pytest

from mousefear.backends.families import FAMILIES, QWEN2_5_VL, QWEN3_VL, family_from_config, family_named
from mousefear.core.preprocess import PatchGrid, preprocess_window
from mousefear.core.sections import ClassificationSettings
from mousefear.core.settings import Settings
from mousefear.errors import ConfigError, ModelError

#: raw frame sizes (height, width): VGA, QVGA, a tiny crop (enlarged), full HD, a B-SOiD panel, a tall crop
RAW = [(480, 640), (240, 320), (48, 64), (1080, 1920), (360, 450), (700, 150)]


def test_the_two_families():
    assert list(FAMILIES) == ["qwen2_5_vl", "qwen3_vl"]
    assert (QWEN2_5_VL.factor, QWEN2_5_VL.grid) == (28, PatchGrid(28, 3136))
    assert (QWEN3_VL.factor, QWEN3_VL.grid) == (32, PatchGrid(32, 65536))
    assert QWEN3_VL.processor_size == {"shortest_edge": 65536, "longest_edge": 16777216}
    assert QWEN2_5_VL.rope_inputs == ("second_per_grid_ts",) and QWEN3_VL.rope_inputs == ()
    assert QWEN2_5_VL.end_of_turn == QWEN3_VL.end_of_turn == "<|im_end|>"
    assert QWEN3_VL.visual_tokens(4, 448, 448) == 4 * 14 * 14 and QWEN2_5_VL.visual_tokens(4, 448, 448) == 4 * 16 * 16
    assert QWEN3_VL.visual_tokens(3, 448, 448, "video") == 2 * 14 * 14  # an odd last frame is repeated
    with pytest.raises(ValueError, match="Expected frame sides that are multiples of 32 for Qwen3-VL, but got 448x420"):
        QWEN3_VL.visual_tokens(1, 420, 448)
    # the setting's choices are the families
    check = ClassificationSettings.__dataclass_fields__["model_family"].metadata["check"]
    assert check("qwen3_vl") is None and check("auto") is None
    assert check("qwen3") == "one of " + ", ".join(["auto", *FAMILIES])
    with pytest.raises(ConfigError, match="Expected classification.model_family to be one of auto, qwen2_5_vl, "
                                          "qwen3_vl, but got 'qwen2'"):
        Settings.default().updated({"classification.model_family": "qwen2"})
    with pytest.raises(ConfigError, match="Expected classification.model_family to be one of auto, qwen2_5_vl"):
        family_named("llava")


def test_family_from_real_configs():
    pytest.importorskip("transformers")
    from mousefear.testing import REAL_SHAPES, _config

    for shape, (family, text, vision, tie) in REAL_SHAPES.items():
        config = _config(family, text, vision, tie, {}).to_dict()  # what save_pretrained writes to config.json
        config["architectures"] = list(FAMILIES[family].architectures)
        assert family_from_config(config, shape) is FAMILIES[family], shape
        assert family_from_config({"architectures": config["architectures"]}, shape) is FAMILIES[family]
    with pytest.raises(ModelError) as err:
        family_from_config({"model_type": "qwen2_vl", "architectures": ["Qwen2VLForConditionalGeneration"]}, "x.json")
    assert str(err.value) == ("x.json: model_type 'qwen2_vl' (architectures ['Qwen2VLForConditionalGeneration']) is "
                              "not a model family mousefear supports; supported: qwen2_5_vl (Qwen2.5-VL: "
                              "Qwen2_5_VLForConditionalGeneration), qwen3_vl (Qwen3-VL: "
                              "Qwen3VLForConditionalGeneration)")


@pytest.mark.parametrize("name", list(FAMILIES))
def test_preprocessed_frames_are_kept_by_the_family_processor(name):
    """For each raw size: preprocessing with the family's grid, then the family's processor with its released
    settings (no override) on the same frame: it keeps the size, and its grid gives the tokens we count."""
    pytest.importorskip("transformers")
    from mousefear.testing import build_qwen_processor

    family = FAMILIES[name]
    processor = build_qwen_processor(family=name)
    settings = Settings.default().classification.preprocessing  # max_pixels 200704
    for h, w in RAW:
        raw = np.random.default_rng(h * w).integers(0, 256, (4, h, w, 3), dtype=np.uint8)
        frames = preprocess_window(raw, settings, grid=family.grid)
        fh, fw = frames.shape[1:3]
        assert fh % family.factor == 0 and fw % family.factor == 0, (h, w)
        assert family.min_pixels <= fh * fw <= max(settings.max_pixels, family.min_pixels), (h, w)
        out = processor.image_processor(images=list(frames), return_tensors="pt")
        grid = out["image_grid_thw"]
        assert grid.tolist() == [[1, fh // family.patch_size, fw // family.patch_size]] * 4  # kept as they are
        assert int(grid.prod(-1).sum()) // family.merge_size**2 == family.visual_tokens(4, fh, fw, "images")
        video = processor.video_processor(videos=[list(frames)], do_sample_frames=False, return_tensors="pt")
        (t, gh, gw), = video["video_grid_thw"].tolist()
        assert (gh * family.patch_size, gw * family.patch_size) == (fh, fw), (h, w)  # kept as they are
        assert t * gh * gw // family.merge_size**2 == family.visual_tokens(4, fh, fw, "video")
