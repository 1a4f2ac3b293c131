"""Calibrated probabilities: one temperature fitted on labelled windows, applied in a derived run.

A model's softmax over the label scores is over-confident: a window it calls freezing with probability 0.99 is
right far less often than 99 times in 100. :func:`calibrate_probabilities` fits a *temperature* ``T`` on the
run's labelled windows and writes a *derived run* (:mod:`mousefear.pipeline.derived`) whose probabilities are
``softmax(log p / T)``: the parent's, made less (``T > 1``) or more (``T < 1``) confident.

- **The scores.** The vector files keep each window's probabilities ``p`` (float32); their logarithms are the
  label scores up to a constant per window, which a softmax ignores, so ``log p`` serves as the logits. A
  probability of exactly 0 (a class the backend does not model, or below float32's range) stays 0 at every
  temperature. One temperature does not change which behaviour is on top: the calibrated run has the parent's
  decisions and only its probabilities differ.
- **The fit.** ``T`` minimises the mean negative log-likelihood of the human behaviour (the labelled windows'
  cross-entropy), which is convex in ``1 / T``; it is searched in ``[0.01, 100]``. The labelled windows are the
  windows whose every frame is labelled in ``labels/<video_id>.csv`` (their behaviour: the one covering most of
  their frames, :func:`~mousefear.pipeline.metrics.window_truth`) and that have an answer. Windows whose human
  behaviour got probability 0 are left out of the fit (their likelihood is 0 at every temperature) and counted.
- **The check, out of sample.** The expected calibration error (ECE, :func:`~mousefear.pipeline.metrics.
  expected_calibration_error`: 15 equal-width bins of the top probability, each weighted by its share of the
  windows) is reported before and after calibration. The figure *after* is cross-validated: with two or more
  labelled videos, each video is calibrated with the temperature fitted on the others (leave one video out);
  with one, each block of :data:`~mousefear.pipeline.calibration.BLOCK_SECONDS` seconds of it with the
  temperature fitted on its other blocks. The held-out probabilities of all folds, pooled, give the ECE and the
  negative log-likelihood *after*; the same windows uncalibrated give *before*. The ECE of the final
  temperature on the windows it was fitted on is reported too, marked in-sample: it is optimistic.
- **Per behaviour.** ``per_behavior=True`` fits one temperature per behaviour (``log p_k / T_k``): that changes
  which behaviour is on top, so the calibrated run's decisions then depend on the labels it was fitted on (its
  evaluation on those videos is marked in part in-sample). One temperature is the default: see
  docs/postprocessing.md for the comparison.

The temperature is stored with the calibrated run: in its run.json (``settings.derivations`` and
``derived_from.parameters``: ``temperature``, ``per_behavior``, ``fit_videos``, ``fit_windows``) and, with the
figures of the check, in ``behavior-vectors/<run>/probability_calibration.json`` and its reliability diagram
``reliability.png``. Smoothing (:mod:`mousefear.pipeline.smoothing`) and the review page's "least certain first"
use calibrated probabilities when they read a calibrated run; the review page applies the temperature of the
newest calibrated run derived from the run it shows.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mousefear._io import atomic_write_text, json_safe
from mousefear.core.project import ConfigLike, Project
from mousefear.errors import LabelError, ProjectError
from mousefear.formats.labels import read_label_file
from mousefear.formats.vectors import read_vector_windows
from mousefear.pipeline.derived import Derivation, DerivedVideo, ParentVideo, derive_run
from mousefear.pipeline.metrics import ECE_BINS, expected_calibration_error, reliability_table, window_truth
from mousefear.pipeline.runs import read_run_json

__all__ = ["MIN_WINDOWS", "Calibrate", "ProbabilityCalibration", "apply_temperature", "calibrate_probabilities",
           "calibration_of", "fit_temperature", "negative_log_likelihood"]

logger = logging.getLogger(__name__)

#: Fewest labelled windows with an answer (and a human behaviour of probability > 0) to fit a temperature on.
MIN_WINDOWS = 20
#: Range of the temperature searched.
T_RANGE = (0.01, 100.0)


# ----------------------------------------------------------------------------------------------- pure functions
def _logits(probabilities: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log(np.asarray(probabilities, dtype=np.float64))


def _softmax(z: np.ndarray) -> np.ndarray:
    top = np.max(z, axis=1, keepdims=True)
    e = np.exp(z - np.where(np.isfinite(top), top, 0.0))
    return e / e.sum(axis=1, keepdims=True)


def apply_temperature(probabilities: np.ndarray, temperature: float | np.ndarray) -> np.ndarray:
    """``softmax(log p / T)`` of every row.

    Parameters
    ----------
    probabilities : np.ndarray
        (n, n_behaviors) float probabilities (an all-NaN row stays NaN; a 0 stays 0).
    temperature : float or np.ndarray
        One temperature, or (n_behaviors,) one per behaviour; > 0.

    Returns
    -------
    np.ndarray
        (n, n_behaviors) float64 calibrated probabilities, rows summing to 1.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p).any(axis=1)
    out[ok] = _softmax(_logits(p[ok]) / np.asarray(temperature, dtype=np.float64))
    return out


