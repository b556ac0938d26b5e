"""Static int8 convolutions on numba: :func:`qemu.ops.conv.run_conv` with fbgemm's
depthwise kernel (tap pairs in saturating int16, on every host) and its requantization
fused in one compiled pass, and the compute steps of
:mod:`qemu.backends.numba_backend.linear`."""

from __future__ import annotations

import functools
import itertools

import numpy as np
from numba import njit, prange
from qemu.backends.numba_backend.int8gemm import PARALLEL_WORK
from qemu.backends.numba_backend.linear import NUMBA_STEPS
from qemu.backends.numba_backend.primitives import cvt_f32_to_i32, fmaf
from qemu.backends.numba_backend.requantize import saturate_to_quint8

from qemu.dispatch import Context, register
from qemu.numerics.float32 import wrap_i32
from qemu.numerics.requantize import fbgemm_requantization_params
from qemu.ops.conv import forward_padding, run_conv
from qemu.qtensor import QTensor

# The tap-pair loops below are float32 arithmetic on integers it holds exactly: a product
# is below 2^15 in magnitude, a pair sum below 2^16, an accumulator a sum of at most 172
# int16 values (343 taps) below 2^23, an activation sum at most 343 * 255. (numba would
# widen int32 products to int64, half the vector lanes.) Each is inlined with a constant
# ``step`` (the stride, 1 or 2) so that it vectorizes over the output row.


@njit(cache=True, inline="always")
def _saturated_pair(a0, w0, a1, w1):
    """``vpmaddubsw``: ``sat16(a0 w0 + a1 w1)``."""
    pair = fmaf(np.float32(a1), w1, np.float32(a0) * w0)
    return min(max(pair, np.float32(-32768)), np.float32(32767))


@njit(cache=True, inline="always")
def _add_tap_pair(raw, a0, w0, a1, w1, step):
    """``raw[ow] += sat16(a0[ow * step] w0 + a1[ow * step] w1)``."""
    for ow in range(raw.size):
        raw[ow] += _saturated_pair(a0[ow * step], w0, a1[ow * step], w1)


@njit(cache=True, inline="always")
def _add_two_tap_pairs(raw, a0, w0, a1, w1, a2, w2, a3, w3, step):
    """:func:`_add_tap_pair` for two pairs in one pass over ``raw``."""
    for ow in range(raw.size):
        raw[ow] += _saturated_pair(a0[ow * step], w0, a1[ow * step], w1) + _saturated_pair(
            a2[ow * step], w2, a3[ow * step], w3
        )


@njit(cache=True, inline="always")
def _add_activations(sums, a, step):
    """``sums[ow] += a[ow * step]``."""
    for ow in range(sums.size):
        sums[ow] += np.float32(a[ow * step])


@njit(cache=True)
def _depthwise_planes(first_plane, last_plane, x, input_zero_point, codes, tap_offsets, stride,
                      before, padded_size, rows, shift, with_sums, zero_points, addends,
                      factors, multiplier, output_zero_point, lower, out):  # fmt: skip
    """The outputs of input planes ``first_plane`` to ``last_plane`` (plane ``n * C + c``),
    output channels ``oc = c * m + j`` of :func:`qemu.ops.conv.depthwise_output`, into
    ``out`` (N, OC, OD, OH, OW); ``codes`` are the weights as float32 (C, m, T).

    Each plane is copied into a zero-point padded buffer (what out-of-image taps read;
    ``tap_offsets`` index it). Output rows are then accumulated ``rows`` at a time (more
    than 1 only where the height and width strides are equal: output (oh, ow) then
    reads ``stride * (oh * padded_w + ow) + tap offset``, one arithmetic run over the
    rows with ``padded_w - OW`` unused positions between them), tap pair by tap pair,
    so that the innermost loops are contiguous vector loops, and requantized. The int16
    activation sums (``vpaddsw``) only add values >= 0, so saturating each step equals
    saturating the total; the zero-point corrections wrap in int32 like the kernel's.
    The buffers are allocated once for all the planes: the padding keeps the zero point,
    only the image part is copied anew."""
    channels = x.shape[1]
    multiplier_count, tap_count = codes.shape[1:]
    out_d, out_h, out_w = out.shape[2:]
    padded_d, padded_h, padded_w = padded_size
    padded = np.full(padded_d * padded_h * padded_w, input_zero_point, dtype=np.uint8)
    raw_buffer = np.empty((rows - 1) * padded_w + out_w, dtype=np.float32)
    sums_buffer = np.empty_like(raw_buffer)
    for plane in range(first_plane, last_plane):
        n, c = divmod(plane, channels)
        _depthwise_plane(n, c, x, padded, raw_buffer, sums_buffer, codes, tap_offsets, stride,
                         before, padded_size, rows, shift, with_sums, zero_points, addends,
                         factors, multiplier, output_zero_point, lower, out)  # fmt: skip


