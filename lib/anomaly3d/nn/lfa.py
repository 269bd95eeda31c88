"""3D-ST's dense local-feature network (Bergmann & Sattlegger, 3D Student-Teacher, Sec. 3.1 and 4.1).

One readable file, plain torch. The network maps ONE point cloud ``(N, 3)`` to one descriptor per point
``(N, d)`` without downsampling; it sees the cloud only through difference vectors between k-nearest
neighbours (eq. 1), so it is translation invariant by construction, and its receptive field is exactly the
``L``-hop neighbourhood of eq. 2 (``L`` = number of LFA blocks = ``2 * n_blocks``).

Pieces, in the order data flows through them::

    points (N, 3) --knn_graph--> neighbors (N, k)               [no gradients]
    geometric_features(points, neighbors)      eq. 1 -> geo (N, k, 4)       [computed once, shared]
    f = 0 (N, d)                               "initialize f_p = 0"
    n_blocks x ResidualBlock(d):               f + SharedMLP(LFA(LFA(SharedMLP(f))))   (Fig. 4b)
        SharedMLP d -> d/4, LFA d/4 -> d/2, LFA d/2 -> d, SharedMLP d -> d
    final MLP: Linear(d, d) + LeakyReLU(0.2) + Linear(d, d)                 "one hidden layer, keeps d"

    receptive_field(s)(neighbors, p, L)        eq. 2 -> indices of R(p)
    ReceptiveFieldDecoder(d, m)                D: R^d -> R^{m x 3}, trained with eq. 3 (Chamfer, elsewhere)

Conventions: points ``(N, 3)`` float, neighbour indices ``(N, k)`` int64 (row ``i`` starts with ``i`` itself,
as RandLA-Net's search), features ``(N, d)``. No batch dimension: the paper feeds one cloud per step.

Choices the paper leaves open (the text gives no dimensions for Figure 4):

* Residual block proportions follow RandLA-Net's dilated residual block: the first shared MLP shrinks to a
  quarter of ``d`` and each LFA doubles its input (``d/4 -> d/2 -> d``), since an LFA outputs ``2 d_LFA``
  (Sec. 3.1, "a feature vector of dimension 2 d_LFA"). We take ``d_LFA`` = the LFA's input width. So ``d``
  must be a multiple of 4. The skip is the identity (widths match), without RandLA-Net's shortcut MLP.
* RandLA-Net's attentive pooling is replaced by the average pooling the 3D-ST text describes. We pool the two
  halves separately and concatenate, ``mean_k(a ⊕ b) = mean_k(a) ⊕ mean_k(b)``, which is the same number
  without materialising the ``(N, k, 2 d_LFA)`` concatenation.
* Every shared MLP is one Linear + LeakyReLU(0.2) (Sec. 4.1), including the last one of a residual block.
* Figure labels follow the caption of Figure 4 ((a) LFA, (b) residual block); the body text swaps them.

Memory (float32, N = 64000, k = 32, d = 128): the LFA's per-edge tensors dominate. The largest are those
of the second LFA of a block, ``(N, k, 64)`` = 64000 * 32 * 64 * 4 B = 0.52 GB each; a no-grad forward
holds at most two at once (the geometric MLP's Linear output and its LeakyReLU output, or one of them and
the gathered neighbour features), a transient peak of ~1.1 GB. For training, autograd keeps the per-edge
LeakyReLU inputs of both geometric MLPs of every block (widths d/4 and d/2): measured with
``torch.autograd.graph.saved_tensors_hooks`` on N = 16384 and scaled linearly to N = 64000, ~3.7 GB for
d = 128 and ~1.9 GB for d = 64 (4 blocks). The gathered neighbour features are not kept (mean pooling's
backward needs only the indices).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from anomaly3d.ops import knn

__all__ = [
    "LFA",
    "LocalGeometricNet",
    "ReceptiveFieldDecoder",
    "ResidualBlock",
    "SharedMLP",
    "geometric_features",
    "knn_graph",
    "receptive_field",
    "receptive_fields",
]

LEAKY_SLOPE = 0.2  # Sec. 4.1: every shared MLP is "a single dense layer, followed by a LeakyReLU ... 0.2"
DECODER_SLOPE = 0.05  # Sec. 4.1: decoder hidden layers use LeakyReLU with negative slope 0.05


# ----------------------------------------------------------------------------------------------------------
# input checks (one place, so every public function words its errors the same way)


def _check_points(points: Tensor, name: str = "points") -> Tensor:
    if not isinstance(points, Tensor):
        raise ValueError(  # noqa: TRY004 - the project reports every bad argument as ValueError
            f"{name} must be a torch tensor of shape (N, 3), got {type(points).__name__}"
        )
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(
            f"{name} must have shape (N, 3) (one cloud, no batch dimension), got {tuple(points.shape)}"
        )
    if points.shape[0] == 0:
        raise ValueError(f"{name} is empty (0 points)")
    if not points.is_floating_point():
        raise ValueError(f"{name} must be a float tensor, got dtype {points.dtype}; use points.float()")
    if not bool(torch.isfinite(points).all()):
        bad = (~torch.isfinite(points).all(dim=1)).nonzero().flatten()[:5].tolist()
        raise ValueError(f"{name} contains NaN/inf coordinates (first bad rows: {bad}); drop or fix them")
    return points


def _check_neighbors(neighbors: Tensor, n: int | None = None, name: str = "neighbors") -> Tensor:
    if not isinstance(neighbors, Tensor):
        raise ValueError(  # noqa: TRY004 - the project reports every bad argument as ValueError
            f"{name} must be a torch int64 tensor of shape (N, k), got {type(neighbors).__name__}"
        )
    if neighbors.ndim != 2 or neighbors.shape[1] == 0:
        raise ValueError(f"{name} must have shape (N, k) with k >= 1, got {tuple(neighbors.shape)}")
    if neighbors.dtype != torch.int64:
        raise ValueError(f"{name} must have dtype int64 (as knn_graph returns), got {neighbors.dtype}")
    if n is not None and neighbors.shape[0] != n:
        raise ValueError(f"{name} has {neighbors.shape[0]} rows but the cloud has {n} points; rebuild it")
    n_ref = neighbors.shape[0] if n is None else n
    if neighbors.numel() and (int(neighbors.min()) < 0 or int(neighbors.max()) >= n_ref):
        raise ValueError(
            f"{name} holds indices outside [0, {n_ref}) (min {int(neighbors.min())}, max "
            f"{int(neighbors.max())}); it must index the same cloud"
        )
    return neighbors


def _check_int(value: int, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


# ----------------------------------------------------------------------------------------------------------
# graph and geometry


def knn_graph(points: Tensor, k: int) -> Tensor:
    """The ``(N, k)`` int64 indices of each point's ``k`` nearest points, the point itself first.

    Including the point itself is RandLA-Net's convention (its ``G(p, p) = 0`` edge is harmless and makes
    ``knn^{l-1}(p) ⊆ knn^l(p)`` in eq. 2). Computed without gradients, on the points' device, through
    :func:`anomaly3d.ops.knn` (SciPy's KD-tree on the CPU, torch-cluster or chunked torch on CUDA). Rows are
    sorted by distance; with duplicated points the point's own index is forced into column 0 (dropping the
    farthest neighbour when a tie pushed it out of the ``k`` nearest).

    Raises:
        ValueError: points not ``(N, 3)``/float/finite, or ``k`` not in ``[1, N]``.
    """
    if isinstance(points, np.ndarray):
        points = torch.from_numpy(points)
    points = _check_points(points)
    n = points.shape[0]
    k = _check_int(k, "k", 1)
    if k > n:
        raise ValueError(f"k={k} is larger than the cloud ({n} points); use k <= N or more points")
    arange = torch.arange(n, device=points.device)
    if k == 1:
        return arange.unsqueeze(1)
    with torch.no_grad():
        _, idx = knn(points.detach(), k=k)
    idx = idx.to(device=points.device, dtype=torch.int64)
    if bool((idx[:, 0] == arange).all()):
        return idx
    # ties between duplicates: drop self (or the last column where self is missing), then prepend self
    is_self = idx == arange.unsqueeze(1)
    is_self[~is_self.any(dim=1), k - 1] = True
    first_self = is_self & (is_self.long().cumsum(dim=1) == 1)  # at most one dropped per row
    others = idx[~first_self].view(n, k - 1)
    return torch.cat([arange.unsqueeze(1), others], dim=1)


def geometric_features(points: Tensor, neighbors: Tensor, *, absolute: bool = False) -> Tensor:
    """Eq. 1: ``G(p, p_j) = (p - p_j) ⊕ ||p - p_j||_2`` for every edge of the kNN graph, ``(N, k, 4)``.

    Depends on differences only, hence the network's translation invariance. ``absolute=True`` is the
    ablation "absolute coordinates" (3D-ST Table 4), RandLA-Net's original relative point position encoding
    ``p ⊕ p_j ⊕ (p - p_j) ⊕ ||p - p_j||``, ``(N, k, 10)``. Differentiable w.r.t. ``points`` (the norm's
    gradient at the zero self-edge is 0).
    """
    points = _check_points(points)
    neighbors = _check_neighbors(neighbors, points.shape[0])
    p = points.unsqueeze(1)  # (N, 1, 3)
    pj = points[neighbors]  # (N, k, 3)
    diff = p - pj
    dist = torch.linalg.vector_norm(diff, dim=-1, keepdim=True)
    if not absolute:
        return torch.cat([diff, dist], dim=-1)
    return torch.cat([p.expand_as(pj), pj, diff, dist], dim=-1)


# ----------------------------------------------------------------------------------------------------------
# network blocks (Figure 4)


class SharedMLP(nn.Module):
    """A dense layer applied to every point (or edge) independently, then LeakyReLU (Sec. 4.1: slope 0.2)."""

    def __init__(self, d_in: int, d_out: int, slope: float = LEAKY_SLOPE) -> None:
        super().__init__()
        self.linear = nn.Linear(d_in, d_out)
        self.act = nn.LeakyReLU(slope)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.linear(x))


class LFA(nn.Module):
    """Local feature aggregation (Fig. 4a): ``(N, d_in)`` features -> ``(N, 2 d_in)``.

    The edge features ``G`` (eq. 1) pass a shared MLP ``geo_dim -> d_in`` (``d_LFA = d_in``), are
    concatenated with the neighbours' input features ``f_{p_j}``, and are average-pooled over the ``k``
    neighbours. Each call grows the receptive field by one hop of the kNN graph (eq. 2).
    """

    def __init__(self, d_in: int, geo_dim: int = 4) -> None:
        super().__init__()
        self.d_in = _check_int(d_in, "d_in", 1)
        self.geo_mlp = SharedMLP(_check_int(geo_dim, "geo_dim", 1), d_in)

    def forward(self, features: Tensor, geo: Tensor, neighbors: Tensor) -> Tensor:
        """``features (N, d_in)``, ``geo (N, k, geo_dim)``, ``neighbors (N, k)`` -> ``(N, 2 d_in)``."""
        # mean_k(a ⊕ b) == mean_k(a) ⊕ mean_k(b): pool the halves, skip the (N, k, 2 d_in) concatenation
        geo_part = self.geo_mlp(geo).mean(dim=1)  # (N, d_in)
        n, k = neighbors.shape
        gathered = features.index_select(0, neighbors.reshape(-1)).view(n, k, -1)  # (N, k, d_in) f_{p_j}
        nbr_part = gathered.mean(dim=1)  # index_select: faster than features[neighbors] on the CPU
        return torch.cat([geo_part, nbr_part], dim=-1)


class ResidualBlock(nn.Module):
    """Residual block (Fig. 4b): ``f + SharedMLP(LFA(LFA(SharedMLP(f))))``, widths ``d -> d/4 -> d/2 -> d``.

    The text fixes the order (shared MLP, two LFAs, shared MLP, add to the input) but not the widths; we use
    RandLA-Net's dilated residual block proportions (module docstring). Two hops of receptive field.
    """

    def __init__(self, d: int, geo_dim: int = 4) -> None:
        super().__init__()
        d = _check_int(d, "d", 4)
        if d % 4:
            raise ValueError(f"d={d} must be a multiple of 4 (the block's widths are d/4 -> d/2 -> d)")
        self.mlp_in = SharedMLP(d, d // 4)
        self.lfa1 = LFA(d // 4, geo_dim)  # -> d/2
        self.lfa2 = LFA(d // 2, geo_dim)  # -> d
        self.mlp_out = SharedMLP(d, d)

    def forward(self, features: Tensor, geo: Tensor, neighbors: Tensor) -> Tensor:
        x = self.mlp_in(features)
        x = self.lfa1(x, geo, neighbors)
        x = self.lfa2(x, geo, neighbors)
        return features + self.mlp_out(x)


class LocalGeometricNet(nn.Module):
    """3D-ST's teacher/student network: one cloud ``(N, 3)`` -> one descriptor per point ``(N, d)``.

    Sec. 3.1: build the kNN graph, set ``f_p = 0``, apply ``n_blocks`` residual blocks and a final shared MLP
    with one hidden layer that keeps ``d`` (no activation on the output). Sec. 4.1: ``n_blocks = 4``,
    ``k = 32``, ``d`` in {64, 128}. ``absolute_coordinates=True`` is the Table 4 ablation (not translation
    invariant). Points are cast to the parameters' dtype; they must be on the parameters' device.
    """

    def __init__(
        self, d: int = 64, n_blocks: int = 4, k: int = 32, absolute_coordinates: bool = False
    ) -> None:
        super().__init__()
        self.d = _check_int(d, "d", 4)
        if d % 4:
            raise ValueError(f"d={d} must be a multiple of 4 (residual block widths d/4 -> d/2 -> d)")
        self.n_blocks = _check_int(n_blocks, "n_blocks", 0)
        self.k = _check_int(k, "k", 1)
        self.absolute_coordinates = bool(absolute_coordinates)
        geo_dim = 10 if self.absolute_coordinates else 4
        self.blocks = nn.ModuleList(ResidualBlock(d, geo_dim) for _ in range(n_blocks))
        self.head = nn.Sequential(nn.Linear(d, d), nn.LeakyReLU(LEAKY_SLOPE), nn.Linear(d, d))

    @property
    def n_lfa(self) -> int:
        """``L`` of eq. 2: the number of LFA blocks, i.e. hops of receptive field (2 per residual block)."""
        return 2 * self.n_blocks

    def forward(self, points: Tensor, neighbors: Tensor | None = None) -> Tensor:
        """``points (N, 3)`` [, ``neighbors (N, k')`` int64] -> ``(N, d)``; builds ``knn_graph(points, k)``
        when ``neighbors`` is None. A given graph may use any ``k'`` (pooling is a mean over neighbours)."""
        points = _check_points(points)
        ref = next(self.parameters(), None)
        if ref is not None:
            if points.device != ref.device:
                raise ValueError(
                    f"points are on {points.device} but the network is on {ref.device}; move one of them"
                )
            points = points.to(ref.dtype)
        if neighbors is None:
            neighbors = knn_graph(points, self.k)
        neighbors = _check_neighbors(neighbors, points.shape[0])
        geo = geometric_features(points, neighbors, absolute=self.absolute_coordinates)
        f = points.new_zeros(points.shape[0], self.d)  # f_p = 0
        for block in self.blocks:
            f = block(f, geo, neighbors)
        return self.head(f)


# ----------------------------------------------------------------------------------------------------------
# receptive fields (eq. 2)


def receptive_field(neighbors: Tensor, index: int, hops: int) -> Tensor:
    """Eq. 2: ``R(p) = ∪_{l=0..L} knn^l(p)``, ``knn^0 = {p}``, as sorted unique int64 indices.

    The union of "reachable in exactly ``l`` steps" over ``l <= L`` is "reachable in at most ``L`` steps",
    so a breadth-first search that expands only newly reached points is exact for any graph. ``hops`` is
    the network's ``n_lfa``. On the neighbours' device. For several points at once use
    :func:`receptive_fields`.
    """
    neighbors = _check_neighbors(neighbors)
    n = neighbors.shape[0]
    hops = _check_int(hops, "hops", 0)
    index = _check_int(index, "index", 0)
    if index >= n:
        raise ValueError(f"index={index} is out of range for a graph of {n} points")
    seen = torch.zeros(n, dtype=torch.bool, device=neighbors.device)
    seen[index] = True
    frontier = torch.tensor([index], device=neighbors.device)
    for _ in range(hops):
        cand = neighbors[frontier].flatten().unique()
        frontier = cand[~seen[cand]]
        if frontier.numel() == 0:
            break
        seen[frontier] = True
    return seen.nonzero().flatten()


def receptive_fields(neighbors: Tensor, indices: Tensor, hops: int) -> list[Tensor]:
    """:func:`receptive_field` for each of ``indices`` (``(B,)`` int), vectorised: a boolean ``(B, N)``
    "reached" matrix is grown one hop at a time by scattering the neighbours of each row's frontier.

    Memory is ``2 B N`` bytes plus the frontier's edges; N = 64000, k = 32, B = 16, L = 8 took ~40 ms on
    a 2-core CPU.
    Returns a list of ``B`` sorted unique int64 tensors on the neighbours' device.
    """
    neighbors = _check_neighbors(neighbors)
    n = neighbors.shape[0]
    hops = _check_int(hops, "hops", 0)
    idx = torch.as_tensor(indices, device=neighbors.device)
    if idx.ndim == 0:
        idx = idx.unsqueeze(0)
    if idx.ndim != 1 or idx.is_floating_point() or idx.dtype == torch.bool:
        raise ValueError(f"indices must be a 1-D integer tensor, got shape {tuple(idx.shape)}, {idx.dtype}")
    idx = idx.long()
    if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= n):
        raise ValueError(f"indices must lie in [0, {n}), got min {int(idx.min())}, max {int(idx.max())}")
    b = idx.numel()
    rows = torch.arange(b, device=neighbors.device)
    seen = torch.zeros(b, n, dtype=torch.bool, device=neighbors.device)
    seen[rows, idx] = True
    frontier = seen.clone()
    for _ in range(hops):
        r, c = frontier.nonzero(as_tuple=True)
        if r.numel() == 0:
            break
        reached = torch.zeros_like(seen)
        reached[r.unsqueeze(1).expand(-1, neighbors.shape[1]), neighbors[c]] = True
        frontier = reached & ~seen
        seen |= reached
    return [row.nonzero().flatten() for row in seen]


# ----------------------------------------------------------------------------------------------------------
# decoder D (Sec. 3.1, eq. 3; sizes from Sec. 4.1)


class ReceptiveFieldDecoder(nn.Module):
    """``D: R^d -> R^{m x 3}``: MLP ``d -> hidden -> hidden -> 3m``, LeakyReLU(0.05) after each hidden layer.

    Decodes a descriptor ``f_p`` into ``m`` points that eq. 3 compares (Chamfer) with the centred receptive
    field ``R(p) - mean``. Sec. 4.1: two hidden layers of 128, ``m = 1024``. ``(B, d) -> (B, m, 3)``.
    """

    def __init__(self, d: int = 64, m: int = 1024, hidden: int = 128) -> None:
        super().__init__()
        self.d = _check_int(d, "d", 1)
        self.m = _check_int(m, "m", 1)
        hidden = _check_int(hidden, "hidden", 1)
        self.mlp = nn.Sequential(
            nn.Linear(d, hidden),
            nn.LeakyReLU(DECODER_SLOPE),
            nn.Linear(hidden, hidden),
            nn.LeakyReLU(DECODER_SLOPE),
            nn.Linear(hidden, 3 * m),
        )

    def forward(self, features: Tensor) -> Tensor:
        if not isinstance(features, Tensor) or features.ndim != 2 or features.shape[1] != self.d:
            shape = tuple(features.shape) if isinstance(features, Tensor) else type(features).__name__
            raise ValueError(f"features must have shape (B, {self.d}), got {shape}")
        return self.mlp(features).view(features.shape[0], self.m, 3)
