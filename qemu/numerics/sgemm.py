"""The float32 matrix products behind ``quantized::matmul``: MKL's ``sgemm`` as torch
calls it for ``at::mm``, and ATen's naive batched kernel, bit for bit where the
summation order is known.

``quantized::matmul`` (x86 build, ``qmatmul.cpp``) dequantizes both inputs, calls
``at::matmul`` in float32 and quantizes the result. ``at::mm`` of row-major ``A (M, K)``
and ``B (K, N)`` is MKL ``sgemm`` on the column-major transposes (MKL's ``m`` is torch's
``N``). What MKL 2024.2 does was read off experiments on crafted inputs (a ``+2^40`` /
``-2^40`` pair among ones reveals the size of the sub-sum joining two terms; random
inputs then decide fused or separate multiply-adds); ``docs/numerics/elementwise.md``
lists them. The same orders hold with ``MKL_ENABLE_INSTRUCTIONS=AVX2`` and with two
threads, except where noted:

* ``M >= 4`` and ``N >= 12`` (the packed kernel): every output is a chain of FMAs over
  ``k``, in blocks of 192 (or two halves ``K // 2`` and a last single term when
  ``192 < K < 384``); each block starts from 0 and is added to the output. On two
  threads MKL splits the rows at ``ceil(M / 2)`` rounded up to a multiple of 4; a
  second part of 1 to 3 rows runs the small kernel.
* ``N == 1`` and ``M >= 2``: dot products without FMA. Rows in groups of 4: 4 lanes,
  the first ``(K - 1) % 4 + 1`` terms left to right into lane 0, the rest term
  ``p + 4i + l`` into lane ``l``, then ``(l0 + l2) + (l1 + l3)``. The ``M mod 4`` rows
  left: 4 terms into lane 0, then ``8 * floor((K - 4) / 8)`` terms into 8 lanes (at
  least 16 of them, on the first row of a pair and on a single row) or 4 lanes,
  combined pairwise, then the remaining terms left to right. (MKL's batched call, which
  ``at::bmm`` uses for more than one batch, has no such path: small kernel.)
* otherwise (small matrices): each output is a left-to-right sum of rounded products
  (no FMA), except the first elements of an output row that is not 16-byte aligned
  (when a whole 4-float vector still fits in the row after them): those sum the terms
  in groups of 8, ``acc + t0 + t1 + t2 + t3`` then ``acc + (t4 + t5 + t6 + t7)``, and the
  last ``K mod 8`` terms left to right.

ATen's ``bmm`` runs its own loop when a batch has fewer than 400 multiply-adds
(``baddbmm_cpu_kernel``): a left-to-right sum of rounded products per output.
"""

from __future__ import annotations

import numpy as np

from qemu.numerics.float32 import fma_f32

_F = np.float32

BLOCK = 192  # MKL's k-block of the packed kernel on this build


def packed_k_blocks(k: int) -> list[tuple[int, int]]:
    """The ``[begin, end)`` k-blocks of MKL's packed kernel.

    Examples
    --------
    >>> packed_k_blocks(301)
    [(0, 150), (150, 300), (300, 301)]
    >>> packed_k_blocks(400)
    [(0, 192), (192, 384), (384, 400)]
    """
    if BLOCK < k < 2 * BLOCK:
        half = k // 2
        return [(0, half), (half, 2 * half)] + ([(2 * half, k)] if k % 2 else [])
    return [(b, min(k, b + BLOCK)) for b in range(0, k, BLOCK)]


