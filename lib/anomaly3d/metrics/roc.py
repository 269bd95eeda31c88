"""AUROC and AUPR, object level and point level, in plain numpy.

Both come from one pass over the scores sorted in decreasing order: tied scores form one threshold (one
curve point), exactly as scikit-learn's ``_binary_clf_curve`` does, so the values agree with
``sklearn.metrics.roc_auc_score`` / ``average_precision_score`` to rounding (tested to 1e-12) while needing
a single ``argsort`` — fast on the millions of points of a Real3D-AD category.

**AUPR is average precision** (the step-wise sum ``AP = sum_k (R_k - R_{k-1}) P_k`` over thresholds, no
interpolation), not the trapezoidal area under the precision-recall curve. That is what the papers' code
computes: Real3D-AD's evaluation (used by Group3AD) and PO3AD's ``eval.py`` both call scikit-learn's
``average_precision_score`` for the object- and point-level AUPR / AUC-PR.

**Point level** follows Real3D-AD's evaluation: the point scores of all test samples of a category are
concatenated and one AUROC/AUPR is computed over the pooled points (the per-category min-max normalisation
that code applies first is monotone and changes neither). A per-sample mean is available as an option.

**Degenerate input**: NaN/inf scores, non-binary labels, mismatched shapes or empty input raise
``ValueError``; a single class (no anomalous or no normal element) returns NaN with a
:class:`~anomaly3d.metrics.MetricWarning` — never a silent 0.5 (AUROC) or 0/1 (AUPR).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from anomaly3d.metrics._checks import as_binary_labels, as_finite_scores, check_same_shape, warn_undefined
from anomaly3d.metrics.names import O_AUPR, O_AUROC, P_AUPR, P_AUPR_PER_SAMPLE, P_AUROC, P_AUROC_PER_SAMPLE

__all__ = [
    "aupr",
    "auroc",
    "object_level_metrics",
    "point_level_metrics",
    "precision_recall_curve",
    "roc_curve",
]


def _validated(labels: object, scores: object) -> tuple[np.ndarray, np.ndarray]:
    check_same_shape(labels, scores, "labels", "scores")
    return as_binary_labels(labels, "labels"), as_finite_scores(scores, "scores")


def _clf_counts(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cumulative false/true positive counts at every distinct score, thresholds decreasing.

    Entry ``k`` counts the elements with ``score >= thresholds[k]``; ties share one entry.
    """
    order = np.argsort(s)[::-1]  # tie order is irrelevant: each tie group collapses to its last position
    s_sorted = s[order]
    ends = np.flatnonzero(np.diff(s_sorted))
    ends = np.append(ends, s_sorted.size - 1)
    tps = np.cumsum(y[order], dtype=np.int64)[ends]
    fps = (ends + 1) - tps
    return fps, tps, s_sorted[ends]


