"""Point-MAE backbone (anomaly3d.nn.point_mae): shapes, masking, training signal, permutation equivariance of the
encoder, official-checkpoint round trip. Tiny config, CPU, seeded."""

from __future__ import annotations

import pytest
import torch
from anomaly3d.nn.point_mae import (
    Block,
    PatchEmbed,
    PointMAE,
    PointMAEConfig,
    load_official_checkpoint,
    official_state_dict,
)

TINY = {
    "num_groups": 16,
    "group_size": 8,
    "trans_dim": 32,
    "encoder_dims": 32,
    "encoder_depth": 2,
    "encoder_heads": 2,
    "decoder_depth": 1,
    "decoder_heads": 2,
}


def _clouds(b: int = 2, n: int = 256, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, n, 3, generator=g)
    return x / x.norm(dim=-1, keepdim=True) * (1 + 0.1 * torch.rand(b, n, 1, generator=g))  # noisy spheres


def _sheets(b: int = 4, n: int = 256, seed: int = 5) -> torch.Tensor:
    """Gently curved surface patches (like a scan): reconstructable from the visible neighbours."""
    x = torch.randn(b, n, 3, generator=torch.Generator().manual_seed(seed))
    x[..., 2] = 0.05 * x[..., 0] ** 2
    return x.clamp(-2, 2)


def _model(seed: int = 0, **kw) -> PointMAE:
    torch.manual_seed(seed)
    return PointMAE(PointMAEConfig(**{**TINY, **kw}))


def test_shapes_and_rand_mask() -> None:
    model = _model()
    pts = _clouds()
    nb, ctr = model.group(pts)
    assert nb.shape == (2, 16, 8, 3) and ctr.shape == (2, 16, 3)
    assert torch.allclose(nb[:, :, 0], torch.zeros(2, 16, 3))  # centre is its own nearest point
    mask = model.make_mask(ctr, torch.Generator().manual_seed(1))
    m = round(0.6 * 16)
    assert mask.dtype == torch.bool and mask.shape == (2, 16) and (mask.sum(1) == m).all()
    assert model.encode(nb, ctr, mask).shape == (2, 16 - m, 32)
    x, layers = model.encode(nb, ctr, mask, return_layers=True)
    assert len(layers) == 2 and layers[0].shape == x.shape
    out = model(pts, mask=mask)
    assert out["pred"].shape == out["target"].shape == (2, m, 8, 3)
    assert out["loss"].ndim == 0 and torch.isfinite(out["loss"])
    assert torch.equal(out["mask"], mask) and out["centers"].shape == (2, 16, 3)
    assert len(out["decoder_layers"]) == 1 and out["decoder_layers"][0].shape == (2, 16, 32)
    model.eval()
    rec = model.reconstruct(pts, mask)
    assert rec.shape == (2, m, 8, 3)
    with torch.no_grad():
        pred = model(pts, mask=mask)["pred"]
    assert torch.allclose(rec - pred, ctr[mask].reshape(2, m, 1, 3).expand(-1, -1, 8, -1))
    assert PatchEmbed(5)(nb).shape == (2, 16, 5)
    assert Block(32, 4)(torch.randn(2, 7, 32)).shape == (2, 7, 32)


def test_block_mask_is_contiguous() -> None:
    model = _model(mask_type="block", mask_ratio=0.5)
    _, ctr = model.group(_clouds(b=3))
    mask = model.make_mask(ctr, torch.Generator().manual_seed(3))
    assert (mask.sum(1) == 8).all()
    for b in range(3):
        d = torch.cdist(ctr[b], ctr[b])  # (G, G)
        # some masked centre s: every masked centre is at least as near to s as every visible one
        ok = [d[s][mask[b]].max() <= d[s][~mask[b]].min() for s in torch.nonzero(mask[b]).flatten().tolist()]
        assert any(ok)


def test_mask_validation() -> None:
    model = _model()
    bad = torch.zeros(2, 16, dtype=torch.bool)
    bad[0, :3] = True
    bad[1, :4] = True
    with pytest.raises(ValueError, match="same number"):
        model(_clouds(), mask=bad)
    with pytest.raises(ValueError, match="mask_type"):
        PointMAEConfig(mask_type="grid")


def test_loss_falls_when_training() -> None:
    model = _model(drop_path=0.0)
    pts = _sheets()
    gen = torch.Generator().manual_seed(0)
    masks = [model.make_mask(torch.zeros(4, 16, 3), gen) for _ in range(4)]
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def eval_loss() -> float:
        model.eval()
        with torch.no_grad():
            return sum(float(model(pts, mask=m)["loss"]) for m in masks) / len(masks)

    before = eval_loss()
    model.train()
    for step in range(60):
        loss = model(pts, mask=masks[step % 4])["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = eval_loss()
    assert after < 0.7 * before, (before, after)


def test_encode_all_groups_and_permutation_equivariance() -> None:
    model = _model().eval()
    nb, ctr = model.group(_clouds())
    with torch.no_grad():
        x = model.encode(nb, ctr)
        perm = torch.randperm(16, generator=torch.Generator().manual_seed(2))
        xp = model.encode(nb[:, perm], ctr[:, perm])
    assert x.shape == (2, 16, 32)
    assert torch.allclose(xp, x[:, perm], atol=1e-5)


def test_official_checkpoint_round_trip(tmp_path) -> None:
    src = _model(seed=1, encoder_dims=24).eval()  # encoder_dims != trans_dim: exercises reduce_dim
    official = official_state_dict(src)
    assert "MAE_encoder.encoder.first_conv.0.weight" in official
    assert "MAE_encoder.blocks.blocks.1.attn.qkv.weight" in official
    assert "MAE_decoder.blocks.0.mlp.fc2.bias" in official
    assert official["increase_dim.0.weight"].shape == (24, 32, 1)
    path = tmp_path / "pretrain.pth"
    torch.save({"base_model": {"module." + k: v for k, v in official.items()}, "epoch": 3}, path)

    dst = _model(seed=2, encoder_dims=24).eval()
    report = load_official_checkpoint(dst, path, strict=True)
    assert report["loaded"] == len(src.state_dict()) and not report["missing"] and not report["unexpected"]
    pts = _clouds()
    mask = src.make_mask(torch.zeros(2, 16, 3), torch.Generator().manual_seed(0))
    with torch.no_grad():
        a, b = src(pts, mask=mask), dst(pts, mask=mask)
    assert torch.equal(a["pred"], b["pred"]) and torch.equal(a["loss"], b["loss"])

    # a checkpoint with extra / missing entries loads leniently and reports them
    partial = {k: v for k, v in official.items() if not k.startswith("MAE_decoder")}
    partial["cls_head_finetune.0.weight"] = torch.zeros(1)
    torch.save({"model": partial}, path)
    report = load_official_checkpoint(_model(encoder_dims=24), path)
    assert report["unexpected"] == ["cls_head_finetune.0.weight"]
    assert report["missing"] and all(
        n.startswith(("decoder_blocks", "decoder_norm")) for n in report["missing"]
    )
    with pytest.raises(ValueError, match="pretrain.pth"):
        load_official_checkpoint(_model(encoder_dims=24), path, strict=True)


def test_unreadable_checkpoint_names_file(tmp_path) -> None:
    bad = tmp_path / "broken.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="broken.pth"):
        load_official_checkpoint(_model(), bad)
    with pytest.raises(FileNotFoundError, match="absent.pth"):
        load_official_checkpoint(_model(), tmp_path / "absent.pth")
