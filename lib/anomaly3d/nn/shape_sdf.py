"""Shape-Guided's shape expert: a PointNet patch encoder and a neural implicit SDF trained Neural-Pull style.

Chu et al., "Shape-Guided Dual-Memory Learning for 3D Anomaly Detection" (ICML 2023), Sec. 3.1 and 4.2. One
readable file, plain torch, CPU and CUDA. A local patch ``P`` of ``K`` points (the paper's ``K = 500``) is
encoded by a simplified PointNet into a feature ``f``; a neural implicit function (NIF) ``phi`` shared by all
patches predicts the signed distance of a query point ``q`` to the patch's surface (eq. 1)::

    s = phi(q; f),   f = PointNet(P)                                                           (1)

``phi`` is trained without ground-truth distances, as in Neural-Pull (Ma et al., ICML 2021) and PCP (Ma et
al., CVPR 2022): a query near the surface is pulled along the normalised gradient by its own predicted
distance, and the pulled point should land on the query's nearest surface point ``t(q)``::

    pull(q) = q - phi(q; f) * grad_q phi(q; f) / |grad_q phi(q; f)|          (Neural-Pull's pulling operation)
    L = mean_q | pull(q) - t(q) |_2      (official code; Neural-Pull's loss squares the norm: squared=True)

At test time the anomaly score of a patch point is ``|phi(p; f_hat)|`` at the point itself, with ``f_hat`` the
patch's feature (or its sparse-coded reconstruction from the memory bank, step 4 of the paper's inference).

Data flow, shapes for ``B`` patches of ``K`` points and ``Q`` queries per patch::

    patches (B, K, 3) --normalize_patches--> centred at the centroid, divided by the largest bounding-box side
    PatchEncoder: per point Linear 3->64->128->1024 (BatchNorm + ReLU each), max over K,
                  Linear 1024->512 (BN + ReLU), Linear 512->128 (BN + ReLU)            -> f (B, 128)
    ImplicitSDF:  ReLU(Linear 3->512)(q) ++ ReLU(Linear 128->512)(f) -> Linear 1024->512 + ReLU
                  -> 7 x [weight-normalised Linear 512->512 + ReLU] -> Linear 512->1   -> s (B, Q)

What the official code (github.com/jayliu0313/Shape-Guided) does, and where this file differs:

* Widths, layer count, ReLUs, weight normalisation of the 7 hidden NIF layers and the initialisation follow
  ``core/model.py`` (``encoder_BN``, ``local_NIF``): fused and hidden weights are drawn with mean 0 and std
  ``sqrt(2 / width)``, zero bias; the output weights with mean ``2 sqrt(pi) / sqrt(width)`` and std ``1e-6``,
  bias ``-0.5`` (SAL's geometric initialisation); the two input layers keep torch's default. The encoder
  ends with BatchNorm + ReLU, so features are non-negative. Together 3,170,433 parameters, the paper's 3.17 M
  (Sec. 4.5).
  Per-point layers are ``Linear`` on ``(B*K, C)`` here, the same maps as the official ``Conv1d(kernel 1)``
  with the same BatchNorm statistics (:func:`load_official_checkpoint` converts the weights).
* Patch normalisation (``utils``' ``normal_points`` / ``pretrain_normal_points``): divide by the largest side
  of the patch's axis-aligned bounding box, then subtract the centroid: ``p' = (p - mean(P)) / max_side(P)``.
  The same map is applied to the patch's queries. :meth:`ShapeSDF.encode` normalises every patch itself.
  Distances predicted by ``phi`` are therefore in units of the patch's largest side; the official score map
  uses them as they are (:func:`patch_sdf`'s ``rescale`` turns them back into input units).
* Query sampling (``cut_patches.py``, ``sample_query_points``): ``n = 20`` rounds, each moving every patch
  point by a Gaussian with a per-point sigma = distance to its 50th nearest other point in the patch (cKDTree
  query of 51 including the point itself); the first ``ceil(0.625 n) = 13`` rounds use ``0.5 sigma``, the
  other 7 use ``1.0 sigma``. The target of a query is its nearest patch point. :func:`sample_queries` does
  exactly this.
* Training (``train_3Dmodel.py``, ``core/data.py``): Adam (lr 1e-4, betas 0.9/0.999), batches of 32 patches,
  ``range(1001)`` epochs in the latest script (the released checkpoint is ``ckpt_000601``); every time a
  patch is drawn, ONE of its 20 precomputed rounds is picked at random (so a step sees ``K`` queries per
  patch); batches smaller than 32 are skipped. :func:`train_shape_sdf` draws the round index the same way but
  draws that round's Gaussian noise afresh instead of storing 20 rounds per patch (``O(K)`` memory per patch
  instead of ``O(20 K)``; same distribution). When there are fewer patches than one batch, all of them form
  one batch.
* The official training loop feeds the encoder the queries' nearest-point targets (a resampling of the patch,
  with repeats) instead of the patch; at test time it encodes the patch. Here the encoder always sees the
  patch.
* Loss: the official code averages the unsquared Euclidean distance (``torch.linalg.norm(...).mean()``); the
  Neural-Pull / PCP papers write the squared distance. ``ShapeSDFConfig.squared_loss`` (default False, as the
  code) picks one.
* The official data for this training are patches cut from all training clouds with ``group_mul = 5`` (the
  memory bank uses 10, the paper's "overlapping ratio 10"); cutting patches is the caller's job (e.g.
  :func:`anomaly3d.ops.group_knn`).

Conventions: float32 tensors (the geometric helpers and the loss keep float64, e.g. for gradient checks;
integers become float32); patches ``(B, K, 3)``, queries ``(B, Q, 3)``, features ``(B, D)``, distances
``(B, Q)``. Bad shapes, NaN/inf values, too few points for the neighbour ``k`` raise ``ValueError`` naming the
argument and the fix.
"""

