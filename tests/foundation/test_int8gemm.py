"""Raw u8 x s8 GEMM sums: hand values, the saturation rule, numpy == numba."""

import numpy as np
import pytest

from qemu.numerics.int8gemm import (
    FLOAT32_EXACT_K,
    gemm_u8s8,
    gemm_u8s8_exact,
    gemm_u8s8_pair_saturated,
)
from qemu.testing import assert_bitexact, cases, seeded_rng

numba_gemm = pytest.importorskip("qemu.backends.numba_backend.int8gemm")


def test_pairs_saturate_to_int16():
    a = np.uint8([[255, 255, 255]])
    w = np.int8([[-128, -128, 127]])
    assert gemm_u8s8_exact(a, w).tolist() == [[-65280 + 32385]]
    # (255*-128 + 255*-128) saturates to -32768; the odd k pairs with a zero.
    assert gemm_u8s8_pair_saturated(a, w).tolist() == [[-32768 + 32385]]
    assert gemm_u8s8(a, w, saturating_pairs=True).tolist() == [[-32768 + 32385]]


def test_float32_exact_bound():
    # K = FLOAT32_EXACT_K products of the largest magnitude stay below 2^24.
    assert FLOAT32_EXACT_K * 255 * 128 < 2**24 <= (FLOAT32_EXACT_K + 1) * 255 * 128


@pytest.mark.parametrize("shape", [(1, 1, 1), (3, 0, 2), (5, 7, 3), (17, 64, 33), (4, 1023, 9)])
def test_numpy_equals_numba(shape):
    m, k, n = shape
    rng = seeded_rng("int8gemm", shape)
    for _ in range(cases(5)):
        a = rng.integers(0, 256, (m, k), dtype=np.uint8)
        w = rng.integers(-128, 128, (n, k), dtype=np.int8)
        a[:, rng.random(k) < 0.5] = 255  # push pairs into saturation
        w[:, rng.random(k) < 0.5] = -128
        assert_bitexact(gemm_u8s8_exact(a, w), numba_gemm.gemm_u8s8_exact(a, w), "exact")
        assert_bitexact(
            gemm_u8s8_pair_saturated(a, w), numba_gemm.gemm_u8s8_pair_saturated(a, w), "saturated"
        )


def test_operand_types_are_checked():
    with pytest.raises(TypeError, match="uint8 activations and int8 weights"):
        gemm_u8s8_exact(np.int8([[1]]), np.int8([[1]]))
    with pytest.raises(ValueError, match=r"a \(M, K\) and w \(N, K\)"):
        gemm_u8s8_exact(np.uint8([[1, 2]]), np.int8([[1]]))
