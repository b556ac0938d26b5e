"""quantize / dequantize kernels; the formulas are those of :mod:`qemu.numerics.affine`."""

from __future__ import annotations

import numpy as np
from numba import njit
from qemu.backends.numba_backend.primitives import INT32_MIN, cvt_f32_to_i32, fmaf, lrintf

from qemu.dispatch import Context, register
from qemu.dtypes import (
    PER_CHANNEL_AFFINE,
    PER_CHANNEL_AFFINE_FLOAT_QPARAMS,
    PER_TENSOR_AFFINE,
    QINT32,
    QDType,
)
from qemu.numerics.fp16 import round_to_fp16
from qemu.qtensor import QTensor
from qemu.quantize import dynamic_qparams

_FBGEMM_QUANTIZE_UPPER = np.float32(2147483520.0)


@njit(cache=True)
def _quantize_fbgemm(x, scale, zero_point, qmin, qmax, out):
    inverse = np.float32(1.0) / np.float32(scale)
    zero = np.float32(zero_point)
    for i in range(x.size):
        fused = fmaf(x[i], inverse, zero)
        if not fused < _FBGEMM_QUANTIZE_UPPER:  # also NaN: _mm256_min_ps returns the bound
            fused = _FBGEMM_QUANTIZE_UPPER
        out[i] = min(max(cvt_f32_to_i32(fused), qmin), qmax)


def quantize_fbgemm(x, scale, zero_point, qmin: int, qmax: int) -> np.ndarray:
    """Twin of :func:`qemu.numerics.affine.quantize_fbgemm` on a float32 array: int64
    codes of the same shape."""
    flat = np.ascontiguousarray(x, dtype=np.float32).reshape(-1)
    codes = np.empty(flat.size, dtype=np.int64)
    _quantize_fbgemm(flat, scale, zero_point, qmin, qmax, codes)
    return codes.reshape(np.shape(x))


@njit(cache=True)
def _quantize_val(x, scales, zero_points, channel, qmin, qmax, indefinite, out):
    for i in range(x.size):
        c = channel[i]
        inverse = np.float32(1.0) / np.float32(scales[c])
        shifted = np.float32(zero_points[c]) + x[i] * inverse
        rounded = np.rint(np.float64(shifted))
        if np.isnan(rounded):
            out[i] = indefinite
        else:
            out[i] = np.int64(min(max(rounded, np.float64(qmin)), np.float64(qmax)))


@njit(cache=True)
def _quantize_sub_byte(x, scale, zero_point, qmin, qmax, out):
    inverse = np.float32(1.0) / np.float32(scale)
    zero = np.float32(zero_point)
    for i in range(x.size):
        rounded = np.float32(np.rint(x[i] * inverse))
        out[i] = min(max(lrintf(rounded + zero), qmin), qmax)


@njit(cache=True)
def _quantize_float_qparams(x, scales, zero_points, channel, qmin, qmax, out):
    for i in range(x.size):
        c = channel[i]
        inverse = np.float32(1.0) if scales[c] == 0 else np.float32(1.0) / scales[c]
        truncated = np.int64(np.int32(lrintf(x[i] * inverse + zero_points[c])))
        out[i] = min(max(truncated, qmin), qmax)


@njit(cache=True)
def _dequantize_val(codes, scale, zero_point, out):
    s = np.float32(scale)
    for i in range(codes.size):
        difference = np.int32(np.int64(codes[i]) - zero_point)  # wraps like C int32
        out[i] = s * np.float32(difference)


@njit(cache=True)
def _dequantize_per_channel_double(codes, scales, zero_points, channel, out):
    for i in range(codes.size):
        c = channel[i]
        difference = np.float32(codes[i]) - np.float32(zero_points[c])
        out[i] = np.float32(np.float64(difference) * scales[c])


@njit(cache=True)
def _dequantize_float(codes, scales, zero_points, channel, out):
    for i in range(codes.size):
        c = channel[i]
        out[i] = (np.float32(codes[i]) - zero_points[c]) * scales[c]


def _channel_index(shape: tuple[int, ...], axis: int | None) -> np.ndarray:
    """The channel of every element in C order (all zeros for per-tensor)."""
    if axis is None:
        return np.zeros(int(np.prod(shape, dtype=np.int64)), dtype=np.int64)
    index = np.arange(shape[axis], dtype=np.int64).reshape(
        [-1 if d == axis else 1 for d in range(len(shape))]
    )
    return np.broadcast_to(index, shape).reshape(-1)


