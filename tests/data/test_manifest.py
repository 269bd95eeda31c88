"""Manifests: the shipped TOML files parse and agree with the papers' totals; JSON uses the same schema;
a MANIFEST.json in a benchmark root wins over the shipped manifest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from anomaly3d.data import DataError
from anomaly3d.data.formats import anomaly_shapenet, modelnet10, mvtec3d, real3d
from anomaly3d.data.manifest import (
    available_manifests,
    find_manifest,
    load_manifest,
    manifest_dir,
    manifest_to_dict,
    parse_manifest,
)

OFFICIAL = {
    "mvtec3d-ad": mvtec3d,
    "real3d-ad": real3d,
    "anomaly-shapenet": anomaly_shapenet,
    "modelnet10": modelnet10,
}


def test_every_dataset_has_a_manifest_matching_its_loader() -> None:
    assert available_manifests() == sorted(OFFICIAL)
    for ds, module in OFFICIAL.items():
        m = load_manifest(ds)
        assert m.id == m.format == ds == module.DATASET_ID
        assert tuple(m.categories) == module.CATEGORIES
        assert m.splits == module.SPLITS
        assert m.source_page.startswith("https://") and m.citation.startswith("@")
        assert m.archives and m.layout


@pytest.mark.parametrize(
    ("dataset", "total", "per_split"),
    [
        # MVTec 3D-AD paper Table 1: 2656 train, 294 validation, 249 + 948 test
        ("mvtec3d-ad", 4147, {"train": 2656, "validation": 294, "test_good": 249, "test_defect": 948}),
        # Real3D-AD paper: 1254 samples; 4 templates per category
        ("real3d-ad", 1254, {"train": 48}),
        # ModelNet10: 3991 train / 908 test
        ("modelnet10", 4899, {"train": 3991, "test": 908}),
    ],
)
def test_published_totals(dataset: str, total: int, per_split: dict[str, int]) -> None:
    m = load_manifest(dataset)
    assert sum(c.total for c in m.categories.values()) == total
    for key, want in per_split.items():
        assert sum(c.expected(key) for c in m.categories.values()) == want


def test_unconfirmed_numbers_are_left_empty() -> None:
    asn = load_manifest("anomaly-shapenet")
    assert len(asn.categories) == 40
    assert all(c.expected("train") == 4 and c.expected("test") is None for c in asn.categories.values())
    assert any("Test counts per category are not published" in n for n in asn.notes)
    for ds in OFFICIAL:
        for archive in load_manifest(ds).archives:
            assert archive.size_bytes is None  # no publisher states a size we could confirm
            assert (archive.md5 == "") == ("anomalib" not in archive.note)


def test_json_round_trip_same_schema(tmp_path: Path) -> None:
    m = load_manifest("mvtec3d-ad")
    path = tmp_path / "MANIFEST.json"
    path.write_text(json.dumps(manifest_to_dict(m)))
    back = load_manifest(path)
    assert back.categories == m.categories and back.archives == m.archives and back.notes == m.notes
    assert back.path == path


def test_manifest_json_in_root_wins(tmp_path: Path) -> None:
    data = {
        "schema_version": 1,
        "id": "bench",
        "format": "real3d-ad",
        "synthetic": True,
        "categories": {"blob": {"train": 1, "test_good": 1, "test_defect": None}},
    }
    (tmp_path / "MANIFEST.json").write_text(json.dumps(data))
    m = find_manifest("real3d-ad", tmp_path)
    assert m.synthetic and list(m.categories) == ["blob"] and m.categories["blob"].expected("test") is None
    assert find_manifest("real3d-ad", tmp_path / "elsewhere").id == "real3d-ad"
    with pytest.raises(DataError, match=r"MANIFEST\.json: this folder holds a 'real3d-ad' benchmark"):
        find_manifest("mvtec3d-ad", tmp_path)


def test_env_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANOMALY3D_MANIFEST_DIR", str(tmp_path))
    assert manifest_dir() == tmp_path and available_manifests() == []
    with pytest.raises(DataError, match="no manifest for dataset 'real3d-ad'"):
        load_manifest("real3d-ad")


@pytest.mark.parametrize(
    ("patch", "match"),
    [
        ({"schema_version": 2}, "schema_version must be 1"),
        ({"format": "ply"}, "format 'ply' is not one of"),
        ({"categories": {}}, "non-empty table"),
        ({"categories": {"a": {"train": -1}}}, "non-negative integer"),
        ({"categories": {"a": {"trian": 3}}}, "unknown keys"),
        ({"categories": {"a": {"test": 3, "test_good": 1, "test_defect": 1}}}, r"test \(3\) != test_good"),
        ({"archives": [{"url": "x"}]}, "needs a 'name'"),
    ],
)
def test_schema_errors_name_the_source(patch: dict, match: str) -> None:
    base = {"schema_version": 1, "id": "x", "format": "modelnet10", "categories": {"a": {"train": 1}}}
    with pytest.raises(DataError, match=match) as info:
        parse_manifest({**base, **patch}, where="/some/MANIFEST.json")
    assert "/some/MANIFEST.json" in str(info.value)
