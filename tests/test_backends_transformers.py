"""The transformers backend on a tiny random Qwen2.5-VL saved and loaded through from_pretrained.

Random weights give random labels; these tests check the plumbing: shapes, probabilities, that reusing the
prefix cache and batching give the same numbers as an obviously-correct from-scratch computation, generation
and its strict parsing, and the errors for missing weights.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from mousefear.backends import build_backend
from mousefear.core.prompts import Example, load_prompt_template, render_prompt
from mousefear.core.settings import Settings
from mousefear.core.video import Window
from mousefear.errors import ConfigError, ModelError

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

BEHAVIORS = ["freezing", "exploring", "grooming", "rearing", "fleeing"]
TOL = 1e-4


def _frames(seed: int, k: int = 4, h: int = 56, w: int = 84) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (k, h, w, 3), dtype=np.uint8)


def _window(i: int, k: int = 4, seed: int | None = None) -> Window:
    idx = np.array([30 * i + o for o in (0, 7, 15, 22)][:k])
    return Window("m1_day1", i, 30 * i, 30 * i + 30, idx, _frames(100 + i if seed is None else seed, k), 30.0)


@pytest.fixture(scope="module")
def prompt():
    return render_prompt(load_prompt_template("default"), [(b, f"the mouse is {b}") for b in BEHAVIORS])


@pytest.fixture(scope="module")
def examples():
    # ICL frames of another size than the windows, on purpose
    return [Example("m1_day1_000030-000060", "freezing", _frames(1, h=84, w=56), 30.0, np.array([30, 37, 45, 52]),
                    30, 60, "m1_day1"),
            Example("m1_day1_000090-000120", "rearing", _frames(2), 30.0, np.array([90, 97, 105, 112]), 90, 120,
                    "m1_day1")]


_BACKENDS: dict = {}


def transformers_backend(model, **kw):
    """A transformers backend built as classify_videos builds it: the template's settings, with changes."""
    from mousefear.backends.transformers import TransformersBackend

    return TransformersBackend.from_settings(Settings.default().updated({"classification.model": str(model)}), **kw)


def _backend(tiny_qwen, prompt, examples, **kw):
    """A prepared backend; built once per module for each set of arguments (loading costs ~0.2 s)."""
    key = (str(tiny_qwen), tuple(e.id for e in examples), tuple(sorted(kw.items())))
    if key not in _BACKENDS:
        be = transformers_backend(tiny_qwen, **kw)
        be.load()
        be.prepare(prompt, examples)
        _BACKENDS[key] = be
    return _BACKENDS[key]


@torch.inference_mode()
def _reference_logprobs(be, window) -> np.ndarray:
    """One from-scratch forward per behaviour over prompt + name + <|im_end|>, positions computed by the model."""
    from mousefear.core.prompts import query_turn

    q = query_turn(be._prompt, window)
    prefix, suffix = be._texts(q)
    base = be._process(prefix + suffix, [*be._prefix_turns, q])
    n = base["input_ids"].shape[1]
    out = []
    for cand in be._cand_ids:
        c = torch.tensor([cand])
        inp = dict(base)
        inp["input_ids"] = torch.cat([base["input_ids"], c], 1)
        inp["mm_token_type_ids"] = torch.cat([base["mm_token_type_ids"], torch.zeros_like(c)], 1)
        be.net.model.rope_deltas = None
        logp = torch.log_softmax(be.net(**inp, use_cache=False).logits[0].double(), -1)
        out.append(sum(float(logp[n - 1 + i, t]) for i, t in enumerate(cand)))
    return np.array(out)


