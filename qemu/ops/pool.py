"""Quantized pooling: ``avg_pool2d``, ``avg_pool3d``, ``adaptive_avg_pool2d``,
``adaptive_avg_pool3d``, ``max_pool1d``, ``max_pool2d`` (what
``torch.ao.nn.quantized.functional`` calls on quantized tensors).

ATen's kernels (``q_avgpool.cpp``, ``q_avgpool3d.cpp``, ``AdaptiveAveragePooling.cpp``,
``qpool.cpp`` and the NHWC kernels of ``QuantizedOpKernels.cpp``) on every engine,
except quint8 under ``qnnpack``: QNNPACK's average pooling (also behind adaptive
pooling when the sizes divide) and max pooling. Outputs keep the input's qparams.
``docs/numerics/pool.md`` has every formula.
"""

from __future__ import annotations

import math

import numpy as np

from qemu import dispatch
from qemu.dtypes import QINT32, QUINT8
from qemu.numerics import aten_loops, qnnpack_lut
from qemu.numerics.affine import dequantize_val, quantize_val
from qemu.numerics.float32 import cvt_f32_to_i32, f32, fma_f32, wrap_i32
from qemu.ops.common import (
    check_bool,
    check_int,
    check_qtensor,
    layout,
    per_tensor,
    vec_quantize,
)
from qemu.qtensor import QTensor
from qemu.quantize import quantize_per_tensor_codes

# -- arguments and windows ----------------------------------------------------------------


def _tuple(value: object, count: int, argument: str, allow_empty: bool = False) -> tuple | None:
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return (int(value),) * count
    if value is None or (allow_empty and isinstance(value, (tuple, list)) and not value):
        return None
    if not isinstance(value, (tuple, list)) or len(value) not in (1, count):
        raise ValueError(f"{argument}: expected an int or {count} ints, got {value!r}")
    items = tuple(check_int(v, argument) for v in value)
    return items * count if len(items) == 1 else items


def pooling_output_size(
    size: int, kernel: int, pad: int, stride: int, dilation: int, ceil: bool
) -> int:
    """ATen ``pooling_output_shape`` (``aten/src/ATen/native/Pool.h``), with its checks."""
    if stride == 0:
        raise ValueError("stride: should not be zero")
    if pad < 0:
        raise ValueError(f"padding: should be non-negative, got {pad}")
    if pad > ((kernel - 1) * dilation + 1) // 2:
        raise ValueError(
            f"padding: should be at most half of the effective kernel size, got pad={pad} "
            f"for kernel {kernel} and dilation {dilation}"
        )
    numerator = size + 2 * pad - dilation * (kernel - 1) - 1 + (stride - 1 if ceil else 0)
    out = math.floor(numerator / stride) + 1
    if ceil and (out - 1) * stride >= size + pad:
        out -= 1
    return out


class _Windows:
    """Per spatial dimension: clipped window starts / ends and the unclipped size."""

    def __init__(self, sizes, kernel, stride, padding, outputs):
        self.starts, self.ends, self.pooled = [], [], []
        for size, k, s, p, o in zip(sizes, kernel, stride, padding, outputs, strict=True):
            start = np.arange(o) * s - p
            end = np.minimum(start + k, size + p)
            self.pooled.append(end - start)
            self.starts.append(np.maximum(start, 0))
            self.ends.append(np.minimum(end, size))

    def grid(self, values):
        """Outer product (per output position) of one array per dimension."""
        out = values[0]
        for extra in values[1:]:
            out = np.multiply.outer(out, extra)
        return out

    def count(self):
        return self.grid([e - s for s, e in zip(self.starts, self.ends, strict=True)])

    def pool_size(self):
        return self.grid(self.pooled)


def window_sums(codes: np.ndarray, windows: _Windows, spatial: int) -> np.ndarray:
    """Exact int64 sums of ``codes`` (spatial dims last) over each clipped window."""
    csum = codes.astype(np.int64)
    for axis in range(spatial):
        dim = codes.ndim - spatial + axis
        csum = np.cumsum(csum, axis=dim)
        pad = [(0, 0)] * csum.ndim
        pad[dim] = (1, 0)
        csum = np.pad(csum, pad)
        hi = np.take(csum, windows.ends[axis], axis=dim)
        lo = np.take(csum, windows.starts[axis], axis=dim)
        csum = hi - lo
    return csum


