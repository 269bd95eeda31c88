"""PatchCore's memory bank (Roth et al., CVPR 2022) over any per-point, per-group or per-patch feature.

Every memory-bank method in the five papers' tables — BTF (Raw/FPFH), PatchCore(FPFH/PointMAE/...), M3DM,
Reg3D-AD, Group3AD, Shape-Guided's banks — follows the same recipe, implemented once here:

1. **Features at sites.** A feature extractor turns a sample into ``G`` feature vectors at ``G`` *sites*:
   points or group centres of an unorganized cloud, or the cells of a feature grid over an organized (image-grid)
   cloud. :class:`FeatureSites` holds them.
2. **Bank.** The training sites' features are pooled and thinned by the greedy coreset
   (:func:`anomaly3d.ops.coreset.greedy_coreset`: a fraction — 10 % in BTF — and/or a size cap — 10,000 in
   Reg3D-AD). :class:`MemoryBank`.
3. **Site scores.** A test site's score is the distance of its feature to the nearest bank feature (exact,
   chunked search, bounded memory).
4. **Point scores.** Sites' scores reach every input point: by nearest site (unorganized clouds, as the
   Real3D-AD reference code's ``fill_missing_values(k=1)``) or, for a feature grid, by bilinear upsampling of
   the grid to the image and a Gaussian blur (sigma 4 px, BTF/PatchCore), then reading each point's pixel.
5. **Object score.** ``"max"``: the largest site score (for nearest-site propagation this *is* the largest point
   score — what Reg3D-AD and M3DM report). ``"reweighted"``: PatchCore's eq. 7 as the BTF and Real3D-AD
   reference code implement it: ``w * s*`` with ``s*`` the largest site score, ``m*`` that site's nearest bank
   feature and ``w = 1 - exp(s*/sqrt(D)) / sum_j exp(|m_test - m_j| / sqrt(D))`` over the ``k - 1`` nearest
   bank neighbours ``m_j`` of ``m*`` other than ``m*`` itself (``k = 3``; the code drops ``m*`` from its top-k).

Subclasses implement :meth:`PatchCore.extract` (sample -> :class:`FeatureSites`).
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from anomaly3d.data.sample import DataError, Sample
from anomaly3d.methods.base import AnomalyMethod, MethodConfig, Scores
from anomaly3d.metrics.maps import gaussian_blur
from anomaly3d.ops import knn
from anomaly3d.ops.coreset import as_feature_matrix, feature_knn, greedy_coreset
from anomaly3d.runtime import progress

__all__ = [
    "OBJECT_SCORES",
    "FeatureSites",
    "MemoryBank",
    "PatchCore",
    "PatchCoreConfig",
    "propagate_site_scores",
    "reweighted_max",
]

OBJECT_SCORES = ("max", "reweighted")


@dataclass
class FeatureSites:
    """``G`` feature vectors and where they sit.

    Exactly one of ``positions`` / ``grid_shape`` is set:

    Attributes:
        features: ``(G, D)`` float tensor.
        positions: ``(G, 3)`` coordinates of the sites in the sample's frame (unorganized clouds).
        grid_shape: ``(h, w)`` with ``G = h * w``, row-major (a feature grid over an organized sample's image).
    """

    features: torch.Tensor
    positions: np.ndarray | None = None
    grid_shape: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        g = int(self.features.shape[0])
        if (self.positions is None) == (self.grid_shape is None):
            raise ValueError("FeatureSites needs exactly one of positions (unorganized) or grid_shape (organized)")
        if self.positions is not None and np.asarray(self.positions).shape != (g, 3):
            raise ValueError(f"positions must have shape ({g}, 3), got {np.asarray(self.positions).shape}")
        if self.grid_shape is not None and self.grid_shape[0] * self.grid_shape[1] != g:
            raise ValueError(f"grid_shape {self.grid_shape} does not hold {g} sites")


def reweighted_max(
    query: torch.Tensor, min_dist: torch.Tensor, nn_idx: torch.Tensor, bank: torch.Tensor, k: int = 3
) -> float:
    """PatchCore eq. 7 (as the BTF / Real3D-AD reference code computes it); see the module docstring.

    Args:
        query: ``(G, D)`` test features; min_dist / nn_idx: their nearest-bank distance and index ``(G,)``.
        bank: ``(M, D)`` memory bank; k: neighbourhood size including ``m*`` itself.
    """
    s_idx = int(torch.argmax(min_dist))
    s_star = min_dist[s_idx].double()
    m_test = query[s_idx].to(bank.dtype)
    m_star = bank[nn_idx[s_idx]]
    kk = min(int(k), bank.shape[0])
    if kk < 2:  # a one-row bank has no neighbours of m*: no reweighting possible
        return float(s_star)
    _, neigh = feature_knn(m_star.unsqueeze(0), bank, kk)
    neigh = neigh[0][neigh[0] != nn_idx[s_idx]][: kk - 1]
    dist = torch.linalg.vector_norm(m_test.unsqueeze(0) - bank[neigh], dim=1).double()
    root_d = math.sqrt(query.shape[1])
    w = 1.0 - torch.exp(s_star / root_d) / torch.exp(dist / root_d).sum()
    return float(w * s_star)


class MemoryBank:
    """Pooled training features, thinned by the greedy coreset; nearest-feature queries in bounded memory.

    Args:
        coreset_fraction: keep this fraction of the rows (``None``: no fraction limit).
        coreset_size: keep at most this many rows (``None``: no cap). Both ``None``: keep everything.
        projection_eps: random-projection ``eps`` for the coreset search (``None``: raw features).
        seed: seeds the projection.
        device: where the bank lives and is searched.
    """

    def __init__(
        self,
        *,
        coreset_fraction: float | None = 0.1,
        coreset_size: int | None = None,
        projection_eps: float | None = 0.9,
        seed: int = 0,
        device: torch.device | str = "cpu",
    ) -> None:
        self.coreset_fraction = coreset_fraction
        self.coreset_size = coreset_size
        self.projection_eps = projection_eps
        self.seed = seed
        self.device = torch.device(device)
        self.features: torch.Tensor | None = None
        self.n_candidates = 0

    @property
    def dim(self) -> int:
        if self.features is None:
            raise RuntimeError("the memory bank is empty: call build() first")
        return int(self.features.shape[1])

    def __len__(self) -> int:
        return 0 if self.features is None else int(self.features.shape[0])

    def build(self, features: torch.Tensor | Sequence[torch.Tensor]) -> MemoryBank:
        """Pool ``features`` (one matrix or a list of per-sample matrices) and keep the coreset."""
        parts = [features] if isinstance(features, torch.Tensor) else list(features)
        if not parts:
            raise ValueError("no training features: the memory bank needs at least one training sample")
        dim = as_feature_matrix(parts[0], "training features of sample 0").shape[1]
        mats = [as_feature_matrix(p, f"training features of sample {i}", dim=dim) for i, p in enumerate(parts)]
        pool = torch.cat([m.to(self.device, torch.float32) for m in mats])
        self.n_candidates = int(pool.shape[0])
        if self.coreset_fraction is not None or self.coreset_size is not None:
            idx = greedy_coreset(
                pool,
                size=self.coreset_size,
                fraction=self.coreset_fraction,
                projection_eps=self.projection_eps,
                seed=self.seed,
            )
            pool = pool[idx]
        self.features = pool.contiguous()
        return self

    def nearest(self, query: torch.Tensor, k: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """Distances and indices of the ``k`` nearest bank rows of each query row, ``(G, k)`` each."""
        if self.features is None:
            raise RuntimeError("the memory bank is empty: call build() first")
        q = as_feature_matrix(query, "test features", dim=self.dim)
        return feature_knn(q.to(self.device, torch.float32), self.features, k)

    def state_dict(self) -> dict[str, Any]:
        return {"features": None if self.features is None else self.features.cpu(), "n_candidates": self.n_candidates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        feats = state["features"]
        self.features = None if feats is None else feats.to(self.device, torch.float32)
        self.n_candidates = int(state.get("n_candidates", 0))


def propagate_site_scores(
    site_scores: torch.Tensor, sites: FeatureSites, sample: Sample, *, blur_sigma: float | None = 4.0
) -> tuple[np.ndarray, np.ndarray | None]:
    """Point scores ``(N,)`` (and the ``(H, W)`` map for grid sites) from ``(G,)`` site scores (step 4).

    Grid sites: bilinear upsampling of the ``(h, w)`` grid to the sample's ``image_size`` (``align_corners``
    False, as BTF), Gaussian blur (``blur_sigma`` px; ``None`` skips it), then each point reads its pixel.
    Point sites: each point takes the score of its nearest site.
    """
    s = site_scores.detach().to("cpu", torch.float64)
    if sites.grid_shape is not None:
        if sample.image_size is None or sample.pixel_index is None:
            raise DataError(f"grid features need an organized sample; {sample.category}/{sample.name} has no grid")
        grid = s.view(1, 1, *sites.grid_shape)
        full = F.interpolate(grid, size=sample.image_size, mode="bilinear", align_corners=False)[0, 0].numpy()
        if blur_sigma:
            full = gaussian_blur(full, blur_sigma)
        amap = full.astype(np.float32)
        return amap.reshape(-1)[sample.pixel_index], amap
    pos = np.asarray(sites.positions, dtype=np.float32)
    if pos.shape[0] == sample.num_points and np.array_equal(pos, sample.points):
        return s.numpy().astype(np.float32), None
    _, idx = knn(sample.points, pos, k=1)
    return s.numpy()[np.asarray(idx)[:, 0]].astype(np.float32), None


@dataclass(frozen=True)
class PatchCoreConfig(MethodConfig):
    """Memory-bank settings shared by every PatchCore-style method.

    Attributes:
        coreset_fraction: fraction of the training sites kept (BTF / PatchCore: 0.1; ``None``: no fraction).
        coreset_size: cap on the bank size (Reg3D-AD: 10,000; ``None``: no cap).
        projection_eps: JL ``eps`` of the random projection used by the coreset search (0.9 as PatchCore).
        object_score: ``"max"`` (largest site score) or ``"reweighted"`` (PatchCore eq. 7).
        reweight_k: neighbourhood size of the reweighting (3, as the reference code).
        blur_sigma: Gaussian blur of grid anomaly maps in pixels (4, as BTF; ``0`` disables it).
        seed: seeds the coreset projection and any sampling of the feature extractor.
    """

    coreset_fraction: float | None = 0.1
    coreset_size: int | None = None
    projection_eps: float | None = 0.9
    object_score: str = "max"
    reweight_k: int = 3
    blur_sigma: float = 4.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.object_score not in OBJECT_SCORES:
            raise ValueError(f"object_score must be one of {OBJECT_SCORES}, got {self.object_score!r}")
        if self.reweight_k < 1:
            raise ValueError(f"reweight_k must be >= 1, got {self.reweight_k}")


class PatchCore(AnomalyMethod):
    """Memory-bank anomaly detector over the features of :meth:`extract` (subclasses provide it)."""

    config_class = PatchCoreConfig
    config: PatchCoreConfig

    def __init__(self, config: PatchCoreConfig | None = None, *, device: str | torch.device = "auto") -> None:
        super().__init__(config, device=device)
        self.bank = self._new_bank()

    def _new_bank(self) -> MemoryBank:
        c = self.config
        return MemoryBank(
            coreset_fraction=c.coreset_fraction,
            coreset_size=c.coreset_size,
            projection_eps=c.projection_eps,
            seed=c.seed,
            device=self.device,
        )

    @abstractmethod
    def extract(self, sample: Sample) -> FeatureSites:
        """Features of one sample at its sites (step 1)."""

    def prepare(self, train_samples: list[Sample]) -> None:
        """Hook run before feature extraction in :meth:`fit` (e.g. to fix a scale from the training data)."""

    def fit(self, train_samples: Iterable[Sample]) -> PatchCore:
        samples = list(train_samples)
        if not samples:
            raise ValueError(f"{type(self).__name__}.fit got no training samples")
        self.prepare(samples)
        feats = [self.extract(s).features for s in progress(samples, f"{self.display_name}: training features")]
        self.bank = self._new_bank().build(feats)
        self._fitted = True
        return self

    def score(self, sample: Sample) -> Scores:
        self._require_fitted()
        sites = self.extract(sample)
        dist, idx = self.bank.nearest(sites.features, k=1)
        site_scores, nn_idx = dist[:, 0], idx[:, 0]
        point_scores, amap = propagate_site_scores(
            site_scores, sites, sample, blur_sigma=self.config.blur_sigma or None
        )
        if self.config.object_score == "reweighted":
            query = sites.features.to(self.bank.device, torch.float32)
            obj = reweighted_max(query, site_scores, nn_idx, self.bank.features, self.config.reweight_k)
        else:
            obj = float(site_scores.max())
        return Scores(obj, point_scores, amap)

    @property
    def display_name(self) -> str:
        """The method's name in tables."""
        return self.name

    def state_dict(self) -> dict[str, Any]:
        return {"bank": self.bank.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.bank = self._new_bank()
        self.bank.load_state_dict(state["bank"])
