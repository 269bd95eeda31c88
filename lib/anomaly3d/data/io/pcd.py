"""PCD (Point Cloud Library) files: header parsing, cheap checks, reading and writing.

Supported: ``DATA ascii``, ``DATA binary`` and ``DATA binary_compressed`` (LZF, fields stored column by column),
``VERSION`` 0.5–0.7, any ``FIELDS``/``SIZE``/``TYPE``/``COUNT`` combination (``F`` 4/8, ``I``/``U`` 1/2/4/8),
PCL's ``_`` padding fields, packed ``rgb``/``rgba`` colours (``F`` 4 as in PCL, or ``U`` 4) and separate
``r g b`` fields. Real3D-AD and Anomaly-ShapeNet distribute their clouds as PCD; their official code reads them
with Open3D, so everything here is checked against Open3D in the tests.

Memory: a cloud is read with one pass over the file bytes; a 780k-point binary x y z cloud needs about
3 × 9.4 MB (file bytes, the structured view, the float32 copy).
"""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from anomaly3d.atomic import atomic_path
from anomaly3d.data.sample import DataError

__all__ = [
    "PCD_DATA_FORMATS",
    "PcdHeader",
    "PointCloud",
    "check_pcd",
    "lzf_compress_literal",
    "lzf_decompress",
    "read_pcd",
    "read_pcd_header",
    "write_pcd",
]

PCD_DATA_FORMATS = ("ascii", "binary", "binary_compressed")
_MAX_HEADER_BYTES = 1 << 16
_NUMPY_KIND = {
    ("F", 4): "f4",
    ("F", 8): "f8",
    ("I", 1): "i1",
    ("I", 2): "i2",
    ("I", 4): "i4",
    ("I", 8): "i8",
    ("U", 1): "u1",
    ("U", 2): "u2",
    ("U", 4): "u4",
    ("U", 8): "u8",
}
_COLOR_FIELDS = ("rgb", "rgba")
_NORMAL_FIELDS = ("normal_x", "normal_y", "normal_z")


@dataclass(frozen=True)
class PcdHeader:
    """The parsed header of a PCD file.

    ``fields`` has PCL's padding fields (named ``_``) renamed ``_0``, ``_1``, … so every name is unique;
    ``data_offset`` is the byte offset of the first data byte (just after the ``DATA`` line).
    """

    path: Path
    version: str
    fields: tuple[str, ...]
    sizes: tuple[int, ...]
    types: tuple[str, ...]
    counts: tuple[int, ...]
    width: int
    height: int
    viewpoint: tuple[float, ...]
    points: int
    data: str
    data_offset: int

    @property
    def row_bytes(self) -> int:
        """Bytes per point in ``binary`` data."""
        return int(sum(s * c for s, c in zip(self.sizes, self.counts)))

    @property
    def dtype(self) -> np.dtype:
        """Little-endian structured dtype of one point (one entry per field, sub-arrays for ``COUNT`` > 1)."""
        spec = []
        for name, size, typ, count in zip(self.fields, self.sizes, self.types, self.counts):
            base = "<" + _NUMPY_KIND[(typ, size)]
            spec.append((name, base, (count,)) if count > 1 else (name, base))
        return np.dtype(spec)

    @property
    def is_organized(self) -> bool:
        return self.height > 1


@dataclass
class PointCloud:
    """What a PCD file holds: coordinates plus the optional standard attributes and any other fields.

    Attributes:
        points: ``(N, 3)`` float32 x y z.
        normals: ``(N, 3)`` float32 from ``normal_x normal_y normal_z`` when present.
        colors: ``(N, 3)`` uint8 RGB unpacked from ``rgb``/``rgba`` (or ``r g b``) when present.
        fields: every other non-padding field, ``(N,)`` or ``(N, COUNT)``, in its stored dtype.
        header: the parsed header.
    """

    points: np.ndarray
    header: PcdHeader
    normals: np.ndarray | None = None
    colors: np.ndarray | None = None
    fields: dict[str, np.ndarray] = field(default_factory=dict)


# ----------------------------------------------------------------------------------------------------- header
def _header_error(path: Path, what: str) -> DataError:
    return DataError(f"{path}: invalid PCD header: {what}. Re-download the file or re-export it as PCD v0.7.")


