"""Dynamic quantized linear: float32 in, float32 out, with int8 or fp16 weights.

========================================  ===============================================
``linear_dynamic`` (+ relu), fbgemm       activation qparams from the whole input's
                                          min/max (``ChooseQuantizationParams``, reduce
                                          range honoured), FBGEMM FMA quantize, u8 x s8
                                          GEMM (pair-saturated except on VNNI), zero-point
                                          corrections in int32, ``fma(acc, s_x * s_w,
                                          bias)``, relu
``linear_dynamic`` (+ relu), qnnpack      the same qparams ignoring reduce_range, exact
                                          GEMM, ``f32(s_x * s_w) * acc + bias`` (no FMA),
                                          relu
``linear_dynamic_fp16`` (+ relu)          fp16 weights, fbgemm's fp16 GEMM
                                          (:mod:`qemu.numerics.fp16gemm`), then
                                          ``output + bias``, then relu; fbgemm only
========================================  ===============================================

See ``docs/numerics/dynamic.md`` for the sources and the tests that confirm each step.
"""

from __future__ import annotations

import numpy as np

from qemu import dispatch
from qemu.numerics.affine import quantize_fbgemm
from qemu.numerics.aten_elementwise import add, relu
from qemu.numerics.float32 import fma_f32
from qemu.numerics.fp16 import saturate_to_fp16
from qemu.numerics.fp16gemm import gemm_fp16
from qemu.numerics.requantize import qnnpack_requantization_scales
from qemu.ops import linear as static_linear
from qemu.ops.linear import gemm_accumulators, prepack_fbgemm, prepack_qnnpack
from qemu.qparams import choose_qparams_dynamic
from qemu.qtensor import QTensor
from qemu.quantize import check_float_input

# -- validation shared by the dynamic linear entries (and the RNN ops) -----------------


def check_linear_input(x: object, argument: str = "input") -> np.ndarray:
    """A float32 array of at least 2 dimensions (torch's dynamic linear kernels refuse
    1-D input: ``input.dim() >= 2``)."""
    array = check_float_input(x, argument)
    if array.ndim < 2:
        raise ValueError(
            f"{argument}: expected at least 2 dimensions (..., in_features), got shape {array.shape}"
        )
    return array


def _named(argument: str, default: str, check, *args):
    """Run one of the static linear's validators, whose messages name ``default``,
    naming ``argument`` instead (an RNN cell's ``params[0].w_ih``, say)."""
    try:
        return check(*args)
    except (TypeError, ValueError) as error:
        if argument == default:
            raise
        raise type(error)(str(error).replace(f"{default}:", f"{argument}:", 1)) from None


def check_int8_weight(weight: object, argument: str = "weight") -> QTensor:
    """A qint8 QTensor (out_features, in_features), per-tensor or per-channel along the
    output features, as torch's ``linear_prepack`` accepts
    (:func:`qemu.ops.linear.check_weight`)."""
    if not isinstance(weight, QTensor):
        raise TypeError(
            f"{argument}: expected a qint8 QTensor (an fp16 weight goes to the _fp16 ops), "
            f"got {type(weight).__name__}"
        )
    return _named(argument, "weight", static_linear.check_weight, weight, 2)


def check_finite_input(x: np.ndarray, argument: str = "input") -> None:
    """The int8 dynamic linear needs a finite activation range."""
    if x.size and not np.isfinite(x).all():
        raise ValueError(
            f"{argument}: expected finite values for an int8 dynamic linear; with NaN torch's "
            "min/max search either raises or skips the NaN depending on where it sits, and "
            "an infinity makes the activation scale infinite"
        )


