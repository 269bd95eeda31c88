"""The generated benchmark on disk: real-format loaders, verify, determinism, atomic writes, caching, CLI."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from anomaly3d import get_profile
from anomaly3d.data.registry import list_categories, load_split
from anomaly3d.data.sample import GOOD
from anomaly3d.data.synthetic import (
    DEFAULT_FRACTION,
    FORMATS,
    defect_types,
    ensure_benchmark,
    generate,
    generator_stamp,
)
from anomaly3d.data.synthetic import benchmark as bench
from anomaly3d.data.synthetic.__main__ import main
from anomaly3d.data.synthetic.samples import DefectRequest
from anomaly3d.data.synthetic.scene import make_image_sample
from anomaly3d.data.verify import verify

SMOKE = get_profile("smoke")
SEED = 3


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("synthetic")
    return {fmt: generate(fmt, base / fmt, "smoke", SEED, workers=1) for fmt in FORMATS}


@pytest.mark.parametrize("fmt", FORMATS)
def test_output_passes_verify_and_matches_the_profile(roots: dict[str, Path], fmt: str) -> None:
    report = verify(fmt, roots[fmt], deep=True)
    assert not report.problems, [str(p) for p in report.problems]
    assert report.synthetic
    assert list_categories(fmt, roots[fmt]) == list(SMOKE.categories)
    manifest = json.loads((roots[fmt] / "MANIFEST.json").read_text())
    for cat in SMOKE.categories:
        c = manifest["categories"][cat]
        assert c["train"] == SMOKE.n_train and c["test_good"] == SMOKE.n_test_good
        assert c["test_defect"] == SMOKE.n_test_per_defect * len(defect_types(fmt))


@pytest.mark.parametrize("fmt", ["anomaly-shapenet", "real3d-ad"])
def test_point_cloud_formats_load_with_ground_truth_in_range(roots: dict[str, Path], fmt: str) -> None:
    lo, hi = DEFAULT_FRACTION
    for cat in SMOKE.categories:
        train = list(load_split(fmt, roots[fmt], cat, "train"))
        test = list(load_split(fmt, roots[fmt], cat, "test"))
        assert len(train) == SMOKE.n_train and all(s.normals is not None for s in train)
        seen = {s.defect_type for s in test}
        assert seen == {GOOD, *defect_types(fmt)}
        for s in test:
            frac = float(s.point_labels.mean())
            assert (frac == 0.0) if s.defect_type == GOOD else (lo <= frac <= hi), (s, frac)
        if fmt == "anomaly-shapenet":
            assert all(s.num_points == SMOKE.n_points for s in train + test)
            mesh = load_split(fmt, roots[fmt], cat, "train", use_mesh=True, mesh_normals="file")[0]
            assert np.allclose(np.linalg.norm(mesh.normals, axis=1), 1.0, atol=1e-4)


def test_real3d_training_scans_are_complete_and_test_scans_one_sided(roots: dict[str, Path]) -> None:
    for cat in SMOKE.categories:
        train = list(load_split("real3d-ad", roots["real3d-ad"], cat, "train"))
        good = [s for s in load_split("real3d-ad", roots["real3d-ad"], cat, "test") if s.defect_type == GOOD]
        assert np.mean([s.num_points for s in good]) < 0.75 * np.mean([s.num_points for s in train])
        # prototypes are scanned all round (the underside too); test scans look from 15-60 degrees above
        down_train = np.mean([np.mean(s.normals[:, 2] < -0.7) for s in train])
        down_test = np.mean([np.mean(s.normals[:, 2] < -0.7) for s in good])
        assert down_train > 0.03 and down_test < 0.2 * down_train


def test_mvtec_format_loads_with_masks(roots: dict[str, Path]) -> None:
    for cat in SMOKE.categories:
        for split, n in (("train", SMOKE.n_train), ("validation", max(1, SMOKE.n_train // 4))):
            assert len(load_split("mvtec3d-ad", roots["mvtec3d-ad"], cat, split)) == n
        for s in load_split("mvtec3d-ad", roots["mvtec3d-ad"], cat, "test"):
            assert s.image_size == (SMOKE.image_size, SMOKE.image_size) and s.rgb.shape[:2] == s.image_size
            assert (s.gt_mask.sum() == 0) == (s.defect_type == GOOD)
    cam = json.loads((roots["mvtec3d-ad"] / "bottle" / "calibration" / "camera_parameters.json").read_text())
    assert cam["image_width"] == SMOKE.image_size


@pytest.mark.parametrize("fmt", FORMATS)
def test_same_seed_gives_byte_identical_files(roots: dict[str, Path], tmp_path: Path, fmt: str) -> None:
    workers = 2 if fmt == "mvtec3d-ad" else 1  # and the number of worker processes does not matter
    again = generate(fmt, tmp_path / "again", "smoke", SEED, workers=workers)
    assert _digest(again) == _digest(roots[fmt])


def test_another_seed_gives_other_data(roots: dict[str, Path], tmp_path: Path) -> None:
    other = generate("real3d-ad", tmp_path / "other", "smoke", SEED + 1, categories=["gear"], workers=1)
    a, b = _digest(roots["real3d-ad"]), _digest(other)
    common = [k for k in b if k.startswith("gear/") and k in a]
    assert common and all(a[k] != b[k] for k in common)


def test_colour_only_and_geometry_only_defects() -> None:
    """Stains and discolourations leave the xyz image bit-identical to the defect-free scene and recolour only
    the mask; bulges and dents on a flat top change the geometry but hardly the colour (same seed = same
    object, pose and sensor noise)."""
    stain, shape = [], []
    for seed in (5, 6):
        kw = {"image_size": 64, "n_points_equiv": 1024}
        good = make_image_sample("cap", DefectRequest(GOOD), np.random.default_rng(seed), **kw)
        for kind in ("stain", "discolouration", "bulge", "concavity"):
            s = make_image_sample("cap", DefectRequest(kind), np.random.default_rng(seed), **kw)
            m = s.mask
            drgb = np.abs(s.rgb.astype(int) - good.rgb.astype(int)).max(axis=2)
            dxyz = np.linalg.norm(s.xyz - good.xyz, axis=2)
            assert m.sum() > 0
            if kind in ("stain", "discolouration"):
                assert np.array_equal(s.xyz, good.xyz) and not drgb[~m].any() and np.median(drgb[m]) > 10
                if kind == "stain":
                    stain.append(np.median(drgb[m]))
            else:
                assert np.median(dxyz[m & s.valid & good.valid]) > 5e-4  # metres
                shape.append(np.median(drgb[m]))
    assert min(stain) > 3 * max(shape)


def test_interrupted_generation_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"n": 0}
    real = bench._run_job

    def flaky(job, root):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(job, root)

    monkeypatch.setattr(bench, "_run_job", flaky)
    with pytest.raises(KeyboardInterrupt):
        generate("anomaly-shapenet", tmp_path / "out", "smoke", 0, workers=1)
    assert list(tmp_path.iterdir()) == []


def test_generate_rejects_bad_arguments(tmp_path: Path) -> None:
    (tmp_path / "precious").mkdir()
    (tmp_path / "precious" / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="not a synthetic benchmark folder"):
        generate("real3d-ad", tmp_path / "precious", "smoke")
    assert (tmp_path / "precious" / "notes.txt").read_text() == "keep me"
    with pytest.raises(ValueError, match="unknown format 'kitti'"):
        generate("kitti", tmp_path / "x", "smoke")
    with pytest.raises(ValueError, match="unknown categories"):
        generate("real3d-ad", tmp_path / "x", "smoke", categories=["teapot"])
    with pytest.raises(ValueError, match="seed"):
        generate("real3d-ad", tmp_path / "x", "smoke", seed=-1)
    with pytest.raises(ValueError, match="unknown profile"):
        generate("real3d-ad", tmp_path / "x", "huge")
    assert not (tmp_path / "x").exists()


def test_ensure_benchmark_caches_and_regenerates_on_a_new_generator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    real = bench.generate

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(args)
        return real(*args, categories=["gear"], workers=1)

    monkeypatch.setattr(bench, "generate", counting)
    root = ensure_benchmark("real3d-ad", "smoke", 1, cache_dir=tmp_path)
    assert root == tmp_path / "real3d-ad" / "smoke-seed1" and len(calls) == 1
    assert ensure_benchmark("real3d-ad", "smoke", 1, cache_dir=tmp_path) == root and len(calls) == 1
    stamp = json.loads((root / "SYNTHETIC.json").read_text())
    assert stamp["generator"] == generator_stamp()
    stamp["generator"] = "0+old"
    (root / "SYNTHETIC.json").write_text(json.dumps(stamp))
    ensure_benchmark("real3d-ad", "smoke", 1, cache_dir=tmp_path)
    assert len(calls) == 2 and not verify("real3d-ad", root).problems


def test_ensure_benchmark_uses_the_cache_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANOMALY3D_CACHE", str(tmp_path))
    assert bench.default_cache_dir() == tmp_path / "synthetic"


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    assert (
        main(
            [
                "anomaly-shapenet",
                str(out),
                "--profile",
                "smoke",
                "--seed",
                "2",
                "--categories",
                "gear",
                "--workers",
                "1",
            ]
        )
        == 0
    )
    assert capsys.readouterr().out.strip() == str(out.absolute())
    assert list_categories("anomaly-shapenet", out) == ["gear"]
    with pytest.raises(SystemExit):
        main(["anomaly-shapenet", str(out), "--categories", "teapot"])
