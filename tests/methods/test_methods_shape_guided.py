"""Shape-Guided (issue 13): patches, dilation, alignment, and the two experts on the embedded smoke data."""

from __future__ import annotations

import numpy as np
import pytest
from anomaly3d.data.sample import DataError, Sample
from anomaly3d.data.sources import open_dataset
from anomaly3d.methods import build_method, load_method
from anomaly3d.methods.shape_guided import cut_patches, dilate_cells, fit_alignment, pixel_cells
from scipy import ndimage
from sklearn.metrics import roc_auc_score


def test_cut_patches_follows_the_overlap_rule_and_covers_the_cloud():
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(1000, 3)).astype(np.float32)
    idx = cut_patches(pts, 50, 10.0, seed=0)
    assert idx.shape == (round(10 * 1000 / 50), 50)  # the paper's 10 x N / K rule
    assert all(len(np.unique(row)) == 50 for row in idx)
    assert len(np.unique(idx)) == 1000  # overlap 10: every point is in some patch
    # each row is the 50 nearest points of its first point (the FPS centre)
    d = np.linalg.norm(pts - pts[idx[0, 0]], axis=1)
    assert set(idx[0]) == set(np.argsort(d)[:50])
    with pytest.raises(DataError, match="patch_size=50"):
        cut_patches(pts[:40], 50, 10.0)


def test_dilate_cells_is_a_square_dilation_clipped_at_the_border():
    grid = (9, 7)
    cells = np.array([0, 10, 40, 62])
    mask = np.zeros(grid, bool)
    mask.reshape(-1)[cells] = True
    for radius in (0, 1, 2):
        expected = ndimage.binary_dilation(mask, np.ones((2 * radius + 1,) * 2, bool)) if radius else mask
        np.testing.assert_array_equal(dilate_cells(cells, grid, radius), np.flatnonzero(expected))


