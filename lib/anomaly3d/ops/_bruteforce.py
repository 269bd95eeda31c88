"""Chunked brute-force neighbour kernels in plain torch (any device, no extra package).

Squared distances are computed as ``|q|^2 - 2 q.r + |r|^2`` with one matrix product per chunk, after centring
both clouds on the reference centroid (which keeps the cancellation error at the scale of the cloud, not of its
distance from the origin). The winners are then re-measured exactly as ``|q - r|`` and re-sorted, so distances
are exact and orders can differ from an exact search only between near-ties. A chunk never holds more than
``CHUNK_ELEMENTS`` distances, so memory stays bounded for any cloud size.
"""

from __future__ import annotations

import torch

from anomaly3d.ops._backend import chunk_rows

__all__ = ["knn_torch", "nearest_torch", "radius_torch"]


def _work_dtype(*ts: torch.Tensor) -> torch.dtype:
    return torch.float64 if any(t.dtype == torch.float64 for t in ts) else torch.float32


def _centred(q: torch.Tensor, r: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    dtype = _work_dtype(q, r)
    q, r = q.detach().to(dtype), r.detach().to(q.device, dtype)
    centre = r.mean(dim=-2, keepdim=True)
    return q - centre, r - centre


def knn_torch(query: torch.Tensor, ref: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``k`` nearest ``ref`` points of every ``query`` point: ``(dist (M, k), idx (M, k))``, ascending."""
    q, r = _centred(query, ref)
    r2 = (r * r).sum(dim=1)
    m = q.shape[0]
    dist = torch.empty((m, k), dtype=q.dtype, device=q.device)
    idx = torch.empty((m, k), dtype=torch.int64, device=q.device)
    step = chunk_rows(r.shape[0], q.device)
    for s in range(0, m, step):
        qs = q[s : s + step]
        d2 = torch.addmm(r2.unsqueeze(0), qs, r.T, alpha=-2.0)  # |r|^2 - 2 q.r (|q|^2 is constant per row)
        cand = torch.topk(d2, k, dim=1, largest=False, sorted=True).indices
        exact = (qs.unsqueeze(1) - r[cand]).square().sum(dim=-1)
        exact, order = torch.sort(exact, dim=1, stable=True)
        dist[s : s + step] = exact.sqrt()
        idx[s : s + step] = cand.gather(1, order)
    return dist, idx


def radius_torch(
    query: torch.Tensor, ref: torch.Tensor, radius: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """All pairs with ``|query[row] - ref[col]| <= radius``: ``(row, col, dist)``, row-major, unsorted."""
    q, r = _centred(query, ref)
    r2 = (r * r).sum(dim=1)
    q2 = (q * q).sum(dim=1)
    eps = torch.finfo(q.dtype).eps
    rows, cols, dists = [], [], []
    step = chunk_rows(r.shape[0], q.device)
    for s in range(0, q.shape[0], step):
        qs, q2s = q[s : s + step], q2[s : s + step]
        d2 = torch.addmm(r2.unsqueeze(0), qs, r.T, alpha=-2.0).add_(q2s.unsqueeze(1))
        slack = 64 * eps * (q2s.unsqueeze(1) + r2.unsqueeze(0) + radius**2)  # bound on the rounding error
        i, j = torch.nonzero(d2 <= radius**2 + slack, as_tuple=True)
        d = (qs[i] - r[j]).square().sum(dim=1).sqrt()
        keep = d <= radius
        rows.append(i[keep] + s)
        cols.append(j[keep])
        dists.append(d[keep])
    return torch.cat(rows), torch.cat(cols), torch.cat(dists)


def nearest_torch(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Index of the nearest ``y`` point of every ``x`` point, batched: ``(B, N, 3), (B, M, 3) -> (B, N)``."""
    xc, yc = _centred(x, y)
    y2 = (yc * yc).sum(dim=-1)
    b, n, m = xc.shape[0], xc.shape[1], yc.shape[1]
    out = torch.empty((b, n), dtype=torch.int64, device=xc.device)
    rows = chunk_rows(m, xc.device)
    if rows >= n:  # whole clouds per chunk: group several pairs
        pairs = max(1, rows // n)
        for s in range(0, b, pairs):
            d2 = torch.baddbmm(
                y2[s : s + pairs].unsqueeze(1),
                xc[s : s + pairs],
                yc[s : s + pairs].transpose(1, 2),
                alpha=-2.0,
            )
            out[s : s + pairs] = d2.argmin(dim=-1)
    else:
        for p in range(b):
            for s in range(0, n, rows):
                d2 = torch.addmm(y2[p].unsqueeze(0), xc[p, s : s + rows], yc[p].T, alpha=-2.0)
                out[p, s : s + rows] = d2.argmin(dim=-1)
    return out
