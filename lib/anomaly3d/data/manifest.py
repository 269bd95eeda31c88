"""Dataset manifests: what a correctly downloaded dataset (or an embedded benchmark) contains.

One manifest per dataset ships in the repository's ``data_manifest/`` folder as TOML (``mvtec3d-ad.toml``,
``real3d-ad.toml``, ``anomaly-shapenet.toml``, ``modelnet10.toml``). The folder is found at
``Path(__file__).parents[3] / "data_manifest"`` unless the environment variable ``ANOMALY3D_MANIFEST_DIR``
points elsewhere. A benchmark written by :mod:`anomaly3d.data.synthetic` carries its own ``MANIFEST.json`` in
its root folder with the *same keys*; :func:`find_manifest` (and therefore ``verify``) prefers that file.

Schema (TOML shown; JSON uses the same keys, ``null`` = unknown)::

    schema_version = 1                      # int, required; this module reads version 1
    id = "real3d-ad"                        # str, required; the dataset id
    name = "Real3D-AD"                      # str, human-readable name
    format = "real3d-ad"                    # str, which loader reads the files (default: id). One of
                                            #   mvtec3d-ad | real3d-ad | anomaly-shapenet | modelnet10
    synthetic = false                       # bool, true for an embedded/synthetic benchmark
    description = "..."                     # str
    source_page = "https://..."             # str, official page
    license = "CC BY 4.0"                   # str; "" when not confirmed (say why in notes)
    citation = '''@inproceedings{...}'''    # str, BibTeX
    layout = '''<root>/<category>/...'''    # str, expected directory layout (free text, shown by verify)
    splits = ["train", "test"]              # list[str], splits present per category
    notes = ["..."]                         # list[str], caveats: unconfirmed numbers, version differences

    [[archives]]                            # zero or more downloadable archives
    name = "real3d-ad-pcd.zip"              # str, required
    url = "https://..."                     # str
    size_bytes = 123                        # int; omit (TOML) / null (JSON) when not confirmed
    md5 = ""                                # str, hex; "" when no publisher/library publishes one
    sha256 = ""                             # str, hex; same rule
    note = "..."                            # str, where the checksum comes from or why it is empty

    [categories.airplane]                   # one table per category, in the official order
    train = 4                               # int sample counts per split; omit/null = unknown
    validation = 0                          #   keys: train, validation, test, test_good, test_defect
    test_good = 50                          #   (test = test_good + test_defect; give either form)
    test_defect = 50
    defect_types = ["bulge", "sink"]        # list[str], informational (loaders read types from names)
    note = "..."                            # str

Counts are "files present", i.e. samples; for MVTec 3D-AD one sample = one ``xyz`` TIFF.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from anomaly3d.data.sample import DataError

__all__ = [
    "COUNT_KEYS",
    "MANIFEST_JSON",
    "SCHEMA_VERSION",
    "Archive",
    "CategorySpec",
    "Manifest",
    "available_manifests",
    "find_manifest",
    "load_manifest",
    "manifest_dir",
    "manifest_to_dict",
    "parse_manifest",
]

SCHEMA_VERSION = 1
COUNT_KEYS = ("train", "validation", "test", "test_good", "test_defect")
MANIFEST_JSON = "MANIFEST.json"
_FORMATS = ("mvtec3d-ad", "real3d-ad", "anomaly-shapenet", "modelnet10")


@dataclass(frozen=True)
class Archive:
    """One downloadable archive of a dataset."""

    name: str
    url: str = ""
    size_bytes: int | None = None
    md5: str = ""
    sha256: str = ""
    note: str = ""


@dataclass(frozen=True)
class CategorySpec:
    """Expected content of one category: sample counts per split (None = not confirmed)."""

    name: str
    counts: dict[str, int | None] = field(default_factory=dict)
    defect_types: tuple[str, ...] = ()
    note: str = ""

    def expected(self, key: str) -> int | None:
        """Expected count for ``key`` in :data:`COUNT_KEYS`; ``test`` is derived from good + defect."""
        if key not in COUNT_KEYS:
            raise ValueError(f"count key must be one of {COUNT_KEYS}, got {key!r}")
        value = self.counts.get(key)
        if value is None and key == "test":
            good, defect = self.counts.get("test_good"), self.counts.get("test_defect")
            if good is not None and defect is not None:
                return good + defect
        return value

    @property
    def total(self) -> int | None:
        """Total number of samples over all splits, or None when any split count is unknown."""
        keys = ["train", "test"] + (["validation"] if "validation" in self.counts else [])
        parts = [self.expected(k) for k in keys]
        return None if any(p is None for p in parts) else int(sum(p for p in parts if p is not None))


@dataclass(frozen=True)
class Manifest:
    """A parsed manifest (see the module docstring for the schema)."""

    id: str
    name: str
    format: str
    schema_version: int
    categories: dict[str, CategorySpec]
    splits: tuple[str, ...] = ("train", "test")
    synthetic: bool = False
    description: str = ""
    source_page: str = ""
    license: str = ""
    citation: str = ""
    layout: str = ""
    archives: tuple[Archive, ...] = ()
    notes: tuple[str, ...] = ()
    path: Path | None = None

    @property
    def category_names(self) -> list[str]:
        return list(self.categories)


def manifest_dir() -> Path:
    """The folder holding the shipped manifests (``ANOMALY3D_MANIFEST_DIR`` overrides the repository default)."""
    env = os.environ.get("ANOMALY3D_MANIFEST_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[3] / "data_manifest"


def available_manifests() -> list[str]:
    """Dataset ids with a shipped manifest."""
    folder = manifest_dir()
    return sorted(p.stem for p in folder.glob("*.toml")) if folder.is_dir() else []


def _err(where: str, what: str) -> DataError:
    return DataError(f"{where}: invalid manifest: {what}")


def _str(d: Mapping[str, Any], key: str, where: str, default: str = "") -> str:
    value = d.get(key, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise _err(where, f"{key!r} must be a string, got {type(value).__name__}")
    return value


def _count(value: Any, where: str, key: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _err(where, f"count {key!r} must be a non-negative integer or null, got {value!r}")
    return int(value)


def parse_manifest(
    data: Mapping[str, Any], *, where: str = "<manifest>", path: Path | None = None
) -> Manifest:
    """Build a :class:`Manifest` from a dict with the schema's keys (as read from TOML or JSON).

    Raises:
        DataError: missing/ill-typed keys, unknown ``format``, inconsistent counts — naming ``where``.
    """
    if not isinstance(data, Mapping):
        raise _err(where, "top level must be a table/object")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise _err(where, f"schema_version must be {SCHEMA_VERSION}, got {version!r}")
    ds_id = _str(data, "id", where)
    if not ds_id:
        raise _err(where, "'id' is required")
    fmt = _str(data, "format", where, ds_id) or ds_id
    if fmt not in _FORMATS:
        raise _err(where, f"format {fmt!r} is not one of {_FORMATS}")
    splits = data.get("splits", ["train", "test"])
    if not isinstance(splits, list) or not all(isinstance(s, str) for s in splits):
        raise _err(where, "'splits' must be a list of strings")
    raw_cats = data.get("categories")
    if not isinstance(raw_cats, Mapping) or not raw_cats:
        raise _err(where, "'categories' must be a non-empty table of category tables")
    categories: dict[str, CategorySpec] = {}
    for cname, spec in raw_cats.items():
        cw = f"{where} [categories.{cname}]"
        if not isinstance(spec, Mapping):
            raise _err(cw, "must be a table")
        unknown = set(spec) - set(COUNT_KEYS) - {"defect_types", "note"}
        if unknown:
            raise _err(cw, f"unknown keys {sorted(unknown)}; allowed: {list(COUNT_KEYS)}, defect_types, note")
        counts = {k: _count(spec[k], cw, k) for k in COUNT_KEYS if k in spec}
        t, g, d = counts.get("test"), counts.get("test_good"), counts.get("test_defect")
        if t is not None and g is not None and d is not None and t != g + d:
            raise _err(cw, f"test ({t}) != test_good ({g}) + test_defect ({d})")
        types = spec.get("defect_types", [])
        if not isinstance(types, list) or not all(isinstance(x, str) for x in types):
            raise _err(cw, "'defect_types' must be a list of strings")
        categories[str(cname)] = CategorySpec(
            name=str(cname), counts=counts, defect_types=tuple(types), note=_str(spec, "note", cw)
        )
    archives = []
    for i, a in enumerate(data.get("archives", []) or []):
        aw = f"{where} [[archives]] #{i + 1}"
        if not isinstance(a, Mapping) or not _str(a, "name", aw):
            raise _err(aw, "each archive needs a 'name'")
        size = a.get("size_bytes")
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size <= 0):
            raise _err(aw, f"size_bytes must be a positive integer or omitted, got {size!r}")
        archives.append(
            Archive(
                name=_str(a, "name", aw),
                url=_str(a, "url", aw),
                size_bytes=size,
                md5=_str(a, "md5", aw).lower(),
                sha256=_str(a, "sha256", aw).lower(),
                note=_str(a, "note", aw),
            )
        )
    notes = data.get("notes", [])
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        raise _err(where, "'notes' must be a list of strings")
    synthetic = data.get("synthetic", False)
    if not isinstance(synthetic, bool):
        raise _err(where, "'synthetic' must be true or false")
    return Manifest(
        id=ds_id,
        name=_str(data, "name", where, ds_id) or ds_id,
        format=fmt,
        schema_version=version,
        categories=categories,
        splits=tuple(splits),
        synthetic=synthetic,
        description=_str(data, "description", where),
        source_page=_str(data, "source_page", where),
        license=_str(data, "license", where),
        citation=_str(data, "citation", where),
        layout=_str(data, "layout", where),
        archives=tuple(archives),
        notes=tuple(notes),
        path=path,
    )


def load_manifest(dataset_or_path: str | os.PathLike[str]) -> Manifest:
    """Load a manifest by dataset id (shipped TOML) or from a ``.toml``/``.json`` file path.

    Raises:
        DataError: unknown id (listing the known ones), unreadable file, or schema errors.
    """
    text = str(dataset_or_path)
    path = Path(text)
    if not (path.suffix in (".toml", ".json") or path.is_file()):
        path = manifest_dir() / f"{text}.toml"
        if not path.is_file():
            known = ", ".join(available_manifests()) or "(none found)"
            raise DataError(f"no manifest for dataset {text!r} in {manifest_dir()}; known datasets: {known}")
    if not path.is_file():
        raise DataError(f"{path}: manifest file not found")
    try:
        if path.suffix == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
        else:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
    except (OSError, ValueError) as exc:  # JSONDecodeError and TOMLDecodeError are ValueErrors
        raise DataError(f"{path}: cannot parse manifest ({exc})") from None
    return parse_manifest(data, where=str(path), path=path)


def find_manifest(dataset: str, root: str | os.PathLike[str] | None = None) -> Manifest:
    """The manifest that describes ``root``: its own ``MANIFEST.json`` if present, else the shipped one.

    Raises:
        DataError: as :func:`load_manifest`, or when a ``MANIFEST.json`` in ``root`` describes a different
            format than ``dataset``.
    """
    if root is not None:
        candidate = Path(root) / MANIFEST_JSON
        if candidate.is_file():
            manifest = load_manifest(candidate)
            if manifest.format != dataset and manifest.id != dataset:
                raise DataError(
                    f"{candidate}: this folder holds a {manifest.format!r} benchmark "
                    f"({manifest.name}), not {dataset!r}; pass dataset={manifest.format!r}"
                )
            return manifest
    return load_manifest(dataset)


def manifest_to_dict(manifest: Manifest) -> dict[str, Any]:
    """The JSON-serialisable dict form of ``manifest`` (the schema's keys; unknown counts become null)."""
    return {
        "schema_version": manifest.schema_version,
        "id": manifest.id,
        "name": manifest.name,
        "format": manifest.format,
        "synthetic": manifest.synthetic,
        "description": manifest.description,
        "source_page": manifest.source_page,
        "license": manifest.license,
        "citation": manifest.citation,
        "layout": manifest.layout,
        "splits": list(manifest.splits),
        "notes": list(manifest.notes),
        "archives": [
            {
                "name": a.name,
                "url": a.url,
                "size_bytes": a.size_bytes,
                "md5": a.md5,
                "sha256": a.sha256,
                "note": a.note,
            }
            for a in manifest.archives
        ],
        "categories": {
            c.name: {**c.counts, "defect_types": list(c.defect_types), "note": c.note}
            for c in manifest.categories.values()
        },
    }
