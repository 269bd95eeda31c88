"""Feature-space kernels for memory banks: k nearest features, random projection, greedy coreset.

These are the geometric pieces of PatchCore (Roth et al., CVPR 2022) that every memory-bank method of the
library (BTF, PatchCore, M3DM-style banks, Reg3D-AD, Group3AD, Shape-Guided) shares:

* :func:`feature_knn` — exact k nearest rows of a bank for every query row, in any dimension, in chunks so that
  no more than a bounded block of distances is ever held (a bank of millions of rows fits);
* :func:`random_projection` — a sparse Johnson–Lindenstrauss projection (Achlioptas / Li et al.: entries
  ``±sqrt(s / d)`` with probability ``1 / (2 s)`` each, ``s = sqrt(D)``), used only to speed the coreset search;
* :func:`greedy_coreset` — the greedy k-centre selection (PatchCore Algorithm 1): start from one row, then
  repeatedly add the row farthest from everything chosen so far. It is farthest point sampling in feature
  space, so the first rows it keeps are the extremes of the bank.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch

from anomaly3d.ops._backend import chunk_rows, make_rng
from anomaly3d.ops._bruteforce import knn_torch

__all__ = ["as_feature_matrix", "feature_knn", "greedy_coreset", "jl_dimension", "random_projection"]


def as_feature_matrix(x: object, name: str, *, dim: int | None = None) -> torch.Tensor:
    """Validate an ``(M, D)`` feature matrix and return it as a float tensor (float64 stays float64).

    Raises:
        ValueError: not 2-D, empty, NaN/inf entries (the message counts the bad rows), or ``D != dim``.
    """
    t = x.detach() if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    if t.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (rows, features) matrix, got shape {tuple(t.shape)}")
    if t.shape[0] == 0 or t.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {tuple(t.shape)})")
    if not t.is_floating_point():
        t = t.to(torch.float32)
    bad = ~torch.isfinite(t).all(dim=1)
    if bool(bad.any()):
        raise ValueError(
            f"{name} has {int(bad.sum())} row(s) with NaN/inf features (first at row {int(bad.nonzero()[0])}); "
            "the feature extractor produced invalid values — check the input cloud for duplicates or "
            "isolated points"
        )
    if dim is not None and t.shape[1] != dim:
        raise ValueError(
            f"{name} has {t.shape[1]} features per row but {dim} were expected (the memory bank was built "
            "with a different feature extractor or settings; refit it)"
        )
    return t


def feature_knn(query: object, bank: object, k: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` nearest ``bank`` rows of every ``query`` row (Euclidean), exact, in bounded memory.

    Args:
        query: ``(M, D)`` features (NumPy or torch; the bank's device is used).
        bank: ``(N, D)`` features.
        k: neighbours per query row, ``1 <= k <= N``.

    Returns:
        ``(dist, idx)`` tensors of shape ``(M, k)``, ascending distances and int64 bank indices, on the bank's
        device.

    Raises:
        ValueError: bad matrices (see :func:`as_feature_matrix`), different ``D``, or ``k`` out of range.
    """
    b = as_feature_matrix(bank, "bank")
    q = as_feature_matrix(query, "query", dim=b.shape[1]).to(b.device)
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or not 1 <= k <= b.shape[0]:
        raise ValueError(f"k must be an integer in [1, {b.shape[0]}] (the bank size), got {k!r}")
    return knn_torch(q, b, int(k))


def jl_dimension(n_rows: int, eps: float) -> int:
    """Johnson–Lindenstrauss target dimension ``4 ln n / (eps^2 / 2 - eps^3 / 3)`` (sklearn's formula)."""
    if not 0 < eps < 1:
        raise ValueError(f"eps must be in (0, 1), got {eps!r}")
    return math.ceil(4 * math.log(max(n_rows, 2)) / (eps**2 / 2 - eps**3 / 3))


