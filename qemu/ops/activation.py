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

import math
from collections.abc import Callable

import numpy as np

from qemu import dispatch
from qemu.dtypes import QINT8, QINT32, QUINT8, QDType
from qemu.numerics import aten_float, aten_loops, libm, qnnpack_lut, sleef
from qemu.numerics import softmax as softmax_numerics
from qemu.numerics.affine import dequantize_float, dequantize_val
from qemu.numerics.float32 import f32, fma_f32
from qemu.ops.common import (
    check_int,
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
from qemu.quantize import quantize_per_tensor_codes

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
    vector_dequantize: Callable = vec_dequantize,
    out_format: str | None = None,
) -> QTensor:
    """A dequantize / float op / quantize ``cpu_kernel_vec`` kernel: the vector lambda
    (``vector_dequantize`` -- DQ-VEC3 unless the kernel says otherwise --,
    ``vector_op``, ``Vectorized::quantize`` with ``vec_inverse``) or the scalar one
    (DQ-SCAL, ``scalar_op``, ``quantize_val``) per element.

    For 8-bit types both lambdas are evaluated once per possible code (256 values) and
    looked up, which is exact: each output depends only on its input code and lane."""
    dtype = x.dtype
    lanes = unary_lanes(ctx, x, order, out_format)
    domain = x.codes if dtype == QINT32 else np.arange(dtype.qmin, dtype.qmax + 1)
    with np.errstate(all="ignore"):
        vector = vector_op(vector_dequantize(domain, x.q_scale(), x.q_zero_point()))
        scalar = scalar_op(dequantize_val(domain, x.q_scale(), x.q_zero_point()))
    vector = vec_quantize(vector, f32(out_scale), np.float32(vec_inverse), out_zero_point, dtype)
    scalar = scalar_quantize(scalar, out_scale, out_zero_point, dtype)
    if dtype != QINT32:
        index = x.codes.astype(np.int64) - dtype.qmin
        vector, scalar = vector[index], scalar[index]
    return per_tensor(np.where(lanes, vector, scalar), out_scale, out_zero_point, dtype)


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


# -- sigmoid, tanh: Sleef in the vector body, glibc in the scalar tail -------------------------

# The output qparams torch.sigmoid / torch.tanh impose (qsigmoid.cpp, qtanh_kernel).
_SIGMOID_QPARAMS = {QUINT8: (2.0**-8, 0), QINT8: (2.0**-8, -128), QINT32: (2.0**-32, 0)}
_TANH_QPARAMS = {QUINT8: (2.0**-7, 128), QINT8: (2.0**-7, 0), QINT32: (2.0**-31, 0)}


def sigmoid_qparams(dtype: QDType) -> tuple[float, int]:
    """The output ``(scale, zero_point)`` of ``torch.sigmoid`` on a quantized tensor."""
    return _SIGMOID_QPARAMS[dtype]


def tanh_qparams(dtype: QDType) -> tuple[float, int]:
    """The output ``(scale, zero_point)`` of ``torch.tanh`` on a quantized tensor."""
    return _TANH_QPARAMS[dtype]


def sigmoid(
    input: QTensor,
    scale: float | None = None,
    zero_point: int | None = None,
    *,
    memory_format: object = None,
    engine: str | None = None,
    backend: str | None = None,
) -> QTensor:
    """Quantized sigmoid: ``torch.sigmoid`` (output qparams fixed by dtype, see
    :func:`sigmoid_qparams`) or, given ``scale`` and ``zero_point``,
    ``quantized::sigmoid`` (what ``nnq.Sigmoid`` runs).

    Examples
    --------
    >>> import qemu
    >>> sigmoid(qemu.QTensor.per_tensor([0, 255], 0.1, 128, "quint8")).int_repr().tolist()
    [1, 255]
    """
    x = check_qtensor(input, "input")
    if (scale is None) != (zero_point is None):
        raise ValueError("scale, zero_point: give both or neither")
    fixed = scale is None
    if fixed:
        scale, zero_point = sigmoid_qparams(x.dtype)
    scale, zero_point = check_output_qparams(scale, zero_point, x.dtype)
    return _entry(
        "sigmoid",
        x,
        scale,
        zero_point,
        fixed,
        memory_format=memory_format,
        engine=engine,
        backend=backend,
    )