def _terms(a: np.ndarray, b: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    return a[:, k][:, None], b[k][None, :]


def packed_product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """MKL's packed kernel: blocked FMA chains (``M >= 4``, ``N >= 12``)."""
    m, n = a.shape[0], b.shape[1]
    out = None
    for begin, end in packed_k_blocks(a.shape[1]):
        acc = np.zeros((m, n), _F)
        for k in range(begin, end):
            acc = fma_f32(*_terms(a, b, k), acc)
        out = acc if out is None else (out + acc).astype(_F)
    return np.zeros((m, n), _F) if out is None else out


def sequential_product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Left-to-right sums of rounded products (no FMA)."""
    acc = np.zeros((a.shape[0], b.shape[1]), _F)
    for k in range(a.shape[1]):
        x, y = _terms(a, b, k)
        acc = (acc + (x * y).astype(_F)).astype(_F)
    return acc


def _grouped_product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The unaligned-head order of MKL's small kernel (see the module docstring)."""
    kk = a.shape[1]
    acc = np.zeros((a.shape[0], b.shape[1]), _F)

    def product(k):
        x, y = _terms(a, b, k)
        return (x * y).astype(_F)

    k = 0
    while k + 8 <= kk:
        for j in range(4):
            acc = (acc + product(k + j)).astype(_F)
        group = product(k + 4)
        for j in range(5, 8):
            group = (group + product(k + j)).astype(_F)
        acc = (acc + group).astype(_F)
        k += 8
    for j in range(k, kk):
        acc = (acc + product(j)).astype(_F)
    return acc


def _dot4_product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """MKL's 4-lane dot products (``N == 1``)."""
    kk = a.shape[1]
    head = (kk - 1) % 4 + 1 if kk else 0
    lanes = [np.zeros((a.shape[0], b.shape[1]), _F) for _ in range(4)]
    for k in range(head):
        x, y = _terms(a, b, k)
        lanes[0] = (lanes[0] + (x * y).astype(_F)).astype(_F)
    for k in range(head, kk):
        x, y = _terms(a, b, k)
        lane = (k - head) % 4
        lanes[lane] = (lanes[lane] + (x * y).astype(_F)).astype(_F)
    return ((lanes[0] + lanes[2]).astype(_F) + (lanes[1] + lanes[3]).astype(_F)).astype(_F)


def _lane_dot_product(a: np.ndarray, b: np.ndarray, wide: bool) -> np.ndarray:
    """MKL's dot products for the last ``M mod 4`` rows of an ``N == 1`` product: the
    first 4 terms left to right into lane 0, the next ``8 * floor((K - 4) / 8)`` terms
    into 8 lanes (``wide`` and at least 16 of them) or 4 lanes, term ``4 + j`` into lane
    ``j mod lanes``; the lanes combined pairwise (``l`` with ``l + lanes/2``, ...) and
    the last ``(K - 4) mod 8`` terms added left to right."""
    kk = a.shape[1]
    shape = (a.shape[0], b.shape[1])

    def product(k):
        x, y = _terms(a, b, k)
        return (x * y).astype(_F)

    head = min(4, kk)
    body = (kk - head) // 8 * 8
    width = 8 if wide and body >= 16 else 4
    lanes = [np.zeros(shape, _F) for _ in range(width)]
    for k in range(head):
        lanes[0] = (lanes[0] + product(k)).astype(_F)
    for k in range(head, head + body):
        lane = (k - head) % width
        lanes[lane] = (lanes[lane] + product(k)).astype(_F)
    while len(lanes) > 1:
        half = len(lanes) // 2
        lanes = [(lanes[i] + lanes[i + half]).astype(_F) for i in range(half)]
    acc = lanes[0]
    for k in range(head + body, kk):
        acc = (acc + product(k)).astype(_F)
    return acc


def _single_column_product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """MKL's ``N == 1`` product: rows in groups of 4 as 4-lane dot products; of the
    ``M mod 4`` rows left, a pair takes the wide (8-lane) then the narrow order and a
    single row the wide one."""
    m = a.shape[0]
    full = m - m % 4
    parts = [_dot4_product(a[:full], b)] if full else []
    kinds = {1: [True], 2: [True, False], 3: [True, False, True]}.get(m % 4, [])
    for i, wide in enumerate(kinds):
        parts.append(_lane_dot_product(a[full + i : full + i + 1], b, wide))
    return np.concatenate(parts)


def unaligned_head(m: int, n: int, offset: int = 0) -> np.ndarray:
    """``(m, n)`` mask of the outputs MKL's small kernel computes in the grouped order:
    the first elements of each row up to a 16-byte boundary, when at least 4 elements
    of the row remain after them. ``offset`` is the float offset of the output from a
    64-byte aligned address."""
    mask = np.zeros((m, n), dtype=bool)
    if n < 4:
        return mask
    for row in range(m):
        head = (-(offset + row * n)) % 4
        if head and n - head >= 4:
            mask[row, :head] = True
    return mask


def small_product(a: np.ndarray, b: np.ndarray, offset: int = 0) -> np.ndarray:
    """MKL's small kernel (see the module docstring); ``offset`` is the float offset of
    the first output from a 16-byte aligned address."""
    m, n = a.shape[0], b.shape[1]
    out = sequential_product(a, b)
    head = unaligned_head(m, n, offset)
    if head.any():
        rows = np.flatnonzero(head.any(axis=1))
        grouped = _grouped_product(a[rows], b)
        out[rows] = np.where(head[rows], grouped, out[rows])
    return out


def two_thread_rows(m: int) -> int:
    """Rows of the first of the two parts MKL splits a packed product into on two
    threads: ``ceil(m / 2)`` rounded up to a multiple of 4."""
    half = (m + 1) // 2
    return (half + 3) // 4 * 4


def mkl_sgemm(
    a: np.ndarray, b: np.ndarray, offset: int = 0, threads: int = 1, batched: bool = False
) -> np.ndarray:
    """``at::mm(a, b)`` of float32 ``a (M, K)`` and ``b (K, N)`` through MKL ``sgemm``,
    the result row-major at float ``offset`` from an aligned address, MKL running on
    ``threads`` threads (1 or 2 verified; with 2, MKL splits a packed product's rows unless
    ``K <= 16 and N <= 16`` or ``K <= 4 and N <= 100``, and a second part of fewer than 4
    rows runs the small kernel). ``batched``: one product of MKL's batched call, which
    has no dot-product path for ``N == 1``.

    """
    a = np.asarray(a, dtype=_F)
    b = np.asarray(b, dtype=_F)
    m, n = a.shape[0], b.shape[1]
    if m == 0 or n == 0:
        return np.zeros((m, n), _F)
    if m >= 4 and n >= 12:
        k = a.shape[1]
        single = (k <= 16 and n <= 16) or (k <= 4 and n <= 100)  # MKL stays on one thread
        split = two_thread_rows(m) if threads == 2 and not single else m
        if m - split in (1, 2, 3):
            return np.concatenate(
                [packed_product(a[:split], b), small_product(a[split:], b, offset + split * n)]
            )
        return packed_product(a, b)
    if n == 1 and m >= 2 and not batched:
        return _single_column_product(a, b)
    return small_product(a, b, offset)


def naive_bmm_product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``baddbmm_cpu_kernel`` (ATen's bmm below 400 multiply-adds per batch): a
    left-to-right sum of rounded products per output, for ``a (B, M, K)``,
    ``b (B, K, N)``."""
    a = np.asarray(a, dtype=_F)
    b = np.asarray(b, dtype=_F)
    acc = np.zeros((a.shape[0], a.shape[1], b.shape[2]), _F)
    for k in range(a.shape[2]):
        acc = (acc + (a[:, :, k][:, :, None] * b[:, k][:, None, :]).astype(_F)).astype(_F)
    return acc


def aten_bmm(a: np.ndarray, b: np.ndarray, threads: int = 1) -> np.ndarray:
    """``at::bmm`` of contiguous float32 ``a (B, M, K)`` and ``b (B, K, N)``: the naive
    loop below 400 multiply-adds per batch, else MKL per batch (one ``sgemm`` when
    ``B == 1``; a batched call, each product on one thread, otherwise)."""
    a = np.asarray(a, dtype=_F)
    b = np.asarray(b, dtype=_F)
    batches, m, k = a.shape
    n = b.shape[2]
    if batches * m * n == 0 or k == 0:
        return np.zeros((batches, m, n), _F)
    if k * m * n < 400:
        return naive_bmm_product(a, b)
    if batches == 1:
        return mkl_sgemm(a[0], b[0], threads=threads)[None]
    return np.stack([mkl_sgemm(a[i], b[i], offset=i * m * n, batched=True) for i in range(batches)])
