"""Preprocessing: exact pixel values on tiny synthetic frames, the fixed order of the chain, settings."""

from __future__ import annotations

import json

import numpy as np
import pytest

import mousefear
from mousefear.core.preprocess import (
    PREPROCESSING_VERSION,
    clahe,
    crop_frames,
    grey_levels,
    motion_difference,
    motion_overlay,
    preprocess_window,
    preprocessing_record,
    resize_frames,
    smart_resize,
    to_grayscale,
)
from mousefear.core.project import Project
from mousefear.core.settings import Settings
from mousefear.errors import ConfigError


def grey(values) -> np.ndarray:
    """(..., h, w, 3) uint8 grey frames from (..., h, w) values."""
    v = np.asarray(values, dtype=np.uint8)
    return np.repeat(v[..., None], 3, axis=-1)


def settings(**over):
    """The template's preprocessing settings with changes, through the same checks as config.yaml."""
    return Settings.default().updated({f"classification.preprocessing.{k}": v for k, v in over.items()}
                                      ).classification.preprocessing


def test_crop_frames():
    f = np.arange(5 * 6 * 3, dtype=np.uint8).reshape(5, 6, 3)
    out = crop_frames(f, (1, 2, 3, 2))
    assert out.shape == (2, 3, 3) and np.array_equal(out, f[2:4, 1:4])
    stack = np.stack([f, f + 1])
    assert np.array_equal(crop_frames(stack, (0, 0, 6, 1)), stack[:, :1])
    with pytest.raises(ValueError, match=r"inside the 6x5 frame, but got \(4, 0, 3, 2\)"):
        crop_frames(f, (4, 0, 3, 2))


@pytest.mark.parametrize("hw, budget, expected", [
    ((480, 640), 200704, (364, 504)),   # over budget: scaled by sqrt(307200/200704), rounded down to 28s
    ((240, 320), 200704, (252, 308)),   # within budget: nearest multiples of 28
    ((360, 450), 200704, (364, 448)),   # a B-SOiD panel
    ((20, 20), 200704, (56, 56)),       # below the processor's minimum (56 x 56): scaled up
    ((480, 640), 784, (28, 28)),        # tiny budget: never below 28 per side
    ((28, 2800), 10**7, (28, 2800)),
])
def test_smart_resize(hw, budget, expected):
    h, w = smart_resize(*hw, max_pixels=budget)
    assert (h, w) == expected
    assert h % 28 == 0 and w % 28 == 0 and (h * w <= budget or (h, w) == (28, 28))


def test_smart_resize_rejects_extreme_aspect():
    with pytest.raises(ValueError, match="aspect ratio"):
        smart_resize(10, 2500, max_pixels=200704)


def test_resize_averages_blocks_exactly():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 60, size=(28, 56, 3)) * 4
    offsets = np.array([[0, 4], [8, 12]])  # each 2x2 block holds b, b+4, b+8, b+12: its mean is b + 6
    f = (np.repeat(np.repeat(base, 2, axis=0), 2, axis=1) + np.tile(offsets, (28, 56))[..., None]).astype(np.uint8)
    out = resize_frames(f, max_pixels=28 * 56)
    assert out.shape == (28, 56, 3)
    assert np.array_equal(out, (base + 6).astype(np.uint8))
    assert np.array_equal(out, f.reshape(28, 2, 56, 2, 3).mean(axis=(1, 3)).astype(np.uint8))
    same = resize_frames(np.stack([f, f]), max_pixels=56 * 112)
    assert same.shape == (2, 56, 112, 3) and np.array_equal(same[1], f)


def test_grayscale_weights():
    f = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [100, 50, 200]]], dtype=np.uint8)
    assert grey_levels(f).tolist() == [[76, 150, 29, 82]]  # 0.299 R + 0.587 G + 0.114 B, rounded
    g = to_grayscale(f)
    assert g.shape == (1, 4, 3) and g[..., 0].tolist() == [[76, 150, 29, 82]]
    assert np.array_equal(g[..., 0], g[..., 1]) and np.array_equal(g[..., 0], g[..., 2])


def test_clahe_grey_exact_values():
    v = np.full((8, 8), 50, np.uint8)
    v[6:, :] = 60  # 48 pixels at 50, 16 at 60
    out = clahe(grey(v), clip_limit=1000.0, tile_grid=1)
    # one tile, no clipping: level -> 255 * (pixels at or below it) / 64
    assert out[0, 0].tolist() == [191, 191, 191] and out[7, 7].tolist() == [255, 255, 255]
    assert np.unique(out).tolist() == [191, 255]


