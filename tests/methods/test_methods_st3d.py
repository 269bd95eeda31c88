"""3D-ST: pretraining scenes, teacher pretraining and caching, student training, scoring, save/load."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from anomaly3d.data.sample import Sample
from anomaly3d.data.scenes import embedded_objects, make_scene
from anomaly3d.methods import ST3D, ST3DConfig, evaluate_method, load_method
from anomaly3d.methods import st3d as st3d_mod
from sklearn.metrics import roc_auc_score


def _sphere(n: int, seed: int, defect: bool = False) -> Sample:
    """A unit sphere; the defect replaces the cap z > 0.6 by a flat square plateau at z = 0.6 with a raised
    band (|x| > 0.25) 0.35 higher: planes and sharp step edges, nothing like the smooth training spheres."""
    rng = np.random.default_rng(seed)
    p = rng.normal(size=(n, 3))
    p /= np.linalg.norm(p, axis=1, keepdims=True)
    m = np.zeros(n, bool)
    if defect:
        m = p[:, 2] > 0.6
        cap = np.clip(p[m], -0.45, 0.45)
        cap[:, 2] = 0.6 + 0.35 * (np.abs(cap[:, 0]) > 0.25)
        p[m] = cap
    return Sample(p.astype(np.float32), "sphere", "test" if defect else "train", f"s{seed}", int(defect),
                  "step" if defect else "good", m.astype(np.uint8))


@pytest.fixture(scope="module")
def smoke_model(tmp_path_factory):
    m = ST3D.from_profile("smoke", device="cpu", cache_dir=str(tmp_path_factory.mktemp("teachers")))
    return m.fit([_sphere(1024, i) for i in range(4)])


def test_smoke_trained_student_teacher_finds_a_planted_defect(smoke_model):
    aucs = []
    for seed in (20, 21, 22):
        s = _sphere(1024, seed, defect=True)
        scores = smoke_model.score(s)
        assert scores.point_scores.shape == (1024,) and np.isfinite(scores.point_scores).all()
        aucs.append(roc_auc_score(s.point_labels, scores.point_scores))
    assert np.mean(aucs) > 0.8, aucs
    assert max(aucs) > 0.85, aucs
    # the student did learn the normalised teacher (its loss is far below d, the targets' total variance)
    assert smoke_model.history_[-1]["train"] < 0.5 * smoke_model.config.d


def test_teacher_pretraining_lowers_the_reconstruction_loss(tmp_path):
    cfg = ST3DConfig.from_profile("smoke", "3d-st", pretrain_epochs=4, cache_dir=str(tmp_path))
    teacher = st3d_mod.pretrain_teacher(cfg, device=torch.device("cpu"))
    val = [h["validation"] for h in teacher.history]
    assert len(val) == 4 and min(val[1:]) < val[0]
    assert teacher.scale > 0 and "embedded procedural shapes" in teacher.source


def test_pretrained_teacher_is_cached_and_reused(tmp_path, monkeypatch):
    cfg = ST3DConfig.from_profile("smoke", "3d-st", cache_dir=str(tmp_path))
    first = st3d_mod.cached_teacher(cfg, device=torch.device("cpu"))
    assert len(list((tmp_path / "st3d_teachers").glob("*.pt"))) == 1

    def boom(*args, **kwargs):
        raise AssertionError("the cached teacher should have been loaded")

    monkeypatch.setattr(st3d_mod, "pretrain_teacher", boom)
    again = st3d_mod.cached_teacher(cfg, device=torch.device("cpu"))
    for a, b in zip(first.net.state_dict().values(), again.net.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    # a setting that changes pretraining is a different cache entry
    with pytest.raises(AssertionError, match="cached teacher"):
        st3d_mod.cached_teacher(ST3DConfig.from_profile("smoke", "3d-st", cache_dir=str(tmp_path), d=8),
                                device=torch.device("cpu"))


def test_random_teacher_variant_skips_pretraining(tmp_path):
    cfg = ST3DConfig.from_profile("smoke", "3d-st", cache_dir=str(tmp_path), teacher="random")
    teacher = st3d_mod.cached_teacher(cfg, device=torch.device("cpu"))
    assert teacher.history == [] and teacher.decoder is None
    assert not (tmp_path / "st3d_teachers").exists()
    assert ST3D(cfg).display_name == "3D-ST16 (random teacher)"


def test_save_load_round_trip(smoke_model, tmp_path):
    path = smoke_model.save(tmp_path / "st.pt")
    again = load_method(path, device="cpu")
    assert again.teacher.snapshots["epochs"] == smoke_model.teacher.snapshots["epochs"]  # the notebook's figure
    s = _sphere(1024, 30, defect=True)
    a, b = smoke_model.score(s), again.score(s)
    assert a.object_score == b.object_score and np.array_equal(a.point_scores, b.point_scores)


def test_organized_samples_get_a_harmonically_filled_map(tmp_path):
    from anomaly3d.data.sources import open_dataset

    src = open_dataset("mvtec3d-ad", profile="smoke", seed=0)
    m = ST3D.from_profile("smoke", device="cpu", cache_dir=str(tmp_path), min_steps=10)
    run = evaluate_method(m, src, "gear", profile="smoke", seed=0, progress=False, keep_scores=True,
                          checkpoint=tmp_path / "gear.pt")
    sc = run.scores[0]
    assert sc.anomaly_map is not None and np.isfinite(sc.anomaly_map).all()
    assert 0.0 <= run.result.metrics["AU-PRO@0.3"] <= 1.0
    # the checkpoint is reused: no refit, same numbers
    again = evaluate_method(ST3D.from_profile("smoke", device="cpu", cache_dir=str(tmp_path), min_steps=10), src,
                            "gear", profile="smoke", seed=0, progress=False, checkpoint=tmp_path / "gear.pt")
    assert again.fit_seconds == 0.0 and again.result.metrics == run.result.metrics


def test_scenes_follow_the_papers_recipe():
    objects = embedded_objects(6, 400, seed=0)
    for o in objects:
        assert np.ptp(o, axis=0).max() == pytest.approx(1.0, abs=1e-5)
    scene = make_scene(objects, 1000, np.random.default_rng(0))
    assert scene.shape == (1000, 3) and np.abs(scene).max() <= 3.0 + np.sqrt(3) / 2 + 1e-5
    with pytest.raises(ValueError, match="fewer than n_points"):
        make_scene(objects, 10_000, np.random.default_rng(0), objects_per_scene=2)


def test_config_and_input_errors():
    with pytest.raises(ValueError, match="teacher"):
        ST3DConfig(teacher="imagenet")
    with pytest.raises(ValueError, match="multiple of 4"):
        ST3DConfig(d=30)
    m = ST3D(ST3DConfig(k=8), device="cpu")
    m._fitted, m.scale_ = True, 1.0
    m.student = m.teacher = object()  # never reached: the cloud is rejected first
    tiny = Sample(np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32), "c", "test", "tiny")
    with pytest.raises(Exception, match="needs more than k=8"):
        m.score(tiny)
