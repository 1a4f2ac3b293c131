"""mousefear: behaviour vectors from fear-conditioning videos of mice.

The public API is the workflow of a project, each function taking the path of config.yaml first::

    import mousefear
    cfg = mousefear.create_project("fearcond", "alice", ["videos/m1_day1.mp4"], working_directory="~/projects")
    mousefear.add_videos(cfg, ["videos/m1_day2.mp4"])

Importing mousefear never imports torch or transformers; only the model backends do, when they run.
"""

from mousefear._version import __version__
from mousefear.calibration import calibrate_motion
from mousefear.classify import classify_videos
from mousefear.config import load_config, save_config
from mousefear.evaluate import compare_runs, evaluate
from mousefear.exemplars import (
    exemplar_frames,
    extract_exemplars,
    label_exemplars,
    labelled_exemplars,
    read_exemplar_index,
    write_exemplar_index,
)
from mousefear.gui import label_exemplars_gui, review_predictions_gui
from mousefear.labels import export_labels, import_labels
from mousefear.project import add_videos, create_project, video_table
from mousefear.summary import summarize
from mousefear.vectors import read_vector

__all__ = [
    "__version__",
    "add_videos",
    "calibrate_motion",
    "classify_videos",
    "compare_runs",
    "create_project",
    "evaluate",
    "exemplar_frames",
    "export_labels",
    "extract_exemplars",
    "import_labels",
    "label_exemplars",
    "label_exemplars_gui",
    "labelled_exemplars",
    "load_config",
    "read_exemplar_index",
    "read_vector",
    "review_predictions_gui",
    "save_config",
    "summarize",
    "video_table",
    "write_exemplar_index",
]
