"""Raw u8 x s8 GEMM sums: hand values, the saturation rule, numpy == numba."""

import numpy as np
import pytest

from qemu import QTensor
from qemu.numerics.int8gemm import (
    FLOAT32_EXACT_K,
    gemm_u8s8,
    gemm_u8s8_exact,
    gemm_u8s8_pair_saturated,
)
from qemu.ops.linear import prepack_fbgemm, raw_gemm_sums
from qemu.testing import assert_bitexact, cases, seeded_rng

numba_gemm = pytest.importorskip("qemu.backends.numba_backend.int8gemm")
vnni = pytest.importorskip("qemu.backends.numba_backend.vnni")


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


needs_vnni = pytest.mark.skipif(not vnni.available(), reason="host without AVX512-VNNI")


def _operands(rng, m, k, n):
    a = rng.integers(0, 256, (m, k), dtype=np.uint8)
    w = rng.integers(-128, 128, (n, k), dtype=np.int8)
    if rng.random() < 0.5:  # full-range columns: pairs saturate
        a[:, rng.random(k) < 0.5] = 255
        w[:, rng.random(k) < 0.5] = rng.choice(np.int8([-128, 127]))
    return a, w


@needs_vnni
def test_vnni_kernels_equal_the_reference():
    """Every row/column/k tail of the 6 x 32 microkernels and the 4-k groups."""
    rng = seeded_rng("vnni_gemm")
    shapes = [(0, 5, 3), (4, 0, 3), (3, 5, 0), (1, 1, 1), (6, 4, 32), (7, 9, 33), (13, 3, 65)]
    shapes += [tuple(int(v) for v in rng.integers(1, [40, 300, 100])) for _ in range(cases(60))]
    for m, k, n in shapes:
        a, w = _operands(rng, m, k, n)
        packed = vnni.pack_weights(w)
        for saturating in (False, True):
            expected = gemm_u8s8(a, w, saturating_pairs=saturating)
            actual = vnni.gemm_u8s8(a, packed, saturating_pairs=saturating)
            assert_bitexact(actual.astype(np.int64), expected, f"vnni {m}x{k}x{n} {saturating}")


@needs_vnni
def test_vnni_kernels_refuse_what_they_cannot_hold():
    packed = vnni.pack_weights(np.zeros((2, 3), np.int8))
    with pytest.raises(ValueError, match=r"a: expected uint8 \(M, 3\)"):
        vnni.gemm_u8s8(np.zeros((1, 4), np.uint8), packed, saturating_pairs=False)
    big = vnni.pack_weights(np.zeros((1, vnni.MAX_EXACT_K + 1), np.int8))
    with pytest.raises(ValueError, match="overflow the int32 lanes"):
        vnni.gemm_u8s8(np.zeros((1, vnni.MAX_EXACT_K + 1), np.uint8), big, saturating_pairs=False)
    with pytest.raises(TypeError, match="w: expected int8 weights"):
        vnni.pack_weights(np.zeros((2, 3), np.uint8))


def test_numba_raw_sums_with_and_without_vnni(monkeypatch):
    """The numba backend's GEMM step equals the reference's on either path (the portable
    one is what hosts without AVX512-VNNI run)."""
    from qemu.backends.numba_backend.linear import raw_sums

    rng = seeded_rng("numba_raw_sums")
    for _ in range(cases(10)):
        m, k, n = (int(v) for v in rng.integers(1, [20, 200, 70]))
        a, w = _operands(rng, m, k, n)
        packed = prepack_fbgemm(QTensor.per_tensor(w, 0.5, 0, "qint8"))
        for saturating in (False, True):
            expected = raw_gemm_sums(a[None], packed, saturating)
            assert_bitexact(raw_sums(a[None], packed, saturating), expected, "numba raw sums")
            with monkeypatch.context() as patch:
                patch.setattr(vnni, "available", lambda: False)
                actual = raw_sums(a[None], packed, saturating)
            assert_bitexact(actual, expected, "numba raw sums without VNNI")
