"""Mean rank: tie rules, orientation, missing cells, and PO3AD's printed Table 3."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from anomaly3d.metrics import MetricWarning, mean_rank, rank_table, truncate_decimals

# PO3AD Table 3 (object-level AUROC, %, Real3D-AD), as printed; categories x methods.
_PO3AD_T3_METHODS = [
    "BTF(Raw)",
    "BTF(FPFH)",
    "M3DM",
    "PatchCore(FPFH)",
    "PatchCore(PointMAE)",
    "CPMF",
    "Reg3D-AD",
    "IMRNet",
    "R3D-AD",
    "Group3AD",
    "PO3AD",
]
_PO3AD_T3 = {
    "Airplane": [73.0, 52.0, 43.4, 88.2, 72.6, 70.1, 71.6, 76.2, 77.2, 74.4, 80.4],
    "Car": [64.7, 56.0, 54.1, 59.0, 49.8, 55.1, 69.7, 71.1, 69.3, 72.8, 65.4],
    "Candy": [53.9, 63.0, 55.2, 54.1, 66.3, 55.2, 68.5, 75.5, 71.3, 84.7, 78.5],
    "Chicken": [78.9, 43.2, 68.3, 83.7, 82.7, 50.4, 85.2, 78.0, 71.4, 78.6, 68.6],
    "Diamond": [70.7, 54.5, 60.2, 57.4, 78.3, 52.3, 90.0, 90.5, 68.5, 93.2, 80.1],
    "Duck": [69.1, 78.4, 43.3, 54.6, 48.9, 58.2, 58.4, 51.7, 90.9, 67.9, 82.0],
    "Fish": [60.2, 54.9, 54.0, 67.5, 63.0, 55.8, 91.5, 88.0, 69.2, 97.6, 85.9],
    "Gemstone": [68.6, 64.8, 64.4, 37.0, 37.4, 58.9, 41.7, 67.4, 66.5, 53.9, 69.3],
    "Seahorse": [59.6, 77.9, 49.5, 50.5, 53.9, 72.9, 76.2, 60.4, 72.0, 84.1, 75.6],
    "Shell": [39.6, 75.4, 69.4, 58.9, 50.1, 65.3, 58.3, 66.5, 84.0, 58.5, 80.0],
    "Starfish": [53.0, 57.5, 55.1, 44.1, 51.9, 70.0, 50.6, 67.4, 70.1, 56.2, 75.8],
    "Toffees": [70.3, 46.2, 45.0, 56.5, 58.5, 39.0, 82.7, 77.4, 70.3, 79.6, 77.1],
}
_PO3AD_T3_PRINTED_MEAN_RANK = [6.5, 6.9, 8.8, 7.5, 7.8, 7.9, 5.0, 4.2, 4.0, 3.6, 3.2]


def _po3ad_table3() -> pd.DataFrame:
    return pd.DataFrame.from_dict(_PO3AD_T3, orient="index", columns=_PO3AD_T3_METHODS)


def test_reproduces_po3ad_table3_mean_rank():
    ranks = mean_rank(_po3ad_table3())
    np.testing.assert_array_equal(truncate_decimals(ranks).to_numpy(), _PO3AD_T3_PRINTED_MEAN_RANK)
    assert ranks["BTF(Raw)"] == pytest.approx(79 / 12)


def test_average_ties_or_rounding_do_not_reproduce_po3ad():
    avg = mean_rank(_po3ad_table3(), ties="average")
    assert not np.array_equal(truncate_decimals(avg).to_numpy(), _PO3AD_T3_PRINTED_MEAN_RANK)
    assert not np.array_equal(mean_rank(_po3ad_table3()).round(1).to_numpy(), _PO3AD_T3_PRINTED_MEAN_RANK)


def test_tie_rules_and_direction():
    table = pd.DataFrame({"A": [0.9, 0.5], "B": [0.9, 0.7], "C": [0.8, 0.9]}, index=["cat1", "cat2"])
    np.testing.assert_array_equal(rank_table(table).loc["cat1"].to_numpy(), [1, 1, 3])
    np.testing.assert_array_equal(rank_table(table, ties="average").loc["cat1"].to_numpy(), [1.5, 1.5, 3])
    np.testing.assert_array_equal(rank_table(table, ties="dense").loc["cat1"].to_numpy(), [1, 1, 2])
    np.testing.assert_array_equal(mean_rank(table).to_numpy(), [2.0, 1.5, 2.0])
    # lower is better (e.g. a runtime): ranks flip
    np.testing.assert_array_equal(mean_rank(table, higher_is_better=False).to_numpy(), [1.5, 2.0, 2.0])
    # methods as rows, the layout the papers print
    pd.testing.assert_series_equal(mean_rank(table.T, methods_on="index"), mean_rank(table))


def test_missing_cells():
    table = pd.DataFrame({"A": [0.9, np.nan, 0.4], "B": [0.8, 0.7, 0.6]}, index=["c1", "c2", "c3"])
    with pytest.raises(ValueError, match=r"\('c2', 'A'\)"):
        mean_rank(table)
    with pytest.warns(MetricWarning, match="c2"):
        out = mean_rank(table, missing="drop")
    np.testing.assert_array_equal(out.to_numpy(), [1.5, 1.5])


@pytest.mark.parametrize(
    ("table", "kwargs", "match"),
    [
        (pd.DataFrame(), {}, "empty"),
        ([[1, 2]], {}, "DataFrame"),
        (pd.DataFrame({"A": [1.0], "B": [np.inf]}), {}, "inf"),
        (pd.DataFrame({"A": ["x"], "B": [1.0]}), {}, "numbers"),
        (pd.DataFrame([[1.0, 2.0]], columns=["A", "A"]), {}, "unique"),
        (pd.DataFrame({"A": [1.0]}), {"ties": "first"}, "ties"),
        (pd.DataFrame({"A": [1.0]}), {"methods_on": "rows"}, "methods_on"),
    ],
)
def test_bad_tables_raise(table, kwargs, match):
    with pytest.raises(ValueError, match=match):
        mean_rank(table, **kwargs)


def test_truncate_decimals():
    assert truncate_decimals(6.5833) == 6.5
    assert truncate_decimals(0.1 + 0.2 + 0.4, 1) == 0.7  # 0.7000000000000001
    assert truncate_decimals(7 - 1e-12) == 7.0  # a float artefact of 7 stays 7
    assert truncate_decimals(-1.25, 1) == -1.2
    np.testing.assert_array_equal(truncate_decimals(np.array([1.99, 2.05])), [1.9, 2.0])
    with pytest.raises(ValueError):
        truncate_decimals(1.0, -1)
