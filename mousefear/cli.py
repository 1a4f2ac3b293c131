"""The ``mousefear`` command line: a thin layer over the public functions.

Each sub-command maps to one function of the Python API and takes the path of config.yaml first. Errors from
bad input, and files that cannot be read or written (full disk, read-only or unreadable folder), end the command
with a one-line message on stderr and exit status 2; unexpected errors keep their traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from mousefear._version import __version__
from mousefear.errors import MousefearError

logger = logging.getLogger("mousefear")

Runner = Callable[[argparse.Namespace], int]
#: sub-command name -> (help text, function that adds its arguments to a parser and returns its runner)
COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], Runner]]] = {}


def command(name: str, help: str):
    """Register a sub-command: decorate the function that adds its arguments; it returns the runner."""

    def deco(add_args: Callable[[argparse.ArgumentParser], Runner]):
        COMMANDS[name] = (help, add_args)
        return add_args

    return deco


def _print_files(what: str, files: Sequence[object]) -> None:
    print(f"wrote {len(files)} {what}")
    for f in files:
        print(f"  {f}")


def _print_registered(project, ids: Sequence[str]) -> None:
    """One line per video registered: id, subject, session, frames, fps."""
    print(f"registered {len(ids)} video(s)")
    for vid in ids:
        v = project.video(vid)
        print(f"  {v.id}: subject {v.subject or '-'}, session {v.session or '-'}, {v.n_frames} frames at "
              f"{v.fps:.6g} fps")


@command("create-project", "create a project folder and register videos")
def _create_project(p: argparse.ArgumentParser):
    p.add_argument("project", help="project name (letters, digits, . _ -)")
    p.add_argument("experimenter", help="experimenter name (letters, digits, . _ -)")
    p.add_argument("videos", nargs="*", help="video files to register")
    p.add_argument("-d", "--working-directory", default=None, help="folder in which the project folder is made")
    p.add_argument("--copy", action="store_true", help="copy videos into the project instead of linking them")
    p.add_argument("--date", default=None, help="date in the folder name, YYYY-MM-DD (default: today)")
    p.add_argument("--subject", default=None, help="subject of every video given (default: from video_pattern)")
    p.add_argument("--session", default=None, help="session of every video given (default: from video_pattern)")

    def run(a: argparse.Namespace) -> int:
        from mousefear.core.project import Project
        from mousefear.pipeline.registry import create_project

        path = create_project(a.project, a.experimenter, a.videos, working_directory=a.working_directory,
                              copy_videos=a.copy, date=a.date, subject=a.subject, session=a.session)
        print(path)
        project = Project.open(path)
        _print_registered(project, [v.id for v in project.videos])
        return 0

    return run


@command("add-videos", "register more videos in a project")
def _add_videos(p: argparse.ArgumentParser):
    p.add_argument("config", help="config.yaml of the project (or the project folder)")
    p.add_argument("videos", nargs="+", help="video files")
    p.add_argument("--copy", action="store_true", help="copy videos into the project instead of linking them")
    p.add_argument("--subject", default=None, help="subject of every video given (default: from video_pattern)")
    p.add_argument("--session", default=None, help="session of every video given (default: from video_pattern)")
    p.add_argument("--fps", type=float, default=None,
                   help="frame rate of every video given, instead of the one the file states (needed when a file "
                        "states none or an implausible one)")
    p.add_argument("--replace", action="store_true",
                   help="register a file again under an id that is registered already (the file changed)")

    def run(a: argparse.Namespace) -> int:
        from mousefear.core.project import Project
        from mousefear.pipeline.registry import add_videos

        ids = add_videos(a.config, a.videos, copy=a.copy, subject=a.subject, session=a.session, fps=a.fps,
                         replace=a.replace)
        _print_registered(Project.open(a.config), ids)
        return 0

    return run


@command("rename-video", "rename a video id and everything that carries it (labels, exemplars, vectors, caches)")
def _rename_video(p: argparse.ArgumentParser):
    p.add_argument("config", help="config.yaml of the project (or the project folder)")
    p.add_argument("old", help="the registered video (id or file name)")
    p.add_argument("new", help="its new id (letters, digits, . _ -)")

    def run(a: argparse.Namespace) -> int:
        from mousefear.pipeline.rename import rename_video

        done = rename_video(a.config, a.old, a.new)
        print(f"renamed video {a.old} to {a.new} ({len(done)} file(s) and folder(s))")
        return 0

    return run


@command("check", "re-probe every registered video: is each file still the one registered?")
def _check(p: argparse.ArgumentParser):
    p.add_argument("config", help="config.yaml of the project (or the project folder)")
    p.add_argument("--videos", nargs="+", default=None, help="only these videos (ids or paths; default: all)")

    def run(a: argparse.Namespace) -> int:
        from mousefear.pipeline.registry import check_videos

        table = check_videos(a.config, videos=a.videos)
        print(table.to_string(index=False) if len(table) else "no videos registered")
        print(f"{len(table)} video(s): every file is the one registered")
        return 0

    return run


@command("info", "show the project's video registry")
def _info(p: argparse.ArgumentParser):
    p.add_argument("config", help="config.yaml of the project (or the project folder)")

    def run(a: argparse.Namespace) -> int:
        from mousefear.core.project import Project
        from mousefear.pipeline.registry import video_table

        project = Project.open(a.config)
        table = video_table(project)
        info = project.settings.project
        print(f"project {info.name} ({info.experimenter}, {info.date}) at {project.root}")
        print(f"behaviours: {', '.join(project.behaviors)}")
        if table.empty:
            print("no videos registered")
        else:
            print(table.to_string(index=False))
            print(f"{len(table)} video(s), {table['duration_s'].sum():.1f} s in all")
        return 0

    return run


@command("import-labels", "import human labels (per-frame, per-second, bouts, BORIS exports) into labels/")
def _import_labels(p: argparse.ArgumentParser):
    p.add_argument("config", help="config.yaml of the project (or the project folder)")
    p.add_argument("file", help="label file: CSV/TSV table or BORIS tabular/aggregated events export")
    p.add_argument("--video", default=None, help="video the labels belong to (id or file name)")
    p.add_argument("--format", default=None,
                   choices=["frames", "seconds", "bouts", "boris-tabular", "boris-aggregated"],
                   help="format of the file (default: detected from its content)")
    p.add_argument("--map", action="append", default=[], metavar="NAME=BEHAVIOR",
                   help="map an external behaviour name to a project behaviour (NAME= ignores it); repeatable")
    p.add_argument("--subject", default=None, help="BORIS subject to import when the export holds several")
    p.add_argument("--unit", default=None, choices=["s", "frames"], help="unit of plain start/stop columns")
    p.add_argument("--fill", default=None, help="behaviour for frames no bout covers (default: unlabelled)")
    p.add_argument("--no-overwrite", action="store_true", help="refuse to replace existing label files")

    def run(a: argparse.Namespace) -> int:
        from mousefear.errors import LabelError
        from mousefear.pipeline.labels import import_labels

        mapping = {}
        for item in a.map:
            if "=" not in item:
                raise LabelError(f"--map: Expected NAME=BEHAVIOR, but got {item!r}")
            name, behavior = item.split("=", 1)
            mapping[name.strip()] = behavior.strip()
        ids = import_labels(a.config, a.file, video=a.video, format=a.format, mapping=mapping,
                            overwrite=not a.no_overwrite, subject=a.subject, unit=a.unit, fill=a.fill)
        print(f"labels written for {len(ids)} video(s): {', '.join(ids)}")
        return 0

    return run


@command("summarize", "fear-conditioning summary per subject x session x epoch (epochs.csv + plot)")
def _summarize(p: argparse.ArgumentParser):
    p.add_argument("config", help="config.yaml of the project (or the project folder)")
    p.add_argument("--run", default=None, help="run under behavior-vectors/ (default: classification.run, else the "
                   "only or the newest run)")

    def run(a: argparse.Namespace) -> int:
        from mousefear.core.project import Project
        from mousefear.pipeline.summary import summarize

        project = Project.open(a.config)
        table = summarize(project, run=a.run)
        folder = project.paths.vectors(project.select_run(a.run))
        print(f"{len(table)} epoch row(s) written to {folder / 'epochs.csv'} and {folder / 'freezing_timecourse.png'}")
        return 0

    return run


@command("evaluate", "compare a run's behaviour vectors with the human labels and write its report")
def _evaluate(p: argparse.ArgumentParser):
    p.add_argument("config", help="config.yaml of the project (or the project folder)")
    p.add_argument("--run", default=None, help="run to evaluate (default: classification.run, else the only or "
                   "the newest run)")
    p.add_argument("--videos", nargs="+", default=None, help="video ids to evaluate (default: all of the run)")
    p.add_argument("--by", nargs="+", default=None, choices=("subject", "session"),
                   help="also break the scores down by subject and/or session (default: evaluation.by)")

    def run(a: argparse.Namespace) -> int:
        from mousefear.pipeline.evaluate import evaluate

        result = evaluate(a.config, run=a.run, videos=a.videos, by=a.by)
        print(result.summary())
        print(f"report: {result.report_path}")
        return 0

    return run


@command("export-labels", "export human labels or a run's predictions for BORIS or as bouts/frames")
def _export_labels(p: argparse.ArgumentParser):
    p.add_argument("config", help="config.yaml of the project (or the project folder)")
    p.add_argument("video", help="registered video (id or file name)")
    p.add_argument("--run", default=None, help="export this run's predictions (default: the human labels)")
    p.add_argument("--format", default="boris", choices=["boris", "bouts", "frames"], help="table to write")
    p.add_argument("--out", default=None, help="output file (default: labels/exports/...)")

    def run(a: argparse.Namespace) -> int:
        from mousefear.pipeline.labels import export_labels

        print(export_labels(a.config, a.video, run=a.run, format=a.format, out=a.out))
        return 0

    return run


@command("compare-runs", "put the evaluated runs of a project side by side")
def _compare_runs(p: argparse.ArgumentParser):
    p.add_argument("config", help="config.yaml of the project (or the project folder)")
    p.add_argument("--runs", nargs="+", default=None, help="runs to compare (default: every evaluated run)")

    def run(a: argparse.Namespace) -> int:
        from mousefear.core.project import Project
        from mousefear.pipeline.compare import compare_runs

        project = Project.open(a.config)
        table = compare_runs(project, runs=a.runs)
        cols = [c for c in table.columns if c.startswith("f1_")] + ["macro_f1", "mcc", "kappa", "in_sample"]
        print(table[cols].to_string(float_format=lambda v: f"{v:.3f}", na_rep="n/a"))
        print(f"table: {project.paths.evaluation() / 'comparison.csv'}")
        return 0

    return run


@command("window-table", "(re)write a run's per-window tables: <video_id>_seconds.csv and windows.csv")
def _window_table(p: argparse.ArgumentParser):
    p.add_argument("config", help="config.yaml of the project (or the project folder)")
    p.add_argument("--run", default=None, help="run (default: classification.run, else the only or the newest run)")

    def run(a: argparse.Namespace) -> int:
        from mousefear.core.project import Project
        from mousefear.pipeline.tables import window_table

        project = Project.open(a.config)
        table = window_table(project, run=a.run)
        run_name = project.select_run(a.run)
        print(f"{len(table)} window(s) of {table['video_id'].nunique()} video(s): "
              f"{project.paths.window_table(run_name)} (and <video_id>_seconds.csv beside it)")
        return 0

    return run


@command("export-nwb", "write one NWB file per video of a run (behaviour bouts, probabilities, human labels)")
def _export_nwb(p: argparse.ArgumentParser):
    p.add_argument("config", help="config.yaml of the project (or the project folder)")
    p.add_argument("--run", default=None, help="run (default: classification.run, else the only or the newest run)")
    p.add_argument("--video", action="append", default=None, help="only this video (id or path); repeatable")

    def run(a: argparse.Namespace) -> int:
        from mousefear.pipeline.nwb import export_nwb

        _print_files("NWB file(s)", export_nwb(a.config, run=a.run, videos=a.video))
        return 0

    return run


@command("create-labeled-video", "write each video of a run with the decided behaviour drawn on (H.264 MP4)")
def _create_labeled_video(p: argparse.ArgumentParser):
    p.add_argument("config", help="config.yaml of the project (or the project folder)")
    p.add_argument("--run", default=None, help="run (default: classification.run, else the only or the newest run)")
    p.add_argument("--video", action="append", default=None, help="only this video (id or path); repeatable")
    p.add_argument("--human", action="store_true", help="also draw the human labels where there are any")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")

    def run(a: argparse.Namespace) -> int:
        from mousefear.pipeline.labeled_video import create_labeled_video

        _print_files("labelled video(s)", create_labeled_video(a.config, run=a.run, videos=a.video, human=a.human,
                                                               progress=not a.no_progress))
        return 0

    return run


@command("extract-exemplars", "pick candidate example windows for a person to label")
def _extract_exemplars(p: argparse.ArgumentParser):
    p.add_argument("config", help="config.yaml of the project (or the project folder)")
    p.add_argument("--videos", nargs="+", default=None, help="video ids to use (default: every registered video)")
    p.add_argument("--n-per-video", type=int, default=None, help="candidates per video (default: from config.yaml)")
    p.add_argument("--method", choices=("kmeans", "uniform", "motion"), default=None,
                   help="how candidates are picked (default: exemplars.method of config.yaml)")

    def run(a: argparse.Namespace) -> int:
        from mousefear.core.project import Project
        from mousefear.pipeline.exemplars import extract_exemplars, read_exemplar_index

        project = Project.open(a.config)
        added = extract_exemplars(project, videos=a.videos, n_per_video=a.n_per_video, method=a.method)
        total = len(read_exemplar_index(project))
        folder = project.paths.exemplars
        print(f"added {len(added)} candidate(s) ({total} in all) to {folder / 'index.csv'}")
        print("label them in the label column of index.csv (look at <id>/sheet.png), then run label-exemplars")
        return 0

    return run


@command("label-exemplars", "label candidates from labels/ and count labelled exemplars per behaviour")
def _label_exemplars(p: argparse.ArgumentParser):
    p.add_argument("config", help="config.yaml of the project (or the project folder)")

    def run(a: argparse.Namespace) -> int:
        from mousefear.pipeline.exemplars import label_exemplars

        table = label_exemplars(a.config)
        print(table.to_string(index=False))
        missing = table.attrs.get("missing", [])
        print(f"no labelled exemplar: {', '.join(missing)}" if missing else "every behaviour has a labelled exemplar")
        return 0

    return run


@command("classify", "classify every window of the videos and write behaviour vectors")
def _classify(p: argparse.ArgumentParser):
    p.add_argument("config", help="config.yaml of the project (or the project folder)")
    p.add_argument("--videos", nargs="+", default=None, help="only these videos (ids or paths; default: all)")
    p.add_argument("--run", default=None, help="run name (default: classification.run, else derived from settings)")
    p.add_argument("--overwrite", action="store_true",
                   help="classify finished videos again; replace a run of that name made with other settings")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--verify", action="store_true",
                   help="hash every video before classifying it (default: only those whose size or time changed)")

    def run(a: argparse.Namespace) -> int:
        from mousefear.core.project import Project
        from mousefear.pipeline.classify import classify_videos

        project = Project.open(a.config)
        name = classify_videos(project, videos=a.videos, run=a.run, overwrite=a.overwrite,
                               progress=not a.no_progress, verify=a.verify)
        print(f"run {name}: {project.paths.vectors(name)}")
        return 0

    return run


@command("check-model", "load the configured model, classify a few windows, and tell what the whole project will "
                        "take on this machine")
def _check_model(p: argparse.ArgumentParser):
    p.add_argument("config", help="config.yaml of the project (or the project folder)")
    p.add_argument("--windows", type=int, default=2, help="windows of the first registered video to classify "
                   "(default: 2; the first includes the warm-up)")

    def run(a: argparse.Namespace) -> int:
        from mousefear.pipeline.check import check_model

        print(check_model(a.config, windows=a.windows).report())
        return 0

    return run


def _print_calibration(res: Any, section: str) -> int:
    """Print a calibration's outcome: its message, each value chosen (and whether it was written), its files."""
    print(res.message)
    for key, value in res.values.items():
        what = "" if res.written else " (fitted, not written to config.yaml)"
        print(f"{section}.{key}: {res.previous[key]:g} -> {value:g}{what}")
    for f in res.files:
        print(f"wrote {f}")
    return 0


