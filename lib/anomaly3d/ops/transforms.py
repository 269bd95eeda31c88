"""Rigid rotations and the normalizations the papers apply to clouds.

* :func:`normalize_unit_sphere` — centroid to the origin, farthest point at distance 1 (Point-MAE's
  ``pc_norm``, used by Group3AD / IMRNet / PO3AD through Point-MAE-style pipelines).
* :func:`normalize_box` — bounding box into ``[-1, 1]^3``.
* :func:`mean_knn_distance_scale` — 3D-ST's scale ``s`` (Bergmann & Sattlegger, eq. 4); clouds are divided by it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from anomaly3d.ops._backend import Array, Like, check_count, check_points, make_rng, to_numpy, to_torch
from anomaly3d.ops.neighbors import knn

__all__ = [
    "apply_rotation",
    "mean_knn_distance_scale",
    "median_nn_spacing",
    "normalize_box",
    "normalize_unit_sphere",
    "random_rotation",
]

_AXES = {"x": (1.0, 0.0, 0.0), "y": (0.0, 1.0, 0.0), "z": (0.0, 0.0, 1.0)}


def _axis_angle(axis: np.ndarray, angle: float) -> np.ndarray:
    """Rodrigues' formula for a unit ``axis``."""
    x, y, z = axis
    kx = np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])
    return np.eye(3) + math.sin(angle) * kx + (1.0 - math.cos(angle)) * (kx @ kx)


def _angle(rng: np.random.Generator, max_angle: float | None) -> float:
    return float(rng.uniform(0.0, 2 * math.pi) if max_angle is None else rng.uniform(-max_angle, max_angle))


