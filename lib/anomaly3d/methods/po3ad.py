"""PO3AD — point-offset prediction on normal-vector-guided pseudo anomalies (Ye et al., "PO3AD: Predicting Point
Offsets toward Better 3D Point Cloud Anomaly Detection"). Written from the paper and checked against the official
code (GitHub ``yjnanan/PO3AD``: ``network/PO3AD.py``, ``datasets/*/dataset_preprocess.py``, ``datasets/Real3D/
transform.py``, ``train.py``, ``config/config_train.py``, ``eval.py``).

1. **Normalisation** (Sec. 4.2): every cloud, training and test alike, is centred on its centroid and scaled so
   that its farthest point is at distance 1 (:func:`normalize_unit_ball`; the official ``NormalizeCoord``). A
   test cloud is normalised by its own centroid and radius.
2. **Norm-AS** (Sec. 3.2, eq. 4): the cloud is cut into ``J = patches`` (64) patches grown one by one from a
   random seed over the points not yet used (:func:`grow_patches`); one patch is displaced,
   ``p' = p + alpha * n * (1 - w) * beta`` with ``alpha`` in {-1, +1}, ``beta ~ U(0.06, 0.12)``, ``n`` the
   point's normal and ``w`` its distance to the patch centre divided by the largest such distance in the patch
   (:func:`norm_as`). A fresh pseudo anomaly is drawn for every cloud of every training step.
3. **Offset prediction network** (Sec. 3.1.1): the displaced cloud is voxelised (``voxel_size`` 0.03, a voxel's
   feature is one of its points' xyz), a sparse U-Net (:class:`anomaly3d.nn.sparse_unet.SparseUNet`,
   MinkUNet34C with ``C = 32`` in the paper) gives per-voxel features, every point takes its voxel's features
   and an MLP ``C -> C -> 16 -> 3`` (BatchNorm + PReLU) predicts its offset (:class:`OffsetNet`).
4. **Offset loss** (Sec. 3.1.2, eqs. 1-3): ``L = L_dist + L_dir``, the mean L1 distance between predicted and
   true offsets plus the negative mean cosine between them (:func:`offset_loss`).
5. **Scores** (Sec. 3.3, eqs. 5-6): a point's score is the L1 norm of its predicted offset
   (:func:`point_scores`); the object score is their mean (:func:`object_score`).

Training follows Sec. 4.2 and ``train.py``: Adam (lr 1e-3, no weight decay), batches of 32 clouds, 12,000
iterations (1,000 epochs of the 4 training clouds replicated 100 times, 400 // 32 = 12 batches per epoch), the
learning rate constant for the first 9 of those 1,000 epochs (``flat_fraction = 0.009``) then cosine-annealed to
``1e-6`` (:func:`cosine_lr`); every training cloud is rotated by random angles about z, y and x first.

Sign of the offsets. The paper defines the ground truth as ``O^gt = P_hat - P`` (Sec. 3.1.1) and the official
code computes ``gt_offset = new_xyz - xyz``: the target is the displacement applied by Norm-AS (from the original
point to the displaced one), not the vector that moves a point back. We follow both. The scores (eqs. 5-6) do not
depend on the sign.

Where the official code differs from the paper (``datasets/*/dataset_preprocess.py`` unless said otherwise),
each difference is a setting, the paper's choice the default:

* *Direction of the displacement.* The code moves points along ``|n|`` (the absolute value of every normal
  component, ``np.abs(normals)``), not along ``n``: ``direction="abs_normal"`` (default ``"normal"``).
  ``"random"`` moves the patch along one uniformly random unit direction (the "w/o normal vectors" variant of
  Table 4 / Fig. 4(c)).
* *Which patch is displaced.* The code draws it from the first ``J // 2`` patches grown (``np.arange(0,
  mask_num // 2)``), the more compact ones, grown while most of the cloud was still free; the paper says "a
  randomly sampled" patch: ``displaced_patches="first_half"`` (default ``"any"``).
* *Normalisation of L_dir.* Eq. 3 and ``network/PO3AD.py`` both divide the summed cosines by the number of
  *all* points ``N`` (an undisplaced point's unit target is ``0 / (0 + eps) = 0``, so it adds 0 to the sum but 1
  to the count); the minimum of ``L_dir`` is then ``-M / N`` for ``M`` displaced points, not ``-1``. This is the
  default (``dir_mean="all"``); ``"displaced"`` divides by ``M`` instead.
* *The learning-rate schedule* is a staircase in the code (the rate changes once per epoch, ``train.py``
  ``cosine_lr_after_step`` with ``step_epoch = 10``, epochs counted from 1, denominator ``1001 - 10``); here it
  changes every iteration and reaches ``min_lr`` exactly at the last one (the two differ by < 1e-5 relative).
* *Scale.* The paper scales clouds "to range from -1 to 1"; the code (``NormalizeCoord``) puts the farthest
  point at distance 1 (the unit ball), which we follow.
* *Training points.* The paper takes the normals "from official dataset OBJ files" and does no down-sampling;
  the code trains on the template OBJ's vertices themselves, with Open3D ``compute_vertex_normals``. Test clouds
  are the PCD files (the GT ``.txt`` points for anomalous samples) in both.

Settings that are neither the paper's nor the code's, for training on a CPU (the ``smoke`` and ``quick`` profiles
use them; the defaults and the ``paper`` profile do not). The paper trains 12,000 iterations of 32 clouds; a CPU
affords a few hundred of 4. Measured on the embedded ``bottle`` (quick data, 300 iterations of 4 clouds of 4,096
points, J = 32) by the median, over 12 fresh single-patch pseudo anomalies, of the mean predicted offset length on
the displaced patch over that on the rest of the cloud (1 = not found):

* *Several displaced patches per training cloud* (``displaced_per_cloud``). With one patch of ``J`` displaced,
  about 3 % of the points carry a non-zero target; a short run sees too few of them. Displacing 8 of the 32
  patches of every training cloud (each with its own ``alpha`` and ``beta``) gives the network 8 times as many
  displaced points per step. On a sphere without rotation this took the ratio from 0.74 to 2.6 in 400
  iterations.
* *No rotation* (``rotate=False``). The test clouds of Anomaly-ShapeNet and of the embedded data are in the
  training clouds' pose; learning offsets for every orientation is a harder task than a short run can learn
  (bottle, 8 displaced patches: ratio 1.50 with rotations, 2.33 without).
* *Balanced L_dist* (``dist_mean="balanced"``): the mean L1 distance over the undisplaced points plus the mean
  over the displaced ones, instead of one mean over all ``N`` (eq. 2). An L1 loss is minimised by the conditional
  *median*, so a point's predicted offset stays at zero until the network is more than half sure the point moved;
  equal weights lower that bar (bottle, 8 displaced patches, no rotation: ratio 1.18 with eq. 2, 2.33 balanced).
* *Zero-initialised last layer* (``head_init="zero"``): the head's last ``Linear`` starts at zero, so training
  starts from the all-zero offsets a normal cloud should get instead of PyTorch's default initialisation, whose
  offsets of about 0.3 per component take a large part of a short run to unlearn.
* *A larger learning rate* (the ``quick`` profile's ``lr=3e-3``, with the same cosine schedule). With all of the
  above and 250 iterations, on four clouds of one procedural bottle (the test of this behaviour), seed 1 gave a
  median ratio of 1.09 at ``lr=1e-3``, 1.49 at 2e-3 and 2.25 at 4e-3.

Choices the paper leaves open (all settings):

* *Patches.* Each patch is a random not-yet-used seed point and its ``N // J - 1`` nearest not-yet-used points
  (the paper's and the code's rule). The ``N mod J`` points left over at the end join the patch of their nearest
  assigned point (the code puts them all into the last patch, which makes that patch scattered over the cloud).
  The patch *centre* of eq. 4 is its seed (as in the code), so the seed moves by exactly ``beta``.
* *Random direction* (``direction="random"``): one direction per displaced patch, uniform on the sphere.
* *Normals.* ``sample.normals`` when the sample has them; else PCA normals of the ``normal_k`` (16) nearest
  points (:func:`anomaly3d.ops.estimate_normals`), whose sign eq. 4 needs consistent within a patch. With
  ``normal_orient="consistent"`` (default) they are oriented once per training cloud by Open3D's tangent-plane
  propagation (:func:`anomaly3d.ops.orient_normals`; about 4 s per 100k points on one core), ``"outward"`` points
  them away from the centroid (wrong inside concave parts), and ``"patch"`` (cheap on any cloud size) flips the
  displaced patch's normals to agree with its seed's normal, which is right for compact patches but not for the
  scattered ones below.
* *Patch shapes.* Growing patches greedily leaves the last ones to collect the gaps the earlier ones left: on a
  sphere of 8,192 points with ``J = 64`` the first 32 patches reach 0.24-0.32 from their seed, the last 8 reach
  0.4-1.8 (the whole sphere). ``displaced_patches="any"`` (the paper) displaces such fragments now and then;
  ``"first_half"`` (the official code) never does.
* *Training clouds* (``train_source="mesh"``). An Anomaly-ShapeNet training sample read from its PCD carries
  its template mesh in ``extras["mesh_path"]``; ``fit`` then reads the mesh's vertices and vertex normals
  (:func:`anomaly3d.data.formats.anomaly_shapenet.load_sample` with ``use_mesh=True``). This is done in ``fit``,
  not through :meth:`PO3AD.load_options`, because the evaluation passes one set of load options to the train and
  the test split and ``use_mesh`` is a train-split option. Samples without a mesh (Real3D-AD, MVTec 3D-AD,
  synthetic clouds) are used as they are; ``train_source="cloud"`` always uses the samples' own points.
* *Rotation.* A uniform angle (a full turn) about z, then y, then x (the code's ``RandomRotate`` order); as the
  cloud is normalised afterwards, the rotation centre does not matter.
* *Voxel features.* ``voxel_feature="first"`` feeds the xyz of the voxel's first point, as MinkowskiEngine's
  ``sparse_quantize(xyz, xyz)`` does; ``"mean"`` averages the voxel's points.
* *Batches.* Each step draws ``batch_size`` clouds from consecutive random permutations of the training set (so
  every cloud is used equally often, like the code's shuffled replicated list).
* *Test noise* (Fig. 7): Gaussian noise of standard deviation ``test_noise`` is added to the *normalised* test
  cloud (the paper does not say in which frame; the official code has no noise option), seeded by
  ``noise_seed`` and the sample's name, so the same sample gets the same noise every time.
"""

