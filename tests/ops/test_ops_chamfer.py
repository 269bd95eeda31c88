"""Chamfer distance: values against a brute-force reference, gradients by finite differences (gradcheck)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from anomaly3d import ops
from anomaly3d.ops import chamfer as chamfer_mod
from ops_reference import as_np, chamfer_reference, pairwise


@pytest.fixture
def pair():
    rng = np.random.default_rng(5)
    return rng.standard_normal((4, 40, 3)), rng.standard_normal((4, 25, 3)) + 0.3


@pytest.mark.parametrize(
    "squared,point_reduction,direction",
    list(itertools.product([True, False], ["mean", "sum"], ["both", "x_to_y", "y_to_x"])),
)
def test_per_pair_values_match_reference(pair, squared, point_reduction, direction):
    x, y = pair
    want = chamfer_reference(x, y, squared=squared, point_reduction=point_reduction, direction=direction)
    got = ops.chamfer_distance(
        x, y, squared=squared, reduction="none", point_reduction=point_reduction, direction=direction
    )
    assert isinstance(got, np.ndarray) and got.shape == (4,)
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_reductions_and_unbatched(pair):
    x, y = pair
    per_mean = chamfer_reference(x, y, squared=True, point_reduction="mean", direction="both")
    per_sum = chamfer_reference(x, y, squared=True, point_reduction="sum", direction="both")
    np.testing.assert_allclose(ops.chamfer_distance(x, y), per_mean.mean())
    np.testing.assert_allclose(ops.chamfer_distance(x, y, reduction="sum"), per_sum.sum())
    np.testing.assert_allclose(
        ops.chamfer_distance(x, y, reduction="mean", point_reduction="sum"), per_sum.mean()
    )
    single = ops.chamfer_distance(torch.from_numpy(x[1]), torch.from_numpy(y[1]), reduction="none")
    assert isinstance(single, torch.Tensor) and single.ndim == 0
    np.testing.assert_allclose(single.item(), per_mean[1])


def test_default_is_point_mae_l2_chamfer(pair):
    """Point-MAE's ChamferDistanceL2: mean(dist1) + mean(dist2) of squared distances over the whole batch."""
    x, y = pair
    d = np.stack([pairwise(a, b) ** 2 for a, b in zip(x, y)])
    point_mae = d.min(axis=2).mean() + d.min(axis=1).mean()
    np.testing.assert_allclose(
        ops.chamfer_distance(torch.from_numpy(x), torch.from_numpy(y)).item(), point_mae
    )


@pytest.mark.parametrize("backend", ["scipy", "torch", "auto"])
def test_backends_agree(backend):
    rng = np.random.default_rng(6)
    x, y = rng.standard_normal((700, 3)), rng.standard_normal((800, 3))  # 700*800 > brute-force limit
    assert 700 * 800 > chamfer_mod.BRUTE_FORCE_MAX_PAIRS
    want = chamfer_reference(x[None], y[None], squared=False, point_reduction="mean", direction="both")[0]
    np.testing.assert_allclose(ops.chamfer_distance(x, y, squared=False, backend=backend), want, rtol=1e-10)
    dist, idx = ops.nearest_neighbor(x, y, backend=backend)
    d = pairwise(x, y)
    np.testing.assert_allclose(dist, d.min(axis=1), rtol=1e-10)
    np.testing.assert_allclose(d[np.arange(700), idx], d.min(axis=1), rtol=1e-10)


@pytest.mark.parametrize("squared", [True, False])
@pytest.mark.parametrize("backend", ["scipy", "torch"])
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_gradcheck(squared, backend, reduction):
    rng = np.random.default_rng(8)
    x = torch.tensor(rng.standard_normal((2, 6, 3)), requires_grad=True)
    y = torch.tensor(rng.standard_normal((2, 5, 3)), requires_grad=True)

    def f(a, b):
        return ops.chamfer_distance(a, b, squared=squared, reduction=reduction, backend=backend)

    assert torch.autograd.gradcheck(f, (x, y), eps=1e-6, atol=1e-6)


def test_gradient_is_finite_for_coincident_points():
    y = torch.tensor([[0.0, 0, 0], [1, 0, 0]], dtype=torch.float64, requires_grad=True)
    x = torch.tensor([[0.0, 0, 0], [0.2, 0.1, 0]], dtype=torch.float64, requires_grad=True)
    loss = ops.chamfer_distance(x, y, squared=False)
    loss.backward()
    assert torch.isfinite(x.grad).all() and torch.isfinite(y.grad).all()


def test_nearest_neighbor_batched_shapes_and_grad():
    rng = np.random.default_rng(9)
    x = torch.tensor(rng.standard_normal((3, 7, 3)), requires_grad=True)
    y = torch.tensor(rng.standard_normal((3, 9, 3)))
    dist, idx = ops.nearest_neighbor(x, y, squared=True)
    assert dist.shape == (3, 7) and idx.shape == (3, 7) and idx.dtype == torch.int64
    for b in range(3):
        d = pairwise(as_np(x[b]), as_np(y[b])) ** 2
        np.testing.assert_allclose(as_np(dist[b]), d.min(1))
    dist.sum().backward()
    want = 2 * (x - torch.gather(y, 1, idx.unsqueeze(-1).expand(-1, -1, 3)))
    np.testing.assert_allclose(x.grad.numpy(), want.detach().numpy())
