"""The metric functions of mousefear.pipeline.metrics against scikit-learn, numpy and hand computations."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from mousefear.pipeline.metrics import (
    bout_metrics,
    cohen_kappa,
    confusion,
    macro_f1,
    match_bouts,
    mcc,
    overall_metrics,
    pearson,
    per_class_metrics,
    percent_time,
    pooled_bout_metrics,
    row_normalize,
    window_truth,
)

B = ["freezing", "exploring", "grooming", "rearing", "fleeing"]


def _random_case(seed: int, n: int = 400):
    rng = np.random.default_rng(seed)
    # rearing never in the labels; fleeing never predicted; some predictions missing
    y_true = rng.choice(["freezing", "exploring", "grooming", "fleeing"], size=n, p=[0.4, 0.4, 0.15, 0.05])
    y_pred = np.where(rng.random(n) < 0.6, y_true, rng.choice(["freezing", "exploring", "grooming", "rearing"], n))
    y_pred = y_pred.astype(object)
    y_pred[y_pred == "fleeing"] = "exploring"
    y_pred[rng.random(n) < 0.05] = ""
    return y_true.astype(object), y_pred


def _sk(y_pred):
    return np.where(y_pred == "", "none", y_pred)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_per_class_metrics_match_sklearn(seed):
    y_true, y_pred = _random_case(seed)
    got = per_class_metrics(y_true, y_pred, B)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p, r, f1, s = skm.precision_recall_fscore_support(y_true, _sk(y_pred), labels=B, zero_division=np.nan)
        _, _, f2, _ = skm.precision_recall_fscore_support(y_true, _sk(y_pred), labels=B, beta=2,
                                                          zero_division=np.nan)
    np.testing.assert_allclose(got["precision"], p, equal_nan=True)
    np.testing.assert_allclose(got["recall"], r, equal_nan=True)
    np.testing.assert_allclose(got["f1"], f1, equal_nan=True)
    np.testing.assert_allclose(got["f2"], f2, equal_nan=True)
    assert got["support"].tolist() == s.tolist()
    # rearing: predicted but absent from labels -> precision 0, recall undefined, F1 0
    assert got.at["rearing", "precision"] == 0 and math.isnan(got.at["rearing", "recall"])
    assert got.at["rearing", "f1"] == 0
    # fleeing: in labels, never predicted -> precision undefined, recall 0, F1 0
    assert math.isnan(got.at["fleeing", "precision"]) and got.at["fleeing", "recall"] == 0
    assert got.at["fleeing", "f1"] == 0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_overall_metrics_match_sklearn(seed):
    y_true, y_pred = _random_case(seed)
    got = overall_metrics(y_true, y_pred, B)
    sk_pred = _sk(y_pred)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        present = sorted(set(y_true) | (set(y_pred) - {""}))
        assert got["macro_f1"] == pytest.approx(skm.f1_score(y_true, sk_pred, labels=present, average="macro"))
        assert got["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y_true, sk_pred))
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(y_true, sk_pred))
    assert got["mcc"] == pytest.approx(skm.matthews_corrcoef(y_true, sk_pred))
    assert got["kappa"] == pytest.approx(skm.cohen_kappa_score(y_true, sk_pred))
    assert mcc(y_true, y_pred, B) == pytest.approx(skm.matthews_corrcoef(y_true, sk_pred))
    assert cohen_kappa(y_true, y_pred, B) == pytest.approx(skm.cohen_kappa_score(y_true, sk_pred))
    assert got["no_prediction"] == int((y_pred == "").sum())
    assert got["n"] == y_true.size
    assert set(got["macro_f1_behaviors"]) == set(present)


def test_confusion_matches_sklearn_with_none_column():
    y_true, y_pred = _random_case(5)
    cm = confusion(y_true, y_pred, B)
    sk = skm.confusion_matrix(y_true, _sk(y_pred), labels=[*B, "none"])
    assert cm.columns.tolist() == [*B, "none"] and cm.index.tolist() == B
    np.testing.assert_array_equal(cm.to_numpy(), sk[: len(B)])


def test_metrics_by_hand_small_case():
    # 6 frames: F F F E E L ; predicted F E "" E E E
    y_true = ["freezing", "freezing", "freezing", "exploring", "exploring", "fleeing"]
    y_pred = ["freezing", "exploring", "", "exploring", "exploring", "exploring"]
    pc = per_class_metrics(y_true, y_pred, B)
    assert pc.at["freezing", "precision"] == 1.0
    assert pc.at["freezing", "recall"] == pytest.approx(1 / 3)
    assert pc.at["freezing", "f1"] == pytest.approx(2 * 1 / (2 * 1 + 0 + 2))  # 0.5
    assert pc.at["freezing", "f2"] == pytest.approx(5 * 1 / (5 * 1 + 4 * 2 + 0))  # 5/13
    assert pc.at["exploring", "precision"] == pytest.approx(2 / 4)
    assert pc.at["exploring", "recall"] == 1.0
    assert pc.at["exploring", "f1"] == pytest.approx(4 / 6)
    assert pc.at["fleeing", "f1"] == 0 and math.isnan(pc.at["fleeing", "precision"])
    for b in ("grooming", "rearing"):  # in neither labels nor predictions
        assert pc.loc[b, ["precision", "recall", "f1", "f2"]].isna().all()
        assert pc.at[b, "support"] == 0 and pc.at[b, "predicted"] == 0
    ov = overall_metrics(y_true, y_pred, B)
    assert ov["accuracy"] == pytest.approx(3 / 6)
    assert ov["macro_f1"] == pytest.approx((0.5 + 4 / 6 + 0) / 3)
    assert ov["macro_f1_behaviors"] == ["freezing", "exploring", "fleeing"]
    assert ov["balanced_accuracy"] == pytest.approx((1 / 3 + 1 + 0) / 3)
    # kappa by hand: p_o = 1/2; human counts F3 E2 L1, predicted F1 E4 none1 -> p_e = (3*1 + 2*4) / 36
    pe = 11 / 36
    assert ov["kappa"] == pytest.approx((0.5 - pe) / (1 - pe))
    # MCC by hand: c=3, n=6, sum t*p = 11, sum p^2 = 1+16+1 = 18, sum t^2 = 9+4+1 = 14
    assert ov["mcc"] == pytest.approx((3 * 6 - 11) / math.sqrt((36 - 18) * (36 - 14)))
    pt = percent_time(y_true, y_pred, B)
    assert pt.at["freezing", "human"] == pytest.approx(50.0)
    assert pt.at["freezing", "predicted"] == pytest.approx(100 / 6)
    assert pt.at["freezing", "difference"] == pytest.approx(100 / 6 - 50)
    assert pt.at["none", "predicted"] == pytest.approx(100 / 6) and pt.at["none", "human"] == 0


def test_degenerate_cases_are_nan_not_errors():
    one = ["freezing"] * 4
    ov = overall_metrics(one, one, B)
    assert ov["accuracy"] == 1.0 and ov["macro_f1"] == 1.0
    assert math.isnan(ov["mcc"]) and math.isnan(ov["kappa"])  # one category only: undefined
    empty = overall_metrics([], [], B)
    assert empty["n"] == 0
    for k in ("accuracy", "balanced_accuracy", "macro_f1", "mcc", "kappa"):
        assert math.isnan(empty[k])
    assert per_class_metrics([], [], B)["f1"].isna().all()


def test_metric_inputs_are_checked():
    with pytest.raises(ValueError, match="drop unlabelled frames"):
        per_class_metrics(["freezing", ""], ["freezing", "freezing"], B)
    with pytest.raises(ValueError, match="same length"):
        confusion(["freezing"], ["freezing", "freezing"], B)
    with pytest.raises(ValueError, match="dancing"):
        confusion(["freezing"], ["dancing"], B)


def test_match_bouts_greedy_one_to_one():
    # one human bout [0, 10) overlaps predicted [0, 6) (IoU .6) and [6, 10) (IoU .4) -> one match only
    assert match_bouts([[0, 10]], [[0, 6], [6, 10]], 0.3) == [(0, 0, pytest.approx(0.6))]
    # greedy by IoU: predicted [2, 12) has IoU 8/12 with [0, 10) and 2/18... against [10, 20): 2/10 -> goes to first
    m = match_bouts([[0, 10], [10, 20]], [[2, 12], [11, 20]], 0.5)
    assert sorted((i, j) for i, j, _ in m) == [(0, 0), (1, 1)]
    assert match_bouts([[0, 10]], [[5, 15]], 0.5) == []  # IoU 5/15
    assert match_bouts([[0, 10]], [[0, 5]], 0.5) == [(0, 0, 0.5)]  # exactly the threshold matches
    assert match_bouts(np.zeros((0, 2)), [[0, 5]], 0.5) == []


def test_bout_metrics_by_hand():
    t = np.array(["freezing"] * 10 + ["exploring"] * 10 + [""] * 5 + ["freezing"] * 5, dtype=object)
    p = np.array(["freezing"] * 4 + ["exploring"] * 16 + ["freezing"] * 5 + ["freezing"] * 5, dtype=object)
    bm = bout_metrics(t, p, B, iou=0.5)
    # freezing: human [0,10), [25,30); predicted [0,4) (IoU .4, no match), [25,30) (the predicted bout
    # [20,30) is cut at the unlabelled frames 20-24, so only [25,30) counts) -> 1 of 2, 1 of 2
    assert bm.loc["freezing", ["human_bouts", "predicted_bouts", "matched"]].tolist() == [2, 2, 1]
    assert bm.at["freezing", "f1"] == pytest.approx(0.5)
    assert bm.at["freezing", "mean_iou"] == pytest.approx(1.0)
    # exploring: human [10,20); predicted [4,20) IoU 10/16 -> match
    assert bm.loc["exploring", ["human_bouts", "predicted_bouts", "matched"]].tolist() == [1, 1, 1]
    assert bm.at["exploring", "mean_iou"] == pytest.approx(10 / 16)
    assert bm.loc["rearing", ["precision", "recall", "f1"]].isna().all()
    assert bout_metrics(t, p, B, iou=0.7).at["exploring", "matched"] == 0
    with pytest.raises(ValueError, match="iou"):
        bout_metrics(t, p, B, iou=0)


def test_window_truth_majority_ties_and_unlabelled():
    human = np.array(["freezing", "exploring", "exploring", "", "freezing", "exploring", "", ""], dtype=object)
    got = window_truth(human, [0, 2, 4, 6], [4, 4, 6, 8], B)
    # [0,4): F1 E2 -> exploring; [2,4): E1 -> exploring; [4,6): F1 E1 tie -> freezing (listed first); [6,8): none
    assert got.tolist() == ["exploring", "exploring", "freezing", ""]
    # whole: only windows whose every frame is labelled ([0,4) and [6,8) have an unlabelled frame)
    assert window_truth(human, [0, 1, 4, 6], [4, 3, 6, 8], B, whole=True).tolist() == ["", "exploring", "freezing",
                                                                                       ""]


def test_pearson_matches_numpy_and_explains_nan():
    x, y = [10.0, 20.0, 35.0, 50.0], [12.0, 18.0, 40.0, 45.0]
    r, n, note = pearson(x, y)
    assert r == pytest.approx(np.corrcoef(x, y)[0, 1]) and n == 4 and note == ""
    r, n, note = pearson([1.0, 2.0], [1.0, 3.0])
    assert math.isnan(r) and n == 2 and "fewer than 3" in note
    r, n, note = pearson([1.0, 1.0, 1.0], [1.0, 2.0, 3.0])
    assert math.isnan(r) and "same in every video" in note
    r, n, _ = pearson([1.0, np.nan, 2.0, 4.0], [2.0, 5.0, 3.0, 7.0])
    assert n == 3


def test_pooled_bout_metrics_sum_counts_and_weigh_iou_by_matches():
    # video 1: freezing human [0,10), predicted [0,8) (IoU .8); exploring human [10,20), predicted [8,20) (10/12)
    t1 = np.array(["freezing"] * 10 + ["exploring"] * 10, dtype=object)
    p1 = np.array(["freezing"] * 8 + ["exploring"] * 12, dtype=object)
    # video 2: freezing human [0,4) and [6,10) (frames 4-5 unlabelled), predicted [0,4) and [6,8) (IoU 1 and .5)
    t2 = np.array(["freezing"] * 4 + [""] * 2 + ["freezing"] * 4, dtype=object)
    p2 = np.array(["freezing"] * 4 + ["exploring"] * 2 + ["freezing"] * 2 + ["exploring"] * 2, dtype=object)
    a, b = bout_metrics(t1, p1, B, iou=0.5), bout_metrics(t2, p2, B, iou=0.5)
    pooled = pooled_bout_metrics([a, b], B)
    assert pooled.columns.tolist() == a.columns.tolist() and pooled.index.tolist() == B
    assert pooled.loc["freezing", ["human_bouts", "predicted_bouts", "matched"]].tolist() == [3, 3, 3]
    assert pooled.at["freezing", "mean_iou"] == pytest.approx((0.8 + 1.0 + 0.5) / 3)
    # video 2's exploring predictions [8,10) are a bout of their own; frames 4-5 are unlabelled, not counted
    assert pooled.loc["exploring", ["human_bouts", "predicted_bouts", "matched"]].tolist() == [1, 2, 1]
    assert pooled.at["exploring", "precision"] == 0.5 and pooled.at["exploring", "recall"] == 1.0
    assert pooled.at["exploring", "f1"] == pytest.approx(2 / 3)
    assert pooled.at["exploring", "mean_iou"] == pytest.approx(10 / 12)
    assert pooled.loc["rearing", ["precision", "recall", "f1", "mean_iou"]].isna().all()
    assert pooled[["human_bouts", "predicted_bouts", "matched"]].dtypes.tolist() == [np.int64] * 3
    # one video pooled is that video's table; no video gives zero counts and NaN ratios
    pd.testing.assert_frame_equal(pooled_bout_metrics([a], B), a, check_dtype=False)
    empty = pooled_bout_metrics([], B)
    assert (empty[["human_bouts", "predicted_bouts", "matched"]] == 0).all().all()
    assert empty[["precision", "recall", "f1", "mean_iou"]].isna().all().all()


def test_macro_f1_over_defined_behaviours_only():
    table = pd.DataFrame({"f1": [0.5, np.nan, 0.0, 1.0]}, index=["a", "b", "c", "d"])
    assert macro_f1(table) == (pytest.approx(0.5), ["a", "c", "d"])
    value, present = macro_f1(table.loc[["b"]])
    assert math.isnan(value) and present == []


def test_row_normalize_shares_and_nan_rows():
    cm = confusion(["freezing", "freezing", "freezing", "exploring"], ["freezing", "exploring", "", "exploring"],
                   ["freezing", "exploring", "grooming"])
    share = row_normalize(cm)
    assert share.loc["freezing"].tolist() == pytest.approx([1 / 3, 1 / 3, 0, 1 / 3])
    assert share.loc["exploring"].tolist() == [0.0, 1.0, 0.0, 0.0]
    assert share.loc["grooming"].isna().all()
    assert share.index.tolist() == cm.index.tolist() and share.columns.tolist() == cm.columns.tolist()
