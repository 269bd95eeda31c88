"""Generating the embedded benchmark: :func:`generate` writes one format to a folder, :func:`ensure_benchmark`
keeps a cached copy per (format, profile, seed).

Sizes come from :func:`anomaly3d.get_profile`: ``categories`` (``None`` = every shape family), ``n_train``,
``n_test_good``, ``n_test_per_defect`` (per defect type), ``n_points`` (points per cloud before a partial scan
removes some) and ``image_size`` (MVTec grids). MVTec-format data also get a validation split of
``max(1, n_train // 4)`` good samples (profiles have no field for it).

Determinism: every sample draws from its own ``numpy.random.Generator`` seeded by ``(seed, format, category,
split, defect type, index)`` (names hashed with CRC-32), so a sample does not depend on which other samples or
categories are generated, nor on the number of worker processes; the same arguments give byte-identical files.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import zlib
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from anomaly3d.data.sample import GOOD
from anomaly3d.data.synthetic.defects import APPEARANCE_DEFECTS, GEOMETRIC_DEFECTS
from anomaly3d.data.synthetic.samples import DefectRequest, make_cloud_sample, make_scan_sample
from anomaly3d.data.synthetic.scene import make_image_sample, scene_camera
from anomaly3d.data.synthetic.shapes import CATEGORIES
from anomaly3d.data.synthetic.writers import (
    STAMP_JSON,
    write_anomaly_shapenet,
    write_camera,
    write_json,
    write_manifest,
    write_mvtec,
    write_real3d,
)
from anomaly3d.profiles import Profile, get_profile

__all__ = [
    "DEFAULT_FRACTION",
    "DEFAULT_SEVERITY",
    "FORMATS",
    "GENERATOR_VERSION",
    "default_cache_dir",
    "defect_types",
    "ensure_benchmark",
    "generate",
    "generator_stamp",
    "sample_rng",
]

FORMATS: tuple[str, ...] = ("anomaly-shapenet", "real3d-ad", "mvtec3d-ad")
GENERATOR_VERSION = "1"
"""Bump when the generated data change on purpose; the cache also keys on a hash of this package's source."""

DEFAULT_FRACTION = (0.01, 0.10)
"""Anomalous fraction of a defective cloud (Anomaly-ShapeNet: 1-10 % of the points)."""
DEFAULT_SEVERITY = (0.3, 1.0)


def defect_types(fmt: str) -> tuple[str, ...]:
    """Defect types of a format: the six Anomaly-ShapeNet types, plus stain and discolouration for MVTec."""
    _check_format(fmt)
    return GEOMETRIC_DEFECTS + (APPEARANCE_DEFECTS if fmt == "mvtec3d-ad" else ())


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; valid formats are {', '.join(FORMATS)}")


_DATA_MODULES = ("_geometry", "shapes", "defects", "scan", "samples", "scene", "writers", "benchmark")
"""The modules whose code determines the generated files (figures, baseline and CLI do not)."""


def generator_stamp() -> str:
    """``GENERATOR_VERSION`` plus a hash of the data-generating modules' source: any change to how data are
    made invalidates cached benchmarks."""
    h = hashlib.sha256()
    for name in _DATA_MODULES:
        path = Path(__file__).with_name(f"{name}.py")
        h.update(name.encode())
        h.update(path.read_bytes())
    return f"{GENERATOR_VERSION}+{h.hexdigest()[:12]}"


def sample_rng(seed: int, *keys: str | int) -> np.random.Generator:
    """The generator of one sample: ``SeedSequence([seed, crc32(key) or key, ...])``."""
    words = [int(seed)] + [zlib.crc32(k.encode()) if isinstance(k, str) else int(k) for k in keys]
    return np.random.default_rng(np.random.SeedSequence(words))


@dataclass(frozen=True)
class _Job:
    fmt: str
    category: str
    split: str
    kind: str
    index: int  # index within (split, kind) for seeding
    file_index: int  # index in the file name
    seed: int
    n_points: int
    image_size: int
    fraction: tuple[float, float]
    severity: tuple[float, float]


