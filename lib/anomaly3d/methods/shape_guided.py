"""Shape-Guided — shape-guided dual-memory learning for 3D anomaly detection (Chu et al., ICML 2023).

An RGB-D method for organized (MVTec 3D-AD format) samples with two experts and two memory banks:

* **Shape expert** (Section 3.1, Fig. 2). The cloud is cut into overlapping local patches — ``round(overlap * N /
  K)`` farthest-point centres, each with its ``K`` nearest points (the paper's "10 x N / K" rule, K = 500) — and
  a simplified PointNet encodes every patch to a feature ``f``; a neural implicit function ``phi(q; f)`` trained
  Neural-Pull style on queries around the patch predicts the signed distance (eq. 1) (:mod:`anomaly3d.nn.shape_sdf`).
  Every training patch's ``f`` goes into the SDF memory ``M_S``.
* **Appearance expert** (Figs. 3-4). Layers 1-2 of a Wide-ResNet-50-2 give an RGB feature grid (28 x 28 for a
  224 x 224 image; here ``H / 8``). Each training patch's points are traced to their feature cells, the cells are
  dilated by two cells, and the RGB features there form that SDF's dictionary; all dictionaries form ``M_A``.
* **Shape-guided inference** (Section 3.2, steps 1-8): the test patches' features are reconstructed from their
  ``k1 = 10`` nearest ``M_S`` rows by sparse coding (OMP, 3 atoms), ``|phi(q; f_hat)|`` at the patch points is the
  SDF score (a point in several patches keeps its smallest value, as the official code); the union of the RGB
  dictionaries of every ``M_S`` row used forms ``D_hat``, and each foreground RGB feature is reconstructed from its
  ``k2 = 5`` nearest ``D_hat`` rows; the residual norm is the RGB score. The RGB map is mapped affinely so that
  its mean +- 3 sigma on 25 training samples (leave-one-out) matches the SDF one, and the two maps are fused by a
  pixelwise maximum.

Two variants (``variant``):

* ``"paper"`` (default): what Section 3.2 describes; the object score, which the paper does not define, is the
  largest value of the fused map.
* ``"official"``: what the official code (``jayliu0313/Shape-Guided``, ``core/features.py``) does on top: every map
  is blurred with a Gaussian (sigma 4 px at 224 px, scaled with the image), the alignment statistics are taken over
  the non-zero pixels of the blurred maps, the aligned RGB map is clipped at 0, and the object score is the
  *product* of the SDF image score (largest feature reconstruction error ``|f - f_hat|`` over the patches) and
  the RGB image score (largest RGB cell score).

Switches for the paper's ablations: ``modality`` (``"fused"`` / ``"sdf"`` / ``"rgb"``, Table 5),
``shape_guided=False`` (RGB memory of every training feature instead of ``D_hat``: Table 3's "w/o shape-guided",
Table 5's "RGB only"), ``sdf_coding`` / ``rgb_coding`` = ``"nn"`` (nearest neighbour instead of sparse coding,
Table 6). :meth:`ShapeGuided.with_settings` copies a fitted model with other inference settings, so every ablation
row comes from one fit.

Choices and differences from the official code (also in the notebook):

* Clouds are normalised as the official patch cutter does: shifted to their minimum corner and divided by their
  x extent. Patches are then centred and scaled for the shape expert by :func:`anomaly3d.nn.shape_sdf`.
* Leave-one-out alignment leaves out the whole training sample (its patches and RGB features); the official code
  drops only each query's single nearest memory row. With a single training sample nothing can be left out and
  the RGB scores are fused unaligned (``a = 1, b = 0``).
* The two-cell dilation is a square dilation that keeps the cells themselves; the official code takes the cells
  shifted by two in the four directions only (wrapping around rows) and not the cells themselves.
* The RGB image goes through the backbone at ``rgb_size`` (224) pixels whatever the size of the xyz grid, so
  the feature grid is the paper's 28 x 28 also on the smaller embedded grids, whose clouds are used at their own
  resolution (``image_size=None`` in the CPU profiles: resizing them to 224 would only repeat points).
* Without ImageNet weights on disk the Wide-ResNet is randomly initialised (see
  :func:`anomaly3d.nn.wide_resnet.load_wide_resnet50_2`; ``rgb_source_`` says which one is in use).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from anomaly3d.data.organized import resize_rgb_bicubic
from anomaly3d.data.sample import DataError, Sample
from anomaly3d.methods.base import AnomalyMethod, MethodConfig, Scores, register_method
from anomaly3d.metrics.maps import gaussian_blur
from anomaly3d.nn.shape_sdf import ShapeSDF, ShapeSDFConfig, patch_sdf, train_shape_sdf
from anomaly3d.nn.shape_sdf import patch_features as sdf_features
from anomaly3d.nn.wide_resnet import imagenet_normalize, load_wide_resnet50_2, patch_features
from anomaly3d.ops import fps, knn
from anomaly3d.ops.coreset import feature_knn
from anomaly3d.ops.sparse_coding import reconstruct_from_neighbours

__all__ = [
    "MODALITIES",
    "VARIANTS",
    "ShapeGuided",
    "ShapeGuidedConfig",
    "cut_patches",
    "dilate_cells",
    "fit_alignment",
]

MODALITIES = ("fused", "sdf", "rgb")
VARIANTS = ("paper", "official")
CODINGS = ("sparse", "nn")
_OFFICIAL_BLUR_AT_224 = 4.0


@dataclass(frozen=True)
class ShapeGuidedConfig(MethodConfig):
    """Shape-Guided settings; the defaults are the paper's (module docstring for the choices).

    Attributes:
        image_size: grid the MVTec 3D-AD samples are resized to (224 as the paper; ``None`` keeps the grid).
        patch_size: points per patch ``K`` (500).
        overlap: the patch count is ``round(overlap * N / K)`` (10).
        feature_dim, encoder_widths, encoder_hidden, nif_width, nif_layers, epochs, batch_size, lr,
            queries_per_point, sigma_neighbour: the shape expert and its training (:class:`anomaly3d.nn.shape_sdf.ShapeSDFConfig`, whose
            defaults are the official ones; ``None`` keeps them).
        rgb_weights: ``"auto"`` (the torch hub cache), a torchvision-format file, or ``None`` (random weights).
        rgb_size: the RGB image is resized (bicubic) to this square size before the backbone, so the feature grid
            is ``rgb_size / 8`` cells whatever the sample's grid (224: the paper's 28 x 28); ``None`` keeps it.
        dilation: cells added around a patch's cells in its RGB dictionary (2).
        k_sdf, k_rgb: ``k1`` and ``k2`` (10 and 5); n_nonzero: OMP atoms (3, as the official code).
        sdf_coding, rgb_coding: ``"sparse"`` (OMP on the k nearest) or ``"nn"`` (the nearest; Table 6).
        shape_guided: RGB scores against ``D_hat`` (True) or against every training RGB feature.
        modality: which map is the method's output: ``"fused"``, ``"sdf"`` or ``"rgb"``.
        alignment_samples: training samples simulated for the alignment (25).
        variant: ``"paper"`` or ``"official"`` (module docstring).
        seed: patch cutting, query sampling, network initialisation, alignment subset.
    """

    image_size: int | None = 224
    patch_size: int = 500
    overlap: float = 10.0
    feature_dim: int | None = None
    encoder_widths: tuple[int, int, int] | None = None
    encoder_hidden: int | None = None
    nif_width: int | None = None
    nif_layers: int | None = None
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    queries_per_point: int | None = None
    sigma_neighbour: int | None = None
    rgb_weights: str | None = "auto"
    rgb_size: int | None = 224
    dilation: int = 2
    k_sdf: int = 10
    k_rgb: int = 5
    n_nonzero: int = 3
    sdf_coding: str = "sparse"
    rgb_coding: str = "sparse"
    shape_guided: bool = True
    modality: str = "fused"
    alignment_samples: int = 25
    variant: str = "paper"
    seed: int = 0

    def __post_init__(self) -> None:
        for name, value, valid in (
            ("modality", self.modality, MODALITIES),
            ("variant", self.variant, VARIANTS),
            ("sdf_coding", self.sdf_coding, CODINGS),
            ("rgb_coding", self.rgb_coding, CODINGS),
        ):
            if value not in valid:
                raise ValueError(f"{name} must be one of {valid}, got {value!r}")
        for name in ("patch_size", "k_sdf", "k_rgb", "n_nonzero", "alignment_samples"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.overlap <= 0 or self.dilation < 0:
            raise ValueError(f"overlap must be > 0 and dilation >= 0, got {self.overlap}, {self.dilation}")

    def sdf_config(self) -> ShapeSDFConfig:
        """The shape expert's settings (fields left ``None`` keep :class:`ShapeSDFConfig`'s defaults)."""
        names = (
            "feature_dim",
            "encoder_widths",
            "encoder_hidden",
            "nif_width",
            "nif_layers",
            "epochs",
            "batch_size",
            "lr",
            "queries_per_point",
            "sigma_neighbour",
        )
        given = {k: getattr(self, k) for k in names if getattr(self, k) is not None}
        if "encoder_widths" in given:
            given["encoder_widths"] = tuple(given["encoder_widths"])
        return ShapeSDFConfig(**given)


# -- pieces with a paper equation or rule of their own --------------------------------------------------------
def normalize_cloud(points: np.ndarray) -> np.ndarray:
    """The official patch cutter's normalisation: shift to the minimum corner, divide by the x extent."""
    p = np.asarray(points, dtype=np.float64)
    lo = p.min(axis=0)
    extent = float(p[:, 0].max() - lo[0])
    if extent <= 0:
        raise DataError("the cloud has no extent along x: cannot normalise it for Shape-Guided")
    return ((p - lo) / extent).astype(np.float32)


