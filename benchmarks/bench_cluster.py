"""Benchmark: classifying through tasks (submitit's local executor) with the motion backend.

Usage::

    python benchmarks/bench_cluster.py [--copies 4] [VIDEO ...]

VIDEO defaults to ../shared/data/tracktor/mouse_video.mp4 and sample_project/mouse1_day1.mp4. For each video a
project with ``--copies`` copies of it (links under other names) is classified with the motion backend, once
inline and then as 1, 2 and 4 local tasks (``cluster.videos_per_task`` = copies / tasks, all tasks at once).
Prints, measured in one run:

- the overhead per task: from its submission to its first work (the backend given its first video), split into
  submission to the start of the task's call (a new Python process, submitit's pickles) and that start to the
  first work (importing, opening the project, working out the run, checking the videos);
- windows per second of the whole call (client's wall time, submission to the run's summary) for inline and 1,
  2, 4 tasks, and the ratio to inline.

The tasks run on this machine's cores; with fewer cores than tasks the speed-up is bounded by the cores (the
machine's count is printed, and the load average after each measurement: other work on the machine skews the
ratios). The same tasks on a cluster add the queue's wait to the overhead.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _project(root: Path, video: Path, copies: int) -> Path:
    import mousefear
    from mousefear.core.project import Project

    src = root / "src"
    src.mkdir(parents=True)
    files = []
    for i in range(copies):
        link = src / f"c{i + 1}_s1{video.suffix}"
        link.symlink_to(video.resolve())
        files.append(link)
    cfg = Path(mousefear.create_project("bench", "b", files, working_directory=root, date="2026-01-01"))
    with Project.open(cfg).edit() as doc:
        doc["classification"]["backend"] = "motion"
        doc["classification"]["max_unparseable"] = 1.0
        doc["cluster"]["cpus_per_task"] = 1
    return cfg


def _call(cfg: Path, run: str, executor: str, tasks: int, copies: int) -> dict:
    import mousefear
    from mousefear.core.project import Project

    with Project.open(cfg).edit() as doc:
        doc["cluster"]["videos_per_task"] = max(1, copies // tasks)
        doc["cluster"]["array_parallelism"] = tasks
    t0 = time.perf_counter()
    mousefear.classify_videos(cfg, run=run, executor=executor, progress=False)
    wall = time.perf_counter() - t0
    timing = json.loads((cfg.parent / "behavior-vectors" / run / "timing.json").read_text())
    windows = timing["windows_classified"]
    out = {"wall": wall, "windows": windows, "rate": windows / wall, "load": os.getloadavg()[0]}
    if executor != "inline":
        out["to_start"] = [t["started"] - t["submitted_at"] for t in timing["tasks"]]
        out["to_work"] = [t["first_input"] - t["started"] for t in timing["tasks"]]
        out["overhead"] = [t["first_input"] - t["submitted_at"] for t in timing["tasks"]]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("videos", nargs="*", help="video files (default: tracktor and the sample video)")
    parser.add_argument("--copies", type=int, default=4, help="copies of each video in its project (default 4)")
    args = parser.parse_args()
    videos = [Path(v) for v in args.videos] or [REPO.parent / "shared" / "data" / "tracktor" / "mouse_video.mp4",
                                                REPO / "sample_project" / "mouse1_day1.mp4"]
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    logging.getLogger("mousefear").setLevel(logging.ERROR)  # NaN windows of a video are no concern here
    print(f"machine: {os.cpu_count()} CPU core(s); motion backend; {args.copies} copies of each video")
    for video in videos:
        if not video.is_file():
            print(f"{video}: missing, skipped")
            continue
        with tempfile.TemporaryDirectory() as tmp:
            cfg = _project(Path(tmp), video, args.copies)
            base = _call(cfg, "inline", "inline", 1, args.copies)
            print(f"\n{video.name}: {base['windows']} windows ({args.copies} x {base['windows'] // args.copies})")
            print(f"  inline        : {base['wall']:7.2f} s  {base['rate']:8.1f} windows/s  1.00x   "
                  f"(load average {base['load']:.1f})")
            for n in (1, 2, 4):
                r = _call(cfg, f"tasks{n}", "local", n, args.copies)
                print(f"  {n} local task{'s' if n > 1 else ' '}: {r['wall']:7.2f} s  {r['rate']:8.1f} windows/s  "
                      f"{r['rate'] / base['rate']:.2f}x   overhead per task {statistics.mean(r['overhead']):.2f} s "
                      f"(submission to start {statistics.mean(r['to_start']):.2f} s, start to first work "
                      f"{statistics.mean(r['to_work']):.2f} s; load average {r['load']:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
