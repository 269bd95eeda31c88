"""Feature-space kernels: greedy coreset, random projection, chunked feature kNN."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from anomaly3d.ops.coreset import feature_knn, greedy_coreset, jl_dimension, random_projection


def _line(n: int, rng: np.random.Generator) -> np.ndarray:
    t = rng.permutation(np.linspace(0.0, 1.0, n))
    return np.stack([t, 2 * t, -t], axis=1).astype(np.float32)


def test_coreset_on_a_line_keeps_the_extremes_first_from_an_end():
    rng = np.random.default_rng(0)
    x = _line(200, rng)
    order = np.argsort(x[:, 0])
    lo, hi = order[0], order[-1]
    # starting at one end, the next pick is the other end, then the middle
    idx = greedy_coreset(x, size=3, start=int(lo), projection_eps=None).numpy()
    assert idx.tolist()[:2] == [lo, hi]
    assert abs(x[idx[2], 0] - 0.5) < 0.01 and idx[2] in order[95:105]


def test_coreset_from_an_interior_start_reaches_both_extremes_next():
    x = _line(101, np.random.default_rng(1))
    start = int(np.argsort(x[:, 0])[45])  # near the middle: both ends are farther than any gap
    idx = greedy_coreset(x, size=3, start=start, projection_eps=None).numpy()
    ends = {int(np.argmin(x[:, 0])), int(np.argmax(x[:, 0]))}
    assert set(idx[1:3].tolist()) == ends


def test_coreset_respects_cap_and_fraction_and_returns_distinct_indices():
    x = np.random.default_rng(2).normal(size=(500, 8)).astype(np.float32)
    assert len(greedy_coreset(x, fraction=0.1)) == 50
    assert len(greedy_coreset(x, fraction=0.1, size=20)) == 20  # the smaller wins
    assert len(greedy_coreset(x, size=10_000)) == 500  # a cap above N keeps everything
    idx = greedy_coreset(x, fraction=0.5)
    assert len(set(idx.tolist())) == len(idx)


def test_coreset_covering_radius_beats_random_subsets():
    x = np.random.default_rng(3).normal(size=(2000, 4)).astype(np.float32)

    def covering_radius(sel: np.ndarray) -> float:
        d, _ = feature_knn(x, x[sel], 1)
        return float(d.max())

    core = covering_radius(greedy_coreset(x, size=100, projection_eps=None).numpy())
    rand = [covering_radius(np.random.default_rng(s).choice(2000, 100, replace=False)) for s in range(5)]
    assert core < min(rand)


def test_random_projection_roughly_preserves_distances():
    x = torch.from_numpy(np.random.default_rng(4).normal(size=(300, 400))).float()
    y = random_projection(x, jl_dimension(300, 0.5), seed=0)
    dx, dy = torch.pdist(x), torch.pdist(y)
    ratio = (dy / dx).numpy()
    assert 0.8 < np.median(ratio) < 1.2
    assert np.quantile(ratio, 0.99) < 1.5 and np.quantile(ratio, 0.01) > 0.5


def test_coreset_with_projection_on_high_dimensional_features_is_seeded_and_distinct():
    x = np.random.default_rng(5).normal(size=(1000, 512)).astype(np.float32)
    a = greedy_coreset(x, size=50, seed=0)
    b = greedy_coreset(x, size=50, seed=0)
    assert torch.equal(a, b) and len(set(a.tolist())) == 50


def test_feature_knn_matches_numpy_brute_force():
    rng = np.random.default_rng(6)
    bank = rng.normal(size=(700, 33)).astype(np.float32)
    q = rng.normal(size=(90, 33)).astype(np.float32)
    d, i = feature_knn(q, bank, 3)
    ref = np.sqrt(((q[:, None, :].astype(np.float64) - bank[None]) ** 2).sum(-1))
    ref_i = np.argsort(ref, axis=1)[:, :3]
    np.testing.assert_array_equal(i.numpy(), ref_i)
    np.testing.assert_allclose(d.numpy(), np.take_along_axis(ref, ref_i, 1), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("features", "message"),
    [
        (np.full((4, 3), np.nan, np.float32), "NaN/inf"),
        (np.zeros((4,), np.float32), "2-D"),
        (np.zeros((0, 3), np.float32), "empty"),
    ],
)
def test_bad_features_raise_clear_errors(features, message):
    with pytest.raises(ValueError, match=message):
        greedy_coreset(features, fraction=0.5)


def test_feature_knn_rejects_mismatched_dimensions():
    with pytest.raises(ValueError, match="4 features per row but 3 were expected"):
        feature_knn(np.zeros((2, 4)), np.zeros((5, 3)))


def test_coreset_argument_errors():
    x = np.zeros((10, 2), np.float32)
    with pytest.raises(ValueError, match="size, the fraction"):
        greedy_coreset(x)
    with pytest.raises(ValueError, match="fraction"):
        greedy_coreset(x, fraction=1.5)
    with pytest.raises(ValueError, match="start"):
        greedy_coreset(x, size=2, start=10)
