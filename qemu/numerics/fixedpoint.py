"""QNNPACK's fixed-point requantization (the gemmlowp family of integer multipliers
and rounding shifts), as the x86 (SSE2) build of torch's bundled QNNPACK computes it.

Sources: ``aten/src/ATen/native/quantized/cpu/qnnpack/src/qnnpack/requantization.h``
(``pytorch_qnnp_compute_add_quantization_params``), ``src/add.c``
(``pytorch_qnnp_create_add_nc_q8``: the accepted scale ratios) and the q8vadd
micro-kernel. The 2.13 binary runs the pure fixed-point variant (integer multipliers,
rounding half away from zero); the stored newer source shows a float variant that does
not match it (``docs/numerics/elementwise.md`` has the evidence).
"""

from __future__ import annotations

import numpy as np

from qemu.numerics.float32 import f32, lrintf, wrap_i32

# pytorch_qnnp_create_add_nc_q8 refuses input-to-output scale ratios outside this range.
ADD_RATIO_MIN = 2.0**-14
ADD_RATIO_LIMIT = 2.0**8


def float32_exponent(x) -> int:
    """The unbiased binary exponent of a normal float32 (``(bits >> 23) - 127``).

    Examples
    --------
    >>> float32_exponent(np.float32(0.75))
    -1
    """
    bits = int(np.asarray(x, dtype=np.float32).view(np.uint32))
    return ((bits >> 23) & 0xFF) - 127


def add_multipliers(a_scale: float, b_scale: float, out_scale: float) -> tuple[int, int, int]:
    """``(a_multiplier, b_multiplier, shift)`` of QNNPACK's quantized add.

    Both ratios ``f32(s_in) / f32(s_out)`` (a float32 division) must lie in
    ``[2**-14, 2**8)``, else QNNPACK refuses to create the operator (``ValueError``
    here). The shift puts the larger ratio's multiplier in ``[2**21, 2**22)``:
    ``shift = 21 - exponent(max ratio)``; each multiplier is ``lrintf(ratio * 2**shift)``.

    Examples
    --------
    >>> add_multipliers(0.5, 0.25, 1.0)
    (2097152, 1048576, 22)
    """
    ratios = []
    for name, scale in (("a", a_scale), ("b", b_scale)):
        ratio = f32(scale) / f32(out_scale)
        if not (ADD_RATIO_MIN <= float(ratio) < ADD_RATIO_LIMIT):
            raise ValueError(
                f"qnnpack add: the {name}-to-output scale ratio {float(ratio):.7g} lies outside "
                "[2**-14, 2**8); QNNPACK refuses to create the operator"
            )
        ratios.append(ratio)
    shift = 21 - float32_exponent(max(ratios))
    power = np.float32(2.0**shift)
    a_multiplier, b_multiplier = (int(lrintf(r * power)) for r in ratios)
    return a_multiplier, b_multiplier, shift


# pthreadpool hands q8vadd tiles of this many bytes of the flattened tensor
# (operator-run.c, compute_q8add_contiguous); a tile shorter than 8 takes the
# micro-kernel's scalar branch.
ADD_TILE = 4096
ADD_VECTOR_MIN = 8


def round_shift_half_away(accumulator, shift: int, vector=True) -> np.ndarray:
    """``acc / 2**shift`` rounded to nearest, ties away from zero, on int32 values:
    ``(acc >> shift) + ((acc & mask) - (acc < 0) > mask >> 1)`` with
    ``mask = 2**shift - 1`` (QNNPACK's remainder-threshold rounding).

    For shifts of 32..35 (output scale over 2**10 times both input scales) the C code
    is out of its range and x86 decides: the mask is built with a shift count taken
    mod 32; the SSE2 path (``vector``) shifts by the full count (``psrad``, all sign
    bits); the scalar path's ``x >> n`` takes the count mod 32 too.

    Examples
    --------
    >>> round_shift_half_away(np.array([3, -3, 5, -5]), 1).tolist()
    [2, -2, 3, -3]
    """
    acc = np.asarray(accumulator, dtype=np.int64)
    mask = (1 << (shift % 32)) - 1
    remainder = (acc & mask) - (acc < 0)
    shifted = np.where(vector, acc >> min(shift, 31), acc >> (shift % 32))
    return shifted + (remainder > (mask >> 1))


def add_vector_lanes(numel: int) -> np.ndarray:
    """Which elements of a flattened QNNPACK add run the SSE2 branch of ``q8vadd``
    (tiles of at least 8 elements) rather than the scalar one."""
    index = np.arange(numel, dtype=np.int64)
    tile_length = np.minimum(ADD_TILE, numel - index // ADD_TILE * ADD_TILE)
    return tile_length >= ADD_VECTOR_MIN


def qnnpack_add_codes(
    qa,
    qb,
    a_zero_point: int,
    b_zero_point: int,
    out_zero_point: int,
    multipliers: tuple[int, int, int],
    out_min: int,
    out_max: int,
) -> np.ndarray:
    """QNNPACK ``q8vadd``: ``clamp(round_shift(zpp + qa*ma + qb*mb) + zo, min, max)``
    with ``zpp = -(ma*za + mb*zb)``, all in wrapping int32, over the flattened tensor.

    Examples
    --------
    >>> qnnpack_add_codes([10], [20], 0, 0, 0, add_multipliers(0.5, 0.25, 1.0), 0, 255).tolist()
    [10]
    """
    a_multiplier, b_multiplier, shift = multipliers
    qa = np.asarray(qa, dtype=np.int64)
    zero_point_product = wrap_i32(-(a_multiplier * a_zero_point + b_multiplier * b_zero_point))
    acc = wrap_i32(
        np.int64(zero_point_product)
        + qa * a_multiplier
        + np.asarray(qb, dtype=np.int64) * b_multiplier
    )
    vector = add_vector_lanes(qa.size).reshape(qa.shape)
    shifted = round_shift_half_away(acc, shift, vector)
    return np.clip(shifted + out_zero_point, out_min, out_max)
