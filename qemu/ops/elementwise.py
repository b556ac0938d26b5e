"""Quantized binary ops and concatenation: ``quantized::add``, ``add_relu``,
``add_scalar``, ``mul``, ``mul_relu``, ``mul_scalar``, ``cat``, ``cat_relu`` -- what
``torch.ao.nn.quantized.QFunctional`` calls (``quantized::matmul`` is in
:mod:`qemu.ops.matmul`).

Engines: ``fbgemm*`` run ATen's kernels (``QuantizedOpKernels.cpp``: ``qadd_kernel``,
``qmul_kernel``, ``qadd_scalar_kernel``, ``qcat_nhwc_kernel``); ``qnnpack`` runs
QNNPACK's fixed-point add for two quint8 tensors of equal shape and ATen's kernels for
everything else. ``docs/numerics/elementwise.md`` gives every formula with its source.

Tensors carry no strides in qemu, but the layout torch holds a tensor in changes which
elements ATen's vector loop computes; ``memory_format`` says it ("contiguous",
"channels_last", "channels_last_3d" or an explicit dimension order, outermost first;
binary ops accept one layout for both inputs or a pair).
"""

from __future__ import annotations

import math

import numpy as np

from qemu import dispatch
from qemu.dtypes import QINT32, QUINT8
from qemu.numerics import aten_loops, fixedpoint, qnnpack_lut
from qemu.numerics.affine import dequantize_val
from qemu.numerics.aten_vec import requantize_from_int_val, requantize_from_int_vec
from qemu.numerics.float32 import f32, wrap_i32
from qemu.ops.common import (
    binary_layouts,
    check_int,
    check_number,
    check_output_qparams,
    check_qnnpack_nc_input,
    check_qtensor,
    layout,
    nhwc_channel_lanes,
    per_tensor,
    scalar_quantize,
    suggested_format,
    unary_lanes,
    vec_dequantize,
    vec_quantize,
    vector_lanes_per_step,
)
from qemu.qtensor import QTensor
from qemu.quantize import quantize_per_tensor_codes

# -- add / mul ------------------------------------------------------------------------


def _check_binary(qa: object, qb: object, op: str) -> tuple[QTensor, QTensor, tuple]:
    qa = check_qtensor(qa, "qa")
    qb = check_qtensor(qb, "qb")
    if qa.dtype != qb.dtype:
        raise ValueError(
            f"qb: {op} operands must have the same dtype, got {qa.dtype.name} and {qb.dtype.name}"
        )
    try:
        shape = np.broadcast_shapes(qa.shape, qb.shape)
    except ValueError:
        raise ValueError(
            f"qb: shape {qb.shape} does not broadcast with qa's shape {qa.shape}"
        ) from None
    return qa, qb, shape


def _binary_entry(op, qa, qb, scale, zero_point, relu, memory_format, engine, backend):
    qa, qb, _ = _check_binary(qa, qb, op)
    scale, zero_point = check_output_qparams(scale, zero_point, qa.dtype)
    layouts = binary_layouts(memory_format, qa.ndim, qb.ndim)
    return dispatch.call(
        op, qa, qb, scale, zero_point, relu, layouts, engine=engine, backend=backend
    )


def add(
    qa: QTensor,
    qb: QTensor,
    scale: float,
    zero_point: int,
    *,
    memory_format: object = None,
    engine: str | None = None,
    backend: str | None = None,
) -> QTensor:
    """``torch.ops.quantized.add(qa, qb, scale, zero_point)``: ``qa + qb`` requantized to
    ``(scale, zero_point)``, with broadcasting.

    Examples
    --------
    >>> import qemu
    >>> a = qemu.QTensor.per_tensor([10, 20], 0.5, 0, "quint8")
    >>> add(a, a, 1.0, 0).int_repr().tolist()
    [10, 20]
    """
    return _binary_entry("add", qa, qb, scale, zero_point, False, memory_format, engine, backend)


