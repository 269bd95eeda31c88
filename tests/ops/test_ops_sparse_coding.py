"""Batched OMP and Shape-Guided's k-NN sparse reconstruction against scikit-learn's ``sparse_encode``."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from anomaly3d.ops.coreset import feature_knn
from anomaly3d.ops.sparse_coding import omp, reconstruct_from_neighbours
from sklearn.decomposition import sparse_encode
from sklearn.linear_model import orthogonal_mp_gram


def _sklearn_omp(dicts: np.ndarray, signals: np.ndarray, n: int) -> np.ndarray:
    """``sparse_encode`` query by query, as the official Shape-Guided code calls it (alpha has no effect)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "ended prematurely" on degenerate dictionaries
        return np.stack(
            [
                sparse_encode(signals[i : i + 1], dicts[i], algorithm="omp", n_nonzero_coefs=n, alpha=1e-10)[
                    0
                ]
                for i in range(len(signals))
            ]
        )


def _random(q: int = 200, k: int = 10, d: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(q, k, d)), rng.normal(size=(q, d))


def test_omp_equals_sklearn_sparse_encode_in_float64():
    dicts, x = _random()
    coef, recon = omp(dicts, x, 3)
    ref = _sklearn_omp(dicts, x, 3)
    assert isinstance(coef, np.ndarray) and coef.dtype == np.float64 and coef.shape == (200, 10)
    np.testing.assert_array_equal(coef != 0, ref != 0)  # identical supports
    assert (np.count_nonzero(coef, axis=1) == 3).all()
    np.testing.assert_allclose(coef, ref, rtol=0, atol=1e-9)
    np.testing.assert_allclose(recon, np.einsum("qk,qkd->qd", ref, dicts), rtol=0, atol=1e-9)


def test_omp_equals_sklearn_sparse_encode_in_float32():
    dicts, x = _random(seed=1)
    dicts, x = dicts.astype(np.float32), x.astype(np.float32)
    coef, recon = omp(dicts, x, 3)
    ref = _sklearn_omp(dicts, x, 3)
    assert coef.dtype == np.float32 and recon.dtype == np.float32
    np.testing.assert_array_equal(coef != 0, ref != 0)
    np.testing.assert_allclose(coef, ref, rtol=0, atol=1e-4)


def test_omp_matches_sklearn_on_degenerate_dictionaries():
    """Zero atoms, duplicated and dependent atoms, zero signals, signals equal to atoms or in a small span."""
    rng = np.random.default_rng(2)
    dicts, x = _random(q=60, k=8, d=6, seed=2)
    dicts[:, 2] = 0.0  # a zero atom everywhere
    dicts[:20, 5] = dicts[:20, 1]  # duplicated atoms
    dicts[20:40, 6] = dicts[20:40, 0] - 2 * dicts[20:40, 3]  # a dependent atom
    x[0] = 0.0
    x[1:10] = dicts[np.arange(1, 10), 1]  # a signal that is a (duplicated) atom
    dicts[40:50, [4, 7]] *= 10  # two dominant atoms, so that OMP surely picks them first
    x[40:50] = np.einsum("qk,qkd->qd", rng.normal(size=(10, 2)), dicts[40:50, [4, 7]])  # in their span
    for n in (1, 3, 6):
        coef, recon = omp(dicts, x, n)
        ref = _sklearn_omp(dicts, x, n)
        np.testing.assert_array_equal(coef != 0, ref != 0)
        np.testing.assert_allclose(coef, ref, rtol=0, atol=1e-9)
        assert (coef[:, 2] == 0).all()  # the zero atom is never chosen
        assert not ((coef[:20, 1] != 0) & (coef[:20, 5] != 0)).any()  # never both copies of an atom
        assert (coef[0] == 0).all() and (recon[0] == 0).all()
        if n >= 2:  # in the span of two atoms: exact, and stops after them
            np.testing.assert_allclose(recon[40:50], x[40:50], atol=1e-12)
            assert (np.count_nonzero(coef[40:50], axis=1) == 2).all()


def test_omp_stops_like_sklearn_when_the_next_atom_is_numerically_dependent():
    """Cholesky pivot <= eps: a tiny atom (|d|^2 = 1e-18) that the residual still correlates with."""
    dicts = np.zeros((2, 3, 4))
    dicts[:, 0, 0], dicts[:, 1, 1], dicts[:, 2, 2] = 1.0, 1e-9, 2.0
    x = np.array([[1.0, 1e6, 0.0, 0.0], [1.0, 1e6, 0.5, 0.0]])
    coef, _ = omp(dicts, x, 3)
    ref = _sklearn_omp(dicts, x, 3)
    np.testing.assert_array_equal(coef, ref)
    np.testing.assert_array_equal(coef, [[1.0, 0.0, 0.0], [1.0, 0.0, 0.25]])  # the tiny atom is refused


