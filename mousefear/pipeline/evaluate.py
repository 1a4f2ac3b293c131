"""Agreement between a run's behaviour vectors and the human labels: scores, tables and the files of a report.

:func:`evaluate` reads a run's behaviour-vector files and the project's label files, scores them with the
functions of :mod:`mousefear.pipeline.metrics` (the conventions are given there and in docs/evaluation.md), and
writes ``evaluation/<run>/``: ``metrics.csv``, ``metrics.json``, plots and ``report.html``. The scores of a set
of videos are a :class:`Scores` (frames, windows, bouts, percent time); :class:`Evaluation` holds those of the
run, of each video and of each group, and ``metrics.json`` in its file layout.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mousefear._io import atomic_write_text, json_safe, writing
from mousefear._version import __version__
from mousefear.core.project import ConfigLike, Project
from mousefear.errors import LabelError, ProjectError, VectorFileError
from mousefear.formats.labels import read_label_file
from mousefear.formats.vectors import read_vector, read_vector_windows
from mousefear.pipeline.metrics import (
    BOUT_COUNT_COLUMNS,
    COUNT_COLUMNS,
    NONE,
    bout_metrics,
    confusion,
    correlation_evidence,
    macro_f1,
    overall_from_confusion,
    pearson,
    per_class_from_confusion,
    percent_from_confusion,
    pooled_bout_metrics,
    row_normalize,
    window_truth,
)
from mousefear.pipeline.plots import write_evaluation_plots
from mousefear.pipeline.report import in_sample_tag, write_report

__all__ = ["METRICS_FORMAT", "BoutScores", "Evaluation", "LevelScores", "Scores", "evaluate"]

logger = logging.getLogger(__name__)

METRICS_FORMAT = "mousefear-evaluation"
METRICS_FORMAT_VERSION = 1
RUN_SETTINGS_FILES = ("run.json", "settings.json")
BY_KEYS = ("subject", "session")
LEVELS = ("frame", "window", "bout")
#: Whole-table scores of a level, in the order of metrics.json.
OVERALL_KEYS = ("n", "no_prediction", "accuracy", "balanced_accuracy", "macro_f1", "macro_f1_behaviors", "mcc",
                "kappa")
_UTC = _dt.timezone.utc  # noqa: UP017 (datetime.UTC needs Python 3.11)


# ------------------------------------------------------------------------------------------------------------
# The scores of a set of videos
# ------------------------------------------------------------------------------------------------------------


def _records(table: pd.DataFrame, int_columns: Sequence[str]) -> dict[str, dict[str, int | float]]:
    """A per-behaviour table as ``{behaviour: {column: value}}`` of plain ints and floats (for JSON)."""
    return {str(b): {str(c): int(table.at[b, c]) if c in int_columns else float(table.at[b, c])
                     for c in table.columns} for b in table.index}


@dataclass(frozen=True)
class LevelScores:
    """Agreement at one level (frames or windows) of a set of videos.

    Attributes
    ----------
    confusion : pandas.DataFrame, shape (K, K + 1), int64
        Counts: rows human label, columns predicted label plus ``"none"`` (:func:`metrics.confusion`).
    per_behavior : pandas.DataFrame
        Precision, recall, F1, F2, support, predicted, tp, fp, fn of each behaviour
        (:func:`metrics.per_class_metrics`).
    n, no_prediction, accuracy, balanced_accuracy, macro_f1, macro_f1_behaviors, mcc, kappa
        The whole-table scores (:func:`metrics.overall_metrics`).
    """

    confusion: pd.DataFrame
    per_behavior: pd.DataFrame
    n: int
    no_prediction: int
    accuracy: float
    balanced_accuracy: float
    macro_f1: float
    macro_f1_behaviors: list[str]
    mcc: float
    kappa: float

    @classmethod
    def from_confusion(cls, cm: pd.DataFrame) -> LevelScores:
        pc = per_class_from_confusion(cm)
        return cls(confusion=cm, per_behavior=pc, **overall_from_confusion(cm, pc))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: getattr(self, k) for k in OVERALL_KEYS}
        out["per_behavior"] = _records(self.per_behavior, COUNT_COLUMNS)
        cm = self.confusion
        out["confusion"] = {"rows": list(cm.index), "columns": list(cm.columns), "counts": cm.to_numpy().tolist(),
                            "row_normalized": row_normalize(cm).to_numpy().tolist()}
        return out


@dataclass(frozen=True)
class BoutScores:
    """Bout-level agreement of a set of videos.

    Attributes
    ----------
    per_behavior : pandas.DataFrame
        human_bouts, predicted_bouts, matched, precision, recall, f1, mean_iou (:func:`metrics.bout_metrics`).
    macro_f1 : float
        Mean bout F1 over ``macro_f1_behaviors``, the behaviours whose bout F1 is defined.
    """

    per_behavior: pd.DataFrame
    macro_f1: float
    macro_f1_behaviors: list[str]

    @classmethod
    def from_table(cls, table: pd.DataFrame) -> BoutScores:
        macro, present = macro_f1(table)
        return cls(per_behavior=table, macro_f1=macro, macro_f1_behaviors=present)

    def to_json(self) -> dict[str, Any]:
        return {"per_behavior": _records(self.per_behavior, BOUT_COUNT_COLUMNS), "macro_f1": self.macro_f1,
                "macro_f1_behaviors": self.macro_f1_behaviors}


@dataclass(frozen=True)
class Scores:
    """Frame, window, bout and percent-time scores of a set of videos, pooled.

    Attributes
    ----------
    labelled_frames : int
        Frames with a human label (the scored frames).
    frame, window : LevelScores
    bout : BoutScores
    percent_time : pandas.DataFrame
        Indexed by behaviour plus ``"none"``: ``human``, ``predicted`` (percent of the labelled frames) and
        ``difference`` (percentage points), as :func:`metrics.percent_time`.
    """

    labelled_frames: int
    frame: LevelScores
    window: LevelScores
    bout: BoutScores
    percent_time: pd.DataFrame

    def level(self, name: str) -> LevelScores | BoutScores:
        """The scores of level ``frame``, ``window`` or ``bout``."""
        if name not in LEVELS:
            raise KeyError(f"Expected a level among {', '.join(LEVELS)}, but got {name!r}")
        return getattr(self, name)

    def to_json(self) -> dict[str, Any]:
        """The layout of one entry of metrics.json (``overall``, ``per_video[...]``, ``groups[...][...]``)."""
        pt = self.percent_time
        return {
            "labelled_frames": self.labelled_frames,
            "frame": self.frame.to_json(),
            "window": self.window.to_json(),
            "bout": self.bout.to_json(),
            "percent_time": {str(b): {str(c): float(pt.at[b, c]) for c in pt.columns} for b in pt.index},
        }


@dataclass
class _VideoData:
    video_id: str
    subject: str
    session: str
    fps: float
    n_frames: int
    vector_file: Path
    label_file: Path | None
    human: np.ndarray  # (n_frames,) object, "" = unlabelled
    pred: np.ndarray  # (n_frames,) object, "" = no prediction
    probabilities: np.ndarray  # (n_frames, n_behaviors) float32
    win_start: np.ndarray
    win_end: np.ndarray
    win_pred: np.ndarray
    attrs: dict = field(default_factory=dict)

    @property
    def labelled(self) -> np.ndarray:
        return self.human != ""

    @property
    def n_labelled(self) -> int:
        return int(self.labelled.sum())

    def record(self, root: Path) -> dict[str, Any]:
        """The entry of ``videos`` in metrics.json (files relative to the project folder ``root``)."""
        return {"video_id": self.video_id, "subject": self.subject, "session": self.session, "fps": self.fps,
                "n_frames": self.n_frames, "labelled_frames": self.n_labelled,
                "status": "evaluated" if self.n_labelled else "no labels",
                "vector_file": self.vector_file.relative_to(root).as_posix(),
                "label_file": None if self.label_file is None else self.label_file.relative_to(root).as_posix(),
                "created": self.attrs.get("created")}


def _score(videos: list[_VideoData], behaviors: list[str], iou: float) -> Scores:
    """Pooled frame, window, bout and percent-time scores of a list of videos."""
    k = len(behaviors)
    cm_f = pd.DataFrame(np.zeros((k, k + 1), dtype=np.int64), index=pd.Index(behaviors, name="human"),
                        columns=pd.Index([*behaviors, NONE], name="predicted"))
    cm_w = cm_f.copy()
    bouts = []
    for v in videos:
        lab = v.labelled
        cm_f += confusion(v.human[lab], v.pred[lab], behaviors)
        wt = window_truth(v.human, v.win_start, v.win_end, behaviors)
        wl = wt != ""
        cm_w += confusion(wt[wl], v.win_pred[wl], behaviors)
        bouts.append(bout_metrics(v.human, v.pred, behaviors, iou))
    return Scores(
        labelled_frames=int(cm_f.to_numpy().sum()),
        frame=LevelScores.from_confusion(cm_f),
        window=LevelScores.from_confusion(cm_w),
        bout=BoutScores.from_table(pooled_bout_metrics(bouts, behaviors)),
        percent_time=percent_from_confusion(cm_f),
    )


# ------------------------------------------------------------------------------------------------------------
# Runs and inputs
# ------------------------------------------------------------------------------------------------------------


def _run_settings(folder: Path, first_attrs: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    """The run's settings: run.json (or settings.json) of the run folder if present, else the attributes of
    its first behaviour-vector file."""
    for name in RUN_SETTINGS_FILES:
        p = folder / name
        if p.is_file():
            try:
                data = json.loads(p.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise VectorFileError(f"{p}: Expected a JSON file of run settings, but it cannot be read "
                                      f"({exc})") from None
            if not isinstance(data, dict):
                raise VectorFileError(f"{p}: Expected a JSON object of run settings, but got {type(data).__name__}")
            return data, name
    keep = {k: v for k, v in first_attrs.items()
            if k not in ("video_id", "subject", "session", "video_sha256", "n_frames", "fps", "behaviors")}
    return keep, "attributes of the first behaviour-vector file"


def _load_video(path: Path, project: Project, behaviors_ref: list[str] | None) -> _VideoData:
    vec = read_vector(path)
    win = read_vector_windows(path)
    behaviors = vec.attrs["behaviors"]
    if behaviors_ref is not None and behaviors != behaviors_ref:
        raise VectorFileError(f"{path}: Expected the behaviours {behaviors_ref} of the other files of the run, "
                              f"but got {behaviors}")
    vid = str(vec.attrs.get("video_id") or path.stem)
    n = len(vec)
    label_file = project.paths.label_file(vid)
    if label_file.is_file():
        human = read_label_file(label_file, behaviors)
        if human.size != n:
            raise LabelError(f"{label_file} has {human.size} frames but the behaviour vector {path} has {n}: "
                             "Expected the same frame count (is the label file for another video or "
                             "another version of it?)")
    else:
        human = np.full(n, "", dtype=object)
        label_file = None
    return _VideoData(
        video_id=vid, subject=str(vec.attrs.get("subject", "")), session=str(vec.attrs.get("session", "")),
        fps=float(vec.attrs["fps"]), n_frames=n, vector_file=path, label_file=label_file, human=human,
        pred=vec["label"].to_numpy(dtype=object), probabilities=vec[behaviors].to_numpy(dtype=np.float32),
        win_start=win["start_frame"].to_numpy(), win_end=win["end_frame"].to_numpy(),
        win_pred=win["label"].to_numpy(dtype=object), attrs=dict(vec.attrs),
    )


def _chosen_files(project: Project, run: str, videos: Iterable[str] | None) -> list[Path]:
    """The run's vector files to evaluate: every one by file name, or those of ``videos`` in that order."""
    files = project.vector_files(run)
    if videos is None:
        return sorted(files.values(), key=lambda p: p.name)
    want = [videos] if isinstance(videos, str) else [str(v) for v in videos]
    missing = [v for v in want if v not in files]
    if missing:
        raise ProjectError(f"{project.paths.vectors(run)}: Expected videos among {sorted(files)}, but got "
                           f"{missing} (no behaviour-vector file)")
    return [files[v] for v in dict.fromkeys(want)]


