"""Dynamic quantized linear on numba: the GEMMs run as numba kernels, the cheap
elementwise steps are the reference's own functions (they are exact in NumPy)."""

from __future__ import annotations

from qemu.backends.numba_backend.fp16gemm import gemm_fp16
from qemu.backends.numba_backend.linear import accumulators
from qemu.backends.numba_backend.primitives import fma_f32
from qemu.backends.numba_backend.quantize import quantize_fbgemm

from qemu.dispatch import register
from qemu.numerics.aten_elementwise import relu
from qemu.ops.dynamic import linear_fp16_reference, linear_int8_reference


def linear_int8(ctx, x, weight, bias, reduce_range):
    """The int8 dynamic linear with the static linear's numba accumulators and the numba
    quantize and FMA."""
    return linear_int8_reference(
        ctx, x, weight, bias, reduce_range, accumulators, quantize_fbgemm, fma_f32
    )


def linear_fp16(ctx, x, weight, bias):
    """The fp16 dynamic linear with the numba fp16 GEMM."""
    return linear_fp16_reference(ctx, x, weight, bias, gemm=gemm_fp16)


@register("linear_dynamic", "numba")
def _linear_dynamic(ctx, x, weight, bias, reduce_range):
    return linear_int8(ctx, x, weight, bias, reduce_range)


@register("linear_relu_dynamic", "numba")
def _linear_relu_dynamic(ctx, x, weight, bias, reduce_range):
    return relu(linear_int8(ctx, x, weight, bias, reduce_range))


@register("linear_dynamic_fp16", "numba")
def _linear_dynamic_fp16(ctx, x, weight, bias):
    return linear_fp16(ctx, x, weight, bias)


@register("linear_relu_dynamic_fp16", "numba")
def _linear_relu_dynamic_fp16(ctx, x, weight, bias):
    return relu(linear_fp16(ctx, x, weight, bias))
