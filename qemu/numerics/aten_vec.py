"""ATen's int32-to-quantized requantization (``requantize_from_int``), vector and
scalar, as quantized mul, add_scalar and prelu use it.

Vector (``Vectorized<T>::requantize_from_int`` / ``RequantizeAvx2`` in
``aten/src/ATen/cpu/vec/vec256/vec256_qint.h``): ``cvtps2dq(f32(f32(c) * m))`` plus
the zero point in wrapping int32, then saturating packs to 8 bits (no clamp at all
for qint32). Scalar (``at::native::requantize_from_int`` in
``aten/src/ATen/native/quantized/AffineQuantizerBase.cpp``): ``zp + lrintf(c * m)``
with the product rounded once to float (measured), in int64, then a clamp to the
dtype. They agree unless ``f32(c) * m`` leaves the
int32 range.
"""

from __future__ import annotations

import numpy as np

from qemu.numerics.float32 import cvt_f32_to_i32, f32, lrintf, wrap_i32


def requantize_from_int_vec(
    values, multiplier, zero_point: int, qmin: int, qmax: int, saturate: bool = True
) -> np.ndarray:
    """``RequantizeAvx2`` (8-bit, ``saturate=True``) / ``Vectorized<qint32>`` (no clamp).

    Examples
    --------
    >>> requantize_from_int_vec(np.array([5, -5]), np.float32(0.5), 10, 0, 255).tolist()
    [12, 8]
    """
    with np.errstate(over="ignore", invalid="ignore"):
        scaled = f32(values) * np.asarray(multiplier, dtype=np.float32)
    shifted = wrap_i32(cvt_f32_to_i32(scaled).astype(np.int64) + zero_point).astype(np.int64)
    return np.clip(shifted, qmin, qmax) if saturate else shifted


def requantize_from_int_val(
    values, multiplier, zero_point: int, qmin: int, qmax: int
) -> np.ndarray:
    """``at::native::requantize_from_int<T>``: ``clamp(zp + lrintf(f32(double(c) * m)))``,
    the addition in (wrapping) int64.

    Examples
    --------
    >>> requantize_from_int_val(np.array([5, -5]), np.float32(0.5), 10, 0, 255).tolist()
    [12, 8]
    """
    # Measured: the product is formed in double and rounded once to float (for |c| >
    # 2**24 this differs from rounding c to float first); the 8-bit products are exact.
    product = np.asarray(values, dtype=np.int64).astype(np.float64) * np.float64(
        np.float32(multiplier)
    )
    with np.errstate(over="ignore", invalid="ignore"):
        scaled = f32(product)
    with np.errstate(over="ignore"):
        shifted = lrintf(scaled) + np.int64(zero_point)
    return np.clip(shifted, qmin, qmax)
