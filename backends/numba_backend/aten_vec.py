"""Numba twins, element by element, of the ATen vector / scalar formulas the quantized
elementwise kernels use: :mod:`qemu.numerics.affine` (DQ-VEC3, DQ-SCAL, Q-VEC, Q-SCAL)
and :mod:`qemu.numerics.aten_vec` (``requantize_from_int``), plus QNNPACK's add from
:mod:`qemu.numerics.fixedpoint`. The tests hold each equal to its NumPy original.

Every argument documented as float32 must be passed as ``np.float32``: numba keeps
float32 arithmetic in float32 only while no float64 operand joins in.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from qemu.backends.numba_backend.primitives import INT32_MIN, cvt_f32_to_i32, fmaf, lrintf

# QuantizeAvx2 / FBGEMM clamp the product from above with the largest float32 below
# 2**31 before cvtps2dq; NaN becomes this value too (minps returns its 2nd operand).
QUANTIZE_UPPER = np.float32(2147483520.0)


@njit(cache=True, inline="always")
def wrap_i32(value):
    """C int32 wraparound of an int64."""
    return np.int64(np.int32(value))


@njit(cache=True, inline="always")
def dequantize_vec3(code, scale, premultiplied):
    """DQ-VEC3 ``fma(f32(q), s, f32(s * -zp))``; ``scale``, ``premultiplied`` float32."""
    return fmaf(np.float32(code), scale, premultiplied)


@njit(cache=True, inline="always")
def premultiplied_zero_point(scale, zero_point):
    """``f32(s) * -f32(zp)`` as ATen's vector kernels pre-compute it."""
    return scale * -np.float32(zero_point)


@njit(cache=True, inline="always")
def dequantize_val(code, scale, zero_point):
    """DQ-SCAL ``f32(s) * f32(int32(q - zp))``; ``scale`` float32."""
    return scale * np.float32(np.int32(np.int64(code) - zero_point))


@njit(cache=True, inline="always")
def quantize_vec(value, inverse_scale, zero_point, qmin, qmax):
    """Q-VEC ``clamp(wrap32(cvt(min(x * inv, upper)) + zp))``; float32 in."""
    product = value * inverse_scale
    if not product < QUANTIZE_UPPER:
        product = QUANTIZE_UPPER
    rounded = wrap_i32(cvt_f32_to_i32(product) + zero_point)
    return min(max(rounded, qmin), qmax)


@njit(cache=True, inline="always")
def quantize_val(value, inverse_scale, zero_point, qmin, qmax, indefinite):
    """Q-SCAL ``clamp(rint(f32(zp + f32(x * inv))))`` (clamp in double); NaN gives
    ``indefinite``; float32 in."""
    shifted = np.float32(zero_point) + value * inverse_scale
    rounded = np.rint(np.float64(shifted))
    if np.isnan(rounded):
        return indefinite
    return np.int64(min(max(rounded, np.float64(qmin)), np.float64(qmax)))


@njit(cache=True, inline="always")
def quantize_by_lane(
    vector,
    value_vec,
    value_scalar,
    vec_inverse,
    scalar_inverse,
    zero_point,
    qmin,
    qmax,
    is_qint32,
    indefinite,
):
    """``Vectorized<T>::quantize`` (Q-VEC with ``vec_inverse`` for 8-bit, Q-SCAL for
    qint32) when ``vector``, else ``quantize_val``; ``scalar_inverse`` is
    ``1.0f / f32(scale)``. Float32 in."""
    if not vector or is_qint32:
        value = value_vec if vector else value_scalar
        return quantize_val(value, scalar_inverse, zero_point, qmin, qmax, indefinite)
    return quantize_vec(value_vec, vec_inverse, zero_point, qmin, qmax)


@njit(cache=True, inline="always")
def requantize_from_int_vec(value, multiplier, zero_point, qmin, qmax, saturate):
    """``RequantizeAvx2`` / ``Vectorized<qint32>::requantize_from_int``."""
    scaled = np.float32(value) * multiplier
    shifted = wrap_i32(cvt_f32_to_i32(scaled) + zero_point)
    if saturate:
        return min(max(shifted, qmin), qmax)
    return shifted


@njit(cache=True, inline="always")
def requantize_from_int_val(value, multiplier, zero_point, qmin, qmax):
    """``at::native::requantize_from_int``: ``clamp(zp + lrintf(f32(double(c) * m)))``."""
    scaled = np.float32(np.float64(value) * np.float64(multiplier))
    total = lrintf(scaled) + np.int64(zero_point)  # int64 wraps like C
    return min(max(total, qmin), qmax)


@njit(cache=True, inline="always")
def round_shift_half_away(accumulator, shift, vector):
    """QNNPACK's ``(acc >> shift) + ((acc & mask) - (acc < 0) > mask >> 1)``, with the
    x86 behaviour of shift counts 32..35 (see the NumPy original)."""
    mask = (np.int64(1) << (shift % 32)) - 1
    remainder = (accumulator & mask) - (1 if accumulator < 0 else 0)
    count = min(shift, 31) if vector else shift % 32
    return (accumulator >> count) + (1 if remainder > (mask >> 1) else 0)


def indefinite_code(is_qint32: bool) -> int:
    """What a NaN becomes in ``quantize_val``: x86's integer indefinite, truncated."""
    return int(INT32_MIN) if is_qint32 else 0
