"""Organized-grid utilities: nearest resize equals torch's, BTF's plane removal / padding / largest cluster."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from anomaly3d.data import DataError
from anomaly3d.data.organized import (
    BTFParams,
    btf_preprocess,
    keep_largest_cluster,
    nearest_indices,
    pad_to_square,
    remove_background_plane,
    resize_nearest,
    resize_rgb_bicubic,
    valid_mask,
)


@pytest.mark.parametrize(
    ("n_in", "n_out"),
    [(800, 224), (400, 224), (900, 224), (600, 224), (500, 224), (224, 224), (100, 224), (7, 3)],
)
def test_nearest_indices_match_torch_interpolate(n_in: int, n_out: int) -> None:
    src = torch.arange(n_in, dtype=torch.float32).reshape(1, 1, n_in, 1)
    ref = torch.nn.functional.interpolate(src, size=(n_out, 1), mode="nearest").reshape(-1).long().numpy()
    np.testing.assert_array_equal(nearest_indices(n_in, n_out), ref)


def test_resize_nearest_grid_matches_torch() -> None:
    grid = np.random.default_rng(0).normal(size=(60, 90, 3)).astype(np.float32)
    ref = (
        torch.nn.functional.interpolate(
            torch.from_numpy(grid).permute(2, 0, 1)[None], size=(22, 22), mode="nearest"
        )[0]
        .permute(1, 2, 0)
        .numpy()
    )
    np.testing.assert_array_equal(resize_nearest(grid, (22, 22)), ref)


def test_resize_rgb_bicubic_shape_and_constant_image() -> None:
    rgb = np.full((50, 70, 3), (10, 200, 30), dtype=np.uint8)
    out = resize_rgb_bicubic(rgb, (22, 33))
    assert out.shape == (22, 33, 3) and out.dtype == np.uint8
    assert (out == rgb[0, 0]).all()


@pytest.mark.parametrize(
    ("shape", "side", "offset"),
    [
        ((800, 600), 800, (0, 100)),
        ((400, 900), 900, (250, 0)),
        ((650, 620), 700, (25, 40)),
        ((224, 224), 300, (38, 38)),
    ],
)
def test_pad_to_square(shape: tuple[int, int], side: int, offset: tuple[int, int]) -> None:
    grid = np.ones((*shape, 3), dtype=np.float32)
    padded, off = pad_to_square(grid)
    assert padded.shape == (side, side, 3) and off == offset
    assert padded.sum() == grid.sum()
    assert padded[off[0], off[1]].tolist() == [1, 1, 1]


def _scene(h: int = 80, w: int = 90) -> tuple[np.ndarray, np.ndarray]:
    """Tilted plane at z ≈ 0.6 m with a 20x20-pixel box 0.02 above it; returns (xyz, object_mask)."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    x, y = xs * 0.001 + 0.01, ys * 0.001 + 0.01  # no coordinate is exactly 0 on measured pixels
    z = 0.6 + 0.05 * x + 0.02 * y
    obj = np.zeros((h, w), dtype=bool)
    obj[30:50, 35:55] = True
    z = z + 0.02 * obj
    xyz = np.stack([x, y, z], axis=2).astype(np.float32)
    xyz[0:3, 0:5] = 0  # some unmeasured pixels on the border
    return xyz, obj


def test_plane_removal_keeps_exactly_the_object() -> None:
    xyz, obj = _scene()
    out, removed = remove_background_plane(xyz)
    measured = valid_mask(xyz)
    np.testing.assert_array_equal(valid_mask(out), obj & measured)
    np.testing.assert_array_equal(removed & measured, measured & ~obj)


def test_plane_needs_enough_border_points() -> None:
    xyz = np.zeros((40, 40, 3), dtype=np.float32)
    xyz[15:25, 15:25] = 1.0
    with pytest.raises(DataError, match="only 0 measured points on the 10-pixel border"):
        remove_background_plane(xyz)


def test_largest_cluster_drops_separate_blob() -> None:
    xyz, obj = _scene()
    xyz = np.where(obj[..., None], xyz, 0).astype(np.float32)
    xyz[5:8, 5:8] = xyz[35, 40] + np.array(
        [0.3, 0, 0], dtype=np.float32
    )  # 9 points far away: below min_points
    xyz[70:76, 70:76] = xyz[35, 40] + np.array(
        [0, 0.3, 0], dtype=np.float32
    )  # 36 coincident points: own cluster
    out, removed = keep_largest_cluster(xyz)
    np.testing.assert_array_equal(valid_mask(out), obj)
    assert removed[5:8, 5:8].all() and removed[70:76, 70:76].all()


def test_btf_preprocess_end_to_end() -> None:
    xyz, obj = _scene(80, 90)
    rgb = np.full((80, 90, 3), 100, dtype=np.uint8)
    gt = np.zeros((80, 90), dtype=np.uint8)
    gt[40:45, 40:45] = 1
    out, out_rgb, out_gt = btf_preprocess(xyz, rgb, gt, BTFParams(seed=1))
    assert out.shape == (100, 100, 3) and out_rgb.shape == (100, 100, 3) and out_gt.shape == (100, 100)
    top, left = 10, 5  # (100 - 80) // 2, (100 - 90) // 2
    keep = valid_mask(out)
    np.testing.assert_array_equal(keep[top : top + 80, left : left + 90], obj)
    assert keep.sum() == obj.sum()
    np.testing.assert_array_equal(out_gt[top : top + 80, left : left + 90], gt)
    # as in BTF, RGB is zeroed where points were removed; pixels that never had a point keep their colour
    never = np.zeros((100, 100), dtype=bool)
    never[top : top + 80, left : left + 90] = ~valid_mask(xyz)
    assert (out_rgb[keep | never] == 100).all()
    assert (out_rgb[~keep & ~never] == 0).all()
    with pytest.raises(ValueError, match="rgb grid"):
        btf_preprocess(xyz, rgb[:10])
