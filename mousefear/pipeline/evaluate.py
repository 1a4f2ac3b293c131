"""Agreement between a run's behaviour vectors and the human labels: metrics, tables, and the files of a report.

Metric functions at the top are plain functions of arrays (no files, no config) and are checked against
scikit-learn in the tests. :func:`evaluate` reads a run's behaviour-vector files and the project's label files,
scores them, and writes ``evaluation/<run>/`` (``metrics.csv``, ``metrics.json``, plots and ``report.html``);
:func:`compare_runs` puts the evaluated runs of a project side by side.

Conventions (docs/evaluation.md gives them in full)
---------------------------------------------------
- Only frames a human labelled are scored; frames with an empty human label are left out everywhere.
- A frame (or window) without a prediction (label ``""`` / -1, e.g. an unparseable answer) is kept: it is the
  extra column ``"none"`` of the confusion matrix, a false negative of its true behaviour (lowers recall),
  a false positive of no behaviour, and a wrong answer for accuracy, kappa and MCC.
- Undefined ratios (0/0) are NaN (``null`` in JSON, ``n/a`` in the report), never silently 0:
  precision is NaN for a behaviour never predicted, recall for a behaviour absent from the labels, F1/F2
  only when the behaviour is in neither (``TP + FP + FN = 0``). A behaviour in the labels that is never
  predicted has F1 = 0; one predicted but absent from the labels has F1 = 0.
- Macro F1 is the mean F1 over the behaviours present in the labels *or* the predictions (F1 not NaN).
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mousefear import _compat as _config
from mousefear._compat import list_runs, project_paths, select_run
from mousefear._io import atomic_write_text
from mousefear._version import __version__
from mousefear.core.intervals import labels_to_bouts
from mousefear.errors import LabelError, ProjectError, VectorFileError
from mousefear.formats.labels import read_label_file
from mousefear.formats.vectors import read_vector, read_vector_windows

__all__ = [
    "NONE",
    "Evaluation",
    "bout_metrics",
    "cohen_kappa",
    "compare_runs",
    "confusion",
    "evaluate",
    "list_runs",
    "match_bouts",
    "mcc",
    "overall_metrics",
    "pearson",
    "per_class_metrics",
    "percent_time",
    "window_truth",
]

logger = logging.getLogger(__name__)

NONE = "none"
"""Name of the confusion-matrix column that counts frames or windows without a prediction."""

METRICS_FORMAT = "mousefear-evaluation"
METRICS_FORMAT_VERSION = 1
RUN_SETTINGS_FILES = ("run.json", "settings.json")
_UTC = _dt.timezone.utc  # noqa: UP017 (datetime.UTC needs Python 3.11)


# ------------------------------------------------------------------------------------------------------------
# Metric functions: plain functions of arrays
# ------------------------------------------------------------------------------------------------------------


def _as_names(values: Any, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=object)
    if arr.ndim != 1:
        raise ValueError(f"Expected {name} to be 1-D, but got shape {arr.shape}")
    out = np.array(["" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v) for v in arr],
                   dtype=object)
    return out


def _codes(y_true: Any, y_pred: Any, labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Codes 0..K-1 for ``labels`` and K for no prediction; y_true must be all labelled."""
    labels = [str(b) for b in labels]
    if len(set(labels)) != len(labels) or NONE in labels or "" in labels:
        raise ValueError(f"Expected unique behaviour names other than {NONE!r} and '', but got {labels}")
    t = _as_names(y_true, "y_true")
    p = _as_names(y_pred, "y_pred")
    if t.shape != p.shape:
        raise ValueError(f"Expected y_true and y_pred of the same length, but got {t.size} and {p.size}")
    index = {b: i for i, b in enumerate(labels)}
    unknown = sorted({v for v in t if v not in index})
    if unknown:
        raise ValueError(f"Expected every y_true value among {labels}, but got {unknown} (drop unlabelled frames)")
    unknown = sorted({v for v in p if v and v not in index and v != NONE})
    if unknown:
        raise ValueError(f"Expected every y_pred value among {labels} or '' (no prediction), but got {unknown}")
    k = len(labels)
    tc = np.fromiter((index[v] for v in t), dtype=np.int64, count=t.size)
    pc = np.fromiter((index.get(v, k) for v in p), dtype=np.int64, count=p.size)
    return tc, pc, labels


def confusion(y_true: Any, y_pred: Any, labels: Sequence[str]) -> pd.DataFrame:
    """Confusion matrix of counts, with an extra column for missing predictions.

    Parameters
    ----------
    y_true : array-like of str, shape (n,)
        Human label of each scored frame (every value one of ``labels``).
    y_pred : array-like of str, shape (n,)
        Predicted label; ``""`` (or None/NaN, or ``"none"``) where there is no prediction.
    labels : sequence of str, length K
        Behaviours, in row/column order.

    Returns
    -------
    pandas.DataFrame, shape (K, K + 1), int64
        Rows = human label (index name ``human``), columns = predicted label plus ``"none"`` (columns name
        ``predicted``). Entry (i, j) counts frames with human label i predicted as j.
    """
    tc, pc, labels = _codes(y_true, y_pred, labels)
    k = len(labels)
    counts = np.bincount(tc * (k + 1) + pc, minlength=k * (k + 1)).reshape(k, k + 1).astype(np.int64)
    return pd.DataFrame(counts, index=pd.Index(labels, name="human"),
                        columns=pd.Index([*labels, NONE], name="predicted"))


