"""Benchmark: window streaming with the default preprocessing against a plain OpenCV read loop.

Usage::

    PYTHONPATH=. python benchmarks/bench_video.py VIDEO [--repeats 2]

Prints, measured in one run on the same video:

- raw decode throughput: ``cv2.VideoCapture.read()`` on every frame, nothing else (frames/s);
- window streaming throughput: :func:`mousefear.video.iter_windows` (1 s windows, 4 frames each, the video's
  full frame) plus :func:`mousefear.preprocess.preprocess_window` with the template's default preprocessing,
  counted in video frames covered per second;
- their ratio (target >= 0.8);
- peak memory while streaming the video once and five times back to back.

Memory is measured two ways, each phase in a fresh child process so that one phase's peak cannot hide
another's: ``ru_maxrss`` from :mod:`resource` (peak resident set size of the whole process, including the
decoder's own buffers in C, which tracemalloc cannot see), and the peak of :mod:`tracemalloc` (Python and
numpy allocations only: the frames the stream holds). If the stream held on to frames, both would grow
with the number of frames streamed; flat figures between 1x and 5x show memory does not grow with length.
Throughput is the best of ``--repeats`` alternating runs, to damp noise from other work on the machine.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import cv2


def _raw(path: str) -> dict:
    cap = cv2.VideoCapture(path)
    n = 0
    t0 = time.perf_counter()
    while True:
        ok, _ = cap.read()
        if not ok:
            break
        n += 1
    dt = time.perf_counter() - t0
    cap.release()
    return {"frames": n, "seconds": dt}


def _stream(path: str, n_frames: int, fps: float, times: int, trace: bool) -> dict:
    from mousefear.core.preprocess import default_settings, preprocess_window
    from mousefear.core.video import iter_windows

    settings = default_settings()
    if trace:
        tracemalloc.start()
    covered = 0
    windows = 0
    t0 = time.perf_counter()
    for _ in range(times):
        stream = iter_windows(path, 1.0, None, 4, fps=fps, n_frames=n_frames)
        for w in stream:
            preprocess_window(w.frames, settings)
            covered += w.end_frame - w.start_frame
            windows += 1
        assert stream.status == "complete", stream.status
    dt = time.perf_counter() - t0
    out = {"frames": covered, "windows": windows, "seconds": dt}
    if trace:
        out["tracemalloc_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return out


def _child(args: argparse.Namespace) -> None:
    if args.phase == "raw":
        out = _raw(args.video)
    else:
        out = _stream(args.video, args.n_frames, args.fps, args.times, trace=args.trace)
    out["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(json.dumps(out))


def _run_child(video: str, phase: str, **kw) -> dict:
    cmd = [sys.executable, __file__, video, "--phase", phase]
    for k, v in kw.items():
        if v is True:
            cmd.append(f"--{k}")
        elif v is not None and v is not False:
            cmd += [f"--{k}", str(v)]
    res = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def _rates(results: list[dict]) -> str:
    return ", ".join(f"{r['frames'] / r['seconds']:.1f}" for r in results)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("video")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--phase", choices=("raw", "stream"), default=None, help=argparse.SUPPRESS)
    p.add_argument("--n_frames", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--fps", type=float, default=None, help=argparse.SUPPRESS)
    p.add_argument("--times", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.phase:
        _child(args)
        return

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from mousefear.core.video import probe_video

    info = probe_video(args.video, checksum=False)
    print(f"video: {args.video}  {info.width}x{info.height}  {info.fps:g} fps  {info.n_frames} frames")
    raws, streams = [], []
    for _ in range(args.repeats):
        raws.append(_run_child(args.video, "raw"))
        streams.append(_run_child(args.video, "stream", n_frames=info.n_frames, fps=info.fps))
    raw = max(raws, key=lambda r: r["frames"] / r["seconds"])
    stream = max(streams, key=lambda r: r["frames"] / r["seconds"])
    raw_fps = raw["frames"] / raw["seconds"]
    stream_fps = stream["frames"] / stream["seconds"]
    print(f"raw decode (cv2 read loop):               {raw_fps:8.1f} frames/s  "
          f"(best of {args.repeats}: {_rates(raws)})")
    print(f"windows + default preprocessing:          {stream_fps:8.1f} video frames/s  "
          f"(best of {args.repeats}: {_rates(streams)})")
    print(f"ratio streaming / raw:                    {stream_fps / raw_fps:8.2f}  (target >= 0.8)")
    one = _run_child(args.video, "stream", n_frames=info.n_frames, fps=info.fps, trace=True)
    five = _run_child(args.video, "stream", n_frames=info.n_frames, fps=info.fps, times=5, trace=True)
    print(f"peak RSS, raw read loop:                  {raw['maxrss_mb']:8.1f} MiB")
    print(f"peak RSS, streamed once  ({one['frames']:6d} frames): {one['maxrss_mb']:8.1f} MiB   "
          f"tracemalloc peak {one['tracemalloc_peak_mb']:.2f} MiB")
    print(f"peak RSS, streamed 5 x   ({five['frames']:6d} frames): {five['maxrss_mb']:8.1f} MiB   "
          f"tracemalloc peak {five['tracemalloc_peak_mb']:.2f} MiB")


if __name__ == "__main__":
    main()
