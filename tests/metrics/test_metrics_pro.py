"""AU-PRO against an independent, straightforward implementation of the official MVTec 3D-AD algorithm.

The reference below follows the definition literally: 8-connected regions by flood fill, one curve point
per distinct score computed by thresholding every map, (0, 0) prepended and (1, 1) appended, and the
piecewise-linear curve integrated segment by segment up to the limit, then divided by it.
"""

from __future__ import annotations

import numpy as np
import pytest
from anomaly3d.metrics import (
    PRO_LIMITS,
    MetricWarning,
    au_pro,
    au_pro_metrics,
    au_pro_name,
    au_pro_point_name,
    au_pro_points,
    au_pro_points_metrics,
    point_regions,
    pro_curve,
    pro_curve_points,
)

# ---------------------------------------------------------------------------------------------- reference


def _flood_fill_regions(mask: np.ndarray) -> list[np.ndarray]:
    """8-connected components of a bool mask, each as a bool mask (plain BFS)."""
    h, w = mask.shape
    seen = np.zeros_like(mask, dtype=bool)
    regions = []
    for r0 in range(h):
        for c0 in range(w):
            if not mask[r0, c0] or seen[r0, c0]:
                continue
            region = np.zeros_like(mask, dtype=bool)
            stack = [(r0, c0)]
            seen[r0, c0] = True
            while stack:
                r, c = stack.pop()
                region[r, c] = True
                for dr in (-1, 0, 1):
                    for dc in (-1, 0, 1):
                        rr, cc = r + dr, c + dc
                        if 0 <= rr < h and 0 <= cc < w and mask[rr, cc] and not seen[rr, cc]:
                            seen[rr, cc] = True
                            stack.append((rr, cc))
            regions.append(region)
    return regions


def _reference_curve(maps, masks):
    maps = [np.asarray(m, dtype=np.float64) for m in maps]
    masks = [np.zeros(m.shape, bool) if g is None else np.asarray(g) > 0 for m, g in zip(maps, masks)]
    regions = [(i, reg) for i, g in enumerate(masks) for reg in _flood_fill_regions(g)]
    n_ok = sum(int((~g).sum()) for g in masks)
    thresholds = np.unique(np.concatenate([m.ravel() for m in maps]))[::-1]
    xs, ys = [0.0], [0.0]
    for t in thresholds:
        fp = sum(int(((m >= t) & ~g).sum()) for m, g in zip(maps, masks))
        overlaps = [float((maps[i][reg] >= t).mean()) for i, reg in regions]
        xs.append(fp / n_ok)
        ys.append(float(np.mean(overlaps)))
    xs.append(1.0)
    ys.append(1.0)
    return np.array(xs), np.array(ys)


def _reference_area(xs, ys, limit):
    area = 0.0
    for x0, x1, y0, y1 in zip(xs[:-1], xs[1:], ys[:-1], ys[1:]):
        if x0 >= limit:
            break
        if x1 <= limit:
            area += (x1 - x0) * (y0 + y1) / 2
        else:
            y_at = y0 + (y1 - y0) * (limit - x0) / (x1 - x0)
            area += (limit - x0) * (y0 + y_at) / 2
            break
    return area / limit


def _random_blob_masks(rng: np.random.Generator, n: int, h: int, w: int) -> list[np.ndarray | None]:
    masks: list[np.ndarray | None] = []
    yy, xx = np.mgrid[:h, :w]
    for i in range(n):
        if i % 4 == 0:
            masks.append(None if i % 8 == 0 else np.zeros((h, w), np.uint8))  # anomaly-free image
            continue
        m = np.zeros((h, w), bool)
        for _ in range(int(rng.integers(1, 4))):
            cy, cx = rng.uniform(0, h), rng.uniform(0, w)
            ry, rx = rng.uniform(0.5, 3.5, size=2)
            m |= ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
        m[rng.integers(0, h), rng.integers(0, w)] = True  # a stray (maybe diagonal-touching) pixel
        masks.append(m.astype(np.uint8) * 255)
    return masks


