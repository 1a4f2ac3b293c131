"""Writing MP4 videos that browsers play: H.264 (yuv420p) in an MP4 container with the index at the front.

PyAV (``pip install mousefear[video]``) is imported inside :class:`H264Writer`: its wheels carry FFmpeg with the
libx264 encoder on Linux, macOS and Windows, so no system FFmpeg is needed. OpenCV's own wheels cannot write
H.264 (only MPEG-4 part 2, which browsers do not play, and VP9 in WebM, which QuickTime and PowerPoint do not).
"""

from __future__ import annotations

import contextlib
import os
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from mousefear._io import atomic_path
from mousefear.errors import VideoError

__all__ = ["H264Writer", "frame_rate"]


def frame_rate(fps: float) -> Fraction:
    """The frame rate as an exact fraction for the container: 29.97 -> 30000/1001, 30.0003 -> 300003/10000."""
    for den in (1, 1001, 100, 1000, 10000):
        f = Fraction(round(fps * den), den)
        if abs(float(f) - fps) < 1e-9 * max(1.0, fps):
            return f
    return Fraction(fps).limit_denominator(1_000_000)


class H264Writer:
    """Write RGB frames to an H.264 MP4 file at a constant frame rate, atomically.

    Use as a context manager; the file appears under its name only when the block ends without an error.

    Parameters
    ----------
    path : path-like
        The ``.mp4`` file to write (replaced if it exists).
    fps : float
        Frames per second (the source video's own rate).
    width, height : int
        Frame size in pixels; both must be even (yuv420p).
    crf : int
        Quality (lower = better; 18-23 look near lossless for this content).

    Raises
    ------
    mousefear.errors.VideoError
        PyAV is not installed, or the size is odd.
    """

    def __init__(self, path: str | os.PathLike, fps: float, width: int, height: int, crf: int = 20):
        if width % 2 or height % 2:
            raise VideoError(f"{path}: Expected an even frame size for H.264, but got {width}x{height}")
        self.path, self.fps, self.width, self.height, self.crf = Path(path), fps, width, height, crf
        self.n_written = 0
        self._stack = contextlib.ExitStack()
        self._container: Any = None
        self._stream: Any = None

    def __enter__(self) -> H264Writer:
        try:
            import av
        except ImportError as exc:
            raise VideoError(f"{self.path}: writing MP4 video needs PyAV ({exc}); install it with "
                             "pip install 'mousefear[video]'") from None
        tmp = self._stack.enter_context(atomic_path(self.path))
        self._container = av.open(str(tmp), mode="w", format="mp4", options={"movflags": "+faststart"})
        rate = frame_rate(self.fps)
        stream = self._container.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = self.width, self.height, "yuv420p"
        stream.time_base = 1 / rate
        stream.options = {"crf": str(self.crf), "preset": "veryfast"}
        self._stream = stream
        return self

    def write(self, frame: np.ndarray) -> None:
        """Append one (height, width, 3) uint8 RGB frame."""
        import av

        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        vf.pts = self.n_written
        for packet in self._stream.encode(vf):
            self._container.mux(packet)
        self.n_written += 1

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            if exc_type is None:
                for packet in self._stream.encode():  # flush the encoder
                    self._container.mux(packet)
            self._container.close()
        finally:
            self._stack.__exit__(exc_type, exc, tb)