def _run_job(job: _Job, root: str) -> dict[str, Any]:
    rng = sample_rng(job.seed, job.fmt, job.category, job.split, job.kind, job.index)
    request = DefectRequest(job.kind, job.fraction, job.severity)
    out = Path(root)
    if job.fmt == "anomaly-shapenet":
        s = make_cloud_sample(
            job.category,
            request,
            rng,
            n_points=job.n_points,
            jitter_deg=0.0 if job.split == "train" else 1.0,
            jitter_shift=0.0 if job.split == "train" else 0.005,
        )
        paths = write_anomaly_shapenet(out, s, job.split, job.file_index)
        frac, n = s.anomalous_fraction, len(s.points)
    elif job.fmt == "real3d-ad":
        s = make_scan_sample(
            job.category, request, rng, n_points=job.n_points, full_scan=job.split == "train"
        )
        paths = write_real3d(out, s, job.split, job.file_index)
        frac, n = s.anomalous_fraction, len(s.points)
    else:
        s = make_image_sample(
            job.category, request, rng, image_size=job.image_size, n_points_equiv=job.n_points
        )
        paths = write_mvtec(out, s, job.split, job.file_index)
        n = int(s.valid.sum())
        frac = float(s.mask.sum()) / max(int(s.meta["object_pixels"]), 1)
    defect = s.meta.get("defect", {})
    return {
        "category": job.category,
        "split": job.split,
        "defect_type": job.kind,
        "file": str(paths["xyz" if job.fmt == "mvtec3d-ad" else "pcd"].relative_to(out)),
        "points": n,
        "anomalous_fraction": round(float(frac), 6),
        "target_fraction": defect.get("target_fraction"),
        "severity": defect.get("severity"),
    }


