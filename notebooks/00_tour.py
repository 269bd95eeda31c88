# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # A tour of anomaly3d
#
# This notebook is the map of the project. In a few seconds (smoke profile) or a minute (quick) it shows
#
# 1. what the five papers do, and which notebook reproduces each;
# 2. the data every notebook runs on — the **embedded synthetic benchmark**, written in the real datasets'
#    on-disk formats and read back by the same loaders that read MVTec 3D-AD, Real3D-AD and Anomaly-ShapeNet;
# 3. the metrics behind every number (`anomaly3d.metrics`), on the simplest possible detector;
# 4. how `reports/` is regenerated.
#
# The first code cell holds the **parameters** (papermill overrides them); the next one validates them.

# %% tags=["parameters"]
profile = "auto"  # smoke, quick or paper; auto: $ANOMALY3D_PROFILE, else quick
dataset = "anomaly-shapenet"  # the on-disk format (and real dataset, when data_root is given)
data_root = None  # None: the embedded synthetic benchmark; else the folder of the real dataset
category = None  # None: every category the profile lists
device = "auto"
seed = 0
output_dir = None

# %%
import numpy as np
import pandas as pd

from anomaly3d import metrics, ops
from anomaly3d.reports.figures import cloud_figure, clouds_figure, use_light_plotly_renderer
from anomaly3d.reports.notebook import setup

run = setup("00_tour", globals())
use_light_plotly_renderer()
print(f"profile {run.profile.name}: {run.profile.description}")
print(f"data: {run.data_source}")

# %% [markdown]
# ## 1. The five papers
#
# | paper | what it learns from normal data | how it scores a point | notebook |
# |---|---|---|---|
# | **3D-ST** (Bergmann & Sattlegger) | a teacher pretrained to reconstruct local receptive fields (eq. 3); a student that regresses the teacher's descriptors on normal clouds | ‖f_S − (f_T − μ)/σ‖ (eq. 5) | `01_3d_st` |
# | **Shape-Guided** (Chu et al.) | PointNet patch features + a neural implicit SDF per patch (memory M_S), RGB patch features (memory M_A) | \|φ(q; f̂)\| after sparse coding, guiding the RGB score | `02_shape_guided` |
# | **IMRNet** (Li et al.) | Point-MAE that reconstructs masked patches; geometry-aware sampling (GPS) picks salient centres | Chamfer + feature distance between the input and its iterative reconstruction (eqs. 13-20) | `03_imrnet` |
# | **Group3AD** (Zhu et al.) | group features pushed apart between clusters (IUN) and together inside (IAN) on top of Reg3D-AD | memory-bank distance of group features + registered coordinates | `04_group3ad` |
# | **PO3AD** (Ye et al.) | an offset predictor trained on normal-guided pseudo anomalies (eq. 4) | Σ\|o\| per point (eq. 5), mean per object (eq. 6) | `05_po3ad` |
#
# Every method implements one interface — `fit(train_samples)`, `score(sample) -> (object_score, point_scores)` — so
# every table is computed by the same metric code on the same data.

# %% [markdown]
# ## 2. The data
#
# Real datasets cannot be shipped with a notebook, so the library **generates** a benchmark: procedural objects
# (bottles, bowls, gears, …) with small per-instance variation, and the six Anomaly-ShapeNet defect types
# (bulge, concavity, hole, break, bending, crack) with per-point ground truth. It is written to disk in the real
# format chosen by `dataset`, then read back by that format's loader — exactly the code path a researcher with
# the real download uses (`data_root=...`).

# %%
source = run.open_data()
categories = [category] if category else source.categories()
rows = []
for cat in categories:
    train, test = source.load(cat, "train"), source.load(cat, "test")
    rows.append({
        "category": cat,
        "train": len(train),
        "test good": int(sum(1 for label in test.labels if label == 0)),
        "test defective": int(sum(1 for label in test.labels if label == 1)),
        "defect types": ", ".join(sorted({r.defect_type for r in test.records if r.defect_type != "good"})),
    })
