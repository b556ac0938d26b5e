"""Quantized normalization: ``layer_norm``, ``group_norm``, ``instance_norm``
(``quantized::layer_norm`` / ``group_norm`` / ``instance_norm``) and ``batch_norm``
(``quantized::batch_norm1d/2d/3d`` and their ``_relu`` fusions).

All engines run ATen's kernels (``QuantizedOpKernels.cpp``:
``quantized_normalize_kernel``, ``quantized_groupnorm_nhwc_kernel``,
``q_batch_norm_kernel``; ``qbatch_norm.cpp``: ``compute_fused_params``). The moments
are integer sums (float sums in the channels-last group norm for H*W >= 512), the
per-element affine is an FMA the compiler contracted, and the quantize differs
between vector body and scalar tail. ``docs/numerics/norm.md`` has every formula.
"""

from __future__ import annotations

import math

import numpy as np

from qemu import dispatch
from qemu.dtypes import QINT32, QDType
from qemu.numerics import aten_loops
from qemu.numerics.affine import dequantize_val
from qemu.numerics.float32 import f32, fma_f32, lrintf, trunc_f64_to_i64, wrap_i32
from qemu.ops.common import (
    check_bool,
    check_int,
    check_number,
    check_output_qparams,
    check_qtensor,
    layout,
    nhwc_channel_lanes,
    per_tensor,
    scalar_quantize,
    vec_quantize,
    vector_lanes_per_step,
)
from qemu.qtensor import QTensor
from qemu.quantize import check_float_input

# quantized_groupnorm_nhwc_kernel switches to per-thread float sums from this H*W on.
GROUPNORM_NHWC_FLOAT_SUMS_FROM = 512


def _check_params(value: object, argument: str, shape: tuple[int, ...]) -> np.ndarray | None:
    if value is None:
        return None
    array = check_float_input(value, argument)
    if array.shape != tuple(shape):
        raise ValueError(f"{argument}: expected shape {tuple(shape)}, got {array.shape}")
    return np.ascontiguousarray(array, dtype=np.float32)


def _check_eps(eps: object) -> float:
    value = check_number(eps, "eps")
    if not math.isfinite(value):
        raise ValueError(f"eps: expected a finite number, got {value!r}")
    return value


# -- moments -------------------------------------------------------------------------------


def _sum_of_squares(codes: np.ndarray, dtype: QDType) -> np.ndarray:
    """``hsum_sq`` per row: exact int64 for 8-bit types; for qint32 the AVX2 kernel
    accumulates ``x*x`` in 8 float lanes (contracted to an FMA), adds the lanes in
    order, then the ``len % 8`` tail one by one. GCC vectorized that tail loop: with 4
    or more left, the first 4 squares are rounded to float (``vmulps``) and then added
    in order; the rest (and a tail of 1 to 3) are FMAs (``vfmadd231ss``) -- as the
    AVX2 build of ``quantized_normalize_kernel`` in libtorch_cpu.so disassembles."""
    if dtype != QINT32:
        squares = codes.astype(np.int64) ** 2
        return squares.sum(axis=-1).astype(np.float32)
    rows, length = codes.shape
    body = length // 8 * 8
    values = codes.astype(np.float32)
    lanes = np.zeros((rows, 8), dtype=np.float32)
    for start in range(0, body, 8):
        block = values[:, start : start + 8]
        lanes = fma_f32(block, block, lanes)
    total = np.zeros(rows, dtype=np.float32)
    for k in range(8):
        total = total + lanes[:, k]
    rounded_squares = body + 4 if length - body >= 4 else body
    for i in range(body, rounded_squares):
        total = total + values[:, i] * values[:, i]
    for i in range(rounded_squares, length):
        total = fma_f32(values[:, i], values[:, i], total)
    return total