def add_relu(
    qa: QTensor,
    qb: QTensor,
    scale: float,
    zero_point: int,
    *,
    memory_format: object = None,
    engine: str | None = None,
    backend: str | None = None,
) -> QTensor:
    """``torch.ops.quantized.add_relu``: ``relu(qa + qb)`` requantized.

    Examples
    --------
    >>> import qemu
    >>> a = qemu.QTensor.per_tensor([0, 20], 0.5, 10, "quint8")
    >>> add_relu(a, a, 1.0, 5).int_repr().tolist()
    [5, 15]
    """
    return _binary_entry("add", qa, qb, scale, zero_point, True, memory_format, engine, backend)


def mul(
    qa: QTensor,
    qb: QTensor,
    scale: float,
    zero_point: int,
    *,
    memory_format: object = None,
    engine: str | None = None,
    backend: str | None = None,
) -> QTensor:
    """``torch.ops.quantized.mul(qa, qb, scale, zero_point)``, with broadcasting.

    Examples
    --------
    >>> import qemu
    >>> a = qemu.QTensor.per_tensor([2, 4], 0.5, 0, "quint8")
    >>> mul(a, a, 0.25, 0).int_repr().tolist()
    [4, 16]
    """
    return _binary_entry("mul", qa, qb, scale, zero_point, False, memory_format, engine, backend)


def mul_relu(
    qa: QTensor,
    qb: QTensor,
    scale: float,
    zero_point: int,
    *,
    memory_format: object = None,
    engine: str | None = None,
    backend: str | None = None,
) -> QTensor:
    """``torch.ops.quantized.mul_relu``.

    Examples
    --------
    >>> import qemu
    >>> a = qemu.QTensor.per_tensor([-2, 4], 0.5, 0, "qint8")
    >>> b = qemu.QTensor.per_tensor([2, 4], 0.5, 0, "qint8")
    >>> mul_relu(a, b, 0.25, 0).int_repr().tolist()
    [0, 16]
    """
    return _binary_entry("mul", qa, qb, scale, zero_point, True, memory_format, engine, backend)


def binary_lanes(ctx, qa, qb, layouts, out_shape_given):
    """Vector/scalar split of ``TensorIterator::borrowing_binary_op(out, qa, qb)`` with
    the output allocated in ``qa.suggest_memory_format()``."""
    shape = np.broadcast_shapes(qa.shape, qb.shape)
    # A resized output takes no part in choosing the order; its layout is moot.
    out_format = suggested_format(qa.shape, layouts[0]) if out_shape_given == shape else None
    return aten_loops.elementwise_lanes(
        shape,
        out_format,
        [(qa.shape, layouts[0]), (qb.shape, layouts[1])],
        vector_lanes_per_step(qa.dtype),
        ctx.threads,
        output_shape_given=out_shape_given,
    )


def qnnpack_runs_add(ctx: dispatch.Context, qa: QTensor, qb: QTensor) -> bool:
    """``BinaryOps.cpp::qadd`` takes QNNPACK's kernel for two quint8 tensors of equal
    shape under the qnnpack engine (broadcasting and qint8 fall back to ATen)."""
    return ctx.engine.is_qnnpack and qa.dtype == QUINT8 and qa.shape == qb.shape


def check_qnnpack_add(qa: QTensor, qb: QTensor, scale: float, zero_point: int, relu: bool):
    """The operator QNNPACK creates for this add, or the reason it refuses to
    (``qnnpack/src/add.c``); returns ``(multipliers, out_min)``."""
    qnnpack_lut.check_normal_scales("add", qa=qa.q_scale(), qb=qb.q_scale(), output=scale)
    out_min = zero_point if relu else 0
    if out_min >= 255:
        raise ValueError(
            "qnnpack add_relu: output zero point 255 leaves an empty output range; QNNPACK "
            "refuses to create the operator"
        )
    multipliers = fixedpoint.add_multipliers(qa.q_scale(), qb.q_scale(), scale)
    return multipliers, out_min


