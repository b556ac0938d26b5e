"""Static int8 linear on numba: the exact sums through the same float32 BLAS as the
reference (:func:`qemu.numerics.int8gemm.gemm_u8s8_exact`), the int16 pair-saturated
sums and the requantization in compiled loops."""

from __future__ import annotations

import numpy as np
from qemu.backends.numba import int8gemm, requantize

from qemu.dispatch import Context, register
from qemu.numerics.float32 import wrap_i32
from qemu.numerics.requantize import (
    fbgemm_requantization_params,
    qnnpack_requantization_scales,
)
from qemu.ops.linear import (
    corrected_accumulators,
    gemm_accumulators,
    output_qtensor,
    prepack_fbgemm,
    prepack_qnnpack,
    qnnpack_int32_bias,
    row_sums,
)
from qemu.qtensor import QTensor


def accumulators(columns: np.ndarray, packed, input_zero_point: int, saturating_pairs: bool):
    """:func:`qemu.ops.linear.gemm_accumulators` with the pair-saturated sums compiled."""
    if not saturating_pairs:
        return gemm_accumulators(columns, packed, input_zero_point, False)
    raw = np.stack(
        [
            int8gemm.gemm_u8s8_pair_saturated(columns[g], packed.codes[g])
            for g in range(packed.groups)
        ]
    )
    return corrected_accumulators(raw, row_sums(columns), input_zero_point, packed)


def fbgemm_output(acc, packed, input_scale, bias, scale, zero_point, relu) -> np.ndarray:
    """:func:`qemu.ops.linear.fbgemm_output` on numba."""
    act_times_w_scale, multiplier = fbgemm_requantization_params(
        input_scale, packed.scales if packed.per_channel else packed.scales[:1], scale
    )
    bias_values = np.zeros(1, np.float32) if bias is None else bias
    return requantize.requantize_fbgemm(
        np.ascontiguousarray(acc), act_times_w_scale, multiplier, bias_values,
        bias is not None, packed.per_channel, zero_point, relu,
    )  # fmt: skip


def qnnpack_output(acc, packed, input_scale, scale, zero_point, relu) -> np.ndarray:
    """:func:`qemu.ops.linear.qnnpack_output` on numba."""
    scales = qnnpack_requantization_scales(packed.scales, input_scale, scale)
    lower = zero_point if relu else 0
    return requantize.requantize_qnnpack(np.ascontiguousarray(acc), scales, zero_point, lower, 255)


@register("linear", "numba")
def _linear(
    ctx: Context,
    input: QTensor,
    weight: QTensor,
    bias: np.ndarray | None,
    scale: float,
    zero_point: int,
    relu: bool,
) -> QTensor:
    out_features, in_features = weight.shape
    columns = input.codes.reshape(1, int(np.prod(input.shape[:-1])), in_features)
    if ctx.engine.is_qnnpack:
        packed = prepack_qnnpack(weight)
        acc = accumulators(columns, packed, input.q_zero_point(), False)
        acc = wrap_i32(acc + qnnpack_int32_bias(packed, bias, input.q_scale()))
        codes = qnnpack_output(acc, packed, input.q_scale(), scale, zero_point, relu)
    else:
        packed = prepack_fbgemm(weight)
        acc = accumulators(columns, packed, input.q_zero_point(), ctx.engine.saturating_int8_gemm)
        codes = fbgemm_output(acc, packed, input.q_scale(), bias, scale, zero_point, relu)
    out = codes.reshape(input.shape[:-1] + (out_features,))
    return output_qtensor(out, scale, zero_point)