def negative_log_likelihood(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Mean ``-log p[label]`` over the rows (natural log); inf when a label has probability 0; NaN without rows."""
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    if y.size == 0:
        return math.nan
    with np.errstate(divide="ignore"):
        return float(-np.log(p[np.arange(y.size), y]).mean())


def _nll_and_gradient(beta: np.ndarray, z: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean NLL of ``softmax(z * beta)`` and its gradient in ``beta`` ((n_behaviors,) or (1,))."""
    zz = np.where(np.isfinite(z), z, 0.0)
    s = np.where(np.isfinite(z), z * beta, -np.inf)
    q = _softmax(s)
    rows = np.arange(y.size)
    nll = float(np.mean(np.log(np.exp(s - s.max(axis=1, keepdims=True)).sum(axis=1)) + s.max(axis=1) - s[rows, y]))
    onehot = np.zeros_like(q)
    onehot[rows, y] = 1.0
    grad = ((q - onehot) * zz).mean(axis=0)  # d/d beta_k
    return nll, (grad if beta.size > 1 else np.array([grad.sum()]))


def fit_temperature(probabilities: np.ndarray, labels: np.ndarray, per_behavior: bool = False) -> float | np.ndarray:
    """The temperature that minimises the mean negative log-likelihood of ``labels`` under ``softmax(log p / T)``.

    Parameters
    ----------
    probabilities : np.ndarray
        (n, n_behaviors) float probabilities, rows without NaN, each true behaviour's probability > 0.
    labels : np.ndarray
        (n,) int index of the true behaviour of each row.
    per_behavior : bool
        One temperature per behaviour instead of one for all.

    Returns
    -------
    float or np.ndarray
        ``T`` in :data:`T_RANGE` (a bound when the optimum lies beyond it), or (n_behaviors,) with ``per_behavior``.

    Raises
    ------
    ValueError
        No row, a NaN row, or a true behaviour with probability 0.
    """
    from scipy.optimize import minimize, minimize_scalar

    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    if y.size == 0 or np.isnan(p).any() or (p[np.arange(y.size), y] <= 0).any():
        raise ValueError("Expected rows without NaN whose true behaviour has a probability > 0, and at least one")
    z = _logits(p)
    lo, hi = np.log(1 / T_RANGE[1]), np.log(1 / T_RANGE[0])  # in log(1 / T)
    if not per_behavior:  # convex in 1 / T, so one minimum: a bounded scalar search finds it
        res = minimize_scalar(lambda lb: _nll_and_gradient(np.array([np.exp(lb)]), z, y)[0], bounds=(lo, hi),
                              method="bounded", options={"xatol": 1e-10})
        return float(1.0 / np.exp(res.x))

    def fun(lb: np.ndarray) -> tuple[float, np.ndarray]:
        beta = np.exp(lb)
        nll, grad = _nll_and_gradient(beta, z, y)
        return nll, grad * beta

    k = p.shape[1]
    res = minimize(fun, np.zeros(k), jac=True, method="L-BFGS-B", bounds=[(lo, hi)] * k,
                   options={"ftol": 1e-14, "gtol": 1e-10, "maxiter": 1000})
    return 1.0 / np.exp(res.x)


# ----------------------------------------------------------------------------------------------- labelled windows
@dataclass
class _Labelled:
    """The labelled windows of one video that have an answer: (n, K) probabilities, (n,) true index, (n,) start."""

    video_id: str
    fps: float
    probabilities: np.ndarray
    labels: np.ndarray
    start_frame: np.ndarray
    no_answer: int


def _labelled_windows(project: Project, run: str, behaviors: list[str]) -> list[_Labelled]:
    out = []
    for video_id, path in project.vector_files(run).items():
        label_path = project.paths.label_file(video_id)
        if not label_path.is_file():
            continue
        win = read_vector_windows(path)
        try:
            human = read_label_file(label_path, behaviors, n_frames=int(win.attrs["n_frames"]))
        except LabelError as exc:
            raise LabelError(f"{exc} (calibrating run {run!r}, whose behaviours are {', '.join(behaviors)})") from None
        start = win["start_frame"].to_numpy(dtype=np.int64)
        end = win["end_frame"].to_numpy(dtype=np.int64)
        truth = window_truth(human, start, end, behaviors, whole=True)
        scored = truth != ""
        probs = win[behaviors].to_numpy(dtype=np.float64)
        answered = ~np.isnan(probs).any(axis=1)
        keep = scored & answered
        if not scored.any():
            continue
        index = {b: i for i, b in enumerate(behaviors)}
        out.append(_Labelled(video_id=video_id, fps=float(win.attrs["fps"]), probabilities=probs[keep],
                             labels=np.array([index[t] for t in truth[keep]], dtype=np.int64),
                             start_frame=start[keep], no_answer=int((scored & ~answered).sum())))
    return out


def _window_macro_f1(probabilities: np.ndarray, labels: np.ndarray, behaviors: list[str]) -> float:
    from mousefear.pipeline.metrics import macro_f1, per_class_metrics

    names = np.asarray(behaviors, dtype=object)
    return macro_f1(per_class_metrics(names[labels], names[probabilities.argmax(axis=1)], behaviors))[0]


def _folds(videos: list[_Labelled]) -> tuple[str, np.ndarray]:
    """How the windows are split for the cross-validation: ``("videos", fold per window)`` with two or more
    videos, else ``("blocks of <BLOCK_SECONDS> s", fold per window)``."""
    from mousefear.pipeline.calibration import BLOCK_SECONDS

    if len(videos) >= 2:
        return "videos", np.concatenate([np.full(v.labels.size, i) for i, v in enumerate(videos)])
    v = videos[0]
    return f"blocks of {BLOCK_SECONDS} s", np.floor(v.start_frame / v.fps / BLOCK_SECONDS).astype(np.int64)


# -------------------------------------------------------------------------------------------------- the derivation
class Calibrate(Derivation):
    """Apply a temperature to every window's probabilities (frames too, for a run of a video backend).

    Parameters
    ----------
    behaviors
        The run's behaviours, in column order.
    temperature
        One temperature, or (n_behaviors,) one per behaviour.
    fit
        What it was fitted on, recorded: ``fit_videos`` (list of ids) and ``fit_windows`` (int).
    frame_level
        The parent run's backend decides per frame: with one temperature its frame probabilities are calibrated too
        (the decisions stay); with one per behaviour its frames take their window's decision.
    """

    kind = "calibrate"

    def __init__(self, behaviors: Sequence[str], temperature: float | np.ndarray, fit: Mapping[str, Any],
                 frame_level: bool = False):
        self.behaviors = list(behaviors)
        self.temperature = np.asarray(temperature, dtype=np.float64)
        self.fit = dict(fit)
        self.frame_level = frame_level

    def parameters(self) -> dict[str, Any]:
        t = self.temperature
        temperature: Any = float(t) if t.ndim == 0 else {b: float(x) for b, x in zip(self.behaviors, t, strict=True)}
        return {"temperature": temperature, "per_behavior": bool(t.ndim), **self.fit}

    def check_parent(self, parent: str, record: Mapping[str, Any]) -> None:
        """A calibrated or smoothed run is not calibrated: calibrate the run it was derived from."""
        kinds = [d.get("kind") for d in record["settings"].get("derivations") or []]
        if {"calibrate", "smooth"} & set(kinds):
            raise ProjectError(f"Run {parent!r} is derived ({', '.join(map(str, kinds))}) from run "
                               f"{(record.get('derived_from') or {}).get('run')!r}; calibrate that run instead")

    def derive(self, video: ParentVideo) -> DerivedVideo:
        probs = apply_temperature(video.windows[video.behaviors].to_numpy(dtype=np.float64), self.temperature)
        if not self.frame_level or self.temperature.ndim:
            # per behaviour, a frame's top behaviour may change: the frames of a frame-level run then take their
            # window's decision (a per-frame argmax would undo the detector's rules, such as the shortest freezing)
            return DerivedVideo(probabilities=probs)
        frames = apply_temperature(video.frames[video.behaviors].to_numpy(dtype=np.float64), self.temperature)
        label = np.where(np.isnan(frames).any(axis=1), -1, np.argmax(np.nan_to_num(frames, nan=-1.0), axis=1))
        return DerivedVideo(probabilities=probs, frame_probabilities=frames, frame_label=label.astype(np.int16))


# ---------------------------------------------------------------------------------------------------- the command
@dataclass
class ProbabilityCalibration:
    """What :func:`calibrate_probabilities` fitted and measured.

    Attributes
    ----------
    run, parent : str
        The calibrated (derived) run and the run it was made from.
    temperature : float or dict
        The temperature (``> 1``: the parent was over-confident), or behaviour -> temperature.
    ece_before, ece_after : float
        ECE of the held-out windows of the cross-validation before and after calibration (NaN after when there is
        no second fold).
    ece_in_sample : float
        ECE of the final temperature on the windows it was fitted on: optimistic, never the result.
    nll_before, nll_after : float
        Mean negative log-likelihood (nats) of the same held-out windows (fitted windows only).
    macro_f1_before, macro_f1_after : float
        Window macro F1 of the top behaviours of the same held-out windows: equal with one temperature (it keeps
        every decision); with one per behaviour, the out-of-sample effect on the decisions.
    folds : str
        ``"videos"`` or ``"blocks of 20 s"``; ``n_folds`` how many.
    fold_temperatures : list
        The temperature fitted without each fold.
    n_windows : int
        Labelled windows with an answer (the ECE's windows); ``n_fit`` of them in the fit, ``n_zero`` left out of
        it (human behaviour of probability 0), ``n_no_answer`` labelled windows without an answer.
    videos : list of str
        Videos with labelled windows.
    message : str
        One paragraph on the outcome.
    files : list of Path
        ``probability_calibration.json`` and ``reliability.png`` of the calibrated run.
    """

    run: str
    parent: str
    temperature: float | dict[str, float]
    ece_before: float
    ece_after: float
    ece_in_sample: float
    nll_before: float
    nll_after: float
    macro_f1_before: float
    macro_f1_after: float
    folds: str
    n_folds: int
    fold_temperatures: list[Any]
    n_windows: int
    n_fit: int
    n_zero: int
    n_no_answer: int
    videos: list[str]
    message: str = ""
    files: list[Path] = field(default_factory=list)
    reliability: dict[str, Any] = field(default_factory=dict)


def calibration_of(project: Project, run: str) -> tuple[str, float | np.ndarray] | None:
    """The newest run calibrated from ``run`` (its name and temperature, one or (n_behaviors,)), or None."""
    found = []
    for other in project.runs():
        path = project.paths.vectors(other) / "run.json"
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            d = record.get("derived_from") or {}
            if d.get("run") == run and d.get("kind") == Calibrate.kind:
                t = d["parameters"]["temperature"]
                names = [b["name"] for b in record["settings"]["behaviors"]]
                found.append((str(record.get("created", "")), other,
                              float(t) if not isinstance(t, dict) else np.array([float(t[b]) for b in names])))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    if not found:
        return None
    _, name, t = max(found, key=lambda f: (f[0], f[1]))
    return name, t


def _reliability_plot(before: Any, after: Any, path: Path, title: str) -> Path:
    from mousefear.pipeline.plots import new_figure, save_figure

    fig = new_figure(4.2, 4.0)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot([0, 1], [0, 1], color="#999999", lw=1, ls="--", label="perfect")
    for table, name, color in ((before, "before", "#D55E00"), (after, "after (held out)", "#0072B2")):
        t = table[table["n"] > 0]
        ax.plot(t["confidence"], t["accuracy"], marker="o", color=color, label=name)
    ax.set_xlabel("top probability (mean in bin)")
    ax.set_ylabel("fraction right")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title(title, fontsize=9)
    ax.legend(loc="upper left", fontsize=8)
    return save_figure(fig, path)


def calibrate_probabilities(
    config: ConfigLike,
    run: str | None = None,
    *,
    name: str | None = None,
    per_behavior: bool = False,
    videos: Iterable[str] | str | None = None,
    overwrite: bool = False,
) -> ProbabilityCalibration:
    """Fit a temperature on a run's labelled windows and write the calibrated run (the parent's decisions, better
    probabilities), with the expected calibration error before and after, cross-validated.

    The method, the folds and what is in-sample are described in docs/postprocessing.md and
    :mod:`mousefear.pipeline.temperature`.

    Parameters
    ----------
    config
        Path of config.yaml or the project folder, or an opened :class:`~mousefear.core.project.Project`.
    run
        The run to calibrate (default: ``classification.run``, else the only or the newest run).
    name
        Name of the calibrated run; default ``<run>_calibrate_<8 hex digits of its settings' hash>``.
    per_behavior
        One temperature per behaviour (changes decisions; see the module) instead of one.
    videos
        Only write these videos of the run (default: all of them); the fit always uses every labelled video.
    overwrite
        Calibrate finished videos again; replace a run of that name made with other settings.

    Returns
    -------
    ProbabilityCalibration
        The temperature, the ECE and negative log-likelihood before and after (held out), the in-sample ECE,
        counts, and the files written (``probability_calibration.json``, ``reliability.png`` in the calibrated
        run's folder).

    Raises
    ------
    ProjectError
        The run is calibrated or smoothed already, has fewer than :data:`MIN_WINDOWS` labelled windows to fit on,
        or its probabilities are all 0 or 1 (generate mode: nothing a temperature can change).
    LabelError
        A label file cannot be read or names a behaviour the run does not have.
    """
    project = Project.open(config)
    parent = project.select_run(run)
    record = read_run_json(project, parent)
    Calibrate([], 1.0, {}).check_parent(parent, record)
    behaviors = [b["name"] for b in record["settings"].get("behaviors", [])]
    data = _labelled_windows(project, parent, behaviors)
    probs = np.concatenate([v.probabilities for v in data]) if data else np.zeros((0, len(behaviors)))
    labels = np.concatenate([v.labels for v in data]) if data else np.zeros(0, dtype=np.int64)
    fit_rows = probs[np.arange(labels.size), labels] > 0
    if fit_rows.sum() < MIN_WINDOWS:
        raise ProjectError(f"{project.paths.labels}: Expected at least {MIN_WINDOWS} labelled windows with an answer "
                           f"in run {parent!r} to fit a temperature on (every frame of a window labelled), but found "
                           f"{int(fit_rows.sum())}; label more of its videos (labels/<video_id>.csv)")
    if ((probs == 0) | (probs == 1)).all():
        raise ProjectError(f"Run {parent!r} has probabilities of 0 and 1 only (generate mode, or decisions): a "
                           "temperature cannot change them; calibrate a run of decision: score")
    t_all = fit_temperature(probs[fit_rows], labels[fit_rows], per_behavior)
    if (np.asarray(t_all) < 2 * T_RANGE[0]).any() or (np.asarray(t_all) > T_RANGE[1] / 2).any():
        logger.warning("Run %s: the temperature fit reached the end of its range %s (the labelled windows are almost "
                       "all right, or almost all wrong): the calibrated probabilities are near 0 and 1 or near "
                       "equal; label more varied windows", parent, T_RANGE)
    kind, fold = _folds(data)
    held = np.full(probs.shape, np.nan)
    fold_ts = []
    folds = np.unique(fold)
    for f in folds if folds.size >= 2 else []:
        train = (fold != f) & fit_rows
        if train.sum() == 0:
            continue
        t = fit_temperature(probs[train], labels[train], per_behavior)
        fold_ts.append(float(t) if np.ndim(t) == 0 else [float(x) for x in t])
        held[fold == f] = apply_temperature(probs[fold == f], t)
    cv = ~np.isnan(held).any(axis=1)
    calibrated = apply_temperature(probs, t_all)
    rel_before = reliability_table(probs[cv], labels[cv])
    rel_after = reliability_table(held[cv], labels[cv])
    ece_before = expected_calibration_error(probs[cv] if cv.any() else probs, labels[cv] if cv.any() else labels)
    ece_after = expected_calibration_error(held[cv], labels[cv]) if cv.any() else math.nan
    fitted_cv = cv & fit_rows
    nll_before = negative_log_likelihood(probs[fitted_cv], labels[fitted_cv]) if cv.any() else math.nan
    nll_after = negative_log_likelihood(held[fitted_cv], labels[fitted_cv]) if cv.any() else math.nan
    ece_in = expected_calibration_error(calibrated, labels)
    f1_before = _window_macro_f1(probs[cv], labels[cv], behaviors) if cv.any() else math.nan
    f1_after = _window_macro_f1(held[cv], labels[cv], behaviors) if cv.any() else math.nan
    temperature: Any = float(t_all) if not per_behavior else {b: float(x) for b, x in zip(behaviors, t_all,
                                                                                            strict=True)}
    fit = {"fit_videos": [v.video_id for v in data], "fit_windows": int(fit_rows.sum())}
    derivation = Calibrate(behaviors, t_all, fit, frame_level=bool(record["settings"].get("frame_level")))
    out_name = derive_run(project, parent, derivation, name=name, videos=videos, overwrite=overwrite)
    t_text = (f"{t_all:.3g}" if not per_behavior else
              ", ".join(f"{b} {x:.3g}" for b, x in zip(behaviors, t_all, strict=True)))
    n_zero = int((~fit_rows).sum())
    no_answer = sum(v.no_answer for v in data)
    if cv.any():
        check = (f"Expected calibration error ({ECE_BINS} bins, top probability), cross-validated over "
                 f"{folds.size} {kind}: {ece_before:.3f} before, {ece_after:.3f} after; negative log-likelihood "
                 f"{nll_before:.3f} -> {nll_after:.3f} nats"
                 + (f"; window macro F1 of the held-out decisions {f1_before:.3f} -> {f1_after:.3f}" if per_behavior
                    else ""))
    else:
        check = (f"no held-out estimate: the labelled windows lie in one fold ({kind}); label another video or more "
                 f"of this one. ECE before {ece_before:.3f}")
    message = (f"Run {out_name}: temperature {t_text} fitted on {int(fit_rows.sum())} labelled window(s) of "
               f"{len(data)} video(s) of run {parent}" + (f" ({n_zero} left out of the fit: their human behaviour "
                                                          f"had probability 0)" if n_zero else "")
               + (f"; {no_answer} labelled window(s) without an answer" if no_answer else "")
               + f". {check}. In-sample ECE after (on the windows the temperature was fitted on; optimistic): "
               f"{ece_in:.3f}.")
    logger.info(message)
    result = ProbabilityCalibration(
        run=out_name, parent=parent, temperature=temperature, ece_before=ece_before, ece_after=ece_after,
        ece_in_sample=ece_in, nll_before=nll_before, nll_after=nll_after, macro_f1_before=f1_before,
        macro_f1_after=f1_after, folds=kind, n_folds=int(folds.size),
        fold_temperatures=fold_ts, n_windows=int(labels.size), n_fit=int(fit_rows.sum()), n_zero=n_zero,
        n_no_answer=no_answer, videos=fit["fit_videos"], message=message,
        reliability={"before": rel_before.to_dict(orient="list"), "after_held_out": rel_after.to_dict(orient="list")})
    folder = project.paths.vectors(out_name)
    summary = {k: v for k, v in result.__dict__.items() if k not in ("files", "message")}
    summary.update({"ece_bins": ECE_BINS, "message": message, "in_sample": ["ece_in_sample"]})
    atomic_write_text(folder / "probability_calibration.json",
                      json.dumps(json_safe(summary), indent=1, allow_nan=False) + "\n")
    result.files = [folder / "probability_calibration.json",
                    _reliability_plot(rel_before, rel_after, folder / "reliability.png",
                                      f"{parent}: T {t_text}\nECE {ece_before:.3f} -> {ece_after:.3f} (held out)")]
    return result