from __future__ import annotations

import itertools
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrizations

from anomaly3d.nn._checkpoints import map_official_state

__all__ = [
    "ImplicitSDF",
    "PatchEncoder",
    "QuerySamples",
    "ShapeSDF",
    "ShapeSDFConfig",
    "load_official_checkpoint",
    "nearest_surface_points",
    "neighbor_sigma",
    "neural_pull_loss",
    "normalize_patches",
    "patch_features",
    "patch_sdf",
    "pull_to_surface",
    "sample_queries",
    "train_shape_sdf",
]

GRAD_EPS = 1e-12
"""Added to ``|grad phi|^2`` before the square root (the official ``pytorch_safe_norm``): a flat ``phi`` pulls
nothing instead of dividing by zero."""

_PAIR_BUDGET = 1 << 22
"""Query-point pairs per chunk in the brute-force neighbour searches (16 MiB of float32 distances)."""


@dataclass(frozen=True)
class ShapeSDFConfig:
    """Hyper-parameters; the defaults are the official Shape-Guided ones (module docstring).

    Attributes:
        feature_dim: size of the patch feature ``f`` (official 128).
        encoder_widths: the three per-point layers of the PointNet (official 64, 128, 1024).
        encoder_hidden: the first fully connected layer after the max-pool (official 512).
        nif_width: width of every NIF layer (official 512).
        nif_layers: hidden weight-normalised 512->512 layers of the NIF (official 7).
        queries_per_point: query rounds per patch point (official and PCP: 20).
        sigma_neighbour: the Gaussian sigma of a point is the distance to its ``sigma_neighbour``-th nearest
            other patch point (official: 50, a cKDTree query of 51 that includes the point).
        near_fraction, near_scale, far_scale: the first ``ceil(near_fraction * queries_per_point)`` rounds use
            ``near_scale * sigma``, the rest ``far_scale * sigma`` (official 0.625, 0.5, 1.0).
        epochs, batch_size, lr, betas: Adam; an epoch draws every patch once (official 1001, 32, 1e-4,
            (0.9, 0.999)).
        squared_loss: average ``|pull(q) - t(q)|^2`` (the Neural-Pull paper's loss) instead of ``|pull(q) -
            t(q)|`` (official code).
    """

    feature_dim: int = 128
    encoder_widths: tuple[int, int, int] = (64, 128, 1024)
    encoder_hidden: int = 512
    nif_width: int = 512
    nif_layers: int = 7
    queries_per_point: int = 20
    sigma_neighbour: int = 50
    near_fraction: float = 0.625
    near_scale: float = 0.5
    far_scale: float = 1.0
    epochs: int = 1001
    batch_size: int = 32
    lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    squared_loss: bool = False

    def __post_init__(self) -> None:
        if len(self.encoder_widths) != 3:
            raise ValueError(
                f"ShapeSDFConfig.encoder_widths must list 3 per-point layer widths, got {self.encoder_widths}"
            )
        ints = {
            "feature_dim": self.feature_dim,
            "encoder_hidden": self.encoder_hidden,
            "nif_width": self.nif_width,
            "queries_per_point": self.queries_per_point,
            "sigma_neighbour": self.sigma_neighbour,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            **{f"encoder_widths[{i}]": w for i, w in enumerate(self.encoder_widths)},
        }
        for name, value in ints.items():
            if int(value) != value or value < 1:
                raise ValueError(f"ShapeSDFConfig.{name} must be a positive integer, got {value!r}")
        if int(self.nif_layers) != self.nif_layers or self.nif_layers < 0:
            raise ValueError(f"ShapeSDFConfig.nif_layers must be an integer >= 0, got {self.nif_layers!r}")
        if self.batch_size < 2:
            raise ValueError(
                f"ShapeSDFConfig.batch_size must be >= 2 (the encoder's BatchNorm needs two patches), "
                f"got {self.batch_size}"
            )
        if not 0.0 <= self.near_fraction <= 1.0:
            raise ValueError(f"ShapeSDFConfig.near_fraction must be in [0, 1], got {self.near_fraction}")
        for name in ("near_scale", "far_scale", "lr"):
            if not getattr(self, name) > 0:
                raise ValueError(f"ShapeSDFConfig.{name} must be > 0, got {getattr(self, name)}")