def test_clahe_colour_keeps_hue_order():
    f = np.zeros((16, 16, 3), np.uint8)
    f[..., 0] = 90
    f[..., 1] = 60
    f[..., 2] = 60
    f[8:, :, 0] = 100
    out = clahe(f, clip_limit=1000.0, tile_grid=1)
    assert not np.array_equal(out, f)
    assert (out[..., 0] >= out[..., 1]).all()  # still reddish: equalised on lightness only


def test_motion_difference_exact():
    frames = grey([np.full((4, 4), 100), np.full((4, 4), 110), np.full((4, 4), 110)])
    frames[1, 2, 3] = 150
    out = motion_difference(frames)
    assert out.shape == (3, 4, 4, 3) and out.dtype == np.uint8
    assert out[0, 0, 0, 0] == 40 and out[0, 2, 3, 0] == 200  # first frame: compared with the next one
    assert out[1, 0, 0, 0] == 40 and out[1, 2, 3, 0] == 200
    assert out[2, 0, 0, 0] == 0 and out[2, 2, 3, 0] == 160
    big = grey([np.zeros((2, 2)), np.full((2, 2), 100)])
    assert motion_difference(big)[1, 0, 0].tolist() == [255, 255, 255]  # 4 * 100 clipped at 255
    assert not motion_difference(frames[:1]).any()  # a single frame has nothing to compare with


def test_motion_overlay_exact():
    frames = grey([np.full((4, 4), 100), np.full((4, 4), 110), np.full((4, 4), 110)])
    frames[1, 2, 3] = 150
    out = motion_overlay(frames, threshold=20)
    changed = np.zeros((3, 4, 4), bool)
    changed[:, 2, 3] = True  # changes 50, 50, 40 > 20; the 10-level change elsewhere is not painted
    assert (out[changed] == [255, 0, 0]).all()
    assert np.array_equal(out[~changed], frames[~changed])


def test_chain_order_and_identity():
    rng = np.random.default_rng(1)
    frames = rng.integers(40, 200, size=(3, 56, 56, 3)).astype(np.uint8)
    off = settings(max_pixels=56 * 56, crop=True)
    assert np.array_equal(preprocess_window(frames, off), frames)  # sides already multiples of 28
    # crop box honoured only with crop: true
    cropped = preprocess_window(np.pad(frames, ((0, 0), (0, 10), (0, 4), (0, 0))), off, crop_box=(0, 0, 56, 56))
    assert np.array_equal(cropped, frames)
    # motion is measured on the resized frames before grayscale and CLAHE
    s = settings(max_pixels=56 * 56, grayscale=True, clahe=True, motion="difference")
    assert np.array_equal(preprocess_window(frames, s), motion_difference(frames))
    s = settings(max_pixels=56 * 56, grayscale=True, motion="overlay")
    expected = motion_overlay(to_grayscale(frames), reference=grey_levels(frames))
    assert np.array_equal(preprocess_window(frames, s), expected)
    # default settings on a VGA frame
    vga = np.zeros((4, 480, 640, 3), np.uint8)
    assert preprocess_window(vga, settings()).shape == (4, 364, 504, 3)


def test_bad_input():
    with pytest.raises(ValueError, match="Expected frames as uint8 RGB"):
        preprocess_window(np.zeros((2, 4, 4, 3), np.float32), settings())
    with pytest.raises(ConfigError, match="Expected classification.preprocessing.motion to be one of none, "
                                          "difference, overlay, but got 'blur'"):
        settings(motion="blur")


def test_settings_from_config(project):
    s = preprocessing_record(Project.open(project).settings.classification.preprocessing)
    assert s["version"] == PREPROCESSING_VERSION == 1
    assert {k: s[k] for k in ("crop", "max_pixels", "grayscale", "clahe", "clahe_clip_limit", "clahe_tile_grid",
                              "motion")} == {"crop": True, "max_pixels": 200704, "grayscale": False, "clahe": False,
                                             "clahe_clip_limit": 2.0, "clahe_tile_grid": 8, "motion": "none"}
    assert s["order"] == ["crop", "resize", "grayscale", "clahe", "motion"]
    json.dumps(s)  # plain values, recordable as they are
    cfg = mousefear.load_config(project)
    cfg["classification"]["preprocessing"]["motion"] = "overlay"
    mousefear.save_config(project, cfg)
    assert preprocessing_record(Project.open(project).settings.classification.preprocessing)["motion"] == "overlay"
