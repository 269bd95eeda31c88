"""The one interface every method of the library implements (the five papers and the baselines).

::

    method = BTF.from_profile("quick", features="fpfh")      # config dataclass built from the profile
    method.fit(train_samples)                                   # iterable of anomaly3d.data.Sample
    object_score, point_scores = method.score(test_sample)      # float, (N,) float32 — one per input point
    method.save("btf.pt"); method = load_method("btf.pt")       # exact round trip, any method

Conventions:

* ``score`` returns a :class:`Scores`: it unpacks as ``(object_score, point_scores)`` and may also carry an
  image-grid ``anomaly_map`` for organized (MVTec 3D-AD) samples, on the sample's ``image_size`` grid, so the
  AU-PRO of the papers is computed on the map the method itself produced.
* Higher scores mean "more anomalous"; ``point_scores`` has exactly one finite value per input point.
* :meth:`AnomalyMethod.load_options` tells a data source how to read samples for this method (e.g. BTF's
  preprocessing of MVTec 3D-AD); the evaluation helpers pass it to ``DataSource.load``.
* Configs are frozen dataclasses; :meth:`MethodConfig.from_profile` reads ``profile.method(name)`` from
  :mod:`anomaly3d.profiles`, the one place where profile-dependent settings live.
"""

from __future__ import annotations

import dataclasses
import os
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self, TypeVar

import numpy as np
import torch

from anomaly3d.atomic import atomic_path
from anomaly3d.data.sample import Sample
from anomaly3d.profiles import Profile, get_profile
from anomaly3d.runtime import resolve_device

__all__ = [
    "AnomalyMethod",
    "MethodConfig",
    "NotFittedError",
    "Scores",
    "load_method",
    "method_class",
    "register_method",
]

FORMAT_VERSION = 1

C = TypeVar("C", bound="MethodConfig")
M = TypeVar("M", bound="AnomalyMethod")


class NotFittedError(RuntimeError):
    """``score`` or ``save`` was called before ``fit`` (or ``load``)."""


@dataclass(frozen=True)
class Scores:
    """What :meth:`AnomalyMethod.score` returns; unpacks as ``(object_score, point_scores)``.

    Attributes:
        object_score: one anomaly score for the whole sample.
        point_scores: ``(N,)`` float32, one score per input point, in the sample's point order.
        anomaly_map: ``(H, W)`` float32 map on the sample's image grid (organized samples), else ``None``.
    """

    object_score: float
    point_scores: np.ndarray
    anomaly_map: np.ndarray | None = None
    branches: dict[str, tuple[float, np.ndarray]] | None = None
    """Per-branch ``(object_score, point_scores)`` before fusion, for methods that fuse several memory banks
    (read by :meth:`AnomalyMethod.finalize_scores`)."""

    def __iter__(self) -> Iterator[Any]:
        yield self.object_score
        yield self.point_scores


@dataclass(frozen=True)
class MethodConfig:
    """Base of every method's config dataclass (subclasses add their fields, all with defaults)."""

    @classmethod
    def from_profile(cls, profile: str | Profile, name: str, **overrides: Any) -> Self:
        """Defaults, then ``profile.method(name)``, then ``overrides`` (unknown keys raise)."""
        settings = {**get_profile(profile).method(name), **overrides}
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise ValueError(
                f"{cls.__name__} has no setting(s) {', '.join(map(repr, unknown))}; "
                f"valid settings are {', '.join(sorted(known))}"
            )
        return cls(**settings)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_REGISTRY: dict[str, type[AnomalyMethod]] = {}


def register_method(cls: type[M]) -> type[M]:
    """Class decorator: make ``cls`` loadable by :func:`load_method` under ``cls.name``."""
    if not getattr(cls, "name", None):
        raise TypeError(f"{cls.__name__} needs a class attribute `name` to be registered")
    _REGISTRY[cls.name] = cls
    return cls


def method_class(name: str) -> type[AnomalyMethod]:
    """The registered class called ``name``.

    Raises:
        KeyError: unknown name (the message lists the registered ones).
    """
    import anomaly3d.methods  # noqa: F401 - registers every method

    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown method {name!r}; registered methods: {', '.join(sorted(_REGISTRY))}") from None


