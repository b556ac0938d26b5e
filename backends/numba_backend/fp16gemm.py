"""Numba twin of :mod:`qemu.numerics.fp16gemm`: fbgemm's fp16-weight GEMM in its FMA order.

Each output row runs the micro-kernel recurrence of the reference; NaN bits are
chosen explicitly (never left to LLVM's operand order): a NaN activation replaces
the accumulators with its quieted self, an accumulator already NaN stays itself,
and an invalid operation gives the default NaN.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange
from qemu.backends.numba_backend.primitives import fmaf

from qemu.numerics.fp16gemm import BLOCK_COLUMNS, BLOCK_K, accumulator_counts, check_isa

_QUIET_BIT = np.uint32(0x00400000)
_DEFAULT_NAN_BITS = np.uint32(0xFFC00000)


@njit(cache=True, inline="always")
def _start(buf, r, xk, xq, w, k, c0, n, start_from_zero):
    """k = 0 of a block into ``buf[0, r]``: a product (``start_from_zero``) or an FMA
    onto what it holds."""
    if xk != xk:
        for j in range(n):
            buf[0, r, j] = xq
    elif start_from_zero:
        for j in range(n):
            buf[0, r, j] = xk * w[k, c0 + j]
    else:
        for j in range(n):
            buf[0, r, j] = fmaf(xk, w[k, c0 + j], buf[0, r, j])


@njit(cache=True, inline="always")
def _accumulate(buf, slot, r, xk, xq, w, k, c0, n, default_nan):
    """``buf[slot, r] = fma(x, w[k], buf[slot, r])`` with the kernel's NaN bits."""
    if xk != xk:
        for j in range(n):
            buf[slot, r, j] = xq
        return
    for j in range(n):
        before = buf[slot, r, j]
        after = fmaf(xk, w[k, c0 + j], before)
        # NaN only from an invalid operation (x and w are not NaN here): keep a NaN
        # accumulator, else the default NaN.
        if after != after and before == before:
            after = default_nan
        buf[slot, r, j] = after


@njit(cache=True)
def _kernel_block(buf, x, xq, w, rows, k0, kb, c0, n, accumulators, start_from_zero, default_nan):
    """One micro-kernel call for every row of a tile (``rows``: rows of ``x``), K rows
    ``k0 .. k0 + kb``, columns ``c0 .. c0 + n``. ``buf[0, r]`` holds the start value
    (unless ``start_from_zero``) and receives the result; ``buf[1..3]`` are the split
    accumulators. The rows of a tile share each weight row; the order of operations
    within a row is the kernel's."""
    tile = rows.size
    for r in range(tile):
        _start(buf, r, x[rows[r], k0], xq[rows[r], k0], w, k0, c0, n, start_from_zero)
    if accumulators == 1:
        for k in range(k0 + 1, k0 + kb):
            for r in range(tile):
                _accumulate(buf, 0, r, x[rows[r], k], xq[rows[r], k], w, k, c0, n, default_nan)
        return
    if kb == 1:
        return  # the kernel stores the first product without the final adds
    buf[1:accumulators, :tile, :n] = 0.0
    k = k0 + 1
    while k0 + kb - k > 4:
        for step in range(4):
            for r in range(tile):
                kk = k + step
                _accumulate(
                    buf,
                    step % accumulators,
                    r,
                    x[rows[r], kk],
                    xq[rows[r], kk],
                    w,
                    kk,
                    c0,
                    n,
                    default_nan,
                )
        k += 4
    while k < k0 + kb:
        for r in range(tile):
            _accumulate(buf, 0, r, x[rows[r], k], xq[rows[r], k], w, k, c0, n, default_nan)
        k += 1
    # ((a0 + a1) + a2) + a3, each add keeping the left operand's NaN (vaddps a, a, b).
    for slot in range(1, accumulators):
        for r in range(tile):
            for j in range(n):
                a = buf[0, r, j]
                b = buf[slot, r, j]
                if a != a:
                    continue
                if b != b:
                    buf[0, r, j] = b
                    continue
                total = a + b
                buf[0, r, j] = default_nan if total != total else total


