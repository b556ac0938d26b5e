"""Quantization parameters: how torch turns a float range into a scale and a zero point.

Two families, with different arithmetic:

* The observers' math (``torch/ao/quantization/observer.py:
  UniformQuantizationObserverBase._calculate_qparams`` and its twin
  ``utils.py: determine_qparams``): float32 tensor arithmetic, ``torch.round``
  (half to even), a float32 ``eps`` floor. :func:`calculate_qmin_qmax`,
  :func:`calculate_qparams`, :func:`determine_qparams`.
* The qparams dynamic ops choose at run time from their input's min and max:
  ``quant_utils::ChooseQuantizationParams`` (``aten/src/ATen/native/quantized/cpu/
  QuantUtils.h``; the scale is a double) -- :func:`choose_qparams_dynamic` -- and
  FBGEMM's float-scale twin ``fbgemm::ChooseQuantizationParams`` (``src/QuantUtils.cc``)
  -- :func:`choose_qparams_fbgemm`.

``docs/numerics/qparams.md`` gives each formula with its source and the test that
confirms it.
"""

from __future__ import annotations

import math

import numpy as np

from qemu.dtypes import (
    PER_CHANNEL_AFFINE_FLOAT_QPARAMS,
    PER_CHANNEL_SYMMETRIC,
    PER_TENSOR_AFFINE,
    PER_TENSOR_SYMMETRIC,
    QINT8,
    QINT32,
    QUINT2X4,
    QUINT8,
    QDType,
    as_qdtype,
    as_qscheme,
)
from qemu.numerics.float32 import cvt_f32_to_i32, trunc_f64_to_i64, wrap_i32

# torch.finfo(torch.float32).eps, the observers' default floor on the scale.
EPS_F32 = np.float32(np.finfo(np.float32).eps)

# QuantUtils.h / fbgemm QuantUtils.h: SMALL_SCALE_THRESHOLD = 6.1e-5f; scales below it
# are raised to it (in the C++ code the float constant is compared with and stored in
# a double, so its float32 value is what counts).
SMALL_SCALE_THRESHOLD = np.float32(6.1e-5)

SYMMETRIC_QSCHEMES = (PER_TENSOR_SYMMETRIC, PER_CHANNEL_SYMMETRIC)