@register("quantize_per_tensor", "numba")
def _quantize_per_tensor(
    ctx: Context, x: np.ndarray, scale: float, zero_point: int, dtype: QDType
) -> QTensor:
    flat = np.ascontiguousarray(x).reshape(-1)
    codes = np.empty(flat.size, dtype=np.int64)
    if dtype.sub_byte:
        _quantize_sub_byte(flat, scale, zero_point, dtype.qmin, dtype.qmax, codes)
    elif dtype == QINT32:
        scales = np.array([scale])
        points = np.array([zero_point], dtype=np.int64)
        channel = np.zeros(flat.size, dtype=np.int64)
        _quantize_val(flat, scales, points, channel, dtype.qmin, dtype.qmax, INT32_MIN, codes)
    else:
        _quantize_fbgemm(flat, scale, zero_point, dtype.qmin, dtype.qmax, codes)
    return QTensor(
        codes.astype(dtype.storage).reshape(x.shape),
        dtype,
        PER_TENSOR_AFFINE,
        scale,
        zero_point,
        None,
    )


@register("quantize_per_channel", "numba")
def _quantize_per_channel(
    ctx: Context,
    x: np.ndarray,
    scales: np.ndarray,
    zero_points: np.ndarray,
    axis: int,
    dtype: QDType,
) -> QTensor:
    flat = np.ascontiguousarray(x).reshape(-1)
    channel = _channel_index(x.shape, axis)
    codes = np.empty(flat.size, dtype=np.int64)
    if zero_points.dtype == np.float32:
        _quantize_float_qparams(flat, scales, zero_points, channel, dtype.qmin, dtype.qmax, codes)
        qscheme = PER_CHANNEL_AFFINE_FLOAT_QPARAMS
    else:
        indefinite = INT32_MIN if dtype == QINT32 else 0
        _quantize_val(flat, scales, zero_points, channel, dtype.qmin, dtype.qmax, indefinite, codes)
        qscheme = PER_CHANNEL_AFFINE
    return QTensor(
        codes.astype(dtype.storage).reshape(x.shape), dtype, qscheme, scales, zero_points, axis
    )


@register("dequantize", "numba")
def _dequantize(ctx: Context, q: QTensor) -> np.ndarray:
    codes = np.ascontiguousarray(q.codes).reshape(-1)
    out = np.empty(codes.size, dtype=np.float32)
    if not q.is_per_channel:
        if q.dtype.sub_byte:
            channel = np.zeros(codes.size, dtype=np.int64)
            scales = np.array([q.q_scale()], dtype=np.float32)
            points = np.array([q.q_zero_point()], dtype=np.float32)
            _dequantize_float(codes, scales, points, channel, out)
        else:
            _dequantize_val(codes, q.q_scale(), q.q_zero_point(), out)
    else:
        channel = _channel_index(q.shape, q.q_per_channel_axis())
        scales, points = q.q_per_channel_scales(), q.q_per_channel_zero_points()
        if q.qscheme() == PER_CHANNEL_AFFINE_FLOAT_QPARAMS:
            _dequantize_float(codes, scales, points, channel, out)
        else:
            _dequantize_per_channel_double(codes, scales, points, channel, out)
    return out.reshape(q.shape)


@njit(cache=True)
def _min_max(x):
    # Inputs reach kernels validated (non-empty, no NaN), so plain comparisons suffice.
    low = x[0]
    high = x[0]
    for i in range(1, x.size):
        value = x[i]
        if value < low:
            low = value
        if value > high:
            high = value
    return low, high


@register("quantize_per_tensor_dynamic", "numba")
def _quantize_per_tensor_dynamic(
    ctx: Context, x: np.ndarray, dtype: QDType | str, reduce_range: bool
) -> QTensor | np.ndarray:
    if dtype == "float16":
        with np.errstate(over="ignore"):  # beyond 65504 becomes inf, as x.to(half) does
            return round_to_fp16(x)
    flat = np.ascontiguousarray(x).reshape(-1)
    low, high = _min_max(flat)
    scale, zero_point = dynamic_qparams(ctx, low, high, dtype, reduce_range)
    codes = np.empty(flat.size, dtype=np.int64)
    _quantize_fbgemm(flat, scale, zero_point, dtype.qmin, dtype.qmax, codes)
    return QTensor(
        codes.astype(dtype.storage).reshape(x.shape),
        dtype,
        PER_TENSOR_AFFINE,
        scale,
        zero_point,
        None,
    )
