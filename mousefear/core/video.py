"""Opening, probing and streaming video frames.

Frame counts are always counted by decoding the file, never read from the container's metadata (which is an
estimate for many formats and wrong for truncated files). Frames are numbered from 0; frame ranges are
half-open, ``[start, end)``, everywhere in mousefear.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import EllipsisType
from typing import Any

import numpy as np

# FFmpeg's own messages ("moov atom not found", ...) would print on stderr above mousefear's one-line error
# that names the file; mousefear reports unreadable and truncated videos itself. Set OPENCV_FFMPEG_LOGLEVEL
# (for example to 24, FFmpeg's "warning") before importing mousefear to see them.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
import cv2  # noqa: E402

from mousefear._io import sha256_file
from mousefear.core.intervals import sample_indices, window_edges
from mousefear.errors import ConfigError, VideoError

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


@dataclass(frozen=True)
class Video:
    """One registered video: an entry of the registry in config.yaml.

    Attributes
    ----------
    key : str
        Registry key: the video's path relative to the project folder (posix), e.g. ``videos/m1_day1.mp4``.
    path : Path
        Absolute path (the key resolved against the project folder).
    id : str
        Unique name of the video in the project (its file stem).
    subject, session : str
        From the file name (``video_pattern``) or given at registration.
    fps : float
        Frames per second.
    n_frames : int
        Frames counted by decoding the whole file.
    width, height : int
        Frame size in pixels.
    size_bytes : int
        File size at registration.
    sha256 : str
        Hex SHA-256 of the file at registration.
    crop : tuple of int
        ``(x, y, width, height)`` in pixels: the analysed part of the frame.
    pixels_per_cm : float or None
        Scale of the video, for speeds in cm/s.
    mtime_ns : int or None
        Modification time of the file at registration (ns since the epoch; None in registries that predate it).
    fps_given : bool
        ``fps`` was given at registration, not read from the file.
    """

    key: str
    path: Path
    id: str
    subject: str
    session: str
    fps: float
    n_frames: int
    width: int
    height: int
    size_bytes: int
    sha256: str
    crop: tuple[int, int, int, int]
    pixels_per_cm: float | None
    mtime_ns: int | None = None
    fps_given: bool = False

    @property
    def duration(self) -> float:
        """Duration in seconds."""
        return self.n_frames / self.fps

    @classmethod
    def from_file(cls, path: str | os.PathLike, checksum: bool = False) -> Video:
        """A video that is not in a project, probed by decoding it (id = file stem, whole frame analysed), for
        using backends and measurements on a file directly.

        Raises
        ------
        VideoError
            As :func:`probe_video`.
        """
        info = probe_video(path, checksum=checksum)
        p = Path(path).resolve()
        return cls(key=p.name, path=p, id=p.stem, subject=p.stem, session="", fps=info.fps, n_frames=info.n_frames,
                   width=info.width, height=info.height, size_bytes=info.size_bytes, sha256=info.sha256,
                   crop=(0, 0, info.width, info.height), pixels_per_cm=None)

    def registry_entry(self) -> dict[str, Any]:
        """The entry of this video in config.yaml's registry, as plain values (without the key)."""
        out: dict[str, Any] = {
            "id": self.id, "subject": self.subject, "session": self.session, "fps": self.fps,
            "n_frames": self.n_frames, "width": self.width, "height": self.height, "size_bytes": self.size_bytes,
            "sha256": self.sha256, "crop": list(self.crop), "pixels_per_cm": self.pixels_per_cm,
        }
        if self.mtime_ns is not None:
            out["mtime_ns"] = self.mtime_ns
        if self.fps_given:
            out["fps_given"] = True
        return out


@contextlib.contextmanager
def open_video(path: str | os.PathLike, threads: int | None = None) -> Iterator[cv2.VideoCapture]:
    """Open a video with OpenCV; raise :class:`VideoError` naming the file when it cannot be opened.

    ``threads``: decoding threads (None: FFmpeg's choice, one per core; 1 spends the least CPU time per frame).
    """
    path = Path(path)
    if not path.exists():
        raise VideoError(f"{path}: no such file")
    if not path.is_file():
        raise VideoError(f"{path}: not a file")
    cap = (cv2.VideoCapture(str(path)) if threads is None else
           cv2.VideoCapture(str(path), cv2.CAP_ANY, [cv2.CAP_PROP_N_THREADS, int(threads)]))
    try:
        if not cap.isOpened():
            raise VideoError(f"{path}: cannot be opened as a video (unreadable, damaged, or not a video file)")
        yield cap
    finally:
        cap.release()


