from __future__ import annotations

import numpy as np
import pytest
import torch
from anomaly3d.runtime import resolve_device, seed_everything


def test_auto_device_matches_torch() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device(None).type == expected
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="only meaningful without a GPU")
def test_cuda_without_gpu_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="no CUDA device"):
        resolve_device("cuda")


def _draw(seed: int) -> tuple[np.ndarray, np.ndarray, torch.Tensor, torch.Tensor]:
    rng = seed_everything(seed)
    net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
    x = torch.randn(32, 8)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(5):
        opt.zero_grad()
        loss = net(x).pow(2).mean()
        loss.backward()
        opt.step()
    return rng.random(5), np.random.rand(3), torch.rand(4), net(x).detach()


def test_seeding_is_bit_for_bit_repeatable_on_cpu() -> None:
    a, b = _draw(123), _draw(123)
    for u, v in zip(a, b):
        assert (np.asarray(u) == np.asarray(v)).all()
    c = _draw(124)
    assert not (np.asarray(a[0]) == np.asarray(c[0])).all()
    assert not torch.equal(a[3], c[3])


@pytest.mark.parametrize("bad", [-1, 1.5, "3", True])
def test_bad_seed_rejected(bad: object) -> None:
    with pytest.raises(ValueError, match="seed"):
        seed_everything(bad)  # type: ignore[arg-type]


def test_track_peak_memory_sees_a_large_allocation():
    import math
    import sys

    import numpy as np
    from anomaly3d.runtime import track_peak_memory

    with track_peak_memory("cpu") as peak:
        block = np.ones(12_000_000)  # ~92 MiB, touched
        del block
    if peak.how == "unavailable":  # not Linux: nothing to measure, and it says so
        assert math.isnan(peak.mb)
    else:
        assert sys.platform.startswith("linux")
        assert 60 < peak.mb < 400, peak.mb


def test_progress_can_be_switched_off(monkeypatch):
    from anomaly3d.runtime import progress

    items = [1, 2, 3]
    monkeypatch.setenv("ANOMALY3D_PROGRESS", "0")
    assert progress(items, "x") is items
    monkeypatch.setenv("ANOMALY3D_PROGRESS", "1")
    assert list(progress(items, "x")) == items
