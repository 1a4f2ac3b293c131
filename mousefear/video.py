"""Opening, probing and streaming video frames.

Frame counts are always counted by decoding the file, never read from the container's metadata (which is an
estimate for many formats and wrong for truncated files). Frames are numbered from 0; frame ranges are
half-open, ``[start, end)``, everywhere in mousefear.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from mousefear._io import sha256_file
from mousefear.errors import VideoError

logger = logging.getLogger(__name__)

#: Extensions accepted as videos (lower case).
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".wmv", ".mpg", ".mpeg", ".m4v", ".webm", ".flv", ".h264")


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe_video` learns about a video file.

    Attributes
    ----------
    path : str
        The file probed.
    fps : float
        Frames per second reported by the container.
    n_frames : int
        Frames counted by decoding the whole file.
    width, height : int
        Frame size in pixels.
    size_bytes : int
        File size in bytes.
    sha256 : str
        Hex SHA-256 of the file ("" when not computed).
    """

    path: str
    fps: float
    n_frames: int
    width: int
    height: int
    size_bytes: int
    sha256: str

    @property
    def duration(self) -> float:
        """Duration in seconds (``n_frames / fps``)."""
        return self.n_frames / self.fps

    def to_dict(self) -> dict:
        return asdict(self)


@contextlib.contextmanager
def open_video(path: str | os.PathLike) -> Iterator[cv2.VideoCapture]:
    """Open a video with OpenCV; raise :class:`VideoError` naming the file when it cannot be opened."""
    path = Path(path)
    if not path.exists():
        raise VideoError(f"{path}: no such file")
    if not path.is_file():
        raise VideoError(f"{path}: not a file")
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise VideoError(f"{path}: cannot be opened as a video (unreadable, damaged, or not a video file)")
        yield cap
    finally:
        cap.release()


def _reported_frame_count(cap: cv2.VideoCapture) -> int:
    n = cap.get(cv2.CAP_PROP_FRAME_COUNT)
    return int(n) if n and n > 0 else 0


def is_truncated(n_decoded: int, n_reported: int) -> bool:
    """Whether decoding stopped clearly short of the frame count the container announces.

    The container's count is an estimate for some formats, so a shortfall of up to 2 frames or 0.5 % is
    tolerated.
    """
    return n_reported > 0 and n_reported - n_decoded > max(2, round(0.005 * n_reported))


def probe_video(path: str | os.PathLike, checksum: bool = True) -> VideoInfo:
    """Decode a video once to count its frames, and read its fps and frame size.

    Parameters
    ----------
    path
        Video file.
    checksum
        Also compute the file's SHA-256 (reads the file once more).

    Returns
    -------
    VideoInfo

    Raises
    ------
    VideoError
        The file is missing, not a video, decodes no frame, reports no frame rate, or is truncated (fewer
        frames decode than its container announces).
    """
    path = Path(path)
    with open_video(path) as cap:
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        n_reported = _reported_frame_count(cap)
        width = height = 0
        n = 0
        ok, frame = cap.read()
        if ok:
            height, width = frame.shape[:2]
            n = 1
            while cap.grab():
                n += 1
    if n == 0:
        raise VideoError(f"{path}: no frame could be decoded (not a video, or damaged)")
    if not (fps > 0 and np.isfinite(fps)):
        raise VideoError(
            f"{path}: the file reports no frame rate (fps {fps!r}); re-encode it with a constant frame rate"
        )
    if is_truncated(n, n_reported):
        raise VideoError(
            f"{path}: truncated: {n} frames decode but the file announces {n_reported}; "
            "the file was probably cut off while copying or recording"
        )
    return VideoInfo(
        path=str(path),
        fps=fps,
        n_frames=n,
        width=int(width),
        height=int(height),
        size_bytes=path.stat().st_size,
        sha256=sha256_file(path) if checksum else "",
    )


@dataclass
class Window:
    """The unit a model sees: a stretch ``[start_frame, end_frame)`` of one video with its sampled frames.

    Attributes
    ----------
    video_id : str
        Id of the video in the project registry.
    index : int
        Window number in the video, from 0.
    start_frame, end_frame : int
        Frames covered, half-open ``[start_frame, end_frame)``.
    frame_indices : np.ndarray
        (n_sampled,) int64 indices of the sampled frames, ascending, inside ``[start_frame, end_frame)``.
    frames : np.ndarray
        (n_sampled, height, width, 3) uint8 RGB frames, cropped to the video's crop box; preprocessing may
        replace them with (n_sampled, height', width', 3) uint8 RGB.
    fps : float
        Frame rate of the video (frames per second), for timing metadata.
    partial : bool
        True for a last window shorter than the window length.
    """

    video_id: str
    index: int
    start_frame: int
    end_frame: int
    frame_indices: np.ndarray
    frames: np.ndarray
    fps: float
    partial: bool = False

    @property
    def timestamps(self) -> np.ndarray:
        """(n_sampled,) float64 times of the sampled frames in seconds from the start of the video."""
        return self.frame_indices / self.fps
