"""The checks behind :func:`anomaly3d.paper_results.validate`: every problem in every shipped file, as text."""

from __future__ import annotations

import math
import re
from pathlib import Path

from anomaly3d.paper_results._catalog import (
    NUMBER_RE,
    PAPERS,
    PSEUDO_CATEGORIES,
    PaperTable,
    dataset_categories,
    mentioned_in,
    parse_catalog,
    read_rows,
)

EXTRA_METRICS: tuple[str, ...] = ("mean-rank", "time-s", "memory-mb", "features-count")
"""Metric names of the spec besides the four AUROC/AUPR names and ``AU-PRO@<limit>``."""

CATEGORY_RE = re.compile(r"[a-z0-9_]+")
CUSTOM_METRIC_RE = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
SETTING_PART_RE = re.compile(r"([a-z][a-z0-9_]*)=([^=;\s]+)")
_AU_PRO_RE = re.compile(r"AU-PRO@(.+)")


def standard_metrics() -> tuple[str, ...]:
    """The spec's fixed metric names (``AU-PRO@<limit>`` is checked separately)."""
    from anomaly3d.metrics import names

    return (names.O_AUROC, names.O_AUPR, names.P_AUROC, names.P_AUPR, *EXTRA_METRICS)


def is_score_metric(metric: str) -> bool:
    """AUROC/AUPR/AU-PRO names: the metrics whose values a ``fraction``/``percent`` scale applies to."""
    return metric in ("O-AUROC", "O-AUPR", "P-AUROC", "P-AUPR") or metric.startswith("AU-PRO@")


def validate_root(root: Path) -> list[str]:
    """Every problem found under ``root`` (the ``data`` folder), each prefixed with ``<paper>/<file>[:line]``."""
    if not root.is_dir():
        return [f"{root}: data folder not found"]
    problems: list[str] = []
    folders = {p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))}
    for extra in sorted(folders - set(PAPERS)):
        problems.append(f"{extra}/: folder is not one of the papers ({', '.join(PAPERS)})")
    metrics = standard_metrics()
    for paper in PAPERS:
        if paper not in folders:
            problems.append(f"{paper}/: paper folder missing")
            continue
        parsed = parse_catalog(root, paper)
        problems += parsed.problems
        ids = {t.id for t in parsed.tables}
        stems = {p.stem for p in (root / paper).glob("*.csv")}
        for stem in sorted(stems - ids):
            problems.append(
                f"{paper}/{stem}.csv: no [[table]] entry with id = {stem!r} in {paper}/tables.toml"
            )
        for table in parsed.tables:
            if table.id not in stems:
                problems.append(f"{paper}/tables.toml: [[table]] {table.id!r} has no CSV file {table.id}.csv")
                continue
            problems += check_table(root, table, metrics)
    return problems


def check_table(root: Path, table: PaperTable, metrics: tuple[str, ...]) -> list[str]:
    """Problems of one table CSV, given its catalog entry."""
    where = f"{table.paper}/{table.id}.csv"
    rows, problems = read_rows(root / table.paper / f"{table.id}.csv", where)
    if not rows and not problems:
        problems.append(f"{where}: no data rows")
    official = set(dataset_categories(table.dataset))
    known_categories = official | set(PSEUDO_CATEGORIES) | set(table.extra_categories)
    seen: dict[tuple[str, str, str, str], int] = {}
    for line, row in rows:
        at = f"{where}:{line}"
        for column, text in row.items():
            if text != text.strip():
                problems.append(f"{at}: {column} {text!r} has leading/trailing spaces")
        row = {k: v.strip() for k, v in row.items()}
        if not row["method"]:
            problems.append(f"{at}: method is empty")
        problems += _check_setting(at, row["setting"])
        problems += _check_category(at, row["category"], table, known_categories)
        problems += _check_metric(at, row["metric"], table, metrics)
        problems += _check_value(at, row, table)
        key = (row["method"], row["setting"], row["category"], row["metric"])
        if key in seen:
            problems.append(
                f"{at}: duplicate of line {seen[key]} (same method, setting, category, metric: {', '.join(key)})"
            )
        else:
            seen[key] = line
    return problems


def _check_setting(at: str, setting: str) -> list[str]:
    if not setting:
        return []
    parts = setting.split(";")
    matches = [SETTING_PART_RE.fullmatch(p) for p in parts]
    bad = [p for p, m in zip(parts, matches, strict=True) if m is None]
    if bad:
        return [
            f"{at}: setting {setting!r}: {bad[0]!r} is not key=value (lowercase key; pairs joined by ';')"
        ]
    keys = [m.group(1) for m in matches if m is not None]
    repeated = sorted({k for k in keys if keys.count(k) > 1})
    return [f"{at}: setting {setting!r} repeats key {repeated[0]!r}"] if repeated else []


def _check_category(at: str, category: str, table: PaperTable, known: set[str]) -> list[str]:
    if not CATEGORY_RE.fullmatch(category):
        return [f"{at}: category {category!r} is not a lowercase id (a-z, 0-9, _)"]
    if category in known or mentioned_in(table.notes, category):
        return []
    hint = "if the table really has extra categories, name them in its notes (or extra_categories = [...])"
    return [f"{at}: category {category!r} is not a {table.dataset} category, 'mean' or 'all'; {hint}"]


def _check_metric(at: str, metric: str, table: PaperTable, metrics: tuple[str, ...]) -> list[str]:
    if metric in metrics:
        return []
    pro = _AU_PRO_RE.fullmatch(metric)
    if pro:
        limit = pro.group(1)
        try:
            value = float(limit)
        except ValueError:
            value = math.nan
        if not (0.0 < value <= 1.0) or f"{value:g}" != limit:
            return [f"{at}: metric {metric!r}: the limit must be a number in (0, 1] written as f'{{x:g}}'"]
        return []
    if CUSTOM_METRIC_RE.fullmatch(metric) and mentioned_in(table.notes, metric):
        return []
    hint = "and is not a lowercase-with-dashes name documented in the table's notes"
    return [f"{at}: metric {metric!r} is not one of {', '.join(metrics)} or AU-PRO@<limit>, {hint}"]


def _check_value(at: str, row: dict[str, str], table: PaperTable) -> list[str]:
    text = row["value"]
    if not text:
        return [] if row["note"] else [f"{at}: value is empty and note does not say why"]
    if not NUMBER_RE.fullmatch(text):
        return [f"{at}: value {text!r} is not a number as printed (no %, thousands separators or exponents)"]
    value = float(text)
    top = {"fraction": 1.0, "percent": 100.0}.get(table.scale)
    if top is not None and is_score_metric(row["metric"]) and not 0.0 <= value <= top:
        return [
            f"{at}: {row['metric']} value {text} is outside 0..{top:g} of the table's scale {table.scale!r}"
        ]
    return []