def read_pcd_header(path: str | os.PathLike[str]) -> PcdHeader:
    """Parse the header of the PCD file at ``path`` without reading its data.

    Raises:
        DataError: the file is missing, empty, not a PCD file, or its header is inconsistent (naming the file).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: PCD file not found")
    with open(path, "rb") as fh:
        head = fh.read(_MAX_HEADER_BYTES)
    if not head:
        raise DataError(f"{path}: PCD file is empty (0 bytes); re-download it")
    entries: dict[str, list[str]] = {}
    offset = 0
    data_offset = -1
    while offset < len(head):
        end = head.find(b"\n", offset)
        if end < 0:
            break
        raw = head[offset:end]
        offset = end + 1
        try:
            line = raw.decode("ascii").strip()
        except UnicodeDecodeError:
            raise _header_error(path, f"non-text bytes in header line {raw[:40]!r}") from None
        if not line or line.startswith("#"):
            continue
        key, *values = line.split()
        key = key.upper()
        if key in entries:
            raise _header_error(path, f"{key} appears twice")
        entries[key] = values
        if key == "DATA":
            data_offset = offset
            break
    if data_offset < 0:
        if b"\x00" in head[:256] or "FIELDS" not in entries:
            raise _header_error(path, "this is not a PCD file (no FIELDS/DATA header lines)")
        raise _header_error(
            path, f"no DATA line within the first {_MAX_HEADER_BYTES} bytes (truncated header?)"
        )
    for key in ("FIELDS", "SIZE", "TYPE", "WIDTH", "HEIGHT", "DATA"):
        if key not in entries:
            raise _header_error(path, f"missing {key} line")
    names = entries["FIELDS"]
    n_fields = len(names)
    if n_fields == 0:
        raise _header_error(path, "FIELDS is empty")
    try:
        sizes = [int(v) for v in entries["SIZE"]]
        counts = [int(v) for v in entries.get("COUNT", ["1"] * n_fields)]
        width = int(entries["WIDTH"][0])
        height = int(entries["HEIGHT"][0])
        viewpoint = tuple(float(v) for v in entries.get("VIEWPOINT", ["0", "0", "0", "1", "0", "0", "0"]))
        points = int(entries["POINTS"][0]) if "POINTS" in entries else width * height
    except (ValueError, IndexError) as exc:
        raise _header_error(path, f"non-numeric SIZE/COUNT/WIDTH/HEIGHT/POINTS value ({exc})") from None
    types = [t.upper() for t in entries["TYPE"]]
    for key, vals in (("SIZE", sizes), ("TYPE", types), ("COUNT", counts)):
        if len(vals) != n_fields:
            raise _header_error(path, f"{len(vals)} {key} entries for {n_fields} FIELDS {names}")
    for name, typ, size, count in zip(names, types, sizes, counts):
        if (typ, size) not in _NUMPY_KIND:
            raise _header_error(path, f"field {name!r} has unsupported TYPE {typ} SIZE {size}")
        if count < 1:
            raise _header_error(path, f"field {name!r} has COUNT {count}")
    if width < 0 or height < 0 or points < 0:
        raise _header_error(path, f"negative WIDTH/HEIGHT/POINTS ({width}, {height}, {points})")
    if points != width * height:
        raise _header_error(path, f"POINTS {points} != WIDTH {width} x HEIGHT {height}")
    data = entries["DATA"][0].lower() if entries["DATA"] else ""
    if data not in PCD_DATA_FORMATS:
        raise _header_error(path, f"DATA {data!r} is not one of {PCD_DATA_FORMATS}")
    unique, pad = [], 0
    for name in names:
        if name == "_":
            unique.append(f"_{pad}")
            pad += 1
        elif name in unique:
            raise _header_error(path, f"field {name!r} listed twice")
        else:
            unique.append(name)
    version = entries.get("VERSION", [""])[0] if entries.get("VERSION") else ""
    return PcdHeader(
        path=path,
        version=version,
        fields=tuple(unique),
        sizes=tuple(sizes),
        types=tuple(types),
        counts=tuple(counts),
        width=width,
        height=height,
        viewpoint=viewpoint,
        points=points,
        data=data,
        data_offset=data_offset,
    )


def check_pcd(path: str | os.PathLike[str], *, deep: bool = False) -> PcdHeader:
    """Cheaply check that a PCD file is complete: header plus data size; ``deep=True`` reads it fully.

    For ``binary`` data the file size must be at least header + ``POINTS`` × row size; for
    ``binary_compressed`` the stored compressed block must fit in the file and decompress to the right size
    (sizes only, unless ``deep``); for ``ascii`` the file must have data after the header when ``POINTS`` > 0
    (``deep=True`` also counts the rows). Checks x y z are among the fields.

    Raises:
        DataError: naming the file and what is wrong.
    """
    header = read_pcd_header(path)
    _require_xyz(header)
    size = header.path.stat().st_size
    available = size - header.data_offset
    if header.data == "binary":
        need = header.points * header.row_bytes
        if available < need:
            raise _truncated(header, available, need)
    elif header.data == "binary_compressed":
        comp, _ = _compressed_sizes(header)
        if available - 8 < comp:
            raise _truncated(header, available - 8, comp, what="compressed data bytes")
    elif header.points > 0 and available <= 0:
        raise DataError(
            f"{header.path}: header says POINTS {header.points} but there is no data after the "
            "DATA ascii line (truncated file?); re-download it"
        )
    if deep:
        read_pcd(path)
    return header


def _require_xyz(header: PcdHeader) -> None:
    missing = [f for f in ("x", "y", "z") if f not in header.fields]
    if missing:
        raise DataError(
            f"{header.path}: PCD has no {' '.join(missing)} field(s) (fields: {' '.join(header.fields)})"
            "; a point cloud needs x y z"
        )
    for f in ("x", "y", "z"):
        i = header.fields.index(f)
        if header.counts[i] != 1:
            raise DataError(f"{header.path}: field {f} has COUNT {header.counts[i]}, expected 1")


def _truncated(header: PcdHeader, have: int, need: int, what: str = "data bytes") -> DataError:
    return DataError(
        f"{header.path}: truncated PCD: {max(have, 0)} {what} after the header, but POINTS {header.points} × "
        f"{header.row_bytes} bytes/point needs {need} (DATA {header.data}); the download is incomplete — "
        "re-download the file"
    )


def _compressed_sizes(header: PcdHeader) -> tuple[int, int]:
    with open(header.path, "rb") as fh:
        fh.seek(header.data_offset)
        raw = fh.read(8)
    if len(raw) < 8:
        raise DataError(
            f"{header.path}: truncated binary_compressed PCD: the 8-byte size block after the header is "
            "missing; re-download the file"
        )
    comp, uncomp = struct.unpack("<II", raw)
    need = header.points * header.row_bytes
    if uncomp != need:
        raise DataError(
            f"{header.path}: binary_compressed PCD says it decompresses to {uncomp} bytes, but POINTS "
            f"{header.points} × {header.row_bytes} bytes/point is {need}; the file is corrupt"
        )
    return comp, uncomp


# ------------------------------------------------------------------------------------------------------- LZF
def lzf_decompress(data: bytes, expected_size: int) -> bytes:
    """Decompress an LZF block (the liblzf format PCL uses) to exactly ``expected_size`` bytes.

    Raises:
        ValueError: the stream is corrupt or does not decompress to ``expected_size`` bytes.
    """
    out = bytearray(expected_size)
    ip, op, n = 0, 0, len(data)
    mv = memoryview(data)
    try:
        while ip < n:
            ctrl = data[ip]
            ip += 1
            if ctrl < 32:  # literal run of ctrl + 1 bytes
                length = ctrl + 1
                if ip + length > n or op + length > expected_size:
                    raise ValueError("literal run past the end of the data")
                out[op : op + length] = mv[ip : ip + length]
                ip += length
                op += length
            else:  # back reference
                length = ctrl >> 5
                ref = op - ((ctrl & 0x1F) << 8) - 1
                if length == 7:
                    length += data[ip]
                    ip += 1
                ref -= data[ip]
                ip += 1
                length += 2
                if ref < 0 or op + length > expected_size:
                    raise ValueError("back reference outside the output")
                dist = op - ref
                if dist >= length:
                    out[op : op + length] = out[ref : ref + length]
                else:  # overlapping copy repeats the last `dist` bytes
                    pattern = bytes(out[ref:op])
                    out[op : op + length] = (pattern * (length // dist + 1))[:length]
                op += length
    except IndexError:
        raise ValueError("LZF stream ends in the middle of an instruction") from None
    if op != expected_size:
        raise ValueError(f"LZF stream decompressed to {op} bytes, expected {expected_size}")
    return bytes(out)


def lzf_compress_literal(data: bytes) -> bytes:
    """Encode ``data`` as a valid LZF stream made of literal runs only (no compression, always decodable).

    PCL and Open3D decode any valid LZF stream, so this is enough to write ``binary_compressed`` files.
    """
    n = len(data)
    full = n // 32
    arr = np.frombuffer(data, dtype=np.uint8, count=full * 32).reshape(full, 32)
    blocks = np.empty((full, 33), dtype=np.uint8)
    blocks[:, 0] = 31
    blocks[:, 1:] = arr
    tail = data[full * 32 :]
    return blocks.tobytes() + (bytes([len(tail) - 1]) + tail if tail else b"")


# ------------------------------------------------------------------------------------------------------ read
def _read_structured(header: PcdHeader) -> dict[str, np.ndarray]:
    """Return one array per field: ``(N,)`` or ``(N, COUNT)``."""
    n = header.points
    with open(header.path, "rb") as fh:
        fh.seek(header.data_offset)
        if header.data == "binary":
            need = n * header.row_bytes
            buf = fh.read(need)
            if len(buf) < need:
                raise _truncated(header, len(buf), need)
            rec = np.frombuffer(buf, dtype=header.dtype, count=n)
            return {name: rec[name] for name in header.fields}
        if header.data == "binary_compressed":
            comp, uncomp = _compressed_sizes(header)
            fh.seek(header.data_offset + 8)
            blob = fh.read(comp)
            if len(blob) < comp:
                raise _truncated(header, len(blob), comp, what="compressed data bytes")
            try:
                raw = lzf_decompress(blob, uncomp)
            except ValueError as exc:
                raise DataError(
                    f"{header.path}: corrupt binary_compressed PCD data ({exc}); re-download the file"
                ) from None
            out: dict[str, np.ndarray] = {}
            pos = 0
            for name, size, typ, count in zip(header.fields, header.sizes, header.types, header.counts):
                nbytes = n * size * count
                col = np.frombuffer(raw, dtype="<" + _NUMPY_KIND[(typ, size)], count=n * count, offset=pos)
                out[name] = col.reshape(n, count) if count > 1 else col
                pos += nbytes
            return out
        text = fh.read().decode("ascii", errors="replace")
    return _parse_ascii(header, text)


def _parse_ascii(header: PcdHeader, text: str) -> dict[str, np.ndarray]:
    n = header.points
    ncols = int(sum(header.counts))
    if n == 0:
        table = np.zeros((0, ncols))
    else:
        try:
            table = np.loadtxt(io.StringIO(text), dtype=np.float64, ndmin=2, comments="#")
        except ValueError as exc:
            raise DataError(f"{header.path}: unreadable ASCII PCD data: {exc}") from None
        if table.shape[0] != n:
            raise DataError(
                f"{header.path}: ASCII PCD has {table.shape[0]} data rows but the header says POINTS {n} "
                "(truncated or edited file?); re-download it"
            )
        if table.shape[1] != ncols:
            raise DataError(
                f"{header.path}: ASCII PCD rows have {table.shape[1]} values but FIELDS/COUNT describe "
                f"{ncols}"
            )
    out: dict[str, np.ndarray] = {}
    col = 0
    for name, size, typ, count in zip(header.fields, header.sizes, header.types, header.counts):
        block = table[:, col : col + count]
        col += count
        dt = np.dtype("<" + _NUMPY_KIND[(typ, size)])
        if name in _COLOR_FIELDS and typ == "F" and size == 4:
            vals = block.astype(np.float32)  # PCL prints the packed float; keep its bits
        elif typ == "F":
            vals = block.astype(dt)
        else:
            vals = np.rint(block).astype(dt)
        out[name] = vals if count > 1 else vals[:, 0]
    return out


def _unpack_colors(arrays: dict[str, np.ndarray], header: PcdHeader) -> np.ndarray | None:
    for name in _COLOR_FIELDS:
        if name in arrays:
            i = header.fields.index(name)
            if header.sizes[i] != 4 or header.counts[i] != 1:
                raise DataError(
                    f"{header.path}: colour field {name} must be SIZE 4 COUNT 1, got SIZE "
                    f"{header.sizes[i]} COUNT {header.counts[i]}"
                )
            packed = np.ascontiguousarray(arrays[name]).view(np.uint32)
            rgb = np.empty((packed.shape[0], 3), dtype=np.uint8)
            rgb[:, 0] = (packed >> 16) & 0xFF
            rgb[:, 1] = (packed >> 8) & 0xFF
            rgb[:, 2] = packed & 0xFF
            return rgb
    if all(c in arrays for c in ("r", "g", "b")):
        return np.stack([np.clip(arrays[c], 0, 255).astype(np.uint8) for c in ("r", "g", "b")], axis=1)
    return None


def read_pcd(path: str | os.PathLike[str]) -> PointCloud:
    """Read a PCD file (ascii, binary or binary_compressed) into a :class:`PointCloud`.

    Coordinates are returned exactly as stored (no NaN filtering: PCL writes NaN for invalid points of organized
    clouds; :class:`~anomaly3d.data.Sample` rejects them with the file name).

    Raises:
        DataError: missing file, bad header, no x y z, truncated or corrupt data — naming the file.
    """
    header = read_pcd_header(path)
    _require_xyz(header)
    arrays = _read_structured(header)
    points = np.empty((header.points, 3), dtype=np.float32)
    for j, f in enumerate(("x", "y", "z")):
        points[:, j] = arrays[f]
    normals = None
    if all(f in arrays for f in _NORMAL_FIELDS):
        normals = np.empty((header.points, 3), dtype=np.float32)
        for j, f in enumerate(_NORMAL_FIELDS):
            normals[:, j] = arrays[f]
    colors = _unpack_colors(arrays, header)
    used = {"x", "y", "z", *_COLOR_FIELDS}
    if normals is not None:
        used.update(_NORMAL_FIELDS)
    if colors is not None and not any(c in arrays for c in _COLOR_FIELDS):
        used.update(("r", "g", "b"))
    extra = {k: np.array(v) for k, v in arrays.items() if k not in used and not k.startswith("_")}
    return PointCloud(points=points, header=header, normals=normals, colors=colors, fields=extra)


# ----------------------------------------------------------------------------------------------------- write
def _pcd_type(arr: np.ndarray, name: str) -> tuple[str, int]:
    kind = arr.dtype.kind
    if kind == "f":
        return "F", arr.dtype.itemsize
    if kind == "i":
        return "I", arr.dtype.itemsize
    if kind in "ub":
        return "U", arr.dtype.itemsize
    raise ValueError(f"field {name!r}: dtype {arr.dtype} cannot be stored in a PCD file")


def write_pcd(
    path: str | os.PathLike[str],
    points: np.ndarray,
    *,
    normals: np.ndarray | None = None,
    colors: np.ndarray | None = None,
    fields: Mapping[str, np.ndarray] | None = None,
    data: str = "binary",
) -> Path:
    """Write a PCD v0.7 file atomically (temp file + rename).

    Args:
        path: destination ``.pcd`` file (parent folders are created).
        points: ``(N, 3)`` coordinates, stored as float32 ``x y z``.
        normals: optional ``(N, 3)``, stored as float32 ``normal_x normal_y normal_z``.
        colors: optional ``(N, 3)`` uint8 RGB, stored packed as PCL does: ``rgb`` ``F 4`` (binary data) or
            ``U 4`` (ascii data, so the value survives printing).
        fields: optional extra per-point fields ``name -> (N,)`` or ``(N, COUNT)`` arrays (kept in their dtype;
            bool is stored as ``U 1``).
        data: ``"ascii"``, ``"binary"`` or ``"binary_compressed"`` (LZF literal runs, readable by PCL/Open3D).

    Returns:
        The written path.

    Raises:
        ValueError: wrong shapes, NaN/inf coordinates, bad field names or an unknown ``data`` format.
    """
    if data not in PCD_DATA_FORMATS:
        raise ValueError(f"data must be one of {PCD_DATA_FORMATS}, got {data!r}")
    pts = np.asarray(points)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise ValueError(f"points must have shape (N, 3), got {pts.shape}")
    if not np.isfinite(pts).all():
        raise ValueError("points contain NaN/inf; remove those points before writing")
    n = pts.shape[0]
    columns: list[tuple[str, np.ndarray]] = [
        ("x", pts[:, 0].astype(np.float32)),
        ("y", pts[:, 1].astype(np.float32)),
        ("z", pts[:, 2].astype(np.float32)),
    ]
    if normals is not None:
        nr = np.asarray(normals)
        if nr.shape != (n, 3):
            raise ValueError(f"normals must have shape ({n}, 3), got {nr.shape}")
        columns += [(f, nr[:, j].astype(np.float32)) for j, f in enumerate(_NORMAL_FIELDS)]
    if colors is not None:
        c = np.asarray(colors)
        if c.shape != (n, 3):
            raise ValueError(f"colors must have shape ({n}, 3), got {c.shape}")
        if c.dtype != np.uint8:
            if c.size and (c.min() < 0 or c.max() > 255):
                raise ValueError("colors must be uint8 RGB in 0..255")
            c = c.astype(np.uint8)
        packed = (
            (c[:, 0].astype(np.uint32) << 16) | (c[:, 1].astype(np.uint32) << 8) | c[:, 2].astype(np.uint32)
        )
        columns.append(("rgb", packed if data == "ascii" else packed.view(np.float32)))
    for name, values in (fields or {}).items():
        if not name or any(ch.isspace() for ch in name) or name in {c[0] for c in columns} or name == "_":
            raise ValueError(f"invalid or duplicate extra field name {name!r}")
        v = np.asarray(values)
        if v.dtype == bool:
            v = v.astype(np.uint8)
        if v.ndim not in (1, 2) or v.shape[0] != n:
            raise ValueError(f"field {name!r} must have shape ({n},) or ({n}, COUNT), got {v.shape}")
        _pcd_type(v, name)
        columns.append((name, v))
    names, sizes, types, counts = [], [], [], []
    for name, v in columns:
        typ, size = _pcd_type(v, name)
        names.append(name)
        sizes.append(str(size))
        types.append(typ)
        counts.append(str(v.shape[1] if v.ndim == 2 else 1))
    header = (
        "# .PCD v0.7 - Point Cloud Data file format\n"
        "VERSION 0.7\n"
        f"FIELDS {' '.join(names)}\nSIZE {' '.join(sizes)}\nTYPE {' '.join(types)}\nCOUNT {' '.join(counts)}\n"
        f"WIDTH {n}\nHEIGHT 1\nVIEWPOINT 0 0 0 1 0 0 0\nPOINTS {n}\nDATA {data}\n"
    ).encode("ascii")
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(header)
        if data == "binary":
            dtype = np.dtype(
                [
                    (nm, "<" + v.dtype.str[1:], (v.shape[1],)) if v.ndim == 2 else (nm, "<" + v.dtype.str[1:])
                    for nm, v in columns
                ]
            )
            rec = np.empty(n, dtype=dtype)
            for nm, v in columns:
                rec[nm] = v
            fh.write(rec.tobytes())
        elif data == "binary_compressed":
            raw = b"".join(
                np.ascontiguousarray(v.astype(v.dtype.newbyteorder("<"))).tobytes() for _, v in columns
            )
            comp = lzf_compress_literal(raw)
            fh.write(struct.pack("<II", len(comp), len(raw)))
            fh.write(comp)
        else:
            _write_ascii_rows(fh, columns, n)
    return Path(path)


def _write_ascii_rows(fh: io.BufferedWriter, columns: list[tuple[str, np.ndarray]], n: int) -> None:
    if n == 0:
        return
    fmts: list[str] = []
    blocks: list[np.ndarray] = []
    for _, v in columns:
        v2 = v.reshape(n, -1)
        fmt = ("%.9g" if v.dtype.itemsize <= 4 else "%.17g") if v.dtype.kind == "f" else "%d"
        fmts += [fmt] * v2.shape[1]
        blocks.append(v2.astype(np.float64) if v.dtype.kind == "f" else v2.astype(np.int64))
    # one format string per row; chunks keep the temporary strings small for large clouds
    row_fmt = " ".join(fmts) + "\n"
    chunk = 65536
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        rows = zip(*[b[start:stop, j].tolist() for b in blocks for j in range(b.shape[1])])
        fh.write("".join(row_fmt % r for r in rows).encode("ascii"))
