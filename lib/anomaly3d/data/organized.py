"""Organized (image-grid) point clouds: validity, the BTF preprocessing and resizing.

MVTec 3D-AD stores every scan as an ``(H, W, 3)`` grid of x, y, z with zeros where nothing was measured. The
numbers printed by BTF (Horwitz & Hoshen, 2023) and every later MVTec 3D-AD paper in this library (3D-ST's
evaluation aside) are computed on data preprocessed by BTF's script, then resized to 224×224:

1. fit a plane by RANSAC to the measured points of the 10-pixel image border (Open3D ``segment_plane``,
   distance 0.004, 50 points per hypothesis, 1000 iterations) and zero every pixel closer than 0.005 to it;
2. zero-pad the grid to a square whose side is the larger of H, W rounded up to the next multiple of 100;
3. cluster the remaining points with DBSCAN (eps 0.006, min 30 points) and keep only the most populated label
   — as in BTF, DBSCAN's noise label (-1) competes as a "cluster";
4. resize: nearest neighbour for xyz and masks, bicubic for RGB.

All functions here work on arrays; :mod:`anomaly3d.data.formats.mvtec3d` applies them while loading.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from anomaly3d.data.sample import DataError

__all__ = [
    "BTFParams",
    "border_points",
    "btf_preprocess",
    "keep_largest_cluster",
    "nearest_indices",
    "pad_to_square",
    "remove_background_plane",
    "resize_nearest",
    "resize_rgb_bicubic",
    "valid_mask",
]


@dataclass(frozen=True)
class BTFParams:
    """Parameters of the BTF preprocessing (defaults = BTF's ``utils/preprocessing.py``)."""

    border: int = 10
    plane_fit_distance: float = 0.004
    plane_ransac_n: int = 50
    plane_iterations: int = 1000
    plane_remove_distance: float = 0.005
    pad_multiple: int = 100
    dbscan_eps: float = 0.006
    dbscan_min_points: int = 30
    seed: int | None = 0


def valid_mask(xyz: np.ndarray) -> np.ndarray:
    """``(H, W)`` bool: pixels whose x, y and z are all non-zero (BTF/M3DM's definition of a measured point)."""
    _check_grid(xyz)
    return np.all(xyz != 0, axis=2)


def _check_grid(xyz: np.ndarray) -> None:
    if xyz.ndim != 3 or xyz.shape[2] != 3:
        raise ValueError(f"organized cloud must have shape (H, W, 3), got {xyz.shape}")


def border_points(xyz: np.ndarray, width: int = 10) -> np.ndarray:
    """Measured points of the ``width``-pixel frame of the grid (the background plane in MVTec 3D-AD scans).

    Pixels in the corners appear twice (top/bottom rows and left/right columns), as in BTF.
    """
    _check_grid(xyz)
    parts = [xyz[:width], xyz[-width:], xyz[:, :width], xyz[:, -width:]]
    pts = np.concatenate([p.reshape(-1, 3) for p in parts], axis=0)
    return pts[np.all(pts != 0, axis=1)]


def _o3d_seed(seed: int | None) -> None:
    if seed is not None:
        import open3d as o3d

        o3d.utility.random.seed(int(seed))


def remove_background_plane(
    xyz: np.ndarray, params: BTFParams = BTFParams()
) -> tuple[np.ndarray, np.ndarray]:
    """Zero every pixel within ``plane_remove_distance`` of the plane fitted to the border points.

    Returns:
        ``(xyz_without_plane, removed)`` where ``removed`` is the ``(H, W)`` bool mask of zeroed pixels.

    Raises:
        DataError: fewer measured border points than ``plane_ransac_n`` (no plane can be fitted).
    """
    import open3d as o3d

    edge = border_points(xyz, params.border)
    if edge.shape[0] < params.plane_ransac_n:
        raise DataError(
            f"cannot fit the background plane: only {edge.shape[0]} measured points on the "
            f"{params.border}-pixel border (need {params.plane_ransac_n})"
        )
    _o3d_seed(params.seed)
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(edge.astype(np.float64)))
    plane, _ = cloud.segment_plane(
        distance_threshold=params.plane_fit_distance,
        ransac_n=params.plane_ransac_n,
        num_iterations=params.plane_iterations,
    )
    a, b, c, d = (float(v) for v in plane)
    flat = xyz.reshape(-1, 3).astype(np.float64)
    dist = np.abs(flat @ np.array([a, b, c]) + d)
    removed = (dist < params.plane_remove_distance).reshape(xyz.shape[:2])
    out = xyz.copy()
    out[removed] = 0
    return out, removed


