"""FPFH through Open3D: same numbers as the direct call, histogram structure, rotation invariance."""

from __future__ import annotations

import numpy as np
import open3d as o3d
import torch
from anomaly3d import ops
from ops_reference import sphere


def _cloud():
    rng = np.random.default_rng(21)
    p = sphere(1500, rng) * [1.0, 0.7, 0.4]  # an ellipsoid: features vary over the surface
    return p, ops.estimate_normals(p, k=16, orient="outward")


def test_fpfh_equals_open3d_and_is_a_histogram():
    p, n = _cloud()
    f = ops.fpfh(p, normals=n, radius_feature=0.3, max_nn=50)
    assert f.shape == (1500, 33) and f.dtype == np.float32
    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(p))
    pcd.normals = o3d.utility.Vector3dVector(n)
    direct = o3d.pipelines.registration.compute_fpfh_feature(
        pcd, o3d.geometry.KDTreeSearchParamHybrid(0.3, 50)
    )
    np.testing.assert_allclose(f, np.asarray(direct.data).T, rtol=1e-5, atol=1e-4)
    assert (f >= 0).all()
    np.testing.assert_allclose(
        f.reshape(-1, 3, 11).sum(-1), 200.0, rtol=1e-4
    )  # 3 sub-histograms of 100 + 100


def test_fpfh_is_rotation_invariant():
    p, n = _cloud()
    rot = ops.random_rotation(3)
    f = ops.fpfh(p, normals=n, radius_feature=0.3)
    f_rot = ops.fpfh(p @ rot.T, normals=n @ rot.T, radius_feature=0.3)
    assert np.abs(f - f_rot).max() < 1e-2 * np.abs(f).max()


def test_fpfh_estimates_normals_and_keeps_tensor_kind():
    p, _ = _cloud()
    f = ops.fpfh(torch.from_numpy(p), radius_normal=0.1, radius_feature=0.3)
    assert isinstance(f, torch.Tensor) and f.dtype == torch.float32 and f.shape == (1500, 33)
    assert torch.isfinite(f).all()
