"""Real3D-AD: ``<cat>/train/*template*.pcd``, ``<cat>/test/*.pcd``, ``<cat>/gt/<stem>.txt``.

As in the official loader (``dataset_pc.py`` of M-3LAB/Real3D-AD): training samples are the files whose name
contains ``template``; a test file whose name contains ``good`` is normal, any other is anomalous and its points
and labels come from ``gt/<stem>.txt`` (space-separated ``x y z label``); test files whose name contains ``temp``
are skipped. Test clouds hold up to ~780k points and templates up to ~2.7M, so :func:`load_split` is lazy.
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

from anomaly3d.data.formats.pcd_gt import check_pcd_record, load_pcd_sample, split_name_tokens
from anomaly3d.data.formats.records import (
    LazySamples,
    SampleRecord,
    check_split,
    child,
    list_files,
    require_dir,
    subdirs,
)
from anomaly3d.data.sample import GOOD, DataError, Sample

__all__ = [
    "CATEGORIES",
    "DATASET_ID",
    "DEFECT_TYPES",
    "SPLITS",
    "check_record",
    "index_split",
    "list_categories",
    "load_sample",
    "load_split",
    "parse_test_name",
]

DATASET_ID = "real3d-ad"
CATEGORIES = (
    "airplane",
    "car",
    "candybar",
    "chicken",
    "diamond",
    "duck",
    "fish",
    "gemstone",
    "seahorse",
    "shell",
    "starfish",
    "toffees",
)
SPLITS = ("train", "test")
DEFECT_TYPES = ("bulge", "sink")


def list_categories(root: str | os.PathLike[str]) -> list[str]:
    """Category folders under ``root`` (those holding train/ or test/), official order first."""
    found = [d.name for d in subdirs(Path(root)) if (d / "train").is_dir() or (d / "test").is_dir()]
    return [c for c in CATEGORIES if c in found] + sorted(c for c in found if c not in CATEGORIES)


def parse_test_name(stem: str) -> tuple[int, str]:
    """``(label, defect_type)`` of a test file stem: ``good`` anywhere → normal, else the first known defect
    word (``bulge``/``sink``), else the alphabetic part of the name (e.g. ``cut``)."""
    if "good" in stem.lower():
        return 0, GOOD
    tokens = [t.lower() for t in split_name_tokens(stem)]
    for t in tokens:
        if t in DEFECT_TYPES:
            return 1, t
    return 1, "_".join(tokens) or "anomalous"


def index_split(root: str | os.PathLike[str], category: str, split: str) -> list[SampleRecord]:
    """List one split's samples without reading them.

    Raises:
        ValueError: unknown split.
        DataError: missing category/split folder, or a train folder without ``*template*.pcd`` files.
    """
    check_split(split, SPLITS, DATASET_ID)
    cat_dir = require_dir(
        Path(root) / category,
        f"Real3D-AD category {category!r}",
        hint="pass the folder real3d-ad-pcd.zip extracts to as root",
    )
    split_dir = require_dir(cat_dir / split, f"{split!r} split")
    pcds = list_files(split_dir, (".pcd",))
    records = []
    if split == "train":
        templates = [p for p in pcds if "template" in p.name]
        if not templates:
            raise DataError(
                f"{split_dir}: no '*template*.pcd' training files (found {len(pcds)} other .pcd: "
                f"{', '.join(p.name for p in pcds[:5])}); the official loader reads only templates"
            )
        for p in templates:
            records.append(SampleRecord(DATASET_ID, category, split, p.stem, 0, GOOD, {"pcd": p}))
        return records
    gt_dir = child(cat_dir, "gt")
    for p in pcds:
        if "temp" in p.name:  # the official test loader skips these
            continue
        label, defect = parse_test_name(p.stem)
        files = {"pcd": p} if label == 0 else {"pcd": p, "gt_txt": gt_dir / f"{p.stem}.txt"}
        records.append(SampleRecord(DATASET_ID, category, split, p.stem, label, defect, files))
    return records


def check_record(record: SampleRecord, *, deep: bool = False) -> None:
    """Cheap readability check of one sample (see :func:`anomaly3d.data.formats.pcd_gt.check_pcd_record`)."""
    check_pcd_record(record, deep=deep)


def load_sample(record: SampleRecord, *, strict_gt: bool = True) -> Sample:
    """Read one Real3D-AD sample (anomalous: points and labels from the GT file, exactly as the official
    evaluation). ``strict_gt`` makes a GT/PCD point-count mismatch an error instead of a warning."""
    return load_pcd_sample(record, strict_gt=strict_gt)


def load_split(
    root: str | os.PathLike[str], category: str, split: str, *, strict_gt: bool = True, cache: bool = False
) -> LazySamples:
    """All samples of ``category``/``split`` as a lazy sequence (one cloud read per access).

    Raises:
        ValueError: unknown split.
        DataError: missing folders now; unreadable or inconsistent files when a sample is accessed.
    """
    return LazySamples(
        index_split(root, category, split), partial(load_sample, strict_gt=strict_gt), cache=cache
    )
