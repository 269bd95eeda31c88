"""anomaly3d.nn: neural network building blocks in plain torch.

3D-ST's network takes one cloud at a time (``(N, 3)``, no batch dimension); Point-MAE takes batches of equal-size
clouds (``(B, N, 3)``).

================================  =====================================================================
:func:`knn_graph`                 ``(N, k)`` int64 kNN indices, each point its own first neighbour
:func:`geometric_features`        3D-ST eq. 1 edge features ``(N, k, 4)`` (``absolute=True``: ``(N, k, 10)``)
:class:`SharedMLP`                per-point Linear + LeakyReLU(0.2)
:class:`LFA`                      local feature aggregation, ``(N, d)`` -> ``(N, 2d)``, one hop
:class:`ResidualBlock`            shared MLP, two LFAs, shared MLP, skip connection (3D-ST Fig. 4)
:class:`LocalGeometricNet`        3D-ST teacher/student: ``(N, 3)`` -> ``(N, d)``, translation invariant
:func:`receptive_field`           3D-ST eq. 2: indices of ``R(p)`` after ``L`` hops
:func:`receptive_fields`          eq. 2 for several points at once (vectorised)
:class:`ReceptiveFieldDecoder`    3D-ST decoder ``D``: ``(B, d)`` -> ``(B, m, 3)``
:class:`PointMAE`                 Point-MAE: mini-PointNet tokens, transformer encoder/decoder, masked-patch
                                  reconstruction (Chamfer L2); :func:`load_official_checkpoint`
:class:`ShapeSDF`                 Shape-Guided's shape expert: PointNet patch encoder + neural implicit SDF
                                  (:func:`train_shape_sdf`: Neural-Pull training)
:class:`SparseUNet`               sparse voxel convolutions and a MinkUNet-style U-Net in plain torch (PO3AD);
                                  :func:`sparse_quantize`, :func:`voxel_to_point`, :class:`SparseTensor`
:class:`WideResNet`               Wide-ResNet-50-2 with torchvision's parameter names (Shape-Guided's RGB expert)
:func:`load_wide_resnet50_2`      ImageNet weights from a file or the torch hub cache, else seeded random weights
:func:`patch_features`            layer 1 + 2 RGB patch features on the layer-2 grid (28 x 28 at 224 px)
================================  =====================================================================

Layering: may import :mod:`anomaly3d.ops`; never ``anomaly3d.data``, ``anomaly3d.methods`` or
``anomaly3d.reports``.
"""

from __future__ import annotations

from anomaly3d.nn.lfa import (
    LFA,
    LocalGeometricNet,
    ReceptiveFieldDecoder,
    ResidualBlock,
    SharedMLP,
    geometric_features,
    knn_graph,
    receptive_field,
    receptive_fields,
)
from anomaly3d.nn.point_mae import PointMAE, PointMAEConfig, load_official_checkpoint
from anomaly3d.nn.shape_sdf import ShapeSDF, ShapeSDFConfig, train_shape_sdf
from anomaly3d.nn.sparse_unet import (
    SparseTensor,
    SparseUNet,
    SparseUNetConfig,
    minkunet34c,
    sparse_quantize,
    voxel_to_point,
)
from anomaly3d.nn.wide_resnet import WideResNet, imagenet_normalize, load_wide_resnet50_2, patch_features

__all__ = [
    "LFA",
    "LocalGeometricNet",
    "PointMAE",
    "PointMAEConfig",
    "ReceptiveFieldDecoder",
    "ResidualBlock",
    "ShapeSDF",
    "ShapeSDFConfig",
    "SharedMLP",
    "SparseTensor",
    "SparseUNet",
    "SparseUNetConfig",
    "WideResNet",
    "geometric_features",
    "imagenet_normalize",
    "knn_graph",
    "load_official_checkpoint",
    "load_wide_resnet50_2",
    "minkunet34c",
    "patch_features",
    "receptive_field",
    "receptive_fields",
    "sparse_quantize",
    "train_shape_sdf",
    "voxel_to_point",
]
