"""Point-MAE pretraining: the masked-patch loss falls, backbones are cached and reused, the tokenizer equals
Point-MAE's 1x1-convolution form, decoder features cover every group."""

from __future__ import annotations

import torch
from anomaly3d.nn import point_mae_pretrain as pre
from anomaly3d.nn.point_mae import PatchEmbed, PointMAE, PointMAEConfig

TINY = PointMAEConfig(num_groups=16, group_size=16, trans_dim=32, encoder_dims=32, encoder_depth=2, encoder_heads=2,
                      decoder_depth=3, decoder_heads=2, mask_ratio=0.4, drop_path=0.0, tokenizer_width=16)
SETTINGS = pre.PointMAEPretraining(points=256, objects=12, epochs=6, batch_size=4, warmup_epochs=1, seed=0)


def test_masked_patch_reconstruction_error_falls_during_pretraining():
    settings = pre.PointMAEPretraining(points=256, objects=12, epochs=15, batch_size=4, warmup_epochs=1, lr=3e-3)
    result = pre.pretrain_point_mae(TINY, settings)
    val = [h["validation"] for h in result.history]
    train = [h["train"] for h in result.history]
    assert len(val) == 15
    assert min(val) < 0.85 * val[0], val  # held-out objects: the kept weights reconstruct better than epoch 1's
    assert sum(train[-3:]) / 3 < 0.8 * train[0], train
    assert "embedded procedural shapes" in result.source


def test_pretrained_backbone_is_cached_and_reused(tmp_path, monkeypatch):
    first = pre.cached_point_mae(TINY, SETTINGS, cache_dir=tmp_path)
    path = pre.cache_path(TINY, SETTINGS, tmp_path)
    assert path.exists()

    def boom(*a, **k):
        raise AssertionError("pretrained again although the cache holds this backbone")

    monkeypatch.setattr(pre, "pretrain_point_mae", boom)
    second = pre.cached_point_mae(TINY, SETTINGS, cache_dir=tmp_path)
    for (n, a), (_, b) in zip(first.model.state_dict().items(), second.model.state_dict().items(), strict=True):
        assert torch.equal(a, b), n
    assert second.history == first.history


def test_corrupt_cache_entry_is_pretrained_again_with_a_warning(tmp_path, monkeypatch):
    path = pre.cache_path(TINY, SETTINGS, tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a torch file")
    calls = []
    real = pre.pretrain_point_mae

    def counted(*a, **k):
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(pre, "pretrain_point_mae", counted)
    import pytest

    with pytest.warns(UserWarning, match="unreadable"):
        pre.cached_point_mae(TINY, SETTINGS, cache_dir=tmp_path)
    assert calls == [1]
    torch.load(path, weights_only=False)  # replaced by a readable file


def test_patch_embed_equals_pointnet_with_1x1_convolutions():
    torch.manual_seed(0)
    emb = PatchEmbed(24, width=16).eval()
    with torch.no_grad():
        for m in emb.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    x = torch.randn(2, 5, 7, 3)
    # reference: Point-MAE's layout (B*G, C, k) with Conv1d(kernel 1) and BatchNorm1d over channels
    def conv(lin: torch.nn.Linear, t: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.conv1d(t, lin.weight[..., None], lin.bias)

    f, s = emb.first_conv, emb.second_conv
    t = x.reshape(10, 7, 3).transpose(1, 2)
    t = conv(f[3], torch.relu(f[1](conv(f[0], t))))
    t = torch.cat([t.max(dim=2, keepdim=True).values.expand(-1, -1, 7), t], dim=1)
    t = conv(s[3], torch.relu(s[1](conv(s[0], t))))
    ref = t.max(dim=2).values.reshape(2, 5, 24)
    torch.testing.assert_close(emb(x), ref, rtol=1e-5, atol=1e-5)


def test_decoder_features_cover_every_group_and_each_block():
    model = PointMAE(TINY).eval()
    pts = torch.randn(2, 128, 3)
    nbhd, centers = model.group(pts)
    layers = model.decoder_features(nbhd, centers)
    assert len(layers) == TINY.decoder_depth
    assert all(layer.shape == (2, TINY.num_groups, TINY.trans_dim) for layer in layers)
    # the features of a group depend on the cloud: moving one patch changes the features
    moved = nbhd.clone()
    moved[:, 0] *= 2.0
    assert not torch.allclose(model.decoder_features(moved, centers)[0], layers[0])
