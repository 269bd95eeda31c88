"""Local PCA on k-nearest-neighbour patches: normals (with orientation) and curvature (IMRNet eq. 2).

The neighbourhood of a point is its ``k`` nearest points, the point itself included (as Open3D's KNN search
does). Covariances are accumulated in float64 in chunks of points, so memory stays ``O(N k)``. Normals and
curvature use a closed-form 3x3 eigen-solver (:mod:`anomaly3d.ops._eigen3`); :func:`local_pca` returns the
full ``torch.linalg.eigh`` decomposition.
"""

from __future__ import annotations

import numpy as np
import torch

from anomaly3d.ops._backend import (
    Array,
    Like,
    check_choice,
    check_count,
    check_points,
    check_position,
    to_numpy,
    to_torch,
)
from anomaly3d.ops._eigen3 import sym3_eigvals, sym3_smallest_eigvec
from anomaly3d.ops.neighbors import knn

__all__ = ["curvature", "estimate_normals", "local_pca", "orient_normals"]

_PCA_CHUNK = 65536
_PCA_BACKENDS = ("auto", "open3d", "scipy", "torch", "torch_cluster")


def _covariances(points: Array, k: int, backend: str) -> tuple[torch.Tensor, Like]:
    """Population covariance ``(N, 3, 3)`` (float64) of every point's ``k`` nearest points (itself included).

    ``backend``: ``"open3d"`` (``PointCloud.estimate_covariances``, the CPU default: measured fastest) or a
    kNN backend (:func:`~anomaly3d.ops.knn`) followed by chunked torch (the default for CUDA tensors).
    """
    check_choice(backend, "backend", _PCA_BACKENDS)
    p = check_points(points, "points")
    k = check_count(k, "k", low=1, high=p.shape[0], what="the number of points")
    on_cuda = isinstance(p, torch.Tensor) and p.device.type == "cuda"
    if backend == "open3d" or (backend == "auto" and not on_cuda):
        import open3d as o3d

        # Open3D accumulates E[pp^T] - E[p]E[p]^T: centre first (covariances are translation invariant), or a
        # cloud far from the origin loses its small eigenvalues to cancellation
        centred = to_numpy(p, np.float64)
        centred = centred - centred.mean(axis=0)
        pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(centred))
        pcd.estimate_covariances(o3d.geometry.KDTreeSearchParamKNN(k))
        cov = torch.from_numpy(np.asarray(pcd.covariances))
        return (cov if not on_cuda else cov.to(p.device)), Like.of(p)
    _, idx = knn(p, None, k, backend=backend)
    pt = to_torch(p).detach().to(torch.float64)
    idx = to_torch(idx, pt.device)
    cov = torch.empty((pt.shape[0], 3, 3), dtype=torch.float64, device=pt.device)
    for s in range(0, pt.shape[0], _PCA_CHUNK):
        rows = idx[s : s + _PCA_CHUNK]
        # offsets from the query point (small numbers: no cancellation in E[dd^T] - E[d]E[d]^T)
        d = torch.index_select(pt, 0, rows.reshape(-1)).view(*rows.shape, 3) - pt[s : s + _PCA_CHUNK, None, :]
        mu = d.mean(dim=1)
        x, y, z = d.unbind(dim=-1)
        block = cov[s : s + _PCA_CHUNK]
        for i, j, a, b in (
            (0, 0, x, x),
            (1, 1, y, y),
            (2, 2, z, z),
            (0, 1, x, y),
            (0, 2, x, z),
            (1, 2, y, z),
        ):
            block[:, i, j] = (a * b).mean(dim=1) - mu[:, i] * mu[:, j]
            block[:, j, i] = block[:, i, j]
    return cov, Like.of(p)


def local_pca(points: Array, k: int = 16, *, backend: str = "auto") -> tuple[Array, Array]:
    """Eigen-decomposition of every point's neighbourhood covariance.

    Args:
        points: ``(N, 3)`` cloud.
        k: neighbourhood size (the point itself included), ``1 <= k <= N``.
        backend: ``"auto"``, ``"open3d"`` (Open3D's covariances; the CPU default), or a kNN backend
            (``"scipy"``, ``"torch"``, ``"torch_cluster"``; see :func:`~anomaly3d.ops.knn`) then torch.

    Returns:
        ``(eigenvalues (N, 3), eigenvectors (N, 3, 3))``: eigenvalues ascending (population covariance,
        divided by ``k``), eigenvectors as columns (``eigenvectors[i, :, 0]`` is the normal direction).
    """
    cov, like = _covariances(points, k, backend)
    vals, vecs = torch.linalg.eigh(cov)
    return like.floats(vals.clamp_min(0)), like.floats(vecs)


