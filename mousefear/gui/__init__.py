"""Browser pages to label exemplar windows and to review (and correct) a run's predictions.

Both pages are served by a small local web server (standard library only, every asset from this package, no
network) bound to 127.0.0.1; see :mod:`mousefear.gui.server` for the security rules it keeps::

    import mousefear
    mousefear.label_exemplars_gui("fearcond-alice-2026-11-23/config.yaml")        # until Ctrl-C
    mousefear.review_predictions_gui("fearcond-alice-2026-11-23/config.yaml", run="motion-default")

For scripts and tests, :func:`start_labelling` and :func:`start_review` serve in a background thread and
return the server at once (``server.url``, ``server.stop()``).
"""

from __future__ import annotations

import logging
import threading

from mousefear.core.project import ConfigLike, Project
from mousefear.gui.server import GuiServer

logger = logging.getLogger(__name__)

__all__ = [
    "GuiServer",
    "label_exemplars_gui",
    "make_labelling_server",
    "make_review_server",
    "review_predictions_gui",
    "start_labelling",
    "start_review",
]


def _apps(config: ConfigLike, page: str, run: str | None = None, video: str | None = None) -> list:
    """The page families of a project: the one asked for always, the other when the project has what it needs."""
    from mousefear.errors import ProjectError
    from mousefear.gui.labelling import LabellingApp
    from mousefear.gui.review import ReviewApp

    project = Project.open(config)
    lock = threading.Lock()
    apps = []
    if page == "label":
        apps.append(LabellingApp(project, lock=lock))
        try:
            apps.append(ReviewApp(project, lock=lock))
        except ProjectError:
            pass  # nothing to review yet
    else:
        apps.append(ReviewApp(project, run=run, video=video, lock=lock))
        try:
            apps.append(LabellingApp(project, lock=lock))
        except ProjectError:
            pass  # no exemplars yet
    return apps


def make_labelling_server(config: ConfigLike, port: int = 0) -> GuiServer:
    """A server (not yet serving) whose start page is the labelling page of ``config``'s project.

    Parameters
    ----------
    config
        config.yaml of the project (or its folder), or an opened :class:`~mousefear.core.project.Project`.
    port
        TCP port on 127.0.0.1; 0 picks a free one.

    Raises
    ------
    mousefear.errors.ProjectError
        The project has no candidate exemplars (run ``extract_exemplars`` first).
    """
    return GuiServer(_apps(config, "label"), "/label", port)


def make_review_server(config: ConfigLike, run: str | None = None, video: str | None = None,
                       port: int = 0) -> GuiServer:
    """A server (not yet serving) whose start page is the review page of ``config``'s project.

    Parameters
    ----------
    config
        config.yaml of the project (or its folder), or an opened :class:`~mousefear.core.project.Project`.
    run
        Run to open (a folder of ``behavior-vectors/``); default: the run every command would choose
        (:meth:`~mousefear.core.project.Project.select_run`: ``classification.run``, else the only or the newest
        run).
    video
        Video id to open; default: the run's first video.
    port
        TCP port on 127.0.0.1; 0 picks a free one.

    Raises
    ------
    mousefear.errors.ProjectError
        The project has no behaviour vectors, ``run`` is not one of its runs, or ``video`` has none in the run.
    mousefear.errors.VectorFileError
        The folder of ``run`` holds no behaviour-vector file of a registered video.
    """
    server = GuiServer(_apps(config, "review", run, video), "/review", port)
    review = server.apps[0]
    server.start_page = f"/review?run={review.run}&video={review.video}"
    return server


def start_labelling(config: ConfigLike, port: int = 0) -> GuiServer:
    """Serve the labelling page in a background thread; returns the server (``.url``, ``.stop()``)."""
    return make_labelling_server(config, port).start()


def start_review(config: ConfigLike, run: str | None = None, video: str | None = None,
                 port: int = 0) -> GuiServer:
    """Serve the review page in a background thread; returns the server (``.url``, ``.stop()``)."""
    return make_review_server(config, run, video, port).start()


def label_exemplars_gui(config: ConfigLike, port: int | None = None, open_browser: bool = False) -> None:
    """Open a browser page where a person labels the candidate exemplars, one after the other, until Ctrl-C.

    This is the interactive one of three similarly named functions: :func:`mousefear.label_exemplars` copies
    labels from the label files (``labels/``) into ``exemplars/index.csv`` and counts them per behaviour, without
    a page; :func:`mousefear.labelled_exemplars` only reads the index with every candidate's effective label.

    The page plays each candidate window (``exemplars/<id>/frame_*.png``) in a loop next to its contact sheet;
    keys ``1``..``9`` answer with the behaviours in config order, ``s`` skips, ``u`` marks it unsure. Every
    answer is written at once into ``exemplars/index.csv`` (label_source ``person``) and
    ``exemplars/labelling_state.csv``; the next start opens at the first candidate without an answer.

    Parameters
    ----------
    config
        config.yaml of the project (or its folder), or an opened :class:`~mousefear.core.project.Project`.
    port
        TCP port on 127.0.0.1 (default: a free one); the address is logged.
    open_browser
        Open the page in the default browser.

    Raises
    ------
    mousefear.errors.ProjectError
        The project has no candidate exemplars (run ``extract_exemplars`` first).
    """
    make_labelling_server(config, port or 0).run_until_interrupted(open_browser=open_browser)


def review_predictions_gui(config: ConfigLike, run: str | None = None, video: str | None = None,
                           port: int | None = None, open_browser: bool = False) -> None:
    """Review a run's predictions in a browser page and correct them, until Ctrl-C.

    The page draws the ethogram of each video (predicted behaviour per window, probabilities beneath, human
    labels where present); clicking a moment plays that window's frames and lets the person set its label.
    A correction sets the window's frames in ``labels/<video_id>.csv`` and is recorded in
    ``labels/<video_id>.corrections.csv``.

    Parameters
    ----------
    config
        config.yaml of the project (or its folder), or an opened :class:`~mousefear.core.project.Project`.
    run
        Run to open (default: ``classification.run``, else the only or the newest run).
    video
        Video id to open (default: the run's first video).
    port
        TCP port on 127.0.0.1 (default: a free one); the address is logged.
    open_browser
        Open the page in the default browser.

    Raises
    ------
    mousefear.errors.ProjectError
        The project has no behaviour vectors, ``run`` is not one of its runs, or ``video`` has none in the run.
    mousefear.errors.VectorFileError
        The folder of ``run`` holds no behaviour-vector file of a registered video.
    """
    make_review_server(config, run, video, port or 0).run_until_interrupted(open_browser=open_browser)
