"""Mean rank of methods across categories, as PO3AD reports it (Tables 1-3, "Mean rank (↓)").

Per category the methods are ranked (1 = best; higher metric is better unless told otherwise), then each
method's ranks are averaged over the categories.

**Ties.** Tied methods share a rank. PO3AD's Table 3 (object AUROC on Real3D-AD, the cleanly extracted
table) pins down which: its Toffees column has a tie (BTF-Raw and R3D-AD both 70.3), and its printed
mean ranks are reproduced exactly only by *competition ranking* — tied methods share the best of their
ranks ("1224", ``ties="min"``) — with the means then **truncated** (not rounded) to one decimal: e.g.
BTF-Raw's mean is 79/12 = 6.583 and is printed 6.5, R3D-AD's 4.083 is printed 4.0. Averaging the tied
ranks (``ties="average"``, 6.625 and 4.125) or rounding cannot give the printed values. ``"min"`` is the
default here; :func:`mean_rank` returns unrounded means, and :func:`truncate_decimals` reproduces the
printed form.
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
import pandas as pd

from anomaly3d.metrics._checks import MetricWarning

__all__ = ["TIE_RULES", "mean_rank", "rank_table", "truncate_decimals"]

TIE_RULES = ("min", "average", "max", "dense")
"""Accepted ``ties`` values (pandas ``rank`` methods); ``"min"`` is what PO3AD's tables imply."""


def _methods_as_columns(table: pd.DataFrame, methods_on: str) -> pd.DataFrame:
    if not isinstance(table, pd.DataFrame):
        raise ValueError(  # noqa: TRY004
            f"table must be a pandas DataFrame (categories x methods), got {type(table).__name__}"
        )
    if methods_on not in ("columns", "index"):
        raise ValueError(f"methods_on must be 'columns' or 'index', got {methods_on!r}")
    t = table if methods_on == "columns" else table.T
    if t.shape[0] == 0 or t.shape[1] == 0:
        raise ValueError(
            f"table is empty (shape {table.shape}); it needs at least one category and one method"
        )
    if not t.columns.is_unique:
        raise ValueError(
            f"method names must be unique, duplicates: {t.columns[t.columns.duplicated()].tolist()}"
        )
    try:
        t = t.astype(np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"table must hold numbers only: {err}") from None
    if np.isinf(t.to_numpy()).any():
        raise ValueError("table holds inf values; metrics must be finite or NaN (missing)")
    return t


def rank_table(
    table: pd.DataFrame,
    *,
    higher_is_better: bool = True,
    ties: Literal["min", "average", "max", "dense"] = "min",
    methods_on: Literal["columns", "index"] = "columns",
    missing: Literal["raise", "drop"] = "raise",
) -> pd.DataFrame:
    """Rank the methods within each category.

    Args:
        table: metric values, one row per category and one column per method (``methods_on="index"`` for
            the transposed layout, as the papers print their tables).
        higher_is_better: ``True`` for AUROC/AUPR/AU-PRO.
        ties: how tied methods share a rank: ``"min"`` (competition ranking, PO3AD), ``"average"``,
            ``"max"`` or ``"dense"``.
        missing: a NaN cell means the method was not evaluated on that category: ``"raise"`` (default) or
            ``"drop"`` the categories with any NaN (with a :class:`MetricWarning` naming them).

    Returns:
        DataFrame of ranks (1 = best) with categories as rows and methods as columns.

    Raises:
        ValueError: not a numeric DataFrame, empty, duplicate methods, inf values, NaN cells with
            ``missing="raise"``, or an unknown option.
    """
    if ties not in TIE_RULES:
        raise ValueError(f"ties must be one of {TIE_RULES}, got {ties!r}")
    if missing not in ("raise", "drop"):
        raise ValueError(f"missing must be 'raise' or 'drop', got {missing!r}")
    t = _methods_as_columns(table, methods_on)
    nan = t.isna()
    if nan.any().any():
        cells = [(str(t.index[int(i)]), str(t.columns[int(j)])) for i, j in zip(*np.nonzero(nan.to_numpy()))]
        if missing == "raise":
            raise ValueError(
                f"table has {len(cells)} missing (NaN) cell(s), e.g. (category, method) {cells[:5]}; ranks over "
                "different method sets are not comparable — fill them or pass missing='drop'"
            )
        bad = nan.any(axis=1)
        warnings.warn(
            f"dropping {int(bad.sum())} categories with missing values before ranking: "
            f"{[str(c) for c in t.index[bad]][:10]}",
            MetricWarning,
            stacklevel=2,
        )
        t = t.loc[~bad]
        if t.shape[0] == 0:
            raise ValueError("every category has a missing value; nothing left to rank")
    return t.rank(axis=1, ascending=not higher_is_better, method=ties)


def mean_rank(
    table: pd.DataFrame,
    *,
    higher_is_better: bool = True,
    ties: Literal["min", "average", "max", "dense"] = "min",
    methods_on: Literal["columns", "index"] = "columns",
    missing: Literal["raise", "drop"] = "raise",
) -> pd.Series:
    """Mean over categories of each method's per-category rank (lower is better), PO3AD's "Mean rank".

    Arguments as for :func:`rank_table`. Returns a Series indexed by method, in the table's method order,
    unrounded (use :func:`truncate_decimals` to print it the way PO3AD does).
    """
    ranks = rank_table(
        table, higher_is_better=higher_is_better, ties=ties, methods_on=methods_on, missing=missing
    )
    out = ranks.mean(axis=0)
    out.name = "mean_rank"
    return out


def truncate_decimals(
    values: pd.Series | np.ndarray | float, decimals: int = 1
) -> pd.Series | np.ndarray | float:
    """Cut ``values`` toward zero to ``decimals`` places (PO3AD prints mean ranks this way: 6.583 -> 6.5).

    A tolerance of 1e-9 keeps values such as 6.9999999999 (a float artefact of 7) at 7.0.
    """
    if not isinstance(decimals, (int, np.integer)) or decimals < 0:
        raise ValueError(f"decimals must be a non-negative integer, got {decimals!r}")
    scale = 10.0 ** int(decimals)
    arr = np.asarray(values, dtype=np.float64)
    cut = np.trunc(arr * scale + np.copysign(1e-9, arr)) / scale
    if isinstance(values, pd.Series):
        return pd.Series(cut, index=values.index, name=values.name)
    return float(cut) if cut.ndim == 0 else cut
