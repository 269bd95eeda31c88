"""BTF — "Back to the Feature" (Horwitz & Hoshen, CVPRW 2023): a PatchCore memory bank over hand-crafted 3D
features. The baseline rows of every table in the five papers.

* **BTF(Raw)** — the coordinates themselves are the features.
* **BTF(FPFH)** — FPFH descriptors (Rusu et al. 2009, 33 bins) computed with Open3D: normals from at most 30
  neighbours within ``2 v``, descriptors from at most 100 neighbours within ``5 v``, ``v`` the "voxel size".

Two data layouts, as in the reference code:

* **Organized clouds** (MVTec 3D-AD format): samples are read with BTF's preprocessing (RANSAC background
  plane removal, largest DBSCAN cluster — :mod:`anomaly3d.data.organized`) and resized to
  ``image_size`` x ``image_size`` (224). Features are computed on the measured points, scattered onto the
  image (zeros elsewhere — background cells are part of the bank, as in BTF), smoothed by a 3 x 3 average
  (stride 1) and pooled to a ``feature_grid`` x ``feature_grid`` grid (28 x 28 = 784 sites). Site scores are
  upsampled bilinearly and blurred (sigma 4) to the anomaly map; ``v = 0.05`` (BTF, metres). With ``v`` that
  large both radii exceed the object, so the neighbour caps (30 / 100) are what define the neighbourhoods.
* **Unorganized clouds** (Real3D-AD, Anomaly-ShapeNet formats): features at ``n_sites`` sites chosen by FPS
  (FPFH is computed on the full cloud, then read at the sites); point scores by nearest site. The Real3D-AD
  reference code uses ``v = 0.5`` on its millimetre scans and keeps every 100th training point and every 500th
  test point; we instead (i) pick sites by FPS on both sides (even coverage, equal density in bank and query)
  and (ii) scale ``v`` to the data: ``v = spacing_factor x`` the median nearest-neighbour spacing of the
  training clouds (fixed at ``fit``), ``spacing_factor = 2.5`` — radii of 5 and 12.5 spacings, large enough
  that, as in BTF's MVTec setting, the neighbour caps bind. Set ``voxel_size`` to use a fixed value instead.

Object score: BTF's code reweights the largest patch score (PatchCore eq. 7, ``object_score="reweighted"``,
the default here); ``"max"`` gives the plain maximum that Reg3D-AD and M3DM report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from anomaly3d.data.sample import DataError, Sample
from anomaly3d.methods.base import register_method
from anomaly3d.methods.patchcore import FeatureSites, PatchCore, PatchCoreConfig
from anomaly3d.ops import fpfh, fps, median_nn_spacing

__all__ = ["BTF", "BTF_FEATURES", "MVTEC_VOXEL_SIZE", "BTFConfig"]

BTF_FEATURES = ("raw", "fpfh")
MVTEC_VOXEL_SIZE = 0.05
"""BTF's FPFH voxel size on MVTec 3D-AD (metres): normals within 0.1, descriptors within 0.25."""


@dataclass(frozen=True)
class BTFConfig(PatchCoreConfig):
    """BTF settings (defaults: the BTF paper / reference code where it defines them).

    Attributes:
        features: ``"raw"`` (coordinates) or ``"fpfh"``.
        voxel_size: FPFH scale ``v`` (normal radius ``2 v``, feature radius ``5 v``); ``None`` = 0.05 on
            organized MVTec-format data, ``spacing_factor`` x training spacing elsewhere.
        spacing_factor: see ``voxel_size``.
        max_nn: neighbour cap of the FPFH descriptor (100).
        max_nn_normal: neighbour cap of the normal estimation (30).
        n_sites: FPS sites per unorganized cloud (``None``: every point is a site).
        image_size: side of the organized grid after preprocessing (224).
        feature_grid: side of the pooled feature grid (28).
        smooth_kernel: side of the stride-1 average before pooling (3; 1 disables it).
    """

    features: str = "fpfh"
    voxel_size: float | None = None
    spacing_factor: float = 2.5
    max_nn: int = 100
    max_nn_normal: int = 30
    n_sites: int | None = 4096
    image_size: int = 224
    feature_grid: int = 28
    smooth_kernel: int = 3
    object_score: str = "reweighted"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.features not in BTF_FEATURES:
            raise ValueError(f"features must be one of {BTF_FEATURES}, got {self.features!r}")
        if self.voxel_size is not None and not self.voxel_size > 0:
            raise ValueError(f"voxel_size must be > 0 or None, got {self.voxel_size!r}")
        if self.n_sites is not None and self.n_sites < 1:
            raise ValueError(f"n_sites must be >= 1 or None, got {self.n_sites!r}")
        if self.feature_grid < 1 or self.image_size < self.feature_grid:
            raise ValueError(f"need 1 <= feature_grid <= image_size, got {self.feature_grid}, {self.image_size}")


