"""Adapters to the optional torch-cluster package (the ``gpu`` extra), used for CUDA tensors when installed.

torch-cluster's own conventions differ from ours (its ``knn``/``radius`` return unordered ``[2, E]`` edge lists
with the *query* index first; ``radius`` keeps the first ``max_num_neighbors`` hits, not the nearest; ``fps``
takes a ratio and a random start it draws itself). These adapters turn its answers into exactly the results of
the other backends: distances are re-measured, rows sorted, the start of FPS is set by us.
"""

from __future__ import annotations

import torch

from anomaly3d.ops._backend import chunk_rows

__all__ = ["fps_tc", "knn_tc", "nearest_tc", "radius_tc"]


def _sort_rows(row: torch.Tensor, dist: torch.Tensor) -> torch.Tensor:
    """Permutation that sorts edges by row, then by distance."""
    order = torch.argsort(dist, stable=True)
    return order[torch.argsort(row[order], stable=True)]


def knn_tc(query: torch.Tensor, ref: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``k`` nearest ``ref`` points of every ``query`` point via ``torch_cluster.knn``."""
    import torch_cluster

    query, ref = query.detach().contiguous(), ref.detach().contiguous()
    row, col = torch_cluster.knn(ref, query, k)
    dist = (query[row] - ref[col]).norm(dim=1)
    order = _sort_rows(row, dist)
    m = query.shape[0]
    if row.numel() != m * k:  # pragma: no cover - torch-cluster returns k per row whenever len(ref) >= k
        raise RuntimeError(f"torch_cluster.knn returned {row.numel()} pairs for {m} queries and k={k}")
    return dist[order].view(m, k), col[order].view(m, k)


def radius_tc(
    query: torch.Tensor, ref: torch.Tensor, radius: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """All pairs within ``radius`` via ``torch_cluster.radius`` (queries chunked: it allocates rows x limit)."""
    import torch_cluster

    query, ref = query.detach().contiguous(), ref.detach().contiguous()
    n = ref.shape[0]
    rows, cols = [], []
    step = chunk_rows(n, query.device)
    for s in range(0, query.shape[0], step):
        row, col = torch_cluster.radius(ref, query[s : s + step], radius, max_num_neighbors=n)
        rows.append(row + s)
        cols.append(col)
    row, col = torch.cat(rows), torch.cat(cols)
    dist = (query[row] - ref[col]).norm(dim=1)
    keep = dist <= radius  # torch-cluster compares squared distances in its own precision
    return row[keep], col[keep], dist[keep]


def nearest_tc(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Index of the nearest ``y`` point of every ``x`` point, batched ``(B, N, 3), (B, M, 3) -> (B, N)``."""
    import torch_cluster

    b, n, m = x.shape[0], x.shape[1], y.shape[1]
    dev = x.device
    batch_x = torch.arange(b, device=dev).repeat_interleave(n)
    batch_y = torch.arange(b, device=dev).repeat_interleave(m)
    xf, yf = x.detach().reshape(-1, 3).contiguous(), y.detach().reshape(-1, 3).contiguous()
    row, col = torch_cluster.knn(yf, xf, 1, batch_y, batch_x)
    out = torch.empty(b * n, dtype=torch.int64, device=dev)
    out[row] = col % m
    return out.view(b, n)


def fps_tc(points: torch.Tensor, n: int, start: int) -> torch.Tensor:
    """Farthest point sampling via ``torch_cluster.fps``, starting at index ``start``.

    torch-cluster starts at row 0 when ``random_start=False``, so the cloud is rolled to put ``start`` first
    and the indices are rolled back. It takes a ratio, not a count; the first ``n`` picks are the answer.
    """
    import torch_cluster

    total = points.shape[0]
    src = torch.roll(points.detach(), shifts=-start, dims=0).contiguous()
    idx = torch_cluster.fps(src, None, ratio=n / total, random_start=False)
    if idx.numel() < n:  # pragma: no cover - ceil(total * n / total) >= n up to rounding of the ratio
        raise RuntimeError(f"torch_cluster.fps returned {idx.numel()} indices, {n} were asked for")
    return (idx[:n] + start) % total