# ------------------------------------------------------------------------------------------------------------
# The result object and the tidy table
# ------------------------------------------------------------------------------------------------------------


@dataclass
class Evaluation:
    """Result of :func:`evaluate`.

    Attributes
    ----------
    run : str
        Name of the run evaluated.
    folder : pathlib.Path
        ``evaluation/<run>/`` where the files were written.
    data : dict
        Everything in ``metrics.json``, in its layout (NaN as float NaN here, ``null`` in the file).
    metrics : pandas.DataFrame
        The tidy table of ``metrics.csv``.
    scores : Scores
        The scores of every evaluated video together.
    per_video : dict of str to Scores
        The scores of each evaluated video, by video id.
    groups : dict of str to dict of str to Scores
        ``by`` key (``subject``, ``session``) -> value -> the scores of those videos together.
    """

    run: str
    folder: Path
    data: dict[str, Any]
    metrics: pd.DataFrame
    scores: Scores
    per_video: dict[str, Scores]
    groups: dict[str, dict[str, Scores]]

    @property
    def behaviors(self) -> list[str]:
        return list(self.data["behaviors"])

    @property
    def report_path(self) -> Path:
        """``evaluation/<run>/report.html``."""
        return self.folder / "report.html"

    def overall(self, scope: str = "all", group: str = "") -> pd.DataFrame:
        """Overall agreement (rows ``frame``, ``window``; columns accuracy, balanced_accuracy, macro_f1, mcc,
        kappa, n, no_prediction) of one scope: ``all``, ``video`` (group = video id), ``subject``, ``session``."""
        s = self._scores(scope, group)
        cols = ["accuracy", "balanced_accuracy", "macro_f1", "mcc", "kappa", "n", "no_prediction"]
        return pd.DataFrame({lvl: {c: getattr(s.level(lvl), c) for c in cols} for lvl in ("frame", "window")}).T[cols]

    def per_behavior(self, level: str = "frame", scope: str = "all", group: str = "") -> pd.DataFrame:
        """Per-behaviour table of one level (``frame``, ``window``: precision, recall, f1, f2, support,
        predicted, tp, fp, fn; ``bout``: human_bouts, predicted_bouts, matched, precision, recall, f1,
        mean_iou), indexed by behaviour."""
        return self._scores(scope, group).level(level).per_behavior.copy()

    def confusion(self, level: str = "frame", normalized: bool = False) -> pd.DataFrame:
        """Confusion matrix of the whole run (rows human, columns predicted plus ``none``): counts, or the share
        of each row with ``normalized=True``."""
        cm = self.scores.level(level).confusion
        return row_normalize(cm) if normalized else cm.copy()

    def percent_time(self) -> pd.DataFrame:
        """Per video and behaviour: percent time by the human and the predictions, and their difference."""
        rows = []
        for vid, s in self.per_video.items():
            for b, d in s.percent_time.iterrows():
                rows.append({"video_id": vid, "behavior": b, **d.to_dict()})
        return pd.DataFrame(rows, columns=["video_id", "behavior", "human", "predicted", "difference"])

    def _scores(self, scope: str, group: str) -> Scores:
        if scope == "all":
            return self.scores
        table = self.per_video if scope == "video" else self.groups.get(scope)
        if table is None or group not in table:
            raise KeyError(f"Expected a scope among all, video, {', '.join(self.groups)} with a known "
                           f"group, but got {scope!r} / {group!r}")
        return table[group]

    def summary(self) -> str:
        """A short text table: per-behaviour frame-level scores and the overall agreement."""
        pb = self.per_behavior()[["precision", "recall", "f1", "support"]].copy()
        bt = self.per_behavior("bout")["f1"].rename("bout_f1")
        pb = pb.join(bt)
        pb["support"] = pb["support"].astype(int)
        ov = self.overall()
        tag = in_sample_tag(self.data)
        lines = [f"run {self.run}: {self.data['n_videos_evaluated']} video(s) with labels, "
                 f"{self.scores.labelled_frames} labelled frames{f' ({tag})' if tag else ''}", "",
                 pb.to_string(float_format=lambda v: f"{v:.3f}", na_rep="n/a"), "",
                 ov.to_string(float_format=lambda v: f"{v:.3f}", na_rep="n/a")]
        freeze = self.data["freezing_behavior"]
        corr = self.data["correlation"].get(freeze) if freeze is not None else None
        if corr is not None:
            r = corr["r"]
            shown = "n/a" if math.isnan(r) or not corr.get("evidence", True) else f"{r:.3f}"
            lines.append("")
            lines.append(f"percent time {freeze}, predicted vs human across videos: Pearson r = {shown} "
                         f"(n = {corr['n']}){' - ' + corr['note'] if corr['note'] else ''}")
        for note in self.data["notes"]:
            lines.append(f"note: {note}")
        return "\n".join(lines)


