"""Group3AD's training pieces (Zhu et al., ACM MM 2024), one function per equation: fake anomalies (eqs. 1-6),
K-means with the elbow rule (eqs. 7-8), the intercluster uniformity loss (IUN, eqs. 9-11) and the intracluster
alignment loss (IAN, eqs. 12-14). The method that trains with them (Algorithm 1) builds on
:class:`~anomaly3d.methods.reg3dad.Reg3DAD`.

Choices the paper leaves open:

* *Eq. 2's "highest PPFH"*: a 33-bin FPFH histogram has no single magnitude (its bins sum to a constant), so the
  centre is the point of largest local FPFH variation (eq. 15, :func:`anomaly3d.ops.fpfh_variation`).
* *Eq. 6's union*: the noisy copies of the local region are appended to the cloud (``P ∪ A``).
* *K-means is not differentiable*: cluster labels come from detached features; the cluster centres of eq. 9 are
  the means of the (attached) member features, so the losses move the encoder.
* *The elbow*: the K of largest distance to the chord of the normalised WCSS curve (the "kneedle" rule).
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["cluster_centers", "elbow_k", "fake_anomaly", "ian_loss", "iun_loss", "kmeans", "wcss"]


def fake_anomaly(
    points: np.ndarray, variation: np.ndarray, rng: np.random.Generator, *,
    ratio: tuple[float, float] = (0.01, 0.10), sigma2: tuple[float, float] = (0.01, 0.05),
) -> tuple[np.ndarray, np.ndarray]:
    """Eqs. 1-6: the cloud plus a noisy copy of the ``r N`` points nearest the point of largest ``variation``.

    ``r ~ U(ratio)``, ``sigma^2 ~ U(sigma2)``, noise ``N(0, sigma^2)`` on every coordinate (in the cloud's units).

    Returns:
        ``(points (N + M, 3), is_fake (N + M,) bool)``.
    """
    p = np.asarray(points, dtype=np.float64)
    v = np.asarray(variation, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 3 or v.shape != (len(p),):
        raise ValueError(f"points must be (N, 3) and variation (N,), got {p.shape} and {v.shape}")
    c = p[int(np.argmax(v))]  # eq. 2
    r = rng.uniform(*ratio)
    m = max(1, round(r * len(p)))
    local = p[np.argsort(np.linalg.norm(p - c, axis=1), kind="stable")[:m]]  # eq. 3
    sigma = np.sqrt(rng.uniform(*sigma2))
    anomaly = local + rng.normal(0.0, sigma, size=local.shape)  # eqs. 4-5
    out = np.concatenate([p, anomaly])  # eq. 6
    return out.astype(np.float32), np.r_[np.zeros(len(p), bool), np.ones(m, bool)]


def kmeans(x: torch.Tensor, k: int, *, iters: int = 20, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Lloyd's K-means with k-means++ seeding on detached rows: ``(labels (N,), centres (k, D))``."""
    data = x.detach().double()
    n = data.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"k must be in 1..{n}, got {k}")
    gen = torch.Generator().manual_seed(seed)
    centres = [data[torch.randint(n, (1,), generator=gen)].squeeze(0)]
    for _ in range(1, k):
        d2 = torch.cdist(data, torch.stack(centres)).min(dim=1).values ** 2
        probs = d2 / d2.sum() if d2.sum() > 0 else torch.full_like(d2, 1.0 / n)
        centres.append(data[torch.multinomial(probs.cpu(), 1, generator=gen).to(data.device)].squeeze(0))
    c = torch.stack(centres)
    for _ in range(iters):
        labels = torch.cdist(data, c).argmin(dim=1)
        new = torch.stack([data[labels == j].mean(dim=0) if (labels == j).any() else c[j] for j in range(k)])
        if torch.allclose(new, c):
            break
        c = new
    return torch.cdist(data, c).argmin(dim=1), c.to(x.dtype)


def wcss(x: torch.Tensor, labels: torch.Tensor, centres: torch.Tensor) -> float:
    """Eqs. 7-8: the within-cluster sum of squared distances to the cluster centres."""
    return float(((x.detach().double() - centres.double()[labels]) ** 2).sum())


def elbow_k(ks: list[int], values: list[float]) -> int:
    """The elbow of a decreasing WCSS curve: the ``k`` farthest below the chord from its first to its last point
    (both axes scaled to [0, 1])."""
    if len(ks) != len(values) or len(ks) < 3:
        return ks[0] if ks else 1
    x = (np.asarray(ks, float) - ks[0]) / max(ks[-1] - ks[0], 1)
    y = np.asarray(values, float)
    y = (y - y.min()) / max(y.max() - y.min(), 1e-12)
    chord = y[0] + (y[-1] - y[0]) * x
    return int(ks[int(np.argmax(chord - y))])


def cluster_centers(features: torch.Tensor, labels: torch.Tensor, k: int) -> torch.Tensor:
    """The mean feature of each non-empty cluster ``(k', D)``, differentiable in ``features``."""
    return torch.stack([features[labels == j].mean(dim=0) for j in range(k) if (labels == j).any()])


def iun_loss(centres: torch.Tensor) -> torch.Tensor:
    """Eqs. 9-11: ``1 / min_{i<j} ||C_i - C_j||``."""
    if centres.shape[0] < 2:
        raise ValueError("the IUN loss needs at least two cluster centres")
    d = torch.cdist(centres, centres)
    iu = torch.triu_indices(len(centres), len(centres), offset=1)
    return 1.0 / d[iu[0], iu[1]].min()


def ian_loss(features: torch.Tensor, labels: torch.Tensor, k: int, temperature: float = 1.0) -> torch.Tensor:
    """Eqs. 12-14: ``T / K * sum_k max_{i,j in C_k} ||P_ki - P_kj||^2`` over the non-empty clusters."""
    terms = []
    for j in range(k):
        members = features[labels == j]
        if len(members) >= 2:
            terms.append(torch.cdist(members, members).max() ** 2)
    if not terms:
        return features.sum() * 0.0
    return temperature * torch.stack(terms).sum() / k
