"""Turning meshes into point clouds: area-uniform surface sampling and farthest point sampling.

Used by the ModelNet10 loader (3D-ST pretrains its teacher on point clouds drawn from ModelNet10 meshes).
"""

from __future__ import annotations

import numpy as np

from anomaly3d.data.sample import DataError

__all__ = ["draw_area_uniform", "farthest_point_indices", "sample_surface"]


def sample_surface(
    vertices: np.ndarray,
    faces: np.ndarray,
    n: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n`` points uniformly (per unit area) on a triangle mesh.

    A face is chosen with probability proportional to its area, then a point inside it with the barycentric
    weights ``(1 - sqrt(r1), sqrt(r1) (1 - r2), sqrt(r1) r2)``, ``r1, r2 ~ U(0, 1)`` — uniform on the triangle.

    Args:
        vertices: ``(V, 3)`` coordinates.
        faces: ``(F, 3)`` vertex indices.
        n: number of points (> 0).
        rng: random generator (the draw is reproducible for a given generator state).

    Returns:
        ``(points, normals)``: ``(n, 3)`` float32 points and the unit normals of the faces they lie on.

    Raises:
        ValueError: ``n`` < 1 or malformed arrays.
        DataError: the mesh has no face of positive area.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces)
    if v.ndim != 2 or v.shape[1] != 3 or f.ndim != 2 or f.shape[1] != 3:
        raise ValueError(f"vertices must be (V, 3) and faces (F, 3), got {v.shape} and {f.shape}")
    if f.size == 0:
        raise DataError("the mesh has no faces to sample")
    a, b, c = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
    cross = np.cross(b - a, c - a)
    double_area = np.linalg.norm(cross, axis=1)
    total = double_area.sum()
    if not np.isfinite(total) or total <= 0:
        raise DataError("the mesh has no face of positive area to sample")
    face, bary = draw_area_uniform(double_area, n, rng)
    pts = bary[:, 0:1] * a[face] + bary[:, 1:2] * b[face] + bary[:, 2:3] * c[face]
    normals = cross[face] / double_area[face, None]
    return pts.astype(np.float32), normals.astype(np.float32)


def draw_area_uniform(face_areas: np.ndarray, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Faces drawn with probability proportional to ``face_areas`` and uniform barycentric weights in them.

    The one implementation of area-uniform surface sampling (the ModelNet loader and the synthetic benchmark
    both use it). Draw order from ``rng``: face choice, then ``r1``, then ``r2``; weights
    ``(1 - sqrt(r1), sqrt(r1) (1 - r2), sqrt(r1) r2)``.

    Returns:
        ``(faces (n,), bary (n, 3))``.
    """
    cum = np.cumsum(face_areas)
    faces = np.searchsorted(cum, rng.random(n) * cum[-1], side="right")
    faces = np.minimum(faces, len(face_areas) - 1)
    r1, r2 = rng.random(n), rng.random(n)
    s = np.sqrt(r1)
    bary = np.stack([1.0 - s, s * (1.0 - r2), s * r2], axis=1)
    return faces, bary


def farthest_point_indices(points: np.ndarray, k: int, *, start: int = 0) -> np.ndarray:
    """Indices of ``k`` points chosen by farthest point sampling (Moenning & Dodgson), starting at ``start``.

    Delegates to :func:`anomaly3d.ops.fps` (exact FPS).

    Raises:
        ValueError: ``k`` outside ``1..N`` or ``start`` out of range.
    """
    from anomaly3d.ops import fps

    pts = np.asarray(points, dtype=np.float32)
    n = pts.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"k must be in 1..{n} (number of points), got {k}")
    if not 0 <= start < n:
        raise ValueError(f"start must be in 0..{n - 1}, got {start}")
    return np.asarray(fps(pts, k, start=int(start)), dtype=np.int64)
