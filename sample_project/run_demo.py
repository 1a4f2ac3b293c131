"""The main job on the sample project: the whole mousefear workflow on the synthetic sample video.

Usage::

    python sample_project/run_demo.py [--out OUT_DIR]

Creates a fresh project under OUT_DIR (default: sample_project/output/, replaced on every run) from
``mouse1_day1.mp4`` and prints its video registry. Later stages of the workflow are added here as they land.
"""

from __future__ import annotations

import argparse
import logging
import shutil
from pathlib import Path

import mousefear
from mousefear.cli import main as cli_main

HERE = Path(__file__).resolve().parent
VIDEO = HERE / "mouse1_day1.mp4"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE / "output", help="folder for the demo project")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.out.exists():
        shutil.rmtree(args.out)
    config = mousefear.create_project("sample", "demo", [VIDEO], working_directory=args.out, copy_videos=True)
    print(f"created {config}")
    cli_main(["info", str(config)])


if __name__ == "__main__":
    main()
