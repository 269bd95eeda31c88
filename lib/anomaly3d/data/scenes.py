"""3D-ST's self-supervised pretraining data: synthetic scenes of randomly placed objects.

3D-ST (Bergmann & Sattlegger, Sec. 4.1) pretrains its teacher on scenes built from ModelNet10: each scene holds 10
randomly chosen objects, each scaled so that the longest side of its bounding box is 1, rotated about each axis
by an angle drawn uniformly from ``[0, 2 pi)``, and placed at a location drawn uniformly from ``[-3, 3]^3``; the
scene's point cloud is ``n`` points chosen by farthest point sampling. 1000 training and 50 validation scenes.

:func:`object_library` provides the objects: ModelNet10 meshes when the user has the dataset (read by the real
loader), otherwise instances of the embedded benchmark's procedural shapes (the same twelve families the
embedded anomaly data use, with random per-instance parameters). :func:`make_scene` builds one scene from them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from anomaly3d.data.mesh_sampling import farthest_point_indices, sample_surface
from anomaly3d.data.sample import DataError
from anomaly3d.ops import random_rotation

__all__ = ["embedded_objects", "make_scene", "make_scenes", "modelnet_objects", "object_library"]


def _unit_longest_side(points: np.ndarray) -> np.ndarray:
    lo, hi = points.min(axis=0), points.max(axis=0)
    side = float((hi - lo).max())
    if not side > 0:
        raise DataError("an object of the pretraining library is degenerate (zero extent)")
    return ((points - (lo + hi) / 2) / side).astype(np.float32)


def embedded_objects(n_objects: int, points_per_object: int, *, seed: int = 0) -> list[np.ndarray]:
    """``n_objects`` procedural shapes (cycling through the embedded families), each sampled with
    ``points_per_object`` area-uniform surface points and scaled to a longest side of 1."""
    from anomaly3d.data.synthetic.shapes import CATEGORIES, make_instance

    rng = np.random.default_rng([seed, 3])
    out = []
    for i in range(n_objects):
        inst = make_instance(CATEGORIES[i % len(CATEGORIES)], rng)
        pts, _ = sample_surface(inst.mesh.vertices, inst.mesh.faces, points_per_object, rng)
        out.append(_unit_longest_side(pts))
    return out


def modelnet_objects(
    root: str | os.PathLike[str], points_per_object: int, *, split: str = "train", max_objects: int | None = None,
    seed: int = 0,
) -> list[np.ndarray]:
    """ModelNet10 meshes of ``split`` (all categories), sampled and scaled to a longest side of 1.

    Raises:
        DataError: missing/unreadable dataset files (from the ModelNet10 loader).
    """
    from anomaly3d.data.formats import modelnet10

    out: list[np.ndarray] = []
    for category in modelnet10.list_categories(root):
        for sample in modelnet10.load_split(root, category, split, n_points=points_per_object, seed=seed):
            out.append(_unit_longest_side(sample.points))
            if max_objects is not None and len(out) >= max_objects:
                return out
    if not out:
        raise DataError(f"no ModelNet10 meshes found under {root} ({split} split)")
    return out


def object_library(
    points_per_object: int, *, modelnet_root: str | os.PathLike[str] | None = None, n_objects: int = 60,
    seed: int = 0,
) -> tuple[list[np.ndarray], str]:
    """The objects scenes are built from, and a one-line description of where they came from."""
    if modelnet_root is not None:
        objs = modelnet_objects(modelnet_root, points_per_object, seed=seed)
        return objs, f"ModelNet10 at {modelnet_root} ({len(objs)} meshes)"
    objs = embedded_objects(n_objects, points_per_object, seed=seed)
    return objs, f"embedded procedural shapes ({len(objs)} instances of 12 families; ModelNet10 not given)"


def make_scene(
    objects: Sequence[np.ndarray], n_points: int, rng: np.random.Generator, *, objects_per_scene: int = 10,
    extent: float = 3.0,
) -> np.ndarray:
    """One pretraining scene (3D-ST Sec. 4.1): ``objects_per_scene`` objects drawn from ``objects``, each rotated
    about x, y and z by uniform angles and centred at a uniform location in ``[-extent, extent]^3``; then
    ``n_points`` of their union chosen by farthest point sampling (from a random start).

    Returns:
        ``(n_points, 3)`` float32.

    Raises:
        ValueError: no objects, or fewer points in the union than ``n_points``.
    """
    if not objects:
        raise ValueError("objects is empty: the scene needs an object library")
    picks = rng.choice(len(objects), size=objects_per_scene, replace=len(objects) < objects_per_scene)
    parts = []
    for i in picks:
        rot = np.asarray(random_rotation(rng, euler=True))
        parts.append(objects[i] @ rot.T + rng.uniform(-extent, extent, size=3))
    union = np.concatenate(parts).astype(np.float32)
    if union.shape[0] < n_points:
        raise ValueError(
            f"the scene's objects hold {union.shape[0]} points, fewer than n_points={n_points}; "
            "sample more points per object"
        )
    keep = farthest_point_indices(union, n_points, start=int(rng.integers(union.shape[0])))
    return union[keep]


def make_scenes(
    objects: Sequence[np.ndarray], count: int, n_points: int, *, seed: int, objects_per_scene: int = 10
) -> list[np.ndarray]:
    """``count`` scenes from one seeded generator (training and validation use different seeds)."""
    rng = np.random.default_rng(seed)
    return [make_scene(objects, n_points, rng, objects_per_scene=objects_per_scene) for _ in range(count)]
