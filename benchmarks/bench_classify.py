"""Benchmark: visual tokens per window, and windows per second with and without reusing the prompt prefix.

Usage::

    PYTHONPATH=. python benchmarks/bench_classify.py [--windows 8] [--batch-size 4] [--real-shape 3b --real-windows 2]

Prints, measured in one run:

- visual tokens per window (4 frames) for each input mode (separate images, one video) and frame size, counted in
  the real Qwen2.5-VL processor's output;
- windows per second of the transformers backend (label scoring, default prompt, 2 in-context examples of 4
  frames, windows of 4 frames of 224x224) on the tiny random model: prefix reuse on (batch 1 and
  ``--batch-size``) and off, and the ratio reuse / no reuse;
- with ``--real-shape 3b``: the same for a randomly initialised model with the exact Qwen2.5-VL-3B shapes
  (3.75 B parameters; bfloat16 on a GPU if there is one, ~7.5 GB, else float32 on the CPU, ~15 GB; see
  ``--real-dtype``) on ``--real-windows`` windows. Slow on a CPU (many seconds per window): keep the count small.

The tiny model's absolute speed mostly measures Python and processor overhead; the ratio is what carries over.
Timings are the best of ``--repeats`` passes, to damp noise from other work on the machine.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np

BEHAVIORS = ["freezing", "exploring", "grooming", "rearing", "fleeing"]


def _frames(seed: int, k: int = 4, h: int = 224, w: int = 224) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (k, h, w, 3), dtype=np.uint8)


def _setup():
    from mousefear.core.prompts import Example, load_prompt_template, render_prompt
    from mousefear.core.video import Window

    prompt = render_prompt(load_prompt_template("default"), [(b, f"the mouse is {b}") for b in BEHAVIORS])
    examples = [Example(f"ex{i}", lab, _frames(10 + i), 30.0, np.array([0, 7, 15, 22]), 0, 30, "v")
                for i, lab in enumerate(("freezing", "rearing"))]

    def windows(n: int) -> list:
        return [Window("v", i, 30 * i, 30 * i + 30, np.array([30 * i + o for o in (0, 7, 15, 22)]), _frames(100 + i),
                       30.0) for i in range(n)]

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--windows", type=int, default=8, help="windows timed with the tiny model")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--real-shape", choices=("3b",), default=None, help="also time a random 3B-shaped model")
    parser.add_argument("--real-windows", type=int, default=2, help="windows timed with the 3B-shaped model")
    parser.add_argument("--real-dtype", choices=("auto", "bfloat16", "float32"), default="auto",
                        help="dtype of the 3B-shaped model: auto = bfloat16 on a GPU, float32 on a CPU (15 GB; "
                             "bfloat16 matrix products are far slower than float32 on most CPUs)")
    args = parser.parse_args()

    import torch

    from mousefear.testing import build_random_qwen25vl_3b, build_tiny_qwen

    folder = build_tiny_qwen(tempfile.mkdtemp(prefix="tiny-qwen-"))
    prompt, examples, windows = _setup()
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"cuda {torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none'}")

    print("\nvisual tokens per window of 4 frames (frames resized to multiples of 28 by preprocessing):")
    for mode in ("images", "video"):
        be = _backend(folder, input_mode=mode)
        for h, w in ((56, 56), (224, 224), (336, 448), (448, 448)):
            n = be.visual_tokens(_frames(1, h=h, w=w))
            print(f"  {mode:6s} {h}x{w}: {n:5d} tokens ({n / 4:.0f} per frame)")

    print(f"\ntiny random Qwen2.5-VL, label scoring, {args.windows} windows of 4 frames 224x224, 2 ICL examples:")
    _timed_backends(lambda reuse: _backend(folder, reuse_prefix=reuse),
                    prompt, examples, windows(args.windows), args.batch_size, args.repeats, "tiny")

    if args.real_shape == "3b":
        device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype_name = args.real_dtype if args.real_dtype != "auto" else ("bfloat16" if device == "cuda" else "float32")
        t = time.perf_counter()
        probe = _backend(folder, device=device)
        probe.load()
        model = build_random_qwen25vl_3b(dtype=getattr(torch, dtype_name), device=device,
                                         tokenizer=probe.processor.tokenizer)
        n_params = sum(p.numel() for p in model.parameters()) / 1e9
        print(f"\nrandom Qwen2.5-VL-3B shapes ({n_params:.2f} B parameters, {dtype_name} on {device}, built in "
              f"{time.perf_counter() - t:.0f} s), {args.real_windows} windows:")

        def make(reuse: bool):
            be = _backend(folder, device=device, dtype=dtype_name, reuse_prefix=reuse)
            be.load()
            be.net = model  # same processor (real image processing, tiny vocabulary), 3B-shaped weights
            return be

        _timed_backends(make, prompt, examples, windows(args.real_windows), min(args.batch_size, args.real_windows),
                        1, "3b")


if __name__ == "__main__":
    main()
