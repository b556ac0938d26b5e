"""Requantization: the int32 accumulators of a quantized GEMM or convolution to quint8.

fbgemm and qnnpack share the last steps -- scale the accumulator in float32, round
with ``cvtps2dq``, pack to int16 with saturation, add the output zero point with
saturation, pack to uint8 with saturation, clamp to the activation range -- and
differ in how the bias and the float scale are formed:

=================  =================================================================
fbgemm             bias stays float; per-tensor it enters as ``fma(bias, rcp, acc)``
                   with ``rcp = f32(1.0 / double(ats))``, per-channel as
                   ``f32(acc) + f32(bias / ats)``; scale ``f32(ats / out_scale)``
qnnpack            bias quantized to int32 and added to the accumulator; scale
                   ``f32(f32(w_scale * in_scale) * f32(1 / out_scale))``
=================  =================================================================

(``ats`` = "act_times_w_scale" = ``f32(f32(in_scale) * w_scale)``.) The page
``docs/numerics/linear.md`` cites the kernels and the tests that confirm each line.
Accumulators are passed with the output channel on the last axis; per-channel
parameters broadcast along it.
"""

from __future__ import annotations

import numpy as np

from qemu.numerics.affine import quantize_val
from qemu.numerics.float32 import (
    INT32_MAX,
    INT32_MIN,
    f32,
    fma_f32,
)

QUINT8_MIN = 0
QUINT8_MAX = 255


def quint8_output(scaled, output_zero_point: int, output_min: int, output_max: int):
    """The x86 output sequence shared by fbgemm and qnnpack, from the float32 scaled
    accumulators: ``cvtps2dq`` (nearest even; NaN and values outside int32 give
    INT32_MIN), ``packs_epi32`` (int16, saturating), ``adds_epi16`` of the zero point,
    ``packus_epi16`` (uint8, saturating), then ``max(output_min)`` / ``min(output_max)``.

    Computed in float32 as ``clamp(rint(y) + zp, min, max)``, which equals that
    sequence: an int16 saturation can only move a value that the uint8 clamp sends to
    the same end anyway, and float32's rounding of ``rint(y) + zp`` only touches
    magnitudes past 2^24, clamped too. The one exception is cvtps2dq's INT32_MIN for
    NaN and ``y >= 2^31``: those go to ``output_min``, however large ``y`` is.

    Examples
    --------
    >>> quint8_output(np.float32([3e9, 4.5, 5.5, -1e9, np.nan]), 10, 10, 255).tolist()
    [10, 14, 16, 10, 10]
    """
    with np.errstate(invalid="ignore"):
        rounded = np.rint(np.asarray(scaled, dtype=np.float32))
        convertible = rounded < np.float32(2.0**31)  # False for NaN
        rounded += np.float32(output_zero_point)
        np.clip(rounded, output_min, output_max, out=rounded)
    rounded[~convertible] = output_min
    return rounded.astype(np.uint8)


# -- fbgemm ---------------------------------------------------------------------------


def fbgemm_requantization_params(
    input_scale: float, weight_scales, output_scale: float
) -> tuple[np.ndarray, np.ndarray]:
    """``(act_times_w_scale, multiplier)`` as torch's fbgemm ops form them
    (``qlinear.cpp: PackedLinearWeight::apply_impl``,
    ``qconv.cpp: PackedConvWeight::GetQuantizationParams``): every operand float32,
    ``ats = f32(in_scale) * w_scale`` and ``multiplier = ats / f32(out_scale)`` -- a
    float division, not a multiplication by a reciprocal.

    Examples
    --------
    >>> ats, mult = fbgemm_requantization_params(0.5, np.float32([0.25]), 0.1)
    >>> ats.tolist(), mult.dtype
    ([0.125], dtype('float32'))
    """
    with np.errstate(all="ignore"):  # torch lets inf / NaN through
        ats = np.float32(input_scale) * f32(weight_scales)
        return ats, ats / np.float32(output_scale)


