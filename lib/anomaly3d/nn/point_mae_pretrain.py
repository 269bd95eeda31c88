"""Self-supervised pretraining of the Point-MAE backbone, cached on disk.

IMRNet (Sec. 5.3) starts from a Point-MAE pretrained on ShapeNet-55 at 8,192 points; Group3AD and Reg3D-AD use
Point-MAE features too. ShapeNet cannot ship with this library, so :func:`pretrain_point_mae` pretrains on the
objects of :func:`anomaly3d.data.scenes.object_library`: ModelNet10 meshes when the user has that dataset, else
instances of the embedded procedural shapes. When the user has an official Point-MAE checkpoint
(``pretrain.pth``), :func:`cached_point_mae` loads it instead (:func:`~anomaly3d.nn.point_mae.load_official_checkpoint`;
layers whose shape differs, e.g. the prediction head for another patch size, keep their initialisation and are
reported).

The recipe follows Point-MAE's: each step draws objects, a random subset of ``points`` of each object's surface
sample, normalises it to the unit sphere, scales each axis by a factor in ``[2/3, 3/2]`` and translates it by up
to 0.2 (Point-MAE's ``PointcloudScaleAndTranslate``), groups by FPS + kNN, hides a random ``mask_ratio`` of the
patches, and minimises the L2 Chamfer distance of the predicted patches (AdamW, weight decay 0.05, cosine
learning rate with a linear warm-up). A tenth of the objects (at least one) is held out; the weights with the
lowest held-out loss are kept.

Pretrained backbones are cached under ``<cache>/point_mae/<hash>.pt``, keyed by the model configuration and every
pretraining setting, and written atomically.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from anomaly3d.atomic import atomic_path
from anomaly3d.data.scenes import object_library
from anomaly3d.nn.point_mae import PointMAE, PointMAEConfig, load_official_checkpoint
from anomaly3d.ops import normalize_unit_sphere
from anomaly3d.runtime import cache_root, progress

__all__ = [
    "PointMAEPretraining",
    "PretrainedPointMAE",
    "cache_path",
    "cached_point_mae",
    "pretrain_point_mae",
]

CACHE_FORMAT = 1
"""Version of what a cached backbone file holds; entries of another version are not reused."""


@dataclass(frozen=True)
class PointMAEPretraining:
    """How to pretrain a Point-MAE (module docstring). Defaults: IMRNet's 8,192 points, Point-MAE's optimiser.

    Attributes:
        points: points per training cloud.
        objects: size of the embedded object library (ignored with ``modelnet_root``).
        epochs: passes over the training objects.
        batch_size: clouds per step.
        lr, weight_decay, warmup_epochs: AdamW with a cosine schedule after a linear warm-up.
        modelnet_root: a ModelNet10 folder to pretrain on instead of the embedded shapes.
        seed: objects, subsets, masks and initialisation.
    """

    points: int = 8192
    objects: int = 120
    epochs: int = 300
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup_epochs: int = 10
    modelnet_root: str | None = None
    seed: int = 0


@dataclass
class PretrainedPointMAE:
    """A pretrained backbone, where it came from, and its loss curve (``epoch``, ``train``, ``validation``)."""

    model: PointMAE
    source: str
    history: list[dict[str, float]] = field(default_factory=list)


def _augment(cloud: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """A random ``n``-point subset, normalised to the unit sphere, scaled per axis and translated."""
    pts = cloud[rng.choice(len(cloud), n, replace=False)] if len(cloud) > n else cloud
    pts = np.asarray(normalize_unit_sphere(pts)[0])
    return (pts * rng.uniform(2 / 3, 3 / 2, size=3) + rng.uniform(-0.2, 0.2, size=3)).astype(np.float32)


def _held_out(clouds: list[np.ndarray], n: int) -> torch.Tensor:
    """The validation batch: each held-out object's first ``n`` points (its sample is already in random order)."""
    return torch.from_numpy(np.stack([np.asarray(normalize_unit_sphere(c[:n])[0], np.float32) for c in clouds]))


