"""Array/tensor conversion, input validation and backend selection shared by every op.

Every op accepts a NumPy array or a torch tensor and hands its results back in the same kind, on the same
device (:class:`Like`). Internally the ops work on torch tensors (``torch.from_numpy`` costs nothing) and call
the fastest library for the device: SciPy / fpsample on the CPU, torch-cluster (optional ``gpu`` extra) or
chunked torch on CUDA.
"""

from __future__ import annotations

import functools
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

__all__ = [
    "CHUNK_ELEMENTS",
    "Array",
    "Like",
    "check_choice",
    "check_count",
    "check_points",
    "check_position",
    "check_positive",
    "chunk_rows",
    "make_rng",
    "resolve_backend",
    "to_numpy",
    "to_torch",
    "torch_cluster_available",
]

Array = np.ndarray | torch.Tensor
"""A NumPy array or a torch tensor."""

CHUNK_ELEMENTS: dict[str, int] = {"cpu": 2**23, "cuda": 2**26}
"""Largest number of entries of a dense (rows x reference points) distance block built at once, per device
type. Brute-force backends split their queries into chunks of ``CHUNK_ELEMENTS // n_ref`` rows, so memory
stays bounded (about 32 MiB per block on the CPU, 256 MiB on CUDA) whatever the cloud size."""

_NEIGHBOR_BACKENDS = ("auto", "scipy", "torch", "torch_cluster")
_FPS_BACKENDS = ("auto", "fpsample", "torch", "torch_cluster")
BACKENDS: dict[str, tuple[str, ...]] = {"neighbors": _NEIGHBOR_BACKENDS, "fps": _FPS_BACKENDS}


@functools.lru_cache(maxsize=1)
def torch_cluster_available() -> bool:
    """True when the optional ``torch_cluster`` package imports (it is the ``gpu`` extra)."""
    try:
        import torch_cluster  # noqa: F401
    except (ImportError, OSError, RuntimeError):  # OSError/RuntimeError: built against another torch
        return False
    return True


@dataclass(frozen=True)
class Like:
    """How to hand results back: as NumPy or torch, on which device, with which floating dtype."""

    is_torch: bool
    device: torch.device
    float_dtype: torch.dtype

    @classmethod
    def of(cls, x: Array) -> Like:
        """The output convention of input ``x`` (already validated by :func:`check_points`)."""
        if isinstance(x, torch.Tensor):
            dtype = x.dtype if x.dtype.is_floating_point else torch.float32
            return cls(True, x.device, dtype)
        dtype = torch.from_numpy(np.empty(0, dtype=x.dtype)).dtype if x.dtype.kind == "f" else torch.float32
        return cls(False, torch.device("cpu"), dtype)

    def floats(self, t: torch.Tensor) -> Array:
        """Float result ``t`` in the caller's kind, device and float dtype (autograd history is kept)."""
        t = t.to(device=self.device, dtype=self.float_dtype)
        return t if self.is_torch else t.detach().numpy()

    def ints(self, t: torch.Tensor) -> Array:
        """Index result ``t`` as int64 in the caller's kind and device."""
        t = t.to(device=self.device, dtype=torch.int64)
        return t if self.is_torch else t.numpy()


def _describe(x: Any) -> str:
    shape = getattr(x, "shape", None)
    return f"{type(x).__name__} of shape {tuple(shape)}" if shape is not None else type(x).__name__


def check_points(
    x: Any,
    name: str,
    *,
    batched: bool | None = False,
    min_points: int = 1,
) -> Array:
    """Validate a point cloud and return it (integer coordinates become float32).

    Args:
        x: NumPy array or torch tensor of shape ``(N, 3)`` (``batched=False``), ``(B, N, 3)``
            (``batched=True``) or either (``batched=None``).
        name: the argument's name, used in error messages.
        min_points: smallest acceptable ``N``.

    Raises:
        ValueError: wrong type, shape or dtype, fewer than ``min_points`` points, or NaN/inf coordinates; the
            message names ``name`` and says what to fix.
    """
    if not isinstance(x, (np.ndarray, torch.Tensor)):
        raise ValueError(  # noqa: TRY004 - the project reports every bad argument as ValueError
            f"{name} must be a numpy array or a torch tensor of shape (N, 3), got {_describe(x)}"
        )
    if isinstance(x, np.ndarray):
        if x.dtype.kind not in "fiu":
            raise ValueError(f"{name} must hold real numbers, got dtype {x.dtype}")
    elif x.dtype.is_complex or x.dtype == torch.bool:
        raise ValueError(f"{name} must hold real numbers, got dtype {x.dtype}")
    ndims = {False: (2,), True: (3,), None: (2, 3)}[batched]
    want = {False: "(N, 3)", True: "(B, N, 3)", None: "(N, 3) or (B, N, 3)"}[batched]
    if x.ndim not in ndims or x.shape[-1] != 3:
        raise ValueError(f"{name} must have shape {want}, got shape {tuple(x.shape)}")
    n = x.shape[-2]
    if n < min_points:
        what = "is empty (0 points)" if n == 0 else f"has {n} point(s)"
        raise ValueError(f"{name} {what}; at least {min_points} point(s) are needed")
    if isinstance(x, np.ndarray):
        if x.dtype.kind != "f":
            x = x.astype(np.float32)
        if not np.isfinite(x).all():  # fast path first; the per-row scan only to word the error
            bad = np.flatnonzero(~np.isfinite(x).all(axis=-1).reshape(-1))
            raise ValueError(
                f"{name} has {bad.size} point(s) with NaN/inf coordinates (first at flat row {int(bad[0])}); "
                "drop or repair them before calling this op"
            )
    else:
        if not x.dtype.is_floating_point:
            x = x.to(torch.float32)
        if not bool(torch.isfinite(x).all()):
            bad = torch.nonzero(~torch.isfinite(x).all(dim=-1).reshape(-1)).reshape(-1)
            raise ValueError(
                f"{name} has {bad.numel()} point(s) with NaN/inf coordinates (first at flat row {int(bad[0])}); "
                "drop or repair them before calling this op"
            )
    return x


