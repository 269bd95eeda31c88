"""A sanity check of the benchmark's difficulty: FPFH nearest-neighbour distance, point AUROC per type.

Score of a test point = Euclidean distance of its FPFH descriptor (Rusu et al. 2009; the classical feature of
BTF and of the Real3D-AD baselines) to the nearest FPFH among all points of the category's training samples. A
benchmark on which this scores ~1.0 for every type would be trivial, ~0.5 impossible; the aim is a spread.

The samples are read back through the real-format loaders (:func:`anomaly3d.data.registry.load_split`), so
this also exercises them. MVTec-format samples are read with ``preprocess="btf"`` (table plane removed), as
the papers do. Per defect type the AUROC pools the points of that type's test samples and of the good test
samples over all categories (a false alarm on a good sample counts against every type).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from anomaly3d.data.registry import list_categories, load_split
from anomaly3d.data.sample import GOOD, Sample
from anomaly3d.ops import median_nn_spacing

__all__ = ["BaselineRow", "FPFHScorer", "fpfh_baseline"]


@dataclass(frozen=True)
class BaselineRow:
    """One line of the baseline table."""

    format: str
    defect_type: str
    point_auroc: float
    n_samples: int
    n_points: int
    anomalous_points: int


class FPFHScorer:
    """Memory bank of training FPFHs; ``score(points)`` = distance to the nearest bank descriptor.

    Radii are multiples of the median nearest-neighbour spacing ``s`` of the first training cloud: normals
    from ``normal_factor * s`` (at most 30 neighbours, as BTF), descriptors from ``feature_factor * s``."""

    def __init__(
        self, train: list[np.ndarray], *, normal_factor: float = 2.5, feature_factor: float = 6.0
    ) -> None:
        from scipy.spatial import cKDTree

        if not train:
            raise ValueError("train is empty: the FPFH memory bank needs at least one training cloud")
        self.spacing = median_nn_spacing(np.asarray(train[0], dtype=np.float64))
        self.radius_normal = normal_factor * self.spacing
        self.radius_feature = feature_factor * self.spacing
        bank = np.concatenate([self.features(p) for p in train])
        self._tree = cKDTree(bank)

    def features(self, points: np.ndarray) -> np.ndarray:
        from anomaly3d.ops import fpfh

        return np.asarray(
            fpfh(
                np.asarray(points, dtype=np.float64),
                radius_normal=self.radius_normal,
                radius_feature=self.radius_feature,
            ),
            dtype=np.float64,
        )

    def score(self, points: np.ndarray) -> np.ndarray:
        d, _ = self._tree.query(self.features(points), k=1)
        return d


def _load(fmt: str, root: Path, category: str, split: str) -> list[Sample]:
    options = {"preprocess": "btf", "with_rgb": False} if fmt == "mvtec3d-ad" else {}
    return list(load_split(fmt, root, category, split, **options))


def fpfh_baseline(fmt: str, root: str | os.PathLike[str]) -> list[BaselineRow]:
    """Point AUROC of the FPFH-NN score per defect type (and ``"all"``) on the benchmark at ``root``.

    Raises:
        DataError: unreadable benchmark files (from the loaders).
    """
    from sklearn.metrics import roc_auc_score

    root = Path(root)
    per_type: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    good: list[tuple[np.ndarray, np.ndarray]] = []
    for cat in list_categories(fmt, root):
        scorer = FPFHScorer([s.points for s in _load(fmt, root, cat, "train")])
        for s in _load(fmt, root, cat, "test"):
            labels = s.point_labels if s.point_labels is not None else np.zeros(s.num_points, np.uint8)
            entry = (scorer.score(s.points), labels.astype(np.uint8))
            (good if s.defect_type == GOOD else per_type.setdefault(s.defect_type, [])).append(entry)
    rows = []
    for kind in sorted(per_type) + ["all"]:
        entries = [e for k in per_type for e in per_type[k]] if kind == "all" else per_type[kind]
        scores = np.concatenate([e[0] for e in entries + good])
        labels = np.concatenate([e[1] for e in entries + good])
        auroc = float(roc_auc_score(labels, scores)) if 0 < labels.sum() < len(labels) else float("nan")
        rows.append(BaselineRow(fmt, kind, auroc, len(entries), len(labels), int(labels.sum())))
    return rows
