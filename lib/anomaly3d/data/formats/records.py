"""What every format module shares: the file-level index of a split and the lazy sample sequence.

Indexing a split (:class:`SampleRecord` per sample) only lists folders, so it is cheap even for Real3D-AD's
780k-point clouds; :class:`LazySamples` reads one sample when it is indexed, so a split can be iterated with one
cloud in memory at a time.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import overload

import numpy as np

from anomaly3d.data.sample import GOOD, DataError, Sample

__all__ = [
    "LazySamples",
    "SampleRecord",
    "check_split",
    "child",
    "count_records",
    "list_files",
    "natural_key",
    "require_dir",
    "subdirs",
]

_HIDDEN = ("__MACOSX",)


@dataclass(frozen=True)
class SampleRecord:
    """The files of one sample, before anything is read.

    Attributes:
        dataset: dataset id (``mvtec3d-ad`` …).
        category, split, name: as in :class:`~anomaly3d.data.Sample`.
        label: 0 normal, 1 anomalous (from the folder or file name).
        defect_type: ``good`` or the defect name.
        files: role → path, e.g. ``{"xyz": …, "rgb": …, "gt": …}`` or ``{"pcd": …, "gt_txt": …}``; a path may
            not exist (the loader and ``verify`` report it).
    """

    dataset: str
    category: str
    split: str
    name: str
    label: int
    defect_type: str
    files: Mapping[str, Path] = field(default_factory=dict)

    @property
    def is_good(self) -> bool:
        return self.defect_type == GOOD


class LazySamples(Sequence[Sample]):
    """A read-on-access sequence of samples (``len`` and labels are known without reading any file).

    ``samples[i]`` reads sample ``i`` (nothing is cached unless ``cache=True``); slicing returns another lazy
    sequence; :meth:`load_all` reads everything into a list.
    """

    def __init__(
        self,
        records: Sequence[SampleRecord],
        loader: Callable[[SampleRecord], Sample],
        *,
        cache: bool = False,
    ) -> None:
        self._records = list(records)
        self._loader = loader
        self._cache: dict[int, Sample] | None = {} if cache else None

    @property
    def records(self) -> list[SampleRecord]:
        return list(self._records)

    @property
    def names(self) -> list[str]:
        return [r.name for r in self._records]

    @property
    def labels(self) -> np.ndarray:
        """``(len,)`` int64 object labels, from the names (no file is read)."""
        return np.array([r.label for r in self._records], dtype=np.int64)

    @property
    def defect_types(self) -> list[str]:
        return [r.defect_type for r in self._records]

    def __len__(self) -> int:
        return len(self._records)

    @overload
    def __getitem__(self, index: int) -> Sample: ...

    @overload
    def __getitem__(self, index: slice) -> LazySamples: ...

    def __getitem__(self, index: int | slice) -> Sample | LazySamples:
        if isinstance(index, slice):
            return LazySamples(self._records[index], self._loader, cache=self._cache is not None)
        n = len(self._records)
        i = index + n if index < 0 else index
        if not 0 <= i < n:
            raise IndexError(f"sample index {index} out of range for {n} samples")
        if self._cache is not None and i in self._cache:
            return self._cache[i]
        sample = self._loader(self._records[i])
        if self._cache is not None:
            self._cache[i] = sample
        return sample

    def __iter__(self) -> Iterator[Sample]:
        for i in range(len(self._records)):
            yield self[i]

    def load_all(self) -> list[Sample]:
        """Read every sample (mind the memory for Real3D-AD)."""
        return list(self)

    def __repr__(self) -> str:
        if not self._records:
            return "LazySamples(0 samples)"
        r = self._records[0]
        n_bad = int(sum(rec.label for rec in self._records))
        return f"LazySamples({r.dataset} {r.category}/{r.split}: {len(self)} samples, {n_bad} anomalous)"


def natural_key(name: str) -> tuple[object, ...]:
    """Sort key that orders ``2`` before ``10`` (``ashtray0_bulge2`` < ``ashtray0_bulge10``)."""
    return tuple(int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name))


def _visible(p: Path) -> bool:
    return not p.name.startswith(".") and p.name not in _HIDDEN


def list_files(folder: Path, suffixes: tuple[str, ...]) -> list[Path]:
    """Visible files in ``folder`` whose suffix (case-insensitive) is in ``suffixes``, naturally sorted.

    Hidden files and macOS ``._*`` resource forks are skipped.
    """
    if not folder.is_dir():
        return []
    out = [p for p in folder.iterdir() if p.is_file() and _visible(p) and p.suffix.lower() in suffixes]
    return sorted(out, key=lambda p: natural_key(p.name))


def subdirs(folder: Path) -> list[Path]:
    """Visible subfolders of ``folder``, naturally sorted."""
    if not folder.is_dir():
        return []
    return sorted(
        (p for p in folder.iterdir() if p.is_dir() and _visible(p)), key=lambda p: natural_key(p.name)
    )


def child(folder: Path, name: str) -> Path:
    """``folder / name``, or the case-insensitively matching existing child (``GT`` vs ``gt``)."""
    direct = folder / name
    if direct.exists() or not folder.is_dir():
        return direct
    for p in folder.iterdir():
        if p.name.lower() == name.lower():
            return p
    return direct


def require_dir(path: Path, what: str, hint: str = "") -> Path:
    """Return ``path`` if it is a folder, else raise a DataError naming it."""
    if not path.is_dir():
        parent = path.parent
        seen = ", ".join(p.name for p in subdirs(parent)[:12]) if parent.is_dir() else "(parent missing too)"
        raise DataError(
            f"{path}: {what} folder not found (found in {parent}: {seen or 'nothing'})"
            + (f"; {hint}" if hint else "")
        )
    return path


def count_records(records: Sequence[SampleRecord], split: str) -> dict[str, int]:
    """Counts in the manifest's keys: ``{split: n}`` plus ``test_good``/``test_defect`` for the test split."""
    counts = {split: len(records)}
    if split == "test":
        bad = sum(r.label for r in records)
        counts["test_good"] = len(records) - bad
        counts["test_defect"] = bad
    return counts


def check_split(split: str, splits: tuple[str, ...], dataset: str) -> None:
    """Raise ValueError when ``split`` is not one of the dataset's splits."""
    if split not in splits:
        raise ValueError(f"split must be one of {splits} for {dataset}, got {split!r}")
