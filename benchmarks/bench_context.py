"""Benchmark: what the context modes cost (visual tokens per request, windows per second) and the share of windows
the hybrid backend sends to the model.

Usage::

    PYTHONPATH=. python benchmarks/bench_context.py [--windows 8] [--batch-sizes 1 4]
        [--real-shape 3b --real-windows 2 --real-batches 1] [--device auto|cpu|cuda] [--hybrid-share [VIDEO ...]]

Prints, measured in one run, for each context mode (``none``, ``temporal``, ``autoregressive``):

- visual tokens per request of a window in the middle of a video (4 frames per window, preprocessed from VGA at
  the default ``max_pixels``), counted in the processor's output of the part after the shared prefix: the
  window's own frames, and in a context mode also the previous and the next window's;
- windows per second of the transformers backend on the tiny random Qwen2.5-VL (label scoring, 2 in-context
  examples, frames from 240 x 320) at each ``--batch-sizes``, over as many videos as the batch size (at least 3
  windows each, ``--windows`` in all; the fastest of ``--repeats`` passes): ``none`` and ``temporal`` as one
  stream of windows (``classify_stream``), ``autoregressive`` as chains, one per video, run side by side in
  rounds of the batch size (``classify_chains``, as the pipeline runs them: a window's previous label is the one
  just decided; a round is prefilled in groups of equal prompt length, so previous labels of different token
  lengths split it);
- with ``--real-shape``: the same with a random model of a released shape (``3b`` = Qwen2.5-VL-3B: bfloat16 on a
  GPU, float32 on a CPU) at ``--real-batches`` (e.g. ``1 8 32`` on a GPU), ``--real-windows`` windows per batch
  size and mode; the share of wall time spent on the CPU preparing frames (mousefear's preprocessing of the raw
  frames, and the model processor's image preprocessing and tokenisation) is printed with each figure;
- with ``--hybrid-share``: the hybrid backend at the template's defaults on the given videos (default: the
  tracktor video of ../shared/data) with the fake model in place of the model (no weights needed): per video the
  windows sent to the model and their share, and how many of the windows the detector decided agree with
  per-second labels where a ``<stem>_labels_per_second.csv`` lies beside the video.

On a CPU the real shapes take seconds to minutes per window: keep ``--real-windows`` at 1-2. With ``--device
cuda`` the figures are the GPU's (``--real-batches 1 8 32``).
"""

from __future__ import annotations

import argparse
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np

BEHAVIORS = ["freezing", "exploring", "grooming", "rearing", "fleeing"]
MODES = ("none", "temporal", "autoregressive")


def _raw(seed: int, h: int, w: int, k: int = 4) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (k, h, w, 3), dtype=np.uint8)


