"""GT text files: both delimiters, Windows line endings, label checks, and errors naming the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from anomaly3d.data import DataError
from anomaly3d.data.io import count_gt_rows, read_gt_txt, write_gt_txt


@pytest.mark.parametrize("delimiter", [" ", ","])
@pytest.mark.parametrize("line_ending", ["\n", "\r\n"])
def test_round_trip_is_bit_exact(tmp_path: Path, delimiter: str, line_ending: str) -> None:
    rng = np.random.default_rng(1)
    pts = (rng.normal(size=(500, 3)) * 37.1).astype(np.float32)
    labels = rng.integers(0, 2, 500)
    path = write_gt_txt(tmp_path / "g.txt", pts, labels, delimiter=delimiter, line_ending=line_ending)
    raw = path.read_bytes()
    assert raw.count(b"\r\n") == (500 if line_ending == "\r\n" else 0)
    assert raw.split(b"\n")[0].count(delimiter.encode()) == 3
    got_pts, got_labels = read_gt_txt(path)
    np.testing.assert_array_equal(got_pts, pts)
    np.testing.assert_array_equal(got_labels, labels.astype(np.uint8))
    assert count_gt_rows(path) == 500


def test_hand_written_file_with_float_labels_crlf_and_blank_tail(tmp_path: Path) -> None:
    path = tmp_path / "h.txt"
    path.write_bytes(b"0.5,1.5,2.5,0.0\r\n-1,-2,-3,1.0\r\n\r\n\r\n")
    pts, labels = read_gt_txt(path)
    np.testing.assert_array_equal(pts, [[0.5, 1.5, 2.5], [-1, -2, -3]])
    assert labels.tolist() == [0, 1] and labels.dtype == np.uint8
    assert count_gt_rows(path) == 2


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", "no data rows"),
        (b"\n\n", "no data rows"),
        (b"1 2 3\n4 5 6\n", "3 values, expected 4"),
        (b"1 2 3 0 9\n", "5 values, expected 4"),
        (b"1 2 3 2\n", r"labels must be 0 or 1; found \[2.0\] \(first at row 1\)"),
        (b"1 2 3 0\n1 2 x 1\n", "unreadable ground-truth row"),
        (b"1,2,3,0\n1,2,3\n", "unreadable ground-truth row"),
        (b"1 2 nan 0\n", "NaN/inf"),
    ],
)
def test_bad_files_name_the_file(tmp_path: Path, content: bytes, match: str) -> None:
    path = tmp_path / "bad_gt.txt"
    path.write_bytes(content)
    with pytest.raises(DataError, match=match) as info:
        read_gt_txt(path)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"none\.txt: ground-truth file not found"):
        read_gt_txt(tmp_path / "none.txt")


def test_writer_validation(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="labels must be 0 or 1"):
        write_gt_txt(tmp_path / "w.txt", np.zeros((2, 3)), [0, 3])
    with pytest.raises(ValueError, match="2 entries for 3 points"):
        write_gt_txt(tmp_path / "w.txt", np.zeros((3, 3)), [0, 1])
    with pytest.raises(ValueError, match="delimiter"):
        write_gt_txt(tmp_path / "w.txt", np.zeros((1, 3)), [0], delimiter=";")
    assert not list(tmp_path.iterdir())
