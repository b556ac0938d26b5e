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
    """The fp16 weight torch packs for ``quantized::linear_prepack_fp16``: clamp to
    ``[-65504, 65504]`` and round to binary16, NaN becoming ``-65504``.

    Two clamps run in turn. torch's ``HandleWeightsSaturation`` (``cpu/QuantUtils.h``,
    called by ``_saturate_weight_to_fp16``) replaces values beyond the fp16 range with
    ±65504 and leaves NaN alone (both comparisons are false). fbgemm's
    ``TypeConverter<float16>`` (``include/fbgemm/FbgemmFP16.h``) then computes
    ``std::max(-65504, std::min(w, 65504))``: ``std::min`` returns its first argument
    and ``std::max`` its first argument when a comparison with NaN is false, so NaN
    leaves as ``-65504`` (measured: every NaN weight unpacks as -65504).

    Examples
    --------
    >>> saturate_to_fp16(np.float32([1e6, np.nan])).tolist()
    [65504.0, -65504.0]
    """
    x = np.asarray(x, dtype=np.float32)
    return round_to_fp16(
        np.where(np.isnan(x), np.float32(-FP16_MAX), np.clip(x, -FP16_MAX, FP16_MAX))
    )
