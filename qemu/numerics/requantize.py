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
    cvt_f32_to_i32,
    f32,
    fma_f32,
    saturate_i16,
)

QUINT8_MIN = 0
QUINT8_MAX = 255


def saturate_to_quint8(rounded, output_zero_point: int, output_min: int, output_max: int):
    """The x86 output sequence shared by fbgemm and qnnpack: ``packs_epi32`` (to int16,
    saturating), ``adds_epi16`` of the zero point, ``packus_epi16`` (to uint8,
    saturating), then ``max(output_min)`` / ``min(output_max)``.

    Examples
    --------
    >>> saturate_to_quint8(np.array([-2**31, 5, 40000]), 10, 10, 255).tolist()
    [10, 15, 255]
    """
    shifted = saturate_i16(saturate_i16(rounded) + int(output_zero_point))
    return np.clip(shifted, output_min, output_max).astype(np.uint8)


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
    :func:`saturate_to_quint8`, with the lower clamp at the zero point for relu.

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
            summed = fma_f32(np.broadcast_to(f32(bias), acc_float.shape), reciprocal, acc_float)
        scaled = summed * (multiplier if per_channel else multiplier[0])
    lower = int(output_zero_point) if relu else QUINT8_MIN
    return saturate_to_quint8(cvt_f32_to_i32(scaled), output_zero_point, lower, QUINT8_MAX)


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
    :func:`saturate_to_quint8`. ``acc`` already includes the int32 bias.

    Examples
    --------
    >>> requantize_qnnpack(np.array([5, 7]), np.float32([0.5]), 2, 0, 255).tolist()
    [4, 6]
    """
    with np.errstate(all="ignore"):
        scaled = np.asarray(acc).astype(np.float32) * f32(requantization_scales)
    return saturate_to_quint8(cvt_f32_to_i32(scaled), output_zero_point, output_min, output_max)