def test_omp_reconstruction_of_an_atom_in_the_dictionary_is_exact():
    dicts, _ = _random(q=50, k=10, d=32, seed=3)
    which = np.arange(50) % 10
    x = dicts[np.arange(50), which]
    for dtype, tol in ((np.float64, 1e-12), (np.float32, 1e-6)):
        for normalize in (False, True):
            coef, recon = omp(dicts.astype(dtype), x.astype(dtype), 3, normalize_atoms=normalize)
            assert np.abs(recon - x).max() < tol
            np.testing.assert_allclose(coef[np.arange(50), which], 1.0, atol=tol)
            assert (np.count_nonzero(coef, axis=1) == 1).all()  # stopped early: the residual is zero


def test_omp_reconstructs_a_signal_in_the_span_of_three_atoms():
    rng = np.random.default_rng(4)
    q, k, d = 40, 10, 1024
    dicts = rng.normal(size=(q, k, d))
    dicts /= np.linalg.norm(dicts, axis=-1, keepdims=True)
    gram = np.abs(np.einsum("qid,qjd->qij", dicts, dicts)) - np.eye(k)
    assert gram.max() < 1 / (2 * 3 - 1)  # mutual coherence below 1/(2s-1): OMP must find the support
    support = np.stack([rng.choice(k, 3, replace=False) for _ in range(q)])
    true = np.zeros((q, k))
    np.put_along_axis(true, support, rng.choice([-1, 1], (q, 3)) * rng.uniform(0.5, 2.0, (q, 3)), axis=1)
    x = np.einsum("qk,qkd->qd", true, dicts)
    coef, recon = omp(torch.from_numpy(dicts), torch.from_numpy(x), 3)
    assert isinstance(coef, torch.Tensor) and coef.dtype == torch.float64
    np.testing.assert_allclose(coef.numpy(), true, atol=1e-12)
    np.testing.assert_allclose(recon.numpy(), x, atol=1e-12)


def test_shared_dictionary_and_chunks_give_the_same_result():
    dicts, x = _random(q=50, seed=5)
    shared = dicts[0]
    c1, r1 = omp(shared, x, 4)
    c2, r2 = omp(np.broadcast_to(shared, (50, *shared.shape)), x, 4)
    np.testing.assert_allclose(c1, c2, rtol=0, atol=1e-12)
    np.testing.assert_allclose(r1, r2, rtol=0, atol=1e-12)
    np.testing.assert_allclose(c1, _sklearn_omp(np.broadcast_to(shared, dicts.shape), x, 4), atol=1e-9)
    for d in (shared, dicts):
        c_one, r_one = omp(d, x, 3)
        c_chunks, r_chunks = omp(d, x, 3, chunk_size=7)
        np.testing.assert_allclose(c_chunks, c_one, rtol=0, atol=1e-12)
        np.testing.assert_allclose(r_chunks, r_one, rtol=0, atol=1e-12)


def test_normalize_atoms_selects_by_normalised_correlation_and_keeps_the_callers_atoms():
    dicts, x = _random(q=80, seed=6)
    dicts *= np.random.default_rng(6).uniform(0.1, 10.0, size=(80, 10, 1))  # very different atom norms
    coef, recon = omp(dicts, x, 3, normalize_atoms=True)
    norms = np.linalg.norm(dicts, axis=-1, keepdims=True)
    ref = _sklearn_omp(dicts / norms, x, 3) / norms[..., 0]
    np.testing.assert_allclose(coef, ref, atol=1e-9)
    np.testing.assert_allclose(recon, np.einsum("qk,qkd->qd", coef, dicts), atol=1e-9)
    assert (omp(dicts, x, 3)[0] != 0).tolist() != (coef != 0).tolist()  # raw correlation picks other atoms


