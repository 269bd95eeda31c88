"""Patch-centre samplers: IMRNet's GPS (eqs. 1-6) against random, FPS and voxel sampling."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from anomaly3d.ops import CENTER_SAMPLERS, geometry_aware_sampling, group_at, rate_of_change, sample_centers
from anomaly3d.ops.center_sampling import salient_split


def _creased_sheet(n: int = 6000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A 2 x 2 sheet folded along x = 0 into a sharp ridge (z = 0.8 - 0.8 |x|); second value: near the crease."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(-1, 1, size=(n, 2))
    z = 0.8 * (1 - np.abs(xy[:, 0]))
    pts = np.column_stack([xy, z]).astype(np.float32)
    return pts, np.abs(xy[:, 0]) < 0.08


def test_gps_puts_more_centres_near_a_sharp_edge_than_fps():
    pts, near = _creased_sheet()
    gps = [near[geometry_aware_sampling(pts, 128, seed=s)].mean() for s in range(3)]
    fps = [near[sample_centers(pts, 128, "fps", seed=s)].mean() for s in range(3)]
    assert np.mean(gps) > 2 * np.mean(fps), (gps, fps)


def test_rate_of_change_is_high_on_the_crease_and_low_on_the_flat_parts():
    pts, _ = _creased_sheet()
    r = rate_of_change(pts, 16)
    far = np.abs(pts[:, 0]) > 0.3
    assert np.median(r[far]) < 1e-3 < np.median(r[np.abs(pts[:, 0]) < 0.02])
    # eq. 6: the salient set is the top floor(tau * N) points
    s = salient_split(r, 0.3)
    assert s.sum() == int(0.3 * len(pts)) and r[s].min() >= r[~s].max()


def test_gps_splits_centres_two_to_one_between_salient_and_other_points():
    pts, _ = _creased_sheet()
    r = rate_of_change(pts, 16)
    salient = salient_split(r, 0.3)
    idx = geometry_aware_sampling(pts, 90, rates=r, seed=1)
    assert len(np.unique(idx)) == 90
    assert salient[idx].sum() == 60  # "twice as many in salient regions as in non-salient ones"


@pytest.mark.parametrize("method", CENTER_SAMPLERS)
def test_every_sampler_returns_n_distinct_indices_of_the_input_kind(method):
    pts, _ = _creased_sheet(2000)
    idx = sample_centers(pts, 100, method, seed=3)
    assert isinstance(idx, np.ndarray) and idx.dtype == np.int64 and len(np.unique(idx)) == 100
    again = sample_centers(pts, 100, method, seed=3)
    np.testing.assert_array_equal(idx, again)  # seeded
    t = sample_centers(torch.from_numpy(pts), 100, method, seed=3)
    assert isinstance(t, torch.Tensor) and t.dtype == torch.int64


def test_voxel_sampler_covers_the_cloud_evenly():
    pts, _ = _creased_sheet(4000)
    idx = sample_centers(pts, 64, "voxel", seed=0)
    # every point lies near some centre: no large region is left without one
    d = np.linalg.norm(pts[:, None] - pts[idx][None], axis=2).min(axis=1)
    assert d.max() < 0.5


def test_bad_input_raises_clear_errors():
    pts, _ = _creased_sheet(500)
    with pytest.raises(ValueError, match="method"):
        sample_centers(pts, 10, "poisson")
    with pytest.raises(ValueError, match="n"):
        sample_centers(pts, 600, "fps")
    with pytest.raises(ValueError, match="rates"):
        geometry_aware_sampling(pts, 10, rates=np.zeros(3))
    bad = pts.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="points"):
        rate_of_change(bad)


def test_group_at_returns_each_centres_nearest_points_relative_to_it():
    pts, _ = _creased_sheet(1000)
    centers = pts[[5, 50, 500]]
    nbhd, idx = group_at(pts, centers, 8)
    assert nbhd.shape == (3, 8, 3) and idx.shape == (3, 8)
    np.testing.assert_allclose(nbhd[:, 0], 0.0, atol=1e-7)  # each centre is its own nearest point
    d = np.linalg.norm(pts[None] - centers[:, None], axis=2)
    np.testing.assert_allclose(np.sort(d, axis=1)[:, :8], np.linalg.norm(nbhd, axis=2), rtol=1e-5, atol=1e-7)
