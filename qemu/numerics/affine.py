"""The affine quantize / dequantize formulas torch's kernels use, one function each.

There is no single "quantize" in torch: the FBGEMM vector routine, ATen's scalar
``quantize_val``, ATen's ``Vectorized::quantize`` and the sub-byte loop round in
different places. Every op names the one its kernel calls. The docs page
``docs/numerics/quantize.md`` cites the source of each and the test that confirms it.

All functions take NumPy arrays (broadcasting) and return int64 codes (quantize) or
float32 values (dequantize); ``scale`` arguments are what the kernel receives
(usually the float32 rounding of the tensor's double scale).
"""

from __future__ import annotations

import numpy as np

from qemu.numerics.float32 import INT32_MIN, cvt_f32_to_i32, f32, fma_f32, lrintf, wrap_i32

# FBGEMM's QuantizeAvx2 clamps the FMA result from above with this constant (the
# largest float32 below 2^31) before cvtps2dq; _mm256_min_ps returns its second
# operand for NaN, so NaN becomes this value, i.e. qmax.
_FBGEMM_QUANTIZE_UPPER = np.float32(2147483520.0)


def _f32_inverse(scale) -> np.ndarray:
    """``1.0f / (float)scale``: a float32 division, as the kernels compute it."""
    return np.float32(1.0) / f32(scale)


def quantize_fbgemm(x, scale, zero_point, qmin: int, qmax: int) -> np.ndarray:
    """FBGEMM ``QuantizeAvx2<T, LEGACY=true>``: ``clamp(rne(fma(x, 1/s, zp)))``.

    One rounding: the zero point is added inside the FMA, before rounding, so ties
    go to even on the sum. NaN and +inf give ``qmax``, -inf gives ``qmin``.

    Examples
    --------
    >>> quantize_fbgemm(np.float32([0.25, 0.75, np.nan]), 0.5, 0, 0, 255).tolist()
    [0, 2, 255]
    """
    inverse = _f32_inverse(scale)
    fused = fma_f32(x, inverse, f32(zero_point))
    with np.errstate(invalid="ignore"):
        fused = np.where(
            np.isnan(fused), _FBGEMM_QUANTIZE_UPPER, np.minimum(fused, _FBGEMM_QUANTIZE_UPPER)
        )
    return np.clip(cvt_f32_to_i32(fused).astype(np.int64), qmin, qmax)


def quantize_val(x, scale, zero_point, qmin: int, qmax: int) -> np.ndarray:
    """ATen ``quantize_val`` / FBGEMM scalar ``Quantize<T, LEGACY=true>``:
    ``clamp(nearbyint(f32(zp + f32(x * (1/s)))))``.

    Two float32 roundings (product, then the zero-point add), no FMA (the helper is
    out of line and built without contraction), then one integer rounding. The clamp
    is done on the double value; a NaN passes the clamp and is cast to the integer
    type, giving the x86 "integer indefinite" 0x80000000 truncated to the storage:
    0 for 8-bit types, ``INT32_MIN`` for qint32.

    Examples
    --------
    >>> quantize_val(np.float32([0.25, 0.75, np.nan]), 0.5, 0, 0, 255).tolist()
    [0, 2, 0]
    """
    inverse = _f32_inverse(scale)
    with np.errstate(invalid="ignore", over="ignore"):
        shifted = f32(zero_point) + np.asarray(x, dtype=np.float32) * inverse
        rounded = np.rint(shifted.astype(np.float64))
        clamped = np.clip(rounded, qmin, qmax)
    nan = np.isnan(clamped)
    codes = np.where(nan, 0, clamped).astype(np.int64)
    indefinite = INT32_MIN if qmin < -(2**8) else 0
    return np.where(nan, indefinite, codes)


def quantize_vec(x, inverse_scale, zero_point, qmin: int, qmax: int) -> np.ndarray:
    """ATen ``Vectorized<qint>::quantize`` (``QuantizeAvx2``/``QuantizeAvx512`` in
    vec256/vec512_qint.h): ``clamp(cvt(f32(x * inv)) + zp)``.

    The zero point is added *after* rounding, in wrapping int32 (``_mm256_add_epi32``),
    then packed with saturation; the caller supplies ``inv`` (ops differ in how they
    compute it). The product is clamped from above like FBGEMM's, so NaN and overflow
    reach ``2^31 - 128`` first -- and with a large zero point that sum wraps negative,
    which the kernel then saturates to ``qmin``.

    Examples
    --------
    >>> quantize_vec(np.float32([0.5, 1.5]), np.float32(1.0), 10, 0, 255).tolist()
    [10, 12]
    """
    with np.errstate(invalid="ignore", over="ignore"):
        product = np.asarray(x, dtype=np.float32) * np.asarray(inverse_scale, dtype=np.float32)
        product = np.where(
            np.isnan(product), _FBGEMM_QUANTIZE_UPPER, np.minimum(product, _FBGEMM_QUANTIZE_UPPER)
        )
    rounded = cvt_f32_to_i32(product).astype(np.int64)
    shifted = wrap_i32(rounded + np.asarray(zero_point, dtype=np.int64))
    return np.clip(shifted.astype(np.int64), qmin, qmax)


