"""Wide-ResNet-50-2 in plain torch, with torchvision's parameter names, as an RGB patch-feature extractor.

Shape-Guided (Chu et al., ICML 2023) describes its RGB expert as layers 1-2 of an ImageNet-pretrained
Wide-ResNet-50-2, "as in PatchCore", combined into 28x28 feature maps for 224x224 images. torchvision does not
import beside our torch, so the network is written out here; a torchvision state dict
(``wide_resnet50_2-95faca4d.pth``, IMAGENET1K_V1, or ``wide_resnet50_2-9ba9bcbe.pth``, IMAGENET1K_V2) loads with
``strict=True`` because every module and parameter name is torchvision's. timm's ResNet uses the same names, so
timm's ``wide_resnet50_racm-8234f177.pth`` loads too.

Architecture (torchvision's ResNet v1.5, ``width_per_group=128``)::

    image (B, 3, H, W)
    conv1 7x7/2 (64) - bn1 - relu - maxpool 3x3/2           (B,   64, H/4,  W/4)
    layer1: 3 Bottlenecks, width 128,  out 256               (B,  256, H/4,  W/4)
    layer2: 4 Bottlenecks, width 256,  out 512, stride 2     (B,  512, H/8,  W/8)
    layer3: 6 Bottlenecks, width 512,  out 1024, stride 2    (B, 1024, H/16, W/16)
    layer4: 3 Bottlenecks, width 1024, out 2048, stride 2    (B, 2048, H/32, W/32)
    avgpool - fc (2048 -> 1000)                              (B, 1000)

A Bottleneck is 1x1 conv (in -> width) - BN - ReLU - 3x3 conv (stride here: "v1.5") - BN - ReLU - 1x1 conv
(width -> 4 x planes) - BN, plus the identity or ``downsample`` (1x1 conv with the stride + BN, first block of a
stage), then ReLU. "Wide" means the bottleneck width is twice ResNet-50's (128/256/512/1024 instead of
64/128/256/512); the output channels are ResNet-50's. 68,883,240 parameters with the classifier.

``up_to="layer2"`` builds only the stem, layer1 and layer2 (the part Shape-Guided uses): 4,126,528 instead of
68,883,240 parameters -- the "4.13M parameters" of the paper's complexity paragraph -- and a full torchvision
state dict still loads (the keys of the stages that were not built, ``layer3.*``, ``layer4.*``, ``fc.*``, are
skipped; every other key must match). Files are memory-mapped where possible, so the skipped stages are not read.

How the official Shape-Guided code extracts RGB features (github.com/jayliu0313/Shape-Guided; read, not copied):

* ``core/features.py``, ``RGB_Model``: ``timm.create_model("wide_resnet50_2", pretrained=True,
  features_only=True, out_indices=(1, 2))`` -- timm's feature indices 1 and 2 are layer1 and layer2; all
  parameters frozen and BatchNorm in eval mode. ``requirement.txt`` does not pin timm; timm 0.6.x (and the
  default ``racm_in1k`` tag of later timm) resolves ``wide_resnet50_2`` to ``wide_resnet50_racm-8234f177.pth``,
  timm's own ImageNet training, not torchvision's weights -- both have these parameter names.
* ``core/features.py`` / ``core/rgb_sdf_feature.py``: ``AvgPool2d(3, stride=1)`` -- **no padding**, so
  56x56 -> 54x54 and 28x28 -> 26x26 -- then ``AdaptiveAvgPool2d((28, 28))`` on each map (54 -> 28 down, 26 -> 28
  up), concatenated along channels: (1, 768, 28, 28), reshaped to 784 patch vectors of 768 values.
* ``core/data.py``: RGB resized to 224x224 (bicubic), ``ToTensor``, ImageNet mean/std normalisation.

:func:`patch_features` with ``same_padding=False`` reproduces that recipe; the default ``same_padding=True``
pads the 3x3 average (border cells average their in-image neighbours only) so every cell keeps its own place
before the resize.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "LAYER_CHANNELS",
    "LAYER_STRIDES",
    "WEIGHTS_URL",
    "Bottleneck",
    "WideResNet",
    "aggregate_feature_maps",
    "find_hub_checkpoint",
    "imagenet_normalize",
    "load_torchvision_state_dict",
    "load_wide_resnet50_2",
    "patch_features",
]

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
WEIGHTS_URL = "https://download.pytorch.org/models/wide_resnet50_2-95faca4d.pth"  # torchvision IMAGENET1K_V1

_STAGES: tuple[str, ...] = ("layer1", "layer2", "layer3", "layer4")
_UP_TO: tuple[str, ...] = (*_STAGES, "fc")
LAYER_CHANNELS: dict[str, int] = {"layer1": 256, "layer2": 512, "layer3": 1024, "layer4": 2048}
LAYER_STRIDES: dict[str, int] = {"layer1": 4, "layer2": 8, "layer3": 16, "layer4": 32}

# Files torch.hub / timm leave in ``<hub dir>/checkpoints``, most preferred first: torchvision V1 (PatchCore's),
# torchvision V2, timm's (the official Shape-Guided code's, through an unpinned timm).
_KNOWN_FILES: dict[str, tuple[str, ...]] = {
    "wide_resnet50_2": (
        "wide_resnet50_2-95faca4d.pth",
        "wide_resnet50_2-9ba9bcbe.pth",
        "wide_resnet50_racm-8234f177.pth",
    )
}


class Bottleneck(nn.Module):
    """torchvision's ResNet v1.5 bottleneck: 1x1 - 3x3 (with the stride) - 1x1 (x4 channels) + shortcut."""

    expansion = 4

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        base_width: int = 64,
    ) -> None:
        super().__init__()
        width = planes * base_width // 64
        self.conv1 = nn.Conv2d(inplanes, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class WideResNet(nn.Module):
    """ResNet with bottleneck blocks; the defaults are Wide-ResNet-50-2 (torchvision's ``wide_resnet50_2``).

    Args:
        layers: bottleneck blocks per stage (ResNet-50: ``(3, 4, 6, 3)``).
        width_per_group: 64 is ResNet-50, 128 is Wide-ResNet-50-2.
        num_classes: classifier outputs (only built with ``up_to="fc"``).
        up_to: the last part to build: ``"layer1"`` ... ``"layer4"`` (no classifier) or ``"fc"`` (the whole
            network with ``avgpool`` and ``fc``). Parts after it do not exist, so they cost no memory or time.

    Weights are initialised like torchvision's (Kaiming-normal convolutions, fan-out; BN weight 1, bias 0; the
    default ``nn.Linear`` init for ``fc``); see :meth:`reset_parameters`. Load pretrained weights with
    :func:`load_wide_resnet50_2` or :func:`load_torchvision_state_dict`.
    """

    def __init__(
        self,
        layers: Sequence[int] = (3, 4, 6, 3),
        width_per_group: int = 128,
        num_classes: int = 1000,
        up_to: str = "fc",
    ) -> None:
        super().__init__()
        if up_to not in _UP_TO:
            raise ValueError(f"WideResNet up_to must be one of {list(_UP_TO)}, got {up_to!r}")
        if len(layers) != 4 or any(int(n) < 1 for n in layers):
            raise ValueError(f"WideResNet layers must be 4 positive block counts, got {tuple(layers)}")
        self.up_to = up_to
        self.stages: tuple[str, ...] = _STAGES[: _UP_TO.index(up_to) + 1] if up_to != "fc" else _STAGES
        self.base_width = width_per_group
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        for i, name in enumerate(self.stages):
            setattr(self, name, self._make_layer(64 * 2**i, int(layers[i]), stride=1 if i == 0 else 2))
        if up_to == "fc":
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(512 * Bottleneck.expansion, num_classes)
        if not any(p.is_meta for p in self.parameters()):
            self.reset_parameters()

    def _make_layer(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        out = planes * Bottleneck.expansion
        downsample = None
        if stride != 1 or self.inplanes != out:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, out, 1, stride=stride, bias=False), nn.BatchNorm2d(out)
            )
        mods = [Bottleneck(self.inplanes, planes, stride, downsample, self.base_width)]
        self.inplanes = out
        mods += [Bottleneck(out, planes, base_width=self.base_width) for _ in range(1, blocks)]
        return nn.Sequential(*mods)

    def reset_parameters(self, seed: int | None = None) -> None:
        """torchvision's initialisation; with ``seed``, reproducible and without touching the global RNG."""
        devices = sorted({p.device.index or 0 for p in self.parameters() if p.device.type == "cuda"})
        with torch.random.fork_rng(devices=devices, enabled=seed is not None):
            if seed is not None:
                torch.manual_seed(seed)
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                elif isinstance(m, nn.BatchNorm2d):
                    m.reset_parameters()  # weight 1, bias 0, running stats 0 / 1
                elif isinstance(m, nn.Linear):
                    m.reset_parameters()

    def _check_input(self, x: Tensor) -> None:
        if x.ndim != 4 or x.shape[1] != 3 or not x.is_floating_point():
            raise ValueError(
                f"WideResNet expects a float (B, 3, H, W) image batch, got {tuple(x.shape)} {x.dtype}; "
                "use imagenet_normalize() on (H, W, 3) uint8 images"
            )

    def stem(self, x: Tensor) -> Tensor:
        """conv1 - bn1 - relu - maxpool: ``(B, 3, H, W)`` -> ``(B, 64, H/4, W/4)``."""
        return self.maxpool(self.relu(self.bn1(self.conv1(x))))

    def forward_features(self, x: Tensor, layers: Sequence[str] = ("layer1", "layer2")) -> dict[str, Tensor]:
        """The outputs of the named stages, ``{name: (B, C, H/s, W/s)}`` in network order.

        Channels and strides are :data:`LAYER_CHANNELS` / :data:`LAYER_STRIDES` (layer1: 256, /4; layer2: 512,
        /8; layer3: 1024, /16; layer4: 2048, /32). Stops after the deepest requested stage.
        """
        if isinstance(layers, str):
            layers = (layers,)
        unknown = [n for n in layers if n not in _STAGES]
        if unknown or not layers:
            raise ValueError(f"unknown WideResNet layers {unknown}; choose from {list(_STAGES)}")
        missing = [n for n in layers if n not in self.stages]
        if missing:
            raise ValueError(
                f"WideResNet was built with up_to={self.up_to!r}, so it has no {missing}; build it (or call "
                f"load_wide_resnet50_2) with up_to={max(layers, key=_STAGES.index)!r} or later"
            )
        self._check_input(x)
        last = max(_STAGES.index(n) for n in layers)
        out: dict[str, Tensor] = {}
        x = self.stem(x)
        for name in _STAGES[: last + 1]:
            x = getattr(self, name)(x)
            if name in layers:
                out[name] = x
        return out

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``(B, num_classes)`` with ``up_to="fc"``; otherwise the last built stage's feature map."""
        self._check_input(x)
        x = self.stem(x)
        for name in self.stages:
            x = getattr(self, name)(x)
        if self.up_to != "fc":
            return x
        return self.fc(torch.flatten(self.avgpool(x), 1))


