"""The claims ledger: each paper's comparative claims checked against our results (``reports/claims.md``).

Claims live in ``reports/data/claims.toml`` (format in its header). For each claim and each seed we take the mean
over categories of the claim's metric for every method it names; the claim *holds on a seed* when those means
are strictly decreasing in the claimed order. Verdicts:

* **reproduced** — it holds on the mean over seeds and on a majority of the seeds;
* **not reproduced** — otherwise (the numbers say by how much);
* **not run** — some method has no results yet (``waiting_for`` says what must land first).

The paper's own numbers are shown next to ours (from :mod:`anomaly3d.paper_results`); a verdict on the embedded
data says whether the *ordering* survives on our synthetic stand-in, not whether the paper's numbers do.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from anomaly3d.paper_results import as_fraction, get_table, load_table

__all__ = ["CLAIMS_FILE", "Claim", "ClaimResult", "check_claim", "claims_markdown", "load_claims"]

CLAIMS_FILE = Path(__file__).resolve().parent / "data" / "claims.toml"

_REQUIRED = ("id", "paper", "source", "claim", "dataset", "metric", "ours", "waiting_for")


@dataclass(frozen=True)
class Claim:
    id: str
    paper: str
    source: str
    claim: str
    dataset: str
    metric: str
    ours: tuple[str, ...]
    waiting_for: str
    paper_rows: tuple[str, ...] = ()


@dataclass
class ClaimResult:
    claim: Claim
    verdict: str
    ours_mean: dict[str, float] = field(default_factory=dict)
    per_seed: dict[int, bool] = field(default_factory=dict)
    paper: dict[str, float] = field(default_factory=dict)
    data: str = ""


def load_claims(path: Path = CLAIMS_FILE) -> list[Claim]:
    """The claims in ``path``.

    Raises:
        ValueError: unreadable TOML, missing keys, duplicate ids, or fewer than two methods in ``ours`` (the
            message names the file and the claim).
    """
    try:
        doc = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the claims ledger ({exc})") from exc
    claims, seen = [], set()
    for i, entry in enumerate(doc.get("claim", [])):
        missing = [k for k in _REQUIRED if k not in entry]
        where = f"{path}: claim #{i + 1} ({entry.get('id', '?')})"
        if missing:
            raise ValueError(f"{where} misses {missing}")
        if entry["id"] in seen:
            raise ValueError(f"{where}: duplicate id")
        if len(entry["ours"]) < 2:
            raise ValueError(f"{where}: `ours` must name at least two methods, best first")
        rows = tuple(entry.get("paper_rows", ()))
        if rows and len(rows) != len(entry["ours"]):
            raise ValueError(f"{where}: `paper_rows` must have one entry per method in `ours`")
        seen.add(entry["id"])
        claims.append(Claim(**{k: entry[k] for k in _REQUIRED if k != "ours"}, ours=tuple(entry["ours"]),
                            paper_rows=rows))
    return claims


def _paper_value(claim: Claim, row: str) -> float:
    table_id, method, setting = (row.split("|") + ["", ""])[:3]
    table = get_table(claim.paper, table_id)
    df = load_table(claim.paper, table_id)
    sel = df[(df["method"] == method) & (df["setting"] == setting) & (df["metric"] == claim.metric)]
    mean = sel[sel["category"].isin(["mean", "all"])]["value"]
    value = float(mean.iloc[0]) if len(mean) else float(sel["value"].mean()) if len(sel) else float("nan")
    return float(as_fraction(value, table.scale)) if math.isfinite(value) else float("nan")


def check_claim(claim: Claim, ours: pd.DataFrame) -> ClaimResult:
    """The verdict on ``claim`` from our results (the frame of :func:`anomaly3d.reports.compare.collect_results`)."""
    paper = {}
    for name, row in zip(claim.ours, claim.paper_rows, strict=False):
        paper[name] = _paper_value(claim, row)
    sel = ours[(ours["dataset"] == claim.dataset) & ours["method"].isin(claim.ours)] if len(ours) else ours
    if len(sel) == 0 or claim.metric not in sel.columns or set(sel["method"]) != set(claim.ours):
        return ClaimResult(claim, "not run", paper=paper)
    by_seed = sel.groupby(["seed", "method"])[claim.metric].mean().unstack("method")
    by_seed = by_seed.dropna()
    if by_seed.empty:
        return ClaimResult(claim, "not run", paper=paper)
    holds = {int(seed): bool(np.all(np.diff(row[list(claim.ours)].to_numpy()) < 0)) for seed, row in by_seed.iterrows()}
    means = by_seed.mean()
    on_mean = bool(np.all(np.diff(means[list(claim.ours)].to_numpy()) < 0))
    majority = sum(holds.values()) > len(holds) / 2
    verdict = "reproduced" if on_mean and majority else "not reproduced"
    return ClaimResult(claim, verdict, {m: float(means[m]) for m in claim.ours}, holds, paper, _data_summary(sel))


def _fmt(values: dict[str, float], names: tuple[str, ...]) -> str:
    return ", ".join(f"{n} {values[n]:.3f}" if math.isfinite(values.get(n, float("nan"))) else f"{n} –" for n in names)


def _data_summary(sel: pd.DataFrame) -> str:
    """``embedded <format> format, profile P, seeds 0 1 2`` or the real data's folder(s)."""
    if "data_source" not in sel.columns:
        return ""
    if bool(sel["embedded"].all()):
        seeds = " ".join(str(int(s)) for s in sorted(set(sel["seed"])))
        return f"embedded ({', '.join(sorted(set(sel['dataset'])))} format, profile {', '.join(sorted(set(sel['profile'])))}), seeds {seeds}"
    return "; ".join(sorted(set(sel["data_source"])))


def claims_markdown(results: list[ClaimResult], *, profile: str) -> str:
    """``reports/claims.md``."""
    counts = {v: sum(r.verdict == v for r in results) for v in ("reproduced", "not reproduced", "not run")}
    lines = [
        "# Claims ledger",
        "",
        (
            "Each paper's comparative claims, checked on our results. Regenerated by `python -m anomaly3d.reports"
            f" run` (profile **{profile}**); the claims are declared in `lib/anomaly3d/reports/data/claims.toml`."
        ),
        (
            "A claim holds on a seed when the methods' category means are strictly ordered as claimed;"
            " **reproduced** = it holds on the mean over seeds and on most seeds. On the embedded data a verdict"
            " is about the ordering on our synthetic stand-in, not about the paper's numbers."
        ),
        "",
        (
            f"Summary: {counts['reproduced']} reproduced, {counts['not reproduced']} not reproduced,"
            f" {counts['not run']} not run."
        ),
        "",
        "Methods are listed in the claimed order (best first).",
        "",
        "| paper | claim | source | verdict | ours (mean over seeds) | per seed | paper | data |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        c = r.claim
        ours = _fmt(r.ours_mean, c.ours) if r.ours_mean else f"waiting for {c.waiting_for}"
        seeds = ", ".join(f"{s}: {'holds' if ok else 'fails'}" for s, ok in sorted(r.per_seed.items())) or "–"
        paper = _fmt(r.paper, c.ours) if r.paper else "–"
        lines.append(
            f"| {c.paper} | {c.claim} | {c.source} | **{r.verdict}** | {ours} | {seeds} | {paper} |"
            f" {r.data or '–'} |"
        )
    return "\n".join(lines) + "\n"
