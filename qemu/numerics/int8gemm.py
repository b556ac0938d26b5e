"""Raw uint8 x int8 GEMM sums, exact or with fbgemm's int16 pair saturation.

fbgemm multiplies raw activation bytes (uint8, zero point not yet removed) by int8
weights. Its AVX2 and AVX512 kernels (``src/GenerateKernelU8S8S32ACC32.cc:
genComputeBlock``) use ``vpmaddubsw``, which adds the products of k = 2p and 2p + 1
into a *saturating* int16 before ``vpmaddwd``/``vpaddd`` widen and accumulate in
int32; the AVX512-VNNI kernels (``GenerateKernelU8S8S32ACC32Avx512VNNI.cc``) use
``vpdpbusd``, which is exact. The zero-point corrections are applied afterwards by
the caller, in wrapping int32.

Exactness of the float BLAS shortcut: every product is at most 255 * 128 = 32,640 in
magnitude, so any partial sum of up to 2^53 / 32,640 terms is an integer that
float64 holds exactly, whatever order BLAS adds in.
"""

from __future__ import annotations

import numpy as np

# Largest K for which every partial sum of u8 x s8 products stays below 2^24, so that
# float32 BLAS is exact as well: 2^24 / 32,640 = 514.
FLOAT32_EXACT_K = (1 << 24) // (255 * 128)


def _check_operands(a: np.ndarray, w: np.ndarray) -> None:
    if a.dtype != np.uint8 or w.dtype != np.int8:
        raise TypeError(f"expected uint8 activations and int8 weights, got {a.dtype} and {w.dtype}")
    if a.ndim != 2 or w.ndim != 2 or a.shape[1] != w.shape[1]:
        raise ValueError(f"expected a (M, K) and w (N, K), got {a.shape} and {w.shape}")


def gemm_u8s8_exact(a: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``sum_k a[m, k] * w[n, k]`` exactly, as int64 of shape (M, N).

    Examples
    --------
    >>> gemm_u8s8_exact(np.uint8([[255, 255]]), np.int8([[-128, -128]])).tolist()
    [[-65280]]
    """
    _check_operands(a, w)
    return (a.astype(np.float64) @ w.astype(np.float64).T).astype(np.int64)


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
