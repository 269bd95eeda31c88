"""Nearest-neighbour queries: k nearest (:func:`knn`), fixed-radius ball (:func:`radius_query`,
:func:`radius_graph`).

Backends (``backend=``):

* ``"scipy"`` — :class:`scipy.spatial.cKDTree`, all cores; the default on the CPU (measured fastest there,
  see ``python -m anomaly3d.reports.benchmarks.ops``).
* ``"torch_cluster"`` — the optional torch-cluster package; the default for CUDA tensors when installed.
* ``"torch"`` — chunked brute force in plain torch (any device); the CUDA default without torch-cluster.

Every backend gives the same answer up to ties (equal distances may be ordered differently) and rounding of
the last bit. Brute-force backends work in query chunks, so no ``N x N`` matrix is ever built.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from anomaly3d.ops._backend import (
    CHUNK_ELEMENTS,
    Array,
    Like,
    check_count,
    check_points,
    check_positive,
    resolve_backend,
    to_numpy,
    to_torch,
)
from anomaly3d.ops._bruteforce import knn_torch, radius_torch

__all__ = ["RadiusNeighbors", "knn", "radius_graph", "radius_query"]


def _drop_self(dist: torch.Tensor, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Remove each row's own index from ``k + 1`` neighbours (or the farthest one when it is absent)."""
    m, kp1 = idx.shape
    is_self = idx == torch.arange(m, device=idx.device).unsqueeze(1)
    is_self[~is_self.any(dim=1), kp1 - 1] = True
    keep = ~is_self
    return dist[keep].view(m, kp1 - 1), idx[keep].view(m, kp1 - 1)