@njit(cache=True)
def _depthwise_plane(n, c, x, padded, raw_buffer, sums_buffer, codes, tap_offsets, stride,
                     before, padded_size, rows, shift, with_sums, zero_points, addends, factors,
                     multiplier, output_zero_point, lower, out):  # fmt: skip
    """Plane (n, c) of :func:`_depthwise_planes`."""
    multiplier_count, tap_count = codes.shape[1:]
    out_d, out_h, out_w = out.shape[2:]
    _, padded_h, padded_w = padded_size
    depth, height, width = x.shape[2:]
    for d in range(depth):
        for h in range(height):
            source = x[n, c, d, h]
            start = ((before[0] + d) * padded_h + before[1] + h) * padded_w + before[2]
            target = padded[start : start + width]
            for w in range(width):
                target[w] = source[w]
    for j in range(multiplier_count):
        oc = c * multiplier_count + j
        weights = codes[c, j]
        for od in range(out_d):
            for first_row in range(0, out_h, rows):
                pass_rows = min(rows, out_h - first_row)
                span = (pass_rows - 1) * padded_w + out_w  # the output positions of a pass
                raw = raw_buffer[:span]
                sums = sums_buffer[:span]
                start = (od * stride[0] * padded_h + first_row * stride[1]) * padded_w
                raw[:] = 0
                t = 0
                while t + 3 < tap_count:  # two pairs at a time: half the passes over raw
                    a0 = padded[start + tap_offsets[t] :]
                    a1 = padded[start + tap_offsets[t + 1] :]
                    a2 = padded[start + tap_offsets[t + 2] :]
                    a3 = padded[start + tap_offsets[t + 3] :]
                    w0, w1, w2, w3 = weights[t], weights[t + 1], weights[t + 2], weights[t + 3]
                    if stride[2] == 1:
                        _add_two_tap_pairs(raw, a0, w0, a1, w1, a2, w2, a3, w3, 1)
                    else:
                        _add_two_tap_pairs(raw, a0, w0, a1, w1, a2, w2, a3, w3, 2)
                    t += 4
                while t < tap_count:  # the last pair; an odd last tap pairs with zero
                    paired = t + 1 < tap_count
                    a0 = padded[start + tap_offsets[t] :]
                    a1 = padded[start + tap_offsets[t + 1 if paired else t] :]
                    w1 = weights[t + 1] if paired else np.float32(0)
                    if stride[2] == 1:
                        _add_tap_pair(raw, a0, weights[t], a1, w1, 1)
                    else:
                        _add_tap_pair(raw, a0, weights[t], a1, w1, 2)
                    t += 2
                if with_sums:
                    sums[:] = 0
                    for t in range(tap_count):
                        a = padded[start + tap_offsets[t] :]
                        if stride[2] == 1:
                            _add_activations(sums, a, 1)
                        else:
                            _add_activations(sums, a, 2)
                for r in range(pass_rows):
                    row = out[n, oc, od, first_row + r]
                    raw_row = raw[r * padded_w :]
                    sums_row = sums[r * padded_w :]
                    for ow in range(out_w):
                        acc = np.int32(raw_row[ow]) - shift[oc]
                        if with_sums:
                            acc -= np.int32(min(sums_row[ow], np.float32(32767))) * zero_points[oc]
                        value = fmaf(addends[oc], factors[oc], np.float32(np.int32(acc)))
                        code = cvt_f32_to_i32(value * multiplier[oc])
                        row[ow] = saturate_to_quint8(code, output_zero_point, lower, 255)


