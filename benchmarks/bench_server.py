"""Windows per second through an OpenAI-compatible server as a function of ``max_concurrency``.

Usage::

    python benchmarks/bench_server.py [--windows 24] [--concurrency 1 2 4 8] [--base-url URL --model NAME]

Without ``--base-url`` it builds the tiny random Qwen2.5-VL (:func:`mousefear.testing.build_tiny_qwen`), starts
``transformers serve`` on it on 127.0.0.1 (:class:`mousefear.testing.TransformersServer`), runs the same
windows (4 frames of 112 x 112, one in-context example) through :class:`mousefear.backends.openai.OpenAIBackend`
at each concurrency, prints the table (windows per second, and the ratio to concurrency 1) and stops the server.
With ``--base-url`` and ``--model`` it measures a server that is already running (e.g. vLLM on a GPU node).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

BEHAVIORS = ["freezing", "exploring", "grooming", "rearing", "fleeing"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=24, help="windows per measurement")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--base-url", help="a running server (default: start transformers serve on a tiny model)")
    parser.add_argument("--model", help="model name the running server serves")
    parser.add_argument("--scoring", default="auto", help="classification.openai.scoring")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from mousefear.backends.openai import OpenAIBackend
    from mousefear.core.prompts import Example, load_prompt_template, render_prompt
    from mousefear.core.settings import Settings
    from mousefear.core.video import Window
    from mousefear.testing import TransformersServer, build_tiny_qwen

    rng = np.random.default_rng(0)
    prompt = render_prompt(load_prompt_template("default"), [(b, f"the mouse is {b}") for b in BEHAVIORS])
    examples = [Example("ex", "freezing", rng.integers(0, 256, (4, 112, 112, 3), dtype=np.uint8), 30.0,
                        np.array([0, 7, 15, 22]), 0, 30, "v")]
    windows = [Window("v", i, 30 * i, 30 * i + 30, np.array([30 * i + o for o in (0, 7, 15, 22)]),
                      rng.integers(0, 256, (4, 112, 112, 3), dtype=np.uint8), 30.0) for i in range(args.windows)]
    server = None
    with tempfile.TemporaryDirectory() as tmp:
        if args.base_url:
            base_url, model = args.base_url, args.model
        else:
            model = str(build_tiny_qwen(Path(tmp) / "tiny-qwen"))
            t0 = time.perf_counter()
            server = TransformersServer(model, log=Path(tmp) / "serve.log").start()
            base_url = server.base_url
            print(f"transformers serve ready in {time.perf_counter() - t0:.1f} s at {base_url}")
        try:
            rows = []
            for c in args.concurrency:
                settings = Settings.default().updated({"classification.backend": "openai",
                                                       "classification.model": model})
                backend = OpenAIBackend.from_settings(settings, base_url=base_url, max_concurrency=c,
                                                      scoring=args.scoring)
                backend.load()
                backend.prepare(prompt, examples)
                backend.classify(windows[:2])  # warm up
                t0 = time.perf_counter()
                results = backend.classify(windows)
                secs = time.perf_counter() - t0
                rows.append((c, len(results) / secs, backend.decision_path))
        finally:
            if server is not None:
                server.stop()
    print(f"\n{'max_concurrency':>15} {'windows/s':>10} {'vs 1':>6}  decision path")
    for c, wps, path in rows:
        print(f"{c:>15} {wps:>10.2f} {wps / rows[0][1]:>6.2f}  {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