def _random_maps(rng, masks, h, w, decimals):
    maps = []
    for g in masks:
        anomalous = np.zeros((h, w)) if g is None else (g > 0)
        m = rng.normal(size=(h, w)) + 1.2 * anomalous
        maps.append(np.round(m, decimals) if decimals is not None else m)
    return maps


# ------------------------------------------------------------------------------------------------- tests


@pytest.mark.parametrize("seed", range(6))
def test_au_pro_matches_reference_at_every_limit(seed):
    rng = np.random.default_rng(seed)
    h, w = int(rng.integers(8, 20)), int(rng.integers(8, 20))
    masks = _random_blob_masks(rng, 7, h, w)
    decimals = [None, 1, 0][seed % 3]  # continuous scores and heavy ties across pixel classes
    maps = _random_maps(rng, masks, h, w, decimals)
    xs, ys = _reference_curve(maps, masks)
    got = au_pro_metrics(maps, masks, PRO_LIMITS + (0.5, 1.0))
    for limit in PRO_LIMITS + (0.5, 1.0):
        assert got[au_pro_name(limit)] == pytest.approx(_reference_area(xs, ys, limit), abs=1e-12)
    full = pro_curve(maps, masks)
    np.testing.assert_allclose(full.fpr, xs, atol=1e-12)
    np.testing.assert_allclose(full.pro, ys, atol=1e-12)


def test_truncated_curve_gives_the_same_areas_as_the_full_curve():
    rng = np.random.default_rng(11)
    masks = _random_blob_masks(rng, 12, 32, 32)
    maps = _random_maps(rng, masks, 32, 32, 2)
    full = pro_curve(maps, masks)
    cut = pro_curve(maps, masks, max_fpr=0.1)
    assert cut.fpr.size < full.fpr.size and cut.fpr[-1] > 0.1 and cut.max_fpr == 0.1
    for limit in (0.1, 0.07, 0.01):
        assert cut.area(limit) == full.area(limit)
    with pytest.raises(ValueError, match="built up to FPR 0.1"):
        cut.area(0.3)


def test_stack_and_list_inputs_agree():
    rng = np.random.default_rng(5)
    masks = [m if m is not None else np.zeros((10, 12)) for m in _random_blob_masks(rng, 5, 10, 12)]
    maps = _random_maps(rng, masks, 10, 12, None)
    assert au_pro(np.stack(maps), np.stack(masks)) == au_pro(maps, masks)


def test_hand_computed_curve():
    # one 1x5 image; pixels 0 and 2 are two separate regions; normal pixels 1, 3, 4 (3 of them)
    amap = np.array([[5.0, 4.0, 3.0, 2.0, 1.0]])
    mask = np.array([[1, 0, 1, 0, 0]])
    curve = pro_curve([amap], [mask])
    np.testing.assert_allclose(curve.fpr, [0, 0, 1 / 3, 1 / 3, 2 / 3, 1, 1])
    np.testing.assert_allclose(curve.pro, [0, 0.5, 0.5, 1, 1, 1, 1])
    assert curve.n_regions == 2 and curve.n_normal == 3
    assert au_pro([amap], [mask], 0.3) == pytest.approx(0.5)  # PRO interpolated at 0.3 on a flat segment
    assert au_pro([amap], [mask], 0.5) == pytest.approx((0.5 / 3 + (0.5 - 1 / 3)) / 0.5)
    assert au_pro([amap], [mask], 1.0) == pytest.approx(0.5 / 3 + 2 / 3)


def test_perfect_map_gives_one():
    rng = np.random.default_rng(6)
    masks = _random_blob_masks(rng, 6, 16, 16)
    maps = [
        rng.random((16, 16))
        if g is None
        else np.where(g > 0, 2.0 + rng.random((16, 16)), rng.random((16, 16)))
        for g in masks
    ]
    for limit, value in au_pro_metrics(maps, masks).items():
        assert value == pytest.approx(1.0, abs=1e-12), limit


