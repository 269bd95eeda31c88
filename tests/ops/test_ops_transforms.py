"""Random rotations (Haar statistics, axis variant) and the papers' normalizations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from anomaly3d import ops
from ops_reference import pairwise


def _is_rotation(r):
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(r) == pytest.approx(1.0)


def test_haar_rotation_statistics():
    """Under the Haar measure E[R] = 0 and E[R_ij^2] = 1/3; the rotation angle has density (1 - cos t) / pi."""
    rng = np.random.default_rng(41)
    rs = np.stack([ops.random_rotation(rng) for _ in range(3000)])
    for r in rs[:20]:
        _is_rotation(r)
    assert np.abs(rs.mean(0)).max() < 0.05
    assert np.abs((rs**2).mean(0) - 1 / 3).max() < 0.03
    angle = np.arccos(np.clip((np.trace(rs, axis1=1, axis2=2) - 1) / 2, -1, 1))
    assert np.mean(angle) == pytest.approx(math.pi / 2 + 2 / math.pi, abs=0.05)  # E[t] under (1 - cos t)/pi


def test_axis_and_euler_variants():
    r = ops.random_rotation(1, axis="z")
    _is_rotation(r)
    np.testing.assert_allclose(r @ [0, 0, 1.0], [0, 0, 1.0], atol=1e-12)
    axis = np.array([1.0, 2.0, 2.0]) / 3
    r = ops.random_rotation(2, axis=axis, max_angle=0.1)
    np.testing.assert_allclose(r @ axis, axis, atol=1e-12)
    assert np.arccos((np.trace(r) - 1) / 2) <= 0.1 + 1e-9
    _is_rotation(ops.random_rotation(3, euler=True))
    np.testing.assert_array_equal(ops.random_rotation(7), ops.random_rotation(7))
    t = ops.random_rotation(7, like=torch.zeros(2, 3, dtype=torch.float32))
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float32


def test_apply_rotation_preserves_distances_and_batches():
    rng = np.random.default_rng(42)
    p = rng.standard_normal((50, 3))
    r = ops.random_rotation(5)
    c = np.array([1.0, 2.0, 3.0])
    q = ops.apply_rotation(p, r, center=c)
    np.testing.assert_allclose(pairwise(q, q), pairwise(p, p), atol=1e-12)
    np.testing.assert_allclose(q, (p - c) @ r.T + c)
    batch = torch.from_numpy(np.stack([p, 2 * p]))
    rs = torch.from_numpy(np.stack([r, r.T]))
    out = ops.apply_rotation(batch, rs)
    np.testing.assert_allclose(out[1].numpy(), 2 * p @ r)


def test_normalize_unit_sphere_and_box():
    rng = np.random.default_rng(43)
    p = rng.standard_normal((400, 3)) * [5, 2, 1] + 7
    q, c, s = ops.normalize_unit_sphere(p)
    np.testing.assert_allclose(q.mean(0), 0, atol=1e-12)
    assert np.linalg.norm(q, axis=1).max() == pytest.approx(1.0)
    np.testing.assert_allclose(q * s + c, p)
    q, c, s = ops.normalize_box(p)
    assert q.min() >= -1 - 1e-12 and q.max() <= 1 + 1e-12
    np.testing.assert_allclose(np.abs(q).max(0)[0], 1.0)  # the longest axis (x) spans [-1, 1]
    q, c, s = ops.normalize_box(p, keep_aspect=False)
    np.testing.assert_allclose(q.min(0), -1)
    np.testing.assert_allclose(q.max(0), 1)
    qt, ct, st = ops.normalize_unit_sphere(torch.from_numpy(np.stack([p, p * 2])))
    assert qt.shape == (2, 400, 3) and ct.shape == (2, 3) and st.shape == (2,)
    np.testing.assert_allclose(st[1].item(), 2 * st[0].item())


def test_mean_knn_distance_scale_is_3dst_eq4():
    rng = np.random.default_rng(44)
    a, b = rng.random((300, 3)), rng.random((200, 3)) * 2
    d = pairwise(a, a)
    np.fill_diagonal(d, np.inf)
    want_a = np.sort(d, axis=1)[:, :8].mean()
    assert ops.mean_knn_distance_scale(a, k=8) == pytest.approx(want_a)
    assert ops.mean_knn_distance_scale(3 * a, k=8) == pytest.approx(3 * want_a)
    want_b = ops.mean_knn_distance_scale(b, k=8)
    assert ops.mean_knn_distance_scale([a, b], k=8) == pytest.approx((300 * want_a + 200 * want_b) / 500)


def test_median_nn_spacing_matches_brute_force_and_counts_duplicates():
    from anomaly3d.ops import median_nn_spacing

    pts = np.random.default_rng(0).normal(size=(300, 3))
    d = np.linalg.norm(pts[:, None] - pts[None], axis=2)
    np.fill_diagonal(d, np.inf)
    assert median_nn_spacing(pts) == pytest.approx(float(np.median(d.min(axis=1))), rel=1e-12)
    dup = np.concatenate([pts, pts])
    assert median_nn_spacing(dup) == 0.0
    with pytest.raises(ValueError, match="number of points"):
        median_nn_spacing(pts[:1])
