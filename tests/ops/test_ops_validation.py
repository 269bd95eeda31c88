"""Bad input raises ValueError naming the argument and the problem."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from anomaly3d import ops
from anomaly3d.ops import _backend

GOOD = np.random.default_rng(0).random((20, 3))


def _with(value, row=3, col=1):
    p = GOOD.copy()
    p[row, col] = value
    return p


BAD_CLOUDS = [
    pytest.param(_with(np.nan), "NaN/inf", id="nan"),
    pytest.param(_with(np.inf), "NaN/inf", id="inf"),
    pytest.param(torch.from_numpy(_with(-np.inf)), "NaN/inf", id="tensor-inf"),
    pytest.param(np.zeros((0, 3)), "empty", id="empty"),
    pytest.param(GOOD[:, :2], r"shape \(N, 3\)", id="two-columns"),
    pytest.param(GOOD[0], r"shape \(N, 3\)", id="one-point-1d"),
    pytest.param(GOOD.tolist(), "numpy array or a torch tensor", id="list"),
    pytest.param(GOOD.astype(complex), "real numbers", id="complex"),
]

CLOUD_OPS = {
    "knn": lambda p: ops.knn(p, k=2),
    "radius_query": lambda p: ops.radius_query(p, None, 0.1),
    "fps": lambda p: ops.fps(p, 2),
    "group_knn": lambda p: ops.group_knn(p, 2, 2),
    "estimate_normals": lambda p: ops.estimate_normals(p, k=3),
    "curvature": lambda p: ops.curvature(p, k=3),
    "fpfh": lambda p: ops.fpfh(p, radius_normal=0.1, radius_feature=0.2),
    "voxelize": lambda p: ops.voxelize(p, 0.1),
    "normalize_unit_sphere": ops.normalize_unit_sphere,
    "mean_knn_distance_scale": lambda p: ops.mean_knn_distance_scale(p, k=2),
}


@pytest.mark.parametrize("op", list(CLOUD_OPS))
@pytest.mark.parametrize("bad,message", BAD_CLOUDS)
def test_bad_clouds_are_rejected(op, bad, message):
    name = "query" if op in ("knn", "radius_query") else "points"
    with pytest.raises(ValueError, match=message) as info:
        CLOUD_OPS[op](bad)
    assert name in str(info.value)


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda: ops.knn(GOOD, k=21), r"k=21 is larger than 20"),
        (lambda: ops.knn(GOOD, k=20, exclude_self=True), r"k=20 is larger than 19"),
        (lambda: ops.knn(GOOD, k=0), r"k must be >= 1"),
        (lambda: ops.knn(GOOD, k=2.0), r"k must be an integer"),
        (lambda: ops.knn(GOOD, k=True), r"k must be an integer"),
        (lambda: ops.knn(GOOD, GOOD, k=2, exclude_self=True), r"exclude_self=True needs ref=None"),
        (lambda: ops.knn(GOOD, _with(np.nan), k=2), r"ref has 1 point\(s\) with NaN"),
        (lambda: ops.knn(GOOD, k=2, backend="faiss"), r"backend must be one of"),
        (lambda: ops.radius_query(GOOD, None, 0.0), r"radius must be > 0"),
        (lambda: ops.radius_query(GOOD, None, float("nan")), r"radius must be a finite"),
        (lambda: ops.radius_query(GOOD, None, 0.1, max_neighbors=0), r"max_neighbors must be >= 1"),
        (lambda: ops.fps(GOOD, 21), r"n=21 is larger than 20"),
        (lambda: ops.fps(GOOD, 2, start=20), r"start=20 is not a point index"),
        (lambda: ops.fps(GOOD, 2, start="last"), r"start must be 'first', 'random'"),
        (lambda: ops.fps(GOOD, 2, start="random", seed=-1), r"seed must be a non-negative"),
        (lambda: ops.fps(GOOD, 2, backend="scipy"), r"backend must be one of"),
        (lambda: ops.group_knn(GOOD, 30, 2), r"n_groups=30 is larger than 20"),
        (lambda: ops.chamfer_distance(GOOD, GOOD[None]), r"x and y must both be"),
        (lambda: ops.chamfer_distance(GOOD[None], np.stack([GOOD, GOOD])), r"same number of clouds"),
        (lambda: ops.chamfer_distance(GOOD, GOOD, reduction="max"), r"reduction must be one of"),
        (lambda: ops.chamfer_distance(GOOD, np.zeros((0, 3))), r"y is empty"),
        (lambda: ops.estimate_normals(GOOD, k=2), r"k must be >= 3"),
        (lambda: ops.estimate_normals(GOOD, orient="inward"), r"orient must be one of"),
        (lambda: ops.estimate_normals(GOOD, k=3, orient="viewpoint"), r"needs viewpoint"),
        (
            lambda: ops.orient_normals(GOOD, GOOD, "viewpoint", viewpoint=[0, 1]),
            r"viewpoint must be 3 finite",
        ),
        (lambda: ops.orient_normals(GOOD, GOOD[:5]), r"normals must have the shape of points"),
        (lambda: ops.curvature(GOOD, k=3, variant="gauss"), r"variant must be one of"),
        (lambda: ops.fpfh(GOOD, radius_feature=0.2), r"radius_normal is required"),
        (lambda: ops.fpfh(GOOD, radius_normal=0.1, radius_feature=-1), r"radius_feature must be > 0"),
        (lambda: ops.voxelize(GOOD, 0), r"voxel_size must be > 0"),
        (lambda: ops.voxelize(GOOD, 0.1, origin=[0, np.nan, 0]), r"origin must be 3 finite"),
        (lambda: ops.voxelize(GOOD, 0.1).scatter(np.zeros(3)), r"voxel_values must have one row per voxel"),
        (lambda: ops.random_rotation(0, axis="w"), r"axis must be 'x', 'y', 'z'"),
        (lambda: ops.random_rotation(0, axis=[0, 0, 0]), r"non-zero 3-vector"),
        (lambda: ops.random_rotation(0, axis="x", euler=True), r"either axis= or euler=True"),
        (lambda: ops.apply_rotation(GOOD, np.eye(4)), r"rotation must be \(3, 3\)"),
        (lambda: ops.normalize_unit_sphere(np.ones((5, 3))), r"all points coincide"),
        (lambda: ops.mean_knn_distance_scale(GOOD[:4], k=4), r"k=4 is larger than 3"),
        (lambda: ops.mean_knn_distance_scale([]), r"empty sequence"),
    ],
)
def test_bad_arguments_are_rejected(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_missing_torch_cluster_is_reported(monkeypatch):
    monkeypatch.setattr(_backend, "torch_cluster_available", lambda: False)
    with pytest.raises(ValueError, match=r"anomaly3d\[gpu\]"):
        ops.knn(GOOD, k=2, backend="torch_cluster")
    assert (
        _backend.resolve_backend("auto", torch.zeros(1, 3), family="neighbors", cpu_default="scipy")
        == "scipy"
    )