@pytest.mark.parametrize("input_mode", ["images", "video"])
def test_scores_match_from_scratch_reference(tiny_qwen, prompt, examples, input_mode):
    reuse = _backend(tiny_qwen, prompt, examples, input_mode=input_mode)
    scratch = _backend(tiny_qwen, prompt, examples, input_mode=input_mode, reuse_prefix=False)
    windows = [_window(i) for i in range(2)]
    batched = reuse.classify(windows)
    one_by_one = [reuse.classify([w])[0] for w in windows]
    from_scratch = scratch.classify(windows[:1])
    for i, w in enumerate(windows):
        ref = _reference_logprobs(reuse, w)
        assert np.ptp(ref) > 1.0  # the labels really differ, so agreement means something
        for res in (batched[i], one_by_one[i], *from_scratch[i:]):
            assert res.probabilities.shape == (5,) and res.text == ""
            assert abs(res.probabilities.sum() - 1) < 1e-9
            assert np.abs(np.array(res.info["logprob"]) - ref).max() < TOL
            e = np.exp(ref - ref.max())
            assert np.abs(res.probabilities - e / e.sum()).max() < TOL


def test_candidates_are_the_names_plus_end_of_turn(tiny_qwen, prompt, examples):
    be = _backend(tiny_qwen, prompt, examples)
    tok = be.processor.tokenizer
    for name, ids in zip(BEHAVIORS, be._cand_ids, strict=True):
        assert ids[-1] == tok.convert_tokens_to_ids("<|im_end|>")
        assert tok.decode(ids[:-1]) == name
    assert max(len(c) for c in be._cand_ids) > 3  # multi-token names: the batched continuation pass is exercised


def test_mixed_frame_sizes_in_one_batch(tiny_qwen, prompt, examples):
    be = _backend(tiny_qwen, prompt, examples)
    small = Window("v", 5, 150, 165, np.array([150, 157]), _frames(9, k=2, h=28, w=56), 30.0, partial=True)
    res = be.classify([_window(0), small, _window(1)])
    single = [be.classify([w])[0] for w in (small,)]
    res = [res[1]]
    for a, b in zip(res, single, strict=True):
        assert np.abs(np.array(a.info["logprob"]) - np.array(b.info["logprob"])).max() < TOL


def test_generation_matches_hf_generate_and_parses_strictly(tiny_qwen, prompt, examples):
    be = _backend(tiny_qwen, prompt, examples, decision="generate", max_new_tokens=6)
    windows = [_window(0)]
    results = be.classify(windows)
    from mousefear.core.prompts import parse_answer, query_turn

    for w, res in zip(windows, results, strict=True):
        q = query_turn(be._prompt, w)
        prefix, suffix = be._texts(q)
        inp = be._process(prefix + suffix, [*be._prefix_turns, q])
        inp["attention_mask"] = torch.ones_like(inp["input_ids"])
        be.net.model.rope_deltas = None
        out = be.net.generate(**inp, max_new_tokens=6, do_sample=False)
        expected = be.processor.tokenizer.decode(out[0, inp["input_ids"].shape[1]:], skip_special_tokens=True)
        assert res.text == expected
        k = parse_answer(res.text, BEHAVIORS)
        if k is None:  # the random model's babble: unparseable, never guessed
            assert np.isnan(res.probabilities).all()
        else:
            assert res.probabilities[k] == 1.0 and res.probabilities.sum() == 1.0


def test_generated_answers_become_one_hot_or_nan(tiny_qwen, prompt, monkeypatch):
    be = _backend(tiny_qwen, prompt, [], decision="generate")
    monkeypatch.setattr(be, "_generate", lambda cache, logits, pos: [" Rearing.\n", "rearing or fleeing", ""])
    res = be.classify([_window(0), _window(1), _window(2)])
    assert res[0].probabilities.tolist() == [0, 0, 0, 1, 0] and res[0].text == " Rearing.\n"
    assert np.isnan(res[1].probabilities).all() and res[1].text == "rearing or fleeing"
    assert np.isnan(res[2].probabilities).all()