# -- avg_pool2d / avg_pool3d ----------------------------------------------------------------


def avg_pool2d(
    input: QTensor,
    kernel_size,
    stride=None,
    padding=0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
    *,
    memory_format: object = None,
    engine: str | None = None,
    backend: str | None = None,
) -> QTensor:
    """``torch.ao.nn.quantized.functional.avg_pool2d``: mean over each window,
    requantized to the input's qparams.

    Examples
    --------
    >>> import qemu
    >>> x = qemu.QTensor.per_tensor([[[[0, 2], [4, 6]]]], 1.0, 0, "quint8")
    >>> avg_pool2d(x, 2).int_repr().tolist()
    [[[[3]]]]
    """
    return _avg_pool_entry(
        2,
        input,
        kernel_size,
        stride,
        padding,
        ceil_mode,
        count_include_pad,
        divisor_override,
        memory_format,
        engine,
        backend,
    )


def avg_pool3d(
    input: QTensor,
    kernel_size,
    stride=None,
    padding=0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
    *,
    memory_format: object = None,
    engine: str | None = None,
    backend: str | None = None,
) -> QTensor:
    """``torch.ao.nn.quantized.functional.avg_pool3d`` (always the NDHWC kernel).

    Examples
    --------
    >>> import qemu
    >>> x = qemu.QTensor.per_tensor([[[[[0, 2], [4, 6]]]]], 1.0, 0, "quint8")
    >>> avg_pool3d(x, (1, 2, 2)).int_repr().tolist()
    [[[[[3]]]]]
    """
    return _avg_pool_entry(
        3,
        input,
        kernel_size,
        stride,
        padding,
        ceil_mode,
        count_include_pad,
        divisor_override,
        memory_format,
        engine,
        backend,
    )


def _avg_pool_entry(
    spatial,
    input,
    kernel_size,
    stride,
    padding,
    ceil_mode,
    count_include_pad,
    divisor_override,
    memory_format,
    engine,
    backend,
):
    x = check_qtensor(input, "input")
    if spatial == 3 and x.ndim != 5:
        # q_avgpool3d.cpp makes the input channels_last_3d, which needs rank 5.
        raise ValueError(f"input: quantized avg_pool3d needs a 5-D tensor, got shape {x.shape}")
    if x.ndim not in (spatial + 1, spatial + 2):
        raise ValueError(
            f"input: expected a {spatial + 1}-D or {spatial + 2}-D tensor, got shape {x.shape}"
        )
    kernel = _tuple(kernel_size, spatial, "kernel_size")
    steps = _tuple(stride, spatial, "stride", allow_empty=True) or kernel
    pads = _tuple(padding, spatial, "padding")
    if any(k <= 0 for k in kernel):
        raise ValueError(f"kernel_size: expected positive sizes, got {kernel}")
    if divisor_override is not None:
        divisor_override = check_int(divisor_override, "divisor_override")
        if divisor_override == 0:
            raise ValueError("divisor_override: must not be zero")
    sizes = x.shape[-spatial:]
    outputs = tuple(
        pooling_output_size(n, k, p, s, 1, check_bool(ceil_mode, "ceil_mode"))
        for n, k, p, s in zip(sizes, kernel, pads, steps, strict=True)
    )
    if any(o <= 0 for o in outputs):
        raise ValueError(f"input: the output size {outputs} would be empty or negative")
    order = layout(memory_format, x.ndim)
    if spatial == 3 or channels_last_kernel(x.shape, aten_loops.layout_strides(x.shape, order)):
        check_nhwc_zero_point_product(x, math.prod(kernel), f"avg_pool{spatial}d")
    return dispatch.call(
        "avg_pool",
        x,
        kernel,
        steps,
        pads,
        bool(ceil_mode),
        check_bool(count_include_pad, "count_include_pad"),
        divisor_override,
        outputs,
        order,
        engine=engine,
        backend=backend,
    )


def channels_last_kernel(shape: tuple[int, ...], strides: tuple[int, ...]) -> bool:
    """``input.is_contiguous(ChannelsLast)`` (4-D) / ``ChannelsLast3d`` (5-D)."""
    name = {4: aten_loops.CHANNELS_LAST, 5: aten_loops.CHANNELS_LAST_3D}.get(len(shape))
    return name is not None and aten_loops.is_contiguous_as(shape, strides, name)


