"""Group3AD — group-level feature contrastive learning for high-resolution point clouds (Zhu et al., ACM MM 2024).
The official repository holds only a README; this is written from the paper.

Group3AD is :class:`~anomaly3d.methods.reg3dad.Reg3DAD` (registration to a template, a Point-MAE feature bank and a
coordinate bank, the test-split min-max fusion) with two changes:

1. **Training the encoder (Algorithm 1).** Before the banks are built, the pretrained Point-MAE encoder is
   fine-tuned on the registered training clouds, one cloud per step, in two phases of ``epochs / 2`` each:
   *IUN* on clouds with a fake anomaly (eqs. 1-6) — the group features are clustered by K-means with K from the
   elbow of the WCSS curve (eqs. 7-8) and the loss ``1 / min centre distance`` (eqs. 9-11) pushes the clusters
   apart — then *IAN* on the clean clouds, where ``T / K * sum_k max intracluster distance^2`` (eqs. 12-14)
   tightens them. Training groups are centred by FPS (the paper: "without using AGCS").
2. **AGCS at inference (Algorithm 2).** A share ``alpha`` (0.2) of the test-time patch centres is drawn by FPS
   among the points of largest FPFH variation (eq. 15), the rest by FPS over the cloud.

Choices the paper leaves open are listed in :mod:`anomaly3d.methods.group3ad_losses` (fake-anomaly centre, union,
K-means gradients, elbow rule) and here: the optimiser (AdamW, ``lr``, weight decay 0.05), ``epochs``, ``T`` (1),
the K range (2-10), the neighbour count of eq. 15 (16), the size of the high-variation set (the top ``alpha`` of
points), FPFH radii (2 and 5 registration voxels, as the registration) computed on the voxel means of the cloud
(:meth:`Group3AD.variation`: bounded time and memory on scans of a million points) and the units of the fake-anomaly noise:
the paper's ``sigma^2`` in [0.01, 0.05] is read in Real3D-AD millimetres, where the official registration voxel is
0.5 mm, and scaled with our voxel (``sigma^2 * (v / 0.5)^2``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace

import numpy as np
import torch

from anomaly3d.methods.base import register_method
from anomaly3d.methods.group3ad_losses import (
    cluster_centers,
    elbow_k,
    fake_anomaly,
    ian_loss,
    iun_loss,
    kmeans,
    wcss,
)
from anomaly3d.methods.reg3dad import Reg3DAD, Reg3DADConfig
from anomaly3d.ops import adaptive_group_centers, fps, voxel_fpfh_variation
from anomaly3d.runtime import progress

__all__ = ["Group3AD", "Group3ADConfig"]

_OFFICIAL_VOXEL_MM = 0.5


@dataclass(frozen=True)
class Group3ADConfig(Reg3DADConfig):
    """Group3AD settings: Reg3D-AD's plus training and AGCS (module docstring for the unstated ones).

    Attributes:
        train_groups, train_group_size: FPS groups of a training cloud (the paper's 4096 x 128).
        epochs: training epochs, half IUN, half IAN (0: no training, i.e. Reg3D-AD with AGCS).
        lr, weight_decay: AdamW.
        fake_ratio, fake_sigma2: eqs. 3-4.
        k_min, k_max, kmeans_iters: the elbow's K range and Lloyd iterations.
        temperature: T of eq. 14.
        alpha: AGCS share (Table 9: 0.2); ``agcs=False`` uses FPS at inference (Table 6's ablation).
        variation_k: neighbours of eq. 15.
        iun_ian: train with IUN and IAN (``False``: Table 5's ablation).
    """

    train_groups: int = 4096
    train_group_size: int = 128
    epochs: int = 20
    lr: float = 1e-5
    weight_decay: float = 0.05
    fake_ratio: tuple[float, float] = (0.01, 0.10)
    fake_sigma2: tuple[float, float] = (0.01, 0.05)
    k_min: int = 2
    k_max: int = 10
    kmeans_iters: int = 10
    temperature: float = 1.0
    alpha: float = 0.2
    agcs: bool = True
    variation_k: int = 16
    iun_ian: bool = True


@register_method
class Group3AD(Reg3DAD):
    """Group3AD (module docstring)."""

    name = "group3ad"
    config_class = Group3ADConfig
    config: Group3ADConfig

    def __init__(self, config: Group3ADConfig | None = None, *, device: str | torch.device = "auto") -> None:
        super().__init__(config, device=device)
        self.history_: list[dict[str, float]] = []

    @property
    def display_name(self) -> str:
        c = self.config
        variants = [v for v, on in (("no IUN/IAN", not c.iun_ian or c.epochs == 0), ("FPS centres", not c.agcs)) if on]
        return "Group3AD" + (f" ({', '.join(variants)})" if variants else "")

    # -- eq. 15 / Algorithm 2 ------------------------------------------------------------------------------
    def variation(self, points: np.ndarray) -> np.ndarray:
        """Eq. 15 on a registered cloud, ``(N,)``: :func:`~anomaly3d.ops.voxel_fpfh_variation` at the registration
        voxel (FPFH radii 2 and 5 voxels, ``variation_k`` neighbours, on the cloud's voxel means)."""
        return voxel_fpfh_variation(points, self.voxel_, k=self.config.variation_k)

    def group_centers(self, points: np.ndarray, n: int, *, training: bool) -> np.ndarray:
        if training or not self.config.agcs:
            return np.asarray(fps(points, n))
        idx, _ = adaptive_group_centers(points, n, self.variation(points), alpha=self.config.alpha,
                                        seed=self.config.seed)
        return np.asarray(idx)

    def with_centres(self, *, alpha: float | None = None, agcs: bool = True) -> Group3AD:
        """This fitted method with other inference-time centres: AGCS at ``alpha`` (default: the config's), or FPS
        with ``agcs=False``. Training and the banks do not depend on them, so the copy shares the trained encoder
        and the banks (Table 9's alpha sweep and Table 6's ablation from one fit)."""
        self._require_fitted()
        c = self.config
        other = copy.copy(self)
        other.config = replace(c, alpha=c.alpha if alpha is None else float(alpha), agcs=bool(agcs))
        return other

    # -- Algorithm 1 ---------------------------------------------------------------------------------------
    def _features(self, model: torch.nn.Module, points: np.ndarray) -> torch.Tensor:
        c = self.config
        n = min(c.train_groups, len(points))
        centers = points[np.asarray(fps(points, n, start="random", seed=self._rng))]
        return self.features_at(points, centers, model=model, group_size=c.train_group_size)

    def _clusters(self, feats: torch.Tensor) -> tuple[torch.Tensor, int]:
        c = self.config
        ks = list(range(c.k_min, min(c.k_max, len(feats) - 1) + 1))
        fits = [kmeans(feats, k, iters=c.kmeans_iters, seed=c.seed) for k in ks]
        k = elbow_k(ks, [wcss(feats, lab, cen) for lab, cen in fits])
        return fits[ks.index(k)][0].to(feats.device), k

    def adapt_backbone(self, clouds: list[np.ndarray]) -> None:
        c = self.config
        self.history_ = []
        if not c.iun_ian or c.epochs == 0:
            return
        assert self.model is not None
        self._rng = np.random.default_rng(c.seed)
        model = copy.deepcopy(self.model)
        model.eval()  # batch norm statistics stay the pretrained ones; dropout/drop-path off
        for p in model.parameters():
            p.requires_grad_(True)
        opt = torch.optim.AdamW(model.parameters(), lr=c.lr, weight_decay=c.weight_decay)
        noise_scale = (self.voxel_ / _OFFICIAL_VOXEL_MM) ** 2
        sigma2 = (c.fake_sigma2[0] * noise_scale, c.fake_sigma2[1] * noise_scale)
        variations = [self.variation(p) for p in clouds]
        for epoch in progress(range(c.epochs), f"{self.display_name}: IUN / IAN", total=c.epochs):
            phase = "IUN" if epoch < c.epochs // 2 else "IAN"
            losses, ks = [], []
            for i in self._rng.permutation(len(clouds)):
                pts = clouds[i]
                if phase == "IUN":
                    pts, _ = fake_anomaly(pts, variations[i], self._rng, ratio=c.fake_ratio, sigma2=sigma2)
                feats = self._features(model, pts)
                labels, k = self._clusters(feats)
                if phase == "IUN":
                    centres = cluster_centers(feats, labels, k)
                    if len(centres) < 2:
                        continue
                    loss = iun_loss(centres)  # eqs. 9-11
                else:
                    loss = ian_loss(feats, labels, k, c.temperature)  # eqs. 12-14
                opt.zero_grad()
                loss.backward()
                opt.step()
                losses.append(float(loss.detach()))
                ks.append(k)
            self.history_.append({"epoch": epoch + 1, "phase": phase, "loss": float(np.mean(losses)) if losses else
                                  float("nan"), "k": float(np.mean(ks)) if ks else float("nan")})
        self.model = model.eval()

    def state_dict(self) -> dict:
        return {**super().state_dict(), "history": self.history_}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.history_ = list(state.get("history", []))
