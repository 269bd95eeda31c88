"""Result objects: the metric values of one (method, dataset, category, profile, seed) run, and their
serialization to JSON and CSV.

JSON keeps everything (metrics, optional curves, extras); NaN is written as ``null`` so the files are
standard JSON, and read back as NaN. CSV is one row per result: the five identifying columns, one column per
metric name (see :mod:`anomaly3d.metrics.names`), then ``extra.<key>`` columns for scalar extras; curves are
not written to CSV.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

__all__ = [
    "ID_COLUMNS",
    "EvaluationResult",
    "read_results_csv",
    "results_from_frame",
    "results_table",
    "results_to_frame",
    "write_results_csv",
]

ID_COLUMNS = ("method", "dataset", "category", "profile", "seed")
"""The columns that identify a result row, in CSV order."""

_EXTRA_PREFIX = "extra."


def _check_name(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} must be a non-empty string, got {value!r}")
    return value


def _as_float(value: object, what: str) -> float:
    if value is None:
        return float("nan")
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{what} must be a number (or NaN/None), got {value!r}")  # noqa: TRY004
    return float(value)


def _json_safe(value: Any) -> Any:
    """Numbers/containers to plain JSON types; NaN/inf floats to None."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_json_safe(v) for v in (value.tolist() if isinstance(value, np.ndarray) else value)]
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer, int)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(float(value)) else None
    return value


@dataclass
class EvaluationResult:
    """Metric values of one method on one category of one dataset, with the run that produced them.

    Attributes:
        method: method name (e.g. ``"PO3AD"``, ``"BTF(FPFH)"``).
        dataset: ``"MVTec3D-AD"``, ``"Real3D-AD"``, ``"Anomaly-ShapeNet"``, ``"synthetic"`` ...
        category: object class.
        profile: run profile (``smoke`` / ``quick`` / ``paper``).
        seed: random seed of the run (``None`` if the method is deterministic and took none).
        metrics: metric name -> value (NaN when undefined); names from :mod:`anomaly3d.metrics.names`.
        curves: optional curve data for plots, e.g. ``{"PRO": {"fpr": [...], "pro": [...]}}``.
        extras: optional JSON-serializable run details (``n_test``, ``runtime_s`` ...).
    """

    method: str
    dataset: str
    category: str
    profile: str
    seed: int | None
    metrics: dict[str, float]
    curves: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("method", "dataset", "category", "profile"):
            _check_name(getattr(self, name), name)
        if self.seed is not None:
            if (
                isinstance(self.seed, (bool, np.bool_))
                or not isinstance(self.seed, (int, np.integer))
                or self.seed < 0
            ):
                raise ValueError(f"seed must be a non-negative integer or None, got {self.seed!r}")
            self.seed = int(self.seed)
        if not isinstance(self.metrics, Mapping):
            raise ValueError(f"metrics must be a mapping name -> value, got {type(self.metrics).__name__}")  # noqa: TRY004
        clean = {}
        for k, v in self.metrics.items():
            key = _check_name(k, "metric name")
            if key in ID_COLUMNS or key.startswith(_EXTRA_PREFIX):
                raise ValueError(f"metric name {key!r} collides with a reserved CSV column")
            clean[key] = _as_float(v, f"metric {key!r}")
        self.metrics = clean
        self.curves = {
            str(name): {
                str(axis): [float(x) for x in np.asarray(vals, dtype=np.float64).reshape(-1)]
                for axis, vals in c.items()
            }
            for name, c in dict(self.curves).items()
        }
        self.extras = dict(self.extras)

    def to_dict(self, *, include_curves: bool = True) -> dict[str, Any]:
        """Plain-python dict (NaN stays NaN here; :meth:`to_json` turns it into ``null``)."""
        d: dict[str, Any] = {name: getattr(self, name) for name in ID_COLUMNS}
        d["metrics"] = dict(self.metrics)
        if include_curves:
            d["curves"] = {k: {a: list(v) for a, v in c.items()} for k, c in self.curves.items()}
        d["extras"] = dict(self.extras)
        return d

    def to_json(
        self, path: str | Path | None = None, *, indent: int | None = 2, include_curves: bool = True
    ) -> str:
        """Serialize to standard JSON (NaN -> ``null``); also write it to ``path`` when given."""
        text = json.dumps(
            _json_safe(self.to_dict(include_curves=include_curves)), indent=indent, allow_nan=False
        )
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(text + "\n")
        return text

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvaluationResult:
        """Inverse of :meth:`to_dict` (``null`` metric values become NaN).

        Raises:
            ValueError: a required key is missing or a value is invalid.
        """
        missing = [k for k in (*ID_COLUMNS, "metrics") if k not in data]
        if missing:
            raise ValueError(f"result dict lacks key(s) {missing}; expected {list(ID_COLUMNS) + ['metrics']}")
        return cls(
            method=data["method"],
            dataset=data["dataset"],
            category=data["category"],
            profile=data["profile"],
            seed=data["seed"],
            metrics={k: (float("nan") if v is None else v) for k, v in dict(data["metrics"]).items()},
            curves=dict(data.get("curves") or {}),
            extras=dict(data.get("extras") or {}),
        )

    @classmethod
    def from_json(cls, text_or_path: str | Path) -> EvaluationResult:
        """Read a result from a JSON string or a ``.json`` file path."""
        if isinstance(text_or_path, Path) or (
            isinstance(text_or_path, str) and not text_or_path.lstrip().startswith("{")
        ):
            path = Path(text_or_path)
            if not path.is_file():
                raise ValueError(f"no JSON result file at {path}")
            text = path.read_text()
        else:
            text = text_or_path
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"not valid JSON for an EvaluationResult: {err}") from None
        return cls.from_dict(data)

    def to_row(self) -> dict[str, Any]:
        """One flat CSV row: identifying columns, metric columns, ``extra.<key>`` for scalar extras."""
        row: dict[str, Any] = {name: getattr(self, name) for name in ID_COLUMNS}
        row.update(self.metrics)
        for k, v in self.extras.items():
            if isinstance(v, (str, bool, int, float, np.integer, np.floating)) or v is None:
                row[_EXTRA_PREFIX + str(k)] = v
        return row