# --------------------------------------------------------------------------------------------------------------
# Images and patch features


def imagenet_normalize(rgb: np.ndarray | Tensor) -> Tensor:
    """ImageNet mean/std normalisation to a float32 ``(B, 3, H, W)`` tensor.

    Accepts a numpy image ``(H, W, 3)`` or batch ``(B, H, W, 3)`` (uint8 in 0..255, or float in [0, 1]) or a
    tensor ``(3, H, W)`` / ``(B, 3, H, W)`` (float in [0, 1], or uint8). Tensors keep their device. Resizing is
    the caller's job (Shape-Guided: bicubic to 224x224 first).

    Raises:
        ValueError: another layout, or float values far outside [0, 1] (0..255 data, or already normalised).
    """
    if isinstance(rgb, np.ndarray):
        if rgb.ndim not in (3, 4) or rgb.shape[-1] != 3:
            raise ValueError(
                f"imagenet_normalize: numpy images must be (H, W, 3) or (B, H, W, 3), got {rgb.shape}"
            )
        x = torch.from_numpy(np.ascontiguousarray(rgb))
        x = (x[None] if x.ndim == 3 else x).permute(0, 3, 1, 2)
    elif isinstance(rgb, Tensor):
        if rgb.ndim not in (3, 4) or rgb.shape[-3] != 3:
            raise ValueError(
                f"imagenet_normalize: tensors must be (3, H, W) or (B, 3, H, W), got {tuple(rgb.shape)}; "
                "pass (H, W, 3) images as numpy arrays"
            )
        x = rgb[None] if rgb.ndim == 3 else rgb
    else:
        raise TypeError(f"imagenet_normalize takes a numpy array or a torch tensor, got {type(rgb).__name__}")
    if x.dtype == torch.uint8:
        x = x.float() / 255.0
    elif x.is_floating_point():
        x = x.float()
        if x.numel() and (float(x.max()) > 2.0 or float(x.min()) < -0.5):
            raise ValueError(
                f"imagenet_normalize: float images must be in [0, 1], got values in [{float(x.min()):.3g}, "
                f"{float(x.max()):.3g}]; divide 0..255 data by 255, and do not normalise twice"
            )
    else:
        raise ValueError(f"imagenet_normalize: images must be uint8 or float, got {x.dtype}")
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


