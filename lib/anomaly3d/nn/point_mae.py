"""Point-MAE backbone (Pang et al., "Masked Autoencoders for Point Cloud Self-supervised Learning", ECCV 2022).

One readable file, plain torch. A cloud is cut into ``G`` patches of ``k`` points (FPS centres + kNN,
:func:`anomaly3d.ops.group_knn`); each patch becomes one token; a random share of the tokens is hidden; a
transformer encoder sees only the visible tokens; a light transformer decoder fills the hidden positions with a
shared learned mask token and predicts the ``k`` points of every hidden patch, trained with the L2 Chamfer
distance (:func:`anomaly3d.ops.chamfer_distance`'s default).

Data flow, shapes for a batch of ``B`` clouds (``V`` visible and ``M`` masked groups, ``V + M = G``)::

    points (B, N, 3) --group--> neighborhoods (B, G, k, 3) [centred], centers (B, G, 3)
    make_mask(centers)                      mask (B, G) bool, True = hidden, M per cloud
    PatchEmbed (mini-PointNet)              (B, G, k, 3) -> tokens (B, G, encoder_dims) -> reduce_dim -> trans_dim
    encoder: x = visible tokens, pos = pos_embed(visible centres);  x = Block(x + pos) per layer; LayerNorm
    decoder: x = [encoded visible, mask_token x M], pos = decoder_pos_embed([visible, masked centres]);
             x = Block(x + pos) per layer; LayerNorm of the last M tokens
    head (Linear trans_dim -> 3k)           pred (B, M, k, 3), relative to the masked centres

Notes on choices:

* As in the reference implementation the positional embedding is added before *every* transformer block, not
  only once, and attention has no bias on the q/k/v projection.
* ``reduce_dim`` maps ``encoder_dims`` to ``trans_dim``; it is the identity when they are equal (the pre-training
  setting, 384/384), so official pre-training checkpoints have no weights for it.
* The mask size is ``round(mask_ratio * G)`` (the reference code truncates with ``int``; the two agree for the
  default 0.6 x 64 = 38.4).
* ``decoder_layers`` (in :meth:`PointMAE.forward`) are returned in the original group order (row ``g`` is group
  ``g``, whether visible or masked), before the decoder's final LayerNorm.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from anomaly3d.nn._checkpoints import map_official_state
from anomaly3d.ops import chamfer_distance, group_knn

__all__ = [
    "Block",
    "PatchEmbed",
    "PointMAE",
    "PointMAEConfig",
    "load_official_checkpoint",
    "official_state_dict",
]


@dataclass(frozen=True)
class PointMAEConfig:
    """Hyper-parameters; the defaults are Point-MAE's pre-training configuration (ShapeNet, 1024 points)."""

    num_groups: int = 64
    group_size: int = 32
    trans_dim: int = 384
    encoder_dims: int = 384
    encoder_depth: int = 12
    encoder_heads: int = 6
    decoder_depth: int = 4
    decoder_heads: int = 6
    mask_ratio: float = 0.6
    mask_type: str = "rand"  # "rand" (random groups) | "block" (nearest groups of a random centre)
    drop_path: float = 0.1
    tokenizer_width: int = 256  # PatchEmbed's w (Point-MAE: 256); smaller is much cheaper on a CPU

    def __post_init__(self) -> None:
        if self.mask_type not in ("rand", "block"):
            raise ValueError(f"PointMAEConfig.mask_type must be 'rand' or 'block', got {self.mask_type!r}")
        if not 0.0 <= self.mask_ratio < 1.0:
            raise ValueError(f"PointMAEConfig.mask_ratio must be in [0, 1), got {self.mask_ratio}")
        for name, heads in (("encoder_heads", self.encoder_heads), ("decoder_heads", self.decoder_heads)):
            if self.trans_dim % heads:
                raise ValueError(
                    f"PointMAEConfig.trans_dim ({self.trans_dim}) must be divisible by {name} ({heads})"
                )