def check_nhwc_zero_point_product(x: QTensor, window: int, op: str) -> None:
    """The channels-last average-pool kernels compute ``-zero_point * size`` in C
    ``int``; for qint32 that can overflow, which is undefined behaviour (the 2.13
    binary's result matches no wrapping rule). qemu refuses those inputs."""
    if x.dtype != QINT32:
        return
    product = -x.q_zero_point() * window
    if x.q_zero_point() == -(2**31) or not -(2**31) <= product < 2**31:
        raise ValueError(
            f"input: torch's channels-last {op} computes -zero_point * window_size = {product} "
            "in int32, an undefined overflow; qemu refuses qint32 inputs with such a zero point"
        )


def nhwc_avg_pool_lanes(engine, channels: int, dtype) -> np.ndarray:
    """Channels ``_qavg_pool_nhwc_kernel`` quantizes with ``QuantizeAvx512/2``: whole
    16-channel (AVX512 build) or 8-channel (AVX2 build) blocks, 8-bit types only; this
    kernel is registered for AVX512, so the host's ATen capability decides."""
    if dtype == QINT32:
        return np.zeros(channels, bool)
    width = 16 if engine.aten_capability == "avx512" else 8
    return np.arange(channels) < aten_loops.block_prefix(channels, width)


def _nhwc_requantize(acc: np.ndarray, multiplier, lanes, zero_point, dtype, legacy_fma=False):
    """The NHWC pool requantization of int32 window accumulators (channels last):
    vector channels ``Q-VEC(f32(acc), inv=mult)`` (or, for adaptive pooling, FBGEMM's
    ``rne(fma(acc, 1/(1/mult), zp))``); the rest ``quantize_val(1 / mult, zp, acc)``."""
    values = f32(wrap_i32(acc))
    recip = np.float32(1.0) / np.float32(multiplier)
    if legacy_fma:
        inverse = np.float32(1.0) / recip
        fused = fma_f32(values, inverse, np.float32(zero_point))
        vector = np.clip(
            cvt_f32_to_i32(np.minimum(fused, np.float32(2147483520.0))), dtype.qmin, dtype.qmax
        )
    else:
        vector = vec_quantize(values, f32(recip), np.float32(multiplier), zero_point, dtype)
    scalar = quantize_val(values, recip, zero_point, dtype.qmin, dtype.qmax)
    return np.where(lanes, vector, scalar)


def nhwc_kernel_output(
    result: np.ndarray, in_shape: tuple[int, ...], in_strides: tuple[int, ...], spatial: int
) -> np.ndarray:
    """What torch returns from a channels-last pooling kernel: the kernel writes the
    result in (batch, spatial..., channel) order, but the output tensor is allocated
    in ``input.suggest_memory_format()`` -- which is not channels-last for a tensor
    that is channels-last-contiguous only because ``H * W == 1`` or ``C == 1``. Then
    torch reads the channels-last buffer with other strides and the values come out
    permuted (a torch defect qemu reproduces)."""
    channel = result.ndim - spatial - 1
    kernel_order = [d for d in range(result.ndim) if d != channel] + [channel]
    buffer = np.ascontiguousarray(np.transpose(result, kernel_order)).reshape(-1)
    out_format = aten_loops.suggest_memory_format(in_shape, in_strides)
    if out_format != aten_loops.CONTIGUOUS and len(in_shape) != result.ndim:
        out_format = aten_loops.CONTIGUOUS
    strides = aten_loops.empty_strides(result.shape, out_format)
    item = buffer.itemsize
    view = np.lib.stride_tricks.as_strided(
        buffer, result.shape, tuple(st * item for st in strides), writeable=False
    )
    return np.array(view)


def _to_int(values, dtype) -> np.ndarray:
    """``static_cast<underlying>(float)``: via cvttss2si (out of range -> INT32_MIN)."""
    as_i32 = cvt_f32_to_i32(np.trunc(np.asarray(values, np.float32)))
    return wrap_i32(as_i32.astype(np.int64)) if dtype == QINT32 else as_i32.astype(np.int64)


