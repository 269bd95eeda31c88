"""Shape-Guided's shape expert (anomaly3d.nn.shape_sdf): the trained SDF vanishes on the patch surface and
grows off it, query sampling against brute force, the Neural-Pull loss and projection checked exactly,
reproducibility, official-checkpoint loading against an independent forward, input validation. CPU, tiny
networks, seeded."""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np
import pytest
import torch
from anomaly3d.nn.shape_sdf import (
    ImplicitSDF,
    PatchEncoder,
    ShapeSDF,
    ShapeSDFConfig,
    load_official_checkpoint,
    nearest_surface_points,
    neighbor_sigma,
    neural_pull_loss,
    normalize_patches,
    patch_features,
    patch_sdf,
    pull_to_surface,
    sample_queries,
    train_shape_sdf,
)

TINY = ShapeSDFConfig(
    feature_dim=16,
    encoder_widths=(16, 32, 64),
    encoder_hidden=32,
    nif_width=64,
    nif_layers=2,
    sigma_neighbour=8,
    epochs=400,
    batch_size=8,
    lr=1e-2,
)
MINI = ShapeSDFConfig(
    feature_dim=8, encoder_widths=(8, 8, 16), encoder_hidden=8, nif_width=16, nif_layers=1, sigma_neighbour=4
)
"""The smallest shape expert, for tests of plumbing rather than learning."""


def _rotation_to(d: tuple[float, float, float]) -> torch.Tensor:
    """A rotation taking e_z to the unit vector along ``d`` (Rodrigues)."""
    d_t = torch.tensor(d, dtype=torch.float32)
    d_t = d_t / d_t.norm()
    ez = torch.tensor([0.0, 0.0, 1.0])
    v, c = torch.linalg.cross(ez, d_t), float(ez @ d_t)
    if v.norm() < 1e-6:
        return torch.eye(3) if c > 0 else torch.diag(torch.tensor([1.0, -1.0, -1.0]))
    vx = torch.tensor([[0.0, -v[2], v[1]], [v[2], 0.0, -v[0]], [-v[1], v[0], 0.0]])
    return torch.eye(3) + vx + vx @ vx / (1 + c)


