"""fbgemm's fp16-weight GEMM (``cblas_gemm_compute`` for ``float16``), in its order of
float operations.

``quantized::linear_dynamic_fp16`` multiplies float32 activations by fp16 weights with
float32 FMAs. The float32 result depends on the order of those FMAs, which fbgemm's
micro-kernels fix (``include/fbgemm/FbgemmFPCommon.h: cblas_gemm_compute``;
``src/FbgemmFP16UKernelsAvx2.cc``, ``src/FbgemmFP16UKernelsAvx512.cc``, FBGEMM commit
8d08cc10a):

* K is cut into blocks of 512 rows of the packed weight (``PackedGemmMatrixB`` brow).
* Columns are cut into blocks of 32 (AVX512 kernels) or 16 (AVX2 kernels). The whole
  column blocks chain across K blocks: the first k of a later K block is an FMA onto
  the output so far (beta = 1). The leftover columns (N mod block) are computed per K
  block from zero in a scratch buffer and then *added* to the output.
* Rows are cut into chunks of at most 120, and each chunk into groups handled by a
  micro-kernel of 1..14 rows (AVX512) or 1..6 rows (AVX2) by a partition table.
* Inside a K block every kernel starts with a plain product for k = 0 (or an FMA onto
  the previous output, see above), then accumulates with FMAs. All AVX512 kernels and
  the AVX2 kernels of 3..6 rows use one accumulator. The AVX2 1-row kernel
  (``gemmkernel_1x2_Avx2_fp16``) deals k = 1, 2, 3, 4, 5, ... round-robin to four
  accumulators while more than four k remain, the last one to four k to the first,
  and returns ``((a0 + a1) + a2) + a3``; the 2-row kernel does the same with two
  accumulators (k = 1, 3 -> first, k = 2, 4 -> second) and returns ``a0 + a1``.

So on AVX2 the rows that the partition table gives to a 1- or 2-row kernel round
differently from the others; on AVX512 the partition has no effect on the bits.
"""

from __future__ import annotations

import numpy as np

from qemu.numerics.aten_elementwise import choose_nan
from qemu.numerics.float32 import fma_f32

# The K extent of one packed weight block (PackedGemmMatrixB's default brow).
BLOCK_K = 512
# Rows per chunk of cblas_gemm_compute (mb_max).
CHUNK_ROWS = 120
# Columns per packed weight block: two SIMD registers of float32.
BLOCK_COLUMNS = {"avx512": 32, "avx2": 16}
ISAS = tuple(BLOCK_COLUMNS)

# fbgemm's partition_avx2 (src/FbgemmFPCommon.cc) in our encoding: entry m-1 tells how
# a chunk of m rows is split among micro-kernels, as "<rows>x<count>" groups in row
# order. Only which rows land in a 1- or 2-row kernel changes the numerics.
_PARTITION_AVX2 = (
    "1x1 2x1 3x1 4x1 5x1 6x1 5x1+2x1 4x2 5x1+4x1 5x2 6x1+5x1 6x2 5x2+3x1 6x2+2x1 5x3 "
    "6x2+4x1 6x2+5x1 6x3 5x3+4x1 5x4 5x3+6x1 6x3+4x1 6x3+5x1 6x4 5x5 5x4+6x1 6x4+3x1 "
    "6x4+4x1 6x4+5x1 6x5 6x5+1x1 6x5+2x1 6x5+3x1 6x5+4x1 6x5+5x1 6x6 6x6+1x1 6x6+2x1 "
    "6x6+3x1 6x6+4x1 6x6+5x1 6x7 6x7+1x1 6x7+2x1 6x7+3x1 6x7+4x1 6x7+5x1 6x8 6x8+1x1 "
    "6x8+2x1 6x8+3x1 6x8+4x1 6x8+5x1 6x9 6x9+1x1 6x9+2x1 6x9+3x1 6x9+4x1 6x9+5x1 6x10 "
    "6x10+1x1 6x10+2x1 6x10+3x1 6x10+4x1 6x10+5x1 6x11 6x11+1x1 6x11+2x1 6x11+3x1 "
    "6x11+4x1 6x11+5x1 6x12 6x12+1x1 6x12+2x1 6x12+3x1 6x12+4x1 6x12+5x1 6x13 6x13+1x1 "
    "6x13+2x1 6x13+3x1 6x13+4x1 6x13+5x1 6x14 6x14+1x1 6x14+2x1 6x14+3x1 6x14+4x1 "
    "6x14+5x1 6x15 6x15+1x1 6x15+2x1 6x15+3x1 6x15+4x1 6x15+5x1 6x16 6x16+1x1 6x16+2x1 "
    "6x16+3x1 6x16+4x1 6x16+5x1 6x17 6x17+1x1 6x17+2x1 6x17+3x1 6x17+4x1 6x17+5x1 6x18 "
    "6x18+1x1 6x18+2x1 6x18+3x1 6x18+4x1 6x18+5x1 6x19 6x19+1x1 6x19+2x1 6x19+3x1 "
    "6x19+4x1 6x19+5x1 6x20"
)


