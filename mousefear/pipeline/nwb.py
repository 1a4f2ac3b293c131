"""NWB export of a run: :func:`export_nwb` writes ``behavior-vectors/<run>/nwb/<video_id>.nwb`` per video.

Each file holds the video's behaviour as decided by the run (bouts and per-window probabilities), the human labels
where there are any, the subject and session from the registry and the ``nwb`` section of config.yaml, and the
run's provenance (run.json); the layout is in :mod:`mousefear.formats.nwb`. The files of a run sit in one folder,
ready for ``dandi organize`` (docs/nwb-and-dandi.md). pynwb and ndx-ethogram come with ``pip install
mousefear[nwb]`` and are imported only here.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import os
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from mousefear._io import json_safe
from mousefear._version import __version__
from mousefear.core.project import ConfigLike, Project
from mousefear.core.video import Video
from mousefear.errors import ProjectError
from mousefear.formats.labels import read_label_file
from mousefear.formats.nwb import NWBSession, write_nwb
from mousefear.formats.vectors import read_vector, read_vector_windows
from mousefear.pipeline.tables import decided_by, run_videos

__all__ = ["export_nwb"]

logger = logging.getLogger(__name__)


def _require_nwb() -> None:
    try:
        import ndx_ethogram  # noqa: F401
        import pynwb  # noqa: F401
    except ImportError as exc:
        raise ProjectError(f"NWB export needs pynwb and ndx-ethogram ({exc}); install them with "
                           "pip install 'mousefear[nwb]'") from None


def _run_record(project: Project, run: str, attrs: dict[str, Any]) -> dict[str, Any]:
    path = project.paths.vectors(run) / "run.json"
    if path.is_file():
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ProjectError(f"{path}: Expected the run's settings (JSON), but it cannot be read ({exc})") from None
    return {k: v for k, v in attrs.items() if k not in ("behaviors",)}


def _start_time(project: Project, video: Video) -> tuple[_dt.datetime, str]:
    """The session start time of a video, and a note when it is a stand-in."""
    given = project.settings.nwb.start_time(video.id)
    if given is not None:
        return given, ""
    when = _dt.datetime.fromtimestamp(os.stat(video.path).st_mtime).astimezone().replace(microsecond=0)
    logger.warning("%s: no nwb.session_start_times entry in %s; using the modification time of %s (%s) as the "
                   "session start time", video.id, project.config_path, video.path, when.isoformat())
    return when, (f"session_start_time is the modification time of the video file {video.path.name}, not the "
                  "recorded start of the session (no nwb.session_start_times entry in config.yaml)")


def _session(project: Project, run: str, video: Video, path: Path, folder: Path) -> NWBSession:
    vec = read_vector(path)
    win = read_vector_windows(path)
    a = vec.attrs
    behaviors = list(a["behaviors"])
    definitions = {b.name: b.definition for b in project.settings.behaviors}
    label_file = project.paths.label_file(video.id)
    human = read_label_file(label_file, behaviors, n_frames=video.n_frames) if label_file.is_file() else None
    record = _run_record(project, run, dict(a))
    start, note = _start_time(project, video)
    labels_sha = hashlib.sha256(label_file.read_bytes()).hexdigest() if human is not None else ""
    identifier = str(uuid.uuid5(uuid.NAMESPACE_URL, f"mousefear:{run}:{a.get('run_settings_sha256', '')}:"
                                                    f"{video.sha256}:{labels_sha}:{start.isoformat()}"))
    nwb = project.settings.nwb
    model = str(a.get("model_id") or "")
    source = f"mousefear {__version__} ({a['backend']} backend" + (f", model {model}" if model else "") + ")"
    index = {b: i for i, b in enumerate(behaviors)}
    frame_label = np.asarray([index.get(x, -1) for x in vec["label"]], dtype=np.int64)
    window_s = float(a.get("window_seconds", 1.0))
    decider = decided_by(win)
    notes = [f"behaviour classified by mousefear run {run} ({source}); the run's settings are in the "
             "parameters of processing/behavior/predicted_bouts"]
    if note:
        notes.append(note)
    return NWBSession(
        identifier=identifier,
        session_description=(f"Video {video.id} of subject {video.subject or video.id}, session "
                             f"{video.session or '-'}, with the behaviour in each {window_s:g}-second window as "
                             f"classified by mousefear (run {run})" + (" and as scored by a human"
                                                                       if human is not None else "")),
        session_id=video.session or video.id,
        session_start_time=start,
        behaviors=behaviors,
        definitions=[definitions.get(b, b) for b in behaviors],
        fps=float(video.fps),
        n_frames=video.n_frames,
        video_path=Path(os.path.relpath(video.path, folder)).as_posix(),
        frame_label=frame_label,
        window_start=win["start_frame"].to_numpy(dtype=np.int64),
        window_end=win["end_frame"].to_numpy(dtype=np.int64),
        window_probability=win[behaviors].to_numpy(dtype=np.float32),
        window_label=[str(x) for x in win["label"]],
        decided_by=[decider] * len(win) if isinstance(decider, str) else decider,
        human_label=human,
        subject={k: v for k, v in nwb.subject(video.subject or video.id).items() if v is not None},
        file_info={"experimenter": list(nwb.experimenter or [project.settings.project.experimenter]), "lab": nwb.lab,
                   "institution": nwb.institution, "experiment_description": nwb.experiment_description,
                   "keywords": list(nwb.keywords), "notes": "; ".join(notes)},
        source_software=source,
        parameters=json_safe(record),
        annotator=project.settings.project.experimenter,
    )


def export_nwb(config: ConfigLike, run: str | None = None, videos: Iterable[str] | str | None = None,
               progress: bool = True) -> list[Path]:
    """Write one NWB file per video of a run: ``behavior-vectors/<run>/nwb/<video_id>.nwb``.

    Each file holds the run's bouts (ndx-ethogram ``EthogramBouts``, with the behaviour catalogue ``Ethogram``),
    the per-window probabilities as a ``TimeSeries``, the windows as ``TimeIntervals``, the human labels as a
    second bout table where ``labels/<video_id>.csv`` exists, a link to the video, the subject and session from
    the registry with the ``nwb`` section of config.yaml (species, sex, age, ...), and the run's settings. Files
    are replaced on every call.

    Parameters
    ----------
    config : path-like or Project
        config.yaml of the project (or its folder), or an opened :class:`~mousefear.core.project.Project`.
    run : str, optional
        Run name; default ``classification.run``, else the only run, else the run written last.
    videos : str or iterable of str, optional
        Only these videos (ids or paths); default every video of the run.
    progress : bool
        Show a progress bar.

    Returns
    -------
    list of pathlib.Path
        The files written, in registry order.

    Raises
    ------
    mousefear.errors.ProjectError
        pynwb or ndx-ethogram is not installed, unknown run or video, or a video without a vector file in the run.
    mousefear.errors.VectorFileError, mousefear.errors.LabelError
        A vector or label file cannot be read.
    """
    project = Project.open(config)
    _require_nwb()
    run = project.select_run(run)
    chosen = run_videos(project, run, videos)
    unknown = sorted(set(dict(project.settings.nwb.session_start_times)) - {v.id for v in project.videos})
    if unknown:
        logger.warning("%s: nwb.session_start_times names videos that are not registered: %s", project.config_path,
                       ", ".join(unknown))
    no_age = sorted({v.subject or v.id for v, _ in chosen} - {sid for sid, _ in project.settings.nwb.subjects
                                                           if project.settings.nwb.subject(sid).get("age")})
    if no_age and project.settings.nwb.age is None:
        logger.warning("%s: no age for subject(s) %s (nwb.age or nwb.subjects); DANDI refuses NWB files without the "
                       "subject's age", project.config_path, ", ".join(no_age))
    out = []
    for video, vector_file in tqdm(chosen, desc=f"export-nwb {run}", unit="video", disable=not progress):
        path = project.paths.nwb_file(run, video.id)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_nwb(path, _session(project, run, video, vector_file, path.parent))
        logger.info("Wrote %s", path)
        out.append(path)
    return out