def aggregate_feature_maps(
    maps: Sequence[Tensor] | Mapping[str, Tensor], size: int | Sequence[int]
) -> Tensor:
    """Resize every ``(B, C_i, H_i, W_i)`` map to ``size`` by adaptive average pooling and concatenate channels.

    Adaptive average pooling (``F.adaptive_avg_pool2d``, the official code's ``AdaptiveAvgPool2d``) averages
    overlapping windows when shrinking and repeats/averages neighbours when growing. Returns ``(B, sum C_i, h, w)``.
    """
    tensors = list(maps.values()) if isinstance(maps, Mapping) else list(maps)
    if not tensors:
        raise ValueError("aggregate_feature_maps needs at least one feature map")
    hw = (int(size), int(size)) if isinstance(size, int) else tuple(int(s) for s in size)
    if len(hw) != 2 or min(hw) < 1:
        raise ValueError(
            f"aggregate_feature_maps size must be an int or (h, w) of positive ints, got {size!r}"
        )
    shapes = [tuple(t.shape) for t in tensors]
    if any(t.ndim != 4 for t in tensors) or len({s[0] for s in shapes}) != 1:
        raise ValueError(f"aggregate_feature_maps needs (B, C, H, W) maps with one batch size, got {shapes}")
    return torch.cat([F.adaptive_avg_pool2d(t, hw) for t in tensors], dim=1)