from __future__ import annotations

import copy
import math
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from anomaly3d.data.sample import GOOD, DataError, Sample
from anomaly3d.methods.base import AnomalyMethod, MethodConfig, Scores, register_method
from anomaly3d.metrics import auroc
from anomaly3d.nn.sparse_unet import (
    SparseTensor,
    SparseUNet,
    SparseUNetConfig,
    sparse_quantize,
    voxel_to_point,
)
from anomaly3d.ops import (
    apply_rotation,
    estimate_normals,
    knn,
    normalize_unit_sphere,
    orient_normals,
    random_rotation,
)
from anomaly3d.runtime import progress

__all__ = [
    "BACKBONES",
    "DIRECTIONS",
    "DIR_MEANS",
    "DISPLACED_PATCHES",
    "DIST_MEANS",
    "HEAD_INITS",
    "LOSSES",
    "NORMAL_ORIENTS",
    "PO3AD",
    "TRAIN_SOURCES",
    "VOXEL_FEATURES",
    "OffsetNet",
    "PO3ADConfig",
    "PseudoAnomaly",
    "cosine_lr",
    "displaceable_patches",
    "grow_patches",
    "norm_as",
    "normalize_unit_ball",
    "object_score",
    "offset_loss",
    "point_scores",
]

BACKBONES = ("minkunet34c", "small")
DIRECTIONS = ("normal", "abs_normal", "random")
DISPLACED_PATCHES = ("any", "first_half")
LOSSES = ("both", "dist", "dir")
DIR_MEANS = ("all", "displaced")
DIST_MEANS = ("all", "balanced")
HEAD_INITS = ("default", "zero")
TRAIN_SOURCES = ("mesh", "cloud")
NORMAL_ORIENTS = ("patch", "consistent", "outward")
VOXEL_FEATURES = ("first", "mean")

_EPS = 1e-8  # eq. 3's epsilon


