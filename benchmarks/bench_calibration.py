"""Out-of-sample freezing accuracy of the motion detector on tracktor, and the time of re-deciding a run.

Usage::

    python benchmarks/bench_calibration.py [--data DIR] [--keep DIR]

In a temporary project with ``tracktor/mouse_video.mp4`` of DIR (default ``../shared/data`` beside the
repository) and its careful per-second labels, prints:

1. **defaults as they are** (``mousefear classify`` with the motion backend): freezing F1, precision and
   recall per second and percent freezing true vs predicted. How the defaults were chosen: on synthetic videos,
   but while looking at tracktor's measurements (docs/motion-and-summaries.md), so this is not a clean held-out
   figure;
2. **calibrated from the labels** (``mousefear calibrate-motion --from-labels``): the cross-validated F1 (each
   block of 20 s decided with thresholds chosen on the other blocks: out of sample) with its 95 % bootstrap
   interval, and the in-sample F1 (measured on the seconds the thresholds were chosen on: optimistic);
3. **a scoring of one half, checked on the other** (calibration from the labels of seconds 0-166 only, the
   thresholds then applied to seconds 167-333, and the reverse): what a lab gets from scoring part of its
   videos, or the message that there is too little freezing in that half to calibrate;
4. wall time of classifying (decoding) against re-deciding the run from its stored measurements
   (``mousefear rethreshold``).
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def per_second(cfg: Path, run: str, truth, seconds: slice | None = None) -> str:
    import numpy as np

    import mousefear
    from mousefear.core.intervals import whole_seconds

    label = mousefear.read_vector(cfg.parent / "behavior-vectors" / run / "mouse_video.h5")["label"]
    pred = whole_seconds(label == "freezing", 30.0)[: truth.size]
    t = truth
    if seconds is not None:
        pred, t = pred[seconds], t[seconds]
    tp, fp, fn = int(np.sum(pred & t)), int(np.sum(pred & ~t)), int(np.sum(~pred & t))
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan")
    prec = tp / (tp + fp) if tp + fp else float("nan")
    rec = tp / (tp + fn) if tp + fn else float("nan")
    return (f"F1 {f1:.3f} (precision {prec:.3f}, recall {rec:.3f}; tp {tp}, fp {fp}, fn {fn}; {t.size} s, "
            f"{int(t.sum())} freezing); percent freezing true {100 * t.mean():.1f}, predicted {100 * pred.mean():.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data", help="real-video folder")
    parser.add_argument("--keep", type=Path, default=None, help="make the project here and keep it")
    args = parser.parse_args()
    video = args.data / "tracktor" / "mouse_video.mp4"
    labels_csv = video.parent / "mouse_video_labels_per_second.csv"
    if not video.is_file():
        print(f"no tracktor video in {args.data}: nothing to measure")
        return 1
    logging.basicConfig(level=logging.ERROR, format="%(message)s")
    import numpy as np
    import pandas as pd

    import mousefear
    from mousefear.core.settings import load_config, save_config
    from mousefear.formats.labels import read_label_file, write_label_file

    truth = (pd.read_csv(labels_csv)["label"] == "freezing").to_numpy()
    work = Path(tempfile.mkdtemp(prefix="bench-calibration-")) if args.keep is None else args.keep
    try:
        cfg = mousefear.create_project("tracktor", "bench", [video], working_directory=work, date="2026-01-01")
        mousefear.import_labels(cfg, labels_csv, video="mouse_video")
        c = load_config(cfg)
        c["classification"]["backend"] = "motion"
        save_config(cfg, c)
        t0 = time.perf_counter()
        run = mousefear.classify_videos(cfg, progress=False)
        t_classify = time.perf_counter() - t0
        print(f"1. defaults as they are (run {run}): {per_second(cfg, run, truth)}")

        res = mousefear.calibrate_motion(cfg, from_labels=True, save=False, progress=False)
        values = ", ".join(f"{k}={v:g}" for k, v in res.values.items())
        print(f"2. calibrated from all {res.scored_seconds} labelled seconds: cross-validated F1 {res.f1:.3f} "
              f"(95 % interval {res.f1_ci[0]:.3f}-{res.f1_ci[1]:.3f}; precision {res.precision:.3f}, recall "
              f"{res.recall:.3f}; {len(res.blocks)} blocks of 20 s); in-sample F1 {res.f1_in_sample:.3f}; {values}")

        behaviors = mousefear.core.project.Project.open(cfg).behaviors
        label_file = cfg.parent / "labels" / "mouse_video.csv"
        full = read_label_file(label_file, behaviors, 10000)
        halves = {"0-166 s": slice(0, 167), "167-333 s": slice(167, 334)}
        for name, scored in halves.items():
            other = next(s for n, s in halves.items() if n != name)
            part = full.copy()
            keep = np.zeros(full.size, dtype=bool)
            keep[scored.start * 30:scored.stop * 30] = True
            part[~keep] = ""
            write_label_file(label_file, part, behaviors)
            half = mousefear.calibrate_motion(cfg, from_labels=True, save=False, progress=False)
            if half.too_few:
                print(f"3. scored {name} only: {half.message}")
                continue
            derived = mousefear.rethreshold(cfg, run, changes=half.values)
            chosen = ", ".join(f"{k}={v:g}" for k, v in half.values.items())
            print(f"3. scored {name} only ({chosen}; cross-validated F1 there {half.f1:.3f}): on the other half "
                  f"{per_second(cfg, derived, truth, other)}")
        write_label_file(label_file, full, behaviors)

        t0 = time.perf_counter()
        again = mousefear.rethreshold(cfg, run, changes=res.values, name="calibrated")
        t_re = time.perf_counter() - t0
        print(f"4. classify (decoding {10000} frames) {t_classify:.1f} s; rethreshold from the stored measurements "
              f"{t_re:.2f} s ({t_classify / t_re:.0f}x faster); run {again}: {per_second(cfg, again, truth)} "
              "(in-sample)")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
