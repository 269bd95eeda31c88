"""Fit a method on one category's training split, score its test split, evaluate with :mod:`anomaly3d.metrics`.

The one loop every notebook and report job runs, so that every number in every table is produced the same way:

* samples are read through the data source with the method's own :meth:`~AnomalyMethod.load_options`;
* object metrics (O-AUROC, O-AUPR) from the object scores, point metrics (P-AUROC, P-AUPR, pooled over the
  category's test points, the Real3D-AD protocol) from the point scores;
* organized samples (MVTec 3D-AD format) also get AU-PRO at every limit, from the method's ``anomaly_map`` when
  it produced one, else from its point scores put on the image grid (scatter + harmonic interpolation, 3D-ST's
  protocol);
* the bank size, where the method has one, goes to the result's ``extras``; fit and scoring wall times are
  returned beside the result (:class:`CategoryRun`), not in it, so that result files repeat bit for bit.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from anomaly3d.data.sample import DataError, Sample
from anomaly3d.data.sources import DataSource
from anomaly3d.methods.base import AnomalyMethod, Scores, load_method
from anomaly3d.metrics import EvaluationResult, evaluate_category
from anomaly3d.metrics.maps import point_scores_to_map
from anomaly3d.runtime import progress as progress_bar

__all__ = ["CategoryRun", "display_name", "evaluate_method"]


def display_name(method: AnomalyMethod) -> str:
    """The method's name in tables (``display_name`` when it defines one, else ``name``)."""
    return str(getattr(method, "display_name", method.name))


@dataclass
class CategoryRun:
    """What :func:`evaluate_method` produced for one category.

    Attributes:
        result: every metric (see :func:`anomaly3d.metrics.evaluate_category`).
        names: test sample names, in scoring order.
        labels: their object labels.
        scores: the method's :class:`Scores` per test sample (kept when ``keep_scores``).
        fit_seconds, score_seconds: wall times of ``fit`` and of scoring the whole test split.
        method: the fitted method (the one loaded from ``checkpoint`` when that was used).
    """

    result: EvaluationResult
    names: list[str]
    labels: list[int]
    scores: list[Scores] = field(default_factory=list)
    fit_seconds: float = 0.0
    score_seconds: float = 0.0
    method: AnomalyMethod | None = None


def _point_labels(s: Sample) -> np.ndarray:
    return s.point_labels if s.point_labels is not None else np.full(s.num_points, s.label, np.uint8)


def _load_checkpoint(method: AnomalyMethod, path: str | os.PathLike[str]) -> AnomalyMethod | None:
    """The saved method at ``path`` if it is the same method with the same config, else ``None`` (refit)."""
    if not Path(path).is_file():
        return None
    try:
        saved = load_method(path, device=method.device)
    except ValueError:
        return None  # corrupt or foreign file: refit and overwrite it
    if type(saved) is not type(method) or saved.config != method.config:
        return None
    return saved


def _validation_split(method: AnomalyMethod, source: DataSource, category: str, options: dict) -> list | None:
    """The category's validation split for methods that select checkpoints on it (``uses_validation``), when the
    dataset has one (MVTec 3D-AD does; Real3D-AD and Anomaly-ShapeNet do not)."""
    if not getattr(method, "uses_validation", False):
        return None
    try:
        samples = list(source.load(category, "validation", **options))
    except (ValueError, DataError):
        return None
    return samples or None


