"""Turning meshes into point clouds: dense surface sampling, 360-degree and one-sided scans, organized images.

Three acquisition models, one per real dataset:

* :func:`sample_surface` — Anomaly-ShapeNet: points sampled from the whole (watertight) mesh surface, inner
  walls included, with exact face normals. Sampling is area-uniform and then thinned by farthest point
  sampling from a 3x oversampled set, which gives the even, blue-noise-like spacing of a subdivided mesh (the
  dataset's points come from a subdivision module) instead of the clumps of i.i.d. sampling.
* :func:`scan_visible` — Real3D-AD: a structured-light scanner sees a point when it faces the camera and both
  the camera and the projector (offset by a baseline) have an unobstructed line of sight to it. A union over
  many viewpoints on a sphere is the "complete 360 degree scan" of a training prototype; a single viewpoint is
  the one-sided test scan.
* :func:`render_organized` — MVTec 3D-AD: one fixed pinhole camera casts a ray per pixel into a scene (object
  on a ground plane); the first hit gives the organized xyz image, pixels the projector cannot see are invalid
  (zeros), as in the real data.

Ray casting uses Open3D's ``RaycastingScene`` (Embree), which is deterministic per ray.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh

from anomaly3d.data.mesh_sampling import draw_area_uniform

__all__ = [
    "Camera",
    "RayScene",
    "SurfaceSample",
    "mean_spacing",
    "render_organized",
    "sample_area_uniform",
    "sample_surface",
    "scan_visible",
    "sphere_viewpoints",
]


@dataclass
class SurfaceSample:
    """Points sampled on a mesh, with where each came from.

    Attributes:
        points: ``(N, 3)`` float64 positions.
        normals: ``(N, 3)`` float64 unit face normals (pointing out of the solid).
        face_index: ``(N,)`` index of the mesh face each point lies on.
        barycentric: ``(N, 3)`` barycentric coordinates of each point in its face.
    """

    points: np.ndarray
    normals: np.ndarray
    face_index: np.ndarray
    barycentric: np.ndarray

    def __len__(self) -> int:
        return int(self.points.shape[0])

    def subset(self, keep: np.ndarray) -> SurfaceSample:
        """The sample restricted to ``keep`` (a boolean mask or an index array)."""
        return SurfaceSample(
            self.points[keep], self.normals[keep], self.face_index[keep], self.barycentric[keep]
        )


def mean_spacing(area: float, n_points: int) -> float:
    """Mean distance between neighbouring points when ``n_points`` cover ``area`` evenly (``sqrt(area /
    n)``)."""
    if n_points <= 0 or area <= 0:
        raise ValueError(f"area and n_points must be positive, got area={area}, n_points={n_points}")
    return float(np.sqrt(area / n_points))


def sample_area_uniform(mesh: trimesh.Trimesh, n: int, rng: np.random.Generator) -> SurfaceSample:
    """``n`` i.i.d. points uniform over the surface area of ``mesh`` (faces drawn by area, uniform barycentric
    coordinates), with exact face normals; used wherever an unbiased area estimate is needed."""
    faces, bary = draw_area_uniform(mesh.area_faces, n, rng)
    tri = mesh.triangles[faces]
    points = np.einsum("nk,nkd->nd", bary, tri)
    return SurfaceSample(points, mesh.face_normals[faces].copy(), faces, bary)


def sample_surface(
    mesh: trimesh.Trimesh, n: int, rng: np.random.Generator, *, oversample: int = 3
) -> SurfaceSample:
    """Sample ``n`` evenly spread points on the surface of ``mesh``.

    ``oversample * n`` points are drawn area-uniformly (so density is the same everywhere) and thinned to
    ``n`` by farthest point sampling (:func:`anomaly3d.ops.fps`, started at index 0, hence deterministic); the
    kept points are returned in their drawing order.

    Raises:
        ValueError: if ``n < 1`` or the mesh has no area.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if not len(mesh.faces) or mesh.area <= 0:
        raise ValueError("cannot sample a mesh without faces or area")
    if oversample <= 1:
        return sample_area_uniform(mesh, n, rng)
    from anomaly3d.ops import fps

    dense = sample_area_uniform(mesh, oversample * n, rng)
    idx = fps(dense.points.astype(np.float32), n, start="first")
    return dense.subset(np.sort(np.asarray(idx, dtype=np.int64)))


