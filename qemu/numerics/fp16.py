"""IEEE binary16 rounding, as F16C ``vcvtps2ph`` (round to nearest even) and FBGEMM's
``cpu_float2half`` compute it."""

from __future__ import annotations

import numpy as np

FP16_MAX = 65504.0


def round_to_fp16(x) -> np.ndarray:
    """Round float32 values to the nearest binary16 value (ties to even; overflow to
    ±inf), returned as float16, as F16C ``vcvtps2ph`` computes it.

    NumPy's float32 -> float16 cast is a single correctly rounded conversion, which is
    what ``vcvtps2ph`` with rounding mode 0 does. A NaN keeps its sign and the top
    nine bits of its payload and comes out quiet (``vcvtps2ph`` sets the quiet bit;
    NumPy's cast would leave a signaling NaN signaling).

    Examples
    --------
    >>> float(round_to_fp16(np.float32(1 + 2**-11)))  # a tie: rounds to even
    1.0
    >>> hex(round_to_fp16(np.uint32(0x7F800001).view(np.float32)).view(np.uint16))
    '0x7e00'
    """
    x = np.asarray(x, dtype=np.float32)
    with np.errstate(over="ignore"):  # overflow to infinity is the IEEE result
        half = x.astype(np.float16)
    nan = np.isnan(x)
    if nan.any():
        bits = x.view(np.uint32)
        quiet = ((bits >> 16) & 0x8000) | 0x7E00 | ((bits >> 13) & 0x1FF)
        half = np.where(nan, quiet.astype(np.uint16).view(np.float16), half)
    return half


def round_to_fp16_c10(x) -> np.ndarray:
    """``c10::Half(float)`` in ATen code built without F16C (the scalar
    ``fp16_ieee_from_fp32_value``): round to nearest even like :func:`round_to_fp16`,
    but every NaN becomes the canonical quiet NaN ``0x7E00`` with the input's sign.

    Examples
    --------
    >>> hex(round_to_fp16_c10(np.uint32(0x7FC01234).view(np.float32)).view(np.uint16))
    '0x7e00'
    """
    x = np.asarray(x, dtype=np.float32)
    with np.errstate(over="ignore"):
        half = x.astype(np.float16)
    nan = np.isnan(x)
    if nan.any():
        canonical = ((x.view(np.uint32) >> 16) & 0x8000) | 0x7E00
        half = np.where(nan, canonical.astype(np.uint16).view(np.float16), half)
    return half


def fp16_to_float32(h) -> np.ndarray:
    """Widen binary16 values to float32 as F16C ``vcvtph2ps`` does: exactly, except
    that a signaling NaN comes out quiet (payload kept), where NumPy's cast would
    keep it signaling.

    Examples
    --------
    >>> hex(fp16_to_float32(np.uint16(0x7C01).view(np.float16)).view(np.uint32))
    '0x7fc02000'
    """
    h = np.asarray(h, dtype=np.float16)
    x = h.astype(np.float32)
    nan = np.isnan(h)
    if nan.any():
        x = np.where(nan, (x.view(np.uint32) | np.uint32(0x00400000)).view(np.float32), x)
    return x


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