def _parse_partition(text: str) -> tuple[tuple[tuple[int, int], ...], ...]:
    table = []
    for entry in text.split():
        groups = tuple(tuple(int(v) for v in group.split("x")) for group in entry.split("+"))
        table.append(groups)
    return tuple(table)


PARTITION_AVX2 = _parse_partition(_PARTITION_AVX2)


def check_isa(isa: str) -> str:
    if isa not in BLOCK_COLUMNS:
        raise ValueError(f"isa: expected one of {ISAS}, got {isa!r}")
    return isa


def accumulator_counts(m: int, isa: str) -> np.ndarray:
    """How many accumulators the micro-kernel computing each of ``m`` rows uses:
    4 (AVX2 1-row kernel), 2 (AVX2 2-row kernel) or 1 (every other kernel).

    Examples
    --------
    >>> accumulator_counts(7, "avx2").tolist()
    [1, 1, 1, 1, 1, 2, 2]
    >>> accumulator_counts(3, "avx512").tolist()
    [1, 1, 1]
    """
    check_isa(isa)
    counts = np.ones(m, dtype=np.int64)
    if isa == "avx512":
        return counts
    split = {1: 4, 2: 2}
    for start in range(0, m, CHUNK_ROWS):
        row = start
        for rows, repeat in PARTITION_AVX2[min(CHUNK_ROWS, m - start) - 1]:
            counts[row : row + rows * repeat] = split.get(rows, 1)
            row += rows * repeat
    return counts


# Which NaN a kernel step keeps, measured against torch: a product ``x * w`` keeps
# x's; ``vfmadd231ps acc, w, x`` keeps x's over the accumulator's; ``vaddps a, a, b``
# keeps a's (the weights are never NaN: see qemu.numerics.fp16.saturate_to_fp16).
# NumPy's float64 route gives the right number otherwise, so only NaN bits are chosen,
# with qemu.numerics.aten_elementwise.choose_nan.
def _product(x, w, track_nan):
    result = x * w
    return choose_nan(result, x) if track_nan else result


def _fma(x, w, acc, track_nan):
    result = fma_f32(x, w, acc)
    return choose_nan(result, x, acc) if track_nan else result


def _add(a, b, track_nan):
    result = a + b
    return choose_nan(result, a, b) if track_nan else result


def _add_leftover(output, scratch, track_nan):
    """``C = beta * C + c_tmp`` over the leftover columns of a row (beta = 1).

    GCC vectorized this loop of ``cblas_gemm_compute``: 4-wide chunks keep C's NaN,
    then a 2-wide chunk (when 2 or 3 columns remain) keeps the scratch's, then a
    scalar step keeps C's again (measured; only visible when both are NaN).
    """
    total = _add(output, scratch, track_nan)
    if track_nan:
        columns = output.shape[1]
        two_wide = columns // 4 * 4
        if columns - two_wide >= 2:
            pair = slice(two_wide, two_wide + 2)
            total[:, pair] = choose_nan(
                output[:, pair] + scratch[:, pair], scratch[:, pair], output[:, pair]
            )
    return total