def _sigmoid_vector(v):
    return np.float32(1) / (np.float32(1) + sleef.expf_u10(-v))


def _sigmoid_scalar(v):
    # 1.0f / (1.0 + std::exp(-x)): glibc expf, then the add and divide in double.
    return f32(1.0 / (1.0 + libm.expf(-v).astype(np.float64)))


@dispatch.reference("sigmoid")
def sigmoid_reference(ctx, x, scale, zero_point, fixed, order) -> QTensor:
    if ctx.engine.is_qnnpack and x.dtype == QUINT8:
        rows = check_qnnpack_nc_input(x, "input", "sigmoid")
        qnnpack_lut.check_normal_scales("sigmoid", input=x.q_scale(), output=scale)
        if f32(scale) != np.float32(2.0**-8) or zero_point != 0:
            raise ValueError(
                "scale, zero_point: QNNPACK's sigmoid supports only the output qparams (1/256, 0)"
            )
        if not rows:
            return per_tensor(x.codes, scale, zero_point, x.dtype)
        table = qnnpack_lut.sigmoid_lut(x.q_scale(), x.q_zero_point())
        return per_tensor(table[x.codes], scale, zero_point, x.dtype)
    inverse = np.float32(1.0 / scale)  # qsigmoid_kernel: f32(1.0 / double scale)
    return requantize_unary(
        ctx,
        x,
        order,
        scale,
        zero_point,
        inverse,
        _sigmoid_vector,
        _sigmoid_scalar,
        vector_dequantize=dequantize_float,  # the only kernel with the 2-argument DQ
    )


def tanh(
    input: QTensor,
    *,
    memory_format: object = None,
    engine: str | None = None,
    backend: str | None = None,
) -> QTensor:
    """``torch.tanh`` on a quantized tensor; output qparams fixed by dtype (see
    :func:`tanh_qparams`).

    Examples
    --------
    >>> import qemu
    >>> tanh(qemu.QTensor.per_tensor([0, 255], 0.1, 128, "quint8")).int_repr().tolist()
    [0, 255]
    """
    return _entry("tanh", input, memory_format=memory_format, engine=engine, backend=backend)


@dispatch.reference("tanh")
def tanh_reference(ctx, x, order) -> QTensor:
    scale, zero_point = tanh_qparams(x.dtype)
    if ctx.engine.is_qnnpack and x.dtype == QUINT8:
        rows = check_qnnpack_nc_input(x, "input", "tanh")
        qnnpack_lut.check_normal_scales("tanh", input=x.q_scale())
        if not rows:
            return per_tensor(x.codes, scale, zero_point, x.dtype)
        table = qnnpack_lut.tanh_lut(x.q_scale(), x.q_zero_point())
        return per_tensor(table[x.codes], scale, zero_point, x.dtype)
    inverse = np.float32(1.0 / float(np.float32(scale)))
    return requantize_unary(ctx, x, order, scale, zero_point, inverse, sleef.tanhf_u10, libm.tanhf)


# -- elu, celu ------------------------------------------------------------------------------


