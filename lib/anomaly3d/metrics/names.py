"""The one spelling of every metric name used in result objects, CSV columns and report tables."""

from __future__ import annotations

import math

__all__ = [
    "O_AUPR",
    "O_AUROC",
    "PRO_LIMITS",
    "P_AUPR",
    "P_AUPR_PER_SAMPLE",
    "P_AUROC",
    "P_AUROC_PER_SAMPLE",
    "au_pro_name",
    "au_pro_point_name",
]

O_AUROC = "O-AUROC"
"""Object-level AUROC: one score per sample (all five papers; 3D-ST/Shape-Guided call it I-AUROC)."""
O_AUPR = "O-AUPR"
"""Object-level AUPR, computed as average precision (Group3AD Table 2, PO3AD supplementary Table 5)."""
P_AUROC = "P-AUROC"
"""Point-level AUROC pooled over every point of every test sample of a category (Real3D-AD protocol)."""
P_AUPR = "P-AUPR"
"""Point-level AUPR (average precision) pooled like :data:`P_AUROC` (Group3AD Table 4)."""
P_AUROC_PER_SAMPLE = "P-AUROC-per-sample"
"""Mean over test samples (those with both normal and anomalous points) of each sample's point AUROC."""
P_AUPR_PER_SAMPLE = "P-AUPR-per-sample"
"""Mean over test samples (those with both normal and anomalous points) of each sample's point AUPR."""

PRO_LIMITS: tuple[float, ...] = (0.3, 0.2, 0.1, 0.07, 0.05, 0.03, 0.01)
"""FPR integration limits of AU-PRO reported by Shape-Guided (Fig. 6); 3D-ST Table 2 uses 0.3/0.2/0.1/0.05/0.01."""


def _limit_text(limit: float) -> str:
    if not (isinstance(limit, (int, float)) and math.isfinite(limit) and 0.0 < limit <= 1.0):
        raise ValueError(f"integration limit must be a number in (0, 1], got {limit!r}")
    return f"{float(limit):g}"


def au_pro_name(limit: float) -> str:
    """Name of the image-grid AU-PRO at FPR integration ``limit``, e.g. ``"AU-PRO@0.3"``."""
    return f"AU-PRO@{_limit_text(limit)}"


def au_pro_point_name(limit: float) -> str:
    """Name of our point-cloud AU-PRO extension at ``limit``, e.g. ``"AU-PRO-pc@0.3"``."""
    return f"AU-PRO-pc@{_limit_text(limit)}"
