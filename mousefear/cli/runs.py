"""Sub-commands of a run: classifying, watching it, checking the model, and what is made from its files."""

from __future__ import annotations

import argparse

from mousefear.cli.registry import command, print_files
from mousefear.errors import ConfigError


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
    p.add_argument("--executor", choices=("inline", "local", "slurm"), default="inline",
                   help="inline: in this process (default); slurm: one SLURM array task per video through submitit, "
                        "with the cluster section of config.yaml; local: the same tasks as processes here")
    p.add_argument("--no-wait", action="store_true",
                   help="with --executor slurm or local: submit the tasks and return at once (run the same command "
                        "again when they have ended, to submit what is missing and write the run's summary)")

    def run(a: argparse.Namespace) -> int:
        from mousefear.core.project import Project
        from mousefear.pipeline.classify import classify_videos

        if a.no_wait and a.executor == "inline":
            raise ConfigError("--no-wait needs --executor slurm or local")
        project = Project.open(a.config)
        name = classify_videos(project, videos=a.videos, run=a.run, overwrite=a.overwrite,
                               progress=not a.no_progress, verify=a.verify, executor=a.executor,
                               wait=not a.no_wait)
        if a.no_wait:
            from mousefear.pipeline.status import run_status

            submitted = run_status(project, run=name)["tasks"]
            last = max((t.get("submitted", "") for t in submitted), default=None)
            tasks = [str(t["task"]) for t in submitted if t.get("submitted") == last]
            print(f"run {name}: submitted {len(tasks)} task(s): {' '.join(tasks) or '(none: every video finished)'}"
                  f"\nfollow them with: mousefear status {a.config} --run {name}")
        else:
            print(f"run {name}: {project.paths.vectors(name)}")
        return 0

    return run


@command("status", "where a run stands: per video, windows done, NaN windows, who works on it, the last error")
def _status(p: argparse.ArgumentParser):
    p.add_argument("config", help="config.yaml of the project (or the project folder)")
    p.add_argument("--run", default=None,
                   help="run name (default: the run classify would work on: classification.run, else derived)")
    p.add_argument("--json", action="store_true", help="print the status as JSON (for scripts)")

    def run(a: argparse.Namespace) -> int:
        import json

        from mousefear.pipeline.status import format_status, run_status

        status = run_status(a.config, run=a.run)
        print(json.dumps(status, indent=2) if a.json else format_status(status))
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


@command("export-nwb", "write one NWB file per video of a run (behaviour bouts, probabilities, human labels)")
def _export_nwb(p: argparse.ArgumentParser):
    p.add_argument("config", help="config.yaml of the project (or the project folder)")
    p.add_argument("--run", default=None, help="run (default: classification.run, else the only or the newest run)")
    p.add_argument("--video", action="append", default=None, help="only this video (id or path); repeatable")

    def run(a: argparse.Namespace) -> int:
        from mousefear.pipeline.nwb import export_nwb

        print_files("NWB file(s)", export_nwb(a.config, run=a.run, videos=a.video))
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

        print_files("labelled video(s)", create_labeled_video(a.config, run=a.run, videos=a.video, human=a.human,
                                                               progress=not a.no_progress))
        return 0

    return run
