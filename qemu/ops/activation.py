"""Quantized activations: ``relu``, ``relu6``, ``leaky_relu``, ``hardtanh``, ``clamp``,
``threshold``, ``hardswish``, ``hardsigmoid`` (and, with the float transcendentals,
``elu``, ``celu``, ``sigmoid``, ``tanh``, ``gelu``, ``softmax``).

ATen's kernels (``QuantizedOpKernels.cpp``) run on every engine for qint8/qint32 and
for most quint8 ops; under ``qnnpack`` quint8 hardswish / hardsigmoid take QNNPACK's
lookup tables and clamp / hardtanh / relu6 QNNPACK's clamp. The float ops in the
middle follow each kernel's vector and scalar lambdas (:mod:`qemu.numerics.aten_loops`
says which element takes which). ``docs/numerics/activation.md`` has every formula.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from qemu import dispatch
from qemu.dtypes import QINT8, QINT32, QUINT8, QDType
from qemu.numerics import aten_loops, qnnpack_lut
from qemu.numerics.affine import dequantize_val
from qemu.numerics.float32 import f32
from qemu.ops.common import (
    check_number,
    check_output_qparams,
    check_qnnpack_nc_input,
    check_qtensor,
    layout,
    per_tensor,
    scalar_quantize,
    suggested_format,
    suggested_layout,
    unary_lanes,
    vec_dequantize,
    vec_quantize,
)
from qemu.qtensor import QTensor

# -- shared machinery ------------------------------------------------------------------


def requantize_unary(
    ctx: dispatch.Context,
    x: QTensor,
    order: tuple,
    out_scale: float,
    out_zero_point: int,
    vec_inverse,
    vector_op: Callable[[np.ndarray], np.ndarray],
    scalar_op: Callable[[np.ndarray], np.ndarray],
) -> QTensor:
    """A dequantize / float op / quantize ``cpu_kernel_vec`` kernel: the vector lambda
    (DQ-VEC3, ``vector_op``, ``Vectorized::quantize`` with ``vec_inverse``) or the
    scalar one (DQ-SCAL, ``scalar_op``, ``quantize_val``) per element."""
    dtype = x.dtype
    lanes = unary_lanes(ctx, x, order)
    with np.errstate(all="ignore"):
        vector = vector_op(vec_dequantize(x.codes, x.q_scale(), x.q_zero_point()))
        scalar = scalar_op(dequantize_val(x.codes, x.q_scale(), x.q_zero_point()))
    codes = np.where(
        lanes,
        vec_quantize(vector, f32(out_scale), np.float32(vec_inverse), out_zero_point, dtype),
        scalar_quantize(scalar, out_scale, out_zero_point, dtype),
    )
    return per_tensor(codes, out_scale, out_zero_point, dtype)


def _entry(op: str, x: object, *args, memory_format=None, engine=None, backend=None):
    x = check_qtensor(x, "input")
    order = layout(memory_format, x.ndim)
    return dispatch.call(op, x, *args, order, engine=engine, backend=backend)


def memory_order_codes(x: QTensor, order: tuple) -> np.ndarray:
    """``x``'s codes in the order its memory holds them when torch runs
    ``x.contiguous(x.suggest_memory_format())`` (channels-last memory order for a
    channels-last tensor, else row-major)."""
    name = suggested_format(x.shape, order)
    return np.transpose(x.codes, aten_loops.dim_order(x.ndim, name)).reshape(-1)


# -- relu, relu6, clamp, hardtanh: integer clamps --------------------------------------


def relu(
    input: QTensor,
    *,
    memory_format: object = None,
    engine: str | None = None,
    backend: str | None = None,
) -> QTensor:
    """``torch.relu`` on a quantized tensor: ``max(q, zero_point)``, qparams kept.

    Examples
    --------
    >>> import qemu
    >>> relu(qemu.QTensor.per_tensor([1, 9], 0.5, 5, "quint8")).int_repr().tolist()
    [5, 9]
    """
    return _entry("relu", input, memory_format=memory_format, engine=engine, backend=backend)


@dispatch.reference("relu")
def relu_reference(ctx, x, order) -> QTensor:
    if ctx.engine.is_qnnpack and x.dtype == QUINT8:
        check_qnnpack_nc_input(x, "input", "relu")  # qnnpack_relu: clamp to [zp, 255]
    return per_tensor(np.maximum(x.codes, x.q_zero_point()), x.q_scale(), x.q_zero_point(), x.dtype)


def clamp_bounds(
    x: QTensor, low: float | None, high: float | None
) -> tuple[int | None, int | None]:
    """``quantize_val(scale, zp, float(bound))`` of each given bound (``qclamp_kernel``)."""
    dtype = x.dtype

    def code(bound):
        if bound is None:
            return None
        return int(scalar_quantize(np.float32(bound), x.q_scale(), x.q_zero_point(), dtype))

    return code(low), code(high)


def relu6(
    input: QTensor,
    *,
    memory_format: object = None,
    engine: str | None = None,
    backend: str | None = None,
) -> QTensor:
    """``torch.ops.quantized.relu6``: ``clamp(q, zp, quantize_val(6.0))``.

    Examples
    --------
    >>> import qemu
    >>> relu6(qemu.QTensor.per_tensor([0, 9, 40], 0.5, 5, "quint8")).int_repr().tolist()
    [5, 9, 17]
    """
    return _entry(
        "clamp",
        input,
        0.0,
        6.0,
        "relu6",
        memory_format=memory_format,
        engine=engine,
        backend=backend,
    )


def hardtanh(
    input: QTensor,
    min_val: float = -1.0,
    max_val: float = 1.0,
    *,
    memory_format: object = None,
    engine: str | None = None,
    backend: str | None = None,
) -> QTensor:
    """``torch.ao.nn.quantized.functional.hardtanh``: clamp to ``[min_val, max_val]``
    in the quantized domain.

    Examples
    --------
    >>> import qemu
    >>> hardtanh(qemu.QTensor.per_tensor([0, 5, 9], 0.5, 5, "quint8")).int_repr().tolist()
    [3, 5, 7]
    """
    low = check_number(min_val, "min_val")
    high = check_number(max_val, "max_val")
    if low > high:
        raise ValueError(f"min_val: must not be greater than max_val, got {low} > {high}")
    return _entry(
        "clamp",
        input,
        low,
        high,
        "hardtanh",
        memory_format=memory_format,
        engine=engine,
        backend=backend,
    )


def clamp(
    input: QTensor,
    min_: float | None = None,
    max_: float | None = None,
    *,
    memory_format: object = None,
    engine: str | None = None,
    backend: str | None = None,
) -> QTensor:
    """``torch.clamp`` on a quantized tensor (``torch.ao.nn.quantized.functional.clamp``);
    either bound may be omitted, except under ``qnnpack``, which needs both.

    Examples
    --------
    >>> import qemu
    >>> clamp(qemu.QTensor.per_tensor([0, 5, 9], 0.5, 5, "quint8"), -1.0).int_repr().tolist()
    [3, 5, 9]
    """
    low = None if min_ is None else check_number(min_, "min_")
    high = None if max_ is None else check_number(max_, "max_")
    if low is None and high is None:
        raise ValueError("min_, max_: at least one of them must be given")
    return _entry(
        "clamp",
        input,
        low,
        high,
        "clamp",
        memory_format=memory_format,
        engine=engine,
        backend=backend,
    )


@dispatch.reference("clamp")
def clamp_reference(ctx, x, low, high, variant, order) -> QTensor:
    """Shared by relu6, hardtanh and clamp (``variant`` names the torch entry point; the
    arithmetic is the same integer clamp)."""
    if ctx.engine.is_qnnpack and (low is None or high is None):
        raise ValueError("min_, max_: torch's quantized clamp under qnnpack needs both bounds")
    low_code, high_code = clamp_bounds(x, low, high)
    if ctx.engine.is_qnnpack and x.dtype == QUINT8:
        rows = check_qnnpack_nc_input(x, "input", "clamp")
        if low_code > high_code:
            raise ValueError(
                f"min_, max_: QNNPACK's clamp needs min <= max once quantized, "
                f"got [{low_code}, {high_code}]"
            )
        if not rows:
            return per_tensor(x.codes, x.q_scale(), x.q_zero_point(), x.dtype)
        # qnnpack_clamp runs on x.contiguous(x.suggest_memory_format()) but writes a
        # row-major output: a channels-last input comes back permuted (torch defect).
        codes = memory_order_codes(x, order).reshape(x.shape)
    else:
        codes = x.codes
    codes = np.maximum(codes, low_code) if low_code is not None else codes
    codes = np.minimum(codes, high_code) if high_code is not None else codes
    return per_tensor(codes, x.q_scale(), x.q_zero_point(), x.dtype)


# -- leaky_relu, threshold -----------------------------------------------------------------


def leaky_relu(
    input: QTensor,
    negative_slope: float = 0.01,
    scale: float | None = None,
    zero_point: int | None = None,
    *,
    memory_format: object = None,
    engine: str | None = None,
    backend: str | None = None,
) -> QTensor:
    """``torch.ao.nn.quantized.functional.leaky_relu``; with ``scale`` and
    ``zero_point`` the output is requantized to them (``quantized::leaky_relu``, what
    ``nnq.LeakyReLU`` runs), else it keeps the input's qparams.

    Examples
    --------
    >>> import qemu
    >>> leaky_relu(qemu.QTensor.per_tensor([0, 20], 0.5, 10, "qint8"), 0.5).int_repr().tolist()
    [5, 20]
    """
    x = check_qtensor(input, "input")
    slope = check_number(negative_slope, "negative_slope")
    if (scale is None) != (zero_point is None):
        raise ValueError("scale, zero_point: give both or neither")
    if scale is None:
        scale, zero_point = x.q_scale(), x.q_zero_point()
    scale, zero_point = check_output_qparams(scale, zero_point, x.dtype)
    return _entry(
        "leaky_relu",
        x,
        slope,
        scale,
        zero_point,
        memory_format=memory_format,
        engine=engine,
        backend=backend,
    )


@dispatch.reference("leaky_relu")
def _leaky_relu_reference(ctx, x, slope, scale, zero_point, order) -> QTensor:
    # leaky_qrelu_out_kernel: vector x * (x > 0 ? 1 : slope), scalar x > 0 ? x : x * slope
    negval = np.float32(slope)

    def vector(v):
        return v * np.where(v > 0, np.float32(1), negval)

    def scalar(v):
        return np.where(v > 0, v, v * negval)

    inverse = np.float32(1.0) / f32(scale)
    # quantized::leaky_relu first makes its input contiguous in its suggested format.
    dense = suggested_layout(x.shape, order)
    return requantize_unary(ctx, x, dense, scale, zero_point, inverse, vector, scalar)


def threshold(
    input: QTensor,
    threshold: float,
    value: float,
    *,
    memory_format: object = None,
    engine: str | None = None,
    backend: str | None = None,
) -> QTensor:
    """``torch.ao.nn.quantized.functional.threshold``: ``x > threshold ? x : value``,
    requantized to the input's qparams.

    Examples
    --------
    >>> import qemu
    >>> threshold(qemu.QTensor.per_tensor([0, 20], 0.5, 10, "qint8"), 1.0, -2.0).int_repr().tolist()
    [6, 20]
    """
    limit = check_number(threshold, "threshold")
    replacement = check_number(value, "value")
    return _entry(
        "threshold",
        input,
        limit,
        replacement,
        memory_format=memory_format,
        engine=engine,
        backend=backend,
    )


@dispatch.reference("threshold")
def _threshold_reference(ctx, x, limit, replacement, order) -> QTensor:
    limit32, value32 = np.float32(limit), np.float32(replacement)

    def op(v):
        return np.where(v > limit32, v, value32)

    # qthreshold_kernel: inverse f32(1.0 / double(float(scale))).
    inverse = np.float32(1.0 / float(f32(x.q_scale())))
    return requantize_unary(ctx, x, order, x.q_scale(), x.q_zero_point(), inverse, op, op)


# -- hardswish, hardsigmoid ------------------------------------------------------------------


def hardswish(
    input: QTensor,
    scale: float,
    zero_point: int,
    *,
    memory_format: object = None,
    engine: str | None = None,
    backend: str | None = None,
) -> QTensor:
    """``torch.ao.nn.quantized.functional.hardswish`` (``quantized::hardswish``):
    ``x * clamp(x + 3, 0, 6) / 6`` requantized to ``(scale, zero_point)``.

    Examples
    --------
    >>> import qemu
    >>> hardswish(qemu.QTensor.per_tensor([0, 12], 0.5, 0, "quint8"), 0.5, 0).int_repr().tolist()
    [0, 12]
    """
    x = check_qtensor(input, "input")
    scale, zero_point = check_output_qparams(scale, zero_point, x.dtype)
    return _entry(
        "hardswish",
        x,
        scale,
        zero_point,
        memory_format=memory_format,
        engine=engine,
        backend=backend,
    )


def _hardswish_core(v):
    clipped = np.minimum(np.maximum(v + np.float32(3), np.float32(0)), np.float32(6))
    return (v * clipped) / np.float32(6)


@dispatch.reference("hardswish")
def hardswish_reference(ctx, x, scale, zero_point, order) -> QTensor:
    if ctx.engine.is_qnnpack and x.dtype == QUINT8:
        check_qnnpack_nc_input(x, "input", "hardswish", batch="crashes")
        qnnpack_lut.check_normal_scales("hardswish", input=x.q_scale(), output=scale)
        table = qnnpack_lut.hardswish_lut(x.q_scale(), x.q_zero_point(), scale, zero_point)
        return per_tensor(table[x.codes], scale, zero_point, x.dtype)
    inverse = np.float32(1.0 / scale)  # qhardswish_kernel: f32(1.0 / double scale)
    return requantize_unary(
        ctx, x, order, scale, zero_point, inverse, _hardswish_core, _hardswish_core
    )


# hardsigmoid's fixed output qparams (qhardsigmoid_kernel).
_HARDSIGMOID_QPARAMS = {QUINT8: (2.0**-8, 0), QINT8: (2.0**-8, -128), QINT32: (2.0**-32, 0)}


def hardsigmoid_qparams(dtype: QDType) -> tuple[float, int]:
    """The output ``(scale, zero_point)`` torch imposes on quantized hardsigmoid."""
    return _HARDSIGMOID_QPARAMS[dtype]


def hardsigmoid(
    input: QTensor,
    *,
    memory_format: object = None,
    engine: str | None = None,
    backend: str | None = None,
) -> QTensor:
    """``torch.ao.nn.quantized.functional.hardsigmoid``: ``clamp(x + 3, 0, 6) / 6`` with
    fixed output qparams (quint8 ``(1/256, 0)``, qint8 ``(1/256, -128)``, qint32
    ``(2**-32, 0)``).

    Examples
    --------
    >>> import qemu
    >>> hardsigmoid(qemu.QTensor.per_tensor([0], 0.5, 0, "quint8")).int_repr().tolist()
    [128]
    """
    return _entry("hardsigmoid", input, memory_format=memory_format, engine=engine, backend=backend)


def _hardsigmoid_core(v):
    return np.minimum(np.maximum(v + np.float32(3), np.float32(0)), np.float32(6)) / np.float32(6)


@dispatch.reference("hardsigmoid")
def hardsigmoid_reference(ctx, x, order) -> QTensor:
    scale, zero_point = hardsigmoid_qparams(x.dtype)
    if ctx.engine.is_qnnpack and x.dtype == QUINT8:
        check_qnnpack_nc_input(x, "input", "hardsigmoid", batch="crashes")
        qnnpack_lut.check_normal_scales("hardsigmoid", input=x.q_scale(), output=scale)
        table = qnnpack_lut.hardsigmoid_lut(x.q_scale(), x.q_zero_point())
        return per_tensor(table[x.codes], scale, zero_point, x.dtype)
    inverse = np.float32(1.0 / float(np.float32(scale)))
    return requantize_unary(
        ctx, x, order, scale, zero_point, inverse, _hardsigmoid_core, _hardsigmoid_core
    )


__all__ = [
    "clamp",
    "hardsigmoid",
    "hardswish",
    "hardtanh",
    "leaky_relu",
    "relu",
    "relu6",
    "threshold",
]
