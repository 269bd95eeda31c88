"""PCD reader/writer: round trips in the three DATA modes, agreement with Open3D both ways, and broken files."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import open3d as o3d
import pytest
from anomaly3d.data import DataError
from anomaly3d.data.io import (
    check_pcd,
    lzf_compress_literal,
    lzf_decompress,
    read_pcd,
    read_pcd_header,
    write_pcd,
)

FORMATS = ("ascii", "binary", "binary_compressed")


@pytest.fixture
def arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    pts = rng.normal(size=(257, 3)).astype(np.float32)
    nrm = rng.normal(size=(257, 3)).astype(np.float32)
    nrm /= np.linalg.norm(nrm, axis=1, keepdims=True)
    return {
        "points": pts,
        "normals": nrm,
        "colors": rng.integers(0, 256, (257, 3), dtype=np.uint8),
        "label": rng.integers(0, 2, 257).astype(np.uint8),
        "curv": rng.random((257, 2)),
    }


@pytest.mark.parametrize("data", FORMATS)
def test_round_trip_all_fields(tmp_path: Path, arrays: dict[str, np.ndarray], data: str) -> None:
    path = write_pcd(
        tmp_path / "a.pcd",
        arrays["points"],
        normals=arrays["normals"],
        colors=arrays["colors"],
        fields={"label": arrays["label"], "curv": arrays["curv"]},
        data=data,
    )
    pc = read_pcd(path)
    assert pc.header.data == data and pc.header.points == 257
    np.testing.assert_array_equal(pc.points, arrays["points"])
    np.testing.assert_array_equal(pc.normals, arrays["normals"])
    np.testing.assert_array_equal(pc.colors, arrays["colors"])
    np.testing.assert_array_equal(pc.fields["label"], arrays["label"])
    assert pc.fields["curv"].shape == (257, 2)
    np.testing.assert_allclose(pc.fields["curv"], arrays["curv"], rtol=1e-15)
    assert [p.name for p in tmp_path.iterdir()] == ["a.pcd"]  # the temporary file was renamed away


@pytest.mark.parametrize("data", FORMATS)
def test_open3d_reads_our_files(tmp_path: Path, arrays: dict[str, np.ndarray], data: str) -> None:
    path = write_pcd(
        tmp_path / "a.pcd", arrays["points"], normals=arrays["normals"], colors=arrays["colors"], data=data
    )
    ref = o3d.io.read_point_cloud(str(path))
    np.testing.assert_array_equal(np.asarray(ref.points, dtype=np.float32), arrays["points"])
    np.testing.assert_allclose(np.asarray(ref.normals), arrays["normals"], atol=1e-7)
    np.testing.assert_array_equal(np.rint(np.asarray(ref.colors) * 255).astype(np.uint8), arrays["colors"])


@pytest.mark.parametrize("data", FORMATS)
def test_we_read_open3d_files(tmp_path: Path, data: str) -> None:
    # Open3D's binary_compressed uses real LZF back-references, which exercises the decompressor.
    rng = np.random.default_rng(0)
    pts = np.round(rng.normal(size=(3000, 3)), 2)  # repeated values compress well
    cols = rng.integers(0, 4, (3000, 3)) * 60
    ref = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(pts))
    ref.colors = o3d.utility.Vector3dVector(cols / 255.0)
    path = tmp_path / "o3d.pcd"
    assert o3d.io.write_point_cloud(
        str(path), ref, write_ascii=data == "ascii", compressed=data == "binary_compressed"
    )
    pc = read_pcd(path)
    assert pc.header.data == data
    np.testing.assert_allclose(pc.points, pts.astype(np.float32), rtol=0, atol=1e-6)
    np.testing.assert_array_equal(pc.colors, cols.astype(np.uint8))
    if data == "binary_compressed":
        comp = struct.unpack("<I", path.read_bytes()[pc.header.data_offset : pc.header.data_offset + 4])[0]
        assert comp < 3000 * 16  # Open3D really compressed it, so back-references were decoded


def _write_raw(path: Path, header: str, body: bytes = b"") -> Path:
    path.write_bytes(header.encode("ascii") + body)
    return path


HEAD = "VERSION 0.7\nFIELDS {fields}\nSIZE {size}\nTYPE {type}\nCOUNT {count}\nWIDTH {n}\nHEIGHT 1\nPOINTS {n}\nDATA {data}\n"


def test_padding_fields_count_and_crlf_ascii(tmp_path: Path) -> None:
    hdr = HEAD.format(
        fields="x y z _ intensity", size="4 4 4 1 2", type="F F F U U", count="1 1 1 3 1", n=2, data="ascii"
    ).replace("\n", "\r\n")
    path = _write_raw(tmp_path / "p.pcd", "# comment\r\n" + hdr, b"1 2 3 0 0 0 7\r\n4 5 6 9 9 9 8\r\n")
    pc = read_pcd(path)
    np.testing.assert_array_equal(pc.points, [[1, 2, 3], [4, 5, 6]])
    assert list(pc.fields) == ["intensity"] and pc.fields["intensity"].tolist() == [7, 8]
    assert pc.header.fields == ("x", "y", "z", "_0", "intensity")


def test_binary_with_padding_and_double(tmp_path: Path) -> None:
    rec = np.zeros(3, dtype=[("x", "<f8"), ("y", "<f8"), ("z", "<f8"), ("_0", "u1", (4,))])
    rec["x"], rec["y"], rec["z"] = [1, 2, 3], [4, 5, 6], [7, 8, 9]
    hdr = HEAD.format(fields="x y z _", size="8 8 8 1", type="F F F U", count="1 1 1 4", n=3, data="binary")
    pc = read_pcd(_write_raw(tmp_path / "d.pcd", hdr, rec.tobytes()))
    np.testing.assert_array_equal(pc.points, np.array([[1, 4, 7], [2, 5, 8], [3, 6, 9]], dtype=np.float32))


def test_truncated_binary_names_file_and_sizes(tmp_path: Path, arrays: dict[str, np.ndarray]) -> None:
    path = write_pcd(tmp_path / "t.pcd", arrays["points"], data="binary")
    path.write_bytes(path.read_bytes()[:-100])
    for fn in (read_pcd, check_pcd):
        with pytest.raises(DataError, match=r"t\.pcd: truncated PCD: 2984 data bytes .* needs 3084"):
            fn(path)


def test_truncated_ascii_rows(tmp_path: Path, arrays: dict[str, np.ndarray]) -> None:
    path = write_pcd(tmp_path / "t.pcd", arrays["points"], data="ascii")
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:-7]))
    with pytest.raises(
        DataError, match=r"t\.pcd: ASCII PCD has 250 data rows but the header says POINTS 257"
    ):
        read_pcd(path)


def test_truncated_compressed(tmp_path: Path, arrays: dict[str, np.ndarray]) -> None:
    path = write_pcd(tmp_path / "c.pcd", arrays["points"], data="binary_compressed")
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(DataError, match=r"c\.pcd: truncated PCD"):
        check_pcd(path)
    with pytest.raises(DataError, match=r"c\.pcd: truncated PCD"):
        read_pcd(path)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "empty"),
        ("hello world\n", "not a PCD file"),
        (
            HEAD.format(fields="x y z", size="4 4", type="F F F", count="1 1 1", n=1, data="ascii"),
            "2 SIZE entries",
        ),
        (
            HEAD.format(fields="x y z", size="4 4 4", type="F F X", count="1 1 1", n=1, data="ascii"),
            "unsupported TYPE X",
        ),
        (
            HEAD.format(fields="x y z", size="4 4 4", type="F F F", count="1 1 1", n=1, data="zip"),
            "DATA 'zip'",
        ),
        (
            HEAD.format(fields="a b c", size="4 4 4", type="F F F", count="1 1 1", n=1, data="ascii")
            + "1 2 3\n",
            "no x y z field",
        ),
        (
            HEAD.format(fields="x y z", size="4 4 4", type="F F F", count="1 1 1", n=2, data="ascii").replace(
                "POINTS 2", "POINTS 3"
            ),
            "POINTS 3 != WIDTH 2",
        ),
    ],
)
def test_bad_headers(tmp_path: Path, text: str, match: str) -> None:
    path = _write_raw(tmp_path / "bad.pcd", text)
    with pytest.raises(DataError, match=match) as info:
        read_pcd(path)
    assert "bad.pcd" in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nope\.pcd: PCD file not found"):
        read_pcd_header(tmp_path / "nope.pcd")


def test_lzf_back_references_and_corruption() -> None:
    # literal "abc", then a back reference of length 7 at distance 3 (overlapping copy) -> "abcabcabca"
    stream = bytes([2]) + b"abc" + bytes([(5 << 5) | 0, 2])
    assert lzf_decompress(stream, 10) == b"abcabcabca"
    # long back reference (len field 7 + extra byte)
    long = bytes([0]) + b"z" + bytes([(7 << 5) | 0, 3, 0])
    assert lzf_decompress(long, 13) == b"z" * 13
    with pytest.raises(ValueError, match="expected 11"):
        lzf_decompress(stream, 11)
    with pytest.raises(ValueError, match="outside the output"):
        lzf_decompress(bytes([(1 << 5) | 0, 5]), 10)
    data = bytes(range(256)) * 3 + b"tail"
    assert lzf_decompress(lzf_compress_literal(data), len(data)) == data


def test_writer_rejects_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="NaN"):
        write_pcd(tmp_path / "x.pcd", np.array([[0, 0, np.nan]]))
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        write_pcd(tmp_path / "x.pcd", np.zeros((4, 2)))
    with pytest.raises(ValueError, match="data must be one of"):
        write_pcd(tmp_path / "x.pcd", np.zeros((4, 3)), data="lzf")
    with pytest.raises(ValueError, match="duplicate"):
        write_pcd(tmp_path / "x.pcd", np.zeros((4, 3)), fields={"x": np.zeros(4)})
    assert not list(tmp_path.iterdir())


def test_zero_point_cloud_round_trip(tmp_path: Path) -> None:
    for data in FORMATS:
        pc = read_pcd(write_pcd(tmp_path / f"e_{data}.pcd", np.zeros((0, 3)), data=data))
        assert pc.points.shape == (0, 3)
