"""Raw uint8 x int8 GEMM sums, exact or with fbgemm's int16 pair saturation.

fbgemm multiplies raw activation bytes (uint8, zero point not yet removed) by int8
weights. Its AVX2 and AVX512 kernels (``src/GenerateKernelU8S8S32ACC32.cc:
genComputeBlock``) use ``vpmaddubsw``, which adds the products of k = 2p and 2p + 1
into a *saturating* int16 before ``vpmaddwd``/``vpaddd`` widen and accumulate in
int32; the AVX512-VNNI kernels (``GenerateKernelU8S8S32ACC32Avx512VNNI.cc``) use
``vpdpbusd``, which is exact. The zero-point corrections are applied afterwards by
the caller, in wrapping int32.

Exactness of the float BLAS shortcut: an integer partial sum is held exactly by a
float format as long as its magnitude stays within the format's integer range, whatever
order BLAS adds in. :func:`gemm_u8s8_exact` uses float32 (twice the throughput of
float64) on centred activations in K chunks small enough for that, see
:data:`CENTERED_FLOAT32_EXACT_K`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Largest K for which every partial sum of u8 x s8 products stays below 2^24, so that
# float32 BLAS is exact as well: 2^24 / 32,640 = 514.
FLOAT32_EXACT_K = (1 << 24) // (255 * 128)

# The same bound once the activations are centred (a - 128 lies in [-128, 127]): every
# product is at most 128 * 128 = 2^14 in magnitude, so any partial sum of up to 1024 of
# them is an integer of magnitude <= 2^24, which float32 represents exactly -- whatever
# order (or FMA) BLAS uses.
CENTERED_FLOAT32_EXACT_K = (1 << 24) // (128 * 128)


def _check_operands(a: np.ndarray, w: np.ndarray, *, batched: bool = False) -> None:
    if a.dtype != np.uint8 or w.dtype != np.int8:
        raise TypeError(f"expected uint8 activations and int8 weights, got {a.dtype} and {w.dtype}")
    ranks_ok = a.ndim == w.ndim and (a.ndim >= 2 if batched else a.ndim == 2)
    if not ranks_ok or a.shape[-1] != w.shape[-1]:
        raise ValueError(f"expected a (M, K) and w (N, K), got {a.shape} and {w.shape}")


@dataclass(frozen=True, eq=False)
class BlasWeights:
    """int8 weights (N, K) prepared once for :func:`gemm_u8s8_exact`: a float32 copy laid
    out (..., K, N) for BLAS, and the column sums ``sum_k w[n, k]`` (int64).

    Leading batch dimensions (e.g. conv groups) are kept: ``w`` of shape (G, N, K)
    gives ``transposed`` of shape (G, K, N) and ``sums`` of shape (G, N).
    """

    transposed: np.ndarray
    sums: np.ndarray


def blas_weights(w: np.ndarray) -> BlasWeights:
    """Prepare int8 weights of shape (..., N, K) for :func:`gemm_u8s8_exact`.

    Examples
    --------
    >>> blas_weights(np.int8([[1, 2], [3, -4]])).sums.tolist()
    [3, -1]
    """
    if w.dtype != np.int8 or w.ndim < 2:
        raise TypeError(f"expected int8 weights of shape (..., N, K), got {w.dtype} {w.shape}")
    transposed = np.ascontiguousarray(np.swapaxes(w, -1, -2), dtype=np.float32)
    return BlasWeights(transposed, w.sum(axis=-1, dtype=np.int64))


def gemm_u8s8_exact(
    a: np.ndarray, w: np.ndarray, prepared: BlasWeights | None = None
) -> np.ndarray:
    """``sum_k a[m, k] * w[n, k]`` exactly, as int64 of shape (M, N).

    Computed with float32 BLAS on the centred activations ``a - 128`` in chunks of at
    most :data:`CENTERED_FLOAT32_EXACT_K` along K (each chunk is exact, see there), the
    chunks and ``128 * sum_k w`` added in int64. Leading batch dimensions broadcast as
    in ``np.matmul``: ``a`` (G, M, K) with ``w`` (G, N, K) gives (G, M, N). Pass
    ``prepared=blas_weights(w)`` to reuse the weight conversion across calls.

    Examples
    --------
    >>> gemm_u8s8_exact(np.uint8([[255, 255]]), np.int8([[-128, -128]])).tolist()
    [[-65280]]
    """
    _check_operands(a, w, batched=True)
    if prepared is None:
        prepared = blas_weights(w)
    batch = np.broadcast_shapes(a.shape[:-2], w.shape[:-2])
    total = np.empty(batch + (a.shape[-2], w.shape[-2]), dtype=np.int64)
    total[...] = prepared.sums[..., None, :] * np.int64(128)
    k_size = a.shape[-1]
    for start in range(0, k_size, CENTERED_FLOAT32_EXACT_K):
        stop = min(start + CENTERED_FLOAT32_EXACT_K, k_size)
        centered = a[..., start:stop].astype(np.float32)
        centered -= 128
        total += np.matmul(centered, prepared.transposed[..., start:stop, :]).astype(np.int64)
    return total


def gemm_u8s8_pair_saturated(a: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``sum_p sat16(a[m, 2p] w[n, 2p] + a[m, 2p+1] w[n, 2p+1])`` as int64 of shape
    (M, N), pairing consecutive k from k = 0 (an odd K is padded with a zero).

    Computed as the exact sum plus a correction for the pairs that saturate: only a
    pair whose two products share a sign and add up past the int16 range changes.

    Examples
    --------
    >>> gemm_u8s8_pair_saturated(np.uint8([[255, 255]]), np.int8([[-128, -128]])).tolist()
    [[-32768]]
    """
    _check_operands(a, w)
    exact = gemm_u8s8_exact(a, w)
    k = a.shape[1]
    if k % 2:
        a = np.pad(a, ((0, 0), (0, 1)))
        w = np.pad(w, ((0, 0), (0, 1)))
    a_even, a_odd = a[:, 0::2].astype(np.int32), a[:, 1::2].astype(np.int32)
    w_even, w_odd = w[:, 0::2].astype(np.int32), w[:, 1::2].astype(np.int32)
    correction = np.zeros_like(exact)
    # A pair can leave [-32768, 32767] only if both products are large; skip the pairs
    # where no (a, w) combination in the data could do it.
    bound = np.abs(a_even).max(initial=0) * np.abs(w_even).max(initial=0) + np.abs(a_odd).max(
        initial=0
    ) * np.abs(w_odd).max(initial=0)
    if bound <= 32767:
        return exact
    for p in range(a_even.shape[1]):
        pair = np.multiply.outer(a_even[:, p], w_even[:, p]) + np.multiply.outer(
            a_odd[:, p], w_odd[:, p]
        )
        correction += np.clip(pair, -32768, 32767) - pair
    return exact + correction


def gemm_u8s8(a: np.ndarray, w: np.ndarray, *, saturating_pairs: bool) -> np.ndarray:
    """The raw sums of fbgemm's u8 x s8 GEMM: pair-saturated on AVX2/AVX512 kernels,
    exact on VNNI (see :attr:`qemu.engines.Engine.saturating_int8_gemm`).

    Examples
    --------
    >>> gemm_u8s8(np.uint8([[255, 255]]), np.int8([[-128, -128]]), saturating_pairs=False).tolist()
    [[-65280]]
    """
    return gemm_u8s8_pair_saturated(a, w) if saturating_pairs else gemm_u8s8_exact(a, w)