class RayScene:
    """A set of meshes prepared for ray casting (Open3D ``RaycastingScene``); geometry ids follow the order of
    the meshes given."""

    def __init__(self, *meshes: trimesh.Trimesh) -> None:
        import open3d as o3d

        self._o3c = o3d.core
        self.scene = o3d.t.geometry.RaycastingScene()
        self.ids = []
        for mesh in meshes:
            self.ids.append(
                self.scene.add_triangles(
                    o3d.core.Tensor(np.ascontiguousarray(mesh.vertices, dtype=np.float32)),
                    o3d.core.Tensor(np.ascontiguousarray(mesh.faces, dtype=np.uint32)),
                )
            )

    def cast(self, origins: np.ndarray, directions: np.ndarray) -> dict[str, np.ndarray]:
        """Cast rays; returns ``t_hit`` (inf for a miss), ``geometry_ids``, ``primitive_ids`` (face index)."""
        rays = np.concatenate([origins, directions], axis=1).astype(np.float32)
        if len(rays) == 0:
            return {
                "t_hit": np.zeros(0),
                "geometry_ids": np.zeros(0, np.int64),
                "primitive_ids": np.zeros(0, np.int64),
            }
        ans = self.scene.cast_rays(self._o3c.Tensor(rays))
        geom = ans["geometry_ids"].numpy().astype(np.int64)
        geom[geom == np.iinfo(np.uint32).max] = -1
        prim = ans["primitive_ids"].numpy().astype(np.int64)
        prim[geom < 0] = -1
        return {"t_hit": ans["t_hit"].numpy().astype(np.float64), "geometry_ids": geom, "primitive_ids": prim}

    def closest(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Closest surface point of the scene to each query, and the face normal there."""
        q = self._o3c.Tensor(np.ascontiguousarray(points, dtype=np.float32))
        ans = self.scene.compute_closest_points(q)
        return ans["points"].numpy().astype(np.float64), ans["primitive_normals"].numpy().astype(np.float64)

    def distance(self, points: np.ndarray) -> np.ndarray:
        """Unsigned distance from each point to the nearest surface of the scene."""
        q = self._o3c.Tensor(np.ascontiguousarray(points, dtype=np.float32))
        return self.scene.compute_distance(q).numpy().astype(np.float64)

    def signed_distance(self, points: np.ndarray) -> np.ndarray:
        """Signed distance (negative inside) to the scene's closed meshes."""
        q = self._o3c.Tensor(np.ascontiguousarray(points, dtype=np.float32))
        return self.scene.compute_signed_distance(q).numpy().astype(np.float64)


def sphere_viewpoints(n: int) -> np.ndarray:
    """``n`` unit directions spread evenly over the sphere (Fibonacci lattice; deterministic)."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    i = np.arange(n) + 0.5
    z = 1.0 - 2.0 * i / n
    phi = np.pi * (1.0 + 5**0.5) * i
    r = np.sqrt(1.0 - z * z)
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)


def _line_of_sight(scene: RayScene, points: np.ndarray, eye: np.ndarray, tol: float) -> np.ndarray:
    d = points - eye
    dist = np.linalg.norm(d, axis=1)
    hit = scene.cast(np.broadcast_to(eye, points.shape), d / dist[:, None])
    return hit["t_hit"] >= dist - tol


def scan_visible(
    scene: RayScene,
    points: np.ndarray,
    normals: np.ndarray,
    eyes: np.ndarray,
    *,
    baseline: np.ndarray | None = None,
    max_incidence_deg: float = 80.0,
    tol: float = 1e-3,
) -> np.ndarray:
    """Which surface points a structured-light scanner at any of ``eyes`` measures.

    A point counts as seen from an eye when its normal faces the eye within ``max_incidence_deg`` and the ray
    from the eye reaches it unobstructed (first hit within ``tol`` of the point); with ``baseline`` (one
    offset vector per eye, or one for all) the projector at ``eye + baseline`` must see it as well.

    Returns:
        ``(N,)`` bool: seen from at least one eye.
    """
    points = np.asarray(points, dtype=np.float64)
    normals = np.asarray(normals, dtype=np.float64)
    normals = normals / np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
    eyes = np.atleast_2d(np.asarray(eyes, dtype=np.float64))
    cos_max = np.cos(np.deg2rad(max_incidence_deg))
    seen = np.zeros(len(points), dtype=bool)
    offsets = (
        None if baseline is None else np.broadcast_to(np.asarray(baseline, dtype=np.float64), eyes.shape)
    )
    for k, eye in enumerate(eyes):
        to_eye = eye - points
        cos = np.einsum("nd,nd->n", normals, to_eye) / np.linalg.norm(to_eye, axis=1)
        cand = np.flatnonzero((cos > cos_max) & ~seen)
        if not len(cand):
            continue
        ok = _line_of_sight(scene, points[cand], eye, tol)
        if offsets is not None:
            proj = eye + offsets[k]
            to_proj = proj - points[cand]
            facing = np.einsum("nd,nd->n", normals[cand], to_proj) > 0
            ok &= facing & _line_of_sight(scene, points[cand], proj, tol)
        seen[cand[ok]] = True
    return seen


@dataclass(frozen=True)
class Camera:
    """A pinhole camera: ``position``, 3x3 ``rotation`` (rows = camera x right, y down, z forward in world
    coordinates), focal length ``f`` in pixels, principal point at the image centre."""

    position: np.ndarray
    rotation: np.ndarray
    f: float
    width: int
    height: int

    @staticmethod
    def look_at(
        position: np.ndarray, target: np.ndarray, up: np.ndarray, f: float, width: int, height: int
    ) -> Camera:
        """A camera at ``position`` looking at ``target`` with world ``up`` appearing as image up."""
        z = np.asarray(target, float) - np.asarray(position, float)
        z /= np.linalg.norm(z)
        x = np.cross(z, -np.asarray(up, float))
        x /= np.linalg.norm(x)
        y = np.cross(z, x)
        return Camera(np.asarray(position, float), np.stack([x, y, z]), float(f), int(width), int(height))

    @property
    def cx(self) -> float:
        return (self.width - 1) / 2.0

    @property
    def cy(self) -> float:
        return (self.height - 1) / 2.0

    def pixel_rays(self) -> np.ndarray:
        """``(H*W, 3)`` unit ray directions (world frame), row-major over the image."""
        v, u = np.mgrid[0 : self.height, 0 : self.width]
        d_cam = np.stack(
            [(u - self.cx) / self.f, (v - self.cy) / self.f, np.ones_like(u, dtype=float)], axis=-1
        )
        d = d_cam.reshape(-1, 3) @ self.rotation
        return d / np.linalg.norm(d, axis=1, keepdims=True)

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        """World points in the camera frame (x right, y down, z depth)."""
        return (np.asarray(points, float) - self.position) @ self.rotation.T


def render_organized(
    scene: RayScene, camera: Camera, *, projector_offset: np.ndarray | None = None, tol: float = 1e-3
) -> dict[str, np.ndarray]:
    """Cast one ray per pixel of ``camera`` into ``scene``.

    Returns a dict of flat ``(H*W,)`` arrays: ``valid`` (hit and, with ``projector_offset``, lit by the
    projector), ``points`` ``(H*W, 3)`` world hit positions, ``geometry_ids``, ``primitive_ids`` (face index
    within that geometry) and ``directions`` ``(H*W, 3)``.
    """
    dirs = camera.pixel_rays()
    origins = np.broadcast_to(camera.position, dirs.shape)
    hit = scene.cast(origins, dirs)
    valid = np.isfinite(hit["t_hit"])
    t = np.where(valid, hit["t_hit"], 0.0)
    points = camera.position + dirs * t[:, None]
    if projector_offset is not None and valid.any():
        idx = np.flatnonzero(valid)
        lit = _line_of_sight(scene, points[idx], camera.position + np.asarray(projector_offset, float), tol)
        valid[idx[~lit]] = False
    return {
        "valid": valid,
        "points": points,
        "geometry_ids": hit["geometry_ids"],
        "primitive_ids": hit["primitive_ids"],
        "directions": dirs,
    }
