"""Static int8 linear on numba: the raw sums with fbgemm's own instructions on
AVX512-VNNI hosts (else the exact ones through the reference's float32 BLAS and the int16
pair-saturated ones in a compiled loop), the requantization in compiled loops."""

from __future__ import annotations

import weakref

import numpy as np
from qemu.backends.numba_backend import int8gemm, requantize, vnni

from qemu.dispatch import Context, register
from qemu.numerics.requantize import (
    fbgemm_requantization_params,
    qnnpack_requantization_scales,
)
from qemu.ops.linear import GemmSteps, gemm_accumulators, raw_gemm_sums, run_linear
from qemu.qtensor import QTensor

# The weights in the VNNI kernels' layout, one entry per group, made once per packed
# weight (which the prepack cache keeps while its QTensor lives).
_VNNI_WEIGHTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _vnni_weights(packed) -> list[vnni.PackedWeights]:
    weights = _VNNI_WEIGHTS.get(packed)
    if weights is None:
        weights = [vnni.pack_weights(codes) for codes in packed.codes]
        _VNNI_WEIGHTS[packed] = weights
    return weights


def raw_sums(columns: np.ndarray, packed, saturating_pairs: bool) -> np.ndarray:
    """:func:`qemu.ops.linear.raw_gemm_sums`: on AVX512-VNNI hosts with fbgemm's own
    instructions (:mod:`qemu.backends.numba_backend.vnni`); elsewhere the exact sums
    through the reference's float32 BLAS and the pair-saturated ones in a compiled loop."""
    if vnni.available() and columns.shape[-1] <= vnni.max_k(saturating_pairs):
        weights = _vnni_weights(packed)
        return np.stack(
            [
                vnni.gemm_u8s8(columns[g], weights[g], saturating_pairs=saturating_pairs)
                for g in range(packed.groups)
            ]
        ).astype(np.int64)
    if not saturating_pairs:
        return raw_gemm_sums(columns, packed, False)
    return np.stack(
        [
            int8gemm.gemm_u8s8_pair_saturated(columns[g], packed.codes[g])
            for g in range(packed.groups)
        ]
    )


def accumulators(
    columns: np.ndarray, packed, input_zero_point: int, saturating_pairs: bool
) -> np.ndarray:
    """:func:`qemu.ops.linear.gemm_accumulators` with :func:`raw_sums` (for the dynamic
    linear and the RNN cells, which share the static linear's accumulation)."""
    return gemm_accumulators(columns, packed, input_zero_point, saturating_pairs, raw_sums)


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


NUMBA_STEPS = GemmSteps(raw_sums, fbgemm_output, qnnpack_output)


@register("linear", "numba")
def _linear(ctx: Context, *args) -> QTensor:
    return run_linear(NUMBA_STEPS, ctx, *args)