@dispatch.reference("add")
def _add_reference(ctx, qa, qb, scale, zero_point, relu, layouts) -> QTensor:
    dtype = qa.dtype
    if qnnpack_runs_add(ctx, qa, qb):
        if not check_qnnpack_nc_input(qa, "qa", "add", batch="returns"):
            return per_tensor(np.zeros(qa.shape, np.int64), scale, zero_point, dtype)
        multipliers, out_min = check_qnnpack_add(qa, qb, scale, zero_point, relu)
        codes = fixedpoint.qnnpack_add_codes(
            qa.codes,
            qb.codes,
            qa.q_zero_point(),
            qb.q_zero_point(),
            zero_point,
            multipliers,
            out_min,
            255,
        )
        return per_tensor(codes, scale, zero_point, dtype)
    shape = np.broadcast_shapes(qa.shape, qb.shape)
    lanes = binary_lanes(ctx, qa, qb, layouts, qa.shape)
    a = np.broadcast_to(qa.codes, shape)
    b = np.broadcast_to(qb.codes, shape)
    # qadd_kernel: vector lambda DQ-VEC3 + DQ-VEC3, Q-VEC with 1.0f / float(scale);
    # scalar lambda dequantize_val + dequantize_val, quantize_val.
    with np.errstate(invalid="ignore", over="ignore"):
        vector_sum = vec_dequantize(a, qa.q_scale(), qa.q_zero_point()) + vec_dequantize(
            b, qb.q_scale(), qb.q_zero_point()
        )
        scalar_sum = dequantize_val(a, qa.q_scale(), qa.q_zero_point()) + dequantize_val(
            b, qb.q_scale(), qb.q_zero_point()
        )
    if relu:
        vector_sum = np.maximum(vector_sum, np.float32(0))
        scalar_sum = np.where(scalar_sum < 0, np.float32(0), scalar_sum)
    inverse = np.float32(1.0) / f32(scale)
    codes = np.where(
        lanes,
        vec_quantize(vector_sum, f32(scale), inverse, zero_point, dtype),
        scalar_quantize(scalar_sum, scale, zero_point, dtype),
    )
    return per_tensor(codes, scale, zero_point, dtype)


def mul_multiplier(a_scale: float, b_scale: float, out_scale: float) -> np.float32:
    """``qmul_kernel``'s float multiplier ``f32(sa) * f32(sb) * (1.0f / f32(so))``."""
    with np.errstate(over="ignore", divide="ignore"):
        return (f32(a_scale) * f32(b_scale)) * (np.float32(1.0) / f32(out_scale))


@dispatch.reference("mul")
def _mul_reference(ctx, qa, qb, scale, zero_point, relu, layouts) -> QTensor:
    dtype = qa.dtype
    shape = np.broadcast_shapes(qa.shape, qb.shape)
    # QMul allocates the broadcast shape in qa.suggest_memory_format().
    lanes = binary_lanes(ctx, qa, qb, layouts, shape)
    a = np.broadcast_to(qa.codes, shape).astype(np.int64)
    b = np.broadcast_to(qb.codes, shape).astype(np.int64)
    product = wrap_i32(
        wrap_i32(a - qa.q_zero_point()).astype(np.int64)
        * wrap_i32(b - qb.q_zero_point()).astype(np.int64)
    )
    multiplier = mul_multiplier(qa.q_scale(), qb.q_scale(), scale)
    vector = requantize_from_int_vec(
        product, multiplier, zero_point, dtype.qmin, dtype.qmax, saturate=dtype != QINT32
    )
    scalar = requantize_from_int_val(product, multiplier, zero_point, dtype.qmin, dtype.qmax)
    codes = np.where(lanes, vector, scalar)
    if relu:
        codes = np.maximum(codes, zero_point)
    return per_tensor(wrap_i32(codes), scale, zero_point, dtype)


# -- add_scalar / mul_scalar ------------------------------------------------------------


def add_scalar_qparams(x: QTensor, other: float) -> tuple[float, int, int, bool]:
    """``BinaryOps.cpp::_add_scalar_out``: the output ``(scale, zero_point)``, the
    integer shift ``c_q = nearbyint(c / s)`` and whether the data are requantized
    (True) or only relabelled (False)."""
    dtype = x.dtype
    s, z = x.q_scale(), x.q_zero_point()
    shift = other / s
    if not math.isfinite(shift) or abs(shift) >= 2**62:
        raise ValueError(f"other: {other!r} / scale {s!r} is not a representable integer shift")
    c_q = int(np.rint(shift))
    span = float(dtype.qmax) - dtype.qmin
    if dtype.qmin > z - c_q:
        new_scale, new_zero = ((float(dtype.qmax) - (z - c_q)) / span) * s, dtype.qmin
    elif dtype.qmax < z - c_q:
        new_scale, new_zero = (float(z - c_q) - dtype.qmin) / span * s, dtype.qmax
    else:
        return s, z - c_q, c_q, False
    if not -(2**31) <= c_q < 2**31:
        # The kernel reads the shift as an int32 Scalar, which torch refuses.
        raise ValueError(
            f"other: the shift round({other!r} / {s!r}) = {c_q} does not fit in int32; "
            "torch refuses it"
        )
    if not (math.isfinite(new_scale) and new_scale > 0):
        raise ValueError(f"other: the output scale {new_scale!r} would not be finite and > 0")
    return new_scale, new_zero, c_q, True


