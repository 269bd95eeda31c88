"""The job graph, declared once: every notebook run behind ``reports/``, with its parameters and outputs.

The Snakemake workflow (``workflow/Snakefile``) makes one rule per job from :func:`build_jobs`; the comparison
tables, the claims ledger and the index read the same list. A job runs one notebook with papermill into
``reports/runs/<profile>/<job>/``: the executed notebook, ``result.json`` (its done-marker), the tables
(``.csv`` + ``.md``) and result files (:mod:`anomaly3d.metrics` CSVs) the notebook writes, ``runtime.json`` and
``log.txt``. A job reruns when its notebook, its parameters, the library code it declares (``code``) or the
embedded-data generator change — and only then.

Which paper table or figure each job's numbers feed is declared in :mod:`anomaly3d.reports.catalog`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from anomaly3d.profiles import get_profile

__all__ = ["LIB_DIR", "REPORTS_DIR", "REPO_ROOT", "Job", "build_jobs", "code_stamp", "profile_stamp", "run_dir"]

REPO_ROOT = Path(__file__).resolve().parents[3]
REPORTS_DIR = REPO_ROOT / "reports"
LIB_DIR = Path(__file__).resolve().parents[1]

_BASE_CODE = ("runtime.py", "ops", "data", "metrics", "reports/notebook.py")
"""Library code every job depends on (besides its own ``code``). The profiles enter through
:func:`profile_stamp` instead, so a change to one method's settings reruns only that method's jobs."""


@dataclass(frozen=True)
class Job:
    """One notebook run.

    Attributes:
        name: unique id, used in paths (``reports/runs/<profile>/<name>/``).
        notebook: stem of the notebook in ``notebooks/`` (``00_tour``).
        title: what the job produces, for the index.
        parameters: papermill parameters besides ``profile``, ``seed`` and ``output_dir``.
        seed: the run's seed.
        tables: stems of the tables (``.csv`` + ``.md``) the notebook writes into its output folder.
        results: stems of the result CSVs (:func:`anomaly3d.metrics.write_results_csv`) it writes; the comparison
            tables and the claims ledger read them.
        figures: stems of the figures it writes, each as ``.png`` and as self-contained ``.html`` (plotly.js inlined,
            a fixed div id; not committed: ~4 MB each).
        code: library paths (relative to ``lib/anomaly3d``) whose change must rerun the job.
        methods: method names whose profile settings the job uses (their change reruns it).
    """

    name: str
    notebook: str
    title: str
    parameters: Mapping[str, Any] = field(default_factory=dict)
    seed: int = 0
    tables: tuple[str, ...] = ()
    results: tuple[str, ...] = ()
    figures: tuple[str, ...] = ()
    code: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()

    @property
    def notebook_path(self) -> Path:
        return REPO_ROOT / "notebooks" / f"{self.notebook}.py"

    @property
    def dataset(self) -> str | None:
        return self.parameters.get("dataset")

    @property
    def outputs(self) -> tuple[str, ...]:
        """File names the job must leave in its run folder."""
        files = ["executed.ipynb", "result.json"]
        files += [f"{t}.{ext}" for t in self.tables for ext in ("csv", "md")]
        files += [f"{r}.csv" for r in self.results]
        files += [f"{f}.{ext}" for f in self.figures for ext in ("png", "html")]
        return tuple(files)


def run_dir(profile: str, job: str, reports_dir: Path = REPORTS_DIR) -> Path:
    return reports_dir / "runs" / profile / job


def profile_stamp(profile: str, methods: tuple[str, ...]) -> str:
    """Hash of the profile's data sizes and of the settings of ``methods`` (a job parameter)."""
    d = get_profile(profile).as_dict()
    d["methods"] = {m: d["methods"].get(m, {}) for m in sorted(methods)}
    return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]


def code_stamp(paths: tuple[str, ...]) -> str:
    """Hash of the library files under ``paths`` (plus the base code every job uses): a job parameter, so a change
    of the code a job runs reruns it."""
    h = hashlib.sha256()
    for rel in sorted(set(_BASE_CODE + tuple(paths))):
        p = LIB_DIR / rel
        files = sorted(p.rglob("*.py")) if p.is_dir() else [p]
        for f in files:
            if f.is_file():
                h.update(str(f.relative_to(LIB_DIR)).encode())
                h.update(f.read_bytes())
    return h.hexdigest()[:16]


