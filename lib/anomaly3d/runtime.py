"""Process-wide helpers: device selection and seeding."""

from __future__ import annotations

import os
import random
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np

if TYPE_CHECKING:  # torch is imported lazily: `import anomaly3d` must not pay for it
    import torch

T = TypeVar("T")

__all__ = [
    "CACHE_ENV",
    "PROGRESS_ENV",
    "PeakMemory",
    "cache_root",
    "progress",
    "progress_enabled",
    "resolve_device",
    "seed_everything",
    "track_peak_memory",
]

PROGRESS_ENV = "ANOMALY3D_PROGRESS"
"""Set to ``0`` / ``false`` / ``off`` to silence every progress bar (the notebook sync and the tests do)."""


CACHE_ENV = "ANOMALY3D_CACHE"
"""Where generated data, pretrained teachers and backbones are cached (default ``~/.cache/anomaly3d``)."""


def cache_root(override: str | os.PathLike[str] | None = None) -> Path:
    """The cache folder: ``override`` when given, else ``$ANOMALY3D_CACHE``, else ``~/.cache/anomaly3d``."""
    if override:
        return Path(override).expanduser()
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "anomaly3d"


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


class PeakMemory:
    """Result of :func:`track_peak_memory`: ``mb`` is the peak extra memory in MiB (NaN when not measurable)."""

    def __init__(self, how: str) -> None:
        self.how = how
        self.mb = float("nan")


def _proc_status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


@contextmanager
def track_peak_memory(device: str | torch.device = "cpu") -> Iterator[PeakMemory]:
    """Measure the peak memory a block needs beyond what was in use when it started.

    * CUDA: ``torch.cuda.max_memory_allocated`` after resetting the peak (tensor memory only).
    * CPU on Linux: the process's peak resident set (``VmHWM``), reset by writing ``5`` to ``/proc/self/clear_refs``,
      minus the resident set at the start (everything the process touches, torch and NumPy included).
    * Elsewhere: NaN (``how == "unavailable"``).

    Usage: ``with track_peak_memory("cpu") as peak: run(); print(peak.mb)``.
    """
    import torch

    dev = torch.device(device)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)
        start = torch.cuda.memory_allocated(dev)
        peak = PeakMemory("cuda max_memory_allocated")
        yield peak
        torch.cuda.synchronize(dev)
        peak.mb = (torch.cuda.max_memory_allocated(dev) - start) / 2**20
        return
    start = _proc_status_kb("VmRSS")
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        usable = start is not None
    except OSError:
        usable = False
    peak = PeakMemory("linux VmHWM" if usable else "unavailable")
    yield peak
    hwm = _proc_status_kb("VmHWM") if usable else None
    if usable and hwm is not None and start is not None:
        peak.mb = max(0, hwm - start) / 1024
