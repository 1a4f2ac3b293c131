"""check_model / `mousefear check-model`: the tiny models of both families, a model not on the machine, the motion
backend, and servers (the log-probability shim and a real `transformers serve`)."""

from __future__ import annotations

import base64
import io
import math

import pytest
from conftest import snapshot, write_video

import mousefear
from mousefear.cli import main
from mousefear.core.project import Project
from mousefear.core.settings import load_config, save_config
from mousefear.errors import ConfigError, ModelError

pytest.importorskip("transformers")

#: family -> (patch grid side, smallest frame the processor keeps)
GRID = {"qwen2_5_vl": (28, 3136), "qwen3_vl": (32, 65536)}


@pytest.fixture
def two_videos(tmp_path):
    """A project with a 6-s and a 20-s synthetic video (15 fps, 64 x 48); returns config.yaml's path."""
    src = tmp_path / "src"
    src.mkdir()
    videos = [write_video(src / "m1_day1.avi", n_frames=90), write_video(src / "m2_day1.avi", n_frames=300)]
    return mousefear.create_project("fc", "t", videos, working_directory=tmp_path / "p", date="2026-11-23")


def _point_at(cfg_path, model, family="qwen2_5_vl", **classification):
    cfg = load_config(cfg_path)
    c = cfg["classification"]
    c.update(model=str(model), icl_per_class=0, frames_per_window=4, **classification)
    c["preprocessing"]["max_pixels"] = GRID[family][1]
    save_config(cfg_path, cfg)
    return cfg_path


def _expected_frame(family: str) -> tuple[int, int]:
    """(height, width) a 48 x 64 frame is resized to, worked out by hand from the family's rule: Qwen2.5-VL rounds
    both sides to 56 (3136 pixels, not below its smallest frame); Qwen3-VL's nearest multiples of 32 (64 x 64) are
    below 65536 pixels, so the frame is scaled by sqrt(65536 / 3072) and rounded up: 224 x 320."""
    return {"qwen2_5_vl": (56, 56), "qwen3_vl": (224, 320)}[family]