def elu(
    input: QTensor,
    scale: float,
    zero_point: int,
    alpha: float = 1.0,
    *,
    memory_format: object = None,
    engine: str | None = None,
    backend: str | None = None,
) -> QTensor:
    """``torch.ao.nn.quantized.functional.elu`` (``quantized::elu`` with unit ELU
    ``scale`` and ``input_scale``): ``x > 0 ? x : alpha * expm1(x)``, requantized to
    ``(scale, zero_point)``.

    Examples
    --------
    >>> import qemu
    >>> elu(qemu.QTensor.per_tensor([0, 20], 0.5, 10, "qint8"), 0.5, 10).int_repr().tolist()
    [2, 20]
    """
    x = check_qtensor(input, "input")
    scale, zero_point = check_output_qparams(scale, zero_point, x.dtype)
    a = check_number(alpha, "alpha")
    return _entry(
        "elu",
        x,
        scale,
        zero_point,
        a,
        1.0,
        1.0,
        "elu",
        memory_format=memory_format,
        engine=engine,
        backend=backend,
    )


def celu(
    input: QTensor,
    scale: float,
    zero_point: int,
    alpha: float = 1.0,
    *,
    memory_format: object = None,
    engine: str | None = None,
    backend: str | None = None,
) -> QTensor:
    """``torch.ao.nn.quantized.functional.celu`` (``quantized::celu``): ELU with
    ``input_scale = 1 / alpha``.

    Examples
    --------
    >>> import qemu
    >>> celu(qemu.QTensor.per_tensor([0, 20], 0.5, 10, "qint8"), 0.5, 10).int_repr().tolist()
    [2, 20]
    """
    x = check_qtensor(input, "input")
    scale, zero_point = check_output_qparams(scale, zero_point, x.dtype)
    a = check_number(alpha, "alpha")
    if a == 0:
        raise ValueError("alpha: must not be zero for celu")
    # qelu.cpp: quantized_celu passes input_scale = 1. / alpha, in double.
    return _entry(
        "elu",
        x,
        scale,
        zero_point,
        a,
        1.0,
        1.0 / a,
        "celu",
        memory_format=memory_format,
        engine=engine,
        backend=backend,
    )


@dispatch.reference("elu")
def elu_reference(ctx, x, scale, zero_point, alpha, coef, input_coef, variant, order):
    """``qelu_kernel`` (celu is ELU with ``input_scale = 1 / alpha``; ``variant``
    names the torch entry point)."""
    a, c, ic = np.float32(alpha), np.float32(coef), np.float32(input_coef)

    def vector(v):
        negative = sleef.expm1f_u10(v * ic) * a
        return np.where(v > 0, v, negative) * c

    def scalar(v):
        negative = libm.expm1f(v * ic) * a * c
        return np.where(v >= 0, v * c, negative)

    inverse = np.float32(1.0 / float(f32(scale)))  # f32(1.0 / double(float scale))
    # quantized_elu allocates a contiguous output whatever the input's layout.
    return requantize_unary(
        ctx, x, order, scale, zero_point, inverse, vector, scalar, out_format="contiguous"
    )


# -- gelu -------------------------------------------------------------------------------------


def gelu(
    input: QTensor,
    approximate: str = "none",
    *,
    memory_format: object = None,
    engine: str | None = None,
    backend: str | None = None,
) -> QTensor:
    """``torch.nn.functional.gelu`` on a quantized tensor (output qparams = the input's,
    the scale rounded to float32).

    Examples
    --------
    >>> import qemu
    >>> gelu(qemu.QTensor.per_tensor([0, 20], 0.5, 10, "qint8")).int_repr().tolist()
    [10, 20]
    """
    if approximate not in ("none", "tanh"):
        raise ValueError(f"approximate: expected 'none' or 'tanh', got {approximate!r}")
    return _entry(
        "gelu", input, approximate, memory_format=memory_format, engine=engine, backend=backend
    )


_SQRT1_2 = np.float32(math.sqrt(0.5))
_GELU_BETA = math.sqrt(2.0) * (2.0 / math.sqrt(math.pi)) * 0.5  # M_SQRT2 * M_2_SQRTPI * 0.5
_GELU_KAPPA = 0.044715


def _gelu_vector(v):
    return (v * np.float32(0.5)) * (np.float32(1) + sleef.aten_erf_vec(v * _SQRT1_2))


