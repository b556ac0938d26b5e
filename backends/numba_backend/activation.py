"""Numba kernels of :mod:`qemu.ops.activation`: one dequantize / op / quantize loop
with the op chosen by a code, following each ATen kernel's vector and scalar lambdas
(the vector/scalar split comes from :mod:`qemu.numerics.aten_loops`; the float
transcendentals are the numba twins in :mod:`qemu.backends.numba_backend.transcendental`)."""

from __future__ import annotations

import numpy as np
from numba import njit
from qemu.backends.numba_backend.aten_vec import (
    dequantize_val,
    dequantize_vec3,
    indefinite_code,
    premultiplied_zero_point,
    quantize_by_lane,
)
from qemu.backends.numba_backend.transcendental import (
    aten_erf_vec,
    aten_qgelu_scalar_dy,
    glibc_expf,
    glibc_expm1f,
    glibc_tanhf,
    sleef_expf_u10,
    sleef_expm1f_u10,
    sleef_tanhf_u10,
)

from qemu.dispatch import Context, register
from qemu.dtypes import QINT32, QUINT8
from qemu.numerics.float32 import f32
from qemu.ops import activation as ref
from qemu.ops.common import per_tensor, suggested_layout, unary_lanes

LEAKY_RELU, THRESHOLD, HARDSWISH, HARDSIGMOID, SIGMOID, TANH, ELU, GELU = range(8)
_SQRT1_2 = np.float32(0.7071067811865476)


@njit(cache=True, inline="always")
def _clip(v, low, high):
    # vec::minimum(vec::maximum(v, low), high) / std::clamp for non-NaN v
    if v < low:
        return low
    if v > high:
        return high
    return v


@njit(cache=True, inline="always")
def _apply(op, v, vector, p0, p1, p2):
    if op == SIGMOID:
        if vector:
            return np.float32(1.0) / (np.float32(1.0) + sleef_expf_u10(-v))
        return np.float32(1.0 / (1.0 + np.float64(glibc_expf(-v))))
    if op == TANH:
        return sleef_tanhf_u10(v) if vector else glibc_tanhf(v)
    if op == ELU:  # p0 = alpha, p1 = scale, p2 = input_scale
        if vector:
            return (v if v > 0 else sleef_expm1f_u10(v * p2) * p0) * p1
        return v * p1 if v >= 0 else glibc_expm1f(v * p2) * p0 * p1
    if op == GELU:
        if vector:
            return (v * np.float32(0.5)) * (np.float32(1.0) + aten_erf_vec(v * _SQRT1_2))
        return aten_qgelu_scalar_dy(v)
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
    codes,
    lanes,
    op,
    p0,
    p1,
    p2,
    s,
    z,
    so,
    zo,
    vec_inverse,
    qmin,
    qmax,
    is_qint32,
    indefinite,
    out,
):
    premultiplied = premultiplied_zero_point(s, z)
    scalar_inverse = np.float32(1.0) / so
    for i in range(codes.size):
        if op == SIGMOID:  # qsigmoid_kernel's 2-argument dequantize: (q - zp) * s
            dq = (np.float32(codes[i]) - np.float32(z)) * s
        else:
            dq = dequantize_vec3(codes[i], s, premultiplied)
        vector = _apply(op, dq, True, p0, p1, p2)
        scalar = _apply(op, dequantize_val(codes[i], s, z), False, p0, p1, p2)
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


def _run(
    ctx, x, order, op, scale, zero_point, vec_inverse, p0=0.0, p1=0.0, p2=0.0, out_format=None
):
    dtype = x.dtype
    out = np.empty(x.size, dtype=np.int64)
    _unary(
        x.codes.reshape(-1),
        unary_lanes(ctx, x, order, out_format).reshape(-1),
        op,
        np.float32(p0),
        np.float32(p1),
        np.float32(p2),
        np.float32(x.q_scale()),
        x.q_zero_point(),
        np.float32(scale),
        zero_point,
        np.float32(vec_inverse),
        dtype.qmin,
        dtype.qmax,
        dtype == QINT32,
        indefinite_code(dtype == QINT32),
        out,
    )
    return per_tensor(out.reshape(x.shape), scale, zero_point, dtype)


def _qnnpack_table(ctx, x) -> bool:
    """quint8 under qnnpack runs a 256-entry QNNPACK table, which the reference builds."""
    return ctx.engine.is_qnnpack and x.dtype == QUINT8


# relu and the clamp family are integer max/min: the NumPy reference is exact and
# vectorized already.
register("relu", "numba")(ref.relu_reference)
register("clamp", "numba")(ref.clamp_reference)


@register("leaky_relu", "numba")
def _leaky_relu(ctx: Context, x, slope, scale, zero_point, order):
    inverse = np.float32(1.0) / f32(scale)
    dense = suggested_layout(x.shape, order)  # see the reference
    return _run(ctx, x, dense, LEAKY_RELU, scale, zero_point, inverse, p0=slope)


@register("threshold", "numba")
def _threshold(ctx: Context, x, limit, replacement, order):
    inverse = 1.0 / float(f32(x.q_scale()))
    return _run(
        ctx,
        x,
        order,
        THRESHOLD,
        x.q_scale(),
        x.q_zero_point(),
        inverse,
        p0=limit,
        p1=replacement,
    )


@register("hardswish", "numba")
def _hardswish(ctx: Context, x, scale, zero_point, order):
    if _qnnpack_table(ctx, x):
        return ref.hardswish_reference(ctx, x, scale, zero_point, order)
    return _run(ctx, x, order, HARDSWISH, scale, zero_point, 1.0 / scale)


@register("hardsigmoid", "numba")
def _hardsigmoid(ctx: Context, x, order):
    if _qnnpack_table(ctx, x):
        return ref.hardsigmoid_reference(ctx, x, order)
    scale, zero_point = ref.hardsigmoid_qparams(x.dtype)
    return _run(ctx, x, order, HARDSIGMOID, scale, zero_point, 1.0 / float(np.float32(scale)))


@register("sigmoid", "numba")
def _sigmoid(ctx: Context, x, scale, zero_point, fixed, order):
    if _qnnpack_table(ctx, x):
        return ref.sigmoid_reference(ctx, x, scale, zero_point, fixed, order)
    return _run(ctx, x, order, SIGMOID, scale, zero_point, 1.0 / scale)


@register("tanh", "numba")
def _tanh(ctx: Context, x, order):
    if _qnnpack_table(ctx, x):
        return ref.tanh_reference(ctx, x, order)
    scale, zero_point = ref.tanh_qparams(x.dtype)
    return _run(ctx, x, order, TANH, scale, zero_point, 1.0 / float(np.float32(scale)))


@register("elu", "numba")
def _elu(ctx: Context, x, scale, zero_point, alpha, coef, input_coef, variant, order):
    inverse = 1.0 / float(f32(scale))
    return _run(
        ctx,
        x,
        order,
        ELU,
        scale,
        zero_point,
        inverse,
        p0=alpha,
        p1=coef,
        p2=input_coef,
        out_format="contiguous",
    )


@register("gelu", "numba")
def _gelu(ctx: Context, x, approximate, order):
    if approximate == "tanh":  # its scalar tail calls double tanh: shared with the reference
        return ref.gelu_reference(ctx, x, approximate, order)
    scale = float(f32(x.q_scale()))  # see the reference
    return _run(ctx, x, order, GELU, scale, x.q_zero_point(), 1.0 / scale)


# The softmax reference is vectorized over rows/columns already (its only loops run
# over a row's vectors or along the softmax dimension); the numba backend shares it.
register("softmax", "numba")(ref.softmax_reference)
