"""The job graph, declared once: every table and figure of ``reports/`` → which notebook, which parameters.

The Snakemake workflow (``workflow/Snakefile``) reads :func:`build_jobs`; so does the index builder. A job runs
one notebook with papermill into ``reports/runs/<profile>/<job>/`` (the executed notebook, ``result.json``, and
the tables and figures the notebook writes). Later papers add their jobs here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from anomaly3d.profiles import get_profile

__all__ = ["REPORTS_DIR", "REPO_ROOT", "Job", "build_jobs", "run_dir"]

REPO_ROOT = Path(__file__).resolve().parents[3]
REPORTS_DIR = REPO_ROOT / "reports"


@dataclass(frozen=True)
class Job:
    """One notebook run.

    Attributes:
        name: unique id, used in paths (``reports/runs/<profile>/<name>/``).
        notebook: stem of the notebook in ``notebooks/`` (``00_tour``).
        title: what the job produces, for the index.
        parameters: papermill parameters besides ``profile``, ``seed`` and ``output_dir``.
        tables: stems of the tables (``.csv`` + ``.md``) the notebook writes into its output folder.
        figures: stems of the figures (``.png`` [+ ``.html``]) it writes.
    """

    name: str
    notebook: str
    title: str
    parameters: Mapping[str, Any] = field(default_factory=dict)
    tables: tuple[str, ...] = ()
    figures: tuple[str, ...] = ()

    @property
    def notebook_path(self) -> Path:
        return REPO_ROOT / "notebooks" / f"{self.notebook}.py"


def run_dir(profile: str, job: str, reports_dir: Path = REPORTS_DIR) -> Path:
    return reports_dir / "runs" / profile / job


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
            tables=("tour_dataset_summary",),
        ),
    ]
    names = [j.name for j in jobs]
    if len(names) != len(set(names)):
        raise RuntimeError(f"duplicate job names in the job graph: {names}")
    return jobs