# ----------------------------------------------------------------------------------------------------------
# input checks


def _check_batch(x: object, name: str, *, width: int | None = 3, what: str = "(B, K, 3) points") -> Tensor:
    """``x`` as a finite float tensor of shape ``(B, n, width)`` (NumPy arrays are converted)."""
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(x))
    if not isinstance(x, Tensor):
        raise ValueError(  # noqa: TRY004 - the project reports every bad argument as ValueError
            f"{name} must be a torch tensor or NumPy array of {what}, got {type(x).__name__}"
        )
    if x.ndim != 3 or (width is not None and x.shape[-1] != width):
        raise ValueError(f"{name} must have shape {what} (batch first), got {tuple(x.shape)}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {tuple(x.shape)}); pass at least one patch with points")
    if not x.is_floating_point():
        x = x.float()
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or inf; drop or repair those points first")
    return x


def _check_features(features: object, batch: int, dim: int, name: str = "features") -> Tensor:
    if not isinstance(features, Tensor):
        raise ValueError(  # noqa: TRY004
            f"{name} must be a torch tensor of shape (B, {dim}), got {type(features).__name__}"
        )
    if features.ndim != 2 or features.shape[0] != batch or features.shape[1] != dim:
        raise ValueError(
            f"{name} must have shape ({batch}, {dim}) (one feature per patch, feature_dim={dim}), "
            f"got {tuple(features.shape)}"
        )
    if not torch.isfinite(features).all():
        raise ValueError(f"{name} contains NaN or inf")
    return features


def _check_k(n_points: int, k: int, name: str) -> None:
    if int(k) != k or k < 1:
        raise ValueError(f"the neighbour rank k must be a positive integer, got {k!r}")
    if n_points <= k:
        raise ValueError(
            f"{name} has K={n_points} points per patch, but the sigma of a point is the distance to its "
            f"k={k}-th nearest other point, which needs K > {k}; use larger patches or a smaller k "
            f"(ShapeSDFConfig.sigma_neighbour)"
        )


# ----------------------------------------------------------------------------------------------------------
# geometry: normalisation, neighbour sigma, nearest surface points, query sampling


def normalize_patches(patches: Tensor | np.ndarray) -> tuple[Tensor, Tensor, Tensor]:
    """The official patch normalisation: ``p' = (p - mean(P)) / max_side(P)``.

    ``max_side`` is the largest side of the patch's axis-aligned bounding box, so every normalised patch fits
    in a box of largest side 1 centred on its centroid. Apply the same map to a patch's queries:
    ``(q - center[:, None]) / scale[:, None, None]``.

    Args:
        patches: ``(B, K, 3)``.

    Returns:
        ``(normalized (B, K, 3), center (B, 3), scale (B,))`` in the input's float dtype; center and scale in
        input units.

    Raises:
        ValueError: bad shape, NaN/inf, or a patch whose points all coincide (zero extent).
    """
    p = _check_batch(patches, "patches")
    scale = (p.amax(dim=1) - p.amin(dim=1)).amax(dim=1)
    if (scale <= 0).any():
        bad = torch.nonzero(scale <= 0).flatten()[:5].tolist()
        raise ValueError(f"patches {bad} have all their points at one position (zero extent); drop them")
    center = p.mean(dim=1)
    return (p - center[:, None]) / scale[:, None, None], center, scale