def patch_features(
    model: WideResNet,
    images: Tensor | np.ndarray,
    *,
    same_padding: bool = True,
    size: int | Sequence[int] | None = None,
) -> Tensor:
    """Shape-Guided / PatchCore RGB patch features: layer1 + layer2, 3x3 local average, resized, concatenated.

    ``images``: an ImageNet-normalised ``(B, 3, H, W)`` float tensor (:func:`imagenet_normalize`'s output); uint8
    images (numpy ``(H, W, 3)`` / ``(B, H, W, 3)`` or a uint8 ``(B, 3, H, W)`` tensor) are normalised here. Moved
    to the model's device and dtype.

    Recipe: layer1 ``(B, 256, H/4, W/4)`` and layer2 ``(B, 512, H/8, W/8)`` each go through a 3x3 average with
    stride 1, then both are resized to ``size`` (default: layer2's size ``H/8 x W/8``, i.e. 28x28 for a 224 input,
    the official code's fixed ``(28, 28)``) by adaptive average pooling (:func:`aggregate_feature_maps`) and
    concatenated: ``(B, 768, h, w)``.

    ``same_padding=False`` is the official Shape-Guided code (``AvgPool2d(3, stride=1)``, no padding: for a 224
    input 56 -> 54 and 28 -> 26 before the resize to 28; see the module docstring). ``same_padding=True`` pads by
    one and averages only the in-image cells at the border (``count_include_pad=False``), so the sizes stay
    56 and 28 and layer2 is not resampled. The shape of the result is the same either way.

    Runs under the caller's grad mode (wrap in ``torch.no_grad()`` for a memory bank).
    """
    if isinstance(images, np.ndarray) or (isinstance(images, Tensor) and images.dtype == torch.uint8):
        images = imagenet_normalize(images)
    if not isinstance(images, Tensor):
        raise TypeError(f"patch_features takes a tensor or numpy images, got {type(images).__name__}")
    p = next(model.parameters())
    feats = model.forward_features(images.to(device=p.device, dtype=p.dtype), ("layer1", "layer2"))
    out_size = tuple(feats["layer2"].shape[-2:]) if size is None else size
    pad = 1 if same_padding else 0
    if not same_padding and min(feats["layer2"].shape[-2:]) < 3:
        raise ValueError(
            f"patch_features(same_padding=False) needs layer2 maps of at least 3x3, got "
            f"{tuple(feats['layer2'].shape[-2:])} for images {tuple(images.shape[-2:])}; use images of at "
            "least 24x24 pixels or same_padding=True"
        )
    pooled = [F.avg_pool2d(f, 3, stride=1, padding=pad, count_include_pad=False) for f in feats.values()]
    return aggregate_feature_maps(pooled, out_size)


