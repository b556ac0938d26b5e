"""Numba twin of :mod:`qemu.numerics.fp16gemm`: fbgemm's fp16-weight GEMM in its FMA order.

Each output row runs the micro-kernel recurrence of the reference; NaN bits are
chosen explicitly (never left to LLVM's operand order): a NaN activation replaces
the accumulators with its quieted self, an accumulator already NaN stays itself,
and an invalid operation gives the default NaN.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange
from qemu.backends.numba.primitives import fmaf

from qemu.numerics.fp16gemm import BLOCK_COLUMNS, BLOCK_K, accumulator_counts, check_isa

_QUIET_BIT = np.uint32(0x00400000)
_DEFAULT_NAN_BITS = np.uint32(0xFFC00000)


@njit(cache=True, inline="always")
def _start(acc, xk, xq, w, k, c0, c1, start_from_zero):
    """k = 0 of a block: a product (``start_from_zero``) or an FMA onto ``acc``."""
    if xk != xk:
        for j in range(c1 - c0):
            acc[j] = xq
        return
    for j in range(c1 - c0):
        if start_from_zero:
            acc[j] = xk * w[k, c0 + j]
        else:
            acc[j] = fmaf(xk, w[k, c0 + j], acc[j])


@njit(cache=True, inline="always")
def _accumulate(acc, xk, xq, w, k, c0, c1, default_nan):
    if xk != xk:
        for j in range(c1 - c0):
            acc[j] = xq
        return
    for j in range(c1 - c0):
        before = acc[j]
        after = fmaf(xk, w[k, c0 + j], before)
        # NaN only from an invalid operation (x and w are not NaN here): keep a NaN
        # accumulator, else the default NaN.
        if after != after and before == before:
            after = default_nan
        acc[j] = after


@njit(cache=True, inline="always")
def _add_into(first, second, default_nan, n):
    """``first += second`` keeping ``first``'s NaN over ``second``'s (vaddps a, a, b)."""
    for j in range(n):
        a = first[j]
        b = second[j]
        if a != a:
            continue
        if b != b:
            first[j] = b
            continue
        total = a + b
        first[j] = default_nan if total != total else total


@njit(cache=True)
def _kernel_block(
    acc, parts, x, xq, w, i, k0, kb, c0, c1, accumulators, start_from_zero, default_nan
):
    """One micro-kernel call on row ``i``, K rows ``k0 .. k0 + kb``, columns ``c0 .. c1``;
    ``acc`` holds the start value (unless ``start_from_zero``) and receives the result."""
    n = c1 - c0
    _start(acc, x[i, k0], xq[i, k0], w, k0, c0, c1, start_from_zero)
    if accumulators == 1:
        for k in range(k0 + 1, k0 + kb):
            _accumulate(acc, x[i, k], xq[i, k], w, k, c0, c1, default_nan)
        return
    if kb == 1:
        return
    for p in range(accumulators - 1):
        for j in range(n):
            parts[p, j] = 0.0
    k = k0 + 1
    while k0 + kb - k > 4:
        for step in range(4):
            slot = step % accumulators
            if slot == 0:
                _accumulate(acc, x[i, k + step], xq[i, k + step], w, k + step, c0, c1, default_nan)
            else:
                _accumulate(
                    parts[slot - 1],
                    x[i, k + step],
                    xq[i, k + step],
                    w,
                    k + step,
                    c0,
                    c1,
                    default_nan,
                )
        k += 4
    while k < k0 + kb:
        _accumulate(acc, x[i, k], xq[i, k], w, k, c0, c1, default_nan)
        k += 1
    for p in range(accumulators - 1):
        _add_into(acc, parts[p], default_nan, n)


@njit(cache=True)
def _gemm_row(x, xq, w, accumulators, full, default_nan, out, i):
    """Output row ``i``: every K block of the full column blocks, then the leftover."""
    k_size = x.shape[1]
    n = w.shape[1]
    acc = np.empty(max(full, 1), dtype=np.float32)
    parts = np.empty((3, max(full, n - full, 1)), dtype=np.float32)
    scratch = np.empty(max(n - full, 1), dtype=np.float32)
    left = np.empty(max(n - full, 1), dtype=np.float32)
    for k0 in range(0, k_size, BLOCK_K):
        kb = min(BLOCK_K, k_size - k0)
        if full > 0:
            _kernel_block(
                acc, parts, x, xq, w, i, k0, kb, 0, full, accumulators, k0 == 0, default_nan
            )
        if full < n:
            rem = n - full
            for j in range(rem):
                scratch[j] = 0.0
            _kernel_block(
                scratch, parts, x, xq, w, i, k0, kb, full, n, accumulators, k0 == 0, default_nan
            )
            if k0 == 0:
                for j in range(rem):
                    left[j] = scratch[j]
            else:
                # C = C + c_tmp; GCC's 2-wide step (2 or 3 columns after the 4-wide
                # chunks) keeps the scratch's NaN, every other step C's.
                pair = rem // 4 * 4
                for j in range(rem):
                    a = left[j]
                    b = scratch[j]
                    if pair <= j < pair + 2 and rem - pair >= 2:
                        a, b = b, a
                    if a != a:
                        left[j] = a
                    elif b != b:
                        left[j] = b
                    else:
                        total = left[j] + scratch[j]
                        left[j] = default_nan if total != total else total
    for j in range(full):
        out[i, j] = acc[j]
    for j in range(n - full):
        out[i, full + j] = left[j]


@njit(cache=True, parallel=True)
def _gemm_parallel(x, xq, w, counts, full, default_nan, out):
    for i in prange(x.shape[0]):
        _gemm_row(x, xq, w, counts[i], full, default_nan, out, i)


@njit(cache=True)
def _gemm_serial(x, xq, w, counts, full, default_nan, out):
    for i in range(x.shape[0]):
        _gemm_row(x, xq, w, counts[i], full, default_nan, out, i)


# Below this many multiply-adds a parallel region costs more than it saves.
PARALLEL_WORK = 1 << 20


def gemm_fp16(x: np.ndarray, w16: np.ndarray, isa: str) -> np.ndarray:
    """Numba twin of :func:`qemu.numerics.fp16gemm.gemm_fp16`."""
    check_isa(isa)
    x = np.ascontiguousarray(x, dtype=np.float32)
    m = x.shape[0]
    n = w16.shape[0]
    weights = np.ascontiguousarray(w16.astype(np.float32).T)
    bits = x.view(np.uint32)
    quiet = np.where(np.isnan(x), bits | _QUIET_BIT, bits).view(np.float32)
    default_nan = np.array([_DEFAULT_NAN_BITS], np.uint32).view(np.float32)[0]
    full = n // BLOCK_COLUMNS[isa] * BLOCK_COLUMNS[isa]
    out = np.empty((m, n), dtype=np.float32)
    if m and n:
        run = _gemm_parallel if m > 1 and m * n * x.shape[1] >= PARALLEL_WORK else _gemm_serial
        run(x, quiet, weights, accumulator_counts(m, isa), full, default_nan, out)
    return out
