"""Videos with the decided behaviour drawn on: :func:`create_labeled_video` (as DeepLabCut's create_labeled_video).

For every frame of the video, at its own frame rate and frame count, ``evaluation/<run>/videos/<video_id>_labeled.mp4``
shows the frame with, in its top-left corner, a swatch in the colour of the decided behaviour
(:func:`~mousefear.pipeline.plots.behavior_colors`, the colours of every plot and page), its name and a bar of its
probability; with ``human=True`` also the human label of the frame. Beneath the frame, a scrolling ethogram strip
shows the predicted behaviour (and the human labels) from :data:`STRIP_SECONDS` / 2 before to after the frame, with
a cursor at the frame itself. The video is H.264 in MP4 (:mod:`mousefear.formats.mp4`), which browsers play; it
sits in the run's evaluation folder beside the report.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np
from tqdm.auto import tqdm

from mousefear.core.project import ConfigLike, Project
from mousefear.core.video import Video, iter_frames
from mousefear.errors import VideoError
from mousefear.formats.labels import read_label_file
from mousefear.formats.mp4 import H264Writer
from mousefear.formats.vectors import read_vector
from mousefear.pipeline.plots import NONE_COLOR, behavior_colors
from mousefear.pipeline.tables import run_videos

__all__ = ["STRIP_SECONDS", "Layout", "create_labeled_video"]

logger = logging.getLogger(__name__)

#: Seconds of behaviour the strip beneath the frame shows (half before the frame, half after).
STRIP_SECONDS = 20.0
_BACKGROUND = (32, 32, 32)
_UNLABELLED = (70, 70, 70)


def _rgb(hex_color: str) -> tuple[int, int, int]:
    h = hex_color.lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


class Layout:
    """Where things are drawn on a video of ``width`` x ``height`` pixels (with ``rows`` ethogram rows).

    Attributes
    ----------
    scale : float
        Size of text and boxes relative to a 640-pixel-wide video.
    swatch : tuple of int
        ``(x0, y0, x1, y1)`` of the square filled with the decided behaviour's colour (end exclusive).
    bar : tuple of int
        ``(x0, y0, x1, y1)`` of the probability bar.
    strip_top, row_height : int
        First row of the strip beneath the frame and the height of each of its rows.
    out_width, out_height : int
        Size of the output frames (even, as H.264 needs).
    """

    def __init__(self, width: int, height: int, rows: int):
        k = float(np.clip(width / 640.0, 0.5, 2.0))
        self.scale = k
        m = int(round(8 * k))
        side = int(round(26 * k))
        self.margin = m
        self.swatch = (m, m, m + side, m + side)
        self.text_x = m + side + int(round(6 * k))
        self.bar = (m, m + side + int(round(4 * k)), m + int(round(160 * k)), m + side + int(round(12 * k)))
        self.human_y = self.bar[3] + int(round(4 * k))
        self.row_height = int(round(14 * k))
        self.strip_top = height + int(round(6 * k))
        strip_h = int(round(6 * k)) + rows * (self.row_height + int(round(3 * k))) + int(round(16 * k))
        self.out_width = width + width % 2
        self.out_height = height + strip_h + (height + strip_h) % 2
        self.label_width = int(round(48 * k))


def _box(img: np.ndarray, x0: int, y0: int, x1: int, y1: int, color: tuple[int, int, int]) -> None:
    img[max(y0, 0):y1, max(x0, 0):x1] = color


def _text(img: np.ndarray, text: str, x: int, y: int, scale: float, color=(255, 255, 255)) -> None:
    """Text (on the dark panel or strip); (x, y) is the baseline's left end."""
    cv2.putText(img, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, color, max(1, int(round(scale * 1.6))),
                cv2.LINE_AA)


def _color_table(labels: np.ndarray, behaviors: list[str], colors: dict[str, str], none: tuple[int, int, int]
                 ) -> np.ndarray:
    """(n_frames, 3) uint8 colour of each frame's label (``none`` where there is none)."""
    palette = np.array([_rgb(colors[b]) for b in behaviors] + [none], dtype=np.uint8)
    index = {b: i for i, b in enumerate(behaviors)}
    return palette[np.array([index.get(x, len(behaviors)) for x in labels], dtype=np.int64)]


