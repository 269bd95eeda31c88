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
    "3D-ST64": "3D-ST64",
    "IMRNet": "IMRNet",
    "Reg3D-AD": "Reg3D-AD",
    "PatchCore(PointMAE)": "PatchCore(PointMAE)",
    "Group3AD": "Group3AD",
    "Shape-Guided": "Shape-Guided",
    "Shape-Guided(SDF)": "Shape-Guided(SDF)",
    "Shape-Guided(RGB)": "Shape-Guided(RGB)",
    "PO3AD": "PO3AD",
}
"""A paper's method name -> the name our result files use for the same method."""

LANDED = frozenset({"3d-st", "imrnet", "group3ad", "shape-guided", "po3ad"})
"""Papers whose method is implemented (their remaining artefacts need an explicit reason in NOT_PRODUCED)."""

_EXPLICIT_STATUS: dict[str, str] = {
    "3D-ST128": "not run: the report graph runs d = 64 (set d=128 in the 3d-st method settings of a profile)",
}


def method_status(paper_method: str) -> str:
    """``"ours"`` when we produce ``paper_method``, else why not (an explicit reason, or quoted only)."""
    if paper_method in OUR_METHODS:
        return "ours"
    if paper_method in _EXPLICIT_STATUS:
        return _EXPLICIT_STATUS[paper_method]
    return "quoted from the paper (not reimplemented in anomaly3d)"


@dataclass(frozen=True)
class Producer:
    """A job output that reproduces a paper's table or figure (declared by the issue that adds it)."""

    job: str
    file: str
    note: str = ""


PRODUCERS: dict[tuple[str, str], Producer] = {
    ("3d-st", "table2"): Producer("3d-st", "st3d_table2.md", "Mean AU-PRO at each limit, ours beside 3D-ST64."),
    ("3d-st", "table4"): Producer(
        "3d-st-*", "claims.md", "One job per variant (random teacher, absolute coordinates, rotation augmentation);"
        " the claims ledger compares each with the main run. The pretraining-dataset and feature-extractor rows"
        " need ITODD / 3DMatch / KITTI and FCGF / PPF-FoldNet weights, which anomaly3d does not ship."
    ),
    ("3d-st", "figure1"): Producer("3d-st", "executed.ipynb", "Score maps beside ground truth in section 4."),
    ("3d-st", "figure5"): Producer("3d-st", "st3d_figure5.png", "Ours and the paper's 3D-ST64 by limit."),
    ("3d-st", "figure7"): Producer("3d-st-*", "claims.md", "The training-strategy bars, as claims (see Table 4)."),
    ("3d-st", "figure8"): Producer("3d-st", "executed.ipynb", "Example maps in section 4 of the notebook."),
}
"""(paper, table or figure id) -> the job output that reproduces it (ablations, sweeps, figures)."""

PRODUCERS.update({
    ("3d-st", "table3"): Producer(
        "3d-st-sweep-*", "st3d_table3_*.md", "One job per axis: three values around the profile's setting, one"
        " category; inference time and peak memory measured on this machine."
    ),
    ("3d-st", "figure6"): Producer("3d-st-sweep-*", "st3d_figure6_*.png", "AU-PRO, time and memory per axis."),
})

PRODUCERS.update({
    ("imrnet", "table4"): Producer(
        "imrnet-sampling-*", "claims.md", "One job per sampler (random, FPS, voxel) beside the GPS main run; the"
        " claims ledger compares I-AUROC and P-AUROC with the paper's Table 4."
    ),
    ("imrnet", "figure4"): Producer("imrnet", "executed.ipynb", "Point, feature and fused score maps beside ground"
                                    " truth in section 6 of the notebook."),
    ("imrnet", "figure5"): Producer("imrnet-mask-ratio", "imrnet_figure5.png", "O-AUROC by masking ratio, overall"
                                    " and by anomaly size (terciles of the anomalous share of points)."),
    ("imrnet", "figure6"): Producer("imrnet", "imrnet_figure6.png", "Per-dimension standard deviation of the fused"
                                    " features, pretrained backbone vs fine-tuned IMRNet."),
})

PRODUCERS.update({
    ("group3ad", "table5"): Producer(
        "group3ad-no-iun-ian", "claims.md", "Group3AD with the pretrained encoder (no IUN/IAN) beside the main run;"
        " the claims ledger compares O-AUROC. The PatchCore(PointMAE)-with-IUN&IAN rows are not run."
    ),
    ("group3ad", "table6"): Producer(
        "group3ad", "claims.md", "The main run rescored with FPS centres (Group3AD (FPS centres)); the claims ledger"
        " compares O-AUROC. The PatchCore(PointMAE)-with-AGCS rows are not run."
    ),
    ("group3ad", "table9"): Producer("group3ad", "group3ad_table9.md", "O-AUROC and P-AUROC at alpha 0.1 / 0.2 /"
                                     " 0.3 and their gain over FPS centres, from one fit per category."),
    ("group3ad", "figure5"): Producer("group3ad", "executed.ipynb", "AGCS and FPS centres on a defective scan in"
                                      " section 6 of the notebook."),
})