def add_scalar(
    qa: QTensor,
    other: float,
    *,
    memory_format: object = None,
    engine: str | None = None,
    backend: str | None = None,
) -> QTensor:
    """``torch.ops.quantized.add_scalar(qa, other)``: ``qa + other`` with output qparams
    derived from qa's (see ``docs/numerics/elementwise.md``).

    Examples
    --------
    >>> import qemu
    >>> q = add_scalar(qemu.QTensor.per_tensor([10, 20], 0.5, 10, "quint8"), 1.0)
    >>> q.q_zero_point(), q.int_repr().tolist()
    (8, [10, 20])
    """
    return _scalar_entry("add_scalar", qa, other, False, memory_format, engine, backend)


def add_scalar_relu(
    qa: QTensor,
    other: float,
    *,
    memory_format: object = None,
    engine: str | None = None,
    backend: str | None = None,
) -> QTensor:
    """``torch.ops.quantized.add_scalar_relu(qa, other)``.

    Examples
    --------
    >>> import qemu
    >>> add_scalar_relu(qemu.QTensor.per_tensor([0, 20], 0.5, 10, "quint8"), 1.0).int_repr().tolist()
    [8, 20]
    """
    return _scalar_entry("add_scalar", qa, other, True, memory_format, engine, backend)


def mul_scalar(
    qa: QTensor,
    other: float,
    *,
    memory_format: object = None,
    engine: str | None = None,
    backend: str | None = None,
) -> QTensor:
    """``torch.ops.quantized.mul_scalar(qa, other)``: only the qparams change for
    ``other > 0``; ``other < 0`` mirrors the codes; ``other == 0`` gives zeros.

    Examples
    --------
    >>> import qemu
    >>> q = mul_scalar(qemu.QTensor.per_tensor([10, 20], 0.5, 10, "quint8"), -2.0)
    >>> q.q_scale(), q.q_zero_point(), q.int_repr().tolist()
    (1.0, 245, [245, 235])
    """
    return _scalar_entry("mul_scalar", qa, other, False, memory_format, engine, backend)


def mul_scalar_relu(
    qa: QTensor,
    other: float,
    *,
    memory_format: object = None,
    engine: str | None = None,
    backend: str | None = None,
) -> QTensor:
    """``torch.ops.quantized.mul_scalar_relu(qa, other)``.

    Examples
    --------
    >>> import qemu
    >>> mul_scalar_relu(qemu.QTensor.per_tensor([5, 20], 0.5, 10, "quint8"), 2.0).int_repr().tolist()
    [10, 20]
    """
    return _scalar_entry("mul_scalar", qa, other, True, memory_format, engine, backend)


def _scalar_entry(op, qa, other, relu, memory_format, engine, backend):
    qa = check_qtensor(qa, "qa")
    other = check_number(other, "other")
    if not math.isfinite(other):
        raise ValueError(f"other: expected a finite number, got {other!r}")
    order = layout(memory_format, qa.ndim)
    if op == "add_scalar":
        add_scalar_qparams(qa, other)  # refuses what torch refuses, before dispatching
    else:
        mul_scalar_qparams(qa, other)
    return dispatch.call(op, qa, other, relu, order, engine=engine, backend=backend)