def _tidy(data: dict[str, Any]) -> pd.DataFrame:
    """One row per (scope, group, level, behavior, metric)."""
    rows: list[tuple] = []

    def add_scores(scope: str, group: str, s: dict[str, Any]) -> None:
        rows.append((scope, group, "frame", "", "labelled_frames", s["labelled_frames"]))
        for level in ("frame", "window"):
            lv = s[level]
            for m in ("n", "no_prediction", "accuracy", "balanced_accuracy", "macro_f1", "mcc", "kappa"):
                rows.append((scope, group, level, "", m, lv[m]))
            for b, d in lv["per_behavior"].items():
                for m in ("precision", "recall", "f1", "f2", "support", "predicted"):
                    rows.append((scope, group, level, b, m, d[m]))
        rows.append((scope, group, "bout", "", "macro_f1", s["bout"]["macro_f1"]))
        for b, d in s["bout"]["per_behavior"].items():
            for m, v in d.items():
                rows.append((scope, group, "bout", b, m, v))
        for b, d in s["percent_time"].items():
            for m in ("human", "predicted", "difference"):
                rows.append((scope, group, "time", b, f"percent_{m}", d[m]))

    add_scores("all", "", data["overall"])
    for b, c in data["correlation"].items():
        rows.append(("all", "", "time", b, "pearson_r", c["r"]))
        rows.append(("all", "", "time", b, "pearson_n", c["n"]))
    for v in data["videos"]:
        if v["video_id"] in data["per_video"]:
            add_scores("video", v["video_id"], data["per_video"][v["video_id"]])
        else:
            rows.append(("video", v["video_id"], "frame", "", "labelled_frames", 0))
    for key, groups in data["groups"].items():
        for g, s in groups.items():
            add_scores(key, g, s)
    df = pd.DataFrame(rows, columns=["scope", "group", "level", "behavior", "metric", "value"])
    df["value"] = pd.to_numeric(df["value"], errors="coerce").astype(np.float64)
    return df


