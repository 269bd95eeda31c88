"""Patch-centre samplers: random, farthest point, voxel, and IMRNet's geometry-aware sampling (GPS).

Point-MAE-style methods cut a cloud into patches around ``n`` centres. Where those centres sit decides which
structures a patch can describe: IMRNet (Li et al., CVPR 2024, Sec. 4.1) argues that uniform choices (random,
FPS, voxel) spread centres evenly and so under-sample small, sharp defects, and samples centres more densely
where the surface orientation and curvature change fastest.

GPS, as implemented here:

1. normals by a least-squares plane fit to the ``k`` nearest neighbours (eq. 1: the eigenvector of the
   smallest covariance eigenvalue, :func:`~anomaly3d.ops.estimate_normals`) and curvature
   ``K = l0 / (l0 + l1 + eps)`` (eq. 2, :func:`~anomaly3d.ops.curvature`);
2. per neighbour pair the rates of change ``R_norm = |N_i - N_j| / |v_ij|`` (eq. 3) and
   ``R_curv = |K_i - K_j|`` (eq. 4), averaged over the neighbours into ``R_i`` (eq. 5);
3. the salient set ``S`` = the ``floor(tau * N)`` points of highest ``R_i`` (eq. 6, ``tau = 0.3``);
4. ``salient_ratio`` times as many centres in ``S`` as outside it (the paper: "twice"): the salient centres are
   drawn uniformly at random from ``S`` (so they follow the density of salient points: where an edge or a defect
   makes many points salient, many centres go), the others by FPS outside ``S`` (so the rest of the surface stays
   evenly covered).

Choices the paper leaves open: neighbourhoods are the ``k`` nearest points rather than a radius (robust to the
1000-fold density range of Real3D-AD); PCA normals have an arbitrary sign, so ``|N_i - N_j|`` is taken as
``min(|N_i - N_j|, |N_i + N_j|)`` (a flat patch whose normals flip sign is not a change of orientation); the
two terms of eq. 5 are added as printed, with coordinates as given (callers normalise clouds first); how centres
are drawn inside ``S`` is not stated ("sampling points with ranks from 1 to floor(tau N)"): uniform random is the
default, ``salient_sampler="fps"`` spreads them out instead. Measured on a cube's surface (8,000 points, 18 % of
them within 0.1 of an edge), 256 centres: random 17 %, FPS 20 %, voxel 16 % and GPS 42 % near an edge with
random draws in ``S``, but only 17 % with FPS in ``S``: the flat-face points that make it into the top 30 % by
noise are spread over the whole surface, and FPS, which seeks spread, spends its centres on them.
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
    check_positive,
    make_rng,
    to_numpy,
)
from anomaly3d.ops.features import fpfh
from anomaly3d.ops.neighbors import knn
from anomaly3d.ops.normals import curvature, estimate_normals
from anomaly3d.ops.sampling import fps
from anomaly3d.ops.voxels import voxelize

__all__ = [
    "CENTER_SAMPLERS",
    "adaptive_group_centers",
    "fpfh_variation",
    "geometry_aware_sampling",
    "rate_of_change",
    "salient_split",
    "sample_centers",
    "voxel_fpfh_variation",
]

CENTER_SAMPLERS = ("random", "fps", "voxel", "gps")
"""The samplers of IMRNet's Table 4: random (RS), farthest point (FPS), voxel down-sampling, GPS."""


def rate_of_change(points: Array, k: int = 16, *, eps: float = 1e-12) -> np.ndarray:
    """IMRNet eqs. 1-5: each point's mean rate of change of normal and curvature over its ``k`` neighbours.

    Args:
        points: ``(N, 3)`` cloud, ``N > k``.
        k: neighbourhood size (the point itself included for the normal/curvature fits; excluded from the
            average of eq. 5).
        eps: eq. 2's constant.

    Returns:
        ``(N,)`` float64 ``R_i`` (NumPy).

    Raises:
        ValueError: bad points, ``k`` out of range (``3 <= k < N``).
    """
    p = to_numpy(check_points(points, "points", min_points=4), np.float64)
    k = check_count(k, "k", low=3, high=len(p) - 1, what="the number of points minus one")
    normals = np.asarray(estimate_normals(p, k))  # eq. 1
    curv = np.asarray(curvature(p, k, eps=eps))  # eq. 2
    dist, idx = knn(p, k=k, exclude_self=True)
    dist, idx = np.asarray(dist), np.asarray(idx)
    diff = np.minimum(np.linalg.norm(normals[:, None] - normals[idx], axis=2),
                      np.linalg.norm(normals[:, None] + normals[idx], axis=2))  # sign-invariant |N_i - N_j|
    safe = np.where(dist > 0, dist, np.inf)  # duplicated points add no orientation change
    r_norm = diff / safe  # eq. 3
    r_curv = np.abs(curv[:, None] - curv[idx])  # eq. 4
    return (r_norm + r_curv).mean(axis=1)  # eq. 5