class Timer:
    """Seconds spent in the wrapped calls."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def wrap(self, fn):
        def timed(*a, **k):
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                self.seconds += time.perf_counter() - t
        return timed


def _video(vid: str, n: int, h: int, w: int, grid, pre_timer: Timer) -> list:
    """``n`` windows of a video, raw frames preprocessed as the pipeline does (timed), without context."""
    from mousefear.core.preprocess import preprocess_window
    from mousefear.core.settings import Settings
    from mousefear.core.video import Window

    settings = Settings.default().classification.preprocessing
    prep = pre_timer.wrap(preprocess_window)
    return [Window(vid, i, 30 * i, 30 * i + 30, np.array([30 * i + o for o in (0, 7, 15, 22)]),
                   prep(_raw(zlib.crc32(vid.encode()) % 997 + i, h, w), settings, grid=grid), 30.0) for i in range(n)]


def _run_mode(be, mode: str, n_windows: int, batch: int, h: int, w: int) -> tuple[float, float, float, int]:
    """(windows per second, share of wall time in mousefear's preprocessing, share in the processor, windows) for
    ``batch`` videos of at least 3 windows and ``n_windows`` in all (one chain each in autoregressive mode)."""
    from mousefear.pipeline.context import decided_label, with_context

    pre, proc = Timer(), Timer()
    original = be._process
    be._process = proc.wrap(original)
    per_video = max(3, -(-n_windows // batch))  # most windows have both neighbours
    labels: dict[tuple[str, int], str | None] = {}
    try:
        t = time.perf_counter()
        videos = [f"v{j}" for j in range(batch)]

        def stream(vid: str):
            def previous(k: int):
                return labels[(vid, k - 1)]
            windows = _video(vid, per_video, h, w, be.frame_grid(), pre)
            return with_context(iter(windows), mode, per_video, range(per_video), previous_label=previous)

        if mode == "autoregressive":
            results = be.classify_chains((stream(v) for v in videos), batch_size=batch)
        else:
            results = be.classify_stream((win for v in videos for win in stream(v)), batch_size=batch)
        n = 0
        for window, result in results:
            labels[(window.video_id, window.index)] = decided_label(result.probabilities, BEHAVIORS)
            n += 1
        wall = time.perf_counter() - t
    finally:
        be._process = original
    return n / wall, pre.seconds / wall, proc.seconds / wall, n


def _visual_tokens(be, mode: str, grid) -> int:
    """Visual tokens of the request of a middle window (frames from 480 x 640 at the default settings)."""
    from mousefear.core.prompts import query_turns
    from mousefear.pipeline.context import with_context

    windows = _video("tokens", 3, 480, 640, grid, Timer())
    middle = list(with_context(iter(windows), mode, 3, {1}, previous_label=lambda k: "exploring"))[0]
    turns = query_turns(be._prompt, middle)
    ids = be._process(be._texts(turns)[1], turns)["input_ids"]
    return int((ids == be.processor.image_token_id).sum())


def _prompt_and_examples(h: int, w: int, grid, n_examples: int):
    from mousefear.core.preprocess import preprocess_window
    from mousefear.core.prompts import Example, load_prompt_template, render_prompt
    from mousefear.core.settings import Settings

    settings = Settings.default().classification.preprocessing
    prompt = render_prompt(load_prompt_template("default"), [(b, f"the mouse is {b}") for b in BEHAVIORS])
    examples = [Example(f"ex{i}", lab, preprocess_window(_raw(10 + i, h, w), settings, grid=grid), 30.0,
                        np.array([0, 7, 15, 22]), 0, 30, "v")
                for i, lab in enumerate(("freezing", "rearing", "exploring")[:n_examples])]
    return prompt, examples


def _table(be, label: str, n_windows: int, batches: list[int], h: int, w: int, repeats: int) -> None:
    be.classify(_video("warm-up", 1, h, w, be.frame_grid(), Timer()))  # one-time costs out of the figures
    for mode in MODES:
        tokens = _visual_tokens(be, mode, be.frame_grid())
        for batch in batches:
            rate, pre, proc, n = max(_run_mode(be, mode, n_windows, batch, h, w) for _ in range(repeats))
            print(f"  [{label}] {mode:14s} batch {batch:3d}: {rate:9.3f} windows/s ({1000 / rate:9.1f} ms/window, "
                  f"{n} windows), {tokens:5d} visual tokens per request; CPU frame preparation "
                  f"{100 * (pre + proc):4.1f} % of wall time (preprocessing {100 * pre:.1f} %, processor "
                  f"{100 * proc:.1f} %)", flush=True)


def _backend(folder, **params):
    from mousefear.backends.transformers import TransformersBackend
    from mousefear.core.settings import Settings

    return TransformersBackend.from_settings(Settings.default().updated({"classification.model": str(folder)}),
                                             **params)


def _hybrid_share(videos: list[Path]) -> None:
    import pandas as pd

    import mousefear
    from mousefear.backends.fake import FakeWindowBackend
    from mousefear.backends.hybrid import HybridBackend
    from mousefear.core.project import Project
    from mousefear.core.settings import load_config, save_config

    tmp = Path(tempfile.mkdtemp(prefix="bench-hybrid-"))
    cfg = mousefear.create_project("hybrid", "bench", [str(v) for v in videos], working_directory=tmp,
                                   date="2026-01-01")
    c = load_config(cfg)
    c["classification"]["backend"] = "hybrid"
    c["classification"]["icl_per_class"] = 0
    save_config(cfg, c)
    project = Project.open(cfg)
    backend = HybridBackend.from_settings(project.settings, classifier=FakeWindowBackend(project.behaviors))
    t = time.perf_counter()
    run = mousefear.classify_videos(cfg, backend=backend, progress=False)
    print(f"\nhybrid backend at the template's defaults (fake model in place of the model), "
          f"{time.perf_counter() - t:.1f} s in all:")
    for video in project.videos:
        table = pd.read_csv(project.paths.seconds_table(run, video.id))
        to_model = int((table["decided_by"] != "motion").sum())
        line = (f"  {video.id}: {to_model} of {len(table)} windows sent to the model ({100 * to_model / len(table):.1f}"
                " %)")
        labels = Path(videos[project.videos.index(video)]).with_name(f"{video.id}_labels_per_second.csv")
        if labels.is_file():
            truth = pd.read_csv(labels)["label"].to_numpy()[:len(table)]
            motion = (table["decided_by"] == "motion").to_numpy()[:len(truth)]
            agree = int((table["label"].to_numpy()[:len(truth)][motion] == truth[motion]).sum())
            line += (f"; the detector decided {int(motion.sum())}, {agree} of them as the scorer did "
                     f"({100 * agree / max(int(motion.sum()), 1):.1f} %; in-sample: the default margins were chosen "
                     "looking at this video)")
        print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--windows", type=int, default=8, help="windows timed per mode and batch size (tiny model)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--repeats", type=int, default=2, help="passes per figure, the fastest kept")
    parser.add_argument("--skip-tiny", action="store_true")
    parser.add_argument("--real-shape", nargs="*", default=[], help="released shapes to time (3b = qwen2.5-vl-3b)")
    parser.add_argument("--real-windows", type=int, default=2, help="windows per mode and batch size (real shapes)")
    parser.add_argument("--real-batches", type=int, nargs="+", default=[1])
    parser.add_argument("--real-dtype", choices=("auto", "bfloat16", "float32"), default="auto",
                        help="auto = bfloat16 on a GPU, float32 on a CPU (bfloat16 is faster on CPUs with AVX-512 "
                             "BF16 or AMX, and needs half the memory)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--hybrid-share", nargs="*", default=None, metavar="VIDEO",
                        help="share of windows the hybrid sends to the model (default video: tracktor)")
    args = parser.parse_args()

    import torch

    from mousefear.testing import REAL_SHAPES, build_random_model, build_tiny_qwen

    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"cuda {torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none'}, device {device}")
    folder = build_tiny_qwen(tempfile.mkdtemp(prefix="tiny-"))
    if not args.skip_tiny:
        be = _backend(folder, device="cpu")
        be.load()
        prompt, examples = _prompt_and_examples(240, 320, be.frame_grid(), 2)
        be.prepare(prompt, examples)
        print(f"\ntiny random Qwen2.5-VL on the CPU, label scoring, 2 ICL examples, windows of 4 frames from 240x320 "
              f"(visual tokens: from 480x640), {args.windows} windows per figure:")
        _table(be, "tiny", args.windows, args.batch_sizes, 240, 320, args.repeats)
    shapes = ["qwen2.5-vl-3b" if s == "3b" else s for s in args.real_shape]
    for shape in shapes:
        if shape not in REAL_SHAPES:
            parser.error(f"unknown shape {shape}; known: {', '.join(REAL_SHAPES)}")
        dtype = args.real_dtype if args.real_dtype != "auto" else ("bfloat16" if device == "cuda" else "float32")
        be = _backend(folder, device=device, dtype=dtype)
        be.load()  # the real processor (tiny vocabulary) and chat template; then the random model of the shape
        be.net = build_random_model(shape, dtype=getattr(torch, dtype), device=device, tokenizer=be.processor.tokenizer)
        prompt, examples = _prompt_and_examples(480, 640, be.frame_grid(), 2)
        be.prepare(prompt, examples)
        print(f"\nrandom {shape} in {dtype} on {device}, label scoring, 2 ICL examples, windows of 4 frames from "
              f"480x640, {args.real_windows} window(s) per figure:")
        _table(be, shape, args.real_windows, args.real_batches, 480, 640, 1)
        be.close()
    if args.hybrid_share is not None:
        videos = [Path(v) for v in args.hybrid_share] or [
            Path(__file__).resolve().parents[1].parent / "shared" / "data" / "tracktor" / "mouse_video.mp4"]
        missing = [str(v) for v in videos if not v.is_file()]
        if missing:
            parser.error(f"no such video: {', '.join(missing)}")
        _hybrid_share(videos)


if __name__ == "__main__":
    main()
