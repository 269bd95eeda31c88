"""Anomaly-ShapeNet (v1 and v2 layouts): ``<cls>/train/<cls>_template<i>.pcd``, ``<cls>/test/<cls>_<type><i>.pcd``,
``<cls>/GT/<cls>_<type><i>.txt`` (comma-separated ``x,y,z,label``) and optional ``obj/<cls>/*.obj`` meshes.

Layouts: the v1 archive's ``pcd`` folder holds the category folders directly; v2 (``Anomaly-ShapeNet-v2/``)
puts them under ``dataset/pcd/`` with the meshes in ``dataset/obj/`` and the 10 post-paper categories in
``dataset/new_pcd/``. ``root`` may be any of these folders: a category is looked up under ``root``, ``pcd/``,
``new_pcd/``, ``dataset/pcd/``, ``dataset/new_pcd/`` (first hit wins).

Test labels come from the file name (``positive`` = normal, mapped to ``good``); anomalous samples take their
points and labels from the GT file, as PO3AD's and IMRNet's evaluation do. PO3AD trains on the template *meshes*
(vertices with vertex normals): ``load_split(..., "train", use_mesh=True)``.
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

import numpy as np

from anomaly3d.data.formats.pcd_gt import check_pcd_record, load_pcd_sample, split_name_tokens
from anomaly3d.data.formats.records import LazySamples, SampleRecord, check_split, child, list_files, subdirs
from anomaly3d.data.io import read_obj
from anomaly3d.data.sample import GOOD, DataError, Sample

__all__ = [
    "CATEGORIES",
    "CONTAINERS",
    "DATASET_ID",
    "NORMAL_NAMES",
    "SPLITS",
    "category_dir",
    "check_record",
    "index_split",
    "layout_version",
    "list_categories",
    "load_sample",
    "load_split",
    "parse_test_name",
]

DATASET_ID = "anomaly-shapenet"
CATEGORIES = (
    "ashtray0",
    "bag0",
    "bottle0",
    "bottle1",
    "bottle3",
    "bowl0",
    "bowl1",
    "bowl2",
    "bowl3",
    "bowl4",
    "bowl5",
    "bucket0",
    "bucket1",
    "cap0",
    "cap3",
    "cap4",
    "cap5",
    "cup0",
    "cup1",
    "eraser0",
    "headset0",
    "headset1",
    "helmet0",
    "helmet1",
    "helmet2",
    "helmet3",
    "jar0",
    "microphone0",
    "shelf0",
    "tap0",
    "tap1",
    "vase0",
    "vase1",
    "vase2",
    "vase3",
    "vase4",
    "vase5",
    "vase7",
    "vase8",
    "vase9",
)
"""The 40 categories of the paper (names as in PO3AD Table 1 and the dataset folders)."""
SPLITS = ("train", "test")
NORMAL_NAMES = ("positive", "good")
CONTAINERS = (".", "pcd", "new_pcd", "dataset/pcd", "dataset/new_pcd")
MESH_NORMALS = ("computed", "file")


def _is_category(d: Path) -> bool:
    return (d / "train").is_dir() or (d / "test").is_dir()


def list_categories(root: str | os.PathLike[str]) -> list[str]:
    """Category folders found in any of the layout's containers, the paper's 40 first."""
    root = Path(root)
    found: list[str] = []
    for cont in CONTAINERS:
        for d in subdirs(root / cont):
            if _is_category(d) and d.name not in found:
                found.append(d.name)
    return [c for c in CATEGORIES if c in found] + sorted(c for c in found if c not in CATEGORIES)


def layout_version(root: str | os.PathLike[str]) -> str:
    """``"v2"`` when ``root`` has a ``pcd/`` or ``dataset/pcd/`` folder (Anomaly-ShapeNet-v2), else ``"v1"``."""
    root = Path(root)
    return "v2" if (root / "pcd").is_dir() or (root / "dataset" / "pcd").is_dir() else "v1"


def category_dir(root: str | os.PathLike[str], category: str) -> Path:
    """The folder of ``category`` under ``root`` (see the module docstring for the places searched).

    Raises:
        DataError: not found, listing the places tried.
    """
    root = Path(root)
    tried = [root / cont / category for cont in CONTAINERS]
    for cand in tried:
        if cand.is_dir() and _is_category(cand):
            return cand
    raise DataError(
        f"{root / category}: Anomaly-ShapeNet category {category!r} not found; looked in "
        + ", ".join(str(t.parent) for t in tried)
    )


def _mesh_dir(cat_dir: Path) -> Path:
    for cand in (cat_dir.parent.parent / "obj" / cat_dir.name, cat_dir.parent / "obj" / cat_dir.name):
        if cand.is_dir():
            return cand
    return cat_dir.parent.parent / "obj" / cat_dir.name


def parse_test_name(stem: str, category: str) -> tuple[int, str]:
    """``(label, defect_type)`` from a test file stem such as ``ashtray0_bulge3`` or ``vase1_positive4``.

    The ``<category>_`` prefix and digits are dropped; ``positive`` (or ``good``) means normal → ``good``.
    """
    rest = stem[len(category) + 1 :] if stem.startswith(category + "_") else stem
    tokens = [t.lower() for t in split_name_tokens(rest)]
    if any(t in NORMAL_NAMES for t in tokens):
        return 0, GOOD
    return 1, "_".join(tokens) or "anomalous"


def index_split(root: str | os.PathLike[str], category: str, split: str) -> list[SampleRecord]:
    """List one split's samples without reading them.

    Raises:
        ValueError: unknown split.
        DataError: the category or split folder is missing, or the split holds no ``.pcd``.
    """
    check_split(split, SPLITS, DATASET_ID)
    cat_dir = category_dir(root, category)
    split_dir = cat_dir / split
    if not split_dir.is_dir():
        raise DataError(f"{split_dir}: {split!r} split folder not found")
    pcds = list_files(split_dir, (".pcd",))
    if not pcds:
        raise DataError(f"{split_dir}: no .pcd files")
    mesh_dir = _mesh_dir(cat_dir)
    gt_dir = child(cat_dir, "GT")
    records = []
    for p in pcds:
        files = {"pcd": p, "mesh": mesh_dir / f"{p.stem}.obj"}
        if split == "train":
            label, defect = 0, GOOD
        else:
            label, defect = parse_test_name(p.stem, category)
            if label == 1:
                files["gt_txt"] = gt_dir / f"{p.stem}.txt"
        records.append(SampleRecord(DATASET_ID, category, split, p.stem, label, defect, files))
    return records


def check_record(record: SampleRecord, *, deep: bool = False) -> None:
    """Cheap readability check of one sample (see :func:`anomaly3d.data.formats.pcd_gt.check_pcd_record`)."""
    check_pcd_record(record, deep=deep)


def _vertex_normals_o3d(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    import open3d as o3d

    mesh = o3d.geometry.TriangleMesh(
        o3d.utility.Vector3dVector(vertices.astype(np.float64)),
        o3d.utility.Vector3iVector(faces.astype(np.int32)),
    )
    mesh.compute_vertex_normals()
    return np.asarray(mesh.vertex_normals, dtype=np.float32)


def load_sample(
    record: SampleRecord, *, strict_gt: bool = True, use_mesh: bool = False, mesh_normals: str = "computed"
) -> Sample:
    """Read one Anomaly-ShapeNet sample.

    Args:
        record: from :func:`index_split`.
        strict_gt: a GT/PCD point-count mismatch raises (True) or warns (False).
        use_mesh: train split only — take the template mesh's vertices and vertex normals (PO3AD) instead of
            the PCD.
        mesh_normals: ``"computed"`` (Open3D ``compute_vertex_normals``, what PO3AD does) or ``"file"`` (the
            OBJ's ``vn``; error if absent).

    Raises:
        DataError: missing/unreadable files, GT/PCD mismatch, OBJ without normals for ``mesh_normals="file"``.
    """
    if mesh_normals not in MESH_NORMALS:
        raise ValueError(f"mesh_normals must be one of {MESH_NORMALS}, got {mesh_normals!r}")
    if not use_mesh:
        return load_pcd_sample(record, strict_gt=strict_gt)
    if record.split != "train":
        raise ValueError(
            "use_mesh applies to the train split; test samples are evaluated on the PCD/GT points"
        )
    mesh_path = record.files["mesh"]
    if not mesh_path.is_file():
        raise DataError(
            f"{mesh_path}: template mesh not found for {record.files['pcd']} (meshes ship in the "
            "obj/ folder of Anomaly-ShapeNet-v2); load without use_mesh to use the PCD"
        )
    mesh = read_obj(mesh_path)
    if mesh_normals == "file":
        if mesh.vertex_normals is None:
            raise DataError(f"{mesh_path}: the OBJ has no per-vertex normals; use mesh_normals='computed'")
        normals = mesh.vertex_normals
    else:
        normals = _vertex_normals_o3d(mesh.vertices, mesh.faces)
    return Sample(
        points=mesh.vertices.astype(np.float32),
        category=record.category,
        split=record.split,
        name=record.name,
        label=0,
        defect_type=GOOD,
        point_labels=np.zeros(mesh.vertices.shape[0], dtype=np.uint8),
        normals=normals,
        source=mesh_path,
        extras={"pcd_path": record.files["pcd"], "mesh_path": mesh_path, "faces": mesh.faces},
    )


def load_split(
    root: str | os.PathLike[str],
    category: str,
    split: str,
    *,
    strict_gt: bool = True,
    use_mesh: bool = False,
    mesh_normals: str = "computed",
    cache: bool = False,
) -> LazySamples:
    """All samples of ``category``/``split`` as a lazy sequence.

    Raises:
        ValueError: unknown split/option, or ``use_mesh`` on the test split.
        DataError: missing folders now; unreadable files when a sample is accessed.
    """
    if mesh_normals not in MESH_NORMALS:
        raise ValueError(f"mesh_normals must be one of {MESH_NORMALS}, got {mesh_normals!r}")
    if use_mesh and split != "train":
        raise ValueError(
            "use_mesh applies to the train split; test samples are evaluated on the PCD/GT points"
        )
    loader = partial(load_sample, strict_gt=strict_gt, use_mesh=use_mesh, mesh_normals=mesh_normals)
    return LazySamples(index_split(root, category, split), loader, cache=cache)
