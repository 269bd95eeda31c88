"""Writing generated samples in the exact on-disk formats of the three real datasets.

Every file goes through :mod:`anomaly3d.data.io` (atomic, deterministic bytes), so the benchmark exercises the
same readers as the real data:

``anomaly-shapenet`` (the Anomaly-ShapeNet-v2 layout)
    ``<root>/dataset/pcd/<cls>/train/<cls>_template<i>.pcd`` (ascii PCD with normals),
    ``test/<cls>_positive<j>.pcd`` (normal), ``test/<cls>_<type><j>.pcd``, ``GT/<cls>_<type><j>.txt``
    (comma-separated ``x,y,z,label``) and the template meshes
    ``<root>/dataset/obj/<cls>/<cls>_template<i>.obj`` (vertices, vertex normals, faces). Category names are the plain shape names (``bottle``, not the
    dataset's ``bottle0``): one procedural family per name.
``real3d-ad``
    ``<root>/<cls>/train/<i>_template.pcd`` (binary PCD with normals), ``test/<k>_good.pcd``,
    ``test/<k>_<type>.pcd``, ``gt/<k>_<type>.txt`` (space-separated ``x y z label``).
``mvtec3d-ad``
    ``<root>/<cls>/{train,validation}/good/{rgb,xyz}/<nnn>.{png,tiff}``,
    ``test/<type>/{rgb,xyz,gt}/<nnn>.{png,tiff,png}`` (test/good has all-zero masks) and
    ``calibration/camera_parameters.json`` (pinhole intrinsics of the synthetic camera).

Each root also gets ``MANIFEST.json`` (the schema of :mod:`anomaly3d.data.manifest`, so
:func:`anomaly3d.data.verify.verify` checks counts and files) and ``SYNTHETIC.json`` (generator version,
profile, seed and one line per sample: anomalous fraction, severity, target fraction).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from anomaly3d.data.io import atomic_path, write_gt_txt, write_obj, write_pcd, write_png, write_xyz_tiff
from anomaly3d.data.manifest import MANIFEST_JSON, manifest_to_dict, parse_manifest
from anomaly3d.data.sample import GOOD
from anomaly3d.data.synthetic.samples import CloudSample
from anomaly3d.data.synthetic.scan import Camera
from anomaly3d.data.synthetic.scene import ImageSample

__all__ = [
    "STAMP_JSON",
    "anomaly_shapenet_paths",
    "real3d_paths",
    "write_anomaly_shapenet",
    "write_camera",
    "write_json",
    "write_manifest",
    "write_mvtec",
    "write_real3d",
]

STAMP_JSON = "SYNTHETIC.json"


def write_json(path: Path, data: Any) -> Path:
    """Write ``data`` as indented JSON (keys in insertion order, LF endings) atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path


def anomaly_shapenet_paths(root: Path, category: str, split: str, defect: str, index: int) -> dict[str, Path]:
    """Where one Anomaly-ShapeNet-format sample goes (``pcd``, and ``gt``/``obj`` when written)."""
    cat = root / "dataset" / "pcd" / category
    if split == "train":
        stem = f"{category}_template{index}"
        return {
            "pcd": cat / "train" / f"{stem}.pcd",
            "obj": root / "dataset" / "obj" / category / f"{stem}.obj",
        }
    stem = f"{category}_{'positive' if defect == GOOD else defect}{index}"
    return {"pcd": cat / "test" / f"{stem}.pcd", "gt": cat / "GT" / f"{stem}.txt"}


def write_anomaly_shapenet(root: Path, sample: CloudSample, split: str, index: int) -> dict[str, Path]:
    """Write one sample in the Anomaly-ShapeNet format (templates also get their OBJ mesh with normals)."""
    paths = anomaly_shapenet_paths(root, sample.category, split, sample.defect_type, index)
    write_pcd(paths["pcd"], sample.points, normals=sample.normals, data="ascii")
    if split == "train":
        mesh = sample.mesh
        write_obj(paths["obj"], mesh.vertices, mesh.faces, normals=mesh.vertex_normals)
    elif sample.defect_type != GOOD:
        write_gt_txt(paths["gt"], sample.points, sample.labels, delimiter=",")
    else:
        paths.pop("gt")
    return paths


