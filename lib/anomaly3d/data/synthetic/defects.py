"""Defect synthesis with exact per-point ground truth, after the Anomaly-ShapeNet recipe.

Anomaly-ShapeNet (Li et al., "Towards Scalable 3D Anomaly Detection and Localization", Sec. 3) sculpts six
defect types into refined (subdivided) ShapeNet meshes in Blender — bulge, concavity, hole, break, bending and
crack — samples 8k-30k points per object with 1-10 % of them anomalous, and obtains the ground truth in
CloudCompare by comparing the defective cloud with the normal one. Here each sculpting operation is a
parametric mesh edit and the ground truth follows from the edit itself, so it needs no tolerance-prone
cloud-to-cloud comparison:

* **displacement defects** (bulge, concavity, bending) move the vertices of a locally refined copy of the mesh
  by an analytic displacement field ``u(x)``; a point is anomalous iff it lies farther than the *rim
  tolerance* ``tau`` (a quarter of the mean point spacing) from the normal surface — the cloud-to-mesh
  distance the paper takes from CloudCompare, computed exactly. Points that moved less (the feathered edge of
  a bump, the root of a bend) or slid along the surface are labelled normal: that is the documented rim
  tolerance.
* **cut defects** (hole, crack, break) subtract a cutter solid with an exact boolean (manifold3d); a point is
  anomalous iff it lies within the *rim band* ``rho`` (1.5 mean spacings) of the cutter, i.e. on the newly
  exposed surface or next to the missing material. Normal points stay on the original surface (up to the
  boolean's float32 precision, ~1e-4 of the object size, far below ``tau``).
* **appearance defects** (stain, discolouration; MVTec-style scenes only) leave the geometry untouched and
  change the albedo inside a surface region; the region is the ground truth.

The defect *size* is the anomalous fraction of the surface area (hence of the evenly sampled points), fitted
by bisection on the defect's size parameter to a requested target; *severity* in ``[0, 1]`` scales its
magnitude (height, depth, bend angle, width, jaggedness) independently. Every random choice comes from the
caller's ``numpy.random.Generator``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import manifold3d
import numpy as np
import trimesh

from anomaly3d.data.synthetic._geometry import orthonormal_frame, rotation_matrix, to_manifold, to_trimesh
from anomaly3d.data.synthetic.scan import RayScene, SurfaceSample, sample_area_uniform

__all__ = [
    "APPEARANCE_DEFECTS",
    "DEFECT_TYPES",
    "GEOMETRIC_DEFECTS",
    "RIM_BAND_SPACINGS",
    "RIM_TOLERANCE_SPACINGS",
    "AppearanceDefect",
    "CutDefect",
    "Defect",
    "DefectSite",
    "DisplacementDefect",
    "make_defect",
    "smooth_noise",
]

GEOMETRIC_DEFECTS: tuple[str, ...] = ("bulge", "concavity", "hole", "break", "bending", "crack")
"""The six Anomaly-ShapeNet defect types, in the paper's order."""

APPEARANCE_DEFECTS: tuple[str, ...] = ("stain", "discolouration")
"""Colour-only defects (MVTec 3D-AD style scenes): invisible to geometry."""

DEFECT_TYPES: tuple[str, ...] = GEOMETRIC_DEFECTS + APPEARANCE_DEFECTS

RIM_TOLERANCE_SPACINGS = 0.25
"""Displacement defects: points displaced by at most this many mean point spacings are labelled normal."""

RIM_BAND_SPACINGS = 1.5
"""Cut defects: points of the original surface within this many mean spacings of the cut are anomalous."""

_EVAL_POINTS = 12000  # area-uniform points used to measure the anomalous area fraction while fitting sizes


# ------------------------------------------------------------------------------------------------------------
# helpers


def smooth_noise(
    rng: np.random.Generator, scale: float, n_waves: int = 8
) -> Callable[[np.ndarray], np.ndarray]:
    """A smooth random field on R^3 with values in about ``[-1, 1]``: a sum of ``n_waves`` random plane waves
    of wavelength about ``scale`` (random Fourier features). Deterministic given ``rng``'s state."""
    freq = rng.normal(size=(n_waves, 3)) * (2 * np.pi / scale) / np.sqrt(3.0)
    phase = rng.uniform(0, 2 * np.pi, n_waves)
    amp = rng.uniform(0.5, 1.0, n_waves)
    amp /= np.sqrt(0.5 * np.sum(amp**2)) * 1.5

    def field(x: np.ndarray) -> np.ndarray:
        return np.sin(np.asarray(x, float) @ freq.T + phase) @ amp

    return field


