"""The papers' numbers beside ours: comparison tables built from the jobs' result files.

:func:`collect_results` reads every job's result CSVs into one frame (one row per method x dataset x category x
seed, with the job's data source, profile and run time). :func:`comparison_table` lays one paper table out as

=========  ========  =====  ====  =====  ==========================================================
method     metric    paper  ours  delta  seeds / categories / data / profile / run time / status
=========  ========  =====  ====  =====  ==========================================================

with the paper's printed mean (on the 0..1 scale) and ours: the mean over categories, averaged over seeds
(``ours_std`` is the standard deviation over seeds). ``delta = ours - paper``. On the embedded data the
categories are not the paper's, so the delta says how far our synthetic stand-in is from the paper, not whether
a reimplementation is faithful; the ``data`` column says which it is. With the real dataset, per-category rows
follow the mean rows in the CSV.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from anomaly3d.metrics import read_results_csv, results_to_frame
from anomaly3d.paper_results import PaperTable, as_fraction
from anomaly3d.reports.catalog import OUR_METHODS, method_status
from anomaly3d.reports.jobs import Job, run_dir

__all__ = ["COMPARISON_COLUMNS", "collect_results", "comparison_table", "job_runtime"]

COMPARISON_COLUMNS = (
    "method", "metric", "category", "paper", "ours", "delta", "ours_std", "seeds", "categories", "data",
    "profile", "jobs", "run_time_s", "status",
)


def job_runtime(profile: str, job: str, reports_dir: Path) -> float | None:
    """Seconds the job's notebook took (from its ``runtime.json``), ``None`` when unknown."""
    path = run_dir(profile, job, reports_dir) / "runtime.json"
    try:
        return float(json.loads(path.read_text())["seconds"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def collect_results(reports_dir: Path, profile: str, jobs: Sequence[Job]) -> pd.DataFrame:
    """Every result row of every job that finished, with ``job``, ``data_source``, ``embedded`` and
    ``run_time_s`` columns added (empty frame when nothing ran)."""
    frames = []
    for job in jobs:
        rdir = run_dir(profile, job.name, reports_dir)
        result_json = rdir / "result.json"
        if not result_json.exists():
            continue
        prov = json.loads(result_json.read_text()).get("provenance", {})
        for stem in job.results:
            path = rdir / f"{stem}.csv"
            if not path.exists():
                continue
            frame = results_to_frame(read_results_csv(path))
            frame["job"] = job.name
            frame["data_source"] = prov.get("data_source", "?")
            frame["embedded"] = bool(prov.get("embedded_data", True))
            frame["run_time_s"] = job_runtime(profile, job.name, reports_dir)
            frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=["method", "dataset", "category", "profile", "seed", "job", "data_source"])
    return pd.concat(frames, ignore_index=True)


def _paper_mean(rows: pd.DataFrame) -> float:
    mean = rows.loc[rows["category"] == "mean", "value"]
    if len(mean) and np.isfinite(mean.iloc[0]):
        return float(mean.iloc[0])
    cells = rows.loc[~rows["category"].isin(["mean", "all"]), "value"].dropna()
    return float(cells.mean()) if len(cells) else float("nan")


def comparison_table(table: PaperTable, ours: pd.DataFrame) -> pd.DataFrame:
    """One paper table (its plain rows, ``setting == ""``) beside our results; see the module docstring."""
    paper = table.frame()
    paper = paper[(paper["setting"] == "") & paper["metric"].str.match(r"^(O|P)-AU|^AU-PRO")]
    rows = []
    mine = ours[ours["dataset"] == table.dataset] if len(ours) else ours
    for (method, metric), prow in paper.groupby(["method", "metric"], sort=False):
        paper_value = float(as_fraction(_paper_mean(prow), table.scale))
        status = method_status(method)
        base = {"method": method, "metric": metric, "category": "mean", "paper": paper_value}
        ours_name = OUR_METHODS.get(method)
        sel = mine[mine["method"] == ours_name] if (ours_name and len(mine)) else mine.iloc[0:0]
        if status == "ours" and (len(sel) == 0 or metric not in sel.columns):
            status = f"not run on {table.dataset} in this report"
        if status != "ours":
            rows.append({**base, "status": status})
            continue
        per_seed = sel.groupby("seed")[metric].mean()
        value = float(per_seed.mean())
        real = not bool(sel["embedded"].any())
        rows.append({
            **base,
            "ours": value,
            "delta": value - paper_value,
            "ours_std": float(per_seed.std(ddof=1)) if len(per_seed) > 1 else float("nan"),
            "seeds": " ".join(str(int(s)) for s in per_seed.index),
            "categories": int(sel["category"].nunique()),
            "data": "; ".join(sorted(set(sel["data_source"]))),
            "profile": "; ".join(sorted(set(sel["profile"]))),
            "jobs": " ".join(sorted(set(sel["job"]))),
            "run_time_s": float(sel.drop_duplicates("job")["run_time_s"].sum(min_count=1)),
            "status": "ours (real data)" if real else "ours (embedded data: not the paper's samples)",
        })
        if real:  # categories are the paper's: compare them one by one
            by_cat = sel.groupby("category")[metric].mean()
            for _, cell in prow[~prow["category"].isin(["mean", "all"])].iterrows():
                if cell["category"] in by_cat.index:
                    pv = float(as_fraction(cell["value"], table.scale))
                    ov = float(by_cat[cell["category"]])
                    rows.append({**base, "category": cell["category"], "paper": pv, "ours": ov,
                                 "delta": ov - pv, "status": "ours (real data)"})
    out = pd.DataFrame(rows, columns=list(COMPARISON_COLUMNS))
    return out