def check_fp16_weight(weight: object, argument: str = "weight") -> np.ndarray:
    """The float weight of an fp16 linear, (out_features, in_features), as float32.

    float32 is what torch's ``linear_prepack_fp16`` takes (it rounds to fp16 itself);
    a float16 array is accepted too and widened exactly.
    """
    if isinstance(weight, QTensor):
        raise TypeError(
            f"{argument}: an fp16 linear takes the float weight (float32 or float16 array), "
            "got a QTensor"
        )
    if isinstance(weight, np.ndarray) and weight.dtype == np.float16:
        weight = weight.astype(np.float32)
    array = check_float_input(weight, argument)
    if array.ndim != 2:
        raise ValueError(
            f"{argument}: expected a 2-D (out_features, in_features) array, got shape {array.shape}"
        )
    return array


def check_bias(bias: object, out_features: int, argument: str = "bias") -> np.ndarray | None:
    """``None`` or a float32 vector of ``out_features`` values
    (:func:`qemu.ops.linear.check_bias`)."""
    return _named(argument, "bias", static_linear.check_bias, bias, out_features)


def check_in_features(x: np.ndarray, in_features: int, argument: str = "input") -> None:
    if in_features == 0:
        # fbgemm packs an empty K and then returns uninitialized memory.
        raise ValueError(
            f"{argument}: in_features is 0; torch 2.13 returns uninitialized memory for an "
            "empty reduction dimension, so there is nothing to emulate"
        )
    if x.shape[-1] != in_features:
        raise ValueError(
            f"{argument}: the last dimension ({x.shape[-1]}) must equal the weight's "
            f"in_features ({in_features})"
        )


def check_out_features(out_features: int, engine: object, argument: str = "weight") -> None:
    """qnnpack's dynamic linear dies with SIGFPE on a weight without output features."""
    context, _ = dispatch.resolve(engine, None)
    if context.engine.is_qnnpack and out_features == 0:
        raise ValueError(
            f"{argument}: out_features = 0 is refused under qnnpack: torch's qnnpack dynamic "
            "linear crashes (SIGFPE) on it"
        )


def require_fp16_engine(engine: object, op: str) -> None:
    """fp16 dynamic linear exists only in fbgemm (torch: ``quantized::linear_prepack_fp16
    is currently not supported by QNNPACK``)."""
    context, _ = dispatch.resolve(engine, None)
    if context.engine.fp16_gemm_isa is None:
        raise ValueError(
            f"engine: {op} needs fbgemm's fp16 GEMM; {context.engine.name} has none "
            "(torch refuses to pack fp16 weights under QNNPACK)"
        )


# -- public entries -------------------------------------------------------------------


def linear_dynamic(
    input: object,
    weight: QTensor,
    bias: object = None,
    reduce_range: bool = True,
    *,
    engine: str | None = None,
    backend: str | None = None,
) -> np.ndarray:
    """A linear with a qint8 weight and float32 activations quantized on the fly, as
    ``quantized::linear_dynamic`` computes it.

    Parameters
    ----------
    input : float32 array (..., in_features)
        At least 2-D and finite. Its min and max over all elements choose the uint8
        activation qparams.
    weight : QTensor
        qint8, (out_features, in_features), per-tensor or per-channel along axis 0.
    bias : float32 array (out_features,), optional
    reduce_range : bool
        Quantize activations to 7 bits (``nn.quantized.dynamic.Linear`` passes True
        under fbgemm). qnnpack ignores it, as torch does.
    engine, backend : str, optional

    Returns
    -------
    float32 array (..., out_features)

    Examples
    --------
    >>> import numpy as np, qemu
    >>> w = qemu.QTensor.per_tensor([[64, -32]], 1 / 64, 0, "qint8")
    >>> qemu.ops.linear_dynamic(np.float32([[1.0, 2.0]]), w).tolist()
    [[0.0]]
    """
    return _linear_int8("linear_dynamic", input, weight, bias, reduce_range, engine, backend)


