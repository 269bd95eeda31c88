"""One synthetic sample at a time: a new object instance, optionally a defect, then an acquisition.

* :func:`make_cloud_sample` — Anomaly-ShapeNet style: the whole surface, evenly sampled, exact normals, the
  object in the dataset frame with a small pose jitter for test samples.
* :func:`make_scan_sample` — Real3D-AD style: a complete 360-degree structured-light scan (training prototype)
  or a one-sided scan from a random viewpoint (test), in millimetres, with scanner noise.
* :func:`make_image_sample` (in :mod:`anomaly3d.data.synthetic.scene`) — MVTec 3D-AD style organized images.

Every sample is an independent physical object (its own instance parameters), so test clouds never coincide
with the training templates: a point-wise memory bank cannot match them exactly. Defects are placed where the
acquisition sees them (the exterior surface, or the side facing the test scanner); the anomalous fraction of
the final cloud is checked against the requested range and the defect is redrawn when it falls outside."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import trimesh

from anomaly3d.data.sample import GOOD
from anomaly3d.data.synthetic._geometry import random_rotation
from anomaly3d.data.synthetic.defects import DEFECT_TYPES, Defect, DefectSite, make_defect
from anomaly3d.data.synthetic.scan import (
    RayScene,
    SurfaceSample,
    mean_spacing,
    sample_area_uniform,
    sample_surface,
    scan_visible,
    sphere_viewpoints,
)
from anomaly3d.data.synthetic.shapes import ShapeInstance, make_instance

__all__ = [
    "REAL3D_DENSITY",
    "REAL3D_OBJECT_SIZE_MM",
    "CloudSample",
    "DefectRequest",
    "draw_defect",
    "exterior_candidates",
    "make_cloud_sample",
    "make_scan_sample",
]

REAL3D_OBJECT_SIZE_MM = 40.0
"""Largest extent of a Real3D-AD-style object (the real toys are 2-8 cm)."""

REAL3D_DENSITY = 2.5
"""Real3D-AD scans sample the whole surface with this many times ``n_points`` before the scanner's
visibility."""

_MAX_ATTEMPTS = 12


@dataclass(frozen=True)
class DefectRequest:
    """What defect to make: ``kind`` (a :data:`~anomaly3d.data.synthetic.defects.DEFECT_TYPES` name or
    ``"good"``), the allowed anomalous fraction of the final cloud ``fraction = (lo, hi)`` and the severity
    range to draw from."""

    kind: str = GOOD
    fraction: tuple[float, float] = (0.01, 0.10)
    severity: tuple[float, float] = (0.3, 1.0)

    def __post_init__(self) -> None:
        if self.kind != GOOD and self.kind not in DEFECT_TYPES:
            raise ValueError(
                f"unknown defect kind {self.kind!r}; use 'good' or one of {', '.join(DEFECT_TYPES)}"
            )
        lo, hi = self.fraction
        if not (0.0 < lo < hi <= 0.5):
            raise ValueError(f"fraction must be (lo, hi) with 0 < lo < hi <= 0.5, got {self.fraction}")
        s0, s1 = self.severity
        if not (0.0 <= s0 <= s1 <= 1.0):
            raise ValueError(f"severity must be (lo, hi) with 0 <= lo <= hi <= 1, got {self.severity}")

    @property
    def is_good(self) -> bool:
        return self.kind == GOOD


@dataclass
class CloudSample:
    """A generated point cloud with ground truth.

    Attributes:
        category: shape category.
        defect_type: ``good`` or the defect kind.
        points: ``(N, 3)`` float32 in the output frame.
        normals: ``(N, 3)`` float32 unit normals in the output frame.
        labels: ``(N,)`` uint8 ground truth (1 = anomalous).
        mesh: the (defective) mesh in the output frame, for template meshes and figures.
        meta: instance parameters, defect parameters, pose — JSON-friendly.
    """

    category: str
    defect_type: str
    points: np.ndarray
    normals: np.ndarray
    labels: np.ndarray
    mesh: trimesh.Trimesh
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def anomalous_fraction(self) -> float:
        return float(self.labels.mean()) if len(self.labels) else 0.0


def exterior_candidates(
    instance: ShapeInstance,
    rng: np.random.Generator,
    n: int = 3000,
    eyes: np.ndarray | None = None,
    baseline: np.ndarray | None = None,
    scene: RayScene | None = None,
) -> SurfaceSample:
    """Surface points seen from outside: from 26 directions around the object by default, or from ``eyes``.
    These are where a defect may be placed (a sculptor works on the outside)."""
    mesh = instance.mesh
    cand = sample_area_uniform(mesh, n, rng)
    if eyes is None:
        ext = float(np.linalg.norm(mesh.extents))
        eyes = mesh.bounds.mean(axis=0) + 2.5 * ext * sphere_viewpoints(26)
    seen = scan_visible(scene or RayScene(mesh), cand.points, cand.normals, eyes, baseline=baseline)
    if not seen.any():
        raise ValueError(f"no surface point of this {instance.category} is visible from the given viewpoints")
    return cand.subset(seen)


def draw_defect(
    site: DefectSite, request: DefectRequest, rng: np.random.Generator, fraction_scale: float = 1.0
) -> tuple[Defect, float, float]:
    """Draw a target fraction (uniform in the middle 80 % of the requested range, times ``fraction_scale``)
    and a severity, and apply the defect. Returns ``(defect, target, severity)``."""
    lo, hi = request.fraction
    target = float(rng.uniform(lo + 0.1 * (hi - lo), hi - 0.1 * (hi - lo))) * fraction_scale
    severity = float(rng.uniform(*request.severity))
    return (
        make_defect(request.kind, site, rng, fraction=min(target, 0.5), severity=severity),
        target,
        severity,
    )


def _out_of_range(request: DefectRequest, kind: str, category: str, got: list[float]) -> RuntimeError:
    return RuntimeError(
        f"could not make a {kind!r} defect on {category!r} whose anomalous fraction lies in "
        f"{request.fraction} "
        f"after {_MAX_ATTEMPTS} attempts (got {', '.join(f'{g:.4f}' for g in got)}); widen the fraction range"
    )


def make_cloud_sample(
    category: str,
    request: DefectRequest,
    rng: np.random.Generator,
    *,
    n_points: int,
    jitter_deg: float = 1.0,
    jitter_shift: float = 0.005,
    nominal: bool = False,
) -> CloudSample:
    """An Anomaly-ShapeNet-style sample: ``n_points`` evenly spread over the whole surface (inner walls too),
    exact normals, the object centred on its bounding box. ``jitter_deg``/``jitter_shift`` (fraction of the
    object size) perturb the pose (0 for training templates, which define the frame).

    Raises:
        RuntimeError: when no defect with an anomalous fraction in ``request.fraction`` could be drawn."""
    inst = make_instance(category, rng, nominal=nominal)
    mesh = inst.mesh
    meta: dict[str, Any] = {"instance": inst.params}
    if request.is_good:
        final_mesh = mesh
        s = sample_surface(mesh, n_points, rng)
        labels = np.zeros(len(s), dtype=np.uint8)
    else:
        site = DefectSite(
            mesh, exterior_candidates(inst, rng), mean_spacing(mesh.area, n_points), inst.thin_walled
        )
        got = []
        for _ in range(_MAX_ATTEMPTS):
            defect, _, _ = draw_defect(site, request, rng)
            s = sample_surface(defect.mesh, n_points, rng)
            labels = defect.labels(s).astype(np.uint8)
            got.append(float(labels.mean()))
            if request.fraction[0] <= got[-1] <= request.fraction[1]:
                break
        else:
            raise _out_of_range(request, request.kind, category, got)
        final_mesh = defect.mesh
        meta["defect"] = defect.params
    center = mesh.bounds.mean(axis=0)
    rot = random_rotation(rng, np.deg2rad(jitter_deg)) if jitter_deg > 0 else np.eye(3)
    shift = rng.uniform(-1, 1, 3) * jitter_shift * float(mesh.extents.max())
    points = (s.points - center) @ rot.T + shift
    normals = s.normals @ rot.T
    out_mesh = trimesh.Trimesh(
        (final_mesh.vertices - center) @ rot.T + shift, final_mesh.faces, process=False
    )
    meta["pose"] = {"rotation": rot.tolist(), "translation": (shift - center @ rot.T).tolist()}
    return CloudSample(
        category, request.kind, points.astype(np.float32), normals.astype(np.float32), labels, out_mesh, meta
    )


def _scanner_baseline(eye: np.ndarray, target: np.ndarray, length: float) -> np.ndarray:
    """Projector offset: ``length`` along a horizontal direction perpendicular to the viewing direction."""
    view = target - eye
    side = np.cross(view, [0.0, 0.0, 1.0])
    if np.linalg.norm(side) < 1e-9:
        side = np.array([1.0, 0.0, 0.0])
    return length * side / np.linalg.norm(side)


def make_scan_sample(
    category: str,
    request: DefectRequest,
    rng: np.random.Generator,
    *,
    n_points: int,
    full_scan: bool,
    noise_mm: float = 0.02,
    jitter_deg: float = 3.0,
    jitter_mm: float = 1.0,
) -> CloudSample:
    """A Real3D-AD-style scan in millimetres (largest extent :data:`REAL3D_OBJECT_SIZE_MM`).

    The surface is sampled at the density of :data:`REAL3D_DENSITY` ``* n_points`` over the whole object (so a
    one-sided test scan keeps roughly ``n_points``, and a training prototype 2-3 times as many, as in
    Real3D-AD where prototypes are the larger clouds); a structured-light scanner (camera plus projector 0.3
    object sizes apart, 2.5 object sizes away) keeps what it measures: ``full_scan=True`` is a training
    prototype scanned from 20 directions all round (the inside of a narrow bottle stays unseen);
    ``full_scan=False`` is a test scan from one random viewpoint 15-60 degrees above the horizon, so only one
    side is present, as in the real test set. Gaussian noise of ``noise_mm`` is added along the normals, and
    test scans get a pose jitter (``jitter_deg``, ``jitter_mm``).

    Raises:
        RuntimeError: when no defect with an anomalous fraction in ``request.fraction`` (of the *scanned*
            points) could be drawn.
    """
    inst = make_instance(category, rng)
    mesh = inst.mesh
    ext = float(np.linalg.norm(mesh.extents))
    center = mesh.bounds.mean(axis=0)
    scene = RayScene(mesh)
    n_dense = round(REAL3D_DENSITY * n_points)
    if full_scan:
        eyes = center + 2.5 * ext * sphere_viewpoints(20)
    else:
        az, el = rng.uniform(0, 2 * np.pi), np.deg2rad(rng.uniform(15.0, 60.0))
        eyes = (
            center + 2.5 * ext * np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])
        )[None]
    baselines = np.stack([_scanner_baseline(e, center, 0.3 * ext) for e in eyes])
    meta: dict[str, Any] = {"instance": inst.params, "eyes": eyes.tolist()}
    if request.is_good:
        final_mesh = mesh
        s = sample_surface(mesh, n_dense, rng)
        seen = scan_visible(scene, s.points, s.normals, eyes, baseline=baselines)
        s = s.subset(seen)
        labels = np.zeros(len(s), dtype=np.uint8)
    else:
        cand = exterior_candidates(inst, rng, eyes=eyes, baseline=baselines, scene=scene)
        visible_ratio = len(cand) / 3000.0
        site = DefectSite(mesh, cand, mean_spacing(mesh.area, n_dense), inst.thin_walled, _scene=scene)
        got = []
        for _ in range(_MAX_ATTEMPTS):
            defect, _, _ = draw_defect(site, request, rng, fraction_scale=visible_ratio)
            s = sample_surface(defect.mesh, n_dense, rng)
            seen = scan_visible(RayScene(defect.mesh), s.points, s.normals, eyes, baseline=baselines)
            s = s.subset(seen)
            labels = defect.labels(s).astype(np.uint8)
            got.append(float(labels.mean()) if len(labels) else 0.0)
            if request.fraction[0] <= got[-1] <= request.fraction[1]:
                break
        else:
            raise _out_of_range(request, request.kind, category, got)
        final_mesh = defect.mesh
        meta["defect"] = defect.params
    if len(s) == 0:
        raise RuntimeError(f"the scan of {category!r} saw no points; the viewpoints miss the object")
    scale = REAL3D_OBJECT_SIZE_MM / float(mesh.extents.max())
    rot = np.eye(3) if full_scan else random_rotation(rng, np.deg2rad(jitter_deg))
    shift = np.zeros(3) if full_scan else rng.uniform(-1, 1, 3) * jitter_mm
    noisy = s.points + rng.normal(0.0, noise_mm / scale, size=(len(s), 1)) * s.normals
    points = ((noisy - center) * scale) @ rot.T + shift
    normals = s.normals @ rot.T
    out_mesh = trimesh.Trimesh(
        ((final_mesh.vertices - center) * scale) @ rot.T + shift, final_mesh.faces, process=False
    )
    meta["pose"] = {
        "scale": scale,
        "rotation": rot.tolist(),
        "translation": (shift - scale * center @ rot.T).tolist(),
    }
    return CloudSample(
        category, request.kind, points.astype(np.float32), normals.astype(np.float32), labels, out_mesh, meta
    )
