"""IEEE binary16 rounding, as F16C ``vcvtps2ph`` (round to nearest even) and FBGEMM's
``cpu_float2half`` compute it."""

from __future__ import annotations

import numpy as np

FP16_MAX = 65504.0


def round_to_fp16(x) -> np.ndarray:
    """Round float32 values to the nearest binary16 value (ties to even; overflow to
    ±inf, NaN kept), returned as float16.

    NumPy's float32 -> float16 cast is a single correctly rounded conversion, which is
    what ``vcvtps2ph`` with rounding mode 0 does.

    Examples
    --------
    >>> float(round_to_fp16(np.float32(1 + 2**-11)))  # a tie: rounds to even
    1.0
    """
    with np.errstate(over="ignore"):  # overflow to infinity is the IEEE result
        return np.asarray(x, dtype=np.float32).astype(np.float16)


def saturate_to_fp16(x) -> np.ndarray:
    """Clamp float32 values to ``[-65504, 65504]`` and round to binary16 (NaN kept),
    as torch does to fp16 weights at prepack time (``_saturate_weight_to_fp16``).

    Examples
    --------
    >>> float(saturate_to_fp16(np.float32(1e6)))
    65504.0
    """
    x = np.asarray(x, dtype=np.float32)
    return round_to_fp16(np.where(np.isnan(x), x, np.clip(x, -FP16_MAX, FP16_MAX)))