def roc_curve(labels: object, scores: object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC curve with one point per distinct score (as ``sklearn.metrics.roc_curve(drop_intermediate=False)``).

    Args:
        labels: 0/1 (or bool) ground truth, 1 = anomalous; any shape.
        scores: anomaly scores, higher = more anomalous; same shape as ``labels``, finite.

    Returns:
        ``(fpr, tpr, thresholds)``; the curve starts at ``(0, 0)`` with threshold ``+inf``.
        With a single class the undefined rate is NaN (and a :class:`MetricWarning` is emitted).
    """
    y, s = _validated(labels, scores)
    fps, tps, thr = _clf_counts(y, s)
    n_pos, n_neg = int(tps[-1]), int(fps[-1])
    if n_pos == 0 or n_neg == 0:
        warn_undefined("ROC curve", _one_class_reason(n_pos, n_neg))
    with np.errstate(invalid="ignore", divide="ignore"):
        fpr = np.concatenate(([0.0], fps / n_neg)) if n_neg else np.full(fps.size + 1, np.nan)
        tpr = np.concatenate(([0.0], tps / n_pos)) if n_pos else np.full(tps.size + 1, np.nan)
    return fpr, tpr, np.concatenate(([np.inf], thr))


def precision_recall_curve(labels: object, scores: object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision-recall curve in scikit-learn's layout (``drop_intermediate=False``).

    Returns:
        ``(precision, recall, thresholds)`` with one point per distinct score, thresholds increasing, and
        a final point ``(precision=1, recall=0)`` without threshold (scikit-learn >= 1.5 layout). Without
        anomalous elements recall is NaN (and a :class:`MetricWarning` is emitted).
    """
    y, s = _validated(labels, scores)
    fps, tps, thr = _clf_counts(y, s)
    n_pos = int(tps[-1])
    if n_pos == 0:
        warn_undefined("precision-recall curve", "labels contain no anomalous (1) element")
    sl = slice(None, None, -1)
    precision = tps / (tps + fps)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = tps / n_pos if n_pos else np.full(tps.size, np.nan)
    return (
        np.concatenate((precision[sl], [1.0])),
        np.concatenate((recall[sl], [0.0])),
        thr[sl].copy(),
    )


def _one_class_reason(n_pos: int, n_neg: int) -> str:
    which = "no anomalous (1)" if n_pos == 0 else "no normal (0)"
    return f"labels contain {which} element, only one class (AUROC/AUPR need both)"


def auroc(labels: object, scores: object) -> float:
    """Area under the ROC curve (trapezoidal; ties handled as one threshold, i.e. counted one half).

    Equals ``sklearn.metrics.roc_auc_score(labels, scores)``; computed from exact integer counts.

    Args:
        labels: 0/1 (or bool) ground truth, 1 = anomalous; any shape.
        scores: finite anomaly scores of the same shape, higher = more anomalous.

    Returns:
        AUROC in ``[0, 1]``; NaN with a :class:`MetricWarning` if only one class is present.

    Raises:
        ValueError: shapes differ, input is empty, labels are not 0/1, or scores hold NaN/inf.
    """
    y, s = _validated(labels, scores)
    fps, tps, _ = _clf_counts(y, s)
    n_pos, n_neg = int(tps[-1]), int(fps[-1])
    if n_pos == 0 or n_neg == 0:
        return warn_undefined("AUROC", _one_class_reason(n_pos, n_neg))
    fps = np.concatenate(([0], fps))
    tps = np.concatenate(([0], tps))
    # 2 * area * n_pos * n_neg as an exact integer (trapezoid rule on the count curve)
    twice_area = int(np.sum(np.diff(fps) * (tps[1:] + tps[:-1])))
    return twice_area / (2.0 * n_pos * n_neg)


def aupr(labels: object, scores: object) -> float:
    """AUPR as average precision: ``sum_k (R_k - R_{k-1}) * P_k`` over decreasing thresholds.

    Equals ``sklearn.metrics.average_precision_score(labels, scores)``, which is what Real3D-AD's and
    PO3AD's evaluation code report as AUPR / AUC-PR (see the module docstring).

    Returns:
        AP in ``[0, 1]``; NaN with a :class:`MetricWarning` if only one class is present (scikit-learn
        returns 0 without anomalous and 1 without normal elements).

    Raises:
        ValueError: shapes differ, input is empty, labels are not 0/1, or scores hold NaN/inf.
    """
    y, s = _validated(labels, scores)
    fps, tps, _ = _clf_counts(y, s)
    n_pos, n_neg = int(tps[-1]), int(fps[-1])
    if n_pos == 0 or n_neg == 0:
        return warn_undefined("AUPR", _one_class_reason(n_pos, n_neg))
    precision = tps / (tps + fps)
    d_tp = np.diff(tps, prepend=0)
    return float(np.sum(d_tp * precision) / n_pos)


def object_level_metrics(labels: object, scores: object) -> dict[str, float]:
    """O-AUROC and O-AUPR from one label and one score per test sample.

    Returns:
        ``{"O-AUROC": ..., "O-AUPR": ...}`` (NaN with a warning when the test set has one class only).
    """
    return {O_AUROC: auroc(labels, scores), O_AUPR: aupr(labels, scores)}


def point_level_metrics(
    point_labels: Sequence[object],
    point_scores: Sequence[object],
    *,
    per_sample: bool = False,
) -> dict[str, float]:
    """Point-level AUROC and AUPR over the test samples of one category.

    Args:
        point_labels: one 0/1 array per sample (1 = anomalous point); anomaly-free samples are all 0.
        point_scores: one score array per sample, each the same shape as its labels.
        per_sample: ``False`` (default, the Real3D-AD / PO3AD protocol): pool all points of all samples and
            compute one value each (``P-AUROC``, ``P-AUPR``). ``True``: compute each sample's value and
            average over the samples that contain both normal and anomalous points (anomaly-free samples,
            where the metric is undefined, are skipped); keys ``P-AUROC-per-sample``/``P-AUPR-per-sample``.

    Returns:
        dict metric name -> value; NaN with a :class:`MetricWarning` when the pooled points (or, per sample,
        every sample) contain one class only.

    Raises:
        ValueError: the two sequences differ in length, are empty, or a sample's arrays mismatch or hold
            NaN/inf/non-binary values (the message names the sample index).
    """
    labels_list, scores_list = _validated_samples(point_labels, point_scores)
    if not per_sample:
        y = np.concatenate(labels_list)
        s = np.concatenate(scores_list)
        return {P_AUROC: auroc(y, s), P_AUPR: aupr(y, s)}
    rocs, aps = [], []
    for y, s in zip(labels_list, scores_list):
        n_pos = int(y.sum())
        if 0 < n_pos < y.size:
            rocs.append(auroc(y, s))
            aps.append(aupr(y, s))
    if not rocs:
        why = "no sample contains both normal and anomalous points"
        return {
            P_AUROC_PER_SAMPLE: warn_undefined(P_AUROC_PER_SAMPLE, why),
            P_AUPR_PER_SAMPLE: warn_undefined(P_AUPR_PER_SAMPLE, why),
        }
    return {P_AUROC_PER_SAMPLE: float(np.mean(rocs)), P_AUPR_PER_SAMPLE: float(np.mean(aps))}


def _validated_samples(
    point_labels: Sequence[object], point_scores: Sequence[object]
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    arrays = isinstance(point_labels, np.ndarray) or isinstance(point_scores, np.ndarray)
    if arrays and (np.ndim(point_labels) < 2 or np.ndim(point_scores) < 2):
        raise ValueError(
            "point_labels and point_scores must be sequences with one array per sample "
            "(wrap a single sample as [labels], [scores])"
        )
    if len(point_labels) != len(point_scores):
        raise ValueError(
            f"point_labels has {len(point_labels)} samples but point_scores has {len(point_scores)}; "
            "pass one array per test sample in both"
        )
    if len(point_labels) == 0:
        raise ValueError("point_labels is empty; pass one array per test sample")
    labels_list, scores_list = [], []
    for i, (y, s) in enumerate(zip(point_labels, point_scores)):
        check_same_shape(y, s, f"point_labels[{i}]", f"point_scores[{i}]")
        labels_list.append(as_binary_labels(y, f"point_labels[{i}]"))
        scores_list.append(as_finite_scores(s, f"point_scores[{i}]"))
    return labels_list, scores_list