@dataclass(frozen=True)
class PO3ADConfig(MethodConfig):
    """PO3AD settings; the defaults are the paper's (Sec. 4.2) where it gives them (module docstring).

    Attributes:
        backbone: ``"minkunet34c"`` (the paper's) or ``"small"``
            (:meth:`~anomaly3d.nn.sparse_unet.SparseUNetConfig.small`, for CPU profiles).
        width, blocks, stages: the ``small`` U-Net (encoder widths ``width * 2^i``, ``blocks`` BasicBlocks per
            stage, ``stages`` stride-2 stages); ignored for ``minkunet34c``.
        feature_dim: ``C``, the backbone's output channels and the head's width (32).
        voxel_size: voxel edge in normalised units (0.03).
        voxel_feature: ``"first"`` (one point's xyz, the official code) or ``"mean"``.
        iterations, batch_size: optimisation steps (12,000) and clouds per step (32).
        train_points: each training cloud is randomly subsampled to this many points per step (``None``: all, as
            in the paper).
        lr, min_lr, flat_fraction: Adam's learning rate (1e-3), the cosine schedule's floor (1e-6) and the share
            of iterations at constant ``lr`` before it (0.009 = 9 of 1,000 epochs).
        patches: ``J`` (64).
        beta: range of the centre's displacement ``beta`` (0.06, 0.12).
        direction: ``"normal"`` (eq. 4), ``"abs_normal"`` (official code) or ``"random"`` (Table 4).
        displaced_patches: ``"any"`` (paper) or ``"first_half"`` (official code).
        rotate: random rotations about z, y, x of every training cloud.
        loss: ``"both"`` (eq. 1), ``"dist"`` (``L_dist`` only, Table 4 variant 1) or ``"dir"`` (``L_dir`` only,
            variant 2).
        dir_mean: ``L_dir``'s denominator: ``"all"`` points (eq. 3, official code) or the ``"displaced"`` ones.
        dist_mean: ``L_dist`` as one mean over ``"all"`` points (eq. 2) or ``"balanced"``: the mean over the
            undisplaced points plus the mean over the displaced ones (CPU profiles; module docstring).
        head_init: ``"default"`` (PyTorch's, as the official code) or ``"zero"`` (the head's last layer starts at
            zero; CPU profiles).
        displaced_per_cloud: patches Norm-AS displaces in each training cloud (1: the paper and the code; more
            gives a short CPU run more displaced points to learn from; module docstring).
        train_source: ``"mesh"`` (template meshes where the samples point to one) or ``"cloud"``.
        normal_k, normal_orient: neighbours for estimated normals and how their sign is fixed (module docstring).
        test_noise, noise_seed: Gaussian noise added to normalised test clouds (Fig. 7) and its seed.
        seed: initialisation, pseudo anomalies, rotations, batches.
    """

    backbone: str = "minkunet34c"
    width: int = 16
    blocks: int = 1
    stages: int = 4
    feature_dim: int = 32
    voxel_size: float = 0.03
    voxel_feature: str = "first"
    iterations: int = 12000
    batch_size: int = 32
    train_points: int | None = None
    lr: float = 1e-3
    min_lr: float = 1e-6
    flat_fraction: float = 0.009
    patches: int = 64
    beta: tuple[float, float] = (0.06, 0.12)
    direction: str = "normal"
    displaced_patches: str = "any"
    rotate: bool = True
    loss: str = "both"
    dir_mean: str = "all"
    dist_mean: str = "all"
    head_init: str = "default"
    displaced_per_cloud: int = 1
    train_source: str = "mesh"
    normal_k: int = 16
    normal_orient: str = "consistent"
    test_noise: float = 0.0
    noise_seed: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        for name, choices in (
            ("backbone", BACKBONES),
            ("voxel_feature", VOXEL_FEATURES),
            ("direction", DIRECTIONS),
            ("displaced_patches", DISPLACED_PATCHES),
            ("loss", LOSSES),
            ("dir_mean", DIR_MEANS),
            ("dist_mean", DIST_MEANS),
            ("head_init", HEAD_INITS),
            ("train_source", TRAIN_SOURCES),
            ("normal_orient", NORMAL_ORIENTS),
        ):
            if getattr(self, name) not in choices:
                raise ValueError(
                    f"PO3ADConfig.{name} must be one of {', '.join(choices)}, got {getattr(self, name)!r}"
                )
        for name in (
            "width",
            "blocks",
            "stages",
            "feature_dim",
            "iterations",
            "batch_size",
            "patches",
            "displaced_per_cloud",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"PO3ADConfig.{name} must be an integer >= 1, got {value!r}")
        if self.normal_k < 3:
            raise ValueError(f"PO3ADConfig.normal_k must be >= 3, got {self.normal_k}")
        if self.displaced_patches == "first_half" and self.patches < 2:
            raise ValueError("PO3ADConfig.displaced_patches='first_half' needs patches >= 2")
        choices = displaceable_patches(self.patches, self.displaced_patches)
        if self.displaced_per_cloud > choices:
            raise ValueError(
                f"PO3ADConfig.displaced_per_cloud={self.displaced_per_cloud} exceeds the {choices} patches Norm-AS "
                f"may displace (patches={self.patches}, displaced_patches={self.displaced_patches!r})"
            )
        if self.train_points is not None and self.train_points < self.patches:
            raise ValueError(
                f"PO3ADConfig.train_points={self.train_points} is below patches={self.patches}: every patch needs a "
                "point (raise train_points or lower patches)"
            )
        beta = tuple(float(b) for b in self.beta)
        if len(beta) != 2 or not 0.0 <= beta[0] <= beta[1] or not math.isfinite(beta[1]):
            raise ValueError(
                f"PO3ADConfig.beta must be a range (low, high) with 0 <= low <= high, got {self.beta!r}"
            )
        object.__setattr__(self, "beta", beta)
        if not (self.voxel_size > 0 and math.isfinite(self.voxel_size)):
            raise ValueError(f"PO3ADConfig.voxel_size must be a positive number, got {self.voxel_size!r}")
        if not (self.lr > 0 and 0 <= self.min_lr <= self.lr):
            raise ValueError(
                f"PO3ADConfig needs lr > 0 and 0 <= min_lr <= lr, got lr={self.lr}, min_lr={self.min_lr}"
            )
        if not 0.0 <= self.flat_fraction <= 1.0:
            raise ValueError(f"PO3ADConfig.flat_fraction must be in [0, 1], got {self.flat_fraction}")
        if not (self.test_noise >= 0 and math.isfinite(self.test_noise)):
            raise ValueError(f"PO3ADConfig.test_noise must be a non-negative number, got {self.test_noise!r}")

    @property
    def unet(self) -> SparseUNetConfig:
        """The backbone's configuration (3 input channels: xyz; ``feature_dim`` output channels)."""
        if self.backbone == "minkunet34c":
            return SparseUNetConfig.minkunet34c(3, self.feature_dim)
        return SparseUNetConfig.small(self.width, self.blocks, 3, self.feature_dim, self.stages)


