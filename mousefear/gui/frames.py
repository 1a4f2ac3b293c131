"""Decoded video frames for the review page: cropped, shrunk for display, JPEG-encoded, kept in a small cache."""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

import cv2
import numpy as np

from mousefear.errors import VideoError

#: frames decoded ahead of the one asked for (the page asks for a whole window, one frame after the other)
READ_AHEAD = 16
#: a jump forward shorter than this is decoded through instead of seeking
SEEK_DISTANCE = 64


class FrameSource:
    """Sequential-friendly reader of one video: keeps the capture open and knows where it stands.

    Parameters
    ----------
    path
        Video file.
    n_frames
        Frame count of the video (counted by decoding, from the registry).
    crop
        ``(x, y, width, height)`` in pixels, the part of the frame shown.
    max_width
        Frames wider than this (after cropping) are scaled down to it, in pixels.
    """

    def __init__(self, path: Path, n_frames: int, crop: tuple[int, int, int, int], max_width: int = 640):
        self.path = Path(path)
        self.n_frames = int(n_frames)
        self.crop = tuple(int(c) for c in crop)
        self.max_width = int(max_width)
        self._cap: cv2.VideoCapture | None = None
        self._pos = 0  # index of the frame the next read() returns

    def _open(self) -> cv2.VideoCapture:
        if self._cap is None:
            if not self.path.is_file():
                raise VideoError(f"{self.path}: no such video file (moved or unlinked?)")
            cap = cv2.VideoCapture(str(self.path))
            if not cap.isOpened():
                raise VideoError(f"{self.path}: cannot be opened as a video")
            self._cap, self._pos = cap, 0
        return self._cap

    def read(self, first: int, count: int) -> list[tuple[int, np.ndarray]]:
        """Decode frames ``first .. first + count - 1`` (stopping at the end of the video).

        Returns
        -------
        list of (int, np.ndarray)
            Frame index and (h, w, 3) uint8 BGR frame, cropped and scaled for display.
        """
        cap = self._open()
        if first < self._pos or first - self._pos > SEEK_DISTANCE:
            cap.set(cv2.CAP_PROP_POS_FRAMES, first)
            self._pos = first
        while self._pos < first:
            if not cap.grab():
                raise VideoError(f"{self.path}: cannot decode frame {self._pos}")
            self._pos += 1
        out = []
        for i in range(first, min(first + count, self.n_frames)):
            ok, frame = cap.read()
            if not ok:
                self.close()
                if not out:
                    raise VideoError(f"{self.path}: cannot decode frame {i}")
                break
            self._pos = i + 1
            out.append((i, self._display(frame)))
        return out

    def _display(self, frame: np.ndarray) -> np.ndarray:
        x, y, w, h = self.crop
        frame = frame[y:y + h, x:x + w]
        if frame.shape[1] > self.max_width:
            scale = self.max_width / frame.shape[1]
            frame = cv2.resize(frame, (self.max_width, max(1, round(frame.shape[0] * scale))),
                               interpolation=cv2.INTER_AREA)
        return frame

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
            self._pos = 0


class FrameCache:
    """JPEG bytes of recently shown frames, for every video of a project (least recently used dropped first).

    Parameters
    ----------
    max_frames
        Frames kept (a 640-pixel JPEG is about 20-60 kB, so 600 frames stay well under 40 MB).
    quality
        JPEG quality, 0-100.
    """

    def __init__(self, max_frames: int = 600, quality: int = 85):
        self.max_frames = int(max_frames)
        self.quality = int(quality)
        self._jpegs: OrderedDict[tuple[str, int], bytes] = OrderedDict()
        self._sources: dict[str, FrameSource] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def add_video(self, video_id: str, source: FrameSource) -> None:
        with self._lock:
            self._sources[video_id] = source
            self._locks[video_id] = threading.Lock()

    def _get_cached(self, key: tuple[str, int]) -> bytes | None:
        with self._lock:
            data = self._jpegs.get(key)
            if data is not None:
                self._jpegs.move_to_end(key)
            return data

    def jpeg(self, video_id: str, frame: int) -> bytes:
        """JPEG of frame ``frame`` of ``video_id`` (decoding it and the next few when not cached)."""
        key = (video_id, frame)
        data = self._get_cached(key)
        if data is not None:
            return data
        with self._locks[video_id]:
            data = self._get_cached(key)  # another thread may have decoded it meanwhile
            if data is not None:
                return data
            decoded = self._sources[video_id].read(frame, READ_AHEAD)
            encoded = []
            for i, img in decoded:
                ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
                if not ok:
                    raise VideoError(f"cannot encode frame {i} of {video_id} as JPEG")
                encoded.append(((video_id, i), buf.tobytes()))
        with self._lock:
            for k, b in encoded:
                self._jpegs[k] = b
                self._jpegs.move_to_end(k)
            while len(self._jpegs) > self.max_frames:
                self._jpegs.popitem(last=False)
        return encoded[0][1]

    def close(self) -> None:
        for source in self._sources.values():
            source.close()
