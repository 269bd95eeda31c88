"""Dataset ids → format modules, and dataset-agnostic entry points."""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import Any

from anomaly3d.data.formats.records import LazySamples

__all__ = ["DATASETS", "get_format", "list_categories", "load_split"]

DATASETS: dict[str, str] = {
    "mvtec3d-ad": "anomaly3d.data.formats.mvtec3d",
    "real3d-ad": "anomaly3d.data.formats.real3d",
    "anomaly-shapenet": "anomaly3d.data.formats.anomaly_shapenet",
    "modelnet10": "anomaly3d.data.formats.modelnet10",
}
"""The dataset ids the library reads, with the module that reads each."""


def get_format(dataset: str) -> ModuleType:
    """The format module for ``dataset`` (one of :data:`DATASETS`).

    Raises:
        ValueError: unknown id, listing the known ones.
    """
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {', '.join(DATASETS)}")
    return importlib.import_module(DATASETS[dataset])


def list_categories(dataset: str, root: str | os.PathLike[str]) -> list[str]:
    """Category folders of ``dataset`` found under ``root`` (official order first)."""
    return get_format(dataset).list_categories(root)


def load_split(
    dataset: str, root: str | os.PathLike[str], category: str, split: str, **options: Any
) -> LazySamples:
    """``get_format(dataset).load_split(root, category, split, **options)`` — see the format module for options."""
    return get_format(dataset).load_split(root, category, split, **options)
