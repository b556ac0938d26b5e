"""Helpers shared by the elementwise, activation, norm and pool op modules: argument
checks, memory layouts, and the per-dtype vector/scalar formulas of ATen's
``Vectorized<qint>`` kernels.

The formulas themselves live in :mod:`qemu.numerics.affine`; this module only picks
the one a kernel's vector or scalar lambda uses for a given dtype
(``aten/src/ATen/cpu/vec/vec256/vec256_qint.h``).
"""

from __future__ import annotations

import numpy as np

from qemu import dispatch
from qemu.dtypes import PER_TENSOR_AFFINE, QINT32, QDType
from qemu.numerics import aten_loops
from qemu.numerics.affine import dequantize_vec_premultiplied, quantize_val, quantize_vec
from qemu.numerics.float32 import f32
from qemu.qtensor import QTensor, check_scale, check_zero_point

# Vectorized<c10::quint8/qint8>::size() and Vectorized<c10::qint32>::size() in the AVX2
# build, which is what ATen's REGISTER_DISPATCH quantized kernels run even on AVX512
# hosts (QuantizedOpKernels.cpp registers only avg_pool NHWC and per-channel
# dequantize with ALSO_REGISTER_AVX512_DISPATCH).
AVX2_QINT8_LANES = 32
AVX2_QINT32_LANES = 8


def check_qtensor(x: object, argument: str, dtypes: tuple[QDType, ...] | None = None) -> QTensor:
    """A per-tensor affine QTensor (of one of ``dtypes`` if given)."""
    if not isinstance(x, QTensor):
        raise TypeError(f"{argument}: expected a QTensor, got {type(x).__name__}")
    if x.qscheme() != PER_TENSOR_AFFINE:
        raise ValueError(
            f"{argument}: only per-tensor affine quantization is supported by this op, got "
            f"{x.qscheme()}"
        )
    if x.dtype.sub_byte:
        raise ValueError(f"{argument}: {x.dtype.name} tensors are not supported by this op")
    if dtypes is not None and x.dtype not in dtypes:
        names = ", ".join(d.name for d in dtypes)
        raise ValueError(f"{argument}: expected dtype {names}, got {x.dtype.name}")
    return x


def check_output_qparams(
    scale: object, zero_point: object, dtype: QDType, prefix: str = ""
) -> tuple[float, int]:
    """The output scale and zero point an op is asked for. torch accepts any double and
    integer here and returns a tensor with nonsensical qparams; qemu refuses them."""
    return (
        check_scale(scale, f"{prefix}scale"),
        check_zero_point(zero_point, dtype, f"{prefix}zero_point"),
    )


