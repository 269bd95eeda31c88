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
# This notebook is the map of the project: the five papers it reproduces, the data every notebook runs on,
# the metrics behind every number, and how the `reports/` folder is regenerated.

# %% tags=["parameters"]
profile = "auto"  # "smoke" | "quick" | "paper"; "auto" = $ANOMALY3D_PROFILE or "quick"
dataset = "anomaly-shapenet"
data_root = None  # None: the embedded synthetic benchmark; else the folder of the real dataset
category = None
device = "auto"
seed = 0
output_dir = None

# %%
from anomaly3d.reports.notebook import setup

run = setup("00_tour", globals())
print(run.profile.name, run.data_source)

# %%
run.finish()
