"""Rigid registration of one cloud onto another: FPFH features + RANSAC (optionally refined by ICP).

Reg3D-AD (the Real3D-AD baseline) and Group3AD align every sample to one training template before comparing it
with memory banks of template-frame coordinates and features. The official Reg3D-AD code does this with Open3D's
global registration recipe: both clouds voxel-down-sampled (voxel ``v``), normals within ``2 v`` (at most 30
neighbours), FPFH within ``5 v`` (at most 100), RANSAC on mutual FPFH matches (3 points per hypothesis, edge-length
check 0.9, distance check and inlier distance ``1.5 v``, up to 100,000 iterations, confidence 0.999), a rigid
point-to-point estimate, and no ICP refinement. Those are :func:`register_ransac`'s defaults; ``icp=True`` adds a
point-to-point ICP on the down-sampled clouds.

Accuracy (tests/ops/test_ops_registration.py: an embedded shape of unit size moved by 40 degrees and 0.3, voxel
0.02): RANSAC alone leaves every point within two voxels of its true position, RANSAC + ICP within one.

Two RANSAC engines share the Open3D features (down-sampling, normals and FPFH, which are deterministic):

* ``engine="numpy"`` (default): our RANSAC, written to behave like Open3D's (same checkers, inlier test on the
  correspondences, confidence stopping rule) but **deterministic**: hypotheses come from a NumPy generator seeded
  with ``seed``, in fixed-size batches, so the same inputs and seed give the same transform on any machine and
  thread count. After the loop the best hypothesis is re-estimated on all its inlier correspondences (a
  least-squares polish; Open3D keeps the 3-point estimate).
* ``engine="open3d"``: Open3D's ``registration_ransac_based_on_feature_matching``, as the official code calls it.
  It runs on several threads, so two runs can differ by a few inlier choices (and Reg3D-AD's scores with them).

Both fall back to all (non-mutual) matches when the mutual filter leaves fewer than 9, as Open3D does (Open3D
prints a warning for each such cloud; we do not).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from anomaly3d.ops._backend import Array, Like, check_points, check_positive, to_numpy, to_torch

__all__ = ["Registration", "apply_transform", "feature_matches", "kabsch", "ransac_rigid", "register_ransac"]


@dataclass(frozen=True)
class Registration:
    """A rigid transform from a source cloud's frame to a target's, with its quality numbers.

    Attributes:
        transform: ``(4, 4)`` float64 homogeneous matrix, ``x_target = R x_source + t``.
        fitness: share of the down-sampled source points with a target point within the inlier distance.
        inlier_rmse: RMS distance of those inliers.
        iterations: RANSAC hypotheses drawn (``engine="numpy"``; 0 for Open3D, which does not report it).
    """

    transform: np.ndarray
    fitness: float
    inlier_rmse: float
    iterations: int = 0

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
    engine: str = "numpy",
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
        engine: ``"numpy"`` (deterministic, the default) or ``"open3d"`` (the official code's call).
        seed: the RANSAC generator's seed.

    Returns:
        :class:`Registration` (source -> target).

    Raises:
        ValueError: bad clouds, a non-positive voxel, a voxel so coarse that fewer than 3 points remain, or an
            unknown engine.
    """
    import open3d as o3d

    if engine not in ("numpy", "open3d"):
        raise ValueError(f"engine must be 'numpy' or 'open3d', got {engine!r}")
    src = to_numpy(check_points(source, "source", min_points=3), np.float64)
    tgt = to_numpy(check_points(target, "target", min_points=3), np.float64)
    v = check_positive(voxel_size, "voxel_size")
    reg = o3d.pipelines.registration
    s_down, s_feat = _prepared(src, v, normal_factor, feature_factor, max_nn_normal, max_nn)
    t_down, t_feat = _prepared(tgt, v, normal_factor, feature_factor, max_nn_normal, max_nn)
    dist = distance_factor * v
    iterations = 0
    if engine == "open3d":
        o3d.utility.random.seed(int(seed))
        with o3d.utility.VerbosityContextManager(o3d.utility.VerbosityLevel.Error):
            result = reg.registration_ransac_based_on_feature_matching(
                s_down, t_down, s_feat, t_feat, mutual_filter, dist,
                reg.TransformationEstimationPointToPoint(False), 3,
                [reg.CorrespondenceCheckerBasedOnEdgeLength(edge_length),
                 reg.CorrespondenceCheckerBasedOnDistance(dist)],
                reg.RANSACConvergenceCriteria(max_iteration, confidence),
            )
        transform = np.asarray(result.transformation, dtype=np.float64)
    else:
        sp, tp = np.asarray(s_down.points), np.asarray(t_down.points)
        pairs = feature_matches(np.asarray(s_feat.data).T, np.asarray(t_feat.data).T, mutual=mutual_filter)
        transform, iterations = ransac_rigid(sp[pairs[:, 0]], tp[pairs[:, 1]], inlier_distance=dist,
                                             edge_length=edge_length, max_iteration=max_iteration,
                                             confidence=confidence, seed=seed)
    if icp:
        result = reg.registration_icp(s_down, t_down, dist, transform, reg.TransformationEstimationPointToPoint(False))
    else:
        result = reg.evaluate_registration(s_down, t_down, dist, transform)
    transform = np.asarray(result.transformation if icp else transform, dtype=np.float64).copy()
    return Registration(transform, float(result.fitness), float(result.inlier_rmse), iterations)


