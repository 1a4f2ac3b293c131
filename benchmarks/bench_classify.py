"""Benchmark: visual tokens per window, windows per second with and without reusing the prompt prefix, and the real
cost of a window for models with the exact shapes of released checkpoints (random weights), for both families.

Usage::

    PYTHONPATH=. python benchmarks/bench_classify.py [--windows 8] [--batch-size 4]
        [--real-shape qwen2.5-vl-3b qwen3-vl-2b qwen3-vl-4b --real-windows 2] [--device auto|cpu|cuda] [--count]

Prints, measured in one run:

- visual tokens per window (4 frames) of each family (Qwen2.5-VL: 28-pixel grid; Qwen3-VL: 32-pixel grid) for
  each input mode (separate images, one video), counted in the family's real processor output, for frames as
  preprocessing makes them from VGA (480 x 640) at the default ``max_pixels`` (200704) and at other sizes;
- windows per second of the transformers backend on each family's tiny random model (label scoring, default
  prompt, 2 in-context examples of 4 frames, windows of 4 frames): prefix reuse on (batch 1 and
  ``--batch-size``) and off, and the ratio reuse / no reuse;
- with ``--real-shape``: for each named shape (``testing.REAL_SHAPES``; ``3b`` = ``qwen2.5-vl-3b``), a randomly
  initialised model of those exact shapes (bfloat16 on a GPU, float32 on a CPU, as ``classification.dtype:
  auto``; see ``--real-dtype``) with the
  family's real processor: seconds to build it, to prefill the shared prefix (``--real-icl`` examples), for the
  first window (warm-up) and per window over the next ``--real-windows - 1`` windows (prefix reuse, batch 1),
  wall time and this process's CPU time (less sensitive to other work on a shared machine), and the visual
  tokens per window, on frames preprocessed from VGA at the default settings. Slow on a CPU (minutes per
  window): keep the count at 1-2;
- with ``--count``: the parameters of every shape in ``REAL_SHAPES`` (built on the meta device, no memory) and
  the memory of their weights in bfloat16.

The tiny model's absolute speed mostly measures Python and processor overhead; the ratio is what carries over.
Timings are the best of ``--repeats`` passes, to damp noise from other work on the machine.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np

BEHAVIORS = ["freezing", "exploring", "grooming", "rearing", "fleeing"]
FAMILIES = ("qwen2_5_vl", "qwen3_vl")


def _frames(seed: int, k: int = 4, h: int = 480, w: int = 640, family: str = "qwen2_5_vl") -> np.ndarray:
    """``k`` random frames of ``h x w`` preprocessed for the family at the template's default settings."""
    from mousefear.backends.families import FAMILIES as SPECS
    from mousefear.core.preprocess import preprocess_window
    from mousefear.core.settings import Settings

    raw = np.random.default_rng(seed).integers(0, 256, (k, h, w, 3), dtype=np.uint8)
    settings = Settings.default().classification.preprocessing
    return preprocess_window(raw, settings, grid=SPECS[family].grid)


def _setup(family: str, h: int, w: int, n_examples: int = 2):
    from mousefear.core.prompts import Example, load_prompt_template, render_prompt
    from mousefear.core.video import Window

    prompt = render_prompt(load_prompt_template("default"), [(b, f"the mouse is {b}") for b in BEHAVIORS])
    examples = [Example(f"ex{i}", lab, _frames(10 + i, h=h, w=w, family=family), 30.0, np.array([0, 7, 15, 22]), 0,
                        30, "v") for i, lab in enumerate(("freezing", "rearing", "exploring")[:n_examples])]

    def windows(n: int) -> list:
        return [Window("v", i, 30 * i, 30 * i + 30, np.array([30 * i + o for o in (0, 7, 15, 22)]),
                       _frames(100 + i, h=h, w=w, family=family), 30.0) for i in range(n)]

    return prompt, examples, windows


def _rate(backend, windows: list, batch_size: int, repeats: int) -> float:
    """Best windows per second over ``repeats`` passes of classify_stream (after one untimed warm-up window)."""
    backend.classify(windows[:1])
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        for _w, _r in backend.classify_stream(windows, batch_size=batch_size):
            pass
        best = min(best, time.perf_counter() - t)
    return len(windows) / best


def _timed_backends(make, prompt, examples, windows, batch_size, repeats, label) -> None:
    rows = []
    for reuse, bs in ((True, 1), (True, batch_size), (False, 1)):
        be = make(reuse)
        t = time.perf_counter()
        be.prepare(prompt, examples)
        prep = time.perf_counter() - t
        rate = _rate(be, windows, bs, repeats)
        rows.append((reuse, bs, rate, prep))
        print(f"  [{label}] prefix reuse {'on ' if reuse else 'off'} batch {bs}: {rate:8.2f} windows/s "
              f"({1000 / rate:8.1f} ms/window; prepare {prep:.2f} s)", flush=True)
    on, on_b, off = rows[0][2], rows[1][2], rows[2][2]
    print(f"  [{label}] ratio reuse/no reuse: {on / off:.2f}x (batch 1), {on_b / off:.2f}x (batch {batch_size})")


def _backend(folder, **params):
    """The transformers backend on a model folder, built from the template's settings as a project would."""
    from mousefear.backends.transformers import TransformersBackend
    from mousefear.core.settings import Settings

    return TransformersBackend.from_settings(Settings.default().updated({"classification.model": str(folder)}),
                                             **params)


def _count() -> None:
    import torch

    from mousefear.testing import REAL_SHAPES, build_random_model

    print("\nparameters of the released shapes (built on the meta device):")
    for shape in REAL_SHAPES:
        n = sum(p.numel() for p in build_random_model(shape, device="meta").parameters())
        print(f"  {shape:15s} {n / 1e9:6.2f} billion parameters, {n * 2 / 2**30:6.1f} GiB in bfloat16", flush=True)
        del n
    torch.set_default_dtype(torch.float32)


