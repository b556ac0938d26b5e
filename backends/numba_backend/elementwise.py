"""Numba kernels of :mod:`qemu.ops.elementwise`. The vector/scalar split comes from
the shared :mod:`qemu.numerics.aten_loops` model; these loops only do the per-element
arithmetic, in the kernels' order."""

from __future__ import annotations

import numpy as np
from numba import njit
from qemu.backends.numba_backend.aten_vec import (
    dequantize_val,
    dequantize_vec3,
    indefinite_code,
    premultiplied_zero_point,
    quantize_by_lane,
    requantize_from_int_val,
    requantize_from_int_vec,
    round_shift_half_away,
    wrap_i32,
)

from qemu.dispatch import Context, register
from qemu.dtypes import QINT32
from qemu.numerics import fixedpoint
from qemu.numerics.float32 import f32
from qemu.ops import elementwise as ref
from qemu.ops.common import check_qnnpack_nc_input, nhwc_channel_lanes, per_tensor, unary_lanes


@njit(cache=True)
def _add(a, b, lanes, sa, za, sb, zb, so, zo, relu, qmin, qmax, is_qint32, indefinite, out):
    pa = premultiplied_zero_point(sa, za)
    pb = premultiplied_zero_point(sb, zb)
    inverse = np.float32(1.0) / so
    for i in range(a.size):
        vector = dequantize_vec3(a[i], sa, pa) + dequantize_vec3(b[i], sb, pb)
        scalar = dequantize_val(a[i], sa, za) + dequantize_val(b[i], sb, zb)
        if relu:
            vector = max(vector, np.float32(0.0)) if not np.isnan(vector) else vector
            scalar = np.float32(0.0) if scalar < 0 else scalar
        out[i] = quantize_by_lane(
            lanes[i], vector, scalar, inverse, inverse, zo, qmin, qmax, is_qint32, indefinite
        )


@njit(cache=True)
def _qnnpack_add(a, b, vector, za, zb, zo, a_mult, b_mult, shift, out_min, out):
    zero_point_product = wrap_i32(-(a_mult * za + b_mult * zb))
    for i in range(a.size):
        acc = wrap_i32(zero_point_product + np.int64(a[i]) * a_mult + np.int64(b[i]) * b_mult)
        out[i] = min(max(round_shift_half_away(acc, shift, vector[i]) + zo, out_min), 255)


@njit(cache=True)
def _mul(a, b, lanes, za, zb, multiplier, zo, relu, qmin, qmax, saturate, out):
    for i in range(a.size):
        product = wrap_i32(wrap_i32(np.int64(a[i]) - za) * wrap_i32(np.int64(b[i]) - zb))
        if lanes[i]:
            code = requantize_from_int_vec(product, multiplier, zo, qmin, qmax, saturate)
        else:
            code = requantize_from_int_val(product, multiplier, zo, qmin, qmax)
        out[i] = max(code, zo) if relu else code


@njit(cache=True)
def _requantize_shifted(codes, lanes, z, c_q, multiplier, zo, relu, qmin, qmax, saturate, out):
    for i in range(codes.size):
        shifted = wrap_i32(np.int64(codes[i]) - z + c_q)
        if lanes[i]:
            code = requantize_from_int_vec(shifted, multiplier, zo, qmin, qmax, saturate)
        else:
            code = requantize_from_int_val(shifted, multiplier, zo, qmin, qmax)
        out[i] = max(code, zo) if relu else code


@njit(cache=True)
def _requantize_unary(
    codes, lanes, s, z, so, zo, vec_inverse, relu, qmin, qmax, is_qint32, indefinite, out
):
    premultiplied = premultiplied_zero_point(s, z)
    scalar_inverse = np.float32(1.0) / so
    for i in range(codes.size):
        vector = dequantize_vec3(codes[i], s, premultiplied)
        scalar = dequantize_val(codes[i], s, z)
        if relu:
            vector = max(vector, np.float32(0.0)) if not np.isnan(vector) else vector
            scalar = np.float32(0.0) if scalar < 0 else scalar
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


def _flat(array, shape) -> np.ndarray:
    return np.ascontiguousarray(np.broadcast_to(array, shape)).reshape(-1)