def _subdivide_selected(
    vertices: np.ndarray, faces: np.ndarray, sel: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Split each selected face into four at its edge midpoints (midpoints shared among selected faces)."""
    f = faces[sel]
    edges = np.stack([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]], axis=1).reshape(-1, 2)
    key = np.sort(edges, axis=1)
    uniq, inv = np.unique(key, axis=0, return_inverse=True)
    mids = 0.5 * (vertices[uniq[:, 0]] + vertices[uniq[:, 1]])
    mid_idx = (len(vertices) + inv.reshape(-1)).reshape(-1, 3)
    a, b, c = f[:, 0], f[:, 1], f[:, 2]
    ab, bc, ca = mid_idx[:, 0], mid_idx[:, 1], mid_idx[:, 2]
    new = np.concatenate(
        [
            np.stack([a, ab, ca], 1),
            np.stack([ab, b, bc], 1),
            np.stack([ca, bc, c], 1),
            np.stack([ab, bc, ca], 1),
        ]
    )
    keep = np.ones(len(faces), dtype=bool)
    keep[sel] = False
    return np.concatenate([vertices, mids]), np.concatenate([faces[keep], new])


def refine_where(
    mesh: trimesh.Trimesh, region: Callable[[np.ndarray], np.ndarray], max_edge: float, max_passes: int = 10
) -> trimesh.Trimesh:
    """Subdivide faces with an edge longer than ``max_edge`` whose vertices/centroid touch ``region`` (a
    predicate on ``(M, 3)`` points), repeatedly. The surface is unchanged; T-junctions can remain at the
    border of the refined zone, so a displacement applied afterwards must vanish there (ours do: they are zero
    outside their support, which ``region`` must cover)."""
    v, f = np.asarray(mesh.vertices, float), np.asarray(mesh.faces, np.int64)
    for _ in range(max_passes):
        tri = v[f]
        edge = np.linalg.norm(tri - np.roll(tri, 1, axis=1), axis=2).max(axis=1)
        big = edge > max_edge
        if not big.any():
            break
        cand = np.flatnonzero(big)
        touch = (
            region(tri[cand].mean(axis=1))
            | region(tri[cand, 0])
            | region(tri[cand, 1])
            | region(tri[cand, 2])
        )
        sel = cand[touch]
        if not len(sel):
            break
        v, f = _subdivide_selected(v, f, sel)
    return trimesh.Trimesh(vertices=v, faces=f, process=False)


def _interp(values: np.ndarray, faces: np.ndarray, sample: SurfaceSample) -> np.ndarray:
    corner = values[faces[sample.face_index]]  # (N, 3, ...) per-corner values
    return np.einsum("nk,nk...->n...", sample.barycentric, corner)


def _bisect(frac_of: Callable[[float], float], target: float, lo: float, hi: float, iters: int = 14) -> float:
    """Find ``s`` in ``[lo, hi]`` with ``frac_of(s)`` close to ``target`` (``frac_of`` increasing), in log
    space; the nearer end when the target is out of reach."""
    f_hi = frac_of(hi)
    if f_hi <= target:
        return hi
    if frac_of(lo) >= target:
        return lo
    a, b = np.log(lo), np.log(hi)
    best, best_err = hi, abs(f_hi - target)
    for _ in range(iters):
        m = 0.5 * (a + b)
        f = frac_of(float(np.exp(m)))
        if abs(f - target) < best_err:
            best, best_err = float(np.exp(m)), abs(f - target)
        if f < target:
            a = m
        else:
            b = m
        if best_err < 0.03 * target:
            break
    return best


# ------------------------------------------------------------------------------------------------------------
# where a defect goes


@dataclass
class DefectSite:
    """Where defects may be placed on one object.

    Attributes:
        mesh: the normal mesh.
        candidates: surface points (with normals) eligible as defect centres — e.g. the exterior surface,
            or the part seen from a test scan's viewpoint.
        spacing: mean point spacing of the final sampling; sets the rim tolerance and the rim band.
        thin_walled: whether the object is a thin shell (holes and cracks then go through the wall).
    """

    mesh: trimesh.Trimesh
    candidates: SurfaceSample
    spacing: float
    thin_walled: bool = False
    _scene: RayScene | None = field(default=None, repr=False)
    _eval: SurfaceSample | None = field(default=None, repr=False)

    @property
    def scene(self) -> RayScene:
        if self._scene is None:
            self._scene = RayScene(self.mesh)
        return self._scene

    def eval_sample(self, rng: np.random.Generator) -> SurfaceSample:
        if self._eval is None:
            self._eval = sample_area_uniform(self.mesh, _EVAL_POINTS, rng)
        return self._eval

    @property
    def extent(self) -> float:
        return float(np.linalg.norm(self.mesh.extents))

    def pick(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """A random candidate point and its normal."""
        i = int(rng.integers(len(self.candidates)))
        return self.candidates.points[i].copy(), self.candidates.normals[i].copy()

    def pick_protrusion(
        self, rng: np.random.Generator, fraction: float, n_random: int = 8
    ) -> tuple[np.ndarray, np.ndarray]:
        """A protruding spot (a neck, a rim, a tooth, a handle) and the direction it protrudes in.

        The six axis directions of the object frame (slightly perturbed) and ``n_random`` random directions
        are tried; for each, the tip is the candidate farthest along it and the *slenderness* is how deep a
        cap beyond a plane normal to it must be to hold ``fraction`` of the surface. One of the three most
        slender directions is returned, at random (parts bend and break where they stick out).
        """
        ev = self.eval_sample(rng)
        axes = np.concatenate([np.eye(3), -np.eye(3)]) + 0.15 * rng.normal(size=(6, 3))
        dirs = np.concatenate([axes, rng.normal(size=(n_random, 3))])
        dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
        tips, depth = [], []
        for d in dirs:
            proj = self.candidates.points @ d
            i = int(np.argmax(proj))
            tips.append(self.candidates.points[i].copy())
            depth.append(proj[i] - float(np.quantile(ev.points @ d, 1.0 - fraction)))
        order = np.argsort(depth, kind="stable")[::-1]
        k = int(order[int(rng.integers(3))])
        return tips[k], dirs[k].copy()

    def closest(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The closest surface points to ``points`` and the face normals there."""
        return self.scene.closest(points)

    def thickness(self, point: np.ndarray, normal: np.ndarray) -> float:
        """Material thickness under ``point`` along ``-normal`` (ray cast from just inside the surface)."""
        eps = 1e-4 * self.extent
        hit = self.scene.cast((point - eps * normal)[None], (-normal)[None])
        t = float(hit["t_hit"][0])
        return t if np.isfinite(t) else self.extent


# ------------------------------------------------------------------------------------------------------------
# defect results


@dataclass
class Defect:
    """A defect applied to one object: the defective mesh and its ground truth.

    Attributes:
        kind: one of :data:`DEFECT_TYPES`.
        base: the normal mesh (possibly refined: same surface).
        mesh: the defective mesh.
        params: what was drawn (centre, size parameter, severity, target fraction ...), JSON-friendly.
        geometric: False for appearance-only defects.
    """

    kind: str
    base: trimesh.Trimesh
    mesh: trimesh.Trimesh
    params: dict[str, Any]
    geometric: bool = True

    def labels(self, sample: SurfaceSample) -> np.ndarray:
        """Ground truth (bool) of points sampled on :attr:`mesh`."""
        raise NotImplementedError

    def base_labels(self, sample: SurfaceSample) -> np.ndarray:
        """Whether points sampled on :attr:`base` (the normal surface) are altered or removed by the
        defect."""
        raise NotImplementedError

    def exposed(self, sample: SurfaceSample) -> np.ndarray:
        """Points on newly exposed material (fracture faces, hole walls): rendered darker in colour images."""
        return np.zeros(len(sample), dtype=bool)

    def albedo(self, sample: SurfaceSample, rgb: np.ndarray) -> np.ndarray:
        """Apply the defect's colour change to albedo ``rgb`` ``(N, 3)`` in [0, 1] at the points of ``sample``
        on the defective surface (identity for purely geometric defects)."""
        return rgb


@dataclass
class DisplacementDefect(Defect):
    """Bulge, concavity, bending: ``mesh`` = ``base`` with every vertex moved by ``displacement(vertex)``.

    Ground truth is the cloud-to-mesh distance the paper takes from CloudCompare, but exact: a point of the
    defective surface is anomalous iff it lies farther than ``tolerance`` from the normal surface."""

    displacement: Callable[[np.ndarray], np.ndarray] = field(default=lambda x: np.zeros_like(x), repr=False)
    tolerance: float = 0.0
    _base_scene: RayScene | None = field(default=None, repr=False)

    @property
    def base_scene(self) -> RayScene:
        if self._base_scene is None:
            self._base_scene = RayScene(self.base)
        return self._base_scene

    def labels(self, sample: SurfaceSample) -> np.ndarray:
        return self.base_scene.distance(sample.points) > self.tolerance

    def base_labels(self, sample: SurfaceSample) -> np.ndarray:
        moved = sample.points + self.displacement(sample.points)
        return self.base_scene.distance(moved) > self.tolerance


@dataclass
class CutDefect(Defect):
    """Hole, crack, break: ``mesh`` = ``base`` minus a cutter solid (exact boolean).

    ``cutter_sdf`` is the cutter's signed distance (negative inside); a point of the defective surface is
    anomalous iff it is within ``rim`` of the cutter (on the new surface or next to the missing material)."""

    cutter_sdf: Callable[[np.ndarray], np.ndarray] = field(
        default=lambda x: np.full(len(x), np.inf), repr=False
    )
    rim: float = 0.0
    _base_scene: RayScene | None = field(default=None, repr=False)

    def labels(self, sample: SurfaceSample) -> np.ndarray:
        return self.cutter_sdf(sample.points) <= self.rim

    def base_labels(self, sample: SurfaceSample) -> np.ndarray:
        return self.cutter_sdf(sample.points) <= self.rim

    def exposed(self, sample: SurfaceSample) -> np.ndarray:
        if self._base_scene is None:
            self._base_scene = RayScene(self.base)
        return self._base_scene.distance(sample.points) > 1e-4 * float(np.linalg.norm(self.base.extents))


@dataclass
class AppearanceDefect(Defect):
    """Stain, discolouration: geometry unchanged; ``region`` marks the affected surface points."""

    region: Callable[[np.ndarray, np.ndarray], np.ndarray] = field(
        default=lambda p, n: np.zeros(len(p), bool), repr=False
    )
    recolour: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray] = field(
        default=lambda p, n, c: c, repr=False
    )

    def labels(self, sample: SurfaceSample) -> np.ndarray:
        return self.region(sample.points, sample.normals)

    def base_labels(self, sample: SurfaceSample) -> np.ndarray:
        return self.region(sample.points, sample.normals)

    def albedo(self, sample: SurfaceSample, rgb: np.ndarray) -> np.ndarray:
        return self.recolour(sample.points, sample.normals, rgb)