def test_pixel_cells_maps_pixels_to_the_feature_grid():
    # a 16 x 16 image on a 2 x 2 grid: pixel (r, c) -> cell (r // 8, c // 8)
    r, c = np.meshgrid(np.arange(16), np.arange(16), indexing="ij")
    cells = pixel_cells((r * 16 + c).reshape(-1), (16, 16), (2, 2))
    np.testing.assert_array_equal(cells, ((r // 8) * 2 + c // 8).reshape(-1))


def test_alignment_maps_rgb_mean_pm_3_sigma_onto_the_sdf_one():
    rng = np.random.default_rng(1)
    sdf, rgb = rng.gamma(2.0, 0.01, 5000), rng.normal(3.0, 0.7, 4000)
    a, b = fit_alignment(sdf, rgb)
    for sign in (-1, 1):
        np.testing.assert_allclose(
            a * (rgb.mean() + sign * 3 * rgb.std()) + b, sdf.mean() + sign * 3 * sdf.std()
        )


@pytest.fixture(scope="module")
def smoke_run():
    """Shape-Guided fitted on the smoke profile's first MVTec-format category, its test split and a held-out good
    sample (the validation split)."""
    source = open_dataset("mvtec3d-ad", profile="smoke", seed=0)
    method = build_method("shape-guided", "smoke", device="cpu", seed=0)
    cat = source.categories()[0]
    opts = method.load_options("mvtec3d-ad")
    method.fit(source.load(cat, "train", **opts))
    return method, source.load(cat, "test", **opts), source.load(cat, "validation", **opts)[0]


def _point_auroc(scores: np.ndarray, sample: Sample) -> float:
    return roc_auc_score(sample.point_labels, scores)


def _planted(good: Sample, *, colour: bool, radius: float = 0.15, height: float = 0.06) -> Sample:
    """``good`` with one planted defect around its most central point (``radius`` and ``height`` in units of the
    object's x extent): a dark disc painted on the RGB image (geometry untouched) or a bump pushed towards the
    camera (RGB untouched)."""
    pts, rgb = good.points.copy(), good.rgb.copy()
    centre = pts[np.argmin(np.linalg.norm(pts - np.median(pts, axis=0), axis=1))]
    extent = float(np.ptp(pts[:, 0]))
    d = np.linalg.norm(pts - centre, axis=1)
    inside = d < radius * extent
    if colour:
        rows, cols = np.divmod(good.pixel_index[inside], good.image_size[1])
        rgb[rows, cols] = (60, 25, 10)
    else:
        pts[inside, 2] -= height * extent * (1 - (d[inside] / (radius * extent)) ** 2)
    return Sample(
        points=pts,
        category=good.category,
        split="test",
        name=good.name + "-planted",
        label=1,
        defect_type="planted",
        point_labels=inside.astype(np.uint8),
        rgb=rgb,
        pixel_index=good.pixel_index,
        image_size=good.image_size,
    )


@pytest.mark.slow
def test_rgb_branch_finds_a_colour_only_defect_and_sdf_branch_a_geometry_only_one(smoke_run):
    method, _, good = smoke_run
    colour, geometry = _planted(good, colour=True), _planted(good, colour=False)
    col, geo, ref = (
        method.score(colour).branches,
        method.score(geometry).branches,
        method.score(good).branches,
    )
    # the RGB expert sees the paint; the shape expert cannot (the geometry is bit-identical)
    assert _point_auroc(col["rgb"][1], colour) > 0.85
    np.testing.assert_array_equal(col["sdf"][1], ref["sdf"][1])
    # the shape expert sees the bump, better than the RGB expert does (measured: 0.80 vs 0.31)
    assert _point_auroc(geo["sdf"][1], geometry) > 0.7
    assert _point_auroc(geo["sdf"][1], geometry) > _point_auroc(geo["rgb"][1], geometry) + 0.2
    # the fused map keeps both
    assert _point_auroc(col["fused"][1], colour) > 0.75 and _point_auroc(geo["fused"][1], geometry) > 0.7


@pytest.mark.slow
def test_scores_are_well_formed_and_survive_save_load(smoke_run, tmp_path):
    method, test, _ = smoke_run
    s = test[0]
    sc = method.score(s)
    assert sc.point_scores.shape == (s.num_points,) and np.isfinite(sc.point_scores).all()
    assert sc.anomaly_map.shape == s.image_size
    assert set(sc.branches) == {"sdf", "rgb", "fused"}
    np.testing.assert_array_equal(sc.anomaly_map.reshape(-1)[s.pixel_index], sc.point_scores)
    # the fused map is the pixelwise max of the SDF map and the aligned RGB map (paper variant)
    maps, out = method.explain(s)
    a, b = method.alignment_
    np.testing.assert_allclose(out["fused"][1], np.maximum(a * maps.rgb_map + b, maps.sdf_map), rtol=1e-6)
    path = method.save(tmp_path / "sg.pt")
    again = load_method(path, device="cpu")
    sc2 = again.score(s)
    np.testing.assert_allclose(sc2.point_scores, sc.point_scores, rtol=1e-5, atol=1e-6)
    assert sc2.object_score == pytest.approx(sc.object_score, rel=1e-5)
    assert again.with_settings(modality="sdf").alignment_ == again.alignment_  # same alignment: allowed
    with pytest.raises(ValueError, match="fit again"):  # a new alignment needs the training samples
        again.with_settings(variant="official")


@pytest.mark.slow
def test_inference_switches_share_one_fit(smoke_run):
    method, test, _ = smoke_run
    s = test[0]
    sdf_only = method.with_settings(modality="sdf")
    assert sdf_only.alignment_ == method.alignment_ and sdf_only.sdf_bank is method.sdf_bank
    np.testing.assert_array_equal(sdf_only.score(s).point_scores, method.score(s).branches["sdf"][1])
    nn = method.with_settings(sdf_coding="nn", rgb_coding="nn")
    assert nn.display_name.endswith("[SDF nn, RGB nn]")
    official = method.with_settings(variant="official")
    maps, out = official.explain(s)
    assert out["fused"][0] == pytest.approx(maps.sdf_image * maps.rgb_image)  # the official code's product
    everything = method.with_settings(shape_guided=False)
    full = everything.explain(s)[0].dictionary_size
    assert full == len(method.rgb_bank) and method.explain(s)[0].dictionary_size <= full
    with pytest.raises(ValueError, match="inference settings"):
        method.with_settings(patch_size=10)


def test_unorganized_samples_are_refused():
    method = build_method("shape-guided", "smoke", device="cpu")
    pts = np.random.default_rng(0).normal(size=(200, 3)).astype(np.float32)
    with pytest.raises(DataError, match="organized"):
        method.fit([Sample(points=pts, category="c", split="train", name="0")])