def cut_patches(points: np.ndarray, patch_size: int, overlap: float, *, seed: int = 0) -> np.ndarray:
    """Local patches (Section 4.1): ``round(overlap * N / K)`` FPS centres, each with its ``K`` nearest points.

    Returns ``(P, K)`` int64 point indices; rows are sorted by distance to the centre (the centre first).

    Raises:
        DataError: fewer points than ``patch_size``.
    """
    n = len(points)
    if n < patch_size:
        raise DataError(
            f"Shape-Guided needs at least patch_size={patch_size} points per cloud, got {n}: lower patch_size "
            "or keep more points (e.g. a larger image_size)"
        )
    n_patches = min(n, max(1, round(overlap * n / patch_size)))
    centres = np.asarray(fps(points, n_patches, start="random", seed=seed))
    _, idx = knn(points[centres], points, k=patch_size)
    return np.asarray(idx, dtype=np.int64)


def pixel_cells(pixel_index: np.ndarray, image_size: tuple[int, int], grid: tuple[int, int]) -> np.ndarray:
    """Flat feature-grid cell of each flat pixel index (``row * h // H``, ``col * w // W``)."""
    (hh, ww), (h, w) = image_size, grid
    rows, cols = np.divmod(np.asarray(pixel_index, dtype=np.int64), ww)
    return (rows * h // hh) * w + (cols * w // ww)


def dilate_cells(cells: np.ndarray, grid: tuple[int, int], radius: int) -> np.ndarray:
    """Sorted unique cells within ``radius`` cells (Chebyshev) of ``cells`` on a ``grid``, clipped at the border
    (Fig. 4's two-pixel expansion; the cells themselves included)."""
    h, w = grid
    r, c = np.divmod(np.unique(np.asarray(cells, dtype=np.int64)), w)
    if radius == 0:
        return r * w + c
    d = np.arange(-radius, radius + 1)
    rr = np.clip(r[:, None, None] + d[None, :, None], 0, h - 1)
    cc = np.clip(c[:, None, None] + d[None, None, :], 0, w - 1)
    return np.unique((rr * w + cc).reshape(-1))


def fit_alignment(sdf_scores: np.ndarray, rgb_scores: np.ndarray) -> tuple[float, float]:
    """Score-map alignment (Section 3.2): ``(a, b)`` such that ``a * y + b`` maps the RGB mean +- 3 sigma onto the
    SDF mean +- 3 sigma."""
    s = np.asarray(sdf_scores, dtype=np.float64).reshape(-1)
    r = np.asarray(rgb_scores, dtype=np.float64).reshape(-1)
    if s.size < 2 or r.size < 2:
        raise ValueError("the alignment needs at least two SDF and two RGB scores")
    s_lo, s_hi = s.mean() - 3 * s.std(), s.mean() + 3 * s.std()
    r_lo, r_hi = r.mean() - 3 * r.std(), r.mean() + 3 * r.std()
    if r_hi - r_lo <= 0:
        return 1.0, float(s.mean() - r.mean())
    a = (s_hi - s_lo) / (r_hi - r_lo)
    return float(a), float(s_lo - a * r_lo)


def _reconstruct(bank: torch.Tensor, queries: torch.Tensor, k: int, coding: str, n_nonzero: int):
    """``(reconstructions, neighbour indices)``: the k nearest bank rows, then OMP (or the nearest row)."""
    k = min(k, bank.shape[0])
    if coding == "nn":
        _, idx = feature_knn(queries, bank, k)
        return bank[idx[:, 0]], idx
    return reconstruct_from_neighbours(bank, queries, k, min(n_nonzero, k))


@dataclass
class _Maps:
    """Everything one inference produces (the maps on the sample's image grid, 0 off the object)."""

    sdf_points: np.ndarray  # (N,) |phi| per point
    sdf_map: np.ndarray  # (H, W)
    rgb_map: np.ndarray  # (H, W)
    sdf_image: float  # max |f - f_hat| over the patches (official SDF image score)
    rgb_image: float  # max RGB cell score
    patches: np.ndarray  # (P, K) point indices
    neighbours: np.ndarray  # (P, k1) M_S rows used
    dictionary_size: int  # |D_hat| (or the whole RGB bank)


@register_method
class ShapeGuided(AnomalyMethod):
    """Shape-Guided dual-memory anomaly detection (module docstring). Needs organized samples with RGB."""

    name: ClassVar[str] = "shape-guided"
    config_class = ShapeGuidedConfig

    def __init__(
        self, config: ShapeGuidedConfig | None = None, *, device: str | torch.device = "auto"
    ) -> None:
        super().__init__(config, device=device)
        self.sdf_model: ShapeSDF | None = None
        self.history_: list[float] = []
        self.sdf_bank: torch.Tensor | None = None  # M_S (S, D)
        self.sdf_owner: torch.Tensor | None = None  # (S,) training sample of each row
        self.rgb_bank: torch.Tensor | None = None  # M_A's features (R, C)
        self.rgb_owner: torch.Tensor | None = None  # (R,)
        self.dict_ptr: torch.Tensor | None = (
            None  # CSR: M_S row s owns rgb rows dict_idx[dict_ptr[s]:dict_ptr[s+1]]
        )
        self.dict_idx: torch.Tensor | None = None
        self.alignment_: tuple[float, float] = (1.0, 0.0)
        self.rgb_source_: str = ""
        self._alignment_samples: list[tuple[int, Sample]] = []  # (training index, sample), kept by fit
        self._backbone: torch.nn.Module | None = None

    @property
    def display_name(self) -> str:
        """The paper's row names: ``Shape-Guided(SDF)``; ``Shape-Guided(RGB)`` is its "RGB only" (Tables 1, 2 and
        5: the whole RGB memory), ``Shape-Guided(shape-guided RGB)`` Table 5's third row; nearest-neighbour
        scoring (Table 6) is appended as ``[SDF nn, RGB nn]``, the official variant as ``[official code]``."""
        c = self.config
        if c.modality == "sdf":
            base = "Shape-Guided(SDF)"
        elif c.modality == "rgb":
            base = "Shape-Guided(shape-guided RGB)" if c.shape_guided else "Shape-Guided(RGB)"
        else:
            base = "Shape-Guided" if c.shape_guided else "Shape-Guided(w/o shape-guided)"
        tags = [f"{n} nn" for n, v in (("SDF", c.sdf_coding), ("RGB", c.rgb_coding)) if v == "nn"]
        if c.variant == "official":
            tags.append("official code")
        return base + (f" [{', '.join(tags)}]" if tags else "")

    @property
    def bank(self) -> torch.Tensor | None:
        """``M_S`` (its size goes into the results as ``bank_size``)."""
        return self.sdf_bank

    def load_options(self, dataset: str) -> dict[str, Any]:
        if dataset == "mvtec3d-ad":
            return {"preprocess": "btf", "resize": self.config.image_size, "with_rgb": True}
        return {}

    def with_settings(self, **inference: Any) -> ShapeGuided:
        """This fitted method with other inference settings (``modality``, ``variant``, ``shape_guided``,
        ``sdf_coding``, ``rgb_coding``, ``k_sdf``, ``k_rgb``, ``n_nonzero``); the memories and the shape expert are
        shared, the alignment is re-fitted when the variant or a coding changes."""
        self._require_fitted()
        allowed = {
            "modality",
            "variant",
            "shape_guided",
            "sdf_coding",
            "rgb_coding",
            "k_sdf",
            "k_rgb",
            "n_nonzero",
        }
        unknown = sorted(set(inference) - allowed)
        if unknown:
            raise ValueError(f"with_settings takes only inference settings {sorted(allowed)}, got {unknown}")
        other = copy.copy(self)
        other.config = replace(self.config, **inference)
        if any(getattr(other.config, k) != getattr(self.config, k) for k in inference if k != "modality"):
            if not self._alignment_samples:
                raise ValueError(
                    "this Shape-Guided was loaded from a file, which keeps the alignment of its own settings "
                    "only; other variants / codings need the training samples to re-fit it: fit again (or "
                    "change only `modality`)"
                )
            other.alignment_ = other._fit_alignment(self._alignment_samples)
        return other

    # -- the RGB expert ------------------------------------------------------------------------------------
    def _rgb_backbone(self) -> torch.nn.Module:
        if self._backbone is None:
            model, source = load_wide_resnet50_2(
                self.config.rgb_weights, up_to="layer2", seed=self.config.seed
            )
            self._backbone = model.to(self.device)
            self.rgb_source_ = source
        return self._backbone

    def rgb_features(self, sample: Sample) -> tuple[torch.Tensor, tuple[int, int]]:
        """``((h * w, C) features, (h, w))``: the layer 1+2 feature grid of the sample's image (resized to
        ``rgb_size``), ``h = rgb_size / 8``."""
        if sample.rgb is None:
            raise DataError(f"Shape-Guided needs the RGB image of {sample.category}/{sample.name}")
        rgb = sample.rgb
        if self.config.rgb_size is not None and rgb.shape[:2] != (self.config.rgb_size,) * 2:
            rgb = resize_rgb_bicubic(rgb, (self.config.rgb_size, self.config.rgb_size))
        rgb = np.array(rgb)  # a writable copy (cached and resized images are read-only)
        h, w = rgb.shape[0] // 8, rgb.shape[1] // 8
        with torch.no_grad():  # the official recipe: unpadded 3 x 3 average, both layers pooled to (h, w)
            x = imagenet_normalize(rgb).to(self.device)
            feats = patch_features(self._rgb_backbone(), x, same_padding=False, size=(h, w))[0]
        return feats.reshape(feats.shape[0], -1).T.contiguous(), (h, w)

    # -- the shape expert ----------------------------------------------------------------------------------
    def _patches(self, sample: Sample, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """``(normalised points (N, 3), patches (P, K))``."""
        pts = normalize_cloud(sample.points)
        return pts, cut_patches(pts, self.config.patch_size, self.config.overlap, seed=seed)

    def _encode(self, points: np.ndarray, patches: np.ndarray) -> torch.Tensor:
        assert self.sdf_model is not None
        return sdf_features(self.sdf_model, torch.as_tensor(points[patches]))

    def _sdf_values(self, points: np.ndarray, patches: np.ndarray, features: torch.Tensor) -> torch.Tensor:
        """``(P, K)`` |phi(q; f)| at every patch point, with each patch's (reconstructed) feature (step 4)."""
        assert self.sdf_model is not None
        return patch_sdf(self.sdf_model, torch.as_tensor(points[patches]), features=features)

    # -- fit -----------------------------------------------------------------------------------------------
    def fit(self, train_samples: Iterable[Sample]) -> ShapeGuided:
        samples = list(train_samples)
        if not samples:
            raise ValueError("Shape-Guided needs at least one training sample")
        for s in samples:
            if not s.is_organized or s.rgb is None:
                raise DataError(
                    f"Shape-Guided needs organized samples with an RGB image (MVTec 3D-AD format); "
                    f"{s.category}/{s.name} has {'no pixel grid' if not s.is_organized else 'no RGB image'}"
                )
        c = self.config
        self._backbone = None
        clouds = [self._patches(s, c.seed + i) for i, s in enumerate(samples)]
        # 1. the shape expert, trained on every training patch
        train_patches = np.concatenate([pts[p] for pts, p in clouds])
        self.sdf_model, self.history_ = train_shape_sdf(
            torch.as_tensor(train_patches), c.sdf_config(), seed=c.seed, device=self.device
        )
        self.sdf_model.eval()
        # 2. M_S and M_A: each patch's feature and the RGB rows of its dilated cells
        sdf_rows, sdf_owner, rgb_rows, rgb_owner, dicts = [], [], [], [], []
        n_rgb = 0
        for i, (s, (pts, patches)) in enumerate(zip(samples, clouds, strict=True)):
            sdf_rows.append(self._encode(pts, patches))
            sdf_owner.append(torch.full((len(patches),), i, dtype=torch.long))
            feats, grid = self.rgb_features(s)
            cells = pixel_cells(s.pixel_index, s.image_size, grid)
            patch_cells = [dilate_cells(cells[p], grid, c.dilation) for p in patches]
            used = np.unique(np.concatenate(patch_cells))
            rgb_rows.append(feats[torch.as_tensor(used, device=feats.device)])
            rgb_owner.append(torch.full((len(used),), i, dtype=torch.long))
            dicts += [n_rgb + np.searchsorted(used, pc) for pc in patch_cells]
            n_rgb += len(used)
        self.sdf_bank = torch.cat(sdf_rows)
        self.sdf_owner = torch.cat(sdf_owner).to(self.device)
        self.rgb_bank = torch.cat(rgb_rows)
        self.rgb_owner = torch.cat(rgb_owner).to(self.device)
        lengths = torch.tensor([len(d) for d in dicts], dtype=torch.long)
        self.dict_ptr = torch.cat([torch.zeros(1, dtype=torch.long), lengths.cumsum(0)]).to(self.device)
        self.dict_idx = torch.as_tensor(np.concatenate(dicts), dtype=torch.long, device=self.device)
        self._fitted = True
        # 3. score-map alignment on up to 25 training samples, each left out of the memories
        rng = np.random.default_rng(c.seed)
        chosen = sorted(rng.choice(len(samples), size=min(c.alignment_samples, len(samples)), replace=False))
        self._alignment_samples = [(int(i), samples[i]) for i in chosen]
        self.alignment_ = self._fit_alignment(self._alignment_samples) if len(samples) > 1 else (1.0, 0.0)
        return self

    def _fit_alignment(self, chosen: list[tuple[int, Sample]]) -> tuple[float, float]:
        if len(chosen) == 0 or self.sdf_owner is None or int(self.sdf_owner.max()) == 0:
            return (1.0, 0.0)
        sdf_vals, rgb_vals = [], []
        for i, s in chosen:
            m = self._infer(s, exclude=i)
            sdf_map, rgb_map = self._blurred(m.sdf_map), self._blurred(m.rgb_map)
            if self.config.variant == "official":  # the non-zero pixels of the blurred maps
                sdf_vals.append(sdf_map[sdf_map != 0])
                rgb_vals.append(rgb_map[rgb_map != 0])
            else:  # the object's pixels
                fg = np.zeros(sdf_map.size, dtype=bool)
                fg[s.pixel_index] = True
                sdf_vals.append(sdf_map.reshape(-1)[fg])
                rgb_vals.append(rgb_map.reshape(-1)[fg])
        return fit_alignment(np.concatenate(sdf_vals), np.concatenate(rgb_vals))

    # -- inference -----------------------------------------------------------------------------------------
    def _blurred(self, image: np.ndarray) -> np.ndarray:
        if self.config.variant != "official":
            return image
        return gaussian_blur(image, _OFFICIAL_BLUR_AT_224 * image.shape[0] / 224.0).astype(np.float32)

    def _shape_step(self, sample: Sample, exclude: int | None):
        """Steps 1 and 3: ``(points, patches, features, reconstructions, M_S rows used)``."""
        self._require_fitted()
        assert self.sdf_bank is not None and self.sdf_owner is not None
        if not sample.is_organized or sample.rgb is None:
            raise DataError(
                f"Shape-Guided needs an organized sample with RGB; {sample.category}/{sample.name} is not"
            )
        c = self.config
        pts, patches = self._patches(sample, c.seed)
        sdf_keep = torch.arange(len(self.sdf_bank), device=self.device)
        if exclude is not None:
            sdf_keep = sdf_keep[self.sdf_owner != exclude]
        feats = self._encode(pts, patches)
        f_hat, nbr = _reconstruct(self.sdf_bank[sdf_keep], feats, c.k_sdf, c.sdf_coding, c.n_nonzero)
        return pts, patches, feats, f_hat, sdf_keep[nbr]

    def _dictionary(self, neighbours: torch.Tensor, exclude: int | None) -> torch.Tensor:
        """Step 6: the RGB memory rows of ``D_hat``, the union of the dictionaries of the ``M_S`` rows used (or
        every row, without shape guidance)."""
        assert self.rgb_bank is not None and self.rgb_owner is not None
        assert self.dict_ptr is not None and self.dict_idx is not None
        if not self.config.shape_guided:
            rows = torch.arange(len(self.rgb_bank), device=self.device)
            return rows if exclude is None else rows[self.rgb_owner != exclude]
        used = torch.unique(neighbours)
        starts, ends = self.dict_ptr[used].tolist(), self.dict_ptr[used + 1].tolist()
        return torch.unique(torch.cat([self.dict_idx[a:b] for a, b in zip(starts, ends, strict=True)]))

    def searched_features(self, sample: Sample) -> int:
        """How many RGB memory features a test sample's RGB features are searched against (Table 3's NoF):
        ``|D_hat|``, or the whole memory without shape guidance. Runs steps 1, 3 and 6 only."""
        *_, nbr = self._shape_step(sample, None)
        return len(self._dictionary(nbr, None))

    def _infer(self, sample: Sample, *, exclude: int | None = None) -> _Maps:
        """Steps 1-7 of Section 3.2 on one sample; ``exclude`` leaves a training sample out of both memories."""
        c = self.config
        h_img, w_img = sample.image_size
        pts, patches, feats, f_hat, nbr = self._shape_step(sample, exclude)
        sdf_image = float((feats - f_hat).norm(dim=1).max())
        # steps 4-5: |phi(q; f_hat)| at each patch point, the smallest over the patches holding a point
        values = self._sdf_values(pts, patches, f_hat).reshape(-1).to("cpu", torch.float64)
        per_point = torch.full((len(pts),), float("inf"), dtype=torch.float64)
        per_point.scatter_reduce_(0, torch.as_tensor(patches.reshape(-1)), values, reduce="amin")
        covered = torch.isfinite(per_point).numpy()
        sdf_points = per_point.numpy()
        if not covered.all():  # points in no patch read their nearest covered point
            _, j = knn(pts[~covered], pts[covered], k=1)
            sdf_points[~covered] = sdf_points[covered][np.asarray(j)[:, 0]]
        sdf_map = np.zeros(h_img * w_img, dtype=np.float32)
        sdf_map[sample.pixel_index] = sdf_points
        # step 2: the RGB feature grid; foreground = the cells of the patches, dilated as in training
        rgb, grid = self.rgb_features(sample)
        cells = pixel_cells(sample.pixel_index, sample.image_size, grid)
        fg = dilate_cells(cells[np.unique(patches)], grid, c.dilation)
        rows = self._dictionary(nbr, exclude)  # step 6
        # step 7: each foreground feature reconstructed from its k2 nearest D_hat rows; the residual is its score
        query = rgb[torch.as_tensor(fg, device=rgb.device)]
        r_hat, _ = _reconstruct(self.rgb_bank[rows], query, c.k_rgb, c.rgb_coding, c.n_nonzero)
        cell_scores = torch.zeros(grid[0] * grid[1], dtype=torch.float64)
        cell_scores[torch.as_tensor(fg)] = (query - r_hat).norm(dim=1).to("cpu", torch.float64)
        rgb_map = F.interpolate(
            cell_scores.view(1, 1, *grid), size=(h_img, w_img), mode="bilinear", align_corners=False
        )[0, 0].numpy()
        return _Maps(
            sdf_points=sdf_points.astype(np.float32),
            sdf_map=sdf_map.reshape(h_img, w_img),
            rgb_map=rgb_map.astype(np.float32),
            sdf_image=sdf_image,
            rgb_image=float(cell_scores.max()),
            patches=patches,
            neighbours=nbr.cpu().numpy(),
            dictionary_size=len(rows),
        )

    def fuse(self, maps: _Maps) -> dict[str, tuple[float, np.ndarray]]:
        """Step 8: ``{"sdf", "rgb", "fused"}`` -> ``(object score, (H, W) map)`` for the config's variant."""
        a, b = self.alignment_
        official = self.config.variant == "official"
        aligned = a * maps.rgb_map + b
        if official:
            aligned = np.clip(aligned, 0.0, None)
        fused = np.maximum(aligned, maps.sdf_map)
        sdf_map, rgb_map, fused = (
            self._blurred(maps.sdf_map),
            self._blurred(maps.rgb_map),
            self._blurred(fused),
        )
        if official:
            objects = (maps.sdf_image, maps.rgb_image, maps.sdf_image * maps.rgb_image)
        else:
            objects = (float(sdf_map.max()), float(rgb_map.max()), float(fused.max()))
        return {
            "sdf": (objects[0], sdf_map.astype(np.float32)),
            "rgb": (objects[1], rgb_map.astype(np.float32)),
            "fused": (objects[2], fused.astype(np.float32)),
        }

    def explain(self, sample: Sample) -> tuple[_Maps, dict[str, tuple[float, np.ndarray]]]:
        """The raw maps of steps 1-7 and the fused outputs of step 8 (for figures)."""
        maps = self._infer(sample)
        return maps, self.fuse(maps)

    def score(self, sample: Sample) -> Scores:
        _, out = self.explain(sample)
        obj, amap = out[self.config.modality]
        branches = {k: (v[0], v[1].reshape(-1)[sample.pixel_index]) for k, v in out.items()}
        return Scores(float(obj), amap.reshape(-1)[sample.pixel_index].astype(np.float32), amap, branches)

    # -- persistence ---------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        self._require_fitted()
        assert self.sdf_model is not None
        return {
            "sdf_model": self.sdf_model.state_dict(),
            "history": list(self.history_),
            "sdf_bank": self.sdf_bank,
            "sdf_owner": self.sdf_owner,
            "rgb_bank": self.rgb_bank,
            "rgb_owner": self.rgb_owner,
            "dict_ptr": self.dict_ptr,
            "dict_idx": self.dict_idx,
            "alignment": list(self.alignment_),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.sdf_model = ShapeSDF(self.config.sdf_config()).to(self.device)
        self.sdf_model.load_state_dict(state["sdf_model"])
        self.sdf_model.eval()
        self.history_ = list(state["history"])
        for key in ("sdf_bank", "sdf_owner", "rgb_bank", "rgb_owner", "dict_ptr", "dict_idx"):
            setattr(self, key, state[key].to(self.device))
        self.alignment_ = (float(state["alignment"][0]), float(state["alignment"][1]))
        self._alignment_samples = []
        self._backbone = None
        self._fitted = True
