"""The exact primitives against hand-checked values and against the hardware (numba's
llvm.fma / conversions compile to the same instructions torch's kernels use)."""

import numpy as np
import pytest

from qemu.numerics import (
    cvt_f32_to_i32,
    f32,
    fma_f32,
    lrintf,
    rne,
    round_to_fp16,
    saturate_i16,
    saturate_to_fp16,
    trunc_f64_to_i64,
    wrap_i32,
)
from qemu.testing import assert_bitexact, cases, seeded_rng

numba_primitives = pytest.importorskip("qemu.backends.numba_backend.primitives")
from numba import njit  # noqa: E402


@njit(cache=True)
def _hardware_fma(a, b, c):
    out = np.empty_like(a)
    for i in range(a.size):
        out[i] = numba_primitives.fmaf(a[i], b[i], c[i])
    return out


def _random_bits(rng, n, lo=0, hi=2**32):
    return rng.integers(lo, hi, n, dtype=np.uint64).astype(np.uint32).view(np.float32)


def test_fma_rounds_once_where_float64_rounds_twice():
    # (1 + 2^-12)^2 - 1 = 2^-11 + 2^-24 exactly: representable, so one rounding keeps it.
    a = np.float32(1 + 2**-12)
    assert float(fma_f32(a, a, np.float32(-1))) == 2**-11 + 2**-24


def test_fma_equals_hardware_on_random_bit_patterns():
    rng = seeded_rng("fma", "bits")
    n = cases(200_000)
    a, b, c = (_random_bits(rng, n) for _ in range(3))
    with np.errstate(all="ignore"):
        assert_bitexact(fma_f32(a, b, c), _hardware_fma(a, b, c), "fma")


def test_fma_equals_hardware_on_double_rounding_traps():
    # Products whose exact value sits on a float32 midpoint, plus a tiny addend: the
    # float64 sum rounds onto the midpoint and a second rounding then goes the wrong way.
    rng = seeded_rng("fma", "traps")
    n = cases(200_000)
    a = (1 + rng.integers(0, 2**11, n) * 2.0**-11).astype(np.float32)
    b = (1 + rng.integers(0, 2**12, n) * 2.0**-12).astype(np.float32)
    sign = np.where(rng.random(n) < 0.5, -1, 1).astype(np.float32)
    c = _random_bits(rng, n, 0x00800000, 0x0A000000) * sign
    exact = fma_f32(a, b, c)
    assert_bitexact(exact, _hardware_fma(a, b, c), "fma traps")
    naive = (a.astype(np.float64) * b + c).astype(np.float32)
    assert np.count_nonzero(naive != exact) > n // 100  # the test has power


def test_fma_subnormals_and_specials():
    rng = seeded_rng("fma", "subnormal")
    n = cases(50_000)
    a = _random_bits(rng, n, 1, 0x1FFFFFFF)
    b = _random_bits(rng, n, 0x1F000000, 0x20FFFFFF)
    c = _random_bits(rng, n, 0, 0x01FFFFFF)
    assert_bitexact(fma_f32(a, b, c), _hardware_fma(a, b, c), "fma subnormal")
    specials = np.float32([0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 3.4e38])
    a, b, c = (g.reshape(-1) for g in np.meshgrid(specials, specials, specials))
    with np.errstate(all="ignore"):
        assert_bitexact(fma_f32(a, b, c), _hardware_fma(a, b, c), "fma specials")


def test_numba_array_fma_equals_reference():
    # The twin the numba backend uses for whole arrays, with broadcasting and NaNs in
    # every operand position (x86 picks the first NaN operand, whatever LLVM's order).
    rng = seeded_rng("fma", "numba array twin")
    n = cases(100_000)
    a, b, c = (_random_bits(rng, n) for _ in range(3))
    specials = np.float32([0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, 1.0, 3.4e38])
    grid = [g.reshape(-1) for g in np.meshgrid(specials, specials, specials)]
    rows = _random_bits(rng, 3 * 7).reshape(3, 7)
    with np.errstate(all="ignore"):
        for operands in ((a, b, c), grid, (rows, rows[0], np.float32(0.5))):
            assert_bitexact(numba_primitives.fma_f32(*operands), fma_f32(*operands), "fma")


def test_conversions_follow_x86():
    values = np.float32(
        [0.5, 1.5, 2.5, -0.5, -1.5, 2147483520.0, 3e9, -3e9, np.nan, np.inf, -np.inf]
    )
    assert cvt_f32_to_i32(values).tolist() == [0, 2, 2, 0, -2, 2147483520] + [-(2**31)] * 5
    assert (
        lrintf(values).tolist()
        == [0, 2, 2, 0, -2, 2147483520, 3000000000, -3000000000] + [-(2**63)] * 3
    )
    assert trunc_f64_to_i64(np.array([2.9, -2.9, 1e19])).tolist() == [2, -2, -(2**63)]
    assert rne(np.float32([0.5, 1.5, -2.5])).tolist() == [0.0, 2.0, -2.0]


def test_integer_wrap_and_saturation():
    assert wrap_i32(np.array([2**31, -(2**31) - 1, 5])).tolist() == [-(2**31), 2**31 - 1, 5]
    assert saturate_i16(np.array([40000, -40000, 7])).tolist() == [32767, -32768, 7]


def test_f32_rounds_int64_once():
    # 2^53 + 1 -> float32 must not pass through float64 (which would round it first).
    value = np.int64(2**53 + 2**29 + 1)
    assert f32(value) == np.float32(2**53 + 2**30)


def test_fp16_rounding_ties_to_even_and_saturation():
    assert float(round_to_fp16(np.float32(1 + 2**-11))) == 1.0
    assert float(round_to_fp16(np.float32(1 + 3 * 2**-11))) == 1 + 2**-9
    assert float(round_to_fp16(np.float32(70000))) == np.inf
    assert saturate_to_fp16(np.float32([1e6, -1e6])).tolist() == [65504.0, -65504.0]
    # fbgemm's TypeConverter<float16> turns NaN into -65504 (std::max/std::min order).
    assert saturate_to_fp16(np.float32([np.nan, -np.nan])).tolist() == [-65504.0, -65504.0]
