"""AU-PRO: area under the per-region-overlap curve up to an FPR integration limit.

Image grid (MVTec 3D-AD)
    Follows the official MVTec 3D-AD evaluation (``pro_curve_util.compute_pro`` + ``generic_util.trapezoid``,
    Bergmann et al. 2021/2022), re-derived here:

    * ground-truth regions are the **8-connected** components of every ground-truth mask (a 3x3 structuring
      element); anomaly-free images contribute no region but all their pixels as anomaly-free pixels;
    * ``FPR(t)`` = anomaly-free pixels with ``score >= t`` / all anomaly-free pixels of the dataset;
      ``PRO(t)`` = mean over **all regions of the dataset, each weighted equally**, of the fraction of the
      region's pixels with ``score >= t``;
    * there is a curve point at **every distinct score of any pixel** (tied scores form one point; the FPR
      only moves at scores of anomaly-free pixels, the PRO only at scores of region pixels), the curve is
      prefixed with ``(0, 0)`` and, like the official code, suffixed with ``(1, 1)``;
    * the area is taken with the trapezoidal rule over the points with ``FPR <= limit``; when ``limit`` is
      not itself a curve point, the PRO at the limit is linearly interpolated between the two neighbouring
      points and that last partial trapezoid is added; the area is divided by ``limit`` (3D-ST: "we
      normalize the resulting values to the interval [0, 1]").

    Difference to the official code: it casts the cumulative FPR to float32 before dividing; we keep
    float64 (the values differ by ~1e-7 at most).

Unorganized point clouds (our extension, named ``AU-PRO-pc``)
    Same curve with points instead of pixels. A region is a connected component of the ground-truth
    anomalous points of one cloud in the graph that links two anomalous points closer than ``radius``
    (:func:`point_regions`). None of the five papers reports it; it is offered for Real3D-AD /
    Anomaly-ShapeNet clouds, which have no image grid.

Speed: only the part of the curve below the largest requested limit is built — the anomaly-free score
at the rank where the FPR first exceeds the limit is found with ``np.partition`` and only the pixels
scoring at least that much are sorted — which gives exactly the same areas as the full curve.

Degenerate input: NaN/inf scores, mismatched shapes, an empty list, or limits outside ``(0, 1]`` raise
``ValueError``. No ground-truth region (an empty mask set) or no anomaly-free pixel makes AU-PRO undefined:
the ``au_pro*`` functions then return NaN with a :class:`~anomaly3d.metrics.MetricWarning`, while
:func:`pro_curve` / :func:`pro_curve_points` raise ``ValueError``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from anomaly3d.metrics._checks import as_binary_labels, as_finite_scores, warn_undefined
from anomaly3d.metrics.names import PRO_LIMITS, au_pro_name, au_pro_point_name
from anomaly3d.ops import median_nn_spacing

__all__ = [
    "ProCurve",
    "au_pro",
    "au_pro_metrics",
    "au_pro_points",
    "au_pro_points_metrics",
    "point_regions",
    "pro_curve",
    "pro_curve_points",
]

_STRUCTURE_8 = np.ones((3, 3), dtype=bool)


@dataclass(frozen=True)
class ProCurve:
    """A PRO curve: ``fpr`` non-decreasing from 0, ``pro`` the matching per-region overlap.

    Attributes:
        fpr: false-positive rates, starting with 0; ends with 1 unless the curve was built only up to
            ``max_fpr`` (then it ends with the first point beyond ``max_fpr``).
        pro: per-region overlap at each point.
        thresholds: the score of each point (``+inf`` for the leading ``(0, 0)`` and ``-inf`` for the
            trailing ``(1, 1)``).
        n_regions: ground-truth regions in the evaluated set.
        n_normal: anomaly-free pixels (points) in the evaluated set.
        max_fpr: the FPR up to which the curve is complete (1.0 for a full curve).
    """

    fpr: np.ndarray
    pro: np.ndarray
    thresholds: np.ndarray
    n_regions: int
    n_normal: int
    max_fpr: float = 1.0

    def area(self, limit: float = 0.3) -> float:
        """Normalized area under the curve for ``FPR`` in ``[0, limit]`` (the AU-PRO at ``limit``).

        Raises:
            ValueError: if ``limit`` is not in ``(0, 1]`` or exceeds the ``max_fpr`` the curve was built for.
        """
        limit = _check_limit(limit)
        if limit > self.max_fpr:
            raise ValueError(
                f"this curve was built up to FPR {self.max_fpr}; it cannot be integrated to {limit}"
            )
        return float(_area_to_limit(self.fpr, self.pro, limit) / limit)


def _check_limit(limit: object) -> float:
    if isinstance(limit, bool) or not isinstance(limit, (int, float, np.floating, np.integer)):
        raise ValueError(f"integration limit must be a number in (0, 1], got {limit!r}")  # noqa: TRY004
    value = float(limit)
    if not (math.isfinite(value) and 0.0 < value <= 1.0):
        raise ValueError(f"integration limit must lie in (0, 1], got {limit!r}")
    return value


def _check_limits(limits: Iterable[float]) -> list[float]:
    out = [_check_limit(x) for x in limits]
    if not out:
        raise ValueError("limits is empty; pass at least one integration limit, e.g. (0.3,)")
    return out


def _area_to_limit(fpr: np.ndarray, pro: np.ndarray, limit: float) -> float:
    """Trapezoidal area under ``(fpr, pro)`` on ``[0, limit]``; linear interpolation of PRO at ``limit``."""
    ins = int(np.searchsorted(fpr, limit, side="right"))  # points [0, ins) have fpr <= limit
    x, y = fpr[:ins], pro[:ins]
    area = float(np.sum(0.5 * (y[1:] + y[:-1]) * np.diff(x)))
    if x[-1] != limit:
        if ins >= fpr.size:  # cannot happen for curves built by this module (they reach past the limit)
            raise ValueError(f"the PRO curve ends at FPR {fpr[-1]} before the integration limit {limit}")
        x0, x1, y0, y1 = fpr[ins - 1], fpr[ins], pro[ins - 1], pro[ins]
        y_lim = y0 + (y1 - y0) * (limit - x0) / (x1 - x0)
        area += 0.5 * (y_lim + y0) * (limit - x0)
    return area


def _curve_from_regions(
    scores: np.ndarray, region: np.ndarray, n_regions: int, max_fpr: float, what: str
) -> ProCurve:
    """Build the PRO curve from flat scores and region ids (0 = anomaly-free, 1..n_regions = region)."""
    normal = region == 0
    n_normal = int(normal.sum())
    if n_regions == 0:
        raise ValueError(f"PRO curve is undefined: the ground truth has no anomalous {what} (no region)")
    if n_normal == 0:
        raise ValueError(f"PRO curve is undefined: every {what} is anomalous (the FPR has no denominator)")
    sizes = np.bincount(region, minlength=n_regions + 1)
    inv_size = np.zeros(n_regions + 1)
    inv_size[1:] = 1.0 / sizes[1:]

    # Keep only what the curve needs below max_fpr: everything scoring at least the anomaly-free score at
    # which the FPR first exceeds max_fpr (one rank of margin against rounding in max_fpr * n_normal).
    n_keep = math.floor(max_fpr * n_normal) + 2
    complete = n_keep > n_normal
    if not complete:
        normal_scores = scores[normal]
        cut = np.partition(normal_scores, n_normal - n_keep)[n_normal - n_keep]
        keep = scores >= cut
        scores, region, normal = scores[keep], region[keep], normal[keep]

    order = np.argsort(scores)[::-1]
    s_sorted = scores[order]
    ends = np.append(np.flatnonzero(np.diff(s_sorted)), s_sorted.size - 1)
    fp = np.cumsum(normal[order], dtype=np.int64)[ends]
    overlap = np.cumsum(inv_size[region[order]])[ends]
    fpr = np.minimum(fp / n_normal, 1.0)
    pro = np.minimum(overlap / n_regions, 1.0)
    thr = s_sorted[ends]
    tail = 1 if complete else 0  # like the official code, a complete curve is closed with (1, 1)
    fpr = np.concatenate(([0.0], fpr, [1.0] * tail))
    pro = np.concatenate(([0.0], pro, [1.0] * tail))
    thr = np.concatenate(([np.inf], thr, [-np.inf] * tail))
    return ProCurve(fpr, pro, thr, n_regions, n_normal, 1.0 if complete else float(max_fpr))


# --------------------------------------------------------------------------------------------- image grid


def _image_inputs(anomaly_maps: object, ground_truth_maps: object) -> tuple[np.ndarray, np.ndarray, int]:
    maps = list(anomaly_maps) if not isinstance(anomaly_maps, np.ndarray) else anomaly_maps
    masks = list(ground_truth_maps) if not isinstance(ground_truth_maps, np.ndarray) else ground_truth_maps
    if len(maps) == 0:
        raise ValueError("anomaly_maps is empty; pass a (B, H, W) stack or a list of (H, W) maps")
    if len(maps) != len(masks):
        raise ValueError(
            f"anomaly_maps has {len(maps)} maps but ground_truth_maps has {len(masks)}; pass one mask per map "
            "(None or all zeros for an anomaly-free image)"
        )
    score_parts, region_parts = [], []
    n_regions = 0
    for i, (amap, mask) in enumerate(zip(maps, masks)):
        amap = np.asarray(amap)
        if amap.ndim != 2:
            raise ValueError(
                f"anomaly_maps[{i}] has shape {amap.shape}; each map must be 2-D (H, W) — pass a (B, H, W) "
                "stack or a list of (H, W) maps"
            )
        if mask is None:
            labeled = np.zeros(amap.shape, dtype=np.int32)
            n = 0
        else:
            mask = np.asarray(mask)
            if mask.shape != amap.shape:
                raise ValueError(
                    f"ground_truth_maps[{i}] has shape {mask.shape} but anomaly_maps[{i}] has {amap.shape}; "
                    "resize the map to the ground-truth resolution first"
                )
            if mask.dtype.kind not in "biuf":
                raise ValueError(f"ground_truth_maps[{i}] must be numeric or bool, got dtype {mask.dtype}")
            labeled, n = ndimage.label(mask != 0, structure=_STRUCTURE_8)
        score_parts.append(as_finite_scores(amap, f"anomaly_maps[{i}]"))
        region_parts.append(np.where(labeled > 0, labeled + n_regions, 0).reshape(-1).astype(np.int64))
        n_regions += int(n)
    return np.concatenate(score_parts), np.concatenate(region_parts), n_regions


def pro_curve(anomaly_maps: object, ground_truth_maps: object, *, max_fpr: float = 1.0) -> ProCurve:
    """PRO curve of a set of anomaly maps, as the official MVTec 3D-AD evaluation builds it.

    Args:
        anomaly_maps: ``(B, H, W)`` array or a sequence of ``(H, W)`` arrays of finite scores (higher = more
            anomalous). Maps may differ in size from each other, not from their mask.
        ground_truth_maps: matching masks (non-zero = anomalous, e.g. the 0/255 PNGs), ``None`` for an
            anomaly-free image.
        max_fpr: build the curve only up to the first point beyond this FPR (``1.0`` = the full curve).

    Raises:
        ValueError: bad input (see module docstring), or no region / no anomaly-free pixel at all.
    """
    max_fpr = _check_limit(max_fpr)
    scores, region, n_regions = _image_inputs(anomaly_maps, ground_truth_maps)
    return _curve_from_regions(scores, region, n_regions, max_fpr, "pixel")


def au_pro_metrics(
    anomaly_maps: object, ground_truth_maps: object, limits: Iterable[float] = PRO_LIMITS
) -> dict[str, float]:
    """AU-PRO at each integration limit, keyed ``"AU-PRO@<limit>"`` (one curve, one sort for all limits).

    Args:
        anomaly_maps, ground_truth_maps: as for :func:`pro_curve`.
        limits: FPR integration limits in ``(0, 1]``; default the seven of Shape-Guided Fig. 6.

    Returns:
        dict name -> AU-PRO in ``[0, 1]``; all NaN with a :class:`MetricWarning` if the masks contain no
        anomalous pixel (or no anomaly-free pixel).
    """
    lims = _check_limits(limits)
    scores, region, n_regions = _image_inputs(anomaly_maps, ground_truth_maps)
    return _areas(scores, region, n_regions, lims, "pixel", au_pro_name)


def au_pro(anomaly_maps: object, ground_truth_maps: object, limit: float = 0.3) -> float:
    """AU-PRO of a set of anomaly maps up to FPR ``limit``, normalized to ``[0, 1]`` (MVTec 3D-AD protocol).

    A perfect map gives 1, a constant map gives ``limit / 2``. NaN with a :class:`MetricWarning` if there
    is no ground-truth region. See :func:`pro_curve` for the arguments.
    """
    return au_pro_metrics(anomaly_maps, ground_truth_maps, (limit,))[au_pro_name(limit)]


def _areas(
    scores: np.ndarray, region: np.ndarray, n_regions: int, limits: list[float], what: str, namer
) -> dict[str, float]:
    names = [namer(x) for x in limits]
    n_normal = int(np.count_nonzero(region == 0))
    if n_regions == 0 or n_normal == 0:
        why = f"the ground truth has no anomalous {what}" if n_regions == 0 else f"every {what} is anomalous"
        return {name: warn_undefined(name, why, stacklevel=4) for name in names}
    curve = _curve_from_regions(scores, region, n_regions, max(limits), what)
    return {name: curve.area(x) for name, x in zip(names, limits)}


# ------------------------------------------------------------------------------------------- point clouds


def _default_radius(points: np.ndarray) -> float:
    if points.shape[0] < 2:
        return 0.0
    return 2.0 * median_nn_spacing(np.asarray(points, dtype=np.float64))


def point_regions(points: object, labels: object, radius: float | None = None) -> tuple[np.ndarray, int]:
    """Ground-truth regions of one unorganized cloud: connected components of its anomalous points.

    Two anomalous points are linked when closer than ``radius`` (Euclidean, ``<= radius``); normal points
    never link regions. This is our point-cloud analogue of the 8-connected image regions.

    Args:
        points: ``(N, 3)`` coordinates.
        labels: ``(N,)`` 0/1 ground truth (1 = anomalous).
        radius: link distance; ``None`` uses twice the median nearest-neighbour spacing of the cloud.

    Returns:
        ``(region, n)``: ``(N,)`` int64 ids (0 = normal, 1..n = region) and the number of regions.

    Raises:
        ValueError: bad shapes, non-finite points, non-binary labels, or a negative/non-finite radius.
    """
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise ValueError(f"points must have shape (N, 3), got {pts.shape}")
    if not np.isfinite(pts).all():
        raise ValueError("points hold NaN/inf coordinates; drop or repair them first")
    y = as_binary_labels(labels, "labels")
    if y.shape[0] != pts.shape[0]:
        raise ValueError(f"labels has {y.shape[0]} entries for {pts.shape[0]} points")
    if radius is None:
        radius = _default_radius(pts)
    if isinstance(radius, bool) or not (
        isinstance(radius, (int, float, np.number)) and math.isfinite(radius)
    ):
        raise ValueError(f"radius must be a finite number >= 0, got {radius!r}")
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    region = np.zeros(pts.shape[0], dtype=np.int64)
    anomalous = np.flatnonzero(y)
    if anomalous.size == 0:
        return region, 0
    pairs = cKDTree(pts[anomalous]).query_pairs(float(radius), output_type="ndarray")
    m = anomalous.size
    graph = coo_matrix((np.ones(pairs.shape[0], dtype=np.int8), (pairs[:, 0], pairs[:, 1])), shape=(m, m))
    n, comp = connected_components(graph, directed=False)
    region[anomalous] = comp + 1
    return region, int(n)


def _point_inputs(
    point_scores: Sequence[object], point_labels: Sequence[object], points: Sequence[object], radius: object
) -> tuple[np.ndarray, np.ndarray, int]:
    if not (len(point_scores) == len(point_labels) == len(points)):
        raise ValueError(
            f"point_scores, point_labels and points hold {len(point_scores)}, {len(point_labels)} and "
            f"{len(points)} samples; pass one array per test sample in each"
        )
    if len(points) == 0:
        raise ValueError("points is empty; pass one array per test sample")
    radii = list(radius) if isinstance(radius, (list, tuple, np.ndarray)) else [radius] * len(points)
    if len(radii) != len(points):
        raise ValueError(
            f"radius holds {len(radii)} values for {len(points)} samples; pass one or one per sample"
        )
    score_parts, region_parts = [], []
    n_regions = 0
    for i, (s, y, p, r) in enumerate(zip(point_scores, point_labels, points, radii)):
        s = as_finite_scores(s, f"point_scores[{i}]")
        if s.shape[0] != np.shape(p)[0] or np.size(y) != s.shape[0]:
            raise ValueError(
                f"sample {i}: point_scores has {s.shape[0]}, point_labels {np.size(y)} and points "
                f"{np.shape(p)[0]} entries; they must match"
            )
        try:
            region, n = point_regions(p, y, r)
        except ValueError as err:
            raise ValueError(f"sample {i}: {err}") from None
        score_parts.append(s)
        region_parts.append(np.where(region > 0, region + n_regions, 0))
        n_regions += n
    return np.concatenate(score_parts), np.concatenate(region_parts), n_regions


def pro_curve_points(
    point_scores: Sequence[object],
    point_labels: Sequence[object],
    points: Sequence[object],
    *,
    radius: float | Sequence[float] | None = None,
    max_fpr: float = 1.0,
) -> ProCurve:
    """PRO curve over unorganized clouds (our extension): regions from :func:`point_regions`.

    Args:
        point_scores: one ``(N_i,)`` score array per test sample.
        point_labels: one ``(N_i,)`` 0/1 array per sample (all 0 for anomaly-free samples).
        points: one ``(N_i, 3)`` array per sample.
        radius: region link distance, one for all samples or one per sample; ``None`` = twice the median
            nearest-neighbour spacing of each cloud.
        max_fpr: build the curve only up to the first point beyond this FPR.

    Raises:
        ValueError: bad input, or no anomalous / no normal point at all.
    """
    max_fpr = _check_limit(max_fpr)
    scores, region, n_regions = _point_inputs(point_scores, point_labels, points, radius)
    return _curve_from_regions(scores, region, n_regions, max_fpr, "point")


def au_pro_points_metrics(
    point_scores: Sequence[object],
    point_labels: Sequence[object],
    points: Sequence[object],
    limits: Iterable[float] = PRO_LIMITS,
    *,
    radius: float | Sequence[float] | None = None,
) -> dict[str, float]:
    """Point-cloud AU-PRO at each limit, keyed ``"AU-PRO-pc@<limit>"`` (NaN + warning without regions)."""
    lims = _check_limits(limits)
    scores, region, n_regions = _point_inputs(point_scores, point_labels, points, radius)
    return _areas(scores, region, n_regions, lims, "point", au_pro_point_name)


def au_pro_points(
    point_scores: Sequence[object],
    point_labels: Sequence[object],
    points: Sequence[object],
    limit: float = 0.3,
    *,
    radius: float | Sequence[float] | None = None,
) -> float:
    """Point-cloud AU-PRO (our extension) up to FPR ``limit``; see :func:`pro_curve_points`."""
    return au_pro_points_metrics(point_scores, point_labels, points, (limit,), radius=radius)[
        au_pro_point_name(limit)
    ]