def linear_relu_dynamic(
    input: object,
    weight: QTensor,
    bias: object = None,
    reduce_range: bool = True,
    *,
    engine: str | None = None,
    backend: str | None = None,
) -> np.ndarray:
    """:func:`linear_dynamic` with relu fused, as ``quantized::linear_relu_dynamic``
    computes it (relu on the float output, after the bias).

    Examples
    --------
    >>> import numpy as np, qemu
    >>> w = qemu.QTensor.per_tensor([[-64]], 1 / 64, 0, "qint8")
    >>> qemu.ops.linear_relu_dynamic(np.float32([[1.0]]), w).tolist()
    [[0.0]]
    """
    return _linear_int8("linear_relu_dynamic", input, weight, bias, reduce_range, engine, backend)


def _linear_int8(op, input, weight, bias, reduce_range, engine, backend) -> np.ndarray:
    x = check_linear_input(input)
    w = check_int8_weight(weight)
    check_in_features(x, w.shape[1])
    check_finite_input(x)
    b = check_bias(bias, w.shape[0])
    check_out_features(w.shape[0], engine)
    if not isinstance(reduce_range, (bool, np.bool_)):
        raise TypeError(f"reduce_range: expected a bool, got {type(reduce_range).__name__}")
    return dispatch.call(op, x, w, b, bool(reduce_range), engine=engine, backend=backend)


def linear_dynamic_fp16(
    input: object,
    weight: object,
    bias: object = None,
    *,
    engine: str | None = None,
    backend: str | None = None,
) -> np.ndarray:
    """``input @ fp16(weight).T + bias`` as ``quantized::linear_dynamic_fp16`` computes it.

    Parameters
    ----------
    input : float32 array (..., in_features)
        At least 2-D, as torch requires.
    weight : float32 array (out_features, in_features)
        The float weight; it is clamped to ±65504 and rounded to fp16 as torch's
        ``linear_prepack_fp16`` does (NaN becomes -65504). A float16 array is accepted.
    bias : float32 array (out_features,), optional
        Added in float32 after the GEMM.
    engine, backend : str, optional
        An fbgemm engine (qnnpack has no fp16 linear).

    Returns
    -------
    float32 array (..., out_features)

    Examples
    --------
    >>> import numpy as np, qemu
    >>> qemu.ops.linear_dynamic_fp16(np.float32([[1, 2]]), np.float32([[0.5, 0.25]])).tolist()
    [[1.0]]
    """
    return _linear_fp16("linear_dynamic_fp16", input, weight, bias, engine, backend)


def linear_relu_dynamic_fp16(
    input: object,
    weight: object,
    bias: object = None,
    *,
    engine: str | None = None,
    backend: str | None = None,
) -> np.ndarray:
    """:func:`linear_dynamic_fp16` followed by relu, as
    ``quantized::linear_relu_dynamic_fp16`` computes it (relu after the bias add).

    Examples
    --------
    >>> import numpy as np, qemu
    >>> qemu.ops.linear_relu_dynamic_fp16(np.float32([[1, 2]]), np.float32([[-1, 0]])).tolist()
    [[0.0]]
    """
    return _linear_fp16("linear_relu_dynamic_fp16", input, weight, bias, engine, backend)


def _linear_fp16(op, input, weight, bias, engine, backend) -> np.ndarray:
    x = check_linear_input(input)
    w = check_fp16_weight(weight)
    check_in_features(x, w.shape[1])
    b = check_bias(bias, w.shape[0])
    require_fp16_engine(engine, op)
    return dispatch.call(op, x, w, b, engine=engine, backend=backend)


# -- reference kernels ----------------------------------------------------------------