_EMBEDDED_FORMATS = ("anomaly-shapenet", "real3d-ad", "mvtec3d-ad")
_EXTRA_SEEDS = 2
"""Baselines are cheap: they also run on this many further seeds (fresh embedded data each) for the claims."""


def _baseline_jobs(seed: int, roots: Mapping[str, str]) -> list[Job]:
    jobs = []
    for dataset in _EMBEDDED_FORMATS:
        more = dataset != "mvtec3d-ad" and dataset not in roots  # real data: another seed changes nothing
        seeds = [seed] + ([seed + k for k in range(1, _EXTRA_SEEDS + 1)] if more else [])
        for s in seeds:
            suffix = "" if s == seed else f"-seed{s}"
            jobs.append(
                Job(
                    name=f"baselines-{dataset}{suffix}",
                    notebook="06_baselines",
                    title=f"BTF(Raw) and BTF(FPFH) on {dataset}" + (f" (seed {s})" if suffix else ""),
                    parameters={"dataset": dataset, "data_root": roots.get(dataset)},
                    seed=s,
                    tables=("baselines_btf",),
                    results=("btf_results",),
                    code=("methods/base.py", "methods/patchcore.py", "methods/btf.py", "methods/evaluation.py"),
                    methods=("btf",),
                )
            )
    return jobs


ST3D_ABLATIONS = ("random_teacher", "absolute_coordinates", "rotation_augmentation")
"""3D-ST Table 4 variants, one job each (the claims ledger compares them with the main run)."""


def _st3d_jobs(seed: int, roots: Mapping[str, str]) -> list[Job]:
    code = ("nn", "methods/base.py", "methods/st3d.py", "methods/evaluation.py", "data/scenes.py")
    params = {"dataset": "mvtec3d-ad", "data_root": roots.get("mvtec3d-ad"), "modelnet_root": roots.get("modelnet10")}
    jobs = []
    for ablation in ("none", *ST3D_ABLATIONS):
        main = ablation == "none"
        jobs.append(
            Job(
                name="3d-st" if main else f"3d-st-{ablation.replace('_', '-')}",
                notebook="01_3d_st",
                title="3D-ST: teacher pretraining, student, AU-PRO (Tables 1-2, Figure 5)" if main
                else f"3D-ST ablation (Table 4): {ablation.replace('_', ' ')}",
                parameters={**params, "ablation": ablation},
                seed=seed,
                tables=("st3d_table1", "st3d_table2"),
                results=("st3d_results",),
                figures=("st3d_figure5",),
                code=code,
                methods=("3d-st",),
            )
        )
    for axis in ("points", "feature_dim", "neighbors"):
        jobs.append(
            Job(
                name=f"3d-st-sweep-{axis.replace('_', '-')}",
                notebook="01_3d_st_sweep",
                title=f"3D-ST sweep of {axis.replace('_', ' ')} (Table 3, Figure 6)",
                parameters={"dataset": "mvtec3d-ad", "data_root": roots.get("mvtec3d-ad"), "axis": axis},
                seed=seed,
                tables=(f"st3d_table3_{axis}",),
                figures=(f"st3d_figure6_{axis}",),
                code=code,
                methods=("3d-st",),
            )
        )
    return jobs


IMRNET_SAMPLERS = ("random", "fps", "voxel")
"""IMRNet Table 4: the samplers compared with GPS, one job each (the claims ledger compares them with the main run)."""


def _imrnet_jobs(seed: int, roots: Mapping[str, str]) -> list[Job]:
    code = ("nn", "ops/center_sampling.py", "methods/base.py", "methods/imrnet.py", "methods/evaluation.py",
            "data/scenes.py")
    common = {"modelnet_root": roots.get("modelnet10")}
    outputs = {"tables": ("imrnet_categories",), "results": ("imrnet_results",), "figures": ("imrnet_figure6",)}
    jobs = [
        Job(
            name="imrnet" if dataset == "anomaly-shapenet" else f"imrnet-{dataset}",
            notebook="03_imrnet",
            title=f"IMRNet on {dataset} (Table {3 if dataset == 'anomaly-shapenet' else 2}, Figures 4 and 6)",
            parameters={**common, "dataset": dataset, "data_root": roots.get(dataset), "sampling": "gps"},
            seed=seed, code=code, methods=("imrnet",), **outputs,
        )
        for dataset in ("anomaly-shapenet", "real3d-ad")
    ]
    for sampler in IMRNET_SAMPLERS:
        jobs.append(
            Job(
                name=f"imrnet-sampling-{sampler}",
                notebook="03_imrnet",
                title=f"IMRNet ablation (Table 4): {sampler} patch centres instead of GPS",
                parameters={**common, "dataset": "anomaly-shapenet", "data_root": roots.get("anomaly-shapenet"),
                            "sampling": sampler},
                seed=seed, code=code, methods=("imrnet",), **outputs,
            )
        )
    jobs.append(
        Job(
            name="imrnet-mask-ratio",
            notebook="03_imrnet_mask_ratio",
            title="IMRNet masking ratio by anomaly size (Figure 5)",
            parameters={**common, "dataset": "anomaly-shapenet", "data_root": roots.get("anomaly-shapenet")},
            seed=seed, code=code, methods=("imrnet",), tables=("imrnet_figure5",), figures=("imrnet_figure5",),
        )
    )
    return jobs


