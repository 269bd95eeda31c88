"""Sparse voxel convolutions and the MinkUNet-style U-Net (anomaly3d.nn.sparse_unet): exactness against dense
torch convolutions on small grids (float64), gradients, batch independence, translation equivariance,
quantization round trip, coordinate hashing limits, CUDA parity."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from anomaly3d.nn.sparse_unet import (
    COORD_MAX,
    COORD_MIN,
    MAX_BATCH,
    CoordinateCache,
    SparseConv3d,
    SparseConvTranspose3d,
    SparseTensor,
    SparseUNet,
    SparseUNetConfig,
    kernel_offsets,
    minkunet34c,
    pack_coords,
    sparse_cat,
    sparse_conv,
    sparse_quantize,
    unpack_keys,
    voxel_to_point,
)

ALGORITHMS = ("gather", "im2col")
DT = torch.float64


def _grid(b: int = 2, g: int = 8, p: float = 0.3, seed: int = 0) -> torch.Tensor:
    """Occupied cells ``(M, 4)`` of ``b`` random ``g^3`` grids (each cell occupied with probability ``p``)."""
    mask = torch.rand(b, g, g, g, generator=torch.Generator().manual_seed(seed)) < p
    return mask.nonzero().to(torch.int64)


def _feats(m: int, c: int, seed: int = 1) -> torch.Tensor:
    return torch.randn(m, c, dtype=DT, generator=torch.Generator().manual_seed(seed))


def _dense(coords: torch.Tensor, feats: torch.Tensor, b: int, g: int, scale: int = 1) -> torch.Tensor:
    """Scatter sparse rows into a dense ``(B, C, g, g, g)`` grid at ``coords / scale``."""
    out = torch.zeros(b, feats.shape[1], g, g, g, dtype=feats.dtype)
    c = coords[:, 1:] // scale
    out[coords[:, 0], :, c[:, 0], c[:, 1], c[:, 2]] = feats
    return out


def _at(dense: torch.Tensor, coords: torch.Tensor, scale: int = 1) -> torch.Tensor:
    c = coords[:, 1:] // scale
    return dense[coords[:, 0], :, c[:, 0], c[:, 1], c[:, 2]]


def _conv_weight(w: torch.Tensor, k: int) -> torch.Tensor:
    """Ours ``(K, C_in, C_out)`` (x fastest) -> ``conv3d``'s ``(C_out, C_in, kx, ky, kz)``."""
    return w.reshape(k, k, k, w.shape[1], w.shape[2]).permute(4, 3, 2, 1, 0)


def _convT_weight(w: torch.Tensor, k: int) -> torch.Tensor:
    """Ours ``(K, C_in, C_out)`` -> ``conv_transpose3d``'s ``(C_in, C_out, kx, ky, kz)``."""
    return w.reshape(k, k, k, w.shape[1], w.shape[2]).permute(3, 4, 2, 1, 0)


def _conv(cin: int, cout: int, seed: int = 2, cls: type = SparseConv3d, **kw) -> SparseConv3d:
    torch.manual_seed(seed)
    return cls(cin, cout, **kw).to(DT)


# ------------------------------------------------------------------------------------------------- hashing


def test_pack_roundtrip_order_and_budget() -> None:
    c = torch.tensor(
        [[0, -5, 3, 2], [0, -5, 3, 3], [1, COORD_MIN, 0, 0], [MAX_BATCH, COORD_MAX, COORD_MAX, 7]]
    )
    keys = pack_coords(c)
    assert torch.equal(unpack_keys(keys), c)
    assert (keys >= 0).all() and (keys[1:] > keys[:-1]).all()  # lexicographic order is key order
    with pytest.raises(ValueError, match="16-bit budget"):
        pack_coords(torch.tensor([[0, COORD_MAX + 1, 0, 0]]))
    with pytest.raises(ValueError, match="batch indices"):
        pack_coords(torch.tensor([[MAX_BATCH + 1, 0, 0, 0]]))
    with pytest.raises(ValueError, match="integers"):
        pack_coords(torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"\(M, 4\)"):
        pack_coords(torch.zeros(2, 3, dtype=torch.int64))


def test_sparse_tensor_validation() -> None:
    c = _grid(1, 4, 0.5)
    with pytest.raises(ValueError, match="duplicate"):
        SparseTensor(_feats(len(c) + 1, 2), torch.cat([c, c[:1]]))
    with pytest.raises(ValueError, match="rows"):
        SparseTensor(_feats(len(c) + 1, 2), c)
    with pytest.raises(ValueError, match="multiples of 2"):
        SparseTensor(_feats(2, 2), torch.tensor([[0, 1, 0, 0], [0, 2, 0, 0]]), stride=2)
    x = SparseTensor(_feats(len(c), 2), c)
    with pytest.raises(ValueError, match="input channels"):
        SparseConv3d(3, 4)(x)
    with pytest.raises(ValueError, match="encoder"):
        SparseConvTranspose3d(2, 4)(SparseTensor(_feats(2, 2), torch.tensor([[0, 0, 0, 0], [0, 2, 0, 0]]), 2))