@command("calibrate-motion", "calibrate the motion baseline from an empty chamber or from scored seconds")
def _calibrate_motion(p: argparse.ArgumentParser):
    p.add_argument("config", help="config.yaml of the project (or the project folder)")
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--empty-video", default=None, help="recording of the empty chamber: sets pixel_cutoff")
    how.add_argument("--from-labels", action="store_true",
                     help="choose the thresholds of classification.motion.method from the scored seconds and "
                     "report their cross-validated F1")
    p.add_argument("--run", default=None, help="run name for evaluation/<run>/calibration/ (default: "
                   "the run classify-videos makes with the motion backend and the calibrated values)")

    def run(a: argparse.Namespace) -> int:
        from mousefear.pipeline.calibration import calibrate_motion

        res = calibrate_motion(a.config, empty_video=a.empty_video, run=a.run, from_labels=a.from_labels)
        return _print_calibration(res, "classification.motion")

    return run


@command("calibrate-hybrid", "choose the hybrid backend's margins from scored seconds (cross-validated agreement)")
def _calibrate_hybrid(p: argparse.ArgumentParser):
    p.add_argument("config", help="config.yaml of the project (or the project folder)")
    p.add_argument("--target", type=float, default=0.95, help="share of the windows the detector decides that "
                   "must agree with the scorer, on each side (default 0.95)")
    p.add_argument("--no-save", action="store_true", help="only report (and write the calibration files); leave "
                   "config.yaml as it is")

    def run(a: argparse.Namespace) -> int:
        from mousefear.pipeline.hybrid_calibration import calibrate_hybrid

        res = calibrate_hybrid(a.config, target=a.target, save=not a.no_save)
        return _print_calibration(res, "classification.hybrid")

    return run


