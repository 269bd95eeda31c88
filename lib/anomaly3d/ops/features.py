"""Hand-crafted local descriptors: FPFH (Rusu et al. 2009) through Open3D.

FPFH is the classical baseline feature of the MVTec 3D-AD and Real3D-AD benchmarks (BTF, M3DM's FPFH rows,
Reg3D-AD); it is rotation invariant given consistent normals. Open3D is imported on first use only.
"""

from __future__ import annotations

import numpy as np
import torch

from anomaly3d.ops._backend import Array, Like, check_count, check_points, check_positive, to_numpy

__all__ = ["fpfh"]


def fpfh(
    points: Array,
    *,
    normals: Array | None = None,
    radius_normal: float | None = None,
    radius_feature: float,
    max_nn: int = 100,
    max_nn_normal: int = 30,
) -> Array:
    """Fast Point Feature Histograms, one 33-bin descriptor per point (Open3D's ``compute_fpfh_feature``).

    Args:
        points: ``(N, 3)`` cloud.
        normals: ``(N, 3)`` normals to use; ``None`` estimates them with Open3D (hybrid search: at most
            ``max_nn_normal`` neighbours within ``radius_normal``).
        radius_normal: normal-estimation radius; required when ``normals`` is ``None``. BTF / M3DM use 2x the
            voxel size of the down-sampled cloud.
        radius_feature: descriptor radius (BTF / M3DM: 5x the voxel size).
        max_nn: at most this many neighbours per descriptor.
        max_nn_normal: at most this many neighbours per normal.

    Returns:
        ``(N, 33)`` float32 descriptors, NumPy or a tensor on the input's device.

    Raises:
        ValueError: bad points/normals, non-positive radii, or no ``radius_normal`` without ``normals``.
    """
    import open3d as o3d

    p = check_points(points, "points")
    radius_feature = check_positive(radius_feature, "radius_feature")
    max_nn = check_count(max_nn, "max_nn")
    like = Like.of(p)
    # FPFH is translation invariant; centring keeps Open3D's one-pass covariances (normals) accurate
    centred = to_numpy(p, np.float64)
    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(centred - centred.mean(axis=0)))
    if normals is None:
        if radius_normal is None:
            raise ValueError(
                "radius_normal is required when normals=None (it sets the normal-estimation radius)"
            )
        radius_normal = check_positive(radius_normal, "radius_normal")
        max_nn_normal = check_count(max_nn_normal, "max_nn_normal")
        pcd.estimate_normals(o3d.geometry.KDTreeSearchParamHybrid(radius=radius_normal, max_nn=max_nn_normal))
    else:
        nrm = check_points(normals, "normals")
        if nrm.shape != p.shape:
            raise ValueError(
                f"normals must have the shape of points {tuple(p.shape)}, got {tuple(nrm.shape)}"
            )
        pcd.normals = o3d.utility.Vector3dVector(to_numpy(nrm, np.float64))
    feat = o3d.pipelines.registration.compute_fpfh_feature(
        pcd, o3d.geometry.KDTreeSearchParamHybrid(radius=radius_feature, max_nn=max_nn)
    )
    out = torch.from_numpy(np.asarray(feat.data, dtype=np.float32).T.copy())
    return Like(like.is_torch, like.device, torch.float32).floats(out)
