"""anomaly3d.ops: the geometric kernels every method needs, on the fastest backend for the device.

============================  =========================================================================
:func:`knn`                   k nearest neighbours ``(dist, idx)``, Euclidean, ascending
:func:`radius_query`          ball query, CSR result (:class:`RadiusNeighbors`, ``.to_padded()``)
:func:`radius_graph`          ``(E, 2)`` edges between points closer than a radius
:func:`fps`                   farthest point sampling, deterministic (``start="first"``) or seeded
:func:`group_knn`             Point-MAE patches: FPS centres + k nearest points, centred
:func:`group_at`              patches of k nearest points around given centres
:func:`sample_centers`        patch centres: random, FPS, voxel or IMRNet's geometry-aware sampling (GPS)
:func:`adaptive_group_centers`  Group3AD's AGCS: a share alpha of centres from high-FPFH-variation points
:func:`fpfh_variation`        Group3AD eq. 15: summed FPFH difference to the neighbours
:func:`voxel_fpfh_variation`  eq. 15 on a scan's voxel means, given back to every point (bounded on big scans)
:func:`rate_of_change`        IMRNet eqs. 1-5: per-point rate of change of normal and curvature
:func:`nearest_neighbor`      per-point nearest distance with gradients
:func:`chamfer_distance`      differentiable Chamfer distance (Point-MAE's L2 Chamfer by default)
:func:`local_pca`             per-point covariance eigen-decomposition on kNN patches
:func:`estimate_normals`      PCA normals, optionally oriented (outward / viewpoint / consistent)
:func:`orient_normals`        orient given normals
:func:`curvature`             IMRNet eq. 2 (or Pauly's surface variation)
:func:`fpfh`                  FPFH descriptors through Open3D, ``(N, 33)`` float32
:func:`register_ransac`       rigid registration: FPFH + RANSAC (+ ICP), deterministic; Reg3D-AD's alignment
:func:`apply_transform`       apply a (4, 4) rigid transform to a cloud
:func:`voxelize`              grid cells with voxel <-> point maps (:class:`Voxelization`)
:func:`random_rotation`       Haar-uniform, about an axis, or 3D-ST's per-axis Euler angles
:func:`apply_rotation`        rotate clouds (batched)
:func:`normalize_unit_sphere` centroid to 0, farthest point at 1
:func:`normalize_box`         bounding box to ``[-1, 1]^3``
:func:`mean_knn_distance_scale`  3D-ST's scale ``s`` (eq. 4)
:func:`median_nn_spacing`     median distance to the nearest other point (the cloud's spacing)
:func:`feature_knn`           k nearest rows of a feature bank, any dimension, chunked (bounded memory)
:func:`greedy_coreset`        PatchCore's greedy k-centre coreset of a feature bank
:func:`omp`                   batched orthogonal matching pursuit (scikit-learn's ``sparse_encode(omp)``)
:func:`reconstruct_from_neighbours`  Shape-Guided's k nearest bank rows + sparse coding
============================  =========================================================================

Inputs are NumPy arrays or torch tensors of shape ``(N, 3)``; results come back in the same kind, on the
same device. ``backend="auto"`` picks SciPy's cKDTree (kNN, radius), fpsample (FPS) and Open3D (normal
covariances, FPFH) on the CPU (measured fastest there: ``python -m anomaly3d.reports.benchmarks.ops``) and
torch-cluster (optional ``gpu`` extra) or chunked torch for CUDA tensors; every backend gives the same
results up to ties and rounding. Bad input raises ``ValueError`` naming the
argument.
"""

from __future__ import annotations

from anomaly3d.ops._backend import torch_cluster_available
from anomaly3d.ops.center_sampling import (
    CENTER_SAMPLERS,
    adaptive_group_centers,
    fpfh_variation,
    geometry_aware_sampling,
    rate_of_change,
    sample_centers,
    voxel_fpfh_variation,
)
from anomaly3d.ops.chamfer import chamfer_distance, nearest_neighbor
from anomaly3d.ops.coreset import feature_knn, greedy_coreset
from anomaly3d.ops.features import fpfh
from anomaly3d.ops.grouping import group_at, group_knn
from anomaly3d.ops.neighbors import RadiusNeighbors, knn, radius_graph, radius_query
from anomaly3d.ops.normals import curvature, estimate_normals, local_pca, orient_normals
from anomaly3d.ops.registration import Registration, apply_transform, register_ransac
from anomaly3d.ops.sampling import fps
from anomaly3d.ops.sparse_coding import omp, reconstruct_from_neighbours
from anomaly3d.ops.transforms import (
    apply_rotation,
    mean_knn_distance_scale,
    median_nn_spacing,
    normalize_box,
    normalize_unit_sphere,
    random_rotation,
)
from anomaly3d.ops.voxels import Voxelization, voxelize

__all__ = [
    "CENTER_SAMPLERS",
    "RadiusNeighbors",
    "Registration",
    "Voxelization",
    "adaptive_group_centers",
    "apply_rotation",
    "apply_transform",
    "chamfer_distance",
    "curvature",
    "estimate_normals",
    "feature_knn",
    "fpfh",
    "fpfh_variation",
    "fps",
    "geometry_aware_sampling",
    "greedy_coreset",
    "group_at",
    "group_knn",
    "knn",
    "local_pca",
    "mean_knn_distance_scale",
    "median_nn_spacing",
    "nearest_neighbor",
    "normalize_box",
    "normalize_unit_sphere",
    "omp",
    "orient_normals",
    "radius_graph",
    "radius_query",
    "random_rotation",
    "rate_of_change",
    "reconstruct_from_neighbours",
    "register_ransac",
    "sample_centers",
    "torch_cluster_available",
    "voxel_fpfh_variation",
    "voxelize",
]
