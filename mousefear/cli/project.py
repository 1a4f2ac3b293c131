"""Sub-commands of the project folder: creating it, its videos, labels and exemplars, and the two browser pages."""

from __future__ import annotations

import argparse

from mousefear.cli.registry import command, print_registered


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
        print_registered(project, [v.id for v in project.videos])
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
        print_registered(Project.open(a.config), ids)
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
