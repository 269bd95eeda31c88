"""Wide-ResNet-50-2 (anomaly3d.nn.wide_resnet): torchvision's parameter names and shapes (checked against a table
built here from the ResNet-50 recipe), strides and channels, checkpoint round trips and errors, truncated models,
the seeded random fallback, Shape-Guided patch features and ImageNet normalisation. No pretrained weights are
needed (none exist offline); random weights with random BatchNorm statistics stand in for them."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from anomaly3d.nn.wide_resnet import (
    WEIGHTS_URL,
    WideResNet,
    aggregate_feature_maps,
    find_hub_checkpoint,
    imagenet_normalize,
    load_torchvision_state_dict,
    load_wide_resnet50_2,
    patch_features,
)
from torch import nn

FULL_PARAMS = 68_883_240  # torchvision wide_resnet50_2, fc 2048 -> 1000
LAYER2_PARAMS = 4_126_528  # stem + layer1 + layer2 (Shape-Guided: "4.13M parameters")


def _expected_table(stages: int = 4, fc: bool = True) -> dict[str, tuple[int, ...]]:
    """torchvision's wide_resnet50_2 state dict, key -> shape, written out from the ResNet-50 recipe."""
    table: dict[str, tuple[int, ...]] = {}

    def bn(prefix: str, c: int) -> None:
        for s in ("weight", "bias", "running_mean", "running_var"):
            table[f"{prefix}.{s}"] = (c,)
        table[f"{prefix}.num_batches_tracked"] = ()

    table["conv1.weight"] = (64, 3, 7, 7)
    bn("bn1", 64)
    inplanes = 64
    for i, (planes, blocks) in enumerate(zip((64, 128, 256, 512), (3, 4, 6, 3), strict=True)):
        if i >= stages:
            break
        width, out = 2 * planes, 4 * planes  # wide: twice ResNet-50's bottleneck width
        for b in range(blocks):
            p = f"layer{i + 1}.{b}"
            table[f"{p}.conv1.weight"] = (width, inplanes, 1, 1)
            bn(f"{p}.bn1", width)
            table[f"{p}.conv2.weight"] = (width, width, 3, 3)
            bn(f"{p}.bn2", width)
            table[f"{p}.conv3.weight"] = (out, width, 1, 1)
            bn(f"{p}.bn3", out)
            if b == 0:
                table[f"{p}.downsample.0.weight"] = (out, inplanes, 1, 1)
                bn(f"{p}.downsample.1", out)
            inplanes = out
    if fc:
        table["fc.weight"] = (1000, 2048)
        table["fc.bias"] = (1000,)
    return table


def _n_params(table: dict[str, tuple[int, ...]]) -> int:
    return sum(
        math.prod(s)
        for k, s in table.items()
        if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))
    )


