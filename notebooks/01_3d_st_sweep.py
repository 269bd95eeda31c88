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
# # 3D-ST: points, feature dimension and neighbours (Table 3, Figure 6)
#
# The companion of `01_3d_st`: how 3D-ST's localisation, inference time and memory change with the number of input
# points `n`, the descriptor dimension `d` and the neighbourhood size `k`. The paper sweeps each around its default
# (`n = 64000, d = 64, k = 32`) on all of MVTec 3D-AD with a GPU; here one axis per run (`axis`), three values around
# the profile's setting (half, same, double), on one category, so that a sweep fits in a few CPU minutes. Every
# value trains its own teacher (cached) and student.

# %% tags=["parameters"]
profile = "auto"  # smoke, quick or paper; auto: $ANOMALY3D_PROFILE, else quick
dataset = "mvtec3d-ad"  # mvtec3d-ad (the paper), anomaly-shapenet or real3d-ad
data_root = None  # None: the embedded synthetic benchmark; else the folder of the real dataset
category = None  # None: the first category of the data
device = "auto"
seed = 0
output_dir = None
axis = "points"  # points, feature_dim or neighbors

# %%
import matplotlib.pyplot as plt
import pandas as pd

from anomaly3d import paper_results
from anomaly3d.methods import build_method, evaluate_method
from anomaly3d.methods.st3d import SWEEP_AXES, sweep_settings, time_and_memory
from anomaly3d.reports.figures import line_figure, save_matplotlib, save_plotly
from anomaly3d.reports.notebook import setup

run = setup("01_3d_st_sweep", globals())
if axis not in SWEEP_AXES:
    raise ValueError(f"axis must be one of {', '.join(SWEEP_AXES)}, got {axis!r}")
source = run.open_data()
cat = category or source.categories()[0]
base = build_method("3d-st", run.profile, device=run.device, seed=run.seed)
sweep = sweep_settings(base.config, axis)
print(f"{run.data_source}; category {cat}; sweeping {SWEEP_AXES[axis]} over {[next(iter(s.values())) for s in sweep]}")

# %% [markdown]
# For each value: fit (teacher from the cache when it exists), score the test split, then time the teacher + student
# forward pass on the test clouds and measure its peak memory (on the CPU: the process's peak resident memory
# beyond what was in use before, `VmHWM` on Linux; on a GPU: peak tensor memory).

# %%
rows = []
for override in sweep:
    m = build_method("3d-st", run.profile, device=run.device, seed=run.seed, **override)
    r = evaluate_method(m, source, cat, profile=run.profile.name, seed=run.seed)
    test = list(source.load(cat, "test", **r.method.load_options(run.dataset)))[:4]
    seconds, peak_mb = time_and_memory(r.method, test)
    rows.append({SWEEP_AXES[axis]: next(iter(override.values())), "AU-PRO@0.3": r.result.metrics["AU-PRO@0.3"],
                 "P-AUROC": r.result.metrics["P-AUROC"], "inference s": seconds, "inference peak MiB": peak_mb,
                 "fit s": r.fit_seconds})
table = pd.DataFrame(rows)
run.write_table(f"st3d_table3_{axis}", table, title=f"3D-ST sweep of {SWEEP_AXES[axis]} on {cat} (paper Table 3)")
table.round(3)

# %% [markdown]
# The paper's numbers for the same axis (MVTec 3D-AD, all categories, a GPU; memory in GB):

# %%
paper = paper_results.load_table("3d-st", "table3")
paper = paper[paper["setting"].str.startswith(f"sweep={axis};")]
paper_wide = paper.pivot_table(index="setting", columns="metric", values="value", sort=False)
paper_wide

# %%
key = SWEEP_AXES[axis]
fig, ax = plt.subplots(1, 3, figsize=(11, 3.2))
for a, col in zip(ax, ["AU-PRO@0.3", "inference s", "inference peak MiB"], strict=True):
    a.plot(table[key], table[col], "o-")
    a.set(xlabel=key, ylabel=col, xscale="log")
fig.suptitle(f"Figure 6 ({axis}): ours, {'embedded' if run.uses_embedded_data else 'real'} data, one category")
plt.tight_layout()
save_matplotlib(fig, run.output_dir / f"st3d_figure6_{axis}.png", dpi=110)
plt.show()
save_plotly(line_figure(table[key], {"AU-PRO@0.3": table["AU-PRO@0.3"]}, xlabel=key, ylabel="AU-PRO@0.3",
                        title=f"Figure 6 ({axis})", log_x=True),
            run.output_dir / f"st3d_figure6_{axis}.html", div_id=f"st3d-figure6-{axis.replace('_', '-')}")

# %%
run.finish(axis=axis, category=cat, values=[int(v) for v in table[key]])