def linear_int8_reference(
    ctx: dispatch.Context,
    x,
    weight,
    bias,
    reduce_range,
    accumulate=gemm_accumulators,
    quantize=quantize_fbgemm,
    fma=fma_f32,
):
    """The int8 dynamic linear on (..., K) inputs (``qlinear_dynamic.cpp:
    PackedLinearWeight::apply_dynamic_impl`` for fbgemm,
    ``PackedLinearWeightsQnnp::apply_dynamic_impl`` for qnnpack). The weight goes
    through the static linear's prepack (cached per QTensor), and ``accumulate``
    (:func:`qemu.ops.linear.gemm_accumulators` or a backend's twin) forms the int32
    accumulators with the zero-point corrections: fbgemm's raw sums (pair-saturated
    on AVX2/AVX512, exact on VNNI) minus the row and column offsets, or qnnpack's
    exact ``sum (a - za)(w - zw)``. A backend may pass its twins of ``quantize``
    (:func:`qemu.numerics.affine.quantize_fbgemm`) and ``fma``
    (:func:`qemu.numerics.float32.fma_f32`) as well."""
    rows = x.reshape(-1, x.shape[-1])
    n = weight.shape[0]
    if rows.shape[0] == 0:
        return np.zeros(x.shape[:-1] + (n,), np.float32)
    qnnpack = ctx.engine.is_qnnpack
    # fbgemm::FindMinMax over every element (qnnpack: input.min() / input.max()).
    scale, zero_point = choose_qparams_dynamic(
        float(rows.min()), float(rows.max()), 0, 255, reduce_range and not qnnpack
    )
    activations = quantize(rows, scale, zero_point, 0, 255).astype(np.uint8)
    packed = prepack_qnnpack(weight) if qnnpack else prepack_fbgemm(weight)
    saturating = ctx.engine.saturating_int8_gemm and not qnnpack
    acc_float = accumulate(activations[None], packed, zero_point, saturating).astype(np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        if qnnpack:
            # generate_requantization_scales with output scale 1, then q8gemm dq:
            # mult * acc, then + bias (SSE2, no FMA); a missing bias is packed as zeros.
            multipliers = qnnpack_requantization_scales(packed.scales, scale, 1.0)
            out = multipliers * acc_float + (np.float32(0) if bias is None else bias)
        else:
            # ReQuantizeForFloat: multiplier f32(s_x) * f32(s_w); GCC fuses the bias add.
            multipliers = np.float32(scale) * packed.scales
            if bias is None:
                out = acc_float * multipliers
            else:
                out = fma(acc_float, multipliers, bias)
    return out.reshape(x.shape[:-1] + (n,))


def linear_fp16_reference(
    ctx: dispatch.Context, x, weight, bias, gemm=gemm_fp16, packed: np.ndarray | None = None
):
    """The fp16 dynamic linear on (..., K) inputs: fbgemm's GEMM, then
    ``output.add_(bias)`` (``qlinear_dynamic.cpp: PackedLinearWeightFp16::
    apply_dynamic_impl``). ``gemm(rows, packed, isa)`` runs the GEMM on ``packed``, the
    weight as the caller prepared it once (default: the fp16 weight of ``weight``)."""
    if packed is None:
        packed = saturate_to_fp16(weight)
    rows = x.reshape(-1, x.shape[-1])
    out = gemm(rows, packed, ctx.engine.fp16_gemm_isa)
    if bias is not None:
        out = add(out, bias)
    return out.reshape(x.shape[:-1] + (weight.shape[0],))


@dispatch.reference("linear_dynamic")
def _linear_dynamic_reference(ctx, x, weight, bias, reduce_range):
    return linear_int8_reference(ctx, x, weight, bias, reduce_range)


@dispatch.reference("linear_relu_dynamic")
def _linear_relu_dynamic_reference(ctx, x, weight, bias, reduce_range):
    return relu(linear_int8_reference(ctx, x, weight, bias, reduce_range))


@dispatch.reference("linear_dynamic_fp16")
def _linear_dynamic_fp16_reference(ctx, x, weight, bias):
    return linear_fp16_reference(ctx, x, weight, bias)


@dispatch.reference("linear_relu_dynamic_fp16")
def _linear_relu_dynamic_fp16_reference(ctx, x, weight, bias):
    return relu(linear_fp16_reference(ctx, x, weight, bias))
