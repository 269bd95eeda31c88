"""Sparse coding of feature vectors on small per-query dictionaries: batched orthogonal matching pursuit.

Shape-Guided (Chu et al., ICML 2023, Section 3.2, inference steps 3 and 7) does not score a test feature by
its distance to the nearest memory feature but by its distance to a *sparse reconstruction* from its ``k``
nearest memory features (``k1 = 10`` for the SDF features, ``k2 = 5`` for the RGB features). The official code
calls, once per query row, ``sklearn.decomposition.sparse_encode(X=query, dictionary=knn_rows,
algorithm="omp", n_nonzero_coefs=3, alpha=1e-10)`` and reconstructs ``code @ knn_rows``. This module does the
same for all queries at once, in plain torch (CPU or CUDA):

* :func:`omp` — orthogonal matching pursuit of ``Q`` signals, each on its own dictionary of ``K`` atoms
  (or one shared dictionary), reproducing ``sparse_encode(algorithm="omp", n_nonzero_coefs=n)`` query by
  query: same atoms, same order of selection, same coefficients (to rounding) and the same early stops;
* :func:`reconstruct_from_neighbours` — Shape-Guided's step: the ``k`` nearest bank rows of every query
  (:func:`anomaly3d.ops.coreset.feature_knn`), then :func:`omp` on them.

What scikit-learn does exactly (read in the installed scikit-learn 1.9.1 source,
``decomposition/_dict_learning.py`` and ``linear_model/_omp.py``, and confirmed by running it):

* ``sparse_encode(..., algorithm="omp")`` computes ``gram = D D^T`` and ``cov = D x`` and calls
  ``orthogonal_mp_gram(gram, cov, n_nonzero_coefs=int(n), tol=None)``. **``alpha`` is never used for OMP**
  (the docstring says it is a tolerance that overrides ``n_nonzero_coefs``, but the code always passes
  ``tol=None``); with ``n_nonzero_coefs=None`` it uses ``min(max(D / 10, 1), K)`` atoms, not ``alpha``. The
  ``alpha=1e-10`` of the official code therefore has no effect.
* The atoms are **not normalised**: the next atom is ``argmax_k |<d_k, r>|`` over the raw atoms (``r`` the
  residual, computed as ``cov - gram[:, S] gamma``); ties go to the first position of sklearn's internal
  swap-permuted atom order (replicated here). After each choice the coefficients of all chosen atoms are
  refitted by least squares through an incrementally updated Cholesky factor of ``gram[S, S]``.
* It stops early (with a ``RuntimeWarning`` "ended prematurely", which the official code silences) when the
  best correlation satisfies ``<d_k, r>^2 < eps`` (the residual is, to the dtype's machine epsilon ``eps``,
  orthogonal to every atom: e.g. the signal lies in the span of the chosen atoms), when the best atom is one
  already chosen, or when the new Cholesky pivot is ``<= eps`` (the atom is linearly dependent on the chosen
  ones: duplicated atoms). These thresholds are absolute, in the computation's dtype (float32 features use
  float32's ``eps``), exactly as here.
* ``n_nonzero_coefs > K`` raises ``ValueError`` in scikit-learn; :func:`omp` raises too.
"""

from __future__ import annotations

import numbers

import numpy as np
import torch

from anomaly3d.ops._backend import Like
from anomaly3d.ops.coreset import as_feature_matrix, feature_knn

__all__ = ["omp", "reconstruct_from_neighbours"]