class AnomalyMethod(ABC):
    """Base class: holds the config and the device, implements save/load around ``state_dict``."""

    name: ClassVar[str] = ""
    config_class: ClassVar[type[MethodConfig]] = MethodConfig

    def __init__(self, config: MethodConfig | None = None, *, device: str | torch.device = "auto") -> None:
        config = self.config_class() if config is None else config
        if not isinstance(config, self.config_class):
            raise TypeError(f"{type(self).__name__} needs a {self.config_class.__name__}, got {type(config).__name__}")
        self.config = config
        self.device = resolve_device(device)
        self._fitted = False

    @classmethod
    def from_profile(
        cls, profile: str | Profile = "quick", *, device: str | torch.device = "auto", **overrides: Any
    ) -> Self:
        """An unfitted method with the profile's settings (``overrides`` win)."""
        return cls(cls.config_class.from_profile(profile, cls.name, **overrides), device=device)

    # -- the interface --------------------------------------------------------------------------------------
    def load_options(self, dataset: str) -> dict[str, Any]:
        """Options for ``DataSource.load`` / ``load_split`` when reading ``dataset`` for this method."""
        return {}

    @abstractmethod
    def fit(self: M, train_samples: Iterable[Sample]) -> M:
        """Learn from anomaly-free samples; returns ``self``."""

    @abstractmethod
    def score(self, sample: Sample) -> Scores:
        """Score one sample: ``(object_score, point_scores)`` (+ ``anomaly_map`` for organized samples)."""

    normalizes_over_test_set: ClassVar[bool] = False
    """True for methods whose official protocol normalises scores over the whole test split (Reg3D-AD):
    :func:`~anomaly3d.methods.evaluate_method` then passes every test sample's scores through
    :meth:`finalize_scores` before computing metrics."""

    def finalize_scores(self, scores: list[Scores]) -> list[Scores]:
        """Scores of a whole test split after split-level normalisation (identity unless overridden)."""
        return scores

    @abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """Everything ``fit`` learned, as tensors / arrays / plain Python values."""

    @abstractmethod
    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""

    # -- shared behaviour -----------------------------------------------------------------------------------
    @property
    def is_fitted(self) -> bool:
        return self._fitted

    def _require_fitted(self) -> None:
        if not self._fitted:
            raise NotFittedError(f"{type(self).__name__} is not fitted: call fit(train_samples) or load_method(path)")

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write config + learned state to ``path`` atomically (a crash never leaves a half-written file)."""
        self._require_fitted()
        payload = {
            "format_version": FORMAT_VERSION,
            "method": self.name,
            "config": self.config.as_dict(),
            "state": self.state_dict(),
        }
        path = Path(path)
        with atomic_path(path) as tmp:
            torch.save(payload, tmp)
        return path

    def __repr__(self) -> str:
        state = "fitted" if self._fitted else "not fitted"
        return f"{type(self).__name__}({self.config}, device={self.device}, {state})"


def load_method(path: str | os.PathLike[str], *, device: str | torch.device = "auto") -> AnomalyMethod:
    """Rebuild a fitted method from a file written by :meth:`AnomalyMethod.save`.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is not a saved anomaly3d method (or is corrupt, or from a newer format).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no saved method at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # torch raises several types for corrupt files
        raise ValueError(f"{path} is not a readable saved method ({type(exc).__name__}: {exc}); refit and save again") from exc
    if not isinstance(payload, dict) or "method" not in payload or "state" not in payload:
        raise ValueError(f"{path} is not a saved anomaly3d method (no 'method'/'state' entries)")
    if payload.get("format_version", 0) > FORMAT_VERSION:
        raise ValueError(
            f"{path} was written by a newer anomaly3d (format {payload['format_version']} > {FORMAT_VERSION}); "
            "upgrade anomaly3d"
        )
    cls = method_class(payload["method"])
    try:
        method = cls(cls.config_class(**payload["config"]), device=device)
        method.load_state_dict(payload["state"])
    except (KeyError, TypeError, RuntimeError) as exc:  # written by another version of the method
        raise ValueError(
            f"{path} holds a {payload['method']} saved by another version of anomaly3d ({type(exc).__name__}: {exc});"
            " refit and save again"
        ) from exc
    method._fitted = True
    return method