def requantize_fbgemm(
    acc,
    act_times_w_scale: np.ndarray,
    multiplier: np.ndarray,
    bias: np.ndarray | None,
    *,
    per_channel: bool,
    output_zero_point: int,
    relu: bool,
) -> np.ndarray:
    """fbgemm ``requantizeOutputProcessingAvx2`` (``src/QuantUtilsAvx2.cc``; the
    depthwise ``requantize_`` in ``src/FbgemmI8DepthwiseAvx2-inl.h`` is the same
    arithmetic) on accumulators that already hold the zero-point corrections.

    ``acc`` holds int32 values with the output channel last. Per-tensor with a bias:
    ``xf = fma(bias, f32(1.0 / double(ats)), f32(acc))`` -- GCC contracts the
    intrinsics' multiply and add into one ``vfmadd`` and the reciprocal is a double
    division rounded to float. Per-channel with a bias: ``f32(acc) + f32(bias / ats)``.
    Then ``cvtps2dq(f32(xf * multiplier))`` (out of range or NaN gives INT32_MIN) and
    :func:`quint8_output`, with the lower clamp at the zero point for relu.

    Examples
    --------
    >>> ats, mult = fbgemm_requantization_params(0.5, np.float32([0.5]), 1.0)
    >>> requantize_fbgemm(np.array([[4, -4]]), ats, mult, None, per_channel=False,
    ...                   output_zero_point=3, relu=False).tolist()
    [[4, 2]]
    """
    acc_float = np.asarray(acc).astype(np.float32)  # cvtdq2ps: round to nearest even
    with np.errstate(all="ignore"):
        if bias is None:
            summed = acc_float
        elif per_channel:
            summed = acc_float + f32(bias) / act_times_w_scale
        else:
            reciprocal = np.float32(1.0 / np.float64(act_times_w_scale[0]))
            summed = _fused_bias(acc_float, f32(bias), reciprocal)
        scaled = summed * (multiplier if per_channel else multiplier[0])
    lower = int(output_zero_point) if relu else QUINT8_MIN
    return quint8_output(scaled, output_zero_point, lower, QUINT8_MAX)


def _fused_bias(acc_float: np.ndarray, bias: np.ndarray, reciprocal: np.float32) -> np.ndarray:
    """``fma(bias, reciprocal, acc_float)`` (bias per output channel, last axis), fast.

    ``bias * reciprocal`` is exact in float64, and its sum with an int32-valued float
    is rounded once to float64; the conversion to float32 then rounds a second time,
    which can differ from the FMA's single rounding only where the float64 sum lies
    exactly halfway between two float32 values *and* was inexact -- those lanes (and
    every lane when a product is non-finite or outside [2^-126, 2^126], where
    float32's subnormal or overflow range could be reached) go to :func:`fma_f32`.
    """
    products = bias.astype(np.float64) * np.float64(reciprocal)
    magnitudes = np.abs(products)
    if not np.all((magnitudes == 0) | ((magnitudes >= 2.0**-126) & (magnitudes < 2.0**126))):
        return fma_f32(np.broadcast_to(bias, acc_float.shape), reciprocal, acc_float)
    total = acc_float.astype(np.float64)
    total += products
    summed = total.astype(np.float32)
    halfway = np.flatnonzero((total.view(np.int64) & _F32_DROPPED_BITS) == _F32_HALFWAY_BITS)
    if halfway.size:
        # A float64 sum that is exact was rounded only once: its tie is the FMA's tie.
        lanes_acc = acc_float.reshape(-1)[halfway].astype(np.float64)
        lanes_product = np.broadcast_to(products, acc_float.shape).reshape(-1)[halfway]
        lanes_total = total.reshape(-1)[halfway]
        virtual = lanes_total - lanes_acc  # TwoSum: the rounding error of the float64 sum
        error = (lanes_acc - (lanes_total - virtual)) + (lanes_product - virtual)
        redo = halfway[error != 0]
        if redo.size:
            lanes_bias = np.broadcast_to(bias, acc_float.shape).reshape(-1)[redo]
            summed.reshape(-1)[redo] = fma_f32(lanes_bias, reciprocal, acc_float.reshape(-1)[redo])
    return summed


# float64 keeps 29 more fraction bits than float32; a float64 halfway between two
# float32 values has exactly the top one of them set.
_F32_DROPPED_BITS = np.int64((1 << 29) - 1)
_F32_HALFWAY_BITS = np.int64(1 << 28)


