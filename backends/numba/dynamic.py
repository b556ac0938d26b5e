"""Dynamic quantized linear on numba: the GEMMs run as numba kernels, the cheap
elementwise steps are the reference's own functions (they are exact in NumPy)."""

from __future__ import annotations

import numpy as np
from qemu.backends.numba.fp16gemm import gemm_fp16
from qemu.backends.numba.int8gemm import gemm_u8s8_pair_saturated

from qemu.dispatch import register
from qemu.numerics.aten_elementwise import relu
from qemu.numerics.int8gemm import gemm_u8s8_exact
from qemu.ops.dynamic import linear_fp16_reference, linear_int8_reference


def gemm_u8s8(a: np.ndarray, w: np.ndarray, *, saturating_pairs: bool, prepared=None) -> np.ndarray:
    """Raw u8 x s8 sums. Exact sums: the reference's float32-BLAS route is exact and the
    fastest (``prepared``: its :func:`~qemu.numerics.int8gemm.blas_weights`). Pair-
    saturated sums: the numba loop, unless no pair can reach the int16 limits."""
    if saturating_pairs and a.size and w.size and int(a.max()) * 128 * 2 > 32767:
        return gemm_u8s8_pair_saturated(np.ascontiguousarray(a), np.ascontiguousarray(w))
    return gemm_u8s8_exact(a, w, prepared)


def linear_int8(ctx, x, weight, bias, reduce_range):
    """The int8 dynamic linear with numba GEMM sums."""
    return linear_int8_reference(ctx, x, weight, bias, reduce_range, gemm=gemm_u8s8)


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