def _knn_scipy(query: np.ndarray, ref: np.ndarray, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    from scipy.spatial import cKDTree

    dist, idx = cKDTree(ref).query(query, k=k, workers=-1)
    return torch.from_numpy(dist.reshape(len(query), k)), torch.from_numpy(idx.reshape(len(query), k))


def knn(
    query: Array,
    ref: Array | None = None,
    k: int = 16,
    *,
    exclude_self: bool = False,
    backend: str = "auto",
) -> tuple[Array, Array]:
    """The ``k`` nearest ``ref`` points of every ``query`` point.

    Args:
        query: ``(M, 3)`` points.
        ref: ``(N, 3)`` points to search; ``None`` searches ``query`` itself (then each point is its own first
            neighbour at distance 0 unless ``exclude_self``).
        k: neighbours per query point, ``1 <= k <= N`` (``N - 1`` with ``exclude_self``).
        exclude_self: drop each point's own index (only with ``ref=None``). Duplicated points are kept: a
            duplicate of point ``i`` is a neighbour of ``i`` at distance 0.
        backend: ``"auto"``, ``"scipy"``, ``"torch"`` or ``"torch_cluster"`` (module docstring).

    Returns:
        ``(dist, idx)``: Euclidean (not squared) distances ``(M, k)`` sorted ascending along each row, and the
        matching int64 indices into ``ref``; NumPy in, NumPy out; tensor in, tensor out on the same device.
        Distances keep the input's float dtype (float32 for integer input).

    Raises:
        ValueError: bad points (NaN/inf, empty, wrong shape), ``k`` out of range, unknown/missing backend.
    """
    q = check_points(query, "query")
    self_query = ref is None
    r = q if self_query else check_points(ref, "ref")
    if exclude_self and not self_query:
        raise ValueError("exclude_self=True needs ref=None (the query cloud searched against itself)")
    n_avail = r.shape[0] - int(exclude_self)
    k = check_count(
        k,
        "k",
        high=n_avail,
        what=f"the {r.shape[0]} reference points" + (" minus self" if exclude_self else ""),
    )
    like = Like.of(q)
    be = resolve_backend(backend, q, family="neighbors", cpu_default="scipy")
    kk = k + int(exclude_self)
    if be == "scipy":
        qn = to_numpy(q)
        dist, idx = _knn_scipy(qn, qn if self_query else to_numpy(r), kk)
    else:
        qt = to_torch(q)
        rt = qt if self_query else to_torch(r, qt.device)
        if be == "torch":
            dist, idx = knn_torch(qt, rt, kk)
        else:
            from anomaly3d.ops._torch_cluster import knn_tc

            dist, idx = knn_tc(qt, rt, kk)
    if exclude_self:
        dist, idx = _drop_self(dist, idx)
    return like.floats(dist), like.ints(idx)


@dataclass(frozen=True)
class RadiusNeighbors:
    """Result of :func:`radius_query` in compressed-row (CSR) form.

    The neighbours of query ``i`` are ``indices[offsets[i]:offsets[i + 1]]`` at ``distances[...]`` (same
    slice), sorted by ascending distance. Arrays are NumPy or torch like the query.

    Attributes:
        offsets: ``(M + 1,)`` int64 row starts; ``offsets[-1] == len(indices)``.
        indices: ``(nnz,)`` int64 indices into the reference cloud.
        distances: ``(nnz,)`` Euclidean distances, ``<= radius``.
    """

    offsets: Array
    indices: Array
    distances: Array
    _like: Like = field(repr=False, compare=False)

    @property
    def counts(self) -> Array:
        """``(M,)`` number of neighbours of each query point."""
        return self.offsets[1:] - self.offsets[:-1]

    def row(self, i: int) -> tuple[Array, Array]:
        """``(distances, indices)`` of query point ``i``."""
        a, b = int(self.offsets[i]), int(self.offsets[i + 1])
        return self.distances[a:b], self.indices[a:b]

    def to_padded(self, width: int | None = None, *, fill: int = -1) -> tuple[Array, Array]:
        """Dense ``(M, width)`` form: ``(dist, idx)`` padded with ``inf`` / ``fill`` after each row's hits.

        ``width`` defaults to the largest row count; rows with more hits are cut to their nearest ``width``.
        """
        off = to_torch(self.offsets)
        idx, dist = to_torch(self.indices), to_torch(self.distances)
        counts = off[1:] - off[:-1]
        m = counts.numel()
        if width is None:
            width = int(counts.max()) if m else 0
        width = check_count(width, "width", low=0)
        row = torch.repeat_interleave(torch.arange(m, device=off.device), counts)
        rank = torch.arange(idx.numel(), device=off.device) - off[:-1][row]
        keep = rank < width
        out_i = torch.full((m, width), fill, dtype=torch.int64, device=off.device)
        out_d = torch.full((m, width), float("inf"), dtype=dist.dtype, device=off.device)
        out_i[row[keep], rank[keep]] = idx[keep]
        out_d[row[keep], rank[keep]] = dist[keep]
        return self._like.floats(out_d), self._like.ints(out_i)


def _radius_scipy(
    query: np.ndarray, ref: np.ndarray | None, radius: float, max_neighbors: int | None, exclude_self: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """CSR ``(offsets, col, dist)``, rows sorted by distance; ``ref=None`` means ``ref = query``.

    Counts first (``query_ball_point(return_length=True)``, parallel), then a distance-bounded kNN query per
    chunk of rows with ``k`` = the chunk's largest count: the hits come back sorted by distance, so no sort
    of the (large) pair list is needed. Chunks keep ``rows * k`` under ``CHUNK_ELEMENTS``.
    """
    from scipy.spatial import cKDTree

    tree = cKDTree(query if ref is None else ref)
    m = len(query)
    counts = tree.query_ball_point(query, radius, workers=-1, return_length=True)
    # +1: a pair at exactly `radius` may round differently in the two scipy calls (a tie, either is right)
    cap = tree.n if max_neighbors is None else min(tree.n, max_neighbors + int(exclude_self))
    k_all = int(min(cap, counts.max(initial=0) + 1))
    step = max(1, CHUNK_ELEMENTS["cpu"] // max(1, k_all))
    bound = np.nextafter(radius, np.inf)  # query()'s bound is strict; the ball is inclusive
    cols, dists, kept = [], [], np.empty(m, dtype=np.int64)
    for s in range(0, m, step):
        k = int(min(cap, counts[s : s + step].max() + 1))
        dist, idx = tree.query(query[s : s + step], k=k, distance_upper_bound=bound, workers=-1)
        dist, idx = dist.reshape(-1, k), idx.reshape(-1, k)
        hit = np.isfinite(dist)
        if exclude_self:
            hit &= idx != np.arange(s, s + len(idx))[:, None]
        if max_neighbors is not None:
            hit &= np.cumsum(hit, axis=1) <= max_neighbors
        kept[s : s + step] = hit.sum(axis=1)
        cols.append(idx[hit])
        dists.append(dist[hit])
    offsets = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(kept, out=offsets[1:])
    col = np.concatenate(cols).astype(np.int64) if cols else np.zeros(0, np.int64)
    dist = np.concatenate(dists) if dists else np.zeros(0)
    return torch.from_numpy(offsets), torch.from_numpy(col), torch.from_numpy(dist)


def _csr_from_pairs(
    row: torch.Tensor, col: torch.Tensor, dist: torch.Tensor, m: int, max_neighbors: int | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sort unordered pairs by row, then distance, and cut rows to ``max_neighbors``: ``(offsets, col, dist)``."""
    order = torch.argsort(dist, stable=True)
    order = order[torch.argsort(row[order], stable=True)]
    row, col, dist = row[order], col[order], dist[order]
    counts = torch.bincount(row, minlength=m)
    offsets = torch.zeros(m + 1, dtype=torch.int64, device=row.device)
    torch.cumsum(counts, dim=0, out=offsets[1:])
    if max_neighbors is not None:
        rank = torch.arange(row.numel(), device=row.device) - offsets[:-1][row]
        keep = rank < max_neighbors
        col, dist = col[keep], dist[keep]
        offsets[1:] = torch.cumsum(torch.clamp(counts, max=max_neighbors), dim=0)
    return offsets, col, dist


def radius_query(
    query: Array,
    ref: Array | None,
    radius: float,
    *,
    max_neighbors: int | None = None,
    exclude_self: bool = False,
    backend: str = "auto",
) -> RadiusNeighbors:
    """All ``ref`` points within ``radius`` (inclusive) of every ``query`` point (ball query).

    Args:
        query: ``(M, 3)`` points.
        ref: ``(N, 3)`` points to search, or ``None`` for ``query`` itself.
        radius: ball radius, ``> 0``; a point at exactly ``radius`` is a neighbour.
        max_neighbors: keep only the nearest ``max_neighbors`` hits of each query (``None`` keeps all).
            Unlike PointNet++'s ball query this keeps the *nearest*, not the first in index order.
        exclude_self: drop each point's own index (only with ``ref=None``).
        backend: ``"auto"``, ``"scipy"``, ``"torch"`` or ``"torch_cluster"``.

    Returns:
        :class:`RadiusNeighbors` (CSR: ``offsets``, ``indices``, ``distances``; each row sorted by distance;
        ``.to_padded()`` gives ``(M, K)`` arrays padded with ``inf`` / ``-1``).

    Raises:
        ValueError: bad points, non-positive radius, bad ``max_neighbors``, unknown/missing backend.
    """
    q = check_points(query, "query")
    self_query = ref is None
    r = q if self_query else check_points(ref, "ref")
    if exclude_self and not self_query:
        raise ValueError("exclude_self=True needs ref=None (the query cloud searched against itself)")
    radius = check_positive(radius, "radius")
    if max_neighbors is not None:
        max_neighbors = check_count(max_neighbors, "max_neighbors")
    like = Like.of(q)
    be = resolve_backend(backend, q, family="neighbors", cpu_default="scipy")
    m = q.shape[0]
    if be == "scipy":
        ref_np = None if self_query else to_numpy(r)
        offsets, col, dist = _radius_scipy(to_numpy(q), ref_np, radius, max_neighbors, exclude_self)
    else:
        qt = to_torch(q)
        rt = qt if self_query else to_torch(r, qt.device)
        if be == "torch":
            row, col, dist = radius_torch(qt, rt, radius)
        else:
            from anomaly3d.ops._torch_cluster import radius_tc

            row, col, dist = radius_tc(qt, rt, radius)
        if exclude_self:
            keep = row != col
            row, col, dist = row[keep], col[keep], dist[keep]
        offsets, col, dist = _csr_from_pairs(row, col, dist, m, max_neighbors)
    return RadiusNeighbors(like.ints(offsets), like.ints(col), like.floats(dist), like)


def radius_graph(
    points: Array,
    radius: float,
    *,
    max_neighbors: int | None = None,
    loop: bool = False,
    backend: str = "auto",
) -> Array:
    """Edges ``(E, 2)`` between points at distance ``<= radius``: row ``[i, j]`` means ``j`` is a neighbour of
    ``i``. Sorted by ``i``, then by distance. Without ``max_neighbors`` the graph is symmetric (both
    ``[i, j]`` and ``[j, i]`` appear); ``loop=True`` keeps the self-edges ``[i, i]``.
    """
    res = radius_query(
        points, None, radius, max_neighbors=max_neighbors, exclude_self=not loop, backend=backend
    )
    off, col = to_torch(res.offsets), to_torch(res.indices)
    row = torch.repeat_interleave(torch.arange(off.numel() - 1, device=off.device), off[1:] - off[:-1])
    return res._like.ints(torch.stack([row, col], dim=1))