# -- qnnpack --------------------------------------------------------------------------


def qnnpack_requantization_scales(
    weight_scales, input_scale: float, output_scale: float
) -> np.ndarray:
    """qnnpack's per-output-channel float scale, as torch's
    ``QnnpackUtils.h: generate_requantization_scales`` forms it:
    ``f32(f32(w_scale * f32(in_scale)) * f32(1.0f / f32(out_scale)))``.

    torch refuses the op ("requantization scale must be finite and positive") when
    any scale is not a normal positive float -- including those of the padding
    channels qnnpack adds, whose weight scale is 1.0; so does this function.

    Examples
    --------
    >>> qnnpack_requantization_scales(np.float32([0.5]), 0.5, 0.5).tolist()
    [0.5]
    """
    with np.errstate(all="ignore"):
        inverse_output_scale = np.float32(1.0) / np.float32(output_scale)
        scaled = np.append(f32(weight_scales), np.float32(1.0)) * np.float32(input_scale)
        scales = scaled * inverse_output_scale
    smallest_normal = np.finfo(np.float32).tiny
    bad = ~((scales >= smallest_normal) & np.isfinite(scales))
    if bad.any():
        raise ValueError(
            f"scale: qnnpack's requantization scale weight_scale * input_scale / output_scale "
            f"= {scales[bad][0]!r} is not a finite positive normal float32 (torch refuses it: "
            "'requantization scale must be finite and positive')"
        )
    return scales[:-1]


def quantize_bias_qnnpack(bias: np.ndarray, bias_scales) -> np.ndarray:
    """The int32 bias qnnpack adds to its accumulators (``QuantUtils.h: QuantizeBias``):
    ``quantize_per_tensor`` / ``quantize_per_channel`` of the float bias to qint32 with
    zero point 0 and the double scale ``w_scale * in_scale`` -- the scalar formula
    :func:`qemu.numerics.affine.quantize_val`.

    Examples
    --------
    >>> quantize_bias_qnnpack(np.float32([1.0, -2.5]), np.array([0.5])).tolist()
    [2, -5]
    """
    return quantize_val(bias, bias_scales, 0, INT32_MIN, INT32_MAX)


def requantize_qnnpack(
    acc, requantization_scales: np.ndarray, output_zero_point: int, output_min: int, output_max: int
) -> np.ndarray:
    """qnnpack's fp32 requantization on x86 (``q8gemm/4x4c2-sse2.c`` and the q8conv /
    q8dwconv kernels): ``cvtps2dq(f32(f32(acc) * scale))``, then
    :func:`quint8_output`. ``acc`` already includes the int32 bias.

    Examples
    --------
    >>> requantize_qnnpack(np.array([5, 7]), np.float32([0.5]), 2, 0, 255).tolist()
    [4, 6]
    """
    with np.errstate(all="ignore"):
        scaled = np.asarray(acc).astype(np.float32) * f32(requantization_scales)
    return quint8_output(scaled, output_zero_point, output_min, output_max)


def requantize_qnnpack_dwconv3d(
    acc, requantization_scales: np.ndarray, output_zero_point: int, output_min: int, output_max: int
) -> np.ndarray:
    """qnnpack's 3x3x3 depthwise kernel (``q8dwconv/mp8x27-sse2.c``), scalar C unlike its
    other kernels: ``(int32_t)nearbyint(double(acc) * double(scale))`` -- the product
    exact in double, rounded to nearest even once --, plus the zero point, clamped. The
    conversion (``cvttsd2si``) gives INT32_MIN outside int32, which clamps to
    ``output_min``.

    Examples
    --------
    >>> requantize_qnnpack_dwconv3d(np.array([-23, 5]), np.float32([0.5]), 20, 0, 255).tolist()
    [8, 22]
    """
    scales = np.asarray(requantization_scales, dtype=np.float32).astype(np.float64)
    rounded = np.rint(np.asarray(acc, dtype=np.int64).astype(np.float64) * scales)
    convertible = (rounded >= -(2.0**31)) & (rounded < 2.0**31)
    codes = np.where(convertible, rounded, -(2.0**31)) + output_zero_point
    return np.clip(codes, output_min, output_max).astype(np.uint8)
