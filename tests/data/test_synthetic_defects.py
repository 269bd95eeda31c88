"""Defect synthesis: ground truth against an independent exact point-to-mesh distance, sizes, severities.

The reference distance below is computed here from scratch (closest point on each candidate triangle,
Ericson's region test) on a uniformly subdivided copy of the *normal* mesh; the library's labels come from
Open3D distance queries (displacement defects) or analytic cutter distances (cut defects), so the two are
independent.
"""

from __future__ import annotations

import numpy as np
import pytest
import trimesh
from anomaly3d.data.synthetic.defects import (
    APPEARANCE_DEFECTS,
    GEOMETRIC_DEFECTS,
    RIM_TOLERANCE_SPACINGS,
    CutDefect,
    DefectSite,
    DisplacementDefect,
    make_defect,
)
from anomaly3d.data.synthetic.samples import (
    DefectRequest,
    exterior_candidates,
    make_cloud_sample,
    make_scan_sample,
)
from anomaly3d.data.synthetic.scan import mean_spacing, sample_surface
from anomaly3d.data.synthetic.shapes import make_instance
from scipy.spatial import cKDTree

N_POINTS = 2048


def _closest_on_triangles(p: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Closest point to ``p`` on triangle ``abc`` (all ``(M, 3)``), Ericson, Real-Time Collision Detection
    5.1.5."""
    dot = lambda x, y: np.einsum("md,md->m", x, y)
    ab, ac, ap = b - a, c - a, p - a
    d1, d2 = dot(ab, ap), dot(ac, ap)
    bp, cp = p - b, p - c
    d3, d4, d5, d6 = dot(ab, bp), dot(ac, bp), dot(ab, cp), dot(ac, cp)
    vc, vb, va = d1 * d4 - d3 * d2, d5 * d2 - d1 * d6, d3 * d6 - d5 * d4
    out = np.empty_like(p)
    done = np.zeros(len(p), dtype=bool)

    def put(mask: np.ndarray, value: np.ndarray) -> None:
        m = mask & ~done
        out[m] = value[m]
        done[m] = True

    with np.errstate(divide="ignore", invalid="ignore"):
        put((d1 <= 0) & (d2 <= 0), a)
        put((d3 >= 0) & (d4 <= d3), b)
        put((vc <= 0) & (d1 >= 0) & (d3 <= 0), a + (d1 / (d1 - d3))[:, None] * ab)
        put((d6 >= 0) & (d5 <= d6), c)
        put((vb <= 0) & (d2 >= 0) & (d6 <= 0), a + (d2 / (d2 - d6))[:, None] * ac)
        put(
            (va <= 0) & (d4 - d3 >= 0) & (d5 - d6 >= 0),
            b + ((d4 - d3) / ((d4 - d3) + (d5 - d6)))[:, None] * (c - b),
        )
        denom = 1.0 / (va + vb + vc)
        put(np.ones(len(p), dtype=bool), a + (vb * denom)[:, None] * ab + (vc * denom)[:, None] * ac)
    return out


def exact_distance(mesh: trimesh.Trimesh, points: np.ndarray, k: int = 48) -> np.ndarray:
    """Exact distance from ``points`` to the surface of ``mesh`` (checked against the k triangles whose
    centroids are nearest, on a copy subdivided to edges below 0.03 of the object size)."""
    v, f = trimesh.remesh.subdivide_to_size(mesh.vertices, mesh.faces, max_edge=0.03 * mesh.extents.max())
    tri = v[f]
    _, cand = cKDTree(tri.mean(axis=1)).query(points, k=k)
    p = np.repeat(points, k, axis=0)
    t = tri[cand.ravel()]
    q = _closest_on_triangles(p, t[:, 0], t[:, 1], t[:, 2])
    return np.linalg.norm(p - q, axis=1).reshape(len(points), k).min(axis=1)


def test_reference_distance_is_exact_on_a_box() -> None:
    box = trimesh.creation.box((1.0, 1.0, 1.0))
    pts = np.array([[0.0, 0.0, 0.8], [0.9, 0.9, 0.0], [0.1, 0.2, 0.3], [0.7, 0.8, 0.9]])
    expect = [0.3, np.hypot(0.4, 0.4), 0.2, np.linalg.norm([0.2, 0.3, 0.4])]
    assert np.allclose(exact_distance(box, pts, k=12), expect, atol=1e-12)


def _site(category: str, seed: int = 0) -> DefectSite:
    inst = make_instance(category, np.random.default_rng(seed))
    cand = exterior_candidates(inst, np.random.default_rng(seed + 1), n=1500)
    return DefectSite(inst.mesh, cand, mean_spacing(inst.mesh.area, N_POINTS), inst.thin_walled)


@pytest.fixture(scope="module")
def sites() -> dict[str, DefectSite]:
    return {c: _site(c) for c in ("bottle", "gear")}


@pytest.mark.parametrize("category", ["bottle", "gear"])
@pytest.mark.parametrize("kind", GEOMETRIC_DEFECTS)
def test_defect_changes_only_points_labelled_anomalous(
    sites: dict[str, DefectSite], category: str, kind: str
) -> None:
    """Normal (GT 0) points lie on the normal surface up to the rim tolerance tau (a quarter of the mean point
    spacing); anomalous points of displacement defects are farther than tau; every defect moves or exposes
    points well beyond tau."""
    site = sites[category]
    rng = np.random.default_rng(11)
    defect = make_defect(kind, site, rng, fraction=0.05, severity=0.8)
    s = sample_surface(defect.mesh, N_POINTS, rng)
    labels = defect.labels(s)
    tau = RIM_TOLERANCE_SPACINGS * site.spacing
    d = exact_distance(site.mesh, s.points)
    assert 0 < labels.sum() < len(labels)
    assert d[~labels].max() <= tau * (1 + 1e-3) + 1e-6, (
        "a point labelled normal moved beyond the rim tolerance"
    )
    if isinstance(defect, DisplacementDefect):
        assert d[labels].min() > tau * (1 - 1e-3) - 1e-6
        assert d[labels].max() > 2.5 * tau
    else:
        assert isinstance(defect, CutDefect)
        assert defect.mesh.is_watertight and defect.mesh.body_count == 1
        assert defect.mesh.volume < site.mesh.volume - 1e-6  # material was removed
        # points on the cut faces, inside the original solid (the boolean may move kept vertices by ~1e-4 of
        # the object size: manifold3d works in float32 and merges near-collinear edges)
        exposed = d > 0.05 * tau
        assert exposed.sum() >= 3 and labels[exposed].all()


@pytest.mark.parametrize("kind", GEOMETRIC_DEFECTS)
def test_anomalous_fraction_within_requested_range(kind: str) -> None:
    lo, hi = 0.02, 0.08
    for category, seed in (("cup", 3), ("gear", 4)):
        s = make_cloud_sample(
            category, DefectRequest(kind, (lo, hi)), np.random.default_rng(seed), n_points=N_POINTS
        )
        assert lo <= s.labels.mean() <= hi
        assert s.points.shape == (N_POINTS, 3) and s.points.dtype == np.float32
        assert np.allclose(np.linalg.norm(s.normals, axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("kind", ["bulge", "hole"])
def test_partial_scan_fraction_is_checked_on_the_scanned_points(kind: str) -> None:
    s = make_scan_sample(
        "bowl", DefectRequest(kind, (0.01, 0.10)), np.random.default_rng(2), n_points=1024, full_scan=False
    )
    assert 0.01 <= s.labels.mean() <= 0.10


def test_severity_scales_the_magnitude_not_the_size(sites: dict[str, DefectSite]) -> None:
    site = sites["bottle"]
    heights = []
    for sev in (0.0, 1.0):
        d = make_defect("bulge", site, np.random.default_rng(5), fraction=0.05, severity=sev)
        heights.append(d.params["height"] / d.params["radius"])
        s = sample_surface(d.mesh, N_POINTS, np.random.default_rng(0))
        assert 0.03 < d.labels(s).mean() < 0.08
    assert heights[1] > 3 * heights[0]


@pytest.mark.parametrize("kind", APPEARANCE_DEFECTS)
def test_appearance_defects_leave_geometry_and_recolour_only_the_ground_truth(
    sites: dict[str, DefectSite], kind: str
) -> None:
    site = sites["gear"]
    d = make_defect(kind, site, np.random.default_rng(3), fraction=0.05, severity=0.7)
    assert d.mesh is site.mesh and not d.geometric
    s = sample_surface(site.mesh, N_POINTS, np.random.default_rng(0))
    labels = d.labels(s)
    assert 0.02 < labels.mean() < 0.1
    grey = np.full((len(s), 3), 0.6)
    changed = np.abs(d.albedo(s, grey) - grey).max(axis=1) > 1e-9
    assert not changed[~labels].any()
    assert changed[labels].mean() > 0.7


def test_make_defect_rejects_bad_arguments(sites: dict[str, DefectSite]) -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="unknown defect kind 'dent'"):
        make_defect("dent", sites["gear"], rng, fraction=0.05, severity=0.5)
    with pytest.raises(ValueError, match="fraction"):
        make_defect("bulge", sites["gear"], rng, fraction=0.0, severity=0.5)
    with pytest.raises(ValueError, match="severity"):
        make_defect("bulge", sites["gear"], rng, fraction=0.05, severity=float("nan"))
    with pytest.raises(ValueError, match="fraction must be"):
        DefectRequest("bulge", (0.1, 0.05))