def test_check_model_on_the_tiny_models(two_videos, tiny_model):
    family, folder = tiny_model
    cfg_path = _point_at(two_videos, folder, family)
    before = snapshot(Project.open(cfg_path).root)
    check = mousefear.check_model(cfg_path, windows=3)
    assert snapshot(Project.open(cfg_path).root) == before  # nothing written to the project

    factor = GRID[family][0]
    h, w = _expected_frame(family)
    assert check.frame_size == (h, w) and h % factor == 0 and w % factor == 0
    assert check.visual_tokens_per_window == 4 * (h // factor) * (w // factor)
    assert check.family == {"qwen2_5_vl": "Qwen2.5-VL", "qwen3_vl": "Qwen3-VL"}[family]
    assert (check.device, check.dtype, check.device_name, check.backend) == ("cpu", "float32", "CPU", "transformers")
    from transformers import AutoModelForImageTextToText

    n = sum(p.numel() for p in AutoModelForImageTextToText.from_pretrained(folder).parameters())
    assert check.n_parameters == n and check.weights_gib == pytest.approx(n * 4 / 2**30)
    assert check.peak_memory_gib > 0 and check.windows == 3 and check.video_id == "m1_day1"
    assert check.prefix_tokens > 0 and check.decision_path is None
    assert check.first_window_seconds > 0 and check.seconds_per_window > 0
    assert (check.project_videos, check.project_windows, check.project_video_seconds) == (2, 6 + 20, 26.0)
    assert check.estimated_seconds == pytest.approx(26 * check.seconds_per_window)
    text = check.report()
    assert f"{4 * (h // factor) * (w // factor)} visual tokens per window" in text
    assert f"4 frames of {w}x{h} pixels as images" in text and "2 video(s), 26 windows (26 s of video)" in text
    assert "transformers on cpu (CPU) as float32" in text and "the motion backend is the CPU path" in text


def test_check_model_one_window_and_video_mode(two_videos, tiny_qwen3):
    cfg_path = _point_at(two_videos, tiny_qwen3, "qwen3_vl", input_mode="video")
    check = mousefear.check_model(cfg_path, windows=1)
    assert check.windows == 1 and check.seconds_per_window == check.first_window_seconds
    assert check.visual_tokens_per_window == 2 * 7 * 10  # two frames per temporal patch
    assert "one window only" in check.report()


def test_model_not_on_this_machine_says_how_to_get_it(two_videos, capsys):
    cfg_path = _point_at(two_videos, "someone/Not-A-Cached-VL")
    with pytest.raises(ModelError) as err:
        mousefear.check_model(cfg_path)
    assert str(err.value).startswith("Model someone/Not-A-Cached-VL (revision main) is not in the Hugging Face "
                                     "cache and downloads are switched off; download it where there is network "
                                     "with `huggingface-cli download someone/Not-A-Cached-VL`")
    assert main(["check-model", str(cfg_path)]) == 2
    err_line = capsys.readouterr().err
    assert err_line.startswith("mousefear check-model: error: Model someone/Not-A-Cached-VL") and err_line.count(
        "\n") == 1


def test_motion_backend_and_bad_window_count(two_videos):
    cfg = load_config(two_videos)
    cfg["classification"]["backend"] = "motion"
    save_config(two_videos, cfg)
    with pytest.raises(ConfigError) as err:
        mousefear.check_model(two_videos)
    assert str(err.value) == (f"{two_videos}: classification.backend is motion, which has no model to check; "
                              "check-model checks the transformers and openai backends")
    with pytest.raises(ConfigError, match="Expected windows to be a whole number >= 1, but got 0"):
        mousefear.check_model(two_videos, windows=0)


def test_cli_prints_the_report(two_videos, tiny_qwen, capsys):
    cfg_path = _point_at(two_videos, tiny_qwen)
    assert main(["-q", "check-model", str(cfg_path), "--windows", "2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"model check of {cfg_path}\n") and "s per window" in out and "about" in out


# --------------------------------------------------------------------------------------------------------
# Against servers: frames resized for the served model's family, the scoring path reported
# --------------------------------------------------------------------------------------------------------


def _png_size(url: str) -> tuple[int, int]:
    from PIL import Image

    image = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    return image.height, image.width


def test_check_model_and_classify_against_the_shim(two_videos, tiny_model):
    from _openai_shim import ShimServer

    family, folder = tiny_model
    factor, smallest = GRID[family]
    with ShimServer(str(folder)) as shim:
        cfg_path = _point_at(two_videos, folder, family, backend="openai")
        cfg = load_config(cfg_path)
        cfg["classification"]["openai"].update(base_url=shim.base_url, max_concurrency=2)
        save_config(cfg_path, cfg)
        check = mousefear.check_model(cfg_path, windows=2)
        assert check.backend == "openai" and check.decision_path == "choice_logprobs"
        assert check.device == shim.base_url and check.n_parameters is None and check.weights_gib is None
        assert "scoring path choice_logprobs" in check.report() and check.family in check.report()
        sizes = {_png_size(part["image_url"]["url"]) for body in shim.requests[-2:] for m in body["messages"]
                 if isinstance(m["content"], list) for part in m["content"] if part["type"] == "image_url"}
        assert sizes == {_expected_frame(family)}  # resized to the family's grid, kept as they are by its processor
        h, w = _expected_frame(family)
        assert h % factor == w % factor == 0 and h * w >= smallest
        n_before = len(shim.requests)
        run = mousefear.classify_videos(cfg_path, videos="m1_day1", progress=False)
        assert len(shim.requests) - n_before == 1 + 6  # the probe, then one request per window (6 s of video)
    vec = mousefear.read_vector(Project.open(cfg_path).paths.vectors(run) / "m1_day1.h5")
    assert vec.attrs["backend_resolved"]["family"] == family and vec.attrs["preprocessing"]["patch_factor"] == factor
    assert math.isclose(float(vec.iloc[0][Project.open(cfg_path).behaviors].sum()), 1.0, abs_tol=1e-6)


def test_check_model_against_transformers_serve_with_qwen3(two_videos, tiny_qwen3, serve_log):
    pytest.importorskip("fastapi")  # the serving extras of transformers
    from mousefear.testing import TransformersServer

    with TransformersServer(tiny_qwen3, log=serve_log) as server:
        cfg_path = _point_at(two_videos, tiny_qwen3, "qwen3_vl", backend="openai")
        cfg = load_config(cfg_path)
        cfg["classification"]["openai"]["base_url"] = server.base_url
        cfg["classification"]["max_unparseable"] = 1.0  # a random tiny model's free answers name no behaviour
        save_config(cfg_path, cfg)
        check = mousefear.check_model(cfg_path, windows=2)
        run = mousefear.classify_videos(cfg_path, videos="m1_day1", progress=False)
    assert check.decision_path == "generate_parse" and check.family == "Qwen3-VL"  # serve offers no log-probabilities
    assert check.visual_tokens_per_window == 4 * 7 * 10 and "scoring path generate_parse" in check.report()
    win = mousefear.read_vector(Project.open(cfg_path).paths.vectors(run) / "m1_day1.h5").attrs
    assert win["backend_resolved"]["family"] == "qwen3_vl" and win["backend_resolved"]["decision_path"] == \
        "generate_parse"


@pytest.fixture(scope="module")
def serve_log(tmp_path_factory):
    return tmp_path_factory.mktemp("serve") / "serve.log"
