"""Voxelization of a cloud into a regular grid, with the index maps both ways (voxel <-> point)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from anomaly3d.ops._backend import Array, Like, check_points, check_position, check_positive, to_torch

__all__ = ["Voxelization", "voxelize"]


@dataclass(frozen=True)
class Voxelization:
    """A cloud's occupied voxels and the maps between voxels and points (NumPy or torch, like the input).

    Voxel ``v`` is the cube ``origin + voxel_size * [coords[v], coords[v] + 1)``. Its points are
    ``order[offsets[v]:offsets[v + 1]]`` (CSR layout, ascending point index within a voxel), and
    ``point_to_voxel[i]`` is the voxel of point ``i``.

    Attributes:
        coords: ``(V, 3)`` int64 integer grid coordinates of the occupied voxels, sorted lexicographically.
        point_to_voxel: ``(N,)`` int64 voxel index of every point.
        offsets: ``(V + 1,)`` int64 CSR row starts into ``order``.
        order: ``(N,)`` int64 point indices grouped by voxel.
        voxel_size: edge length of a voxel.
        origin: ``(3,)`` float64 corner of voxel ``(0, 0, 0)``.
    """

    coords: Array
    point_to_voxel: Array
    offsets: Array
    order: Array
    voxel_size: float
    origin: Array
    _like: Like = field(repr=False, compare=False)

    @property
    def n_voxels(self) -> int:
        """Number of occupied voxels ``V``."""
        return int(self.coords.shape[0])

    @property
    def counts(self) -> Array:
        """``(V,)`` number of points in each voxel."""
        return self.offsets[1:] - self.offsets[:-1]

    def points_in(self, v: int) -> Array:
        """Indices of the points in voxel ``v``."""
        return self.order[int(self.offsets[v]) : int(self.offsets[v + 1])]

    def centers(self) -> Array:
        """``(V, 3)`` centres of the occupied voxels in world coordinates."""
        c = to_torch(self.coords).to(torch.float64) + 0.5
        return self._like.floats(to_torch(self.origin, c.device) + c * self.voxel_size)

    def _per_point(self, values: Array, name: str) -> torch.Tensor:
        t = to_torch(values)
        n = int(self.point_to_voxel.shape[0])
        if t.ndim == 0 or t.shape[0] != n:
            raise ValueError(f"{name} must have one row per point ({n}), got shape {tuple(t.shape)}")
        return t

    def mean(self, features: Array) -> Array:
        """Average per-point ``features`` ``(N, ...)`` over each voxel -> ``(V, ...)`` (differentiable).

        ``voxelization.mean(points)`` gives the voxel centroids (Open3D's ``voxel_down_sample``).
        """
        f = self._per_point(features, "features")
        like = Like.of(features) if isinstance(features, (np.ndarray, torch.Tensor)) else self._like
        inv = to_torch(self.point_to_voxel, f.device)
        work = f if f.dtype.is_floating_point else f.to(torch.float32)
        total = torch.zeros((self.n_voxels, *work.shape[1:]), dtype=work.dtype, device=f.device)
        total = total.index_add(0, inv, work)
        cnt = to_torch(self.counts, f.device).to(work.dtype).reshape(-1, *([1] * (work.ndim - 1)))
        return like.floats(total / cnt)

    def scatter(self, voxel_values: Array) -> Array:
        """Give every point its voxel's value: ``(V, ...) -> (N, ...)`` (differentiable)."""
        t = to_torch(voxel_values)
        if t.ndim == 0 or t.shape[0] != self.n_voxels:
            raise ValueError(
                f"voxel_values must have one row per voxel ({self.n_voxels}), got shape {tuple(t.shape)}"
            )
        out = t[to_torch(self.point_to_voxel, t.device)]
        return out if isinstance(voxel_values, torch.Tensor) else out.numpy()


def voxelize(points: Array, voxel_size: float, *, origin: Array | None = None) -> Voxelization:
    """Assign every point to the grid cell ``floor((p - origin) / voxel_size)``.

    Args:
        points: ``(N, 3)`` cloud.
        voxel_size: edge length of the cubic cells, ``> 0``.
        origin: ``(3,)`` corner of voxel ``(0, 0, 0)``; ``None`` anchors the grid at the world origin, so
            two clouds voxelized with the same size share one grid (coordinates may be negative). Pass
            ``points.min(0)`` for non-negative coordinates.

    Returns:
        :class:`Voxelization`, arrays of the input's kind and device.

    Raises:
        ValueError: bad points, non-positive ``voxel_size``, bad ``origin``, or a grid too fine to index.
    """
    p = check_points(points, "points")
    voxel_size = check_positive(voxel_size, "voxel_size")
    like = Like.of(p)
    pt = to_torch(p).detach().to(torch.float64)
    if origin is None:
        o = torch.zeros(3, dtype=torch.float64, device=pt.device)
    else:
        o = check_position(origin, "origin").to(pt.device)
    grid = torch.floor((pt - o) / voxel_size)
    if bool((grid.abs() > 2**52).any()):
        raise ValueError(
            f"voxel_size={voxel_size} is too small for the cloud's extent; the grid cannot be indexed"
        )
    coords = grid.to(torch.int64)
    low = coords.min(dim=0).values
    ext = coords.max(dim=0).values - low + 1
    shifted = coords - low
    if float(ext[0]) * float(ext[1]) * float(ext[2]) < 2**62:
        key = (shifted[:, 0] * ext[1] + shifted[:, 1]) * ext[2] + shifted[:, 2]
        uniq, inv, counts = torch.unique(key, sorted=True, return_inverse=True, return_counts=True)
        vox = torch.stack([uniq // (ext[1] * ext[2]), (uniq // ext[2]) % ext[1], uniq % ext[2]], dim=1) + low
    else:  # pragma: no cover - needs > 2^62 grid cells in the bounding box
        vox, inv, counts = torch.unique(coords, dim=0, sorted=True, return_inverse=True, return_counts=True)
    order = torch.argsort(inv, stable=True)
    offsets = torch.zeros(vox.shape[0] + 1, dtype=torch.int64, device=pt.device)
    torch.cumsum(counts, dim=0, out=offsets[1:])
    return Voxelization(
        coords=like.ints(vox),
        point_to_voxel=like.ints(inv),
        offsets=like.ints(offsets),
        order=like.ints(order),
        voxel_size=voxel_size,
        origin=like.floats(o) if like.is_torch else o.numpy(),
        _like=like,
    )