def real3d_paths(root: Path, category: str, split: str, defect: str, index: int) -> dict[str, Path]:
    """Where one Real3D-AD-format sample goes."""
    cat = root / category
    if split == "train":
        return {"pcd": cat / "train" / f"{index}_template.pcd"}
    stem = f"{index}_{defect}"
    return {"pcd": cat / "test" / f"{stem}.pcd", "gt": cat / "gt" / f"{stem}.txt"}


def write_real3d(root: Path, sample: CloudSample, split: str, index: int) -> dict[str, Path]:
    """Write one sample in the Real3D-AD format (GT text only for anomalous test samples, as in the
    dataset)."""
    paths = real3d_paths(root, sample.category, split, sample.defect_type, index)
    write_pcd(paths["pcd"], sample.points, normals=sample.normals, data="binary")
    if split != "train" and sample.defect_type != GOOD:
        write_gt_txt(paths["gt"], sample.points, sample.labels, delimiter=" ")
    else:
        paths.pop("gt", None)
    return paths


def write_mvtec(root: Path, sample: ImageSample, split: str, index: int) -> dict[str, Path]:
    """Write one sample in the MVTec 3D-AD format (test samples, good ones included, get a mask)."""
    base = root / sample.category / split / sample.defect_type
    paths = {"xyz": base / "xyz" / f"{index:03d}.tiff", "rgb": base / "rgb" / f"{index:03d}.png"}
    write_xyz_tiff(paths["xyz"], sample.xyz)
    write_png(paths["rgb"], sample.rgb)
    if split == "test":
        paths["gt"] = base / "gt" / f"{index:03d}.png"
        write_png(paths["gt"], sample.mask.astype(bool))
    return paths


def write_camera(root: Path, category: str, camera: Camera) -> Path:
    """``<root>/<category>/calibration/camera_parameters.json``: pinhole intrinsics in pixels and metres."""
    data = {
        "camera_type": "pinhole",
        "fx": camera.f,
        "fy": camera.f,
        "cx": camera.cx,
        "cy": camera.cy,
        "image_width": camera.width,
        "image_height": camera.height,
        "units": "m",
        "note": "synthetic camera of the anomaly3d embedded benchmark; xyz images are in this camera frame",
    }
    return write_json(root / category / "calibration" / "camera_parameters.json", data)


_NAMES = {"anomaly-shapenet": "Anomaly-ShapeNet", "real3d-ad": "Real3D-AD", "mvtec3d-ad": "MVTec 3D-AD"}
_LAYOUTS = {
    "anomaly-shapenet": (
        "<root>/dataset/pcd/<cls>/{train,test,GT}/..., <root>/dataset/obj/<cls>/<cls>_template<i>.obj"
    ),
    "real3d-ad": (
        "<root>/<cls>/train/<i>_template.pcd, <root>/<cls>/test/<k>_<type>.pcd, "
        "<root>/<cls>/gt/<k>_<type>.txt"
    ),
    "mvtec3d-ad": (
        "<root>/<cls>/{train,validation}/good/{rgb,xyz}/NNN.*, <root>/<cls>/test/<type>/{rgb,xyz,gt}/NNN.*"
    ),
}


def write_manifest(
    root: Path,
    fmt: str,
    counts: Mapping[str, Mapping[str, int]],
    defect_types: Sequence[str],
    description: str,
    notes: Sequence[str],
) -> Path:
    """Write ``MANIFEST.json`` for a generated benchmark (validated with the manifest parser first).

    Args:
        counts: ``category -> {"train": n, "validation": n, "test_good": n, "test_defect": n}``.
    """
    splits = ["train", "validation", "test"] if fmt == "mvtec3d-ad" else ["train", "test"]
    data: dict[str, Any] = {
        "schema_version": 1,
        "id": f"synthetic-{fmt}",
        "name": f"anomaly3d synthetic benchmark ({_NAMES[fmt]} format)",
        "format": fmt,
        "synthetic": True,
        "description": description,
        "source_page": "",
        "license": "MIT (generated by anomaly3d)",
        "citation": "",
        "layout": _LAYOUTS[fmt],
        "splits": splits,
        "notes": list(notes),
        "archives": [],
        "categories": {
            cat: {**{k: int(v) for k, v in c.items()}, "defect_types": list(defect_types), "note": ""}
            for cat, c in counts.items()
        },
    }
    manifest = parse_manifest(data, where=str(root / MANIFEST_JSON))
    return write_json(root / MANIFEST_JSON, manifest_to_dict(manifest))
