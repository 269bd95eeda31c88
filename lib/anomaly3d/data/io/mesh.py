"""Triangle meshes: OFF (ModelNet10) and Wavefront OBJ with vertex normals (Anomaly-ShapeNet ``obj/``).

OFF quirk: many ModelNet files fuse the magic word with the counts on the first line (``OFF1234 5678 0``); both
that and the standard two-line form are read. Polygons with more than three corners are fan-triangulated.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from anomaly3d.atomic import atomic_path
from anomaly3d.data.sample import DataError

__all__ = ["Mesh", "read_obj", "read_off", "read_off_counts", "write_obj", "write_off"]


@dataclass
class Mesh:
    """A triangle mesh.

    Attributes:
        vertices: ``(V, 3)`` float64.
        faces: ``(F, 3)`` int64 vertex indices (0-based).
        vertex_normals: ``(V, 3)`` float32 unit normals when the file provides one for every vertex, else None.
        source: the file it was read from.
    """

    vertices: np.ndarray
    faces: np.ndarray
    vertex_normals: np.ndarray | None = None
    source: Path | None = None

    def face_areas(self) -> np.ndarray:
        """``(F,)`` triangle areas."""
        v = self.vertices
        a, b, c = v[self.faces[:, 0]], v[self.faces[:, 1]], v[self.faces[:, 2]]
        return 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)


def _data_lines(path: Path, kind: str) -> list[str]:
    if not path.is_file():
        raise DataError(f"{path}: {kind} file not found")
    try:
        text = path.read_text(encoding="ascii", errors="strict")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path}: {kind} file has non-ASCII bytes at offset {exc.start}; it is corrupt"
        ) from None
    lines = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            lines.append(line)
    if not lines:
        raise DataError(f"{path}: {kind} file is empty; re-download it")
    return lines


def _parse_off_header(path: Path, lines: list[str]) -> tuple[int, int, int]:
    """Return ``(n_vertices, n_faces, index of the first vertex line)``."""
    first = lines[0]
    if not first.upper().startswith("OFF"):
        raise DataError(f"{path}: not an OFF file (first line {first[:40]!r} does not start with 'OFF')")
    rest = first[3:].strip()
    if rest:  # ModelNet quirk: "OFF1234 5678 0"
        count_line, start = rest, 1
    else:
        if len(lines) < 2:
            raise DataError(f"{path}: OFF file ends after the 'OFF' line (truncated)")
        count_line, start = lines[1], 2
    try:
        counts = [int(t) for t in count_line.split()]
    except ValueError:
        raise DataError(
            f"{path}: OFF counts line {count_line[:60]!r} is not 'n_vertices n_faces n_edges'"
        ) from None
    if len(counts) < 2 or counts[0] < 0 or counts[1] < 0:
        raise DataError(f"{path}: OFF counts line {count_line[:60]!r} is not 'n_vertices n_faces n_edges'")
    return counts[0], counts[1], start


def read_off_counts(path: str | os.PathLike[str]) -> tuple[int, int]:
    """Read only the ``(n_vertices, n_faces)`` counts of an OFF file (cheap: first two lines).

    Raises:
        DataError: missing/empty/not OFF — naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: OFF file not found")
    lines: list[str] = []
    with open(path, "rb") as fh:
        for raw in fh:
            line = raw.decode("ascii", errors="replace").split("#", 1)[0].strip()
            if line:
                lines.append(line)
            if len(lines) == 2 or (
                len(lines) == 1 and lines[0].upper().startswith("OFF") and lines[0][3:].strip()
            ):
                break
    if not lines:
        raise DataError(f"{path}: OFF file is empty; re-download it")
    nv, nf, _ = _parse_off_header(path, lines)
    return nv, nf


def _triangulate(path: Path, polys: list[list[int]], n_vertices: int, kind: str) -> np.ndarray:
    tris: list[tuple[int, int, int]] = []
    for poly in polys:
        if len(poly) < 3:
            raise DataError(f"{path}: {kind} face with {len(poly)} corners (need at least 3)")
        for k in range(1, len(poly) - 1):
            tris.append((poly[0], poly[k], poly[k + 1]))
    faces = np.asarray(tris, dtype=np.int64).reshape(-1, 3)
    if faces.size and (faces.min() < 0 or faces.max() >= n_vertices):
        raise DataError(f"{path}: {kind} face index out of range (mesh has {n_vertices} vertices)")
    return faces