def row_moments(
    sums: np.ndarray, squares: np.ndarray, count: int, x_scale: float, x_zero_point: int, eps: float
) -> tuple[np.ndarray, np.ndarray]:
    """Mean (in input-scale units, zero point removed) and ``scale_x / sqrt(var + eps)``
    of each row from its sum and sum of squares, as ``quantized_normalize_kernel``
    computes them: ``m = f32(S1) / f32(N)``; ``mean = m - zp``;
    ``var = max(fma(-m, m, f32(S2) / f32(N)), 0)`` (GCC contracts ``a - m * m``);
    ``rstd = f32(double(s) / sqrt(double(f32(f32(var * s) * s)) + eps))``."""
    n = np.float32(count)
    m = f32(sums) / n
    mean = m - np.float32(x_zero_point)
    var = np.maximum(fma_f32(-m, m, f32(squares) / n), np.float32(0))
    s = np.float32(x_scale)
    with np.errstate(all="ignore"):
        spread = f32(var * s) * s
        rstd = f32(np.float64(s) / np.sqrt(spread.astype(np.float64) + eps))
    return mean, rstd


def _row_stats(rows: np.ndarray, x: QTensor, eps: float):
    sums = rows.astype(np.int64).sum(axis=-1)
    squares = _sum_of_squares(rows, x.dtype)
    return row_moments(sums, squares, rows.shape[-1], x.q_scale(), x.q_zero_point(), eps)


def fake_scale_dequantize(codes: np.ndarray, zero_point: int, vector) -> np.ndarray:
    """``q - zp`` with the fake scale 1: the vector ``fma(1, f32(q), -f32(zp))`` rounds
    once; the scalar ``dequantize_val(1, zp, q)`` is ``f32(int32(q - zp))``. They
    differ only for qint32."""
    vec = fma_f32(f32(codes), np.float32(1), -np.float32(zero_point))
    if vector is True:
        return vec
    scalar = dequantize_val(codes, 1.0, zero_point)
    return np.where(vector, vec, scalar)


# -- layer_norm ------------------------------------------------------------------------------


def layer_norm(
    input: QTensor,
    normalized_shape: tuple[int, ...] | list[int] | int,
    weight: np.ndarray | None = None,
    bias: np.ndarray | None = None,
    eps: float = 1e-5,
    output_scale: float = 1.0,
    output_zero_point: int = 0,
    *,
    memory_format: object = None,
    engine: str | None = None,
    backend: str | None = None,
) -> QTensor:
    """``torch.ops.quantized.layer_norm(input, normalized_shape, weight, bias, eps,
    output_scale, output_zero_point)`` (what ``nnq.LayerNorm`` runs).

    Examples
    --------
    >>> import qemu
    >>> x = qemu.QTensor.per_tensor([[0, 10, 20]], 0.1, 10, "quint8")
    >>> layer_norm(x, [3], None, None, 1e-5, 0.1, 10).int_repr().tolist()
    [[0, 10, 20]]
    """
    x = check_qtensor(input, "input")
    if isinstance(normalized_shape, (int, np.integer)):
        normalized_shape = (int(normalized_shape),)
    shape = tuple(check_int(d, "normalized_shape", 0) for d in normalized_shape)
    if not shape or len(shape) > x.ndim or x.shape[x.ndim - len(shape) :] != shape:
        raise ValueError(
            f"normalized_shape: expected the trailing dimensions of the input {x.shape}, "
            f"got {shape}"
        )
    gamma = _check_params(weight, "weight", shape)
    beta = _check_params(bias, "bias", shape)
    scale, zero_point = check_output_qparams(output_scale, output_zero_point, x.dtype, "output_")
    layout(memory_format, x.ndim)  # validated; layer_norm makes its input contiguous
    return dispatch.call(
        "layer_norm",
        x,
        shape,
        gamma,
        beta,
        _check_eps(eps),
        scale,
        zero_point,
        engine=engine,
        backend=backend,
    )


def layer_norm_rows(x: QTensor, shape: tuple[int, ...], eps: float):
    """``(rows, mean, rstd, lanes)`` of a layer norm: the codes as (rows, n), each
    row's moments (:func:`row_moments`) and which of the n elements the vector body
    computes (the rest are the scalar tail); ``None`` when there is no element."""
    n = int(np.prod(shape, dtype=np.int64))
    rows = x.codes.reshape(-1, n) if n else x.codes.reshape(0, 0)
    if rows.size == 0:
        return None
    mean, rstd = _row_stats(rows, x, eps)
    lanes = np.arange(n) < aten_loops.block_prefix(n, vector_lanes_per_step(x.dtype))
    return rows, mean, rstd, lanes