def _jobs(
    fmt: str,
    profile: Profile,
    seed: int,
    categories: Sequence[str],
    fraction: tuple[float, float],
    severity: tuple[float, float],
) -> tuple[list[_Job], dict[str, dict[str, int]]]:
    jobs: list[_Job] = []
    counts: dict[str, dict[str, int]] = {}
    common = {
        "seed": seed,
        "n_points": profile.n_points,
        "image_size": profile.image_size,
        "fraction": fraction,
        "severity": severity,
    }
    n_val = max(1, profile.n_train // 4)
    for cat in categories:
        c = {"train": profile.n_train}
        jobs += [_Job(fmt, cat, "train", GOOD, i, i, **common) for i in range(profile.n_train)]
        if fmt == "mvtec3d-ad":
            c["validation"] = n_val
            jobs += [_Job(fmt, cat, "validation", GOOD, i, i, **common) for i in range(n_val)]
        test = [(GOOD, i) for i in range(profile.n_test_good)]
        test += [(k, i) for k in defect_types(fmt) for i in range(profile.n_test_per_defect)]
        for k_run, (kind, i) in enumerate(test):
            # Real3D-AD numbers test files consecutively over all types; the others count per type
            file_index = k_run if fmt == "real3d-ad" else i
            jobs.append(_Job(fmt, cat, "test", kind, i, file_index, **common))
        c["test_good"] = profile.n_test_good
        c["test_defect"] = profile.n_test_per_defect * len(defect_types(fmt))
        counts[cat] = c
    return jobs, counts


def _resolve_categories(profile: Profile, categories: Sequence[str] | None) -> list[str]:
    cats = (
        list(categories)
        if categories is not None
        else (list(profile.categories) if profile.categories is not None else list(CATEGORIES))
    )
    unknown = [c for c in cats if c not in CATEGORIES]
    if unknown:
        raise ValueError(f"unknown categories {unknown}; the shape library has {', '.join(CATEGORIES)}")
    if not cats:
        raise ValueError("categories is empty; give at least one category")
    if len(set(cats)) != len(cats):
        raise ValueError(f"categories has duplicates: {cats}")
    return cats


def generate(
    fmt: str,
    out_dir: str | os.PathLike[str],
    profile: str | Profile = "quick",
    seed: int = 0,
    categories: Sequence[str] | None = None,
    *,
    fraction: tuple[float, float] = DEFAULT_FRACTION,
    severity: tuple[float, float] = DEFAULT_SEVERITY,
    workers: int | None = None,
) -> Path:
    """Write the synthetic benchmark in format ``fmt`` to ``out_dir`` and return ``out_dir``.

    The data are built in a temporary folder next to ``out_dir`` and renamed into place at the end, so an
    interrupted run leaves nothing half-written; an existing ``out_dir`` is replaced only if it is an earlier
    benchmark (it holds ``SYNTHETIC.json``) or empty.

    Args:
        fmt: ``"anomaly-shapenet"``, ``"real3d-ad"`` or ``"mvtec3d-ad"``.
        out_dir: the dataset root to create (the loaders' ``root``).
        profile: a profile name or :class:`~anomaly3d.Profile` (sizes, categories).
        seed: non-negative integer; the same seed gives byte-identical files.
        categories: override the profile's categories (names from
            :data:`~anomaly3d.data.synthetic.shapes.CATEGORIES`).
        fraction: allowed anomalous fraction ``(lo, hi)`` of every defective cloud.
        severity: severity range ``(lo, hi)`` in ``[0, 1]`` defects draw from.
        workers: processes to use (default: up to 2, as the CPU allows); results do not depend on it.

    Raises:
        ValueError: unknown format/profile/category, bad seed or ranges, or an ``out_dir`` that holds
            other data.
    """
    _check_format(fmt)
    prof = get_profile(profile)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    DefectRequest("bulge", tuple(fraction), tuple(severity))  # validates the ranges
    cats = _resolve_categories(prof, categories)
    out = Path(out_dir).expanduser().absolute()
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / STAMP_JSON).is_file())):
        raise ValueError(
            f"{out} exists and is not a synthetic benchmark folder (no {STAMP_JSON}); "
            "choose another out_dir or remove it"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    jobs, counts = _jobs(fmt, prof, int(seed), cats, tuple(fraction), tuple(severity))
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        n_workers = workers if workers is not None else min(2, os.cpu_count() or 1)
        if n_workers > 1 and len(jobs) > 8:
            with ProcessPoolExecutor(max_workers=n_workers) as pool:
                summary = list(pool.map(_run_job, jobs, [str(tmp)] * len(jobs), chunksize=4))
        else:
            summary = [_run_job(j, str(tmp)) for j in jobs]
        if fmt == "mvtec3d-ad":
            for cat in cats:
                write_camera(tmp, cat, scene_camera(prof.image_size))
        notes = [
            (
                f"Generated by anomaly3d.data.synthetic (generator {generator_stamp()}), "
                f"profile {prof.name!r}, seed {int(seed)}; the same arguments give byte-identical files."
            ),
            "Category names are the procedural shape families of anomaly3d.data.synthetic.shapes.",
            (
                f"Defective clouds have an anomalous fraction in {list(fraction)}; "
                "SYNTHETIC.json lists each sample's."
            ),
        ]
        if fmt == "mvtec3d-ad":
            notes.append(
                "validation holds max(1, n_train // 4) good samples; stain and discolouration are "
                "colour-only defects, bulge/concavity/bending are geometry-only."
            )
        write_manifest(
            tmp,
            fmt,
            counts,
            defect_types(fmt),
            f"Embedded synthetic benchmark written in the {fmt} layout (see anomaly3d.data.synthetic).",
            notes,
        )
        write_json(
            tmp / STAMP_JSON,
            {
                "generator": generator_stamp(),
                "format": fmt,
                "profile": prof.name,
                "seed": int(seed),
                "categories": cats,
                "fraction": list(fraction),
                "severity": list(severity),
                "samples": summary,
            },
        )
        _replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _replace_dir(new: Path, target: Path) -> None:
    """Rename ``new`` onto ``target``; a previous ``target`` is moved aside first and deleted after."""
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        old.rmdir()
        os.replace(target, old)
    try:
        os.replace(new, target)
    except OSError:
        if old is not None and not target.exists():
            os.replace(old, target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def default_cache_dir() -> Path:
    """``$ANOMALY3D_CACHE/synthetic`` if that variable is set, else ``~/.cache/anomaly3d/synthetic``."""
    from anomaly3d.runtime import cache_root

    return cache_root() / "synthetic"


def _is_current(root: Path, fmt: str, profile: str, seed: int) -> bool:
    import json

    try:
        stamp = json.loads((root / STAMP_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        stamp.get("generator") == generator_stamp()
        and stamp.get("format") == fmt
        and stamp.get("profile") == profile
        and stamp.get("seed") == seed
    )


def ensure_benchmark(
    fmt: str, profile: str = "quick", seed: int = 0, cache_dir: str | os.PathLike[str] | None = None
) -> Path:
    """The cached benchmark ``<cache_dir>/<fmt>/<profile>-seed<seed>``, generated first if it is missing or
    was written by another generator version (see :func:`generator_stamp`). ``cache_dir`` defaults to
    :func:`default_cache_dir`. Notebooks, tests and reports call this.

    Raises:
        ValueError: unknown format or profile, bad seed.
    """
    _check_format(fmt)
    prof = get_profile(profile)
    base = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    root = base / fmt / f"{prof.name}-seed{seed}"
    if not _is_current(root, fmt, prof.name, seed):
        generate(fmt, root, prof, seed)
    return root