summary = pd.DataFrame(rows)
run.write_table("tour_dataset_summary", summary, title="The data this tour ran on")
# nbval compares this cell's output with the committed smoke run:
# NBVAL_CHECK_OUTPUT
summary

# %% [markdown]
# A training template and two defective test samples of the first category. Ground-truth anomalous points are red
# (drag to rotate).

# %%
cat = categories[0]
train, test = source.load(cat, "train"), source.load(cat, "test")
defective = [s for s in test if s.label == 1][:2]
clouds_figure(
    [train[0].points] + [s.points for s in defective],
    labels=[None] + [s.point_labels for s in defective],
    titles=[f"{cat}: {train[0].name}"] + [f"{s.defect_type} ({int(s.point_labels.sum())} pts)" for s in defective],
)

# %% [markdown]
# ## 3. Metrics, on the simplest detector
#
# The simplest geometric detector scores each test point by its distance to the nearest point of the training
# templates (it needs no training at all: this is BTF(Raw) without the coreset). The papers report
#
# * **O-AUROC** — ranking whole samples by their maximum point score;
# * **P-AUROC** — ranking all points of a category, pooled over its test samples (Real3D-AD's protocol);
# * **AU-PRO** — on image grids (MVTec 3D-AD); for unorganized clouds we offer `AU-PRO-pc`, our extension.
#
# One call per step: `ops.knn` for the nearest-neighbour distances, `metrics.evaluate_category` for every number.

# %%
results = []
for cat in categories:
    train, test = source.load(cat, "train"), source.load(cat, "test")
    bank = np.concatenate([s.points for s in train])
    point_scores, point_labels, object_scores, object_labels = [], [], [], []
    for s in test:
        dist, _ = ops.knn(s.points, bank, k=1)
        point_scores.append(dist[:, 0])
        point_labels.append(s.point_labels if s.point_labels is not None else np.zeros(s.num_points, np.uint8))
        object_scores.append(float(dist.max()))
        object_labels.append(s.label)
    results.append(metrics.evaluate_category(
        method="nearest-point distance", dataset=run.dataset, category=cat, profile=run.profile.name,
        seed=run.seed, object_labels=object_labels, object_scores=object_scores,
        point_labels=point_labels, point_scores=point_scores,
    ))
table = metrics.results_to_frame(results)[["category", metrics.O_AUROC, metrics.P_AUROC, metrics.P_AUPR]]
run.write_table("tour_nn_baseline", table, title="Nearest-point distance on the embedded data")
# nbval compares this cell's output with the committed smoke run:
# NBVAL_CHECK_OUTPUT
table.round(3)

# %% [markdown]
# The score map of the first defective sample above, next to its ground truth:

# %%
s = defective[0]
dist, _ = ops.knn(s.points, np.concatenate([t.points for t in source.load(cat, "train")]), k=1)
clouds_figure([s.points, s.points], values=[None, dist[:, 0]], labels=[s.point_labels, None],
              titles=["ground truth", "nearest-point distance"])

# %% [markdown]
# ## 4. Profiles and reports
#
# One file, `lib/anomaly3d/profiles.py`, defines the three profiles every notebook and library function reads:

# %%
from anomaly3d.profiles import PROFILES

pd.DataFrame([{k: v for k, v in p.as_dict().items() if k != "methods"} for p in PROFILES.values()])

# %% [markdown]
# `reports/` is regenerated by one command, which runs every notebook (this one included) through Snakemake and
# papermill and rebuilds `reports/README.md`:
#
# ```bash
# .venv/bin/python -m anomaly3d.reports run --profile quick --cores 2
# ```
#
# Real data: `python -m anomaly3d.data verify real3d-ad /data/Real3D-AD-PCD` checks a download against
# `data_manifest/real3d-ad.toml`; then `--data-root real3d-ad=/data/Real3D-AD-PCD` uses it.

# %%
run.finish(categories=categories)