_EXEMPLAR_ID = re.compile(r"^(?P<video>.+)_(?P<start>\d{6,})-(?P<end>\d{6,})$")


def _motion_calibrations(folder: Path, settings: Mapping[str, Any]) -> list[tuple[Path, dict[str, Any]]]:
    """The motion calibrations that chose a run's thresholds: its own (``calibration/motion_calibration.json`` of
    ``evaluation/<run>/``), then that of any other run whose chosen values (``values``) are the run's motion
    settings, so a run classified under another name with calibrated thresholds is marked too."""
    own = folder / "calibration" / "motion_calibration.json"
    backend = settings.get("settings", {}).get("backend", {}) if isinstance(settings.get("settings"), Mapping) else {}
    params = backend.get("settings") if isinstance(backend, Mapping) else None
    params = params if isinstance(params, Mapping) else {}
    found = []
    for path in [own, *sorted(folder.parent.glob("*/calibration/motion_calibration.json"))]:
        if not path.is_file() or (path != own and path.parent.parent == folder):
            continue
        try:
            cal = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise VectorFileError(f"{path}: not a readable calibration summary ({exc})") from None
        values = cal.get("values") if isinstance(cal, dict) else None
        if path == own or (isinstance(values, dict) and values and all(
                isinstance(params.get(k), (int, float)) and isinstance(v, (int, float))
                and math.isclose(float(params[k]), float(v), rel_tol=1e-9) for k, v in values.items())):
            found.append((path, cal))
    return found


