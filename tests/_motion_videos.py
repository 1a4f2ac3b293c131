"""Synthetic videos with known motion for the motion backend's tests: a dark disc on a light floor."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

SIZE = (160, 120)  # width, height
FPS = 30.0
RADIUS = 7


def positions(script: list[tuple[str, int, float]], start: tuple[float, float] = (30.0, 60.0)) -> np.ndarray:
    """(n_frames, 2) disc centres for a script of (kind, n_frames, pixels per frame) segments.

    ``still`` keeps the position of the frame before (so every frame of a still segment shows no change);
    ``walk`` and ``dash`` move horizontally, bouncing between x = 20 and x = width - 20.
    """
    pos = np.array(start, dtype=float)
    direction = 1.0
    out = []
    for kind, n, step in script:
        for _ in range(n):
            if kind != "still":
                nxt = pos[0] + direction * step
                if not 20 <= nxt <= SIZE[0] - 20:
                    direction = -direction
                    nxt = pos[0] + direction * step
                pos[0] = nxt
            out.append(pos.copy())
    return np.array(out)


def truth(script: list[tuple[str, int, float]]) -> np.ndarray:
    """(n_frames,) object array of the segment kind of each frame."""
    return np.concatenate([[kind] * n for kind, n, _ in script]).astype(object)


def shown_frames(n: int, repeat_pattern: tuple[int, ...]) -> list[int]:
    """Index of the distinct frame shown at each of ``n`` output frames: distinct frames are written
    ``repeat_pattern[k]`` times in turn and frames are skipped so that the video keeps its length and speed."""
    shown, i, k = [], 0, 0
    while len(shown) < n:
        for _ in range(repeat_pattern[k % len(repeat_pattern)]):
            shown.append(min(i, n - 1))
        i += repeat_pattern[k % len(repeat_pattern)]
        k += 1
    return shown[:n]


def write_motion_video(path: Path, script: list[tuple[str, int, float]], noise: float = 0.0, seed: int = 0,
                       repeat_pattern: tuple[int, ...] = (1,), fps: float = FPS) -> Path:
    """Render ``script`` to an MJPG .avi; ``repeat_pattern`` writes distinct frames that many times in turn.

    With ``repeat_pattern=(1, 2)`` the frames of the script are sampled so that the video keeps its length
    and speed but every other distinct frame is shown twice (as a frame-rate conversion does).
    """
    rng = np.random.default_rng(seed)
    centres = positions(script)
    n = len(centres)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, SIZE)
    assert writer.isOpened()
    prev_idx, prev_frame = None, None
    for idx in shown_frames(n, repeat_pattern):
        if idx == prev_idx:
            frame = prev_frame  # an exact repeat, as a frame-rate conversion writes
        else:
            frame = np.full((SIZE[1], SIZE[0]), 200, np.float64)
            cv2.circle(frame, (int(round(centres[idx][0])), int(round(centres[idx][1]))), RADIUS, 40, -1)
            if noise:
                frame = frame + rng.normal(0, noise, frame.shape)
            frame = cv2.cvtColor(np.clip(frame, 0, 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)
        writer.write(frame)
        prev_idx, prev_frame = idx, frame
    writer.release()
    return path


def write_mouse_video(path: Path, seconds: list[tuple[str, int]], *, fps: float = 30.0,
                      size: tuple[int, int] = (240, 180), body: float = 12.0, speed: float = 60.0, noise: float = 2.0,
                      repeat_pattern: tuple[int, ...] = (1,), tail: bool = True, cable: float = 0.0,
                      seed: int = 0) -> tuple[Path, np.ndarray]:
    """A top view of a dark mouse (an ellipse ``body`` px long with a thin tail) on a light floor, MJPG .avi.

    ``seconds``: (``"walk"`` or ``"still"``, whole seconds) segments, or (``"walk"``, seconds, px/s) for a walk
    at its own speed; the mouse walks at ``speed`` px/s (bouncing off the sides) and holds its position when
    still. ``cable`` > 0 adds a dark head-mounted cable,
    2 px wide, from the head to the top edge, whose top end sways sideways by ``cable`` px at 1.5 Hz the whole
    time (also while the mouse is still). ``repeat_pattern`` repeats distinct frames (a frame-rate
    conversion). Returns the path and the (n_seconds,) bool truth: True for the seconds of a ``still``
    segment (the whole second still: the mouse stops at the last frame of the walk before).
    """
    w, h = size
    step = speed / fps
    script = [(seg[0], int(round(seg[1] * fps)),
               0.0 if seg[0] == "still" else (seg[2] / fps if len(seg) > 2 else step)) for seg in seconds]
    rng = np.random.default_rng(seed)
    pos = np.array([w * 0.3, h * 0.55])
    direction = 1.0
    centres, heads = [], []
    for kind, n, st in script:
        for _ in range(n):
            if kind != "still":
                nxt = pos[0] + direction * st
                if not body <= nxt <= w - body:
                    direction = -direction
                    nxt = pos[0] + direction * st
                pos[0] = nxt
            centres.append(pos.copy())
            heads.append(direction)
    n = len(centres)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    assert writer.isOpened()
    prev_idx, prev_frame = None, None
    for t, idx in enumerate(shown_frames(n, repeat_pattern)):
        if idx == prev_idx and not cable:
            frame = prev_frame
        else:
            img = np.full((h, w), 190.0)
            (cx, cy), d = centres[idx], heads[idx]
            c = (int(round(cx * 4)), int(round(cy * 4)))
            cv2.ellipse(img, c, (int(body * 2), int(body)), 0, 0, 360, 45, -1, lineType=cv2.LINE_AA, shift=2)
            if tail:
                cv2.line(img, (int(cx - d * body / 2), int(cy)), (int(cx - d * body * 1.6), int(cy + body * 0.4)),
                         60, 1, lineType=cv2.LINE_AA)
            if cable:
                top = (int(round(cx + cable * np.sin(2 * np.pi * 1.5 * t / fps))), 0)
                cv2.line(img, (int(cx + d * body * 0.4), int(cy)), top, 50, 2, lineType=cv2.LINE_AA)
            if noise:
                img = img + rng.normal(0, noise, img.shape)
            frame = cv2.cvtColor(np.clip(img, 0, 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)
        writer.write(frame)
        prev_idx, prev_frame = idx, frame
    writer.release()
    truth = np.concatenate([[seg[0] == "still"] * seg[1] for seg in seconds]).astype(bool)
    return path, truth
