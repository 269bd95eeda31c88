"""Anomaly-ShapeNet loader: v1 and v2 layouts, 'positive' = good, comma GT files, template meshes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from anomaly3d.data import DataError, load_split
from anomaly3d.data.formats import anomaly_shapenet as asn
from anomaly3d.data.io import read_gt_txt, read_pcd, write_gt_txt, write_pcd


@pytest.mark.parametrize("layout", ["v1", "v2"])
def test_both_layouts_load_the_same_way(tmp_path: Path, builders, layout: str) -> None:
    builders.anomaly_shapenet(tmp_path, categories=("bag0",), layout=layout)
    assert asn.layout_version(tmp_path) == layout
    assert asn.list_categories(tmp_path) == ["bag0"]
    roots = [tmp_path] + ([tmp_path / "dataset", tmp_path / "dataset" / "pcd"] if layout == "v2" else [])
    for root in roots:
        test = load_split("anomaly-shapenet", root, "bag0", "test")
        assert test.names == ["bag0_bulge0", "bag0_crack1", "bag0_positive0"]
        assert test.defect_types == ["bulge", "crack", "good"] and test.labels.tolist() == [1, 1, 0]
    base = asn.category_dir(tmp_path, "bag0")
    s = test[1]
    pts, labels = read_gt_txt(base / "GT" / "bag0_crack1.txt")
    np.testing.assert_array_equal(s.points, pts)
    np.testing.assert_array_equal(s.point_labels, labels)
    assert s.point_labels.sum() == 5 and s.source.name == "bag0_crack1.txt"
    good = test[2]
    np.testing.assert_array_equal(good.points, read_pcd(base / "test" / "bag0_positive0.pcd").points)
    assert good.label == 0 and good.defect_type == "good"
    assert len(load_split("anomaly-shapenet", tmp_path, "bag0", "train")) == 2


def test_windows_gt_and_count_mismatch(tmp_path: Path, builders) -> None:
    builders.anomaly_shapenet(tmp_path, categories=("cup0",))
    gt = tmp_path / "cup0/GT/cup0_bulge0.txt"
    pts = np.linspace(0, 1, 60, dtype=np.float32).reshape(20, 3)
    write_gt_txt(gt, pts, np.ones(20), delimiter=",", line_ending="\r\n")
    np.testing.assert_array_equal(load_split("anomaly-shapenet", tmp_path, "cup0", "test")[0].points, pts)
    write_gt_txt(gt, pts[:19], np.ones(19), delimiter=",", line_ending="\r\n")
    with pytest.raises(DataError, match=r"cup0_bulge0\.txt has 19 points but .*cup0_bulge0\.pcd has 20"):
        load_split("anomaly-shapenet", tmp_path, "cup0", "test")[0]


def test_template_meshes_with_normals(tmp_path: Path, builders) -> None:
    builders.anomaly_shapenet(tmp_path, categories=("bag0",), layout="v2")
    train = load_split("anomaly-shapenet", tmp_path, "bag0", "train", use_mesh=True)
    s = train[1]
    assert s.source.name == "bag0_template1.obj" and s.extras["faces"].shape == (80, 3)
    radial = s.points / np.linalg.norm(s.points, axis=1, keepdims=True)
    assert np.all(np.sum(radial * s.normals, axis=1) > 0.95)  # outward normals of a sphere
    np.testing.assert_allclose(np.linalg.norm(s.normals, axis=1), 1, atol=1e-6)
    with pytest.raises(DataError, match=r"bag0_template0\.obj: the OBJ has no per-vertex normals"):
        load_split("anomaly-shapenet", tmp_path, "bag0", "train", use_mesh=True, mesh_normals="file")[0]
    with pytest.raises(ValueError, match="use_mesh applies to the train split"):
        load_split("anomaly-shapenet", tmp_path, "bag0", "test", use_mesh=True)
    v1 = tmp_path / "v1"
    builders.anomaly_shapenet(v1, categories=("bag0",), layout="v1")
    with pytest.raises(DataError, match=r"bag0_template0\.obj: template mesh not found"):
        load_split("anomaly-shapenet", v1, "bag0", "train", use_mesh=True)[0]


@pytest.mark.parametrize(
    ("stem", "category", "expected"),
    [
        ("vase1_positive4", "vase1", (0, "good")),
        ("ashtray0_bulge3", "ashtray0", (1, "bulge")),
        ("cabinet0_hole1", "cabinet0", (1, "hole")),
        ("tap1_broken2", "tap1", (1, "broken")),
        ("1_bulge", "bowl2", (1, "bulge")),
        ("2_concavity", "bowl2", (1, "concavity")),
    ],
)
def test_parse_test_name(stem: str, category: str, expected: tuple[int, str]) -> None:
    assert asn.parse_test_name(stem, category) == expected


def test_new_categories_folder_and_missing_category(tmp_path: Path) -> None:
    write_pcd(tmp_path / "dataset/new_pcd/cabinet0/train/cabinet0_template0.pcd", np.ones((4, 3)))
    write_pcd(tmp_path / "dataset/pcd/bag0/train/bag0_template0.pcd", np.ones((4, 3)))
    assert asn.list_categories(tmp_path) == ["bag0", "cabinet0"]
    assert load_split("anomaly-shapenet", tmp_path, "cabinet0", "train")[0].num_points == 4
    with pytest.raises(DataError, match=r"category 'jar0' not found; looked in"):
        load_split("anomaly-shapenet", tmp_path, "jar0", "train")
