"""The shape library of the embedded benchmark: valid meshes, per-instance variation, determinism."""

from __future__ import annotations

import numpy as np
import pytest
from anomaly3d import get_profile
from anomaly3d.data.synthetic.scan import sample_surface, sphere_viewpoints
from anomaly3d.data.synthetic.shapes import (
    CATEGORIES,
    build_shape,
    get_family,
    make_instance,
    sample_parameters,
)
from scipy.spatial import cKDTree


def test_at_least_ten_categories_and_the_profiles_ones() -> None:
    assert len(CATEGORIES) >= 10 and len(set(CATEGORIES)) == len(CATEGORIES)
    for name in ("smoke", "quick"):
        assert set(get_profile(name).categories) <= set(CATEGORIES)


@pytest.mark.parametrize("category", CATEGORIES)
def test_every_category_builds_a_closed_connected_unit_sized_solid(category: str) -> None:
    mesh = make_instance(category, np.random.default_rng(0)).mesh
    assert mesh.is_watertight and mesh.is_winding_consistent
    assert mesh.volume > 0  # outward orientation
    assert mesh.body_count == 1
    assert 0.8 <= mesh.extents.max() <= 1.1
    assert abs(mesh.bounds[0, 2]) < 1e-9  # stands on z = 0


def _chamfer(a: np.ndarray, b: np.ndarray) -> float:
    return float(cKDTree(b).query(a)[0].mean() + cKDTree(a).query(b)[0].mean()) / 2


@pytest.mark.parametrize("category", ["bottle", "gear", "cup", "bracket"])
def test_instances_vary_slightly_and_deterministically(category: str) -> None:
    a = make_instance(category, np.random.default_rng(1))
    b = make_instance(category, np.random.default_rng(2))
    a2 = make_instance(category, np.random.default_rng(1))
    assert a.params == a2.params and np.array_equal(a.mesh.vertices, a2.mesh.vertices)
    assert a.params != b.params
    fam = get_family(category)
    for key, rel in fam.variation.items():  # every varied parameter stays within +-2 sigma of nominal
        assert abs(a.params[key] / fam.nominal[key] - 1.0) <= 2 * rel + 1e-12
    pa = sample_surface(a.mesh, 3000, np.random.default_rng(0)).points
    pb = sample_surface(b.mesh, 3000, np.random.default_rng(0)).points
    d = _chamfer(pa, pb)
    # different objects (well above the sampling noise of the same object) but of the same design
    same = _chamfer(pa, sample_surface(a.mesh, 3000, np.random.default_rng(9)).points)
    assert same < d < 0.05


def test_nominal_parameters_draw_nothing_and_unknown_category_raises() -> None:
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    assert sample_parameters("bowl", rng, nominal=True) == dict(get_family("bowl").nominal)
    assert rng.bit_generator.state == state
    with pytest.raises(ValueError, match="unknown category 'teapot'.*bottle"):
        make_instance("teapot", rng)


def test_thin_walled_vessels_are_hollow_and_open() -> None:
    """A bottle has an inner surface (its cavity) reachable through the mouth: sampled points include points
    whose outward normal points towards the axis."""
    mesh = build_shape("bottle", sample_parameters("bottle", np.random.default_rng(0), nominal=True))
    s = sample_surface(mesh, 4000, np.random.default_rng(0))
    radial = s.points[:, :2] / np.maximum(np.linalg.norm(s.points[:, :2], axis=1, keepdims=True), 1e-9)
    inward = np.einsum("nd,nd->n", s.normals[:, :2], radial) < -0.5
    assert 0.2 < inward.mean() < 0.6
    assert sphere_viewpoints(10).shape == (10, 3)