@dispatch.reference("add_scalar")
def _add_scalar_reference(ctx, qa, other, relu, order) -> QTensor:
    dtype = qa.dtype
    new_scale, new_zero, c_q, requantize = add_scalar_qparams(qa, other)
    if not requantize:
        codes = qa.codes.astype(np.int64)
        if relu:
            codes = np.maximum(codes, new_zero)
        return per_tensor(codes, new_scale, new_zero, dtype)
    # qadd_scalar_kernel: requantize_from_int(q - z + c_q, f32(s) * (1 / f32(s'))).
    multiplier = f32(qa.q_scale()) * (np.float32(1.0) / f32(new_scale))
    shifted = wrap_i32(qa.codes.astype(np.int64) - qa.q_zero_point() + c_q)
    lanes = unary_lanes(ctx, qa, order)
    vector = requantize_from_int_vec(
        shifted, multiplier, new_zero, dtype.qmin, dtype.qmax, saturate=dtype != QINT32
    )
    scalar = requantize_from_int_val(shifted, multiplier, new_zero, dtype.qmin, dtype.qmax)
    codes = np.where(lanes, vector, scalar)
    if relu:
        codes = np.maximum(codes, new_zero)
    return per_tensor(wrap_i32(codes), new_scale, new_zero, dtype)


def mul_scalar_qparams(x: QTensor, other: float) -> tuple[float, int]:
    """``qmul.cpp::_mul_scalar_out``: the output ``(scale, zero_point)``."""
    dtype = x.dtype
    if other > 0:
        new_scale, new_zero = other * x.q_scale(), x.q_zero_point()
    elif other == 0:
        new_scale, new_zero = 1.0, 0
    else:
        new_scale, new_zero = abs(other) * x.q_scale(), dtype.qmax - (x.q_zero_point() - dtype.qmin)
    if not (math.isfinite(new_scale) and new_scale > 0):
        raise ValueError(
            f"other: the output scale |{other!r}| * {x.q_scale()!r} is not finite and > 0"
        )
    return new_scale, new_zero


@dispatch.reference("mul_scalar")
def mul_scalar_reference(ctx, qa, other, relu, order) -> QTensor:
    dtype = qa.dtype
    new_scale, new_zero = mul_scalar_qparams(qa, other)
    codes = qa.codes.astype(np.int64)
    if other == 0:
        codes = np.zeros_like(codes)
    elif other < 0:
        codes = dtype.qmax + dtype.qmin - codes
    if relu and other != 0:
        codes = np.maximum(codes, new_zero)
    return per_tensor(codes, new_scale, new_zero, dtype)


# -- cat ---------------------------------------------------------------------------------


def cat(
    qxs: list[QTensor],
    dim: int = 0,
    scale: float | None = None,
    zero_point: int | None = None,
    *,
    memory_format: object = None,
    engine: str | None = None,
    backend: str | None = None,
) -> QTensor:
    """``torch.ops.quantized.cat(qxs, dim, scale, zero_point)``: concatenate and
    requantize to ``(scale, zero_point)`` (default: those of ``qxs[0]``).

    With ``memory_format="channels_last"`` and ``dim == 1`` torch takes its NHWC kernel
    (``qcat_nhwc_kernel``), whose rounding differs from the generic dequantize / cat /
    quantize path.

    Examples
    --------
    >>> import qemu
    >>> a = qemu.QTensor.per_tensor([[1, 2]], 1.0, 0, "quint8")
    >>> cat([a, a], 0).int_repr().tolist()
    [[1, 2], [1, 2]]
    """
    return _cat_entry(qxs, dim, scale, zero_point, False, memory_format, engine, backend)


def cat_relu(
    qxs: list[QTensor],
    dim: int = 0,
    scale: float | None = None,
    zero_point: int | None = None,
    *,
    memory_format: object = None,
    engine: str | None = None,
    backend: str | None = None,
) -> QTensor:
    """``torch.ops.quantized.cat_relu(qxs, dim, scale, zero_point)``.

    Examples
    --------
    >>> import qemu
    >>> a = qemu.QTensor.per_tensor([[1, 9]], 1.0, 5, "quint8")
    >>> cat_relu([a], 1).int_repr().tolist()
    [[5, 9]]
    """
    return _cat_entry(qxs, dim, scale, zero_point, True, memory_format, engine, backend)