@register("add", "numba")
def _add_kernel(ctx: Context, qa, qb, scale, zero_point, relu, layouts):
    dtype = qa.dtype
    shape = np.broadcast_shapes(qa.shape, qb.shape)
    out = np.empty(int(np.prod(shape, dtype=np.int64)), dtype=np.int64)
    if ref.qnnpack_runs_add(ctx, qa, qb):
        if check_qnnpack_nc_input(qa, "qa", "add", batch="returns"):
            (a_mult, b_mult, shift), out_min = ref.check_qnnpack_add(
                qa, qb, scale, zero_point, relu
            )
            _qnnpack_add(
                _flat(qa.codes, shape),
                _flat(qb.codes, shape),
                fixedpoint.add_vector_lanes(qa.size),
                qa.q_zero_point(),
                qb.q_zero_point(),
                zero_point,
                a_mult,
                b_mult,
                shift,
                out_min,
                out,
            )
        return per_tensor(out.reshape(shape), scale, zero_point, dtype)
    lanes = ref.binary_lanes(ctx, qa, qb, layouts, qa.shape)
    _add(
        _flat(qa.codes, shape),
        _flat(qb.codes, shape),
        _flat(lanes, shape),
        np.float32(qa.q_scale()),
        qa.q_zero_point(),
        np.float32(qb.q_scale()),
        qb.q_zero_point(),
        np.float32(scale),
        zero_point,
        relu,
        dtype.qmin,
        dtype.qmax,
        dtype == QINT32,
        indefinite_code(dtype == QINT32),
        out,
    )
    return per_tensor(out.reshape(shape), scale, zero_point, dtype)


@register("mul", "numba")
def _mul_kernel(ctx: Context, qa, qb, scale, zero_point, relu, layouts):
    dtype = qa.dtype
    shape = np.broadcast_shapes(qa.shape, qb.shape)
    lanes = ref.binary_lanes(ctx, qa, qb, layouts, shape)
    out = np.empty(int(np.prod(shape, dtype=np.int64)), dtype=np.int64)
    _mul(
        _flat(qa.codes, shape),
        _flat(qb.codes, shape),
        _flat(lanes, shape),
        qa.q_zero_point(),
        qb.q_zero_point(),
        ref.mul_multiplier(qa.q_scale(), qb.q_scale(), scale),
        zero_point,
        relu,
        dtype.qmin,
        dtype.qmax,
        dtype != QINT32,
        out,
    )
    return per_tensor(out.reshape(shape), scale, zero_point, dtype)


@register("add_scalar", "numba")
def _add_scalar_kernel(ctx: Context, qa, other, relu, order):
    dtype = qa.dtype
    new_scale, new_zero, c_q, requantize = ref.add_scalar_qparams(qa, other)
    if not requantize:
        codes = np.maximum(qa.codes, new_zero) if relu else qa.codes
        return per_tensor(codes, new_scale, new_zero, dtype)
    out = np.empty(qa.size, dtype=np.int64)
    multiplier = f32(qa.q_scale()) * (np.float32(1.0) / f32(new_scale))
    _requantize_shifted(
        qa.codes.reshape(-1),
        unary_lanes(ctx, qa, order).reshape(-1),
        qa.q_zero_point(),
        c_q,
        multiplier,
        new_zero,
        relu,
        dtype.qmin,
        dtype.qmax,
        dtype != QINT32,
        out,
    )
    return per_tensor(out.reshape(qa.shape), new_scale, new_zero, dtype)


# mul_scalar only relabels or mirrors integer codes: the reference is already exact
# integer NumPy, so the numba backend shares it.
register("mul_scalar", "numba")(ref.mul_scalar_reference)


@register("cat", "numba")
def _cat_kernel(ctx: Context, qxs, dim, scale, zero_point, relu, orders):
    if not ref.cat_nhwc_fast_path(qxs, dim, orders):
        return ref.cat_reference(ctx, qxs, dim, scale, zero_point, relu, orders)
    dtype = qxs[0].dtype
    parts = []
    for q in qxs:
        if q.q_scale() == scale and q.q_zero_point() == zero_point and not relu:
            parts.append(q.codes.astype(np.int64))
            continue
        lanes = np.broadcast_to(nhwc_channel_lanes(q.shape[1], dtype).reshape(1, -1, 1, 1), q.shape)
        out = np.empty(q.size, dtype=np.int64)
        _requantize_unary(
            q.codes.reshape(-1),
            np.ascontiguousarray(lanes).reshape(-1),
            np.float32(q.q_scale()),
            q.q_zero_point(),
            np.float32(scale),
            zero_point,
            np.float32(1.0 / scale),
            relu,
            dtype.qmin,
            dtype.qmax,
            dtype == QINT32,
            indefinite_code(dtype == QINT32),
            out,
        )
        parts.append(out.reshape(q.shape))
    return per_tensor(np.concatenate(parts, axis=1), scale, zero_point, dtype)
