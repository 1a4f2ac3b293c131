"""Neurodata Without Borders (NWB) files of behaviour: one file per video, written with pynwb and ndx-ethogram.

pynwb and ndx-ethogram are imported inside :func:`write_nwb` (``pip install mousefear[nwb]``), so importing this
module stays light. What goes into a file is decided by the pipeline (:mod:`mousefear.pipeline.nwb`); this module
only writes the plain data it is given. Layout of a file (times in seconds from ``session_start_time``):

- ``subject``: ``Subject`` with subject_id, species, sex, age, strain, genotype, description.
- ``acquisition/behavior_video``: ``ImageSeries`` pointing at the video file (``external_file``, a path relative
  to the NWB file), its frame rate, ``starting_frame`` 0 and frame count.
- ``processing/behavior/ethogram``: ``Ethogram`` (ndx-ethogram), one row per behaviour with ``behavior`` and
  ``definition`` (the definitions shown to the model); ``exclusive`` true.
- ``processing/behavior/predicted_bouts``: ``EthogramBouts``, one row per predicted bout (``start_time``,
  ``stop_time``, ``label``); ``labeling_method`` ``automated``, ``source_software`` (mousefear and the backend),
  ``parameters`` (the run's settings as JSON).
- ``processing/behavior/behavior_probabilities``: ``BehavioralTimeSeries`` with one ``TimeSeries`` (n_windows,)
  per behaviour, named after it (``/`` becomes ``_``; ``comments`` holds the name as JSON): the probability of
  the behaviour in each window, at the window's start (a rate where windows are regular); NaN where the model
  gave no answer.
- ``processing/behavior/windows``: ``TimeIntervals``, one row per window: ``start_time``, ``stop_time``,
  ``label`` (decided behaviour, "" where none), ``decided_by``.
- ``processing/behavior/human_bouts``: ``EthogramBouts`` of the human labels (``labeling_method`` ``manual``),
  when there are any; ``observation_intervals`` links ``labelled_intervals``.
- ``processing/behavior/labelled_intervals``: ``TimeIntervals``, the spans a human scored (outside them: not
  scored).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mousefear._io import atomic_path
from mousefear.core.intervals import labels_to_bouts

__all__ = ["NWBSession", "write_nwb"]


@dataclass
class NWBSession:
    """Everything one NWB file holds, as plain data.

    Attributes
    ----------
    identifier : str
        Globally unique id of the file (the same inputs give the same id).
    session_description, session_id : str
    session_start_time : datetime.datetime
        Timezone-aware start of the recording; every time in the file counts from it.
    behaviors : list of str
    definitions : list of str
        One per behaviour.
    fps : float
        Frames per second of the video.
    n_frames : int
    video_path : str
        Path of the video relative to the NWB file's folder.
    frame_label : numpy.ndarray, shape (n_frames,), int
        Predicted behaviour index per frame, -1 where none.
    window_start, window_end : numpy.ndarray, shape (n_windows,), int
        Half-open frame range of each window.
    window_probability : numpy.ndarray, shape (n_windows, n_behaviors), float
    window_label : list of str, n_windows
        Decided behaviour per window, "" where none.
    decided_by : list of str, n_windows
    human_label : numpy.ndarray, shape (n_frames,), object, or None
        Human label per frame ("" = not scored); None when the video has no label file.
    subject : dict
        ``subject_id``, ``species``, ``sex`` and, where known, ``age``, ``strain``, ``genotype``, ``description``.
    file_info : dict
        NWBFile fields: ``experimenter`` (list), ``lab``, ``institution``, ``experiment_description``,
        ``keywords`` (list), ``notes`` (values None are left out).
    source_software : str
    parameters : dict
        The run's provenance (JSON-serialisable).
    annotator : str
        Who scored the human labels.
    """

    identifier: str
    session_description: str
    session_id: str
    session_start_time: _dt.datetime
    behaviors: list[str]
    definitions: list[str]
    fps: float
    n_frames: int
    video_path: str
    frame_label: np.ndarray
    window_start: np.ndarray
    window_end: np.ndarray
    window_probability: np.ndarray
    window_label: list[str]
    decided_by: list[str]
    human_label: np.ndarray | None
    subject: dict[str, Any]
    file_info: dict[str, Any] = field(default_factory=dict)
    source_software: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)
    annotator: str = ""


def _bouts(module: Any, name: str, description: str, labels: np.ndarray, s: NWBSession, ethogram: Any,
           video: Any, **kw: Any) -> Any:
    from ndx_ethogram import EthogramBouts

    table = EthogramBouts(name=name, description=description, ethogram=ethogram, source_video=video, **kw)
    for b in labels_to_bouts(labels, s.behaviors).itertuples(index=False):
        table.add_interval(start_time=b.start_frame / s.fps, stop_time=b.end_frame / s.fps, label=str(b.behavior))
    module.add(table)
    return table


def write_nwb(path: str | os.PathLike, s: NWBSession) -> Path:
    """Write one video's behaviour as an NWB file, atomically (layout in the module docstring).

    Parameters
    ----------
    path : path-like
        The ``.nwb`` file; replaced if it exists.
    s : NWBSession
        What goes in.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    from hdmf.backends.hdf5.h5_utils import H5DataIO
    from ndx_ethogram import Ethogram
    from pynwb import NWBHDF5IO, NWBFile, TimeSeries
    from pynwb.behavior import BehavioralTimeSeries
    from pynwb.epoch import TimeIntervals
    from pynwb.file import Subject
    from pynwb.image import ImageSeries

    info = {k: v for k, v in s.file_info.items() if v not in (None, "", [])}
    nwb = NWBFile(session_description=s.session_description, identifier=s.identifier,
                  session_start_time=s.session_start_time, session_id=s.session_id,
                  source_script=f"{s.source_software}", source_script_file_name="mousefear", **info)
    nwb.subject = Subject(**{k: v for k, v in s.subject.items() if v not in (None, "")})
    video = ImageSeries(name="behavior_video", description="the video the behaviour was classified from",
                        external_file=[s.video_path], format="external", starting_frame=[0], rate=float(s.fps),
                        num_samples=int(s.n_frames),
                        unit="n.a.")
    nwb.add_acquisition(video)
    module = nwb.create_processing_module(name="behavior", description="behaviour per second of video, classified "
                                          "by mousefear, and the human labels where there are any")
    ethogram = Ethogram(name="ethogram", description="the behaviours (classes) and the definitions shown to the "
                        "model and the human scorer", exclusive=True)
    for b, d in zip(s.behaviors, s.definitions, strict=True):
        ethogram.add_row(behavior=b, definition=d)
    module.add(ethogram)
    _bouts(module, "predicted_bouts", "bouts of the behaviour decided per frame by mousefear (runs of frames with the "
           "same decided behaviour)", s.frame_label, s, ethogram, video, labeling_method="automated",
           source_software=s.source_software, parameters=json.dumps(s.parameters, sort_keys=True))
    probs = np.asarray(s.window_probability, dtype=np.float32)
    start_s = np.asarray(s.window_start, dtype=np.float64) / s.fps
    step = np.diff(start_s)
    timing: dict[str, Any] = {"timestamps": start_s}
    if step.size and np.all(np.abs(step - step[0]) < 1e-9):  # regular windows: a rate, as NWB prefers
        timing = {"starting_time": float(start_s[0]), "rate": float(1.0 / step[0])}
    series = BehavioralTimeSeries(name="behavior_probabilities")
    first = None
    for j, b in enumerate(s.behaviors):
        ts = TimeSeries(
            name=b.replace("/", "_"), data=H5DataIO(probs[:, j], compression="gzip"), unit="n.a.", continuity="step",
            description=f"probability of {b} in each window, from the window's start (the time of each value) to its "
                        "end (the windows table); NaN where the model gave no answer",
            comments=json.dumps({"behavior": b}), **(timing if first is None or "rate" in timing
                                                     else {"timestamps": first}))
        series.add_timeseries(ts)
        first = first or ts
    module.add(series)
    windows = TimeIntervals(name="windows", description="the windows (by default one second each) the behaviour was "
                            "decided for, with the decided behaviour")
    windows.add_column(name="label", description="decided behaviour (highest probability); empty where none")
    windows.add_column(name="decided_by", description="which path decided the window (the backend)")
    for a, b, lab, dec in zip(start_s, np.asarray(s.window_end) / s.fps, s.window_label, s.decided_by, strict=True):
        windows.add_interval(start_time=float(a), stop_time=float(b), label=str(lab), decided_by=str(dec))
    module.add(windows)
    if s.human_label is not None and (np.asarray(s.human_label) != "").any():
        scored = (np.asarray(s.human_label) != "").astype(np.int64) - 1  # 0 = scored, -1 = not
        observed = TimeIntervals(name="labelled_intervals", description="spans of the video a human scored; "
                                 "outside them the behaviour is unknown")
        for r in labels_to_bouts(scored, ["scored"]).itertuples(index=False):
            observed.add_interval(start_time=r.start_frame / s.fps, stop_time=r.end_frame / s.fps)
        module.add(observed)
        _bouts(module, "human_bouts", "bouts of the behaviour scored by a human (labels/<video_id>.csv of the "
               "project)", np.asarray(s.human_label, dtype=object), s, ethogram, video, labeling_method="manual",
               annotator=s.annotator or None, observation_intervals=observed)
    with atomic_path(path) as tmp, warnings.catch_warnings():
        # the temporary name ends in .tmp on purpose (no reader takes it for a result); the file gets its .nwb
        # name when it is complete
        warnings.filterwarnings("ignore", message=".*does not end in '.nwb'")
        with NWBHDF5IO(str(tmp), "w") as io:
            io.write(nwb)
    return Path(path)