def _gelu_tanh_vector(v):
    # GCC contracts ``dx + kKappaVec * dx_cube`` in qgelu_kernel's vector lambda into one
    # FMA (the AVX2 build has -mfma); unfused, 6,930 of 2^21 qint32 inputs at scale 2^-26
    # came out one or more codes off (tests/elementwise/test_gelu_qint32_torch.py).
    cube = v * v * v
    inner = np.float32(_GELU_BETA) * fma_f32(np.float32(_GELU_KAPPA), cube, v)
    return np.float32(0.5) * v * (np.float32(1) + sleef.tanhf_u10(inner))


def _gelu_tanh_scalar(v):
    # In double around a float cube; glibc's double tanh (numpy's float64 tanh here).
    cube = (v * v * v).astype(np.float64)
    inner = _GELU_BETA * (v.astype(np.float64) + _GELU_KAPPA * cube)
    return f32(0.5 * v.astype(np.float64) * (1.0 + np.tanh(inner)))


@dispatch.reference("gelu")
def gelu_reference(ctx, x, approximate, order) -> QTensor:
    # qgelu_kernel keeps the scale in a float: the output's double scale is f32(s).
    scale, zero_point = float(f32(x.q_scale())), x.q_zero_point()
    inverse = np.float32(1.0 / float(f32(scale)))
    if approximate == "tanh":
        vector, scalar = _gelu_tanh_vector, _gelu_tanh_scalar
    else:
        vector, scalar = _gelu_vector, aten_float.aten_qgelu_scalar_dy
    return requantize_unary(ctx, x, order, scale, zero_point, inverse, vector, scalar)


# -- softmax ------------------------------------------------------------------------------

QNNPACK_SOFTMAX_QPARAMS = (2.0**-8, 0)


def softmax(
    input: QTensor,
    dim: int,
    scale: float,
    zero_point: int,
    *,
    memory_format: object = None,
    engine: str | None = None,
    backend: str | None = None,
) -> QTensor:
    """``quantized::softmax`` (``torch.ao.nn.quantized.Softmax``): softmax of the
    dequantized input along ``dim``, quantized to ``(scale, zero_point)``. Under the
    qnnpack engine a quint8 input with output qparams ``(1/256, 0)`` takes QNNPACK's
    integer soft-argmax.

    Examples
    --------
    >>> import qemu
    >>> x = qemu.QTensor.per_tensor([[0, 10, 20]], 0.1, 0, "quint8")
    >>> softmax(x, 1, 1 / 256, 0).int_repr().tolist()
    [[23, 64, 169]]
    """
    x = check_qtensor(input, "input")
    d = check_int(dim, "dim")
    rank = max(x.ndim, 1)
    if not -rank <= d < rank:
        raise IndexError(
            f"dim: dimension out of range (expected to be in range of [{-rank}, {rank - 1}], "
            f"but got {d})"
        )
    scale, zero_point = check_output_qparams(scale, zero_point, x.dtype)
    return _entry(
        "softmax",
        x,
        d,
        scale,
        zero_point,
        memory_format=memory_format,
        engine=engine,
        backend=backend,
    )


def softmax_runs_qnnpack(ctx: dispatch.Context, x: QTensor, scale: float, zero_point: int) -> bool:
    """``qsoftmax``: QNNPACK's soft-argmax under the qnnpack engine for a quint8 input
    of rank > 0 and output qparams exactly ``(2^-8, 0)``."""
    return (
        ctx.engine.is_qnnpack
        and x.dtype == QUINT8
        and x.ndim > 0
        and (scale, zero_point) == QNNPACK_SOFTMAX_QPARAMS
    )