def read_first_frame(cap: cv2.VideoCapture, path: str | os.PathLike,
                     crop: Sequence[int] | None) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The first frame (BGR) of an opened video and the crop box ``(x, y, width, height)`` checked against it (the
    whole frame when ``crop`` is None); VideoError naming the file when no frame decodes or the box lies outside."""
    ok, frame = cap.read()
    if not ok:
        raise VideoError(f"{path}: no frame could be decoded (not a video, or damaged)")
    fh, fw = frame.shape[:2]
    return frame, _crop_box(crop, fw, fh, str(path)) or (0, 0, fw, fh)


def check_decoded_count(path: str | os.PathLike, n_decoded: int, n_frames: int | None) -> None:
    """Raise VideoError when a video decoded to another frame count than the registry's ``n_frames``."""
    if n_frames is not None and n_decoded != n_frames:
        raise VideoError(f"{path}: Expected {n_frames} frames (the registry's count), but {n_decoded} decode; the "
                         "file changed since it was registered?")


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


@dataclass(frozen=True)
class WindowContext:
    """What a model is shown besides a window's own frames (``classification.context``, the hybrid's hint).

    Attributes
    ----------
    mode : str
        ``"none"``, ``"temporal"`` or ``"autoregressive"``.
    previous, next : Window or None
        The windows ``index - 1`` and ``index + 1`` of the same video (their frames preprocessed like the window's,
        themselves without context); None at the start (end) of the video, and in mode ``"none"``.
    previous_label : str or None
        ``autoregressive``: the behaviour decided for the previous window (None for the first window of a video,
        or when the previous window's answer named no behaviour: it is then shown unlabelled).
    hint : str
        A sentence shown before the window's question ("" = none), e.g. the movement the motion detector measured.
    """

    mode: str = "none"
    previous: Window | None = None
    next: Window | None = None
    previous_label: str | None = None
    hint: str = ""


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
    context : WindowContext or None
        What the model sees besides the frames (neighbouring windows, the previous label, a hint); None = nothing.
    """

    video_id: str
    index: int
    start_frame: int
    end_frame: int
    frame_indices: np.ndarray
    frames: np.ndarray
    fps: float
    partial: bool = False
    context: WindowContext | None = None

    @property
    def timestamps(self) -> np.ndarray:
        """(n_sampled,) float64 times of the sampled frames in seconds from the start of the video."""
        return self.frame_indices / self.fps

    @property
    def start_seconds(self) -> float:
        """Start of the window in seconds from the start of the video."""
        return self.start_frame / self.fps

    @property
    def end_seconds(self) -> float:
        """End of the window (exclusive) in seconds from the start of the video."""
        return self.end_frame / self.fps


def _crop_box(crop: Any, width: int | None, height: int | None, source: str) -> tuple[int, int, int, int] | None:
    if crop is None:
        return None
    try:
        x, y, w, h = (int(c) for c in crop)
    except (TypeError, ValueError):
        raise VideoError(f"{source}: Expected a crop box (x, y, width, height), but got {crop!r}") from None
    if x < 0 or y < 0 or w <= 0 or h <= 0 or (width and x + w > width) or (height and y + h > height):
        raise VideoError(f"{source}: Expected a crop box (x, y, width, height) inside the {width}x{height} frame, "
                         f"but got {crop!r}")
    return x, y, w, h


def _to_rgb(frame_bgr: np.ndarray, box: tuple[int, int, int, int] | None) -> np.ndarray:
    """Crop a decoded BGR frame and convert it to a new contiguous RGB array."""
    if box is not None:
        x, y, w, h = box
        frame_bgr = frame_bgr[y:y + h, x:x + w]
    return cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB)


def iter_frames(path: str | os.PathLike, crop: tuple[int, int, int, int] | None = None) -> Iterator[np.ndarray]:
    """Every frame of a video, in order, one at a time.

    Parameters
    ----------
    path
        Video file.
    crop
        ``(x, y, width, height)`` box to cut each frame to (None = whole frame).

    Yields
    ------
    np.ndarray
        (height, width, 3) uint8 RGB frame (a new array each time).
    """
    with open_video(path) as cap:
        box = _crop_box(crop, int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
                        str(path))
        while True:
            ok, frame = cap.read()
            if not ok:
                return
            yield _to_rgb(frame, box)


def read_frames(path: str | os.PathLike, indices: Iterable[int],
                crop: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """Some frames of a video, decoded front to back (frames in between are only grabbed).

    Parameters
    ----------
    path
        Video file.
    indices
        Frame numbers, in any order, repeats allowed.
    crop
        ``(x, y, width, height)`` box to cut each frame to (None = whole frame).

    Returns
    -------
    np.ndarray
        (len(indices), height, width, 3) uint8 RGB, in the order of ``indices``.

    Raises
    ------
    VideoError
        The file cannot be opened, or a frame cannot be decoded (the message names the file and frame).
    """
    indices = [int(i) for i in indices]
    wanted = sorted(set(indices))
    got: dict[int, np.ndarray] = {}
    with open_video(path) as cap:
        box = _crop_box(crop, int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
                        str(path))
        frame = 0
        for target in wanted:
            while frame <= target:
                if not cap.grab():
                    raise VideoError(f"{path}: frame {target} cannot be decoded (the file has {frame} frames)")
                if frame == target:
                    ok, img = cap.retrieve()
                    if not ok:
                        raise VideoError(f"{path}: frame {target} cannot be decoded")
                    got[target] = _to_rgb(img, box)
                frame += 1
    return np.stack([got[i] for i in indices])


class WindowStream(Iterator[Window]):
    """Iterator over the windows of one video, decoding the file once, front to back.

    Made by :func:`iter_windows`. Besides yielding :class:`Window` objects it tells how the stream ended:

    Attributes
    ----------
    video_id : str
    path : Path
    fps : float
    n_frames : int
        Frames the video is registered with.
    bounds : np.ndarray
        (n_windows, 2) int64 bounds of every window of the video (:func:`window_bounds`).
    status : str
        ``"pending"`` (not started), ``"running"``, ``"complete"`` (every requested window yielded) or
        ``"truncated"`` (decoding stopped early; see ``stopped_at``).
    stopped_at : int or None
        When truncated: the first frame that could not be decoded (the file holds frames ``0 .. stopped_at-1``).
    n_yielded : int
        Windows yielded so far.
    """

    def __init__(self, path: Path, video_id: str, fps: float, n_frames: int, window_seconds: float,
                 stride_seconds: float | None, frames_per_window: int, crop: tuple[int, int, int, int] | None,
                 start_window: int, select: Iterable[int] | None):
        self.path = path
        self.video_id = video_id
        self.fps = float(fps)
        self.n_frames = int(n_frames)
        starts, ends = window_edges(self.n_frames, self.fps, window_seconds, stride_seconds)
        self.bounds = np.stack([starts, np.minimum(ends, self.n_frames)], axis=1).reshape(-1, 2)
        self._partial = ends > self.n_frames
        if int(frames_per_window) < 1:
            raise ConfigError(f"Expected frames_per_window to be a whole number >= 1, but got {frames_per_window!r}")
        self.frames_per_window = int(frames_per_window)
        self.crop = crop
        if start_window < 0:
            raise ValueError(f"Expected start_window >= 0, but got {start_window}")
        wanted = range(int(start_window), len(self.bounds))
        if select is not None:
            chosen = sorted({int(k) for k in select})
            bad = [k for k in chosen if not 0 <= k < len(self.bounds)]
            if bad:
                raise ValueError(f"{path}: Expected window numbers in 0..{len(self.bounds) - 1}, but got {bad}")
            wanted = [k for k in chosen if k >= start_window]
        self.windows = list(wanted)
        self.status = "pending"
        self.stopped_at: int | None = None
        self.n_yielded = 0
        self._gen = self._run()

    def __len__(self) -> int:
        """Number of windows the stream yields when the file decodes completely."""
        return len(self.windows)

    def __iter__(self) -> WindowStream:
        return self

    def __next__(self) -> Window:
        return next(self._gen)

    def close(self) -> None:
        """Stop early and release the video file."""
        self._gen.close()

    def _run(self) -> Iterator[Window]:
        self.status = "running"
        todo = self.windows
        if not todo:
            self.status = "complete"
            return
        with open_video(self.path) as cap:
            box = _crop_box(self.crop, int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
                            int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)), str(self.path))
            active: deque[tuple[int, np.ndarray]] = deque()  # windows whose first frame has been reached
            refcount: dict[int, int] = {}  # frame -> active windows that still need it
            cache: dict[int, np.ndarray] = {}  # sampled frames kept until every window using them is out
            next_add = 0
            frame = 0
            while next_add < len(todo) or active:
                # skip to the next window's first frame when nothing in between is needed
                while next_add < len(todo) and int(self.bounds[todo[next_add], 0]) <= frame:
                    k = todo[next_add]
                    idx = sample_indices(self.bounds[k, 0], self.bounds[k, 1], self.frames_per_window)
                    active.append((k, idx))
                    for i in np.unique(idx).tolist():
                        refcount[i] = refcount.get(i, 0) + 1
                    next_add += 1
                if not cap.grab():
                    self._truncated(frame)
                    return
                if frame in refcount:
                    ok, img = cap.retrieve()
                    if not ok:
                        self._truncated(frame)
                        return
                    cache[frame] = _to_rgb(img, box)
                while active and int(active[0][1][-1]) <= frame:
                    k, idx = active.popleft()
                    frames = np.stack([cache[i] for i in idx.tolist()])
                    for i in np.unique(idx).tolist():
                        refcount[i] -= 1
                        if refcount[i] == 0:
                            del refcount[i]
                            del cache[i]
                    self.n_yielded += 1
                    yield Window(video_id=self.video_id, index=int(k), start_frame=int(self.bounds[k, 0]),
                                 end_frame=int(self.bounds[k, 1]), frame_indices=idx, frames=frames, fps=self.fps,
                                 partial=bool(self._partial[k]))
                frame += 1
        self.status = "complete"

    def _truncated(self, frame: int) -> None:
        self.status = "truncated"
        self.stopped_at = frame
        logger.warning("%s: decoding stopped at frame %d, but the video is registered with %d frames; "
                       "%d of %d windows were produced (the file is probably truncated)",
                       self.path, frame, self.n_frames, self.n_yielded, len(self.windows))


def iter_windows(
    video: Any,
    window_seconds: float = 1.0,
    stride_seconds: float | None = None,
    frames_per_window: int = 4,
    crop: tuple[int, int, int, int] | None | EllipsisType = ...,
    start_window: int = 0,
    *,
    fps: float | None = None,
    n_frames: int | None = None,
    video_id: str | None = None,
    select: Iterable[int] | None = None,
) -> WindowStream:
    """Stream the windows of a video, decoding it once, front to back.

    Frames that no window samples are only grabbed (the cheap half of decoding); sampled frames are retrieved,
    cropped and converted to RGB. Only the sampled frames of windows still in progress are kept, so memory stays
    flat however long the video is, and with overlapping windows (stride < window) every frame is still decoded
    once. Windows come out in order.

    Parameters
    ----------
    video
        A registered :class:`Video` (its path, id, fps, frame count and crop box are used), or
        the path of a video file together with ``fps`` and ``n_frames`` (probed by decoding when not given).
    window_seconds, stride_seconds
        Window length and the step between window starts, in seconds (see :func:`window_bounds`).
    frames_per_window
        Frames sampled evenly inside each window (see :func:`sample_indices`).
    crop
        ``(x, y, width, height)`` box the frames are cut to; ``None`` = the whole frame; left out = the registry's
        crop box for a registered video, the whole frame for a path.
    start_window
        First window to yield; earlier frames are skipped by grabbing (a resumed run starts here).
    fps, n_frames, video_id
        For a path: its frame rate, decoded frame count and id (default: the file stem).
    select
        Yield only these window numbers (ascending order; frames of the others are only grabbed).

    Returns
    -------
    WindowStream
        An iterator of :class:`Window` (frames (frames_per_window, h, w, 3) uint8 RGB). When the file decodes
        fewer frames than ``n_frames`` the stream yields every window whose sampled frames decoded, logs a
        warning, and sets ``status = "truncated"`` and ``stopped_at`` to the first missing frame.
    """
    if isinstance(video, Video):
        path, vid, fps_, n = video.path, video.id, video.fps, video.n_frames
        box = video.crop if crop is ... else crop
    elif isinstance(video, str | os.PathLike):
        path = Path(video)
        vid = video_id or path.stem
        if fps is None or n_frames is None:
            logger.info("%s: fps or frame count not given; probing the file (one extra decoding pass)", path)
            info = probe_video(path, checksum=False)
            fps_ = info.fps if fps is None else fps
            n = info.n_frames if n_frames is None else n_frames
        else:
            fps_, n = fps, n_frames
        box = None if crop is ... else crop
    else:
        raise TypeError(f"Expected a registered Video or a path, but got {type(video).__name__}")
    return WindowStream(Path(path), vid, fps_, int(n), window_seconds, stride_seconds, frames_per_window, box,
                        int(start_window), select)
