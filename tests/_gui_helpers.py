"""The project the GUI tests work on (tests/test_gui.py, tests/test_gui_browser.py), and its fixtures.

``base_project`` (one per test module) is the sample video with a crop box, extracted exemplars and one run's
behaviour vector of known probabilities; ``proj`` is a fresh copy of it for a test that writes. tests/conftest.py
makes both fixtures available to every test module.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "sample_project" / "mouse1_day1.mp4"
BEHAVIORS = ["freezing", "exploring", "grooming", "rearing", "fleeing"]
RUN = "motion-test"
VIDEO = "mouse1_day1"
CROP = (40, 20, 240, 200)


def window_probabilities(n_windows: int) -> np.ndarray:
    """(n_windows, 5) float probabilities with a known winner and certainty per window; window 3 has no answer."""
    probs = np.zeros((n_windows, len(BEHAVIORS)))
    for i in range(n_windows):
        top = 0.3 + 0.6 * ((i * 7) % n_windows) / max(1, n_windows - 1)  # certainty 0.3 .. 0.9, shuffled
        probs[i] = (1 - top) / (len(BEHAVIORS) - 1)
        probs[i, i % len(BEHAVIORS)] = top
    probs[3] = np.nan
    return probs


def build_project(base: Path) -> Path:
    """A project of the sample video, with a crop box, extracted exemplars and one run's behaviour vector."""
    import mousefear
    from mousefear.core.project import Project
    from mousefear.core.settings import load_config, save_config
    from mousefear.formats.vectors import write_vector
    from mousefear.pipeline.exemplars import extract_exemplars

    config = mousefear.create_project("gui", "tester", [SAMPLE], working_directory=base, date="2026-11-23")
    cfg = load_config(config)
    key = next(iter(cfg["videos"]))
    cfg["videos"][key]["crop"] = list(CROP)
    save_config(config, cfg)
    extract_exemplars(config, n_per_video=6, method="uniform")
    v = Project.open(config).videos[0]
    starts = np.arange(0, v.n_frames, 30)
    ends = np.minimum(starts + 30, v.n_frames)
    write_vector(
        Path(config).parent / "behavior-vectors" / RUN / f"{v.id}.h5",
        behaviors=BEHAVIORS, start_frame=starts, end_frame=ends, probabilities=window_probabilities(len(starts)),
        n_frames=v.n_frames,
        attrs={"video_id": v.id, "subject": v.subject, "session": v.session, "video_sha256": v.sha256,
               "fps": v.fps, "run": RUN, "backend": "motion", "model_id": "", "model_revision": "",
               "prompt_hash": "", "icl_example_ids": [], "preprocessing": {}},
        created="2026-11-23T00:00:00+00:00",
    )
    return Path(config)


@pytest.fixture(scope="module")
def base_project(tmp_path_factory) -> Path:
    """The GUI project of this test module (tests that write use ``proj``); returns its config.yaml."""
    return build_project(tmp_path_factory.mktemp("gui-base"))


@pytest.fixture
def proj(base_project, tmp_path) -> Path:
    """A fresh copy of the base project (tests write into it); returns its config.yaml."""
    dest = tmp_path / base_project.parent.name
    shutil.copytree(base_project.parent, dest, symlinks=True)
    return dest / "config.yaml"


def read_index(config: Path) -> list[dict]:
    """Rows of the project's exemplars/index.csv, as str."""
    import csv

    with open(config.parent / "exemplars" / "index.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def add_motion_run(config: Path, scored_seconds: int = 15) -> str:
    """Classify the project's video with the motion backend (its measurements stored) and score its first
    ``scored_seconds`` seconds with the sample's ground truth; returns the run's name."""
    import mousefear
    from mousefear.core.settings import load_config, save_config
    from mousefear.formats.labels import read_label_file, write_label_file

    cfg = load_config(config)
    cfg["classification"]["backend"] = "motion"
    save_config(config, cfg)
    run = mousefear.classify_videos(config, progress=False)
    labels = read_label_file(REPO / "sample_project" / "mouse1_day1_labels.csv", BEHAVIORS)
    labels[30 * scored_seconds:] = ""
    write_label_file(config.parent / "labels" / f"{VIDEO}.csv", labels, BEHAVIORS)
    return run
