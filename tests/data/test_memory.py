"""Loading a 780k-point cloud (Real3D-AD's largest test clouds) stays far below 1 GB of extra memory.

Two independent measures: tracemalloc around ``read_pcd`` in this process (numpy buffers are traced), and the
peak resident set size of a fresh process loading the samples through the Real3D-AD loader (Linux: the peak is
reset through /proc/self/clear_refs before each sample, then read from VmHWM).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from anomaly3d.data.io import read_pcd, write_gt_txt, write_pcd

N = 780_000
LIMIT_MB = 1024

_PEAK_SCRIPT = r"""
import json, sys
from anomaly3d.data import load_split
import anomaly3d.data.io  # noqa: F401  (import cost is not part of the measurement)

def kib(key):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key):
                return int(line.split()[1])

samples = load_split("real3d-ad", sys.argv[1], "duck", "test")
out = {}
for i in range(len(samples)):
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    base = kib("VmRSS")
    s = samples[i]
    out[s.name] = {"points": s.num_points, "peak_extra_mb": (kib("VmHWM") - base) / 1024}
    del s
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def big_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("real3d_big")
    pts = np.random.default_rng(0).normal(size=(N, 3)).astype(np.float32)
    write_pcd(root / "duck/test/1_good.pcd", pts, data="binary")
    write_pcd(root / "duck/test/2_bulge.pcd", pts, data="binary")
    write_pcd(root / "duck/test/3_good_ascii.pcd", pts, data="ascii")
    write_gt_txt(root / "duck/gt/2_bulge.txt", pts, (pts[:, 0] > 2).astype(np.uint8), delimiter=" ")
    return root


def test_tracemalloc_peak_of_a_780k_binary_pcd(big_dataset: Path) -> None:
    tracemalloc.start()
    try:
        pc = read_pcd(big_dataset / "duck/test/1_good.pcd")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert pc.points.shape == (N, 3)
    print(f"\n780k binary PCD: tracemalloc peak {peak / 2**20:.1f} MB")
    assert peak < 4 * pc.points.nbytes  # file bytes + one float32 copy (+ slack), nowhere near 1 GB


@pytest.mark.slow
@pytest.mark.skipif(
    not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc to reset the RSS peak"
)
def test_rss_peak_of_real3d_loader_on_780k_clouds(big_dataset: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _PEAK_SCRIPT, str(big_dataset)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    peaks = json.loads(proc.stdout.strip().splitlines()[-1])
    print("\nRSS peak per sample (MB):", {k: round(v["peak_extra_mb"], 1) for k, v in peaks.items()})
    assert {k: v["points"] for k, v in peaks.items()} == {"1_good": N, "2_bulge": N, "3_good_ascii": N}
    for name, v in peaks.items():
        assert v["peak_extra_mb"] < LIMIT_MB, f"{name} needed {v['peak_extra_mb']:.0f} MB"