def salient_split(scores: np.ndarray, tau: float) -> np.ndarray:
    """Eq. 6: boolean mask of the ``floor(tau * N)`` highest-scoring points (rank 1 = highest; ties by index)."""
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1 or not np.isfinite(s).all():
        raise ValueError(f"scores must be a finite 1-D array, got shape {s.shape}")
    if not 0.0 <= tau <= 1.0:
        raise ValueError(f"tau must be in [0, 1], got {tau}")
    n_salient = int(np.floor(tau * len(s)))
    mask = np.zeros(len(s), dtype=bool)
    mask[np.argsort(-s, kind="stable")[:n_salient]] = True
    return mask


def _draw_within(
    points: np.ndarray, subset: np.ndarray, n: int, rng: np.random.Generator, how: str
) -> np.ndarray:
    if n <= 0 or len(subset) == 0:
        return np.empty(0, dtype=np.int64)
    n = min(n, len(subset))
    if how == "random":
        return np.sort(rng.choice(subset, n, replace=False))
    return subset[np.asarray(fps(points[subset], n, start="random", seed=rng))]


def geometry_aware_sampling(
    points: Array,
    n: int,
    *,
    tau: float = 0.3,
    salient_ratio: float = 2.0,
    k: int = 16,
    seed: int | np.random.Generator | None = 0,
    rates: np.ndarray | None = None,
    salient_sampler: str = "random",
) -> Array:
    """IMRNet's GPS (module docstring): ``n`` centre indices, ``salient_ratio`` times denser in the salient set.

    Of the ``n`` centres, ``round(n * r / (r + 1))`` are drawn by FPS inside the salient set ``S`` (eq. 6) and the
    rest by FPS outside it (``r = salient_ratio``; when one part has too few points the other takes the
    remainder), uniformly at random (``salient_sampler="random"``, default) or by FPS (``"fps"``); the rest by FPS
    outside ``S``. FPS starts at a random point (``seed``).

    Args:
        points: ``(N, 3)`` cloud.
        n: number of centres, ``1 <= n <= N``.
        tau: share of points in the salient set (the paper's 0.3).
        salient_ratio: centres per salient part / centres per other part (the paper's 2).
        k: neighbourhood size of :func:`rate_of_change`.
        seed: FPS starts.
        rates: precomputed :func:`rate_of_change` (to sample many times from one cloud).
        salient_sampler: ``"random"`` or ``"fps"`` inside ``S``.

    Returns:
        ``(n,)`` int64 indices (salient centres first), NumPy or a tensor like ``points``.
    """
    p = check_points(points, "points")
    like = Like.of(p)
    pn = to_numpy(p, np.float64)
    n = check_count(n, "n", high=len(pn), what="the number of points")
    check_choice(salient_sampler, "salient_sampler", ("random", "fps"))
    if salient_ratio < 0:
        raise ValueError(f"salient_ratio must be >= 0, got {salient_ratio}")
    r = rate_of_change(pn, k) if rates is None else np.asarray(rates)
    if r.shape != (len(pn),):
        raise ValueError(f"rates must have one value per point ({len(pn)}), got shape {r.shape}")
    salient = salient_split(r, tau)
    inside, outside = np.flatnonzero(salient), np.flatnonzero(~salient)
    n_in = min(round(n * salient_ratio / (salient_ratio + 1.0)), len(inside))
    n_out = min(n - n_in, len(outside))
    n_in = n - n_out  # the salient part takes what the other part cannot hold
    rng = make_rng(seed)
    idx = np.concatenate([_draw_within(pn, inside, n_in, rng, salient_sampler),
                          _draw_within(pn, outside, n_out, rng, "fps")])
    return like.ints(torch.from_numpy(idx.astype(np.int64)))


