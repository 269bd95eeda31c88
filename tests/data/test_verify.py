"""verify: a correct folder passes; a missing category plus one corrupt file give exactly those two problems."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from anomaly3d.data import verify
from anomaly3d.data.__main__ import main
from anomaly3d.data.io import write_gt_txt

CATEGORIES = {
    "mvtec3d-ad": ("bagel", "cookie", "foam"),
    "real3d-ad": ("airplane", "car", "duck"),
    "anomaly-shapenet": ("ashtray0", "bag0", "cup0"),
    "modelnet10": ("bed", "chair", "sofa"),
}


def _corrupt(fmt: str, root: Path) -> Path:
    """Damage one file the way downloads break; return it."""
    if fmt == "mvtec3d-ad":
        path = root / "cookie/test/crack/xyz/001.tiff"
        path.write_bytes(path.read_bytes()[:-40])
    elif fmt == "real3d-ad":
        path = root / "car/test/2_bulge.pcd"
        path.write_bytes(path.read_bytes()[:-17])
    elif fmt == "anomaly-shapenet":
        path = root / "bag0/train/bag0_template1.pcd"
        path.write_bytes(b"\x00\x01garbage" * 10)
    else:
        path = root / "chair/train/chair_0002.off"
        path.write_text("\n".join(path.read_text().splitlines()[:5]) + "\n")
    return path


@pytest.fixture(params=sorted(CATEGORIES))
def dataset(request: pytest.FixtureRequest, tmp_path: Path, builders) -> tuple[str, Path]:
    fmt = request.param
    counts = builders.by_format[fmt](tmp_path, categories=CATEGORIES[fmt])
    builders.write_manifest(tmp_path, fmt, counts)
    return fmt, tmp_path


def test_clean_folder_passes(dataset: tuple[str, Path]) -> None:
    fmt, root = dataset
    report = verify(fmt, root)
    assert report.ok, [str(p) for p in report.problems]
    assert report.usable_categories == list(CATEGORIES[fmt]) and report.synthetic
    assert report.checked_files == 3 * (6 if fmt == "mvtec3d-ad" else 5 if fmt != "modelnet10" else 3)
    for c in report.categories.values():
        assert c.expected and all(c.found[k] == want for k, want in c.expected.items())


def test_missing_category_and_one_corrupt_file_are_exactly_two_problems(dataset: tuple[str, Path]) -> None:
    fmt, root = dataset
    first, second, third = CATEGORIES[fmt]
    shutil.rmtree(root / third)
    broken = _corrupt(fmt, root)
    report = verify(fmt, root)
    assert [p.kind for p in report.problems] == ["unreadable", "missing_category"], [
        str(p) for p in report.problems
    ]
    unreadable, missing = report.problems
    assert unreadable.category == second and str(broken) in unreadable.message
    assert missing.category == third and missing.path == str(root / third)
    assert report.usable_categories == [first]
    assert report.first_problem is unreadable


def test_cli_exit_codes_and_output(dataset: tuple[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    fmt, root = dataset
    assert main(["verify", fmt, str(root)]) == 0
    assert "no problems" in capsys.readouterr().out
    shutil.rmtree(root / CATEGORIES[fmt][0])
    assert main(["verify", fmt, str(root)]) == 1
    out = capsys.readouterr().out
    assert f"first problem: [missing_category] {CATEGORIES[fmt][0]}" in out and "MISSING" in out
    assert main(["verify", fmt, str(root), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is False and data["usable_categories"] == list(CATEGORIES[fmt][1:])


def test_count_mismatch_and_missing_gt(tmp_path: Path, builders) -> None:
    counts = builders.real3d(tmp_path, categories=("airplane", "car"))
    builders.write_manifest(tmp_path, "real3d-ad", counts)
    (tmp_path / "airplane/test/1_good.pcd").unlink()
    (tmp_path / "car/gt/3_sink.txt").unlink()
    report = verify("real3d-ad", tmp_path)
    msgs = [str(p) for p in report.problems]
    assert len(msgs) == 3, msgs
    assert "test_good: found 0 samples, the manifest expects 1" in msgs[0]
    assert "test: found 2 samples, the manifest expects 3" in msgs[1]
    assert "gt/3_sink.txt: ground-truth file missing" in msgs[2]


def test_deep_mode_catches_gt_row_count(tmp_path: Path, builders) -> None:
    counts = builders.anomaly_shapenet(tmp_path, categories=("bag0",))
    builders.write_manifest(tmp_path, "anomaly-shapenet", counts)
    write_gt_txt(tmp_path / "bag0/GT/bag0_bulge0.txt", np.zeros((7, 3)), np.zeros(7), delimiter=",")
    assert verify("anomaly-shapenet", tmp_path).ok  # cheap mode reads headers only
    deep = verify("anomaly-shapenet", tmp_path, deep=True)
    assert len(deep.problems) == 1 and "bag0_bulge0.txt has 7 rows but" in deep.problems[0].message


def test_shipped_manifest_and_wrong_roots(tmp_path: Path, builders) -> None:
    builders.modelnet10(tmp_path, categories=("bed",))  # no MANIFEST.json: the shipped manifest applies
    report = verify("modelnet10", tmp_path)
    assert report.manifest.endswith("data_manifest/modelnet10.toml") and not report.synthetic
    kinds = [p.kind for p in report.problems]
    assert kinds.count("missing_category") == 9 and kinds.count("count") == 2  # 2 train + 1 test vs 515 / 100
    assert report.usable_categories == []
    empty = verify("modelnet10", tmp_path / "bed" / "train")
    assert empty.problems[0].kind == "root" and "none of the 10 categories" in empty.problems[0].message
    assert verify("modelnet10", tmp_path / "nope").problems[0].message.endswith("dataset folder not found")
    with pytest.raises(ValueError, match="unknown dataset 'shapenet'"):
        verify("shapenet", tmp_path)