def _randomize_bn(model: nn.Module, seed: int) -> None:
    """Non-trivial BatchNorm affine parameters and statistics, as a pretrained network has."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.weight.copy_(0.5 + torch.rand(c, generator=g))
                m.bias.copy_(0.1 * torch.randn(c, generator=g))
                m.running_mean.copy_(0.1 * torch.randn(c, generator=g))
                m.running_var.copy_(0.5 + torch.rand(c, generator=g))
                m.num_batches_tracked.fill_(7)


def _image(b: int = 1, h: int = 64, w: int = 64, seed: int = 0) -> torch.Tensor:
    return torch.randn(b, 3, h, w, generator=torch.Generator().manual_seed(seed))


def _layer2_model(seed: int = 3) -> WideResNet:
    model, _ = load_wide_resnet50_2(None, up_to="layer2", seed=seed)
    _randomize_bn(model, seed)
    return model


# --------------------------------------------------------------------------------------------------------------
# Architecture


def test_state_dict_matches_torchvision_table_and_parameter_count() -> None:
    with torch.device("meta"):
        full = WideResNet()
        part = WideResNet(up_to="layer2")
    expected = _expected_table()
    got = {k: tuple(v.shape) for k, v in full.state_dict().items()}
    assert set(got) == set(expected), (
        sorted(set(got) - set(expected))[:5],
        sorted(set(expected) - set(got))[:5],
    )
    assert got == expected
    assert sum(p.numel() for p in full.parameters()) == _n_params(expected) == FULL_PARAMS

    expected2 = _expected_table(stages=2, fc=False)
    assert {k: tuple(v.shape) for k, v in part.state_dict().items()} == expected2
    assert sum(p.numel() for p in part.parameters()) == _n_params(expected2) == LAYER2_PARAMS
    assert not hasattr(part, "layer3") and not hasattr(part, "fc")


def test_stride_in_3x3_conv_v15() -> None:
    with torch.device("meta"):
        model = WideResNet()
    assert model.conv1.stride == (2, 2) and model.layer1[0].downsample[0].stride == (1, 1)
    for name in ("layer2", "layer3", "layer4"):
        first = getattr(model, name)[0]
        assert first.conv1.stride == (1, 1) and first.conv2.stride == (2, 2)
        assert first.downsample[0].stride == (2, 2)
        assert all(blk.downsample is None for blk in getattr(model, name)[1:])


def test_output_strides_and_channels() -> None:
    model, _ = load_wide_resnet50_2(None, up_to="fc")
    x = _image(2, 32, 64)
    with torch.no_grad():
        feats = model.forward_features(x, ("layer1", "layer2", "layer3", "layer4"))
        logits = model(x)
    assert list(feats) == ["layer1", "layer2", "layer3", "layer4"]
    for (name, f), c, s in zip(feats.items(), (256, 512, 1024, 2048), (4, 8, 16, 32), strict=True):
        assert f.shape == (2, c, 32 // s, 64 // s), name
    assert logits.shape == (2, 1000)

    part, _ = load_wide_resnet50_2(None, up_to="layer2")
    with torch.no_grad():
        assert part(x).shape == (2, 512, 4, 8)
    with pytest.raises(ValueError, match="up_to"):
        part.forward_features(x, ("layer3",))
    with pytest.raises(ValueError, match="unknown"):
        part.forward_features(x, ("layer5",))
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        part.forward_features(x[:, :2])


# --------------------------------------------------------------------------------------------------------------
# Checkpoints


def test_round_trip_float32_and_float16(tmp_path) -> None:
    model = _layer2_model()
    x = _image()
    with torch.no_grad():
        ref = model.forward_features(x)

    path = tmp_path / "wide_resnet50_2-95faca4d.pth"
    torch.save(model.state_dict(), path)
    loaded, source = load_wide_resnet50_2(path, up_to="layer2")
    assert source == f"pretrained weights from {path}"
    assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())
    with torch.no_grad():
        out = loaded.forward_features(x)
    assert all(torch.equal(out[k], ref[k]) for k in ref)

    # the legacy (pre-zip) serialisation of torch < 1.6, which old torchvision files use
    torch.save(model.state_dict(), tmp_path / "legacy.pth", _use_new_zipfile_serialization=False)
    with torch.no_grad():
        out = load_wide_resnet50_2(tmp_path / "legacy.pth")[0].forward_features(x)
    assert all(torch.equal(out[k], ref[k]) for k in ref)

    # a training checkpoint: nested under "state_dict", DataParallel's "module." prefixes
    nested = tmp_path / "nested.pth"
    torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}}, nested)
    with torch.no_grad():
        out = load_wide_resnet50_2(nested)[0].forward_features(x)
    assert all(torch.equal(out[k], ref[k]) for k in ref)

    # float16 file -> float32 model equal to the float32 model with float16-rounded weights
    half = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    torch.save(half, tmp_path / "half.pth")
    loaded16, _ = load_wide_resnet50_2(tmp_path / "half.pth")
    assert all(p.dtype == torch.float32 for p in loaded16.state_dict().values() if p.is_floating_point())
    rounded = load_torchvision_state_dict(WideResNet(up_to="layer2"), {k: v.float() for k, v in half.items()})
    with torch.no_grad():
        a, b = loaded16.forward_features(x), rounded.eval().forward_features(x)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["layer2"], ref["layer2"])  # the rounding did change something

    # an old torchvision file without num_batches_tracked loads
    old = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    with torch.no_grad():
        out = load_wide_resnet50_2(old)[0].forward_features(x)
    assert all(torch.equal(out[k], ref[k]) for k in ref)


def test_auto_finds_the_hub_cache(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    assert find_hub_checkpoint() is None
    model, source = load_wide_resnet50_2("auto")
    assert "not pretrained" in source and str(tmp_path / "hub" / "checkpoints") in source

    folder = tmp_path / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    model = _layer2_model()
    torch.save(model.state_dict(), folder / "wide_resnet50_2-9ba9bcbe.pth")
    assert find_hub_checkpoint() == folder / "wide_resnet50_2-9ba9bcbe.pth"
    torch.save(model.state_dict(), folder / "wide_resnet50_2-95faca4d.pth")
    assert find_hub_checkpoint() == folder / "wide_resnet50_2-95faca4d.pth"  # torchvision V1 preferred
    loaded, source = load_wide_resnet50_2("auto")
    assert source == f"pretrained weights from {folder / 'wide_resnet50_2-95faca4d.pth'}"
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in model.state_dict().items())


def test_bad_checkpoints_raise_naming_the_file(tmp_path) -> None:
    state = _layer2_model().state_dict()
    missing = dict(state)
    del missing["layer1.0.downsample.1.running_mean"]
    path = tmp_path / "missing_key.pth"
    torch.save(missing, path)
    with pytest.raises(ValueError, match="missing_key.pth") as err:
        load_wide_resnet50_2(path)
    assert "layer1.0.downsample.1.running_mean" in str(err.value)

    extra = {**state, "head.weight": torch.zeros(3)}
    torch.save(extra, tmp_path / "extra.pth")
    with pytest.raises(ValueError, match=r"extra\.pth.*unexpected.*head\.weight"):
        load_wide_resnet50_2(tmp_path / "extra.pth")

    shaped = {**state, "conv1.weight": torch.zeros(64, 3, 3, 3)}
    with pytest.raises(ValueError, match="mis-shaped.*conv1.weight"):
        load_wide_resnet50_2(shaped)

    # the layer2-only file is not a full network: the full model reports what is missing, up to 5 names
    torch.save(state, tmp_path / "partial.pth")
    with pytest.raises(ValueError, match=r"partial\.pth.*missing \(layer3\.0\.conv1\.weight.*in all\)"):
        load_wide_resnet50_2(tmp_path / "partial.pth", up_to="fc")

    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(b"this is not a torch checkpoint" * 10)
    with pytest.raises(ValueError, match="corrupt.pth"):
        load_wide_resnet50_2(corrupt)
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes((tmp_path / "partial.pth").read_bytes()[:100_000])
    with pytest.raises(ValueError, match="truncated.pth"):
        load_wide_resnet50_2(truncated)
    with pytest.raises(FileNotFoundError, match="nowhere.pth"):
        load_wide_resnet50_2(tmp_path / "nowhere.pth")


def test_truncated_model_loads_a_full_state_dict(tmp_path) -> None:
    full, _ = load_wide_resnet50_2(None, up_to="fc", seed=1)
    _randomize_bn(full, 1)
    state = full.state_dict()
    with torch.no_grad():  # a float16 file (half the bytes to write) of float16-exact weights
        for v in state.values():
            if v.is_floating_point():
                v.copy_(v.half())
    path = tmp_path / "wide_resnet50_2-95faca4d.pth"
    torch.save({k: v.half() if v.is_floating_point() else v for k, v in state.items()}, path)
    part, _ = load_wide_resnet50_2(path, up_to="layer2")
    x = _image(1, 64, 64, seed=2)
    with torch.no_grad():
        a, b = full.forward_features(x), part.forward_features(x)
    assert torch.equal(a["layer1"], b["layer1"]) and torch.equal(a["layer2"], b["layer2"])
    # keys outside the skipped stages still count
    bad = {**state, "layer2.9.conv1.weight": torch.zeros(1)}
    with pytest.raises(ValueError, match=r"unexpected \(layer2\.9\.conv1\.weight\)"):
        load_wide_resnet50_2(bad, up_to="layer2")


def test_random_fallback_is_seeded_and_labelled() -> None:
    rng = torch.get_rng_state()
    a, source = load_wide_resnet50_2(None, seed=0)
    b, _ = load_wide_resnet50_2(None, seed=0)
    c, _ = load_wide_resnet50_2(None, seed=1)
    assert torch.equal(torch.get_rng_state(), rng)  # the global RNG is untouched
    assert source.startswith("random initialisation (not pretrained)") and WEIGHTS_URL in source
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not torch.equal(sa["layer1.0.conv2.weight"], sc["layer1.0.conv2.weight"])
    # torchvision's init: Kaiming normal, fan-out, for ReLU; BatchNorm at identity
    w = sa["layer2.0.conv2.weight"]  # (256, 256, 3, 3): fan_out = 256 * 9
    assert abs(float(w.std()) - math.sqrt(2.0 / (256 * 9))) < 0.002
    assert torch.equal(sa["layer1.0.bn1.weight"], torch.ones(128)) and torch.equal(
        sa["bn1.bias"], torch.zeros(64)
    )
    assert not a.training and not any(p.requires_grad for p in a.parameters())


# --------------------------------------------------------------------------------------------------------------
# Features


def test_patch_features_shapes_and_recipes() -> None:
    model = _layer2_model()
    x = imagenet_normalize(torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(0)))
    with torch.no_grad():
        feats = model.forward_features(x)
        same = patch_features(model, x)
        official = patch_features(model, x, same_padding=False)
    assert feats["layer1"].shape == (2, 256, 56, 56) and feats["layer2"].shape == (2, 512, 28, 28)
    assert same.shape == official.shape == (2, 768, 28, 28)

    # same_padding=True: 3x3 mean over in-image cells, layer2 kept as is, layer1 2x2-averaged 56 -> 28
    l1 = F.avg_pool2d(feats["layer1"], 3, 1, 1, count_include_pad=False)
    l2 = F.avg_pool2d(feats["layer2"], 3, 1, 1, count_include_pad=False)
    assert torch.allclose(same[:, 256:], l2) and torch.allclose(same[:, :256], F.avg_pool2d(l1, 2), atol=1e-6)
    corner = feats["layer2"][:, :, :2, :2].mean(dim=(2, 3))  # the (0, 0) cell sees a 2x2 window
    assert torch.allclose(same[:, 256:, 0, 0], corner, atol=1e-6)

    # same_padding=False (the official code): unpadded 3x3 mean (56 -> 54, 28 -> 26), adaptive pool to 28 x 28
    o1 = F.avg_pool2d(feats["layer1"], 3, 1)
    o2 = F.avg_pool2d(feats["layer2"], 3, 1)
    assert o1.shape[-2:] == (54, 54) and o2.shape[-2:] == (26, 26)
    expected = torch.cat([F.adaptive_avg_pool2d(o1, 28), F.adaptive_avg_pool2d(o2, 28)], dim=1)
    assert torch.allclose(official, expected)
    assert not torch.allclose(official, same)

    with pytest.raises(ValueError, match="same_padding=True"):
        patch_features(model, _image(1, 16, 16), same_padding=False)


def test_patch_features_numpy_input_and_size() -> None:
    model = _layer2_model()
    img = np.random.default_rng(0).integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
    with torch.no_grad():
        a = patch_features(model, img)
        b = patch_features(model, imagenet_normalize(img))
        c = patch_features(model, imagenet_normalize(img), size=(4, 6))
        d = patch_features(model, torch.from_numpy(img).permute(2, 0, 1)[None])  # uint8 tensor (strided)
    # a strided uint8 tensor is normalised to the same numbers; the convolutions may then take another float32
    # summation order on a non-contiguous layout (seen at 2 threads), so the features agree to rounding
    strided = torch.from_numpy(img).permute(2, 0, 1)[None]
    assert torch.equal(imagenet_normalize(img), imagenet_normalize(strided.float() / 255).contiguous())
    assert a.shape == (1, 768, 8, 8) and torch.equal(a, b) and torch.allclose(a, d, rtol=1e-4, atol=1e-4)
    assert c.shape == (1, 768, 4, 6)


def test_aggregate_feature_maps() -> None:
    a = torch.arange(16.0).reshape(1, 1, 4, 4)
    b = torch.ones(1, 2, 2, 2)
    out = aggregate_feature_maps({"a": a, "b": b}, 2)
    assert out.shape == (1, 3, 2, 2)
    assert torch.equal(out[0, 0], torch.tensor([[2.5, 4.5], [10.5, 12.5]]))  # 2x2 block means
    assert torch.equal(out[:, 1:], b)  # already the size: unchanged
    assert aggregate_feature_maps([a], (8, 8)).shape == (1, 1, 8, 8)
    with pytest.raises(ValueError, match="batch"):
        aggregate_feature_maps([a, torch.ones(2, 1, 4, 4)], 2)
    with pytest.raises(ValueError, match="at least one"):
        aggregate_feature_maps([], 2)


def test_imagenet_normalize_constant_image() -> None:
    mean = np.array([0.485, 0.456, 0.406])
    std = np.array([0.229, 0.224, 0.225])
    img = np.full((5, 7, 3), 128, dtype=np.uint8)
    out = imagenet_normalize(img)
    assert out.shape == (1, 3, 5, 7) and out.dtype == torch.float32
    want = (128 / 255 - mean) / std  # about (0.0741, 0.2052, 0.4265)
    for ch in range(3):
        assert torch.allclose(out[0, ch], torch.full((5, 7), float(want[ch])), atol=1e-6)

    batch = torch.zeros(2, 3, 4, 4)
    batch[:, 1] = 1.0
    out = imagenet_normalize(batch)
    assert out.shape == (2, 3, 4, 4)
    assert torch.allclose(out[:, 0], torch.tensor(-0.485 / 0.229)) and torch.allclose(
        out[:, 1], torch.tensor(0.544 / 0.224)
    )
    assert torch.equal(imagenet_normalize(batch[0]), out[:1])
    assert torch.allclose(
        imagenet_normalize(np.stack([img, img])), imagenet_normalize(img).expand(2, -1, -1, -1)
    )
    assert torch.allclose(imagenet_normalize(img.astype(np.float32) / 255), imagenet_normalize(img))

    with pytest.raises(ValueError, match="divide 0..255"):
        imagenet_normalize(torch.full((1, 3, 4, 4), 200.0))
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        imagenet_normalize(np.zeros((3, 8, 8), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        imagenet_normalize(torch.zeros(1, 8, 8, 3))
