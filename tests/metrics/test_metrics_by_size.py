"""O-AUROC by anomaly size: terciles of the anomalous share, each against every good sample."""

from __future__ import annotations

import numpy as np
import pytest
from anomaly3d.metrics import anomaly_size_groups, auroc_by_size
from sklearn.metrics import roc_auc_score


def test_groups_are_terciles_of_the_defects_share():
    labels = [0, 1, 1, 1, 0, 1, 1, 1]
    shares = [0, 0.30, 0.01, 0.20, 0, 0.05, 0.50, 0.02]
    g = anomaly_size_groups(labels, shares)
    assert g == ["", "L", "S", "M", "", "M", "L", "S"]


def test_auroc_by_size_matches_sklearn_on_each_group():
    rng = np.random.default_rng(0)
    labels = np.r_[np.zeros(10), np.ones(12)].astype(int)
    shares = np.r_[np.zeros(10), rng.uniform(0.01, 0.3, 12)]
    scores = rng.normal(size=22) + labels * shares * 5
    groups = anomaly_size_groups(labels, shares)
    out = auroc_by_size(labels, scores, groups)
    for name in ("S", "M", "L"):
        sel = (labels == 0) | (np.asarray(groups) == name)
        assert out[name] == pytest.approx(roc_auc_score(labels[sel], scores[sel]))
    assert out["L"] > out["S"]  # larger defects push the scores further in this construction


def test_bad_input():
    with pytest.raises(ValueError, match="one length"):
        anomaly_size_groups([0, 1], [0.1])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        anomaly_size_groups([0, 1], [0.0, 1.5])
    assert np.isnan(auroc_by_size([0, 0], [0.1, 0.2], ["", ""])["S"])