def orient_normals(
    points: Array,
    normals: Array,
    orient: str = "outward",
    *,
    viewpoint: Array | None = None,
    k: int = 16,
) -> Array:
    """Flip normals to a consistent side.

    Args:
        points: ``(N, 3)`` cloud.
        normals: ``(N, 3)`` unoriented normals of ``points``.
        orient: ``"outward"`` — away from the cloud's centroid: right for convex and star-shaped objects
            (a sphere, a bottle's side), wrong where the surface faces the centroid (the inside of a cup or
            a bowl, deep concavities, thin parts far off-centre); ``"viewpoint"`` — towards ``viewpoint``
            (e.g. the scanner at the origin for MVTec 3D-AD's single-view clouds); ``"consistent"`` —
            Open3D's consistent tangent-plane propagation (Hoppe et al. 1992: a minimum spanning tree over
            the kNN graph, slower but right on most non-convex closed surfaces), then the global sign that
            makes most normals point outward.
        viewpoint: ``(3,)`` position for ``orient="viewpoint"``.
        k: neighbours of the propagation graph for ``orient="consistent"``.

    Returns:
        the oriented normals, same kind/device/dtype as ``normals``.
    """
    check_choice(orient, "orient", ("outward", "viewpoint", "consistent"))
    p = check_points(points, "points")
    nrm = check_points(normals, "normals")
    if nrm.shape != p.shape:
        raise ValueError(f"normals must have the shape of points {tuple(p.shape)}, got {tuple(nrm.shape)}")
    like = Like.of(nrm)
    pt = to_torch(p).detach().to(torch.float64)
    nt = to_torch(nrm, pt.device).detach().to(torch.float64)
    if orient == "consistent":
        nt = _consistent(to_numpy(pt), to_numpy(nt), k).to(pt.device)
    if orient == "viewpoint":
        if viewpoint is None:
            raise ValueError("orient='viewpoint' needs viewpoint=(x, y, z), e.g. the sensor position")
        v = check_position(viewpoint, "viewpoint").to(pt.device)
        flip = ((v - pt) * nt).sum(dim=1) < 0
        nt = torch.where(flip.unsqueeze(1), -nt, nt)
    else:
        outward = ((pt - pt.mean(dim=0)) * nt).sum(dim=1)
        if orient == "outward":
            nt = torch.where((outward < 0).unsqueeze(1), -nt, nt)
        elif outward.sum() < 0:  # consistent: one global sign
            nt = -nt
    return like.floats(nt)


def _consistent(points: np.ndarray, normals: np.ndarray, k: int) -> torch.Tensor:
    import open3d as o3d

    k = check_count(k, "k", low=1, high=max(1, len(points) - 1), what="the number of points minus one")
    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points))
    pcd.normals = o3d.utility.Vector3dVector(normals)
    pcd.orient_normals_consistent_tangent_plane(k)
    return torch.from_numpy(np.asarray(pcd.normals).copy())


def estimate_normals(
    points: Array,
    k: int = 16,
    *,
    orient: str | None = None,
    viewpoint: Array | None = None,
    backend: str = "auto",
) -> Array:
    """Unit normals by PCA: the eigenvector of the smallest eigenvalue of each kNN covariance (the
    least-squares plane of IMRNet eq. 1).

    Args:
        points: ``(N, 3)`` cloud.
        k: neighbourhood size (point included), ``3 <= k <= N``.
        orient: ``None`` (sign arbitrary), ``"outward"``, ``"viewpoint"`` or ``"consistent"``; see
            :func:`orient_normals` for what each does and where ``"outward"`` fails (non-convex shapes).
        viewpoint: sensor position for ``orient="viewpoint"``.
        backend: as in :func:`local_pca`.

    Returns:
        ``(N, 3)`` unit normals, same kind/device/dtype as ``points``.
    """
    check_choice(orient, "orient", (None, "outward", "viewpoint", "consistent"))
    check_count(k, "k", low=3)
    cov, like = _covariances(points, k, backend)
    normals = like.floats(sym3_smallest_eigvec(cov))
    if orient is None:
        return normals
    return orient_normals(points, normals, orient, viewpoint=viewpoint, k=k)


def curvature(
    points: Array,
    k: int = 16,
    *,
    variant: str = "imrnet",
    eps: float = 1e-12,
    backend: str = "auto",
) -> Array:
    """Per-point curvature from the neighbourhood covariance eigenvalues ``l0 <= l1 <= l2``.

    ``variant="imrnet"`` is IMRNet's eq. 2, ``K = min(l_a, l_b) / (l_a + l_b + eps)``. The paper does not say
    which two of the three eigenvalues it means; we read them as the two smallest (``l0``, ``l1``), i.e.
    ``K = l0 / (l0 + l1 + eps)``: 0 on a plane, rising to 1/2 where the patch stops being flat in its
    second-flattest direction. (Taking the two tangent eigenvalues ``l1, l2`` would measure in-plane
    anisotropy, not curvature: a flat, evenly sampled patch would score 1/2.) ``variant="surface_variation"``
    is Pauly et al.'s ``l0 / (l0 + l1 + l2 + eps)`` (in [0, 1/3]), the usual point-cloud curvature proxy.

    Args:
        points: ``(N, 3)`` cloud.
        k: neighbourhood size (point included), ``3 <= k <= N``.
        variant: ``"imrnet"`` or ``"surface_variation"``.
        eps: the small constant of eq. 2 (absolute; eigenvalues scale with squared point spacing).
        backend: as in :func:`local_pca`.

    Returns:
        ``(N,)`` curvature, same kind/device/dtype as ``points``.
    """
    check_choice(variant, "variant", ("imrnet", "surface_variation"))
    check_count(k, "k", low=3)
    if not (isinstance(eps, (int, float)) and eps >= 0):
        raise ValueError(f"eps must be a non-negative number, got {eps!r}")
    cov, like = _covariances(points, k, backend)
    vals = sym3_eigvals(cov).clamp_min(0)
    denom = vals[:, 0] + vals[:, 1] + (vals[:, 2] if variant == "surface_variation" else 0.0) + eps
    k_val = torch.where(denom > 0, vals[:, 0] / denom, torch.zeros_like(denom))
    return like.floats(k_val)
