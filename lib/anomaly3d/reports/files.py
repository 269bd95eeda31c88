"""Writing report files so that an interrupted run never leaves a half-written table or figure."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

from anomaly3d.atomic import atomic_write_bytes, atomic_write_text

__all__ = ["atomic_write_bytes", "atomic_write_text", "markdown_table", "write_table"]


def _cell(value: Any, floatfmt: str) -> str:
    if isinstance(value, float):
        return "–" if math.isnan(value) else format(value, floatfmt)
    if value is None:
        return "–"
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(table: pd.DataFrame, *, floatfmt: str = ".3f", index: bool = False) -> str:
    """Render a DataFrame as a GitHub-flavoured Markdown table (NaN shown as an en dash)."""
    df = table.reset_index() if index else table
    header = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(_cell(v, floatfmt) for v in row) + " |")
    return "\n".join(lines) + "\n"


def write_table(
    stem: str | os.PathLike[str],
    table: pd.DataFrame,
    *,
    provenance: Mapping[str, Any] | None = None,
    floatfmt: str = ".3f",
    title: str | None = None,
) -> tuple[Path, Path]:
    """Write ``stem.csv`` (full precision) and ``stem.md`` (rounded, with a provenance line), atomically."""
    stem = Path(stem)
    csv_path = atomic_write_text(stem.with_suffix(".csv"), table.to_csv(index=False, lineterminator="\n"))
    parts = []
    if title:
        parts.append(f"### {title}\n")
    parts.append(markdown_table(table, floatfmt=floatfmt))
    if provenance:
        prov = ", ".join(f"{k}: {v}" for k, v in provenance.items())
        parts.append(f"\n<sub>{prov}</sub>\n")
    md_path = atomic_write_text(stem.with_suffix(".md"), "\n".join(parts))
    return csv_path, md_path