def check_int(value: object, argument: str) -> int:
    """An integer argument (a Python or NumPy int, not a bool), as ``int``.

    Examples
    --------
    >>> check_int(np.int64(3), "bins")
    3
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{argument}: expected an int, got {type(value).__name__} {value!r}")
    return int(value)


def check_observer_dtype(dtype: object, *, argument: str = "dtype") -> QDType:
    """A dtype torch's uniform observers accept: quint8, qint8, qint32 or quint4x2
    (``UniformQuantizationObserverBase.__init__`` refuses quint2x4).

    Examples
    --------
    >>> check_observer_dtype("qint8").name
    'qint8'
    """
    qdtype = as_qdtype(dtype, argument=argument)
    if qdtype == QUINT2X4:
        raise ValueError(
            f"{argument}: torch's observers support quint8, qint8, qint32 and quint4x2, "
            "not quint2x4"
        )
    return qdtype


def check_quant_range(quant_min: object, quant_max: object, dtype: QDType) -> tuple[int, int]:
    """A user-specified quantization range: integers with ``quant_min <= 0 <= quant_max``,
    ``quant_min < quant_max`` (torch's ``utils.validate_qmin_qmax``), inside the dtype's
    code range.

    torch itself checks the last condition only for qint8 and qint32, and there only the
    length of the range; qemu refuses any range that does not fit the dtype, since codes
    outside it cannot be stored (see ``docs/numerics/qparams.md``).

    Examples
    --------
    >>> check_quant_range(0, 127, as_qdtype("quint8"))
    (0, 127)
    """
    low = check_int(quant_min, "quant_min")
    high = check_int(quant_max, "quant_max")
    if not low <= 0 <= high:
        raise ValueError(f"quant_min, quant_max: the range must include 0, got [{low}, {high}]")
    if low >= high:
        raise ValueError(f"quant_min: expected quant_min < quant_max, got [{low}, {high}]")
    if low < dtype.qmin or high > dtype.qmax:
        raise ValueError(
            f"quant_min, quant_max: expected a range inside [{dtype.qmin}, {dtype.qmax}] for "
            f"{dtype.name}, got [{low}, {high}]"
        )
    return low, high


def calculate_qmin_qmax(
    quant_min: int | None,
    quant_max: int | None,
    has_customized_qrange: bool,
    dtype: object,
    reduce_range: bool,
) -> tuple[int, int]:
    """The code range an observer computes qparams for (``utils.calculate_qmin_qmax``).

    A custom range is used as given, halved with floor division under ``reduce_range``.
    Otherwise: qint8 ``[-128, 127]`` (``[-64, 63]`` reduced), quint8 ``[0, 255]``
    (``[0, 127]``), qint32 the full int32 range and quint4x2 ``[0, 15]`` -- these two
    ignore ``reduce_range``.

    Examples
    --------
    >>> calculate_qmin_qmax(None, None, False, "qint8", True)
    (-64, 63)
    >>> calculate_qmin_qmax(-127, 127, True, "qint8", True)
    (-64, 63)
    """
    qdtype = check_observer_dtype(dtype)
    if has_customized_qrange:
        low, high = check_quant_range(quant_min, quant_max, qdtype)
        return (low // 2, high // 2) if reduce_range else (low, high)
    if qdtype == QINT8:
        return (-64, 63) if reduce_range else (-128, 127)
    if qdtype == QUINT8:
        return (0, 127) if reduce_range else (0, 255)
    if qdtype == QINT32:
        return QINT32.qmin, QINT32.qmax
    return 0, 15


def _as_min_max(min_val: object, max_val: object) -> tuple[np.ndarray, np.ndarray]:
    mins = np.asarray(min_val)
    maxs = np.asarray(max_val)
    for name, array in (("min_val", mins), ("max_val", maxs)):
        if array.dtype.kind not in "fiu" or array.ndim > 1:
            raise TypeError(
                f"{name}: expected a float scalar or 1-D array, got {array.dtype} "
                f"with shape {array.shape}"
            )
    return mins.astype(np.float32), maxs.astype(np.float32)


def _min_max_valid(mins: np.ndarray, maxs: np.ndarray) -> bool:
    """``utils.check_min_max_valid``: False for a never-updated observer (empty buffers,
    or per-tensor ``inf``/``-inf``); an inverted range is an error."""
    if mins.size == 0 or maxs.size == 0:
        return False
    if mins.ndim == 0 or maxs.ndim == 0:
        if mins == np.inf and maxs == -np.inf:
            return False
    if np.any(mins > maxs):
        raise ValueError(
            f"min_val, max_val: expected min_val <= max_val, got {mins.tolist()} and "
            f"{maxs.tolist()}"
        )
    return True


def calculate_qparams(
    min_val: object,
    max_val: object,
    quant_min: int,
    quant_max: int,
    dtype: object,
    qscheme: object = PER_TENSOR_AFFINE,
    eps: float = EPS_F32,
    has_customized_qrange: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Scale and zero point from a float range, as an observer's ``calculate_qparams``
    returns them (``observer.py: UniformQuantizationObserverBase._calculate_qparams``).

    All arithmetic is float32, as on torch's float32 buffers; a Python float operand
    (``quant_max - quant_min``, ``eps``) is rounded to float32 at the operation.

    * affine: ``scale = max((max(max_val, 0) - min(min_val, 0)) / (qmax - qmin), eps)``,
      ``zero_point = clamp(qmin - round(min(min_val, 0) / scale), qmin, qmax)`` with
      ``round`` half to even and the int32 conversion and subtraction wrapping as in
      torch (NaN or out-of-range quotients become ``-2**31`` first).
    * symmetric: ``scale = max(max(-min(min_val, 0), max(max_val, 0)) / ((qmax - qmin) /
      2), eps)``; the zero point is 128 for quint8 (``(qmin + qmax) // 2`` with a custom
      range), else 0.
    * ``per_channel_affine_float_qparams``: ``scale = (max_val - min_val) / (qmax - qmin)``,
      replaced by 1 where not ``> eps``; ``zero_point = -1 * min_val / scale`` (float).

    A never-updated range gives ``([1.0], [0])``.

    Parameters
    ----------
    min_val, max_val : float32 scalar or 1-D array
        Per-tensor (0-d) or per-channel running minima and maxima.
    quant_min, quant_max : int
        The code range, e.g. from :func:`calculate_qmin_qmax`.
    dtype, qscheme : str
        Names as in torch (``"quint8"``, ``"per_channel_symmetric"``) or torch objects.
    eps : float
        Lower bound of the scale, rounded to float32 (the observer's ``eps`` buffer).
    has_customized_qrange : bool
        Whether the range was given by the user (changes the symmetric quint8 zero point).

    Returns
    -------
    scale : float32 array of shape ``(channels,)`` (``(1,)`` per tensor)
    zero_point : int32 (affine), int64 (symmetric, and the never-updated default) or
        float32 (float_qparams) array of the same shape -- torch's dtypes.

    Examples
    --------
    >>> scale, zero_point = calculate_qparams(np.float32(-1), np.float32(2), 0, 255, "quint8")
    >>> scale.tolist(), zero_point.tolist()
    ([0.0117647061124444], [85])
    """
    mins, maxs = _as_min_max(min_val, max_val)
    qdtype = check_observer_dtype(dtype)
    scheme = as_qscheme(qscheme)
    low, high = check_int(quant_min, "quant_min"), check_int(quant_max, "quant_max")
    eps32 = np.float32(eps)
    if not _min_max_valid(mins, maxs):
        return np.float32([1.0]), np.int64([0])
    zero = np.float32(0)
    with np.errstate(all="ignore"):  # inf and NaN ranges propagate as in torch
        min_neg = np.minimum(mins, zero)
        max_pos = np.maximum(maxs, zero)
        if scheme in SYMMETRIC_QSCHEMES:
            max_pos = np.maximum(-min_neg, max_pos)
            scale = np.maximum(max_pos / np.float32((high - low) / 2), eps32)
            if qdtype == QUINT8:
                point = (low + high) // 2 if has_customized_qrange else 128
            else:
                point = 0
            zero_point = np.full(scale.shape, point, dtype=np.int64)
        elif scheme == PER_CHANNEL_AFFINE_FLOAT_QPARAMS:
            scale = (maxs - mins) / np.float32(high - low)
            scale = np.where(scale > eps32, scale, np.float32(1))
            zero_point = np.float32(-1) * mins / scale
        else:
            scale = np.maximum((max_pos - min_neg) / np.float32(high - low), eps32)
            # torch.round(...).to(torch.int): cvttps2dq of an integral value.
            rounded = cvt_f32_to_i32(np.rint(min_neg / scale)).astype(np.int64)
            zero_point = np.clip(wrap_i32(low - rounded), low, high).astype(np.int32)
    # torch returns shape (1,) for a per-tensor range.
    return (
        np.asarray(scale, dtype=np.float32).reshape(-1),
        np.asarray(zero_point).reshape(-1),
    )


def determine_qparams(
    min_val: object,
    max_val: object,
    quant_min: int,
    quant_max: int,
    dtype: object,
    eps: float,
    has_customized_qrange: bool,
    qscheme: object = PER_TENSOR_AFFINE,
) -> tuple[np.ndarray, np.ndarray]:
    """``torch.ao.quantization.utils.determine_qparams``: the arithmetic of
    :func:`calculate_qparams` (float32), returned as float64 scales and int64 zero
    points; float zero points (``per_channel_affine_float_qparams``) are truncated toward
    zero by that final cast.

    Examples
    --------
    >>> scale, zero_point = determine_qparams(np.float32(-1), np.float32(2), 0, 255, "quint8",
    ...                                       EPS_F32, False)
    >>> scale.dtype, zero_point.tolist()
    (dtype('float64'), [85])
    """
    scale, zero_point = calculate_qparams(
        min_val, max_val, quant_min, quant_max, dtype, qscheme, eps, has_customized_qrange
    )
    if zero_point.dtype.kind == "f":
        zero_point = trunc_f64_to_i64(zero_point)
    return scale.astype(np.float64), zero_point.astype(np.int64)


def _check_min_max_scalars(min_value: object, max_value: object) -> tuple[np.float32, np.float32]:
    low, high = np.float32(min_value), np.float32(max_value)
    if not low <= high:  # also NaN
        raise ValueError(
            f"min_value, max_value: expected min_value <= max_value, got {float(low)!r} and "
            f"{float(high)!r}"
        )
    return low, high


def _include_zero(low: np.float32, high: np.float32) -> tuple[np.float32, np.float32]:
    # std::min(min, 0.f) / std::max(max, 0.f): a -0.0 input is kept (no strict order).
    zero = np.float32(0)
    return (zero if zero < low else low), (zero if high < zero else high)


def _raise_small_scale(
    low: np.float32, high: np.float32, scale: float, span: int
) -> tuple[np.float32, np.float32]:
    """Both ChooseQuantizationParams: a scale below 6.1e-5 is raised to it and the range
    stretched to match, in float32 (``min``/``max`` are floats; ``qmax - qmin`` an int
    converted to float)."""
    if low == 0:
        return low, SMALL_SCALE_THRESHOLD * np.float32(span)
    if high == 0:
        return -SMALL_SCALE_THRESHOLD * np.float32(span), high
    amplifier = SMALL_SCALE_THRESHOLD / np.float32(scale)
    return low * amplifier, high * amplifier


def _nudged_zero_point(initial: float, qmin: int, qmax: int) -> int:
    if initial < qmin:
        return qmin
    if initial > qmax:
        return qmax
    if math.isnan(initial):
        # nearbyint(NaN) stored into int32_t: cvttsd2si's "integer indefinite".
        return QINT32.qmin
    return int(np.rint(initial))


def choose_qparams_dynamic(
    min_value: float, max_value: float, qmin: int, qmax: int, reduce_range: bool = False
) -> tuple[float, int]:
    """``quant_utils::ChooseQuantizationParams`` (QuantUtils.h), the qparams of
    ``quantized::linear_dynamic`` (fbgemm and qnnpack) and
    ``torch.quantize_per_tensor_dynamic``.

    1. ``reduce_range`` halves ``qmin``/``qmax`` (C++ division, toward zero).
    2. The float range is widened to contain 0.
    3. ``scale = (double(max) - min) / (qmax - qmin)`` in double; 0.1 if its float is 0
       or has an infinite float reciprocal; below ``6.1e-5f`` it becomes ``6.1e-5f`` and
       the range is stretched in float32.
    4. ``zero_point_from_min = qmin - min / scale`` and ``..._from_max`` in double; the
       one whose error term ``|q| - |x / scale|`` is smaller wins (this file subtracts;
       FBGEMM's copy adds), then it is clamped or rounded half to even.

    The scale is returned as the double torch stores in the quantized tensor; kernels
    use its float32 rounding.

    Examples
    --------
    >>> choose_qparams_dynamic(-1.0, 2.0, 0, 255)
    (0.011764705882352941, 85)
    """
    low, high = _check_min_max_scalars(min_value, max_value)
    qmin, qmax = check_int(qmin, "qmin"), check_int(qmax, "qmax")
    if reduce_range:
        qmin, qmax = int(qmin / 2), int(qmax / 2)
    low, high = _include_zero(low, high)
    if qmin >= qmax:
        raise ValueError(f"qmin: expected qmin < qmax, got [{qmin}, {qmax}]")
    scale = (float(high) - float(low)) / (qmax - qmin)
    with np.errstate(divide="ignore", over="ignore"):
        if np.float32(scale) == 0 or np.isinf(np.float32(1) / np.float32(scale)):
            scale = 0.1
    if scale < float(SMALL_SCALE_THRESHOLD):
        low, high = _raise_small_scale(low, high, scale, qmax - qmin)
        scale = float(SMALL_SCALE_THRESHOLD)
    from_min = float(low) / scale
    from_max = float(high) / scale
    min_error = abs(qmin) - abs(from_min)
    max_error = abs(qmax) - abs(from_max)
    initial = qmin - from_min if min_error < max_error else qmax - from_max
    return scale, _nudged_zero_point(initial, qmin, qmax)


def choose_qparams_fbgemm(
    min_value: float, max_value: float, qmin: int, qmax: int
) -> tuple[np.float32, int]:
    """``fbgemm::ChooseQuantizationParams`` (FBGEMM ``src/QuantUtils.cc``, the revision
    torch 2.13 links), used by ``torch.fbgemm_linear_quantize_weight``.

    The steps of :func:`choose_qparams_dynamic` without ``reduce_range``, except that the
    scale is rounded to float32 as soon as it is computed (``0.1`` becomes ``0.1f``) and
    the zero-point error terms add: ``|q| + |x / scale|``.

    Examples
    --------
    >>> scale, zero_point = choose_qparams_fbgemm(-1.0, 2.0, -128, 127)
    >>> float(scale), zero_point
    (0.0117647061124444, -43)
    """
    low, high = _check_min_max_scalars(min_value, max_value)
    qmin, qmax = check_int(qmin, "qmin"), check_int(qmax, "qmax")
    if qmin >= qmax:
        raise ValueError(f"qmin: expected qmin < qmax, got [{qmin}, {qmax}]")
    low, high = _include_zero(low, high)
    scale = np.float32((float(high) - float(low)) / (qmax - qmin))
    with np.errstate(divide="ignore", over="ignore"):
        if scale == 0 or np.isinf(np.float32(1) / scale):
            scale = np.float32(0.1)
    if scale < SMALL_SCALE_THRESHOLD:
        low, high = _raise_small_scale(low, high, float(scale), qmax - qmin)
        scale = SMALL_SCALE_THRESHOLD
    from_min = float(low) / float(scale)
    from_max = float(high) / float(scale)
    min_error = abs(qmin) + abs(from_min)
    max_error = abs(qmax) + abs(from_max)
    initial = qmin - from_min if min_error < max_error else qmax - from_max
    return scale, _nudged_zero_point(initial, qmin, qmax)