def feature_matches(source_features: np.ndarray, target_features: np.ndarray, *, mutual: bool = True,
                    min_mutual: int = 9) -> np.ndarray:
    """``(M, 2)`` int64 (source, target) index pairs: each source point and its nearest target feature.

    With ``mutual``, only pairs that are also the target's nearest source are kept, unless fewer than
    ``min_mutual`` remain (then all pairs are kept, as Open3D does).
    """
    from scipy.spatial import cKDTree

    s = np.ascontiguousarray(source_features, dtype=np.float64)
    t = np.ascontiguousarray(target_features, dtype=np.float64)
    fwd = cKDTree(t).query(s, k=1)[1].astype(np.int64)
    pairs = np.stack([np.arange(len(s), dtype=np.int64), fwd], axis=1)
    if mutual:
        back = cKDTree(s).query(t, k=1)[1].astype(np.int64)
        keep = back[fwd] == np.arange(len(s))
        if keep.sum() >= min_mutual:
            pairs = pairs[keep]
    return pairs


def kabsch(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Least-squares rigid transforms ``(..., 4, 4)`` mapping ``source`` onto ``target`` (``(..., K, 3)`` each,
    batched over leading dimensions; Kabsch/Umeyama without scale, reflections excluded)."""
    sc, tc = source.mean(axis=-2, keepdims=True), target.mean(axis=-2, keepdims=True)
    h = np.swapaxes(source - sc, -1, -2) @ (target - tc)
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(np.swapaxes(vt, -1, -2) @ np.swapaxes(u, -1, -2)))
    fix = np.ones(h.shape[:-2] + (3,))
    fix[..., 2] = np.where(d == 0, 1.0, d)
    r = np.swapaxes(vt, -1, -2) @ (fix[..., :, None] * np.swapaxes(u, -1, -2))
    out = np.zeros(h.shape[:-2] + (4, 4))
    out[..., :3, :3] = r
    out[..., :3, 3] = tc[..., 0, :] - (r @ sc[..., 0, :, None])[..., 0]
    out[..., 3, 3] = 1.0
    return out


def ransac_rigid(
    source: np.ndarray,
    target: np.ndarray,
    *,
    inlier_distance: float,
    edge_length: float = 0.9,
    max_iteration: int = 100_000,
    confidence: float = 0.999,
    batch: int = 512,
    seed: int = 0,
) -> tuple[np.ndarray, int]:
    """RANSAC over putative correspondences ``source[i] <-> target[i]`` (``(M, 3)`` each); deterministic.

    Each hypothesis is 3 random correspondences; it is rejected unless every pair of its points keeps its length
    within ``edge_length`` (Open3D's edge-length checker) and its 3-point rigid fit puts each of them within
    ``inlier_distance`` (the distance checker). Survivors are ranked by the share of all correspondences they map
    within ``inlier_distance`` (then by the inliers' RMS distance). The loop stops after ``max_iteration``
    hypotheses, or once ``log(1 - confidence) / log(1 - w^3)`` have been drawn for the best inlier share ``w``.
    Hypotheses are drawn ``batch`` at a time and the stopping rule is checked between batches, so the result
    depends only on the inputs and ``seed``. The best hypothesis is then re-fitted to all its inliers.

    Returns:
        ``((4, 4) transform, hypotheses drawn)``; the identity when no hypothesis passes the checks.
    """
    m = len(source)
    best, best_fit, best_rmse = np.eye(4), 0.0, np.inf
    if m < 3:
        return best, 0
    rng = np.random.default_rng(seed)
    src, tgt = np.asarray(source, np.float64), np.asarray(target, np.float64)
    thr2 = inlier_distance**2
    drawn, needed = 0, max_iteration
    chunk = max(1, int(2_000_000 // max(m, 1)))  # hypotheses evaluated at once: ~2M point distances
    while drawn < min(needed, max_iteration):
        b = min(batch, max_iteration - drawn)
        drawn += b
        idx = rng.integers(0, m, size=(b, 3))
        s, t = src[idx], tgt[idx]  # (b, 3, 3)
        ok = (idx[:, 0] != idx[:, 1]) & (idx[:, 0] != idx[:, 2]) & (idx[:, 1] != idx[:, 2])
        for i, j in ((0, 1), (0, 2), (1, 2)):
            ds = np.linalg.norm(s[:, i] - s[:, j], axis=1)
            dt = np.linalg.norm(t[:, i] - t[:, j], axis=1)
            ok &= (ds >= edge_length * dt) & (dt >= edge_length * ds)
        if not ok.any():
            continue
        cand = kabsch(s[ok], t[ok])
        moved = np.einsum("bij,bkj->bki", cand[:, :3, :3], s[ok]) + cand[:, None, :3, 3]
        cand = cand[((moved - t[ok]) ** 2).sum(-1).max(axis=1) <= thr2]
        for lo in range(0, len(cand), chunk):
            c = cand[lo : lo + chunk]
            d2 = ((np.einsum("bij,mj->bmi", c[:, :3, :3], src) + c[:, None, :3, 3] - tgt) ** 2).sum(-1)
            inl = d2 <= thr2
            n_in = inl.sum(axis=1)
            rmse = np.sqrt(np.where(inl, d2, 0.0).sum(axis=1) / np.maximum(n_in, 1))
            fit = n_in / m
            k = int(np.lexsort((rmse, -fit))[0])  # largest fitness, then smallest rmse; first on ties
            if fit[k] > best_fit or (fit[k] == best_fit and rmse[k] < best_rmse):
                best, best_fit, best_rmse = c[k], float(fit[k]), float(rmse[k])
        if best_fit > 0:
            w3 = best_fit**3
            needed = 0 if w3 >= 1 else int(np.ceil(np.log(1 - confidence) / np.log1p(-w3)))
    if best_fit > 0:
        d2 = ((src @ best[:3, :3].T + best[:3, 3] - tgt) ** 2).sum(-1)
        inl = d2 <= thr2
        if inl.sum() >= 3:
            best = kabsch(src[inl], tgt[inl])
    return best, drawn
