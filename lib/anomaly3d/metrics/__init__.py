"""anomaly3d.metrics: one implementation of every number the five papers report.

============================  ==========================================================================
module                        contents
============================  ==========================================================================
:mod:`~.roc`                  O-AUROC / O-AUPR (one score per sample), P-AUROC / P-AUPR (points pooled
                              per category as Real3D-AD evaluates, or per-sample means); AUPR is average
                              precision, as the papers' code computes it
:mod:`~.pro`                  AU-PRO exactly as the official MVTec 3D-AD evaluation (8-connected regions,
                              equal region weights, cut at the limit with linear interpolation, divided by
                              the limit), plus ``AU-PRO-pc``, our point-cloud extension
:mod:`~.maps`                 harmonic interpolation of sparse point scores onto the image grid (3D-ST's
                              protocol) and the sigma=4 Gaussian blur of the memory-bank methods
:mod:`~.by_size`              O-AUROC by anomaly size (IMRNet Figure 5b: S / M / L by anomalous share)
:mod:`~.ranking`              mean rank across methods per category (PO3AD), ties share the best rank
:mod:`~.results`              :class:`EvaluationResult` with JSON/CSV serialization and pivot tables
:mod:`~.evaluate`             :func:`evaluate_category`: method outputs -> one result with every metric
:mod:`~.names`                the spelling of every metric name and the standard PRO integration limits
============================  ==========================================================================

Undefined metrics (one class only, no ground-truth region) are NaN with a :class:`MetricWarning`;
malformed input (NaN scores, mismatched shapes, empty input) raises ``ValueError``.
"""

from anomaly3d.metrics._checks import MetricWarning
from anomaly3d.metrics.by_size import SIZE_GROUPS, anomaly_size_groups, auroc_by_size
from anomaly3d.metrics.evaluate import evaluate_category
from anomaly3d.metrics.maps import (
    BLUR_SIGMA,
    gaussian_blur,
    harmonic_interpolation,
    point_scores_to_map,
    scatter_to_grid,
)
from anomaly3d.metrics.names import (
    O_AUPR,
    O_AUROC,
    P_AUPR,
    P_AUPR_PER_SAMPLE,
    P_AUROC,
    P_AUROC_PER_SAMPLE,
    PRO_LIMITS,
    au_pro_name,
    au_pro_point_name,
)
from anomaly3d.metrics.pro import (
    ProCurve,
    au_pro,
    au_pro_metrics,
    au_pro_points,
    au_pro_points_metrics,
    point_regions,
    pro_curve,
    pro_curve_points,
)
from anomaly3d.metrics.ranking import TIE_RULES, mean_rank, rank_table, truncate_decimals
from anomaly3d.metrics.results import (
    ID_COLUMNS,
    EvaluationResult,
    read_results_csv,
    results_from_frame,
    results_table,
    results_to_frame,
    write_results_csv,
)
from anomaly3d.metrics.roc import (
    aupr,
    auroc,
    object_level_metrics,
    point_level_metrics,
    precision_recall_curve,
    roc_curve,
)

__all__ = [
    "BLUR_SIGMA",
    "ID_COLUMNS",
    "O_AUPR",
    "O_AUROC",
    "PRO_LIMITS",
    "P_AUPR",
    "P_AUPR_PER_SAMPLE",
    "P_AUROC",
    "P_AUROC_PER_SAMPLE",
    "SIZE_GROUPS",
    "TIE_RULES",
    "EvaluationResult",
    "MetricWarning",
    "ProCurve",
    "anomaly_size_groups",
    "au_pro",
    "au_pro_metrics",
    "au_pro_name",
    "au_pro_point_name",
    "au_pro_points",
    "au_pro_points_metrics",
    "aupr",
    "auroc",
    "auroc_by_size",
    "evaluate_category",
    "gaussian_blur",
    "harmonic_interpolation",
    "mean_rank",
    "object_level_metrics",
    "point_level_metrics",
    "point_regions",
    "point_scores_to_map",
    "precision_recall_curve",
    "pro_curve",
    "pro_curve_points",
    "rank_table",
    "read_results_csv",
    "results_from_frame",
    "results_table",
    "results_to_frame",
    "roc_curve",
    "scatter_to_grid",
    "truncate_decimals",
    "write_results_csv",
]