def neighbor_sigma(patch_points: Tensor | np.ndarray, k: int = 50) -> Tensor:
    """Per point, the distance to its ``k``-th nearest OTHER point of the same patch (PCP's / the official
    sigma).

    Duplicated points count as neighbours at distance 0 (as a KD-tree query that includes the point itself).

    Args:
        patch_points: ``(B, K, 3)`` with ``K > k``.

    Returns:
        ``(B, K)`` on the input's device, in its float dtype.
    """
    p = _check_batch(patch_points, "patch_points")
    _check_k(p.shape[1], k, "patch_points")
    out = []
    step = max(1, _PAIR_BUDGET // p.shape[1] ** 2)
    for s in range(0, p.shape[0], step):
        d = torch.cdist(p[s : s + step], p[s : s + step], compute_mode="donot_use_mm_for_euclid_dist")
        out.append(torch.kthvalue(d, k + 1, dim=-1).values)  # rank k + 1 counts the point itself (distance 0)
    return torch.cat(out)


def nearest_surface_points(patch_points: Tensor, queries: Tensor) -> Tensor:
    """Index of the nearest patch point of every query (brute force, exact): ``(B, Q)`` int64.

    Args:
        patch_points: ``(B, K, 3)``.
        queries: ``(B, Q, 3)``, the same ``B``.
    """
    p = _check_batch(patch_points, "patch_points")
    q = _check_batch(queries, "queries", what="(B, Q, 3) points")
    if q.shape[0] != p.shape[0]:
        raise ValueError(
            f"queries has {q.shape[0]} patches but patch_points has {p.shape[0]}; pass one set each"
        )
    q = q.to(p.device, p.dtype)
    out = torch.empty(q.shape[:2], dtype=torch.long, device=p.device)
    q_step = max(1, _PAIR_BUDGET // p.shape[1])
    for s in range(0, q.shape[1], q_step):
        d = torch.cdist(q[:, s : s + q_step], p, compute_mode="donot_use_mm_for_euclid_dist")
        out[:, s : s + q_step] = d.argmin(dim=-1)
    return out


class QuerySamples(NamedTuple):
    """Queries around a batch of patches (:func:`sample_queries`).

    Attributes:
        queries: ``(B, n * K, 3)``, round-major: query ``r * K + i`` comes from patch point ``i`` in
            round ``r``.
        targets: ``(B, n * K, 3)``, the nearest patch point of each query (the Neural-Pull target).
        target_index: ``(B, n * K)`` int64, the index of that point in the patch.
        sigma: ``(B, K)``, the per-point sigma (distance to the ``k``-th nearest other point).
    """

    queries: Tensor
    targets: Tensor
    target_index: Tensor
    sigma: Tensor


def _gather(points: Tensor, index: Tensor) -> Tensor:
    return torch.gather(points, 1, index[..., None].expand(-1, -1, 3))


def _round_scales(n_per_point: int, near_fraction: float, near_scale: float, far_scale: float) -> Tensor:
    n_near = math.ceil(n_per_point * near_fraction)
    return torch.tensor([near_scale if r < n_near else far_scale for r in range(n_per_point)])


def sample_queries(
    patch_points: Tensor | np.ndarray,
    n_per_point: int = 20,
    generator: torch.Generator | None = None,
    *,
    k: int = 50,
    near_fraction: float = 0.625,
    near_scale: float = 0.5,
    far_scale: float = 1.0,
) -> QuerySamples:
    """Neural-Pull / PCP queries around every point of every patch, with their nearest surface points.

    Round ``r`` moves every point ``p_i`` to ``q = p_i + c_r * sigma_i * e``, ``e ~ N(0, I_3)``, with
    ``sigma_i`` the distance from ``p_i`` to its ``k``-th nearest other point of the patch and
    ``c_r = near_scale`` for the first ``ceil(near_fraction * n_per_point)`` rounds, ``far_scale`` after (the
    official ``sample_query_points``). The target of ``q`` is the patch point nearest to ``q`` (which need not
    be ``p_i``).

    Args:
        patch_points: ``(B, K, 3)``, normalised or not (the sampling is equivariant to scaling and
            translation).
        n_per_point: rounds, i.e. queries per patch point (PCP's and the official 20).
        generator: a CPU ``torch.Generator`` for reproducible noise (drawn on the CPU, then moved to the
            points' device, so CPU and CUDA runs draw the same numbers).
        k, near_fraction, near_scale, far_scale: see above (official 50, 0.625, 0.5, 1.0).

    Returns:
        :class:`QuerySamples` on the points' device.

    Raises:
        ValueError: bad shape or NaN/inf in ``patch_points``; ``K <= k``; ``n_per_point < 1``.
    """
    p = _check_batch(patch_points, "patch_points")
    if int(n_per_point) != n_per_point or n_per_point < 1:
        raise ValueError(f"n_per_point must be a positive integer, got {n_per_point!r}")
    b, n_pts, _ = p.shape
    sigma = neighbor_sigma(p, k)
    scales = _round_scales(int(n_per_point), near_fraction, near_scale, far_scale).to(p.device, p.dtype)
    noise = torch.randn((b, int(n_per_point), n_pts, 3), generator=generator, dtype=p.dtype).to(p.device)
    q = p[:, None] + scales[None, :, None, None] * sigma[:, None, :, None] * noise
    q = q.reshape(b, int(n_per_point) * n_pts, 3)
    idx = nearest_surface_points(p, q)
    return QuerySamples(q, _gather(p, idx), idx, sigma)


# ----------------------------------------------------------------------------------------------------------
# networks


class PatchEncoder(nn.Module):
    """Simplified PointNet: ``(B, K, 3)`` normalised patches -> ``(B, feature_dim)`` features.

    Three shared per-point layers (Linear + BatchNorm + ReLU; the official 1x1 Conv1d), max over the ``K``
    points, two fully connected layers (Linear + BatchNorm + ReLU). BatchNorm of the per-point layers runs
    over every point of every patch, as ``BatchNorm1d`` on ``(B, C, K)`` does. In training mode it needs ``B
    >= 2``.
    """

    def __init__(
        self, feature_dim: int = 128, widths: tuple[int, int, int] = (64, 128, 1024), hidden: int = 512
    ) -> None:
        super().__init__()
        self.feature_dim = feature_dim
        dims = (3, *widths)
        self.point_layers = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(dims))
        self.point_norms = nn.ModuleList(nn.BatchNorm1d(w) for w in widths)
        fc = (widths[-1], hidden, feature_dim)
        self.fc_layers = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(fc))
        self.fc_norms = nn.ModuleList(nn.BatchNorm1d(w) for w in fc[1:])

    def forward(self, patches: Tensor) -> Tensor:
        p = _check_batch(patches, "patches")
        b, k, _ = p.shape
        if self.training and b < 2:
            raise ValueError(
                "PatchEncoder in training mode needs at least 2 patches (BatchNorm statistics over one "
                "patch's feature are undefined); pass more patches or call model.eval()"
            )
        x = p.reshape(b * k, 3)
        for lin, bn in zip(self.point_layers, self.point_norms, strict=True):
            x = F.relu(bn(lin(x)))
        x = x.reshape(b, k, -1).amax(dim=1)
        for lin, bn in zip(self.fc_layers, self.fc_norms, strict=True):
            x = F.relu(bn(lin(x)))
        return x


