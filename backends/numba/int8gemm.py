"""Numba twins of :mod:`qemu.numerics.int8gemm`: raw u8 x s8 GEMM sums."""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True)
def gemm_u8s8_pair_saturated(a, w):
    """``sum_p sat16(a[m,2p] w[n,2p] + a[m,2p+1] w[n,2p+1])`` as int64 (M, N)."""
    m_size, k_size = a.shape
    n_size = w.shape[0]
    out = np.zeros((m_size, n_size), dtype=np.int64)
    for m in prange(m_size):
        for n in range(n_size):
            total = 0
            for k in range(0, k_size - 1, 2):
                pair = np.int32(a[m, k]) * np.int32(w[n, k]) + np.int32(a[m, k + 1]) * np.int32(
                    w[n, k + 1]
                )
                total += min(max(pair, -32768), 32767)
            if k_size % 2:
                total += np.int32(a[m, k_size - 1]) * np.int32(w[n, k_size - 1])
            out[m, n] = total
    return out


@njit(cache=True, parallel=True)
def gemm_u8s8_exact(a, w):
    """``sum_k a[m, k] w[n, k]`` as int64 (M, N)."""
    m_size, k_size = a.shape
    n_size = w.shape[0]
    out = np.zeros((m_size, n_size), dtype=np.int64)
    for m in prange(m_size):
        for n in range(n_size):
            total = 0
            for k in range(k_size):
                total += np.int32(a[m, k]) * np.int32(w[n, k])
            out[m, n] = total
    return out
