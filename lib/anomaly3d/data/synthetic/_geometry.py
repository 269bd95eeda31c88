"""Small geometry helpers shared by the synthetic-benchmark modules (manifold3d <-> trimesh, rotations)."""

from __future__ import annotations

import manifold3d
import numpy as np
import trimesh

__all__ = [
    "apply_transform",
    "orthonormal_frame",
    "random_rotation",
    "rigid_transform",
    "rotation_matrix",
    "to_manifold",
    "to_trimesh",
]


def to_trimesh(solid: manifold3d.Manifold) -> trimesh.Trimesh:
    """Convert a manifold3d solid into a watertight ``trimesh.Trimesh`` (float64 vertices, shared vertices).

    Raises:
        ValueError: if the solid is empty (e.g. a boolean removed everything).
    """
    if solid.is_empty():
        raise ValueError("the solid is empty; a boolean or construction step removed all of its volume")
    mesh = solid.to_mesh()
    vertices = np.asarray(mesh.vert_properties, dtype=np.float64)[:, :3]
    faces = np.asarray(mesh.tri_verts, dtype=np.int64)
    return trimesh.Trimesh(vertices=vertices, faces=faces, process=False)


def to_manifold(mesh: trimesh.Trimesh) -> manifold3d.Manifold:
    """Convert a watertight trimesh into a manifold3d solid (raises ``ValueError`` if it is not manifold)."""
    solid = manifold3d.Manifold(
        manifold3d.Mesh(
            vert_properties=np.ascontiguousarray(mesh.vertices, dtype=np.float32),
            tri_verts=np.ascontiguousarray(mesh.faces, dtype=np.uint32),
        )
    )
    if solid.status() != manifold3d.Error.NoError:
        raise ValueError(f"mesh is not a closed 2-manifold ({solid.status()}); cannot use it in a boolean")
    return solid


def rotation_matrix(axis: np.ndarray, angle: float) -> np.ndarray:
    """3x3 rotation by ``angle`` radians about ``axis`` (Rodrigues' formula)."""
    axis = np.asarray(axis, dtype=np.float64)
    norm = np.linalg.norm(axis)
    if norm == 0.0:
        raise ValueError("rotation axis must be non-zero")
    x, y, z = axis / norm
    c, s = np.cos(angle), np.sin(angle)
    k = np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])
    return np.eye(3) + s * k + (1.0 - c) * (k @ k)


def random_rotation(rng: np.random.Generator, max_angle: float) -> np.ndarray:
    """A rotation about a uniformly random axis by an angle uniform in ``[-max_angle, max_angle]`` radians."""
    axis = rng.normal(size=3)
    return rotation_matrix(axis, float(rng.uniform(-max_angle, max_angle)))


def orthonormal_frame(direction: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors ``(u, v)`` completing ``direction`` to a right-handed orthonormal frame."""
    d = np.asarray(direction, dtype=np.float64)
    d = d / np.linalg.norm(d)
    helper = np.array([1.0, 0.0, 0.0]) if abs(d[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    u = np.cross(d, helper)
    u /= np.linalg.norm(u)
    return u, np.cross(d, u)


def rigid_transform(rotation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """The 4x4 homogeneous matrix of ``x -> R x + t``."""
    m = np.eye(4)
    m[:3, :3] = rotation
    m[:3, 3] = translation
    return m


def apply_transform(points: np.ndarray, transform: np.ndarray, *, vectors: bool = False) -> np.ndarray:
    """Apply a 4x4 transform to ``(N, 3)`` points (``vectors=True``: rotate only, for normals/directions)."""
    points = np.asarray(points, dtype=np.float64)
    out = points @ transform[:3, :3].T
    if not vectors:
        out = out + transform[:3, 3]
    return out
