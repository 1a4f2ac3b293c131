"""mousefear: behaviour vectors from fear-conditioning videos of mice.

The public API is the workflow of a project, each function taking the path of config.yaml first::

    import mousefear
    cfg = mousefear.create_project("fearcond", "alice", ["videos/m1_day1.mp4"], working_directory="~/projects")
    mousefear.add_videos(cfg, ["videos/m1_day2.mp4"])

Importing mousefear never imports torch or transformers; only the model backends do, when they run.
"""

from mousefear._version import __version__
from mousefear.core.settings import load_config, save_config
from mousefear.formats.vectors import read_vector, read_vector_measurements
from mousefear.gui import label_exemplars_gui, review_predictions_gui
from mousefear.pipeline.ablate import ablate
from mousefear.pipeline.calibration import calibrate_motion
from mousefear.pipeline.check import check_model
from mousefear.pipeline.classify import classify_videos
from mousefear.pipeline.compare import compare_runs
from mousefear.pipeline.evaluate import evaluate
from mousefear.pipeline.exemplars import (
    exemplar_frames,
    extract_exemplars,
    label_exemplars,
    labelled_exemplars,
    read_exemplar_index,
    write_exemplar_index,
)
from mousefear.pipeline.hybrid_calibration import calibrate_hybrid
from mousefear.pipeline.labeled_video import create_labeled_video
from mousefear.pipeline.labels import export_labels, import_labels
from mousefear.pipeline.nwb import export_nwb
from mousefear.pipeline.registry import add_videos, check_videos, create_project, video_table
from mousefear.pipeline.rename import rename_video
from mousefear.pipeline.rethreshold import rethreshold
from mousefear.pipeline.smoothing import smooth
from mousefear.pipeline.status import run_status
from mousefear.pipeline.suggest import suggest_seconds
from mousefear.pipeline.summary import summarize
from mousefear.pipeline.tables import window_table
from mousefear.pipeline.temperature import calibrate_probabilities

__all__ = [
    "__version__",
    "ablate",
    "add_videos",
    "calibrate_hybrid",
    "calibrate_motion",
    "calibrate_probabilities",
    "check_model",
    "check_videos",
    "classify_videos",
    "compare_runs",
    "create_labeled_video",
    "create_project",
    "evaluate",
    "exemplar_frames",
    "export_labels",
    "export_nwb",
    "extract_exemplars",
    "import_labels",
    "label_exemplars",
    "label_exemplars_gui",
    "labelled_exemplars",
    "load_config",
    "read_exemplar_index",
    "read_vector",
    "read_vector_measurements",
    "rename_video",
    "rethreshold",
    "review_predictions_gui",
    "run_status",
    "save_config",
    "smooth",
    "suggest_seconds",
    "summarize",
    "video_table",
    "window_table",
    "write_exemplar_index",
]
