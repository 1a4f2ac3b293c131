"""The transformers backend on tiny random Qwen2.5-VL and Qwen3-VL models saved and loaded through from_pretrained.

Random weights give random labels; these tests check the plumbing, for each model family: shapes, probabilities,
that reusing the prefix cache and batching give the same numbers as an obviously-correct from-scratch computation
in both input modes, the number of visual tokens, generation and its strict parsing, and the errors for missing
weights, wrong families and too little memory.
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


#: Frame size (height, width) of the windows per family: the smallest frames its processor keeps as they are
#: (sides multiples of 28 or 32, at least 3136 or 65536 pixels), as preprocessing would make them.
SIZE = {"qwen2_5_vl": (56, 84), "qwen3_vl": (256, 288)}


def _frames(seed: int, k: int = 4, h: int = 56, w: int = 84) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (k, h, w, 3), dtype=np.uint8)


def _window(i: int, k: int = 4, seed: int | None = None, family: str = "qwen2_5_vl") -> Window:
    idx = np.array([30 * i + o for o in (0, 7, 15, 22)][:k])
    frames = _frames(100 + i if seed is None else seed, k, *SIZE[family])
    return Window("m1_day1", i, 30 * i, 30 * i + 30, idx, frames, 30.0)


@pytest.fixture(scope="module")
def prompt():
    return render_prompt(load_prompt_template("default"), [(b, f"the mouse is {b}") for b in BEHAVIORS])


def _examples(family: str) -> list[Example]:
    h, w = SIZE[family]  # ICL frames of another size than the windows, on purpose
    return [Example("m1_day1_000030-000060", "freezing", _frames(1, h=w, w=h), 30.0, np.array([30, 37, 45, 52]),
                    30, 60, "m1_day1"),
            Example("m1_day1_000090-000120", "rearing", _frames(2, h=h, w=w), 30.0, np.array([90, 97, 105, 112]),
                    90, 120, "m1_day1")]


@pytest.fixture(scope="module")
def examples():
    return _examples("qwen2_5_vl")


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
    from mousefear.core.prompts import query_turns

    q = query_turns(be._prompt, window)  # with the window's context, if it has one
    prefix, suffix = be._texts(q)
    base = be._process(prefix + suffix, [*be._prefix_turns, *q])
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
def test_scores_match_from_scratch_reference(tiny_model, prompt, input_mode):
    family, folder = tiny_model
    examples = _examples(family)
    reuse = _backend(folder, prompt, examples, input_mode=input_mode)
    scratch = _backend(folder, prompt, examples, input_mode=input_mode, reuse_prefix=False)
    assert reuse.family().name == family and reuse.describe()["resolved"]["family"] == family
    windows = [_window(i, family=family) for i in range(2)]
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


def test_candidates_are_the_names_plus_end_of_turn(tiny_model, prompt):
    family, folder = tiny_model
    be = _backend(folder, prompt, _examples(family))
    tok = be.processor.tokenizer
    for name, ids in zip(BEHAVIORS, be._cand_ids, strict=True):
        assert ids[-1] == tok.convert_tokens_to_ids("<|im_end|>")
        assert tok.decode(ids[:-1]) == name
    assert max(len(c) for c in be._cand_ids) > 3  # multi-token names: the batched continuation pass is exercised


def test_mixed_frame_sizes_in_one_batch(tiny_model, prompt):
    family, folder = tiny_model
    be = _backend(folder, prompt, _examples(family))
    h, w = SIZE[family]
    small = Window("v", 5, 150, 165, np.array([150, 157]), _frames(9, k=2, h=w, w=h), 30.0, partial=True)
    res = be.classify([_window(0, family=family), small, _window(1, family=family)])
    single = [be.classify([w])[0] for w in (small,)]
    res = [res[1]]
    for a, b in zip(res, single, strict=True):
        assert np.abs(np.array(a.info["logprob"]) - np.array(b.info["logprob"])).max() < TOL


@pytest.mark.parametrize("input_mode", ["images", "video"])
def test_generation_matches_hf_generate_and_parses_strictly(tiny_model, prompt, input_mode):
    family, folder = tiny_model
    be = _backend(folder, prompt, _examples(family), decision="generate", max_new_tokens=6, input_mode=input_mode)
    windows = [_window(0, family=family)]
    results = be.classify(windows)
    from mousefear.core.prompts import parse_answer, query_turn

    for w, res in zip(windows, results, strict=True):
        q = query_turn(be._prompt, w)
        prefix, suffix = be._texts([q])
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


@pytest.mark.parametrize("side", [1, 2])
def test_visual_tokens_and_video_timing(tiny_model, prompt, side):
    family, folder = tiny_model
    images = _backend(folder, prompt, [])
    video = _backend(folder, prompt, [], input_mode="video")
    factor = {"qwen2_5_vl": 28, "qwen3_vl": 32}[family]
    h, w = 8 * side * factor, 9 * factor  # 8x9 or 16x9 tokens per frame, at least the family's smallest frame
    frames = _frames(3, h=h, w=w)
    assert images.visual_tokens(frames) == 4 * (h // factor) * (w // factor)
    assert video.visual_tokens(frames) == 2 * (h // factor) * (w // factor)  # two frames per temporal patch
    assert images.visual_tokens(frames[:3]) == 3 * (h // factor) * (w // factor)
    assert video.visual_tokens(frames[:3]) == 2 * (h // factor) * (w // factor)  # the odd frame is repeated
    fam = images.family()
    assert fam.visual_tokens(4, h, w, "images") == images.visual_tokens(frames)
    assert fam.visual_tokens(4, h, w, "video") == video.visual_tokens(frames)
    from mousefear.core.prompts import query_turn

    q = query_turn(prompt, _window(0, family=family))  # frames 0, 7, 15, 22 of a one-second window at 30 fps
    inputs = video._process("<|vision_start|><|video_pad|><|vision_end|>", [q])
    if family == "qwen2_5_vl":  # the time goes into the rotary position ids: 2 frames per 0.5 s
        assert inputs["second_per_grid_ts"] == [0.5] or float(inputs["second_per_grid_ts"][0]) == 0.5
    else:  # a timestamp before each temporal patch: the mean time of its two frames (0.117 s and 0.617 s)
        text = video.processor.tokenizer.decode(inputs["input_ids"][0])
        assert text.startswith("<|vision_start|><0.1 seconds><|vision_start|>")
        assert "<|vision_end|><0.6 seconds><|vision_start|>" in text


def test_describe_and_revision_of_a_folder(tiny_qwen, prompt, examples, tmp_path):
    be = _backend(tiny_qwen, prompt, [])
    d = be.describe()
    assert d["backend"] == "transformers" and d["model_id"] == str(tiny_qwen)
    assert d["model_revision"].startswith("folder:") and len(d["model_revision"]) == len("folder:") + 16
    assert d["settings"]["dtype"] == "auto" and d["settings"]["device"] == "auto"  # as configured ...
    assert d["resolved"]["dtype"] == "float32" and d["resolved"]["device"] == "cpu"  # ... and as resolved by load
    assert d["settings"]["model_family"] == "auto" and d["resolved"]["family"] == "qwen2_5_vl"
    assert d["settings"]["score_includes_end_token"] is True and "device" in d["runtime"]
    assert set(d["settings"]) >= set(be.param_names())  # provenance read from the constructor's signature
    from mousefear.backends.checkpoints import resolve_model

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
    from mousefear.backends.checkpoints import import_torchvision_safely

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


# --------------------------------------------------------------------------------------------------------
# Families: read from the checkpoint's config.json, never from the name; memory for the weights
# --------------------------------------------------------------------------------------------------------


def test_family_comes_from_the_config_not_the_name(tiny_qwen3, tmp_path):
    import shutil

    from mousefear.core.preprocess import PatchGrid

    misleading = shutil.copytree(tiny_qwen3, tmp_path / "Qwen2.5-VL-3B-Instruct")  # a Qwen3-VL under a 2.5 name
    be = transformers_backend(misleading)
    assert be.family().name == "qwen3_vl" and be.frame_grid() == PatchGrid(factor=32, min_pixels=65536)
    assert be.net is None and be.describe()["resolved"] == {}  # read config.json only, loaded nothing
    assert transformers_backend(misleading, model_family="qwen3_vl").frame_grid().factor == 32
    wrong = transformers_backend(misleading, model_family="qwen2_5_vl")
    with pytest.raises(ModelError) as err:
        wrong.load()
    assert str(err.value) == (f"classification.model_family is qwen2_5_vl (Qwen2.5-VL), but {misleading}/config.json "
                              "is a Qwen3-VL checkpoint (model_type 'qwen3_vl'); set classification.model_family to "
                              "auto or qwen3_vl")
    assert wrong.net is None


def test_unknown_family_is_one_clear_line(tiny_qwen, tmp_path):
    import shutil

    other = shutil.copytree(tiny_qwen, tmp_path / "llava")
    cfg = json.loads((other / "config.json").read_text())
    cfg.update(model_type="llava", architectures=["LlavaForConditionalGeneration"])
    (other / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelError) as err:
        transformers_backend(other).load()
    assert str(err.value) == (
        f"{other}/config.json: model_type 'llava' (architectures ['LlavaForConditionalGeneration']) is not a model "
        "family mousefear supports; supported: qwen2_5_vl (Qwen2.5-VL: Qwen2_5_VLForConditionalGeneration), "
        "qwen3_vl (Qwen3-VL: Qwen3VLForConditionalGeneration)")
    del cfg["model_type"]  # an old config without model_type: the architectures decide
    cfg["architectures"] = ["Qwen2_5_VLForConditionalGeneration"]
    (other / "config.json").write_text(json.dumps(cfg))
    assert transformers_backend(other).family().name == "qwen2_5_vl"


def test_parameters_counted_and_too_little_memory_refused(tiny_model, monkeypatch):
    import mousefear.backends.transformers as tb

    family, folder = tiny_model
    be = transformers_backend(folder)
    be.load()
    assert be.n_parameters == sum(p.numel() for p in be.net.parameters())  # from the safetensors headers
    need = be.n_parameters * 4  # float32 on the CPU
    monkeypatch.setattr(tb, "available_memory", lambda device: (need - 1, 8 * need))
    small = transformers_backend(folder)
    with pytest.raises(ModelError) as err:
        small.load()
    assert str(err.value) == (
        f"Model {folder} ({be.n_parameters / 1e9:.2f} billion parameters) needs {need / 2**30:.1f} GiB for its "
        f"weights in float32, but cpu has {(need - 1) / 2**30:.1f} GiB free; use a device with more memory, or "
        f"bfloat16 instead of float32 (classification.dtype) or a smaller model (Qwen/"
        f"{'Qwen2.5-VL-3B' if family == 'qwen2_5_vl' else 'Qwen3-VL-2B'}-Instruct), or run it on a server "
        "(classification.backend: openai)")
    assert small.net is None
    monkeypatch.setattr(tb, "available_memory", lambda device: (need + 1, 8 * need))
    small.load()  # it fits
    assert small.net is not None


def test_config_alone_in_the_cache_is_not_a_downloaded_model(tiny_qwen3, tmp_path, monkeypatch):
    import shutil

    import huggingface_hub.constants as hub

    monkeypatch.setattr(hub, "HF_HUB_CACHE", str(tmp_path))
    repo = tmp_path / "models--lab--Tiny-VL"
    snapshot = repo / "snapshots" / ("a" * 40)
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("a" * 40)
    shutil.copy(tiny_qwen3 / "config.json", snapshot)  # what reading the family fetches: config.json alone
    be = transformers_backend("lab/Tiny-VL", local_files_only=True)
    assert be.family().name == "qwen3_vl"  # enough to tell the family ...
    with pytest.raises(ModelError) as err:  # ... but not a downloaded model
        be.load()
    assert str(err.value).startswith("Model lab/Tiny-VL (revision main) is not in the Hugging Face cache and "
                                     "downloads are switched off; download it where there is network with "
                                     "`huggingface-cli download lab/Tiny-VL`")
    for f in tiny_qwen3.iterdir():
        shutil.copy(f, snapshot)
    be.load()
    assert be.describe()["resolved"]["model_revision"] == "a" * 40 and be.describe()["resolved"]["family"] == "qwen3_vl"