def _check_int(value: object, name: str, low: int, high: int | None = None, why: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")  # noqa: TRY004 - project convention
    value = int(value)
    if value < low or (high is not None and value > high):
        rng = f"[{low}, {high}]" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be in {rng}{why}, got {value}")
    return value


def _as_dictionaries(x: object, dim: int, n_queries: int) -> torch.Tensor:
    """Validate ``(Q, K, D)`` per-query or ``(K, D)`` shared dictionaries; return a float tensor."""
    if isinstance(x, torch.Tensor):
        t = x.detach()
    else:
        a = np.asarray(x)
        t = torch.as_tensor(a if a.flags.writeable else a.copy())  # e.g. np.broadcast_to views
    if t.dtype == torch.bool or t.is_complex():
        raise ValueError(f"dictionaries must hold real numbers, got dtype {t.dtype}")
    if t.ndim not in (2, 3):
        raise ValueError(
            "dictionaries must have shape (Q, K, D) (one dictionary of K atoms per query) or (K, D) (one "
            f"shared dictionary), got shape {tuple(t.shape)}"
        )
    if t.shape[-2] == 0 or t.shape[-1] == 0:
        raise ValueError(f"dictionaries is empty (shape {tuple(t.shape)})")
    if t.shape[-1] != dim:
        raise ValueError(f"dictionaries have atoms of {t.shape[-1]} features but the signals have {dim}")
    if t.ndim == 3 and t.shape[0] != n_queries:
        raise ValueError(
            f"dictionaries hold {t.shape[0]} per-query dictionaries but there are {n_queries} signals; give "
            "one (K, D) dictionary per signal or a single shared (K, D) dictionary"
        )
    if not t.is_floating_point():
        t = t.to(torch.float32)
    if not bool(torch.isfinite(t).all()):
        bad = int((~torch.isfinite(t).reshape(-1, t.shape[-1]).all(dim=1)).sum())
        raise ValueError(f"dictionaries have {bad} atom(s) with NaN/inf features")
    return t


def _omp_gram(
    gram: torch.Tensor, cov: torch.Tensor, n_nonzero: int, norms2: torch.Tensor, tol: float | None
) -> torch.Tensor:
    """Batched Cholesky OMP on precomputed ``gram (B, K, K)`` and ``cov (B, K)``; coefficients ``(B, K)``.

    Mirrors scikit-learn's ``_gram_omp`` step by step (selection on the swap-permuted order, absolute ``eps``
    stops, incremental Cholesky, least-squares refit); finished rows are frozen, the others continue.
    """
    b, k = cov.shape
    dev, dt = cov.device, cov.dtype
    eps = torch.finfo(dt).eps
    rows = torch.arange(b, device=dev)
    perm = torch.arange(k, device=dev).expand(b, k).clone()  # sklearn's swapped atom order
    support = torch.zeros((b, n_nonzero), dtype=torch.int64, device=dev)
    chol = torch.zeros((b, n_nonzero, n_nonzero), dtype=dt, device=dev)
    gamma = torch.zeros((b, n_nonzero), dtype=dt, device=dev)
    done = torch.zeros(b, dtype=torch.bool, device=dev)
    alpha = cov  # correlation of every atom with the current residual
    for t in range(n_nonzero):
        permuted = alpha.gather(1, perm)
        pos = permuted.abs().argmax(dim=1)
        best = permuted.gather(1, pos[:, None]).squeeze(1)
        lam = perm.gather(1, pos[:, None]).squeeze(1)
        stop = (pos < t) | (best * best < eps)  # an atom chosen again / residual orthogonal to all atoms
        g_row = gram[rows, lam]  # (b, K): <d_lam, d_j>
        if t > 0:
            w = torch.linalg.solve_triangular(
                chol[:, :t, :t], g_row.gather(1, support[:, :t]).unsqueeze(-1), upper=False
            ).squeeze(-1)
            pivot = g_row.gather(1, lam[:, None]).squeeze(1) - (w * w).sum(dim=1)
            stop |= pivot <= eps  # the atom is linearly dependent on the chosen ones
        else:
            w = None
            pivot = g_row.gather(1, lam[:, None]).squeeze(1)
        done |= stop
        if bool(done.all()):
            break
        live = ~done
        if w is not None:
            chol[:, t, :t] = torch.where(live[:, None], w, 0.0)
        chol[:, t, t] = torch.where(live, pivot, 1.0).sqrt()  # frozen rows: identity padding keeps L valid
        support[:, t] = torch.where(live, lam, 0)
        at_t = perm[:, t].clone()
        at_pos = perm.gather(1, pos[:, None]).squeeze(1)
        perm[:, t] = torch.where(live, at_pos, at_t)
        perm.scatter_(1, pos[:, None], torch.where(live, at_t, at_pos)[:, None])
        sup = support[:, : t + 1]
        fit = torch.cholesky_solve(cov.gather(1, sup).unsqueeze(-1), chol[:, : t + 1, : t + 1]).squeeze(-1)
        gamma[:, : t + 1] = torch.where(live[:, None], fit, gamma[:, : t + 1])
        cols = gram.gather(1, sup.unsqueeze(-1).expand(b, t + 1, k))  # (b, t+1, K): rows of the chosen atoms
        beta = torch.bmm(gamma[:, None, : t + 1], cols).squeeze(1)  # gram[:, S] @ gamma
        alpha = cov - beta
        if tol is not None:  # squared residual |x|^2 - gamma . gram[S, S] gamma, as sklearn's tol_curr
            res2 = norms2 - (gamma[:, : t + 1] * beta.gather(1, sup)).sum(dim=1)
            done |= res2.abs() <= tol
            if bool(done.all()):
                break
    coef = torch.zeros((b, k), dtype=dt, device=dev)
    return coef.scatter_add_(1, support, gamma)


def _omp_block(
    dicts: torch.Tensor, x: torch.Tensor, n_nonzero: int, tol: float | None, normalize_atoms: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """OMP of a block of signals ``x (B, D)`` on ``dicts`` ``(B, K, D)`` or shared ``(K, D)``."""
    shared = dicts.ndim == 2
    scale = None
    if normalize_atoms:
        norms = torch.linalg.vector_norm(dicts, dim=-1)
        scale = torch.where(norms > 0, 1.0 / torch.where(norms > 0, norms, 1.0), 0.0)  # zero atoms stay zero
        dicts = dicts * scale.unsqueeze(-1)
    if shared:
        gram = (dicts @ dicts.T).expand(x.shape[0], -1, -1)
        cov = x @ dicts.T
    else:
        gram = torch.bmm(dicts, dicts.transpose(1, 2))
        cov = torch.bmm(dicts, x.unsqueeze(-1)).squeeze(-1)
    norms2 = (x * x).sum(dim=1)
    coef = _omp_gram(gram, cov, n_nonzero, norms2, tol)
    recon = coef @ dicts if shared else torch.bmm(coef.unsqueeze(1), dicts).squeeze(1)
    if scale is not None:
        coef = coef * scale  # coefficients of the caller's (unnormalised) atoms
    return coef, recon


def omp(
    dictionaries: object,
    signals: object,
    n_nonzero: int,
    *,
    tol: float | None = None,
    normalize_atoms: bool = False,
    chunk_size: int = 4096,
) -> tuple[np.ndarray | torch.Tensor, np.ndarray | torch.Tensor]:
    """Batched orthogonal matching pursuit: code each signal on at most ``n_nonzero`` atoms of its dictionary.

    Query by query this is ``sklearn.decomposition.sparse_encode(signal[None], dictionary,
    algorithm="omp", n_nonzero_coefs=n_nonzero)`` (see the module docstring for what that does): the same
    atoms in the same order, coefficients equal to rounding (1e-9 in float64), the same early stops. An atom
    is never chosen twice; zero atoms are never chosen; a signal in the span of the chosen atoms stops early
    with a zero residual; an atom that duplicates (or is a combination of) chosen atoms stops the pursuit.

    Args:
        dictionaries: ``(Q, K, D)`` — one dictionary of ``K`` atoms (rows) per signal — or ``(K, D)``, one
            dictionary shared by all signals (NumPy or torch; the computation runs on its device).
        signals: ``(Q, D)`` signals to code.
        n_nonzero: most atoms per signal, ``1 <= n_nonzero <= K`` (more raises ``ValueError``, as in
            scikit-learn; Shape-Guided uses 3).
        tol: if given, a signal also stops once its squared residual ``|x - c D|^2 <= tol`` (checked after
            each atom, like scikit-learn's ``orthogonal_mp_gram(tol=...)``; that function then ignores the
            atom count, so pass ``n_nonzero=K`` to match it). ``sparse_encode`` never passes a tolerance.
        normalize_atoms: choose atoms by ``|<d_k / |d_k|, r>|`` instead of scikit-learn's raw ``|<d_k, r>|``
            (classic OMP); coefficients are still those of the given atoms and the reconstruction is the same
            least-squares fit on the chosen support. ``False`` reproduces scikit-learn.
        chunk_size: signals coded at once (bounds memory to about ``chunk_size * K * (K + D)`` numbers).

    Returns:
        ``(coefficients (Q, K), reconstructions (Q, D))`` with ``reconstructions = coefficients @ dictionary``
        per signal, in the kind (NumPy / torch), device and float dtype of ``signals``. The computation runs
        in float64 if either input is float64, else float32.

    Raises:
        ValueError: bad shapes, empty or non-finite inputs, mismatched ``Q`` or ``D``, ``n_nonzero`` outside
            ``[1, K]``, negative ``tol`` or non-positive ``chunk_size``; the message names the argument.
    """
    x = as_feature_matrix(signals, "signals")
    d = _as_dictionaries(dictionaries, x.shape[1], x.shape[0])
    n = _check_int(n_nonzero, "n_nonzero", 1, d.shape[-2], " (the number of atoms K per dictionary)")
    step = _check_int(chunk_size, "chunk_size", 1)
    if tol is not None and (
        isinstance(tol, bool) or not isinstance(tol, numbers.Real) or not 0 <= float(tol) < float("inf")
    ):
        raise ValueError(f"tol must be None or a finite number >= 0, got {tol!r}")
    like = Like(isinstance(signals, torch.Tensor), x.device, x.dtype)
    work = torch.float64 if torch.float64 in (x.dtype, d.dtype) else torch.float32
    d = d.to(work)
    x = x.to(d.device, work)
    coefs, recons = [], []
    for s in range(0, x.shape[0], step):
        block = d if d.ndim == 2 else d[s : s + step]
        c, r = _omp_block(block, x[s : s + step], n, None if tol is None else float(tol), normalize_atoms)
        coefs.append(c)
        recons.append(r)
    return like.floats(torch.cat(coefs)), like.floats(torch.cat(recons))


def reconstruct_from_neighbours(
    bank: object,
    queries: object,
    k: int,
    n_nonzero: int,
    *,
    skip_nearest: bool = False,
    chunk_size: int = 4096,
) -> tuple[np.ndarray | torch.Tensor, np.ndarray | torch.Tensor]:
    """Shape-Guided's sparse reconstruction: code every query on its ``k`` nearest bank rows with :func:`omp`.

    For each query row, the ``k`` nearest ``bank`` rows (Euclidean, ascending, by
    :func:`~anomaly3d.ops.coreset.feature_knn`) form its dictionary, in that order, and the query is
    reconstructed from at most ``n_nonzero`` of them exactly as ``sparse_encode(algorithm="omp",
    n_nonzero_coefs=n_nonzero)`` would (the official code: ``k = 10`` for SDF features, ``k = 5`` for RGB
    features, ``n_nonzero = 3``). The anomaly score is then ``|query - reconstruction|``. For Shape-Guided's
    RGB step the ``bank`` is the shape-guided RGB dictionary (the RGB features tied to the SDF neighbours used
    in the SDF step), not the whole RGB memory.

    Args:
        bank: ``(N, D)`` memory bank (NumPy or torch; the computation runs on its device).
        queries: ``(M, D)`` query features.
        k: dictionary size, ``1 <= k <= N`` (``N - 1`` with ``skip_nearest``).
        n_nonzero: most atoms per reconstruction, ``1 <= n_nonzero <= k``.
        skip_nearest: drop each query's nearest bank row and use the next ``k`` (leave-one-out when the
            queries are the bank itself, as the official code's "alignment" mode: ``topk(k + 1)[:, 1:]``).
        chunk_size: queries coded at once (bounds the gathered ``(chunk, k, D)`` dictionaries).

    Returns:
        ``(reconstructions (M, D), neighbour_indices (M, k))``: the reconstructions in the kind, device and
        float dtype of ``queries``; the int64 bank rows of each dictionary (ascending distance) in the kind
        and device of ``queries``.

    Raises:
        ValueError: bad matrices (see :func:`~anomaly3d.ops.coreset.as_feature_matrix`), different ``D``,
            ``k`` or ``n_nonzero`` out of range, non-positive ``chunk_size``.
    """
    b = as_feature_matrix(bank, "bank")
    q = as_feature_matrix(queries, "queries", dim=b.shape[1])
    skip = int(bool(skip_nearest))
    limit = b.shape[0] - skip
    if limit < 1:
        raise ValueError("bank has a single row: skip_nearest=True leaves no neighbour")
    kk = _check_int(k, "k", 1, limit, f" (the bank size{' minus 1 for skip_nearest' if skip else ''})")
    n = _check_int(n_nonzero, "n_nonzero", 1, kk, " (k, the dictionary size)")
    step = _check_int(chunk_size, "chunk_size", 1)
    like = Like(isinstance(queries, torch.Tensor), q.device, q.dtype)
    _, idx = feature_knn(q, b, kk + skip)
    idx = idx[:, skip:]
    work = torch.float64 if torch.float64 in (q.dtype, b.dtype) else torch.float32
    b = b.to(work)
    q = q.to(b.device, work)
    recons = []
    for s in range(0, q.shape[0], step):
        _, r = _omp_block(b[idx[s : s + step]], q[s : s + step], n, None, False)
        recons.append(r)
    return like.floats(torch.cat(recons)), like.ints(idx)