@njit(cache=True)
def _gemm_tile(x, xq, w, rows, accumulators, full, default_nan, out):
    """Output rows ``rows`` (all run by kernels with ``accumulators``): every K block of
    the full column blocks, then the leftover columns."""
    k_size = x.shape[1]
    n = w.shape[1]
    rem = n - full
    tile = rows.size
    chained = np.empty((accumulators, tile, max(full, 1)), dtype=np.float32)
    scratch = np.empty((accumulators, tile, max(rem, 1)), dtype=np.float32)
    left = np.empty((tile, max(rem, 1)), dtype=np.float32)
    pair = rem // 4 * 4
    for k0 in range(0, k_size, BLOCK_K):
        kb = min(BLOCK_K, k_size - k0)
        first = k0 == 0
        if full > 0:
            _kernel_block(
                chained, x, xq, w, rows, k0, kb, 0, full, accumulators, first, default_nan
            )
        if rem == 0:
            continue
        scratch[0, :, :] = 0.0
        _kernel_block(scratch, x, xq, w, rows, k0, kb, full, rem, accumulators, first, default_nan)
        for r in range(tile):
            for j in range(rem):
                if first:
                    left[r, j] = scratch[0, r, j]
                    continue
                # C = C + c_tmp; GCC's 2-wide step (2 or 3 columns after the 4-wide
                # chunks) keeps the scratch's NaN, every other step C's.
                a = left[r, j]
                b = scratch[0, r, j]
                if pair <= j < pair + 2 and rem - pair >= 2:
                    a, b = b, a
                if a != a:
                    left[r, j] = a
                elif b != b:
                    left[r, j] = b
                else:
                    total = left[r, j] + scratch[0, r, j]
                    left[r, j] = default_nan if total != total else total
    for r in range(tile):
        for j in range(full):
            out[rows[r], j] = chained[0, r, j]
        for j in range(rem):
            out[rows[r], full + j] = left[r, j]


@njit(cache=True, parallel=True)
def _gemm_parallel(x, xq, w, tiles, sizes, kinds, full, default_nan, out):
    for t in prange(tiles.shape[0]):
        _gemm_tile(x, xq, w, tiles[t, : sizes[t]], kinds[t], full, default_nan, out)


@njit(cache=True)
def _gemm_serial(x, xq, w, tiles, sizes, kinds, full, default_nan, out):
    for t in range(tiles.shape[0]):
        _gemm_tile(x, xq, w, tiles[t, : sizes[t]], kinds[t], full, default_nan, out)


# Rows computed together, so that each weight row is read once per tile; and below
# this many multiply-adds a parallel region costs more than it saves.
TILE_ROWS = 8
PARALLEL_WORK = 1 << 22


def _tiles(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows grouped by accumulator count into tiles of at most TILE_ROWS rows:
    (row indices padded with 0, tile sizes, accumulator count per tile)."""
    tiles, sizes, kinds = [], [], []
    for accumulators in np.unique(counts):
        rows = np.flatnonzero(counts == accumulators)
        for start in range(0, rows.size, TILE_ROWS):
            chunk = rows[start : start + TILE_ROWS]
            tiles.append(np.pad(chunk, (0, TILE_ROWS - chunk.size)))
            sizes.append(chunk.size)
            kinds.append(accumulators)
    return np.array(tiles, np.int64), np.array(sizes, np.int64), np.array(kinds, np.int64)


def pack_weights(w16: np.ndarray) -> np.ndarray:
    """The fp16 weight (N, K) as the kernels read it: float32, (K, N), contiguous."""
    return np.ascontiguousarray(w16.astype(np.float32).T)


def gemm_fp16_packed(x: np.ndarray, packed: np.ndarray, isa: str) -> np.ndarray:
    """:func:`gemm_fp16` on weights already laid out by :func:`pack_weights`."""
    check_isa(isa)
    x = np.ascontiguousarray(x, dtype=np.float32)
    m = x.shape[0]
    n = packed.shape[1]
    bits = x.view(np.uint32)
    quiet = np.where(np.isnan(x), bits | _QUIET_BIT, bits).view(np.float32)
    default_nan = np.array([_DEFAULT_NAN_BITS], np.uint32).view(np.float32)[0]
    full = n // BLOCK_COLUMNS[isa] * BLOCK_COLUMNS[isa]
    out = np.empty((m, n), dtype=np.float32)
    if m and n:
        tiles, sizes, kinds = _tiles(accumulator_counts(m, isa))
        parallel = tiles.shape[0] > 1 and m * n * x.shape[1] >= PARALLEL_WORK
        run = _gemm_parallel if parallel else _gemm_serial
        run(x, quiet, packed, tiles, sizes, kinds, full, default_nan, out)
    return out


def gemm_fp16(x: np.ndarray, w16: np.ndarray, isa: str) -> np.ndarray:
    """Numba twin of :func:`qemu.numerics.fp16gemm.gemm_fp16`."""
    return gemm_fp16_packed(x, pack_weights(w16), isa)
