"""Exact float32 building blocks.

NumPy's float32 ``+ - * /`` and ``sqrt`` are IEEE round-to-nearest-even, so plain
float32 array arithmetic already matches what a compiled C kernel does *when the
compiler emits the same operations*. What NumPy lacks is the fused multiply-add
that GCC contracts ``a * b + c`` into in FBGEMM's and ATen's AVX2/AVX512 code, and
the x86 float-to-int conversions with their out-of-range behaviour. Both live here,
once, and every op uses them by name.
"""

from __future__ import annotations

import numpy as np

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
INT64_MIN = -(2**63)


def f32(x) -> np.ndarray:
    """Round to float32 (round to nearest, ties to even).

    Examples
    --------
    >>> f32(0.1).item() == np.float32(0.1).item()
    True
    """
    # One conversion from the source type: going through float64 first would round
    # int64 values twice.
    return np.asarray(x).astype(np.float32, copy=False)


def rne(x) -> np.ndarray:
    """Round to the nearest integer, ties to even (``nearbyint`` / ``lrintf`` / ``cvtps2dq``
    under the default MXCSR), keeping the float dtype.

    Examples
    --------
    >>> rne(np.float32([0.5, 1.5, -2.5])).tolist()
    [0.0, 2.0, -2.0]
    """
    return np.rint(x)


def fma_f32(a, b, c) -> np.ndarray:
    """``a * b + c`` on float32 operands with a single rounding, as ``vfmadd`` computes it.

    The product of two float32 values is exact in float64, and so the float64 sum is
    off by at most half a float64 ulp; rounding it on to float32 (a double rounding)
    gives the single-rounding result except where the float64 sum lands exactly
    halfway between two float32 values (29 dropped bits ``1000...0``) -- the only place
    a double rounding can go wrong -- or outside float32's normal range, where the
    dropped-bit count changes. Those lanes are redone exactly: the float64 sum is
    rounded to odd (if it is inexact and its last bit is even, it is moved one float64
    ulp towards the exact value), after which the conversion to float32 rounds exactly
    as a single rounding would: float64 carries 29 more bits than float32, and
    round-to-odd keeps the information needed for the second rounding to be correct
    (Boldo & Melquiond, "When double rounding is odd"). Non-finite operands follow
    IEEE semantics through the float64 sum.

    Examples
    --------
    >>> a = np.float32(1 + 2**-12); c = np.float32(-1)
    >>> float(fma_f32(a, a, c)) == 2**-11 + 2**-24
    True
    """
    with np.errstate(all="ignore"):  # NaN/inf operands are meant to propagate
        a64, b64, c64 = np.broadcast_arrays(
            np.asarray(a, dtype=np.float32).astype(np.float64),
            np.asarray(b, dtype=np.float32).astype(np.float64),
            np.asarray(c, dtype=np.float32).astype(np.float64),
        )
        product = a64 * b64
        total = product + c64
        rounded = np.atleast_1d(total.astype(np.float32))
        magnitude = np.abs(total)
    halfway = (np.atleast_1d(total).view(np.int64) & _F32_DROPPED_BITS) == _F32_HALFWAY_BITS
    redo = np.atleast_1d(halfway | ~((magnitude >= _F32_SMALLEST_NORMAL) & np.isfinite(total)))
    if redo.any():
        rounded[redo] = _fma_f32_round_to_odd(
            product.reshape(rounded.shape)[redo], c64.reshape(rounded.shape)[redo]
        )
        nan = np.isnan(rounded)
        if nan.any():
            operands = [np.atleast_1d(x).reshape(rounded.shape)[nan] for x in (a64, b64, c64)]
            rounded[nan] = _fma_nan(*operands)
    return rounded.reshape(np.shape(total))


def _fma_nan(a64: np.ndarray, b64: np.ndarray, c64: np.ndarray) -> np.ndarray:
    """The NaN ``vfmadd`` returns: the first NaN operand, quieted (operand order a, b,
    c), else -- for inf * 0 or inf - inf -- the x86 default NaN ``0xFFC00000``.
    (NumPy's own NaN propagation depends on which SIMD loop it picks.)"""
    result = np.full(a64.shape, 0xFFC00000, dtype=np.uint32)
    for operand in (c64, b64, a64):  # the last assignment wins: a before b before c
        is_nan = np.isnan(operand)
        quieted = operand.astype(np.float32).view(np.uint32) | np.uint32(0x00400000)
        result[is_nan] = quieted[is_nan]
    return result.view(np.float32)


