"""Brute-force float64 references and tie-aware checks for the anomaly3d.ops tests (no anomaly3d imports)."""

from __future__ import annotations

import numpy as np
import torch


def as_np(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def pairwise(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact ``(M, N)`` Euclidean distances in float64 (difference form, no cancellation)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))


def assert_valid_knn(dist, idx, query, ref, k, *, exclude_self=False, atol=1e-5):
    """``(dist, idx)`` is *a* correct kNN answer: right distances, consistent indices, nothing closer left out.

    Equal distances may be returned in any order and a tie at the k-th place may pick any of the tied points.
    """
    dist, idx = as_np(dist).astype(np.float64), as_np(idx)
    d = pairwise(as_np(query), as_np(ref))
    m = d.shape[0]
    if exclude_self:
        d[np.arange(m), np.arange(m)] = np.inf
    ref_sorted = np.sort(d, axis=1)[:, :k]
    assert dist.shape == (m, k) and idx.shape == (m, k)
    assert np.all(np.diff(dist, axis=1) >= -atol), "rows are not sorted ascending"
    np.testing.assert_allclose(dist, ref_sorted, atol=atol, rtol=0)
    np.testing.assert_allclose(np.take_along_axis(d, idx, axis=1), dist, atol=atol, rtol=0)
    for row in range(m):
        assert len(set(idx[row].tolist())) == k, f"duplicate index in row {row}"
        closer = np.flatnonzero(d[row] < ref_sorted[row, -1] - atol)
        assert set(closer.tolist()) <= set(idx[row].tolist()), f"row {row} misses a strictly closer point"


def radius_pairs(query, ref, radius, *, exclude_self=False):
    """Set of ``(i, j)`` with distance <= radius and the distance matrix."""
    d = pairwise(as_np(query), as_np(ref))
    if exclude_self:
        np.fill_diagonal(d, np.inf)
    i, j = np.nonzero(d <= radius)
    return set(zip(i.tolist(), j.tolist())), d


def fps_reference(points, n, start):
    """Textbook FPS in float64 (first index of the maximum on ties)."""
    p = as_np(points).astype(np.float64)
    best = np.full(len(p), np.inf)
    out = [start]
    for _ in range(n - 1):
        best = np.minimum(best, ((p - p[out[-1]]) ** 2).sum(1))
        out.append(int(np.argmax(best)))
    return np.array(out)


def assert_valid_fps(points, idx, start, *, rtol=1e-5):
    """Every pick is (up to rounding) a farthest point from the previous picks; picks are distinct."""
    p = as_np(points).astype(np.float64)
    idx = as_np(idx)
    assert idx[0] == start
    assert len(set(idx.tolist())) == len(idx)
    best = np.full(len(p), np.inf)
    for i in range(1, len(idx)):
        best = np.minimum(best, ((p - p[idx[i - 1]]) ** 2).sum(1))
        assert best[idx[i]] >= best.max() * (1 - rtol) - 1e-12, f"pick {i} is not a farthest point"


def chamfer_reference(x, y, *, squared, point_reduction, direction):
    """Per-pair Chamfer values for batched numpy inputs ``(B, N, 3)``, ``(B, M, 3)``."""
    out = []
    for a, b in zip(as_np(x), as_np(y)):
        d = pairwise(a, b)
        if squared:
            d = d**2
        red = np.mean if point_reduction == "mean" else np.sum
        total = 0.0
        if direction in ("both", "x_to_y"):
            total += red(d.min(axis=1))
        if direction in ("both", "y_to_x"):
            total += red(d.min(axis=0))
        out.append(total)
    return np.array(out)


def sphere(n, rng, *, radius=1.0, center=(0.0, 0.0, 0.0)):
    v = rng.standard_normal((n, 3))
    return v / np.linalg.norm(v, axis=1, keepdims=True) * radius + np.asarray(center)
