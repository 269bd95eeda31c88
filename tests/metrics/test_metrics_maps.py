"""Harmonic interpolation, scattering point scores onto the grid, and the sigma=4 Gaussian blur."""

from __future__ import annotations

import numpy as np
import pytest
from anomaly3d.metrics import (
    BLUR_SIGMA,
    gaussian_blur,
    harmonic_interpolation,
    point_scores_to_map,
    scatter_to_grid,
)
from PIL import Image, ImageFilter
from scipy import ndimage


def _gauss_seidel(values, known, domain, iters=20000, tol=1e-13):
    """Independent reference: relax every unknown pixel to the mean of its in-domain 4-neighbours."""
    u = np.where(known, values, 0.0).astype(np.float64)
    h, w = u.shape
    cells = [(r, c) for r in range(h) for c in range(w) if domain[r, c] and not known[r, c]]
    nbrs = {
        (r, c): [
            (r + dr, c + dc)
            for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1))
            if 0 <= r + dr < h and 0 <= c + dc < w and domain[r + dr, c + dc]
        ]
        for r, c in cells
    }
    for _ in range(iters):
        change = 0.0
        for cell in cells:
            new = sum(u[n] for n in nbrs[cell]) / len(nbrs[cell])
            change = max(change, abs(new - u[cell]))
            u[cell] = new
        if change < tol:
            break
    return u


def _neighbour_mean(u, domain):
    """Mean of the in-domain 4-neighbours of every pixel (NaN where it has none)."""
    pad_u = np.pad(u, 1)
    pad_d = np.pad(domain, 1).astype(float)
    total = sum(
        np.roll(np.roll(pad_u * pad_d, dr, 0), dc, 1) for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1))
    )
    count = sum(np.roll(np.roll(pad_d, dr, 0), dc, 1) for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1)))
    with np.errstate(invalid="ignore", divide="ignore"):
        return (total / count)[1:-1, 1:-1]


def test_matches_gauss_seidel_reference():
    rng = np.random.default_rng(0)
    values = rng.random((9, 11))
    known = rng.random((9, 11)) < 0.15
    known[0, 0] = True
    ref = _gauss_seidel(values, known, np.ones_like(known))
    out = harmonic_interpolation(values, known)
    np.testing.assert_allclose(out, ref, atol=1e-9)


def test_solution_is_discrete_harmonic_and_keeps_known_values():
    rng = np.random.default_rng(1)
    values = rng.normal(size=(40, 50))
    known = rng.random((40, 50)) < 0.05
    out = harmonic_interpolation(values, known)
    np.testing.assert_array_equal(out[known], values[known])
    unknown = ~known
    np.testing.assert_allclose(out[unknown], _neighbour_mean(out, np.ones_like(known))[unknown], atol=1e-10)
    # maximum principle
    assert values[known].min() - 1e-12 <= out.min() and out.max() <= values[known].max() + 1e-12


def test_linear_function_is_reproduced_from_its_boundary():
    yy, xx = np.mgrid[:15, :20]
    lin = 0.3 * xx - 0.7 * yy + 2.0
    known = np.zeros(lin.shape, bool)
    known[[0, -1], :] = True
    known[:, [0, -1]] = True
    values = np.where(known, lin, np.nan)  # unknown entries are never read
    np.testing.assert_allclose(harmonic_interpolation(values, known), lin, atol=1e-10)


def test_domain_and_unreachable_components():
    values = np.zeros((6, 8))
    domain = np.zeros((6, 8), bool)
    domain[:, :3] = True  # left block holds the known pixels
    domain[:, 5:] = True  # right block has none: it cannot be interpolated
    known = np.zeros((6, 8), bool)
    known[0, 0], known[5, 2] = True, True
    values[0, 0], values[5, 2] = 1.0, 3.0
    out = harmonic_interpolation(values, known, domain=domain)
    assert np.all(out[:, 3:5] == 1.0) and np.all(out[:, 5:] == 1.0)  # default fill: smallest known value
    left = domain.copy()
    left[:, 5:] = False
    ref = _gauss_seidel(values, known, left)
    np.testing.assert_allclose(out[:, :3], ref[:, :3], atol=1e-9)
    out2 = harmonic_interpolation(values, known, domain=domain, fill_value=-5.0)
    assert np.all(out2[:, 3:] == -5.0)
    np.testing.assert_allclose(out2[:, :3], out[:, :3])