def check_count(value: Any, name: str, *, low: int = 1, high: int | None = None, what: str = "") -> int:
    """Validate an integer argument in ``[low, high]`` and return it as ``int``.

    ``what`` explains ``high`` in the message (e.g. ``"the number of reference points"``).
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")  # noqa: TRY004 - project convention
    value = int(value)
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    if high is not None and value > high:
        tail = f" ({what})" if what else ""
        raise ValueError(f"{name}={value} is larger than {high}{tail}; use {name} <= {high}")
    return value


def check_positive(value: Any, name: str) -> float:
    """Validate a finite, strictly positive real number and return it as ``float``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(float(value)):
        raise ValueError(f"{name} must be a finite positive number, got {value!r}")
    if float(value) <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return float(value)


def check_position(value: Any, name: str) -> torch.Tensor:
    """Validate a single finite 3D position (sequence, array or tensor) and return it as a float64 tensor."""
    try:
        raw = value.detach().cpu() if isinstance(value, torch.Tensor) else np.asarray(value, dtype=np.float64)
        v = torch.as_tensor(raw).to(torch.float64)
    except (TypeError, ValueError):
        v = torch.empty(0)
    if v.shape != (3,) or not bool(torch.isfinite(v).all()):
        raise ValueError(f"{name} must be 3 finite numbers (x, y, z), got {value!r}")
    return v


def check_choice(value: Any, name: str, choices: tuple[Any, ...]) -> Any:
    """Validate that ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(repr(c) for c in choices)}; got {value!r}")
    return value


def resolve_backend(backend: str, x: Array, *, family: str, cpu_default: str) -> str:
    """Turn ``backend`` (``"auto"`` or a name from the ``family``) into the backend that will run.

    ``"auto"`` means: torch-cluster for CUDA tensors when it is installed, else chunked torch for CUDA
    tensors; ``cpu_default`` for everything on the CPU (NumPy arrays and CPU tensors).

    Raises:
        ValueError: unknown name, or ``"torch_cluster"`` requested but not installed.
    """
    choices = BACKENDS[family]
    check_choice(backend, "backend", choices)
    if backend == "auto":
        if isinstance(x, torch.Tensor) and x.device.type == "cuda":
            return "torch_cluster" if torch_cluster_available() else "torch"
        return cpu_default
    if backend == "torch_cluster" and not torch_cluster_available():
        raise ValueError(
            "backend='torch_cluster' needs the optional torch-cluster package "
            "(pip install 'anomaly3d[gpu]'); use backend='auto' to fall back to the fastest installed backend"
        )
    return backend


def to_torch(x: Array, device: torch.device | None = None) -> torch.Tensor:
    """``x`` as a tensor (shares memory with a NumPy array when possible), optionally moved to ``device``."""
    t = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(x))
    return t if device is None else t.to(device)


def to_numpy(x: Array, dtype: Any = None) -> np.ndarray:
    """``x`` as a C-contiguous NumPy array on the host (detached from autograd), optionally cast."""
    a = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else x
    return np.ascontiguousarray(a, dtype=dtype)


def chunk_rows(n_cols: int, device: torch.device) -> int:
    """Rows per chunk so that a dense ``(rows, n_cols)`` block has at most ``CHUNK_ELEMENTS`` entries."""
    budget = CHUNK_ELEMENTS.get(device.type, CHUNK_ELEMENTS["cpu"])
    return max(1, budget // max(1, n_cols))


def make_rng(seed: int | np.random.Generator | None, name: str = "seed") -> np.random.Generator:
    """A NumPy generator from an int seed, an existing generator (used as is) or ``None`` (fresh entropy)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        return np.random.default_rng()
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"{name} must be a non-negative integer, a numpy Generator or None, got {seed!r}")
    return np.random.default_rng(int(seed))
