"""Sub-commands that calibrate, re-decide or smooth runs without running the model again, and the ablation grid."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from mousefear.cli.registry import command
from mousefear.errors import ConfigError


def _print_calibration(res: Any, section: str) -> int:
    """Print a calibration's outcome: its message, each value chosen (and whether it was written), its files."""
    print(res.message)
    for key, value in res.values.items():
        what = "" if res.written else " (fitted, not written to config.yaml)"
        if value == res.previous[key]:
            print(f"{section}.{key}: {value:g} (unchanged)")
        else:
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