def _block(x, w, start, accumulators: int, track_nan: bool):
    """One micro-kernel call over one K block: ``x`` (rows, kb), ``w`` (kb, cols),
    ``start`` the register contents before k = 0 (``None``: beta = 0, a plain product)."""
    column = lambda k: x[:, k : k + 1]  # noqa: E731
    first = (
        _product(column(0), w[0:1], track_nan)
        if start is None
        else _fma(column(0), w[0:1], start, track_nan)
    )
    kb = x.shape[1]
    if accumulators == 1:
        for k in range(1, kb):
            first = _fma(column(k), w[k : k + 1], first, track_nan)
        return first
    if kb == 1:
        return first  # the kernel stores the first product without the final adds
    partial = [first] + [np.zeros_like(first) for _ in range(accumulators - 1)]
    k = 1
    while kb - k > 4:
        for step in range(4):
            slot = step % accumulators
            partial[slot] = _fma(
                column(k + step), w[k + step : k + step + 1], partial[slot], track_nan
            )
        k += 4
    for tail in range(k, kb):
        partial[0] = _fma(column(tail), w[tail : tail + 1], partial[0], track_nan)
    total = partial[0]
    for other in partial[1:]:
        total = _add(total, other, track_nan)
    return total


def _rows(xs, weights, accumulators, full, track_nan):
    """The output rows of ``xs``, all computed by kernels with ``accumulators``."""
    n = weights.shape[1]
    chained = leftover = None
    for k0 in range(0, xs.shape[1], BLOCK_K):
        xb = xs[:, k0 : k0 + BLOCK_K]
        wb = weights[k0 : k0 + BLOCK_K]
        chained = _block(xb, wb[:, :full], chained, accumulators, track_nan)
        if full < n:
            # Scratch buffer: zeros, and beta = 1 after the first K block, so the
            # first k is fma(x, w, +0) there, not a plain product.
            scratch = None if k0 == 0 else np.zeros((xs.shape[0], n - full), np.float32)
            piece = _block(xb, wb[:, full:], scratch, accumulators, track_nan)
            leftover = piece if k0 == 0 else _add_leftover(leftover, piece, track_nan)
    if full == n:
        return chained
    return np.concatenate([chained, leftover], axis=1)


def gemm_fp16(x: np.ndarray, w16: np.ndarray, isa: str) -> np.ndarray:
    """``x @ w16.T`` as fbgemm's fp16 GEMM computes it with beta = 0.

    Parameters
    ----------
    x : (M, K) float32
    w16 : (N, K) float16, the packed weight (already rounded to fp16)
    isa : ``"avx512"`` or ``"avx2"``, the kernel family fbgemm runs

    Examples
    --------
    >>> x = np.float32([[1, 2]]); w = np.float16([[3, 4]])
    >>> gemm_fp16(x, w, "avx2").tolist()
    [[11.0]]
    """
    check_isa(isa)
    m = x.shape[0]
    n = w16.shape[0]
    weights = w16.astype(np.float32).T
    out = np.empty((m, n), dtype=np.float32)
    full = n // BLOCK_COLUMNS[isa] * BLOCK_COLUMNS[isa]
    counts = accumulator_counts(m, isa)
    with np.errstate(all="ignore"):  # inf and NaN propagate as in the kernel
        for accumulators in np.unique(counts):
            rows = np.flatnonzero(counts == accumulators)
            xs = x[rows].astype(np.float32)
            result = _rows(xs, weights, accumulators, full, track_nan=False)
            # A NaN anywhere in a chain reaches the output, so rows without a NaN
            # output never met one; the others are redone choosing NaN bits as x86.
            nan_rows = np.flatnonzero(np.isnan(result).any(axis=1))
            if nan_rows.size:
                result[nan_rows] = _rows(xs[nan_rows], weights, accumulators, full, track_nan=True)
            out[rows] = result
    return out
