"""The main job on the sample project: the whole mousefear workflow on the synthetic sample video.

Usage::

    python sample_project/run_demo.py [--out OUT_DIR] [--model MODEL]

Creates a fresh project under OUT_DIR (default: sample_project/output/, replaced on every run) from
``mouse1_day1.mp4``, then: extracts candidate exemplar windows, imports the frame-exact ground truth
(``mouse1_day1_labels.csv``) as human labels, labels the exemplars from it, classifies the video, evaluates the
run against the labels (report.html), and writes the fear-conditioning summary for a three-epoch protocol.

With model weights on this machine (``--model``: a Qwen2.5-VL or Qwen3-VL; default the config's
``Qwen/Qwen2.5-VL-3B-Instruct`` from the Hugging Face cache, or a local folder) the classification uses the model;
without, it says so in one line and runs the motion baseline (its default method, movement measured on the animal)
instead, so the report is still complete and says which backend produced it.
"""

from __future__ import annotations

import argparse
import logging
import shutil
from pathlib import Path

import mousefear
from mousefear.core.settings import load_config, save_config
from mousefear.errors import ModelError

HERE = Path(__file__).resolve().parent
VIDEO = HERE / "mouse1_day1.mp4"
LABELS = HERE / "mouse1_day1_labels.csv"
PROTOCOL = {"day1": [{"name": "baseline", "start": 0, "end": 12}, {"name": "tone", "start": 12, "end": 24},
                     {"name": "post", "start": 24, "end": 36}]}


def local_weights(model: str) -> bool:
    """Whether ``model`` (hub id or folder) can be loaded without the network."""
    from mousefear.backends.transformers import resolve_model

    try:
        resolve_model(model, local_files_only=True)
    except ModelError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE / "output", help="folder for the demo project")
    parser.add_argument("--model", default=None,
                        help="Qwen2.5-VL or Qwen3-VL hub id or local folder (default: config's)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.out.exists():
        shutil.rmtree(args.out)

    config = mousefear.create_project("sample", "demo", [VIDEO], working_directory=args.out, copy_videos=True)
    cfg = load_config(config)
    cfg["protocol"] = PROTOCOL
    save_config(config, cfg)

    mousefear.extract_exemplars(config)
    mousefear.import_labels(config, LABELS, video="mouse1_day1")
    print(mousefear.label_exemplars(config).to_string())

    cfg = load_config(config)
    model = args.model or str(cfg["classification"]["model"])
    if local_weights(model):
        cfg["classification"]["model"] = model
        save_config(config, cfg)
        print(f"classifying with {model}")
    else:
        print(f"No local weights for {model}: running the motion baseline instead (get the weights with "
              f"`huggingface-cli download {model}` or pass --model FOLDER).")
        cfg["classification"]["backend"] = "motion"
        cfg["classification"]["run"] = "motion"
        cfg["classification"]["motion"]["flee_speed"] = 4.0  # body lengths per second, for this arena
        cfg["classification"]["motion"]["flee_speed_unit"] = "body_lengths/s"
        save_config(config, cfg)  # the animal method's default thresholds need no calibration

    run = mousefear.classify_videos(config)
    result = mousefear.evaluate(config, run=run)
    print(result.summary())
    mousefear.summarize(config, run=run)
    mousefear.cli.main(["info", str(config)])
    print(f"report: {result.report_path}")


if __name__ == "__main__":
    import mousefear.cli

    main()