def test_constant_map_gives_half_the_limit():
    masks = _random_blob_masks(np.random.default_rng(7), 5, 12, 12)
    maps = [np.full((12, 12), 0.25) for _ in masks]
    for limit in PRO_LIMITS:
        assert au_pro(maps, masks, limit) == pytest.approx(limit / 2, abs=1e-12)


def test_region_fully_found_at_the_first_threshold():
    rng = np.random.default_rng(8)
    mask = np.zeros((10, 10))
    mask[2:4, 2:5] = 1
    amap = rng.random((10, 10))
    amap[mask > 0] = 5.0  # the top score: PRO = 1 at FPR = 0
    assert au_pro([amap], [mask], 0.01) == pytest.approx(1.0)
    # a second region scored below every normal pixel: PRO stays 1/2 until FPR = 1
    mask2 = np.zeros((10, 10))
    mask2[7:9, 7:9] = 1
    amap2 = rng.random((10, 10)) + 1.0
    amap2[mask2 > 0] = 0.0
    for limit in PRO_LIMITS:
        assert au_pro([amap, amap2], [mask, mask2], limit) == pytest.approx(0.5, abs=1e-12)


def test_regions_are_weighted_equally_not_by_size():
    # a 1-pixel region found first, a 30-pixel region never above a normal pixel -> PRO 1/2, not 1/31
    mask = np.zeros((10, 10))
    mask[0, 0] = 1
    mask[5:8, 0:10] = 1
    amap = np.full((10, 10), 1.0)
    amap[0, 0] = 9.0
    amap[5:8, 0:10] = 0.0
    assert au_pro([amap], [mask], 0.3) == pytest.approx(0.5)


def test_diagonal_pixels_form_one_region():
    mask = np.eye(4, dtype=np.uint8)  # 8-connected: one region; 4-connected would be four
    amap = np.zeros((4, 4))
    amap[0, 0] = 1.0  # one of its four pixels on top: PRO = 1/4 at FPR 0 (1 of 4 otherwise)
    curve = pro_curve([amap], [mask])
    assert curve.n_regions == 1
    assert curve.pro[1] == pytest.approx(0.25)


def test_anomaly_free_images_count_as_false_positives():
    # an anomaly-free image scoring above everything: FPR f = 16/(16+12) before any region pixel
    mask = np.zeros((4, 4))
    mask[1:3, 1:3] = 1
    amap = np.where(mask > 0, 1.0, 0.0)
    good = np.full((4, 4), 2.0)
    f = 16 / 28
    for limit in (0.6, 0.8, 1.0):
        assert au_pro([amap, good], [mask, None], limit) == pytest.approx(1 - f / limit)
    assert au_pro([amap], [mask], 0.3) == pytest.approx(1.0)


def test_no_region_is_nan_with_warning_and_curve_raises():
    maps = [np.random.default_rng(9).random((6, 6)) for _ in range(3)]
    masks = [None, np.zeros((6, 6)), np.zeros((6, 6))]
    with pytest.warns(MetricWarning, match="no anomalous pixel"):
        out = au_pro_metrics(maps, masks)
    assert len(out) == len(PRO_LIMITS) and all(np.isnan(v) for v in out.values())
    with pytest.raises(ValueError, match="no region"):
        pro_curve(maps, masks)
    with pytest.warns(MetricWarning, match="every pixel is anomalous"):
        assert np.isnan(au_pro([np.ones((2, 2))], [np.ones((2, 2))]))


@pytest.mark.parametrize(
    ("maps", "masks", "match"),
    [
        ([np.array([[0.1, np.nan], [0.2, 0.3]])], [np.eye(2)], r"anomaly_maps\[0\].*NaN"),
        ([np.zeros((3, 3))], [np.zeros((3, 4))], r"ground_truth_maps\[0\] has shape"),
        ([np.zeros((3, 3)), np.zeros((3, 3))], [np.eye(3)], "2 maps but ground_truth_maps has 1"),
        ([], [], "empty"),
        ([np.zeros(9)], [np.zeros(9)], "2-D"),
        (np.zeros((4, 4)), np.eye(4), "2-D"),  # a single map without the batch axis
    ],
)
def test_bad_input_raises(maps, masks, match):
    with pytest.raises(ValueError, match=match):
        au_pro(maps, masks)


