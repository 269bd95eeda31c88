"""anomaly3d: the reproducible companion to five papers on unsupervised 3D point-cloud anomaly detection.

Layering, lowest first (nothing imports upward)::

    profiles, runtime          configuration and process-wide helpers
    ops                        kNN, FPS, Chamfer, normals, FPFH, voxels, normalisations
    data, metrics              the Sample type, real-format loaders, the embedded benchmark; every reported number
    nn                         shared backbones
    methods                    one module per paper / baseline, one fit/score interface
    reports                    tables, figures, the job graph

Submodules are imported lazily so ``import anomaly3d`` stays cheap (no torch/open3d import at start-up).
"""

from __future__ import annotations

import os as _os

__version__ = "0.1.0"

# Torch's OpenMP threads spin-wait by default; on a shared 2-core machine that slowed its CPU kernels 10-40x
# whenever another process ran (measured by the ops benchmark; two PO3AD trainings side by side: 6x). Passive
# waiting is not free when a process has the cores to itself and runs many small kernels: PO3AD's sparse U-Net
# trained about 30 % slower (05_po3ad, quick profile: 5 min 14 s under papermill, 3 min 40 s in a kernel with
# torch's default). The report runner runs jobs side by side, so passive it is. Only a default: a user's own
# setting wins, it has no effect if torch was imported before anomaly3d, and child processes (papermill's
# kernels) inherit it.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# Open3D announces (print) and starts a WebRTC visualizer when imported in Jupyter; figures here are plotly.
_os.environ.setdefault("OPEN3D_DISABLE_WEB_VISUALIZER", "true")

from anomaly3d.profiles import PROFILE_NAMES, Profile, get_profile
from anomaly3d.runtime import resolve_device, seed_everything

__all__ = ["PROFILE_NAMES", "Profile", "__version__", "get_profile", "resolve_device", "seed_everything"]