def evaluate_method(
    method: AnomalyMethod,
    source: DataSource,
    category: str,
    *,
    profile: str,
    seed: int | None,
    keep_scores: bool = False,
    progress: bool = True,
    on_sample: Callable[[Sample, Scores], None] | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    retrain: bool = False,
    refit: bool = True,
) -> CategoryRun:
    """Fit ``method`` on ``category``'s train split of ``source``, score the test split, evaluate.

    Args:
        method: an unfitted (or fitted: it is refitted) method.
        source: where the data comes from (:func:`anomaly3d.data.sources.open_dataset`).
        category: the category to run.
        profile, seed: recorded in the result (the caller built the method and the data with them).
        keep_scores: keep every sample's :class:`Scores` in the returned run (memory: one float per point).
        progress: show a progress bar (also switched off by ``$ANOMALY3D_PROGRESS=0``).
        on_sample: called with each test sample and its scores (e.g. to keep a figure's sample).
        checkpoint: a file for the fitted method: when it exists (and holds the same method and config) it is
            loaded instead of fitting again, unless ``retrain``; otherwise the method is fitted and saved there.
            ``fit_seconds`` is then 0 for a loaded method. The method actually used is ``CategoryRun.method``.
        retrain: fit even when ``checkpoint`` exists (and overwrite it).
        refit: ``False`` scores with ``method`` as it is: it must already be fitted on this category's train split
            (e.g. a copy of a fitted method with another inference-time setting); ``fit_seconds`` is then 0.

    Raises:
        DataError: unreadable samples (from the loaders); ValueError: a method returned malformed scores;
        NotFittedError: ``refit=False`` with an unfitted method.
    """
    if not refit:
        method._require_fitted()
    options = method.load_options(source.dataset)
    train = source.load(category, "train", **options)
    test = source.load(category, "test", **options)
    name = display_name(method)

    t0 = time.perf_counter()
    loaded = _load_checkpoint(method, checkpoint) if (refit and checkpoint is not None and not retrain) else None
    if loaded is not None:
        method = loaded
    elif refit:
        validation = _validation_split(method, source, category, options)
        if validation is not None:
            method.fit(train, validation_samples=validation)
        else:
            method.fit(train)
        if checkpoint is not None:
            method.save(checkpoint)
    fit_seconds = time.perf_counter() - t0 if (refit and loaded is None) else 0.0

    names, labels, kept = [], [], []
    obj_scores, pt_scores, pt_labels = [], [], []
    maps, masks = [], []
    t0 = time.perf_counter()
    samples = progress_bar(test, f"{name} {category}: scoring", total=len(test)) if progress else test
    if method.normalizes_over_test_set:  # score everything first, then normalise over the split
        raw = [(sample, method.score(sample)) for sample in samples]
        final = method.finalize_scores([sc for _, sc in raw])
        scored = list(zip([s for s, _ in raw], final, strict=True))
    else:
        scored = ((sample, method.score(sample)) for sample in samples)
    for sample, scores in scored:
        pts = np.asarray(scores.point_scores, dtype=np.float32).reshape(-1)
        if pts.shape[0] != sample.num_points or not np.isfinite(pts).all() or not np.isfinite(scores.object_score):
            raise ValueError(
                f"{name} returned invalid scores for {category}/{sample.name}: {pts.shape[0]} point scores for "
                f"{sample.num_points} points, finite={bool(np.isfinite(pts).all())}, object={scores.object_score}"
            )
        names.append(sample.name)
        labels.append(int(sample.label))
        obj_scores.append(float(scores.object_score))
        pt_scores.append(pts)
        pt_labels.append(_point_labels(sample))
        if sample.is_organized and sample.gt_mask is not None:
            amap = scores.anomaly_map
            if amap is None:
                amap = point_scores_to_map(pts, sample.pixel_index, sample.image_size)
            maps.append(np.asarray(amap, dtype=np.float32))
            masks.append(sample.gt_mask)
        if keep_scores:
            kept.append(scores)
        if on_sample is not None:
            on_sample(sample, scores)
    score_seconds = time.perf_counter() - t0

    extras: dict[str, int] = {"n_test": len(names)}  # no wall times here: result files must repeat bit for bit
    bank = getattr(method, "bank", None)
    if bank is not None and hasattr(bank, "__len__"):
        extras["bank_size"] = len(bank)
    use_maps = bool(maps) and len(maps) == len(names)
    result = evaluate_category(
        method=name,
        dataset=source.dataset,
        category=category,
        profile=profile,
        seed=seed,
        object_labels=labels,
        object_scores=obj_scores,
        point_labels=pt_labels,
        point_scores=pt_scores,
        anomaly_maps=maps if use_maps else None,
        gt_masks=masks if use_maps else None,
        keep_curves=True,
        extras=extras,
    )
    return CategoryRun(result, names, labels, kept, fit_seconds, score_seconds, method)
