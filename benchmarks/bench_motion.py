"""Speed of the motion baseline: frames per second and real-time factor on one CPU core.

Usage::

    python benchmarks/bench_motion.py [VIDEO]

VIDEO defaults to ../shared/data/tracktor/mouse_video.mp4 (relative to the repository). Prints the frames
decoded and classified per second (decoding included), the real-time factor (video seconds per second of
processing) and the peak resident memory growth.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = REPO.parent / "shared" / "data" / "tracktor" / "mouse_video.mp4"
    parser.add_argument("video", nargs="?", default=str(default), help="video file (default: tracktor)")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import cv2

    cv2.setNumThreads(1)  # one CPU core
    from mousefear.backends.motion import MotionBackend
    from mousefear.core.intervals import window_bounds
    from mousefear.core.settings import Settings
    from mousefear.core.video import Video, probe_video

    info = probe_video(args.video, checksum=False)
    video = Video.from_file(args.video)
    backend = MotionBackend.from_settings(Settings.default(), flee_speed=8.0, flee_speed_unit="body_lengths/s")
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    res = backend.classify_video(video, window_bounds(video.n_frames, video.fps), crop=None, progress=False)
    dt = time.perf_counter() - t0
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"video: {args.video} ({info.width}x{info.height}, {info.fps:g} fps, {info.n_frames} frames, "
          f"{info.duration:.1f} s)")
    print(f"analysis size: {res.info['analysis_size'][0]}x{res.info['analysis_size'][1]}, "
          f"repeated frames: {res.info['repeated_frames']}")
    print(f"time: {dt:.2f} s; {info.n_frames / dt:.0f} frames/s; real-time factor {info.duration / dt:.1f}x")
    print(f"peak memory growth: {(rss1 - rss0) / 1024:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
