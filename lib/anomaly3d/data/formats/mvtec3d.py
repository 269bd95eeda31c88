"""MVTec 3D-AD: ``<cat>/{train,validation}/good/{rgb,xyz}/NNN.{png,tiff}``, ``<cat>/test/<defect>/{rgb,xyz,gt}/…``.

Each sample's points are the measured pixels of its xyz TIFF (x, y and z all non-zero, BTF's rule); the pixel
grid is kept through ``Sample.pixel_index``/``image_size`` so per-point scores can be put back on the image for
AU-PRO, ``gt_mask`` is the PNG mask (1 = defect) and ``point_labels`` its value at each kept pixel. The BTF
preprocessing and the 224×224 resize that the papers' numbers assume are options of :func:`load_split`
(see :mod:`anomaly3d.data.organized`).
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

import numpy as np

from anomaly3d.data.formats.records import (
    LazySamples,
    SampleRecord,
    check_split,
    list_files,
    require_dir,
    subdirs,
)
from anomaly3d.data.io import check_png, check_xyz_tiff, read_mask_png, read_rgb_png, read_xyz_tiff
from anomaly3d.data.organized import BTFParams, btf_preprocess, resize_nearest, resize_rgb_bicubic, valid_mask
from anomaly3d.data.sample import GOOD, DataError, Sample

__all__ = [
    "CATEGORIES",
    "DATASET_ID",
    "PREPROCESS",
    "SPLITS",
    "check_record",
    "index_split",
    "list_categories",
    "load_sample",
    "load_split",
]

DATASET_ID = "mvtec3d-ad"
CATEGORIES = ("bagel", "cable_gland", "carrot", "cookie", "dowel", "foam", "peach", "potato", "rope", "tire")
SPLITS = ("train", "validation", "test")
PREPROCESS = ("none", "btf")


def list_categories(root: str | os.PathLike[str]) -> list[str]:
    """Category folders under ``root`` (those holding a train/validation/test folder), official order first."""
    root = Path(root)
    found = [d.name for d in subdirs(root) if any((d / s).is_dir() for s in SPLITS)]
    return [c for c in CATEGORIES if c in found] + sorted(c for c in found if c not in CATEGORIES)


def index_split(root: str | os.PathLike[str], category: str, split: str) -> list[SampleRecord]:
    """List the samples of one split without reading them: one record per ``xyz/*.tiff``.

    Raises:
        ValueError: unknown split.
        DataError: the category, split or an ``xyz`` folder is missing.
    """
    check_split(split, SPLITS, DATASET_ID)
    root = Path(root)
    cat_dir = require_dir(
        root / category,
        f"MVTec 3D-AD category {category!r}",
        hint="pass the folder the archive extracts to as root",
    )
    split_dir = require_dir(cat_dir / split, f"{split!r} split")
    records: list[SampleRecord] = []
    defect_dirs = subdirs(split_dir)
    if not defect_dirs:
        raise DataError(f"{split_dir}: no defect-type folders (expected good/ and, for test, one per defect)")
    for ddir in defect_dirs:
        defect = ddir.name
        xyz_dir = require_dir(ddir / "xyz", "xyz")
        for tiff in list_files(xyz_dir, (".tiff", ".tif")):
            stem = tiff.stem
            files = {"xyz": tiff, "rgb": ddir / "rgb" / f"{stem}.png", "gt": ddir / "gt" / f"{stem}.png"}
            records.append(
                SampleRecord(
                    dataset=DATASET_ID,
                    category=category,
                    split=split,
                    name=f"{defect}/{stem}",
                    label=0 if defect == GOOD else 1,
                    defect_type=defect,
                    files=files,
                )
            )
    return records


def check_record(record: SampleRecord, *, deep: bool = False) -> None:
    """Cheap readability check of one sample's files (TIFF/PNG headers and sizes; ``deep`` decodes them).

    Raises:
        DataError: the first missing, truncated or mismatching file, by name.
    """
    h, w = check_xyz_tiff(record.files["xyz"])
    rgb = record.files["rgb"]
    if not rgb.is_file():
        raise DataError(f"{rgb}: RGB image missing for {record.files['xyz']}")
    if check_png(rgb, deep=deep) != (h, w):
        raise DataError(
            f"{rgb}: RGB image size {check_png(rgb)} differs from the xyz grid {(h, w)} of "
            f"{record.files['xyz']}"
        )
    gt = record.files["gt"]
    if record.label == 1 and not gt.is_file():
        raise DataError(f"{gt}: ground-truth mask missing for anomalous test sample {record.files['xyz']}")
    if gt.is_file() and check_png(gt, deep=deep) != (h, w):
        raise DataError(f"{gt}: mask size {check_png(gt)} differs from the xyz grid {(h, w)}")
    if deep:
        read_xyz_tiff(record.files["xyz"])


def _parse_size(resize: int | tuple[int, int] | None) -> tuple[int, int] | None:
    if resize is None:
        return None
    size = (resize, resize) if isinstance(resize, int) else tuple(resize)
    if len(size) != 2 or any((not isinstance(s, (int, np.integer))) or s <= 0 for s in size):
        raise ValueError(f"resize must be a positive int or (height, width), got {resize!r}")
    return int(size[0]), int(size[1])


def load_sample(
    record: SampleRecord,
    *,
    preprocess: str = "none",
    resize: int | tuple[int, int] | None = None,
    with_rgb: bool = True,
    btf_params: BTFParams | None = None,
) -> Sample:
    """Read one MVTec 3D-AD sample.

    Args:
        record: from :func:`index_split`.
        preprocess: ``"none"`` (as distributed) or ``"btf"`` (plane removal, square padding, largest cluster).
        resize: ``None`` or the output grid (``224`` or ``(224, 224)``): nearest for xyz/gt, bicubic for RGB.
        with_rgb: read the RGB image (required by the file layout; set False to skip reading it).
        btf_params: constants of the BTF preprocessing (default: BTF's own, :class:`BTFParams`).

    Raises:
        DataError: missing/unreadable files (by name), grids of different sizes, no measured point.
    """
    if preprocess not in PREPROCESS:
        raise ValueError(f"preprocess must be one of {PREPROCESS}, got {preprocess!r}")
    size = _parse_size(resize)
    xyz_path, rgb_path, gt_path = record.files["xyz"], record.files["rgb"], record.files["gt"]
    xyz = read_xyz_tiff(xyz_path)
    grid = xyz.shape[:2]
    rgb = None
    if with_rgb:
        if not rgb_path.is_file():
            raise DataError(
                f"{rgb_path}: RGB image missing for {xyz_path} (pass with_rgb=False to load without)"
            )
        rgb = read_rgb_png(rgb_path)
        if rgb.shape[:2] != grid:
            raise DataError(f"{rgb_path}: RGB image is {rgb.shape[:2]} but the xyz grid {xyz_path} is {grid}")
    if gt_path.is_file():
        gt = read_mask_png(gt_path)
        if gt.shape != grid:
            raise DataError(f"{gt_path}: mask is {gt.shape} but the xyz grid {xyz_path} is {grid}")
    elif record.label == 1:
        raise DataError(
            f"{gt_path}: ground-truth mask missing for anomalous test sample {xyz_path}; "
            "re-extract the archive"
        )
    else:
        gt = np.zeros(grid, dtype=np.uint8)
    if not valid_mask(xyz).any():
        raise DataError(f"{xyz_path}: the organized cloud has no measured point (every pixel is zero)")
    if preprocess == "btf":
        try:
            xyz, rgb, gt = btf_preprocess(xyz, rgb, gt, btf_params or BTFParams())
        except DataError as exc:
            raise DataError(f"{xyz_path}: BTF preprocessing failed: {exc}") from None
    if size is not None:
        xyz = resize_nearest(xyz, size)
        gt = resize_nearest(gt, size)
        rgb = resize_rgb_bicubic(rgb, size) if rgb is not None else None
    valid = valid_mask(xyz)
    if not valid.any():
        raise DataError(
            f"{xyz_path}: no measured point left after preprocess={preprocess!r}, resize={resize!r}"
        )
    pixel_index = np.flatnonzero(valid.ravel())
    points = xyz.reshape(-1, 3)[pixel_index]
    return Sample(
        points=points,
        category=record.category,
        split=record.split,
        name=record.name,
        label=record.label,
        defect_type=record.defect_type,
        point_labels=gt.ravel()[pixel_index],
        rgb=rgb,
        pixel_index=pixel_index,
        image_size=(int(xyz.shape[0]), int(xyz.shape[1])),
        gt_mask=gt,
        source=xyz_path,
        extras={
            "rgb_path": rgb_path,
            "gt_path": gt_path if gt_path.is_file() else None,
            "preprocess": preprocess,
            "resize": size,
            "native_size": grid,
        },
    )


def load_split(
    root: str | os.PathLike[str],
    category: str,
    split: str,
    *,
    preprocess: str = "none",
    resize: int | tuple[int, int] | None = None,
    with_rgb: bool = True,
    btf_params: BTFParams | None = None,
    cache: bool = False,
) -> LazySamples:
    """All samples of ``category``/``split`` as a lazy sequence (files are read on access).

    The papers' MVTec 3D-AD numbers correspond to ``preprocess="btf", resize=224``.

    Raises:
        ValueError: unknown split/preprocess or a bad resize.
        DataError: missing folders (immediately) or unreadable files (when the sample is accessed).
    """
    if preprocess not in PREPROCESS:
        raise ValueError(f"preprocess must be one of {PREPROCESS}, got {preprocess!r}")
    _parse_size(resize)
    records = index_split(root, category, split)
    loader = partial(
        load_sample, preprocess=preprocess, resize=resize, with_rgb=with_rgb, btf_params=btf_params
    )
    return LazySamples(records, loader, cache=cache)
