"""MVTec 3D-AD loader on tiny datasets written in the exact format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from anomaly3d.data import DataError, load_split
from anomaly3d.data.formats import mvtec3d
from anomaly3d.data.io import write_png, write_xyz_tiff
from anomaly3d.data.organized import resize_nearest
from PIL import Image


@pytest.fixture
def root(tmp_path: Path, builders) -> Path:
    builders.mvtec(tmp_path, categories=("bagel",))
    return tmp_path


def test_points_pixels_labels_and_rgb_match_the_files(root: Path) -> None:
    test = load_split("mvtec3d-ad", root, "bagel", "test")
    assert (
        len(test) == 3
        and test.labels.tolist() == [1, 1, 0]
        and test.defect_types == ["crack", "crack", "good"]
    )
    s = test[0]
    base = root / "bagel" / "test" / "crack"
    xyz = tifffile.imread(base / "xyz" / "000.tiff")
    measured = np.all(xyz != 0, axis=2)
    np.testing.assert_array_equal(s.points, xyz[measured])
    assert s.image_size == (12, 10) and s.num_points == measured.sum() == 107
    np.testing.assert_array_equal(s.to_grid(s.points[:, 2]), np.where(measured, xyz[..., 2], 0))
    gt = np.asarray(Image.open(base / "gt" / "000.png")) > 0
    np.testing.assert_array_equal(s.gt_mask, gt)
    np.testing.assert_array_equal(s.point_labels, gt[measured])
    np.testing.assert_array_equal(s.rgb, np.asarray(Image.open(base / "rgb" / "000.png")))
    assert s.source == base / "xyz" / "000.tiff" and s.label == 1 and s.name == "crack/000"
    good = test[2]
    assert good.defect_type == "good" and good.point_labels.sum() == 0 and good.gt_mask.shape == (12, 10)


def test_train_and_validation_splits(root: Path) -> None:
    assert [len(load_split("mvtec3d-ad", root, "bagel", s)) for s in ("train", "validation")] == [2, 1]
    assert mvtec3d.list_categories(root) == ["bagel"]
    with pytest.raises(ValueError, match="split must be one of"):
        load_split("mvtec3d-ad", root, "bagel", "val")
    with pytest.raises(DataError, match=r"carrot: MVTec 3D-AD category 'carrot' folder not found"):
        load_split("mvtec3d-ad", root, "carrot", "train")


def test_resize_is_nearest_for_xyz_and_gt(root: Path) -> None:
    s = load_split("mvtec3d-ad", root, "bagel", "test", resize=(6, 5))[0]
    xyz = resize_nearest(tifffile.imread(root / "bagel/test/crack/xyz/000.tiff"), (6, 5))
    measured = np.all(xyz != 0, axis=2)
    assert s.image_size == (6, 5) and s.rgb.shape == (6, 5, 3) and s.gt_mask.shape == (6, 5)
    np.testing.assert_array_equal(s.points, xyz[measured])
    gt = resize_nearest(np.asarray(Image.open(root / "bagel/test/crack/gt/000.png")) > 0, (6, 5))
    np.testing.assert_array_equal(s.point_labels, gt[measured])
    assert s.extras["native_size"] == (12, 10)


def test_zero_points_in_organized_cloud(root: Path) -> None:
    bad = root / "bagel" / "train" / "good" / "xyz" / "001.tiff"
    write_xyz_tiff(bad, np.zeros((12, 10, 3), dtype=np.float32))
    train = load_split("mvtec3d-ad", root, "bagel", "train")
    assert train[0].num_points == 107
    with pytest.raises(
        DataError, match=r"train/good/xyz/001\.tiff: the organized cloud has no measured point"
    ):
        train[1]


def test_missing_gt_for_anomalous_sample(root: Path) -> None:
    (root / "bagel/test/crack/gt/001.png").unlink()
    test = load_split("mvtec3d-ad", root, "bagel", "test")
    with pytest.raises(
        DataError,
        match=r"crack/gt/001\.png: ground-truth mask missing for anomalous test sample "
        r".*crack/xyz/001\.tiff",
    ):
        test[1]


def test_truncated_tiff_is_reported_on_access(root: Path) -> None:
    path = root / "bagel/test/good/xyz/000.tiff"
    path.write_bytes(path.read_bytes()[:-60])
    test = load_split("mvtec3d-ad", root, "bagel", "test")  # indexing reads nothing
    with pytest.raises(DataError, match=r"good/xyz/000\.tiff: truncated TIFF"):
        test[2]
    with pytest.raises(DataError, match="truncated TIFF"):
        mvtec3d.check_record(test.records[2])


def test_rgb_size_mismatch_and_missing_rgb(root: Path) -> None:
    write_png(root / "bagel/train/good/rgb/000.png", np.zeros((5, 5, 3), dtype=np.uint8))
    train = load_split("mvtec3d-ad", root, "bagel", "train")
    with pytest.raises(
        DataError, match=r"rgb/000\.png: RGB image is \(5, 5\) but the xyz grid .* is \(12, 10\)"
    ):
        train[0]
    assert train[0:1].records[0].name == "good/000"
    assert load_split("mvtec3d-ad", root, "bagel", "train", with_rgb=False)[0].rgb is None
    (root / "bagel/train/good/rgb/001.png").unlink()
    with pytest.raises(DataError, match=r"rgb/001\.png: RGB image missing"):
        train[1]


def test_btf_option_removes_the_background(tmp_path: Path) -> None:
    h, w = 60, 70
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    obj = np.zeros((h, w), dtype=bool)
    obj[20:40, 25:45] = True
    xyz = np.stack([xs * 0.001 + 0.01, ys * 0.001 + 0.01, 0.5 + 0.03 * obj], axis=2).astype(np.float32)
    base = tmp_path / "tire" / "train" / "good"
    write_xyz_tiff(base / "xyz" / "000.tiff", xyz)
    write_png(base / "rgb" / "000.png", np.full((h, w, 3), 50, dtype=np.uint8))
    raw = load_split("mvtec3d-ad", tmp_path, "tire", "train")[0]
    pre = load_split("mvtec3d-ad", tmp_path, "tire", "train", preprocess="btf")[0]
    assert raw.num_points == h * w and pre.num_points == obj.sum()
    assert pre.image_size == (100, 100)  # padded to a square, side rounded up to 100
    np.testing.assert_allclose(pre.points[:, 2], 0.53, atol=1e-6)
    both = load_split("mvtec3d-ad", tmp_path, "tire", "train", preprocess="btf", resize=224)[0]
    assert both.image_size == (224, 224) and both.rgb.shape == (224, 224, 3)
    with pytest.raises(ValueError, match="preprocess must be one of"):
        load_split("mvtec3d-ad", tmp_path, "tire", "train", preprocess="ransac")
    with pytest.raises(ValueError, match="resize must be"):
        load_split("mvtec3d-ad", tmp_path, "tire", "train", resize=0)
