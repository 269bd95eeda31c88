"""MVTec 3D-AD style acquisition: an object on a table under a fixed structured-light camera.

The MVTec 3D-AD data (Bergmann et al., VISAPP 2022) were recorded by one industrial 3D sensor looking down on
objects lying on a plate: each sample is an organized ``H x W`` xyz image in the camera frame (metres; pixels
without a measurement are 0, e.g. where the projector casts a shadow) plus an RGB image of the same grid and,
for defects, a PNG mask. Shape-Guided (Chu et al., ICML 2023) builds on the fact that some defects show only
in colour and others only in geometry. This module reproduces that setting:

* the object lies in a stable rest pose (a bottle on its side), randomly turned about the vertical and
  shifted a few millimetres, scaled to :data:`OBJECT_SIZE_M`;
* the camera sits :data:`CAMERA_DISTANCE_M` away, tilted 12 degrees from vertical, the projector
  :data:`PROJECTOR_BASELINE_M` to its side; depth noise of :data:`DEPTH_NOISE_M` along each ray;
* colour = albedo (a per-category base colour, per-instance tint and a two-octave surface texture; a mottled
  grey table) times weak diffuse shading (ring-light-like: 80 % ambient), plus sensor noise. With this
  lighting a smooth bulge or dent inside the object's outline barely changes the colour (**geometry-only**
  defects; one that moves the silhouette, like most bends, does show), stains and discolourations change only
  the albedo (**colour-only**: the xyz image is bit-identical to the defect-free one), and the freshly exposed
  material of holes, cracks and breaks is darker (seen in **both**).

The ground-truth mask marks pixels that see an anomalous point of the defective object *or* would have seen an
altered/removed part of the normal object (a hole's footprint, where a bent part used to be).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import trimesh

from anomaly3d.data.synthetic._geometry import apply_transform, rigid_transform, rotation_matrix
from anomaly3d.data.synthetic.defects import Defect, DefectSite, smooth_noise
from anomaly3d.data.synthetic.samples import DefectRequest, draw_defect
from anomaly3d.data.synthetic.scan import (
    Camera,
    RayScene,
    SurfaceSample,
    mean_spacing,
    render_organized,
    sample_area_uniform,
    scan_visible,
)
from anomaly3d.data.synthetic.shapes import ShapeInstance, make_instance

__all__ = [
    "CAMERA_DISTANCE_M",
    "CATEGORY_COLOURS",
    "DEPTH_NOISE_M",
    "OBJECT_SIZE_M",
    "PROJECTOR_BASELINE_M",
    "ImageSample",
    "make_image_sample",
    "scene_camera",
]

OBJECT_SIZE_M = 0.06
CAMERA_DISTANCE_M = 0.40
CAMERA_TILT_DEG = 12.0
FIELD_HALF_WIDTH_M = 0.045
PROJECTOR_BASELINE_M = 0.08
DEPTH_NOISE_M = 1e-4
TABLE_HALF_SIZE_M = 0.3
MIN_DEFECT_HEIGHT_M = 0.006
"""Defect centres lie at least this high above the table."""
_LIGHT = np.array([0.3, -0.5, 1.0]) / np.linalg.norm([0.3, -0.5, 1.0])
_MAX_ATTEMPTS = 12

CATEGORY_COLOURS: dict[str, tuple[float, float, float]] = {
    "bottle": (0.32, 0.55, 0.38),
    "bowl": (0.85, 0.82, 0.74),
    "cup": (0.80, 0.36, 0.28),
    "vase": (0.35, 0.45, 0.70),
    "cap": (0.90, 0.75, 0.25),
    "ashtray": (0.55, 0.55, 0.58),
    "gear": (0.62, 0.60, 0.55),
    "bolt": (0.58, 0.58, 0.62),
    "bracket": (0.45, 0.50, 0.56),
    "helmet": (0.88, 0.88, 0.86),
    "washer": (0.70, 0.66, 0.55),
    "knob": (0.20, 0.20, 0.22),
}
"""Base albedo (linear RGB in [0, 1]) of each category."""


@dataclass
class ImageSample:
    """A generated MVTec-style sample.

    Attributes:
        category, defect_type: as in the dataset.
        xyz: ``(H, W, 3)`` float32 camera-frame coordinates in metres, 0 where nothing was measured.
        rgb: ``(H, W, 3)`` uint8 colour image.
        mask: ``(H, W)`` bool ground truth.
        meta: instance, pose, defect parameters (JSON-friendly).
    """

    category: str
    defect_type: str
    xyz: np.ndarray
    rgb: np.ndarray
    mask: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def valid(self) -> np.ndarray:
        return np.any(self.xyz != 0, axis=2)


def scene_camera(image_size: int) -> Camera:
    """The fixed camera of every scene (square images of side ``image_size``)."""
    tilt = np.deg2rad(CAMERA_TILT_DEG)
    pos = np.array([0.0, -CAMERA_DISTANCE_M * np.sin(tilt), CAMERA_DISTANCE_M * np.cos(tilt)])
    f = 0.5 * image_size * CAMERA_DISTANCE_M / FIELD_HALF_WIDTH_M
    return Camera.look_at(
        pos, np.array([0.0, 0.0, 0.015]), np.array([0.0, 1.0, 0.0]), f, image_size, image_size
    )


def _table() -> trimesh.Trimesh:
    h = TABLE_HALF_SIZE_M
    v = np.array([[-h, -h, 0.0], [h, -h, 0.0], [h, h, 0.0], [-h, h, 0.0]])
    return trimesh.Trimesh(v, np.array([[0, 1, 2], [0, 2, 3]]), process=False)


def _object_pose(instance: ShapeInstance, rng: np.random.Generator) -> np.ndarray:
    """4x4 canonical -> world: rest rotation, random yaw, scale to OBJECT_SIZE_M, on the table, small
    shift."""
    mesh = instance.mesh
    scale = OBJECT_SIZE_M / float(mesh.extents.max())
    rot = rotation_matrix(np.array([0.0, 0.0, 1.0]), rng.uniform(0, 2 * np.pi)) @ instance.rest_rotation()
    v = mesh.vertices @ rot.T * scale
    lo, hi = v.min(axis=0), v.max(axis=0)
    shift = np.array([-(lo[0] + hi[0]) / 2, -(lo[1] + hi[1]) / 2, -lo[2]])
    shift[:2] += rng.uniform(-0.005, 0.005, 2)
    return rigid_transform(rot * scale, shift)


def _albedo_field(category: str, rng: np.random.Generator, extent: float):
    base = np.asarray(CATEGORY_COLOURS.get(category, (0.6, 0.6, 0.6))) * (1.0 + rng.uniform(-0.04, 0.04, 3))
    coarse, fine = smooth_noise(rng, 0.4 * extent, 8), smooth_noise(rng, 0.08 * extent, 8)

    def albedo(p_canon: np.ndarray) -> np.ndarray:
        t = 1.0 + 0.06 * coarse(p_canon) + 0.04 * fine(p_canon)
        return np.clip(base[None, :] * t[:, None], 0.0, 1.0)

    return albedo


def _table_albedo(rng: np.random.Generator):
    mottle = smooth_noise(rng, 0.03, 8)

    def albedo(p_world: np.ndarray) -> np.ndarray:
        g = 0.30 + 0.03 * mottle(p_world)
        return np.repeat(g[:, None], 3, axis=1) * np.array([1.0, 0.98, 0.95])

    return albedo


@dataclass
class _Render:
    hits: dict[str, np.ndarray]
    obj: np.ndarray  # (H*W,) bool: the camera ray hits the object
    canon: SurfaceSample  # object hits in the canonical frame (normals too)


def _render(mesh_canon: trimesh.Trimesh, pose: np.ndarray, camera: Camera, *, projector: bool) -> _Render:
    world = trimesh.Trimesh(apply_transform(mesh_canon.vertices, pose), mesh_canon.faces, process=False)
    scene = RayScene(world, _table())
    offset = PROJECTOR_BASELINE_M * camera.rotation[0] if projector else None
    hits = render_organized(scene, camera, projector_offset=offset)
    obj = (hits["geometry_ids"] == scene.ids[0]) & (hits["primitive_ids"] >= 0)
    inv = np.linalg.inv(pose)
    idx = np.flatnonzero(obj)
    pts = apply_transform(hits["points"][idx], inv)
    nrm = mesh_canon.face_normals[hits["primitive_ids"][idx]]
    canon = SurfaceSample(pts, nrm, hits["primitive_ids"][idx], np.full((len(idx), 3), 1.0 / 3.0))
    return _Render(hits, obj, canon)


def _visible_candidates(
    instance: ShapeInstance, pose: np.ndarray, camera: Camera, rng: np.random.Generator
) -> SurfaceSample:
    """Surface points the camera measures, at least :data:`MIN_DEFECT_HEIGHT_M` above the table (the BTF
    preprocessing that the papers apply removes everything within 5 mm of the table plane)."""
    cand = sample_area_uniform(instance.mesh, 3000, rng)
    world = trimesh.Trimesh(apply_transform(instance.mesh.vertices, pose), instance.mesh.faces, process=False)
    scene = RayScene(world, _table())
    points = apply_transform(cand.points, pose)
    normals = apply_transform(cand.normals, pose, vectors=True)
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    seen = scan_visible(
        scene, points, normals, camera.position[None], baseline=PROJECTOR_BASELINE_M * camera.rotation[0]
    )
    high = seen & (points[:, 2] >= MIN_DEFECT_HEIGHT_M)
    return cand.subset(high if high.any() else seen)


def make_image_sample(
    category: str,
    request: DefectRequest,
    rng: np.random.Generator,
    *,
    image_size: int,
    n_points_equiv: int = 4096,
) -> ImageSample:
    """One MVTec-style sample (see the module docstring). ``n_points_equiv`` sets the mean spacing that the
    defects' rim tolerance and rim band refer to (about the point density of the object in the image).

    Raises:
        RuntimeError: when no defect visible in the image with a plausible size could be drawn.
    """
    camera = scene_camera(image_size)
    inst = make_instance(category, rng)
    pose = _object_pose(inst, rng)
    extent = float(np.linalg.norm(inst.mesh.extents))
    albedo = _albedo_field(category, rng, extent)
    table = _table_albedo(rng)
    # sensor noise has its own stream: a sample with and without a defect (same seed) share it
    noise_rng = np.random.default_rng(rng.integers(2**63))
    meta: dict[str, Any] = {"instance": inst.params, "pose": pose.tolist()}
    base = _render(inst.mesh, pose, camera, projector=True)
    defect: Defect | None = None
    if request.is_good:
        render, mask = base, np.zeros(image_size * image_size, dtype=bool)
    else:
        cand = _visible_candidates(inst, pose, camera, rng)
        if len(cand) == 0:
            raise RuntimeError(f"no part of the {category!r} is visible from the camera")
        site = DefectSite(inst.mesh, cand, mean_spacing(inst.mesh.area, n_points_equiv), inst.thin_walled)
        got = []
        for _ in range(_MAX_ATTEMPTS):
            defect, _, _ = draw_defect(site, request, rng, fraction_scale=len(cand) / 3000.0)
            render = _render(defect.mesh, pose, camera, projector=True) if defect.geometric else base
            mask = np.zeros(image_size * image_size, dtype=bool)
            mask[np.flatnonzero(render.obj)] = defect.labels(render.canon)
            mask[np.flatnonzero(base.obj)] |= defect.base_labels(base.canon)
            n_obj = max(int(render.obj.sum()), 1)
            got.append(float(mask.sum()) / n_obj)
            if mask.sum() >= 4 and got[-1] <= 3 * request.fraction[1]:
                break
        else:
            raise RuntimeError(
                f"could not place a visible {request.kind!r} defect of plausible size on "
                f"{category!r} after {_MAX_ATTEMPTS} attempts (mask/object pixel ratios {got})"
            )
        meta["defect"] = defect.params
    hits = render.hits
    # colour: albedo x weak diffuse shading, rendered for every pixel the camera sees (shadowed ones too)
    rgb = np.zeros((image_size * image_size, 3))
    seen_any = hits["geometry_ids"] >= 0
    tab = seen_any & ~render.obj
    rgb[tab] = table(hits["points"][tab]) * (0.8 + 0.2 * _LIGHT[2])
    idx = np.flatnonzero(render.obj)
    if len(idx):
        col = albedo(render.canon.points)
        if defect is not None:
            col = defect.albedo(render.canon, col)
            exposed = defect.exposed(render.canon)
            col[exposed] = col[exposed] * 0.45 + np.array([0.10, 0.07, 0.05])
        n_world = apply_transform(render.canon.normals, pose, vectors=True)
        n_world /= np.linalg.norm(n_world, axis=1, keepdims=True)
        facing = np.einsum("nd,nd->n", n_world, hits["directions"][idx]) > 0
        n_world[facing] *= -1.0
        shade = 0.8 + 0.2 * np.clip(n_world @ _LIGHT, 0.0, None)
        rgb[idx] = col * shade[:, None]
    rgb = rgb + noise_rng.normal(0.0, 1.5 / 255.0, rgb.shape)
    rgb_u8 = np.clip(np.round(rgb * 255.0), 0, 255).astype(np.uint8).reshape(image_size, image_size, 3)
    # geometry: camera-frame xyz with depth noise along the ray, zeros where nothing was measured
    measured = hits["valid"]
    pts = hits["points"] + hits["directions"] * noise_rng.normal(0.0, DEPTH_NOISE_M, (len(measured), 1))
    xyz = np.zeros((image_size * image_size, 3), dtype=np.float32)
    xyz[measured] = camera.to_camera(pts[measured]).astype(np.float32)
    meta["object_pixels"] = int(render.obj.sum())
    return ImageSample(
        category,
        request.kind,
        xyz.reshape(image_size, image_size, 3),
        rgb_u8,
        mask.reshape(image_size, image_size),
        meta,
    )