def _cat_entry(qxs, dim, scale, zero_point, relu, memory_format, engine, backend):
    if isinstance(qxs, QTensor) or not isinstance(qxs, (list, tuple)):
        raise TypeError(f"qxs: expected a list of QTensors, got {type(qxs).__name__}")
    if not qxs:
        raise ValueError("qxs: expected at least one tensor")
    tensors = [check_qtensor(q, f"qxs[{i}]") for i, q in enumerate(qxs)]
    first = tensors[0]
    for i, q in enumerate(tensors[1:], 1):
        if q.dtype != first.dtype:
            raise ValueError(
                f"qxs[{i}]: all tensors must have the same dtype, got {first.dtype.name} and "
                f"{q.dtype.name}"
            )
        if q.ndim != first.ndim:
            raise ValueError(
                f"qxs[{i}]: all tensors must have the same number of dimensions, got "
                f"{first.ndim} and {q.ndim}"
            )
    ndim = first.ndim
    if ndim == 0:
        raise ValueError("qxs: zero-dimensional tensors cannot be concatenated")
    dim = check_int(dim, "dim")
    if not -ndim <= dim < ndim:
        raise ValueError(f"dim: expected a dimension in [{-ndim}, {ndim}), got {dim}")
    axis = dim % ndim
    for i, q in enumerate(tensors[1:], 1):
        for d in range(ndim):
            if d != axis and q.shape[d] != first.shape[d]:
                raise ValueError(
                    f"qxs[{i}]: sizes must match except in dimension {axis}; got "
                    f"{first.shape} and {q.shape}"
                )
    scale = first.q_scale() if scale is None else scale
    zero_point = first.q_zero_point() if zero_point is None else zero_point
    scale, zero_point = check_output_qparams(scale, zero_point, first.dtype)
    orders = tuple(layout(memory_format, ndim) for _ in tensors)
    return dispatch.call(
        "cat", list(tensors), dim, scale, zero_point, relu, orders, engine=engine, backend=backend
    )


def cat_nhwc_fast_path(qxs: list[QTensor], dim: int, orders: tuple) -> bool:
    """``qconcat.cpp::is_cat_nhwc_fast_path``: ``dim == 1`` literally (not -3), every
    input 4-D and ``is_contiguous(ChannelsLast)`` -- which a contiguous tensor with
    ``H * W == 1`` or ``C == 1`` also is."""
    return dim == 1 and all(
        q.ndim == 4
        and aten_loops.is_contiguous_as(
            q.shape, aten_loops.layout_strides(q.shape, order), aten_loops.CHANNELS_LAST
        )
        for q, order in zip(qxs, orders, strict=True)
    )


@dispatch.reference("cat")
def cat_reference(ctx, qxs, dim, scale, zero_point, relu, orders) -> QTensor:
    dtype = qxs[0].dtype
    axis = dim % qxs[0].ndim
    if cat_nhwc_fast_path(qxs, dim, orders):
        inverse = f32(1.0 / scale)
        parts = []
        for q in qxs:
            if q.q_scale() == scale and q.q_zero_point() == zero_point and not relu:
                parts.append(q.codes.astype(np.int64))
                continue
            lanes = nhwc_channel_lanes(q.shape[1], dtype).reshape(1, -1, 1, 1)
            with np.errstate(invalid="ignore", over="ignore"):
                vector = vec_dequantize(q.codes, q.q_scale(), q.q_zero_point())
                scalar = dequantize_val(q.codes, q.q_scale(), q.q_zero_point())
            if relu:
                vector = np.maximum(vector, np.float32(0))
                scalar = np.where(scalar < 0, np.float32(0), scalar)
            parts.append(
                np.where(
                    lanes,
                    vec_quantize(vector, f32(scale), inverse, zero_point, dtype),
                    scalar_quantize(scalar, scale, zero_point, dtype),
                )
            )
        return per_tensor(np.concatenate(parts, axis=1), scale, zero_point, dtype)
    # Generic path: Tensor.dequantize() each input, float cat, quantize_per_tensor.
    values = np.concatenate(
        [dequantize_val(q.codes, q.q_scale(), q.q_zero_point()) for q in qxs], axis=axis
    )
    codes = quantize_per_tensor_codes(values, scale, zero_point, dtype)
    if relu:
        codes = np.maximum(codes, zero_point)
    return per_tensor(codes, scale, zero_point, dtype)


__all__ = [
    "add",
    "add_relu",
    "add_scalar",
    "add_scalar_relu",
    "cat",
    "cat_relu",
    "mul",
    "mul_relu",
    "mul_scalar",
    "mul_scalar_relu",
]
