"""The one sample type every loader returns and every method consumes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["GOOD", "DataError", "Sample"]

GOOD = "good"
"""Defect type of an anomaly-free sample (Anomaly-ShapeNet calls these ``positive``; loaders map to this)."""


class DataError(ValueError):
    """A dataset file is missing, unreadable or inconsistent. The message names the file and the fix."""


@dataclass
class Sample:
    """One point cloud with everything the five papers use.

    Conventions: ``points`` is ``(N, 3)`` float32, finite; per-point arrays have length ``N``; organized clouds
    (MVTec 3D-AD) keep the image grid through ``pixel_index`` — the flat index ``row * W + col`` of each point
    in an ``image_size = (H, W)`` grid — so scores can be put back on the image for AU-PRO.

    Attributes:
        points: ``(N, 3)`` float32 coordinates.
        category: object class (``bagel``, ``ashtray0``, ``airplane`` …).
        split: ``train`` | ``validation`` | ``test``.
        name: a short id unique within (category, split), usually the file stem.
        label: object label, 0 = normal, 1 = anomalous.
        defect_type: ``good`` for normal samples, else the dataset's defect name.
        point_labels: ``(N,)`` uint8 ground truth (1 = anomalous point) when known.
        normals: ``(N, 3)`` float32 unit normals when the source provides them.
        rgb: ``(H, W, 3)`` uint8 colour image (organized data).
        pixel_index: ``(N,)`` int64 flat pixel index of each point (organized data).
        image_size: ``(H, W)`` of the organized grid.
        gt_mask: ``(H, W)`` uint8 ground-truth mask on the image grid (organized data; 1 = anomalous).
        source: the file the points were read from.
        extras: anything format-specific (e.g. ``mesh_path`` of an Anomaly-ShapeNet template mesh).
    """

    points: np.ndarray
    category: str
    split: str
    name: str
    label: int = 0
    defect_type: str = GOOD
    point_labels: np.ndarray | None = None
    normals: np.ndarray | None = None
    rgb: np.ndarray | None = None
    pixel_index: np.ndarray | None = None
    image_size: tuple[int, int] | None = None
    gt_mask: np.ndarray | None = None
    source: Path | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        where = f" (sample {self.category}/{self.split}/{self.name}" + (f", file {self.source})" if self.source else ")")
        pts = np.asarray(self.points)
        if pts.ndim != 2 or pts.shape[1] != 3:
            raise DataError(f"points must have shape (N, 3), got {pts.shape}{where}")
        if pts.shape[0] == 0:
            raise DataError(f"points is empty{where}")
        self.points = np.ascontiguousarray(pts, dtype=np.float32)
        if not np.isfinite(self.points).all():
            bad = int((~np.isfinite(self.points)).any(axis=1).sum())
            raise DataError(f"{bad} point(s) have NaN/inf coordinates{where}; drop or repair them first")
        n = self.points.shape[0]
        if self.label not in (0, 1):
            raise DataError(f"label must be 0 or 1, got {self.label!r}{where}")
        if self.point_labels is not None:
            pl = np.asarray(self.point_labels).reshape(-1)
            if pl.shape[0] != n:
                raise DataError(f"point_labels has {pl.shape[0]} entries for {n} points{where}")
            self.point_labels = (pl > 0).astype(np.uint8)
        if self.normals is not None:
            nr = np.asarray(self.normals, dtype=np.float32)
            if nr.shape != (n, 3):
                raise DataError(f"normals must have shape ({n}, 3), got {nr.shape}{where}")
            self.normals = np.ascontiguousarray(nr)
        if self.pixel_index is not None:
            pi = np.asarray(self.pixel_index, dtype=np.int64).reshape(-1)
            if pi.shape[0] != n:
                raise DataError(f"pixel_index has {pi.shape[0]} entries for {n} points{where}")
            if self.image_size is None:
                raise DataError(f"pixel_index given without image_size{where}")
            h, w = self.image_size
            if pi.min() < 0 or pi.max() >= h * w:
                raise DataError(f"pixel_index out of range for image_size {self.image_size}{where}")
            self.pixel_index = pi
        if self.image_size is not None:
            self.image_size = (int(self.image_size[0]), int(self.image_size[1]))
        if self.gt_mask is not None:
            gm = np.asarray(self.gt_mask)
            if self.image_size is not None and gm.shape != self.image_size:
                raise DataError(f"gt_mask has shape {gm.shape}, expected image_size {self.image_size}{where}")
            self.gt_mask = (gm > 0).astype(np.uint8)
        if self.rgb is not None:
            rgb = np.asarray(self.rgb)
            if rgb.ndim != 3 or rgb.shape[2] != 3:
                raise DataError(f"rgb must have shape (H, W, 3), got {rgb.shape}{where}")
            self.rgb = rgb

    @property
    def num_points(self) -> int:
        return int(self.points.shape[0])

    @property
    def is_organized(self) -> bool:
        """True for clouds that come from an image grid (MVTec 3D-AD format)."""
        return self.pixel_index is not None

    def to_grid(self, values: np.ndarray, fill: float = 0.0) -> np.ndarray:
        """Scatter per-point ``values`` (N,) onto the ``(H, W)`` image grid; pixels without a point get ``fill``."""
        if self.pixel_index is None or self.image_size is None:
            raise DataError(f"sample {self.category}/{self.name} is not organized: it has no pixel grid")
        values = np.asarray(values).reshape(-1)
        if values.shape[0] != self.num_points:
            raise ValueError(f"values has {values.shape[0]} entries for {self.num_points} points")
        grid = np.full(self.image_size[0] * self.image_size[1], fill, dtype=np.result_type(values, np.float32))
        grid[self.pixel_index] = values
        return grid.reshape(self.image_size)

    def __repr__(self) -> str:  # short: samples are printed in notebooks
        extra = []
        if self.point_labels is not None:
            extra.append(f"anomalous_points={int(self.point_labels.sum())}")
        if self.is_organized:
            extra.append(f"grid={self.image_size}")
        return (
            f"Sample({self.category}/{self.split}/{self.name}, N={self.num_points}, label={self.label}, "
            f"defect={self.defect_type}" + (", " + ", ".join(extra) if extra else "") + ")"
        )
