"""CUDA parity: every op on CUDA tensors (chunked torch, and torch-cluster where installed) against the CPU.

Skipped without a CUDA device (tests/conftest.py); the torch-cluster cases also without torch-cluster.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from anomaly3d import ops
from ops_reference import as_np, assert_valid_fps, assert_valid_knn, fps_reference

pytestmark = pytest.mark.gpu

GPU_BACKENDS = [
    "torch",
    pytest.param(
        "torch_cluster",
        marks=pytest.mark.skipif(not ops.torch_cluster_available(), reason="torch-cluster is not installed"),
    ),
]


@pytest.fixture
def cloud():
    rng = np.random.default_rng(51)
    return rng.standard_normal((5000, 3)).astype(np.float32) * [3, 1, 0.5] + 10


@pytest.mark.parametrize("backend", GPU_BACKENDS)
def test_knn_radius_on_cuda(backend, cloud):
    p = torch.from_numpy(cloud).cuda()
    dist, idx = ops.knn(p[:700], p, 9, backend=backend)
    assert dist.device.type == "cuda" and idx.device.type == "cuda"
    assert_valid_knn(dist, idx, cloud[:700], cloud, 9, atol=1e-4)
    dist, idx = ops.knn(p, k=6, exclude_self=True, backend=backend)
    d_cpu, _ = ops.knn(cloud, k=6, exclude_self=True)
    np.testing.assert_allclose(as_np(dist), d_cpu, atol=1e-4)
    gpu = ops.radius_query(p, None, 0.2, exclude_self=True, backend=backend)
    cpu = ops.radius_query(cloud, None, 0.2, exclude_self=True)
    assert abs(len(gpu.indices) - len(cpu.indices)) <= 2  # boundary rounding only
    np.testing.assert_allclose(as_np(gpu.counts), cpu.counts, atol=1)


@pytest.mark.parametrize("backend", GPU_BACKENDS)
def test_fps_on_cuda(backend, cloud):
    p = torch.from_numpy(cloud).cuda()
    idx = ops.fps(p, 256, start=17, backend=backend)
    assert idx.device.type == "cuda"
    assert_valid_fps(cloud, idx, 17)
    agree = (as_np(idx) == fps_reference(cloud, 256, 17)).mean()
    assert agree > 0.95  # float32 near-ties may reorder a few picks


@pytest.mark.parametrize("backend", GPU_BACKENDS)
def test_chamfer_and_grouping_on_cuda(backend, cloud):
    x = torch.from_numpy(cloud[:2000]).cuda().requires_grad_(True)
    y = torch.from_numpy(cloud[2000:]).cuda()
    val = ops.chamfer_distance(x, y, backend=backend)
    want = ops.chamfer_distance(cloud[:2000], cloud[2000:])
    assert val.device.type == "cuda" and val.item() == pytest.approx(float(want), rel=1e-4)
    val.backward()
    assert torch.isfinite(x.grad).all()
    centers, hoods, _ = ops.group_knn(torch.from_numpy(cloud).cuda(), 32, 16, backend=backend)
    c_cpu, h_cpu, _ = ops.group_knn(cloud, 32, 16)
    np.testing.assert_allclose(as_np(centers), c_cpu)
    np.testing.assert_allclose(
        np.sort(np.linalg.norm(as_np(hoods), axis=-1), 1),
        np.sort(np.linalg.norm(h_cpu, axis=-1), 1),
        atol=1e-4,
    )


def test_normals_voxels_on_cuda(cloud):
    p = torch.from_numpy(cloud).cuda()
    n = ops.estimate_normals(p, k=12)
    n_cpu = ops.estimate_normals(cloud, k=12)
    assert n.device.type == "cuda"
    assert (np.abs(np.sum(as_np(n) * n_cpu, axis=1)) > 0.99).mean() > 0.99
    vox = ops.voxelize(p, 0.5)
    vox_cpu = ops.voxelize(cloud, 0.5)
    np.testing.assert_array_equal(as_np(vox.coords), vox_cpu.coords)
    np.testing.assert_allclose(as_np(vox.mean(p)), vox_cpu.mean(cloud), rtol=1e-5)