def _in_sample(folder: Path, settings: Mapping[str, Any], scored: list[_VideoData]) -> dict[str, Any]:
    """What of the scored labels the run was tuned on (a figure measured on them is in-sample).

    - ``calibration``: the run's motion thresholds were chosen on scored seconds (``calibration/
      motion_calibration.json`` of ``evaluation/<run>/``, written by ``calibrate_motion(from_labels=True)``). The
      videos calibrated on are those it lists under ``measurements``; its cross-validated F1 (thresholds chosen on
      the other blocks of time, with its 95 % interval) is kept as the out-of-sample estimate.
    - ``icl_frames``: scored frames inside the run's in-context example windows (shown to the model with
      their label).
    - ``probability_calibration``: ``{"videos": [...]}`` when the run's decisions depend on a temperature fitted on
      the labels of these scored videos (:mod:`mousefear.pipeline.temperature`: one temperature per behaviour, or
      a derivation such as smoothing after the calibration); ``{}`` otherwise (one temperature alone keeps every
      decision of the run it was fitted for).
    """
    out: dict[str, Any] = {"calibrated": False, "videos": [], "cross_validated": {}, "icl_frames": 0,
                           "probability_calibration": {}, "notes": []}
    ids = {v.video_id for v in scored}
    for summary, cal in _motion_calibrations(folder, settings):
        calibrated = ids & set((cal.get("measurements") or {}) or ids)
        if calibrated and not cal.get("too_few"):
            out["calibrated"] = True
            out["videos"] = sorted(calibrated)
            if cal.get("f1_cross_validated") is not None:
                out["cross_validated"] = {"f1": cal["f1_cross_validated"],
                                          "ci95": cal.get("f1_cross_validated_ci95"),
                                          "block_seconds": cal.get("block_seconds")}
            out["notes"].append(
                f"IN-SAMPLE: the run's motion thresholds were chosen on the scored seconds of "
                f"{', '.join(out['videos'])} ({summary.relative_to(folder.parent).as_posix()}), the labels scored "
                "here; the agreement of those videos overstates what to expect on new videos; the cross-validated "
                "freezing F1 of the calibration (thresholds chosen on the other blocks of time) is the out-of-sample "
                "estimate")
            break
    s = settings.get("settings") if isinstance(settings.get("settings"), Mapping) else {}
    steps = list((s or {}).get("derivations") or [])
    for i, step in enumerate(steps):
        if step.get("kind") == "calibrate" and (step.get("per_behavior") or i < len(steps) - 1):
            fitted = sorted(ids & set(step.get("fit_videos") or []))
            if fitted:
                out["probability_calibration"] = {"videos": fitted}
                out["notes"].append(
                    f"IN-SAMPLE in part: the decisions depend on a temperature fitted on the labels of "
                    f"{', '.join(fitted)} (probability calibration), the labels scored here; evaluate on other videos "
                    "for an out-of-sample figure")
    example_ids = ((s.get("icl") or {}).get("example_ids") if s else settings.get("icl_example_ids")) or []
    by_id = {v.video_id: v for v in scored}
    for ex in example_ids:
        m = _EXEMPLAR_ID.match(str(ex))
        if m and m["video"] in by_id:
            v = by_id[m["video"]]
            out["icl_frames"] += int(v.labelled[int(m["start"]):int(m["end"])].sum())
    if out["icl_frames"]:
        out["notes"].append(f"IN-SAMPLE in part: {out['icl_frames']} scored frame(s) lie in the run's in-context "
                            "example windows, which the model was shown with their labels")
    return out