def test_kernel_offsets_layout() -> None:
    o3 = kernel_offsets(3)
    assert o3.shape == (27, 3) and torch.equal(o3[13], torch.zeros(3, dtype=torch.int64))
    assert torch.equal(o3[1], torch.tensor([0, -1, -1]))  # x fastest, centred
    o2 = kernel_offsets(2)
    assert torch.equal(o2[:3], torch.tensor([[0, 0, 0], [1, 0, 0], [0, 1, 0]]))  # even: anchored at 0


# ------------------------------------------------------------------------------------- exact vs dense conv


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_submanifold_conv_equals_dense_conv3d(algorithm: str) -> None:
    coords = _grid(2, 8, 0.3)
    x = SparseTensor(_feats(len(coords), 4), coords)
    conv = _conv(4, 5, kernel_size=3, bias=True, algorithm=algorithm)
    y = conv(x)
    assert y.stride == 1 and torch.equal(y.coords, coords)
    dense = F.conv3d(_dense(coords, x.feats, 2, 8), _conv_weight(conv.weight, 3), conv.bias, padding=1)
    torch.testing.assert_close(y.feats, _at(dense, coords), rtol=0, atol=1e-10)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_submanifold_conv_at_stride_2_and_dilation_equals_dense(algorithm: str) -> None:
    coords = _grid(2, 8, 0.3, seed=3)
    x = SparseTensor(_feats(len(coords), 3), coords)
    coarse = _conv(3, 3, kernel_size=2, stride=2)(x)  # a stride-2 tensor
    coarse = coarse.replace(_feats(len(coarse), 3, seed=4))
    conv = _conv(3, 2, kernel_size=3, dilation=2, algorithm=algorithm)
    y = conv(coarse)
    dense = F.conv3d(
        _dense(coarse.coords, coarse.feats, 2, 4, 2), _conv_weight(conv.weight, 3), padding=2, dilation=2
    )
    torch.testing.assert_close(y.feats, _at(dense, coarse.coords, 2), rtol=0, atol=1e-10)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("kernel", [2, 3])
