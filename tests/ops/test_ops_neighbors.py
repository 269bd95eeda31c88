"""kNN and radius queries: every CPU-testable backend against a float64 brute-force reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from anomaly3d import ops
from anomaly3d.ops import _backend
from ops_reference import as_np, assert_valid_knn, pairwise, radius_pairs

BACKENDS = ["scipy", "torch"]


@pytest.fixture
def rng():
    return np.random.default_rng(7)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["numpy", "torch"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_knn_matches_bruteforce(backend, kind, dtype, rng):
    q = rng.standard_normal((300, 3)).astype(dtype) * 5 + 100  # far from the origin: tests the centring
    r = rng.standard_normal((500, 3)).astype(dtype) * 5 + 100
    qi, ri = (torch.from_numpy(q), torch.from_numpy(r)) if kind == "torch" else (q, r)
    dist, idx = ops.knn(qi, ri, 7, backend=backend)
    assert isinstance(dist, torch.Tensor if kind == "torch" else np.ndarray)
    assert as_np(dist).dtype == dtype and as_np(idx).dtype == np.int64
    atol = 1e-3 if dtype == np.float32 else 1e-9
    assert_valid_knn(dist, idx, q, r, 7, atol=atol)


@pytest.mark.parametrize("backend", BACKENDS)
def test_knn_self_query_and_exclude_self(backend, rng):
    p = rng.random((400, 3))
    dist, idx = ops.knn(p, k=5, backend=backend)
    assert_valid_knn(dist, idx, p, p, 5, atol=1e-9)
    np.testing.assert_array_equal(idx[:, 0], np.arange(400))  # own point first, at distance 0
    dist, idx = ops.knn(p, k=5, exclude_self=True, backend=backend)
    assert_valid_knn(dist, idx, p, p, 5, exclude_self=True, atol=1e-9)
    assert not (idx == np.arange(400)[:, None]).any()


@pytest.mark.parametrize("backend", BACKENDS)
def test_knn_ties_on_a_grid(backend):
    """A regular grid has many equal distances: any tied choice is accepted, nothing closer may be missed."""
    g = np.stack(np.meshgrid(*[np.arange(6.0)] * 3, indexing="ij"), axis=-1).reshape(-1, 3)
    dist, idx = ops.knn(g, k=10, exclude_self=True, backend=backend)
    assert_valid_knn(dist, idx, g, g, 10, exclude_self=True, atol=1e-9)
    np.testing.assert_allclose(as_np(dist)[:, 0], 1.0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_exclude_self_keeps_duplicates(backend):
    p = np.array([[0.0, 0, 0], [0, 0, 0], [1, 0, 0], [3, 0, 0]])
    dist, idx = ops.knn(p, k=2, exclude_self=True, backend=backend)
    np.testing.assert_array_equal(idx[:2, 0], [1, 0])  # each duplicate finds the other, at distance 0
    np.testing.assert_allclose(dist[:2, 0], 0.0)
    assert not (idx == np.arange(4)[:, None]).any()


def test_torch_backend_chunks_give_the_same_answer(monkeypatch, rng):
    q, r = rng.standard_normal((257, 3)), rng.standard_normal((300, 3))
    full = ops.knn(q, r, 6, backend="torch")
    monkeypatch.setitem(_backend.CHUNK_ELEMENTS, "cpu", 1000)  # 3 rows per chunk
    chunked = ops.knn(q, r, 6, backend="torch")
    np.testing.assert_array_equal(full[1], chunked[1])
    for backend in BACKENDS:  # the SciPy path chunks its bounded kNN queries by the same budget
        assert_radius_ok(ops.radius_query(q, r, 0.5, backend=backend), q, r, 0.5)
        res = ops.radius_query(q, None, 0.5, max_neighbors=5, exclude_self=True, backend=backend)
        assert_radius_ok(res, q, q, 0.5, max_neighbors=5, exclude_self=True)


def test_outputs_follow_the_input_kind():
    p = np.arange(30, dtype=np.int32).reshape(10, 3)  # integer input: float32 results
    dist, idx = ops.knn(p, k=2)
    assert dist.dtype == np.float32 and idx.dtype == np.int64
    t = torch.tensor(p, dtype=torch.float64)
    dist, idx = ops.knn(t, k=2, backend="scipy")
    assert dist.dtype == torch.float64 and idx.dtype == torch.int64 and dist.device == t.device


def assert_radius_ok(res, q, r, radius, *, exclude_self=False, max_neighbors=None):
    q, r = as_np(q), as_np(r)
    want, d = radius_pairs(q, r, radius, exclude_self=exclude_self)
    off, ind, dis = as_np(res.offsets), as_np(res.indices), as_np(res.distances)
    assert off[0] == 0 and off[-1] == len(ind) == len(dis) and len(off) == len(q) + 1
    near_boundary = {(i, j) for i, j in zip(*np.nonzero(np.abs(d - radius) < 1e-6))}
    got = set()
    for i in range(len(q)):
        cols, ds = ind[off[i] : off[i + 1]], dis[off[i] : off[i + 1]]
        assert np.all(np.diff(ds) >= -1e-9), "row not sorted by distance"
        np.testing.assert_allclose(ds, d[i, cols], atol=1e-5)
        if max_neighbors is not None:
            assert len(cols) == min(max_neighbors, sum(1 for (a, _) in want if a == i))
            row_d = np.sort(d[i][d[i] <= radius])[: len(cols)]
            np.testing.assert_allclose(ds, row_d, atol=1e-5)  # the nearest ones are kept
        got |= {(i, int(c)) for c in cols}
    if max_neighbors is None:
        assert got - near_boundary == want - near_boundary
    else:
        assert got <= want | near_boundary


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_radius_query_matches_bruteforce(backend, kind, rng):
    q, r = rng.random((200, 3)), rng.random((300, 3))
    qi, ri = (torch.from_numpy(q), torch.from_numpy(r)) if kind == "torch" else (q, r)
    res = ops.radius_query(qi, ri, 0.15, backend=backend)
    assert isinstance(res.indices, torch.Tensor if kind == "torch" else np.ndarray)
    assert_radius_ok(res, q, r, 0.15)
    res = ops.radius_query(qi, None, 0.15, exclude_self=True, backend=backend)
    assert_radius_ok(res, q, q, 0.15, exclude_self=True)
    res = ops.radius_query(qi, ri, 0.15, max_neighbors=4, backend=backend)
    assert_radius_ok(res, q, r, 0.15, max_neighbors=4)
    res = ops.radius_query(qi, None, 0.15, max_neighbors=3, exclude_self=True, backend=backend)
    assert_radius_ok(res, q, q, 0.15, exclude_self=True, max_neighbors=3)


def test_radius_is_inclusive_and_padded_form():
    p = np.array([[0.0, 0, 0], [1, 0, 0], [2.5, 0, 0], [0, 0.5, 0]])
    for backend in BACKENDS:
        res = ops.radius_query(p, None, 1.0, exclude_self=True, backend=backend)  # |p0 - p1| == radius
        np.testing.assert_array_equal(res.counts, [2, 1, 0, 1])
        d, i = res.to_padded()
        np.testing.assert_array_equal(i, [[3, 1], [0, -1], [-1, -1], [0, -1]])
        assert np.isinf(d[1:, 1]).all() and d[0, 0] == 0.5 and d[0, 1] == 1.0
        d1, i1 = res.to_padded(1)
        np.testing.assert_array_equal(i1[:, 0], [3, 0, -1, 0])
        np.testing.assert_array_equal(d1[:, 0], [0.5, 1.0, np.inf, 0.5])
        d2, i2 = res.row(0)
        np.testing.assert_array_equal(i2, [3, 1])
        np.testing.assert_array_equal(d2, [0.5, 1.0])


def test_radius_graph_is_symmetric_without_self_loops(rng):
    p = rng.random((150, 3))
    edges = ops.radius_graph(p, 0.2)
    assert edges.shape[1] == 2 and (edges[:, 0] != edges[:, 1]).all()
    assert set(map(tuple, edges.tolist())) == {(j, i) for i, j in edges.tolist()}
    want, _ = radius_pairs(p, p, 0.2, exclude_self=True)
    assert set(map(tuple, edges.tolist())) == want
    loops = ops.radius_graph(torch.from_numpy(p), 0.2, loop=True)
    assert isinstance(loops, torch.Tensor) and len(loops) == len(edges) + 150


def test_knn_large_cloud_bounded_chunks(rng):
    """The torch backend on a cloud whose full distance matrix would not fit its chunk budget."""
    p = rng.standard_normal((6000, 3)).astype(np.float32)
    d_s, i_s = ops.knn(p, k=4, backend="scipy")
    d_t, i_t = ops.knn(p, k=4, backend="torch")
    assert 6000 * 6000 > _backend.CHUNK_ELEMENTS["cpu"]
    np.testing.assert_allclose(d_s, d_t, atol=1e-5)
    agree = (i_s == i_t).mean()
    assert agree > 0.999  # differences only at near-ties of float32 rounding
    sub = np.flatnonzero((i_s != i_t).any(1))
    d = pairwise(p[sub], p)
    np.testing.assert_allclose(np.take_along_axis(d, i_t[sub], 1), d_s[sub], atol=1e-5)