def pad_to_square(grid: np.ndarray, multiple: int = 100) -> tuple[np.ndarray, tuple[int, int]]:
    """Zero-pad an ``(H, W, …)`` grid to a square of side ``max(ceil(H/m)*m, ceil(W/m)*m)``, centred as BTF does.

    Returns:
        ``(padded, (top, left))`` offsets of the original grid inside the padded one.
    """
    h, w = grid.shape[:2]
    side = max(math.ceil(h / multiple) * multiple, math.ceil(w / multiple) * multiple)
    top, left = (side - h) // 2, (side - w) // 2
    pad = [(top, side - h - top), (left, side - w - left)] + [(0, 0)] * (grid.ndim - 2)
    return np.pad(grid, pad, mode="constant"), (top, left)


def keep_largest_cluster(xyz: np.ndarray, params: BTFParams = BTFParams()) -> tuple[np.ndarray, np.ndarray]:
    """Keep only the most populated DBSCAN label among the measured points (noise label included, as BTF).

    Returns:
        ``(xyz_cleaned, removed)`` with ``removed`` the ``(H, W)`` mask of zeroed pixels.

    Raises:
        DataError: no measured point left to cluster.
    """
    import open3d as o3d

    valid = valid_mask(xyz)
    idx = np.flatnonzero(valid.ravel())
    if idx.size == 0:
        raise DataError("no measured points left after removing the background plane")
    pts = xyz.reshape(-1, 3)[idx].astype(np.float64)
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(pts))
    labels = np.asarray(
        cloud.cluster_dbscan(eps=params.dbscan_eps, min_points=params.dbscan_min_points, print_progress=False)
    )
    ids, sizes = np.unique(labels, return_counts=True)
    keep = ids[np.argmax(sizes)]
    drop = idx[labels != keep]
    removed = np.zeros(valid.size, dtype=bool)
    removed[drop] = True
    removed = removed.reshape(valid.shape)
    out = xyz.copy()
    out[removed] = 0
    return out, removed


def btf_preprocess(
    xyz: np.ndarray,
    rgb: np.ndarray | None = None,
    gt: np.ndarray | None = None,
    params: BTFParams = BTFParams(),
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Apply BTF's preprocessing (plane removal, square padding, largest cluster) to one organized scan.

    RGB pixels of removed points are zeroed like the points; ``rgb`` and ``gt`` are padded like ``xyz``.

    Args:
        xyz: ``(H, W, 3)`` float32 organized cloud (zeros = no measurement).
        rgb: optional ``(H, W, 3)`` uint8 image on the same grid.
        gt: optional ``(H, W)`` mask on the same grid.
        params: the preprocessing constants (BTF's defaults).

    Returns:
        ``(xyz, rgb, gt)`` on the padded ``(S, S)`` grid.

    Raises:
        DataError: the plane cannot be fitted or nothing is left (see the helpers).
        ValueError: grids of different shapes.
    """
    _check_grid(xyz)
    for name, arr in (("rgb", rgb), ("gt", gt)):
        if arr is not None and arr.shape[:2] != xyz.shape[:2]:
            raise ValueError(f"{name} grid {arr.shape[:2]} differs from the xyz grid {xyz.shape[:2]}")
    xyz, removed = remove_background_plane(xyz, params)
    if rgb is not None:
        rgb = rgb.copy()
        rgb[removed] = 0
    xyz, _ = pad_to_square(xyz, params.pad_multiple)
    rgb = pad_to_square(rgb, params.pad_multiple)[0] if rgb is not None else None
    gt = pad_to_square(gt, params.pad_multiple)[0] if gt is not None else None
    xyz, removed = keep_largest_cluster(xyz, params)
    if rgb is not None:
        rgb[removed] = 0
    return xyz, rgb, gt


def nearest_indices(n_in: int, n_out: int) -> np.ndarray:
    """Source index of each output index for nearest resizing, as ``torch.nn.functional.interpolate``
    (``mode="nearest"``): ``min(floor(i * n_in / n_out), n_in - 1)`` computed in float32."""
    if n_in <= 0 or n_out <= 0:
        raise ValueError(f"sizes must be positive, got {n_in} -> {n_out}")
    scale = np.float32(n_in / n_out)
    src = np.floor(np.arange(n_out, dtype=np.float32) * scale).astype(np.int64)
    return np.minimum(src, n_in - 1)


def resize_nearest(grid: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of an ``(H, W, …)`` grid to ``size = (H', W')`` (torch's nearest rule).

    Used for xyz and for masks alike, so a resized mask stays aligned with the resized points.
    """
    rows = nearest_indices(grid.shape[0], size[0])
    cols = nearest_indices(grid.shape[1], size[1])
    return np.ascontiguousarray(grid[rows][:, cols])


def resize_rgb_bicubic(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bicubic resize of an ``(H, W, 3)`` uint8 image to ``size = (H', W')`` with Pillow (what torchvision's
    ``Resize(..., BICUBIC)`` does on a PIL image)."""
    from PIL import Image

    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"rgb must be (H, W, 3) uint8, got {rgb.shape} {rgb.dtype}")
    out = Image.fromarray(rgb).resize((int(size[1]), int(size[0])), resample=Image.Resampling.BICUBIC)
    return np.asarray(out)