def pull_to_surface(
    queries: Tensor, sdf_fn: Callable[[Tensor], Tensor], *, create_graph: bool = False
) -> tuple[Tensor, Tensor]:
    """Neural-Pull's pulling operation: ``pull(q) = q - s(q) * grad s(q) / |grad s(q)|``.

    ``|grad s|`` is ``sqrt(|grad s|^2 + 1e-12)`` (the official safe norm). Each ``s[b, i]`` must depend on
    ``queries[b, i]`` only (true for :class:`ImplicitSDF`), so one backward pass gives every query's gradient.

    Args:
        queries: ``(B, Q, 3)``.
        sdf_fn: maps ``(B, Q, 3)`` queries to ``(B, Q)`` signed distances.
        create_graph: keep the graph of the gradient (training: the loss must reach the network through the
            gradient direction too). Without it the results are detached.

    Returns:
        ``(pulled (B, Q, 3), sdf (B, Q))``.
    """
    with torch.enable_grad():
        q = queries if queries.requires_grad else queries.detach().requires_grad_(True)
        s = sdf_fn(q)
        (grad,) = torch.autograd.grad(s.sum(), q, create_graph=create_graph)
        direction = grad / torch.sqrt((grad * grad).sum(dim=-1, keepdim=True) + GRAD_EPS)
        pulled = q - s[..., None] * direction
    if not create_graph:
        return pulled.detach(), s.detach()
    return pulled, s


class ImplicitSDF(nn.Module):
    """The NIF ``phi(q; f)`` of eq. 1: queries ``(B, Q, 3)`` and patch features ``(B, D)`` -> ``(B, Q)``.

    ``ReLU(Linear 3->W)(q)`` and ``ReLU(Linear D->W)(f)`` are concatenated (query first, as the official
    ``local_NIF``), then ``Linear 2W->W`` + ReLU, ``layers`` weight-normalised ``Linear W->W`` + ReLU, and
    ``Linear W->1``; geometric initialisation as in the module docstring.
    """

    def __init__(self, feature_dim: int = 128, width: int = 512, layers: int = 7) -> None:
        super().__init__()
        self.feature_dim = feature_dim
        self.query_in = nn.Linear(3, width)
        self.feature_in = nn.Linear(feature_dim, width)
        self.fuse = nn.Linear(2 * width, width)
        std = math.sqrt(2.0) / math.sqrt(width)
        nn.init.normal_(self.fuse.weight, 0.0, std)
        nn.init.zeros_(self.fuse.bias)
        hidden = []
        for _ in range(layers):
            lin = nn.Linear(width, width)
            nn.init.normal_(lin.weight, 0.0, std)
            nn.init.zeros_(lin.bias)
            hidden.append(parametrizations.weight_norm(lin))
        self.hidden = nn.ModuleList(hidden)
        self.out = nn.Linear(width, 1)
        nn.init.normal_(self.out.weight, 2.0 * math.sqrt(math.pi) / math.sqrt(width), 1e-6)
        nn.init.constant_(self.out.bias, -0.5)

    def forward(self, queries: Tensor, features: Tensor) -> Tensor:
        q = _check_batch(queries, "queries", what="(B, Q, 3) points")
        f = _check_features(features, q.shape[0], self.feature_dim)
        x = F.relu(self.query_in(q))
        g = F.relu(self.feature_in(f))[:, None, :].expand(-1, q.shape[1], -1)
        x = F.relu(self.fuse(torch.cat([x, g], dim=-1)))
        for lin in self.hidden:
            x = F.relu(lin(x))
        return self.out(x)[..., 0]

    def project(
        self, queries: Tensor, features: Tensor, *, create_graph: bool = False
    ) -> tuple[Tensor, Tensor]:
        """:func:`pull_to_surface` with this ``phi``: ``(pulled (B, Q, 3), sdf (B, Q))``."""
        return pull_to_surface(queries, lambda q: self(q, features), create_graph=create_graph)