def random_projection(
    x: torch.Tensor, dim: int, *, seed: int | np.random.Generator | None = 0
) -> torch.Tensor:
    """Project ``(N, D)`` rows to ``dim`` dimensions with a sparse random matrix (pairwise distances are kept
    up to a factor ``1 ± eps`` with high probability when ``dim >= jl_dimension(N, eps)``)."""
    d_in = x.shape[1]
    density = 1.0 / math.sqrt(d_in)
    rng = make_rng(seed)
    u = rng.random((d_in, dim))
    signs = np.where(u < density / 2, -1.0, np.where(u < density, 1.0, 0.0))
    mat = torch.from_numpy(signs * math.sqrt(1.0 / (density * dim))).to(x.device, x.dtype)
    return x @ mat


def _coreset_size(n_rows: int, size: int | None, fraction: float | None) -> int:
    if size is None and fraction is None:
        raise ValueError("give the coreset size, the fraction, or both (the smaller wins)")
    n = n_rows
    if fraction is not None:
        if not (isinstance(fraction, numbers.Real) and 0 < fraction <= 1):
            raise ValueError(f"fraction must be in (0, 1], got {fraction!r}")
        n = min(n, max(1, int(fraction * n_rows)))
    if size is not None:
        if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
            raise ValueError(f"size must be a positive integer, got {size!r}")
        n = min(n, int(size))
    return n


def greedy_coreset(
    features: object,
    *,
    size: int | None = None,
    fraction: float | None = None,
    projection_eps: float | None = 0.9,
    start: int = 0,
    seed: int | np.random.Generator | None = 0,
) -> torch.Tensor:
    """Indices of a greedy k-centre coreset of ``features`` (PatchCore Algorithm 1).

    The first index is ``start``; each further index is the row whose distance to the nearest chosen row is
    largest (ties: the lowest index). The result's length is ``min(size, int(fraction * N))`` (at least 1).

    Args:
        features: ``(N, D)`` bank (NumPy or torch; computed on the tensor's device, in float32).
        size: cap on the coreset size (Reg3D-AD: 10,000).
        fraction: fraction of the rows to keep (BTF / PatchCore: 0.1).
        projection_eps: distances are measured after a sparse random projection to
            :func:`jl_dimension` ``(N, eps)`` dimensions when that is smaller than ``D`` (PatchCore and BTF use
            ``eps = 0.9``); ``None`` never projects. The reference code catches sklearn's error when the target
            dimension exceeds ``D`` and silently uses the raw features — the same outcome as here.
        start: index of the first row (the reference code starts at 0).
        seed: seeds the projection.

    Returns:
        int64 tensor of distinct indices, in selection order, on the features' device.
    """
    x = as_feature_matrix(features, "features").to(torch.float32)
    n_rows = x.shape[0]
    n = _coreset_size(n_rows, size, fraction)
    if isinstance(start, bool) or not isinstance(start, numbers.Integral) or not 0 <= start < n_rows:
        raise ValueError(f"start must be a row index in [0, {n_rows}), got {start!r}")
    if projection_eps is not None:
        target = jl_dimension(n_rows, projection_eps)
        if target < x.shape[1]:
            x = random_projection(x, target, seed=seed)
    chosen = torch.empty(n, dtype=torch.int64, device=x.device)
    chosen[0] = int(start)
    min_dist = torch.full((n_rows,), float("inf"), dtype=x.dtype, device=x.device)
    last = int(start)
    step = chunk_rows(x.shape[1], x.device)
    for i in range(1, n):
        row = x[last]
        for s in range(0, n_rows, step):  # bounded memory even for very large banks
            d = torch.linalg.vector_norm(x[s : s + step] - row, dim=1)
            torch.minimum(min_dist[s : s + step], d, out=min_dist[s : s + step])
        min_dist[last] = 0.0
        last = int(torch.argmax(min_dist))
        chosen[i] = last
    return chosen