def results_to_frame(results: Iterable[EvaluationResult]) -> pd.DataFrame:
    """One row per result (see :meth:`EvaluationResult.to_row`); metric columns in first-seen order."""
    rows = []
    for i, r in enumerate(results):
        if not isinstance(r, EvaluationResult):
            raise ValueError(f"results[{i}] is a {type(r).__name__}, not an EvaluationResult")  # noqa: TRY004
        rows.append(r.to_row())
    if not rows:
        raise ValueError("results is empty; nothing to tabulate")
    frame = pd.DataFrame(rows)
    frame["seed"] = frame["seed"].astype("Int64")
    return frame


def results_from_frame(frame: pd.DataFrame) -> list[EvaluationResult]:
    """Inverse of :func:`results_to_frame` (curves are not part of a frame). Empty cells become NaN metrics."""
    missing = [c for c in ID_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(
            f"frame lacks the column(s) {missing}; expected {list(ID_COLUMNS)} plus metric columns"
        )
    metric_cols = [c for c in frame.columns if c not in ID_COLUMNS and not str(c).startswith(_EXTRA_PREFIX)]
    extra_cols = [c for c in frame.columns if str(c).startswith(_EXTRA_PREFIX)]
    out = []
    for _, row in frame.iterrows():
        seed = row["seed"]
        extras = {
            c[len(_EXTRA_PREFIX) :]: (None if pd.isna(row[c]) else _json_safe(row[c])) for c in extra_cols
        }
        out.append(
            EvaluationResult(
                method=str(row["method"]),
                dataset=str(row["dataset"]),
                category=str(row["category"]),
                profile=str(row["profile"]),
                seed=None if pd.isna(seed) else int(seed),
                metrics={c: (float("nan") if pd.isna(row[c]) else float(row[c])) for c in metric_cols},
                extras={k: v for k, v in extras.items() if v is not None},
            )
        )
    return out


def write_results_csv(results: Iterable[EvaluationResult], path: str | Path) -> Path:
    """Write results to a CSV file (parent folders are created); returns the path."""
    path = Path(path)
    frame = results_to_frame(results)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, float_format="%.17g")
    return path


def read_results_csv(path: str | Path) -> list[EvaluationResult]:
    """Read results written by :func:`write_results_csv`.

    Raises:
        ValueError: the file is missing, empty or lacks the identifying columns.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no results CSV at {path}")
    try:
        frame = pd.read_csv(
            path,
            dtype={c: str for c in ID_COLUMNS if c != "seed"},
            keep_default_na=False,
            na_values={"seed": [""]},
        )
    except pd.errors.EmptyDataError:
        raise ValueError(f"results CSV {path} is empty") from None
    for c in frame.columns:
        if c in ID_COLUMNS:
            continue
        col = frame[c].replace("", np.nan)
        if str(c).startswith(_EXTRA_PREFIX):
            try:  # numeric extras come back as numbers, text extras stay text
                frame[c] = pd.to_numeric(col)
            except (TypeError, ValueError):
                frame[c] = col
        else:
            try:
                frame[c] = pd.to_numeric(col)
            except (TypeError, ValueError):
                raise ValueError(
                    f"results CSV {path}: metric column {c!r} holds non-numeric values"
                ) from None
    return results_from_frame(frame)


def results_table(
    results: Iterable[EvaluationResult],
    metric: str,
    *,
    rows: str = "category",
    columns: str = "method",
    duplicates: Literal["raise", "mean"] = "raise",
) -> pd.DataFrame:
    """Pivot ``metric`` into a table, by default categories x methods (the input of ``mean_rank``).

    Args:
        results: evaluation results.
        metric: metric name, e.g. ``"O-AUROC"``.
        rows, columns: identifying columns to pivot on.
        duplicates: several results for one cell (e.g. several seeds): ``"raise"`` or average them.

    Raises:
        ValueError: unknown metric or column, or duplicate cells with ``duplicates="raise"``.
    """
    frame = results_to_frame(results)
    if metric not in frame.columns or metric in ID_COLUMNS:
        known = [c for c in frame.columns if c not in ID_COLUMNS and not str(c).startswith(_EXTRA_PREFIX)]
        raise ValueError(f"no metric {metric!r} in these results; available: {known}")
    for c in (rows, columns):
        if c not in ID_COLUMNS:
            raise ValueError(f"rows/columns must be among {ID_COLUMNS}, got {c!r}")
    counts = frame.groupby([rows, columns]).size()
    if duplicates == "raise" and (counts > 1).any():
        dup = counts[counts > 1].index.tolist()[:5]
        raise ValueError(
            f"several results per ({rows}, {columns}) cell, e.g. {dup}; filter them (e.g. one seed) "
            "or pass duplicates='mean'"
        )
    if duplicates not in ("raise", "mean"):
        raise ValueError(f"duplicates must be 'raise' or 'mean', got {duplicates!r}")
    table = frame.pivot_table(
        index=rows, columns=columns, values=metric, aggfunc="mean", dropna=False, sort=False
    )
    table.columns.name = columns
    return table