@dispatch.reference("avg_pool")
def avg_pool_reference(
    ctx, x, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override, outputs, order
) -> QTensor:
    spatial = len(kernel)
    dtype = x.dtype
    s, z = x.q_scale(), x.q_zero_point()
    if ctx.engine.is_qnnpack and dtype == QUINT8 and spatial == 2 and not ceil_mode:
        return _qnnpack_avg_pool2d(x, kernel, stride, padding, outputs)
    windows = _Windows(x.shape[-spatial:], kernel, stride, padding, outputs)
    size = windows.count()
    if divisor_override is not None:
        divisor = np.full(size.shape, divisor_override, np.int64)
    else:
        divisor = windows.pool_size() if count_include_pad else size
    sums = window_sums(x.codes, windows, spatial)
    acc = sums - size * z
    strides = aten_loops.layout_strides(x.shape, order)
    nhwc = spatial == 3 or channels_last_kernel(x.shape, strides)
    if not nhwc:
        # avg_pool2d_out_frame: f32(1.0 / d) (double); nearbyint(f32(f32(sum * m) + zp))
        multiplier = f32(1.0 / divisor.astype(np.float64))
        total = f32(f32(f32(wrap_i32(acc)) * multiplier) + np.float32(z))
        codes = np.clip(_to_int(np.rint(total), QINT32), dtype.qmin, dtype.qmax)
        return per_tensor(codes, s, z, dtype)
    # _qavg_pool_nhwc_kernel: multiplier = f32(f32(f32(s) / f32(so)) / d)
    multiplier = (f32(s) / f32(s)) / f32(divisor)
    channels_axis = x.ndim - spatial - 1
    moved = np.moveaxis(acc, channels_axis, -1)
    lanes = nhwc_avg_pool_lanes(ctx.engine, x.shape[channels_axis], dtype)
    codes = _nhwc_requantize(moved, multiplier[..., None], lanes, z, dtype)
    codes = np.moveaxis(codes, -1, channels_axis)
    if spatial == 3 and not aten_loops.is_contiguous_as(
        x.shape, strides, aten_loops.CHANNELS_LAST_3D
    ):
        # q_avg_pool3d allocates its output in input_nhwc.suggest_memory_format(), where
        # input_nhwc = input.contiguous(ChannelsLast3d): the input itself when that is a
        # no-op (then an ambiguous layout, e.g. D*H*W == 1, permutes the result too).
        strides = aten_loops.empty_strides(x.shape, aten_loops.CHANNELS_LAST_3D)
    codes = nhwc_kernel_output(codes, x.shape, strides, spatial)
    return per_tensor(codes, s, z, dtype)


def qnnpack_avg_pool2d_checks(x: QTensor, kernel, outputs) -> None:
    """What ``qnnpack_avg_pool2d`` and ``pytorch_qnnp_create_average_pooling2d_nhwc_q8``
    refuse."""
    if x.ndim != 4:
        raise ValueError(f"input: QNNPACK's avg_pool2d needs a 4-D input, got shape {x.shape}")
    pool = kernel[0] * kernel[1]
    if pool == 1:
        raise ValueError("kernel_size: QNNPACK refuses 1x1 average pooling")
    if pool >= 2**24:
        raise ValueError("kernel_size: QNNPACK refuses pooling areas of 2**24 elements or more")
    if x.shape[1] == 0:
        raise ValueError("input: QNNPACK's avg_pool2d refuses zero channels")
    qnnpack_lut.check_normal_scales("avg_pool2d", input=x.q_scale())
    if x.shape[0] and (x.shape[2] == 0 or x.shape[3] == 0):
        raise ValueError(f"input: QNNPACK's avg_pool2d refuses empty spatial sizes {x.shape}")


def _qnnpack_avg_pool2d(x, kernel, stride, padding, outputs) -> QTensor:
    """QNNPACK average pooling: padded taps read the zero point (contribute 0), the
    divisor is always ``kh * kw``; ``scale = f32(s) / (f32(s) * f32(kh * kw))`` and
    ``clamp(rne(f32(acc * scale)) + zp)``."""
    qnnpack_avg_pool2d_checks(x, kernel, outputs)
    s, z = x.q_scale(), x.q_zero_point()
    pool = kernel[0] * kernel[1]
    windows = _Windows(x.shape[-2:], kernel, stride, padding, outputs)
    acc = window_sums(x.codes, windows, 2) - windows.count() * z
    scale = f32(s) / (f32(s) * np.float32(pool))
    codes = np.clip(cvt_f32_to_i32(f32(wrap_i32(acc)) * scale).astype(np.int64) + z, 0, 255)
    return per_tensor(codes, s, z, x.dtype)


