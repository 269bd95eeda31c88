"""IMRNet — iterative mask reconstruction (Li et al., "Towards Scalable 3D Anomaly Detection and Localization",
CVPR 2024). The authors never released code; this is written from the paper.

1. **GPS** (Sec. 4.1, eqs. 1-6): ``num_groups`` patch centres, twice as dense where normals and curvature change
   fastest (:func:`anomaly3d.ops.geometry_aware_sampling`); ``group_size`` nearest points per centre (eqs. 7-8).
   ``sampling`` swaps in random, FPS or voxel centres for the Table 4 ablation.
2. **PMR** (Sec. 4.2, eqs. 9-12): a Point-MAE (:class:`anomaly3d.nn.PointMAE`), pretrained self-supervised
   (:func:`anomaly3d.nn.point_mae_pretrain.cached_point_mae`; the paper uses ShapeNet-55 at 8,192 points), then
   fine-tuned on the category's anomaly-free clouds: random ``mask_ratio`` (0.4) of the GPS patches hidden, the
   L2 Chamfer distance of the predicted patches minimised.
3. **Algorithm 1** (test time): ``iterations`` (3) rounds, each hiding a share ``mask_ratio`` of the patches,
   predicting them from the visible ones and putting the prediction back in their place (``P = P_pre ⊕ P_vis``),
   so that defective patches are replaced by normal-looking ones.
4. **DFC** (Sec. 4.3): ``A_p`` (eqs. 13-15), the Chamfer distance between the ``group_size`` nearest input points
   and the ``group_size`` nearest reconstructed points of every centre; ``A_f`` (eqs. 16-18), the distance between
   the fused decoder features (layers ``feature_layers`` = 1, 2, 3, concatenated) of the input and of the
   reconstructed cloud, after template regularisation (eq. 19); the final score ``A`` (eq. 20).

Choices the paper leaves open (also stated in notebook 03):

* *Which patches Algorithm 1 hides.* Independent random masks leave a patch unhidden in all three rounds with
  probability ``0.6^3 = 22 %``, and a defect there is never restored. ``mask_schedule="cover"`` (default) draws one
  random permutation and hides consecutive slices of it, so with ``iterations * mask_ratio >= 1`` (the paper's
  3 x 0.4) every patch is hidden at least once; ``"random"`` draws independent masks.
* *Where the scores live.* Both scores are computed per centre; a point takes the inverse-distance-weighted mean
  of its three nearest centres' scores ("we interpolate them to a uniform dimension").
* *Θ (eq. 18)* is the Euclidean distance between a centre's fused input and reconstructed feature vectors.
* *Template regularisation (eq. 19).* The template is the first training cloud's fused input features
  (``num_groups`` vectors). A reconstructed feature's "corresponding" template vector is its nearest one in
  feature space (the paper does not say how vectors of two clouds correspond); where that distance exceeds the
  threshold ``tau`` it is replaced by the template vector. ``tau`` is the ``template_quantile`` (0.95) quantile of
  the same distances on the training clouds.
* *Combining A_p and A_f (eq. 20, "concatenating two scores").* Each is standardised by its mean and standard
  deviation over the training clouds' centres, then the two are added (``score_terms="both"``; ``"point"`` or
  ``"feature"`` keeps one).
* *The object score* (not defined in the paper) is the maximum point score.
* *Fine-tuning* (unspecified): AdamW, ``steps`` steps of ``batch_size`` clouds, each with a fresh GPS draw (random
  FPS starts) and a fresh random mask.
* *Normalisation.* Each cloud is centred on its centroid and divided by one scale fixed at fit time (the training
  clouds' mean radius), not scaled to the unit sphere one by one: a defect that sticks out would otherwise shrink
  the whole cloud.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from anomaly3d.data.sample import DataError, Sample
from anomaly3d.methods.base import AnomalyMethod, MethodConfig, Scores, register_method
from anomaly3d.nn.point_mae import PointMAE, PointMAEConfig
from anomaly3d.nn.point_mae_pretrain import PointMAEPretraining, PretrainedPointMAE, cached_point_mae
from anomaly3d.ops import (
    CENTER_SAMPLERS,
    chamfer_distance,
    feature_knn,
    group_at,
    knn,
    normalize_unit_sphere,
    rate_of_change,
    sample_centers,
)
from anomaly3d.runtime import progress

__all__ = [
    "IMRNet",
    "IMRNetConfig",
    "Patches",
    "Reconstruction",
    "interpolate_to_points",
    "mask_schedule",
]

MASK_SCHEDULES = ("cover", "random")
SCORE_TERMS = ("both", "point", "feature")


@dataclass(frozen=True)
class IMRNetConfig(MethodConfig):
    """IMRNet settings; the defaults are the paper's (Sec. 5.3) where it gives them.

    Attributes:
        num_groups, group_size: the ``256 x 64`` point-patches.
        trans_dim, encoder_depth, decoder_depth, heads, tokenizer_width, drop_path: the Point-MAE backbone
            (Point-MAE's 384 / 12 / 4 / 6 / 256 / 0.1); ``decoder_depth`` must cover ``feature_layers``.
        sampling: centre sampler, one of ``random``, ``fps``, ``voxel``, ``gps`` (Table 4).
        tau, salient_ratio, geometry_k, salient_sampler: GPS (see :func:`anomaly3d.ops.geometry_aware_sampling`).
        mask_ratio: share of patches hidden in training and in each round of Algorithm 1 (0.4).
        iterations: rounds of Algorithm 1 (3).
        mask_schedule: ``cover`` or ``random`` (module docstring).
        pretrain: start from a pretrained backbone (``False``: random initialisation, for comparison).
        pretrain_points, pretrain_objects, pretrain_epochs, pretrain_batch_size, pretrain_lr: self-supervised
            pretraining (:class:`anomaly3d.nn.point_mae_pretrain.PointMAEPretraining`).
        pretrained_checkpoint: an official Point-MAE ``.pth`` to start from instead of pretraining here.
        modelnet_root: pretrain on ModelNet10 from this folder instead of the embedded shapes.
        cache_dir: where pretrained backbones are cached (``None``: ``$ANOMALY3D_CACHE``).
        steps, batch_size, lr, weight_decay: fine-tuning.
        feature_layers: decoder blocks (1-based) whose outputs are fused for ``A_f`` (eqs. 16-17).
        template_regularization, template_quantile: eq. 19 and its threshold.
        score_terms: ``both`` (eq. 20), ``point`` (``A_p`` only) or ``feature`` (``A_f`` only).
        seed: initialisation, centre draws and masks.
    """

    num_groups: int = 256
    group_size: int = 64
    trans_dim: int = 384
    encoder_depth: int = 12
    decoder_depth: int = 4
    heads: int = 6
    tokenizer_width: int = 256
    drop_path: float = 0.1
    sampling: str = "gps"
    tau: float = 0.3
    salient_ratio: float = 2.0
    geometry_k: int = 16
    salient_sampler: str = "random"
    mask_ratio: float = 0.4
    iterations: int = 3
    mask_schedule: str = "cover"
    pretrain: bool = True
    pretrain_points: int = 8192
    pretrain_objects: int = 120
    pretrain_epochs: int = 300
    pretrain_batch_size: int = 32
    pretrain_lr: float = 1e-3
    pretrained_checkpoint: str | None = None
    modelnet_root: str | None = None
    cache_dir: str | None = None
    steps: int = 2000
    batch_size: int = 16
    lr: float = 1e-4
    weight_decay: float = 0.05
    feature_layers: tuple[int, ...] = (1, 2, 3)
    template_regularization: bool = True
    template_quantile: float = 0.95
    score_terms: str = "both"
    seed: int = 0

    def __post_init__(self) -> None:
        for name, value, choices in (("sampling", self.sampling, CENTER_SAMPLERS),
                                     ("mask_schedule", self.mask_schedule, MASK_SCHEDULES),
                                     ("score_terms", self.score_terms, SCORE_TERMS)):
            if value not in choices:
                raise ValueError(f"IMRNetConfig.{name} must be one of {', '.join(choices)}, got {value!r}")
        if not 0.0 < self.mask_ratio < 1.0:
            raise ValueError(f"IMRNetConfig.mask_ratio must be in (0, 1), got {self.mask_ratio}")
        layers = tuple(self.feature_layers)
        if not layers or min(layers) < 1 or max(layers) > self.decoder_depth:
            raise ValueError(
                f"IMRNetConfig.feature_layers {layers} must name decoder blocks 1..{self.decoder_depth}"
            )
        object.__setattr__(self, "feature_layers", layers)
        if self.iterations < 1 or self.num_groups < 2 or self.group_size < 2:
            raise ValueError("IMRNetConfig needs iterations >= 1, num_groups >= 2 and group_size >= 2")
        if not 0.0 < self.template_quantile <= 1.0:
            raise ValueError(f"IMRNetConfig.template_quantile must be in (0, 1], got {self.template_quantile}")

    @property
    def backbone(self) -> PointMAEConfig:
        """The Point-MAE configuration."""
        return PointMAEConfig(
            num_groups=self.num_groups, group_size=self.group_size, trans_dim=self.trans_dim,
            encoder_dims=self.trans_dim, encoder_depth=self.encoder_depth, encoder_heads=self.heads,
            decoder_depth=self.decoder_depth, decoder_heads=self.heads, mask_ratio=self.mask_ratio,
            drop_path=self.drop_path, tokenizer_width=self.tokenizer_width,
        )

    @property
    def pretraining(self) -> PointMAEPretraining:
        """The backbone's pretraining settings."""
        return PointMAEPretraining(
            points=self.pretrain_points, objects=self.pretrain_objects, epochs=self.pretrain_epochs,
            batch_size=self.pretrain_batch_size, lr=self.pretrain_lr, warmup_epochs=max(1, self.pretrain_epochs // 30),
            modelnet_root=self.modelnet_root, seed=self.seed,
        )


@dataclass
class Patches:
    """A cloud cut into point-patches (eqs. 7-8), in the model's normalised coordinates.

    Attributes:
        points: ``(N, 3)`` float32 normalised cloud.
        center_index: ``(G,)`` indices of the centres in ``points``.
        centers: ``(G, 3)`` tensor.
        neighborhoods: ``(G, k, 3)`` tensor, each patch relative to its centre.
        rates: ``(N,)`` GPS rate of change (eq. 5) when the sampler computed it, else ``None``.
    """

    points: np.ndarray
    center_index: np.ndarray
    centers: torch.Tensor
    neighborhoods: torch.Tensor
    rates: np.ndarray | None = None


@dataclass
class Reconstruction:
    """Algorithm 1's record: the input patches, the patches after each round, and each round's mask."""

    inputs: torch.Tensor
    rounds: list[torch.Tensor]
    masks: list[torch.Tensor]

    @property
    def output(self) -> torch.Tensor:
        """The patches after the last round ``(G, k, 3)``, relative to their centres."""
        return self.rounds[-1] if self.rounds else self.inputs


def mask_schedule(
    n_groups: int, mask_ratio: float, iterations: int, *, schedule: str = "cover", seed: int = 0
) -> list[torch.Tensor]:
    """The ``(G,)`` boolean masks (True = hidden) of Algorithm 1's rounds, ``round(mask_ratio * G)`` each.

    ``"cover"``: consecutive slices of one random permutation (wrapping around), so every patch is hidden at least
    once when ``iterations * hidden >= G``; ``"random"``: independent random subsets.
    """
    if schedule not in MASK_SCHEDULES:
        raise ValueError(f"schedule must be one of {', '.join(MASK_SCHEDULES)}, got {schedule!r}")
    m = max(1, min(n_groups - 1, round(mask_ratio * n_groups)))
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n_groups)
    masks = []
    for i in range(iterations):
        picked = perm[(np.arange(m) + i * m) % n_groups] if schedule == "cover" else rng.choice(n_groups, m, False)
        mask = torch.zeros(n_groups, dtype=torch.bool)
        mask[torch.from_numpy(np.asarray(picked))] = True
        masks.append(mask)
    return masks


def interpolate_to_points(points: np.ndarray, centers: np.ndarray, values: np.ndarray, k: int = 3) -> np.ndarray:
    """Per-point values: the inverse-distance-weighted mean of the ``k`` nearest centres' ``values``.

    ``values`` is ``(G,)`` or ``(G, m)`` (several maps from one neighbour search); the result is ``(N,)`` or
    ``(N, m)`` float32.
    """
    k = min(k, len(centers))
    dist, idx = knn(np.asarray(points, np.float32), np.asarray(centers, np.float32), k=k)
    w = 1.0 / np.maximum(np.asarray(dist, np.float64), 1e-8)
    v = np.asarray(values, np.float64)[np.asarray(idx)]  # (N, k) or (N, k, m)
    if v.ndim == 3:
        w = w[:, :, None]
    return ((v * w).sum(axis=1) / w.sum(axis=1)).astype(np.float32)


@register_method
class IMRNet(AnomalyMethod):
    """IMRNet (module docstring). ``fit`` loads or pretrains the backbone, fine-tunes it and calibrates DFC."""

    name = "imrnet"
    config_class = IMRNetConfig
    config: IMRNetConfig

    def __init__(self, config: IMRNetConfig | None = None, *, device: str | torch.device = "auto") -> None:
        super().__init__(config, device=device)
        self.model: PointMAE | None = None
        self.backbone_source: str = ""
        self.template_: torch.Tensor | None = None
        self.template_tau_: float = float("inf")
        self.stats_: dict[str, float] = {}
        self.history_: list[dict[str, float]] = []
        self.scale_: float = 1.0

    @property
    def display_name(self) -> str:
        c = self.config
        sampler = {"random": "RS", "fps": "FPS", "voxel": "Voxel", "gps": "GPS"}[c.sampling]  # Table 4's names
        variants = [v for v, on in ((sampler, c.sampling != "gps"),
                                    (f"mask {c.mask_ratio:g}", c.mask_ratio != 0.4),
                                    ("no pretraining", not c.pretrain)) if on]
        return "IMRNet" + (f" ({', '.join(variants)})" if variants else "")

    # -- backbone ------------------------------------------------------------------------------------------
    def pretrained_backbone(self, *, retrain: bool = False) -> PretrainedPointMAE:
        """The starting backbone: official checkpoint, cached pretraining, or (``pretrain=False``) random init."""
        c = self.config
        if not c.pretrain:
            torch.manual_seed(c.seed)
            return PretrainedPointMAE(PointMAE(c.backbone).to(self.device).eval(), "random initialisation", [])
        return cached_point_mae(c.backbone, c.pretraining, cache_dir=c.cache_dir, checkpoint=c.pretrained_checkpoint,
                                device=self.device, retrain=retrain)

    # -- eqs. 7-8 ------------------------------------------------------------------------------------------
    def normalize(self, sample: Sample) -> np.ndarray:
        """The sample's cloud, centred on its centroid and divided by the training clouds' scale (float32).

        The scale is the mean over the training clouds of their largest distance from the centroid (so training
        clouds sit in about the unit sphere, like Point-MAE's data). It is fixed at fit time rather than taken
        per sample: a bulge would otherwise shrink the rest of its cloud and change every patch."""
        if sample.num_points <= max(self.config.group_size, self.config.num_groups, self.config.geometry_k):
            raise DataError(
                f"{sample.category}/{sample.name} has {sample.num_points} points; IMRNet needs more than "
                f"num_groups={self.config.num_groups} and group_size={self.config.group_size} (lower them or use a "
                "denser cloud)"
            )
        pts = sample.points.astype(np.float64)
        return ((pts - pts.mean(axis=0)) / self.scale_).astype(np.float32)

    def patches(
        self, points: np.ndarray, *, seed: int | np.random.Generator = 0, rates: np.ndarray | None = None,
        sampling: str | None = None,
    ) -> Patches:
        """Centres by the configured sampler (GPS by default) and their ``group_size`` nearest points."""
        c = self.config
        how = sampling or c.sampling
        if how == "gps" and rates is None:
            rates = rate_of_change(points, c.geometry_k)
        idx = np.asarray(sample_centers(points, c.num_groups, how, seed=seed, tau=c.tau, salient_ratio=c.salient_ratio,
                                        k=c.geometry_k, rates=rates, salient_sampler=c.salient_sampler))
        centers = points[idx]
        nbhd, _ = group_at(points, centers, c.group_size)
        return Patches(points, idx, torch.from_numpy(centers).to(self.device),
                       torch.from_numpy(np.asarray(nbhd, np.float32)).to(self.device), rates)

    # -- fit -----------------------------------------------------------------------------------------------
    def fit(self, train_samples: Iterable[Sample]) -> IMRNet:
        c = self.config
        train = list(train_samples)
        if not train:
            raise ValueError("IMRNet.fit got no training samples")
        start = self.pretrained_backbone()
        self.backbone_source = start.source
        model = copy.deepcopy(start.model).to(self.device)
        self.scale_ = float(np.mean([float(np.asarray(normalize_unit_sphere(s.points.astype(np.float64))[2]))
                                     for s in train]))
        clouds = [self.normalize(s) for s in train]
        rates = [rate_of_change(p, c.geometry_k) if c.sampling == "gps" else None for p in clouds]
        rng = np.random.default_rng(c.seed)
        gen = torch.Generator().manual_seed(c.seed)
        opt = torch.optim.AdamW(model.parameters(), lr=c.lr, weight_decay=c.weight_decay)
        history, window = [], []
        report_every = max(1, c.steps // 50)
        for step in progress(range(c.steps), f"{self.display_name}: fine-tuning", total=c.steps):
            model.train()
            picks = rng.integers(len(clouds), size=c.batch_size)
            batch = [self.patches(clouds[i], seed=rng, rates=rates[i]) for i in picks]
            nbhd = torch.stack([b.neighborhoods for b in batch])
            centers = torch.stack([b.centers for b in batch])
            opt.zero_grad()
            loss = model(groups=(nbhd, centers), generator=gen)["loss"]  # eq. 12 on a random 40 % of patches
            loss.backward()
            opt.step()
            window.append(loss.item())
            if (step + 1) % report_every == 0 or step + 1 == c.steps:
                history.append({"step": step + 1, "train": float(np.mean(window))})
                window = []
        self.model = model.eval()
        self.history_ = history
        self._calibrate(clouds, rates)
        self._fitted = True
        return self

    def _calibrate(self, clouds: Sequence[np.ndarray], rates: Sequence[np.ndarray | None]) -> None:
        """The template (first training cloud's fused features), eq. 19's threshold and eq. 20's statistics."""
        c = self.config
        runs = [self._reconstruct_cloud(p, r) for p, r in zip(clouds, rates, strict=True)]
        features = [self._feature_pair(pt, rec) for pt, rec in runs]
        self.template_ = features[0][0]
        self.template_tau_ = float("inf")
        if c.template_regularization:
            d = torch.cat([feature_knn(f_o, self.template_, 1)[0][:, 0] for _, f_o in features])
            self.template_tau_ = float(torch.quantile(d.double(), c.template_quantile))
        a_p, a_f = [], []
        for (pt, rec), pair in zip(runs, features, strict=True):
            scores = self._raw_scores(pt, rec, pair)
            a_p.append(scores["A_p"])
            a_f.append(scores["A_f"])
        ap, af = np.concatenate(a_p), np.concatenate(a_f)
        self.stats_ = {"A_p_mean": float(ap.mean()), "A_p_std": float(max(ap.std(), 1e-12)),
                       "A_f_mean": float(af.mean()), "A_f_std": float(max(af.std(), 1e-12))}

    # -- Algorithm 1 ---------------------------------------------------------------------------------------
    @torch.no_grad()
    def iterative_reconstruction(
        self, patches: Patches, masks: Sequence[torch.Tensor] | None = None
    ) -> Reconstruction:
        """Algorithm 1: ``iterations`` rounds of hiding, predicting and putting back (``P = P_pre ⊕ P_vis``).

        ``masks`` default to :func:`mask_schedule` with the configured schedule (seeded by ``seed``).
        """
        assert self.model is not None
        c = self.config
        if masks is None:
            masks = mask_schedule(c.num_groups, c.mask_ratio, c.iterations, schedule=c.mask_schedule, seed=c.seed)
        current = patches.neighborhoods.clone()
        rounds, used = [], []
        for mask in masks:
            mask = mask.to(self.device)
            out = self.model(groups=(current[None], patches.centers[None]), mask=mask[None])
            current = current.clone()
            current[mask] = out["pred"][0]  # hidden patches ascending, as the model returns them
            rounds.append(current)
            used.append(mask)
        return Reconstruction(patches.neighborhoods, rounds, used)

    def _reconstruct_cloud(self, points: np.ndarray, rates: np.ndarray | None = None) -> tuple[Patches, Reconstruction]:
        pt = self.patches(points, seed=self.config.seed, rates=rates)
        return pt, self.iterative_reconstruction(pt)

    # -- DFC -----------------------------------------------------------------------------------------------
    @torch.no_grad()
    def fused_features(
        self, neighborhoods: torch.Tensor, centers: torch.Tensor, *, model: PointMAE | None = None
    ) -> torch.Tensor:
        """Eqs. 16-17: the decoder blocks ``feature_layers`` of a cloud's patches, concatenated: ``(G, C)``, by the
        fitted model (or ``model``)."""
        model = self.model if model is None else model
        assert model is not None
        layers = model.decoder_features(neighborhoods[None], centers[None])
        return torch.cat([layers[i - 1][0] for i in self.config.feature_layers], dim=1)

    def regularize(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Eq. 19: reconstructed features farther than ``tau`` from their nearest template vector are replaced
        by it. Returns the regularised features and the boolean mask of replaced rows."""
        assert self.template_ is not None
        if not self.config.template_regularization:
            return features, torch.zeros(len(features), dtype=torch.bool, device=features.device)
        dist, idx = feature_knn(features, self.template_, 1)
        replace = (dist[:, 0] > self.template_tau_).to(features.device)
        out = features.clone()
        out[replace] = self.template_[idx[:, 0].to(features.device)][replace]
        return out, replace

    def point_patch_scores(self, patches: Patches, reconstruction: Reconstruction) -> np.ndarray:
        """Eqs. 13-15: per centre, the Chamfer distance between its ``k`` nearest points in the input cloud ``p_i``
        and its ``k`` nearest points in the output cloud ``p_o``.

        ``p_i`` and ``p_o`` are the unions of the input and of the reconstructed patches (``G * k`` points each, with
        the overlaps), so that a perfect reconstruction scores exactly 0 (comparing the raw cloud with the
        reconstructed patches would score differences in density and coverage instead)."""
        k = self.config.group_size
        centers = patches.centers.cpu().numpy()
        in_points = (reconstruction.inputs + patches.centers[:, None]).reshape(-1, 3).cpu().numpy()
        rec_points = (reconstruction.output + patches.centers[:, None]).reshape(-1, 3).cpu().numpy()
        _, idx_i = knn(centers, in_points, k)
        _, idx_o = knn(centers, rec_points, k)
        p_i = torch.from_numpy(in_points[np.asarray(idx_i)])
        p_o = torch.from_numpy(rec_points[np.asarray(idx_o)])
        return np.asarray(chamfer_distance(p_i, p_o, reduction="none"), np.float64)

    def _feature_pair(self, patches: Patches, reconstruction: Reconstruction) -> tuple[torch.Tensor, torch.Tensor]:
        """Fused features of the input patches and of the reconstructed ones (before eq. 19)."""
        return (self.fused_features(patches.neighborhoods, patches.centers),
                self.fused_features(reconstruction.output, patches.centers))

    def _raw_scores(
        self, patches: Patches, reconstruction: Reconstruction,
        features: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> dict[str, np.ndarray]:
        a_p = self.point_patch_scores(patches, reconstruction)
        f_i, f_o = self._feature_pair(patches, reconstruction) if features is None else features
        f_o, replaced = self.regularize(f_o)
        a_f = torch.linalg.vector_norm(f_i - f_o, dim=1).double().cpu().numpy()  # eq. 18, Θ = Euclidean distance
        return {"A_p": a_p, "A_f": a_f, "replaced": replaced.cpu().numpy()}

    def combine(self, a_p: np.ndarray, a_f: np.ndarray) -> np.ndarray:
        """Eq. 20: standardised ``A_p`` plus standardised ``A_f`` (or one of them, ``score_terms``)."""
        s = self.stats_
        z_p = (a_p - s["A_p_mean"]) / s["A_p_std"]
        z_f = (a_f - s["A_f_mean"]) / s["A_f_std"]
        return {"both": z_p + z_f, "point": z_p, "feature": z_f}[self.config.score_terms]

    # -- score ---------------------------------------------------------------------------------------------
    def _centre_scores(self, sample: Sample) -> tuple[np.ndarray, dict[str, Any]]:
        """The normalised cloud, and per centre: patches, reconstruction, ``A_p``, ``A_f``, ``replaced``, ``A``."""
        self._require_fitted()
        pts = self.normalize(sample)
        patches, rec = self._reconstruct_cloud(pts)
        raw = self._raw_scores(patches, rec)
        return pts, {"patches": patches, "reconstruction": rec, **raw, "A": self.combine(raw["A_p"], raw["A_f"])}

    def explain(self, sample: Sample) -> dict[str, Any]:
        """Everything behind a score, for figures: ``patches``, ``reconstruction`` (Algorithm 1), per-centre
        ``A_p``, ``A_f``, ``A`` and ``replaced`` (eq. 19), and per-point ``point_A_p``, ``point_A_f``,
        ``point_scores``."""
        pts, out = self._centre_scores(sample)
        centers = out["patches"].centers.cpu().numpy()
        per_point = interpolate_to_points(pts, centers, np.stack([out["A_p"], out["A_f"], out["A"]], axis=1))
        return {**out, "point_A_p": per_point[:, 0], "point_A_f": per_point[:, 1], "point_scores": per_point[:, 2]}

    def score(self, sample: Sample) -> Scores:
        pts, out = self._centre_scores(sample)
        point_scores = interpolate_to_points(pts, out["patches"].centers.cpu().numpy(), out["A"])
        return Scores(float(point_scores.max()), point_scores)

    def group_features(self, sample: Sample, *, backbone: PointMAE | None = None) -> np.ndarray:
        """Fused decoder features ``(G, C)`` of a sample's input patches, by the fitted model or by ``backbone``
        (e.g. the pretrained one, for the paper's Figure 6)."""
        self._require_fitted()
        model = None if backbone is None else backbone.to(self.device).eval()
        pt = self.patches(self.normalize(sample), seed=self.config.seed)
        return self.fused_features(pt.neighborhoods, pt.centers, model=model).cpu().numpy()

    # -- state ---------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        assert self.model is not None and self.template_ is not None
        return {"model": self.model.state_dict(), "template": self.template_.cpu(),
                "template_tau": self.template_tau_, "stats": dict(self.stats_), "history": self.history_,
                "backbone_source": self.backbone_source, "scale": self.scale_}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        model = PointMAE(self.config.backbone)
        model.load_state_dict(state["model"])
        self.model = model.to(self.device).eval()
        self.template_ = state["template"].to(self.device)
        self.template_tau_ = float(state["template_tau"])
        self.stats_ = dict(state["stats"])
        self.history_ = list(state["history"])
        self.backbone_source = state.get("backbone_source", "")
        self.scale_ = float(state["scale"])