# ------------------------------------------------------------------------------------------------------------
# displacement defects


def _bump_weight(x: np.ndarray, center: np.ndarray, radius: float) -> np.ndarray:
    """``(1 - (d/R)^2)^3`` for ``d = |x - c| < R``, else 0: a C^2 bump of unit height."""
    q = np.sum((np.asarray(x, float) - center) ** 2, axis=1) / radius**2
    return np.clip(1.0 - q, 0.0, None) ** 3


def _apply_displacement(
    kind: str,
    site: DefectSite,
    disp: Callable[[np.ndarray], np.ndarray],
    support: Callable[[np.ndarray], np.ndarray],
    max_edge: float,
    tol: float,
    params: dict[str, Any],
) -> DisplacementDefect:
    base = refine_where(site.mesh, support, max_edge)
    moved = base.vertices + disp(base.vertices)
    mesh = trimesh.Trimesh(vertices=moved, faces=base.faces, process=False)
    return DisplacementDefect(kind, base, mesh, params, displacement=disp, tolerance=tol)


def _bump(
    kind: str, site: DefectSite, rng: np.random.Generator, target: float, severity: float
) -> DisplacementDefect:
    """Bulge (outwards) or concavity (inwards): a smooth dome ``u(x) = +-h w(|x - c|) n_c`` with the C^2
    weight ``w = (1 - d^2/R^2)^3``, moving *all* material within ``R`` of the centre ``c`` along the centre's
    normal ``n_c`` — both skins of a thin wall move together, as a dent in sheet material does. Height ``h =
    (0.10 + 0.30 severity) R``; ``R`` is fitted so the points that end up farther than the rim tolerance from
    the normal surface cover ``target`` of it."""
    center, normal = site.pick(rng)
    sign = 1.0 if kind == "bulge" else -1.0
    ratio = 0.10 + 0.30 * severity
    tol = RIM_TOLERANCE_SPACINGS * site.spacing
    ev = site.eval_sample(rng)

    along = np.abs(ev.normals @ normal)  # fitting proxy: the normal component of the displacement

    def frac(radius: float) -> float:
        w = _bump_weight(ev.points, center, radius)
        return float(np.mean(ratio * radius * w * along > tol))

    radius = _bisect(frac, target, 2.0 * site.spacing, 0.6 * site.extent)
    h = ratio * radius

    def disp(x: np.ndarray) -> np.ndarray:
        return sign * h * _bump_weight(x, center, radius)[:, None] * normal[None, :]

    def support(x: np.ndarray) -> np.ndarray:
        return np.linalg.norm(x - center, axis=1) < radius * 1.05

    params = {
        "center": center.tolist(),
        "normal": normal.tolist(),
        "radius": radius,
        "height": h,
        "severity": severity,
        "target_fraction": target,
        "tolerance": tol,
    }
    return _apply_displacement(kind, site, disp, support, radius / 8.0, tol, params)


