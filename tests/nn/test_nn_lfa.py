"""3D-ST's local-feature network (anomaly3d.nn.lfa): invariances, eq. 1 values, eq. 2 receptive fields checked
against autograd, shapes and input validation. CPU, small clouds, seeded."""

from __future__ import annotations

import math
import time

import pytest
import torch
from anomaly3d.nn import (
    LFA,
    LocalGeometricNet,
    ReceptiveFieldDecoder,
    ResidualBlock,
    SharedMLP,
    geometric_features,
    knn_graph,
    receptive_field,
    receptive_fields,
)


def _cloud(n: int, seed: int = 0, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, generator=g, dtype=dtype)


def _rotation(dtype: torch.dtype = torch.float64) -> torch.Tensor:
    a, b = 0.7, -1.1
    rz = torch.tensor([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]], dtype=dtype)
    rx = torch.tensor([[1, 0, 0], [0, math.cos(b), -math.sin(b)], [0, math.sin(b), math.cos(b)]], dtype=dtype)
    return rz @ rx


def _eq2_reference(neighbors: torch.Tensor, p: int, hops: int) -> set[int]:
    """Eq. 2 written literally: knn^0 = {p}, knn^l = union of knn(q) over q in knn^{l-1}, R = union over l."""
    nbrs = neighbors.tolist()
    level, field = {p}, {p}
    for _ in range(hops):
        level = {j for q in level for j in nbrs[q]}
        field |= level
    return field


# ---------------------------------------------------------------------------------------------------------
# 1, 2: invariances


def test_translation_invariant_but_not_rotation_invariant():
    torch.manual_seed(0)
    net = LocalGeometricNet(d=32, n_blocks=2, k=8).double()
    pts = _cloud(400)
    shift = torch.tensor([100.0, -50.0, 7.0], dtype=torch.float64)
    f = net(pts)
    assert f.shape == (400, 32) and f.dtype == torch.float64
    assert torch.equal(knn_graph(pts, 8), knn_graph(pts + shift, 8))
    torch.testing.assert_close(net(pts + shift), f, rtol=0, atol=1e-9)
    rotated = pts @ _rotation().T
    assert torch.equal(knn_graph(rotated, 8), knn_graph(pts, 8))  # same graph: only the geometry rotates
    assert (net(rotated) - f).abs().max() > 1e-2 * f.abs().max()


def test_translation_invariant_in_float32():
    torch.manual_seed(1)
    net = LocalGeometricNet(d=32, n_blocks=2, k=8)
    pts = _cloud(400, dtype=torch.float32)
    nb = knn_graph(pts, 8)
    f = net(pts, nb)
    f_shift = net(pts + torch.tensor([100.0, -50.0, 7.0]), nb)
    assert (f_shift - f).abs().max() <= 1e-3 * f.abs().max()


def test_absolute_coordinates_variant_is_not_translation_invariant():
    torch.manual_seed(2)
    net = LocalGeometricNet(d=32, n_blocks=2, k=8, absolute_coordinates=True).double()
    assert net.blocks[0].lfa1.geo_mlp.linear.in_features == 10
    pts = _cloud(300)
    nb = knn_graph(pts, 8)
    f = net(pts, nb)
    f_shift = net(pts + torch.tensor([100.0, -50.0, 7.0], dtype=torch.float64), nb)
    assert (f_shift - f).abs().max() > 1e-2 * f.abs().max()


# ---------------------------------------------------------------------------------------------------------
# 3: eq. 2 is exactly the set of points a descriptor depends on