@dispatch.reference("layer_norm")
def layer_norm_reference(ctx, x, shape, gamma, beta, eps, scale, zero_point) -> QTensor:
    dtype = x.dtype
    prepared = layer_norm_rows(x, shape, eps)
    if prepared is None:
        return per_tensor(np.zeros(x.shape, np.int64), scale, zero_point, dtype)
    rows, mean, rstd, lanes = prepared
    dq = fake_scale_dequantize(rows, x.q_zero_point(), lanes)
    g = np.float32(1) if gamma is None else gamma.reshape(-1)
    b = np.float32(0) if beta is None else beta.reshape(-1)
    # y = fma(f32((dq - mean) * rstd), gamma, beta) in both paths (contracted).
    with np.errstate(all="ignore"):  # eps = 0 on a constant row: rstd = inf
        y = fma_f32(f32(dq - mean[:, None]) * rstd[:, None], g, b)
    inverse = np.float32(1.0) / f32(scale)
    codes = np.where(
        lanes,
        vec_quantize(y, f32(scale), inverse, zero_point, dtype),
        scalar_quantize(y, scale, zero_point, dtype),
    )
    return per_tensor(codes.reshape(x.shape), scale, zero_point, dtype)


# -- group_norm / instance_norm ------------------------------------------------------------------


def group_norm(
    input: QTensor,
    num_groups: int,
    weight: np.ndarray | None = None,
    bias: np.ndarray | None = None,
    eps: float = 1e-5,
    output_scale: float = 1.0,
    output_zero_point: int = 0,
    *,
    memory_format: object = None,
    engine: str | None = None,
    backend: str | None = None,
) -> QTensor:
    """``torch.ops.quantized.group_norm(input, num_groups, weight, bias, eps,
    output_scale, output_zero_point)`` (``nnq.GroupNorm``). A 4-D channels-last input
    takes the NHWC kernel.

    Examples
    --------
    >>> import qemu
    >>> x = qemu.QTensor.per_tensor([[[0, 20]]], 0.1, 10, "quint8")
    >>> group_norm(x, 1, None, None, 1e-5, 0.1, 10).int_repr().tolist()
    [[[0, 20]]]
    """
    x = check_qtensor(input, "input")
    groups = check_int(num_groups, "num_groups")
    return _group_norm_entry(
        x,
        groups,
        weight,
        bias,
        eps,
        output_scale,
        output_zero_point,
        memory_format,
        engine,
        backend,
    )


def instance_norm(
    input: QTensor,
    weight: np.ndarray | None = None,
    bias: np.ndarray | None = None,
    eps: float = 1e-5,
    output_scale: float = 1.0,
    output_zero_point: int = 0,
    *,
    memory_format: object = None,
    engine: str | None = None,
    backend: str | None = None,
) -> QTensor:
    """``torch.ops.quantized.instance_norm(input, weight, bias, eps, output_scale,
    output_zero_point)`` (``nnq.InstanceNorm1d/2d/3d``): group norm with one group
    per channel.

    Examples
    --------
    >>> import qemu
    >>> x = qemu.QTensor.per_tensor([[[0, 20]]], 0.1, 10, "quint8")
    >>> instance_norm(x, None, None, 1e-5, 0.1, 10).int_repr().tolist()
    [[[0, 20]]]
    """
    x = check_qtensor(input, "input")
    if x.ndim < 3:
        raise ValueError(f"input: expected at least 3 dimensions, got shape {x.shape}")
    if x.shape[1] <= 0:
        raise ValueError(f"input: expected a positive channel dimension, got shape {x.shape}")
    return _group_norm_entry(
        x,
        x.shape[1],
        weight,
        bias,
        eps,
        output_scale,
        output_zero_point,
        memory_format,
        engine,
        backend,
        instance=True,
    )


