"""Nearest-neighbour distances with gradients, and the Chamfer distance built on them.

Which point is nearest is found without gradients (a kNN search with k=1 on detached coordinates); the
distance to that point is then recomputed with autograd, so gradients flow to both clouds exactly as in
Point-MAE's CUDA ``ChamferDistance`` extension (the argmin is piecewise constant).
"""

from __future__ import annotations

import numpy as np
import torch

from anomaly3d.ops._backend import (
    Array,
    Like,
    check_choice,
    check_points,
    resolve_backend,
    to_numpy,
    to_torch,
)
from anomaly3d.ops._bruteforce import nearest_torch

__all__ = ["chamfer_distance", "nearest_neighbor"]

BRUTE_FORCE_MAX_PAIRS = 2**18
"""On the CPU, pairs of clouds with ``N * M`` up to this many distances are matched by brute force (batched
matrix products; fastest for Point-MAE-sized patches), larger ones through a SciPy KD-tree per pair."""


def _nearest(x: torch.Tensor, y: torch.Tensor, backend: str) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(B, N)`` index of the nearest ``y[b]`` point of each ``x[b]`` point (no gradients), plus the
    distances when the search measured them exactly (the SciPy KD-tree), else ``None``."""
    be = resolve_backend(backend, x, family="neighbors", cpu_default="scipy")
    if backend == "auto" and be == "scipy" and x.shape[1] * y.shape[1] <= BRUTE_FORCE_MAX_PAIRS:
        be = "torch"
    with torch.no_grad():
        if be == "torch":
            return nearest_torch(x, y), None
        if be == "torch_cluster":
            from anomaly3d.ops._torch_cluster import nearest_tc

            return nearest_tc(x, y), None
        from scipy.spatial import cKDTree

        xn, yn = to_numpy(x), to_numpy(y)
        workers = -1 if xn.shape[1] * yn.shape[1] > BRUTE_FORCE_MAX_PAIRS else 1
        found = [cKDTree(yn[b]).query(xn[b], k=1, workers=workers) for b in range(xn.shape[0])]
        idx = torch.from_numpy(np.stack([f[1] for f in found]).astype(np.int64)).to(x.device)
        dist = torch.from_numpy(np.stack([f[0] for f in found])).to(x.device, x.dtype)
        return idx, dist


def _safe_sqrt(d2: torch.Tensor) -> torch.Tensor:
    """``sqrt`` with a zero (not NaN/inf) gradient at 0, for coincident points."""
    pos = d2 > 0
    return torch.where(pos, d2.clamp_min(torch.finfo(d2.dtype).tiny).sqrt(), torch.zeros_like(d2))


def _pair(x: Array, y: Array) -> tuple[torch.Tensor, torch.Tensor, bool, Like]:
    xp = check_points(x, "x", batched=None)
    yp = check_points(y, "y", batched=None)
    if xp.ndim != yp.ndim:
        raise ValueError(
            f"x and y must both be (N, 3) or both (B, N, 3); got shapes {tuple(xp.shape)} and {tuple(yp.shape)}"
        )
    if xp.ndim == 3 and xp.shape[0] != yp.shape[0]:
        raise ValueError(
            f"x and y must hold the same number of clouds; got batches of {xp.shape[0]} and {yp.shape[0]}"
        )
    like = Like.of(xp)
    xt = to_torch(xp)
    yt = to_torch(yp, xt.device)
    if yt.dtype != xt.dtype:
        yt = yt.to(xt.dtype)
    batched = xt.ndim == 3
    if not batched:
        xt, yt = xt.unsqueeze(0), yt.unsqueeze(0)
    return xt, yt, batched, like


def _directed(
    x: torch.Tensor, y: torch.Tensor, squared: bool, backend: str
) -> tuple[torch.Tensor, torch.Tensor]:
    idx, dist = _nearest(x, y, backend)
    if dist is not None and not (x.requires_grad or y.requires_grad):  # nothing to differentiate
        return (dist.square() if squared else dist), idx
    near = torch.gather(y, 1, idx.unsqueeze(-1).expand(-1, -1, 3))
    d2 = (x - near).square().sum(dim=-1)
    return (d2 if squared else _safe_sqrt(d2)), idx


def nearest_neighbor(
    x: Array, y: Array, *, squared: bool = False, backend: str = "auto"
) -> tuple[Array, Array]:
    """Distance from every ``x`` point to its nearest ``y`` point, differentiable in both clouds.

    Args:
        x: ``(N, 3)`` or ``(B, N, 3)``.
        y: ``(M, 3)`` or ``(B, M, 3)`` (same batching as ``x``).
        squared: return squared distances.
        backend: ``"auto"`` (CPU: brute force for small pairs, else SciPy; CUDA: torch-cluster or torch),
            ``"scipy"``, ``"torch"`` or ``"torch_cluster"``.

    Returns:
        ``(dist, idx)`` of shape ``(N,)`` or ``(B, N)``; ``idx`` indexes ``y``. For tensors ``dist`` carries
        gradients to ``x`` and ``y``; NumPy in, NumPy out.
    """
    xt, yt, batched, like = _pair(x, y)
    dist, idx = _directed(xt, yt, squared, backend)
    if not batched:
        dist, idx = dist[0], idx[0]
    return like.floats(dist), like.ints(idx)


def chamfer_distance(
    x: Array,
    y: Array,
    *,
    squared: bool = True,
    reduction: str = "mean",
    point_reduction: str | None = None,
    direction: str = "both",
    backend: str = "auto",
) -> Array:
    """Chamfer distance between clouds ``x`` and ``y`` (or between paired clouds of two batches).

    For one pair, with ``d(p, Q) = min_q |p - q|`` (squared if ``squared``)::

        x_to_y = R_{p in x} d(p, y),   y_to_x = R_{q in y} d(q, x),   both = x_to_y + y_to_x

    where ``R`` is the mean or the sum over points (``point_reduction``).

    Point-MAE's "L2 Chamfer" (``ChamferDistanceL2``, its pre-training loss) is the default: squared
    distances, mean over the points of each direction, the two directions summed
    (``squared=True, reduction="mean", direction="both"``; over a batch of equal-size patches the mean over
    pairs equals its mean over all points). Its "L1" variant is ``squared=False`` divided by 2.

    Args:
        x: ``(N, 3)`` or ``(B, N, 3)``.
        y: ``(M, 3)`` or ``(B, M, 3)``; ``M`` may differ from ``N``.
        squared: use squared Euclidean distances.
        reduction: ``"mean"`` — mean over points, then mean over pairs; ``"sum"`` — sum over points, sum
            over pairs; ``"none"`` — one value per pair, shape ``(B,)`` (0-d for unbatched input).
        point_reduction: ``"mean"`` or ``"sum"`` over the points of a direction; ``None`` follows
            ``reduction`` (``"mean"`` when ``reduction="none"``).
        direction: ``"both"``, ``"x_to_y"`` or ``"y_to_x"``.
        backend: as in :func:`nearest_neighbor`.

    Returns:
        0-d or ``(B,)`` value; a tensor (with gradients) for tensor input, a NumPy array for NumPy input.

    Raises:
        ValueError: bad clouds or mismatched batching, or an unknown option.
    """
    check_choice(reduction, "reduction", ("mean", "sum", "none"))
    check_choice(point_reduction, "point_reduction", (None, "mean", "sum"))
    check_choice(direction, "direction", ("both", "x_to_y", "y_to_x"))
    if point_reduction is None:
        point_reduction = "sum" if reduction == "sum" else "mean"
    xt, yt, batched, like = _pair(x, y)
    per_pair = torch.zeros(xt.shape[0], dtype=xt.dtype, device=xt.device)
    for a, b, name in ((xt, yt, "x_to_y"), (yt, xt, "y_to_x")):
        if direction in ("both", name):
            d, _ = _directed(a, b, squared, backend)
            per_pair = per_pair + (d.mean(dim=1) if point_reduction == "mean" else d.sum(dim=1))
    if reduction == "mean":
        out = per_pair.mean()
    elif reduction == "sum":
        out = per_pair.sum()
    else:
        out = per_pair if batched else per_pair[0]
    return like.floats(out)