def test_harmonic_bad_input():
    with pytest.raises(ValueError, match="no known pixel"):
        harmonic_interpolation(np.zeros((3, 3)), np.zeros((3, 3), bool))
    with pytest.raises(ValueError, match="NaN/inf"):
        harmonic_interpolation(np.full((3, 3), np.nan), np.eye(3, dtype=bool))
    with pytest.raises(ValueError, match="known has shape"):
        harmonic_interpolation(np.zeros((3, 3)), np.zeros((3, 4), bool))
    with pytest.raises(ValueError, match="2-D"):
        harmonic_interpolation(np.zeros(9), np.zeros(9, bool))
    with pytest.raises(ValueError, match="domain has shape"):
        harmonic_interpolation(np.zeros((3, 3)), np.eye(3, dtype=bool), domain=np.ones((2, 2)))


def test_scatter_to_grid():
    scores = np.array([1.0, 3.0, 5.0, 2.0])
    pixel_index = np.array([0, 0, 5, 11])
    grid, known = scatter_to_grid(scores, pixel_index, (3, 4))
    assert grid[0, 0] == 2.0 and grid[1, 1] == 5.0 and grid[2, 3] == 2.0
    assert known.sum() == 3 and not known[0, 1]
    grid_max, _ = scatter_to_grid(scores, pixel_index, (3, 4), reduce="max")
    assert grid_max[0, 0] == 3.0 and grid_max[0, 1] == 0.0
    with pytest.raises(ValueError, match="outside"):
        scatter_to_grid(scores, np.array([0, 1, 2, 12]), (3, 4))
    with pytest.raises(ValueError, match="pixel_index has 3"):
        scatter_to_grid(scores, pixel_index[:3], (3, 4))
    with pytest.raises(ValueError, match="NaN"):
        scatter_to_grid(np.array([np.nan, 1, 2, 3]), pixel_index, (3, 4))
    with pytest.raises(ValueError, match="reduce"):
        scatter_to_grid(scores, pixel_index, (3, 4), reduce="median")


def test_point_scores_to_map_fills_every_pixel():
    rng = np.random.default_rng(2)
    h, w = 20, 24
    idx = rng.choice(h * w, size=60, replace=False)
    scores = rng.random(60)
    full = point_scores_to_map(scores, idx, (h, w))
    assert full.shape == (h, w) and np.isfinite(full).all()
    np.testing.assert_array_equal(full.reshape(-1)[idx], scores)
    known = np.zeros(h * w, bool)
    known[idx] = True
    np.testing.assert_allclose(
        full, _gauss_seidel(full, known.reshape(h, w), np.ones((h, w), bool)), atol=1e-9
    )


def test_blur_is_scipy_gaussian_sigma4_per_map():
    rng = np.random.default_rng(3)
    maps = rng.random((3, 32, 32))
    maps[1] = 0.0
    maps[1, 16, 16] = 1.0
    out = gaussian_blur(maps)
    assert BLUR_SIGMA == 4.0
    for i in range(3):
        np.testing.assert_allclose(out[i], ndimage.gaussian_filter(maps[i], sigma=4.0), atol=1e-12)
    # an impulse spreads like a 2-D Gaussian with sigma 4 (neighbouring maps do not leak into it)
    assert out[1].sum() == pytest.approx(1.0, abs=1e-9)
    r = np.hypot(*(np.mgrid[:32, :32] - 16))
    assert np.sqrt((out[1] * r**2).sum() / 2) == pytest.approx(4.0, rel=0.02)
    np.testing.assert_allclose(gaussian_blur(maps[0]), out[0])


def test_blur_approximates_the_btf_m3dm_pil_blur():
    # BTF / M3DM: map / max -> 8-bit PIL image -> GaussianBlur(radius=4) -> * max
    rng = np.random.default_rng(4)
    amap = ndimage.zoom(rng.random((28, 28)), 8, order=1)
    amap[100:110, 50:60] += 2.0
    mx = amap.max()
    pil = Image.fromarray((amap / mx * 255).astype(np.uint8), mode="L").filter(
        ImageFilter.GaussianBlur(radius=4)
    )
    pil_map = np.asarray(pil, dtype=np.float64) / 255 * mx
    diff = np.abs(gaussian_blur(amap) - pil_map)
    assert diff.max() < 0.03 * np.ptp(amap)
    assert np.corrcoef(gaussian_blur(amap).ravel(), pil_map.ravel())[0, 1] > 0.998


def test_blur_bad_input():
    with pytest.raises(ValueError, match="NaN"):
        gaussian_blur(np.array([[0.0, np.nan], [1.0, 2.0]]))
    with pytest.raises(ValueError, match="sigma"):
        gaussian_blur(np.zeros((4, 4)), sigma=0)
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        gaussian_blur(np.zeros(5))
