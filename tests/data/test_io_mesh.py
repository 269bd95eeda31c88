"""OFF (incl. ModelNet's fused header) and OBJ with vertex normals, checked against trimesh."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import trimesh
from anomaly3d.data import DataError
from anomaly3d.data.io import read_obj, read_off, read_off_counts, write_obj, write_off


@pytest.mark.parametrize("fused", [False, True])
def test_off_round_trip_matches_trimesh(tmp_path: Path, fused: bool) -> None:
    ref = trimesh.creation.icosphere(subdivisions=2)
    path = write_off(tmp_path / "s.off", ref.vertices, ref.faces, fused_header=fused)
    first = path.read_text().splitlines()[0]
    assert first == ("OFF162 320 0" if fused else "OFF")
    mesh = read_off(path)
    np.testing.assert_allclose(mesh.vertices, ref.vertices, rtol=1e-8)
    np.testing.assert_array_equal(mesh.faces, ref.faces)
    assert read_off_counts(path) == (162, 320)
    np.testing.assert_allclose(mesh.face_areas().sum(), ref.area, rtol=1e-8)


def test_modelnet_quirks_comments_quads_and_crlf(tmp_path: Path) -> None:
    text = "OFF4 1 0\r\n# a comment\r\n0 0 0\r\n1 0 0\r\n1 1 0\r\n0 1 0\r\n4 0 1 2 3 255 0 0\r\n"
    (tmp_path / "q.off").write_bytes(text.encode())
    mesh = read_off(tmp_path / "q.off")
    assert mesh.faces.tolist() == [[0, 1, 2], [0, 2, 3]]
    assert mesh.face_areas().sum() == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("PLY\n", "not an OFF file"),
        ("OFF\n3 1 0\n0 0 0\n1 0 0\n", r"declares 3 vertices and 1 faces but the file has only 2 data lines"),
        ("OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 7\n", "face index out of range"),
        ("OFF\nthree 1 0\n", "counts line"),
        ("OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1\n", "malformed OFF face line"),
    ],
)
def test_broken_off_files(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "broken.off"
    path.write_text(text)
    with pytest.raises(DataError, match=match) as info:
        read_off(path)
    assert "broken.off" in str(info.value)


def test_obj_round_trip_with_normals(tmp_path: Path) -> None:
    ref = trimesh.creation.icosphere(subdivisions=1)
    path = write_obj(tmp_path / "m.obj", ref.vertices, ref.faces, normals=ref.vertex_normals)
    mesh = read_obj(path)
    np.testing.assert_allclose(mesh.vertices, ref.vertices, rtol=1e-8)
    np.testing.assert_array_equal(mesh.faces, ref.faces)
    np.testing.assert_allclose(mesh.vertex_normals, ref.vertex_normals, atol=1e-6)
    back = trimesh.load(path, process=False)
    np.testing.assert_allclose(back.vertices, ref.vertices, rtol=1e-8)


def test_obj_index_forms_and_missing_normals(tmp_path: Path) -> None:
    text = "v 0 0 0\nv 1 0 0\nv 0 1 0\nv 1 1 0\nvt 0 0\nvn 0 0 2\nf 1/1/1 2/1/1 3/1/1\nf -3//1 -1//1 -2//1\n"
    (tmp_path / "a.obj").write_text(text)
    mesh = read_obj(tmp_path / "a.obj")
    assert mesh.faces.tolist() == [[0, 1, 2], [1, 3, 2]]
    np.testing.assert_array_equal(mesh.vertex_normals, np.tile([0, 0, 1], (4, 1)))
    (tmp_path / "b.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nv 5 5 5\nf 1 2 3\n")
    assert read_obj(tmp_path / "b.obj").vertex_normals is None
    (tmp_path / "c.obj").write_text("v 0 0 0\nf 1 2 3\n")
    with pytest.raises(DataError, match=r"c\.obj: OBJ face index out of range"):
        read_obj(tmp_path / "c.obj")
