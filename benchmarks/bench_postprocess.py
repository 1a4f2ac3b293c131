"""Smoothing and probability calibration on real data: the motion detector's run of tracktor, per window.

Usage::

    python benchmarks/bench_postprocess.py [--data DIR] [--keep DIR] [--flee-speed BL_PER_S]

In a temporary project with ``tracktor/mouse_video.mp4`` of DIR (default ``../shared/data`` beside the
repository) and its careful per-second labels (exploring 300 s, freezing 16, rearing 10, fleeing 8), classified
with the motion backend at the defaults of ``templates/config.yaml`` (``--flee-speed`` sets a fleeing speed in
body lengths per second), prints per one-second window against the human labels:

1. the raw run: macro F1 over the behaviours present, freezing F1, percent freezing (human and predicted), and
   the number of freezing bouts;
2. smoothed runs (``mousefear smooth``) at several stay probabilities, the default 0.8 first (it was chosen a
   priori: an expected bout of five windows, not on these labels; the other values show the sensitivity, and
   choosing among them here would be choosing on the test labels), and with a minimum freezing bout of 2 s;
3. probability calibration (``mousefear calibrate-probabilities``) with one temperature and with one per
   behaviour: the expected calibration error (15 bins) and the negative log-likelihood before and after,
   cross-validated over the blocks of 20 s (one video: leave one block out), and the in-sample ECE;
4. the calibrated run smoothed at the default, beside the raw run smoothed.

The motion detector's probabilities are a confidence from its margins (0.55 at a threshold, 1 far from it;
classes it does not model get 0), not a model's softmax, so these are figures of the mechanism on real data,
not of a vision-language model's calibration.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def window_scores(cfg: Path, run: str) -> str:
    import mousefear

    ev = mousefear.evaluate(cfg, run, plots=False)
    w = ev.data["overall"]["window"]
    pt = ev.data["overall"]["percent_time"]["freezing"]
    bouts = ev.data["overall"]["bout"]["per_behavior"]["freezing"]
    return (f"window macro F1 {w['macro_f1']:.3f}, freezing F1 {w['per_behavior']['freezing']['f1']:.3f} "
            f"(precision {w['per_behavior']['freezing']['precision']:.3f}, recall "
            f"{w['per_behavior']['freezing']['recall']:.3f}); freezing {pt['human']:.1f} % human, "
            f"{pt['predicted']:.1f} % predicted; freezing bouts {bouts['human_bouts']} human, "
            f"{bouts['predicted_bouts']} predicted")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data", help="real-video folder")
    parser.add_argument("--keep", type=Path, default=None, help="make the project here and keep it")
    parser.add_argument("--flee-speed", type=float, default=None, help="fleeing speed, body lengths per second")
    args = parser.parse_args()
    video = args.data / "tracktor" / "mouse_video.mp4"
    labels_csv = video.parent / "mouse_video_labels_per_second.csv"
    if not video.is_file():
        print(f"no tracktor video in {args.data}: nothing to measure")
        return 1
    logging.basicConfig(level=logging.ERROR, format="%(message)s")
    import mousefear
    from mousefear.core.project import Project

    work = Path(tempfile.mkdtemp(prefix="bench-postprocess-")) if args.keep is None else args.keep
    try:
        cfg = mousefear.create_project("tracktor", "bench", [video], working_directory=work, date="2026-01-01")
        mousefear.import_labels(cfg, labels_csv, video="mouse_video")
        with Project.open(cfg).edit() as doc:
            doc["classification"]["backend"] = "motion"
            if args.flee_speed is not None:
                doc["classification"]["motion"]["flee_speed"] = args.flee_speed
                doc["classification"]["motion"]["flee_speed_unit"] = "body_lengths/s"
        run = mousefear.classify_videos(cfg, progress=False)
        print(f"1. raw (run {run}): {window_scores(cfg, run)}")
        for stay in (0.8, 0.5, 0.9, 0.95):
            name = mousefear.smooth(cfg, run, stay_probability=stay)
            print(f"2. smoothed, stay {stay:g}{' (default)' if stay == 0.8 else ''}: {window_scores(cfg, name)}")
        name = mousefear.smooth(cfg, run, min_bout_seconds={"freezing": 2.0})
        print(f"2. smoothed, stay 0.8, freezing bouts >= 2 s: {window_scores(cfg, name)}")
        for per in (False, True):
            res = mousefear.calibrate_probabilities(cfg, run, per_behavior=per)
            t = (f"{res.temperature:.3g}" if not per else
                 ", ".join(f"{b} {x:.3g}" for b, x in res.temperature.items()))
            print(f"3. {'one temperature per behaviour' if per else 'one temperature'} ({t}; {res.n_fit} windows "
                  f"fitted, {res.n_zero} left out: human behaviour at probability 0): ECE {res.ece_before:.3f} -> "
                  f"{res.ece_after:.3f} cross-validated over {res.n_folds} {res.folds} "
                  f"(in-sample {res.ece_in_sample:.3f}); NLL {res.nll_before:.3f} -> {res.nll_after:.3f}; "
                  f"held-out window macro F1 {res.macro_f1_before:.3f} -> {res.macro_f1_after:.3f}")
            if per:
                changed = window_scores(cfg, res.run)
                print(f"   per behaviour, the calibrated run's decisions change (in-sample): {changed}")
            else:
                smoothed = mousefear.smooth(cfg, res.run)
                print(f"4. calibrated (T {t}) then smoothed at 0.8 (partly in-sample): {window_scores(cfg, smoothed)}")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
