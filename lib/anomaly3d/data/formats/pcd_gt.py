"""Shared by Real3D-AD and Anomaly-ShapeNet: a PCD cloud per sample plus, for anomalous test samples, a GT text
file holding ``x y z label`` for every point.

Both official evaluations take an anomalous sample's points *and* labels from the GT file (the PCD is not read),
and a normal sample's points from the PCD with all labels 0. The loaders do the same, and by default also check
that the GT file has as many rows as the PCD header's ``POINTS`` — a mismatch means one of the two files is from
a different download or was cut short.
"""

from __future__ import annotations

import re
import warnings

import numpy as np

from anomaly3d.data.formats.records import SampleRecord
from anomaly3d.data.io import (
    check_pcd,
    count_gt_rows,
    read_gt_txt,
    read_pcd,
    read_pcd_header,
    sniff_gt_delimiter,
)
from anomaly3d.data.sample import DataError, Sample

__all__ = ["check_pcd_record", "load_pcd_sample", "split_name_tokens"]


def split_name_tokens(stem: str) -> list[str]:
    """Alphabetic tokens of a file stem: ``"12_bulge_cut"`` → ``["bulge", "cut"]``."""
    return [t for t in re.split(r"[^A-Za-z]+", stem) if t]


def _gt_points_and_labels(record: SampleRecord, strict_gt: bool) -> tuple[np.ndarray, np.ndarray]:
    pcd, gt = record.files["pcd"], record.files["gt_txt"]
    if not gt.is_file():
        raise DataError(
            f"{gt}: ground-truth file missing for anomalous test sample {pcd} (the official evaluation "
            "reads the points and labels of anomalous samples from it); re-extract the archive"
        )
    header = read_pcd_header(pcd)
    points, labels = read_gt_txt(gt)
    if points.shape[0] != header.points:
        msg = (
            f"{gt} has {points.shape[0]} points but {pcd} has {header.points} (PCD header POINTS); the points "
            "are taken from the GT file, as in the official evaluation"
        )
        if strict_gt:
            raise DataError(msg + " - pass strict_gt=False to accept this, or re-download both files")
        warnings.warn(msg, stacklevel=3)
    return points, labels


def load_pcd_sample(record: SampleRecord, *, strict_gt: bool = True) -> Sample:
    """Read a PCD-format sample: points (and normals if stored) from the PCD, or from the GT file when anomalous.

    Raises:
        DataError: missing/unreadable PCD or GT file, GT/PCD point-count mismatch (``strict_gt``), NaN points.
    """
    pcd_path = record.files["pcd"]
    extras: dict[str, object] = {"pcd_path": pcd_path}
    if record.label == 1:
        points, labels = _gt_points_and_labels(record, strict_gt)
        source = record.files["gt_txt"]
        normals = None
    else:
        cloud = read_pcd(pcd_path)
        points, normals, source = cloud.points, cloud.normals, pcd_path
        labels = np.zeros(points.shape[0], dtype=np.uint8)
        if cloud.colors is not None:
            extras["colors"] = cloud.colors
    if "mesh" in record.files and record.files["mesh"].is_file():
        extras["mesh_path"] = record.files["mesh"]
    return Sample(
        points=points,
        category=record.category,
        split=record.split,
        name=record.name,
        label=record.label,
        defect_type=record.defect_type,
        point_labels=labels,
        normals=normals,
        source=source,
        extras=extras,
    )


def check_pcd_record(record: SampleRecord, *, deep: bool = False) -> None:
    """Cheap readability check: the PCD header and data size, and for anomalous samples the GT file's first row
    (``deep=True`` also counts the GT rows against the PCD's ``POINTS`` and reads the PCD fully).

    Raises:
        DataError: naming the first bad file.
    """
    header = check_pcd(record.files["pcd"], deep=deep)
    if header.points == 0:
        raise DataError(f"{record.files['pcd']}: the cloud has 0 points")
    if record.label == 1:
        gt = record.files["gt_txt"]
        if not gt.is_file():
            raise DataError(
                f"{gt}: ground-truth file missing for anomalous test sample {record.files['pcd']}"
            )
        sniff_gt_delimiter(gt)
        if deep:
            rows = count_gt_rows(gt)
            if rows != header.points:
                raise DataError(
                    f"{gt} has {rows} rows but {record.files['pcd']} has {header.points} points "
                    "(PCD header POINTS)"
                )