def read_off(path: str | os.PathLike[str]) -> Mesh:
    """Read an OFF mesh (standard or ModelNet's fused ``OFF<nv> <nf> <ne>`` header).

    Raises:
        DataError: missing/empty file, bad header, fewer vertex/face lines than the header declares, malformed
            numbers or out-of-range indices — naming the file.
    """
    path = Path(path)
    lines = _data_lines(path, "OFF")
    nv, nf, start = _parse_off_header(path, lines)
    if len(lines) < start + nv + nf:
        raise DataError(
            f"{path}: OFF header declares {nv} vertices and {nf} faces but the file has only "
            f"{len(lines) - start} data lines (truncated?); re-download it"
        )
    try:
        vertices = np.array([ln.split()[:3] for ln in lines[start : start + nv]], dtype=np.float64).reshape(
            nv, 3
        )
    except ValueError:
        raise DataError(f"{path}: malformed OFF vertex line (need three numbers per vertex)") from None
    polys: list[list[int]] = []
    for ln in lines[start + nv : start + nv + nf]:
        try:
            tok = [int(t) for t in ln.split()]
        except ValueError:
            # colour components after the indices may be floats; the indices themselves must be integers
            parts = ln.split()
            try:
                k = int(parts[0])
                tok = [k] + [int(t) for t in parts[1 : 1 + k]]
            except (ValueError, IndexError):
                raise DataError(f"{path}: malformed OFF face line {ln[:60]!r}") from None
        if not tok or len(tok) < 1 + tok[0]:
            raise DataError(f"{path}: malformed OFF face line {ln[:60]!r}")
        polys.append(tok[1 : 1 + tok[0]])
    if not np.isfinite(vertices).all():
        raise DataError(f"{path}: OFF vertices contain NaN/inf")
    return Mesh(vertices=vertices, faces=_triangulate(path, polys, nv, "OFF"), source=path)


def _check_mesh_arrays(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces)
    if v.ndim != 2 or v.shape[1] != 3:
        raise ValueError(f"vertices must have shape (V, 3), got {v.shape}")
    if not np.isfinite(v).all():
        raise ValueError("vertices contain NaN/inf")
    if f.ndim != 2 or f.shape[1] != 3 or f.dtype.kind not in "iu":
        raise ValueError(f"faces must be an integer (F, 3) array, got {f.shape} {f.dtype}")
    if f.size and (f.min() < 0 or f.max() >= v.shape[0]):
        raise ValueError(f"faces index vertices outside 0..{v.shape[0] - 1}")
    return v, f.astype(np.int64)


def write_off(
    path: str | os.PathLike[str], vertices: np.ndarray, faces: np.ndarray, *, fused_header: bool = False
) -> Path:
    """Write a triangle mesh as OFF, atomically; ``fused_header=True`` writes ModelNet's ``OFF<nv> <nf> 0`` line.

    Raises:
        ValueError: wrong shapes, NaN/inf vertices or out-of-range face indices.
    """
    v, f = _check_mesh_arrays(vertices, faces)
    head = f"OFF{v.shape[0]} {f.shape[0]} 0\n" if fused_header else f"OFF\n{v.shape[0]} {f.shape[0]} 0\n"
    body = "".join(f"{x:.9g} {y:.9g} {z:.9g}\n" for x, y, z in v.tolist())
    body += "".join(f"3 {a} {b} {c}\n" for a, b, c in f.tolist())
    with atomic_path(path) as tmp:
        tmp.write_text(head + body, encoding="ascii", newline="\n")
    return Path(path)


def _obj_index(token: str, n: int, path: Path, what: str) -> int:
    i = int(token)
    idx = i - 1 if i > 0 else n + i  # OBJ is 1-based; negative = relative to the end so far
    if i == 0 or idx < 0:
        raise DataError(f"{path}: OBJ {what} index {token} is invalid")
    return idx