# ------------------------------------------------------------------------------------------------------------
# evaluate
# ------------------------------------------------------------------------------------------------------------


def evaluate(
    config: ConfigLike,
    run: str | None = None,
    videos: Iterable[str] | None = None,
    by: Sequence[str] | None = None,
    plots: bool = True,
) -> Evaluation:
    """Compare a run's behaviour vectors with the human labels and write ``evaluation/<run>/``.

    Parameters
    ----------
    config : path-like or Project
        config.yaml of the project (or its folder), or an opened :class:`~mousefear.core.project.Project`.
    run : str, optional
        Run to evaluate (a folder of ``behavior-vectors/``). Default: ``classification.run`` of config.yaml
        when set; otherwise the only run; otherwise the run whose vector files were written last.
    videos : iterable of str, optional
        Restrict to these video ids (default: every vector file of the run).
    by : sequence of str, optional
        Also break the scores down by ``"subject"`` and/or ``"session"`` (default: ``evaluation.by`` of
        config.yaml). Each key gives its own breakdown.
    plots : bool, default True
        Draw ``confusion.png``, ``percent_time.png`` and ``ethogram_<video>.png`` (False: faster; plots of an
        earlier evaluation of the run are removed and ``report.html`` has tables only).

    Returns
    -------
    Evaluation
        The scores (``.scores``, ``.per_video``, ``.groups``; ``.data`` in the layout of metrics.json, ``.metrics``,
        ``.summary()``) and where they were written.

    Raises
    ------
    mousefear.errors.ProjectError
        Unknown run (the message lists the available ones) or unknown video.
    mousefear.errors.VectorFileError
        No run, a run without vector files, or an unreadable/inconsistent vector file.
    mousefear.errors.LabelError
        A label file is unreadable, names an unknown behaviour, or its frame count differs from the vector
        file's (both files named); or no evaluated video has any labelled frame.
    """
    project = Project.open(config)
    paths = project.paths
    run = project.select_run(run)
    files = _chosen_files(project, run, videos)
    if by is None:
        by = list(project.settings.evaluation.by)
    else:
        by = [by] if isinstance(by, str) else list(by)
        bad = [b for b in by if b not in BY_KEYS]
        if bad:
            raise ProjectError(f"Expected by among {', '.join(BY_KEYS)}, but got {bad}")
    iou = project.settings.evaluation.bout_iou

    data_list: list[_VideoData] = []
    behaviors: list[str] | None = None
    for p in files:
        v = _load_video(p, project, behaviors)
        behaviors = behaviors or v.attrs["behaviors"]
        data_list.append(v)
    assert behaviors is not None
    settings, source = _run_settings(paths.vectors(run), data_list[0].attrs)

    notes: list[str] = []
    for v in data_list:
        if v.n_labelled == 0:
            why = "no label file" if v.label_file is None else "label file has no labelled frame"
            notes.append(f"video {v.video_id}: not evaluated ({why}, {paths.label_file(v.video_id)})")
    scored = [v for v in data_list if v.n_labelled > 0]
    if not scored:
        raise LabelError(f"{paths.labels}: no labelled frame for any video of run {run!r} "
                         f"({', '.join(v.video_id for v in data_list)}); import human labels first "
                         "(labels/<video_id>.csv)")
    if project.behaviors != behaviors:
        notes.append(f"the run's behaviours {behaviors} differ from config.yaml's {project.behaviors}; scored with "
                     "the run's")

    overall = _score(scored, behaviors, iou)
    per_video = {v.video_id: _score([v], behaviors, iou) for v in scored}
    groups = {key: {val: _score([v for v in scored if getattr(v, key) == val], behaviors, iou)
                    for val in sorted({getattr(v, key) for v in scored})} for key in by}
    correlation = {}
    for b in behaviors:
        human = [per_video[v.video_id].percent_time.at[b, "human"] for v in scored]
        predicted = [per_video[v.video_id].percent_time.at[b, "predicted"] for v in scored]
        r, n, note = pearson(predicted, human)
        evidence, why = correlation_evidence(predicted, human)
        correlation[b] = {"r": r, "n": n, "note": why or note, "evidence": evidence}
    in_sample = _in_sample(paths.evaluation(run), settings, scored)
    notes.extend(in_sample.pop("notes"))
    if overall.frame.no_prediction:
        notes.append(f"{overall.frame.no_prediction} labelled frame(s) have no prediction (column 'none'); they "
                     "count as wrong (a model that named no behaviour; for the motion detector, frames where it found "
                     "no animal or the first frames of a video, which have no earlier frame to compare with)")

    data: dict[str, Any] = {
        "format": METRICS_FORMAT,
        "format_version": METRICS_FORMAT_VERSION,
        "mousefear_version": __version__,
        "run": run,
        "evaluated": _dt.datetime.now(_UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "settings": settings,
        "settings_source": source,
        "behaviors": behaviors,
        "freezing_behavior": project.settings.freezing_behavior,
        "bout_iou": iou,
        "by": by,
        "n_videos": len(data_list),
        "n_videos_evaluated": len(scored),
        "videos": [v.record(paths.root) for v in data_list],
        "notes": notes,
        "overall": overall.to_json(),
        "per_video": {vid: s.to_json() for vid, s in per_video.items()},
        "groups": {key: {val: s.to_json() for val, s in g.items()} for key, g in groups.items()},
        "correlation": correlation,
        "in_sample": in_sample,
        "protocol": bool(project.settings.protocol),
    }
    out = paths.evaluation(run)
    with writing(out):
        out.mkdir(parents=True, exist_ok=True)
    metrics = _tidy(data)
    atomic_write_text(out / "metrics.csv", metrics.to_csv(index=False, float_format="%.6g", lineterminator="\n"))
    atomic_write_text(out / "metrics.json", json.dumps(json_safe(data), indent=1, allow_nan=False) + "\n")
    result = Evaluation(run=run, folder=out, data=data, metrics=metrics, scores=overall, per_video=per_video,
                        groups=groups)
    if plots:
        write_evaluation_plots(result, {v.video_id: v for v in data_list})
    else:  # never leave plots of an earlier evaluation next to these numbers
        for old in [out / "confusion.png", out / "percent_time.png", *out.glob("ethogram_*.png")]:
            old.unlink(missing_ok=True)
    if project.settings.protocol and project.settings.freezing_behavior in behaviors:  # epochs in the report
        from mousefear.pipeline.summary import summarize

        summarize(project, run, plot=False)
    write_report(out)
    logger.info("Evaluated run %s on %d video(s); report %s", run, len(scored), out / "report.html")
    return result
