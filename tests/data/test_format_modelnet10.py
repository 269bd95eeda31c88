"""ModelNet10 loader: OFF meshes sampled uniformly over the surface or by FPS."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from anomaly3d.data import DataError, load_split
from anomaly3d.data.formats import modelnet10
from scipy.spatial import cKDTree


@pytest.fixture
def root(tmp_path: Path, builders) -> Path:
    builders.modelnet10(tmp_path, categories=("bed",))  # a 1 x 2 x 0.5 box
    (tmp_path / "bed/train/._bed_0001.off").write_bytes(b"\x00\x05\x16\x07 macOS resource fork")
    return tmp_path


def _face_of(points: np.ndarray) -> np.ndarray:
    half = np.array([0.5, 1.0, 0.25])
    return np.argmax(np.abs(points) / half, axis=1)  # axis of the face each point lies on


def test_uniform_samples_lie_on_the_surface_in_proportion_to_area(root: Path) -> None:
    s = load_split("modelnet10", root, "bed", "train", n_points=20000, seed=1)[0]
    half = np.array([0.5, 1.0, 0.25])
    np.testing.assert_allclose(np.max(np.abs(s.points) / half, axis=1), 1.0, atol=1e-6)
    axis = _face_of(s.points)
    # face areas: x-faces 2 x 0.5, y-faces 1 x 0.5, z-faces 1 x 2 (each twice) -> shares 2/7, 1/7, 4/7
    np.testing.assert_allclose(np.bincount(axis, minlength=3) / 20000, [2 / 7, 1 / 7, 4 / 7], atol=0.015)
    np.testing.assert_allclose(np.abs(s.normals[np.arange(20000), axis]), 1.0, atol=1e-6)
    assert s.source.name == "bed_0001.off" and s.extras["n_faces"] == 12


def test_fps_spreads_points_and_is_reproducible(root: Path) -> None:
    uni = load_split("modelnet10", root, "bed", "train", n_points=256, seed=0)[0].points
    fps = load_split("modelnet10", root, "bed", "train", n_points=256, sampling="fps", seed=0)[0].points
    nn = lambda p: cKDTree(p).query(p, k=2)[0][:, 1].min()
    assert nn(fps) > 3 * nn(uni)
    again = load_split("modelnet10", root, "bed", "train", n_points=256, sampling="fps", seed=0)[0].points
    np.testing.assert_array_equal(fps, again)
    other = load_split("modelnet10", root, "bed", "train", n_points=256, sampling="fps", seed=1)[0].points
    assert not np.array_equal(fps, other)


def test_vertices_mode_and_hidden_files(root: Path) -> None:
    train = load_split("modelnet10", root, "bed", "train", sampling="vertices")
    assert train.names == ["bed_0001", "bed_0002"]  # the ._ resource fork is skipped
    assert train[0].num_points == 8 and train[0].normals is None


def test_truncated_and_invalid_meshes(root: Path) -> None:
    path = root / "bed/test/bed_0100.off"
    text = path.read_text().splitlines()
    path.write_text("\n".join(text[:6]) + "\n")  # header + some vertices only
    rec = modelnet10.index_split(root, "bed", "test")[0]
    with pytest.raises(DataError, match=r"bed_0100\.off: the file does not end with a complete face line"):
        modelnet10.check_record(rec)
    with pytest.raises(DataError, match=r"bed_0100\.off: OFF header declares 8 vertices and 12 faces"):
        load_split("modelnet10", root, "bed", "test")[0]
    path.write_text("OFF\n3 1 0\n0 0 0\n1 0 0\n2 0 0\n3 0 1 2\n")  # zero-area triangle
    with pytest.raises(DataError, match=r"bed_0100\.off: the mesh has no face of positive area"):
        load_split("modelnet10", root, "bed", "test")[0]
    with pytest.raises(ValueError, match="sampling must be one of"):
        load_split("modelnet10", root, "bed", "test", sampling="poisson")