def quantize_sub_byte(x, scale, zero_point, qmin: int, qmax: int) -> np.ndarray:
    """ATen ``quantize_tensor_per_tensor_affine_sub_byte_cpu``:
    ``clamp(lrintf(nearbyint(f32(x * inv)) + zp))``, zero point added after rounding.

    Examples
    --------
    >>> quantize_sub_byte(np.float32([0.25, 0.75]), 0.5, 1, 0, 15).tolist()
    [1, 3]
    """
    inverse = _f32_inverse(scale)
    with np.errstate(invalid="ignore", over="ignore"):
        rounded = np.rint(np.asarray(x, dtype=np.float32) * inverse)
        codes = lrintf(rounded + f32(zero_point))
    return np.clip(codes, qmin, qmax)


def quantize_float_qparams(x, scale, zero_point, qmin: int, qmax: int) -> np.ndarray:
    """ATen ``quantize_val_float_qparams``: ``clamp(int32(lrintf(f32(f32(x * inv) + zp))))``
    with a float zero point; ``inv = 1`` where the scale is 0. No FMA.

    The 64-bit ``lrintf`` result is truncated to int32 before the clamp, so a value of
    2^31 lands on ``qmin`` and 2^32 + 512 on ``qmax``; NaN, infinities and values past
    2^63 give ``lrintf``'s 0x8000000000000000, whose low half is 0.

    Examples
    --------
    >>> quantize_float_qparams(np.float32([0.25]), np.float32(0.5), np.float32(0.5), 0, 255).tolist()
    [1]
    """
    scale = f32(scale)
    with np.errstate(divide="ignore"):
        inverse = np.where(scale == 0, np.float32(1.0), np.float32(1.0) / scale)
    with np.errstate(invalid="ignore", over="ignore"):
        shifted = np.asarray(x, dtype=np.float32) * inverse + f32(zero_point)
    return np.clip(wrap_i32(lrintf(shifted)).astype(np.int64), qmin, qmax)


def dequantize_val(codes, scale, zero_point) -> np.ndarray:
    """``fbgemm::Dequantize`` / ATen ``dequantize_val``: ``f32(s) * f32(q - zp)``,
    the subtraction in wrapping int32.

    Examples
    --------
    >>> dequantize_val(np.array([3, 5]), 0.5, 3).tolist()
    [0.0, 1.0]
    """
    difference = wrap_i32(
        np.asarray(codes, dtype=np.int64) - np.asarray(zero_point, dtype=np.int64)
    )
    return f32(scale) * difference.astype(np.float32)


def dequantize_per_channel_double(codes, scales, zero_points) -> np.ndarray:
    """ATen ``dequantize_per_channel_affine_kernel`` with double scales and int64 zero
    points: ``f32(double(f32(q) - f32(zp)) * scale)``, the multiply in double.

    Examples
    --------
    >>> dequantize_per_channel_double(np.array([4]), np.array([0.1]), np.array([1])).dtype
    dtype('float32')
    """
    difference = f32(codes) - f32(zero_points)
    return (difference.astype(np.float64) * np.asarray(scales, dtype=np.float64)).astype(np.float32)


def dequantize_float(codes, scale, zero_point) -> np.ndarray:
    """All-float32 dequantize used for float zero points and sub-byte tensors:
    ``f32(f32(f32(q) - zp) * s)``.

    Examples
    --------
    >>> dequantize_float(np.array([4]), np.float32(0.5), np.float32(1.0)).tolist()
    [1.5]
    """
    return (f32(codes) - f32(zero_point)) * f32(scale)


def dequantize_vec_premultiplied(codes, scale, zero_point) -> np.ndarray:
    """ATen 3-argument ``Vectorized<qint>::dequantize(scale, zp, scale * -zp)``:
    ``fma(f32(q), s, f32(s * -zp))`` -- the product ``s * -zp`` is rounded first, so
    this is not ``s * (q - zp)``.

    Examples
    --------
    >>> dequantize_vec_premultiplied(np.array([3]), np.float32(0.5), 1).tolist()
    [1.0]
    """
    scale = f32(scale)
    premultiplied = scale * -f32(zero_point)
    return fma_f32(f32(codes), scale, premultiplied)