def _group_norm_entry(
    x,
    groups,
    weight,
    bias,
    eps,
    output_scale,
    output_zero_point,
    memory_format,
    engine,
    backend,
    instance=False,
):
    if x.ndim < 3:
        raise ValueError(f"input: expected at least 3 dimensions, got shape {x.shape}")
    if groups <= 0:
        raise ValueError(f"num_groups: expected a positive number, got {groups}")
    channels = x.shape[1]
    if channels % groups:
        raise ValueError(f"num_groups: {channels} channels are not divisible by {groups} groups")
    gamma = _check_params(weight, "weight", (channels,))
    beta = _check_params(bias, "bias", (channels,))
    scale, zero_point = check_output_qparams(output_scale, output_zero_point, x.dtype, "output_")
    order = layout(memory_format, x.ndim)
    channels_last = groupnorm_takes_nhwc(x.shape, order)
    if channels_last:
        check_groupnorm_nhwc_batches(x.shape, groups)
    return dispatch.call(
        "group_norm",
        x,
        groups,
        gamma,
        beta,
        _check_eps(eps),
        scale,
        zero_point,
        instance,
        order,
        engine=engine,
        backend=backend,
    )


def groupnorm_takes_nhwc(shape: tuple[int, ...], order: tuple) -> bool:
    """``qx.is_contiguous(ChannelsLast)`` in ``quantized_group_norm_impl`` -- also true
    for a contiguous 4-D tensor with ``H * W == 1`` or one channel."""
    return len(shape) == 4 and aten_loops.is_contiguous_as(
        shape, aten_loops.layout_strides(shape, order), aten_loops.CHANNELS_LAST
    )


def check_groupnorm_nhwc_batches(shape: tuple[int, ...], groups: int) -> None:
    """``quantized_groupnorm_nhwc_kernel`` (H*W < 512) walks the (batch, group) pairs
    with ``data_index_init(begin, n, N, g, G)`` where ``N`` is the element count per
    group, not the batch size: with more batches than that, batches past ``N`` are
    never written and torch returns uninitialized memory. qemu refuses."""
    batches, channels, height, width = shape
    per_group = channels // groups * height * width
    if height * width < GROUPNORM_NHWC_FLOAT_SUMS_FROM and batches > per_group > 0:
        raise ValueError(
            f"input: torch's channels-last group norm leaves batches {per_group}..{batches - 1} "
            f"uninitialized for shape {shape} with {groups} groups (it bounds the batch index "
            f"by the {per_group} elements per group); qemu refuses it"
        )


def _affine_params(gamma, beta, channels):
    g = np.ones(channels, np.float32) if gamma is None else gamma
    b = np.zeros(channels, np.float32) if beta is None else beta
    return g, b