@pytest.mark.parametrize("n_blocks", [1, 2])
def test_receptive_field_matches_autograd_dependence(n_blocks):
    torch.manual_seed(3 + n_blocks)
    net = LocalGeometricNet(d=16, n_blocks=n_blocks, k=4).double()
    assert net.n_lfa == 2 * n_blocks
    pts = _cloud(150, seed=n_blocks).requires_grad_(True)
    nb = knn_graph(pts, 4)  # fixed graph: only the geometry carries gradients
    f = net(pts, nb)
    sizes = []
    for p in (0, 17, 42, 99, 149):
        (grad,) = torch.autograd.grad(f[p].sum(), pts, retain_graph=True)
        depends = set(torch.nonzero(grad.abs().sum(dim=1) > 0).flatten().tolist())
        field = receptive_field(nb, p, net.n_lfa)
        assert depends == set(field.tolist()) == _eq2_reference(nb, p, net.n_lfa)
        sizes.append(len(field))
    assert all(4 < s < 150 for s in sizes), sizes  # non-trivial: more than one hop, not the whole cloud


# ---------------------------------------------------------------------------------------------------------
# 4: receptive_fields == receptive_field, shapes, hops = 0


@pytest.mark.parametrize("self_loops", [True, False])
def test_receptive_fields_agree_with_single_and_reference(self_loops):
    pts = _cloud(300, seed=7)
    if self_loops:
        nb = knn_graph(pts, 6)
    else:  # any directed graph (no self loops): eq. 2's union must still be right
        nb = torch.randint(0, 300, (300, 3), generator=torch.Generator().manual_seed(7))
    idx = torch.tensor([0, 5, 5, 123, 299])
    for hops in range(5):
        many = receptive_fields(nb, idx, hops)
        assert len(many) == len(idx)
        for i, r in zip(idx.tolist(), many):
            one = receptive_field(nb, i, hops)
            assert r.dtype == one.dtype == torch.int64 and r.ndim == 1
            assert torch.equal(r, one)
            assert torch.equal(r, torch.unique(r))  # sorted, unique
            assert set(r.tolist()) == _eq2_reference(nb, i, hops)
    assert receptive_field(nb, 42, 0).tolist() == [42]
    assert [r.tolist() for r in receptive_fields(nb, torch.tensor([3, 8]), 0)] == [[3], [8]]
    assert receptive_fields(nb, torch.tensor([], dtype=torch.int64), 2) == []


def test_receptive_fields_fast_at_paper_size():
    pts = _cloud(64000, seed=8, dtype=torch.float32)
    nb = knn_graph(pts, 32)
    idx = torch.randint(0, 64000, (16,), generator=torch.Generator().manual_seed(8))
    start = time.perf_counter()
    fields = receptive_fields(nb, idx, 8)
    elapsed = time.perf_counter() - start
    assert elapsed < 10.0, f"receptive_fields took {elapsed:.1f} s for N=64000, k=32, 16 indices, L=8"
    assert all(32 < len(r) < 64000 for r in fields)
    assert torch.equal(fields[0], receptive_field(nb, int(idx[0]), 8))


# ---------------------------------------------------------------------------------------------------------
# 5: shapes, kNN graph, eq. 1 values


def test_decoder_and_block_shapes():
    torch.manual_seed(9)
    dec = ReceptiveFieldDecoder(d=64, m=1024, hidden=128)
    assert dec(torch.randn(16, 64)).shape == (16, 1024, 3)
    assert [m.negative_slope for m in dec.mlp if isinstance(m, torch.nn.LeakyReLU)] == [0.05, 0.05]
    pts = _cloud(50, dtype=torch.float32)
    nb = knn_graph(pts, 5)
    geo = geometric_features(pts, nb)
    assert LFA(8)(torch.randn(50, 8), geo, nb).shape == (50, 16)
    assert ResidualBlock(16)(torch.randn(50, 16), geo, nb).shape == (50, 16)
    assert SharedMLP(3, 7)(torch.randn(50, 5, 3)).shape == (50, 5, 7)
    net = LocalGeometricNet()  # paper defaults: d = 64, 4 blocks, k = 32, L = 8
    assert (net.d, net.k, len(net.blocks), net.n_lfa) == (64, 32, 4, 8)
    out = LocalGeometricNet(d=16, n_blocks=1, k=5)(pts)
    out.square().mean().backward()  # trains: gradients reach every parameter
    assert out.shape == (50, 16)


