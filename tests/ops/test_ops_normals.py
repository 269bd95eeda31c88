"""PCA normals (orientation), local PCA and IMRNet curvature against analytic shapes and numpy references."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from anomaly3d import ops
from ops_reference import as_np, pairwise, sphere


@pytest.fixture
def rng():
    return np.random.default_rng(11)


def test_sphere_normals_point_outwards(rng):
    center = np.array([1.0, -2.0, 3.0])
    p = sphere(2000, rng, radius=2.0, center=center).astype(np.float32)
    radial = (p - center) / np.linalg.norm(p - center, axis=1, keepdims=True)
    for orient in ("outward", "consistent"):
        n = ops.estimate_normals(p, k=16, orient=orient)
        assert n.dtype == np.float32 and n.shape == p.shape
        np.testing.assert_allclose(np.linalg.norm(n, axis=1), 1.0, atol=1e-5)
        assert (np.sum(n * radial, axis=1) > 0.98).all(), orient


def test_viewpoint_orientation_faces_the_sensor(rng):
    p = sphere(1500, rng)
    p = p[p[:, 2] > 0.2]  # the cap a sensor above the sphere sees
    n = ops.estimate_normals(torch.from_numpy(p), k=12, orient="viewpoint", viewpoint=[0.0, 0.0, 5.0])
    assert isinstance(n, torch.Tensor)
    toward = np.sum(n.numpy() * (np.array([0, 0, 5.0]) - p), axis=1)
    assert (toward > 0).all()
    n_in = ops.orient_normals(p, n.numpy(), "viewpoint", viewpoint=np.zeros(3))  # from inside: flipped
    assert (np.sum(n_in * (0 - p), axis=1) > 0).all()


def test_outward_fails_on_torus_inner_ring_consistent_does_not(rng):
    """The documented limit of 'outward': surfaces facing the centroid (the hole of a torus) get flipped."""
    u, v = rng.random(6000) * 2 * np.pi, rng.random(6000) * 2 * np.pi
    big, small = 2.0, 0.6
    ring = np.stack([np.cos(u), np.sin(u), np.zeros_like(u)], 1)
    true_n = ring * np.cos(v)[:, None] + np.array([0, 0, 1.0]) * np.sin(v)[:, None]
    p = ring * big + true_n * small
    inner = np.cos(v) < -0.5
    outward = np.sum(ops.estimate_normals(p, k=12, orient="outward") * true_n, axis=1)
    consistent = np.sum(ops.estimate_normals(p, k=12, orient="consistent") * true_n, axis=1)
    assert (outward[inner] < 0).mean() > 0.9
    assert (consistent > 0.9).mean() > 0.99


def test_local_pca_matches_numpy(rng):
    p = rng.standard_normal((300, 3))
    vals, vecs = ops.local_pca(p, k=10)
    nbr = np.argsort(pairwise(p, p), axis=1, kind="stable")[:, :10]
    for i in range(0, 300, 7):
        q = p[nbr[i]] - p[nbr[i]].mean(0)
        w, v = np.linalg.eigh(q.T @ q / 10)
        np.testing.assert_allclose(vals[i], w, atol=1e-10)
        np.testing.assert_allclose(
            np.abs(np.sum(vecs[i] * v, axis=0)), 1.0, atol=1e-6
        )  # same axes up to sign


def test_curvature_imrnet_eq2(rng):
    plane = np.c_[rng.random((800, 2)), np.zeros(800)]
    np.testing.assert_allclose(ops.curvature(plane, k=16), 0.0, atol=1e-9)
    p = sphere(3000, rng)
    k_imr = ops.curvature(p, k=20)
    k_sv = ops.curvature(p, k=20, variant="surface_variation")
    vals, _ = ops.local_pca(p, k=20)
    np.testing.assert_allclose(k_imr, vals[:, 0] / (vals[:, 0] + vals[:, 1] + 1e-12), rtol=1e-8)
    np.testing.assert_allclose(k_sv, vals[:, 0] / vals.sum(1), rtol=1e-8)
    assert (k_imr > k_sv).all() and (k_imr <= 0.5).all() and k_imr.min() > 0
    # a more curved (smaller) sphere at the same sampling density scores higher
    small = sphere(3000 // 4, rng, radius=0.5)
    assert np.median(ops.curvature(small, k=20)) > 1.5 * np.median(k_imr)


def test_normals_are_unoriented_planes_without_orient(rng):
    p = np.c_[rng.random((400, 2)), 0.01 * rng.random(400)]
    n = as_np(ops.estimate_normals(torch.from_numpy(p), k=10))
    assert (np.abs(n[:, 2]) > 0.95).mean() > 0.95


def test_closed_form_eigen_matches_eigh_including_degenerate_cases(rng):
    from anomaly3d.ops._eigen3 import sym3_eigvals, sym3_smallest_eigvec

    x = rng.standard_normal((500, 3, 3))
    generic = x @ x.transpose(0, 2, 1)
    q = np.linalg.qr(rng.standard_normal((6, 3, 3)))[0]
    spectra = [[0, 0, 0], [1, 1, 1], [0, 0, 2], [0, 1, 1], [0, 0, 1e-12], [1e-9, 1, 1 + 1e-9]]
    special = np.stack([qi @ np.diag(s) @ qi.T for qi, s in zip(q, spectra)])
    cov = torch.from_numpy(np.concatenate([generic, special, np.zeros((1, 3, 3))]))
    want_vals, want_vecs = torch.linalg.eigh(cov)
    vals = sym3_eigvals(cov)
    scale = want_vals.abs().amax(dim=1, keepdim=True).clamp_min(1e-300)
    err = (vals - want_vals).abs() / scale
    assert err[:, 0].max() < 1e-12  # the smallest eigenvalue (normals, curvature) to full precision
    assert err.max() < 1e-7  # a nearly double root keeps ~sqrt(eps) of the trigonometric solution
    vec = sym3_smallest_eigvec(cov, vals)
    np.testing.assert_allclose(vec.norm(dim=1).numpy(), 1.0, atol=1e-9)
    # an eigenvector of the smallest eigenvalue: A v = l0 v (for repeated l0, any vector of its eigenspace)
    residual = (cov @ vec.unsqueeze(-1)).squeeze(-1) - want_vals[:, :1] * vec
    assert (residual.norm(dim=1) / scale.squeeze(1)).max() < 1e-6
    np.testing.assert_allclose(np.abs((vec[:500] * want_vecs[:500, :, 0]).sum(1).numpy()), 1.0, atol=1e-6)


@pytest.mark.parametrize("backend", ["open3d", "scipy", "torch"])
def test_pca_backends_agree(backend, rng):
    # small and far from the origin: one-pass covariance formulas lose the small eigenvalues here
    p = (sphere(600, rng) * [1.0, 0.5, 0.3] + rng.normal(scale=0.01, size=(600, 3))) * 0.05 + 1e4
    vals, _ = ops.local_pca(p, k=12, backend=backend)
    want, _ = ops.local_pca(p, k=12, backend="scipy")
    np.testing.assert_allclose(vals, want, rtol=1e-7, atol=1e-12)
    n = ops.estimate_normals(p, k=12, orient="outward", backend=backend)
    np.testing.assert_allclose(n, ops.estimate_normals(p, k=12, orient="outward"), atol=1e-6)
    np.testing.assert_allclose(ops.curvature(p, k=12, backend=backend), ops.curvature(p, k=12), rtol=1e-6)
