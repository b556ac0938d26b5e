"""Dynamic quantized linear: float32 in, float32 out, with int8 or fp16 weights.

========================================  ===============================================
``linear_dynamic_fp16`` (+ relu)          fp16 weights, fbgemm's fp16 GEMM
                                          (:mod:`qemu.numerics.fp16gemm`), then
                                          ``output + bias``, then relu; fbgemm only
========================================  ===============================================

See ``docs/numerics/dynamic.md`` for the sources and the tests that confirm each step.
"""

from __future__ import annotations

import numpy as np

from qemu import dispatch
from qemu.numerics.aten_float import add, relu
from qemu.numerics.fp16 import saturate_to_fp16
from qemu.numerics.fp16gemm import gemm_fp16
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
    """``None`` or a float32 vector of ``out_features`` values."""
    if bias is None:
        return None
    array = check_float_input(bias, argument)
    if array.shape != (out_features,):
        raise ValueError(
            f"{argument}: expected a 1-D array of {out_features} values (one per output "
            f"feature), got shape {array.shape}"
        )
    return array


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


def linear_fp16_reference(ctx: dispatch.Context, x, weight, bias, gemm=gemm_fp16):
    """The fp16 dynamic linear on (M, K) rows: fbgemm's GEMM, then ``output.add_(bias)``
    (``qlinear_dynamic.cpp: PackedLinearWeightFp16::apply_dynamic_impl``)."""
    rows = x.reshape(-1, x.shape[-1])
    out = gemm(rows, saturate_to_fp16(weight), ctx.engine.fp16_gemm_isa)
    if bias is not None:
        out = add(out, bias)
    return out.reshape(x.shape[:-1] + (weight.shape[0],))


@dispatch.reference("linear_dynamic_fp16")
def _linear_dynamic_fp16_reference(ctx, x, weight, bias):
    return linear_fp16_reference(ctx, x, weight, bias)


@dispatch.reference("linear_relu_dynamic_fp16")
def _linear_relu_dynamic_fp16_reference(ctx, x, weight, bias):
    return relu(linear_fp16_reference(ctx, x, weight, bias))