GROUP3AD_ALPHAS = (0.1, 0.2, 0.3)
"""Group3AD Table 9: the AGCS shares the main Group3AD job also scores (with FPS centres: Table 6's ablation)."""


def _group3ad_jobs(seed: int, roots: Mapping[str, str]) -> list[Job]:
    code = ("nn", "methods/base.py", "methods/patchcore.py", "methods/reg3dad.py", "methods/group3ad.py",
            "methods/group3ad_losses.py", "methods/evaluation.py")
    common = {"modelnet_root": roots.get("modelnet10"), "alpha": 0.2}
    outputs = {"results": ("group3ad_results",), "code": code}
    baselines = ("group3ad", "reg3d-ad", "patchcore-pointmae")
    return [
        Job(
            name="group3ad",
            notebook="04_group3ad",
            title="Group3AD, Reg3D-AD and PatchCore(PointMAE) on real3d-ad (Tables 1-4), AGCS vs FPS and alpha"
                  " (Tables 6 and 9)",
            parameters={**common, "dataset": "real3d-ad", "data_root": roots.get("real3d-ad"), "variant": "full",
                        "alphas": list(GROUP3AD_ALPHAS)},
            seed=seed, tables=("group3ad_categories", "group3ad_table9"), methods=baselines, **outputs,
        ),
        Job(
            name="group3ad-no-iun-ian",
            notebook="04_group3ad",
            title="Group3AD ablation (Table 5): the pretrained encoder, no IUN/IAN training",
            parameters={**common, "dataset": "real3d-ad", "data_root": roots.get("real3d-ad"),
                        "variant": "no_iun_ian", "alphas": None},
            seed=seed, tables=("group3ad_categories",), methods=("group3ad",), **outputs,
        ),
        Job(
            name="group3ad-anomaly-shapenet",
            notebook="04_group3ad",
            title="Group3AD, Reg3D-AD and PatchCore(PointMAE) on anomaly-shapenet (Table 8)",
            parameters={**common, "dataset": "anomaly-shapenet", "data_root": roots.get("anomaly-shapenet"),
                        "variant": "full", "alphas": None},
            seed=seed, tables=("group3ad_categories",), methods=baselines, **outputs,
        ),
    ]


SHAPE_GUIDED_PATCH_FACTORS = (0.5, 2.0)
"""Table 4 (patch size K): besides the main run, one job per factor times the profile's K."""


def _shape_guided_jobs(profile: str, seed: int, roots: Mapping[str, str]) -> list[Job]:
    code = ("nn", "methods/base.py", "methods/shape_guided.py", "methods/evaluation.py")
    common = {"dataset": "mvtec3d-ad", "data_root": roots.get("mvtec3d-ad"), "rgb_weights": "auto"}
    outputs = {"results": ("shape_guided_results",), "code": code, "methods": ("shape-guided",)}
    k = int(get_profile(profile).method("shape-guided").get("patch_size", 500))
    jobs = [
        Job(
            name="shape-guided",
            notebook="02_shape_guided",
            title="Shape-Guided on mvtec3d-ad (Tables 1, 2, 3, 5, 6; Figures 6 and 10)",
            parameters={**common, "variant": "paper", "ablations": True, "patch_size": None},
            seed=seed, tables=("shape_guided_categories", "shape_guided_table5", "shape_guided_table3"),
            **outputs,
        ),
        Job(
            name="shape-guided-official",
            notebook="02_shape_guided",
            title="Shape-Guided, the official code's variant (blurred maps, product object score)",
            parameters={**common, "variant": "official", "ablations": False, "patch_size": None},
            seed=seed, tables=("shape_guided_categories", "shape_guided_table5"), **outputs,
        ),
    ]
    for factor in SHAPE_GUIDED_PATCH_FACTORS:
        size = max(16, round(k * factor))
        jobs.append(
            Job(
                name=f"shape-guided-k{size}",
                notebook="02_shape_guided",
                title=f"Shape-Guided with patch size K = {size} (Table 4; the main run has K = {k})",
                parameters={**common, "variant": "paper", "ablations": False, "patch_size": size},
                seed=seed, tables=("shape_guided_categories", "shape_guided_table5"), code=code,
                methods=("shape-guided",),  # no result files: its rows must not join the main comparison
            )
        )
    return jobs


