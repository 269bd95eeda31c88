"""Which of the papers' tables and figures we produce, from which job, and why the others are not produced.

Every table and figure of the five papers (:mod:`anomaly3d.paper_results`) gets one :class:`Entry`:

* **main results tables** on a dataset we have in an embedded format are *comparisons*: one row per method the
  paper prints, the paper's mean next to ours (from every job whose result files hold that method on that
  dataset), or the reason we have no number for that method (:func:`method_status`);
* everything else is produced by the job named in :data:`PRODUCERS` once the paper's method lands, and until then
  is marked with the issue that brings it; illustrations are marked as such (nothing to reproduce).

When a method lands, its issue adds its jobs (``reports.jobs``), its names to :data:`OUR_METHODS` and its ablation
tables / figures to :data:`PRODUCERS`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from anomaly3d.paper_results import PaperFigure, PaperTable, list_figures, list_tables

__all__ = [
    "COMPARABLE_DATASETS",
    "OUR_METHODS",
    "PAPER_ISSUES",
    "PRODUCERS",
    "Entry",
    "Producer",
    "catalog",
    "method_status",
]

COMPARABLE_DATASETS = ("anomaly-shapenet", "real3d-ad", "mvtec3d-ad")
"""Datasets with an embedded stand-in (and a loader for the real thing)."""

PAPER_ISSUES: dict[str, tuple[str, int]] = {
    "3d-st": ("3D-ST", 9),
    "shape-guided": ("Shape-Guided", 13),
    "imrnet": ("IMRNet", 10),
    "group3ad": ("Group3AD", 11),
    "po3ad": ("PO3AD", 12),
}
"""Paper id -> (method name, the issue that implements it)."""

OUR_METHODS: dict[str, str] = {
    "BTF(Raw)": "BTF(Raw)",
    "BTF(FPFH)": "BTF(FPFH)",
}
"""A paper's method name -> the name our result files use for the same method."""

_PENDING: tuple[tuple[str, str, int], ...] = (
    (r"^3D-ST", "3D-ST", 9),
    (r"^Shape-Guided", "Shape-Guided", 13),
    (r"^IMRNet$", "IMRNet", 10),
    (r"^PatchCore\(PointMAE\)$", "the Point-MAE backbone", 10),
    (r"^Reg3D-AD$", "Reg3D-AD", 11),
    (r"^Group3AD$", "Group3AD", 11),
    (r"^PO3AD", "PO3AD", 12),
)


def method_status(paper_method: str) -> str:
    """``"ours"`` when we produce ``paper_method``, else why not (a method still to come, or quoted only)."""
    if paper_method in OUR_METHODS:
        return "ours"
    for pattern, what, issue in _PENDING:
        if re.search(pattern, paper_method):
            return f"not yet: {what} lands with issue {issue}"
    return "quoted from the paper (not reimplemented in anomaly3d)"


@dataclass(frozen=True)
class Producer:
    """A job output that reproduces a paper's table or figure (declared by the issue that adds it)."""

    job: str
    file: str
    note: str = ""


PRODUCERS: dict[tuple[str, str], Producer] = {}
"""(paper, table or figure id) -> the job output that reproduces it (ablations, sweeps, figures)."""


@dataclass(frozen=True)
class Entry:
    """One table or figure of one paper and how ``reports/`` covers it.

    Attributes:
        paper, id, label, caption: from :mod:`anomaly3d.paper_results`.
        artefact: ``"table"`` or ``"figure"``.
        mode: ``"comparison"`` (paper beside ours, built from result files), ``"produced"`` (a job output, see
            ``producer``) or ``"not produced"`` (``reason`` says why).
        reason: for ``"not produced"``; for comparisons, what is still missing (if anything).
        table: the :class:`PaperTable` (tables only).
        figure: the :class:`PaperFigure` (figures only).
        producer: for ``"produced"``.
    """

    paper: str
    id: str
    label: str
    caption: str
    artefact: str
    mode: str
    reason: str = ""
    table: PaperTable | None = None
    figure: PaperFigure | None = None
    producer: Producer | None = None

    @property
    def key(self) -> str:
        return f"{self.paper}_{self.id}"


def _pending_reason(paper: str) -> str:
    name, issue = PAPER_ISSUES[paper]
    return f"{name} lands with issue {issue}"


def _table_entry(t: PaperTable) -> Entry:
    base = {"paper": t.paper, "id": t.id, "label": t.label, "caption": t.caption, "artefact": "table", "table": t}
    if (t.paper, t.id) in PRODUCERS:
        return Entry(**base, mode="produced", producer=PRODUCERS[(t.paper, t.id)])
    if t.kind == "main" and t.dataset in COMPARABLE_DATASETS:
        return Entry(**base, mode="comparison")
    if t.kind == "other" and t.dataset in ("several", "none"):
        return Entry(**base, mode="not produced", reason="not a result: dataset statistics")
    if t.paper == "group3ad" and t.id == "table7":
        return Entry(**base, mode="not produced", reason="M3DM with IUN/IAN: M3DM is quoted only, not reimplemented")
    return Entry(**base, mode="not produced", reason=_pending_reason(t.paper))


def _figure_entry(f: PaperFigure) -> Entry:
    base = {"paper": f.paper, "id": f.id, "label": f.label, "caption": f.caption, "artefact": "figure", "figure": f}
    if (f.paper, f.id) in PRODUCERS:
        return Entry(**base, mode="produced", producer=PRODUCERS[(f.paper, f.id)])
    if f.kind == "illustration":
        return Entry(**base, mode="not produced", reason="illustration (architecture, pipeline or data examples), not a result")
    return Entry(**base, mode="not produced", reason=_pending_reason(f.paper))


def catalog(paper: str | None = None) -> list[Entry]:
    """Every table, then every figure, of ``paper`` (all five when ``None``), in paper order."""
    papers = list(PAPER_ISSUES) if paper is None else [paper]
    out: list[Entry] = []
    for p in papers:
        out += [_table_entry(t) for t in list_tables(p)]
        out += [_figure_entry(f) for f in list_figures(p)]
    return out
