"""One call from a method's outputs on a category to an :class:`EvaluationResult` with every metric."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from anomaly3d.metrics.names import PRO_LIMITS
from anomaly3d.metrics.pro import _check_limits, au_pro_metrics, au_pro_points_metrics, pro_curve
from anomaly3d.metrics.results import EvaluationResult
from anomaly3d.metrics.roc import object_level_metrics, point_level_metrics, roc_curve

__all__ = ["evaluate_category"]


def _decimate(x: np.ndarray, y: np.ndarray, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ``max_points`` curve points, first and last kept (for plots only)."""
    if x.size <= max_points:
        return x, y
    idx = np.unique(np.linspace(0, x.size - 1, max_points).round().astype(np.int64))
    return x[idx], y[idx]


def evaluate_category(
    *,
    method: str,
    dataset: str,
    category: str,
    profile: str,
    seed: int | None,
    object_labels: Sequence[int] | np.ndarray | None = None,
    object_scores: Sequence[float] | np.ndarray | None = None,
    point_labels: Sequence[np.ndarray] | None = None,
    point_scores: Sequence[np.ndarray] | None = None,
    per_sample: bool = False,
    anomaly_maps: Sequence[np.ndarray] | np.ndarray | None = None,
    gt_masks: Sequence[np.ndarray | None] | np.ndarray | None = None,
    points: Sequence[np.ndarray] | None = None,
    point_pro_radius: float | Sequence[float] | None = None,
    pro_limits: Iterable[float] = PRO_LIMITS,
    keep_curves: bool = False,
    max_curve_points: int = 2000,
    extras: dict[str, Any] | None = None,
) -> EvaluationResult:
    """Evaluate one method on one category with every metric its inputs allow.

    * ``object_labels`` + ``object_scores`` -> ``O-AUROC``, ``O-AUPR``;
    * ``point_labels`` + ``point_scores`` -> ``P-AUROC``, ``P-AUPR`` pooled (and the ``-per-sample`` means
      when ``per_sample``);
    * ``anomaly_maps`` + ``gt_masks`` -> ``AU-PRO@<limit>`` for each of ``pro_limits`` (image grid);
    * ``point_labels`` + ``point_scores`` + ``points`` -> ``AU-PRO-pc@<limit>`` (our point-cloud extension).

    Args are those of :func:`~anomaly3d.metrics.object_level_metrics`,
    :func:`~anomaly3d.metrics.point_level_metrics`, :func:`~anomaly3d.metrics.au_pro_metrics` and
    :func:`~anomaly3d.metrics.au_pro_points_metrics`; ``keep_curves`` stores the object ROC and the image
    PRO curve (up to the largest limit), decimated to ``max_curve_points``, for plotting.

    Raises:
        ValueError: half of a pair is given (e.g. scores without labels), nothing to evaluate, or the
            metric functions reject the input.
    """
    pairs = {
        "object_labels/object_scores": (object_labels, object_scores),
        "point_labels/point_scores": (point_labels, point_scores),
        "anomaly_maps/gt_masks": (anomaly_maps, gt_masks),
    }
    for name, (a, b) in pairs.items():
        if (a is None) != (b is None):
            raise ValueError(f"pass both or neither of {name}")
    if points is not None and point_labels is None:
        raise ValueError("points is only used with point_labels/point_scores (for AU-PRO-pc); pass them too")
    if all(a is None for a, _ in pairs.values()):
        raise ValueError("nothing to evaluate: pass object, point and/or map scores with their ground truth")
    limits = _check_limits(pro_limits)

    metrics: dict[str, float] = {}
    curves: dict[str, dict[str, list[float]]] = {}
    if object_labels is not None:
        metrics.update(object_level_metrics(object_labels, object_scores))
        if keep_curves:
            fpr, tpr, _ = roc_curve(object_labels, object_scores)
            curves["ROC-object"] = {"fpr": fpr.tolist(), "tpr": tpr.tolist()}
    if point_labels is not None:
        metrics.update(point_level_metrics(point_labels, point_scores))
        if per_sample:
            metrics.update(point_level_metrics(point_labels, point_scores, per_sample=True))
        if points is not None:
            metrics.update(
                au_pro_points_metrics(point_scores, point_labels, points, limits, radius=point_pro_radius)
            )
    if anomaly_maps is not None:
        metrics.update(au_pro_metrics(anomaly_maps, gt_masks, limits))
        if keep_curves and all(np.isfinite(v) for k, v in metrics.items() if k.startswith("AU-PRO@")):
            curve = pro_curve(anomaly_maps, gt_masks, max_fpr=max(limits))
            x, y = _decimate(curve.fpr, curve.pro, max_curve_points)
            curves["PRO"] = {"fpr": x.tolist(), "pro": y.tolist()}
    return EvaluationResult(
        method=method,
        dataset=dataset,
        category=category,
        profile=profile,
        seed=seed,
        metrics=metrics,
        curves=curves,
        extras=dict(extras or {}),
    )
