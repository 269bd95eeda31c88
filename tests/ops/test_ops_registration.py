"""FPFH + RANSAC rigid registration (Reg3D-AD's alignment to a template)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from anomaly3d.data.scenes import embedded_objects
from anomaly3d.ops import apply_transform, random_rotation, register_ransac
from anomaly3d.ops.registration import kabsch, ransac_rigid


def _pose(seed: int, angle_deg: float, shift: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.eye(4)
    t[:3, :3] = np.asarray(random_rotation(rng, max_angle=np.deg2rad(angle_deg)))
    t[:3, 3] = rng.normal(size=3) * shift / np.sqrt(3)
    return t


@pytest.mark.parametrize("seed", [0, 1])
def test_registration_recovers_a_known_rotation_and_translation_within_a_voxel(seed):
    template = embedded_objects(3, 6000, seed=seed)[1].astype(np.float64)  # unit longest side, asymmetric
    pose = _pose(seed, 40.0, 0.3)
    moved = apply_transform(template, pose)  # the same object, somewhere else
    voxel = 0.02
    # RANSAC alone (the official Reg3D-AD recipe) lands within a couple of voxels ...
    coarse = register_ransac(moved, template, voxel_size=voxel, seed=0)
    err = np.linalg.norm(coarse.apply(moved) - template, axis=1)
    assert err.max() < 2 * voxel and coarse.fitness > 0.5, (err.max(), coarse.fitness)
    # ... and ICP refinement brings every point to within a voxel
    reg = register_ransac(moved, template, voxel_size=voxel, seed=0, icp=True)
    err = np.linalg.norm(reg.apply(moved) - template, axis=1)
    assert err.max() < voxel, (err.max(), reg.fitness)
    np.testing.assert_allclose(reg.transform @ pose, np.eye(4), atol=0.03)
    # the official engine (Open3D's multi-threaded RANSAC) lands within a couple of voxels too
    o3d_reg = register_ransac(moved, template, voxel_size=voxel, seed=0, engine="open3d")
    assert np.linalg.norm(o3d_reg.apply(moved) - template, axis=1).max() < 2 * voxel


def test_numpy_ransac_is_deterministic_for_a_seed():
    template = embedded_objects(3, 3000, seed=5)[2].astype(np.float64)
    moved = apply_transform(template, _pose(5, 60.0, 0.5))
    a = register_ransac(moved, template, voxel_size=0.03, seed=7, max_iteration=5000)
    b = register_ransac(moved, template, voxel_size=0.03, seed=7, max_iteration=5000)
    np.testing.assert_array_equal(a.transform, b.transform)
    assert a.iterations == b.iterations > 0


def test_kabsch_recovers_a_rigid_transform_batched():
    rng = np.random.default_rng(0)
    poses = np.stack([_pose(s, 170.0, 2.0) for s in range(4)])
    src = rng.normal(size=(4, 10, 3))
    tgt = np.einsum("bij,bkj->bki", poses[:, :3, :3], src) + poses[:, None, :3, 3]
    np.testing.assert_allclose(kabsch(src, tgt), poses, atol=1e-9)


def test_ransac_rigid_ignores_outlier_correspondences():
    rng = np.random.default_rng(1)
    pose = _pose(1, 90.0, 1.0)
    src = rng.uniform(-1, 1, size=(300, 3))
    tgt = apply_transform(src, pose)
    wrong = rng.random(300) < 0.7  # 70 % of the matches point somewhere else
    tgt[wrong] = rng.uniform(-1, 1, size=(int(wrong.sum()), 3))
    est, drawn = ransac_rigid(src, tgt, inlier_distance=0.01, seed=0)
    np.testing.assert_allclose(est, pose, atol=1e-6)
    assert drawn < 100_000  # the confidence rule stopped it early


def test_identity_for_a_cloud_registered_to_itself_and_icp_refines():
    cloud = embedded_objects(1, 4000, seed=3)[0].astype(np.float64)
    reg = register_ransac(cloud, cloud, voxel_size=0.02, icp=True)
    np.testing.assert_allclose(reg.transform, np.eye(4), atol=5e-3)


def test_apply_transform_keeps_the_input_kind_and_checks_the_matrix():
    pose = _pose(0, 30.0, 1.0)
    pts = np.random.default_rng(0).normal(size=(10, 3)).astype(np.float32)
    out = apply_transform(pts, pose)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, pts @ pose[:3, :3].T + pose[:3, 3], rtol=1e-5, atol=1e-5)
    t = apply_transform(torch.from_numpy(pts), pose)
    assert isinstance(t, torch.Tensor)
    with pytest.raises(ValueError, match="transform"):
        apply_transform(pts, np.eye(3))
    with pytest.raises(ValueError, match="voxel"):
        register_ransac(pts, pts, voxel_size=100.0)
    with pytest.raises(ValueError, match="engine"):
        register_ransac(pts, pts, voxel_size=0.1, engine="teaser")
