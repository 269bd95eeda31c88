"""Group3AD's pieces: IUN pushes cluster centres apart, IAN tightens clusters, AGCS takes alpha of its centres from
the high-variation set, fake anomalies, the elbow rule."""

from __future__ import annotations

import itertools

import numpy as np
import torch
from anomaly3d.methods.group3ad_losses import (
    cluster_centers,
    elbow_k,
    fake_anomaly,
    ian_loss,
    iun_loss,
    kmeans,
    wcss,
)
from anomaly3d.ops import adaptive_group_centers, fpfh, fpfh_variation, voxel_fpfh_variation
from anomaly3d.ops.center_sampling import salient_split


def _blobs(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    means = torch.tensor([[0.0, 0.0], [3.0, 0.0], [0.0, 3.0]])
    x = torch.cat([m + 0.5 * torch.randn(40, 2, generator=g) for m in means])
    return x, torch.arange(3).repeat_interleave(40)


def test_an_iun_gradient_step_increases_the_minimum_centre_distance():
    x, labels = _blobs()
    feats = x.clone().requires_grad_(True)
    def min_dist(f: torch.Tensor) -> float:
        c = cluster_centers(f, labels, 3)
        d = torch.cdist(c, c) + torch.eye(3) * 1e9
        return float(d.min().detach())

    before = min_dist(feats)
    iun_loss(cluster_centers(feats, labels, 3)).backward()
    with torch.no_grad():
        after = min_dist(feats - 0.5 * feats.grad)
    assert after > before
    # only the members of the two closest clusters receive a gradient
    moved = feats.grad.abs().sum(dim=1) > 0
    assert 0 < int(moved.sum()) <= 80


def test_an_ian_gradient_step_shrinks_the_largest_intracluster_distance():
    x, labels = _blobs(1)
    feats = x.clone().requires_grad_(True)

    def max_dists(f: torch.Tensor) -> list[float]:
        f = f.detach()
        return [float(torch.cdist(f[labels == j], f[labels == j]).max()) for j in range(3)]

    before = max_dists(feats)
    ian_loss(feats, labels, 3, temperature=1.0).backward()
    with torch.no_grad():
        after = max_dists(feats - 0.01 * feats.grad)
    assert all(a < b for a, b in zip(after, before, strict=True)), (before, after)


def test_kmeans_and_the_elbow_find_three_blobs():
    x, _ = _blobs(2)
    ks = list(range(1, 8))
    values = []
    for k in ks:
        labels, centres = kmeans(x, k, seed=0)
        values.append(wcss(x, labels, centres))
    assert all(a >= b - 1e-9 for a, b in itertools.pairwise(values))
    assert elbow_k(ks, values) == 3


def test_agcs_takes_a_share_alpha_of_centres_from_the_high_variation_set():
    rng = np.random.default_rng(0)
    pts = rng.uniform(-1, 1, (3000, 3))
    pts[:, 2] = 0.0
    bump = np.linalg.norm(pts[:, :2] - 0.5, axis=1) < 0.25
    pts[bump, 2] = 0.1 * np.cos(np.linalg.norm(pts[bump, :2] - 0.5, axis=1) * 40)  # a ridged patch
    feats = np.asarray(fpfh(pts.astype(np.float32), radius_normal=0.1, radius_feature=0.2))
    var = fpfh_variation(pts, feats, k=16)
    assert var[bump].mean() > var[~bump].mean()
    idx, from_high = adaptive_group_centers(pts, 100, var, alpha=0.2, seed=0)
    high = salient_split(var, 0.2)
    assert len(np.unique(idx)) == 100 and from_high.sum() == 20
    assert high[idx[from_high]].all()
    idx0, fh0 = adaptive_group_centers(pts, 100, var, alpha=0.0, seed=0)
    assert fh0.sum() == 0 and len(np.unique(idx0)) == 100


def test_voxel_variation_finds_the_ridged_patch_on_a_dense_scan_and_matches_full_resolution_on_a_sparse_one():
    rng = np.random.default_rng(0)
    pts = rng.uniform(-1, 1, (60_000, 3))
    pts[:, 2] = 0.0
    bump = np.linalg.norm(pts[:, :2] - 0.5, axis=1) < 0.25
    pts[bump, 2] = 0.1 * np.cos(np.linalg.norm(pts[bump, :2] - 0.5, axis=1) * 40)
    var = voxel_fpfh_variation(pts, 0.02, k=16)  # ~6 points per voxel
    assert var.shape == (60_000,) and var[bump].mean() > 1.5 * var[~bump].mean()
    # a cloud with at most one point per voxel: the voxel means are the points themselves
    grid = np.stack(np.meshgrid(*[np.arange(12)] * 2, indexing="ij"), -1).reshape(-1, 2) * 0.1 + 0.05
    sparse = np.c_[grid, 0.02 * np.sin(grid[:, 0] * 9)]
    full = fpfh_variation(sparse, np.asarray(fpfh(sparse.astype(np.float32), radius_normal=0.2,
                                                  radius_feature=0.5)), k=8)
    np.testing.assert_allclose(voxel_fpfh_variation(sparse, 0.1, k=8), full, rtol=1e-4, atol=1e-4)
    assert not voxel_fpfh_variation(sparse[:2], 0.1).any()


def test_fake_anomaly_appends_a_noisy_copy_of_the_most_varied_region():
    rng = np.random.default_rng(0)
    pts = rng.uniform(-1, 1, (1000, 3))
    var = np.zeros(1000)
    var[7] = 1.0
    out, fake = fake_anomaly(pts, var, np.random.default_rng(1))
    m = int(fake.sum())
    assert 10 <= m <= 100 and out.shape == (1000 + m, 3)
    np.testing.assert_allclose(out[:1000], pts, rtol=1e-6)
    centre = pts[7]
    near = np.sort(np.linalg.norm(pts - centre, axis=1))[m - 1]
    assert np.linalg.norm(out[fake] - centre, axis=1).mean() < near + 3 * np.sqrt(0.05)