# float64 keeps 52 fraction bits, float32 23: the 29 low bits are what a conversion drops.
_F32_DROPPED_BITS = np.int64((1 << 29) - 1)
_F32_HALFWAY_BITS = np.int64(1 << 28)
_F32_SMALLEST_NORMAL = 2.0**-126


def _fma_f32_round_to_odd(product: np.ndarray, c64: np.ndarray) -> np.ndarray:
    """float32 of ``product + c64`` (float64 operands, ``product`` exact) with one
    rounding, by way of a float64 sum rounded to odd."""
    with np.errstate(all="ignore"):
        total = product + c64
        # TwoSum: the exact rounding error of `product + c64` (valid for finite values).
        b_virtual = total - product
        error = (product - (total - b_virtual)) + (c64 - b_virtual)
    bits = total.view(np.int64).copy()
    inexact = (error != 0) & np.isfinite(total)
    even = (bits & 1) == 0
    move = inexact & even
    # Moving the bit pattern by +1 increases |total|; -1 decreases it.
    towards_larger_magnitude = np.signbit(error) == np.signbit(total)
    bits[move & towards_larger_magnitude] += 1
    bits[move & ~towards_larger_magnitude] -= 1
    with np.errstate(over="ignore"):
        return bits.view(np.float64).astype(np.float32)


def cvt_f32_to_i32(x) -> np.ndarray:
    """x86 ``cvtps2dq``: round to nearest even, and any value outside int32 (or NaN)
    becomes the "integer indefinite" value ``INT32_MIN``.

    Examples
    --------
    >>> cvt_f32_to_i32(np.float32([2.5, 3e9, np.nan, -np.inf])).tolist()
    [2, -2147483648, -2147483648, -2147483648]
    """
    r = np.rint(np.asarray(x, dtype=np.float32).astype(np.float64))
    ok = (r >= INT32_MIN) & (r <= INT32_MAX)  # False for NaN
    out = np.full(r.shape, INT32_MIN, dtype=np.int32)
    out[ok] = r[ok]
    return out


def trunc_f64_to_i64(x) -> np.ndarray:
    """C cast ``(int64_t)double`` on x86 (``cvttsd2si``): truncate toward zero; NaN and
    out-of-range values become ``INT64_MIN``.

    Examples
    --------
    >>> trunc_f64_to_i64(np.array([2.7, -2.7, np.nan])).tolist()
    [2, -2, -9223372036854775808]
    """
    x = np.asarray(x, dtype=np.float64)
    ok = np.abs(x) < 2.0**63  # False for NaN
    out = np.full(x.shape, INT64_MIN, dtype=np.int64)
    out[ok] = np.trunc(x[ok])
    return out


def lrintf(x) -> np.ndarray:
    """glibc ``lrintf`` on x86-64 (``cvtss2si`` with a 64-bit destination): round to
    nearest even into int64; NaN and out-of-range values become ``INT64_MIN``.

    Examples
    --------
    >>> lrintf(np.float32([0.5, 1.5, np.nan])).tolist()
    [0, 2, -9223372036854775808]
    """
    return trunc_f64_to_i64(np.rint(np.asarray(x, dtype=np.float32).astype(np.float64)))


def wrap_i32(x) -> np.ndarray:
    """Two's-complement int32 wraparound of an integer array (C ``int32_t`` arithmetic).

    Examples
    --------
    >>> wrap_i32(np.array([2**31, -2**31 - 1])).tolist()
    [-2147483648, 2147483647]
    """
    return np.asarray(x, dtype=np.int64).astype(np.int32)


def saturate_i16(x) -> np.ndarray:
    """Saturate an integer array to int16, as ``vpmaddubsw`` / ``vpaddsw`` do.

    Examples
    --------
    >>> saturate_i16(np.array([40000, -40000, 7])).tolist()
    [32767, -32768, 7]
    """
    return np.clip(np.asarray(x, dtype=np.int64), -32768, 32767)