class ShapeSDF(nn.Module):
    """The shape expert: :class:`PatchEncoder` (``encoder``) + :class:`ImplicitSDF` (``nif``).

    Frames: :meth:`encode` normalises every patch itself (:func:`normalize_patches`, which leaves a normalised
    patch as it is), so a feature depends only on the patch's shape, not on where it is or how large.
    :meth:`sdf` takes queries in the patch's NORMALISED frame; :meth:`patch_sdf` and :meth:`forward` take
    patches and queries in the same input units and map the queries into each patch's frame.
    """

    def __init__(self, config: ShapeSDFConfig = ShapeSDFConfig()) -> None:
        super().__init__()
        self.config = config
        self.encoder = PatchEncoder(config.feature_dim, config.encoder_widths, config.encoder_hidden)
        self.nif = ImplicitSDF(config.feature_dim, config.nif_width, config.nif_layers)

    def encode(self, patches: Tensor) -> Tensor:
        """``(B, K, 3)`` patches (any units) -> features ``(B, feature_dim)`` of their normalised shapes."""
        return self.encoder(normalize_patches(patches)[0])

    def sdf(self, queries: Tensor, features: Tensor) -> Tensor:
        """``phi(q; f)`` (eq. 1): ``(B, Q, 3)`` queries in the patch's normalised frame -> ``(B, Q)``."""
        return self.nif(queries, features)

    def forward(
        self, patches: Tensor, queries: Tensor | None = None, features: Tensor | None = None
    ) -> Tensor:
        """Signed ``phi`` of ``queries`` (default: the patches' own points) around ``(B, K, 3)`` patches, both
        in the same input units; ``features`` replaces ``encode(patches)`` (e.g. a memory-bank
        reconstruction). Distances are in normalised units (fractions of each patch's largest side).
        Returns ``(B, Q)``."""
        pn, center, scale = normalize_patches(patches)
        if queries is None:
            qn = pn
        else:
            q = _check_batch(queries, "queries", what="(B, Q, 3) points").to(pn.device, pn.dtype)
            if q.shape[0] != pn.shape[0]:
                raise ValueError(
                    f"queries has {q.shape[0]} patches but patches has {pn.shape[0]}; pass one set per patch"
                )
            qn = (q - center[:, None]) / scale[:, None, None]
        f = self.encoder(pn) if features is None else features
        return self.nif(qn, f)

    def patch_sdf(
        self, patches: Tensor, features: Tensor | None = None, queries: Tensor | None = None
    ) -> Tensor:
        """``|forward(patches, queries, features)|``: the paper's per-point SDF score (step 4-5 of its
        inference) when ``queries`` is ``None``. Keeps the module's mode and autograd; :func:`patch_sdf` is
        the chunked no-grad eval-mode version."""
        return self(patches, queries, features).abs()


# ----------------------------------------------------------------------------------------------------------
# training


def neural_pull_loss(
    model: ShapeSDF, patches: Tensor, queries: Tensor, targets: Tensor, *, squared: bool = False
) -> Tensor:
    """The Neural-Pull loss of a batch, differentiable w.r.t. the encoder and the NIF.

    ``L = 1 / (B Q) * sum_{b, i} |pull(q_bi) - t_bi|_2`` with ``pull`` of :func:`pull_to_surface` (gradient
    graph kept), ``f_b = encode(patches_b)``; ``squared=True`` squares each distance (the loss as the
    Neural-Pull and PCP papers write it; the official Shape-Guided code does not square).

    Args:
        model: the shape expert (its mode, train or eval, is left as it is).
        patches: ``(B, K, 3)`` patches in their normalised frame (:func:`normalize_patches`).
        queries: ``(B, Q, 3)`` in the same frame.
        targets: ``(B, Q, 3)``, each query's nearest surface point.
    """
    p = _check_batch(patches, "patches")
    q = _check_batch(queries, "queries", what="(B, Q, 3) points")
    t = _check_batch(targets, "targets", what="(B, Q, 3) points")
    if q.shape != t.shape or q.shape[0] != p.shape[0]:
        raise ValueError(
            f"queries {tuple(q.shape)} and targets {tuple(t.shape)} must have the same shape (B, Q, 3), "
            f"with B = {p.shape[0]} patches; pass one target per query"
        )
    features = model.encode(p)
    pulled, _ = model.nif.project(q, features, create_graph=True)
    diff = pulled - t.to(pulled.device)
    return (diff * diff).sum(dim=-1).mean() if squared else torch.linalg.vector_norm(diff, dim=-1).mean()


def _stack_patches(patches: object) -> Tensor:
    if isinstance(patches, (Tensor, np.ndarray)):
        return _check_batch(patches, "patches").float()
    if not isinstance(patches, Iterable):
        raise ValueError(  # noqa: TRY004
            "patches must be a (P, K, 3) tensor/array or an iterable of (K, 3) patches, "
            f"got {type(patches).__name__}"
        )
    items = [torch.as_tensor(np.asarray(x) if not isinstance(x, Tensor) else x) for x in patches]
    if not items:
        raise ValueError("patches is empty; pass at least 2 patches")
    shapes = {tuple(x.shape) for x in items}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2 or next(iter(shapes))[1] != 3:
        raise ValueError(
            f"every patch must have the same shape (K, 3), got {sorted(shapes)[:4]}; "
            "resample the patches to one K"
        )
    return _check_batch(torch.stack([x.float().cpu() for x in items]), "patches")


