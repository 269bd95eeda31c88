"""BTF(Raw) / BTF(FPFH) on the smoke embedded benchmark, in the unorganized and the organized formats."""

from __future__ import annotations

import numpy as np
import pytest
from anomaly3d.data.sources import open_dataset
from anomaly3d.methods import BTF, BTFConfig, NotFittedError, build_method, evaluate_method, load_method
from anomaly3d.methods.btf import MVTEC_VOXEL_SIZE
from anomaly3d.ops import fps


@pytest.fixture(scope="module")
def shapenet():
    return open_dataset("anomaly-shapenet", profile="smoke", seed=0)


@pytest.fixture(scope="module")
def mvtec():
    return open_dataset("mvtec3d-ad", profile="smoke", seed=0)


def _fit(source, category, **overrides) -> tuple[BTF, list]:
    m = build_method("btf", "smoke", device="cpu", **overrides)
    opts = m.load_options(source.dataset)
    m.fit(source.load(category, "train", **opts))
    return m, list(source.load(category, "test", **opts))


@pytest.mark.parametrize("category", ["bottle", "gear"])
def test_btf_fpfh_ranks_the_planted_bulge_above_every_good_sample(shapenet, category):
    m, test = _fit(shapenet, category, features="fpfh")
    scores = {s.name: m.score(s) for s in test}
    bulge = [s for s in test if s.defect_type == "bulge"]
    good = [s for s in test if s.label == 0]
    assert bulge and good
    for b in bulge:
        assert scores[b.name].object_score > max(scores[g.name].object_score for g in good)
        pts = scores[b.name].point_scores
        # and inside the sample, the bulge's points score higher than the rest on average
        assert pts[b.point_labels == 1].mean() > pts[b.point_labels == 0].mean()


def test_btf_unorganized_scores_every_point_and_fixes_the_fpfh_scale_at_fit(shapenet):
    m, test = _fit(shapenet, "bottle", features="fpfh", n_sites=256)
    spacing = np.median([np.sort(np.linalg.norm(s.points[:, None] - s.points[None], axis=2), 1)[:, 1]
                         for s in shapenet.load("bottle", "train")])
    assert m.voxel_size_ == pytest.approx(2.5 * spacing, rel=0.05)
    _, pts = m.score(test[0])
    assert pts.shape == (test[0].num_points,) and np.isfinite(pts).all()
    assert len(m.bank) == int(0.1 * 256 * len(shapenet.load("bottle", "train")))


def test_btf_raw_uses_coordinates(shapenet):
    m, test = _fit(shapenet, "gear", features="raw", coreset_fraction=None)
    s = test[0]
    _, pts = m.score(s)
    # with the whole training cloud in the bank and every point a site, a raw score is a point-to-cloud distance
    bank = m.bank.features.numpy()
    sites = s.points[np.asarray(fps(s.points, min(1024, s.num_points)))]
    expected = np.linalg.norm(sites[:, None] - bank[None], axis=2).min(1).max()
    assert m.display_name == "BTF(Raw)"
    assert float(pts.max()) == pytest.approx(expected, rel=1e-5)


def test_btf_organized_uses_btf_preprocessing_and_a_28x28_grid(mvtec):
    m, test = _fit(mvtec, "gear", features="fpfh")
    assert m.load_options("mvtec3d-ad") == {"preprocess": "btf", "resize": 224, "with_rgb": False}
    assert m.voxel_size_ == MVTEC_VOXEL_SIZE
    s = next(t for t in test if t.defect_type == "bulge")
    assert s.image_size == (224, 224)
    sc = m.score(s)
    assert sc.anomaly_map.shape == (224, 224)
    np.testing.assert_array_equal(sc.point_scores, sc.anomaly_map.reshape(-1)[s.pixel_index])
    assert sc.point_scores[s.point_labels == 1].mean() > sc.point_scores[s.point_labels == 0].mean()
    n_train = len(mvtec.load("gear", "train"))
    assert m.bank.n_candidates == 784 * n_train


def test_btf_save_load_round_trip(shapenet, tmp_path):
    m, test = _fit(shapenet, "bottle", features="fpfh")
    path = m.save(tmp_path / "btf.pt")
    again = load_method(path, device="cpu")
    assert isinstance(again, BTF) and again.voxel_size_ == m.voxel_size_
    a, b = m.score(test[1]), again.score(test[1])
    assert a.object_score == b.object_score and np.array_equal(a.point_scores, b.point_scores)


def test_evaluate_method_gives_object_point_and_pro_metrics(mvtec):
    m = build_method("btf", "smoke", device="cpu", features="raw")
    run = evaluate_method(m, mvtec, "bottle", profile="smoke", seed=0, progress=False, keep_scores=True)
    metrics = run.result.metrics
    for key in ("O-AUROC", "P-AUROC", "AU-PRO@0.3"):
        assert 0.0 <= metrics[key] <= 1.0
    assert run.result.method == "BTF(Raw)" and len(run.scores) == len(run.names)
    assert run.result.extras["bank_size"] == len(m.bank)
    assert run.fit_seconds > 0 and not any("seconds" in k for k in run.result.extras)
    # refit=False scores the fitted method as it is: same metrics, no fitting
    again = evaluate_method(run.method, mvtec, "bottle", profile="smoke", seed=0, progress=False, refit=False)
    assert again.fit_seconds == 0 and again.result.metrics == run.result.metrics
    with pytest.raises(NotFittedError):
        evaluate_method(build_method("btf", "smoke", device="cpu"), mvtec, "bottle", profile="smoke", seed=0,
                        progress=False, refit=False)


def test_btf_config_validation():
    with pytest.raises(ValueError, match="features must be one of"):
        BTFConfig(features="sift")
    with pytest.raises(ValueError, match="feature_grid"):
        BTFConfig(feature_grid=300)


def test_same_seed_gives_byte_identical_result_files(shapenet, tmp_path):
    from anomaly3d.metrics import write_results_csv

    paths = []
    for i in range(2):
        m = build_method("btf", "smoke", device="cpu", features="fpfh", seed=0)
        run = evaluate_method(m, shapenet, "gear", profile="smoke", seed=0, progress=False)
        paths.append(write_results_csv([run.result], tmp_path / f"run{i}.csv"))
    assert paths[0].read_bytes() == paths[1].read_bytes()
