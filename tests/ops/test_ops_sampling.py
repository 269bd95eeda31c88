"""Farthest point sampling: every CPU backend against a float64 textbook loop; the fpsample start replay."""

from __future__ import annotations

import fpsample
import numpy as np
import pytest
import torch
from anomaly3d import ops
from anomaly3d.ops import _fpsample
from ops_reference import as_np, assert_valid_fps, fps_reference

BACKENDS = ["fpsample", "torch"]


@pytest.fixture
def rng():
    return np.random.default_rng(3)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_fps_matches_reference(backend, kind, rng):
    p = rng.standard_normal((3000, 3)).astype(np.float32) * [3, 1, 0.5]
    pin = torch.from_numpy(p) if kind == "torch" else p
    idx = ops.fps(pin, 200, backend=backend)
    assert isinstance(idx, torch.Tensor if kind == "torch" else np.ndarray) and as_np(idx).dtype == np.int64
    np.testing.assert_array_equal(as_np(idx), fps_reference(p, 200, 0))


@pytest.mark.parametrize("backend", BACKENDS)
def test_fps_large_cloud_uses_bucket_sampler(backend, rng):
    """20k points: the KD-line tree is several levels deep, so the start replay is exercised for real."""
    p = rng.random((20000, 3)).astype(np.float32)
    assert _fpsample.kdline_height(len(p)) >= 6
    idx = ops.fps(p, 300, start=12345, backend=backend)
    assert idx[0] == 12345
    np.testing.assert_array_equal(idx, fps_reference(p, 300, 12345))


@pytest.mark.parametrize("backend", BACKENDS)
def test_fps_with_ties_is_still_farthest_point_sampling(backend):
    g = np.stack(np.meshgrid(*[np.arange(7.0)] * 3, indexing="ij"), axis=-1).reshape(-1, 3)
    idx = ops.fps(g, 60, start=5, backend=backend)
    assert_valid_fps(g, idx, 5)


def test_random_start_is_seeded_and_backend_independent(rng):
    p = rng.standard_normal((2000, 3))
    a = ops.fps(p, 50, start="random", seed=11)
    b = ops.fps(torch.from_numpy(p), 50, start="random", seed=11, backend="torch")
    np.testing.assert_array_equal(a, b.numpy())
    assert a[0] == np.random.default_rng(11).integers(2000)
    starts = {int(ops.fps(p, 2, start="random", seed=s)[0]) for s in range(20)}
    assert len(starts) > 10


def test_fps_all_points_is_a_permutation(rng):
    p = rng.random((64, 3))
    for backend in BACKENDS:
        idx = ops.fps(p, 64, backend=backend)
        np.testing.assert_array_equal(np.sort(idx), np.arange(64))


@pytest.mark.parametrize("case", ["gaussian", "duplicates", "planar", "offset", "tiny"])
def test_kdline_slot_replays_fpsample_tree(case, rng):
    """The replayed slot makes fpsample's bucket sampler start exactly at the requested point."""
    n = {"tiny": 9}.get(case, 5000)
    p = {
        "gaussian": lambda: rng.standard_normal((n, 3)),
        "duplicates": lambda: rng.integers(0, 4, (n, 3)).astype(float),
        "planar": lambda: np.c_[rng.random((n, 2)), np.zeros(n)],
        "offset": lambda: rng.random((n, 3)) * [1000, 1, 1e-3] + [5e4, 0, 0],
        "tiny": lambda: rng.random((n, 3)),
    }[case]()
    p = np.ascontiguousarray(p, dtype=np.float32)
    for height in {3, _fpsample.kdline_height(n)}:
        if 2**height > n:
            continue
        for target in rng.integers(0, n, 8):
            slot = _fpsample.kdline_slot(p, int(target), height)
            assert fpsample.bucket_fps_kdline_sampling(p, 2, height, start_idx=slot)[0] == target


def test_wrong_replay_falls_back_to_exact_sampler(monkeypatch, rng):
    p = rng.random((3000, 3)).astype(np.float32)
    monkeypatch.setattr(_fpsample, "kdline_slot", lambda pts, target, height: (target + 1) % len(pts))
    monkeypatch.setattr(_fpsample, "_warned", False)
    with pytest.warns(RuntimeWarning, match="vanilla"):
        idx = ops.fps(p, 40, start=7)
    np.testing.assert_array_equal(idx, fps_reference(p, 40, 7))