@register_method
class BTF(PatchCore):
    """BTF(Raw) / BTF(FPFH) on organized or unorganized clouds (module docstring)."""

    name = "btf"
    config_class = BTFConfig
    config: BTFConfig

    def __init__(self, config: BTFConfig | None = None, *, device: str | torch.device = "auto") -> None:
        super().__init__(config, device=device)
        self.voxel_size_: float | None = self.config.voxel_size

    @property
    def display_name(self) -> str:
        return "BTF(Raw)" if self.config.features == "raw" else "BTF(FPFH)"

    def load_options(self, dataset: str) -> dict[str, Any]:
        if dataset == "mvtec3d-ad":
            return {"preprocess": "btf", "resize": self.config.image_size, "with_rgb": False}
        return {}

    # -- features -------------------------------------------------------------------------------------------
    def prepare(self, train_samples: list[Sample]) -> None:
        if self.config.voxel_size is not None:
            self.voxel_size_ = float(self.config.voxel_size)
        elif all(s.is_organized for s in train_samples):
            self.voxel_size_ = MVTEC_VOXEL_SIZE
        else:
            self.voxel_size_ = self.config.spacing_factor * float(
                np.median([median_nn_spacing(s.points) for s in train_samples])
            )

    def point_features(self, points: np.ndarray) -> np.ndarray:
        """``(N, D)`` per-point features of a cloud: its coordinates, or FPFH at the fitted scale."""
        if self.config.features == "raw":
            return np.asarray(points, dtype=np.float32)
        if self.voxel_size_ is None:
            raise RuntimeError("the FPFH scale is not set: call fit() first (or give voxel_size)")
        if len(points) < 5:
            raise DataError(f"FPFH needs at least 5 points, got {len(points)}")
        v = self.voxel_size_
        return np.asarray(
            fpfh(points, radius_normal=2 * v, radius_feature=5 * v, max_nn=self.config.max_nn,
                 max_nn_normal=self.config.max_nn_normal),
            dtype=np.float32,
        )

    def extract(self, sample: Sample) -> FeatureSites:
        feats = self.point_features(sample.points)
        if sample.is_organized:
            return self._grid_sites(sample, feats)
        n_sites = self.config.n_sites
        if n_sites is None or n_sites >= sample.num_points:
            return FeatureSites(torch.from_numpy(feats), positions=sample.points)
        idx = np.asarray(fps(sample.points, n_sites))  # deterministic: starts at point 0
        return FeatureSites(torch.from_numpy(feats[idx]), positions=sample.points[idx])

    def _grid_sites(self, sample: Sample, feats: np.ndarray) -> FeatureSites:
        h, w = sample.image_size
        grid = np.zeros((h * w, feats.shape[1]), dtype=np.float32)
        grid[sample.pixel_index] = feats
        t = torch.from_numpy(grid).T.reshape(1, feats.shape[1], h, w)
        k = self.config.smooth_kernel
        if k > 1:
            t = F.avg_pool2d(t, k, stride=1)
        g = self.config.feature_grid
        t = F.adaptive_avg_pool2d(t, (g, g))
        return FeatureSites(t[0].reshape(feats.shape[1], g * g).T.contiguous(), grid_shape=(g, g))

    # -- state ----------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "voxel_size": self.voxel_size_}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.voxel_size_ = state["voxel_size"]
