"""Process-wide helpers: device selection and seeding."""

from __future__ import annotations

import os
import random
from collections.abc import Iterable
from typing import TYPE_CHECKING, TypeVar

import numpy as np

if TYPE_CHECKING:  # torch is imported lazily: `import anomaly3d` must not pay for it
    import torch

T = TypeVar("T")

__all__ = ["PROGRESS_ENV", "progress", "progress_enabled", "resolve_device", "seed_everything"]

PROGRESS_ENV = "ANOMALY3D_PROGRESS"
"""Set to ``0`` / ``false`` / ``off`` to silence every progress bar (the notebook sync and the tests do)."""


def progress_enabled() -> bool:
    """False when ``$ANOMALY3D_PROGRESS`` is ``0``, ``false`` or ``off``."""
    return os.environ.get(PROGRESS_ENV, "1").strip().lower() not in {"0", "false", "off", "no"}


def progress(iterable: Iterable[T], desc: str, *, total: int | None = None, leave: bool = False) -> Iterable[T]:
    """``iterable`` wrapped in a text tqdm bar on stderr (no widgets: it reads the same in a terminal, a log
    file and an executed notebook); a no-op when :func:`progress_enabled` is false."""
    if not progress_enabled():
        return iterable
    from tqdm.std import tqdm

    return tqdm(iterable, desc=desc, total=total, leave=leave, dynamic_ncols=True, mininterval=1.0)


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """Turn ``"auto"`` (or ``None``) into CUDA when a GPU is visible, else CPU; pass anything else to torch.

    Raises:
        ValueError: if a CUDA device is requested but none is available (the message says what is).
    """
    import torch

    if device is None or (isinstance(device, str) and device.lower() == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={str(device)!r} was requested but torch sees no CUDA device "
            f"(torch {torch.__version__}); use device='auto' or 'cpu'"
        )
    return dev


def seed_everything(seed: int, *, deterministic: bool = True) -> np.random.Generator:
    """Seed Python, NumPy and torch (all devices) and return a fresh ``numpy.random.Generator(seed)``.

    With ``deterministic=True`` torch is asked for deterministic kernels (``warn_only`` so an op without a
    deterministic implementation warns instead of failing) and cuDNN autotuning is switched off; on the CPU
    this makes runs bit-for-bit repeatable for a fixed thread count. Library code should draw randomness from
    the returned generator (or one derived from it) rather than from global state.
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a hard dependency, but seeding must not need it
        return np.random.default_rng(seed)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    return np.random.default_rng(seed)