@command("suggest", "list the unscored seconds whose scoring would change the motion calibration most")
def _suggest(p: argparse.ArgumentParser):
    p.add_argument("config", help="config.yaml of the project (or the project folder)")
    p.add_argument("--n", type=int, default=20, help="how many seconds to list (default 20)")
    p.add_argument("--no-measure", action="store_true",
                   help="leave out videos whose measurements no run stored (instead of decoding them)")

    def run(a: argparse.Namespace) -> int:
        from mousefear.pipeline.suggest import suggest_seconds

        table = suggest_seconds(a.config, n=a.n, measure=not a.no_measure)
        info = table.attrs
        print(f"{info['scored_seconds']} second(s) scored; {info['committee']} of {info['grid']} threshold "
              "settings fit them")
        if table.empty:
            print("no unscored second with a detected animal")
            return 0
        cols = ["rank", "video_id", "second", "start_s", "disagreement", "predicted", "reason"]
        print(table[cols].to_string(index=False, float_format=lambda v: f"{v:.3g}"))
        return 0

    return run


@command("rethreshold", "re-decide a motion run from its stored measurements into a new run (no decoding)")
def _rethreshold(p: argparse.ArgumentParser):
    p.add_argument("config", help="config.yaml of the project (or the project folder)")
    p.add_argument("--run", default=None, help="motion run to re-decide (default: classification.run, else the only "
                   "or the newest run)")
    p.add_argument("--name", default=None, help="name of the new run (default: the name classify gives these "
                   "settings)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="changes",
                   help="a decision setting of classification.motion to use instead of config.yaml's (e.g. "
                   "body_change_threshold=0.05); repeatable")
    p.add_argument("--videos", nargs="+", default=None, help="only these videos of the run (default: all)")
    p.add_argument("--overwrite", action="store_true", help="replace a run of that name made with other settings")

    def run(a: argparse.Namespace) -> int:
        from ruamel.yaml import YAML

        from mousefear.core.project import Project
        from mousefear.errors import ConfigError
        from mousefear.pipeline.rethreshold import rethreshold

        changes = {}
        for item in a.changes:
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise ConfigError(f"--set: Expected KEY=VALUE, but got {item!r}")
            changes[key.strip()] = YAML(typ="safe").load(value) if value.strip() else None
        project = Project.open(a.config)
        name = rethreshold(project, a.run, name=a.name, changes=changes, videos=a.videos, overwrite=a.overwrite)
        print(f"run {name}: {project.paths.vectors(name)}")
        return 0

    return run


def _pairs(items: Sequence[str], option: str, what: str) -> dict[str, float]:
    """``["freezing=2", ...]`` -> ``{"freezing": 2.0}`` (ConfigError naming the option for a bad item)."""
    from mousefear.errors import ConfigError

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        try:
            out[key.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not key.strip():
            raise ConfigError(f"{option}: Expected {what}=SECONDS, but got {item!r}")
    return out


@command("smooth", "smooth a run's decisions over time into a new run (Viterbi, minimum bout lengths; no model)")
def _smooth(p: argparse.ArgumentParser):
    p.add_argument("config", help="config.yaml of the project (or the project folder)")
    p.add_argument("--run", default=None, help="run to smooth (default: classification.run, else the only or the "
                   "newest run)")
    p.add_argument("--name", default=None, help="name of the smoothed run (default: <run>_smooth_<hash>)")
    p.add_argument("--stay-probability", type=float, default=None,
                   help="probability that the next window keeps the behaviour (default: postprocess.stay_probability)")
    p.add_argument("--min-bout", action="append", default=None, metavar="BEHAVIOUR=SECONDS",
                   help="shortest bout of a behaviour, repeatable (default: postprocess.min_bout_seconds)")
    p.add_argument("--videos", nargs="+", default=None, help="only these videos of the run (default: all)")
    p.add_argument("--overwrite", action="store_true", help="replace a run of that name made with other settings")

    def run(a: argparse.Namespace) -> int:
        from mousefear.core.project import Project
        from mousefear.pipeline.smoothing import smooth

        bouts = None if a.min_bout is None else _pairs(a.min_bout, "--min-bout", "BEHAVIOUR")
        project = Project.open(a.config)
        name = smooth(project, a.run, name=a.name, stay_probability=a.stay_probability, min_bout_seconds=bouts,
                      videos=a.videos, overwrite=a.overwrite)
        print(f"run {name}: {project.paths.vectors(name)}")
        return 0

    return run


@command("calibrate-probabilities", "fit a temperature on a run's labelled windows into a calibrated run, with the "
                                   "expected calibration error before and after (cross-validated)")
def _calibrate_probabilities(p: argparse.ArgumentParser):
    p.add_argument("config", help="config.yaml of the project (or the project folder)")
    p.add_argument("--run", default=None, help="run to calibrate (default: classification.run, else the only or the "
                   "newest run)")
    p.add_argument("--name", default=None, help="name of the calibrated run (default: <run>_calibrate_<hash>)")
    p.add_argument("--per-behavior", action="store_true", help="one temperature per behaviour (changes decisions)")
    p.add_argument("--videos", nargs="+", default=None, help="only write these videos (default: all; the fit uses "
                   "every labelled video)")
    p.add_argument("--overwrite", action="store_true", help="replace a run of that name made with other settings")

    def run(a: argparse.Namespace) -> int:
        from mousefear.pipeline.temperature import calibrate_probabilities

        res = calibrate_probabilities(a.config, a.run, name=a.name, per_behavior=a.per_behavior, videos=a.videos,
                                      overwrite=a.overwrite)
        print(res.message)
        for f in res.files:
            print(f"wrote {f}")
        return 0

    return run


@command("ablate", "classify a grid of runs on the labelled videos, evaluate and compare them (the ablation table)")
def _ablate(p: argparse.ArgumentParser):
    p.add_argument("config", help="config.yaml of the project (or the project folder)")
    p.add_argument("--grid", default=None, help="YAML grid of runs (default: no ICL / ICL / temporal / "
                   "autoregressive, each without and with preprocessing; docs/postprocessing.md)")
    p.add_argument("--videos", nargs="+", default=None, help="only these labelled videos (default: all of them)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")

    def run(a: argparse.Namespace) -> int:
        from mousefear.core.project import Project
        from mousefear.pipeline.ablate import ablate

        project = Project.open(a.config)
        table = ablate(project, a.grid, videos=a.videos, progress=not a.no_progress)
        cols = ["grid_run", *[c for c in table.columns if c.startswith("f1_")], "macro_f1", "window_macro_f1"]
        print(table[cols].to_string(float_format=lambda v: f"{v:.3f}"))
        print(f"wrote {project.paths.evaluation() / 'ablation.csv'} and {project.paths.evaluation() / 'ablation.png'}")
        return 0

    return run


def _add_server_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (default: a free one)")
    p.add_argument("--open", action="store_true", help="open the page in the default web browser")


@command("label", "label candidate exemplars in a browser page (local server, until Ctrl-C)")
def _label(p: argparse.ArgumentParser):
    p.add_argument("config", help="config.yaml of the project (or the project folder)")
    _add_server_args(p)

    def run(a: argparse.Namespace) -> int:
        from mousefear.gui import make_labelling_server

        server = make_labelling_server(a.config, port=a.port)
        print(f"Labelling page: {server.url}  (press Ctrl-C to stop)", flush=True)
        server.run_until_interrupted(open_browser=a.open)
        return 0

    return run


@command("review", "review and correct a run's predictions in a browser page (local server, until Ctrl-C)")
def _review(p: argparse.ArgumentParser):
    p.add_argument("config", help="config.yaml of the project (or the project folder)")
    p.add_argument("--run", default=None, help="run to review (default: classification.run, else the only or the "
                   "newest run)")
    p.add_argument("--video", default=None, help="video id to open first (default: the run's first video)")
    _add_server_args(p)

    def run(a: argparse.Namespace) -> int:
        from mousefear.gui import make_review_server

        server = make_review_server(a.config, run=a.run, video=a.video, port=a.port)
        print(f"Review page: {server.url}  (press Ctrl-C to stop)", flush=True)
        server.run_until_interrupted(open_browser=a.open)
        return 0

    return run

#: The sub-commands in the order of the workflow (``mousefear --help`` lists them so).
WORKFLOW_ORDER = ("create-project", "add-videos", "rename-video", "info", "check", "extract-exemplars", "label",
                  "import-labels", "label-exemplars", "check-model", "classify", "window-table", "review", "evaluate",
                  "compare-runs", "smooth", "calibrate-probabilities", "ablate", "summarize", "create-labeled-video",
                  "calibrate-motion", "calibrate-hybrid", "suggest", "rethreshold",
                  "export-labels", "export-nwb")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command, in the order of the workflow."""
    parser = argparse.ArgumentParser(
        prog="mousefear",
        description="Behaviour vectors from fear-conditioning videos of mice with Qwen2.5-VL or Qwen3-VL.",
    )
    parser.add_argument("--version", action="version", version=f"mousefear {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debugging details")
    parser.add_argument("-q", "--quiet", action="store_true", help="log only warnings and errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    order = [n for n in WORKFLOW_ORDER if n in COMMANDS] + [n for n in COMMANDS if n not in WORKFLOW_ORDER]
    for name in order:
        help_text, add_args = COMMANDS[name]
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_run=add_args(p))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mousefear`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args._run(args) or 0)
    except MousefearError as exc:
        print(f"mousefear {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (mousefear info | head): stop quietly, as cat and git do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # no second error when Python flushes stdout at exit
        return 128 + 13  # killed by SIGPIPE
    except OSError as exc:  # a file that cannot be read or written: the environment, not a bug
        from mousefear._io import os_error_message

        print(f"mousefear {args.command}: error: {os_error_message(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"mousefear {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
