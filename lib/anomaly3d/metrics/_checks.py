"""Input validation shared by the metric modules, and the warning category they emit."""

from __future__ import annotations

import warnings

import numpy as np

__all__ = ["MetricWarning", "as_binary_labels", "as_finite_scores", "check_same_shape", "warn_undefined"]


class MetricWarning(UserWarning):
    """A metric is undefined for the given input (e.g. only one class present) and NaN is returned."""


def warn_undefined(metric: str, why: str, *, stacklevel: int = 3) -> float:
    """Emit a :class:`MetricWarning` saying why ``metric`` is undefined and return NaN."""
    warnings.warn(f"{metric} is undefined: {why}; returning NaN", MetricWarning, stacklevel=stacklevel)
    return float("nan")


def as_binary_labels(labels: object, name: str) -> np.ndarray:
    """Return ``labels`` as a flat bool array; the values must be 0/1 (or bool).

    Raises:
        ValueError: if ``labels`` is empty or holds anything but 0 and 1.
    """
    arr = np.asarray(labels)
    if arr.size == 0:
        raise ValueError(f"{name} is empty; pass at least one label")
    if arr.dtype == bool:
        return arr.reshape(-1)
    if not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{name} must be numeric 0/1 or bool, got dtype {arr.dtype}")
    flat = arr.reshape(-1)
    bad = (flat != 0) & (flat != 1)
    if bad.any():
        examples = np.unique(flat[bad])[:5].tolist()
        raise ValueError(
            f"{name} must hold only 0 and 1 (or bool), found {examples}; binarize it first, e.g. `mask > 0`"
        )
    return flat.astype(bool)


def as_finite_scores(scores: object, name: str) -> np.ndarray:
    """Return ``scores`` as a flat float64 array; every value must be finite.

    Raises:
        ValueError: if ``scores`` is empty, not numeric, or holds NaN/inf (the message counts them).
    """
    arr = np.asarray(scores)
    if arr.size == 0:
        raise ValueError(f"{name} is empty; pass at least one score")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
    flat = np.asarray(arr, dtype=np.float64).reshape(-1)
    finite = np.isfinite(flat)
    if not finite.all():
        n_nan = int(np.isnan(flat).sum())
        n_inf = int(flat.size - finite.sum() - n_nan)
        raise ValueError(
            f"{name} holds {n_nan} NaN and {n_inf} inf value(s) out of {flat.size}; "
            "scores must be finite (fix the method or replace them explicitly before evaluating)"
        )
    return flat


def check_same_shape(a: object, b: object, name_a: str, name_b: str) -> None:
    """Raise ValueError unless ``a`` and ``b`` (array-likes) have the same shape."""
    sa, sb = np.shape(a), np.shape(b)
    if sa != sb:
        raise ValueError(
            f"{name_a} has shape {sa} but {name_b} has shape {sb}; they must match element for element"
        )