def _batches(perm: Tensor, batch_size: int) -> list[Tensor]:
    """Official batching: full batches only (incomplete ones skipped), unless all patches fit in one batch."""
    if perm.numel() <= batch_size:
        return [perm]
    n_full = perm.numel() // batch_size
    return [perm[i * batch_size : (i + 1) * batch_size] for i in range(n_full)]


def train_shape_sdf(
    patches: Tensor | np.ndarray | Iterable[Tensor | np.ndarray],
    config: ShapeSDFConfig = ShapeSDFConfig(),
    *,
    seed: int = 0,
    device: str | torch.device = "cpu",
    progress: Callable[[Iterable[int]], Iterable[int]] | None = None,
) -> tuple[ShapeSDF, list[float]]:
    """Train a :class:`ShapeSDF` on patches with the Neural-Pull loss (module docstring for the recipe).

    Every epoch visits each patch once in a random order, in batches of ``config.batch_size``; a visit draws
    one query round for the patch (round index uniform in ``queries_per_point``, so ``near_scale`` with
    probability ``ceil(0.625 n) / n``; fresh Gaussian noise), takes each query's nearest patch point as its
    target and does one Adam step on :func:`neural_pull_loss`. Per-point sigmas are computed once.

    Args:
        patches: ``(P, K, 3)`` tensor/array or an iterable of ``(K, 3)`` patches in any units (each is
            normalised here), ``P >= 2`` and ``K > config.sigma_neighbour``.
        config: hyper-parameters; the defaults are the official ones.
        seed: initialisation, batch order and queries. The global torch RNG is left untouched. On the CPU the
            trained weights are a function of (patches, config, seed).
        device: where to train.
        progress: wraps the epoch range, e.g.
            ``lambda it: anomaly3d.runtime.progress(it, "shape expert", total=config.epochs)``.

    Returns:
        ``(model, history)``: the trained model in eval mode on ``device``, and the mean training loss of
        every epoch.

    Raises:
        ValueError: bad patches (shape, NaN/inf, different ``K``, fewer than 2, ``K <= sigma_neighbour``,
            zero extent).
    """
    c = config
    pts = _stack_patches(patches)
    if pts.shape[0] < 2:
        raise ValueError(
            f"patches holds {pts.shape[0]} patch; training needs at least 2 (the encoder's BatchNorm)"
        )
    _check_k(pts.shape[1], c.sigma_neighbour, "patches")
    pts = normalize_patches(pts)[0]
    dev = torch.device(device)
    pts = pts.to(dev)
    sigma = neighbor_sigma(pts, c.sigma_neighbour)
    scales = _round_scales(c.queries_per_point, c.near_fraction, c.near_scale, c.far_scale)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = ShapeSDF(c)
    model.to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=c.lr, betas=c.betas)
    gen = torch.Generator().manual_seed(seed)
    history: list[float] = []
    epochs: Iterable[int] = range(c.epochs)
    if progress is not None:
        epochs = progress(epochs)
    for _ in epochs:
        model.train()
        losses = []
        for idx in _batches(torch.randperm(pts.shape[0], generator=gen), c.batch_size):
            on = idx.to(dev)
            p, s = pts[on], sigma[on]
            rounds = torch.randint(c.queries_per_point, (len(idx),), generator=gen)
            noise = torch.randn(p.shape, generator=gen)
            q = p + (scales[rounds][:, None, None] * noise).to(dev) * s[..., None]
            t = _gather(p, nearest_surface_points(p, q))
            loss = neural_pull_loss(model, p, q, t, squared=c.squared_loss)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        history.append(float(np.mean(losses)))
    return model.eval(), history


# ----------------------------------------------------------------------------------------------------------
# inference


@torch.no_grad()
def patch_features(model: ShapeSDF, patches: Tensor | np.ndarray, *, chunk_size: int = 256) -> Tensor:
    """The features ``f`` of ``(B, K, 3)`` patches (any units; eval mode, no grad, ``chunk_size`` patches at a
    time): ``(B, feature_dim)`` on the model's device. These fill the paper's SDF memory bank ``M_S``."""
    p = _check_batch(patches, "patches").float()
    dev = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        return torch.cat(
            [model.encode(p[s : s + chunk_size].to(dev)) for s in range(0, p.shape[0], chunk_size)]
        )
    finally:
        model.train(was_training)