def _bending(
    site: DefectSite, rng: np.random.Generator, target: float, severity: float
) -> DisplacementDefect:
    """Bending: the part of the object beyond a plane near a protruding spot is bent like a beam.

    With ``a`` the (random) direction to the protruding spot, ``s`` the distance beyond the plane along ``a``
    and ``u`` the coordinate along a random bending direction ``b`` perpendicular to ``a``, a point maps to
    ``s' = (R_b - u) sin(s / R_b)``, ``u' = R_b - (R_b - u) cos(s / R_b)`` (circular bending of radius
    ``R_b``, C^1 at the plane). The total angle ``(8 + 22 severity)`` degrees is reached at the far end; the
    depth of the bent part is fitted so the points that end up farther than the rim tolerance from the normal
    surface cover ``target`` of it."""
    tip, a = site.pick_protrusion(rng, target)
    b = np.cross(a, rng.normal(size=3))
    b /= np.linalg.norm(b)
    angle = np.deg2rad(8.0 + 22.0 * severity)
    tol = RIM_TOLERANCE_SPACINGS * site.spacing
    ev = site.eval_sample(rng)
    s_max = float(tip @ a)

    def make(depth: float) -> Callable[[np.ndarray], np.ndarray]:
        origin = s_max - depth
        bend_r = depth / angle

        def disp(x: np.ndarray) -> np.ndarray:
            x = np.asarray(x, float)
            s = x @ a - origin
            u = (x - tip) @ b
            out = np.zeros_like(x)
            m = s > 0
            if m.any():
                th = s[m] / bend_r
                s_new = (bend_r - u[m]) * np.sin(th)
                u_new = bend_r - (bend_r - u[m]) * np.cos(th)
                out[m] = (s_new - s[m])[:, None] * a + (u_new - u[m])[:, None] * b
            return out

        return disp

    def frac(depth: float) -> float:  # fitting proxy: the normal component of the displacement
        return float(np.mean(np.abs(np.einsum("nd,nd->n", make(depth)(ev.points), ev.normals)) > tol))

    depth = _bisect(frac, target, 2.0 * site.spacing, 0.8 * site.extent)
    disp = make(depth)
    origin = s_max - depth

    def support(x: np.ndarray) -> np.ndarray:
        return x @ a > origin - 0.02 * depth

    params = {
        "tip": tip.tolist(),
        "direction": a.tolist(),
        "bend_direction": b.tolist(),
        "depth": depth,
        "angle_deg": float(np.rad2deg(angle)),
        "severity": severity,
        "target_fraction": target,
        "tolerance": tol,
    }
    return _apply_displacement(
        "bending", site, disp, support, max(depth / 10.0, site.spacing / 2), tol, params
    )