# --------------------------------------------------------------------------------------------------------------
# Checkpoints


def find_hub_checkpoint(name: str = "wide_resnet50_2") -> Path | None:
    """A cached ``{name}-*.pth`` in torch.hub's checkpoint folder (``$TORCH_HOME/hub/checkpoints``), or None.

    For ``wide_resnet50_2`` the preference is torchvision's ``-95faca4d`` (IMAGENET1K_V1, PatchCore's), then
    ``-9ba9bcbe`` (V2), then timm's ``wide_resnet50_racm-8234f177.pth``, then any other ``wide_resnet50_2-*.pth``
    (alphabetically first).
    """
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    for fname in _KNOWN_FILES.get(name, ()):
        if (folder / fname).is_file():
            return folder / fname
    hits = sorted(p for p in folder.glob(f"{name}-*.pth") if p.is_file()) if folder.is_dir() else []
    return hits[0] if hits else None


def _read_state_dict(path: str | os.PathLike) -> dict[str, Tensor]:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(
            f"Wide-ResNet-50-2 checkpoint {p} does not exist; pass the path of a torchvision .pth file "
            f"(e.g. {WEIGHTS_URL})"
        )
    try:
        if p.suffix == ".safetensors":
            from safetensors.torch import load_file  # optional; not a dependency

            ckpt = load_file(str(p))
        else:
            try:  # memory-mapped: a truncated model never reads the stages it skips
                ckpt = torch.load(p, map_location="cpu", weights_only=True, mmap=True)
            except RuntimeError:  # legacy (pre-zip, torch < 1.6) files cannot be mapped
                ckpt = torch.load(p, map_location="cpu", weights_only=True)
    except ImportError as exc:
        raise ValueError(f"reading {p} needs the safetensors package (pip install safetensors)") from exc
    except Exception as exc:
        raise ValueError(
            f"could not read Wide-ResNet-50-2 checkpoint {p}: {type(exc).__name__}: {exc}; is it a complete "
            "torch .pth state dict? (files that pickle non-tensor objects: load them yourself with "
            "torch.load(..., weights_only=False) if you trust them and pass the state dict)"
        ) from exc
    return _unwrap(ckpt, str(p))


def _unwrap(ckpt: object, source: str) -> dict[str, Tensor]:
    if isinstance(ckpt, Mapping):
        for key in ("state_dict", "model"):
            if isinstance(ckpt.get(key), Mapping):
                ckpt = ckpt[key]
                break
    if not isinstance(ckpt, Mapping) or not ckpt or not all(isinstance(v, Tensor) for v in ckpt.values()):
        raise ValueError(
            f"Wide-ResNet-50-2 checkpoint {source} holds no state dict of tensors (looked at the top level and "
            "under 'state_dict' / 'model')"
        )
    return {str(k).removeprefix("module."): v for k, v in ckpt.items()}


def _few(keys: Sequence[str], n: int = 5) -> str:
    keys = list(keys)
    return ", ".join(keys[:n]) + (f", ... ({len(keys)} in all)" if len(keys) > n else "")