@pytest.mark.parametrize("limit", [0.0, -0.1, 1.5, float("nan"), "0.3", True])
def test_bad_limit_raises(limit):
    with pytest.raises(ValueError, match="limit"):
        au_pro([np.eye(3)], [np.eye(3)], limit)


# ------------------------------------------------------------------------------------ point-cloud variant


def test_point_cloud_pro_equals_image_pro_on_a_grid_cloud():
    # pixels as points on the unit grid; radius 1.5 links exactly the 8-neighbours
    rng = np.random.default_rng(10)
    h, w = 14, 17
    masks = [m if m is not None else np.zeros((h, w)) for m in _random_blob_masks(rng, 6, h, w)]
    maps = _random_maps(rng, masks, h, w, 1)
    yy, xx = np.mgrid[:h, :w]
    grid_points = np.stack([xx.ravel(), yy.ravel(), np.zeros(h * w)], axis=1)
    perm = [rng.permutation(h * w) for _ in maps]  # point order must not matter
    pts = [grid_points[p] for p in perm]
    labels = [(g.ravel() > 0).astype(np.uint8)[p] for g, p in zip(masks, perm)]
    scores = [m.ravel()[p] for m, p in zip(maps, perm)]
    image = au_pro_metrics(maps, masks)
    cloud = au_pro_points_metrics(scores, labels, pts, radius=1.5)
    for limit in PRO_LIMITS:
        assert cloud[au_pro_point_name(limit)] == pytest.approx(image[au_pro_name(limit)], abs=1e-12)
    assert pro_curve_points(scores, labels, pts, radius=1.5).n_regions == pro_curve(maps, masks).n_regions


def test_point_regions():
    line = np.stack([np.arange(6) * 0.9, np.zeros(6), np.zeros(6)], axis=1)
    region, n = point_regions(line, np.ones(6), radius=1.0)
    assert n == 1 and set(region.tolist()) == {1}
    # anomalous points at x=0 and x=2 with a normal point at x=1 between: normal points never link regions
    pts = np.array([[0.0, 0, 0], [1.0, 0, 0], [2.0, 0, 0], [10.0, 0, 0], [10.5, 0, 0]])
    region, n = point_regions(pts, [1, 0, 1, 1, 1], radius=1.5)
    assert n == 3 and region[1] == 0
    assert region[3] == region[4] and len({region[0], region[2], region[3]}) == 3
    _, n0 = point_regions(pts, [0, 0, 0, 0, 0], radius=1.5)
    assert n0 == 0
    # default radius: twice the median nearest-neighbour spacing (0.5 here) links spacing-1 points
    grid = np.stack([np.arange(5.0) * 0.5, np.zeros(5), np.zeros(5)], axis=1)
    _, n_default = point_regions(grid, [1, 0, 1, 0, 1])
    assert n_default == 1


def test_point_cloud_bad_input():
    pts = [np.random.default_rng(0).random((10, 3))]
    with pytest.raises(ValueError, match="sample 0"):
        au_pro_points([np.zeros(9)], [np.zeros(10)], pts)
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        point_regions(np.zeros((4, 2)), np.zeros(4), 1.0)
    with pytest.raises(ValueError, match="radius"):
        point_regions(np.zeros((4, 3)), np.zeros(4), -1.0)
    with pytest.raises(ValueError, match="1 samples"):
        au_pro_points([np.zeros(10), np.zeros(10)], [np.zeros(10)], pts)
    with pytest.warns(MetricWarning):
        assert np.isnan(au_pro_points([np.arange(10.0)], [np.zeros(10)], pts, radius=0.1))
