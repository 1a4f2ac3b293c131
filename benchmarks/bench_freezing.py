"""Freezing per second against human labels, and CPU time of the motion detector against decoding alone.

Usage::

    python benchmarks/bench_freezing.py [--method animal|pixels] [--repeats N] [--data DIR] [KEY=VALUE ...]

For each real video in DIR (default ``../shared/data`` beside the repository) and the sample project's video,
with the defaults of ``templates/config.yaml`` (``KEY=VALUE`` changes a ``classification.motion`` setting,
e.g. ``body_change_threshold=0.05``), prints:

- freezing per second: a second is predicted freezing when every frame of it is decided freezing, and true
  freezing when the human label of the second is (tracktor: the per-second labels; the sample video: every
  frame of the second labelled freezing); F1, precision, recall, percent freezing true and predicted, and the
  seconds with no prediction (no animal found in some frame);
- for the open-field video (every second exploring) and the empty chamber (no animal): the seconds predicted
  freezing, which should be 0;
- CPU time (user + system, all threads of the process) of decoding every frame alone (OpenCV, one decoding
  thread) and of the whole detector on the same video (decoding with one thread, measuring, deciding), measured
  ``--repeats`` times in turn in the same run; the median of each and their ratio.

The defaults were not fitted to these labels (the synthetic videos of tests/_motion_videos.py decided the
design), but the method was developed while looking at tracktor's measurements, so the tracktor figures here
are not a clean held-out estimate; ``benchmarks/bench_calibration.py`` gives the cross-validated one (see
docs/motion-and-summaries.md).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def decode_only(path: Path) -> float:
    import cv2

    cap = cv2.VideoCapture(str(path), cv2.CAP_ANY, [cv2.CAP_PROP_N_THREADS, 1])
    t0 = cpu_seconds()
    while cap.read()[0]:
        pass
    cap.release()
    return cpu_seconds() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", choices=("animal", "pixels"), default=None, help="detector method")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each (median reported)")
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data", help="real-video folder")
    parser.add_argument("changes", nargs="*", metavar="KEY=VALUE", help="classification.motion settings")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import cv2
    import numpy as np
    import pandas as pd

    cv2.setNumThreads(1)
    from mousefear.backends.motion import MotionBackend
    from mousefear.core.intervals import whole_seconds
    from mousefear.core.settings import Settings
    from mousefear.core.video import Video
    from mousefear.formats.labels import read_label_file

    changes = {}
    for item in args.changes:
        key, _, value = item.partition("=")
        changes[f"classification.motion.{key}"] = float(value) if value.replace(".", "").isdigit() else value
    if args.method:
        changes["classification.motion.method"] = args.method
    settings = Settings.default().updated(changes)
    backend = MotionBackend.from_settings(settings)
    print(f"method {backend.method}; settings: " + ", ".join(f"{k}={v}" for k, v in backend.get_params().items()
                                                             if k != "behaviors"))

    videos = []
    tracktor = args.data / "tracktor" / "mouse_video.mp4"
    if tracktor.is_file():
        lab = pd.read_csv(args.data / "tracktor" / "mouse_video_labels_per_second.csv")
        videos.append(("tracktor", tracktor, (lab["label"] == "freezing").to_numpy()))
    sample = REPO / "sample_project" / "mouse1_day1.mp4"
    labels = read_label_file(REPO / "sample_project" / "mouse1_day1_labels.csv", backend.behaviors)
    videos.append(("sample", sample, whole_seconds(labels == "freezing", 30.0)))
    others = (("openfield", "openfield/m3v1mp4.mp4"), ("empty chamber", "empty-chamber/Freezing_calibration.wmv"))
    for name, rel in others:
        if (args.data / rel).is_file():
            videos.append((name, args.data / rel, None))
    if len(videos) == 1:
        print(f"(no real videos in {args.data}: only the sample video)")

    for name, path, truth in videos:
        video = dataclasses.replace(Video.from_file(path))
        dec, det = [], []
        res = None
        for _ in range(max(1, args.repeats)):
            dec.append(decode_only(path))
            t0 = cpu_seconds()
            res = backend.classify_video(video, np.zeros((0, 2), np.int64), crop=None, progress=False)
            det.append(cpu_seconds() - t0)
        frozen = np.asarray(backend.behaviors, dtype=object)[res.frame_label] == settings.freezing_behavior
        frozen &= res.frame_label >= 0
        pred = whole_seconds(frozen, video.fps)
        unpredicted = int(np.count_nonzero(~whole_seconds(res.frame_label >= 0, video.fps)))
        d, t = statistics.median(dec), statistics.median(det)
        line = f"{name}: {video.n_frames} frames, {len(pred)} s"
        if truth is not None:
            truth = np.asarray(truth, dtype=bool)[:len(pred)]
            pred = pred[:len(truth)]
            tp = int(np.sum(pred & truth))
            fp, fn = int(np.sum(pred & ~truth)), int(np.sum(~pred & truth))
            f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan")
            prec = tp / (tp + fp) if tp + fp else float("nan")
            rec = tp / (tp + fn) if tp + fn else float("nan")
            line += (f"; freezing F1 {f1:.3f} (precision {prec:.3f}, recall {rec:.3f}; tp {tp}, fp {fp}, fn {fn}); "
                     f"percent freezing true {100 * truth.mean():.1f}, predicted {100 * pred.mean():.1f}")
        else:
            line += f"; seconds predicted freezing: {int(pred.sum())}"
        line += f"; seconds without a prediction: {unpredicted}"
        print(line)
        print(f"  CPU s (median of {len(dec)}): decoding alone {d:.2f}, detector {t:.2f}, ratio {t / d:.2f}")
        time.sleep(0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
