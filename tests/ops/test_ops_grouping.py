"""Point-MAE grouping: FPS centres + kNN patches, centred."""

from __future__ import annotations

import numpy as np
import torch
from anomaly3d import ops
from ops_reference import assert_valid_knn, fps_reference


def test_group_knn_is_fps_then_knn():
    rng = np.random.default_rng(0)
    p = rng.standard_normal((1024, 3))
    centers, hoods, idx = ops.group_knn(p, 32, 16)
    assert centers.shape == (32, 3) and hoods.shape == (32, 16, 3) and idx.shape == (32, 16)
    np.testing.assert_array_equal(centers, p[fps_reference(p, 32, 0)])
    assert_valid_knn(np.linalg.norm(hoods, axis=-1), idx, centers, p, 16, atol=1e-9)
    np.testing.assert_allclose(hoods + centers[:, None], p[idx])
    np.testing.assert_allclose(hoods[:, 0], 0.0)  # the centre is its own nearest point


def test_group_knn_batched_equals_per_cloud_and_keeps_gradients():
    rng = np.random.default_rng(1)
    p = torch.tensor(rng.standard_normal((3, 256, 3)), requires_grad=True)
    centers, hoods, idx = ops.group_knn(p, 8, 10, backend="torch")
    assert centers.shape == (3, 8, 3) and hoods.shape == (3, 8, 10, 3) and idx.shape == (3, 8, 10)
    for b in range(3):
        c, h, i = ops.group_knn(p[b].detach().numpy(), 8, 10)
        np.testing.assert_allclose(centers[b].detach().numpy(), c)
        np.testing.assert_array_equal(idx[b].numpy(), i)
        np.testing.assert_allclose(hoods[b].detach().numpy(), h)
    hoods.square().sum().backward()
    assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0


def test_group_knn_random_start_is_seeded():
    rng = np.random.default_rng(2)
    p = rng.standard_normal((500, 3))
    a = ops.group_knn(p, 10, 8, start="random", seed=4)[2]
    b = ops.group_knn(p, 10, 8, start="random", seed=4, backend="scipy")[2]
    np.testing.assert_array_equal(a, b)
