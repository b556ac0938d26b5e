"""Static int8 convolutions on numba: :func:`qemu.ops.conv.run_conv` with fbgemm's
depthwise kernel (tap pairs in saturating int16, on every host) compiled from the
padded activations, and the compute steps of :mod:`qemu.backends.numba_backend.linear`."""

from __future__ import annotations

import itertools

import numpy as np
from numba import njit, prange
from qemu.backends.numba_backend.int8gemm import PARALLEL_WORK
from qemu.backends.numba_backend.linear import NUMBA_STEPS

from qemu.dispatch import Context, register
from qemu.numerics.float32 import wrap_i32
from qemu.ops.conv import forward_padding, padded_channels_last, run_conv
from qemu.qtensor import QTensor


@njit(cache=True)
def _depthwise_row(row, flat, shape, codes, tiled, offsets, stride, output_size, multiplier,
                   shift, with_sums, zero_points, acc):  # fmt: skip
    """One output row (n, od, oh) of :func:`qemu.ops.conv.depthwise_accumulators`.

    ``flat`` is the zero-point-padded (N, D, H, W, C) activations flattened, ``offsets``
    each tap's element offset in it (taps in raster order), ``codes`` (T, OC) int16 and
    ``tiled`` the same repeated for every output column (T, OW * OC), ``shift`` the
    int32 ``za * col_offsets``. The loops run tap pair, output column,
    channel, so the innermost loop is a contiguous vector loop; the arithmetic is
    int32, wrapping like the kernel's. The int16 activation sums (``vpaddsw``) only add
    values >= 0, so saturating each step equals saturating the total."""
    _, depth, height, width, channels = shape
    tap_count, out_channels = codes.shape
    out_d, out_h, out_w = output_size
    n, rest = divmod(np.int64(row), out_d * out_h)  # prange's index can be unsigned
    od, oh = divmod(rest, out_h)
    row_base = (((n * depth + od * stride[0]) * height + oh * stride[1]) * width) * channels
    column_step = stride[2] * channels
    raw = acc[row * out_w : (row + 1) * out_w]
    raw[:] = 0
    sums = np.zeros((out_w, channels), dtype=np.int32)
    if column_step == channels and multiplier == 1:
        # Stride 1, one output channel per input: a tap's whole output row reads one
        # contiguous run of the input, so each tap pair is a single long vector loop.
        span = out_w * channels
        flat_raw = raw.reshape(span)
        for first in range(0, tap_count, 2):
            paired = first + 1 < tap_count
            second = first + 1 if paired else first
            a0 = flat[row_base + offsets[first] : row_base + offsets[first] + span]
            a1 = flat[row_base + offsets[second] : row_base + offsets[second] + span]
            w0 = tiled[first]
            w1 = tiled[second]
            for i in range(span):
                pair = np.int32(a0[i]) * np.int32(w0[i])
                if paired:
                    pair += np.int32(a1[i]) * np.int32(w1[i])
                flat_raw[i] += min(max(pair, np.int32(-32768)), np.int32(32767))
            if with_sums:
                flat_sums = sums.reshape(span)
                for i in range(span):
                    flat_sums[i] += np.int32(a0[i])
                    if paired:
                        flat_sums[i] += np.int32(a1[i])
        tap_count = 0  # done
    for first in range(0, tap_count, 2):
        paired = first + 1 < tap_count  # an odd last tap pairs with zero
        second = first + 1 if paired else first
        w0 = codes[first]
        w1 = codes[second]
        for ow in range(out_w):
            start0 = row_base + ow * column_step + offsets[first]
            start1 = row_base + ow * column_step + offsets[second]
            a0 = flat[start0 : start0 + channels]
            a1 = flat[start1 : start1 + channels]
            out = raw[ow]
            if multiplier == 1:
                for c in range(channels):
                    pair = np.int32(a0[c]) * np.int32(w0[c])
                    if paired:
                        pair += np.int32(a1[c]) * np.int32(w1[c])
                    out[c] += min(max(pair, np.int32(-32768)), np.int32(32767))
            else:  # two output channels per input channel: oc = 2c + j
                for c in range(channels):
                    for j in range(2):
                        pair = np.int32(a0[c]) * np.int32(w0[2 * c + j])
                        if paired:
                            pair += np.int32(a1[c]) * np.int32(w1[2 * c + j])
                        out[2 * c + j] += min(max(pair, np.int32(-32768)), np.int32(32767))
            if with_sums:
                total = sums[ow]
                for c in range(channels):
                    total[c] += np.int32(a0[c])
                    if paired:
                        total[c] += np.int32(a1[c])
    for ow in range(out_w):
        out = raw[ow]
        for oc in range(out_channels):
            out[oc] -= shift[oc]
        if with_sums:
            for oc in range(out_channels):
                activation_sum = min(sums[ow, oc // multiplier], 32767)
                out[oc] -= np.int32(activation_sum) * zero_points[oc]


@njit(cache=True)
def _depthwise_serial(flat, shape, codes, tiled, offsets, stride, output_size, multiplier, shift,
                      with_sums, zero_points):  # fmt: skip
    rows = shape[0] * output_size[0] * output_size[1]
    acc = np.empty((rows * output_size[2], codes.shape[1]), dtype=np.int32)
    for row in range(rows):
        _depthwise_row(row, flat, shape, codes, tiled, offsets, stride, output_size,
                       multiplier, shift, with_sums, zero_points, acc)  # fmt: skip
    return acc


@njit(cache=True, parallel=True)
def _depthwise_parallel(flat, shape, codes, tiled, offsets, stride, output_size, multiplier,
                        shift, with_sums, zero_points):  # fmt: skip
    rows = shape[0] * output_size[0] * output_size[1]
    acc = np.empty((rows * output_size[2], codes.shape[1]), dtype=np.int32)
    for row in prange(rows):
        _depthwise_row(row, flat, shape, codes, tiled, offsets, stride, output_size,
                       multiplier, shift, with_sums, zero_points, acc)  # fmt: skip
    return acc


def depthwise_accumulators(x, packed, zero_point, geometry, kernel, output_size) -> np.ndarray:
    """:func:`qemu.ops.conv.depthwise_accumulators`, compiled: int32 (N * P, OC)."""
    before, after = forward_padding(geometry, x.shape[2:], kernel, output_size)
    padded = padded_channels_last(x, zero_point, before, after)
    lead = 3 - len(kernel)  # 2-D as 3-D with a depth of 1
    padded = padded.reshape(padded.shape[:1] + (1,) * lead + padded.shape[1:])
    _, depth, height, width, channels = padded.shape
    taps = np.array(list(itertools.product(*(range(k) for k in (1,) * lead + tuple(kernel)))))
    offsets = (((taps[:, 0] * height + taps[:, 1]) * width + taps[:, 2]) * channels).astype(
        np.int64
    )
    codes = np.ascontiguousarray(packed.codes.reshape(-1, len(taps)).T, dtype=np.int16)
    work = x.shape[0] * int(np.prod(output_size)) * codes.size
    kernel_fn = _depthwise_serial if work < PARALLEL_WORK else _depthwise_parallel
    return kernel_fn(
        padded.reshape(-1),
        np.array(padded.shape, dtype=np.int64),
        codes,
        np.tile(codes, (1, output_size[-1])),
        offsets,
        np.array((1,) * lead + geometry.stride, dtype=np.int64),
        np.array((1,) * lead + tuple(output_size), dtype=np.int64),
        codes.shape[1] // channels,
        wrap_i32(int(zero_point) * packed.col_offsets),
        bool(packed.zero_points.any()),
        wrap_i32(packed.zero_points),
    )


@register("conv", "numba")
def _conv(ctx: Context, *args) -> QTensor:
    return run_conv(NUMBA_STEPS, depthwise_accumulators, ctx, *args)
