"""Point-level ground-truth text files: one ``x y z label`` row per point.

Real3D-AD separates the four values by spaces, Anomaly-ShapeNet by commas; the official evaluation code of both
reads every row (``x, y, z`` as the cloud, the 4th column as the point label). Windows line endings, trailing
blank lines and ``0.0``/``1.0`` labels are accepted.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from anomaly3d.atomic import atomic_path
from anomaly3d.data.sample import DataError

__all__ = ["count_gt_rows", "read_gt_txt", "sniff_gt_delimiter", "write_gt_txt"]


def sniff_gt_delimiter(path: str | os.PathLike[str]) -> str | None:
    """Return ``","`` when the first data row of the GT file is comma-separated, else ``None`` (whitespace).

    Raises:
        DataError: the file is missing or has no data rows.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: ground-truth file not found")
    with open(path, "rb") as fh:
        for raw in fh:
            line = raw.strip()
            if line and not line.startswith(b"#"):
                return "," if b"," in line else None
    raise DataError(f"{path}: ground-truth file has no data rows (empty file); re-download it")


def count_gt_rows(path: str | os.PathLike[str]) -> int:
    """Count the non-blank, non-comment rows of a GT file without parsing numbers (streamed, bounded memory)."""
    rows = 0
    with open(path, "rb") as fh:
        for raw in fh:
            line = raw.strip()
            if line and not line.startswith(b"#"):
                rows += 1
    return rows


def read_gt_txt(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """Read a GT file into ``points`` ``(N, 3)`` float32 and ``labels`` ``(N,)`` uint8 (1 = anomalous).

    The delimiter (comma or whitespace) is detected from the first row; ``\\r\\n`` line endings are fine.

    Raises:
        DataError: missing/empty file, a row that is not four numbers, labels other than 0/1, NaN/inf
            coordinates — naming the file (and the row where numpy reports it).
    """
    path = Path(path)
    delim = sniff_gt_delimiter(path)
    try:
        table = np.loadtxt(path, dtype=np.float64, delimiter=delim, ndmin=2, comments="#")
    except ValueError as exc:
        sep = "comma" if delim else "space"
        raise DataError(
            f"{path}: unreadable ground-truth row ({exc}); expected {sep}-separated 'x y z label' rows"
        ) from None
    if table.shape[0] == 0:
        raise DataError(f"{path}: ground-truth file has no data rows; re-download it")
    if table.shape[1] != 4:
        raise DataError(f"{path}: ground-truth rows have {table.shape[1]} values, expected 4 (x y z label)")
    points = table[:, :3].astype(np.float32)
    if not np.isfinite(points).all():
        raise DataError(f"{path}: ground-truth file has NaN/inf coordinates")
    raw_labels = table[:, 3]
    bad = ~np.isin(raw_labels, (0.0, 1.0))
    if bad.any():
        vals = np.unique(raw_labels[bad])[:5].tolist()
        raise DataError(
            f"{path}: ground-truth labels must be 0 or 1; found {vals} "
            f"(first at row {int(np.argmax(bad)) + 1})"
        )
    return points, raw_labels.astype(np.uint8)


def write_gt_txt(
    path: str | os.PathLike[str],
    points: np.ndarray,
    labels: np.ndarray,
    *,
    delimiter: str = " ",
    line_ending: str = "\n",
) -> Path:
    """Write ``x y z label`` rows atomically: ``delimiter=" "`` is Real3D-AD's format, ``","`` Anomaly-ShapeNet's.

    Coordinates are printed with 9 significant digits so float32 values read back bit-identical.

    Raises:
        ValueError: wrong shapes, NaN/inf, labels other than 0/1, or an unsupported delimiter/line ending.
    """
    if delimiter not in (" ", ",", "\t"):
        raise ValueError(f"delimiter must be ' ', ',' or '\\t', got {delimiter!r}")
    if line_ending not in ("\n", "\r\n"):
        raise ValueError(f"line_ending must be '\\n' or '\\r\\n', got {line_ending!r}")
    pts = np.asarray(points, dtype=np.float32)
    lab = np.asarray(labels).reshape(-1)
    if pts.ndim != 2 or pts.shape[1] != 3 or pts.shape[0] == 0:
        raise ValueError(f"points must have shape (N, 3) with N > 0, got {pts.shape}")
    if lab.shape[0] != pts.shape[0]:
        raise ValueError(f"labels has {lab.shape[0]} entries for {pts.shape[0]} points")
    if not np.isfinite(pts).all():
        raise ValueError("points contain NaN/inf")
    if not np.isin(lab, (0, 1)).all():
        raise ValueError("labels must be 0 or 1")
    row = delimiter.join(["%.9g"] * 3 + ["%d"]) + line_ending
    cols = [
        pts[:, 0].astype(np.float64).tolist(),
        pts[:, 1].astype(np.float64).tolist(),
        pts[:, 2].astype(np.float64).tolist(),
        lab.astype(np.int64).tolist(),
    ]
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        chunk = 65536
        for start in range(0, pts.shape[0], chunk):
            rows = zip(*(c[start : start + chunk] for c in cols))
            fh.write("".join(row % r for r in rows).encode("ascii"))
    return Path(path)
