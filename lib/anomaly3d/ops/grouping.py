"""Patch grouping as Point-MAE does it: FPS centres, then the ``k`` nearest points of each centre."""

from __future__ import annotations

import numpy as np
import torch

from anomaly3d.ops._backend import Array, check_count, check_points, make_rng
from anomaly3d.ops.neighbors import knn
from anomaly3d.ops.sampling import fps

__all__ = ["group_at", "group_knn"]

# the CPU libraries differ per op: "scipy" / "fpsample" both mean "the CPU library" here
_FPS_BACKEND = {"scipy": "fpsample"}
_KNN_BACKEND = {"fpsample": "scipy"}


def _group_one(
    points: Array, n_groups: int, k: int, start: str | int, rng: np.random.Generator, backend: str
) -> tuple[Array, Array, Array]:
    centre_idx = fps(points, n_groups, start=start, seed=rng, backend=_FPS_BACKEND.get(backend, backend))
    centers = points[centre_idx]
    _, idx = knn(centers, points, k, backend=_KNN_BACKEND.get(backend, backend))
    neighborhoods = points[idx] - centers[:, None, :]
    return centers, neighborhoods, idx


def group_knn(
    points: Array,
    n_groups: int,
    k: int,
    *,
    start: str | int = "first",
    seed: int | np.random.Generator | None = None,
    backend: str = "auto",
) -> tuple[Array, Array, Array]:
    """Split a cloud into ``n_groups`` patches of ``k`` points (Point-MAE's ``Group`` module).

    The centres are ``n_groups`` farthest-point samples (:func:`~anomaly3d.ops.fps`); each patch is the ``k``
    nearest points of its centre (the centre itself included, at distance 0), expressed relative to the
    centre. Patches overlap when ``n_groups * k > N``.

    Args:
        points: ``(N, 3)`` or batched ``(B, N, 3)`` cloud(s).
        n_groups: number of patches ``G``, ``1 <= G <= N``.
        k: points per patch, ``1 <= k <= N``.
        start, seed: FPS start (see :func:`~anomaly3d.ops.fps`); with a batch one generator made from
            ``seed`` draws each cloud's start in turn.
        backend: ``"auto"``, ``"torch"``, ``"torch_cluster"``, or ``"scipy"``/``"fpsample"`` (both mean the CPU
            libraries: fpsample for FPS, SciPy for kNN).

    Returns:
        ``(centers (G, 3), neighborhoods (G, k, 3), idx (G, k))`` (each with a leading ``B`` for batched
        input). ``neighborhoods[g, j] = points[idx[g, j]] - centers[g]``; rows of ``idx`` are sorted by
        distance to the centre. Same kind/device as ``points``; for a tensor the gathers are differentiable.

    Raises:
        ValueError: bad points, ``n_groups`` or ``k`` out of range.
    """
    p = check_points(points, "points", batched=None)
    n = p.shape[-2]
    n_groups = check_count(n_groups, "n_groups", high=n, what="the number of points")
    k = check_count(k, "k", high=n, what="the number of points")
    rng = make_rng(seed) if start == "random" else np.random.default_rng(0)
    if p.ndim == 2:
        return _group_one(p, n_groups, k, start, rng, backend)
    parts = [_group_one(p[b], n_groups, k, start, rng, backend) for b in range(p.shape[0])]
    stack = torch.stack if isinstance(p, torch.Tensor) else np.stack
    return tuple(stack([part[i] for part in parts]) for i in range(3))  # type: ignore[return-value]


def group_at(points: Array, centers: Array, k: int, *, backend: str = "auto") -> tuple[Array, Array]:
    """Patches of ``k`` points around given centres (any sampler's; :func:`group_knn` uses FPS).

    Args:
        points: ``(N, 3)`` cloud.
        centers: ``(G, 3)`` patch centres (usually points of the cloud).
        k: points per patch, ``1 <= k <= N``.

    Returns:
        ``(neighborhoods (G, k, 3), idx (G, k))`` with ``neighborhoods[g, j] = points[idx[g, j]] - centers[g]``,
        rows sorted by distance; same kind/device as ``points``.
    """
    p = check_points(points, "points")
    c = check_points(centers, "centers")
    k = check_count(k, "k", high=p.shape[0], what="the number of points")
    _, idx = knn(c, p, k, backend=_KNN_BACKEND.get(backend, backend))
    if isinstance(p, torch.Tensor):
        c = c.to(p.device, p.dtype) if isinstance(c, torch.Tensor) else torch.as_tensor(c, device=p.device)
    return points[idx] - c[:, None, :], idx