@torch.no_grad()
def patch_sdf(
    model: ShapeSDF,
    patches: Tensor | np.ndarray,
    queries: Tensor | np.ndarray | None = None,
    *,
    features: Tensor | None = None,
    rescale: bool = False,
    chunk_size: int = 64,
) -> Tensor:
    """``|phi(q; f)|`` for queries around each patch (eval mode, no grad, ``chunk_size`` patches at a time).

    Args:
        model: a trained shape expert.
        patches: ``(B, K, 3)`` in any units (each is normalised, the official way).
        queries: ``(B, Q, 3)`` in the same units as ``patches``; ``None`` scores the patch's own points (the
            paper's per-point anomaly score).
        features: ``(B, feature_dim)`` to use instead of ``encode(patches)``, e.g. the sparse-coded
            reconstruction ``f_hat`` from the memory bank (inference step 4).
        rescale: multiply the distances by each patch's scale (back to input units); the official score map
            keeps the normalised units.

    Returns:
        ``(B, Q)`` float32 absolute signed distances on the model's device.
    """
    p = _check_batch(patches, "patches").float()
    q = None if queries is None else _check_batch(queries, "queries", what="(B, Q, 3) points").float()
    if q is not None and q.shape[0] != p.shape[0]:
        raise ValueError(
            f"queries has {q.shape[0]} patches but patches has {p.shape[0]}; pass one set per patch"
        )
    dev = next(model.parameters()).device
    if features is not None:
        features = _check_features(features, p.shape[0], model.config.feature_dim).to(dev)
    was_training = model.training
    model.eval()
    try:
        out = []
        for s in range(0, p.shape[0], chunk_size):
            part = slice(s, s + chunk_size)
            out.append(
                model.patch_sdf(
                    p[part].to(dev),
                    None if features is None else features[part],
                    None if q is None else q[part].to(dev),
                )
            )
    finally:
        model.train(was_training)
    d = torch.cat(out)
    return d * normalize_patches(p)[2].to(dev)[:, None] if rescale else d


# ----------------------------------------------------------------------------------------------------------
# official checkpoints

_OFFICIAL_NAMES = {
    "encoder.conv1": "encoder.point_layers.0",
    "encoder.conv2": "encoder.point_layers.1",
    "encoder.conv3": "encoder.point_layers.2",
    "encoder.bn1": "encoder.point_norms.0",
    "encoder.bn2": "encoder.point_norms.1",
    "encoder.bn3": "encoder.point_norms.2",
    "encoder.fc1": "encoder.fc_layers.0",
    "encoder.fc2": "encoder.fc_layers.1",
    "encoder.bn4": "encoder.fc_norms.0",
    "encoder.bn5": "encoder.fc_norms.1",
    "NIF.fc1": "nif.feature_in",
    "NIF.fc2": "nif.query_in",
    "NIF.fc3": "nif.fuse",
    "NIF.fc5": "nif.out",
}
_OFFICIAL_HIDDEN = re.compile(r"^NIF\.fc4(\d+)\.(weight_g|weight_v|bias)$")
_WEIGHT_NORM = {
    "weight_g": "parametrizations.weight.original0",
    "weight_v": "parametrizations.weight.original1",
    "bias": "bias",
}


def _official_to_ours(name: str) -> str | None:
    m = _OFFICIAL_HIDDEN.match(name)
    if m:
        return f"nif.hidden.{m.group(1)}.{_WEIGHT_NORM[m.group(2)]}"
    module, _, leaf = name.rpartition(".")
    return f"{_OFFICIAL_NAMES[module]}.{leaf}" if module in _OFFICIAL_NAMES else None


def load_official_checkpoint(
    model: ShapeSDF, checkpoint: str | os.PathLike[str] | Mapping[str, Tensor]
) -> dict[str, list[str] | int]:
    """Load the official ``SDF_Model`` weights (e.g. ``checkpoint/best_ckpt/ckpt_000601.pth``) into ``model``.

    Reads ``checkpoint["sdf_model"]`` (or a bare state dict), drops ``"module."`` prefixes, renames
    ``encoder.conv*/bn*/fc*`` and ``NIF.fc*`` to ours, turns 1x1 Conv1d weights into Linear ones and the old
    ``weight_g`` / ``weight_v`` of the hidden layers into torch's weight-norm parametrisation. ``model`` needs
    the official widths (the default :class:`ShapeSDFConfig`) or whatever widths the file has.

    Returns:
        ``{"loaded": n, "missing": [...], "unexpected": [...]}``.

    Raises:
        FileNotFoundError: no such file. ValueError: unreadable file, no state dict, or shapes that differ
        from the model's (the message says which; check ``ShapeSDFConfig``).
    """
    if isinstance(checkpoint, Mapping):
        state = dict(checkpoint)
    else:
        path = Path(checkpoint)
        if not path.is_file():
            raise FileNotFoundError(
                f"Shape-Guided checkpoint {path} does not exist; pass the path of a .pth file"
            )
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise ValueError(
                f"could not read Shape-Guided checkpoint {path}: {exc}; is it a torch .pth file?"
            ) from exc
    if isinstance(state.get("sdf_model"), Mapping):
        state = dict(state["sdf_model"])
    ours = model.state_dict()
    mapped, unexpected, mismatched = map_official_state(state, ours, _official_to_ours)
    if mismatched:
        raise ValueError(
            f"Shape-Guided checkpoint does not match the model's widths: {mismatched[:4]}; build the model "
            "with the checkpoint's widths (the default ShapeSDFConfig holds the official ones)"
        )
    if not mapped:
        raise ValueError(
            "the checkpoint holds no Shape-Guided SDF_Model weights (expected encoder.* and NIF.*)"
        )
    missing = [n for n in ours if n not in mapped]
    model.load_state_dict(mapped, strict=False)
    return {"loaded": len(mapped), "missing": missing, "unexpected": unexpected}
