"""The one place that defines the run profiles ``smoke``, ``quick`` and ``paper``.

* ``smoke``  — CI and nbval: every notebook in seconds, a handful of tiny clouds.
* ``quick``  — a laptop CPU or Binder (2 cores, ~2 GB RAM): minutes per notebook, a few categories.
* ``paper``  — the papers' own hyperparameters, for a GPU and the real datasets.

Library code and notebooks read the same :class:`Profile` objects through :func:`get_profile`; a method's
config dataclass is built from ``profile.method(name)``, so a method's profile-dependent settings also live
here and nowhere else.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = ["PROFILES", "PROFILE_NAMES", "Profile", "UnknownProfileError", "get_profile"]


class UnknownProfileError(ValueError):
    """Raised for a profile name that is not defined here; the message lists the valid names."""


@dataclass(frozen=True)
class Profile:
    """Sizes for one run profile.

    Attributes:
        name: ``smoke`` | ``quick`` | ``paper``.
        description: one line for humans.
        categories: embedded-benchmark categories to use (``None`` = all the dataset has).
        n_train: training (template) samples per category in the embedded benchmark.
        n_test_good: anomaly-free test samples per category.
        n_test_per_defect: defective test samples per defect type and category.
        n_points: surface points per sampled cloud (embedded data; loaders of real data keep every point
            unless a method subsamples).
        image_size: side of the organized (MVTec-format) xyz/RGB grids of the embedded benchmark.
        max_epochs: default upper bound on training epochs for any learned method (methods may override in
            ``methods``).
        methods: per-method settings, keyed by method name (read with :meth:`method`).
    """

    name: str
    description: str
    categories: tuple[str, ...] | None
    n_train: int
    n_test_good: int
    n_test_per_defect: int
    n_points: int
    image_size: int
    max_epochs: int
    methods: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def method(self, name: str) -> dict[str, Any]:
        """Settings of method ``name`` under this profile (an empty dict if it defines none)."""
        return dict(self.methods.get(name, {}))

    def as_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["categories"] = list(self.categories) if self.categories is not None else None
        d["methods"] = {k: dict(v) for k, v in self.methods.items()}
        return d


_SMOKE_CATEGORIES = ("bottle", "gear")
_QUICK_CATEGORIES = ("bottle", "bowl", "cup", "gear")

# Reg3D-AD's backbone and bank sizes per CPU profile (shared by PatchCore(PointMAE) and Group3AD; the backbone
# settings equal IMRNet's, so the pretrained Point-MAE cache is shared too)
_SMOKE_REG3D: dict[str, Any] = {
    "num_groups": 128, "group_size": 16, "feature_layers": (1, 2), "trans_dim": 32, "encoder_depth": 2,
    "decoder_depth": 3, "heads": 2, "tokenizer_width": 16, "drop_path": 0.0, "pretrain_groups": 32,
    "pretrain_group_size": 16, "pretrain_mask_ratio": 0.4, "pretrain_points": 512, "pretrain_objects": 12,
    "pretrain_epochs": 4, "pretrain_batch_size": 8, "memory_size": 1000, "ransac_iterations": 5000,
}
_QUICK_REG3D: dict[str, Any] = {
    "num_groups": 1024, "group_size": 32, "feature_layers": (2, 3, 4), "trans_dim": 96, "encoder_depth": 4,
    "decoder_depth": 3, "heads": 4, "tokenizer_width": 64, "drop_path": 0.0, "pretrain_groups": 128,
    "pretrain_group_size": 32, "pretrain_mask_ratio": 0.4, "pretrain_points": 2048, "pretrain_objects": 48,
    "pretrain_epochs": 40, "pretrain_batch_size": 16, "memory_size": 4000, "ransac_iterations": 20000,
}

PROFILES: Mapping[str, Profile] = MappingProxyType(
    {
        "smoke": Profile(
            name="smoke",
            description="CI / nbval: seconds per notebook, two categories of tiny clouds",
            categories=_SMOKE_CATEGORIES,
            n_train=2,
            n_test_good=2,
            n_test_per_defect=1,
            n_points=1024,
            image_size=64,
            max_epochs=2,
            methods={
                "btf": {"n_sites": 1024},
                "3d-st": {"d": 16, "n_blocks": 1, "k": 8, "n_points": 512, "pretrain_scenes": 4,
                          "pretrain_val_scenes": 2, "pretrain_epochs": 2, "decoder_points": 128,
                          "fields_per_step": 4, "epochs": 5, "min_steps": 600, "objects": 12},
                "imrnet": {"num_groups": 32, "group_size": 16, "trans_dim": 32, "encoder_depth": 2,
                           "decoder_depth": 3, "heads": 2, "tokenizer_width": 16, "drop_path": 0.0,
                           "pretrain_points": 512, "pretrain_objects": 12, "pretrain_epochs": 4,
                           "pretrain_batch_size": 8, "steps": 200, "batch_size": 4, "lr": 1e-3},
                # Reg3D-AD: IMRNet's smoke backbone (the same cache entry), small banks, a short RANSAC
                "reg3d-ad": _SMOKE_REG3D,
                "patchcore-pointmae": _SMOKE_REG3D,
                "group3ad": {**_SMOKE_REG3D, "train_groups": 64, "train_group_size": 16, "epochs": 2, "lr": 1e-4,
                             "k_max": 4},
                # Shape-Guided: the 100-pixel embedded grids as they are, 64-point patches, a small shape expert
                "shape-guided": {"image_size": None, "patch_size": 64, "overlap": 4.0, "feature_dim": 32,
                                 "encoder_widths": (32, 64, 128), "encoder_hidden": 64, "nif_width": 64,
                                 "nif_layers": 2, "epochs": 300, "batch_size": 16, "lr": 1e-3, "queries_per_point": 4,
                                 "sigma_neighbour": 16},
                # PO3AD: a two-stage sparse U-Net on the 1024-point clouds (0.1 voxels: one or two points each),
                # a few iterations; this checks the plumbing only (learning needs far more)
                "po3ad": {"backbone": "small", "width": 8, "blocks": 1, "stages": 2, "iterations": 20,
                          "batch_size": 2, "voxel_size": 0.1, "patches": 16, "train_source": "cloud",
                          "head_init": "zero", "dist_mean": "balanced", "displaced_per_cloud": 4,
                          "rotate": False},
            },
        ),
        "quick": Profile(
            name="quick",
            description="laptop CPU / Binder: minutes per notebook, four categories",
            categories=_QUICK_CATEGORIES,
            n_train=4,
            n_test_good=4,
            n_test_per_defect=2,
            n_points=4096,
            image_size=128,
            max_epochs=20,
            methods={
                "btf": {"n_sites": 4096},
                # 3D-ST: 2 residual blocks (L = 4 hops), k = 16, 2048 points, a 32-scene pretraining set
                "3d-st": {"d": 64, "n_blocks": 2, "k": 16, "n_points": 2048, "pretrain_scenes": 32,
                          "pretrain_val_scenes": 4, "pretrain_epochs": 15, "decoder_points": 512,
                          "fields_per_step": 16, "epochs": 60, "min_steps": 480, "objects": 24},
                # IMRNet: a 4+3-block, 96-wide Point-MAE on 128 x 32 patches of the 4096-point clouds
                "imrnet": {"num_groups": 128, "group_size": 32, "trans_dim": 96, "encoder_depth": 4,
                           "decoder_depth": 3, "heads": 4, "tokenizer_width": 64, "drop_path": 0.0,
                           "pretrain_points": 2048, "pretrain_objects": 48, "pretrain_epochs": 40,
                           "pretrain_batch_size": 16, "steps": 150, "batch_size": 8, "lr": 5e-4},
                # Reg3D-AD: IMRNet's quick backbone (the same cache entry), 1024 x 32 patches, 4000-row banks
                "reg3d-ad": _QUICK_REG3D,
                "patchcore-pointmae": _QUICK_REG3D,
                "group3ad": {**_QUICK_REG3D, "train_groups": 256, "train_group_size": 32, "epochs": 10, "lr": 1e-4,
                             "k_max": 8},
                # Shape-Guided: the 200-pixel embedded grids as they are, 128-point patches, a small shape expert
                "shape-guided": {"image_size": None, "patch_size": 128, "overlap": 4.0, "feature_dim": 64,
                                 "encoder_widths": (64, 128, 256), "encoder_hidden": 128, "nif_width": 128,
                                 "nif_layers": 3, "epochs": 40, "batch_size": 32, "lr": 1e-3, "queries_per_point": 20,
                                 "sigma_neighbour": 32},
                # PO3AD: a 16-wide four-stage sparse U-Net on the whole 4096-point clouds (train and test clouds
                # equally dense), 0.05 voxels (the points are ~0.035 apart), J = 32, 180 iterations of 4 clouds;
                # for so short a run: lr 3e-3, 8 patches displaced per cloud, no rotation, balanced L_dist and a
                # zero head (see anomaly3d.methods.po3ad)
                "po3ad": {"backbone": "small", "width": 16, "blocks": 1, "stages": 4, "iterations": 180,
                          "lr": 3e-3, "batch_size": 4, "voxel_size": 0.05, "patches": 32, "train_source": "cloud",
                          "head_init": "zero", "dist_mean": "balanced", "displaced_per_cloud": 8,
                          "rotate": False},
            },
        ),
        "paper": Profile(
            name="paper",
            description="the papers' own hyperparameters, every category; meant for a GPU",
            categories=None,
            n_train=4,
            n_test_good=12,
            n_test_per_defect=4,
            n_points=16384,
            image_size=224,
            max_epochs=250,
            # BTF: every 784-cell grid of MVTec 3D-AD; 16,384 FPS sites per unorganized scan (the Real3D-AD
            # reference keeps every 100th training point instead: ~4k of a 400k-point scan)
            # 3D-ST, IMRNet: the papers' settings (the config defaults)
            methods={"btf": {"n_sites": 16384}, "3d-st": {}, "imrnet": {}, "reg3d-ad": {}, "patchcore-pointmae": {}, "group3ad": {},
                     "shape-guided": {}, "po3ad": {}},
        ),
    }
)

PROFILE_NAMES: tuple[str, ...] = tuple(PROFILES)


def get_profile(name: str | Profile) -> Profile:
    """Return the profile called ``name`` (a :class:`Profile` passes through unchanged).

    Raises:
        UnknownProfileError: if ``name`` is not one of :data:`PROFILE_NAMES`; the message lists them.
    """
    if isinstance(name, Profile):
        return name
    try:
        return PROFILES[name]
    except (KeyError, TypeError):
        valid = ", ".join(repr(n) for n in PROFILE_NAMES)
        raise UnknownProfileError(f"unknown profile {name!r}; valid profiles are {valid}") from None
