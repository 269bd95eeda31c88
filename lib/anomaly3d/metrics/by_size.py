"""Object-level AUROC by anomaly size (IMRNet Figure 5b: small, middle and large anomalies).

A defective sample's *size* is the share of its points labelled anomalous. The defective samples are split into
equally populated groups by the quantiles of that share (terciles by default: S, M, L); each group's AUROC ranks its
samples against *all* the anomaly-free ones.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from anomaly3d.metrics.roc import auroc

__all__ = ["SIZE_GROUPS", "anomaly_size_groups", "auroc_by_size"]

SIZE_GROUPS = ("S", "M", "L")


def anomaly_size_groups(labels: Sequence[int], shares: Sequence[float], names: Sequence[str] = SIZE_GROUPS) -> list[str]:
    """The size group of every sample (``""`` for anomaly-free ones), by quantiles of ``shares`` over the defects.

    Args:
        labels: object labels (1 = defective).
        shares: anomalous share of each sample's points (ignored for anomaly-free samples).
        names: group names, smallest first; ``len(names)`` equally populated groups (ties go to the lower group).

    Raises:
        ValueError: mismatched lengths, shares outside ``[0, 1]`` or NaN, no group names.
    """
    y = np.asarray(labels).astype(int)
    s = np.asarray(shares, dtype=np.float64)
    if y.shape != s.shape or y.ndim != 1:
        raise ValueError(f"labels and shares must be 1-D of one length, got {y.shape} and {s.shape}")
    if not len(names):
        raise ValueError("names must hold at least one group name")
    if np.isnan(s).any() or (s < 0).any() or (s > 1).any():
        raise ValueError("shares must be in [0, 1] (the anomalous share of each sample's points)")
    out = [""] * len(y)
    bad = np.flatnonzero(y == 1)
    if len(bad) == 0:
        return out
    order = bad[np.argsort(s[bad], kind="stable")]
    for rank, i in enumerate(order):
        out[i] = names[min(len(names) - 1, rank * len(names) // len(order))]
    return out


def auroc_by_size(
    labels: Sequence[int], scores: Sequence[float], groups: Sequence[str], names: Sequence[str] = SIZE_GROUPS
) -> dict[str, float]:
    """O-AUROC of each size group's defects against every anomaly-free sample (NaN for an empty group)."""
    y = np.asarray(labels).astype(int)
    sc = np.asarray(scores, dtype=np.float64)
    g = np.asarray(groups, dtype=object)
    if not (len(y) == len(sc) == len(g)):
        raise ValueError(f"labels, scores and groups differ in length: {len(y)}, {len(sc)}, {len(g)}")
    good = y == 0
    out = {}
    for name in names:
        sel = good | (g == name)
        out[name] = auroc(y[sel], sc[sel]) if (sel & ~good).any() and good.any() else float("nan")
    return out