def check_bool(value: object, argument: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{argument}: expected a bool, got {type(value).__name__} {value!r}")
    return bool(value)


def check_number(value: object, argument: str) -> float:
    """A real Python/NumPy number (torch ``Scalar``), returned as a double."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"{argument}: expected a number, got {type(value).__name__} {value!r}")
    if isinstance(value, np.complexfloating):
        raise TypeError(f"{argument}: expected a real number, got {value!r}")
    return float(value)


def check_int(value: object, argument: str, minimum: int | None = None) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{argument}: expected an int, got {type(value).__name__} {value!r}")
    if minimum is not None and int(value) < minimum:
        raise ValueError(f"{argument}: expected an integer >= {minimum}, got {value}")
    return int(value)


def layout(memory_format: object, ndim: int, argument: str = "memory_format") -> tuple:
    """The canonical layout of an ``ndim``-dimensional tensor: its dimensions from
    outermost to innermost in memory (see :func:`qemu.numerics.aten_loops.dim_order`)."""
    return aten_loops.dim_order(ndim, memory_format, argument)


def binary_layouts(memory_format: object, ndim_a: int, ndim_b: int) -> tuple[tuple, tuple]:
    """Layouts of a binary op's two inputs: one layout for both, or a pair."""
    if (
        isinstance(memory_format, (tuple, list))
        and len(memory_format) == 2
        and not all(isinstance(d, (int, np.integer)) for d in memory_format)
    ):
        return (
            layout(memory_format[0], ndim_a, "memory_format[0]"),
            layout(memory_format[1], ndim_b, "memory_format[1]"),
        )
    return (
        layout(memory_format, ndim_a, "memory_format"),
        layout(memory_format, ndim_b, "memory_format"),
    )


def suggested_format(shape: tuple[int, ...], order: tuple) -> str:
    """``input.suggest_memory_format()`` of a dense tensor laid out in ``order``: the
    layout torch allocates most ops' outputs in."""
    return aten_loops.suggest_memory_format(shape, aten_loops.layout_strides(shape, order))


def suggested_layout(shape: tuple[int, ...], order: tuple) -> tuple:
    """The layout of ``x.contiguous(x.suggest_memory_format())``: what kernels that
    densify their input first iterate over."""
    return aten_loops.dim_order(len(shape), suggested_format(shape, order))


def vector_lanes_per_step(dtype: QDType) -> int:
    """``Vectorized<T>::size()`` of the AVX2 quantized kernels."""
    return AVX2_QINT32_LANES if dtype == QINT32 else AVX2_QINT8_LANES


def unary_lanes(
    ctx: dispatch.Context, x: QTensor, order: tuple, out_format: str | None = None
) -> np.ndarray:
    """Which elements of a ``TensorIterator::unary_op(out, x)`` kernel run the vector
    lambda, with the output allocated in ``out_format`` (default
    ``x.suggest_memory_format()``)."""
    return aten_loops.elementwise_lanes(
        x.shape,
        suggested_format(x.shape, order) if out_format is None else out_format,
        [(x.shape, order)],
        vector_lanes_per_step(x.dtype),
        ctx.threads,
    )


def nhwc_channel_lanes(channels: int, dtype: QDType) -> np.ndarray:
    """Which of a pixel's channels the AVX2 channels-last kernels (``qcat_nhwc_kernel``,
    ``q_batch_norm_kernel``) compute with the vector formula: whole
    ``Vectorized<T>`` blocks (32 channels for 8-bit types, 8 for qint32), then for
    8-bit types whole 8-channel float vectors of the remainder; the rest are scalar."""
    lanes = vector_lanes_per_step(dtype)
    covered = aten_loops.block_prefix(channels, lanes)
    if lanes == AVX2_QINT8_LANES:
        covered += aten_loops.block_prefix(channels - covered, 8)
    return np.arange(channels) < covered


def vec_dequantize(codes, scale: float, zero_point: int) -> np.ndarray:
    """``Vectorized<T>::dequantize(scale, zp, scale * -zp)`` for every qint type."""
    return dequantize_vec_premultiplied(np.asarray(codes), f32(scale), zero_point)


def vec_quantize(values, scale, inverse_scale, zero_point: int, dtype: QDType) -> np.ndarray:
    """``Vectorized<T>::quantize(values, scale, zp, inverse_scale)``: the AVX2
    ``QuantizeAvx2`` for 8-bit types (zero point after rounding, ``inverse_scale``
    used), ``quantize_val`` per element for qint32 (``scale`` used)."""
    if dtype == QINT32:
        return quantize_val(values, scale, zero_point, dtype.qmin, dtype.qmax)
    return quantize_vec(values, inverse_scale, zero_point, dtype.qmin, dtype.qmax)


def scalar_quantize(values, scale, zero_point: int, dtype: QDType) -> np.ndarray:
    """``at::native::quantize_val<T>(scale, zp, value)``."""
    return quantize_val(values, scale, zero_point, dtype.qmin, dtype.qmax)


def per_tensor(codes: np.ndarray, scale: float, zero_point: int, dtype: QDType) -> QTensor:
    """A per-tensor result QTensor from codes a kernel produced (already in range)."""
    return QTensor(
        np.asarray(codes).astype(dtype.storage), dtype, PER_TENSOR_AFFINE, scale, zero_point, None
    )


def check_qnnpack_nc_input(x: QTensor, argument: str, op: str, batch: str = "checked") -> bool:
    """What torch's QNNPACK wrappers refuse about an ``N x C`` operator input (batch =
    ``size(0)``, channels = the product of the other sizes): a 0-d tensor and zero
    channels. Returns whether there is any row to compute.

    ``batch`` says how the wrapper treats an empty batch: ``"returns"`` -- it returns
    the empty result before QNNPACK sees anything (add); ``"checked"`` -- QNNPACK
    creates the operator (checking channels and its other parameters) and then does
    nothing; ``"crashes"`` -- it divides numel by size(0) and the process dies
    (``SIGFPE``; hardswish, hardsigmoid), which qemu refuses."""
    if x.ndim == 0:
        raise ValueError(
            f"{argument}: QNNPACK's {op} needs at least one dimension (got a 0-d tensor)"
        )
    if x.shape[0] == 0:
        if batch == "crashes":
            raise ValueError(
                f"{argument}: torch's QNNPACK {op} divides numel by size(0) and crashes (SIGFPE) "
                f"on shape {x.shape}; qemu refuses it"
            )
        if batch == "returns":
            return False
    if int(np.prod(x.shape[1:], dtype=np.int64)) == 0:
        raise ValueError(f"{argument}: QNNPACK's {op} refuses shape {x.shape} (zero channels)")
    return x.shape[0] > 0