def test_tol_stops_like_orthogonal_mp_gram():
    dicts, x = _random(q=60, seed=7)
    coef, recon = omp(dicts, x, 10, tol=15.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # sklearn warns when all K atoms miss the target
        ref = np.stack(
            [
                orthogonal_mp_gram(d @ d.T, (d @ s)[:, None], tol=15.0, norms_squared=[s @ s])
                for d, s in zip(dicts, x, strict=True)
            ]
        )
    np.testing.assert_allclose(coef, ref, atol=1e-9)
    res2 = ((recon - x) ** 2).sum(axis=1)
    stopped = np.count_nonzero(coef, axis=1) < 10
    assert stopped.any() and (res2[stopped] <= 15.0 + 1e-9).all()


def test_reconstruct_from_neighbours_uses_the_knn_dictionary():
    rng = np.random.default_rng(8)
    bank = rng.normal(size=(300, 16)).astype(np.float32)
    queries = np.concatenate([bank[[5, 17, 123]], rng.normal(size=(40, 16)).astype(np.float32)])
    recon, idx = reconstruct_from_neighbours(bank, queries, 10, 3)
    assert recon.dtype == np.float32 and idx.dtype == np.int64 and idx.shape == (43, 10)
    np.testing.assert_array_equal(idx[:3, 0], [5, 17, 123])
    assert np.abs(recon[:3] - queries[:3]).max() < 1e-6  # a bank row reconstructs itself exactly
    _, ref_idx = feature_knn(queries, bank, 10)
    np.testing.assert_array_equal(idx, ref_idx.numpy())
    _, ref = omp(bank[idx], queries, 3)
    np.testing.assert_allclose(recon, ref, atol=1e-6)
    np.testing.assert_allclose(
        recon, np.einsum("qk,qkd->qd", _sklearn_omp(bank[idx], queries, 3), bank[idx]), atol=1e-4
    )


def test_reconstruct_from_neighbours_skip_nearest_leaves_the_row_out():
    rng = np.random.default_rng(9)
    bank = torch.from_numpy(rng.normal(size=(200, 12)))
    recon, idx = reconstruct_from_neighbours(bank, bank[:30], 5, 3, skip_nearest=True, chunk_size=7)
    assert isinstance(recon, torch.Tensor) and recon.dtype == torch.float64 and idx.shape == (30, 5)
    assert not (idx == torch.arange(30)[:, None]).any()  # the query's own row is never in its dictionary
    _, full = feature_knn(bank[:30], bank, 6)
    torch.testing.assert_close(idx, full[:, 1:])
    assert bool(((recon - bank[:30]).norm(dim=1) > 1e-3).all())  # so it is no longer reconstructed exactly


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda d, x: omp(d, x[0], 3), "signals"),
        (lambda d, x: omp(d[..., :5], x, 3), "dictionaries"),
        (lambda d, x: omp(d[:10], x, 3), "dictionaries"),
        (lambda d, x: omp(d[None], x, 3), "dictionaries"),
        (lambda d, x: omp(np.where(np.arange(32) == 3, np.nan, d), x, 3), "dictionaries"),
        (lambda d, x: omp(d, np.where(np.arange(32) == 3, np.inf, x), 3), "signals"),
        (lambda d, x: omp(d, x, 11), "n_nonzero"),
        (lambda d, x: omp(d, x, 0), "n_nonzero"),
        (lambda d, x: omp(d, x, 2.0), "n_nonzero"),
        (lambda d, x: omp(d, x, 3, chunk_size=0), "chunk_size"),
        (lambda d, x: omp(d, x, 3, tol=-1.0), "tol"),
        (lambda d, x: reconstruct_from_neighbours(x, d, 3, 2), "queries"),
        (lambda d, x: reconstruct_from_neighbours(x, x[:, :5], 3, 2), "queries"),
        (lambda d, x: reconstruct_from_neighbours(np.where(np.arange(32) == 3, np.nan, x), x, 3, 2), "bank"),
        (lambda d, x: reconstruct_from_neighbours(x, x, 21, 2), "k"),
        (lambda d, x: reconstruct_from_neighbours(x, x, 20, 2, skip_nearest=True), "k"),
        (lambda d, x: reconstruct_from_neighbours(x, x, 3, 4), "n_nonzero"),
        (lambda d, x: reconstruct_from_neighbours(x[:1], x, 1, 1, skip_nearest=True), "bank"),
    ],
)
def test_bad_arguments_raise_value_errors_naming_them(call, name):
    dicts, x = _random(q=20)
    with pytest.raises(ValueError, match=name):
        call(dicts, x)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_omp_on_cuda_matches_the_cpu():
    dicts, x = _random(q=500, seed=10)
    c_cpu, _ = omp(dicts, x, 3)
    c_gpu, r_gpu = omp(torch.from_numpy(dicts).cuda(), torch.from_numpy(x).cuda(), 3)
    assert c_gpu.is_cuda and r_gpu.is_cuda
    np.testing.assert_allclose(c_gpu.cpu().numpy(), c_cpu, atol=1e-9)
    bank = torch.from_numpy(x).float().cuda()
    recon, idx = reconstruct_from_neighbours(bank, bank[:50], 10, 3, skip_nearest=True)
    assert recon.is_cuda and idx.is_cuda and not (idx == torch.arange(50, device="cuda")[:, None]).any()