class PatchEmbed(nn.Module):
    """Mini-PointNet tokenizer: ``(B, G, k, 3)`` centred patches -> ``(B, G, out_dim)`` tokens.

    Per point: linear(3->w/2)-BN-ReLU-linear(w/2->w); max over the patch gives a global w-vector that is
    concatenated to every point (2w); linear(2w->2w)-BN-ReLU-linear(2w->out_dim); max over the patch. Point-MAE
    uses ``w = 256`` and 1x1 convolutions, which are these per-point linear layers (written as ``Linear`` here
    because its backward is several times faster on a CPU); batch norm statistics run over every point of every
    patch, as ``BatchNorm1d`` on ``(B*G, C, k)`` does.
    """

    def __init__(self, out_dim: int, width: int = 256) -> None:
        super().__init__()
        if width < 2 or width % 2:
            raise ValueError(f"PatchEmbed width must be an even number >= 2, got {width}")
        self.out_dim = out_dim
        self.first_conv = nn.Sequential(
            nn.Linear(3, width // 2), nn.BatchNorm1d(width // 2), nn.ReLU(inplace=True), nn.Linear(width // 2, width)
        )
        self.second_conv = nn.Sequential(
            nn.Linear(2 * width, 2 * width), nn.BatchNorm1d(2 * width), nn.ReLU(inplace=True),
            nn.Linear(2 * width, out_dim),
        )

    def forward(self, patches: Tensor) -> Tensor:
        b, g, k, _ = patches.shape
        x = self.first_conv(patches.reshape(b * g * k, 3)).reshape(b * g, k, -1)  # (BG, k, w)
        glob = x.max(dim=1, keepdim=True).values
        x = torch.cat([glob.expand(-1, k, -1), x], dim=2).reshape(b * g * k, -1)
        x = self.second_conv(x).reshape(b * g, k, self.out_dim)
        return x.max(dim=1).values.reshape(b, g, self.out_dim)


class Attention(nn.Module):
    """Multi-head self-attention (no q/k/v bias, as the reference)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v)  # (B, heads, n, c/heads)
        return self.proj(y.transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    """Linear -> GELU -> Linear."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


def drop_path(x: Tensor, p: float, training: bool) -> Tensor:
    """Stochastic depth: zero the whole residual branch of a sample with probability ``p`` (rescaled)."""
    if p == 0.0 or not training:
        return x
    keep = torch.rand((x.shape[0],) + (1,) * (x.ndim - 1), device=x.device, dtype=x.dtype) >= p
    return x * keep / (1.0 - p)


class Block(nn.Module):
    """Pre-norm transformer block: ``x + DP(attn(LN(x)))`` then ``x + DP(mlp(LN(x)))``, MLP ratio 4, GELU."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0, drop_path: float = 0.0) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.drop_path = drop_path

    def forward(self, x: Tensor) -> Tensor:
        x = x + drop_path(self.attn(self.norm1(x)), self.drop_path, self.training)
        return x + drop_path(self.mlp(self.norm2(x)), self.drop_path, self.training)


def _pos_mlp(dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(3, 128), nn.GELU(), nn.Linear(128, dim))


def _split_order(mask: Tensor) -> tuple[Tensor, Tensor]:
    """Per cloud, the visible group indices then the masked ones (ascending): ``(B, V)``, ``(B, M)``."""
    counts = mask.sum(dim=1)
    if mask.ndim != 2 or (counts != counts[0]).any():
        raise ValueError(
            f"mask must be (B, G) bool with the same number of True per cloud, got counts {counts.tolist()}"
        )
    order = torch.argsort(mask.to(torch.int8), dim=1, stable=True)
    v = mask.shape[1] - int(counts[0])
    return order[:, :v], order[:, v:]


def _take(x: Tensor, idx: Tensor) -> Tensor:
    """``x[b, idx[b]]`` for ``x`` of shape ``(B, G, ...)`` and ``idx`` ``(B, n)``."""
    return x[torch.arange(x.shape[0], device=x.device)[:, None], idx]


class PointMAE(nn.Module):
    """Point-MAE: patch tokenizer + transformer encoder (visible groups) + decoder predicting masked patches."""

    def __init__(self, config: PointMAEConfig = PointMAEConfig()) -> None:
        super().__init__()
        c = self.config = config
        self.patch_embed = PatchEmbed(c.encoder_dims, c.tokenizer_width)
        self.reduce_dim = (
            nn.Identity() if c.encoder_dims == c.trans_dim else nn.Linear(c.encoder_dims, c.trans_dim)
        )
        self.pos_embed = _pos_mlp(c.trans_dim)
        rates = torch.linspace(0, c.drop_path, c.encoder_depth).tolist()
        self.encoder_blocks = nn.ModuleList(Block(c.trans_dim, c.encoder_heads, drop_path=r) for r in rates)
        self.encoder_norm = nn.LayerNorm(c.trans_dim)

        self.mask_token = nn.Parameter(torch.zeros(1, 1, c.trans_dim))
        self.decoder_pos_embed = _pos_mlp(c.trans_dim)
        rates = torch.linspace(0, c.drop_path, c.decoder_depth).tolist()
        self.decoder_blocks = nn.ModuleList(Block(c.trans_dim, c.decoder_heads, drop_path=r) for r in rates)
        self.decoder_norm = nn.LayerNorm(c.trans_dim)
        self.head = nn.Linear(c.trans_dim, 3 * c.group_size)
        self._init_weights()

    def _init_weights(self) -> None:
        for name, m in self.named_modules():
            if isinstance(m, nn.Linear):
                if name.startswith("decoder_blocks"):
                    nn.init.xavier_uniform_(m.weight)
                else:
                    nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.trunc_normal_(self.mask_token, std=0.02)

    @property
    def num_masked(self) -> int:
        """Masked groups per cloud: ``round(mask_ratio * num_groups)``."""
        return round(self.config.mask_ratio * self.config.num_groups)

    def group(self, points: Tensor) -> tuple[Tensor, Tensor]:
        """``(B, N, 3)`` clouds -> ``(neighborhoods (B, G, k, 3) centred, centers (B, G, 3))`` (FPS + kNN)."""
        if points.ndim != 3 or points.shape[-1] != 3:
            raise ValueError(f"points must be (B, N, 3), got {tuple(points.shape)}")
        centers, neighborhoods, _ = group_knn(points, self.config.num_groups, self.config.group_size)
        return neighborhoods, centers

    def make_mask(self, centers: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """``(B, G)`` bool mask, True = hidden, exactly :attr:`num_masked` per cloud.

        ``"rand"``: a uniformly random subset of groups. ``"block"``: a random centre and its nearest centres
        (itself included), i.e. one spatially contiguous region. ``generator`` (CPU) makes it reproducible.
        """
        b, g, _ = centers.shape
        m = self.num_masked
        if self.config.mask_type == "rand":
            scores = torch.rand(b, g, generator=generator)
        else:
            seed_idx = torch.randint(0, g, (b,), generator=generator)
            c = centers.detach().cpu().float()
            seeds = c[torch.arange(b), seed_idx]  # (B, 3)
            scores = (c - seeds[:, None]).norm(dim=-1)
            scores[torch.arange(b), seed_idx] = -1.0  # the seed first, even with duplicate centres
        picked = torch.argsort(scores, dim=1)[:, :m]
        mask = torch.zeros(b, g, dtype=torch.bool)
        mask[torch.arange(b)[:, None], picked] = True
        return mask.to(centers.device)

    def encode(
        self, neighborhoods: Tensor, centers: Tensor, mask: Tensor | None = None, return_layers: bool = False
    ) -> Tensor | tuple[Tensor, list[Tensor]]:
        """Encode the visible groups (all when ``mask`` is None): ``(B, V, trans_dim)`` after the final LayerNorm.

        With ``return_layers`` also the list of each block's output ``(B, V, trans_dim)`` (before the norm).
        """
        tokens = self.reduce_dim(self.patch_embed(neighborhoods))
        if mask is not None:
            vis, _ = _split_order(mask)
            tokens, centers = _take(tokens, vis), _take(centers, vis)
        pos = self.pos_embed(centers)
        x, layers = tokens, []
        for block in self.encoder_blocks:
            x = block(x + pos)
            layers.append(x)
        x = self.encoder_norm(x)
        return (x, layers) if return_layers else x

    def encoder_features(
        self, neighborhoods: Tensor, centers: Tensor, layers: tuple[int, ...] = (4, 8, 12), *, chunk: int = 4096
    ) -> Tensor:
        """Per-group features for a memory bank: the encoder blocks ``layers`` (1-based), each through the final
        LayerNorm, concatenated: ``(B, G, len(layers) * trans_dim)`` (M3DM / Reg3D-AD's Point-MAE features).

        The tokenizer runs over ``chunk`` groups at a time (it treats groups independently in eval mode), so a
        cloud of many thousand groups does not hold every point's hidden activations at once. Gradients flow
        (Group3AD fine-tunes through it); wrap inference in ``torch.no_grad()``.
        """
        if not layers or min(layers) < 1 or max(layers) > len(self.encoder_blocks):
            raise ValueError(f"layers {layers} must name encoder blocks 1..{len(self.encoder_blocks)}")
        tokens = torch.cat([self.reduce_dim(self.patch_embed(neighborhoods[:, i : i + chunk]))
                            for i in range(0, neighborhoods.shape[1], chunk)], dim=1)
        pos = self.pos_embed(centers)
        x, out = tokens, []
        for i, block in enumerate(self.encoder_blocks, start=1):
            x = block(x + pos)
            if i in layers:
                out.append(self.encoder_norm(x))
        return torch.cat(out, dim=-1)

    def forward(
        self,
        points: Tensor | None = None,
        mask: Tensor | None = None,
        generator: torch.Generator | None = None,
        *,
        groups: tuple[Tensor, Tensor] | None = None,
    ) -> dict:
        """Mask, encode, decode, and score the reconstruction of the masked patches.

        Either ``points`` ``(B, N, 3)`` (grouped here by FPS + kNN) or ``groups=(neighborhoods (B, G, k, 3)
        centred, centers (B, G, 3))`` from any other sampler (e.g. :func:`anomaly3d.ops.group_at`).

        Returns a dict: ``loss`` (L2 Chamfer, mean over masked patches), ``pred`` / ``target`` ``(B, M, k, 3)``
        (relative to the masked centres), ``mask`` ``(B, G)``, ``centers`` ``(B, G, 3)``, ``neighborhoods``
        ``(B, G, k, 3)``, ``decoder_layers``: each decoder block's output ``(B, G, trans_dim)`` in group order.
        """
        neighborhoods, centers = self._groups(points, groups)
        if mask is None:
            mask = self.make_mask(centers, generator)
        if mask.shape != centers.shape[:2]:
            raise ValueError(f"mask must have shape {tuple(centers.shape[:2])}, got {tuple(mask.shape)}")
        vis, hid = _split_order(mask)
        b, m = hid.shape
        if m == 0:
            raise ValueError(
                "PointMAE.forward needs at least one masked group (mask_ratio > 0 or a given mask)"
            )
        x_vis = self.encode(neighborhoods, centers, mask)
        x = torch.cat([x_vis, self.mask_token.expand(b, m, -1)], dim=1)
        pos = self.decoder_pos_embed(torch.cat([_take(centers, vis), _take(centers, hid)], dim=1))
        order = torch.cat([vis, hid], dim=1)
        layers = []
        for block in self.decoder_blocks:
            x = block(x + pos)
            layers.append(torch.empty_like(x).scatter(1, order[..., None].expand_as(x), x))
        k = self.config.group_size
        pred = self.head(self.decoder_norm(x[:, -m:])).reshape(b, m, k, 3)
        target = _take(neighborhoods, hid)
        loss = chamfer_distance(pred.reshape(b * m, k, 3), target.reshape(b * m, k, 3))
        return {
            "loss": loss,
            "pred": pred,
            "target": target,
            "mask": mask,
            "centers": centers,
            "neighborhoods": neighborhoods,
            "decoder_layers": layers,
        }

    def reconstruct(
        self, points: Tensor | None = None, mask: Tensor | None = None, *, groups: tuple[Tensor, Tensor] | None = None
    ) -> Tensor:
        """Predicted masked patches in absolute coordinates ``(B, M, k, 3)`` (prediction + masked centres)."""
        if mask is None:
            raise ValueError("PointMAE.reconstruct needs a mask (B, G) saying which patches to predict")
        out = self.forward(points, mask=mask, groups=groups)
        _, hid = _split_order(out["mask"])
        return out["pred"] + _take(out["centers"], hid)[:, :, None, :]

    def decoder_features(self, neighborhoods: Tensor, centers: Tensor) -> list[Tensor]:
        """Every decoder block's output ``(B, G, trans_dim)`` for *unmasked* patches (a feature extractor).

        All groups are encoded and then passed through the decoder blocks with the decoder's positional
        embedding (no mask tokens), the way IMRNet's DFC module reads "the 1st, 2nd and 3rd layer" features of the
        decoder for a whole cloud. Layer ``l`` of the list is block ``l + 1``'s output, before the final norm.
        """
        x = self.encode(neighborhoods, centers)
        pos = self.decoder_pos_embed(centers)
        layers = []
        for block in self.decoder_blocks:
            x = block(x + pos)
            layers.append(x)
        return layers

    def _groups(self, points: Tensor | None, groups: tuple[Tensor, Tensor] | None) -> tuple[Tensor, Tensor]:
        if (points is None) == (groups is None):
            raise ValueError("pass exactly one of points (B, N, 3) or groups=(neighborhoods, centers)")
        if groups is None:
            return self.group(points)
        neighborhoods, centers = groups
        k = self.config.group_size
        if neighborhoods.ndim != 4 or neighborhoods.shape[2:] != (k, 3) or centers.shape != (
            *neighborhoods.shape[:2], 3
        ):
            raise ValueError(
                f"groups must be (neighborhoods (B, G, {k}, 3), centers (B, G, 3)), got "
                f"{tuple(neighborhoods.shape)} and {tuple(centers.shape)}"
            )
        return neighborhoods, centers


# --------------------------------------------------------------------------------------------------------------
# Official checkpoints (Pang-Yatian/Point-MAE). Only the parameter *names* follow that repository; the mapping is
# a list of prefix renames, official -> ours. Pre-training checkpoints nest the encoder under ``MAE_encoder.``;
# fine-tuning checkpoints (PointTransformer) keep it at the top level (their cls token / head are not used here).
_OFFICIAL_PREFIXES: tuple[tuple[str, str], ...] = (
    ("MAE_encoder.encoder.", "patch_embed."),
    ("MAE_encoder.pos_embed.", "pos_embed."),
    ("MAE_encoder.blocks.blocks.", "encoder_blocks."),
    ("MAE_encoder.norm.", "encoder_norm."),
    ("MAE_encoder.reduce_dim.", "reduce_dim."),
    ("mask_token", "mask_token"),
    ("decoder_pos_embed.", "decoder_pos_embed."),
    ("MAE_decoder.blocks.", "decoder_blocks."),
    ("MAE_decoder.norm.", "decoder_norm."),
    ("increase_dim.0.", "head."),
    # fine-tuning layout
    ("encoder.", "patch_embed."),
    ("pos_embed.", "pos_embed."),
    ("blocks.blocks.", "encoder_blocks."),
    ("norm.", "encoder_norm."),
    ("reduce_dim.", "reduce_dim."),
)


def _to_ours(name: str) -> str | None:
    for old, new in _OFFICIAL_PREFIXES:
        if name.startswith(old):
            return new + name[len(old) :]
    return None


def official_state_dict(model: PointMAE) -> dict[str, Tensor]:
    """``model``'s state dict under the official pre-training names (tokenizer and head weights as Conv1d ones)."""
    back = {new: old for old, new in _OFFICIAL_PREFIXES[:10]}
    out = {}
    for name, value in model.state_dict().items():
        prefix = next(p for p in sorted(back, key=len, reverse=True) if name.startswith(p))
        if prefix in ("head.", "patch_embed.") and name.endswith("weight") and value.ndim == 2:
            value = value[..., None]  # Linear (out, in) -> Conv1d (out, in, 1)
        out[back[prefix] + name[len(prefix) :]] = value.detach().clone()
    return out


def _read_state_dict(path: str | os.PathLike) -> dict[str, Tensor]:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"Point-MAE checkpoint {p} does not exist; pass the path of a .pth file")
    try:
        try:
            ckpt = torch.load(p, map_location="cpu", weights_only=True)
        except Exception as exc:  # official files may pickle non-tensor metadata (metrics objects)
            if "weights_only" not in str(exc) and "Unsupported" not in str(exc):
                raise
            ckpt = torch.load(p, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise ValueError(f"could not read Point-MAE checkpoint {p}: {exc}; is it a torch .pth file?") from exc
    if isinstance(ckpt, dict):
        for key in ("base_model", "model", "state_dict"):
            if isinstance(ckpt.get(key), dict):
                ckpt = ckpt[key]
                break
    if not isinstance(ckpt, dict) or not all(isinstance(v, Tensor) for v in ckpt.values()):
        raise ValueError(
            f"Point-MAE checkpoint {p} holds no state dict (expected one under 'base_model' or 'model')"
        )
    return ckpt


def load_official_checkpoint(model: PointMAE, path: str | os.PathLike, *, strict: bool = False) -> dict:
    """Load an official Point-MAE checkpoint into ``model``.

    Reads the state dict under ``"base_model"`` or ``"model"`` (or the top level), drops ``"module."`` prefixes,
    renames official parameters to ours (``_OFFICIAL_PREFIXES``), reshapes 1x1 Conv1d weights (tokenizer, head)
    to Linear ones, loads.

    Returns:
        ``{"loaded": n, "missing": [our names not in the file], "unexpected": [file names we do not use],
        "mismatched": [names whose shapes differ (skipped)]}``.

    Raises:
        FileNotFoundError / ValueError: missing or unreadable file (the message names it); with ``strict``,
        ValueError when anything is missing, unexpected or mismatched.
    """
    state = _read_state_dict(path)
    ours = model.state_dict()
    mapped, unexpected, mismatched = map_official_state(state, ours, _to_ours)
    missing = [n for n in ours if n not in mapped]
    if strict and (missing or unexpected or mismatched):
        raise ValueError(
            f"Point-MAE checkpoint {path} does not match the model: missing {missing}, unexpected {unexpected}, "
            f"mismatched {mismatched}; check PointMAEConfig against the checkpoint's config"
        )
    model.load_state_dict(mapped, strict=False)
    return {"loaded": len(mapped), "missing": missing, "unexpected": unexpected, "mismatched": mismatched}
