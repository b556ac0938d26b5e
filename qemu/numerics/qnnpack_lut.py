"""QNNPACK's 256-entry lookup tables for quint8 activations and the checks its
operator constructors make (``aten/src/ATen/native/quantized/cpu/qnnpack/src/``:
``hardswish.c``, ``hardsigmoid.c``, ``sigmoid.c``, ``tanh.c``).

Each table entry ``i`` evaluates the activation in float32 at ``x = f32(s) * (i - z)``,
scales by the inverse output scale, adds the output zero point *before* rounding,
clamps to the output range and rounds with ``lrintf``. QNNPACK is built without FMA,
so ``inv * y + zp`` rounds twice (the tests discriminate this).
"""

from __future__ import annotations

import numpy as np

from qemu.numerics import libm
from qemu.numerics.float32 import f32, lrintf

_CODES = np.arange(256, dtype=np.int64)


def check_normal_scales(op: str, **scales: float) -> None:
    """QNNPACK's operator constructors refuse any scale whose float32 is not a positive
    normal number (``scale <= 0 || !isnormal(scale)``)."""
    for name, value in scales.items():
        single = f32(value)
        if not (np.isfinite(single) and single >= np.finfo(np.float32).tiny):
            raise ValueError(
                f"qnnpack {op}: the {name} scale {value!r} is not a normal float32; QNNPACK "
                "refuses to create the operator"
            )


def lut_inputs(input_scale: float, input_zero_point: int) -> np.ndarray:
    """``f32(s) * f32(i - z)`` for the 256 codes."""
    return f32(input_scale) * (_CODES - input_zero_point).astype(np.float32)


def finish_lut(scaled, out_min: int = 0, out_max: int = 255) -> np.ndarray:
    """Clamp a float32 table to ``[out_min, out_max]`` (in float) and ``lrintf`` it."""
    clamped = np.minimum(np.maximum(scaled, np.float32(out_min)), np.float32(out_max))
    return lrintf(clamped)


def hardswish_lut(
    input_scale: float, input_zero_point: int, output_scale: float, output_zero_point: int
) -> np.ndarray:
    """``pytorch_qnnp_create_hardswish_nc_q8``: ``x * clamp(x + 3, 0, 6) / 6``, then
    ``f32(f32(1 / so) * y) + zo``.

    Examples
    --------
    >>> int(hardswish_lut(1.0, 0, 1.0, 0)[3])
    3
    """
    x = lut_inputs(input_scale, input_zero_point)
    clipped = np.minimum(np.maximum(x + np.float32(3), np.float32(0)), np.float32(6))
    y = (x * clipped) / np.float32(6)
    inverse = np.float32(1.0) / f32(output_scale)
    return finish_lut(inverse * y + np.float32(output_zero_point))


def hardsigmoid_lut(input_scale: float, input_zero_point: int) -> np.ndarray:
    """``pytorch_qnnp_create_hardsigmoid_nc_q8`` with the fixed output (1/256, 0):
    ``256 * (clamp(x + 3, 0, 6) / 6)``.

    Examples
    --------
    >>> int(hardsigmoid_lut(1.0, 0)[0])
    128
    """
    x = lut_inputs(input_scale, input_zero_point)
    clipped = np.minimum(np.maximum(x + np.float32(3), np.float32(0)), np.float32(6))
    return finish_lut(np.float32(256) * (clipped / np.float32(6)) + np.float32(0))


def sigmoid_lut(input_scale: float, input_zero_point: int) -> np.ndarray:
    """``pytorch_qnnp_create_sigmoid_nc_q8`` (output (1/256, 0)):
    ``256.0f / (1.0f + expf(-x))`` in float with glibc ``expf``.

    Examples
    --------
    >>> int(sigmoid_lut(1.0, 0)[0])
    128
    """
    x = lut_inputs(input_scale, input_zero_point)
    with np.errstate(over="ignore"):
        return finish_lut(np.float32(256) / (np.float32(1) + libm.expf(-x)))


def tanh_lut(input_scale: float, input_zero_point: int) -> np.ndarray:
    """``pytorch_qnnp_create_tanh_nc_q8`` (output (2/256, 128)):
    ``f32(f32(128 * tanhf(x)) + 128)`` (measured: float ``tanhf``, no FMA).

    Examples
    --------
    >>> int(tanh_lut(1.0, 0)[0])
    128
    """
    x = lut_inputs(input_scale, input_zero_point)
    return finish_lut(np.float32(128) * libm.tanhf(x) + np.float32(128))