def test_visual_tokens_and_video_timing(tiny_qwen, prompt, examples):
    images = _backend(tiny_qwen, prompt, [])
    video = _backend(tiny_qwen, prompt, [], input_mode="video")
    frames = _frames(3, h=224, w=224)
    assert images.visual_tokens(frames) == 4 * (224 // 28) ** 2
    assert video.visual_tokens(frames) == 2 * (224 // 28) ** 2  # two frames per temporal patch
    from mousefear.core.prompts import query_turn

    q = query_turn(prompt, _window(0))  # 4 frames from a one-second window at 30 fps: 4 per second
    inputs = video._process("<|vision_start|><|video_pad|><|vision_end|>", [q])
    assert inputs["second_per_grid_ts"] == [0.5] or float(inputs["second_per_grid_ts"][0]) == 0.5


def test_describe_and_revision_of_a_folder(tiny_qwen, prompt, examples, tmp_path):
    be = _backend(tiny_qwen, prompt, [])
    d = be.describe()
    assert d["backend"] == "transformers" and d["model_id"] == str(tiny_qwen)
    assert d["model_revision"].startswith("folder:") and len(d["model_revision"]) == len("folder:") + 16
    assert d["settings"]["dtype"] == "auto" and d["settings"]["device"] == "auto"  # as configured ...
    assert d["resolved"]["dtype"] == "float32" and d["resolved"]["device"] == "cpu"  # ... and as resolved by load
    assert d["settings"]["score_includes_end_token"] is True and "device" in d["runtime"]
    assert set(d["settings"]) >= set(be.param_names())  # provenance read from the constructor's signature
    from mousefear.backends.transformers import resolve_model

    assert resolve_model(str(tiny_qwen))[1] == d["model_revision"]  # stable
    import shutil

    copy = shutil.copytree(tiny_qwen, tmp_path / "copy")
    cfg = json.loads((copy / "config.json").read_text())
    cfg["text_config"]["rms_norm_eps"] = 1e-5
    (copy / "config.json").write_text(json.dumps(cfg))
    assert resolve_model(str(copy))[1] != d["model_revision"]


def test_missing_weights_give_one_clear_error(tmp_path):
    be = transformers_backend("someone/Not-A-Cached-Model", local_files_only=True)
    assert be.describe()["resolved"] == {}  # building and describing touch neither the network nor the disk
    with pytest.raises(ModelError) as err:
        be.load()
    msg = str(err.value)
    assert "someone/Not-A-Cached-Model" in msg and "huggingface-cli download someone/Not-A-Cached-Model" in msg
    assert err.value.__cause__ is None and err.value.__suppress_context__
    with pytest.raises(ModelError, match="does not exist"):
        transformers_backend(tmp_path / "no-such-model").load()
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="no config.json"):
        transformers_backend(tmp_path / "empty").load()


def test_bad_settings_and_missing_gpu(tiny_qwen):
    with pytest.raises(ConfigError, match="Expected classification.decision to be one of score, generate, but got "
                                          "'vote'"):
        transformers_backend(tiny_qwen, decision="vote")
    if not torch.cuda.is_available():
        with pytest.raises(ModelError, match="no CUDA GPU"):
            transformers_backend(tiny_qwen, device="cuda").load()


def test_registry_builds_the_backend_from_its_settings(tiny_qwen):
    settings = Settings.default().updated({"classification.model": str(tiny_qwen), "classification.decision":
                                           "generate", "classification.input_mode": "video",
                                           "classification.max_new_tokens": 3})
    be = build_backend(settings)
    assert (be.name, be.decision, be.input_mode, be.max_new_tokens) == ("transformers", "generate", "video", 3)
    assert be.net is None  # built, not loaded
    with pytest.raises(ConfigError, match="Expected classification.backend"):
        settings.updated({"classification.backend": "magic"})


def test_torchvision_imports():
    from mousefear.backends.transformers import import_torchvision_safely

    tv = import_torchvision_safely()
    assert hasattr(tv, "transforms")


@pytest.mark.parametrize("decision", ["score", "generate"])
def test_no_deprecation_warning_for_the_cache_argument(tiny_qwen, prompt, examples, decision):
    """transformers 5.x renamed past_key_values to cache: the backend uses the name the installed version has."""
    import warnings

    be = transformers_backend(tiny_qwen, decision=decision, max_new_tokens=3)
    be.load()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        be.prepare(prompt, examples)
        be.classify([_window(0), _window(1)])
    assert [str(w.message) for w in caught if "past_key_values" in str(w.message)] == []
    be.close()
