"""Agreement between human and predicted labels: plain functions of arrays (no files, no project).

Every function here takes label arrays (or a confusion table of counts) and returns numbers or a table; the
tests check them against scikit-learn and hand computations. :mod:`mousefear.pipeline.evaluate` applies them
to the files of a run.

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

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from mousefear.core.intervals import labels_to_bouts

__all__ = [
    "NONE",
    "bout_metrics",
    "cohen_kappa",
    "confusion",
    "expected_calibration_error",
    "macro_f1",
    "match_bouts",
    "mcc",
    "overall_from_confusion",
    "overall_metrics",
    "pearson",
    "per_class_from_confusion",
    "per_class_metrics",
    "percent_from_confusion",
    "percent_time",
    "pooled_bout_metrics",
    "reliability_table",
    "row_normalize",
    "window_truth",
]

NONE = "none"
"""Name of the confusion-matrix column that counts frames or windows without a prediction."""

#: Integer columns of the per-behaviour tables (frame and window level, bout level).
COUNT_COLUMNS = ("support", "predicted", "tp", "fp", "fn")
BOUT_COUNT_COLUMNS = ("human_bouts", "predicted_bouts", "matched")


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


# ------------------------------------------------------------------------------------------------------------
# Confusion matrix and the scores derived from it
# ------------------------------------------------------------------------------------------------------------


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
    """``num / den`` element-wise, NaN where ``den`` is 0."""
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
    return per_class_from_confusion(confusion(y_true, y_pred, labels))


def per_class_from_confusion(cm: pd.DataFrame) -> pd.DataFrame:
    """:func:`per_class_metrics` from a (K, K+1) confusion table of counts (as from :func:`confusion`)."""
    c = cm.to_numpy()
    k = c.shape[0]
    tp = np.diag(c[:, :k]).astype(np.int64)
    support, predicted = c.sum(axis=1), c[:, :k].sum(axis=0)
    fp, fn = predicted - tp, support - tp
    out = pd.DataFrame(_prf_from_counts(tp, fp, fn), index=pd.Index(cm.index, name="behavior"))
    out["support"], out["predicted"] = support.astype(np.int64), predicted.astype(np.int64)
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


def macro_f1(per_behavior: pd.DataFrame) -> tuple[float, list[str]]:
    """Mean F1 over the behaviours whose F1 is defined (present in the labels or the predictions).

    Parameters
    ----------
    per_behavior : pandas.DataFrame
        A per-behaviour table with column ``f1`` (:func:`per_class_metrics`, :func:`bout_metrics`).

    Returns
    -------
    (macro F1, behaviours averaged)
        NaN and ``[]`` when no behaviour has an F1.
    """
    present = [b for b in per_behavior.index if not np.isnan(per_behavior.at[b, "f1"])]
    return (float(per_behavior.loc[present, "f1"].mean()) if present else float("nan")), present


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
    return overall_from_confusion(cm, per_class_from_confusion(cm))


def overall_from_confusion(cm: pd.DataFrame, per_behavior: pd.DataFrame) -> dict[str, Any]:
    """:func:`overall_metrics` from a (K, K+1) confusion table and its :func:`per_class_from_confusion`."""
    c = cm.to_numpy()
    n = int(c.sum())
    in_labels = [b for b in per_behavior.index if per_behavior.at[b, "support"] > 0]
    macro, present = macro_f1(per_behavior)
    sq = _square(c)
    return {
        "n": n,
        "no_prediction": int(c[:, -1].sum()),
        "accuracy": float(np.trace(c[:, :-1]) / n) if n else float("nan"),
        "balanced_accuracy": float(per_behavior.loc[in_labels, "recall"].mean()) if in_labels else float("nan"),
        "macro_f1": macro,
        "macro_f1_behaviors": present,
        "mcc": _mcc(sq),
        "kappa": _kappa(sq),
    }


# ------------------------------------------------------------------------------------------------------------
# Windows, bouts, percent time, correlation
# ------------------------------------------------------------------------------------------------------------


def window_truth(human: Any, start_frame: Any, end_frame: Any, behaviors: Sequence[str], *,
                 whole: bool = False) -> np.ndarray:
    """Human label of each window: the behaviour covering most of the window's labelled frames.

    Parameters
    ----------
    human : array-like of str, shape (n_frames,)
        Per-frame human labels, ``""`` = unlabelled.
    start_frame, end_frame : array-like of int, shape (n_windows,)
        Half-open frame range of each window.
    behaviors : sequence of str
        Class names; ties go to the behaviour listed first.
    whole : bool
        Only windows whose every frame is labelled (the scored windows) get a behaviour.

    Returns
    -------
    numpy.ndarray, shape (n_windows,), object
        Behaviour name, ``""`` for a window with no labelled frame (with ``whole``: with an unlabelled frame).
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
    out[(counts.sum(axis=1) < np.maximum(e - s, 1)) if whole else (counts.sum(axis=1) == 0)] = ""
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


def pooled_bout_metrics(tables: Sequence[pd.DataFrame], behaviors: Sequence[str]) -> pd.DataFrame:
    """Bout-level scores of several videos together, from each video's :func:`bout_metrics`.

    Bout and match counts are summed; ``mean_iou`` is the mean over every matched pair of every video (each
    video's mean weighted by its matches); precision, recall and F1 follow from the sums. No table gives
    zero counts (ratios NaN).

    Returns
    -------
    pandas.DataFrame, indexed by behaviour
        The columns of :func:`bout_metrics`.
    """
    index = pd.Index(list(behaviors), name="behavior")
    counts = pd.DataFrame(0, index=index, columns=list(BOUT_COUNT_COLUMNS), dtype=np.int64)
    iou_sum = pd.Series(0.0, index=index)
    for t in tables:
        counts += t[list(BOUT_COUNT_COLUMNS)]
        iou_sum = iou_sum + t["mean_iou"].fillna(0) * t["matched"]
    counts["mean_iou"] = _div(iou_sum.to_numpy(), counts["matched"].to_numpy())
    return _bout_ratios(counts)


