"""Numba twins of :mod:`qemu.numerics.requantize` (same formulas, same order of
operations; ``fmaf`` is ``llvm.fma.f32``, one rounding). Serial below
:data:`PARALLEL_ELEMENTS` outputs, ``prange`` above (see ``int8gemm.py``)."""

from __future__ import annotations

import numpy as np
from numba import njit, prange
from qemu.backends.numba_backend.primitives import cvt_f32_to_i32, fmaf

PARALLEL_ELEMENTS = 1 << 16


@njit(cache=True, inline="always")
def saturate_to_quint8(rounded, output_zero_point, output_min, output_max):
    """packs_epi32, adds_epi16(zero point), packus_epi16, then the activation clamp."""
    packed = min(max(rounded, -32768), 32767)
    shifted = min(max(packed + output_zero_point, -32768), 32767)
    return np.uint8(min(max(shifted, output_min), output_max))


@njit(cache=True)
def _fbgemm_row(acc, m, act_times_w_scale, multiplier, bias, has_bias, per_channel,
                output_zero_point, lower, out):  # fmt: skip
    reciprocal = np.float32(1.0 / np.float64(act_times_w_scale[0]))
    for n in range(acc.shape[1]):
        value = np.float32(acc[m, n])
        if has_bias:
            if per_channel:
                value = value + bias[n] / act_times_w_scale[n]
            else:
                value = fmaf(bias[n], reciprocal, value)
        scaled = value * multiplier[n if per_channel else 0]
        out[m, n] = saturate_to_quint8(cvt_f32_to_i32(scaled), output_zero_point, lower, 255)


@njit(cache=True)
def _fbgemm_serial(acc, act_times_w_scale, multiplier, bias, has_bias, per_channel,
                   output_zero_point, lower):  # fmt: skip
    out = np.empty(acc.shape, dtype=np.uint8)
    for m in range(acc.shape[0]):
        _fbgemm_row(acc, m, act_times_w_scale, multiplier, bias, has_bias, per_channel,
                    output_zero_point, lower, out)  # fmt: skip
    return out


@njit(cache=True, parallel=True)
def _fbgemm_parallel(acc, act_times_w_scale, multiplier, bias, has_bias, per_channel,
                     output_zero_point, lower):  # fmt: skip
    out = np.empty(acc.shape, dtype=np.uint8)
    for m in prange(acc.shape[0]):
        _fbgemm_row(acc, m, act_times_w_scale, multiplier, bias, has_bias, per_channel,
                    output_zero_point, lower, out)  # fmt: skip
    return out


def requantize_fbgemm(acc, act_times_w_scale, multiplier, bias, has_bias, per_channel,
                      output_zero_point, relu):  # fmt: skip
    """fbgemm ``requantizeOutputProcessingAvx2`` on (M, N) accumulators."""
    kernel = _fbgemm_serial if acc.size < PARALLEL_ELEMENTS else _fbgemm_parallel
    lower = output_zero_point if relu else 0
    return kernel(acc, act_times_w_scale, multiplier, bias, has_bias, per_channel,
                  output_zero_point, lower)  # fmt: skip


@njit(cache=True)
def _qnnpack_row(acc, m, scales, output_zero_point, output_min, output_max, out):
    for n in range(acc.shape[1]):
        scaled = np.float32(acc[m, n]) * scales[n]
        out[m, n] = saturate_to_quint8(
            cvt_f32_to_i32(scaled), output_zero_point, output_min, output_max
        )


@njit(cache=True)
def _qnnpack_serial(acc, scales, output_zero_point, output_min, output_max):
    out = np.empty(acc.shape, dtype=np.uint8)
    for m in range(acc.shape[0]):
        _qnnpack_row(acc, m, scales, output_zero_point, output_min, output_max, out)
    return out


@njit(cache=True, parallel=True)
def _qnnpack_parallel(acc, scales, output_zero_point, output_min, output_max):
    out = np.empty(acc.shape, dtype=np.uint8)
    for m in prange(acc.shape[0]):
        _qnnpack_row(acc, m, scales, output_zero_point, output_min, output_max, out)
    return out


def requantize_qnnpack(acc, scales, output_zero_point, output_min, output_max):
    """qnnpack's fp32 requantization on (M, N) accumulators that include the bias."""
    kernel = _qnnpack_serial if acc.size < PARALLEL_ELEMENTS else _qnnpack_parallel
    return kernel(acc, scales, output_zero_point, output_min, output_max)