def _sphere_cap(n: int, direction, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` uniform points on the unit sphere within 0.6 rad of ``direction``, and their outward normals."""
    z = 1 - torch.rand(n, generator=g) * (1 - math.cos(0.6))
    phi = torch.rand(n, generator=g) * 2 * math.pi
    r = torch.sqrt(1 - z * z)
    normals = torch.stack([r * torch.cos(phi), r * torch.sin(phi), z], 1) @ _rotation_to(direction).T
    return normals.clone(), normals


def _plane_square(n: int, normal, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` uniform points on a unit square through the origin with the given normal, and the normals."""
    rot = _rotation_to(normal)
    uv = torch.rand(n, 2, generator=g) - 0.5
    pts = torch.cat([uv, torch.zeros(n, 1)], 1) @ rot.T
    return pts, rot[:, 2].expand(n, 3).clone()


def _surfaces(k: int = 128, per_kind: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``per_kind`` sphere caps then ``per_kind`` plane squares: points ``(2 per_kind, k, 3)`` and normals."""
    g = torch.Generator().manual_seed(seed)
    dirs = [(0, 0, 1), (1, 0, 0), (0, 1, 1), (1, 1, 1), (-1, 0, 1), (0, -1, 0)][:per_kind]
    normals = [(0, 0, 1), (1, 1, 0), (0, 1, 2), (1, 0.1, 0.2), (1, -1, 1), (2, 1, 0)][:per_kind]
    parts = [_sphere_cap(k, d, g) for d in dirs] + [_plane_square(k, n, g) for n in normals]
    return torch.stack([p for p, _ in parts]), torch.stack([n for _, n in parts])


def _true_distance(x: torch.Tensor, normals: torch.Tensor, n_caps: int) -> torch.Tensor:
    """Distance of ``x (B, Q, 3)`` to the unit sphere (first ``n_caps`` patches) or to patch b's plane."""
    sphere = (x.norm(dim=-1) - 1).abs()
    plane = (x * normals[:, :1]).sum(-1).abs()
    return torch.where(torch.arange(x.shape[0])[:, None] < n_caps, sphere, plane)


# ----------------------------------------------------------------------------------------------------------
# the acceptance test


def test_trained_sdf_is_near_zero_on_the_surface_and_larger_off_it():
    points, normals = _surfaces(k=128, per_kind=4)
    start = time.perf_counter()
    model, history = train_shape_sdf(points, TINY, seed=0)
    elapsed = time.perf_counter() - start
    assert len(history) == TINY.epochs and all(math.isfinite(h) for h in history)
    assert np.mean(history[-20:]) < 0.1 * history[0], history[::30]
    assert not model.training

    spacing = float(torch.cdist(points, points).topk(2, largest=False).values[..., 1].median())
    on = patch_sdf(model, points)  # |phi| at the patch's own points (the paper's score of a normal patch)
    assert on.shape == (8, 128)
    off = torch.cat(
        [
            patch_sdf(model, points, points + 4 * spacing * normals),
            patch_sdf(model, points, points - 4 * spacing * normals),
        ],
        dim=1,
    )
    assert float(on.mean()) < float(off.mean()) / 3, (float(on.mean()), float(off.mean()))
    for kind in (slice(0, 4), slice(4, 8)):  # sphere caps and planes, each on its own
        assert float(on[kind].mean()) < float(off[kind].mean()) / 2

    # the Neural-Pull projection moves off-surface queries towards the true surface
    _, center, scale = normalize_patches(points)
    queries = torch.cat([points + 3 * spacing * normals, points - 3 * spacing * normals], dim=1)
    pulled, _ = model.nif.project(
        (queries - center[:, None]) / scale[:, None, None], patch_features(model, points)
    )
    pulled = pulled * scale[:, None, None] + center[:, None]
    before, after = _true_distance(queries, normals, 4), _true_distance(pulled, normals, 4)
    assert float(after.mean()) < 0.6 * float(before.mean()), (float(after.mean()), float(before.mean()))
    assert float((after < before).float().mean()) > 0.85
    print(f"acceptance training: {TINY.epochs} epochs of 8 patches x 128 points in {elapsed:.2f} s")


# ----------------------------------------------------------------------------------------------------------
# query sampling


def test_sample_queries_sigma_targets_and_round_scales_match_brute_force():
    g = torch.Generator().manual_seed(3)
    pts = torch.rand(3, 64, 3, generator=g)
    k, n = 10, 20
    s = sample_queries(pts, n, torch.Generator().manual_seed(0), k=k)
    assert s.queries.shape == s.targets.shape == (3, n * 64, 3)
    assert s.target_index.shape == (3, n * 64) and s.target_index.dtype == torch.int64
    assert s.sigma.shape == (3, 64)
    assert all(t.dtype == torch.float32 for t in (s.queries, s.targets, s.sigma))

    p64 = pts.double().numpy()
    d = np.linalg.norm(
        p64[:, :, None] - p64[:, None], axis=-1
    )  # (B, K, K), column 0 of each sorted row = self
    np.testing.assert_allclose(s.sigma.numpy(), np.sort(d, axis=-1)[..., k], rtol=1e-5)
    np.testing.assert_allclose(neighbor_sigma(pts, k).numpy(), s.sigma.numpy())

    q64 = s.queries.double().numpy()
    dq = np.linalg.norm(q64[:, :, None] - p64[:, None], axis=-1)  # (B, Q, K)
    np.testing.assert_array_equal(s.target_index.numpy(), dq.argmin(-1))
    np.testing.assert_array_equal(
        s.targets.numpy(), np.take_along_axis(pts.numpy(), s.target_index.numpy()[..., None], 1)
    )

    # round-major layout: query r*K + i is point i moved by c_r * sigma_i * N(0, 1);
    # 13 rounds at c = 0.5, 7 at c = 1.0
    z = (s.queries.reshape(3, n, 64, 3) - pts[:, None]) / s.sigma[:, None, :, None]
    n_near = math.ceil(0.625 * n)
    assert n_near == 13
    assert abs(float(z[:, :n_near].std()) - 0.5) < 0.03 and abs(float(z[:, n_near:].std()) - 1.0) < 0.05
    assert abs(float(z.mean())) < 0.03

    again = sample_queries(pts, n, torch.Generator().manual_seed(0), k=k)
    assert torch.equal(again.queries, s.queries)


def test_nearest_surface_points_and_normalization():
    g = torch.Generator().manual_seed(1)
    pts = torch.rand(2, 50, 3, generator=g) * torch.tensor([4.0, 1.0, 2.0]) + 7.0
    normed, center, scale = normalize_patches(pts)
    torch.testing.assert_close(center, pts.mean(1))
    torch.testing.assert_close(scale, (pts.amax(1) - pts.amin(1)).amax(1))
    assert torch.allclose(normed.mean(1), torch.zeros(2, 3), atol=1e-6)
    assert torch.allclose((normed.amax(1) - normed.amin(1)).amax(1), torch.ones(2))
    q = torch.rand(2, 30, 3, generator=g) * 4 + 7
    idx = nearest_surface_points(pts, q)
    brute = torch.cdist(q.double(), pts.double()).argmin(-1)
    assert torch.equal(idx, brute)


# ----------------------------------------------------------------------------------------------------------
# loss and projection


def test_pull_to_surface_projects_exactly_onto_an_analytic_sphere():
    g = torch.Generator().manual_seed(0)
    q = torch.randn(2, 40, 3, generator=g, dtype=torch.float64)
    pulled, s = pull_to_surface(q, lambda x: x.norm(dim=-1) - 0.5)
    torch.testing.assert_close(pulled.norm(dim=-1), torch.full((2, 40), 0.5, dtype=torch.float64))
    torch.testing.assert_close(pulled, 0.5 * q / q.norm(dim=-1, keepdim=True))
    torch.testing.assert_close(s, q.norm(dim=-1) - 0.5)
    assert not pulled.requires_grad


def test_loss_is_exactly_zero_for_a_zero_sdf_on_the_surface_and_the_offset_otherwise():
    model = ShapeSDF(TINY)
    with torch.no_grad():
        model.nif.out.weight.zero_()
        model.nif.out.bias.zero_()  # phi == 0 everywhere, gradient 0: the pull moves nothing
    pts = normalize_patches(torch.rand(4, 32, 3, generator=torch.Generator().manual_seed(2)))[0]
    assert neural_pull_loss(model, pts, pts, pts).item() == 0.0
    offset = torch.tensor([0.06, 0.0, -0.08])  # |offset| = 0.1
    assert neural_pull_loss(model, pts, pts + offset, pts).item() == pytest.approx(0.1, rel=1e-5)
    assert neural_pull_loss(model, pts, pts + offset, pts, squared=True).item() == pytest.approx(
        0.01, rel=1e-5
    )


def test_loss_gradients_reach_encoder_and_nif_through_the_pull_direction():
    torch.manual_seed(0)
    model = ShapeSDF(TINY).double().eval()
    pts = normalize_patches(torch.rand(3, 32, 3, generator=torch.Generator().manual_seed(4)))[0].double()
    s = sample_queries(pts, 2, torch.Generator().manual_seed(5), k=8)
    loss = neural_pull_loss(model, pts, s.queries, s.targets)
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    for name in (
        "encoder.point_layers.0.weight",
        "encoder.fc_layers.1.weight",
        "nif.query_in.weight",
        "nif.feature_in.weight",
        "nif.hidden.1.parametrizations.weight.original1",
        "nif.out.weight",
    ):
        assert float(model.get_parameter(name).grad.abs().sum()) > 0, name

    # directional derivative against central differences: only right if the gradient direction's own
    # dependence on the weights is differentiated (create_graph=True)
    w = model.nif.fuse.weight
    direction = torch.randn(w.shape, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    analytic = float((w.grad * direction).sum())
    eps = 1e-6
    with torch.no_grad():
        w += eps * direction
    plus = neural_pull_loss(model, pts, s.queries, s.targets).item()
    with torch.no_grad():
        w -= 2 * eps * direction
    minus = neural_pull_loss(model, pts, s.queries, s.targets).item()
    assert analytic == pytest.approx((plus - minus) / (2 * eps), rel=1e-4, abs=1e-8)


# ----------------------------------------------------------------------------------------------------------
# model, training, inference


def test_official_widths_give_the_papers_parameter_count():
    model = ShapeSDF()
    assert sum(p.numel() for p in model.parameters()) == 3_170_433  # paper Sec. 4.5: 3.17M (PointNet + NIF)
    f = model.eval().encode(torch.rand(2, 500, 3) - 0.5)
    assert f.shape == (2, 128) and (f >= 0).all()
    assert model.sdf(torch.rand(2, 7, 3), f).shape == (2, 7)


def test_same_seed_gives_identical_weights_and_history():
    points, _ = _surfaces(k=32, per_kind=2)
    cfg = dataclasses.replace(MINI, epochs=4, batch_size=4, lr=1e-3)
    rng_before = torch.random.get_rng_state()
    a, ha = train_shape_sdf(points, cfg, seed=7)
    assert torch.equal(torch.random.get_rng_state(), rng_before)  # the global RNG is left alone
    b, hb = train_shape_sdf(list(points.numpy()), cfg, seed=7)  # an iterable of (K, 3) arrays works too
    c, _ = train_shape_sdf(points, cfg, seed=8)
    assert ha == hb
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa if sa[k].is_floating_point())


def test_progress_wraps_the_epochs_and_patch_sdf_options():
    points, _ = _surfaces(k=32, per_kind=2)
    cfg = dataclasses.replace(MINI, epochs=3, batch_size=3)
    seen = []

    def wrap(it):
        for e in it:
            seen.append(e)
            yield e

    model, history = train_shape_sdf(points, cfg, seed=0, progress=wrap)  # 4 patches, batch 3: one full batch
    assert seen == [0, 1, 2] and len(history) == 3
    model.train()
    d = patch_sdf(model, points)
    assert model.training  # the mode is restored
    assert d.shape == (4, 32) and (d >= 0).all()
    f = patch_features(model, points)
    assert torch.equal(patch_sdf(model, points, features=f), d)
    scale = normalize_patches(points)[2]
    torch.testing.assert_close(patch_sdf(model, points, rescale=True), d * scale[:, None])
    torch.testing.assert_close(patch_sdf(model, points, chunk_size=1), d)
    # features and scores depend on the patch's shape only: moving and scaling a patch with its queries
    # changes nothing (normalised units), or scales the distances (rescale=True)
    moved = 3 * points + torch.tensor([5.0, -2.0, 1.0])
    torch.testing.assert_close(patch_features(model, moved), f, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(patch_sdf(model, moved), d, rtol=1e-4, atol=1e-5)
    q = points + 0.05
    torch.testing.assert_close(
        patch_sdf(model, moved, 3 * q + torch.tensor([5.0, -2.0, 1.0])),
        patch_sdf(model, points, q),
        rtol=1e-4,
        atol=1e-5,
    )
    torch.testing.assert_close(
        patch_sdf(model, moved, rescale=True), 3 * d * scale[:, None], rtol=1e-4, atol=1e-5
    )
    model.train()
    torch.testing.assert_close(model.patch_sdf(points.clone(), f, q), patch_sdf(model, points, q, features=f))
    assert model.training


def _official_state(cfg: ShapeSDFConfig, g: torch.Generator) -> dict[str, torch.Tensor]:
    """Random weights under the official SDF_Model names and shapes (Conv1d kernels, old weight norm)."""
    state: dict[str, torch.Tensor] = {}

    def r(*shape):
        return torch.randn(*shape, generator=g) * 0.3

    dims = (3, *cfg.encoder_widths)
    for i in range(3):
        state[f"encoder.conv{i + 1}.weight"] = r(dims[i + 1], dims[i], 1)
        state[f"encoder.conv{i + 1}.bias"] = r(dims[i + 1])
    fc = (cfg.encoder_widths[-1], cfg.encoder_hidden, cfg.feature_dim)
    for i in range(2):
        state[f"encoder.fc{i + 1}.weight"] = r(fc[i + 1], fc[i])
        state[f"encoder.fc{i + 1}.bias"] = r(fc[i + 1])
    for i, width in enumerate((*cfg.encoder_widths, cfg.encoder_hidden, cfg.feature_dim)):
        state[f"encoder.bn{i + 1}.weight"] = 1 + r(width)
        state[f"encoder.bn{i + 1}.bias"] = r(width)
        state[f"encoder.bn{i + 1}.running_mean"] = r(width)
        state[f"encoder.bn{i + 1}.running_var"] = 0.5 + torch.rand(width, generator=g)
        state[f"encoder.bn{i + 1}.num_batches_tracked"] = torch.tensor(10)
    w = cfg.nif_width
    state |= {
        "NIF.fc1.weight": r(w, cfg.feature_dim),
        "NIF.fc1.bias": r(w),
        "NIF.fc2.weight": r(w, 3),
        "NIF.fc2.bias": r(w),
        "NIF.fc3.weight": r(w, 2 * w) / 3,
        "NIF.fc3.bias": r(w),
        "NIF.fc5.weight": r(1, w),
        "NIF.fc5.bias": r(1),
    }
    for i in range(cfg.nif_layers):
        state[f"NIF.fc4{i}.weight_g"] = 1 + r(w, 1)
        state[f"NIF.fc4{i}.weight_v"] = r(w, w)
        state[f"NIF.fc4{i}.bias"] = r(w)
    return state


def _official_forward(state, patches, queries, n_layers):
    """The official SDF_Model in eval mode, written out from its equations."""

    def bn(x, name):
        s = {k: state[f"{name}.{k}"] for k in ("weight", "bias", "running_mean", "running_var")}
        return (x - s["running_mean"]) / torch.sqrt(s["running_var"] + 1e-5) * s["weight"] + s["bias"]

    x = patches
    for i in range(3):
        conv = torch.einsum("bkc,oc->bko", x, state[f"encoder.conv{i + 1}.weight"][..., 0])
        x = torch.relu(bn(conv + state[f"encoder.conv{i + 1}.bias"], f"encoder.bn{i + 1}"))
    f = x.amax(dim=1)
    for i in range(2):
        f = torch.relu(
            bn(
                f @ state[f"encoder.fc{i + 1}.weight"].T + state[f"encoder.fc{i + 1}.bias"],
                f"encoder.bn{i + 4}",
            )
        )
    feat = torch.relu(f @ state["NIF.fc1.weight"].T + state["NIF.fc1.bias"])[:, None].expand(
        -1, queries.shape[1], -1
    )
    net = torch.relu(queries @ state["NIF.fc2.weight"].T + state["NIF.fc2.bias"])
    net = torch.relu(torch.cat([net, feat], -1) @ state["NIF.fc3.weight"].T + state["NIF.fc3.bias"])
    for i in range(n_layers):
        v, g = state[f"NIF.fc4{i}.weight_v"], state[f"NIF.fc4{i}.weight_g"]
        net = torch.relu(net @ (g * v / v.norm(dim=1, keepdim=True)).T + state[f"NIF.fc4{i}.bias"])
    return (net @ state["NIF.fc5.weight"].T + state["NIF.fc5.bias"])[..., 0]


def test_official_checkpoint_loads_and_matches_the_official_forward(tmp_path):
    cfg = ShapeSDFConfig(
        feature_dim=8, encoder_widths=(8, 12, 16), encoder_hidden=10, nif_width=12, nif_layers=3
    )
    state = _official_state(cfg, torch.Generator().manual_seed(0))
    path = tmp_path / "ckpt_000601.pth"
    torch.save({"sdf_model": state, "current_iteration": 601}, path)
    model = ShapeSDF(cfg)
    report = load_official_checkpoint(model, path)
    assert report["missing"] == [] and report["unexpected"] == []
    assert report["loaded"] == len(state)
    g = torch.Generator().manual_seed(1)
    patches = normalize_patches(torch.rand(3, 20, 3, generator=g))[0]  # the official code encodes these
    queries = torch.rand(3, 9, 3, generator=g) - 0.5
    model.eval()
    with torch.no_grad():
        ours = model.sdf(queries, model.encode(patches))
    torch.testing.assert_close(
        ours, _official_forward(state, patches, queries, cfg.nif_layers), rtol=1e-4, atol=1e-5
    )

    with pytest.raises(ValueError, match="widths"):
        load_official_checkpoint(ShapeSDF(TINY), state)
    with pytest.raises(FileNotFoundError):
        load_official_checkpoint(model, tmp_path / "missing.pth")


@pytest.mark.gpu
def test_cuda_training_and_inference_match_the_cpu_sampling():
    points, _ = _surfaces(k=32, per_kind=2)
    cfg = dataclasses.replace(MINI, epochs=3, batch_size=4)
    cpu = sample_queries(points, 3, torch.Generator().manual_seed(0), k=4)
    gpu = sample_queries(points.cuda(), 3, torch.Generator().manual_seed(0), k=4)
    torch.testing.assert_close(gpu.queries.cpu(), cpu.queries)
    assert torch.equal(gpu.target_index.cpu(), cpu.target_index)
    model, history = train_shape_sdf(points, cfg, seed=0, device="cuda")
    assert next(model.parameters()).is_cuda and len(history) == 3
    d = patch_sdf(model, points)
    assert d.is_cuda and d.shape == (4, 32) and torch.isfinite(d).all()


# ----------------------------------------------------------------------------------------------------------
# bad input


def test_bad_input_raises_value_errors_naming_the_argument():
    good = torch.rand(4, 64, 3)
    nan = good.clone()
    nan[1, 3, 0] = float("nan")
    with pytest.raises(ValueError, match="patch_points contains NaN"):
        sample_queries(nan, 2, k=8)
    with pytest.raises(ValueError, match=r"patch_points must have shape \(B, K, 3\)"):
        sample_queries(torch.rand(64, 3), 2)
    with pytest.raises(ValueError, match=r"K=64.*k=64.*smaller k"):
        sample_queries(good, 2, k=64)
    with pytest.raises(ValueError, match=r"K=64.*sigma_neighbour"):
        train_shape_sdf(good, ShapeSDFConfig(sigma_neighbour=64, epochs=1))
    with pytest.raises(ValueError, match="at least 2"):
        train_shape_sdf(good[:1], TINY)
    with pytest.raises(ValueError, match="same shape"):
        train_shape_sdf([torch.rand(64, 3), torch.rand(65, 3)], TINY)
    with pytest.raises(ValueError, match="patches contains NaN"):
        train_shape_sdf(nan, TINY)
    with pytest.raises(ValueError, match="zero extent"):
        normalize_patches(torch.ones(2, 10, 3))
    with pytest.raises(ValueError, match="n_per_point"):
        sample_queries(good, 0, k=8)

    model = ShapeSDF(TINY)
    with pytest.raises(ValueError, match=r"features must have shape \(4, 16\)"):
        model.sdf(torch.rand(4, 5, 3), torch.rand(4, 7))
    with pytest.raises(ValueError, match="queries"):
        model.sdf(torch.rand(4, 5, 2), torch.rand(4, 16))
    with pytest.raises(ValueError, match="same shape"):
        neural_pull_loss(model, good, torch.rand(4, 10, 3), torch.rand(4, 9, 3))
    with pytest.raises(ValueError, match="at least 2 patches"):
        PatchEncoder(8, (8, 8, 8), 8).train()(torch.rand(1, 16, 3))
    with pytest.raises(ValueError, match="queries has 3 patches"):
        patch_sdf(model, good, torch.rand(3, 5, 3))
    with pytest.raises(ValueError, match="batch_size"):
        ShapeSDFConfig(batch_size=1)
    with pytest.raises(ValueError, match="encoder_widths"):
        ShapeSDFConfig(encoder_widths=(8, 8))
    with pytest.raises(ValueError, match="nif_layers"):
        ShapeSDFConfig(nif_layers=-1)
    with pytest.raises(ValueError, match="features must be a torch tensor"):
        ImplicitSDF(8, 8, 1)(torch.rand(2, 3, 3), np.zeros((2, 8)))