def row_normalize(counts: pd.DataFrame) -> pd.DataFrame:
    """Each row of a confusion matrix divided by its sum (the share of each human label's frames); NaN rows
    where a behaviour has no frames."""
    sums = counts.sum(axis=1).to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        values = counts.to_numpy(dtype=np.float64) / sums[:, None]
    return pd.DataFrame(values, index=counts.index, columns=counts.columns)


def _div(num: np.ndarray | float, den: np.ndarray | float) -> np.ndarray:
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _prf_from_counts(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> dict[str, np.ndarray]:
    """Precision, recall, F1, F2 from true-positive, false-positive and false-negative counts (NaN for 0/0)."""
    tp, fp, fn = (np.asarray(a, dtype=np.float64) for a in (tp, fp, fn))
    return {
        "precision": _div(tp, tp + fp),
        "recall": _div(tp, tp + fn),
        "f1": _div(2 * tp, 2 * tp + fp + fn),
        "f2": _div(5 * tp, 5 * tp + 4 * fn + fp),
    }


def per_class_metrics(y_true: Any, y_pred: Any, labels: Sequence[str]) -> pd.DataFrame:
    """Precision, recall, F1 and F2 of each behaviour, one-vs-rest.

    Parameters
    ----------
    y_true, y_pred, labels
        As in :func:`confusion` (``""`` in ``y_pred`` = no prediction: a false negative of the true label).

    Returns
    -------
    pandas.DataFrame, indexed by behaviour (``labels`` order)
        ``precision = TP / (TP + FP)`` (NaN when never predicted), ``recall = TP / (TP + FN)`` (NaN when the
        behaviour is absent from ``y_true``), ``f1 = 2TP / (2TP + FP + FN)``, ``f2 = 5TP / (5TP + 4FN + FP)``
        (NaN only when TP + FP + FN = 0), ``support`` (int, frames with this human label), ``predicted``
        (int, frames predicted as it), ``tp``, ``fp``, ``fn`` (int). These equal scikit-learn's
        ``precision_recall_fscore_support(..., zero_division=np.nan)``.
    """
    cm = confusion(y_true, y_pred, labels).to_numpy()
    k = cm.shape[0]
    tp = np.diag(cm[:, :k]).astype(np.int64)
    support = cm.sum(axis=1)
    predicted = cm[:, :k].sum(axis=0)
    fp, fn = predicted - tp, support - tp
    out = pd.DataFrame(_prf_from_counts(tp, fp, fn), index=pd.Index(list(labels), name="behavior"))
    out["support"] = support.astype(np.int64)
    out["predicted"] = predicted.astype(np.int64)
    out["tp"], out["fp"], out["fn"] = tp, fp.astype(np.int64), fn.astype(np.int64)
    return out


def _square(cm: np.ndarray) -> np.ndarray:
    """(K, K+1) matrix -> (K+1, K+1): 'none' becomes a class that is never the human label."""
    k = cm.shape[0]
    return np.vstack([cm, np.zeros((1, k + 1), dtype=cm.dtype)]).astype(np.float64)


def cohen_kappa(y_true: Any, y_pred: Any, labels: Sequence[str]) -> float:
    """Cohen's kappa between human and predicted labels, ``(p_o - p_e) / (1 - p_e)``.

    ``p_o`` is the observed agreement (accuracy) and ``p_e = sum_k t_k p_k / n^2`` the agreement expected by
    chance from the marginals (``t_k`` human, ``p_k`` predicted counts; no prediction is its own category).
    NaN when ``p_e = 1`` (both raters use one and the same category only) or ``n = 0``.
    """
    return _kappa(_square(confusion(y_true, y_pred, labels).to_numpy()))


def _kappa(c: np.ndarray) -> float:
    n = c.sum()
    if n == 0:
        return float("nan")
    po = np.trace(c) / n
    pe = float((c.sum(axis=1) * c.sum(axis=0)).sum()) / n**2
    return float("nan") if math.isclose(pe, 1.0) else float((po - pe) / (1 - pe))


def mcc(y_true: Any, y_pred: Any, labels: Sequence[str]) -> float:
    """Matthews correlation coefficient for several classes (Gorodkin's R_K), in [-1, 1].

    ``(c n - sum_k p_k t_k) / sqrt((n^2 - sum_k p_k^2) (n^2 - sum_k t_k^2))`` with ``c`` correct, ``n`` all,
    ``t_k``/``p_k`` human/predicted counts per class (no prediction is its own class). NaN when the
    denominator is 0 (one rater uses a single category only); scikit-learn returns 0 there.
    """
    return _mcc(_square(confusion(y_true, y_pred, labels).to_numpy()))


def _mcc(c: np.ndarray) -> float:
    n = c.sum()
    t, p = c.sum(axis=1), c.sum(axis=0)
    cov = np.trace(c) * n - float((t * p).sum())
    den = (n**2 - float((p * p).sum())) * (n**2 - float((t * t).sum()))
    return float("nan") if den <= 0 else float(cov / math.sqrt(den))


def overall_metrics(y_true: Any, y_pred: Any, labels: Sequence[str]) -> dict[str, Any]:
    """Whole-table agreement of one set of frames (or windows).

    Returns
    -------
    dict
        ``n`` (scored items), ``no_prediction`` (items without a prediction), ``accuracy`` (correct / n),
        ``balanced_accuracy`` (mean recall over behaviours present in ``y_true``), ``macro_f1`` (mean F1 over
        behaviours present in ``y_true`` or ``y_pred``), ``macro_f1_behaviors`` (those behaviours),
        ``mcc``, ``kappa``. Ratios are NaN when ``n = 0``.
    """
    cm = confusion(y_true, y_pred, labels)
    return _overall_from_confusion(cm, per_class_from_confusion(cm))


def per_class_from_confusion(cm: pd.DataFrame) -> pd.DataFrame:
    """:func:`per_class_metrics` from a (K, K+1) confusion table of counts."""
    c = cm.to_numpy()
    k = c.shape[0]
    tp = np.diag(c[:, :k]).astype(np.int64)
    support, predicted = c.sum(axis=1), c[:, :k].sum(axis=0)
    out = pd.DataFrame(_prf_from_counts(tp, predicted - tp, support - tp), index=pd.Index(cm.index, name="behavior"))
    out["support"], out["predicted"] = support.astype(np.int64), predicted.astype(np.int64)
    out["tp"], out["fp"], out["fn"] = tp, (predicted - tp).astype(np.int64), (support - tp).astype(np.int64)
    return out


def _overall_from_confusion(cm: pd.DataFrame, pc: pd.DataFrame) -> dict[str, Any]:
    c = cm.to_numpy()
    n = int(c.sum())
    present = [b for b in pc.index if not np.isnan(pc.at[b, "f1"])]
    in_labels = [b for b in pc.index if pc.at[b, "support"] > 0]
    sq = _square(c)
    return {
        "n": n,
        "no_prediction": int(c[:, -1].sum()),
        "accuracy": float(np.trace(c[:, :-1]) / n) if n else float("nan"),
        "balanced_accuracy": float(pc.loc[in_labels, "recall"].mean()) if in_labels else float("nan"),
        "macro_f1": float(pc.loc[present, "f1"].mean()) if present else float("nan"),
        "macro_f1_behaviors": present,
        "mcc": _mcc(sq),
        "kappa": _kappa(sq),
    }


def window_truth(human: Any, start_frame: Any, end_frame: Any, behaviors: Sequence[str]) -> np.ndarray:
    """Human label of each window: the behaviour covering most of the window's labelled frames.

    Parameters
    ----------
    human : array-like of str, shape (n_frames,)
        Per-frame human labels, ``""`` = unlabelled.
    start_frame, end_frame : array-like of int, shape (n_windows,)
        Half-open frame range of each window.
    behaviors : sequence of str
        Class names; ties go to the behaviour listed first.

    Returns
    -------
    numpy.ndarray, shape (n_windows,), object
        Behaviour name, ``""`` for a window with no labelled frame.
    """
    behaviors = list(behaviors)
    h = _as_names(human, "human")
    idx = {b: i for i, b in enumerate(behaviors)}
    codes = np.array([idx.get(v, -1) if v else -1 for v in h], dtype=np.int64)
    bad = [v for v in set(h) if v and v not in idx]
    if bad:
        raise ValueError(f"Expected human labels among {behaviors}, but got {sorted(bad)}")
    onehot = np.zeros((h.size + 1, len(behaviors)), dtype=np.int64)
    lab = codes >= 0
    onehot[1:][lab, codes[lab]] = 1
    cum = np.cumsum(onehot, axis=0)
    s = np.asarray(start_frame, dtype=np.int64)
    e = np.asarray(end_frame, dtype=np.int64)
    counts = cum[e] - cum[s]
    out = np.asarray(behaviors, dtype=object)[np.argmax(counts, axis=1)] if s.size else np.array([], dtype=object)
    out = np.asarray(out, dtype=object)
    out[counts.sum(axis=1) == 0] = ""
    return out


def match_bouts(true_bouts: np.ndarray, pred_bouts: np.ndarray, iou: float) -> list[tuple[int, int, float]]:
    """One-to-one matching of two sets of bouts of one behaviour by intersection over union.

    Parameters
    ----------
    true_bouts, pred_bouts : array-like of int, shape (n, 2)
        Half-open ``[start_frame, end_frame)`` of each bout; bouts within a set do not overlap.
    iou : float
        Smallest intersection over union (in frames) of a match, in (0, 1].

    Returns
    -------
    list of (true index, predicted index, IoU)
        Greedy matching: every pair with IoU >= ``iou`` is taken in order of decreasing IoU (ties: earlier
        human bout, then earlier predicted bout first), skipping bouts already matched.
    """
    t = np.asarray(true_bouts, dtype=np.int64).reshape(-1, 2)
    p = np.asarray(pred_bouts, dtype=np.int64).reshape(-1, 2)
    pairs = []
    order = np.argsort(p[:, 0], kind="stable")
    ps, pe = p[order, 0], p[order, 1]
    for i, (s, e) in enumerate(t):
        lo = int(np.searchsorted(pe, s, side="right"))
        hi = int(np.searchsorted(ps, e, side="left"))
        for jj in range(lo, hi):
            inter = min(e, pe[jj]) - max(s, ps[jj])
            if inter <= 0:
                continue
            union = (e - s) + (pe[jj] - ps[jj]) - inter
            v = inter / union
            if v >= iou - 1e-12:
                pairs.append((-v, i, int(order[jj])))
    pairs.sort()
    used_t: set[int] = set()
    used_p: set[int] = set()
    out = []
    for negv, i, j in pairs:
        if i in used_t or j in used_p:
            continue
        used_t.add(i)
        used_p.add(j)
        out.append((i, j, -negv))
    return out


def bout_metrics(true_labels: Any, pred_labels: Any, behaviors: Sequence[str], iou: float = 0.5) -> pd.DataFrame:
    """Bout-level precision, recall and F1 of each behaviour.

    Bouts are runs of consecutive frames with the same label. Frames the human left unlabelled are taken out
    of both sequences first (they end bouts on both sides), so predictions where nobody scored are not
    counted as false bouts. A predicted and a human bout of the same behaviour match when their intersection
    over union (in frames) is at least ``iou``; matching is one-to-one and greedy by IoU
    (:func:`match_bouts`).

    Parameters
    ----------
    true_labels, pred_labels : array-like of str, shape (n_frames,)
        Per-frame human and predicted labels, ``""`` = unlabelled / no prediction.
    behaviors : sequence of str
        Class names.
    iou : float, default 0.5
        Matching threshold in (0, 1].

    Returns
    -------
    pandas.DataFrame, indexed by behaviour
        ``human_bouts``, ``predicted_bouts``, ``matched`` (int), ``precision = matched / predicted_bouts``,
        ``recall = matched / human_bouts``, ``f1 = 2 matched / (human_bouts + predicted_bouts)`` (NaN for 0/0)
        and ``mean_iou`` of the matched pairs (NaN without a match).
    """
    if not (isinstance(iou, int | float) and 0 < iou <= 1):
        raise ValueError(f"Expected iou in (0, 1], but got {iou!r}")
    behaviors = list(behaviors)
    t = _as_names(true_labels, "true_labels")
    p = _as_names(pred_labels, "pred_labels").copy()
    if t.shape != p.shape:
        raise ValueError(f"Expected true_labels and pred_labels of the same length, but got {t.size} and {p.size}")
    p[t == ""] = ""
    p[p == NONE] = ""
    tb = labels_to_bouts(t, behaviors)
    pb = labels_to_bouts(p, behaviors)
    rows = []
    for b in behaviors:
        tt = tb.loc[tb["behavior"] == b, ["start_frame", "end_frame"]].to_numpy()
        pp = pb.loc[pb["behavior"] == b, ["start_frame", "end_frame"]].to_numpy()
        m = match_bouts(tt, pp, iou)
        rows.append({"human_bouts": len(tt), "predicted_bouts": len(pp), "matched": len(m),
                     "mean_iou": float(np.mean([x[2] for x in m])) if m else float("nan")})
    out = pd.DataFrame(rows, index=pd.Index(behaviors, name="behavior"))
    return _bout_ratios(out)


def _bout_ratios(out: pd.DataFrame) -> pd.DataFrame:
    m, nt, npred = (out[c].to_numpy(dtype=np.float64) for c in ("matched", "human_bouts", "predicted_bouts"))
    out = out.copy()
    out["precision"] = _div(m, npred)
    out["recall"] = _div(m, nt)
    out["f1"] = _div(2 * m, nt + npred)
    cols = ["human_bouts", "predicted_bouts", "matched", "precision", "recall", "f1", "mean_iou"]
    return out[cols]


def percent_time(y_true: Any, y_pred: Any, labels: Sequence[str]) -> pd.DataFrame:
    """Percent of the labelled time spent in each behaviour, by the human and by the predictions.

    Returns
    -------
    pandas.DataFrame, indexed by behaviour plus ``"none"``
        ``human`` and ``predicted`` (percent of the scored frames, 0-100), ``difference`` = predicted - human
        (percentage points). The ``none`` row holds the frames without a prediction (human is 0 there).
        All NaN when there is no scored frame.
    """
    cm = confusion(y_true, y_pred, labels)
    return _percent_from_confusion(cm)


def _percent_from_confusion(cm: pd.DataFrame) -> pd.DataFrame:
    c = cm.to_numpy().astype(np.float64)
    n = c.sum()
    human = np.append(c.sum(axis=1), 0.0)
    pred = c.sum(axis=0)
    out = pd.DataFrame({"human": _div(100 * human, np.full_like(human, n)),
                        "predicted": _div(100 * pred, np.full_like(pred, n))},
                       index=pd.Index([*cm.index, NONE], name="behavior"))
    out["difference"] = out["predicted"] - out["human"]
    return out


def pearson(x: Any, y: Any) -> tuple[float, int, str]:
    """Pearson correlation of two equally long 1-D arrays, ignoring pairs with a NaN.

    Returns
    -------
    (r, n, note)
        ``r`` is NaN with an explanatory ``note`` when fewer than 3 pairs remain or either variable is
        constant; ``note`` is ``""`` otherwise.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    ok = ~(np.isnan(x) | np.isnan(y))
    x, y = x[ok], y[ok]
    n = int(x.size)
    if n < 3:
        return float("nan"), n, f"fewer than 3 videos with labels (n = {n}); no correlation computed"
    dx, dy = x - x.mean(), y - y.mean()
    den = math.sqrt(float((dx * dx).sum()) * float((dy * dy).sum()))
    if den == 0:
        return float("nan"), n, "one of the two percentages is the same in every video; correlation undefined"
    return float(np.clip((dx * dy).sum() / den, -1.0, 1.0)), n, ""


# ------------------------------------------------------------------------------------------------------------
# Scoring a set of videos
# ------------------------------------------------------------------------------------------------------------


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


def _confusion_json(cm: pd.DataFrame) -> dict[str, Any]:
    return {"rows": list(cm.index), "columns": list(cm.columns), "counts": cm.to_numpy().tolist(),
            "row_normalized": row_normalize(cm).to_numpy().tolist()}


def _level_scores(cm: pd.DataFrame) -> dict[str, Any]:
    pc = per_class_from_confusion(cm)
    out = _overall_from_confusion(cm, pc)
    out["per_behavior"] = {b: {k: (int(v) if k in ("support", "predicted", "tp", "fp", "fn") else float(v))
                               for k, v in pc.loc[b].items()} for b in pc.index}
    out["confusion"] = _confusion_json(cm)
    return out


def _score(videos: list[_VideoData], behaviors: list[str], iou: float) -> dict[str, Any]:
    """Pooled frame, window, bout and percent-time scores of a list of videos."""
    k = len(behaviors)
    cm_f = pd.DataFrame(np.zeros((k, k + 1), dtype=np.int64), index=pd.Index(behaviors, name="human"),
                        columns=pd.Index([*behaviors, NONE], name="predicted"))
    cm_w = cm_f.copy()
    bouts = None
    for v in videos:
        lab = v.labelled
        cm_f += confusion(v.human[lab], v.pred[lab], behaviors)
        wt = window_truth(v.human, v.win_start, v.win_end, behaviors)
        wl = wt != ""
        cm_w += confusion(wt[wl], v.win_pred[wl], behaviors)
        b = bout_metrics(v.human, v.pred, behaviors, iou)
        if bouts is None:
            bouts = b[["human_bouts", "predicted_bouts", "matched"]].copy()
            iou_sum = b["mean_iou"].fillna(0) * b["matched"]
        else:
            bouts += b[["human_bouts", "predicted_bouts", "matched"]]
            iou_sum = iou_sum + b["mean_iou"].fillna(0) * b["matched"]
    if bouts is None:
        bouts = pd.DataFrame(0, index=pd.Index(behaviors, name="behavior"),
                             columns=["human_bouts", "predicted_bouts", "matched"])
        iou_sum = pd.Series(0.0, index=bouts.index)
    bouts["mean_iou"] = _div(iou_sum.to_numpy(), bouts["matched"].to_numpy())
    bt = _bout_ratios(bouts)
    bout_json = {b: {c: (int(bt.at[b, c]) if c in ("human_bouts", "predicted_bouts", "matched")
                         else float(bt.at[b, c])) for c in bt.columns} for b in behaviors}
    present = [b for b in behaviors if not np.isnan(bt.at[b, "f1"])]
    pt = _percent_from_confusion(cm_f)
    return {
        "labelled_frames": int(cm_f.to_numpy().sum()),
        "frame": _level_scores(cm_f),
        "window": _level_scores(cm_w),
        "bout": {"per_behavior": bout_json,
                 "macro_f1": float(bt.loc[present, "f1"].mean()) if present else float("nan"),
                 "macro_f1_behaviors": present},
        "percent_time": {b: {c: float(pt.at[b, c]) for c in pt.columns} for b in pt.index},
    }


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


def _load_video(path: Path, label_dir: Path, behaviors_ref: list[str] | None) -> _VideoData:
    vec = read_vector(path)
    win = read_vector_windows(path)
    behaviors = vec.attrs["behaviors"]
    if behaviors_ref is not None and behaviors != behaviors_ref:
        raise VectorFileError(f"{path}: Expected the behaviours {behaviors_ref} of the other files of the run, "
                              f"but got {behaviors}")
    vid = str(vec.attrs.get("video_id") or path.stem)
    n = len(vec)
    label_file = label_dir / f"{vid}.csv"
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
        Everything in ``metrics.json`` (NaN as float NaN here, ``null`` in the file).
    metrics : pandas.DataFrame
        The tidy table of ``metrics.csv``.
    """

    run: str
    folder: Path
    data: dict[str, Any]
    metrics: pd.DataFrame

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
        return pd.DataFrame({lvl: {c: s[lvl][c] for c in cols} for lvl in ("frame", "window")}).T[cols]

    def per_behavior(self, level: str = "frame", scope: str = "all", group: str = "") -> pd.DataFrame:
        """Per-behaviour table of one level (``frame``, ``window``: precision, recall, f1, f2, support,
        predicted; ``bout``: human_bouts, predicted_bouts, matched, precision, recall, f1, mean_iou)."""
        s = self._scores(scope, group)
        return pd.DataFrame(s[level]["per_behavior"]).T.rename_axis("behavior")

    def confusion(self, level: str = "frame", normalized: bool = False) -> pd.DataFrame:
        """Confusion matrix of the whole run (rows human, columns predicted plus ``none``)."""
        c = self.data["overall"][level]["confusion"]
        key = "row_normalized" if normalized else "counts"
        return pd.DataFrame(c[key], index=pd.Index(c["rows"], name="human"),
                            columns=pd.Index(c["columns"], name="predicted"))

    def percent_time(self) -> pd.DataFrame:
        """Per video and behaviour: percent time by the human and the predictions, and their difference."""
        rows = []
        for vid, s in self.data["per_video"].items():
            for b, d in s["percent_time"].items():
                rows.append({"video_id": vid, "behavior": b, **d})
        return pd.DataFrame(rows, columns=["video_id", "behavior", "human", "predicted", "difference"])

    def _scores(self, scope: str, group: str) -> dict[str, Any]:
        if scope == "all":
            return self.data["overall"]
        table = self.data["per_video"] if scope == "video" else self.data["groups"].get(scope)
        if table is None or group not in table:
            raise KeyError(f"Expected a scope among all, video, {', '.join(self.data['groups'])} with a known "
                           f"group, but got {scope!r} / {group!r}")
        return table[group]

    def summary(self) -> str:
        """A short text table: per-behaviour frame-level scores and the overall agreement."""
        pb = self.per_behavior()[["precision", "recall", "f1", "support"]].copy()
        bt = self.per_behavior("bout")["f1"].rename("bout_f1")
        pb = pb.join(bt)
        pb["support"] = pb["support"].astype(int)
        ov = self.overall()
        lines = [f"run {self.run}: {self.data['n_videos_evaluated']} video(s) with labels, "
                 f"{self.data['overall']['labelled_frames']} labelled frames", "",
                 pb.to_string(float_format=lambda v: f"{v:.3f}", na_rep="n/a"), "",
                 ov.to_string(float_format=lambda v: f"{v:.3f}", na_rep="n/a")]
        freeze = self.data.get("freezing_behavior", "freezing")  # metrics.json of older versions: "freezing"
        corr = self.data["correlation"].get(freeze) if freeze is not None else None
        if corr is not None:
            r = corr["r"]
            lines.append("")
            lines.append(f"percent time {freeze}, predicted vs human across videos: Pearson r = "
                         f"{'n/a' if r is None or (isinstance(r, float) and math.isnan(r)) else f'{r:.3f}'} "
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


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, Path):
        return obj.as_posix()
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


# ------------------------------------------------------------------------------------------------------------
# evaluate
# ------------------------------------------------------------------------------------------------------------


def evaluate(
    config: str | os.PathLike,
    run: str | None = None,
    videos: Iterable[str] | None = None,
    by: Sequence[str] | None = None,
    plots: bool = True,
) -> Evaluation:
    """Compare a run's behaviour vectors with the human labels and write ``evaluation/<run>/``.

    Parameters
    ----------
    config : path-like
        config.yaml of the project (or its folder).
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
        The scores (``.data``, ``.metrics``, ``.summary()``) and where they were written.

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
    cfg = _config.load_config(config)
    paths = project_paths(config)
    run = select_run(config, run, cfg)
    folder = paths.vectors(run)
    files = sorted(folder.glob("*.h5"))
    if videos is not None:
        want = [videos] if isinstance(videos, str) else [str(v) for v in videos]
        have = {p.stem: p for p in files}
        missing = [v for v in want if v not in have]
        if missing:
            raise ProjectError(f"{folder}: Expected videos among {sorted(have)}, but got {missing} (no "
                               "behaviour-vector file)")
        files = [have[v] for v in dict.fromkeys(want)]
    by = list(cfg["evaluation"]["by"] if by is None else ([by] if isinstance(by, str) else by))
    bad = [b for b in by if b not in ("subject", "session")]
    if bad:
        raise ProjectError(f"Expected by among subject, session, but got {bad}")
    iou = float(cfg["evaluation"]["bout_iou"])
    if iou <= 0:
        raise ProjectError(f"{_config.config_path(config)}: Expected evaluation.bout_iou > 0, but got {iou}")

    data_list: list[_VideoData] = []
    behaviors: list[str] | None = None
    for p in files:
        v = _load_video(p, paths.labels, behaviors)
        behaviors = behaviors or v.attrs["behaviors"]
        data_list.append(v)
    assert behaviors is not None
    settings, source = _run_settings(folder, data_list[0].attrs)

    notes: list[str] = []
    unlabelled = [v.video_id for v in data_list if v.n_labelled == 0]
    for vid in unlabelled:
        v = next(x for x in data_list if x.video_id == vid)
        why = "no label file" if v.label_file is None else "label file has no labelled frame"
        notes.append(f"video {vid}: not evaluated ({why}, {paths.labels / (vid + '.csv')})")
    scored = [v for v in data_list if v.n_labelled > 0]
    if not scored:
        raise LabelError(f"{paths.labels}: no labelled frame for any video of run {run!r} "
                         f"({', '.join(v.video_id for v in data_list)}); import human labels first "
                         "(labels/<video_id>.csv)")
    cfg_behaviors = _config.behavior_names(cfg)
    if cfg_behaviors != behaviors:
        notes.append(f"the run's behaviours {behaviors} differ from config.yaml's {cfg_behaviors}; scored with "
                     "the run's")

    overall = _score(scored, behaviors, iou)
    per_video = {v.video_id: _score([v], behaviors, iou) for v in scored}
    groups: dict[str, dict[str, Any]] = {}
    for key in by:
        values = sorted({getattr(v, key) for v in scored})
        groups[key] = {val: _score([v for v in scored if getattr(v, key) == val], behaviors, iou)
                       for val in values}
    correlation = {}
    for b in behaviors:
        h = [per_video[v.video_id]["percent_time"][b]["human"] for v in scored]
        pr = [per_video[v.video_id]["percent_time"][b]["predicted"] for v in scored]
        r, n, note = pearson(pr, h)
        correlation[b] = {"r": r, "n": n, "note": note}
    nopred = overall["frame"]["no_prediction"]
    if nopred:
        notes.append(f"{nopred} labelled frame(s) have no prediction (column 'none'); they count as wrong")

    data: dict[str, Any] = {
        "format": METRICS_FORMAT,
        "format_version": METRICS_FORMAT_VERSION,
        "mousefear_version": __version__,
        "run": run,
        "evaluated": _dt.datetime.now(_UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "settings": settings,
        "settings_source": source,
        "behaviors": behaviors,
        "freezing_behavior": cfg["freezing_behavior"],
        "bout_iou": iou,
        "by": by,
        "n_videos": len(data_list),
        "n_videos_evaluated": len(scored),
        "videos": [{"video_id": v.video_id, "subject": v.subject, "session": v.session, "fps": v.fps,
                    "n_frames": v.n_frames, "labelled_frames": v.n_labelled,
                    "status": "evaluated" if v.n_labelled else "no labels",
                    "vector_file": v.vector_file.relative_to(paths.root).as_posix(),
                    "label_file": None if v.label_file is None else v.label_file.relative_to(paths.root).as_posix(),
                    "created": v.attrs.get("created")}
                   for v in data_list],
        "notes": notes,
        "overall": overall,
        "per_video": per_video,
        "groups": groups,
        "correlation": correlation,
    }
    out = paths.evaluation(run)
    out.mkdir(parents=True, exist_ok=True)
    metrics = _tidy(data)
    atomic_write_text(out / "metrics.csv", metrics.to_csv(index=False, float_format="%.6g", lineterminator="\n"))
    atomic_write_text(out / "metrics.json", json.dumps(_json_safe(data), indent=1, allow_nan=False) + "\n")
    result = Evaluation(run=run, folder=out, data=data, metrics=metrics)
    from mousefear.pipeline import report as _report
    from mousefear.pipeline.plots import write_evaluation_plots

    if plots:
        write_evaluation_plots(result, {v.video_id: v for v in data_list})
    else:  # never leave plots of an earlier evaluation next to these numbers
        for old in [out / "confusion.png", out / "percent_time.png", *out.glob("ethogram_*.png")]:
            old.unlink(missing_ok=True)
    _report.write_report(out)
    logger.info("Evaluated run %s on %d video(s); report %s", run, len(scored), out / "report.html")
    return result


# ------------------------------------------------------------------------------------------------------------
# Comparing runs
# ------------------------------------------------------------------------------------------------------------


def _settings_columns(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Flat description of a run's settings for the comparison table (tolerant of run.json layouts)."""
    s = dict(settings)
    nested = s.get("settings") if isinstance(s.get("settings"), Mapping) else {}
    cls = s.get("classification") if isinstance(s.get("classification"), Mapping) else {}

    def pick(*keys: str) -> Any:
        for src in (s, nested, cls):
            for k in keys:
                if k in src and src[k] is not None:
                    return src[k]
        return None

    icl = pick("icl_example_ids")
    prep = pick("preprocessing")
    if isinstance(prep, Mapping):
        prep = ", ".join(f"{k}={v}" for k, v in prep.items())
    return {
        "backend": pick("backend"),
        "model": pick("model_id", "model"),
        "prompt": pick("prompt", "prompt_name"),
        "prompt_hash": pick("prompt_hash"),
        "icl_per_class": pick("icl_per_class"),
        "icl_examples": len(icl) if isinstance(icl, list) else None,
        "preprocessing": prep,
    }


def compare_runs(config: str | os.PathLike, runs: Sequence[str] | None = None) -> pd.DataFrame:
    """Put the evaluated runs of a project side by side (the form of an ablation table).

    Parameters
    ----------
    config : path-like
        config.yaml of the project (or its folder).
    runs : sequence of str, optional
        Runs to compare, in this order. Default: every run with ``evaluation/<run>/metrics.json``, by name.
        A named run that has behaviour vectors but no evaluation yet is evaluated first (default settings).

    Returns
    -------
    pandas.DataFrame, one row per run (index ``run``)
        Settings columns ``backend, model, prompt, prompt_hash, icl_per_class, icl_examples, preprocessing``,
        then frame-level ``f1_<behaviour>`` for every behaviour, ``macro_f1, mcc, kappa, accuracy,
        balanced_accuracy``, window-level ``window_macro_f1``, bout-level ``bout_macro_f1``, and
        ``n_videos, labelled_frames, evaluated``. Also written to ``evaluation/comparison.csv``, drawn in
        ``evaluation/comparison.png``, and added as a section to each compared run's ``report.html``.

    Raises
    ------
    mousefear.errors.ProjectError
        No evaluated run, or a named run that is neither evaluated nor classified.
    """
    paths = project_paths(config)
    base = paths.evaluation()
    evaluated = sorted(p.parent.name for p in base.glob("*/metrics.json")) if base.is_dir() else []
    if runs is None:
        if not evaluated:
            raise ProjectError(f"{base}: no evaluated run (evaluation/<run>/metrics.json); run "
                               "mousefear.evaluate first")
        runs = evaluated
    else:
        runs = [runs] if isinstance(runs, str) else list(dict.fromkeys(runs))
        available = sorted(set(evaluated) | set(list_runs(config)))
        for r in runs:
            if r not in evaluated:
                if r not in available:
                    raise ProjectError(f"Expected runs among {available or 'none'}, but got {r!r}")
                logger.info("Run %s has no evaluation yet: evaluating it", r)
                evaluate(config, run=r)
    rows = []
    all_behaviors: list[str] = []
    for r in runs:
        p = base / r / "metrics.json"
        try:
            d = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ProjectError(f"{p}: Expected a metrics file written by mousefear.evaluate, but it cannot be "
                               f"read ({exc})") from None
        if d.get("format") != METRICS_FORMAT:
            raise ProjectError(f"{p}: Expected format {METRICS_FORMAT!r}, but got {d.get('format')!r}")
        for b in d["behaviors"]:
            if b not in all_behaviors:
                all_behaviors.append(b)
        fr = d["overall"]["frame"]
        row: dict[str, Any] = {"run": r, **_settings_columns(d.get("settings") or {})}
        for b in d["behaviors"]:
            row[f"f1_{b}"] = fr["per_behavior"][b]["f1"]
        row.update({
            "macro_f1": fr["macro_f1"], "mcc": fr["mcc"], "kappa": fr["kappa"], "accuracy": fr["accuracy"],
            "balanced_accuracy": fr["balanced_accuracy"], "window_macro_f1": d["overall"]["window"]["macro_f1"],
            "bout_macro_f1": d["overall"]["bout"]["macro_f1"], "n_videos": d["n_videos_evaluated"],
            "labelled_frames": d["overall"]["labelled_frames"], "evaluated": d["evaluated"],
        })
        rows.append(row)
    table = pd.DataFrame(rows)
    settings_cols = ["backend", "model", "prompt", "prompt_hash", "icl_per_class", "icl_examples", "preprocessing"]
    metric_cols = [f"f1_{b}" for b in all_behaviors] + [
        "macro_f1", "mcc", "kappa", "accuracy", "balanced_accuracy", "window_macro_f1", "bout_macro_f1"]
    table = table.reindex(columns=["run", *settings_cols, *metric_cols, "n_videos", "labelled_frames", "evaluated"])
    for c in metric_cols:
        table[c] = pd.to_numeric(table[c], errors="coerce").astype(np.float64)
    table = table.set_index("run")
    if table["labelled_frames"].nunique() > 1 or table["n_videos"].nunique() > 1:
        logger.warning("The compared runs were scored on different sets of labelled frames (%s); their "
                       "metrics are not strictly comparable",
                       ", ".join(f"{r}: {n}" for r, n in table["labelled_frames"].items()))
    base.mkdir(parents=True, exist_ok=True)
    atomic_write_text(base / "comparison.csv", table.to_csv(float_format="%.6g", lineterminator="\n"))
    from mousefear.pipeline import report as _report
    from mousefear.pipeline.plots import write_comparison_plot

    write_comparison_plot(table, base / "comparison.png")
    for r in runs:
        _report.write_report(base / r, comparison=table)
    logger.info("Compared %d run(s): %s", len(runs), base / "comparison.csv")
    return table
