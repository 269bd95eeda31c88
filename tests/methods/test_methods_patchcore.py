"""PatchCore memory bank, score propagation, reweighting, the method interface (save/load, errors)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from anomaly3d.data.sample import Sample
from anomaly3d.methods import (
    FeatureSites,
    MemoryBank,
    NotFittedError,
    PatchCore,
    PatchCoreConfig,
    load_method,
    register_method,
)
from anomaly3d.methods.patchcore import propagate_site_scores, reweighted_max


@dataclass(frozen=True)
class ToyConfig(PatchCoreConfig):
    dims: int = 3


@register_method
class ToyCore(PatchCore):
    """Features = coordinates repeated ``dims // 3`` times; NaN where ``extras['poison']`` says."""

    name = "toy-patchcore"
    config_class = ToyConfig

    def extract(self, sample: Sample) -> FeatureSites:
        f = np.tile(sample.points, (1, max(1, self.config.dims // 3)))[:, : self.config.dims]
        if sample.extras.get("poison"):
            f = f.copy()
            f[0, 0] = np.nan
        return FeatureSites(torch.from_numpy(np.ascontiguousarray(f)), positions=sample.points)


def _sphere(n: int, seed: int, bump: bool = False) -> Sample:
    rng = np.random.default_rng(seed)
    p = rng.normal(size=(n, 3))
    p /= np.linalg.norm(p, axis=1, keepdims=True)
    labels = np.zeros(n, np.uint8)
    if bump:
        near = p[:, 2] > 0.9
        p[near] *= 1.25
        labels[near] = 1
    return Sample(p.astype(np.float32), "sphere", "test" if bump else "train", f"s{seed}", int(bump), "bulge" if bump else "good", labels)


def test_memory_bank_coreset_and_nearest():
    feats = [torch.randn(300, 5, generator=torch.Generator().manual_seed(i)) for i in range(3)]
    bank = MemoryBank(coreset_fraction=0.1, projection_eps=None).build(feats)
    assert len(bank) == 90 and bank.n_candidates == 900
    full = MemoryBank(coreset_fraction=None, coreset_size=None).build(feats)
    assert len(full) == 900
    d, i = full.nearest(feats[1][:7])
    assert torch.allclose(d[:, 0], torch.zeros(7), atol=1e-5)
    assert torch.equal(i[:, 0], torch.arange(300, 307))


def test_reweighted_max_matches_an_independent_computation():
    rng = np.random.default_rng(0)
    bank = rng.normal(size=(50, 4))
    query = rng.normal(size=(10, 4)) * 2
    dists = np.linalg.norm(query[:, None] - bank[None], axis=2)
    s_idx = int(np.argmax(dists.min(1)))
    s_star = dists.min(1)[s_idx]
    m_star = int(np.argmin(dists[s_idx]))
    neigh = np.argsort(np.linalg.norm(bank - bank[m_star], axis=1))[1:3]  # k = 3 incl. m* itself
    d = np.linalg.norm(query[s_idx] - bank[neigh], axis=1)
    expected = (1 - math.exp(s_star / 2) / np.exp(d / 2).sum()) * s_star  # sqrt(D) = 2
    t_bank, t_q = torch.from_numpy(bank).float(), torch.from_numpy(query).float()
    md = torch.from_numpy(dists.min(1)).float()
    ni = torch.from_numpy(dists.argmin(1))
    assert reweighted_max(t_q, md, ni, t_bank, 3) == pytest.approx(expected, rel=1e-5)


def test_point_sites_propagate_by_nearest_site():
    s = _sphere(200, 0)
    sites = FeatureSites(torch.zeros(3, 1), positions=s.points[[0, 1, 2]])
    scores, amap = propagate_site_scores(torch.tensor([1.0, 2.0, 3.0]), sites, s)
    assert amap is None and scores.shape == (200,)
    d = np.linalg.norm(s.points[:, None] - s.points[None, [0, 1, 2]], axis=2)
    np.testing.assert_array_equal(scores, np.array([1.0, 2.0, 3.0], np.float32)[d.argmin(1)])


def test_grid_sites_upsample_blur_and_read_pixels():
    h = w = 16
    yy, xx = np.mgrid[0:h, 0:w]
    pix = (yy * w + xx).reshape(-1)[::3]
    pts = np.stack([xx.reshape(-1)[::3], yy.reshape(-1)[::3], np.zeros(len(pix))], 1).astype(np.float32)
    s = Sample(pts, "c", "test", "g", pixel_index=pix, image_size=(h, w))
    site = torch.zeros(16)
    site[5] = 1.0  # row 1, col 1 of a 4x4 grid
    scores, amap = propagate_site_scores(site, FeatureSites(torch.zeros(16, 1), grid_shape=(4, 4)), s, blur_sigma=None)
    assert amap.shape == (h, w)
    assert np.unravel_index(np.argmax(amap), amap.shape) in {(5, 5), (5, 6), (6, 5), (6, 6)}
    np.testing.assert_array_equal(scores, amap.reshape(-1)[pix])
    blurred, _ = propagate_site_scores(site, FeatureSites(torch.zeros(16, 1), grid_shape=(4, 4)), s, blur_sigma=2.0)
    assert blurred.max() < scores.max()


def test_toy_patchcore_finds_the_bump_and_round_trips(tmp_path):
    train = [_sphere(400, i) for i in range(3)]
    test = _sphere(400, 10, bump=True)
    m = ToyCore(ToyConfig(coreset_fraction=0.5), device="cpu")
    m.fit(train)
    obj, pts = m.score(test)
    assert pts.shape == (400,)
    assert pts[test.point_labels == 1].min() > np.quantile(pts[test.point_labels == 0], 0.9)
    assert obj == pytest.approx(float(pts.max()), rel=1e-6)
    path = m.save(tmp_path / "toy.pt")
    again = load_method(path, device="cpu")
    assert isinstance(again, ToyCore) and again.config == m.config
    obj2, pts2 = again.score(test)
    assert obj2 == obj and np.array_equal(pts, pts2)


def test_bad_features_raise_clear_errors():
    train = [_sphere(100, i) for i in range(2)]
    m = ToyCore(ToyConfig(dims=6), device="cpu")
    with pytest.raises(NotFittedError, match="call fit"):
        m.score(train[0])
    poisoned = _sphere(100, 5)
    poisoned.extras["poison"] = True
    with pytest.raises(ValueError, match="NaN/inf features"):
        m.fit([train[0], poisoned])
    m.fit(train)
    with pytest.raises(ValueError, match="NaN/inf features"):
        m.score(poisoned)
    m.config = ToyConfig(dims=3)  # the extractor now disagrees with the fitted bank
    with pytest.raises(ValueError, match="3 features per row but 6 were expected"):
        m.score(train[0])


def test_load_method_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_method(tmp_path / "missing.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable saved method"):
        load_method(bad)
    torch.save({"something": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a saved anomaly3d method"):
        load_method(tmp_path / "other.pt")


def test_save_is_atomic_and_never_half_written(tmp_path, monkeypatch):
    m = ToyCore(device="cpu")
    m.fit([_sphere(50, 0)])
    path = m.save(tmp_path / "m.pt")
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(OSError, match="disk full"):
        m.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]


def test_config_from_profile_rejects_unknown_settings():
    with pytest.raises(ValueError, match="no setting.*'coreset_fractoin'"):
        ToyCore.from_profile("smoke", coreset_fractoin=0.2)
    with pytest.raises(ValueError, match="object_score"):
        ToyConfig(object_score="mean")
