"""Numba kernels of :mod:`qemu.ops.activation`: one dequantize / op / quantize loop
with the op chosen by a code, following each ATen kernel's vector and scalar lambdas
(the vector/scalar split comes from :mod:`qemu.numerics.aten_loops`)."""

from __future__ import annotations

import numpy as np
from numba import njit
from qemu.backends.numba.aten_vec import (
    dequantize_val,
    dequantize_vec3,
    indefinite_code,
    premultiplied_zero_point,
    quantize_by_lane,
)

from qemu.dispatch import Context, register
from qemu.dtypes import QINT32, QUINT8
from qemu.numerics.float32 import f32
from qemu.ops import activation as ref
from qemu.ops.common import per_tensor, suggested_layout, unary_lanes

LEAKY_RELU, THRESHOLD, HARDSWISH, HARDSIGMOID = 0, 1, 2, 3


@njit(cache=True, inline="always")
def _clip(v, low, high):
    # vec::minimum(vec::maximum(v, low), high) / std::clamp for non-NaN v
    if v < low:
        return low
    if v > high:
        return high
    return v


@njit(cache=True, inline="always")
def _apply(op, v, vector, p0, p1):
    if op == LEAKY_RELU:
        if vector:
            return v * (np.float32(1.0) if v > 0 else p0)
        return v if v > 0 else v * p0
    if op == THRESHOLD:
        return v if v > p0 else p1
    clipped = _clip(v + np.float32(3.0), np.float32(0.0), np.float32(6.0))
    if op == HARDSWISH:
        return (v * clipped) / np.float32(6.0)
    return clipped / np.float32(6.0)  # HARDSIGMOID


@njit(cache=True)
def _unary(
    codes, lanes, op, p0, p1, s, z, so, zo, vec_inverse, qmin, qmax, is_qint32, indefinite, out
):
    premultiplied = premultiplied_zero_point(s, z)
    scalar_inverse = np.float32(1.0) / so
    for i in range(codes.size):
        vector = _apply(op, dequantize_vec3(codes[i], s, premultiplied), True, p0, p1)
        scalar = _apply(op, dequantize_val(codes[i], s, z), False, p0, p1)
        out[i] = quantize_by_lane(
            lanes[i],
            vector,
            scalar,
            vec_inverse,
            scalar_inverse,
            zo,
            qmin,
            qmax,
            is_qint32,
            indefinite,
        )


def _run(ctx, x, order, op, p0, p1, scale, zero_point, vec_inverse) -> object:
    dtype = x.dtype
    out = np.empty(x.size, dtype=np.int64)
    _unary(
        x.codes.reshape(-1),
        unary_lanes(ctx, x, order).reshape(-1),
        op,
        np.float32(p0),
        np.float32(p1),
        f32(x.q_scale()),
        x.q_zero_point(),
        f32(scale),
        zero_point,
        np.float32(vec_inverse),
        dtype.qmin,
        dtype.qmax,
        dtype == QINT32,
        indefinite_code(dtype == QINT32),
        out,
    )
    return per_tensor(out.reshape(x.shape), scale, zero_point, dtype)


# relu and the clamp family are integer max/min: the NumPy reference is exact and
# vectorized already.
register("relu", "numba")(ref.relu_reference)
register("clamp", "numba")(ref.clamp_reference)


@register("leaky_relu", "numba")
def _leaky_relu(ctx: Context, x, slope, scale, zero_point, order):
    inverse = np.float32(1.0) / f32(scale)
    dense = suggested_layout(x.shape, order)  # see the reference
    return _run(ctx, x, dense, LEAKY_RELU, slope, 0.0, scale, zero_point, inverse)


@register("threshold", "numba")
def _threshold(ctx: Context, x, limit, replacement, order):
    inverse = 1.0 / float(f32(x.q_scale()))
    return _run(
        ctx, x, order, THRESHOLD, limit, replacement, x.q_scale(), x.q_zero_point(), inverse
    )


@register("hardswish", "numba")
def _hardswish(ctx: Context, x, scale, zero_point, order):
    if ctx.engine.is_qnnpack and x.dtype == QUINT8:
        return ref.hardswish_reference(ctx, x, scale, zero_point, order)  # 256-entry LUT
    return _run(ctx, x, order, HARDSWISH, 0.0, 0.0, scale, zero_point, 1.0 / scale)


@register("hardsigmoid", "numba")
def _hardsigmoid(ctx: Context, x, order):
    scale, zero_point = ref.hardsigmoid_qparams(x.dtype)
    if ctx.engine.is_qnnpack and x.dtype == QUINT8:
        return ref.hardsigmoid_reference(ctx, x, order)  # 256-entry LUT
    return _run(
        ctx, x, order, HARDSIGMOID, 0.0, 0.0, scale, zero_point, 1.0 / float(np.float32(scale))
    )