PO3AD_VARIANTS = ("code", "random_direction", "dist_only", "dir_only")
"""PO3AD: the official code's Norm-AS and Table 4's three variants, one job each beside the main run (the claims
ledger compares them)."""
PO3AD_PATCH_NUMBERS = (16, 64)
"""PO3AD Figure 5: the patch numbers J the sweep job trains besides the profile's own."""


def _po3ad_jobs(seed: int, roots: Mapping[str, str]) -> list[Job]:
    code = ("nn", "methods/base.py", "methods/po3ad.py", "methods/evaluation.py")
    outputs = {"results": ("po3ad_results",), "code": code, "methods": ("po3ad",)}
    asn = {"dataset": "anomaly-shapenet", "data_root": roots.get("anomaly-shapenet")}
    jobs = [
        Job(
            name="po3ad",
            notebook="05_po3ad",
            title="PO3AD on anomaly-shapenet (Tables 1, 2, 5; Figure 7)",
            parameters={**asn, "variant": "paper", "noise_levels": [0.0, 0.001, 0.003, 0.005],
                        "patch_numbers": None},
            seed=seed, tables=("po3ad_categories", "po3ad_figure7"), **outputs,
        ),
        Job(
            name="po3ad-real3d-ad",
            notebook="05_po3ad",
            title="PO3AD on real3d-ad (Table 3)",
            parameters={"dataset": "real3d-ad", "data_root": roots.get("real3d-ad"), "variant": "paper",
                        "noise_levels": None, "patch_numbers": None},
            seed=seed, tables=("po3ad_categories",), **outputs,
        ),
        Job(
            name="po3ad-patches",
            notebook="05_po3ad",
            title="PO3AD: the patch number J (Figure 5)",
            parameters={**asn, "category": None, "variant": "paper", "noise_levels": None,
                        "patch_numbers": list(PO3AD_PATCH_NUMBERS)},
            seed=seed, tables=("po3ad_categories", "po3ad_figure5"), code=code, methods=("po3ad",),
        ),
    ]
    for variant in PO3AD_VARIANTS:
        what = "the official code's Norm-AS (|n|, first-half patches)" if variant == "code" else (
            f"ablation (Table 4): {variant.replace('_', ' ')}")
        jobs.append(
            Job(
                name=f"po3ad-{variant.replace('_', '-')}",
                notebook="05_po3ad",
                title=f"PO3AD, {what}",
                parameters={**asn, "variant": variant, "noise_levels": None, "patch_numbers": None},
                seed=seed, tables=("po3ad_categories",), **outputs,
            )
        )
    return jobs


def build_jobs(profile: str = "quick", seed: int = 0, data_roots: Mapping[str, str] | None = None) -> list[Job]:
    """All jobs for one profile and seed; ``data_roots`` maps dataset ids to real-data folders the user has."""
    get_profile(profile)  # validates the name
    roots = dict(data_roots or {})
    jobs = [
        Job(
            name="tour",
            notebook="00_tour",
            title="Tour: the embedded benchmark and a first metrics table",
            parameters={"dataset": "anomaly-shapenet", "data_root": roots.get("anomaly-shapenet")},
            seed=seed,
            tables=("tour_dataset_summary", "tour_nn_baseline"),
        ),
        *_baseline_jobs(seed, roots),
        *_st3d_jobs(seed, roots),
        *_imrnet_jobs(seed, roots),
        *_group3ad_jobs(seed, roots),
        *_shape_guided_jobs(profile, seed, roots),
        *_po3ad_jobs(seed, roots),
    ]
    names = [j.name for j in jobs]
    if len(names) != len(set(names)):
        raise RuntimeError(f"duplicate job names in the job graph: {names}")
    return jobs