def read_obj(path: str | os.PathLike[str]) -> Mesh:
    """Read a Wavefront OBJ mesh: ``v`` vertices, ``vn`` normals, ``f`` faces (``a``, ``a/b``, ``a//c``, ``a/b/c``).

    Each vertex gets the normal its face corners reference (``f a//c``); when faces reference no normals and
    there are as many ``vn`` as ``v`` lines they are paired in order. ``vertex_normals`` is None unless every
    vertex gets one. Texture coordinates, groups and materials are ignored.

    Raises:
        DataError: missing/empty file, malformed numbers, out-of-range indices or no faces — naming the file.
    """
    path = Path(path)
    lines = _data_lines(path, "OBJ")
    verts: list[list[str]] = []
    norms: list[list[str]] = []
    polys: list[list[int]] = []
    corner_normals: list[tuple[int, int]] = []
    for ln in lines:
        tag, *rest = ln.split()
        try:
            if tag == "v":
                verts.append(rest[:3])
            elif tag == "vn":
                norms.append(rest[:3])
            elif tag == "f":
                poly = []
                for corner in rest:
                    parts = corner.split("/")
                    vi = _obj_index(parts[0], len(verts), path, "vertex")
                    poly.append(vi)
                    if len(parts) >= 3 and parts[2]:
                        corner_normals.append((vi, _obj_index(parts[2], len(norms), path, "normal")))
                polys.append(poly)
        except ValueError:
            raise DataError(f"{path}: malformed OBJ line {ln[:60]!r}") from None
    try:
        vertices = np.array(verts, dtype=np.float64).reshape(-1, 3)
        normals_in = np.array(norms, dtype=np.float64).reshape(-1, 3)
    except ValueError:
        raise DataError(f"{path}: OBJ 'v'/'vn' lines must have three numbers") from None
    if vertices.shape[0] == 0:
        raise DataError(f"{path}: OBJ file has no vertices")
    faces = _triangulate(path, polys, vertices.shape[0], "OBJ")
    vertex_normals = None
    if corner_normals:
        vi, ni = np.array(corner_normals, dtype=np.int64).T
        if ni.max() >= normals_in.shape[0]:
            raise DataError(
                f"{path}: OBJ face references normal {ni.max() + 1} but there are {normals_in.shape[0]}"
            )
        acc = np.zeros_like(vertices)
        np.add.at(acc, vi, normals_in[ni])
        have = np.zeros(vertices.shape[0], dtype=bool)
        have[vi] = True
        if have.all():
            vertex_normals = acc
    elif normals_in.shape[0] == vertices.shape[0]:
        vertex_normals = normals_in
    if vertex_normals is not None:
        length = np.linalg.norm(vertex_normals, axis=1, keepdims=True)
        if (length == 0).any() or not np.isfinite(length).all():
            vertex_normals = None  # degenerate normals: let the caller estimate them
        else:
            vertex_normals = (vertex_normals / length).astype(np.float32)
    return Mesh(vertices=vertices, faces=faces, vertex_normals=vertex_normals, source=path)


def write_obj(
    path: str | os.PathLike[str],
    vertices: np.ndarray,
    faces: np.ndarray,
    *,
    normals: np.ndarray | None = None,
) -> Path:
    """Write a triangle mesh as OBJ, atomically; with ``normals`` ``(V, 3)`` each face corner references its
    vertex's normal (``f a//a b//b c//c``).

    Raises:
        ValueError: wrong shapes, NaN/inf, out-of-range face indices.
    """
    v, f = _check_mesh_arrays(vertices, faces)
    parts = ["".join(f"v {x:.9g} {y:.9g} {z:.9g}\n" for x, y, z in v.tolist())]
    if normals is not None:
        nr = np.asarray(normals, dtype=np.float64)
        if nr.shape != v.shape or not np.isfinite(nr).all():
            raise ValueError(f"normals must be finite with shape {v.shape}, got {nr.shape}")
        parts.append("".join(f"vn {x:.9g} {y:.9g} {z:.9g}\n" for x, y, z in nr.tolist()))
        parts.append("".join(f"f {a}//{a} {b}//{b} {c}//{c}\n" for a, b, c in (f + 1).tolist()))
    else:
        parts.append("".join(f"f {a} {b} {c}\n" for a, b, c in (f + 1).tolist()))
    with atomic_path(path) as tmp:
        tmp.write_text("".join(parts), encoding="ascii", newline="\n")
    return Path(path)
