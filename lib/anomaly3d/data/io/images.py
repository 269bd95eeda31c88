"""Organized-cloud images: xyz TIFFs (``H×W×3`` float32, MVTec 3D-AD) and PNG masks / RGB images.

MVTec 3D-AD stores each scan as a 3-channel float32 TIFF holding x, y, z per pixel, with all three zero where the
sensor measured nothing; ground-truth masks are 8-bit PNGs with 0 = good, 255 = defect.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from anomaly3d.atomic import atomic_path
from anomaly3d.data.sample import DataError

__all__ = [
    "check_png",
    "check_xyz_tiff",
    "read_mask_png",
    "read_png",
    "read_rgb_png",
    "read_xyz_tiff",
    "write_png",
    "write_xyz_tiff",
]


def _require_file(path: Path, kind: str) -> None:
    if not path.is_file():
        raise DataError(f"{path}: {kind} not found")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: {kind} is empty (0 bytes); re-download it")


def check_xyz_tiff(path: str | os.PathLike[str]) -> tuple[int, int]:
    """Cheaply check an xyz TIFF (header and data extents, not the pixels) and return its ``(H, W)``.

    Raises:
        DataError: missing/empty/not a TIFF, not ``H×W×3`` float, or the file ends before the image data does
            (truncated download) — naming the file.
    """
    import tifffile

    path = Path(path)
    _require_file(path, "xyz TIFF")
    size = path.stat().st_size
    try:
        with tifffile.TiffFile(path) as tif:
            if not tif.pages:
                raise DataError(f"{path}: TIFF has no image pages")
            page = tif.pages[0]
            shape, dtype = tuple(page.shape), page.dtype
            offsets, counts = page.dataoffsets, page.databytecounts
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - tifffile raises TiffFileError/ValueError/struct.error/… on broken files
        raise DataError(
            f"{path}: not a readable TIFF ({type(exc).__name__}: {exc}); the file is corrupt or "
            "truncated — re-download it"
        ) from None
    if len(shape) != 3 or shape[2] != 3:
        raise DataError(f"{path}: xyz TIFF must be H×W×3 (x, y, z per pixel), got shape {shape}")
    if dtype is None or np.dtype(dtype).kind != "f":
        raise DataError(f"{path}: xyz TIFF must hold float coordinates, got dtype {dtype}")
    end = max((o + c for o, c in zip(offsets, counts)), default=0)
    if end > size:
        raise DataError(
            f"{path}: truncated TIFF: image data ends at byte {end} but the file has {size} bytes; "
            "re-download it"
        )
    return int(shape[0]), int(shape[1])


def read_xyz_tiff(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an organized xyz TIFF as ``(H, W, 3)`` float32 (zeros = no measurement, as stored).

    Raises:
        DataError: see :func:`check_xyz_tiff`; also NaN/inf values, which MVTec 3D-AD never contains.
    """
    import tifffile

    path = Path(path)
    check_xyz_tiff(path)
    try:
        xyz = tifffile.imread(path)
    except Exception as exc:  # noqa: BLE001 - decoders raise many exception types on corrupt data
        raise DataError(f"{path}: cannot decode TIFF ({type(exc).__name__}: {exc}); re-download it") from None
    xyz = np.asarray(xyz, dtype=np.float32)
    if not np.isfinite(xyz).all():
        raise DataError(f"{path}: xyz TIFF contains NaN/inf values; expected zeros for unmeasured pixels")
    return xyz


def write_xyz_tiff(path: str | os.PathLike[str], xyz: np.ndarray) -> Path:
    """Write an ``(H, W, 3)`` organized cloud as an uncompressed float32 RGB-contiguous TIFF, atomically.

    Raises:
        ValueError: wrong shape or NaN/inf values (write zeros for unmeasured pixels).
    """
    import tifffile

    arr = np.asarray(xyz)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"xyz must have shape (H, W, 3), got {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError("xyz contains NaN/inf; use 0 for pixels without a measurement")
    with atomic_path(path) as tmp:
        tifffile.imwrite(tmp, arr.astype(np.float32), photometric="rgb", planarconfig="contig")
    return Path(path)


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"