@dispatch.reference("group_norm")
def group_norm_reference(ctx, x, groups, gamma, beta, eps, scale, zero_point, instance, order):
    dtype = x.dtype
    if x.size == 0:
        return per_tensor(np.zeros(x.shape, np.int64), scale, zero_point, dtype)
    if groupnorm_takes_nhwc(x.shape, order):
        return _group_norm_nhwc(ctx, x, groups, gamma, beta, eps, scale, zero_point)
    batches, channels = x.shape[:2]
    per_channel = int(np.prod(x.shape[2:], dtype=np.int64))
    grouped = x.codes.reshape(batches * groups, -1)
    mean, rstd = _row_stats(grouped, x, eps)
    g, b = _affine_params(gamma, beta, channels)
    codes = x.codes.reshape(batches, groups, channels // groups, per_channel)
    mean = mean.reshape(batches, groups, 1, 1)
    rstd = rstd.reshape(batches, groups, 1, 1)
    # gamma_p = f32(rstd * gamma_c); y = fma(f32(dq - mean), gamma_p, beta_c); every
    # element -- the per-channel remainder too, by a partial vector -- takes Q-VEC.
    dq = fake_scale_dequantize(codes, x.q_zero_point(), True)
    with np.errstate(all="ignore"):
        gamma_p = rstd * g.reshape(groups, -1, 1)
        y = fma_f32(f32(dq - mean), gamma_p, b.reshape(groups, -1, 1))
    inverse = np.float32(1.0) / f32(scale)
    out = vec_quantize(y, f32(scale), inverse, zero_point, dtype)
    return per_tensor(out.reshape(x.shape), scale, zero_point, dtype)


def groupnorm_nhwc_float_sums(pixels: np.ndarray, batches: int, threads: int):
    """Per-thread float sums of ``x`` and ``x*x`` per (batch, channel) over the pixels
    each thread of ``parallel_for(0, N*HxW, 1)`` handles, in pixel order; then the
    buffers of threads ``0..T-1`` as the kernel adds them. ``pixels`` is
    ``(N, HxW, C)``; returns ``(T, N, C)`` arrays for x and x*x."""
    n, hw, channels = pixels.shape
    total = n * hw
    flat = pixels.reshape(total, channels)
    count = max(threads, 1)
    sums = np.zeros((count, n, channels), np.float32)
    squares = np.zeros((count, n, channels), np.float32)
    for t, (begin, end) in enumerate(aten_loops.thread_chunks(total, count, grain=1)):
        for batch in range(begin // hw, (end - 1) // hw + 1):
            lo, hi = max(begin, batch * hw), min(end, (batch + 1) * hw)
            part = flat[lo:hi]
            sums[t, batch] = np.add.accumulate(part.astype(np.float32), axis=0, dtype=np.float32)[
                -1
            ]
            sq = wrap_i32(part.astype(np.int64) ** 2).astype(np.float32)  # int x * x
            squares[t, batch] = np.add.accumulate(sq, axis=0, dtype=np.float32)[-1]
    return sums, squares


def _group_norm_nhwc(ctx, x, groups, gamma, beta, eps, scale, zero_point) -> QTensor:
    dtype = x.dtype
    batches, channels, height, width = x.shape
    hw = height * width
    per_group = channels // groups
    count = per_group * hw
    pixels = np.transpose(x.codes, (0, 2, 3, 1)).reshape(batches, hw, channels)
    if hw < GROUPNORM_NHWC_FLOAT_SUMS_FROM:
        grouped = pixels.reshape(batches, hw, groups, per_group).transpose(0, 2, 1, 3)
        if dtype == QINT32:
            # Per pixel: l_sum_sq (int64) += hsum_sq(...) (float): the int64 goes to
            # float, the float sum is truncated back to int64.
            per_pixel = _sum_of_squares(grouped.reshape(-1, per_group), dtype)
            per_pixel = per_pixel.reshape(batches * groups, hw)
            squares = np.zeros(batches * groups, np.int64)
            for k in range(hw):
                total = f32(squares) + per_pixel[:, k]
                squares = trunc_f64_to_i64(total.astype(np.float64))
            sums = grouped.reshape(batches * groups, -1).astype(np.int64).sum(axis=-1)
            mean, rstd = row_moments(sums, squares, count, x.q_scale(), x.q_zero_point(), eps)
        else:
            mean, rstd = _row_stats(grouped.reshape(batches * groups, -1), x, eps)
    else:
        sums, squares = groupnorm_nhwc_float_sums(pixels, batches, ctx.threads)
        # mean_val += buffer[t][n][g*cpg + d] for t, then d: sequential float adds.
        sums = sums.reshape(-1, batches, groups, per_group).transpose(1, 2, 0, 3)
        squares = squares.reshape(-1, batches, groups, per_group).transpose(1, 2, 0, 3)
        s1 = np.add.accumulate(sums.reshape(batches, groups, -1), axis=-1, dtype=np.float32)[
            ..., -1
        ]
        s2 = np.add.accumulate(squares.reshape(batches, groups, -1), axis=-1, dtype=np.float32)[
            ..., -1
        ]
        mean, rstd = row_moments(s1, s2, count, x.q_scale(), x.q_zero_point(), eps)
    g, b = _affine_params(gamma, beta, channels)
    mean = mean.reshape(batches, groups, 1)
    rstd = rstd.reshape(batches, groups, 1)
    # scale_c = rstd * gamma_c; bias_c = fma(-scale_c, mean, beta_c) (contracted) -- but
    # without a weight GCC hoisted the loop-invariant product -rstd * mean out of the
    # channel loop, so with a bias it is rounded before beta_c is added (vmulss, vaddss
    # in every dtype's build of both paths of quantized_groupnorm_nhwc_kernel).
    with np.errstate(all="ignore"):
        channel_scale = rstd * g.reshape(groups, per_group)
        beta_c = b.reshape(groups, per_group)
        if gamma is None and beta is not None:
            channel_bias = f32(-rstd * mean) + beta_c
        else:
            channel_bias = fma_f32(-channel_scale, mean, beta_c)
    channel_scale = channel_scale.reshape(batches, 1, channels)
    channel_bias = channel_bias.reshape(batches, 1, channels)
    step = vector_lanes_per_step(dtype)
    block = per_group if hw < GROUPNORM_NHWC_FLOAT_SUMS_FROM else channels
    within = np.arange(channels) % block
    lanes = (within < aten_loops.block_prefix(block, step)).reshape(1, 1, channels)
    dq = fake_scale_dequantize(pixels, x.q_zero_point(), lanes)
    with np.errstate(all="ignore"):
        y = fma_f32(dq, channel_scale, channel_bias)
    inverse = np.float32(1.0) / f32(scale)
    codes = np.where(
        lanes,
        vec_quantize(y, f32(scale), inverse, zero_point, dtype),
        scalar_quantize(y, scale, zero_point, dtype),
    )
    codes = codes.reshape(batches, height, width, channels).transpose(0, 3, 1, 2)
    return per_tensor(codes, scale, zero_point, dtype)


# -- batch_norm ------------------------------------------------------------------------------


def batch_norm(
    input: QTensor,
    weight: np.ndarray | None,
    bias: np.ndarray | None,
    mean: np.ndarray,
    var: np.ndarray,
    eps: float,
    output_scale: float,
    output_zero_point: int,
    *,
    memory_format: object = None,
    engine: str | None = None,
    backend: str | None = None,
) -> QTensor:
    """``torch.ops.quantized.batch_norm1d/2d/3d`` (by the input's rank 2-3 / 4 / 5):
    ``(x - mean) / sqrt(var + eps) * weight + bias``, requantized.

    Examples
    --------
    >>> import numpy as np, qemu
    >>> x = qemu.QTensor.per_tensor([[1, 3]], 1.0, 0, "quint8")
    >>> one, zero = np.float32([1, 1]), np.float32([0, 0])
    >>> batch_norm(x, one, zero, zero, one, 0.0, 1.0, 0).int_repr().tolist()
    [[1, 3]]
    """
    return _batch_norm_entry(
        input,
        weight,
        bias,
        mean,
        var,
        eps,
        output_scale,
        output_zero_point,
        False,
        memory_format,
        engine,
        backend,
    )


def batch_norm_relu(
    input: QTensor,
    weight: np.ndarray | None,
    bias: np.ndarray | None,
    mean: np.ndarray,
    var: np.ndarray,
    eps: float,
    output_scale: float,
    output_zero_point: int,
    *,
    memory_format: object = None,
    engine: str | None = None,
    backend: str | None = None,
) -> QTensor:
    """``torch.ops.quantized.batch_norm1d/2d/3d_relu``.

    Examples
    --------
    >>> import numpy as np, qemu
    >>> x = qemu.QTensor.per_tensor([[1, 3]], 1.0, 2, "quint8")
    >>> one, zero = np.float32([1, 1]), np.float32([0, 0])
    >>> batch_norm_relu(x, one, zero, zero, one, 0.0, 1.0, 2).int_repr().tolist()
    [[2, 3]]
    """
    return _batch_norm_entry(
        input,
        weight,
        bias,
        mean,
        var,
        eps,
        output_scale,
        output_zero_point,
        True,
        memory_format,
        engine,
        backend,
    )


def _batch_norm_entry(
    input,
    weight,
    bias,
    mean,
    var,
    eps,
    output_scale,
    output_zero_point,
    relu,
    memory_format,
    engine,
    backend,
):
    x = check_qtensor(input, "input")
    if not 2 <= x.ndim <= 5:
        raise ValueError(f"input: expected 2 to 5 dimensions, got shape {x.shape}")
    channels = x.shape[1]
    params = [
        _check_params(value, name, (channels,))
        for value, name in ((weight, "weight"), (bias, "bias"), (mean, "mean"), (var, "var"))
    ]
    if params[2] is None or params[3] is None:
        raise ValueError("mean, var: the running statistics are required")
    scale, zero_point = check_output_qparams(output_scale, output_zero_point, x.dtype, "output_")
    order = layout(memory_format, x.ndim)
    return dispatch.call(
        "batch_norm",
        x,
        *params,
        _check_eps(eps),
        scale,
        zero_point,
        check_bool(relu, "relu"),
        order,
        engine=engine,
        backend=backend,
    )


def batch_norm_fused_params(weight, bias, mean, var, eps, input_scale, output_scale):
    """``qbatch_norm.cpp::compute_fused_params`` (built without FMA):
    ``inv_sigma = f32(1.0 / double(sqrtf(var + f32(eps))))``,
    ``alpha = f32(double(f32(inv_sigma * w)) * (s / so))``,
    ``beta = f32(double(f32(b - f32(f32(mean * inv_sigma) * w))) / so)``."""
    channels = mean.shape[0]
    w = np.ones(channels, np.float32) if weight is None else weight
    b = np.zeros(channels, np.float32) if bias is None else bias
    with np.errstate(all="ignore"):
        inv_sigma = f32(1.0 / np.sqrt(var + np.float32(eps)).astype(np.float64))
        alpha = f32(f32(inv_sigma * w).astype(np.float64) * (input_scale / output_scale))
        beta = f32(f32(b - f32(mean * inv_sigma) * w).astype(np.float64) / output_scale)
    return alpha, beta


@dispatch.reference("batch_norm")
def batch_norm_reference(ctx, x, weight, bias, mean, var, eps, scale, zero_point, relu, order):
    dtype = x.dtype
    if x.size == 0:  # torch returns the input's clone: same codes and qparams
        return per_tensor(x.codes, x.q_scale(), x.q_zero_point(), dtype)
    alpha, beta = batch_norm_fused_params(weight, bias, mean, var, eps, x.q_scale(), scale)
    channels = x.shape[1]
    pixels = np.moveaxis(x.codes, 1, -1)
    lanes = nhwc_channel_lanes(channels, dtype)
    # Vector channels: fma(1, f32(q), -f32(zp)); scalar channels: the int64
    # difference q - zp converted to float (no int32 wrap).
    vector_dq = fake_scale_dequantize(pixels, x.q_zero_point(), True)
    scalar_dq = f32(pixels.astype(np.int64) - x.q_zero_point())
    with np.errstate(all="ignore"):
        vector_y = fma_f32(alpha, vector_dq, beta)
        scalar_y = fma_f32(alpha, scalar_dq, beta)
    # Vector: Vectorized::quantize with scale and inverse 1 (Q-VEC: rint, then + zp;
    # qint32: quantize_val). Scalar channels: zp + lrintf(y) in int64, then clamp.
    vector = vec_quantize(vector_y, np.float32(1), np.float32(1), zero_point, dtype)
    scalar = np.clip(lrintf(scalar_y) + np.int64(zero_point), dtype.qmin, dtype.qmax)
    if relu:
        vector = np.maximum(vector, zero_point)
        scalar = np.maximum(scalar, zero_point)
    codes = np.moveaxis(np.where(lanes, vector, scalar), -1, 1)
    return per_tensor(codes, scale, zero_point, dtype)


__all__ = [
    "batch_norm",
    "batch_norm_relu",
    "group_norm",
    "instance_norm",
    "layer_norm",
]
