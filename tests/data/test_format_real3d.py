"""Real3D-AD loader: templates, names, GT files read as the official evaluation reads them, and mismatches."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from anomaly3d.data import DataError, load_split
from anomaly3d.data.formats import real3d
from anomaly3d.data.io import read_pcd, write_gt_txt, write_pcd


@pytest.fixture
def root(tmp_path: Path, builders) -> Path:
    builders.real3d(tmp_path, categories=("airplane",))
    return tmp_path


def test_anomalous_points_and_labels_come_from_the_gt_file(root: Path) -> None:
    # make the GT cloud differ from the PCD so the source is unambiguous
    pts = np.arange(90, dtype=np.float32).reshape(30, 3)
    labels = np.zeros(30, dtype=np.uint8)
    labels[[3, 7]] = 1
    write_gt_txt(root / "airplane/gt/2_bulge.txt", pts, labels, delimiter=" ", line_ending="\r\n")
    test = load_split("real3d-ad", root, "airplane", "test")
    assert test.names == ["1_good", "2_bulge", "3_sink"] and test.labels.tolist() == [0, 1, 1]
    s = test[1]
    np.testing.assert_array_equal(s.points, pts)
    np.testing.assert_array_equal(s.point_labels, labels)
    assert s.defect_type == "bulge" and s.source == root / "airplane/gt/2_bulge.txt"
    assert s.extras["pcd_path"] == root / "airplane/test/2_bulge.pcd"
    good = test[0]
    np.testing.assert_array_equal(good.points, read_pcd(root / "airplane/test/1_good.pcd").points)
    assert good.point_labels.sum() == 0 and good.defect_type == "good" and good.source.suffix == ".pcd"


def test_gt_point_count_mismatch_names_both_files(root: Path) -> None:
    write_gt_txt(root / "airplane/gt/3_sink.txt", np.zeros((29, 3)), np.zeros(29), delimiter=" ")
    test = load_split("real3d-ad", root, "airplane", "test")
    with pytest.raises(
        DataError,
        match=r"gt/3_sink\.txt has 29 points but .*test/3_sink\.pcd has 30 .*points are "
        r"taken from the GT file",
    ):
        test[2]
    lenient = load_split("real3d-ad", root, "airplane", "test", strict_gt=False)
    with pytest.warns(UserWarning, match="has 29 points but"):
        assert lenient[2].num_points == 29


def test_missing_gt_file(root: Path) -> None:
    (root / "airplane/gt/2_bulge.txt").unlink()
    with pytest.raises(
        DataError,
        match=r"gt/2_bulge\.txt: ground-truth file missing for anomalous test sample "
        r".*2_bulge\.pcd",
    ):
        load_split("real3d-ad", root, "airplane", "test")[1]


def test_train_templates_and_official_name_rules(root: Path) -> None:
    write_pcd(root / "airplane/test/9_temp_copy.pcd", np.ones((3, 3)))  # skipped by the official test loader
    write_pcd(root / "airplane/train/notes.pcd", np.ones((3, 3)))  # not a template: ignored
    assert load_split("real3d-ad", root, "airplane", "train").names == ["1_template", "2_template"]
    assert "9_temp_copy" not in load_split("real3d-ad", root, "airplane", "test").names
    for p in (root / "airplane/train").glob("*template*"):
        p.unlink()
    with pytest.raises(DataError, match=r"train: no '\*template\*\.pcd' training files \(found 1 other"):
        load_split("real3d-ad", root, "airplane", "train")


@pytest.mark.parametrize(
    ("stem", "expected"),
    [
        ("12_good", (0, "good")),
        ("3_bulge", (1, "bulge")),
        ("45_sink_cut", (1, "sink")),
        ("7_copy", (1, "copy")),
        ("good_78", (0, "good")),
    ],
)
def test_parse_test_name(stem: str, expected: tuple[int, str]) -> None:
    assert real3d.parse_test_name(stem) == expected


def test_split_is_lazy(root: Path) -> None:
    test = load_split("real3d-ad", root, "airplane", "test")
    (root / "airplane/test/1_good.pcd").unlink()  # after indexing: only access fails
    assert len(test) == 3 and test.labels.sum() == 2
    assert test[1].num_points == 30
    with pytest.raises(DataError, match=r"1_good\.pcd: PCD file not found"):
        test[0]


def test_cache_option_returns_the_same_object(root: Path) -> None:
    cached = load_split("real3d-ad", root, "airplane", "train", cache=True)
    assert cached[0] is cached[0]
    plain = load_split("real3d-ad", root, "airplane", "train")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert plain[0] is not plain[0]