# -- adaptive_avg_pool2d / adaptive_avg_pool3d -----------------------------------------------------


def adaptive_avg_pool2d(
    input: QTensor,
    output_size,
    *,
    memory_format: object = None,
    engine: str | None = None,
    backend: str | None = None,
) -> QTensor:
    """``torch.ao.nn.quantized.functional.adaptive_avg_pool2d``.

    Examples
    --------
    >>> import qemu
    >>> x = qemu.QTensor.per_tensor([[[[0, 2], [4, 6]]]], 1.0, 0, "quint8")
    >>> adaptive_avg_pool2d(x, 1).int_repr().tolist()
    [[[[3]]]]
    """
    return _adaptive_entry(2, input, output_size, memory_format, engine, backend)


def adaptive_avg_pool3d(
    input: QTensor,
    output_size,
    *,
    memory_format: object = None,
    engine: str | None = None,
    backend: str | None = None,
) -> QTensor:
    """``torch.ao.nn.quantized.functional.adaptive_avg_pool3d``.

    Examples
    --------
    >>> import qemu
    >>> x = qemu.QTensor.per_tensor([[[[[0, 2], [4, 6]]]]], 1.0, 0, "quint8")
    >>> adaptive_avg_pool3d(x, 1).int_repr().tolist()
    [[[[[3]]]]]
    """
    return _adaptive_entry(3, input, output_size, memory_format, engine, backend)


def _adaptive_entry(spatial, input, output_size, memory_format, engine, backend):
    x = check_qtensor(input, "input")
    if x.ndim not in (spatial + 1, spatial + 2):
        raise ValueError(
            f"input: expected a {spatial + 1}-D or {spatial + 2}-D tensor, got shape {x.shape}"
        )
    if any(n <= 0 for n in x.shape[1:]):
        raise ValueError(f"input: expected non-empty non-batch dimensions, got shape {x.shape}")
    sizes = _tuple(output_size, spatial, "output_size")
    outputs = tuple(x.shape[-spatial + i] if o is None else o for i, o in enumerate(sizes))
    if any(o <= 0 for o in outputs):
        raise ValueError(f"output_size: expected positive sizes, got {outputs}")
    order = layout(memory_format, x.ndim)
    if (
        spatial == 3
        and x.ndim == 4
        and x.dtype != QINT32
        and x.shape[0] >= 8
        and channels_last_kernel(x.shape, aten_loops.layout_strides(x.shape, order))
    ):
        raise ValueError(
            f"input: torch's adaptive_avg_pool3d sends this unbatched {x.shape} tensor (which "
            "is channels-last-contiguous as a 4-D tensor) to its NDHWC kernel, whose vector "
            "loads assume channel stride 1 and read the wrong elements; qemu refuses it"
        )
    if channels_last_kernel(x.shape, aten_loops.layout_strides(x.shape, order)):
        window = math.prod(
            int(np.max(end - start))
            for start, end in (
                adaptive_windows(n, o) for n, o in zip(x.shape[-spatial:], outputs, strict=True)
            )
        )
        check_nhwc_zero_point_product(x, window, f"adaptive_avg_pool{spatial}d")
    return dispatch.call("adaptive_avg_pool", x, outputs, order, engine=engine, backend=backend)


def adaptive_windows(size: int, out: int) -> tuple[np.ndarray, np.ndarray]:
    """``start_index`` / ``end_index`` of ``AdaptiveAveragePooling.cpp``, in float:
    ``floor(f32(o * in) / f32(out))`` and ``ceil(f32((o + 1) * in) / f32(out))``."""
    o = np.arange(out, dtype=np.int64)
    start = np.floor(f32(o * size) / np.float32(out)).astype(np.int64)
    end = np.ceil(f32((o + 1) * size) / np.float32(out)).astype(np.int64)
    return start, end


