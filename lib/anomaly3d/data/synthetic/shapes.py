"""The shape library: procedurally parameterised object categories built as watertight meshes.

Each category is a :class:`ShapeFamily`: nominal parameters, a per-parameter relative variation and a builder
that turns a parameter dict into a closed 2-manifold solid (manifold3d; booleans are exact). Instances differ
in proportions and wall thickness only slightly (a few percent), as parts from one production line or the four
Anomaly-ShapeNet training templates of one class do, so no two templates are copies of each other while a
defect is still far larger than the normal variation.

Conventions of the canonical frame: z is up, the object's lowest point is at ``z = 0`` and its main axis is
the z axis; the largest extent is about 1 (unit-free). Thin-walled vessels (bottle, bowl, cup, vase, cap,
helmet) are solids of revolution with a real wall thickness, open where the real object is open, so a complete
sampling holds the inner and the outer surface as a watertight Anomaly-ShapeNet mesh does.

Categories: ``bottle``, ``bowl``, ``cup``, ``vase``, ``cap``, ``ashtray``, ``gear``, ``bolt``, ``bracket``,
``helmet``, ``washer``, ``knob``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import manifold3d
import numpy as np
import trimesh

from anomaly3d.data.synthetic._geometry import rotation_matrix, to_trimesh

__all__ = [
    "CATEGORIES",
    "SHAPE_FAMILIES",
    "ShapeFamily",
    "ShapeInstance",
    "build_shape",
    "get_family",
    "make_instance",
    "sample_parameters",
]

_SEGMENTS = 96
"""Angular segments of every solid of revolution (chord error < 1e-4 of the object size)."""


# ------------------------------------------------------------------------------------------------------------
# 2D profile helpers


def _arc(center: tuple[float, float], radius: float, a0: float, a1: float, n: int) -> np.ndarray:
    t = np.linspace(a0, a1, n)
    return np.stack([center[0] + radius * np.cos(t), center[1] + radius * np.sin(t)], axis=1)


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _polyline_normals(curve: np.ndarray) -> np.ndarray:
    """Unit normals of a 2D polyline in (r, z), rotated +90 degrees from the tangent (towards the
    material)."""
    tangent = np.gradient(curve, axis=0)
    tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
    return np.stack([-tangent[:, 1], tangent[:, 0]], axis=1)


def _vessel_section(
    outer: np.ndarray, wall: float, bottom: float, rim_points: int = 7
) -> manifold3d.CrossSection:
    """Cross-section (r, z) of an open-topped thin-walled vessel.

    ``outer`` runs from the axis at the bottom, ``(0, z0)``, outwards and up to the rim. The inner surface is
    the outer curve offset by ``wall`` into the material, raised to at least ``z0 + bottom`` (a thicker base),
    and the rim is a half-round bead joining the two.
    """
    outer = np.asarray(outer, dtype=np.float64)
    normals = _polyline_normals(outer)
    inner = outer + wall * normals
    z_floor = outer[0, 1] + bottom
    keep = (inner[:, 1] >= z_floor) & (inner[:, 0] > 1e-6)
    first = int(np.argmax(keep))
    inner = inner[first:]
    inner = inner[inner[:, 1] >= z_floor]
    inner = np.concatenate([[[0.0, z_floor], [inner[0, 0], z_floor]], inner[1:]], axis=0)
    top_out, top_in = outer[-1], inner[-1]
    center = 0.5 * (top_out + top_in)
    radius = 0.5 * np.linalg.norm(top_out - top_in)
    a0 = np.arctan2(top_out[1] - center[1], top_out[0] - center[0])
    rim = _arc((center[0], center[1]), radius, a0, a0 + np.pi, rim_points + 2)[1:-1]
    poly = np.concatenate([outer, rim, inner[::-1]], axis=0)
    return manifold3d.CrossSection([poly], manifold3d.FillRule.NonZero)


def _revolve(section: manifold3d.CrossSection, segments: int = _SEGMENTS) -> manifold3d.Manifold:
    return section.revolve(circular_segments=segments)


def _flip_upside_down(solid: manifold3d.Manifold, height: float) -> manifold3d.Manifold:
    """Mirror in z and shift back onto ``z >= 0`` (a vessel built mouth-up becomes mouth-down)."""
    return solid.mirror((0.0, 0.0, 1.0)).translate((0.0, 0.0, height))


def _side_profile(
    r_of_z: Callable[[np.ndarray], np.ndarray], z0: float, z1: float, n: int, fillet: float
) -> np.ndarray:
    """Outer profile: from the axis at ``z0`` along a flat base, a fillet of radius ``fillet``, then ``r(z)``
    up to ``z1``."""
    r_base = float(r_of_z(np.array([z0 + fillet]))[0])
    corner = _arc((r_base - fillet, z0 + fillet), fillet, -np.pi / 2, 0.0, 6)
    z = np.linspace(z0 + fillet, z1, n)[1:]
    side = np.stack([r_of_z(z), z], axis=1)
    return np.concatenate([[[0.0, z0]], corner, side], axis=0)


def _box(size: tuple[float, float, float], center: tuple[float, float, float]) -> manifold3d.Manifold:
    return manifold3d.Manifold.cube(size, True).translate(center)


def _cylinder(radius: float, height: float, segments: int = 48) -> manifold3d.Manifold:
    """A cylinder along +z from ``z = -height/2`` to ``+height/2``."""
    return manifold3d.Manifold.cylinder(height, radius, radius, segments, True)


def _rotated(
    solid: manifold3d.Manifold, axis: tuple[float, float, float], angle: float
) -> manifold3d.Manifold:
    m = np.zeros((3, 4))
    m[:, :3] = rotation_matrix(np.asarray(axis, dtype=np.float64), angle)
    return solid.transform(m)


# ------------------------------------------------------------------------------------------------------------
# builders: each takes the (varied) parameter dict and returns a closed solid standing on z = 0


def _build_bottle(p: Mapping[str, float]) -> manifold3d.Manifold:
    h, r_body, r_neck = p["height"], p["radius"], p["neck_radius"]
    z_shoulder0, z_shoulder1 = p["shoulder_start"] * h, p["shoulder_end"] * h
    lip_z = h - p["lip_height"]

    def radius(z: np.ndarray) -> np.ndarray:
        s = _smoothstep((z - z_shoulder0) / (z_shoulder1 - z_shoulder0))
        r = r_body + (r_neck - r_body) * s
        bead = p["lip_bead"] * np.exp(-(((z - lip_z) / (0.5 * p["lip_height"])) ** 2))
        return r + bead

    outer = _side_profile(radius, 0.0, h, 90, p["base_fillet"])
    return _revolve(_vessel_section(outer, p["wall"], p["bottom"]))


def _build_bowl(p: Mapping[str, float]) -> manifold3d.Manifold:
    h, r_rim, r_foot, foot_h = p["height"], p["radius"], p["foot_radius"], p["foot_height"]

    def radius(z: np.ndarray) -> np.ndarray:
        u = np.clip((z - foot_h) / (h - foot_h), 0.0, 1.0)
        return np.where(
            z <= foot_h, r_foot, r_foot + (r_rim - r_foot) * np.sin(0.5 * np.pi * u) ** p["belly"]
        )

    outer = _side_profile(radius, 0.0, h, 70, 0.5 * foot_h)
    return _revolve(_vessel_section(outer, p["wall"], p["bottom"]))


def _build_cup(p: Mapping[str, float]) -> manifold3d.Manifold:
    h, r0, r1 = p["height"], p["bottom_radius"], p["top_radius"]

    def radius(z: np.ndarray) -> np.ndarray:
        return r0 + (r1 - r0) * (z / h)

    body = _revolve(
        _vessel_section(_side_profile(radius, 0.0, h, 50, p["base_fillet"]), p["wall"], p["bottom"])
    )
    # handle: half a torus in the xz plane, its ends buried in the wall
    arc_r, tube_r = p["handle_radius"], p["handle_thickness"]
    ring = manifold3d.CrossSection.circle(tube_r, 20).translate((arc_r, 0.0)).revolve(48, 200.0)
    ring = _rotated(ring, (0.0, 0.0, 1.0), np.deg2rad(-100.0))  # opening towards -x
    ring = _rotated(ring, (1.0, 0.0, 0.0), np.pi / 2)  # into the xz plane
    z_mid = p["handle_height"] * h
    x_wall = float(radius(np.array([z_mid]))[0])
    handle = ring.translate((x_wall + 0.005, 0.0, z_mid))  # the ends (at 100 degrees) sink into the wall
    cavity = _revolve(
        manifold3d.CrossSection(
            [
                np.array(
                    [
                        [0.0, p["bottom"]],
                        [r0 - p["wall"], p["bottom"]],
                        [r1 - p["wall"], h + 0.1],
                        [0.0, h + 0.1],
                    ]
                )
            ]
        )
    )
    return body + (handle - cavity)


def _build_vase(p: Mapping[str, float]) -> manifold3d.Manifold:
    h, r0, belly, neck, flare = p["height"], p["base_radius"], p["belly"], p["neck_radius"], p["flare"]

    def radius(z: np.ndarray) -> np.ndarray:
        u = z / h
        body = r0 + belly * np.sin(np.pi * np.clip(u / p["belly_end"], 0.0, 1.0)) ** 1.5
        neck_blend = _smoothstep((u - 0.55) / 0.25)
        r = (1 - neck_blend) * body + neck_blend * neck
        return r + flare * _smoothstep((u - 0.86) / 0.14) ** 2

    outer = _side_profile(radius, 0.0, h, 110, p["base_fillet"])
    return _revolve(_vessel_section(outer, p["wall"], p["bottom"]))


def _build_cap(p: Mapping[str, float]) -> manifold3d.Manifold:
    """A screw cap: an upside-down shallow cup with a knurled skirt (radial ribs)."""
    h, r = p["height"], p["radius"]
    ribs, depth = round(p["ribs"]), p["rib_depth"]

    def radius(z: np.ndarray) -> np.ndarray:
        return np.full_like(z, r)

    shell = _revolve(
        _vessel_section(_side_profile(radius, 0.0, h, 24, p["top_fillet"]), p["wall"], p["top"]),
        segments=8 * ribs,
    )
    shell = _flip_upside_down(shell, h)

    def knurl(v: np.ndarray) -> np.ndarray:
        rad = np.hypot(v[:, 0], v[:, 1])
        outside = rad > r - 0.5 * p["wall"]
        on_skirt = v[:, 2] < h - p["top_fillet"] - 0.02
        theta = np.arctan2(v[:, 1], v[:, 0])
        bump = depth * np.clip(np.cos(ribs * theta), 0.0, None) ** 2 * (outside & on_skirt)
        scale = (rad + bump) / np.maximum(rad, 1e-9)
        out = v.copy()
        out[:, 0] *= scale
        out[:, 1] *= scale
        return out

    return shell.refine_to_length(0.06).warp_batch(knurl)


def _build_ashtray(p: Mapping[str, float]) -> manifold3d.Manifold:
    h, r_top, r_base = p["height"], p["radius"], p["base_radius"]

    def radius(z: np.ndarray) -> np.ndarray:
        return r_base + (r_top - r_base) * (z / h) ** 0.7

    outer = _side_profile(radius, 0.0, h, 30, p["base_fillet"])
    dish = _revolve(_vessel_section(outer, p["wall"], p["bottom"], rim_points=9))
    notches = []
    for k in range(round(p["notches"])):
        rod = _rotated(_cylinder(p["notch_radius"], 0.5, 24), (0.0, 1.0, 0.0), np.pi / 2)
        rod = rod.translate((r_top, 0.0, h + 0.3 * p["notch_radius"]))
        notches.append(_rotated(rod, (0.0, 0.0, 1.0), 2 * np.pi * k / p["notches"]))
    return dish - manifold3d.Manifold.batch_boolean(notches, manifold3d.OpType.Add)


def _gear_outline(teeth: int, r_root: float, r_tip: float, tip_frac: float, per_tooth: int = 6) -> np.ndarray:
    pts = []
    pitch = 2 * np.pi / teeth
    for k in range(teeth):
        a = k * pitch
        # root land, flank up, tip land, flank down
        angles = [
            a,
            a + 0.25 * pitch,
            a + (0.5 - 0.5 * tip_frac) * pitch,
            a + (0.5 + 0.5 * tip_frac) * pitch,
            a + 0.75 * pitch,
        ]
        radii = [r_root, r_root, r_tip, r_tip, r_root]
        for i in range(len(angles)):
            if radii[i] == r_tip and i + 1 < len(angles) and radii[i + 1] == r_tip:
                for t in np.linspace(angles[i], angles[i + 1], per_tooth, endpoint=False):
                    pts.append((r_tip * np.cos(t), r_tip * np.sin(t)))
            else:
                pts.append((radii[i] * np.cos(angles[i]), radii[i] * np.sin(angles[i])))
    return np.asarray(pts)


def _build_gear(p: Mapping[str, float]) -> manifold3d.Manifold:
    teeth = round(p["teeth"])
    outline = _gear_outline(teeth, p["root_radius"], p["tip_radius"], p["tip_fraction"])
    disk = manifold3d.CrossSection([outline]).extrude(p["thickness"])
    hub = manifold3d.CrossSection.circle(p["hub_radius"], 64).extrude(p["thickness"] + 2 * p["hub_height"])
    hub = hub.translate((0.0, 0.0, -p["hub_height"]))
    solid = disk + hub
    cutters = [_cylinder(p["bore_radius"], 2.0, 48)]
    for k in range(round(p["holes"])):
        a = 2 * np.pi * (k + 0.5) / p["holes"]
        r = 0.5 * (p["hub_radius"] + p["root_radius"])
        cutters.append(_cylinder(p["hole_radius"], 2.0, 32).translate((r * np.cos(a), r * np.sin(a), 0.0)))
    solid = solid - manifold3d.Manifold.batch_boolean(cutters, manifold3d.OpType.Add)
    return solid.translate((0.0, 0.0, p["hub_height"]))


def _build_bolt(p: Mapping[str, float]) -> manifold3d.Manifold:
    head_h, across = p["head_height"], p["head_width"]
    head = manifold3d.CrossSection.circle(across / np.sqrt(3.0), 6).extrude(head_h)
    chamfer = manifold3d.CrossSection(
        [
            np.array(
                [
                    [0.0, 0.0],
                    [across * 0.62, 0.0],
                    [across * 0.62, head_h - 0.04],
                    [across * 0.45, head_h],
                    [0.0, head_h],
                ]
            )
        ]
    ).revolve(_SEGMENTS)
    head = head ^ chamfer
    length, r, pitch, depth = p["length"], p["shaft_radius"], p["pitch"], p["thread_depth"]
    z = np.linspace(0.0, length, int(length / pitch * 8) + 1)
    threaded = z > p["unthreaded"] * length
    saw = np.abs(((z / pitch) % 1.0) - 0.5) * 2.0  # triangle wave in [0, 1]
    radius = r - depth * saw * threaded
    tip = z > length - 0.6 * pitch
    radius = np.where(tip, radius - (z - (length - 0.6 * pitch)) * 0.8, radius)
    prof = np.concatenate([[[0.0, 0.0]], np.stack([radius, z], axis=1), [[0.0, length]]], axis=0)
    shaft = manifold3d.CrossSection([prof]).revolve(_SEGMENTS).translate((0.0, 0.0, head_h - 0.01))
    return head + shaft


def _build_bracket(p: Mapping[str, float]) -> manifold3d.Manifold:
    w, d, t, hgt = p["width"], p["depth"], p["thickness"], p["height"]
    base = _box((w, d, t), (0.0, 0.0, t / 2))
    upright = _box((w, t, hgt), (0.0, -d / 2 + t / 2, hgt / 2))
    gusset_sec = manifold3d.CrossSection(
        [np.array([[0.0, 0.0], [p["gusset"] * d, 0.0], [0.0, p["gusset"] * hgt]])]
    )
    # the triangle is drawn in (y, z) and extruded along x: map (X, Y, Z) of the extrusion to (x=Z, y=X, z=Y)
    to_yz = np.zeros((3, 4))
    to_yz[:, :3] = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    gussets = []
    for x0 in (-0.5 * w, 0.5 * w - p["gusset_width"]):
        g = gusset_sec.extrude(p["gusset_width"]).transform(to_yz)
        gussets.append(g.translate((x0, -d / 2 + t - 1e-3, t - 1e-3)))
    solid = manifold3d.Manifold.batch_boolean([base, upright, *gussets], manifold3d.OpType.Add)
    holes = []
    for x in (-0.22 * w, 0.22 * w):
        holes.append(_cylinder(p["hole_radius"], 1.0).translate((x, 0.12 * d, 0.0)))
        hole = _rotated(_cylinder(p["hole_radius"], 1.0), (1.0, 0.0, 0.0), np.pi / 2)
        holes.append(hole.translate((x, -d / 2, 0.62 * hgt)))
    return solid - manifold3d.Manifold.batch_boolean(holes, manifold3d.OpType.Add)


def _build_helmet(p: Mapping[str, float]) -> manifold3d.Manifold:
    """A shell helmet: an upside-down half-ellipsoid dome with a visor at the front."""
    h, r = p["height"], p["radius"]

    def radius(z: np.ndarray) -> np.ndarray:  # mouth-up while building: pole at z = 0, rim at z = h
        return r * np.sqrt(np.clip(1.0 - (1.0 - z / h) ** 2, 0.0, None))

    z = h * (1.0 - np.cos(np.linspace(0.0, np.pi / 2, 60)))  # dense near the pole
    outer = np.stack([radius(z), z], axis=1)
    outer[0] = (0.0, 0.0)
    dome = _flip_upside_down(_revolve(_vessel_section(outer, p["wall"], p["wall"])), h)
    visor_sec = manifold3d.CrossSection.circle(r + p["visor"], _SEGMENTS) - manifold3d.CrossSection.circle(
        r - 0.5 * p["wall"], _SEGMENTS
    )
    sector = manifold3d.CrossSection(
        [np.array([[0.0, 0.0], [2.0, -2.0 * np.tan(0.6)], [2.0, 2.0 * np.tan(0.6)]])]
    )
    visor = (visor_sec ^ sector).extrude(p["visor_thickness"])
    visor = _rotated(visor, (0.0, 1.0, 0.0), -np.deg2rad(p["visor_tilt"])).translate((0.0, 0.0, 0.01))
    cavity = _revolve(
        manifold3d.CrossSection(
            [np.concatenate([outer + _polyline_normals(outer) * p["wall"], [[0.0, h + 0.2]]], axis=0)]
        )
    )
    cavity = _flip_upside_down(cavity, h)
    return dome + (visor - cavity)


def _build_washer(p: Mapping[str, float]) -> manifold3d.Manifold:
    """A flanged washer / ring: an annulus with a rounded outer edge and a raised collar round the bore."""
    r_out, r_in, t = p["radius"], p["bore_radius"], p["thickness"]
    fil = 0.45 * t
    outer_edge = _arc((r_out - fil, t - fil), fil, -np.pi / 2, np.pi / 2, 10)
    prof = np.concatenate(
        [
            [[r_in, 0.0], [r_out - fil, 0.0]],
            outer_edge[1:-1],
            [
                [r_out - fil, t],
                [p["collar_radius"], t],
                [p["collar_radius"] - 0.02, t + p["collar_height"]],
                [r_in, t + p["collar_height"]],
            ],
        ]
    )
    return manifold3d.CrossSection([prof]).revolve(_SEGMENTS)


def _build_knob(p: Mapping[str, float]) -> manifold3d.Manifold:
    """A control knob: a fluted cylinder with a domed top and a pointer ridge."""
    r, h, flutes = p["radius"], p["height"], round(p["flutes"])
    z_side = 0.8 * h
    drop = (r**2 - (h - z_side) ** 2) / (2.0 * (h - z_side))  # dome: a sphere cap through (r, z_side), (0, h)
    dome_r = np.hypot(r, drop)
    prof = np.concatenate(
        [
            [[0.0, 0.0], [r, 0.0]],
            np.stack([np.full(8, r), np.linspace(0.0, z_side, 8)], axis=1)[1:],
            _arc((0.0, z_side - drop), dome_r, np.arctan2(drop, r), np.pi / 2, 40)[1:],
        ]
    )
    prof = prof[prof[:, 1] <= h + 1e-9]
    prof = np.concatenate([prof[:-1], [[0.0, prof[-1, 1]]]], axis=0)
    body = manifold3d.CrossSection([prof]).revolve(8 * flutes).refine_to_length(0.05)
    depth = p["flute_depth"]

    def flute(v: np.ndarray) -> np.ndarray:
        rad = np.hypot(v[:, 0], v[:, 1])
        theta = np.arctan2(v[:, 1], v[:, 0])
        side = (rad > r - 1e-3) & (v[:, 2] < 0.78 * h)
        groove = depth * np.clip(np.cos(flutes * theta), 0.0, None) ** 4 * side
        scale = (rad - groove) / np.maximum(rad, 1e-9)
        out = v.copy()
        out[:, 0] *= scale
        out[:, 1] *= scale
        return out

    body = body.warp_batch(flute)
    x_mid = 0.55 * r
    z_top = z_side - drop + np.sqrt(dome_r**2 - x_mid**2)
    ridge = _box((0.6 * r, p["ridge_width"], 0.06), (x_mid, 0.0, z_top))
    return body + ridge


# ------------------------------------------------------------------------------------------------------------
# the registry


@dataclass(frozen=True)
class ShapeFamily:
    """One object category of the synthetic benchmark.

    Attributes:
        name: the category name used in every written dataset.
        description: one line for humans.
        nominal: nominal parameter values of :attr:`build`.
        variation: relative standard deviation of each varied parameter (others are fixed); instances draw
            ``nominal * (1 + variation * z)`` with ``z ~ N(0, 1)`` clipped to ``[-2, 2]``.
        build: parameter dict -> closed manifold3d solid in the canonical frame.
        rest_axes: rotation (axis, degrees) that lays the object stably on a table for the MVTec-style scene
            (a bottle lies on its side; a cup stands).
        thin_walled: whether the object is a thin shell (holes and cracks then go through the wall)."""

    name: str
    description: str
    nominal: Mapping[str, float]
    variation: Mapping[str, float]
    build: Callable[[Mapping[str, float]], manifold3d.Manifold]
    rest_axes: tuple[tuple[float, float, float], float] = ((1.0, 0.0, 0.0), 0.0)
    thin_walled: bool = False
    extra: Mapping[str, float] = field(default_factory=dict)


_PROP = 0.03  # relative variation of proportions
_WALL = 0.08  # relative variation of wall thicknesses

SHAPE_FAMILIES: Mapping[str, ShapeFamily] = MappingProxyType(
    {
        f.name: f
        for f in (
            ShapeFamily(
                "bottle",
                "a narrow-necked bottle with a beaded lip, open at the top",
                {
                    "height": 1.0,
                    "radius": 0.25,
                    "neck_radius": 0.085,
                    "shoulder_start": 0.55,
                    "shoulder_end": 0.78,
                    "lip_height": 0.05,
                    "lip_bead": 0.012,
                    "base_fillet": 0.04,
                    "wall": 0.022,
                    "bottom": 0.04,
                },
                {
                    "height": _PROP,
                    "radius": _PROP,
                    "neck_radius": _PROP,
                    "shoulder_start": _PROP,
                    "shoulder_end": _PROP,
                    "wall": _WALL,
                    "bottom": _WALL,
                },
                _build_bottle,
                ((1.0, 0.0, 0.0), 90.0),
                True,
            ),
            ShapeFamily(
                "bowl",
                "a footed hemispherical bowl",
                {
                    "height": 0.4,
                    "radius": 0.5,
                    "foot_radius": 0.2,
                    "foot_height": 0.035,
                    "belly": 0.8,
                    "wall": 0.03,
                    "bottom": 0.035,
                },
                {
                    "height": _PROP,
                    "radius": _PROP,
                    "foot_radius": _PROP,
                    "belly": _PROP,
                    "wall": _WALL,
                    "bottom": _WALL,
                },
                _build_bowl,
                thin_walled=True,
            ),
            ShapeFamily(
                "cup",
                "a slightly tapered mug with a C handle",
                {
                    "height": 0.75,
                    "bottom_radius": 0.25,
                    "top_radius": 0.3,
                    "base_fillet": 0.04,
                    "wall": 0.028,
                    "bottom": 0.05,
                    "handle_radius": 0.2,
                    "handle_thickness": 0.04,
                    "handle_height": 0.5,
                },
                {
                    "height": _PROP,
                    "bottom_radius": _PROP,
                    "top_radius": _PROP,
                    "wall": _WALL,
                    "bottom": _WALL,
                    "handle_radius": _PROP,
                    "handle_thickness": _PROP,
                    "handle_height": _PROP,
                },
                _build_cup,
                thin_walled=True,
            ),
            ShapeFamily(
                "vase",
                "a bellied vase with a narrow neck and a flared mouth",
                {
                    "height": 1.0,
                    "base_radius": 0.14,
                    "belly": 0.14,
                    "belly_end": 1.2,
                    "neck_radius": 0.11,
                    "flare": 0.06,
                    "base_fillet": 0.03,
                    "wall": 0.02,
                    "bottom": 0.04,
                },
                {
                    "height": _PROP,
                    "base_radius": _PROP,
                    "belly": _PROP,
                    "belly_end": _PROP,
                    "neck_radius": _PROP,
                    "flare": _PROP,
                    "wall": _WALL,
                    "bottom": _WALL,
                },
                _build_vase,
                ((1.0, 0.0, 0.0), 90.0),
                True,
            ),
            ShapeFamily(
                "cap",
                "a screw cap with a knurled skirt, open underneath",
                {
                    "height": 0.32,
                    "radius": 0.42,
                    "ribs": 36,
                    "rib_depth": 0.014,
                    "top_fillet": 0.04,
                    "wall": 0.035,
                    "top": 0.05,
                },
                {"height": _PROP, "radius": _PROP, "rib_depth": _PROP, "wall": _WALL, "top": _WALL},
                _build_cap,
                thin_walled=True,
            ),
            ShapeFamily(
                "ashtray",
                "a thick-walled round ashtray with cigarette notches in the rim",
                {
                    "height": 0.18,
                    "radius": 0.5,
                    "base_radius": 0.42,
                    "base_fillet": 0.03,
                    "wall": 0.07,
                    "bottom": 0.05,
                    "notches": 3,
                    "notch_radius": 0.035,
                },
                {
                    "height": _PROP,
                    "radius": _PROP,
                    "base_radius": _PROP,
                    "wall": _WALL,
                    "bottom": _WALL,
                    "notch_radius": _PROP,
                },
                _build_ashtray,
            ),
            ShapeFamily(
                "gear",
                "a spur gear with a hub, a bore and lightening holes",
                {
                    "teeth": 20,
                    "root_radius": 0.42,
                    "tip_radius": 0.5,
                    "tip_fraction": 0.35,
                    "thickness": 0.14,
                    "hub_radius": 0.16,
                    "hub_height": 0.04,
                    "bore_radius": 0.07,
                    "holes": 5,
                    "hole_radius": 0.06,
                },
                {
                    "root_radius": _PROP,
                    "tip_radius": _PROP,
                    "thickness": _PROP,
                    "hub_radius": _PROP,
                    "bore_radius": _PROP,
                    "hole_radius": _PROP,
                },
                _build_gear,
            ),
            ShapeFamily(
                "bolt",
                "a hexagon-head bolt with a threaded shank",
                {
                    "head_height": 0.16,
                    "head_width": 0.34,
                    "length": 0.8,
                    "shaft_radius": 0.1,
                    "pitch": 0.06,
                    "thread_depth": 0.018,
                    "unthreaded": 0.3,
                },
                {
                    "head_height": _PROP,
                    "head_width": _PROP,
                    "length": _PROP,
                    "shaft_radius": _PROP,
                    "pitch": _PROP,
                    "thread_depth": _PROP,
                    "unthreaded": _PROP,
                },
                _build_bolt,
                ((1.0, 0.0, 0.0), 90.0),
            ),
            ShapeFamily(
                "bracket",
                "an L bracket with gussets and mounting holes",
                {
                    "width": 0.9,
                    "depth": 0.45,
                    "thickness": 0.06,
                    "height": 0.5,
                    "gusset": 0.55,
                    "gusset_width": 0.05,
                    "hole_radius": 0.05,
                },
                {
                    "width": _PROP,
                    "depth": _PROP,
                    "thickness": _WALL,
                    "height": _PROP,
                    "gusset": _PROP,
                    "hole_radius": _PROP,
                },
                _build_bracket,
            ),
            ShapeFamily(
                "helmet",
                "a half-ellipsoid shell helmet with a front visor, open underneath",
                {
                    "height": 0.42,
                    "radius": 0.45,
                    "wall": 0.03,
                    "visor": 0.14,
                    "visor_thickness": 0.025,
                    "visor_tilt": 8.0,
                },
                {"height": _PROP, "radius": _PROP, "wall": _WALL, "visor": _PROP, "visor_tilt": _PROP},
                _build_helmet,
                thin_walled=True,
            ),
            ShapeFamily(
                "washer",
                "a flanged washer with a rounded rim and a collar round the bore",
                {
                    "radius": 0.5,
                    "bore_radius": 0.2,
                    "thickness": 0.08,
                    "collar_radius": 0.3,
                    "collar_height": 0.06,
                },
                {
                    "radius": _PROP,
                    "bore_radius": _PROP,
                    "thickness": _WALL,
                    "collar_radius": _PROP,
                    "collar_height": _PROP,
                },
                _build_washer,
            ),
            ShapeFamily(
                "knob",
                "a fluted control knob with a domed top and a pointer ridge",
                {"radius": 0.46, "height": 0.58, "flutes": 16, "flute_depth": 0.035, "ridge_width": 0.06},
                {"radius": _PROP, "height": _PROP, "flute_depth": _PROP, "ridge_width": _PROP},
                _build_knob,
            ),
        )
    }
)

CATEGORIES: tuple[str, ...] = tuple(SHAPE_FAMILIES)
"""All category names of the shape library, in a fixed order."""


def get_family(category: str) -> ShapeFamily:
    """The :class:`ShapeFamily` called ``category``.

    Raises:
        ValueError: for an unknown name; the message lists the valid ones.
    """
    try:
        return SHAPE_FAMILIES[category]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown category {category!r}; valid categories are {', '.join(CATEGORIES)}"
        ) from None


def sample_parameters(category: str, rng: np.random.Generator, *, nominal: bool = False) -> dict[str, float]:
    """Draw one instance's parameters: every varied parameter is ``nominal * (1 + s * z)``, ``z ~ N(0,1)``
    clipped to ``[-2, 2]``, ``s`` from :attr:`ShapeFamily.variation`; ``nominal=True`` returns the nominal
    values (and draws nothing)."""
    fam = get_family(category)
    params = dict(fam.nominal)
    if nominal:
        return params
    for key in sorted(fam.variation):  # sorted: the draw order must not depend on dict construction
        z = float(np.clip(rng.normal(), -2.0, 2.0))
        params[key] = float(fam.nominal[key]) * (1.0 + fam.variation[key] * z)
    return params


def build_shape(category: str, params: Mapping[str, float]) -> trimesh.Trimesh:
    """Build the watertight mesh of ``category`` with ``params`` in the canonical frame (z up, on ``z =
    0``)."""
    fam = get_family(category)
    solid = fam.build(params)
    if solid.status() != manifold3d.Error.NoError or solid.is_empty():
        raise ValueError(
            f"building {category!r} with {dict(params)} gave an invalid solid ({solid.status()})"
        )
    if solid.genus() < 0 or len(solid.decompose()) != 1:
        raise ValueError(f"building {category!r} gave {len(solid.decompose())} disconnected pieces")
    lo = solid.bounding_box()[:3]
    return to_trimesh(solid.translate((0.0, 0.0, -lo[2])))


@dataclass
class ShapeInstance:
    """One physical object: its category, its parameters and its normal (defect-free) mesh."""

    category: str
    params: dict[str, float]
    mesh: trimesh.Trimesh

    @property
    def thin_walled(self) -> bool:
        return get_family(self.category).thin_walled

    def rest_rotation(self) -> np.ndarray:
        """3x3 rotation that lays the object on a table (see :attr:`ShapeFamily.rest_axes`)."""
        axis, deg = get_family(self.category).rest_axes
        return rotation_matrix(np.asarray(axis), np.deg2rad(deg))


def make_instance(category: str, rng: np.random.Generator, *, nominal: bool = False) -> ShapeInstance:
    """Draw parameters (see :func:`sample_parameters`) and build one :class:`ShapeInstance` of
    ``category``."""
    params = sample_parameters(category, rng, nominal=nominal)
    return ShapeInstance(category, params, build_shape(category, params))