def test_knn_graph_self_first_and_nearest():
    pts = _cloud(200, seed=10, dtype=torch.float32)
    nb = knn_graph(pts, 7)
    assert nb.shape == (200, 7) and nb.dtype == torch.int64
    assert torch.equal(nb[:, 0], torch.arange(200))
    brute = torch.cdist(pts, pts).topk(7, largest=False).indices
    assert all(set(a) == set(b) for a, b in zip(nb.tolist(), brute.tolist()))
    assert torch.equal(knn_graph(pts, 1), torch.arange(200).unsqueeze(1))
    # duplicated points tie at distance 0: each row still starts with its own index
    dup = torch.cat([pts[:20], pts[:20], pts[:20]])
    nb = knn_graph(dup, 2)
    assert torch.equal(nb[:, 0], torch.arange(60))
    assert (nb[:, 1] != nb[:, 0]).all()


def test_geometric_features_hand_example():
    pts = torch.tensor([[0.0, 0.0, 0.0], [3.0, 4.0, 0.0], [0.0, 0.0, 1.0]])
    nb = torch.tensor([[0, 1], [1, 2], [2, 0]])
    g = geometric_features(pts, nb)
    assert g.shape == (3, 2, 4)
    torch.testing.assert_close(g[0, 0], torch.zeros(4))  # self edge
    torch.testing.assert_close(g[0, 1], torch.tensor([-3.0, -4.0, 0.0, 5.0]))
    torch.testing.assert_close(g[1, 1], torch.tensor([3.0, 4.0, -1.0, math.sqrt(26.0)]))
    torch.testing.assert_close(g[2, 1], torch.tensor([0.0, 0.0, 1.0, 1.0]))
    a = geometric_features(pts, nb, absolute=True)
    assert a.shape == (3, 2, 10)
    torch.testing.assert_close(a[1, 1], torch.tensor([3.0, 4.0, 0.0, 0.0, 0.0, 1.0, 3.0, 4.0, -1.0, 26**0.5]))


# ---------------------------------------------------------------------------------------------------------
# 6: bad inputs


def test_bad_inputs_raise_value_error():
    pts = _cloud(20, dtype=torch.float32)
    nb = knn_graph(pts, 4)
    nan = pts.clone()
    nan[3, 1] = float("nan")
    with pytest.raises(ValueError, match=r"shape \(N, 3\)"):
        knn_graph(torch.rand(20, 2), 4)
    with pytest.raises(ValueError, match="no batch dimension"):
        LocalGeometricNet(d=8, n_blocks=1, k=4)(torch.rand(2, 20, 3))
    with pytest.raises(ValueError, match="NaN/inf"):
        knn_graph(nan, 4)
    with pytest.raises(ValueError, match="float tensor"):
        knn_graph(torch.ones(20, 3, dtype=torch.int64), 4)
    with pytest.raises(ValueError, match="larger than the cloud"):
        knn_graph(pts, 21)
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        knn_graph(pts, 0)
    with pytest.raises(ValueError, match="larger than the cloud"):
        LocalGeometricNet(d=8, n_blocks=1, k=32)(pts)
    with pytest.raises(ValueError, match="rows but the cloud has"):
        geometric_features(pts, nb[:10])
    with pytest.raises(ValueError, match="outside"):
        geometric_features(pts, nb + 1)
    with pytest.raises(ValueError, match="int64"):
        geometric_features(pts, nb.int())
    with pytest.raises(ValueError, match="multiple of 4"):
        LocalGeometricNet(d=30)
    with pytest.raises(ValueError, match=r"shape \(B, 64\)"):
        ReceptiveFieldDecoder(d=64)(torch.randn(3, 32))
    with pytest.raises(ValueError, match="out of range"):
        receptive_field(nb, 20, 2)
    with pytest.raises(ValueError, match="hops must be an integer >= 0"):
        receptive_field(nb, 0, -1)
    with pytest.raises(ValueError, match=r"in \[0, 20\)"):
        receptive_fields(nb, torch.tensor([0, 25]), 2)
    with pytest.raises(ValueError, match="1-D integer"):
        receptive_fields(nb, torch.tensor([0.5]), 2)