def qnnpack_takes_adaptive(x: QTensor, outputs: tuple[int, ...]) -> bool:
    """``enable_qnnpack_for_ada_avgpool``: 2-D, quint8, sizes differ and divide."""
    height, width = x.shape[-2:]
    out_h, out_w = outputs
    return not (height == out_h and width == out_w) and height % out_h == 0 and width % out_w == 0


@dispatch.reference("adaptive_avg_pool")
def adaptive_avg_pool_reference(ctx, x, outputs, order) -> QTensor:
    spatial = len(outputs)
    dtype = x.dtype
    s, z = x.q_scale(), x.q_zero_point()
    if spatial == 3 and outputs == (1, 1, 1):
        return _mean_last3(x, order)
    if (
        ctx.engine.is_qnnpack
        and dtype == QUINT8
        and spatial == 2
        and qnnpack_takes_adaptive(x, outputs)
    ):
        kernel = tuple(n // o for n, o in zip(x.shape[-2:], outputs, strict=True))
        return _qnnpack_avg_pool2d(x, kernel, kernel, (0, 0), outputs)
    windows = _Windows.__new__(_Windows)
    windows.starts, windows.ends = [], []
    for n, o in zip(x.shape[-spatial:], outputs, strict=True):
        start, end = adaptive_windows(n, o)
        windows.starts.append(start)
        windows.ends.append(end)
    size = windows.count()
    sums = window_sums(x.codes, windows, spatial)
    strides = aten_loops.layout_strides(x.shape, order)
    if not channels_last_kernel(x.shape, strides):
        # adaptive_avg_pool_single_out_frame: no zero point, no clamp;
        # nearbyint(f32(sum) * kDHWr).
        extents = [e - st for st, e in zip(windows.starts, windows.ends, strict=True)]
        codes = _to_int(np.rint(f32(sums) * adaptive_reciprocal(extents)), dtype)
        return per_tensor(codes, s, z, dtype)
    multiplier = (f32(s) / f32(s)) / f32(size)
    acc = sums - size * z
    channels_axis = x.ndim - spatial - 1
    moved = np.moveaxis(acc, channels_axis, -1)
    # _qadaptive_avg_pool_kernel is registered for AVX2 only: 8-channel blocks.
    lanes = np.arange(x.shape[channels_axis]) < (
        0 if dtype == QINT32 else aten_loops.block_prefix(x.shape[channels_axis], 8)
    )
    codes = _nhwc_requantize(moved, multiplier[..., None], lanes, z, dtype, legacy_fma=True)
    codes = nhwc_kernel_output(np.moveaxis(codes, -1, channels_axis), x.shape, strides, spatial)
    return per_tensor(codes, s, z, dtype)


def _mean_last3(x: QTensor, order: tuple) -> QTensor:
    """``adaptive_avg_pool3d(x, 1)`` is ``x.mean((-1, -2, -3), keepdim=True)`` in ATen
    (``AdaptiveAveragePooling3d.cpp``), also for quantized tensors. A contiguous input
    takes ``qmean_inner_dim_kernel``: ``nearbyint(f32(sum) / f32(n))`` (exact sums,
    no zero point). Any other layout is dequantized, averaged in float and quantized
    again; ATen's float reduction order is not modelled here (an exact sum stands in,
    see ``docs/numerics/pool.md`` for the measured mismatch rate)."""
    dtype = x.dtype
    rows = x.codes.reshape(-1, int(np.prod(x.shape[-3:], dtype=np.int64)))
    count = rows.shape[1]
    shape = x.shape[:-3] + (1, 1, 1)
    if aten_loops.is_contiguous_as(
        x.shape, aten_loops.layout_strides(x.shape, order), aten_loops.CONTIGUOUS
    ):
        mean = f32(rows.astype(np.int64).sum(axis=1)) / np.float32(count)
        return per_tensor(
            _to_int(np.rint(mean), dtype).reshape(shape), x.q_scale(), x.q_zero_point(), dtype
        )
    values = dequantize_val(rows, x.q_scale(), x.q_zero_point()).astype(np.float64)
    mean = f32(values.sum(axis=1) / count)
    codes = quantize_per_tensor_codes(mean, x.q_scale(), x.q_zero_point(), dtype)
    return per_tensor(codes.reshape(shape), x.q_scale(), x.q_zero_point(), dtype)


def adaptive_reciprocal(extents: list[np.ndarray]) -> np.ndarray:
    """``kDHWr`` of ``adaptive_avg_pool_single_out_frame`` for every output position:
    ``kDr = f32(1.0 / kD)`` (double division), ``kDHr = f32(kDr / kH)``,
    ``kDHWr = f32(kDHr / kW)`` (float divisions); 2-D pooling has no ``kD``."""
    depth = extents[0] if len(extents) == 3 else np.ones(1, np.int64)
    height, width = extents[-2:]
    r_d = f32(1.0 / depth.astype(np.float64))
    r_dh = r_d[:, None] / f32(height)[None, :]
    r = r_dh[:, :, None] / f32(width)[None, None, :]
    return r if len(extents) == 3 else r[0]


# -- max_pool1d / max_pool2d ----------------------------------------------------------------------


def max_pool2d(
    input: QTensor,
    kernel_size,
    stride=None,
    padding=0,
    dilation=1,
    ceil_mode: bool = False,
    return_indices: bool = False,
    *,
    memory_format: object = None,
    engine: str | None = None,
    backend: str | None = None,
) -> QTensor:
    """``torch.ao.nn.quantized.functional.max_pool2d``: integer maximum over each
    dilated window (padding never wins), qparams kept.

    Examples
    --------
    >>> import qemu
    >>> x = qemu.QTensor.per_tensor([[[[0, 2], [4, 6]]]], 1.0, 0, "quint8")
    >>> max_pool2d(x, 2).int_repr().tolist()
    [[[[6]]]]
    """
    return _max_pool_entry(
        2,
        input,
        kernel_size,
        stride,
        padding,
        dilation,
        ceil_mode,
        return_indices,
        memory_format,
        engine,
        backend,
    )


def max_pool1d(
    input: QTensor,
    kernel_size,
    stride=None,
    padding=0,
    dilation=1,
    ceil_mode: bool = False,
    return_indices: bool = False,
    *,
    memory_format: object = None,
    engine: str | None = None,
    backend: str | None = None,
) -> QTensor:
    """``torch.ao.nn.quantized.functional.max_pool1d``.

    Examples
    --------
    >>> import qemu
    >>> x = qemu.QTensor.per_tensor([[[0, 2, 4, 6]]], 1.0, 0, "quint8")
    >>> max_pool1d(x, 2).int_repr().tolist()
    [[[2, 6]]]
    """
    return _max_pool_entry(
        1,
        input,
        kernel_size,
        stride,
        padding,
        dilation,
        ceil_mode,
        return_indices,
        memory_format,
        engine,
        backend,
    )


def _max_pool_entry(
    spatial,
    input,
    kernel_size,
    stride,
    padding,
    dilation,
    ceil_mode,
    return_indices,
    memory_format,
    engine,
    backend,
):
    x = check_qtensor(input, "input")
    if check_bool(return_indices, "return_indices"):
        raise ValueError("return_indices: torch's quantized max pooling does not return indices")
    if x.ndim not in (spatial + 1, spatial + 2):
        raise ValueError(
            f"input: expected a {spatial + 1}-D or {spatial + 2}-D tensor, got shape {x.shape}"
        )
    kernel = _tuple(kernel_size, spatial, "kernel_size")
    steps = _tuple(stride, spatial, "stride", allow_empty=True) or kernel
    pads = _tuple(padding, spatial, "padding")
    dilations = _tuple(dilation, spatial, "dilation")
    if any(k <= 0 for k in kernel) or any(d <= 0 for d in dilations) or any(s <= 0 for s in steps):
        raise ValueError("kernel_size, stride, dilation: expected positive values")
    outputs = tuple(
        pooling_output_size(n, k, p, s, d, check_bool(ceil_mode, "ceil_mode"))
        for n, k, p, s, d in zip(x.shape[-spatial:], kernel, pads, steps, dilations, strict=True)
    )
    if any(o <= 0 for o in outputs):
        raise ValueError(f"input: the output size {outputs} would be empty or negative")
    order = layout(memory_format, x.ndim)
    return dispatch.call(
        "max_pool",
        x,
        kernel,
        steps,
        pads,
        dilations,
        bool(ceil_mode),
        outputs,
        order,
        engine=engine,
        backend=backend,
    )


@dispatch.reference("max_pool")
def max_pool_reference(ctx, x, kernel, stride, padding, dilation, ceil_mode, outputs, order):
    spatial = len(kernel)
    if ctx.engine.is_qnnpack and x.dtype == QUINT8 and not ceil_mode:
        return _qnnpack_max_pool(x, kernel, stride, padding, dilation, outputs)
    if any(k // 2 < p for k, p in zip(kernel, padding, strict=True)):
        raise ValueError("padding: should be smaller than half of kernel_size (q_maxpool_2d)")
    codes = x.codes.astype(np.int64)
    # Both kernels start from the dtype's lowest value: a window of padding only
    # (possible with dilation) yields qmin.
    out = np.full(x.shape[:-spatial] + outputs, x.dtype.qmin, np.int64)
    sizes = x.shape[-spatial:]
    offsets = np.stack(np.meshgrid(*[np.arange(k) for k in kernel], indexing="ij"), -1)
    for offset in offsets.reshape(-1, spatial):
        index, valid = [], None
        for axis in range(spatial):
            pos = (
                np.arange(outputs[axis]) * stride[axis]
                - padding[axis]
                + offset[axis] * dilation[axis]
            )
            ok = (pos >= 0) & (pos < sizes[axis])
            index.append(np.clip(pos, 0, max(sizes[axis] - 1, 0)))
            valid = ok if valid is None else np.multiply.outer(valid, ok)
        taken = codes[(...,) + np.ix_(*index)]
        out = np.where(valid, np.maximum(out, taken), out)
    shape4, strides4 = x.shape, aten_loops.layout_strides(x.shape, order)
    if spatial == 1:  # quantized_max_pool1d runs max_pool2d on x.unsqueeze(-2)
        shape4 = x.shape[:-1] + (1, x.shape[-1])
        strides4 = strides4[:-1] + (strides4[-1] * x.shape[-1], strides4[-1])
    if channels_last_kernel(shape4, strides4):
        out4 = out.reshape(out.shape[:-1] + (1, out.shape[-1])) if spatial == 1 else out
        out = nhwc_kernel_output(out4, shape4, strides4, 2).reshape(out.shape)
    return per_tensor(out, x.q_scale(), x.q_zero_point(), x.dtype)


def _qnnpack_max_pool(x, kernel, stride, padding, dilation, outputs) -> QTensor:
    """QNNPACK max pooling (``qnnpack_maxpool2d``; max_pool1d runs it on
    ``x.unsqueeze(-2)``): every tap reads ``min(max(o*s + k*d - pad, 0), size - 1)``
    -- taps in the padding read the nearest edge row/column, which with dilation can
    lie outside the window (a QNNPACK defect qemu reproduces)."""
    spatial = len(kernel)
    if x.ndim + (2 - spatial) != 4:
        raise ValueError(f"input: QNNPACK's max_pool2d needs a 4-D input, got shape {x.shape}")
    if math.prod(kernel) == 1:
        raise ValueError("kernel_size: QNNPACK refuses 1x1 max pooling")
    if x.shape[1] == 0:
        raise ValueError("input: QNNPACK's max_pool2d refuses zero channels")
    sizes = x.shape[-spatial:]
    if x.shape[0] and min(sizes) == 0:
        raise ValueError(f"input: QNNPACK's max_pool2d refuses empty spatial sizes {x.shape}")
    codes = x.codes.astype(np.int64)
    out = np.zeros(x.shape[:-spatial] + outputs, np.int64)
    if x.size == 0:
        return per_tensor(out, x.q_scale(), x.q_zero_point(), x.dtype)
    offsets = np.stack(np.meshgrid(*[np.arange(k) for k in kernel], indexing="ij"), -1)
    for offset in offsets.reshape(-1, spatial):
        index = []
        for axis in range(spatial):
            pos = np.arange(outputs[axis]) * stride[axis] + offset[axis] * dilation[axis]
            index.append(np.minimum(np.maximum(pos - padding[axis], 0), sizes[axis] - 1))
        out = np.maximum(out, codes[(...,) + np.ix_(*index)])
    return per_tensor(out, x.q_scale(), x.q_zero_point(), x.dtype)


__all__ = [
    "adaptive_avg_pool2d",
    "adaptive_avg_pool3d",
    "avg_pool2d",
    "avg_pool3d",
    "max_pool1d",
    "max_pool2d",
]
