"""ModelNet10: OFF meshes ``<class>/{train,test}/<class>_NNNN.off``, sampled to point clouds.

3D-ST (Bergmann & Sattlegger) pretrains its teacher on scenes of ModelNet10 objects reduced to points by
farthest point sampling. Each sample here is one mesh turned into ``n_points`` points by

* ``sampling="uniform"``: area-uniform surface sampling;
* ``sampling="fps"``: ``oversample × n_points`` area-uniform points, then farthest point sampling down to
  ``n_points`` (an even spread, as 3D-ST's FPS);
* ``sampling="vertices"``: the mesh vertices as they are (``n_points`` ignored).

Normals are the normals of the faces the points lie on (``None`` for ``"vertices"``). The draw is
reproducible: the generator is seeded with ``(seed, CRC32 of the file name)``.
"""

from __future__ import annotations

import os
import zlib
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
from anomaly3d.data.io import read_off, read_off_counts
from anomaly3d.data.mesh_sampling import farthest_point_indices, sample_surface
from anomaly3d.data.sample import GOOD, DataError, Sample

__all__ = [
    "CATEGORIES",
    "DATASET_ID",
    "SAMPLING",
    "SPLITS",
    "check_record",
    "index_split",
    "list_categories",
    "load_sample",
    "load_split",
]

DATASET_ID = "modelnet10"
CATEGORIES = (
    "bathtub",
    "bed",
    "chair",
    "desk",
    "dresser",
    "monitor",
    "night_stand",
    "sofa",
    "table",
    "toilet",
)
SPLITS = ("train", "test")
SAMPLING = ("uniform", "fps", "vertices")


def list_categories(root: str | os.PathLike[str]) -> list[str]:
    """Class folders under ``root`` (holding train/ or test/), official order first."""
    found = [d.name for d in subdirs(Path(root)) if (d / "train").is_dir() or (d / "test").is_dir()]
    return [c for c in CATEGORIES if c in found] + sorted(c for c in found if c not in CATEGORIES)


def index_split(root: str | os.PathLike[str], category: str, split: str) -> list[SampleRecord]:
    """One record per ``.off`` file (macOS ``._*`` files are skipped).

    Raises:
        ValueError: unknown split.
        DataError: missing class or split folder.
    """
    check_split(split, SPLITS, DATASET_ID)
    cat_dir = require_dir(
        Path(root) / category,
        f"ModelNet10 class {category!r}",
        hint="pass the ModelNet10/ folder inside ModelNet10.zip as root",
    )
    split_dir = require_dir(cat_dir / split, f"{split!r} split")
    return [
        SampleRecord(DATASET_ID, category, split, p.stem, 0, GOOD, {"off": p})
        for p in list_files(split_dir, (".off",))
    ]


def check_record(record: SampleRecord, *, deep: bool = False) -> None:
    """Cheap check: the OFF header and counts, and that the last line is a complete face (``deep`` parses all).

    Raises:
        DataError: naming the file.
    """
    path = record.files["off"]
    nv, nf = read_off_counts(path)
    if nv == 0 or nf == 0:
        raise DataError(f"{path}: OFF mesh declares {nv} vertices and {nf} faces; nothing to sample")
    if deep:
        read_off(path)
        return
    with open(path, "rb") as fh:
        fh.seek(max(path.stat().st_size - 4096, 0))
        tail = fh.read().decode("ascii", errors="replace").split("#")[0]
    lines = [ln.strip() for ln in tail.splitlines() if ln.strip()]
    try:
        tok = [int(t) for t in lines[-1].split()] if lines else []
    except ValueError:
        tok = []
    if not tok or len(tok) < 1 + tok[0] or tok[0] < 3:
        raise DataError(
            f"{path}: the file does not end with a complete face line (truncated download?); re-download it"
        )


def load_sample(
    record: SampleRecord,
    *,
    n_points: int = 2048,
    sampling: str = "uniform",
    oversample: int = 8,
    seed: int = 0,
) -> Sample:
    """Read one mesh and turn it into a point cloud (see the module docstring).

    Raises:
        ValueError: bad options.
        DataError: unreadable OFF or a mesh without area.
    """
    if sampling not in SAMPLING:
        raise ValueError(f"sampling must be one of {SAMPLING}, got {sampling!r}")
    path = record.files["off"]
    mesh = read_off(path)
    extras: dict[str, object] = {
        "sampling": sampling,
        "n_vertices": int(mesh.vertices.shape[0]),
        "n_faces": int(mesh.faces.shape[0]),
    }
    if sampling == "vertices":
        if mesh.vertices.shape[0] == 0:
            raise DataError(f"{path}: the mesh has no vertices")
        return Sample(
            points=mesh.vertices.astype(np.float32),
            category=record.category,
            split=record.split,
            name=record.name,
            source=path,
            extras=extras,
        )
    rng = np.random.default_rng([seed, zlib.crc32(path.name.encode())])
    try:
        if sampling == "uniform":
            points, normals = sample_surface(mesh.vertices, mesh.faces, n_points, rng)
        else:
            dense, dense_normals = sample_surface(mesh.vertices, mesh.faces, n_points * oversample, rng)
            keep = farthest_point_indices(dense, n_points, start=int(rng.integers(dense.shape[0])))
            points, normals = dense[keep], dense_normals[keep]
    except DataError as exc:
        raise DataError(f"{path}: {exc}") from None
    return Sample(
        points=points,
        category=record.category,
        split=record.split,
        name=record.name,
        normals=normals,
        source=path,
        extras=extras,
    )


def load_split(
    root: str | os.PathLike[str],
    category: str,
    split: str,
    *,
    n_points: int = 2048,
    sampling: str = "uniform",
    oversample: int = 8,
    seed: int = 0,
    cache: bool = False,
) -> LazySamples:
    """All meshes of ``category``/``split`` as a lazy sequence of sampled point clouds.

    Raises:
        ValueError: unknown split or sampling, ``n_points``/``oversample`` < 1.
        DataError: missing folders now; unreadable meshes when a sample is accessed.
    """
    if sampling not in SAMPLING:
        raise ValueError(f"sampling must be one of {SAMPLING}, got {sampling!r}")
    if n_points < 1 or oversample < 1:
        raise ValueError(f"n_points and oversample must be >= 1, got {n_points}, {oversample}")
    loader = partial(load_sample, n_points=n_points, sampling=sampling, oversample=oversample, seed=seed)
    return LazySamples(index_split(root, category, split), loader, cache=cache)
