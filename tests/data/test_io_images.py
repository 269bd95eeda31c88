"""xyz TIFFs and PNG masks/RGB: exact round trips, and truncated or wrong files named in the error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from anomaly3d.data import DataError
from anomaly3d.data.io import (
    check_png,
    check_xyz_tiff,
    read_mask_png,
    read_png,
    read_rgb_png,
    read_xyz_tiff,
    write_png,
    write_xyz_tiff,
)
from PIL import Image


def test_xyz_tiff_round_trip_keeps_zeros(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    xyz = rng.normal(size=(7, 9, 3)).astype(np.float32)
    xyz[2:4, 1:5] = 0
    path = write_xyz_tiff(tmp_path / "s.tiff", xyz)
    got = read_xyz_tiff(path)
    assert got.dtype == np.float32 and got.shape == (7, 9, 3)
    np.testing.assert_array_equal(got, xyz)
    np.testing.assert_array_equal(tifffile.imread(path), xyz)  # independent reader
    assert check_xyz_tiff(path) == (7, 9)


def test_truncated_tiff(tmp_path: Path) -> None:
    path = write_xyz_tiff(tmp_path / "cut.tiff", np.ones((20, 20, 3), dtype=np.float32))
    path.write_bytes(path.read_bytes()[:-200])
    for fn in (check_xyz_tiff, read_xyz_tiff):
        with pytest.raises(
            DataError,
            match=r"cut\.tiff: truncated TIFF: image data ends at byte \d+ but the file "
            r"has \d+ bytes",
        ):
            fn(path)
    path.write_bytes(path.read_bytes()[:50])  # cut inside the header
    with pytest.raises(DataError, match=r"cut\.tiff: not a readable TIFF"):
        read_xyz_tiff(path)


def test_tiff_wrong_shape_and_dtype(tmp_path: Path) -> None:
    tifffile.imwrite(tmp_path / "grey.tiff", np.zeros((4, 4), dtype=np.float32))
    with pytest.raises(DataError, match=r"grey\.tiff: xyz TIFF must be H×W×3"):
        read_xyz_tiff(tmp_path / "grey.tiff")
    tifffile.imwrite(tmp_path / "int.tiff", np.zeros((4, 4, 3), dtype=np.uint8), photometric="rgb")
    with pytest.raises(DataError, match=r"int\.tiff: xyz TIFF must hold float"):
        read_xyz_tiff(tmp_path / "int.tiff")
    (tmp_path / "empty.tiff").write_bytes(b"")
    with pytest.raises(DataError, match=r"empty\.tiff: xyz TIFF is empty"):
        read_xyz_tiff(tmp_path / "empty.tiff")


def test_mask_png_is_0_255_on_disk_and_0_1_in_memory(tmp_path: Path) -> None:
    mask = np.zeros((5, 6), dtype=bool)
    mask[1:3, 2:5] = True
    path = write_png(tmp_path / "m.png", mask)
    with Image.open(path) as im:
        assert im.mode == "L"
        assert sorted(np.unique(np.asarray(im)).tolist()) == [0, 255]
    got = read_mask_png(path)
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, mask.astype(np.uint8))
    assert check_png(path) == (5, 6) == check_png(path, deep=True)


def test_rgb_png_round_trip_and_grey_promotion(tmp_path: Path) -> None:
    rgb = np.random.default_rng(2).integers(0, 256, (4, 3, 3), dtype=np.uint8)
    np.testing.assert_array_equal(read_rgb_png(write_png(tmp_path / "c.png", rgb)), rgb)
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4)
    promoted = read_rgb_png(write_png(tmp_path / "g.png", grey))
    assert promoted.shape == (3, 4, 3)
    np.testing.assert_array_equal(promoted[..., 1], grey)
    Image.fromarray(rgb).convert("RGBA").save(tmp_path / "a.png")
    np.testing.assert_array_equal(read_rgb_png(tmp_path / "a.png"), rgb)


def test_truncated_png_cheap_and_full_read(tmp_path: Path) -> None:
    rgb = np.random.default_rng(3).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    path = write_png(tmp_path / "t.png", rgb)
    path.write_bytes(path.read_bytes()[:-300])
    with pytest.raises(DataError, match=r"t\.png: truncated PNG \(no IEND chunk"):
        check_png(path)
    with pytest.raises(DataError, match=r"t\.png: corrupt or truncated PNG"):
        read_png(path)
    (tmp_path / "fake.png").write_bytes(b"GIF89a" + b"\0" * 40)
    with pytest.raises(DataError, match=r"fake\.png: not a PNG file"):
        check_png(tmp_path / "fake.png")


def test_writers_reject_bad_arrays(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="NaN"):
        write_xyz_tiff(tmp_path / "n.tiff", np.full((2, 2, 3), np.nan, dtype=np.float32))
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        write_xyz_tiff(tmp_path / "n.tiff", np.zeros((2, 2), dtype=np.float32))
    with pytest.raises(ValueError, match="image must be"):
        write_png(tmp_path / "f.png", np.zeros((2, 2), dtype=np.float32))
    assert not list(tmp_path.iterdir())