def load_torchvision_state_dict(
    model: WideResNet, state: Mapping[str, Tensor], *, source: str = "the state dict"
) -> WideResNet:
    """Load a torchvision-format state dict into ``model``, strictly except for the stages not built.

    Keys of stages after ``model.up_to`` (``layer3.*``, ``layer4.*``, ``fc.*`` for ``up_to="layer2"``) are
    ignored; BatchNorm ``num_batches_tracked`` may be absent (old torchvision files); floating tensors are cast to
    the model's dtype (float16 files load into a float32 model). Everything else must match name and shape.

    Raises:
        ValueError: missing, unexpected or mis-shaped keys (up to 5 of each listed; ``source`` names the file).
    """
    ours = model.state_dict()
    built = {*model.stages, *(("fc",) if model.up_to == "fc" else ())}
    skipped = tuple(f"{n}." for n in _UP_TO if n not in built)
    state = {k.removeprefix("module."): v for k, v in state.items() if not k.startswith(skipped)}
    unexpected = [k for k in state if k not in ours]
    missing = [k for k in ours if k not in state and not k.endswith("num_batches_tracked")]
    mismatched = [
        f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in ours.items()
        if k in state and state[k].shape != v.shape
    ]
    if missing or unexpected or mismatched:
        parts = [
            f"{len(x)} {what} ({_few(x)})"
            for what, x in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", mismatched))
            if x
        ]
        raise ValueError(
            f"{source} is not a torchvision wide_resnet50_2 state dict: {'; '.join(parts)}. Expected names like "
            "conv1.weight, layer1.0.downsample.0.weight, fc.bias; is it another network (ResNet-50, a timm "
            "features_only wrapper) or a truncated download?"
        )
    # cast to the model's dtypes (float16 files); an old file's absent num_batches_tracked counts as 0
    loaded = {k: state[k].to(dtype=v.dtype) if k in state else torch.zeros_like(v) for k, v in ours.items()}
    model.load_state_dict(loaded, strict=True)
    return model


def _random_source(reason: str, seed: int) -> str:
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    return (
        f"random initialisation (not pretrained): {reason}; torchvision init, seed {seed}. For ImageNet features "
        f"download {WEIGHTS_URL} into {folder} (weights='auto' finds it) or pass the file's path as weights="
    )


def load_wide_resnet50_2(
    weights: str | os.PathLike | Mapping[str, Tensor] | None = "auto", *, up_to: str = "layer2", seed: int = 0
) -> tuple[WideResNet, str]:
    """A frozen Wide-ResNet-50-2 (eval mode, ``requires_grad=False``, CPU, float32) and where its weights came from.

    Args:
        weights: ``"auto"`` -- the torch.hub cache (:func:`find_hub_checkpoint`), else a random network; a path --
            a torchvision state dict ``.pth`` (also one nested under ``"state_dict"`` or ``"model"``, with
            ``module.`` prefixes, or in float16); a state dict itself; ``None`` -- a random network.
        up_to: the last stage built (``"layer2"`` is all Shape-Guided needs; ``"fc"`` the whole classifier). A
            full state dict loads into a truncated model (later stages' keys are skipped).
        seed: the random initialisation's seed (same seed, same weights; the global RNG is not touched).

    Returns:
        ``(model, source)``; ``source`` is ``"pretrained weights from <path>"`` or starts with
        ``"random initialisation (not pretrained): ..."`` and says how to get the weights.

    Raises:
        FileNotFoundError: a path that does not exist. ValueError: an unreadable file or one whose keys or shapes
        are not torchvision's (the message names the file and up to 5 keys).
    """
    if up_to not in _UP_TO:
        raise ValueError(f"load_wide_resnet50_2 up_to must be one of {list(_UP_TO)}, got {up_to!r}")
    state: dict[str, Tensor] | None = None
    if isinstance(weights, Mapping):
        state, source = (
            _unwrap(weights, "the state dict passed as weights"),
            "pretrained weights from a state dict",
        )
    elif isinstance(weights, str) and weights == "auto":
        found = find_hub_checkpoint()
        if found is not None:
            state, source = _read_state_dict(found), f"pretrained weights from {found}"
        else:
            folder = Path(torch.hub.get_dir()) / "checkpoints"
            source = _random_source(f"no wide_resnet50_2 checkpoint in {folder}", seed)
    elif weights is None:
        source = _random_source("weights=None", seed)
    elif isinstance(weights, str | os.PathLike):
        state, source = _read_state_dict(weights), f"pretrained weights from {Path(weights)}"
    else:
        raise TypeError(
            f"load_wide_resnet50_2 weights must be 'auto', a path, a state dict or None, got {type(weights).__name__}"
        )

    with torch.device("meta"):  # no throw-away init of 69M parameters; materialised below
        model = WideResNet(up_to=up_to)
    model = model.to_empty(device="cpu")
    if state is None:
        model.reset_parameters(seed)
    else:
        label = source.removeprefix("pretrained weights from ")
        load_torchvision_state_dict(model, state, source=f"Wide-ResNet-50-2 checkpoint {label}")
    model.eval()
    model.requires_grad_(False)
    return model, source
