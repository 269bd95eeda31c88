"""Farthest point sampling (FPS).

FPS picks a start point, then repeatedly the point whose distance to everything picked so far is largest.
Backends (``backend=``):

* ``"fpsample"`` — fpsample's exact bucket sampler (QuickFPS, KD-line variant); the CPU default (measured
  ~50x faster than torch-cluster's CPU FPS on 64k points). :mod:`anomaly3d.ops._fpsample` makes it start at
  the requested point.
* ``"torch_cluster"`` — ``torch_cluster.fps``; the default for CUDA tensors when installed.
* ``"torch"`` — a plain torch loop (one distance update per pick; any device); the CUDA default otherwise.

All backends return the same indices up to ties (several points equally far away).
"""

from __future__ import annotations

import numbers

import numpy as np
import torch

from anomaly3d.ops._backend import (
    Array,
    Like,
    check_count,
    check_points,
    make_rng,
    resolve_backend,
    to_numpy,
    to_torch,
)

__all__ = ["fps", "resolve_start"]


def resolve_start(start: str | int, n_points: int, seed: int | np.random.Generator | None = None) -> int:
    """Index where FPS starts: ``"first"`` -> 0, ``"random"`` -> drawn from ``seed``, an int -> itself.

    Raises:
        ValueError: unknown ``start`` string, or an index outside ``[0, n_points)``.
    """
    if isinstance(start, str):
        if start == "first":
            return 0
        if start == "random":
            return int(make_rng(seed).integers(n_points))
        raise ValueError(f"start must be 'first', 'random' or a point index, got {start!r}")
    if isinstance(start, bool) or not isinstance(start, numbers.Integral):
        raise ValueError(f"start must be 'first', 'random' or a point index, got {start!r}")  # noqa: TRY004
    if not 0 <= int(start) < n_points:
        raise ValueError(f"start={int(start)} is not a point index; the cloud has {n_points} points")
    return int(start)


def _fps_torch(points: torch.Tensor, n: int, start: int) -> torch.Tensor:
    """Plain FPS loop; the pick stays on the device (no host sync per step)."""
    p = points.detach()
    if p.dtype not in (torch.float32, torch.float64):
        p = p.float()
    idx = torch.empty(n, dtype=torch.int64, device=p.device)
    last = torch.tensor(start, device=p.device)
    idx[0] = last
    best = torch.full((p.shape[0],), float("inf"), dtype=p.dtype, device=p.device)
    for i in range(1, n):
        torch.minimum(best, (p - p[last]).square().sum(dim=1), out=best)
        last = torch.argmax(best)
        idx[i] = last
    return idx


def fps(
    points: Array,
    n: int,
    *,
    start: str | int = "first",
    seed: int | np.random.Generator | None = None,
    backend: str = "auto",
) -> Array:
    """Farthest point sampling of ``n`` indices (Euclidean distance, exact; fpsample works in float32, the
    torch backends in the input's precision, so near-ties may resolve differently between them).

    Args:
        points: ``(N, 3)`` cloud.
        n: number of samples, ``1 <= n <= N``.
        start: ``"first"`` starts at index 0 (deterministic, as PointNet++/Point-MAE CUDA kernels do),
            ``"random"`` at an index drawn from ``seed``, an ``int`` at that index.
        seed: int or ``numpy.random.Generator`` for ``start="random"`` (``None``: fresh entropy, not
            reproducible). The start is drawn here, so every backend starts at the same point.
        backend: ``"auto"``, ``"fpsample"``, ``"torch"`` or ``"torch_cluster"`` (module docstring).

    Returns:
        ``(n,)`` int64 indices in pick order (``idx[0]`` is the start), NumPy or a tensor on the input's device.

    Raises:
        ValueError: bad points, ``n`` out of range, bad ``start``/``seed``, unknown/missing backend.
    """
    p = check_points(points, "points")
    total = p.shape[0]
    n = check_count(n, "n", high=total, what="the number of points")
    first = resolve_start(start, total, seed)
    like = Like.of(p)
    be = resolve_backend(backend, p, family="fps", cpu_default="fpsample")
    if be == "torch_cluster" and n == total:  # torch-cluster needs a ratio < 1 in some versions
        be = "torch"
    if be == "fpsample":
        from anomaly3d.ops._fpsample import fps_fpsample

        idx = torch.from_numpy(fps_fpsample(to_numpy(p, np.float32), n, first))
    elif be == "torch":
        idx = _fps_torch(to_torch(p), n, first)
    else:
        from anomaly3d.ops._torch_cluster import fps_tc

        idx = fps_tc(to_torch(p), n, first)
    return like.ints(idx)