def test_strided_conv_equals_dense_conv3d(algorithm: str, kernel: int) -> None:
    coords = _grid(2, 8, 0.3)
    x = SparseTensor(_feats(len(coords), 4), coords)
    conv = _conv(4, 3, kernel_size=kernel, stride=2, algorithm=algorithm)
    y = conv(x)
    expected = torch.unique(torch.cat([coords[:, :1], coords[:, 1:] // 2 * 2], 1), dim=0)
    assert y.stride == 2 and torch.equal(y.coords, expected)
    dense = F.conv3d(
        _dense(coords, x.feats, 2, 8), _conv_weight(conv.weight, kernel), stride=2, padding=(kernel - 1) // 2
    )
    torch.testing.assert_close(y.feats, _at(dense, y.coords, 2), rtol=0, atol=1e-10)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("kernel", [2, 3])
def test_transposed_conv_equals_dense_conv_transpose3d(algorithm: str, kernel: int) -> None:
    coords = _grid(2, 8, 0.3, seed=5)
    x = SparseTensor(_feats(len(coords), 2), coords)
    coarse = _conv(2, 4, kernel_size=2, stride=2)(x)
    coarse = coarse.replace(_feats(len(coarse), 4, seed=6))
    up = _conv(4, 3, cls=SparseConvTranspose3d, kernel_size=kernel, stride=2, algorithm=algorithm)
    y = up(coarse)
    assert y.stride == 1 and torch.equal(y.coords, coords)  # back onto the cached fine coordinates
    pad = {"padding": 1, "output_padding": 1} if kernel == 3 else {}
    dense = F.conv_transpose3d(
        _dense(coarse.coords, coarse.feats, 2, 4, 2), _convT_weight(up.weight, kernel), stride=2, **pad
    )
    assert dense.shape[-1] == 8
    torch.testing.assert_close(y.feats, _at(dense, coords), rtol=0, atol=1e-10)


def test_stem_kernel_5_and_1x1() -> None:
    coords = _grid(1, 8, 0.25, seed=7)
    x = SparseTensor(_feats(len(coords), 3), coords)
    for k in (1, 5):
        conv = _conv(3, 4, kernel_size=k)
        dense = F.conv3d(_dense(coords, x.feats, 1, 8), _conv_weight(conv.weight, k), padding=k // 2)
        torch.testing.assert_close(conv(x).feats, _at(dense, coords), rtol=0, atol=1e-10)


def test_coordinates_at_the_edge_of_the_key_budget() -> None:
    """Neighbour queries that leave the budget are dropped, not wrapped onto other cells."""
    coords = _grid(2, 6, 0.5, seed=8)
    feats = _feats(len(coords), 3)
    conv = _conv(3, 2, kernel_size=3)
    ref = conv(SparseTensor(feats, coords)).feats
    for shift in (COORD_MAX - 5, COORD_MIN):
        moved = coords.clone()
        moved[:, 1:] += shift
        torch.testing.assert_close(conv(SparseTensor(feats, moved)).feats, ref, rtol=0, atol=1e-12)


# ----------------------------------------------------------------------------------------------- gradients


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_gradcheck(algorithm: str) -> None:
    coords = _grid(1, 4, 0.4, seed=9)
    cache = CoordinateCache(coords)
    fine = cache.kernel_map(1, 1, 3)
    cache.downsample(1, 2)
    down = cache.kernel_map(1, 2, 2)
    for kmap in (fine, down, down.transposed()):
        f = _feats(kmap.n_in, 2).requires_grad_()
        w = _feats(kmap.kernel_volume * 2, 3, seed=3).reshape(kmap.kernel_volume, 2, 3).requires_grad_()
        assert torch.autograd.gradcheck(lambda a, b, km=kmap: sparse_conv(a, b, km, algorithm), (f, w))


def test_gather_and_im2col_agree_on_gradients() -> None:
    coords = _grid(2, 8, 0.3, seed=10)
    x = _feats(len(coords), 4)
    grads = []
    for algorithm in ALGORITHMS:
        conv = _conv(4, 6, algorithm=algorithm)
        xr = x.clone().requires_grad_()
        conv(SparseTensor(xr, coords)).feats.pow(2).sum().backward()
        grads.append((xr.grad, conv.weight.grad))
    torch.testing.assert_close(grads[0], grads[1], rtol=0, atol=1e-10)


# ------------------------------------------------------------------------------------------------- U-Net


def _cloud(n: int, seed: int, scale: float = 0.3) -> torch.Tensor:
    x = torch.randn(n, 3, dtype=DT, generator=torch.Generator().manual_seed(seed))
    return x / x.norm(dim=1, keepdim=True) * scale  # a sphere surface


def _net(seed: int = 0, **kw) -> SparseUNet:
    torch.manual_seed(seed)
    return SparseUNet(SparseUNetConfig.small(width=8, blocks=1, **kw)).to(DT).eval()


def _score(
    net: SparseUNet, points: torch.Tensor, batch: torch.Tensor | None, voxel: float = 0.05
) -> torch.Tensor:
    coords, p2v, vf = sparse_quantize(points, voxel, batch)
    return voxel_to_point(net(SparseTensor(vf, coords)), p2v)


def test_unet_shapes_and_coordinates() -> None:
    net = _net(out_channels=5)
    coords, p2v, vf = sparse_quantize(_cloud(500, 0), 0.05)
    x = SparseTensor(vf, coords)
    out = net(x)
    assert out.feats.shape == (len(coords), 5) and out.stride == 1 and torch.equal(out.coords, coords)
    assert x.cache.strides == [1, 2, 4, 8, 16]
    assert voxel_to_point(out, p2v).shape == (500, 5)


def test_batches_are_independent() -> None:
    net = _net(1)
    a, b = _cloud(400, 1), _cloud(300, 2) + 0.05  # overlapping in space, different clouds
    together = _score(net, torch.cat([a, b]), torch.cat([torch.zeros(400), torch.ones(300)]).long())
    apart = torch.cat([_score(net, a, None), _score(net, b, None)])
    torch.testing.assert_close(together, apart, rtol=0, atol=1e-10)


def test_unet_translation_equivariance_by_total_stride() -> None:
    net = _net(2)
    coords, _, vf = sparse_quantize(
        torch.cat([_cloud(400, 3), _cloud(400, 4)]), 0.05, torch.arange(800) // 400
    )
    ref = net(SparseTensor(vf, coords)).feats
    moved = coords.clone()
    moved[:, 1:] += torch.tensor([16, -32, 48])  # multiples of the total stride 16
    torch.testing.assert_close(net(SparseTensor(vf, moved)).feats, ref, rtol=0, atol=1e-10)
    moved[:, 1] += 1  # not a multiple: the coarse cells regroup, the output changes
    assert not torch.allclose(net(SparseTensor(vf, moved)).feats, ref, atol=1e-6)


def test_unet_trains_and_all_parameters_get_gradients() -> None:
    torch.manual_seed(0)
    net = SparseUNet(SparseUNetConfig.small(width=8, blocks=1, out_channels=3)).train()
    coords, p2v, vf = sparse_quantize(_cloud(600, 5).float(), 0.05)
    out = voxel_to_point(net(SparseTensor(vf, coords)), p2v)
    out.square().mean().backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing


def test_minkunet34c_layout() -> None:
    net = minkunet34c(in_channels=3, out_channels=32)
    c = net.config
    assert c.layers == (2, 3, 4, 6, 2, 2, 2, 2) and c.planes == (32, 64, 128, 256, 256, 128, 96, 96)
    assert c.init_dim == 32 and c.stem_kernel == 5 and c.total_stride == 16
    assert [len(s) for s in (*net.encoder, *net.decoder)] == list(c.layers)
    assert net.stem.weight.shape == (125, 3, 32) and net.final.weight.shape == (1, 96, 32)
    assert net.up[0].weight.shape == (8, 256, 256) and net.decoder[0][0].conv1.weight.shape == (27, 384, 256)
    assert sum(p.numel() for p in net.parameters()) == 37_857_216
    net.eval()
    coords, _, vf = sparse_quantize(_cloud(300, 6).float(), 0.03)
    with torch.no_grad():
        assert net(SparseTensor(vf, coords)).feats.shape == (len(coords), 32)


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="even length"):
        SparseUNetConfig(planes=(32, 64, 96), layers=(1, 1, 1))
    with pytest.raises(ValueError, match="algorithm"):
        SparseUNetConfig(algorithm="fast")
    mini = SparseUNet(SparseUNetConfig(planes=(32, 64), layers=(2, 2)))  # PO3AD's Mini_Unet layout
    assert mini.config.total_stride == 2


def test_sparse_cat_needs_same_coordinates() -> None:
    coords = _grid(1, 4, 0.5)
    x, y = SparseTensor(_feats(len(coords), 2), coords), SparseTensor(_feats(len(coords), 3), coords)
    assert sparse_cat(x, x.replace(_feats(len(coords), 3))).feats.shape == (len(coords), 5)
    with pytest.raises(ValueError, match="same coordinates"):
        sparse_cat(x, y)  # equal coordinates, different caches


# ------------------------------------------------------------------------------------------- quantization


def test_sparse_quantize_roundtrip_and_mean() -> None:
    pts = torch.rand(2000, 3, dtype=DT, generator=torch.Generator().manual_seed(11)) * 2 - 1
    batch = torch.arange(2000) % 3
    coords, p2v, vf = sparse_quantize(pts, 0.2, batch)
    assert coords.dtype == torch.int64 and coords.shape[1] == 4 and p2v.shape == (2000,)
    assert torch.equal(torch.unique(coords, dim=0), coords)  # unique and sorted
    cell = coords[p2v]
    assert torch.equal(cell[:, 0], batch)
    assert ((cell[:, 1:] * 0.2 <= pts + 1e-12) & (pts < (cell[:, 1:] + 1) * 0.2 + 1e-12)).all()
    for v in (0, 7, len(coords) - 1):
        torch.testing.assert_close(vf[v], pts[p2v == v].mean(0))
    torch.testing.assert_close(voxel_to_point(vf, p2v), vf[p2v])
    _, _, first = sparse_quantize(pts, 0.2, batch, reduce="first")
    for v in (0, 7, len(coords) - 1):
        torch.testing.assert_close(first[v], pts[(p2v == v).nonzero()[0, 0]])
    feats = torch.randn(2000, 5, dtype=DT)
    _, _, fv = sparse_quantize(pts, 0.2, batch, features=feats)
    torch.testing.assert_close(fv[3], feats[p2v == 3].mean(0))


def test_sparse_quantize_errors() -> None:
    pts = torch.rand(10, 3)
    with pytest.raises(ValueError, match="budget"):
        sparse_quantize(pts * 1000, 0.01)
    with pytest.raises(ValueError, match="reduce"):
        sparse_quantize(pts, 0.1, reduce="max")
    with pytest.raises(ValueError, match="voxel_size"):
        sparse_quantize(pts, 0.0)
    with pytest.raises(ValueError, match="outside"):
        voxel_to_point(torch.zeros(3, 2), torch.tensor([0, 3]))


# ---------------------------------------------------------------------------------------------------- CUDA


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu() -> None:
    coords = _grid(2, 8, 0.3)
    x = _feats(len(coords), 4)
    for algorithm in ALGORITHMS:
        conv = _conv(4, 5, algorithm=algorithm)
        cpu = conv(SparseTensor(x, coords)).feats
        gpu = conv.cuda()(SparseTensor(x.cuda(), coords.cuda())).feats
        torch.testing.assert_close(gpu.cpu(), cpu, rtol=0, atol=1e-10)
    net = _net(3)
    pts = torch.cat([_cloud(500, 7), _cloud(500, 8)])
    batch = torch.arange(1000) // 500
    cpu = _score(net, pts, batch)
    gpu = _score(net.cuda(), pts.cuda(), batch.cuda())
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=0, atol=1e-8)
