"""AUROC / AUPR against scikit-learn, hand-made answers and degenerate input."""

from __future__ import annotations

import numpy as np
import pytest
from anomaly3d.metrics import (
    O_AUPR,
    O_AUROC,
    P_AUPR,
    P_AUPR_PER_SAMPLE,
    P_AUROC,
    P_AUROC_PER_SAMPLE,
    MetricWarning,
    aupr,
    auroc,
    object_level_metrics,
    point_level_metrics,
    precision_recall_curve,
    roc_curve,
)
from sklearn import metrics as skm


def _random_case(rng: np.random.Generator, n: int, decimals: int | None, p_pos: float):
    y = (rng.random(n) < p_pos).astype(np.int64)
    y[0], y[1] = 0, 1  # both classes present
    s = rng.normal(size=n) + 0.7 * y
    if decimals is not None:  # coarse rounding creates many ties, also across the classes
        s = np.round(s, decimals)
    return y, s


@pytest.mark.parametrize("n", [2, 7, 100, 5000])
@pytest.mark.parametrize("decimals", [None, 1, 0])
@pytest.mark.parametrize("p_pos", [0.03, 0.5, 0.9])
def test_auroc_aupr_match_sklearn(n, decimals, p_pos):
    rng = np.random.default_rng(n * 100 + (decimals or 7) * 10 + int(p_pos * 10))
    y, s = _random_case(rng, n, decimals, p_pos)
    assert abs(auroc(y, s) - skm.roc_auc_score(y, s)) < 1e-12
    assert abs(aupr(y, s) - skm.average_precision_score(y, s)) < 1e-12


def test_large_pooled_points_match_sklearn():
    rng = np.random.default_rng(1)
    y, s = _random_case(rng, 300_000, 3, 0.02)
    s = s.astype(np.float32)  # the dtype methods usually return
    assert abs(auroc(y, s) - skm.roc_auc_score(y, s)) < 1e-12
    assert abs(aupr(y, s) - skm.average_precision_score(y, s)) < 1e-12


def test_label_dtypes_and_shapes_are_accepted():
    rng = np.random.default_rng(2)
    y, s = _random_case(rng, 60, 1, 0.4)
    ref = skm.roc_auc_score(y, s)
    assert auroc(y.astype(bool), s) == pytest.approx(ref, abs=1e-12)
    assert auroc(y.astype(np.float32), s) == pytest.approx(ref, abs=1e-12)
    assert auroc(y.reshape(6, 10), s.reshape(6, 10)) == pytest.approx(ref, abs=1e-12)  # masks and maps


def test_curves_match_sklearn():
    rng = np.random.default_rng(3)
    y, s = _random_case(rng, 400, 1, 0.3)
    fpr, tpr, thr = roc_curve(y, s)
    fpr2, tpr2, thr2 = skm.roc_curve(y, s, drop_intermediate=False)
    np.testing.assert_allclose(fpr, fpr2, atol=1e-15)
    np.testing.assert_allclose(tpr, tpr2, atol=1e-15)
    np.testing.assert_array_equal(thr, thr2)
    p, r, t = precision_recall_curve(y, s)
    p2, r2, t2 = skm.precision_recall_curve(y, s)
    np.testing.assert_allclose(p, p2, atol=1e-15)
    np.testing.assert_allclose(r, r2, atol=1e-15)
    np.testing.assert_array_equal(t, t2)


