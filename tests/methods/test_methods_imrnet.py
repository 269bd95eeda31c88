"""IMRNet: Algorithm 1, DFC scores, a planted bulge found after smoke training, save/load, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from anomaly3d.data.sample import DataError, Sample
from anomaly3d.methods import IMRNet, IMRNetConfig, load_method
from anomaly3d.methods.imrnet import interpolate_to_points, mask_schedule
from sklearn.metrics import roc_auc_score


def _sphere(n: int, seed: int, bulge: bool = False) -> Sample:
    """A unit sphere; the defect pushes the cap around +z outwards by a bump of height 0.35 (radius ~0.45)."""
    rng = np.random.default_rng(seed)
    p = rng.normal(size=(n, 3))
    p /= np.linalg.norm(p, axis=1, keepdims=True)
    labels = np.zeros(n, np.uint8)
    if bulge:
        d = np.linalg.norm(p - np.array([0.0, 0.0, 1.0]), axis=1)
        w = np.clip(1 - (d / 0.45) ** 2, 0, None) ** 2
        p *= (1 + 0.35 * w)[:, None]
        labels = (w > 0.05).astype(np.uint8)
    return Sample(p.astype(np.float32), "sphere", "test" if bulge else "train", f"s{seed}", int(bulge),
                  "bulge" if bulge else "good", labels)


@pytest.fixture(scope="module")
def smoke_model(tmp_path_factory):
    m = IMRNet.from_profile("smoke", device="cpu", cache_dir=str(tmp_path_factory.mktemp("backbones")))
    return m.fit([_sphere(1024, i) for i in range(4)])


def test_a_planted_bulge_gets_higher_point_scores_than_the_rest(smoke_model):
    aucs = []
    for seed in (20, 21, 22):
        s = _sphere(1024, seed, bulge=True)
        scores = smoke_model.score(s)
        assert scores.point_scores.shape == (1024,) and np.isfinite(scores.point_scores).all()
        assert scores.point_scores[s.point_labels == 1].mean() > scores.point_scores[s.point_labels == 0].mean()
        aucs.append(roc_auc_score(s.point_labels, scores.point_scores))
    assert np.mean(aucs) > 0.8, aucs
    # object level: the object score is the largest point score, which a 200-step smoke model leaves noisy; the
    # strict min(bad) > max(good) held where this test was written but not on another CPU (float rounding moves
    # the training), where 7 or 8 of the 9 (bad, good) pairs are ordered right (1 and 2 threads)
    good = [smoke_model.score(_sphere(1024, 40 + i)).object_score for i in range(3)]
    bad = [smoke_model.score(_sphere(1024, 20 + i, bulge=True)).object_score for i in range(3)]
    assert roc_auc_score([0] * 3 + [1] * 3, good + bad) >= 2 / 3, (good, bad)
    assert np.mean(bad) > np.mean(good), (good, bad)


def test_one_round_of_algorithm_1_leaves_visible_patches_unchanged(smoke_model):
    c = smoke_model.config
    pts = smoke_model.normalize(_sphere(1024, 30, bulge=True))
    patches = smoke_model.patches(pts, seed=0)
    mask = mask_schedule(c.num_groups, c.mask_ratio, 1, seed=5)[0]
    rec = smoke_model.iterative_reconstruction(patches, [mask])
    assert len(rec.rounds) == 1
    out = rec.output
    torch.testing.assert_close(out[~mask], patches.neighborhoods[~mask], rtol=0, atol=0)
    assert not torch.allclose(out[mask], patches.neighborhoods[mask])  # the hidden ones were predicted
    assert torch.equal(rec.inputs, patches.neighborhoods)  # the input record is not overwritten


def test_later_rounds_see_the_earlier_reconstructions(smoke_model):
    c = smoke_model.config
    pts = smoke_model.normalize(_sphere(1024, 31))
    patches = smoke_model.patches(pts, seed=0)
    masks = mask_schedule(c.num_groups, c.mask_ratio, 3, seed=1)
    rec = smoke_model.iterative_reconstruction(patches, masks)
    for i in range(1, 3):
        keep = ~masks[i]
        assert torch.equal(rec.rounds[i][keep], rec.rounds[i - 1][keep])


def test_cover_schedule_hides_every_patch_when_rounds_times_ratio_reach_one():
    masks = mask_schedule(256, 0.4, 3, schedule="cover", seed=0)
    assert all(int(m.sum()) == round(0.4 * 256) for m in masks)
    assert bool(torch.stack(masks).any(dim=0).all())
    rand = mask_schedule(256, 0.4, 3, schedule="random", seed=0)
    assert all(int(m.sum()) == 102 for m in rand)
    with pytest.raises(ValueError, match="schedule"):
        mask_schedule(10, 0.4, 3, schedule="blocks")


def test_point_patch_score_is_zero_for_a_perfect_reconstruction(smoke_model):
    pts = smoke_model.normalize(_sphere(1024, 32))
    patches = smoke_model.patches(pts, seed=0)
    from anomaly3d.methods.imrnet import Reconstruction

    same = Reconstruction(patches.neighborhoods, [patches.neighborhoods.clone()], [])
    a_p = smoke_model.point_patch_scores(patches, same)
    np.testing.assert_allclose(a_p, 0.0, atol=1e-10)


def test_template_regularization_replaces_far_features_by_the_template(smoke_model):
    t = smoke_model.template_
    far = t[:3] + 100.0
    near = t[3:5] + 1e-6
    out, replaced = smoke_model.regularize(torch.cat([far, near]))
    assert replaced.tolist() == [True, True, True, False, False]
    nearest = torch.cdist(far.double(), t.double()).argmin(dim=1)  # brute force
    torch.testing.assert_close(out[:3], t[nearest])
    torch.testing.assert_close(out[3:], near)


def test_interpolation_reproduces_values_at_the_centres_and_stays_in_their_range():
    rng = np.random.default_rng(0)
    centers = rng.uniform(-1, 1, (20, 3)).astype(np.float32)
    values = rng.uniform(size=20)
    at = interpolate_to_points(centers, centers, values)
    np.testing.assert_allclose(at, values, rtol=1e-4)
    pts = rng.uniform(-1, 1, (500, 3)).astype(np.float32)
    v = interpolate_to_points(pts, centers, values)
    assert v.min() >= values.min() - 1e-6 and v.max() <= values.max() + 1e-6


def test_score_terms_select_the_parts_of_eq_20(smoke_model):
    ap, af = np.array([1.0, 2.0]), np.array([3.0, 5.0])
    s = smoke_model.stats_
    both = smoke_model.combine(ap, af)
    zp = (ap - s["A_p_mean"]) / s["A_p_std"]
    zf = (af - s["A_f_mean"]) / s["A_f_std"]
    np.testing.assert_allclose(both, zp + zf)


def test_save_and_load_give_identical_scores(smoke_model, tmp_path):
    path = smoke_model.save(tmp_path / "imrnet.pt")
    again = load_method(path, device="cpu")
    s = _sphere(1024, 23, bulge=True)
    a, b = smoke_model.score(s), again.score(s)
    assert a.object_score == b.object_score
    np.testing.assert_array_equal(a.point_scores, b.point_scores)


def test_bad_input_raises_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="sampling"):
        IMRNetConfig(sampling="poisson")
    with pytest.raises(ValueError, match="feature_layers"):
        IMRNetConfig(decoder_depth=2, feature_layers=(1, 2, 3))
    m = IMRNet.from_profile("smoke", device="cpu", cache_dir=str(tmp_path))
    with pytest.raises(ValueError, match="no training samples"):
        m.fit([])
    with pytest.raises(DataError, match=r"sphere/s0 has 20 points"):
        m.normalize(_sphere(20, 0))
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        IMRNet.from_profile("smoke", device="cpu", pretrained_checkpoint=str(tmp_path / "nope.pth")).fit(
            [_sphere(256, 0)])


def test_a_checkpoint_from_another_version_is_a_clear_error(smoke_model, tmp_path):
    path = smoke_model.save(tmp_path / "old.pt")
    payload = torch.load(path, weights_only=False)
    del payload["state"]["scale"]  # as written before the fixed-scale normalisation
    torch.save(payload, path)
    with pytest.raises(ValueError, match="another version"):
        load_method(path, device="cpu")


def test_score_and_explain_agree_and_stacked_interpolation_matches_one_map_at_a_time(smoke_model):
    s = _sphere(1024, 24, bulge=True)
    ex = smoke_model.explain(s)
    sc = smoke_model.score(s)
    np.testing.assert_array_equal(sc.point_scores, ex["point_scores"])
    pts = smoke_model.normalize(s)
    centers = ex["patches"].centers.numpy()
    np.testing.assert_array_equal(ex["point_A_p"], interpolate_to_points(pts, centers, ex["A_p"]))
    np.testing.assert_array_equal(ex["point_A_f"], interpolate_to_points(pts, centers, ex["A_f"]))