def check_png(path: str | os.PathLike[str], *, deep: bool = False) -> tuple[int, int]:
    """Check a PNG and return its ``(H, W)``.

    The default check reads only the signature, the ``IHDR`` header and the final ``IEND`` chunk (a truncated
    download loses the latter); ``deep=True`` also walks every chunk and its CRC with Pillow.

    Raises:
        DataError: missing, empty, not a PNG, truncated or corrupt — naming the file.
    """
    path = Path(path)
    _require_file(path, "PNG image")
    with open(path, "rb") as fh:
        head = fh.read(24)
        fh.seek(max(path.stat().st_size - len(_PNG_IEND), 0))
        tail = fh.read()
    if head[:8] != _PNG_SIGNATURE or head[12:16] != b"IHDR":
        raise DataError(f"{path}: not a PNG file (bad signature/header); re-download it")
    w, h = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    if tail != _PNG_IEND:
        raise DataError(f"{path}: truncated PNG (no IEND chunk at the end of the file); re-download it")
    if deep:
        from PIL import Image

        try:
            with Image.open(path) as im:
                im.verify()
        except Exception as exc:  # noqa: BLE001 - decoders raise many exception types on corrupt data
            raise DataError(f"{path}: corrupt PNG ({type(exc).__name__}: {exc}); re-download it") from None
    return h, w


def read_png(path: str | os.PathLike[str]) -> np.ndarray:
    """Decode a PNG as stored: ``(H, W)`` for grey, ``(H, W, C)`` for colour, uint8 or uint16.

    Raises:
        DataError: missing, not a PNG, truncated or corrupt — naming the file.
    """
    from PIL import Image

    path = Path(path)
    _require_file(path, "PNG image")
    try:
        with Image.open(path) as im:
            if im.format != "PNG":
                raise DataError(f"{path}: expected a PNG image, found {im.format}")
            if im.mode == "P":
                im = im.convert("RGBA" if "transparency" in im.info else "RGB")
            arr = np.asarray(im)
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - decoders raise many exception types on corrupt data
        raise DataError(
            f"{path}: corrupt or truncated PNG ({type(exc).__name__}: {exc}); re-download it"
        ) from None
    return arr


def read_mask_png(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a ground-truth mask PNG as ``(H, W)`` uint8 with 1 = defect (any non-zero pixel)."""
    arr = read_png(path)
    if arr.ndim == 3:
        arr = arr[..., :3].max(axis=2)
    return (arr > 0).astype(np.uint8)


def read_rgb_png(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a colour PNG as ``(H, W, 3)`` uint8 (grey is replicated, alpha dropped, 16-bit scaled to 8-bit)."""
    arr = read_png(path)
    if arr.dtype == np.uint16:
        arr = (arr >> 8).astype(np.uint8)
    elif arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    elif arr.shape[2] == 2:  # grey + alpha
        arr = np.repeat(arr[..., :1], 3, axis=2)
    return np.ascontiguousarray(arr[..., :3].astype(np.uint8))


def write_png(path: str | os.PathLike[str], image: np.ndarray) -> Path:
    """Write ``image`` as a PNG atomically.

    ``(H, W)`` bool → 8-bit grey with 0/255 (the MVTec 3D-AD mask convention); ``(H, W)`` uint8/uint16 → grey;
    ``(H, W, 3)`` uint8 → RGB; ``(H, W, 4)`` uint8 → RGBA. Write a 0/1 mask as ``mask.astype(bool)`` to get 0/255.

    Raises:
        ValueError: unsupported shape or dtype.
    """
    from PIL import Image

    arr = np.asarray(image)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    if (
        arr.ndim == 2
        and arr.dtype in (np.uint8, np.uint16)
        or arr.ndim == 3
        and arr.shape[2] in (3, 4)
        and arr.dtype == np.uint8
    ):
        pass
    else:
        raise ValueError(
            f"image must be (H, W) bool/uint8/uint16 or (H, W, 3|4) uint8, got {arr.shape} {arr.dtype}"
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"image is empty: shape {arr.shape}")
    with atomic_path(path) as tmp:
        Image.fromarray(np.ascontiguousarray(arr)).save(tmp, format="PNG")
    return Path(path)
