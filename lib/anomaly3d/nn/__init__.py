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

__all__ = [
    "LFA",
    "LocalGeometricNet",
    "PointMAE",
    "PointMAEConfig",
    "ReceptiveFieldDecoder",
    "ResidualBlock",
    "SharedMLP",
    "geometric_features",
    "knn_graph",
    "load_official_checkpoint",
    "receptive_field",
    "receptive_fields",
]
