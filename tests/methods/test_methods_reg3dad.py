"""Reg3D-AD: registration to the template, two memory banks, the official test-split min-max fusion."""

from __future__ import annotations

import numpy as np
import pytest
from anomaly3d.data.sample import Sample
from anomaly3d.data.scenes import embedded_objects
from anomaly3d.methods import Reg3DAD, Reg3DADConfig, load_method
from anomaly3d.methods.base import Scores
from anomaly3d.methods.reg3dad import minmax_fuse
from anomaly3d.ops import random_rotation
from sklearn.metrics import roc_auc_score

_SHAPE = embedded_objects(2, 3000, seed=5)[1]  # an asymmetric procedural object, longest side 1


def _sample(seed: int, bulge: bool = False, moved: bool = True) -> Sample:
    rng = np.random.default_rng(seed)
    p = _SHAPE[rng.permutation(len(_SHAPE))[:2500]].astype(np.float64)
    labels = np.zeros(len(p), np.uint8)
    if bulge:
        c = p[0]
        d = np.linalg.norm(p - c, axis=1)
        w = np.clip(1 - (d / 0.2) ** 2, 0, None)
        p = p + 0.25 * w[:, None] * (p - p.mean(0)) / np.linalg.norm(p - p.mean(0), axis=1, keepdims=True)
        labels = (w > 0.3).astype(np.uint8)
    if moved:  # an unknown pose: 30 degrees about a random axis, and a shift
        p = p @ np.asarray(random_rotation(rng, max_angle=np.deg2rad(30))).T + rng.normal(size=3) * 0.2
    return Sample(p.astype(np.float32), "obj", "test" if bulge else "train", f"s{seed}", int(bulge),
                  "bulge" if bulge else "good", labels)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    m = Reg3DAD.from_profile("smoke", device="cpu", cache_dir=str(tmp_path_factory.mktemp("backbones")))
    return m.fit([_sample(0, moved=False)] + [_sample(i) for i in (1, 2, 3)])


def test_registered_training_clouds_land_on_the_template(fitted):
    s = _sample(7)
    reg = fitted.register(s)
    d = np.linalg.norm(reg[:, None] - fitted.template_[None, ::7], axis=2).min(axis=1)
    assert np.median(d) < 2 * fitted.voxel_


def test_a_bulge_is_found_after_registration_in_both_branches(fitted):
    aucs = {"pmae": [], "xyz": []}
    for seed in (20, 21):
        s = _sample(seed, bulge=True)
        for b, (_, pts) in fitted.branch_scores(s).items():
            aucs[b].append(roc_auc_score(s.point_labels, pts))
    assert np.mean(aucs["xyz"]) > 0.9, aucs
    assert np.mean(aucs["pmae"]) > 0.7, aucs
    goods = [fitted.score(_sample(40 + i)) for i in range(3)]
    bads = [fitted.score(_sample(20 + i, bulge=True)) for i in range(3)]
    assert min(b.object_score for b in bads) > max(g.object_score for g in goods)
    final = fitted.finalize_scores(goods + bads)
    objs = [s.object_score for s in final]
    assert min(objs) == 0.0 and max(objs) <= 1.0 and min(objs[3:]) > max(objs[:3])


def test_minmax_fusion_matches_the_official_arithmetic():
    a, b = np.array([1.0, 3.0, 2.0]), np.array([10.0, 10.0, 30.0])
    np.testing.assert_allclose(minmax_fuse([a, b]), [(0 + 0) / 2, (1 + 0) / 2, (0.5 + 1) / 2])
    s = [Scores(0.0, np.zeros(2, np.float32), None, {"x": (o, np.array(p, np.float32))})
         for o, p in ((1.0, [0.0, 2.0]), (3.0, [4.0, 1.0]))]
    out = Reg3DAD(Reg3DADConfig(branches=("xyz",)), device="cpu").finalize_scores(s)
    assert [o.object_score for o in out] == [0.0, 1.0]
    np.testing.assert_allclose(np.concatenate([o.point_scores for o in out]), [0.0, 0.5, 1.0, 0.25])


def test_save_load_round_trip(fitted, tmp_path):
    again = load_method(fitted.save(tmp_path / "r.pt"), device="cpu")
    np.testing.assert_array_equal(again.template_, fitted.template_)
    for b, bank in fitted.banks.items():
        np.testing.assert_array_equal(again.banks[b].features.numpy(), bank.features.numpy())
    s = _sample(30, bulge=True)  # registration is deterministic: the reloaded method scores identically
    np.testing.assert_array_equal(again.register(s), fitted.register(s))
    np.testing.assert_allclose(again.score(s).point_scores, fitted.score(s).point_scores, rtol=1e-5, atol=1e-7)


def test_patchcore_pointmae_is_one_feature_bank_without_registration(fitted, tmp_path):
    from anomaly3d.methods import PatchCorePointMAE

    m = PatchCorePointMAE.from_profile("smoke", device="cpu", cache_dir=fitted.config.cache_dir)
    m.fit([_sample(0, moved=False)] + [_sample(i, moved=False) for i in (1, 2, 3)])
    assert m.display_name == "PatchCore(PointMAE)" and list(m.banks) == ["pmae"]
    s = _sample(31, bulge=True)
    np.testing.assert_allclose(m.register(s), s.points - s.points.mean(axis=0), atol=1e-6)  # only centred
    assert set(m.score(s).branches) == {"pmae"}
    assert Reg3DAD(Reg3DADConfig(register=False), device="cpu").display_name == "Reg3D-AD (no registration)"


def test_config_checks():
    with pytest.raises(ValueError, match="branches"):
        Reg3DADConfig(branches=("rgb",))
    with pytest.raises(ValueError, match="feature_layers"):
        Reg3DADConfig(encoder_depth=2, feature_layers=(4,))
    with pytest.raises(ValueError, match="ransac_engine"):
        Reg3DADConfig(ransac_engine="teaser")


def test_group3ad_trains_the_encoder_and_finds_the_bulge(tmp_path):
    from anomaly3d.methods import Group3AD

    m = Group3AD.from_profile("smoke", device="cpu", cache_dir=str(tmp_path))
    m.fit([_sample(0, moved=False)] + [_sample(i) for i in (1, 2, 3)])
    phases = [h["phase"] for h in m.history_]
    assert phases == ["IUN", "IAN"] and all(np.isfinite(h["loss"]) for h in m.history_)
    # the encoder changed
    from anomaly3d.methods import Reg3DAD

    base = Reg3DAD.from_profile("smoke", device="cpu", cache_dir=str(tmp_path))
    base.fit([_sample(0, moved=False)])
    w0 = dict(base.model.named_parameters())["encoder_blocks.0.attn.qkv.weight"]
    w1 = dict(m.model.named_parameters())["encoder_blocks.0.attn.qkv.weight"]
    assert not np.allclose(w0.detach().numpy(), w1.detach().numpy())
    s = _sample(20, bulge=True)
    scores = m.score(s)
    assert roc_auc_score(s.point_labels, scores.point_scores) > 0.8
    assert m.display_name == "Group3AD"
    # other inference-time centres reuse the trained encoder and banks
    fps_only = m.with_centres(agcs=False)
    assert fps_only.display_name == "Group3AD (FPS centres)" and fps_only.model is m.model and m.config.agcs
    assert fps_only.banks is m.banks and m.with_centres(alpha=0.3).config.alpha == 0.3
    assert roc_auc_score(s.point_labels, fps_only.score(s).point_scores) > 0.8