@njit(cache=True, parallel=True)
def _depthwise_parallel(x, input_zero_point, codes, tap_offsets, stride, before, padded_size, rows,
                        shift, with_sums, zero_points, addends, factors, multiplier,
                        output_zero_point, lower, out):  # fmt: skip
    """:func:`_depthwise_planes` over blocks of planes in parallel, a block's buffers
    allocated once."""
    planes = x.shape[0] * x.shape[1]
    block = 16
    for index in prange((planes + block - 1) // block):
        first = np.int64(index) * block  # prange's index can be unsigned
        _depthwise_planes(first, min(first + block, planes), x, input_zero_point, codes,
                          tap_offsets, stride, before, padded_size, rows, shift, with_sums,
                          zero_points, addends, factors, multiplier, output_zero_point, lower,
                          out)  # fmt: skip


def _requantization_operands(packed, input_scale, bias, scale):
    """Per output channel ``(addend, factor, multiplier)``, float32, such that
    ``code = quint8(cvtps2dq(fmaf(addend, factor, f32(acc)) * multiplier))`` is
    :func:`qemu.numerics.requantize.requantize_fbgemm`: per-tensor the kernel's
    ``fma(bias, f32(1 / double(ats)), acc)``; per-channel ``acc + f32(bias / ats)``,
    which ``fmaf(bias / ats, 1, acc)`` rounds once the same way; no bias
    ``fmaf(0, 1, acc) = acc``. One branch-free formula keeps the row loop vectorized."""
    out_channels = packed.codes.shape[0] * packed.codes.shape[1]
    act_times_w_scale, multiplier = fbgemm_requantization_params(
        input_scale, packed.scales if packed.per_channel else packed.scales[:1], scale
    )
    ones = np.ones(out_channels, dtype=np.float32)
    if bias is None:
        addends, factors = np.zeros(out_channels, dtype=np.float32), ones
    elif packed.per_channel:
        with np.errstate(all="ignore"):  # torch lets inf / NaN through
            addends, factors = bias / act_times_w_scale, ones
    else:
        reciprocal = np.float32(1.0 / np.float64(act_times_w_scale[0]))
        addends, factors = bias, ones * reciprocal
    return addends, factors, np.ascontiguousarray(np.broadcast_to(multiplier, out_channels))


def depthwise_output(x, packed, input_zero_point, input_scale, bias, scale, zero_point, relu,
                     geometry, kernel, output_size) -> np.ndarray:  # fmt: skip
    """:func:`qemu.ops.conv.depthwise_output` compiled, the accumulation and the
    requantization in one pass: uint8 (N, OC, *O)."""
    lead = 3 - len(kernel)  # 2-D as 3-D with a depth of 1
    x5 = x.reshape(x.shape[:2] + (1,) * lead + x.shape[2:])
    before, after = forward_padding(geometry, x.shape[2:], kernel, output_size)
    before = (0,) * lead + tuple(before)
    after = (0,) * lead + tuple(after)
    padded_size = [s + b + a for s, b, a in zip(x5.shape[2:], before, after, strict=True)]
    taps = np.array(list(itertools.product(*(range(k) for k in (1,) * lead + tuple(kernel)))))
    tap_offsets = (taps[:, 0] * padded_size[1] + taps[:, 1]) * padded_size[2] + taps[:, 2]
    addends, factors, multiplier = _requantization_operands(packed, input_scale, bias, scale)
    codes = packed.codes  # (C, m, T): oc = c * m + j
    out_channels = codes.shape[0] * codes.shape[1]
    out = np.empty((x.shape[0], out_channels, *((1,) * lead + tuple(output_size))), np.uint8)
    # Several output rows per pass where the strides allow it: fewer passes, each still
    # within the L1 cache (about 512 positions). A stride of 2 leaves about half of the
    # positions of a pass unused, worth it only for short rows.
    height_stride, width_stride = geometry.stride[-2:]
    padded_w = padded_size[-1]
    rows = 1
    if height_stride == width_stride and (width_stride == 1 or output_size[-1] <= 16):
        rows = min(max(512 // padded_w, 1), output_size[-2])
    work = x.shape[0] * int(np.prod(output_size)) * codes.size
    planes = x.shape[0] * x.shape[1]
    serial = functools.partial(_depthwise_planes, 0, planes)
    kernel_fn = serial if work < PARALLEL_WORK else _depthwise_parallel
    kernel_fn(
        x5,
        int(input_zero_point),
        codes.astype(np.float32),
        tap_offsets.astype(np.int64),
        np.array((1,) * lead + geometry.stride, dtype=np.int64),
        np.array(before, dtype=np.int64),
        np.array(padded_size, dtype=np.int64),
        rows,
        wrap_i32(int(input_zero_point) * packed.col_offsets),
        bool(packed.zero_points.any()),
        wrap_i32(packed.zero_points),
        addends,
        factors,
        multiplier,
        int(zero_point),
        int(zero_point) if relu else 0,
        out,
    )
    return out.reshape(out.shape[:2] + tuple(output_size))


@register("conv", "numba")
def _conv(ctx: Context, *args) -> QTensor:
    return run_conv(NUMBA_STEPS, depthwise_output, ctx, *args)
