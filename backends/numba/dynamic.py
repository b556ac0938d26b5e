"""Dynamic quantized linear on numba: the GEMMs run as numba kernels, the cheap
elementwise steps are the reference's own functions (they are exact in NumPy)."""

from __future__ import annotations

from qemu.backends.numba.fp16gemm import gemm_fp16

from qemu.dispatch import register
from qemu.numerics.aten_float import relu
from qemu.ops.dynamic import linear_fp16_reference


@register("linear_dynamic_fp16", "numba")
def _linear_dynamic_fp16(ctx, x, weight, bias):
    return linear_fp16_reference(ctx, x, weight, bias, gemm=gemm_fp16)


@register("linear_relu_dynamic_fp16", "numba")
def _linear_relu_dynamic_fp16(ctx, x, weight, bias):
    return relu(linear_fp16_reference(ctx, x, weight, bias, gemm=gemm_fp16))
