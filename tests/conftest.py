"""Test-suite wide settings.

* Notebooks run under nbval (``--nbval-lax`` in pyproject's addopts) on the ``smoke`` profile: the kernels nbval
  starts inherit ``ANOMALY3D_PROFILE=smoke`` from this process, and a notebook's ``profile = "auto"`` reads it.
* Matplotlib draws off-screen.
* Generated benchmark data go to a cache inside the repo's ``.cache/`` unless ``ANOMALY3D_CACHE`` is set, so a
  test run never writes into the user's home and repeated runs reuse the data.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

os.environ.setdefault("ANOMALY3D_PROFILE", "smoke")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("ANOMALY3D_PROGRESS", "0")  # progress bars are for people, not test logs
os.environ.setdefault("ANOMALY3D_CACHE", str(REPO / ".cache" / "anomaly3d"))
os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")  # quiets a debugger warning in nbval kernels


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _cuda_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO
