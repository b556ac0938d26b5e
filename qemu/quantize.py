"""quantize_per_tensor, quantize_per_channel and dequantize, as torch 2.13 computes them.

Which formula runs depends on dtype and scheme, not on the engine (fbgemm and qnnpack
share these ATen kernels on x86):

============================  ========================================================
per-tensor quint8 / qint8     FBGEMM ``QuantizeAvx2`` LEGACY: one FMA, one rounding
per-tensor qint32             scalar ``quantize_val``: two float roundings, then rint
per-tensor quint4x2/quint2x4  sub-byte loop: rint(x * inv), then + zero point
per-channel, int zero points  scalar ``quantize_val`` per element (no vector path)
per-channel, float qparams    ``quantize_val_float_qparams``: float zero point, lrintf
============================  ========================================================

See ``docs/numerics/quantize.md`` for sources and the tests that confirm each row.
"""

from __future__ import annotations

import numpy as np

from qemu import dispatch
from qemu.dtypes import (
    PER_CHANNEL_AFFINE,
    PER_CHANNEL_AFFINE_FLOAT_QPARAMS,
    PER_TENSOR_AFFINE,
    QINT32,
    QDType,
    as_qdtype,
    float_dtype_name,
)
from qemu.numerics.affine import (
    dequantize_float,
    dequantize_per_channel_double,
    dequantize_val,
    quantize_fbgemm,
    quantize_float_qparams,
    quantize_sub_byte,
    quantize_val,
)
from qemu.numerics.fp16 import round_to_fp16
from qemu.qparams import choose_qparams_dynamic
from qemu.qtensor import (
    QTensor,
    check_axis,
    check_channel_qparams,
    check_scale,
    check_zero_point,
)


def check_float_input(x: object, argument: str = "x") -> np.ndarray:
    """A float32 array: float32 arrays pass; Python numbers and sequences are converted
    (as ``torch.tensor`` would); arrays of any other dtype are refused, as torch refuses
    to quantize them."""
    if isinstance(x, (np.ndarray, np.generic)):
        if x.dtype != np.float32:
            raise TypeError(
                f"{argument}: expected a float32 array, got dtype {x.dtype} "
                "(torch quantizes only float32; convert explicitly with .astype(np.float32))"
            )
        return np.asarray(x)
    if isinstance(x, QTensor):
        raise TypeError(f"{argument}: expected a float32 array, got a QTensor")
    try:
        array = np.asarray(x)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{argument}: expected a float32 array, got {type(x).__name__}") from error
    if array.dtype.kind not in "fiu" or array.dtype.kind == "b":
        raise TypeError(
            f"{argument}: expected float values, got {type(x).__name__} of {array.dtype}"
        )
    return array.astype(np.float32)


def _channel_view(values: np.ndarray, axis: int, ndim: int) -> np.ndarray:
    """Per-channel parameters shaped to broadcast along ``axis``."""
    shape = [1] * ndim
    shape[axis] = -1
    return np.asarray(values).reshape(shape)


# -- public entries -----------------------------------------------------------------


def quantize_per_tensor(
    x: object,
    scale: float,
    zero_point: int,
    dtype: object,
    *,
    engine: str | None = None,
    backend: str | None = None,
) -> QTensor:
    """Quantize float32 values with one scale and zero point, as
    ``torch.quantize_per_tensor`` does.

    Parameters
    ----------
    x : array_like of float32
    scale : float
        Finite and > 0; kept as a double, used by the kernel as float32.
    zero_point : int
        Within the dtype's range.
    dtype : str
        ``"quint8"``, ``"qint8"``, ``"qint32"``, ``"quint4x2"`` or ``"quint2x4"``.
    engine, backend : str, optional
        Defaults from :func:`qemu.use` / ``QEMU_ENGINE`` / ``QEMU_BACKEND``.

    Examples
    --------
    >>> import numpy as np, qemu
    >>> qemu.quantize_per_tensor(np.float32([0.25, 0.75]), 0.5, 0, "quint8").int_repr().tolist()
    [0, 2]
    """
    array = check_float_input(x)
    qdtype = as_qdtype(dtype)
    return dispatch.call(
        "quantize_per_tensor",
        array,
        check_scale(scale),
        check_zero_point(zero_point, qdtype),
        qdtype,
        engine=engine,
        backend=backend,
    )


def quantize_per_channel(
    x: object,
    scales: object,
    zero_points: object,
    axis: int,
    dtype: object,
    *,
    engine: str | None = None,
    backend: str | None = None,
) -> QTensor:
    """Quantize float32 values with one scale and zero point per slice along ``axis``,
    as ``torch.quantize_per_channel`` does.

    Integer ``zero_points`` give ``per_channel_affine`` (quint8, qint8, qint32); float
    ``zero_points`` give ``per_channel_affine_float_qparams`` (quint8, qint8,
    quint4x2, quint2x4), the embedding-weight scheme.

    Examples
    --------
    >>> import numpy as np, qemu
    >>> q = qemu.quantize_per_channel(np.float32([[1, 1], [1, 1]]), [0.5, 0.25], [0, 0], 0, "qint8")
    >>> q.int_repr().tolist()
    [[2, 2], [4, 4]]
    """
    array = check_float_input(x)
    qdtype = as_qdtype(dtype)
    if array.ndim == 0:
        raise ValueError(
            "x: per-channel quantization needs at least one dimension, got a 0-d array"
        )
    channel_axis = check_axis(axis, array.ndim)
    float_qparams = np.asarray(zero_points).dtype.kind == "f"
    if float_qparams and qdtype == QINT32:
        # torch 2.13 dies with SIGILL on this combination instead of raising.
        raise ValueError(
            "dtype: float zero points (per_channel_affine_float_qparams) support quint8, qint8, "
            "quint4x2 and quint2x4, not qint32 (torch 2.13 crashes on it)"
        )
    if not float_qparams and qdtype.sub_byte:
        raise ValueError(
            f"dtype: {qdtype.name} per-channel quantization needs float zero points "
            "(per_channel_affine_float_qparams); torch implements no integer-zero-point variant"
        )
    scales_array, points_array = check_channel_qparams(
        scales, zero_points, array.shape[channel_axis], qdtype, float_qparams
    )
    return dispatch.call(
        "quantize_per_channel",
        array,
        scales_array,
        points_array,
        channel_axis,
        qdtype,
        engine=engine,
        backend=backend,
    )


def dequantize(q: QTensor, *, engine: str | None = None, backend: str | None = None) -> np.ndarray:
    """Float32 values of a QTensor, as ``torch.Tensor.dequantize`` computes them.

    Examples
    --------
    >>> import qemu
    >>> qemu.dequantize(qemu.QTensor.per_tensor([3, 5], 0.5, 3, "quint8")).tolist()
    [0.0, 1.0]
    """
    if not isinstance(q, QTensor):
        raise TypeError(f"q: expected a QTensor, got {type(q).__name__}")
    return dispatch.call("dequantize", q, engine=engine, backend=backend)


# -- reference kernels ----------------------------------------------------------------


def quantize_per_tensor_codes(
    x: np.ndarray, scale: float, zero_point: int, dtype: QDType
) -> np.ndarray:
    """The codes ``torch.quantize_per_tensor`` produces, as int64."""
    if dtype.sub_byte:
        return quantize_sub_byte(x, scale, zero_point, dtype.qmin, dtype.qmax)
    if dtype == QINT32:
        return quantize_val(x, scale, zero_point, dtype.qmin, dtype.qmax)
    return quantize_fbgemm(x, scale, zero_point, dtype.qmin, dtype.qmax)


@dispatch.reference("quantize_per_tensor")
def _quantize_per_tensor_reference(
    ctx: dispatch.Context, x: np.ndarray, scale: float, zero_point: int, dtype: QDType
) -> QTensor:
    codes = quantize_per_tensor_codes(x, scale, zero_point, dtype)
    return QTensor(codes.astype(dtype.storage), dtype, PER_TENSOR_AFFINE, scale, zero_point, None)


@dispatch.reference("quantize_per_channel")
def _quantize_per_channel_reference(
    ctx: dispatch.Context,
    x: np.ndarray,
    scales: np.ndarray,
    zero_points: np.ndarray,
    axis: int,
    dtype: QDType,
) -> QTensor:
    scale = _channel_view(scales, axis, x.ndim)
    zero_point = _channel_view(zero_points, axis, x.ndim)
    if zero_points.dtype == np.float32:
        codes = quantize_float_qparams(x, scale, zero_point, dtype.qmin, dtype.qmax)
        qscheme = PER_CHANNEL_AFFINE_FLOAT_QPARAMS
    else:
        codes = quantize_val(x, scale, zero_point, dtype.qmin, dtype.qmax)
        qscheme = PER_CHANNEL_AFFINE
    return QTensor(codes.astype(dtype.storage), dtype, qscheme, scales, zero_points, axis)


@dispatch.reference("dequantize")
def _dequantize_reference(ctx: dispatch.Context, q: QTensor) -> np.ndarray:
    codes = q.codes
    if not q.is_per_channel:
        formula = dequantize_float if q.dtype.sub_byte else dequantize_val
        values = formula(codes, q.q_scale(), q.q_zero_point())
    else:
        axis = q.q_per_channel_axis()
        scales = _channel_view(q.q_per_channel_scales(), axis, q.ndim)
        zero_points = _channel_view(q.q_per_channel_zero_points(), axis, q.ndim)
        if q.qscheme() == PER_CHANNEL_AFFINE_FLOAT_QPARAMS:
            values = dequantize_float(codes, scales, zero_points)
        else:
            values = dequantize_per_channel_double(codes, scales, zero_points)
    return np.asarray(values, dtype=np.float32).reshape(q.shape)


# -- dynamic quantization -------------------------------------------------------------

# torch.quantize_per_tensor_dynamic accepts these and, for float16, just converts.
_DYNAMIC_DTYPES = ("quint8", "qint8", "float16")


def _check_dynamic_dtype(dtype: object) -> QDType | str:
    if float_dtype_name(dtype) == "float16":
        return "float16"
    qdtype = as_qdtype(dtype)
    if qdtype.name not in _DYNAMIC_DTYPES:
        raise ValueError(
            f"dtype: quantize_per_tensor_dynamic supports 'quint8', 'qint8' and 'float16', "
            f"got {qdtype.name!r}"
        )
    return qdtype


def quantize_per_tensor_dynamic(
    x: object,
    dtype: object,
    reduce_range: bool = False,
    *,
    engine: str | None = None,
    backend: str | None = None,
) -> QTensor | np.ndarray:
    """Quantize with qparams chosen from ``x``'s own range, as
    ``torch.quantize_per_tensor_dynamic`` does (``aten/src/ATen/native/quantized/
    QTensor.cpp``).

    The scale and zero point are :func:`qemu.qparams.choose_qparams_dynamic` of
    ``x.min()`` and ``x.max()`` over the dtype's full range (``reduce_range`` halves it,
    except under the ``qnnpack`` engine, which ignores it as torch does); ``x`` is then
    quantized by :func:`quantize_per_tensor`. ``dtype="float16"`` returns ``x`` rounded
    to float16 (a NumPy array), as torch returns a half tensor.

    Parameters
    ----------
    x : array_like of float32
        Non-empty and finite. torch raises for NaN (min <= max fails) and +inf (zero
        point -2**31); for -inf it returns an infinite scale, which qemu refuses.
    dtype : str
        ``"quint8"``, ``"qint8"`` or ``"float16"``.
    reduce_range : bool

    Examples
    --------
    >>> import numpy as np
    >>> import qemu
    >>> q = qemu.quantize_per_tensor_dynamic(np.float32([-1.0, 2.0]), "quint8")
    >>> q.q_scale(), q.q_zero_point(), q.int_repr().tolist()
    (0.011764705882352941, 85, [0, 255])
    """
    array = check_float_input(x)
    target = _check_dynamic_dtype(dtype)
    if not isinstance(reduce_range, (bool, np.bool_)):
        raise TypeError(f"reduce_range: expected a bool, got {type(reduce_range).__name__}")
    if target != "float16":
        if array.size == 0:
            raise ValueError("x: expected a non-empty array (its min and max choose the qparams)")
        if np.isnan(array).any():
            raise ValueError("x: NaN values leave no valid range (torch raises min <= max)")
        if np.isinf(array).any():
            # +inf: torch computes the zero point -2**31 and raises; -inf: torch returns
            # a tensor with an infinite scale, which a QTensor does not hold.
            raise ValueError("x: expected finite values, got an infinity")
    return dispatch.call(
        "quantize_per_tensor_dynamic",
        array,
        target,
        bool(reduce_range),
        engine=engine,
        backend=backend,
    )


def dynamic_qparams(
    ctx: dispatch.Context, low: float, high: float, dtype: QDType, reduce_range: bool
) -> tuple[float, int]:
    """The (double scale, zero point) ``quantize_per_tensor_dynamic`` picks for the range
    ``[low, high]`` on ``ctx``'s engine: qnnpack drops ``reduce_range``."""
    return choose_qparams_dynamic(
        low, high, dtype.qmin, dtype.qmax, reduce_range and not ctx.engine.is_qnnpack
    )


@dispatch.reference("quantize_per_tensor_dynamic")
def _quantize_per_tensor_dynamic_reference(
    ctx: dispatch.Context, x: np.ndarray, dtype: QDType | str, reduce_range: bool
) -> QTensor | np.ndarray:
    if dtype == "float16":
        with np.errstate(over="ignore"):  # beyond 65504 becomes inf, as x.to(half) does
            return round_to_fp16(x)
    scale, zero_point = dynamic_qparams(ctx, x.min(), x.max(), dtype, reduce_range)
    codes = quantize_per_tensor_codes(x, scale, zero_point, dtype)
    return QTensor(codes.astype(dtype.storage), dtype, PER_TENSOR_AFFINE, scale, zero_point, None)