def _voxel_centers(points: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` points nearest to the centroids of the occupied cells of the coarsest grid with at least ``n`` cells."""
    extent = float((points.max(axis=0) - points.min(axis=0)).max())
    if extent == 0.0:
        return rng.choice(len(points), n, replace=False)
    lo, hi = 0.0, extent * 1.01  # hi: one cell; lo: fine enough (found by halving)
    size = extent / 2.0
    while voxelize(points, size).n_voxels < n:
        size /= 2.0
        if size < extent * 1e-7:  # duplicates: fewer distinct positions than n
            break
    lo = size
    for _ in range(30):  # largest cell size with >= n occupied cells
        mid = 0.5 * (lo + hi)
        if voxelize(points, mid).n_voxels >= n:
            lo = mid
        else:
            hi = mid
    vox = voxelize(points, lo)
    sums = np.zeros((vox.n_voxels, 3))
    np.add.at(sums, np.asarray(vox.point_to_voxel), points)
    centroids = sums / np.asarray(vox.counts)[:, None]
    _, nearest = knn(centroids, points, k=1)
    cells = np.unique(np.asarray(nearest)[:, 0])
    if len(cells) < n:  # centroids sharing a nearest point: fill up with other points
        rest = np.setdiff1d(np.arange(len(points)), cells)
        cells = np.concatenate([cells, rng.choice(rest, n - len(cells), replace=False)])
    return np.sort(rng.choice(cells, n, replace=False))


def sample_centers(
    points: Array,
    n: int,
    method: str = "fps",
    *,
    seed: int | np.random.Generator | None = 0,
    tau: float = 0.3,
    salient_ratio: float = 2.0,
    k: int = 16,
    rates: np.ndarray | None = None,
    salient_sampler: str = "random",
) -> Array:
    """``n`` patch-centre indices by one of :data:`CENTER_SAMPLERS` (IMRNet Table 4).

    * ``"random"``: a uniform random subset (RS).
    * ``"fps"``: farthest point sampling from a random start.
    * ``"voxel"``: the coarsest grid with at least ``n`` occupied cells; the point nearest each cell's centroid;
      ``n`` of those chosen at random (voxel down-sampling yields a cell count, not an exact ``n``).
    * ``"gps"``: :func:`geometry_aware_sampling` (``tau``, ``salient_ratio``, ``k``, ``rates``,
      ``salient_sampler``).

    Returns:
        ``(n,)`` int64 indices, NumPy or a tensor like ``points``.

    Raises:
        ValueError: unknown method, bad points, ``n`` out of range.
    """
    check_choice(method, "method", CENTER_SAMPLERS)
    if method == "gps":
        return geometry_aware_sampling(points, n, tau=tau, salient_ratio=salient_ratio, k=k, seed=seed,
                                       rates=rates, salient_sampler=salient_sampler)
    p = check_points(points, "points")
    like = Like.of(p)
    pn = to_numpy(p, np.float64)
    n = check_count(n, "n", high=len(pn), what="the number of points")
    rng = make_rng(seed)
    if method == "random":
        idx = rng.choice(len(pn), n, replace=False)
    elif method == "fps":
        idx = np.asarray(fps(pn, n, start="random", seed=rng))
    else:
        idx = _voxel_centers(pn, n, rng)
    return like.ints(torch.from_numpy(np.asarray(idx, dtype=np.int64)))


_VARIATION_CHUNK = 1 << 23
"""Feature differences held at once by :func:`fpfh_variation` (8M float64: 64 MB)."""


def fpfh_variation(points: Array, features: Array, k: int = 16) -> np.ndarray:
    """Group3AD eq. 15: each point's summed FPFH difference to its ``k`` nearest neighbours,
    ``F_p = sum_i ||f(p) - f(N_i)||_2`` (the "local variation" of Algorithm 2).

    Args:
        points: ``(N, 3)`` cloud.
        features: ``(N, D)`` per-point descriptors (FPFH, :func:`~anomaly3d.ops.fpfh`).
        k: neighbours per point (the point itself excluded), ``1 <= k < N``.

    Returns:
        ``(N,)`` float64 (NumPy).
    """
    p = to_numpy(check_points(points, "points", min_points=2), np.float64)
    f = np.asarray(to_numpy(features, np.float64) if isinstance(features, torch.Tensor) else features, np.float64)
    if f.ndim != 2 or f.shape[0] != len(p) or not np.isfinite(f).all():
        raise ValueError(f"features must be finite (N, D) with N = {len(p)}, got shape {f.shape}")
    k = check_count(k, "k", high=len(p) - 1, what="the number of points minus one")
    _, idx = knn(p, k=k, exclude_self=True)
    idx = np.asarray(idx)
    out = np.empty(len(p))
    step = max(1, _VARIATION_CHUNK // (k * f.shape[1]))  # bounded memory on scans of a million points
    for lo in range(0, len(p), step):
        sl = slice(lo, lo + step)
        out[sl] = np.linalg.norm(f[sl, None, :] - f[idx[sl]], axis=2).sum(axis=1)
    return out


def voxel_fpfh_variation(points: Array, voxel_size: float, *, k: int = 16, normal_factor: float = 2.0,
                         feature_factor: float = 5.0) -> np.ndarray:
    """Eq. 15 for a scan of any size: FPFH (normals within ``normal_factor * v``, descriptors within
    ``feature_factor * v``) and :func:`fpfh_variation` over ``k`` neighbours, computed on the means of the
    occupied voxels of size ``v`` and given to every point from its voxel.

    Group3AD leaves the resolution open. Full resolution costs ~35 s on a 500k-point scan and, with FPFH's
    100-neighbour cap, describes a far smaller patch than ``feature_factor`` voxels on a dense scan; on a cloud no
    denser than the voxel the two agree.

    Returns:
        ``(N,)`` float64 (NumPy); zeros when fewer than 3 voxels are occupied.
    """
    p = to_numpy(check_points(points, "points"), np.float64)
    v = check_positive(voxel_size, "voxel_size")
    grid = voxelize(p, v)
    means = np.asarray(grid.mean(p), np.float32)
    if len(means) < 3:
        return np.zeros(len(p))
    feats = fpfh(means, radius_normal=normal_factor * v, radius_feature=feature_factor * v)
    per_voxel = fpfh_variation(means, np.asarray(feats), k=min(k, len(means) - 1))
    return per_voxel[np.asarray(grid.point_to_voxel)]


def adaptive_group_centers(
    points: Array,
    n: int,
    variation: np.ndarray,
    *,
    alpha: float = 0.2,
    high_fraction: float | None = None,
    seed: int | np.random.Generator | None = 0,
) -> tuple[Array, np.ndarray]:
    """Group3AD's AGCS (Algorithm 2): ``round(alpha * n)`` centres by FPS among the high-variation points, the rest
    by FPS over the whole cloud, without repeats (eq. 16, ``C = C_FPFH ∪ C_FPS``).

    The high-variation set is the top ``high_fraction`` of points by ``variation`` (eq. 15; default ``alpha``:
    the paper gives no size). Where the uniform FPS would pick a centre already taken, it continues to the next
    farthest point, so exactly ``n`` distinct centres come back.

    Returns:
        ``(idx (n,) int64 like points, from_high (n,) bool)``: the centres, high-variation ones first, and which
        of them came from the high-variation set.
    """
    p = check_points(points, "points")
    like = Like.of(p)
    pn = to_numpy(p, np.float64)
    n = check_count(n, "n", high=len(pn), what="the number of points")
    v = np.asarray(variation, dtype=np.float64)
    if v.shape != (len(pn),) or not np.isfinite(v).all():
        raise ValueError(f"variation must be finite with one value per point ({len(pn)}), got shape {v.shape}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    high = salient_split(v, alpha if high_fraction is None else high_fraction)
    rng = make_rng(seed)
    n_high = min(round(alpha * n), int(high.sum()))
    first = _draw_within(pn, np.flatnonzero(high), n_high, rng, "fps")
    taken = set(first.tolist())
    rest: list[int] = []
    if n - n_high > 0:
        order = np.asarray(fps(pn, min(len(pn), n - n_high + len(taken)),
                               start="random", seed=rng))
        rest = [int(i) for i in order if int(i) not in taken][: n - n_high]
    idx = np.concatenate([first, np.asarray(rest, dtype=np.int64)])
    from_high = np.zeros(len(idx), dtype=bool)
    from_high[: len(first)] = True
    return like.ints(torch.from_numpy(idx.astype(np.int64))), from_high