def _real_shape(shape: str, folders: dict, device: str, dtype_name: str, n_windows: int, n_examples: int) -> None:
    import torch

    from mousefear.testing import REAL_SHAPES, build_random_model

    family = REAL_SHAPES[shape][0]
    prompt, examples, windows = _setup(family, 480, 640, n_examples)
    t = time.perf_counter()
    be = _backend(folders[family], device=device, dtype=dtype_name)
    be.load()  # the family's real processor (tiny vocabulary) and chat template
    be.net = build_random_model(shape, dtype=getattr(torch, dtype_name), device=device,
                                tokenizer=be.processor.tokenizer)
    built = time.perf_counter() - t
    n_params = sum(p.numel() for p in be.net.parameters()) / 1e9
    t = time.perf_counter()
    be.prepare(prompt, examples)
    prep = time.perf_counter() - t
    wins = windows(n_windows)
    tokens = be.visual_tokens(wins[0].frames)
    t, c = time.perf_counter(), time.process_time()
    first = be.classify(wins[:1])[0]
    first_s, first_cpu = time.perf_counter() - t, time.process_time() - c
    line = (f"  {shape}: {n_params:.2f} B parameters, {dtype_name} on {device}; built in {built:.0f} s; "
            f"prefix {first.info.get('prefix_tokens')} tokens prefilled in {prep:.1f} s; "
            f"{tokens} visual tokens per window ({wins[0].frames.shape[1]}x{wins[0].frames.shape[2]} frames), "
            f"{first.info.get('window_tokens')} tokens in all; first window {first_s:.1f} s "
            f"({first_cpu:.1f} s of CPU time)")
    if n_windows > 1:
        t, c = time.perf_counter(), time.process_time()
        for w in wins[1:]:
            be.classify([w])
        per, cpu = (time.perf_counter() - t) / (n_windows - 1), (time.process_time() - c) / (n_windows - 1)
        line += f"; {per:.1f} s per window over the next {n_windows - 1} ({cpu:.1f} s of CPU time)"
    print(line, flush=True)
    be.close()
    del be


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--windows", type=int, default=8, help="windows timed with the tiny models")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--skip-tiny", action="store_true", help="skip the timing of the tiny models")
    parser.add_argument("--real-shape", nargs="+", default=[],
                        help="also time random models of these released shapes (qwen2.5-vl-3b, qwen3-vl-2b, "
                             "qwen3-vl-4b, ...; 3b = qwen2.5-vl-3b)")
    parser.add_argument("--real-windows", type=int, default=2, help="windows timed per real shape (>= 1)")
    parser.add_argument("--real-icl", type=int, default=2, choices=(0, 1, 2, 3),
                        help="in-context examples in the prompt of the real shapes (the prefix is prefilled once)")
    parser.add_argument("--real-dtype", choices=("auto", "bfloat16", "float32"), default="auto",
                        help="dtype of the real shapes: auto = bfloat16 on a GPU, float32 on a CPU (as "
                             "classification.dtype: auto; on CPUs with bfloat16 instructions, AVX-512 BF16 or AMX, "
                             "bfloat16 is faster)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--count", action="store_true", help="print the parameters of every released shape")
    args = parser.parse_args()

    import torch

    from mousefear.backends.families import FAMILIES as SPECS
    from mousefear.testing import REAL_SHAPES, build_tiny_qwen

    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    folders = {f: build_tiny_qwen(tempfile.mkdtemp(prefix=f"tiny-{f}-"), family=f) for f in FAMILIES}
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"cuda {torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none'}, device {device}")

    print("\nvisual tokens per window of 4 frames, preprocessed at the default max_pixels (200704) from raw h x w:")
    for family in FAMILIES:
        for mode in ("images", "video"):
            be = _backend(folders[family], input_mode=mode, device="cpu")
            for h, w in ((480, 640), (1080, 1920), (240, 320), (56, 56)):
                frames = _frames(1, h=h, w=w, family=family)
                n = be.visual_tokens(frames)
                print(f"  {SPECS[family].title:10s} {mode:6s} {h}x{w} -> {frames.shape[1]}x{frames.shape[2]}: "
                      f"{n:5d} tokens ({n / 4:.0f} per frame)")

    if not args.skip_tiny:
        for family in FAMILIES:
            prompt, examples, windows = _setup(family, 240, 320)
            print(f"\ntiny random {SPECS[family].title}, label scoring, {args.windows} windows of 4 frames "
                  "(from 240x320), 2 ICL examples:")
            _timed_backends(lambda reuse, f=family: _backend(folders[f], reuse_prefix=reuse, device="cpu"),
                            prompt, examples, windows(args.windows), args.batch_size, args.repeats, family)

    if args.count:
        _count()

    shapes = ["qwen2.5-vl-3b" if s == "3b" else s for s in args.real_shape]
    unknown = [s for s in shapes if s not in REAL_SHAPES]
    if unknown:
        parser.error(f"unknown shape(s) {', '.join(unknown)}; known: {', '.join(REAL_SHAPES)}")
    if shapes:
        dtype_name = args.real_dtype if args.real_dtype != "auto" else ("bfloat16" if device == "cuda" else "float32")
        print(f"\nrandom models of released shapes, label scoring, {args.real_icl} ICL example(s), windows of 4 frames "
              f"from 480x640, prefix reuse, batch 1, {args.real_windows} window(s):")
        for shape in shapes:
            _real_shape(shape, folders, device, dtype_name, max(1, args.real_windows), args.real_icl)


if __name__ == "__main__":
    main()
