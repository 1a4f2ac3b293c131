"""Make the sample project's synthetic video and its frame-exact ground truth.

A top view of a square arena (light floor, dark walls) with a dark elliptical "mouse" that walks (exploring),
stands perfectly still for a few seconds (freezing, the camera still adds sensor noise) and dashes across the
arena (fleeing). Every segment lasts whole seconds, so one-second windows have one true label.

Usage::

    python sample_project/make_sample_video.py [OUT_DIR]

writes ``mouse1_day1.mp4`` and ``mouse1_day1_labels.csv`` (``frame,behavior``, one row per frame) into OUT_DIR
(default: this folder). The output depends only on the seed below.
"""

from __future__ import annotations

import argparse
import csv
import math
from pathlib import Path

import cv2
import numpy as np

FPS = 30
WIDTH, HEIGHT = 320, 240
ARENA = (20, 20, 300, 220)  # x0, y0, x1, y1 of the floor
SEED = 7
#: (behaviour, seconds) in order
SCRIPT = [
    ("exploring", 6), ("freezing", 5), ("fleeing", 2), ("exploring", 7), ("freezing", 6),
    ("fleeing", 1), ("exploring", 5), ("freezing", 4),
]
SPEED = {"exploring": 70.0, "fleeing": 260.0, "freezing": 0.0}  # pixels per second
NOISE_SIGMA = 2.0  # camera noise, grey levels


def _trajectory(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Per-frame centre (n, 2) float, heading (n,) radians and label list."""
    x0, y0, x1, y1 = ARENA
    margin = 18
    pos = np.array([(x0 + x1) / 2, (y0 + y1) / 2], dtype=float)
    heading = rng.uniform(0, 2 * math.pi)
    centres, headings, labels = [], [], []
    for behavior, seconds in SCRIPT:
        if behavior == "fleeing":  # dash towards the farthest corner
            corners = np.array([[x0 + margin, y0 + margin], [x1 - margin, y0 + margin],
                                [x0 + margin, y1 - margin], [x1 - margin, y1 - margin]], dtype=float)
            target = corners[np.argmax(np.linalg.norm(corners - pos, axis=1))]
            heading = math.atan2(target[1] - pos[1], target[0] - pos[0])
        for _ in range(seconds * FPS):
            if behavior == "exploring":
                heading += rng.normal(0, 0.15)
            step = SPEED[behavior] / FPS
            new = pos + step * np.array([math.cos(heading), math.sin(heading)])
            if not (x0 + margin <= new[0] <= x1 - margin):
                heading = math.pi - heading
            if not (y0 + margin <= new[1] <= y1 - margin):
                heading = -heading
            if behavior != "freezing":
                pos = np.clip(pos + step * np.array([math.cos(heading), math.sin(heading)]),
                              [x0 + margin, y0 + margin], [x1 - margin, y1 - margin])
            centres.append(pos.copy())
            headings.append(heading)
            labels.append(behavior)
    return np.array(centres), np.array(headings), labels


def render(centre: np.ndarray, heading: float, rng: np.random.Generator) -> np.ndarray:
    """One BGR frame (HEIGHT, WIDTH, 3) uint8 with the mouse at ``centre`` facing ``heading``."""
    frame = np.full((HEIGHT, WIDTH, 3), 60, np.uint8)
    x0, y0, x1, y1 = ARENA
    frame[y0:y1, x0:x1] = 205
    c = (int(round(centre[0])), int(round(centre[1])))
    angle = math.degrees(heading)
    cv2.ellipse(frame, c, (16, 8), angle, 0, 360, (35, 35, 35), -1, lineType=cv2.LINE_AA)
    head = (int(round(centre[0] + 15 * math.cos(heading))), int(round(centre[1] + 15 * math.sin(heading))))
    cv2.circle(frame, head, 5, (35, 35, 35), -1, lineType=cv2.LINE_AA)
    noise = rng.normal(0, NOISE_SIGMA, frame.shape[:2])[..., None]
    return np.clip(frame + noise, 0, 255).astype(np.uint8)


def make_sample(out_dir: str | Path, name: str = "mouse1_day1") -> tuple[Path, Path]:
    """Write the sample video and its per-frame ground truth; return both paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    centres, headings, labels = _trajectory(rng)
    video = out_dir / f"{name}.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (WIDTH, HEIGHT))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {video}")
    for centre, heading in zip(centres, headings, strict=True):
        writer.write(render(centre, heading, rng))
    writer.release()
    label_file = out_dir / f"{name}_labels.csv"
    with open(label_file, "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["frame", "behavior"])
        w.writerows(enumerate(labels))
    return video, label_file


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", nargs="?", default=Path(__file__).resolve().parent)
    args = parser.parse_args()
    video, labels = make_sample(args.out_dir)
    print(f"wrote {video} and {labels}")


if __name__ == "__main__":
    main()