PRODUCERS.update({
    ("shape-guided", "table3"): Producer(
        "shape-guided", "shape_guided_table3.md", "Scoring time per test sample, RGB features searched per sample"
        " (|D_hat|) and their share of the RGB memory, with and without shape guidance, measured on this machine"
        " beside the paper's feature counts."
    ),
    ("shape-guided", "table4"): Producer(
        "shape-guided-k*", "shape_guided_table5.md", "One job per patch size (half and twice the profile's K);"
        " compare their rows with the main run's."
    ),
    ("shape-guided", "table5"): Producer(
        "shape-guided", "shape_guided_table5.md", "RGB only, SDF only, shape-guided RGB only and the fused method"
        " (AU-PRO@0.3 and I-AUROC) from one fit per category, beside the paper's means."
    ),
    ("shape-guided", "table6"): Producer(
        "shape-guided", "shape_guided_categories.md", "Nearest neighbour instead of sparse coding for the SDF, the"
        " RGB or both features (rows '[SDF nn]', '[RGB nn]', '[SDF nn, RGB nn]'), from the main run's fits; the"
        " paper's row order cannot be read from its text (tick marks lost)."
    ),
    ("shape-guided", "figure1"): Producer("shape-guided", "executed.ipynb", "A colour-only and a geometry-only"
                                          " defect with the SDF, RGB and fused maps in section 5."),
    ("shape-guided", "figure6"): Producer("shape-guided", "executed.ipynb", "AU-PRO at the seven integration"
                                          " limits for the SDF, RGB and fused maps (ours only) in section 7."),
    ("shape-guided", "figure8"): Producer("shape-guided", "executed.ipynb", "SDF, RGB and fused maps side by side"
                                          " in section 5."),
    ("shape-guided", "figure10"): Producer("shape-guided", "executed.ipynb", "Object-score histograms of good and"
                                           " defective samples per expert in section 7."),
})

PRODUCERS.update({
    ("po3ad", "table4"): Producer(
        "po3ad-*", "claims.md", "One job per variant (L_dist only, L_dir only, random-direction pseudo anomalies)"
        " beside the main run; the claims ledger compares their O-AUROC (the paper's numbers are not in our text)."
    ),
    ("po3ad", "figure5"): Producer("po3ad-patches", "po3ad_figure5.md", "O-AUROC and P-AUROC for J = 16, 32"
                                   " (the profile's) and 64 on the first category."),
    ("po3ad", "figure6"): Producer("po3ad", "executed.ipynb", "Score map beside ground truth and the predicted"
                                   " offsets as cones in section 5."),
    ("po3ad", "figure7"): Producer("po3ad", "po3ad_figure7.md", "O-AUROC and P-AUROC per category for test noise"
                                   " 0, 0.001, 0.003 and 0.005 (the network is not retrained)."),
})

NOT_PRODUCED: dict[tuple[str, str], str] = {
    ("po3ad", "table6"): "PO3AD with a Point Transformer V3 backbone: PTv3 is not reimplemented (our PO3AD has the"
    " sparse U-Net only)",
    ("po3ad", "figure1"): "the motivating reconstruction baseline of Fig. 1 is not specified well enough to rebuild",
    ("po3ad", "figure10"): "gradient attention maps of the paper's trained network (no numbers to reproduce)",
    ("shape-guided", "figure7"): "qualitative comparison with other methods' maps (BTF, AST, M3DM): only BTF is"
    " reimplemented; our maps are in the shape-guided job's notebook",
    ("shape-guided", "figure9"): "qualitative failure cases of the paper's own MVTec 3D-AD run",
}
"""(paper, id) -> why an artefact of a paper whose method has landed is not produced."""


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


def _pending_reason(paper: str, artefact_id: str = "") -> str:
    if (paper, artefact_id) in NOT_PRODUCED:
        return NOT_PRODUCED[(paper, artefact_id)]
    name, issue = PAPER_ISSUES[paper]
    if paper in LANDED:
        return f"{name} has landed but this {artefact_id or 'artefact'} is not in the report graph yet"
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
    return Entry(**base, mode="not produced", reason=_pending_reason(t.paper, t.id))


def _figure_entry(f: PaperFigure) -> Entry:
    base = {"paper": f.paper, "id": f.id, "label": f.label, "caption": f.caption, "artefact": "figure", "figure": f}
    if (f.paper, f.id) in PRODUCERS:
        return Entry(**base, mode="produced", producer=PRODUCERS[(f.paper, f.id)])
    if f.kind == "illustration":
        return Entry(**base, mode="not produced", reason="illustration (architecture, pipeline or data examples), not a result")
    return Entry(**base, mode="not produced", reason=_pending_reason(f.paper, f.id))


def catalog(paper: str | None = None) -> list[Entry]:
    """Every table, then every figure, of ``paper`` (all five when ``None``), in paper order."""
    papers = list(PAPER_ISSUES) if paper is None else [paper]
    out: list[Entry] = []
    for p in papers:
        out += [_table_entry(t) for t in list_tables(p)]
        out += [_figure_entry(f) for f in list_figures(p)]
    return out
