"""Numba twins of :mod:`qemu.numerics.int8gemm`: raw u8 x s8 GEMM sums.

Each kernel computes one row per call of an inlined helper, wrapped twice: a serial
loop for small problems and a ``prange`` loop for large ones (a parallel launch costs
more than a small GEMM, the more so on a busy machine).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

# Below this many multiply-adds a serial loop is faster than a parallel launch.
PARALLEL_WORK = 1 << 20


@njit(cache=True)
def _pair_saturated_row(a, w, m, out):
    k_size = a.shape[1]
    for n in range(w.shape[0]):
        total = 0
        for k in range(0, k_size - 1, 2):
            pair = np.int32(a[m, k]) * np.int32(w[n, k]) + np.int32(a[m, k + 1]) * np.int32(
                w[n, k + 1]
            )
            total += min(max(pair, -32768), 32767)
        if k_size % 2:
            total += np.int32(a[m, k_size - 1]) * np.int32(w[n, k_size - 1])
        out[m, n] = total


@njit(cache=True)
def _exact_row(a, w, m, out):
    for n in range(w.shape[0]):
        total = 0
        for k in range(a.shape[1]):
            total += np.int32(a[m, k]) * np.int32(w[n, k])
        out[m, n] = total


@njit(cache=True)
def _pair_saturated_serial(a, w):
    out = np.zeros((a.shape[0], w.shape[0]), dtype=np.int64)
    for m in range(a.shape[0]):
        _pair_saturated_row(a, w, m, out)
    return out


@njit(cache=True, parallel=True)
def _pair_saturated_parallel(a, w):
    out = np.zeros((a.shape[0], w.shape[0]), dtype=np.int64)
    for m in prange(a.shape[0]):
        _pair_saturated_row(a, w, m, out)
    return out


@njit(cache=True)
def _exact_serial(a, w):
    out = np.zeros((a.shape[0], w.shape[0]), dtype=np.int64)
    for m in range(a.shape[0]):
        _exact_row(a, w, m, out)
    return out


@njit(cache=True, parallel=True)
def _exact_parallel(a, w):
    out = np.zeros((a.shape[0], w.shape[0]), dtype=np.int64)
    for m in prange(a.shape[0]):
        _exact_row(a, w, m, out)
    return out


def gemm_u8s8_pair_saturated(a: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``sum_p sat16(a[m,2p] w[n,2p] + a[m,2p+1] w[n,2p+1])`` as int64 (M, N)."""
    if a.shape[0] * a.shape[1] * w.shape[0] < PARALLEL_WORK:
        return _pair_saturated_serial(a, w)
    return _pair_saturated_parallel(a, w)


def gemm_u8s8_exact(a: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``sum_k a[m, k] w[n, k]`` as int64 (M, N)."""
    if a.shape[0] * a.shape[1] * w.shape[0] < PARALLEL_WORK:
        return _exact_serial(a, w)
    return _exact_parallel(a, w)
