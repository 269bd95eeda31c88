"""Voxelization against a dictionary-based reference; voxel <-> point maps; averaging and scattering."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import torch
from anomaly3d import ops


def _reference(p, size, origin):
    cells = defaultdict(list)
    for i, c in enumerate(np.floor((p - origin) / size).astype(int)):
        cells[tuple(c)].append(i)
    return dict(sorted(cells.items()))


def test_voxelize_matches_reference():
    rng = np.random.default_rng(31)
    p = rng.standard_normal((3000, 3)) * 2
    vox = ops.voxelize(p, 0.5)
    ref = _reference(p, 0.5, np.zeros(3))
    assert vox.n_voxels == len(ref)
    np.testing.assert_array_equal(vox.coords, np.array(list(ref)))
    assert vox.coords.dtype == np.int64 and (vox.coords < 0).any()  # grid anchored at the world origin
    for v, members in enumerate(ref.values()):
        np.testing.assert_array_equal(vox.points_in(v), members)
    np.testing.assert_array_equal(
        vox.point_to_voxel[vox.order], np.repeat(np.arange(vox.n_voxels), vox.counts)
    )
    centroid = np.array([p[m].mean(0) for m in ref.values()])
    np.testing.assert_allclose(vox.mean(p), centroid)
    np.testing.assert_allclose(vox.mean(p[:, 0]), centroid[:, 0])
    inside = (p - vox.centers()[vox.point_to_voxel]) / 0.5
    assert (np.abs(inside) <= 0.5 + 1e-12).all()


def test_origin_and_scatter_round_trip():
    rng = np.random.default_rng(32)
    p = rng.random((500, 3)) * 3 + 10
    vox = ops.voxelize(p, 0.25, origin=p.min(0))
    assert vox.coords.min() == 0
    labels = rng.standard_normal(vox.n_voxels)
    per_point = vox.scatter(labels)
    np.testing.assert_array_equal(per_point, labels[vox.point_to_voxel])
    np.testing.assert_allclose(vox.mean(per_point), labels)


def test_torch_input_is_differentiable():
    rng = np.random.default_rng(33)
    p = torch.tensor(rng.random((200, 3)), requires_grad=True)
    vox = ops.voxelize(p, 0.3)
    assert isinstance(vox.coords, torch.Tensor) and vox.point_to_voxel.dtype == torch.int64
    means = vox.mean(p)
    vox.scatter(means).sum().backward()
    np.testing.assert_allclose(p.grad.numpy(), 1.0)  # each point contributes 1/|v| to |v| points' copies
