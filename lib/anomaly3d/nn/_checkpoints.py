"""Reading official checkpoints into our modules: one key-mapping loop for every loader in :mod:`anomaly3d.nn`."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from torch import Tensor

__all__ = ["map_official_state"]


def map_official_state(
    state: Mapping[str, object], ours: Mapping[str, Tensor], rename: Callable[[str], str | None]
) -> tuple[dict[str, Tensor], list[str], list[str]]:
    """An official state dict's entries under our parameter names.

    Each key loses a ``module.`` prefix (DataParallel) and goes through ``rename`` (official name -> ours, or
    ``None`` for a parameter we do not have); official 1x1 ``Conv1d`` weights ``(out, in, 1)`` become our
    ``Linear`` weights ``(out, in)``.

    Returns:
        ``(mapped, unexpected, mismatched)``: the tensors to load under our names; the (prefix-free) official
        names we have no use for (also non-tensor entries); ``"name: file shape vs model shape"`` for tensors
        whose shape differs from ours (left out of ``mapped``).
    """
    mapped: dict[str, Tensor] = {}
    unexpected: list[str] = []
    mismatched: list[str] = []
    for name, value in state.items():
        name = name.removeprefix("module.")
        new = rename(name)
        if not isinstance(value, Tensor) or new is None or new not in ours:
            unexpected.append(name)
            continue
        if value.ndim == 3 and value.shape[-1] == 1 and ours[new].ndim == 2:
            value = value[..., 0]  # Conv1d (out, in, 1) -> Linear (out, in)
        if value.shape != ours[new].shape:
            mismatched.append(f"{name}: file {tuple(value.shape)} vs model {tuple(ours[new].shape)}")
            continue
        mapped[new] = value
    return mapped, unexpected, mismatched