# -- normalisation ---------------------------------------------------------------------------------------------
def _finite_cloud(points: Any, name: str = "points") -> np.ndarray:
    p = np.asarray(points.detach().cpu() if isinstance(points, Tensor) else points)
    if p.ndim != 2 or p.shape[1] != 3:
        raise ValueError(f"{name} must have shape (N, 3), got {p.shape}")
    if p.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    if not np.isfinite(p).all():
        bad = int((~np.isfinite(p)).any(axis=1).sum())
        raise ValueError(f"{name} has {bad} row(s) with NaN/inf; drop or repair those points first")
    return p


def normalize_unit_ball(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Sec. 4.2 (official ``NormalizeCoord``): centroid to the origin, farthest point at distance 1.

    Returns:
        ``(normalized (N, 3) float32, center (3,) float64, scale)`` with ``normalized = (points - center) /
        scale``.

    Raises:
        ValueError: not ``(N, 3)``, empty, NaN/inf, or all points equal.
    """
    p = _finite_cloud(points).astype(np.float64)
    out, center, scale = normalize_unit_sphere(p)
    return np.asarray(out, np.float32), np.asarray(center, np.float64), float(scale)


# -- Norm-AS (Sec. 3.2) ----------------------------------------------------------------------------------------
def grow_patches(
    points: np.ndarray, num_patches: int, rng: np.random.Generator, *, return_seeds: bool = False
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Cut a cloud into ``J = num_patches`` patches (Sec. 3.2): patch ``b`` is a random seed among the points not
    yet used and its ``N // J - 1`` nearest points not yet used, for ``b = 0 .. J - 1`` in turn. The
    ``N mod J`` points left over join the patch of their nearest assigned point.

    Returns:
        ``(N,)`` int64 patch id of every point (each of ``0 .. J - 1`` non-empty); with ``return_seeds`` also
        the ``(J,)`` index of every patch's seed (its centre in eq. 4).

    Raises:
        ValueError: bad points, ``J < 1``, or fewer than ``J`` points.
    """
    p = _finite_cloud(points).astype(np.float64)
    n = p.shape[0]
    if isinstance(num_patches, bool) or not isinstance(num_patches, (int, np.integer)) or num_patches < 1:
        raise ValueError(f"num_patches must be an integer >= 1, got {num_patches!r}")
    if n < num_patches:
        raise ValueError(
            f"the cloud has {n} points, fewer than the {num_patches} patches Norm-AS cuts it into (one point per "
            "patch at least): lower patches or use a denser cloud"
        )
    size = n // num_patches
    labels = np.full(n, -1, dtype=np.int64)
    seeds = np.empty(num_patches, dtype=np.int64)
    free = np.arange(n)
    for b in range(num_patches):
        seed = int(free[rng.integers(len(free))])
        d = ((p[free] - p[seed]) ** 2).sum(axis=1)
        if size < len(free):
            take = np.argpartition(d, size - 1)[:size]
        else:
            take = np.arange(len(free))
        labels[free[take]] = b
        seeds[b] = seed
        keep = np.ones(len(free), dtype=bool)
        keep[take] = False
        free = free[keep]
    if len(free):
        assigned = np.flatnonzero(labels >= 0)
        _, idx = knn(p[free], p[assigned], k=1)
        labels[free] = labels[assigned[np.asarray(idx)[:, 0]]]
    return (labels, seeds) if return_seeds else labels


@dataclass(frozen=True)
class PseudoAnomaly:
    """A pseudo anomaly made by :func:`norm_as`; unpacks as ``(points, offsets, mask)``.

    Attributes:
        points: ``(N, 3)`` float32 displaced cloud ``P_hat``.
        offsets: ``(N, 3)`` float32 ground-truth offsets ``O^gt = P_hat - P`` (zero outside the patch).
        mask: ``(N,)`` bool, the points of the displaced patch.
        labels: ``(N,)`` patch id of every point (:func:`grow_patches`).
        patch: the displaced patch's id; ``seed``: the index of its centre point.
        alpha: ``+1`` (along the direction) or ``-1``; ``beta``: the centre's displacement.
            (With several displaced patches these four describe the first one.)
        directions: ``(N, 3)`` the unit direction each patch point moved along (``alpha`` not applied).
        weights: ``(N,)`` ``1 - w`` of eq. 4 on the patch (0 elsewhere).
        displaced: the ids of every displaced patch (``[patch]`` for the paper's one).
    """

    points: np.ndarray
    offsets: np.ndarray
    mask: np.ndarray
    labels: np.ndarray
    patch: int
    seed: int
    alpha: int
    beta: float
    directions: np.ndarray
    weights: np.ndarray
    displaced: np.ndarray | None = None

    def __iter__(self):
        yield self.points
        yield self.offsets
        yield self.mask


def _unit_rows(v: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(v, axis=1, keepdims=True)
    return np.divide(v, norm, out=np.zeros_like(v), where=norm > 0)


def displaceable_patches(num_patches: int, displaced_patches: str = "any") -> int:
    """How many of the ``J = num_patches`` patches Norm-AS may displace: all of them (``"any"``, the paper) or the
    first ``J // 2`` grown (``"first_half"``, the official code; at least one)."""
    if displaced_patches not in DISPLACED_PATCHES:
        raise ValueError(
            f"displaced_patches must be one of {', '.join(DISPLACED_PATCHES)}, got {displaced_patches!r}"
        )
    return num_patches if displaced_patches == "any" else max(1, num_patches // 2)


def norm_as(
    points: np.ndarray,
    normals: np.ndarray | None,
    num_patches: int,
    beta_range: tuple[float, float],
    rng: np.random.Generator,
    *,
    direction: str = "normal",
    displaced_patches: str = "any",
    orient_patch: bool = False,
    num_displaced: int = 1,
) -> PseudoAnomaly:
    """Norm-AS (Sec. 3.2, eq. 4): displace one of ``J`` patches, ``p' = p + alpha * n * (1 - w) * beta``.

    Args:
        points: ``(N, 3)`` normalised cloud.
        normals: ``(N, 3)`` normals (normalised to unit length here; ``None`` only for ``direction="random"``).
        num_patches: ``J``.
        beta_range: ``beta ~ U(low, high)``.
        rng: all draws (patches, displaced patch, ``alpha``, ``beta``, random direction).
        direction: ``"normal"`` (``n``), ``"abs_normal"`` (``|n|`` per component, official code) or ``"random"``
            (one random unit direction for the patch).
        displaced_patches: ``"any"`` patch or one of the ``"first_half"`` grown (official code).
        orient_patch: flip the patch's normals to agree with its seed's normal (for unoriented normals).
        num_displaced: how many distinct patches to displace, each with its own ``alpha`` and ``beta`` (1 in the
            paper and the code; more is a CPU-profile setting, see :class:`PO3ADConfig`).

    Returns:
        :class:`PseudoAnomaly`; ``w`` is a point's distance to the seed over the patch's largest such distance,
        so the seed moves by ``beta`` along its direction and the patch's farthest point not at all.

    Raises:
        ValueError: bad points or normals (shape, NaN), too few points for ``J``, unknown options.
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}")
    choices = displaceable_patches(num_patches, displaced_patches)
    p = _finite_cloud(points).astype(np.float64)
    if direction != "random":
        if normals is None:
            raise ValueError(f"direction={direction!r} needs normals; pass them or use direction='random'")
        nrm = _finite_cloud(normals, "normals").astype(np.float64)
        if nrm.shape != p.shape:
            raise ValueError(f"normals must have the shape of points {p.shape}, got {nrm.shape}")
    lo, hi = (float(b) for b in beta_range)
    if not 0.0 <= lo <= hi:
        raise ValueError(f"beta_range must be (low, high) with 0 <= low <= high, got {beta_range!r}")
    labels, seeds = grow_patches(p, num_patches, rng, return_seeds=True)
    if (
        isinstance(num_displaced, bool)
        or not isinstance(num_displaced, (int, np.integer))
        or not (1 <= num_displaced <= choices)
    ):
        raise ValueError(
            f"num_displaced must be an integer in [1, {choices}] (the patches it may choose from), got "
            f"{num_displaced!r}"
        )
    offsets = np.zeros_like(p)
    directions = np.zeros_like(p, dtype=np.float32)
    weights = np.zeros(len(p), dtype=np.float32)
    chosen: list[tuple[int, int, int, float]] = []  # (patch, seed, alpha, beta)
    while len(chosen) < num_displaced:
        # alpha and beta are drawn before a repeated patch is rejected, so the first draw is the same whatever
        # num_displaced is: a one-patch pseudo anomaly is unchanged by the multi-patch setting, seed for seed
        patch = int(rng.integers(choices))
        alpha = int(rng.choice([-1, 1]))
        beta = float(rng.uniform(lo, hi))
        if any(patch == c[0] for c in chosen):
            continue
        seed = int(seeds[patch])
        idx = np.flatnonzero(labels == patch)
        dist = np.linalg.norm(p[idx] - p[seed], axis=1)
        far = dist.max()
        weight = 1.0 - (dist / far if far > 0 else np.zeros_like(dist))
        if direction == "random":
            u = rng.standard_normal(3)
            dirs = np.broadcast_to(u / np.linalg.norm(u), (len(idx), 3))
        else:
            dirs = _unit_rows(nrm[idx])
            if orient_patch:
                ref = _unit_rows(nrm[seed][None])[0]
                dirs = np.where(((dirs @ ref) < 0)[:, None], -dirs, dirs)
            if direction == "abs_normal":
                dirs = np.abs(dirs)
        offsets[idx] = alpha * dirs * (weight * beta)[:, None]
        directions[idx] = dirs
        weights[idx] = weight
        chosen.append((patch, seed, alpha, beta))
    offsets = offsets.astype(np.float32)
    displaced = np.array([c[0] for c in chosen], dtype=np.int64)
    patch, seed, alpha, beta = chosen[0]
    return PseudoAnomaly(
        points=(p.astype(np.float32) + offsets),
        offsets=offsets,
        mask=np.isin(labels, displaced),
        labels=labels,
        patch=patch,
        seed=seed,
        alpha=alpha,
        beta=beta,
        directions=directions,
        weights=weights,
        displaced=displaced,
    )


# -- loss and scores (eqs. 1-3, 5-6) --------------------------------------------------------------------------
def offset_loss(
    pred: Tensor,
    gt: Tensor,
    mode: str = "both",
    *,
    dir_mean: str = "all",
    dist_mean: str = "all",
    eps: float = _EPS,
) -> tuple[Tensor, dict[str, float]]:
    """The offset loss (eqs. 1-3): ``L_dist + L_dir`` (``mode="both"``), ``L_dist`` or ``L_dir`` alone.

    ``L_dist`` (eq. 2) is the mean over the ``N`` points of ``||o_pre - o_gt||_1``; ``L_dir`` (eq. 3) is minus
    the sum over points of ``o_pre / (||o_pre||_2 + eps) . o_gt / (||o_gt||_2 + eps)`` divided by ``N``
    (``dir_mean="all"``, the paper and the official code: undisplaced points add 0 to the sum) or by the number
    of displaced points (``"displaced"``). A perfect prediction gives ``L_dist = 0`` and ``L_dir = -M / N``
    (``-1`` with ``"displaced"``) for ``M`` displaced points, up to ``eps``. With ``dist_mean="balanced"``
    ``L_dist`` is the mean distance over the undisplaced points plus the mean over the displaced ones (a group
    with no points adds 0); this is not the paper's (module docstring).

    Returns:
        ``(loss, {"dist": L_dist, "dir": L_dir})`` — the loss to minimise and both terms as floats.
    """
    if mode not in LOSSES:
        raise ValueError(f"mode must be one of {', '.join(LOSSES)}, got {mode!r}")
    if dir_mean not in DIR_MEANS:
        raise ValueError(f"dir_mean must be one of {', '.join(DIR_MEANS)}, got {dir_mean!r}")
    if dist_mean not in DIST_MEANS:
        raise ValueError(f"dist_mean must be one of {', '.join(DIST_MEANS)}, got {dist_mean!r}")
    if pred.shape != gt.shape or pred.ndim != 2 or pred.shape[1] != 3:
        raise ValueError(f"pred and gt must both be (N, 3), got {tuple(pred.shape)} and {tuple(gt.shape)}")
    dist = (pred - gt).abs().sum(dim=1)
    gt_norm = torch.linalg.vector_norm(gt, dim=1)
    if dist_mean == "all":
        l_dist = dist.mean()
    else:
        displaced = gt_norm > 0
        l_dist = sum(
            (dist[group].mean() for group in (displaced, ~displaced) if group.any()), dist.new_zeros(())
        )
    cos = (
        (pred / (torch.linalg.vector_norm(pred, dim=1, keepdim=True) + eps)) * (gt / (gt_norm[:, None] + eps))
    ).sum(dim=1)
    count = pred.shape[0] if dir_mean == "all" else max(1, int((gt_norm > 0).sum()))
    l_dir = -cos.sum() / count
    loss = {"both": l_dist + l_dir, "dist": l_dist, "dir": l_dir}[mode]
    return loss, {"dist": float(l_dist.detach()), "dir": float(l_dir.detach())}


def point_scores(offsets: np.ndarray | Tensor) -> np.ndarray:
    """Eq. 5: ``phi(p_i) = |o_x| + |o_y| + |o_z|``, the L1 norm of each predicted offset; ``(N,)`` float32."""
    o = (
        offsets.detach().cpu().double().numpy()
        if isinstance(offsets, Tensor)
        else np.asarray(offsets, np.float64)
    )
    if o.ndim != 2 or o.shape[1] != 3:
        raise ValueError(f"offsets must have shape (N, 3), got {o.shape}")
    return np.abs(o).sum(axis=1).astype(np.float32)


def object_score(scores: np.ndarray) -> float:
    """Eq. 6: ``phi(P)``, the mean of the point scores."""
    s = np.asarray(scores, np.float64).reshape(-1)
    if s.size == 0:
        raise ValueError("object_score needs at least one point score")
    return float(s.mean())


def cosine_lr(step: int, total: int, lr: float, min_lr: float, flat_fraction: float) -> float:
    """Learning rate of (0-based) ``step`` of ``total``: ``lr`` for the first ``round(flat_fraction * total)``
    steps, then cosine annealing that reaches ``min_lr`` at the last step (Sec. 4.2, ``train.py``)."""
    if total < 1 or not 0 <= step < total:
        raise ValueError(f"step must be in [0, total) with total >= 1, got step={step}, total={total}")
    flat = round(flat_fraction * total)
    span = total - 1 - flat
    if step < flat or span <= 0:  # the flat part, or a schedule too short to anneal
        return float(lr)
    t = (step - flat) / span
    return float(min_lr + 0.5 * (lr - min_lr) * (1.0 + math.cos(math.pi * t)))


# -- network (Sec. 3.1.1) --------------------------------------------------------------------------------------
class OffsetNet(nn.Module):
    """Sparse U-Net + the offset predictor: points -> voxels -> per-voxel features -> per-point offsets.

    The head is the official ``linear_offset``: ``Linear(C, C, no bias) -> BN -> PReLU -> Linear(C, 16, no bias)
    -> BN -> PReLU -> Linear(16, 3)``.
    """

    def __init__(
        self, unet: SparseUNetConfig, *, voxel_size: float = 0.03, voxel_feature: str = "first"
    ) -> None:
        super().__init__()
        if voxel_feature not in VOXEL_FEATURES:
            raise ValueError(
                f"voxel_feature must be one of {', '.join(VOXEL_FEATURES)}, got {voxel_feature!r}"
            )
        if unet.in_channels != 3:
            raise ValueError(f"OffsetNet feeds xyz: the U-Net needs in_channels=3, got {unet.in_channels}")
        self.voxel_size = float(voxel_size)
        self.voxel_feature = voxel_feature
        self.backbone = SparseUNet(unet)
        c = unet.out_channels
        self.head = nn.Sequential(
            nn.Linear(c, c, bias=False),
            nn.BatchNorm1d(c),
            nn.PReLU(),
            nn.Linear(c, 16, bias=False),
            nn.BatchNorm1d(16),
            nn.PReLU(),
            nn.Linear(16, 3),
        )

    def forward(self, points: Tensor | Sequence[Tensor], batch_index: Tensor | None = None) -> Tensor:
        """Offsets ``(N, 3)`` of ``points``: one ``(N, 3)`` tensor (with ``batch_index`` ``(N,)`` when it stacks
        several clouds) or a list of clouds (concatenated in order)."""
        if not isinstance(points, Tensor):
            clouds = list(points)
            if not clouds:
                raise ValueError("OffsetNet needs at least one cloud")
            device = clouds[0].device
            batch_index = torch.cat(
                [torch.full((len(c),), i, dtype=torch.int64, device=device) for i, c in enumerate(clouds)]
            )
            points = torch.cat(list(clouds))
        coords, point_to_voxel, feats = sparse_quantize(
            points, self.voxel_size, batch_index, reduce=self.voxel_feature
        )
        voxels = self.backbone(SparseTensor(feats.to(points.dtype), coords))
        return self.head(voxel_to_point(voxels, point_to_voxel))


# -- the method ------------------------------------------------------------------------------------------------
def _rotation_zyx(rng: np.random.Generator) -> np.ndarray:
    """The official augmentation: rotate about z, then y, then x, each by a uniform angle."""
    rz, ry, rx = (random_rotation(rng, axis=a) for a in ("z", "y", "x"))
    return rx @ ry @ rz


def _name_seed(sample: Sample) -> int:
    return zlib.crc32(f"{sample.category}/{sample.split}/{sample.name}".encode())


@register_method
class PO3AD(AnomalyMethod):
    """PO3AD (module docstring). ``fit`` trains the offset network on fresh Norm-AS pseudo anomalies every step;
    ``score`` is eqs. 5-6 on the predicted offsets of the normalised test cloud."""

    name = "po3ad"
    config_class = PO3ADConfig
    config: PO3ADConfig

    def __init__(self, config: PO3ADConfig | None = None, *, device: str | torch.device = "auto") -> None:
        super().__init__(config, device=device)
        self.model: OffsetNet | None = None
        self.history_: list[dict[str, float]] = []
        self.train_sources_: list[str] = []

    @property
    def display_name(self) -> str:
        """``PO3AD`` plus the ablation variants (Table 4) and the test noise (Fig. 7); the patch count ``J`` is a
        hyperparameter like the others (a profile's own ``J`` keeps the name ``PO3AD``)."""
        c = self.config
        variants = [
            v
            for v, on in (
                ("random direction", c.direction == "random"),
                ("|n|", c.direction == "abs_normal"),
                ("first-half patches", c.displaced_patches == "first_half"),
                ("L_dist only", c.loss == "dist"),
                ("L_dir only", c.loss == "dir"),
                (f"noise {c.test_noise:g}", c.test_noise > 0),
            )
            if on
        ]
        return "PO3AD" + (f" ({', '.join(variants)})" if variants else "")

    def load_options(self, dataset: str) -> dict[str, Any]:
        """None: template meshes are read in ``fit`` (``train_source``), as ``use_mesh`` is a train-split-only
        option and the evaluation passes the same options to both splits."""
        return {}

    def build_model(self) -> OffsetNet:
        """A freshly initialised :class:`OffsetNet` for this config (seeded by ``seed``)."""
        c = self.config
        torch.manual_seed(c.seed)
        net = OffsetNet(c.unet, voxel_size=c.voxel_size, voxel_feature=c.voxel_feature)
        if c.head_init == "zero":
            nn.init.zeros_(net.head[-1].weight)
            nn.init.zeros_(net.head[-1].bias)
        return net.to(self.device)

    # -- training data -------------------------------------------------------------------------------------
    def training_cloud(self, sample: Sample) -> tuple[np.ndarray, np.ndarray, bool, str]:
        """``(points, normals, estimated, source)`` that ``fit`` trains on for one sample: its template mesh
        (``train_source="mesh"`` and ``extras["mesh_path"]``) or its own points; normals from the sample, or
        estimated (``estimated=True``) when it has none."""
        c = self.config
        source = "cloud"
        mesh_path = sample.extras.get("mesh_path")
        if c.train_source == "mesh" and mesh_path is not None and "faces" not in sample.extras:
            from anomaly3d.data.formats import anomaly_shapenet
            from anomaly3d.data.formats.records import SampleRecord

            record = SampleRecord(
                anomaly_shapenet.DATASET_ID,
                sample.category,
                "train",
                sample.name,
                0,
                GOOD,
                {"pcd": sample.extras.get("pcd_path", sample.source), "mesh": mesh_path},
            )
            sample = anomaly_shapenet.load_sample(record, use_mesh=True)
            source = "mesh"
        elif "faces" in sample.extras:
            source = "mesh"
        pts = self._checked_points(sample)
        if len(pts) < c.patches:
            raise DataError(
                f"{sample.category}/{sample.name} has {len(pts)} points ({source}); Norm-AS needs at least "
                f"patches={c.patches} (lower patches or use a denser cloud)"
            )
        if sample.normals is not None:
            nrm, estimated = np.asarray(sample.normals, np.float64), False
            if not np.isfinite(nrm).all():
                raise DataError(
                    f"{sample.category}/{sample.name}: normals contain NaN/inf; repair them or drop them"
                )
        else:
            nrm = estimate_normals(pts, min(c.normal_k, len(pts)))
            if c.normal_orient != "patch":
                nrm = orient_normals(pts, nrm, c.normal_orient, k=max(1, min(c.normal_k, len(pts) - 1)))
            nrm, estimated = np.asarray(nrm, np.float64), c.normal_orient == "patch"
        return pts, nrm, estimated, source

    @staticmethod
    def _checked_points(sample: Sample) -> np.ndarray:
        pts = np.asarray(sample.points, np.float64)
        if pts.ndim != 2 or pts.shape[1] != 3 or len(pts) == 0:
            raise DataError(
                f"{sample.category}/{sample.name}: points must be a non-empty (N, 3) array, got {pts.shape}"
            )
        if not np.isfinite(pts).all():
            bad = int((~np.isfinite(pts)).any(axis=1).sum())
            raise DataError(
                f"{sample.category}/{sample.name}: {bad} point(s) have NaN/inf coordinates; drop or "
                "repair them first"
            )
        if len(pts) > 1 and float(np.ptp(pts, axis=0).max()) == 0.0:
            raise DataError(f"{sample.category}/{sample.name}: all points coincide, nothing to normalise")
        return pts

    def pseudo_anomaly(
        self, points: np.ndarray, normals: np.ndarray, rng: np.random.Generator, *, estimated: bool = False
    ) -> PseudoAnomaly:
        """One training example: (subsample,) rotate, normalise (:func:`normalize_unit_ball`), then Norm-AS with
        the configured settings. ``normals`` are rotated with the points."""
        c = self.config
        if c.train_points is not None and len(points) > c.train_points:
            keep = np.sort(rng.choice(len(points), c.train_points, replace=False))
            points, normals = points[keep], normals[keep]
        if c.rotate:
            rot = _rotation_zyx(rng)
            points, normals = apply_rotation(points, rot), apply_rotation(normals, rot)
        unit, _, _ = normalize_unit_ball(points)
        return self._norm_as(unit, normals, rng, estimated=estimated, num_displaced=c.displaced_per_cloud)

    def make_pseudo_anomaly(self, sample: Sample, *, seed: int = 0, num_displaced: int = 1) -> PseudoAnomaly:
        """A Norm-AS pseudo anomaly of a (training) sample, without rotation or subsampling, in normalised
        coordinates (for figures such as the paper's Figs. 4 and 8, and to check what training learned). It
        displaces ``num_displaced`` patches: one by default, as in the paper, whatever ``displaced_per_cloud``
        training used."""
        pts, nrm, estimated, _ = self.training_cloud(sample)
        unit, _, _ = normalize_unit_ball(pts)
        return self._norm_as(
            unit, nrm, np.random.default_rng(seed), estimated=estimated, num_displaced=num_displaced
        )

    def _norm_as(
        self,
        unit: np.ndarray,
        normals: np.ndarray,
        rng: np.random.Generator,
        *,
        estimated: bool,
        num_displaced: int,
    ) -> PseudoAnomaly:
        """Norm-AS with this config's ``J``, ``beta``, direction and displaceable patches on a normalised cloud."""
        c = self.config
        return norm_as(
            unit,
            normals,
            c.patches,
            c.beta,
            rng,
            direction=c.direction,
            displaced_patches=c.displaced_patches,
            orient_patch=estimated,
            num_displaced=num_displaced,
        )

    @torch.no_grad()
    def pseudo_anomaly_response(
        self, samples: Sequence[Sample], draws: int = 8, *, seed: int = 10_000
    ) -> list[dict[str, float]]:
        """Does the network find pseudo anomalies it has not trained on? One row per fresh single-patch pseudo
        anomaly (:meth:`make_pseudo_anomaly` of ``samples[i % len(samples)]`` with seed ``seed + i``; not rotated).

        Row keys: ``draw``; ``patch_score`` and ``rest_score``, the mean eq.-5 score (L1 length of the predicted
        offset) on the displaced patch and on the rest of the cloud; ``ratio``, their quotient (1: not found);
        ``true_patch_score``, the patch's mean L1 length of ``O^gt``; ``cosine``, the mean cosine between predicted
        and true offsets on the patch; ``point_auroc``, the AUROC of the point scores for finding the patch.
        Works on an unfitted method whose ``model`` was set (e.g. to compare with an untrained network).
        """
        if self.model is None:
            raise RuntimeError("PO3AD.pseudo_anomaly_response needs a model: call fit first")
        if isinstance(draws, bool) or not isinstance(draws, int) or draws < 1:
            raise ValueError(f"draws must be an integer >= 1, got {draws!r}")
        samples = list(samples)
        if not samples:
            raise ValueError("PO3AD.pseudo_anomaly_response got no samples")
        model = self.model.eval()
        rows = []
        for i in range(draws):
            pa = self.make_pseudo_anomaly(samples[i % len(samples)], seed=seed + i)
            pred = model(torch.from_numpy(pa.points).to(self.device)).float().cpu().numpy()
            score = point_scores(pred)
            patch_pred, patch_gt = pred[pa.mask], pa.offsets[pa.mask]
            cos = (patch_pred * patch_gt).sum(1) / (
                np.linalg.norm(patch_pred, axis=1) * np.linalg.norm(patch_gt, axis=1) + 1e-12
            )
            rows.append(
                {
                    "draw": i,
                    "patch_score": float(score[pa.mask].mean()),
                    "rest_score": float(score[~pa.mask].mean()),
                    "ratio": float(score[pa.mask].mean() / score[~pa.mask].mean()),
                    "true_patch_score": float(np.abs(patch_gt).sum(1).mean()),
                    "cosine": float(cos.mean()),
                    "point_auroc": float(auroc(pa.mask.astype(int), score)),
                }
            )
        return rows

    # -- fit -----------------------------------------------------------------------------------------------
    def fit(self, train_samples: Iterable[Sample]) -> PO3AD:
        c = self.config
        train = list(train_samples)
        if not train:
            raise ValueError("PO3AD.fit got no training samples")
        clouds = [self.training_cloud(s) for s in train]
        rng = np.random.default_rng(c.seed)
        model = self.build_model()
        opt = torch.optim.Adam(model.parameters(), lr=c.lr)
        order: list[int] = []
        history: list[dict[str, float]] = []
        window: list[tuple[float, float, float]] = []
        report_every = max(1, c.iterations // 100)
        for step in progress(range(c.iterations), f"{self.display_name}: training", total=c.iterations):
            model.train()
            lr = cosine_lr(step, c.iterations, c.lr, c.min_lr, c.flat_fraction)
            for group in opt.param_groups:
                group["lr"] = lr
            pts, gts, batch = [], [], []
            for b in range(c.batch_size):
                if not order:
                    order = rng.permutation(len(clouds)).tolist()
                points, normals, estimated, _ = clouds[order.pop(0)]
                pa = self.pseudo_anomaly(points, normals, rng, estimated=estimated)
                pts.append(torch.from_numpy(pa.points))
                gts.append(torch.from_numpy(pa.offsets))
                batch.append(torch.full((len(pa.points),), b, dtype=torch.int64))
            points_t = torch.cat(pts).to(self.device)
            gt_t = torch.cat(gts).to(self.device)
            pred = model(points_t, torch.cat(batch).to(self.device))
            loss, parts = offset_loss(pred, gt_t, c.loss, dir_mean=c.dir_mean, dist_mean=c.dist_mean)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            window.append((float(loss.detach()), parts["dist"], parts["dir"]))
            if (step + 1) % report_every == 0 or step + 1 == c.iterations:
                mean = np.mean(window, axis=0)
                history.append(
                    {
                        "step": step + 1,
                        "loss": float(mean[0]),
                        "dist": float(mean[1]),
                        "dir": float(mean[2]),
                        "lr": lr,
                    }
                )
                window = []
        self.model = model.eval()
        self.history_ = history
        self.train_sources_ = [src for *_, src in clouds]
        self._fitted = True
        return self

    # -- score ---------------------------------------------------------------------------------------------
    def test_cloud(self, sample: Sample) -> np.ndarray:
        """The normalised test cloud the network sees: the sample normalised by its own centroid and radius,
        plus the seeded Gaussian noise of ``test_noise`` (point order and count unchanged)."""
        unit, _, _ = normalize_unit_ball(self._checked_points(sample))
        sigma = self.config.test_noise
        if sigma > 0:
            rng = np.random.default_rng([self.config.noise_seed, _name_seed(sample)])
            unit = (unit + rng.normal(0.0, sigma, size=unit.shape)).astype(np.float32)
        return unit

    @torch.no_grad()
    def predict_offsets(self, sample: Sample) -> np.ndarray:
        """Predicted offsets ``(N, 3)`` float32 of the sample's points, in normalised units (sample order)."""
        self._require_fitted()
        assert self.model is not None
        self.model.eval()
        pts = torch.from_numpy(self.test_cloud(sample)).to(self.device)
        return self.model(pts).float().cpu().numpy()

    def score(self, sample: Sample) -> Scores:
        scores = point_scores(self.predict_offsets(sample))
        return Scores(object_score(scores), scores)

    def with_test_noise(self, sigma: float, *, seed: int | None = None) -> PO3AD:
        """This fitted method scoring with Gaussian test noise of standard deviation ``sigma`` (Fig. 7), seeded by
        ``seed`` (default: the current ``noise_seed``) and each sample's name. The network is shared."""
        self._require_fitted()
        other = copy.copy(self)
        other.config = replace(
            self.config,
            test_noise=float(sigma),
            noise_seed=self.config.noise_seed if seed is None else int(seed),
        )
        return other

    # -- state ---------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        assert self.model is not None
        return {
            "model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            "history": [dict(h) for h in self.history_],
            "train_sources": list(self.train_sources_),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        model = self.build_model()
        model.load_state_dict(state["model"])
        self.model = model.to(self.device).eval()
        self.history_ = [dict(h) for h in state["history"]]
        self.train_sources_ = list(state.get("train_sources", []))