def random_rotation(
    seed: int | np.random.Generator | None = None,
    *,
    axis: str | Sequence[float] | None = None,
    max_angle: float | None = None,
    euler: bool = False,
    like: Array | None = None,
) -> Array:
    """A random ``(3, 3)`` rotation matrix (orthonormal, determinant +1).

    Args:
        seed: int or ``numpy.random.Generator`` (``None``: fresh entropy).
        axis: ``None`` — uniform (Haar) over SO(3), from a normalised 4D Gaussian quaternion; ``"x"``,
            ``"y"``, ``"z"`` or a 3-vector — rotation about that axis by a uniform angle.
        max_angle: angles uniform in ``[-max_angle, max_angle]`` (radians) instead of ``[0, 2 pi)``. Without
            ``axis`` (and ``euler``) this turns about a uniformly random axis (small perturbations; not Haar).
        euler: independent uniform angles about x, then y, then z (``R = Rz Ry Rx``), the augmentation of
            3D-ST's pre-training scenes ("rotated around each 3D axis with angles sampled uniformly from
            [0, 2 pi]"); not Haar-uniform.
        like: return a tensor/array matching this one's kind, device and float dtype (default: float64 NumPy).

    Raises:
        ValueError: bad seed, unknown axis, zero axis vector, negative ``max_angle``, ``axis`` with ``euler``.
    """
    rng = make_rng(seed)
    if max_angle is not None and not (isinstance(max_angle, (int, float)) and 0 <= max_angle < math.inf):
        raise ValueError(f"max_angle must be a non-negative number of radians, got {max_angle!r}")
    if euler and axis is not None:
        raise ValueError("give either axis= or euler=True, not both")
    if euler:
        rot = np.eye(3)
        for name in ("x", "y", "z"):
            rot = _axis_angle(np.array(_AXES[name]), _angle(rng, max_angle)) @ rot
    elif axis is not None:
        rot = _axis_angle(_unit_axis(axis), _angle(rng, max_angle))
    elif max_angle is not None:
        direction = rng.standard_normal(3)
        rot = _axis_angle(direction / np.linalg.norm(direction), _angle(rng, max_angle))
    else:
        w, x, y, z = (q := rng.standard_normal(4)) / np.linalg.norm(q)
        rot = np.array(
            [
                [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
            ]
        )
    if like is None:
        return rot
    return Like.of(check_points(like, "like", batched=None)).floats(torch.from_numpy(rot))


def _unit_axis(axis: str | Sequence[float]) -> np.ndarray:
    if isinstance(axis, str):
        if axis not in _AXES:
            raise ValueError(f"axis must be 'x', 'y', 'z' or a 3-vector, got {axis!r}")
        return np.array(_AXES[axis])
    a = np.asarray(axis.detach().cpu() if isinstance(axis, torch.Tensor) else axis, dtype=np.float64)
    if a.shape != (3,) or not np.isfinite(a).all() or np.linalg.norm(a) == 0:
        raise ValueError(f"axis must be 'x', 'y', 'z' or a finite non-zero 3-vector, got {axis!r}")
    return a / np.linalg.norm(a)


def apply_rotation(points: Array, rotation: Array, *, center: Array | None = None) -> Array:
    """Rotate ``points`` by ``rotation``: ``p -> R (p - c) + c`` (``c`` = ``center`` or the origin).

    Args:
        points: ``(N, 3)`` or ``(B, N, 3)``.
        rotation: ``(3, 3)``, or ``(B, 3, 3)`` (one per cloud of a batch). Not checked for orthonormality,
            so any linear map works.
        center: ``(3,)`` fixed point of the rotation (e.g. the centroid); ``None`` is the origin.

    Returns:
        rotated points, same kind/device/dtype as ``points`` (differentiable for tensors).
    """
    p = check_points(points, "points", batched=None)
    like = Like.of(p)
    pt = to_torch(p)
    rot = to_torch(np.asarray(rotation) if not isinstance(rotation, torch.Tensor) else rotation, pt.device)
    rot = rot.to(pt.dtype)
    if (
        rot.shape[-2:] != (3, 3)
        or rot.ndim not in (2, 3)
        or (rot.ndim == 3 and (pt.ndim != 3 or rot.shape[0] != pt.shape[0]))
    ):
        raise ValueError(
            f"rotation must be (3, 3), or (B, 3, 3) for a batch of B clouds; got {tuple(rot.shape)} "
            f"for points of shape {tuple(pt.shape)}"
        )
    if center is not None:
        c = to_torch(np.asarray(center, dtype=np.float64) if not isinstance(center, torch.Tensor) else center)
        if c.shape != (3,):
            raise ValueError(f"center must have shape (3,), got {tuple(c.shape)}")
        c = c.to(pt.device, pt.dtype)
        return like.floats((pt - c) @ rot.transpose(-1, -2) + c)
    return like.floats(pt @ rot.transpose(-1, -2))


def normalize_unit_sphere(points: Array) -> tuple[Array, Array, Array]:
    """Centre on the centroid and scale the farthest point to distance 1.

    Returns:
        ``(normalized, center, scale)`` with ``normalized = (points - center) / scale``; ``center`` ``(3,)``
        (``(B, 3)`` batched), ``scale`` 0-d (``(B,)``). Undo with ``normalized * scale + center``.

    Raises:
        ValueError: bad points, or all points coincide (no scale).
    """
    p = check_points(points, "points", batched=None)
    like = Like.of(p)
    pt = to_torch(p)
    center = pt.mean(dim=-2)
    scale = (pt - center.unsqueeze(-2)).norm(dim=-1).amax(dim=-1)
    if bool((scale == 0).any()):
        raise ValueError("points: all points coincide, the cloud has no extent to normalize")
    out = (pt - center.unsqueeze(-2)) / scale[..., None, None]
    return like.floats(out), like.floats(center), like.floats(scale)


def normalize_box(points: Array, *, keep_aspect: bool = True) -> tuple[Array, Array, Array]:
    """Map the bounding box into ``[-1, 1]^3``.

    With ``keep_aspect`` (default) one scale for all axes: the longest side spans ``[-1, 1]``, the others
    are centred inside. Without it every axis is stretched to ``[-1, 1]`` (an axis with no extent keeps
    scale 1, staying at 0).

    Returns:
        ``(normalized, center, scale)``: ``normalized = (points - center) / scale``, ``center`` = box centre
        ``(3,)``, ``scale`` = half the longest side (0-d) or per-axis half sides ``(3,)``; batched input adds
        a leading ``B``.

    Raises:
        ValueError: bad points, or all points coincide (``keep_aspect``).
    """
    p = check_points(points, "points", batched=None)
    like = Like.of(p)
    pt = to_torch(p)
    low, high = pt.amin(dim=-2), pt.amax(dim=-2)
    center = (low + high) / 2
    half = (high - low) / 2
    if keep_aspect:
        scale = half.amax(dim=-1)
        if bool((scale == 0).any()):
            raise ValueError("points: all points coincide, the cloud has no extent to normalize")
        out = (pt - center.unsqueeze(-2)) / scale[..., None, None]
    else:
        scale = torch.where(half > 0, half, torch.ones_like(half))
        out = (pt - center.unsqueeze(-2)) / scale.unsqueeze(-2)
    return like.floats(out), like.floats(center), like.floats(scale)


def mean_knn_distance_scale(points: Array | Sequence[Array], k: int = 32, *, backend: str = "auto") -> float:
    """3D-ST's normalisation scale, eq. 4: ``s = 1 / (k |P|) * sum_p sum_{q in knn(p)} |p - q|``.

    The mean distance from every point to its ``k`` nearest other points, over one cloud or over all points
    of a sequence of clouds (3D-ST averages over the whole training set, then divides every cloud by
    ``s``). 3D-ST uses ``k = 32``, the neighbourhood size of its local feature aggregation.

    Args:
        points: ``(N, 3)`` cloud or a sequence of clouds (each with more than ``k`` points).
        k: neighbours per point (excluding the point itself).
        backend: kNN backend.

    Returns:
        ``s`` as a Python float.
    """
    clouds = [points] if isinstance(points, (np.ndarray, torch.Tensor)) else list(points)
    if not clouds:
        raise ValueError("points is an empty sequence; give at least one cloud")
    total, count = 0.0, 0
    for i, cloud in enumerate(clouds):
        name = "points" if len(clouds) == 1 else f"points[{i}]"
        c = check_points(cloud, name)
        kk = check_count(
            k, "k", high=c.shape[0] - 1, what=f"{name} has {c.shape[0]} points, minus the point itself"
        )
        dist, _ = knn(c, None, kk, exclude_self=True, backend=backend)
        total += float(to_torch(dist).to(torch.float64).sum())
        count += dist.shape[0] * kk
    return total / count


def median_nn_spacing(points: Array, *, backend: str = "auto") -> float:
    """The median distance from a point to its nearest other point: the cloud's sampling density as a length.

    Scale-free radii are multiples of it (BTF's FPFH radii on unorganized clouds, the FPFH sanity baseline of the
    embedded benchmark, the point-cloud AU-PRO neighbourhood). A duplicate of a point counts as its nearest
    neighbour, at distance 0.

    Raises:
        ValueError: bad points, or fewer than 2 of them.
    """
    c = check_points(points, "points")
    check_count(c.shape[0], "number of points", low=2)
    dist, _ = knn(c, None, 1, exclude_self=True, backend=backend)
    return float(np.median(to_numpy(dist)[:, 0]))
