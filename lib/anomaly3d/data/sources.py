"""Where a run's data comes from: a real dataset folder, or the embedded benchmark in the same format.

Notebooks and reports never branch on this themselves::

    source = open_dataset("real3d-ad", data_root=None, profile="quick", seed=0)   # embedded, Real3D-AD format
    source = open_dataset("real3d-ad", "/data/Real3D-AD-PCD")                      # the real thing
    for category in source.categories():
        train = source.load(category, "train")

Either way the samples are read by the real-format loaders; ``source.description`` says which data it is, and
every table carries it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from anomaly3d.data.formats.records import LazySamples
from anomaly3d.data.registry import DATASETS, get_format
from anomaly3d.data.sample import DataError

__all__ = ["EMBEDDED_FORMATS", "DataSource", "check_data_root", "describe", "open_dataset"]

EMBEDDED_FORMATS: tuple[str, ...] = ("anomaly-shapenet", "real3d-ad", "mvtec3d-ad")
"""Formats the embedded benchmark is written in (ModelNet10 has no embedded stand-in: 3D-ST's pretraining
scenes come from the embedded shape library instead)."""


@dataclass(frozen=True)
class DataSource:
    """A dataset folder and how it was obtained.

    Attributes:
        dataset: dataset id (the on-disk format).
        root: the folder the loaders read.
        embedded: True for the generated synthetic benchmark.
        profile, seed: what the embedded benchmark was generated with (``None`` for real data).
    """

    dataset: str
    root: Path
    embedded: bool
    profile: str | None = None
    seed: int | None = None

    @property
    def description(self) -> str:
        """One line for tables: which data produced the numbers."""
        return describe(self.dataset, None if self.embedded else self.root, profile=self.profile, seed=self.seed)

    def categories(self) -> list[str]:
        """Categories present in :attr:`root` (the dataset's official order first)."""
        return get_format(self.dataset).list_categories(self.root)

    def load(self, category: str, split: str, **options: Any) -> LazySamples:
        """Samples of one split, read lazily by the dataset's own loader (see its ``load_split`` options)."""
        return get_format(self.dataset).load_split(self.root, category, split, **options)


def check_data_root(dataset: str, data_root: str | os.PathLike[str]) -> Path:
    """``data_root`` as a Path, if it is a folder.

    Raises:
        DataError: it is not a folder (the message says what to pass instead and how to check a download).
    """
    root = Path(data_root).expanduser()
    if not root.is_dir():
        raise DataError(
            f"data_root {str(root)!r} is not a folder; pass the folder of your {dataset} download "
            f"(check it with `python -m anomaly3d.data verify {dataset} <root>`) or None for the embedded data"
        )
    return root


def describe(dataset: str, data_root: str | os.PathLike[str] | None, *, profile: str | None, seed: int | None) -> str:
    """The provenance line of :attr:`DataSource.description`, without generating or opening anything."""
    if data_root is None:
        return f"embedded synthetic benchmark ({dataset} format, profile {profile}, seed {seed})"
    return f"{dataset} at {data_root}"


def open_dataset(
    dataset: str,
    data_root: str | os.PathLike[str] | None = None,
    *,
    profile: str = "quick",
    seed: int = 0,
    cache_dir: str | os.PathLike[str] | None = None,
) -> DataSource:
    """The real dataset at ``data_root``, or (``data_root=None``) the embedded benchmark in ``dataset``'s format.

    The embedded benchmark is generated on first use (seconds to a minute, by profile) and cached; see
    :func:`anomaly3d.data.synthetic.ensure_benchmark`.

    Raises:
        ValueError: unknown dataset id, or no embedded stand-in for it.
        DataError: ``data_root`` is not a folder.
    """
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {', '.join(DATASETS)}")
    if data_root is not None:
        return DataSource(dataset=dataset, root=check_data_root(dataset, data_root), embedded=False)
    if dataset not in EMBEDDED_FORMATS:
        raise ValueError(
            f"there is no embedded stand-in for {dataset!r}; pass data_root=<your {dataset} folder>, "
            f"or use one of {', '.join(EMBEDDED_FORMATS)}"
        )
    from anomaly3d.data.synthetic import ensure_benchmark

    root = ensure_benchmark(dataset, profile=profile, seed=seed, cache_dir=cache_dir)
    return DataSource(dataset=dataset, root=Path(root), embedded=True, profile=profile, seed=seed)