# ------------------------------------------------------------------------------------------------------------
# cut defects


def _frame_matrix(x: np.ndarray, y: np.ndarray, z: np.ndarray, origin: np.ndarray) -> np.ndarray:
    m = np.zeros((3, 4))
    m[:, 0], m[:, 1], m[:, 2], m[:, 3] = x, y, z, origin
    return m


@dataclass
class _Cutter:
    """A cutter solid with its analytic signed distance and an area-weighted sample of its surface."""

    solid: Callable[[], manifold3d.Manifold]  # built lazily: only the final size needs a mesh
    sdf: Callable[[np.ndarray], np.ndarray]
    wall_points: np.ndarray
    wall_weights: np.ndarray


def _box_sdf(x: np.ndarray, center: np.ndarray, axes: np.ndarray, half: np.ndarray) -> np.ndarray:
    """Exact signed distance to an oriented box (``axes`` rows = box axes)."""
    q = np.abs((x - center) @ axes.T) - half
    outside = np.linalg.norm(np.clip(q, 0.0, None), axis=1)
    return outside + np.minimum(q.max(axis=1), 0.0)


def _box_surface(
    center: np.ndarray, axes: np.ndarray, half: np.ndarray, n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """About ``n`` area-uniform points on an oriented box's surface, and the area each stands for."""
    areas = (
        np.array([half[1] * half[2], half[0] * half[2], half[0] * half[1]]) * 4.0
    )  # faces normal to x, y, z
    total = 2.0 * areas.sum()
    face = rng.choice(6, size=n, p=np.repeat(areas, 2) / total)
    axis, side = face // 2, np.where(face % 2 == 0, 1.0, -1.0)
    local = rng.uniform(-1.0, 1.0, size=(n, 3)) * half
    local[np.arange(n), axis] = side * half[axis]
    return center + local @ axes, np.full(n, total / n)


def _cut_fraction(site: DefectSite, cutter: _Cutter, rim: float, rng: np.random.Generator) -> float:
    """Expected anomalous area fraction of ``site.mesh - cutter`` without doing the boolean: the rim band of
    the kept original surface plus the cutter's surface inside the solid, over the resulting total area."""
    ev = site.eval_sample(rng)
    sd = cutter.sdf(ev.points)
    a_base = site.mesh.area / len(ev)
    kept = sd > 0
    rim_area = np.count_nonzero(kept & (sd <= rim)) * a_base
    near = np.flatnonzero(site.scene.distance(cutter.wall_points) < site.extent)  # cheap pre-filter
    inside = np.zeros(len(cutter.wall_points), dtype=bool)
    if len(near):
        inside[near] = site.scene.signed_distance(cutter.wall_points[near]) < 0
    wall_area = float(cutter.wall_weights[inside].sum())
    total = np.count_nonzero(kept) * a_base + wall_area
    return float((rim_area + wall_area) / max(total, 1e-12))


def _finish_cut(
    kind: str, site: DefectSite, cutter: _Cutter, rim: float, params: dict[str, Any]
) -> CutDefect:
    result = to_manifold(site.mesh) - cutter.solid()
    pieces = result.decompose()
    if len(pieces) > 1:  # a cut may sever a sliver; keep the main body, as a real broken part would
        pieces.sort(key=lambda m: -m.volume())
        result = pieces[0]
    return CutDefect(kind, site.mesh, to_trimesh(result), params, cutter_sdf=cutter.sdf, rim=rim)


def _hole(site: DefectSite, rng: np.random.Generator, target: float, severity: float) -> CutDefect:
    """Hole: a drilled cylinder of radius ``r`` along the inward normal at a surface point. Through a thin
    wall it goes right through; in solid material it is blind, ``(0.6 + 1.4 severity) r`` deep (through if the
    material is thinner). ``r`` is fitted to the target anomalous fraction (hole wall + rim band)."""
    center, normal = site.pick(rng)
    rim = RIM_BAND_SPACINGS * site.spacing
    thick = site.thickness(center, normal)
    u, v = orthonormal_frame(normal)
    axes = np.stack([u, v, -normal])
    wall_rng = np.random.default_rng(rng.integers(2**63))

    def make(r: float) -> _Cutter:
        blind = (0.6 + 1.4 * severity) * r
        depth = thick + 0.25 * r if (site.thin_walled or thick <= blind) else blind
        top = center + r * normal  # the cylinder starts r outside the surface
        length = depth + r

        def sdf(x: np.ndarray) -> np.ndarray:
            local = (x - top) @ axes.T
            dr = np.hypot(local[:, 0], local[:, 1]) - r
            dz = np.abs(local[:, 2] - length / 2) - length / 2
            return np.hypot(np.clip(dr, 0, None), np.clip(dz, 0, None)) + np.minimum(np.maximum(dr, dz), 0.0)

        n_side, n_cap = 1200, 300
        th = wall_rng.uniform(0, 2 * np.pi, n_side)
        zz = wall_rng.uniform(0, length, n_side)
        side = top + r * (np.cos(th)[:, None] * u + np.sin(th)[:, None] * v) - zz[:, None] * normal
        rr = r * np.sqrt(wall_rng.random(n_cap))
        tc = wall_rng.uniform(0, 2 * np.pi, n_cap)
        cap = top + rr[:, None] * (np.cos(tc)[:, None] * u + np.sin(tc)[:, None] * v) - length * normal
        pts = np.concatenate([side, cap])
        w = np.concatenate(
            [np.full(n_side, 2 * np.pi * r * length / n_side), np.full(n_cap, np.pi * r * r / n_cap)]
        )

        def solid() -> manifold3d.Manifold:
            cyl = manifold3d.Manifold.cylinder(length, r, r, 64, False)  # local z from 0 to length
            return cyl.transform(_frame_matrix(u, v, -normal, top))

        return _Cutter(solid, sdf, pts, w)

    r = _bisect(
        lambda r: _cut_fraction(site, make(r), rim, rng), target, site.spacing, 0.3 * site.extent, iters=12
    )
    params = {
        "center": center.tolist(),
        "normal": normal.tolist(),
        "radius": r,
        "thickness": thick,
        "severity": severity,
        "target_fraction": target,
        "rim": rim,
    }
    return _finish_cut("hole", site, make(r), rim, params)


def _crack(site: DefectSite, rng: np.random.Generator, target: float, severity: float) -> CutDefect:
    """Crack: a narrow zig-zag slot following the surface. A random polyline of 5 segments (turns of up to 45
    degrees) is laid in the tangent plane at a surface point and projected onto the surface; each segment
    becomes a thin box of width ``(0.8 + 1.0 severity)`` mean spacings (tapering towards the ends), sunk along
    the local inward normal — through a thin wall, else ``2.5`` widths deep. The total length is fitted to the
    target fraction."""
    center, normal = site.pick(rng)
    rim = RIM_BAND_SPACINGS * site.spacing
    width = (0.8 + 1.0 * severity) * site.spacing
    n_seg = 5
    u, v = orthonormal_frame(normal)
    heading = rng.uniform(0, 2 * np.pi) + np.cumsum(rng.uniform(-np.pi / 4, np.pi / 4, n_seg))
    dirs2 = np.stack([np.cos(heading), np.sin(heading)], axis=1)
    thick = site.thickness(center, normal)
    wall_rng = np.random.default_rng(rng.integers(2**63))

    def make(length: float) -> _Cutter:
        steps = np.cumsum(np.concatenate([[[0.0, 0.0]], dirs2 * (length / n_seg)]), axis=0)
        steps -= steps[n_seg // 2]
        pts = center + steps[:, :1] * u + steps[:, 1:] * v
        on, nrm = site.closest(pts)
        boxes = []
        for k in range(n_seg):
            seg = on[k + 1] - on[k]
            seg_len = float(np.linalg.norm(seg))
            if seg_len < 1e-9:
                continue
            ex = seg / seg_len
            n_loc = nrm[k] + nrm[k + 1]
            n_loc = n_loc - (n_loc @ ex) * ex
            if np.linalg.norm(n_loc) < 1e-9:
                continue
            n_loc /= np.linalg.norm(n_loc)
            ey = np.cross(n_loc, ex)
            w = width * (1.0 - 0.5 * abs(k + 0.5 - n_seg / 2) / (n_seg / 2))
            depth = thick + 0.5 * w if site.thin_walled else 2.5 * w
            half = np.array([0.5 * (seg_len + w), 0.5 * w, 0.5 * (depth + w)])
            mid = 0.5 * (on[k] + on[k + 1]) - n_loc * (half[2] - w)  # sticks out by w above the surface
            boxes.append((mid, np.stack([ex, ey, n_loc]), half))
        if not boxes:
            raise ValueError("crack path degenerated (all segments collapsed onto one point)")

        def sdf(x: np.ndarray) -> np.ndarray:
            return np.min([_box_sdf(x, c, ax, h) for c, ax, h in boxes], axis=0)

        samples = [_box_surface(c, ax, h, 400, wall_rng) for c, ax, h in boxes]
        wall = np.concatenate([p for p, _ in samples])
        weights = np.concatenate([w for _, w in samples])
        # a box's surface inside a neighbouring box is not cut surface
        own = np.repeat(np.arange(len(boxes)), 400)
        for i, (c, ax, h) in enumerate(boxes):
            weights[(own != i) & (_box_sdf(wall, c, ax, h) < 0)] = 0.0

        def solid() -> manifold3d.Manifold:
            parts = [
                manifold3d.Manifold.cube(tuple(2 * h), True).transform(_frame_matrix(*ax, c))
                for c, ax, h in boxes
            ]
            return manifold3d.Manifold.batch_boolean(parts, manifold3d.OpType.Add)

        return _Cutter(solid, sdf, wall, weights)

    length = _bisect(
        lambda s: _cut_fraction(site, make(s), rim, rng),
        target,
        4.0 * site.spacing,
        1.5 * site.extent,
        iters=12,
    )
    params = {
        "center": center.tolist(),
        "normal": normal.tolist(),
        "length": length,
        "width": width,
        "severity": severity,
        "target_fraction": target,
        "rim": rim,
    }
    return _finish_cut("crack", site, make(length), rim, params)


def _break(site: DefectSite, rng: np.random.Generator, target: float, severity: float) -> CutDefect:
    """Break: a chunk broken off at a protruding spot (a neck, a rim, a tooth, a handle). The removed chunk is
    a box sunk ``depth`` below the spot along the protrusion direction ``a`` (its face tilted by 10-25
    degrees), ``1.2 depth + 0.06`` object sizes wide, and warped by a smooth random 3D displacement field of
    amplitude ``(0.08 + 0.12 severity) depth`` so that the fracture faces are jagged, not planar. ``depth`` is
    fitted to the target fraction (fracture faces + rim band)."""
    tip, a = site.pick_protrusion(rng, target)
    rim = RIM_BAND_SPACINGS * site.spacing
    tilt_axis = np.cross(a, rng.normal(size=3))
    m = rotation_matrix(tilt_axis, np.deg2rad(rng.uniform(10.0, 25.0))) @ a
    u, v = orthonormal_frame(m)
    axes = np.stack([u, v, m])
    fields = [smooth_noise(rng, 1.0, 6) for _ in range(3)]
    wall_rng = np.random.default_rng(rng.integers(2**63))
    wall_seed = wall_rng.integers(2**63)

    def make(depth: float) -> _Cutter:
        half_w = 0.6 * depth + 0.03 * site.extent
        height = depth + 0.3 * site.extent
        center = tip - depth * a + 0.5 * height * m
        half = np.array([half_w, half_w, 0.5 * height])
        amp = (0.08 + 0.12 * severity) * depth

        def jag(x: np.ndarray) -> np.ndarray:
            q = (x - center) / half_w
            return amp * np.stack([f(q) for f in fields], axis=1)

        def sdf(x: np.ndarray) -> np.ndarray:
            return _box_sdf(x - jag(x), center, axes, half)

        pts, w = _box_surface(center, axes, half, 3000, np.random.default_rng(wall_seed))

        def solid() -> manifold3d.Manifold:
            box = manifold3d.Manifold.cube(tuple(2 * half), True).refine_to_length(half_w / 10.0)
            box = box.transform(_frame_matrix(u, v, m, center))
            return box.warp_batch(lambda x: x + jag(x))

        return _Cutter(solid, sdf, pts + jag(pts), w)

    span = float(np.ptp(site.candidates.points @ a))
    depth = _bisect(
        lambda d: _cut_fraction(site, make(d), rim, rng), target, 2.0 * site.spacing, 0.35 * span, iters=12
    )
    params = {
        "tip": tip.tolist(),
        "direction": a.tolist(),
        "face_normal": m.tolist(),
        "depth": depth,
        "severity": severity,
        "target_fraction": target,
        "rim": rim,
    }
    return _finish_cut("break", site, make(depth), rim, params)


# ------------------------------------------------------------------------------------------------------------
# appearance defects


def _appearance(
    kind: str, site: DefectSite, rng: np.random.Generator, target: float, severity: float
) -> AppearanceDefect:
    """Stain / discolouration: an irregular blob on the surface (a ball around a surface point whose radius is
    modulated by a smooth random field by up to +-35 %, restricted to surface facing the same way as the
    centre), fitted to the target fraction. A stain darkens and browns the albedo (``(0.35 + 0.4 severity)``
    of the contrast), a discolouration shifts its hue towards yellow-green; the edge is feathered over 15 % of
    the radius (inside the labelled region only). Geometry is untouched."""
    center, normal = site.pick(rng)
    noise = smooth_noise(rng, 0.3 * site.extent, 6)
    ev = site.eval_sample(rng)

    def rel_dist(p: np.ndarray, n: np.ndarray, radius: float) -> np.ndarray:
        d = np.linalg.norm(p - center, axis=1) / (radius * (1.0 + 0.35 * noise(p)))
        return np.where(n @ normal > 0.2, d, np.inf)

    def frac(radius: float) -> float:
        return float(np.mean(rel_dist(ev.points, ev.normals, radius) < 1.0))

    radius = _bisect(frac, target, site.spacing, 0.6 * site.extent)
    strength = 0.35 + 0.4 * severity
    if kind == "stain":
        tint = np.array([0.28, 0.17, 0.08])
    else:
        tint = np.array([0.75, 0.78, 0.25])

    def region(p: np.ndarray, n: np.ndarray) -> np.ndarray:
        return rel_dist(p, n, radius) < 1.0

    def recolour(p: np.ndarray, n: np.ndarray, rgb: np.ndarray) -> np.ndarray:
        d = rel_dist(p, n, radius)
        alpha = strength * np.clip((1.0 - d) / 0.15, 0.0, 1.0)
        if kind == "stain":
            out = rgb * (1 - alpha[:, None]) + (rgb * tint / tint.max() * 0.55) * alpha[:, None]
        else:
            out = rgb * (1 - alpha[:, None]) + (tint * rgb.mean(axis=1, keepdims=True) * 1.4) * alpha[:, None]
        return np.clip(out, 0.0, 1.0)

    params = {
        "center": center.tolist(),
        "normal": normal.tolist(),
        "radius": radius,
        "severity": severity,
        "target_fraction": target,
    }
    return AppearanceDefect(
        kind, site.mesh, site.mesh, params, geometric=False, region=region, recolour=recolour
    )


# ------------------------------------------------------------------------------------------------------------


def make_defect(
    kind: str, site: DefectSite, rng: np.random.Generator, *, fraction: float, severity: float
) -> Defect:
    """Apply one defect of type ``kind`` to ``site.mesh``.

    Args:
        kind: one of :data:`DEFECT_TYPES`.
        site: the object and where defects may go.
        rng: the random source (position, shape details).
        fraction: target anomalous fraction of the surface area, in ``(0, 0.5]`` (Anomaly-ShapeNet:
            0.01-0.10).
        severity: magnitude in ``[0, 1]`` (see each defect's construction).

    Raises:
        ValueError: unknown ``kind`` or out-of-range ``fraction``/``severity``.
    """
    if kind not in DEFECT_TYPES:
        raise ValueError(f"unknown defect kind {kind!r}; valid kinds are {', '.join(DEFECT_TYPES)}")
    if not (0.0 < fraction <= 0.5) or not np.isfinite(fraction):
        raise ValueError(f"fraction must be in (0, 0.5], got {fraction!r}")
    if not (0.0 <= severity <= 1.0) or not np.isfinite(severity):
        raise ValueError(f"severity must be in [0, 1], got {severity!r}")
    if kind in ("bulge", "concavity"):
        return _bump(kind, site, rng, fraction, severity)
    if kind == "bending":
        return _bending(site, rng, fraction, severity)
    if kind == "hole":
        return _hole(site, rng, fraction, severity)
    if kind == "crack":
        return _crack(site, rng, fraction, severity)
    if kind == "break":
        return _break(site, rng, fraction, severity)
    return _appearance(kind, site, rng, fraction, severity)
