"""Rigid registration of one cloud onto another: FPFH features + RANSAC (optionally refined by ICP), via Open3D.

Reg3D-AD (the Real3D-AD baseline) and Group3AD align every sample to one training template before comparing it
with memory banks of template-frame coordinates and features. The official Reg3D-AD code does this with Open3D's
global registration recipe: both clouds voxel-down-sampled (voxel ``v``), normals within ``2 v`` (at most 30
neighbours), FPFH within ``5 v`` (at most 100), RANSAC on mutual FPFH matches (3 points per hypothesis, edge-length
check 0.9, distance check and inlier distance ``1.5 v``, up to 100,000 iterations, confidence 0.999), a rigid
point-to-point estimate, and no ICP refinement. Those are :func:`register_ransac`'s defaults; ``icp=True`` adds a
point-to-point ICP on the down-sampled clouds.

Accuracy (tests/ops/test_ops_registration.py: an embedded shape of unit size moved by 40 degrees and 0.3, voxel
0.02): RANSAC alone leaves every point within two voxels of its true position, RANSAC + ICP within one.

Open3D's RANSAC draws from its own generator (seeded here with ``seed``) and runs on several threads, so two runs
can differ by a few inlier choices; compare registrations by tolerance, not bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from anomaly3d.ops._backend import Array, Like, check_points, check_positive, to_numpy, to_torch

__all__ = ["Registration", "apply_transform", "register_ransac"]


@dataclass(frozen=True)
class Registration:
    """A rigid transform from a source cloud's frame to a target's, with Open3D's quality numbers.

    Attributes:
        transform: ``(4, 4)`` float64 homogeneous matrix, ``x_target = R x_source + t``.
        fitness: share of the down-sampled source points with a target point within the inlier distance.
        inlier_rmse: RMS distance of those inliers.
    """

    transform: np.ndarray
    fitness: float
    inlier_rmse: float

    @property
    def rotation(self) -> np.ndarray:
        """``(3, 3)`` rotation ``R``."""
        return self.transform[:3, :3]

    @property
    def translation(self) -> np.ndarray:
        """``(3,)`` translation ``t``."""
        return self.transform[:3, 3]

    def apply(self, points: Array) -> Array:
        """``points`` moved into the target frame (see :func:`apply_transform`)."""
        return apply_transform(points, self.transform)


def apply_transform(points: Array, transform: Array) -> Array:
    """``R p + t`` for every point, with ``transform`` a ``(4, 4)`` homogeneous rigid matrix.

    Returns:
        ``(N, 3)`` points of the input's kind, device and float dtype.

    Raises:
        ValueError: bad points or a transform that is not ``(4, 4)`` and finite.
    """
    p = check_points(points, "points")
    like = Like.of(p)
    t = to_torch(transform).to(torch.float64)
    if t.shape != (4, 4) or not bool(torch.isfinite(t).all()):
        raise ValueError(f"transform must be a finite (4, 4) matrix, got shape {tuple(t.shape)}")
    pt = to_torch(p).to(torch.float64)
    t = t.to(pt.device)
    return like.floats(pt @ t[:3, :3].T + t[:3, 3])


def _prepared(points: np.ndarray, voxel: float, normal_factor: float, feature_factor: float, max_nn_normal: int,
              max_nn: int):
    import open3d as o3d

    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points))
    down = pcd.voxel_down_sample(voxel)
    if len(down.points) < 3:
        raise ValueError(
            f"voxel_size={voxel} leaves {len(down.points)} points of a {len(points)}-point cloud; use a smaller voxel"
        )
    search = o3d.geometry.KDTreeSearchParamHybrid(radius=normal_factor * voxel, max_nn=max_nn_normal)
    down.estimate_normals(search)
    feats = o3d.pipelines.registration.compute_fpfh_feature(
        down, o3d.geometry.KDTreeSearchParamHybrid(radius=feature_factor * voxel, max_nn=max_nn)
    )
    return down, feats


def register_ransac(
    source: Array,
    target: Array,
    *,
    voxel_size: float,
    normal_factor: float = 2.0,
    feature_factor: float = 5.0,
    max_nn_normal: int = 30,
    max_nn: int = 100,
    distance_factor: float = 1.5,
    edge_length: float = 0.9,
    max_iteration: int = 100_000,
    confidence: float = 0.999,
    mutual_filter: bool = True,
    icp: bool = False,
    seed: int = 0,
) -> Registration:
    """The rigid transform that maps ``source`` onto ``target`` (module docstring for the recipe and defaults).

    Args:
        source, target: ``(N, 3)`` / ``(M, 3)`` clouds in the same units.
        voxel_size: down-sampling voxel ``v``; the normal, feature and inlier radii are multiples of it.
        normal_factor, feature_factor, distance_factor: those multiples (2, 5, 1.5).
        max_nn_normal, max_nn: neighbour caps of the normal and FPFH estimates.
        edge_length: RANSAC's edge-length similarity check.
        max_iteration, confidence: RANSAC's stopping rule.
        mutual_filter: keep only mutual nearest FPFH matches.
        icp: refine with point-to-point ICP (inlier distance ``distance_factor * v``).
        seed: Open3D's random generator.

    Returns:
        :class:`Registration` (source -> target).

    Raises:
        ValueError: bad clouds, a non-positive voxel, or a voxel so coarse that fewer than 3 points remain.
    """
    import open3d as o3d

    src = to_numpy(check_points(source, "source", min_points=3), np.float64)
    tgt = to_numpy(check_points(target, "target", min_points=3), np.float64)
    v = check_positive(voxel_size, "voxel_size")
    reg = o3d.pipelines.registration
    o3d.utility.random.seed(int(seed))
    s_down, s_feat = _prepared(src, v, normal_factor, feature_factor, max_nn_normal, max_nn)
    t_down, t_feat = _prepared(tgt, v, normal_factor, feature_factor, max_nn_normal, max_nn)
    dist = distance_factor * v
    result = reg.registration_ransac_based_on_feature_matching(
        s_down, t_down, s_feat, t_feat, mutual_filter, dist,
        reg.TransformationEstimationPointToPoint(False), 3,
        [reg.CorrespondenceCheckerBasedOnEdgeLength(edge_length), reg.CorrespondenceCheckerBasedOnDistance(dist)],
        reg.RANSACConvergenceCriteria(max_iteration, confidence),
    )
    if icp:
        result = reg.registration_icp(s_down, t_down, dist, result.transformation,
                                      reg.TransformationEstimationPointToPoint(False))
    return Registration(np.asarray(result.transformation, dtype=np.float64).copy(), float(result.fitness),
                        float(result.inlier_rmse))