@dispatch.reference("softmax")
def softmax_reference(ctx, x, dim, scale, zero_point, order) -> QTensor:
    if softmax_runs_qnnpack(ctx, x, scale, zero_point):
        return per_tensor(_qnnpack_softmax_codes(x, dim, order), scale, zero_point, x.dtype)
    values = dequantize_val(x.codes, x.q_scale(), x.q_zero_point())
    lanes = 16 if ctx.engine.aten_capability == "avx512" else 8
    y = softmax_numerics.aten_softmax(values, dim % max(x.ndim, 1), lanes, ctx.threads)
    return per_tensor(
        quantize_per_tensor_codes(y, scale, zero_point, x.dtype), scale, zero_point, x.dtype
    )


def qnnpack_softmax_rows(x: QTensor, dim: int, order: tuple):
    """How ``qsoftmax_qnnpack`` hands the input to QNNPACK: the tensor whose storage it
    reads as rows of ``x.size(dim)`` codes, as ``(codes, strides)``, and the dimension
    swap to undo on the output (or None).

    The storage of ``x`` itself is read when ``x.stride(dim) == 1`` -- also when
    ``dim`` is not the innermost dimension of that storage, which scrambles the
    output --; ``x.contiguous()`` when ``dim`` is the last dimension (given as a
    non-negative index); otherwise ``x`` with ``dim`` and the last dimension swapped,
    made contiguous (a negative ``dim`` there is an out-of-range ``std::vector::at``).
    """
    strides = aten_loops.layout_strides(x.shape, order)
    last = x.ndim - 1
    if strides[dim] == 1:
        return x.codes, strides, None
    if dim == last:
        return x.codes, aten_loops.contiguous_strides(x.shape), None
    if dim < 0:
        raise IndexError(
            f"dim: qnnpack's softmax swaps dimension {dim} with the last one through "
            "std::vector::at, which needs a non-negative dim when the input is not "
            "contiguous along it"
        )
    swapped = np.swapaxes(x.codes, dim, last)
    return swapped, aten_loops.contiguous_strides(swapped.shape), (dim, last)


def check_qnnpack_softmax(x: QTensor, dim: int, order: tuple):
    """The inputs ``qsoftmax_qnnpack`` fails on, in its order (two of them kill torch
    with SIGFPE). Returns the rows QNNPACK reads (see :func:`qnnpack_softmax_rows`),
    their lookup table and strides."""
    codes, strides, swap = qnnpack_softmax_rows(x, dim, order)
    channels = x.shape[dim]
    if channels == 0:
        raise ValueError(
            "input: qnnpack's softmax divides numel by the size of dim, which is 0 "
            "(torch crashes with SIGFPE)"
        )
    qnnpack_lut.check_normal_scales("softmax", input=x.q_scale())
    table = softmax_numerics.qnnpack_softargmax_table(channels, np.float32(x.q_scale()))
    rows = aten_loops.to_memory(codes, strides).reshape(-1, channels)
    if rows.size and np.any(softmax_numerics.qnnpack_softargmax_sums(rows, table) == 0):
        raise ValueError(
            f"input: a row of {channels} codes sums to 2^32 in qnnpack's uint32 softmax "
            "lookup table, which wraps to 0 (torch divides by zero)"
        )
    return codes, strides, swap, rows, table


def _qnnpack_softmax_codes(x: QTensor, dim: int, order: tuple) -> np.ndarray:
    codes, strides, swap, rows, table = check_qnnpack_softmax(x, dim, order)
    out_strides = aten_loops.empty_strides(
        codes.shape, aten_loops.suggest_memory_format(codes.shape, strides)
    )
    if codes.size == 0:
        out = codes.copy()
    else:
        y = softmax_numerics.qnnpack_softargmax(rows, table)
        out = aten_loops.from_memory(y.reshape(-1), codes.shape, out_strides)
    return np.swapaxes(out, *swap) if swap is not None else out


__all__ = [
    "celu",
    "clamp",
    "elu",
    "gelu",
    "hardsigmoid",
    "hardswish",
    "hardtanh",
    "leaky_relu",
    "relu",
    "relu6",
    "sigmoid",
    "softmax",
    "tanh",
    "threshold",
]
