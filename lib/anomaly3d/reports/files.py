"""Writing report files so that an interrupted run never leaves a half-written table or figure."""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["atomic_write_text", "atomic_write_bytes", "markdown_table", "write_table"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temporary file in the same folder and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Text version of :func:`atomic_write_bytes` (UTF-8, ``\\n`` line endings)."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def _cell(value: Any, floatfmt: str) -> str:
    if isinstance(value, float):
        return "–" if math.isnan(value) else format(value, floatfmt)
    if value is None:
        return "–"
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(table: "pd.DataFrame", *, floatfmt: str = ".3f", index: bool = False) -> str:
    """Render a DataFrame as a GitHub-flavoured Markdown table (NaN shown as an en dash)."""
    df = table.reset_index() if index else table
    header = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(_cell(v, floatfmt) for v in row) + " |")
    return "\n".join(lines) + "\n"


def write_table(
    stem: str | os.PathLike[str],
    table: "pd.DataFrame",
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