def pretrain_point_mae(
    config: PointMAEConfig, settings: PointMAEPretraining = PointMAEPretraining(), *,
    device: str | torch.device = "cpu",
) -> PretrainedPointMAE:
    """Pretrain a :class:`PointMAE` of ``config`` as the module docstring describes (no cache)."""
    s = settings
    device = torch.device(device)
    torch.manual_seed(s.seed)
    rng = np.random.default_rng(s.seed)
    clouds, source = object_library(2 * s.points, modelnet_root=s.modelnet_root, n_objects=s.objects, seed=s.seed)
    if len(clouds) < 2:
        raise ValueError("Point-MAE pretraining needs at least 2 objects (one is held out for validation)")
    order = rng.permutation(len(clouds))
    n_val = max(1, len(clouds) // 10)
    val = [clouds[i] for i in order[:n_val]]
    train = [clouds[i] for i in order[n_val:]]
    val_t = _held_out(val, s.points).to(device)
    model = PointMAE(config).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=s.lr, weight_decay=s.weight_decay)
    steps_per_epoch = max(1, math.ceil(len(train) / s.batch_size))
    total, warm = s.epochs * steps_per_epoch, s.warmup_epochs * steps_per_epoch

    def lr_at(step: int) -> float:
        if step < warm:
            return s.lr * (step + 1) / warm
        return 0.5 * s.lr * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))

    gen = torch.Generator().manual_seed(s.seed)
    val_gen_seed = 10_000 + s.seed
    best, best_state, history, step = float("inf"), None, [], 0
    for epoch in progress(range(s.epochs), "Point-MAE pretraining", total=s.epochs):
        model.train()
        perm = rng.permutation(len(train))
        losses = []
        for b in range(steps_per_epoch):
            batch = [train[i] for i in perm[b * s.batch_size : (b + 1) * s.batch_size]]
            x = torch.from_numpy(np.stack([_augment(c, s.points, rng) for c in batch])).to(device)
            for group in opt.param_groups:
                group["lr"] = lr_at(step)
            opt.zero_grad()
            loss = model(x, generator=gen)["loss"]
            loss.backward()
            opt.step()
            losses.append(loss.item())
            step += 1
        model.eval()
        with torch.no_grad():
            val_loss = float(model(val_t, generator=torch.Generator().manual_seed(val_gen_seed))["loss"])
        history.append({"epoch": epoch + 1, "train": float(np.mean(losses)), "validation": val_loss})
        if val_loss < best:
            best, best_state = val_loss, copy.deepcopy(model.state_dict())
    if best_state is not None:
        model.load_state_dict(best_state)
    return PretrainedPointMAE(model.eval(), f"Point-MAE pretrained here on {source}", history)


def _key(config: PointMAEConfig, settings: PointMAEPretraining) -> str:
    blob = {"model": dataclasses.asdict(config), "pretraining": dataclasses.asdict(settings),
            "format": CACHE_FORMAT}
    return json.dumps(blob, sort_keys=True, default=str)


def cached_point_mae(
    config: PointMAEConfig,
    settings: PointMAEPretraining = PointMAEPretraining(),
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    device: str | torch.device = "cpu",
    retrain: bool = False,
) -> PretrainedPointMAE:
    """A pretrained backbone: an official checkpoint when ``checkpoint`` is given, else :func:`pretrain_point_mae`
    cached under ``cache_dir/point_mae/<hash>.pt`` (``cache_dir`` defaults to :func:`anomaly3d.runtime.cache_root`).

    An unreadable cache entry is pretrained again (with a warning); ``retrain`` ignores the cache.

    Raises:
        FileNotFoundError / ValueError: a ``checkpoint`` that is missing or not a Point-MAE state dict.
    """
    device = torch.device(device)
    if checkpoint is not None:
        model = PointMAE(config)
        report = load_official_checkpoint(model, checkpoint)
        if report["loaded"] == 0:
            raise ValueError(f"Point-MAE checkpoint {checkpoint} matched none of the model's parameters; "
                             "check that the model settings (trans_dim, depths) match the checkpoint")
        note = f"official Point-MAE checkpoint {checkpoint} ({report['loaded']} tensors loaded"
        if report["missing"] or report["mismatched"]:
            note += f"; kept initialisation for {len(report['missing'])} tensors not in the file or of another shape"
        return PretrainedPointMAE(model.to(device).eval(), note + ")", [])
    key = _key(config, settings)
    path = cache_path(config, settings, cache_dir)
    if path.exists() and not retrain:
        try:
            blob = torch.load(path, map_location="cpu", weights_only=False)
            if blob.get("key") != key:
                raise ValueError("the file was written for other settings")
            model = PointMAE(config)
            model.load_state_dict(blob["model"])
            return PretrainedPointMAE(model.to(device).eval(), blob["source"], blob["history"])
        except Exception as exc:  # noqa: BLE001 - a corrupt or stale entry is retrained, never trusted
            warnings.warn(f"cached Point-MAE {path} is unreadable ({exc}); pretraining it again", stacklevel=2)
    result = pretrain_point_mae(config, settings, device=device)
    path.parent.mkdir(parents=True, exist_ok=True)
    blob: dict[str, Any] = {"model": result.model.state_dict(), "source": result.source, "history": result.history,
                            "key": key}
    with atomic_path(path) as tmp:
        torch.save(blob, tmp)
    return result


def cache_path(
    config: PointMAEConfig, settings: PointMAEPretraining, cache_dir: str | os.PathLike[str] | None = None
) -> Path:
    """Where :func:`cached_point_mae` keeps the backbone of these settings."""
    key = _key(config, settings)
    return cache_root(cache_dir) / "point_mae" / f"{hashlib.sha256(key.encode()).hexdigest()[:16]}.pt"
