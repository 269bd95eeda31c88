"""anomaly3d.methods: every paper's method and every baseline, behind one interface.

========================  ==============================================================================
:class:`AnomalyMethod`    ``fit(train_samples)``, ``score(sample) -> (object_score, point_scores)``,
                          ``save`` / :func:`load_method`, ``from_profile(profile, **overrides)``
:class:`PatchCore`        memory bank + greedy coreset + nearest-feature scores (base of the banks)
:class:`BTF`              BTF(Raw) / BTF(FPFH) (Horwitz & Hoshen 2023)
:class:`ST3D`             3D-ST: student-teacher on a receptive-field-pretrained teacher (Bergmann & Sattlegger)
:class:`IMRNet`           IMRNet: GPS patches + iterative Point-MAE mask reconstruction + DFC (Li et al. 2024)
:class:`Reg3DAD`          Reg3D-AD: registration to a template + Point-MAE and xyz memory banks (Real3D-AD)
:class:`PatchCorePointMAE`  PatchCore(PointMAE): one bank of Point-MAE group features, no registration
:class:`Group3AD`         Group3AD: Reg3D-AD banks on an encoder trained with IUN/IAN, AGCS centres (Zhu et al.)
:class:`PO3AD`            PO3AD: point offsets predicted on normal-guided pseudo anomalies (Ye et al.)
:class:`ShapeGuided`      Shape-Guided: SDF memory of local patches guiding an RGB memory (Chu et al. 2023)
:func:`evaluate_method`   fit on a category's train split, score its test split, every metric
========================  ==============================================================================

:func:`build_method` makes any registered method from its name and a profile.
"""

from __future__ import annotations

from typing import Any

import torch

from anomaly3d.methods.base import (
    AnomalyMethod,
    MethodConfig,
    NotFittedError,
    Scores,
    load_method,
    method_class,
    register_method,
)
from anomaly3d.methods.btf import BTF, BTFConfig
from anomaly3d.methods.evaluation import CategoryRun, display_name, evaluate_method
from anomaly3d.methods.group3ad import Group3AD, Group3ADConfig
from anomaly3d.methods.imrnet import IMRNet, IMRNetConfig
from anomaly3d.methods.patchcore import FeatureSites, MemoryBank, PatchCore, PatchCoreConfig
from anomaly3d.methods.po3ad import PO3AD, PO3ADConfig
from anomaly3d.methods.reg3dad import PatchCorePointMAE, PatchCorePointMAEConfig, Reg3DAD, Reg3DADConfig
from anomaly3d.methods.shape_guided import ShapeGuided, ShapeGuidedConfig
from anomaly3d.methods.st3d import ST3D, ST3DConfig
from anomaly3d.profiles import Profile

__all__ = [
    "BTF",
    "PO3AD",
    "ST3D",
    "AnomalyMethod",
    "BTFConfig",
    "CategoryRun",
    "FeatureSites",
    "Group3AD",
    "Group3ADConfig",
    "IMRNet",
    "IMRNetConfig",
    "MemoryBank",
    "MethodConfig",
    "NotFittedError",
    "PO3ADConfig",
    "PatchCore",
    "PatchCoreConfig",
    "PatchCorePointMAE",
    "PatchCorePointMAEConfig",
    "Reg3DAD",
    "Reg3DADConfig",
    "ST3DConfig",
    "Scores",
    "ShapeGuided",
    "ShapeGuidedConfig",
    "build_method",
    "display_name",
    "evaluate_method",
    "load_method",
    "method_class",
    "register_method",
]


def build_method(
    name: str, profile: str | Profile = "quick", *, device: str | torch.device = "auto", **overrides: Any
) -> AnomalyMethod:
    """An unfitted method ``name`` (e.g. ``"btf"``) configured from ``profile`` (``overrides`` win)."""
    return method_class(name).from_profile(profile, device=device, **overrides)