def test_known_answers():
    y = np.array([0, 0, 1, 1])
    assert auroc(y, [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert aupr(y, [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert auroc(y, [0.9, 0.8, 0.2, 0.1]) == 0.0
    # all scores tied: the single threshold admits everything -> AUROC 1/2, AP = prevalence
    assert auroc(y, [0.5] * 4) == 0.5
    assert aupr(y, [0.5] * 4) == 0.5
    # the positive outranks 2 of the 3 negatives -> AUROC 2/3
    y2 = np.array([0, 1, 0, 0])
    s2 = np.array([0.9, 0.8, 0.3, 0.1])
    assert auroc(y2, s2) == pytest.approx(2 / 3)
    assert aupr(y2, s2) == pytest.approx(1 / 2)  # precision at its recall step is 1/2


def test_aupr_is_average_precision_not_trapezoid():
    # the trapezoidal PR area differs from AP here; the papers' code (sklearn AP) is what we match
    y = np.array([1, 0, 1, 0, 0, 1])
    s = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    p, r, _ = skm.precision_recall_curve(y, s)
    trapezoid = skm.auc(r, p)
    assert aupr(y, s) == pytest.approx(skm.average_precision_score(y, s), abs=1e-15)
    assert abs(aupr(y, s) - trapezoid) > 1e-3


@pytest.mark.parametrize("labels", [[0, 0, 0], [1, 1, 1]])
def test_single_class_is_nan_with_warning(labels):
    with pytest.warns(MetricWarning, match="only one class"):
        assert np.isnan(auroc(labels, [0.1, 0.2, 0.3]))
    with pytest.warns(MetricWarning, match="only one class"):
        assert np.isnan(aupr(labels, [0.1, 0.2, 0.3]))
    with pytest.warns(MetricWarning):
        out = object_level_metrics(labels, [0.1, 0.2, 0.3])
    assert np.isnan(out[O_AUROC]) and np.isnan(out[O_AUPR])


@pytest.mark.parametrize(
    ("labels", "scores", "match"),
    [
        ([0, 1, 1], [0.1, np.nan, 0.3], "NaN"),
        ([0, 1, 1], [0.1, np.inf, 0.3], "inf"),
        ([0, 2, 1], [0.1, 0.2, 0.3], "only 0 and 1"),
        ([0, 1], [0.1, 0.2, 0.3], "shape"),
        (np.zeros((2, 3)), np.zeros(6), "shape"),
        ([], [], "empty"),
        (["a", "b"], [0.1, 0.2], "numeric"),
    ],
)
def test_bad_input_raises(labels, scores, match):
    with pytest.raises(ValueError, match=match):
        auroc(labels, scores)
    with pytest.raises(ValueError, match=match):
        aupr(labels, scores)


def _samples(rng: np.random.Generator):
    labels, scores = [], []
    for i in range(6):
        n = int(rng.integers(50, 200))
        y = np.zeros(n, dtype=np.uint8)
        if i % 3:  # every third sample is anomaly-free
            y[rng.choice(n, size=int(rng.integers(1, n // 4)), replace=False)] = 1
        labels.append(y)
        scores.append(np.round(rng.random(n) + 0.5 * y, 2).astype(np.float32))
    return labels, scores


def test_point_level_pooled_and_per_sample():
    rng = np.random.default_rng(4)
    labels, scores = _samples(rng)
    pooled = point_level_metrics(labels, scores)
    y, s = np.concatenate(labels), np.concatenate(scores)
    assert pooled[P_AUROC] == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)
    assert pooled[P_AUPR] == pytest.approx(skm.average_precision_score(y, s), abs=1e-12)
    per = point_level_metrics(labels, scores, per_sample=True)
    used = [(y, s) for y, s in zip(labels, scores) if 0 < y.sum() < y.size]
    assert len(used) == 4
    assert per[P_AUROC_PER_SAMPLE] == pytest.approx(np.mean([skm.roc_auc_score(*u) for u in used]), abs=1e-12)
    assert per[P_AUPR_PER_SAMPLE] == pytest.approx(
        np.mean([skm.average_precision_score(*u) for u in used]), abs=1e-12
    )


def test_point_level_degenerate():
    good = [np.zeros(5), np.zeros(4)]
    scores = [np.arange(5.0), np.arange(4.0)]
    with pytest.warns(MetricWarning):
        out = point_level_metrics(good, scores)
    assert np.isnan(out[P_AUROC]) and np.isnan(out[P_AUPR])
    with pytest.warns(MetricWarning, match="no sample contains both"):
        out = point_level_metrics(good, scores, per_sample=True)
    assert np.isnan(out[P_AUROC_PER_SAMPLE])
    with pytest.raises(ValueError, match="2 samples but point_scores has 1"):
        point_level_metrics(good, scores[:1])
    with pytest.raises(ValueError, match=r"point_labels\[1\]"):
        point_level_metrics(good, [np.arange(5.0), np.arange(3.0)])
    with pytest.raises(ValueError, match=r"point_scores\[0\].*NaN"):
        point_level_metrics(good, [np.array([0, 1, np.nan, 2, 3.0]), np.arange(4.0)])
    with pytest.raises(ValueError, match="empty"):
        point_level_metrics([], [])
