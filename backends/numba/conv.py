"""Static int8 convolutions on numba: fbgemm's depthwise kernel (tap pairs in saturating
int16, on every host) compiled straight from the padded activations, the
pair-saturated GEMM and the requantization compiled; the exact sums through the same
float32 BLAS as the reference; the direct ConvTranspose2d model shared with it."""

from __future__ import annotations

import itertools

import numpy as np
from numba import njit, prange
from qemu.backends.numba.linear import accumulators, fbgemm_output, qnnpack_output

from qemu.dispatch import Context, register
from qemu.numerics.float32 import wrap_i32
from qemu.ops.conv import (
    ConvGeometry,
    conv_problem,
    directconv_accumulators,
    fbgemm_conv_path,
    finish_conv,
    gather_columns,
    grouped_columns,
    prepack_fbgemm_conv,
    prepack_qnnpack_conv,
)
from qemu.ops.linear import qnnpack_int32_bias
from qemu.qtensor import QTensor


@njit(cache=True, parallel=True)
def depthwise_accumulators(padded, codes, taps, stride, output_size, multiplier, zero_point,
                           col_offsets, zero_points):  # fmt: skip
    """:func:`qemu.ops.conv.depthwise_accumulators` from the zero-point-padded
    activations (N, D, H, W, C) uint8; ``taps`` (T, 3) holds each tap's (t, h, w) offset
    in raster order. Gives int64 (N * P, OC) holding int32 values."""
    batch = padded.shape[0]
    channels = padded.shape[4]
    out_channels, tap_count = codes.shape
    out_d, out_h, out_w = output_size
    positions = batch * out_d * out_h * out_w
    acc = np.empty((positions, out_channels), dtype=np.int64)
    for index in prange(positions):
        position = np.int64(index)  # prange's index can be unsigned; keep int64 arithmetic
        n, rest = divmod(position, out_d * out_h * out_w)
        od, rest = divmod(rest, out_h * out_w)
        oh, ow = divmod(rest, out_w)
        d0, h0, w0 = od * stride[0], oh * stride[1], ow * stride[2]
        raw = np.zeros(out_channels, dtype=np.int32)
        sums = np.zeros(channels, dtype=np.int32)
        for first in range(0, tap_count, 2):
            a0 = padded[n, d0 + taps[first, 0], h0 + taps[first, 1], w0 + taps[first, 2]]
            if first + 1 < tap_count:
                second = first + 1
                a1 = padded[n, d0 + taps[second, 0], h0 + taps[second, 1], w0 + taps[second, 2]]
                for oc in range(out_channels):
                    c = oc // multiplier
                    pair = np.int32(a0[c]) * codes[oc, first] + np.int32(a1[c]) * codes[oc, second]
                    raw[oc] += min(max(pair, -32768), 32767)
                for c in range(channels):
                    sums[c] = min(sums[c] + np.int32(a0[c]) + np.int32(a1[c]), 32767)
            else:
                for oc in range(out_channels):
                    pair = np.int32(a0[oc // multiplier]) * codes[oc, first]
                    raw[oc] += min(max(pair, -32768), 32767)
                for c in range(channels):
                    sums[c] = min(sums[c] + np.int32(a0[c]), 32767)
        for oc in range(out_channels):
            value = (
                np.int64(raw[oc])
                - zero_point * col_offsets[oc]
                - np.int64(sums[oc // multiplier]) * zero_points[oc]
            )
            acc[position, oc] = np.int64(np.int32(value))  # C int32 wraparound
    return acc


def _depthwise(x, packed, zero_point, geometry, kernel, output_size) -> np.ndarray:
    dims = len(kernel)
    lead = 3 - dims  # 2-D as 3-D with a depth of 1
    padding = (0,) * lead + geometry.padding
    stride = np.array((1,) * lead + geometry.stride, dtype=np.int64)
    spatial = (1,) * lead + x.shape[2:]
    padded = np.full(
        (x.shape[0],) + tuple(s + 2 * p for s, p in zip(spatial, padding, strict=True))
        + (x.shape[1],),
        zero_point,
        dtype=np.uint8,
    )  # fmt: skip
    inner = tuple(slice(p, p + s) for s, p in zip(spatial, padding, strict=True))
    padded[(slice(None), *inner)] = np.moveaxis(x, 1, -1).reshape(
        (x.shape[0],) + spatial + (x.shape[1],)
    )
    taps = np.array(list(itertools.product(*(range(k) for k in (1,) * lead + kernel))))
    codes = packed.codes.reshape(-1, taps.shape[0]).astype(np.int32)
    return depthwise_accumulators(
        padded,
        codes,
        taps.astype(np.int64),
        stride,
        np.array((1,) * lead + tuple(output_size), dtype=np.int64),
        codes.shape[0] // x.shape[1],
        np.int64(zero_point),
        packed.col_offsets,
        packed.zero_points,
    )


@register("conv", "numba")
def _conv(
    ctx: Context,
    input: QTensor,
    weight: QTensor,
    bias: np.ndarray | None,
    transposed: bool,
    stride: tuple[int, ...],
    padding: tuple[int, ...],
    output_padding: tuple[int, ...],
    dilation: tuple[int, ...],
    groups: int,
    scale: float,
    zero_point: int,
    relu: bool,
) -> QTensor:
    geometry = ConvGeometry(transposed, stride, padding, output_padding, dilation, groups)
    x, kernel, output_size = conv_problem(input, weight, geometry)
    za = input.q_zero_point()
    if ctx.engine.is_qnnpack:
        packed = prepack_qnnpack_conv(weight, groups, transposed)
        columns = grouped_columns(gather_columns(x, za, geometry, kernel, output_size), groups)
        acc = accumulators(columns, packed, za, False)
        acc = wrap_i32(acc + qnnpack_int32_bias(packed, bias, input.q_scale()))
        codes = qnnpack_output(acc, packed, input.q_scale(), scale, zero_point, relu)
        return finish_conv(codes, input, output_size, scale, zero_point)
    packed = prepack_fbgemm_conv(weight, groups, transposed)
    out_channels = packed.codes.shape[0] * packed.codes.shape[1]
    path = fbgemm_conv_path(geometry, x.shape[1], out_channels, kernel)
    if path == "depthwise":
        acc = _depthwise(x, packed, za, geometry, kernel, output_size)
    elif path == "directconv" and x.shape[0] == 1:
        acc = directconv_accumulators(x, packed, weight, za, geometry, output_size)
    else:
        columns = grouped_columns(gather_columns(x, za, geometry, kernel, output_size), groups)
        acc = accumulators(columns, packed, za, ctx.engine.saturating_int8_gemm)
    codes = fbgemm_output(acc, packed, input.q_scale(), bias, scale, zero_point, relu)
    return finish_conv(codes, input, output_size, scale, zero_point)
