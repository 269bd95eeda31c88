"""Builders of tiny datasets in each exact on-disk format, written with anomaly3d.data.io's writers.

Each builder writes a few categories with a known number of samples per split and returns the expected counts
({category: {count_key: n}}); ``write_manifest`` turns those into a MANIFEST.json so ``verify`` checks the folder
against them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import trimesh
from anomaly3d.data.io import write_gt_txt, write_obj, write_off, write_pcd, write_png, write_xyz_tiff
from anomaly3d.data.manifest import CategorySpec, Manifest, manifest_to_dict

Counts = dict[str, dict[str, int]]


def organized_scan(rng: np.random.Generator, h: int = 12, w: int = 10, hole: bool = True) -> np.ndarray:
    """An (H, W, 3) float32 height field with an unmeasured (zero) border column and a zero hole."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    xyz = np.stack([xs * 0.01 + 0.1, ys * 0.01 + 0.1, 0.5 + 0.001 * rng.random((h, w))], axis=2).astype(
        np.float32
    )
    xyz[:, 0] = 0  # unmeasured column
    if hole:
        xyz[h // 2, w // 2] = 0
    return xyz


def build_mvtec(root: Path, categories: tuple[str, ...] = ("bagel", "cookie"), seed: int = 0) -> Counts:
    rng = np.random.default_rng(seed)
    layout = {("train", "good"): 2, ("validation", "good"): 1, ("test", "good"): 1, ("test", "crack"): 2}
    for cat in categories:
        for (split, defect), n in layout.items():
            for i in range(n):
                base = root / cat / split / defect
                xyz = organized_scan(rng)
                write_xyz_tiff(base / "xyz" / f"{i:03d}.tiff", xyz)
                write_png(
                    base / "rgb" / f"{i:03d}.png", rng.integers(0, 256, (*xyz.shape[:2], 3), dtype=np.uint8)
                )
                if split == "test":
                    mask = np.zeros(xyz.shape[:2], dtype=bool)
                    if defect != "good":
                        mask[2:5, 3:6] = True
                    write_png(base / "gt" / f"{i:03d}.png", mask)
    return {c: {"train": 2, "validation": 1, "test_good": 1, "test_defect": 2} for c in categories}


def cloud(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.normal(size=(n, 3)).astype(np.float32)


def build_real3d(
    root: Path, categories: tuple[str, ...] = ("airplane", "car"), seed: int = 0, data: str = "binary"
) -> Counts:
    rng = np.random.default_rng(seed)
    for cat in categories:
        for i in (1, 2):
            write_pcd(root / cat / "train" / f"{i}_template.pcd", cloud(rng, 50), data=data)
        write_pcd(root / cat / "test" / "1_good.pcd", cloud(rng, 40), data=data)
        for stem in ("2_bulge", "3_sink"):
            pts = cloud(rng, 30)
            labels = (np.arange(30) < 5).astype(np.uint8)
            write_pcd(root / cat / "test" / f"{stem}.pcd", pts, data=data)
            write_gt_txt(root / cat / "gt" / f"{stem}.txt", pts, labels, delimiter=" ")
    return {c: {"train": 2, "test_good": 1, "test_defect": 2} for c in categories}


def build_anomaly_shapenet(
    root: Path,
    categories: tuple[str, ...] = ("ashtray0", "bag0"),
    seed: int = 0,
    layout: str = "v1",
    data: str = "ascii",
) -> Counts:
    rng = np.random.default_rng(seed)
    pcd_root = root if layout == "v1" else root / "dataset" / "pcd"
    for cat in categories:
        base = pcd_root / cat
        for i in range(2):
            sphere = trimesh.creation.icosphere(subdivisions=1, radius=1.0 + 0.1 * i)
            write_pcd(base / "train" / f"{cat}_template{i}.pcd", sphere.vertices, data=data)
            if layout == "v2":
                write_obj(
                    root / "dataset" / "obj" / cat / f"{cat}_template{i}.obj", sphere.vertices, sphere.faces
                )
        write_pcd(base / "test" / f"{cat}_positive0.pcd", cloud(rng, 25), data=data)
        for stem in (f"{cat}_bulge0", f"{cat}_crack1"):
            pts = cloud(rng, 20)
            write_pcd(base / "test" / f"{stem}.pcd", pts, data=data)
            write_gt_txt(
                base / "GT" / f"{stem}.txt", pts, (np.arange(20) % 4 == 0).astype(np.uint8), delimiter=","
            )
    return {c: {"train": 2, "test_good": 1, "test_defect": 2} for c in categories}


def build_modelnet10(root: Path, categories: tuple[str, ...] = ("bed", "chair")) -> Counts:
    box = trimesh.creation.box(extents=(1.0, 2.0, 0.5))
    for cat in categories:
        for i in range(2):
            write_off(
                root / cat / "train" / f"{cat}_{i + 1:04d}.off", box.vertices, box.faces, fused_header=i == 0
            )
        write_off(root / cat / "test" / f"{cat}_0100.off", box.vertices, box.faces)
    return {c: {"train": 2, "test": 1} for c in categories}


def write_manifest(root: Path, fmt: str, counts: Counts, *, splits: tuple[str, ...] | None = None) -> Path:
    """Write a MANIFEST.json (the schema of anomaly3d.data.manifest) describing ``counts``."""
    if splits is None:
        splits = ("train", "validation", "test") if fmt == "mvtec3d-ad" else ("train", "test")
    cats = {name: CategorySpec(name=name, counts=dict(c)) for name, c in counts.items()}
    m = Manifest(
        id=f"tiny-{fmt}",
        name=f"tiny {fmt}",
        format=fmt,
        schema_version=1,
        categories=cats,
        splits=splits,
        synthetic=True,
    )
    path = root / "MANIFEST.json"
    path.write_text(json.dumps(manifest_to_dict(m), indent=1), encoding="utf-8")
    return path


BUILDERS: dict[str, Callable[..., Counts]] = {
    "mvtec3d-ad": build_mvtec,
    "real3d-ad": build_real3d,
    "anomaly-shapenet": build_anomaly_shapenet,
    "modelnet10": build_modelnet10,
}


@pytest.fixture
def builders() -> SimpleNamespace:
    return SimpleNamespace(
        mvtec=build_mvtec,
        real3d=build_real3d,
        anomaly_shapenet=build_anomaly_shapenet,
        modelnet10=build_modelnet10,
        write_manifest=write_manifest,
        by_format=BUILDERS,
        organized_scan=organized_scan,
    )