def _draw(frame: np.ndarray, i: int, lay: Layout, fps: float, pred: np.ndarray, prob: np.ndarray,
          rows: list[tuple[str, np.ndarray]], colors: dict[str, str], human: np.ndarray | None) -> np.ndarray:
    h, w = frame.shape[:2]
    out = np.empty((lay.out_height, lay.out_width, 3), dtype=np.uint8)
    out[:] = _BACKGROUND
    out[:h, :w] = frame
    k = lay.scale
    name = str(pred[i])
    color = _rgb(colors[name]) if name else _rgb(NONE_COLOR)
    x0, y0, x1, y1 = lay.swatch
    px, py = min(w, lay.bar[2] + int(round(70 * k))), min(h, lay.human_y + int(round(22 * k)) if human is not None
                                                           else lay.bar[3] + lay.margin)
    out[:py, :px] = (out[:py, :px] * 0.4).astype(np.uint8)  # a dark panel under the overlay, readable on any video
    _box(out, x0 - 1, y0 - 1, x1 + 1, y1 + 1, (0, 0, 0))
    _box(out, x0, y0, x1, y1, color)
    _text(out, name or "no prediction", lay.text_x, y1 - int(round(6 * k)), 0.6 * k)
    bx0, by0, bx1, by1 = lay.bar
    _box(out, bx0 - 1, by0 - 1, bx1 + 1, by1 + 1, (0, 0, 0))
    _box(out, bx0, by0, bx1, by1, (90, 90, 90))
    p = float(prob[i]) if np.isfinite(prob[i]) else 0.0
    _box(out, bx0, by0, bx0 + int(round(p * (bx1 - bx0))), by1, color)
    if name:
        _text(out, f"p = {p:.2f}", bx1 + int(round(6 * k)), by1, 0.45 * k)
    if human is not None:
        hn = str(human[i])
        _text(out, f"human: {hn or 'not labelled'}", x0, lay.human_y + int(round(14 * k)), 0.5 * k,
              _rgb(colors[hn]) if hn else (200, 200, 200))
    # the strip: STRIP_SECONDS of behaviour around frame i
    left, right = lay.label_width, lay.out_width - lay.margin
    cx = (left + right) // 2
    px_per_s = (right - left) / STRIP_SECONDS
    t = i / fps + (np.arange(left, right) - cx) / px_per_s
    idx = np.floor(t * fps + 1e-9).astype(np.int64)
    inside = (idx >= 0) & (idx < len(pred))
    y = lay.strip_top
    for label, table in rows:
        band = np.empty((right - left, 3), dtype=np.uint8)
        band[:] = _BACKGROUND
        band[inside] = table[idx[inside]]
        out[y:y + lay.row_height, left:right] = band[None, :, :]
        _text(out, label, lay.margin, y + lay.row_height - int(round(3 * k)), 0.38 * k, (220, 220, 220))
        y += lay.row_height + int(round(3 * k))
    out[lay.strip_top - int(round(3 * k)):y, cx:cx + max(1, int(round(k)))] = (255, 255, 255)
    _text(out, f"{i / fps:.1f} s", cx - int(round(20 * k)), y + int(round(13 * k)), 0.4 * k, (220, 220, 220))
    return out


def _one(project: Project, run: str, video: Video, path: Path, human: bool, progress: bool) -> Path:
    vec = read_vector(path)
    behaviors = list(vec.attrs["behaviors"])
    colors = behavior_colors(behaviors)
    pred = vec["label"].to_numpy(dtype=object)
    probs = vec[behaviors].to_numpy(dtype=np.float64)
    index = {b: j for j, b in enumerate(behaviors)}
    prob = np.array([probs[i, index[x]] if x in index else np.nan for i, x in enumerate(pred)])
    rows = [("pred", _color_table(pred, behaviors, colors, _rgb(NONE_COLOR)))]
    labels = None
    if human:
        label_file = project.paths.label_file(video.id)
        if label_file.is_file():
            labels = read_label_file(label_file, behaviors, n_frames=video.n_frames)
            rows.append(("human", _color_table(labels, behaviors, colors, _UNLABELLED)))
        else:
            logger.warning("%s: no human labels (%s); the video shows the predictions only", video.id, label_file)
    lay = Layout(video.width, video.height, len(rows))
    out = project.paths.labeled_video(run, video.id)
    n = 0
    bar = tqdm(total=video.n_frames, desc=f"labelled video {video.id}", unit="frame", leave=False,
               disable=not progress)
    try:
        with H264Writer(out, video.fps, lay.out_width, lay.out_height) as writer:
            for frame in iter_frames(video.path):
                if n >= video.n_frames:
                    break
                writer.write(_draw(frame, n, lay, video.fps, pred, prob, rows, colors, labels))
                n += 1
                bar.update(1)
            if n != video.n_frames:
                raise VideoError(f"{video.path}: decoding stopped at frame {n}, before the {video.n_frames} frames "
                                 "registered; the file changed or is damaged (no labelled video written)")
    finally:
        bar.close()
    logger.info("Wrote %s (%d frames at %g fps)", out, n, video.fps)
    return out


def create_labeled_video(config: ConfigLike, run: str | None = None, videos: Iterable[str] | str | None = None,
                         human: bool = False, progress: bool = True) -> list[Path]:
    """Write each video of a run with its decided behaviour drawn on: ``evaluation/<run>/videos/<id>_labeled.mp4``.

    Every frame of the source (same frame rate, same frame count) with the decided behaviour's colour, name and
    probability bar in the top-left corner and a scrolling ethogram strip beneath it (:data:`STRIP_SECONDS`
    seconds around the frame, a cursor at the frame), as H.264 MP4 that browsers play. Files are replaced.

    Parameters
    ----------
    config : path-like or Project
        config.yaml of the project (or its folder), or an opened :class:`~mousefear.core.project.Project`.
    run : str, optional
        Run name; default ``classification.run``, else the only run, else the run written last.
    videos : str or iterable of str, optional
        Only these videos (ids or paths); default every video of the run.
    human : bool
        Also draw the human labels (``labels/<video_id>.csv``): a second strip row and the label under the bar.
    progress : bool
        Show a progress bar per video.

    Returns
    -------
    list of pathlib.Path
        The videos written, in registry order.

    Raises
    ------
    mousefear.errors.ProjectError
        Unknown run or video, or a video without a vector file in the run.
    mousefear.errors.VideoError
        PyAV is not installed (``pip install 'mousefear[video]'``), or a video decodes fewer frames than
        registered (nothing is left under the output name).
    """
    project = Project.open(config)
    run = project.select_run(run)
    return [_one(project, run, v, path, human, progress) for v, path in run_videos(project, run, videos)]