def _bout_ratios(out: pd.DataFrame) -> pd.DataFrame:
    m, nt, npred = (out[c].to_numpy(dtype=np.float64) for c in ("matched", "human_bouts", "predicted_bouts"))
    out = out.copy()
    out["precision"] = _div(m, npred)
    out["recall"] = _div(m, nt)
    out["f1"] = _div(2 * m, nt + npred)
    cols = [*BOUT_COUNT_COLUMNS, "precision", "recall", "f1", "mean_iou"]
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
    return percent_from_confusion(confusion(y_true, y_pred, labels))


def percent_from_confusion(cm: pd.DataFrame) -> pd.DataFrame:
    """:func:`percent_time` from a (K, K+1) confusion table of counts."""
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


#: Fewest videos for a correlation of percent time across videos to be shown as evidence.
MIN_CORRELATION_N = 5


def correlation_evidence(predicted: Any, human: Any, min_n: int = MIN_CORRELATION_N) -> tuple[bool, str]:
    """Whether a correlation of percent time across videos can be shown as evidence of agreement, and why not.

    Parameters
    ----------
    predicted, human : array-like, shape (n_videos,)
        Percent time (0-100) of one behaviour per video; pairs with a NaN are left out.
    min_n : int
        Fewest videos.

    Returns
    -------
    (bool, str)
        False with the reason when fewer than ``min_n`` videos remain, when more than half of them have 0 % in
        the human labels or in the predictions (the correlation then rests on the few others), or when the
        correlation is undefined; True and ``""`` otherwise.
    """
    x = np.asarray(predicted, dtype=np.float64)
    y = np.asarray(human, dtype=np.float64)
    ok = ~(np.isnan(x) | np.isnan(y))
    x, y = x[ok], y[ok]
    n = int(x.size)
    if n < min_n:
        return False, f"n = {n} video(s): too few for a correlation to be evidence (at least {min_n} needed)"
    zero_h, zero_p = int((y == 0).sum()), int((x == 0).sum())
    if 2 * zero_h > n or 2 * zero_p > n:
        who, count = ("human labels", zero_h) if 2 * zero_h > n else ("predictions", zero_p)
        return False, (f"{count} of {n} videos have 0 % in the {who}: the correlation rests on the few others "
                       "and is not evidence")
    r, _, note = pearson(x, y)
    if math.isnan(r):
        return False, note
    return True, ""


# ------------------------------------------------------------------------------------------------ calibration
#: Bins of the expected calibration error: equal-width bins of the top probability over (0, 1].
ECE_BINS = 15


def reliability_table(probabilities: Any, labels: Any, n_bins: int = ECE_BINS) -> pd.DataFrame:
    """Top-label confidence against accuracy, in equal-width bins (the table behind a reliability diagram).

    Parameters
    ----------
    probabilities : array-like of float, shape (n, n_behaviors)
        Probability per behaviour of each window (rows without NaN).
    labels : array-like of int, shape (n,)
        Index of the true behaviour of each window.
    n_bins : int
        Bins ``((b - 1) / n_bins, b / n_bins]`` for ``b = 1 .. n_bins``.

    Returns
    -------
    pandas.DataFrame, one row per bin
        ``lower``, ``upper`` (the bin's edges), ``n`` (windows whose top probability falls in it),
        ``confidence`` (their mean top probability) and ``accuracy`` (the fraction whose top behaviour is the true
        one); NaN for an empty bin. The top behaviour of a tie is the first listed.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    if p.ndim != 2 or p.shape[0] != y.size:
        raise ValueError(f"Expected (n, n_behaviors) probabilities and n labels, but got {p.shape} and {y.shape}")
    conf = p.max(axis=1) if y.size else np.zeros(0)
    correct = (p.argmax(axis=1) == y) if y.size else np.zeros(0, dtype=bool)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.ceil(conf * n_bins).astype(np.int64) - 1, 0, n_bins - 1)
    rows = []
    for b in range(n_bins):
        m = which == b
        rows.append({"lower": edges[b], "upper": edges[b + 1], "n": int(m.sum()),
                     "confidence": float(conf[m].mean()) if m.any() else math.nan,
                     "accuracy": float(correct[m].mean()) if m.any() else math.nan})
    return pd.DataFrame(rows)


def expected_calibration_error(probabilities: Any, labels: Any, n_bins: int = ECE_BINS) -> float:
    """Expected calibration error of the top label: ``sum_b (n_b / n) * |accuracy_b - confidence_b|``.

    The windows are put in ``n_bins`` equal-width bins of their top probability (:func:`reliability_table`);
    each bin weighs by its share of the windows. 0 = the top probabilities are as often right as they claim.

    Parameters
    ----------
    probabilities : array-like of float, shape (n, n_behaviors)
    labels : array-like of int, shape (n,)
    n_bins : int

    Returns
    -------
    float
        In [0, 1]; NaN when there is no window.
    """
    t = reliability_table(probabilities, labels, n_bins)
    n = int(t["n"].sum())
    if n == 0:
        return math.nan
    full = t[t["n"] > 0]
    return float((full["n"] / n * (full["accuracy"] - full["confidence"]).abs()).sum())
