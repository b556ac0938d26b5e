"""Quantized Embedding and EmbeddingBag: row-wise prepack, unpack and bag lookups, as
torch 2.13 computes them (``torch.ops.quantized.embedding_bag_*``, ``embedding_*`` and
the ``torch.ao.nn.quantized.Embedding`` / ``EmbeddingBag`` modules).

A row-wise packed table keeps each row's codes followed by that row's scale and bias:

========  ===================================  ================================
bits      row layout                           produced by
========  ===================================  ================================
8         ``D`` codes, f32 scale, f32 bias     ``embedding_bag_byte_prepack``
4         ``D/2`` bytes, f16 scale, f16 bias   ``embedding_bag_4bit_prepack``
2         ``D/4`` bytes, f16 scale, f16 bias   ``embedding_bag_2bit_prepack``
========  ===================================  ================================

Sub-byte codes fill each byte from the low bits up (column ``j`` sits at bit
``(j % k) * bits`` of byte ``j // k``). A lookup sums, per bag and in index order,
``out = fma(code, s, out + b)`` with ``s, b`` the row's scale and bias (each first
multiplied by the per-sample weight, if any). torch ignores ``mode``: "mean" and "max"
return the sum too. ``docs/numerics/embedding.md`` cites the kernel behind every
formula and the test that confirms it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from qemu import dispatch
from qemu.dtypes import PER_CHANNEL_AFFINE_FLOAT_QPARAMS, QUINT4X2, QUINT8, QDType, as_qdtype
from qemu.numerics.float32 import (
    cvt_f32_to_i32,
    fma_f32,
    lrintf,
    quiet_nan,
    wrap_i32,
    x86_nan,
)
from qemu.numerics.fp16 import fp16_to_float32, round_to_fp16, round_to_fp16_c10
from qemu.qtensor import QTensor
from qemu.quantize import quantize_per_channel

_FLT_MAX = np.float32(np.finfo(np.float32).max)
_FLOAT32_EPS = np.float32(np.finfo(np.float32).eps)
# FloatOrHalfToFused8BitRowwiseQuantizedSBFloat{Avx2,Ref}: kEpsilon keeps 255/range finite.
_BYTE_PREPACK_EPSILON = np.float32(1e-8)
# The AVX2 prepack loops (QuantUtilsAvx2.cc) read 8 floats per vector and, for the
# saturating pack of the codes, 4 vectors per step.
_AVX2_LANES = 8
_AVX2_PACK_BLOCK = 32
_MODES = {"sum": 0, "mean": 1, "max": 2}


def scale_bias_bytes(bits: int) -> int:
    """Bytes of scale and bias at the end of each packed row: two float32 for 8-bit
    rows, two float16 for 4- and 2-bit rows.

    Examples
    --------
    >>> scale_bias_bytes(8), scale_bias_bytes(4)
    (8, 4)
    """
    return 8 if bits == 8 else 4


def embedding_dim(packed: np.ndarray, bits: int) -> int:
    """The embedding dimension ``D`` of a packed table (torch derives it the same way:
    ``cols - 8`` for 8-bit rows, ``(cols - 4) * 8 / bits`` otherwise)."""
    return (packed.shape[-1] - scale_bias_bytes(bits)) * (8 // bits)


def row_scales_biases(packed: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's scale and bias as float32 (fp16 ones converted exactly), read from
    the little-endian bytes after the codes."""
    rows = packed.reshape(-1, packed.shape[-1])
    data_bytes = rows.shape[1] - scale_bias_bytes(bits)
    stored = np.dtype("<f4") if bits == 8 else np.dtype("<f2")
    pairs = np.ascontiguousarray(rows[:, data_bytes:]).view(stored).reshape(-1, 2)
    # fp16 scale and bias are widened with vcvtph2ps in FBGEMM's kernels. Every use
    # is arithmetic, which hands NaNs on quieted, so they are quieted here once.
    widened = quiet_nan(pairs) if bits == 8 else fp16_to_float32(pairs)
    return widened[:, 0].copy(), widened[:, 1].copy()


def unpack_codes(data: np.ndarray, bits: int) -> np.ndarray:
    """The codes of packed code bytes ``(..., D * bits / 8)``, as ``(..., D)`` uint8."""
    if bits == 8:
        return data.astype(np.uint8, copy=True)
    per_byte = 8 // bits
    shifts = (np.arange(per_byte) * bits).astype(np.uint8)
    codes = (data[..., :, None] >> shifts) & np.uint8((1 << bits) - 1)
    return codes.reshape(*data.shape[:-1], data.shape[-1] * per_byte)


def pack_codes(codes: np.ndarray, bits: int) -> np.ndarray:
    """Codes ``(..., D)`` packed ``8 / bits`` to a byte (``D`` a multiple of that)."""
    codes = np.asarray(codes, dtype=np.uint8)
    if bits == 8:
        return codes.copy()
    per_byte = 8 // bits
    lanes = codes.reshape(*codes.shape[:-1], codes.shape[-1] // per_byte, per_byte)
    # Lane by lane: np.bitwise_or.reduce over an axis of 2 or 4 is many times slower.
    packed = lanes[..., 0].copy()
    for lane in range(1, per_byte):
        packed |= lanes[..., lane] << np.uint8(lane * bits)
    return packed


def _fused_rows(codes: np.ndarray, scales: np.ndarray, biases: np.ndarray, bits: int):
    """Packed rows ``[codes | scale | bias]`` with the scale/bias storage of ``bits``."""
    stored = np.dtype("<f4") if bits == 8 else np.dtype("<f2")
    tail = np.stack([scales, biases], axis=-1).astype(stored).view(np.uint8)
    return np.concatenate([pack_codes(codes, bits), tail], axis=-1)


# -- prepack numerics ----------------------------------------------------------------


def _avx2_row_min_max(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row minima and maxima as the AVX2 prepack loops find them (QuantUtilsAvx2.cc:
    ``FloatOrHalfToFused8BitRowwiseQuantizedSBFloatAvx2`` and the N-bit twin).

    The search starts from +/-FLT_MAX, so a row of +inf has minimum FLT_MAX (and an
    empty row FLT_MAX / -FLT_MAX). Which of several equal zeros (+0 or -0) and which
    NaN a row yields depends on the search order: such rows go through
    :func:`_avx2_row_min_max_in_order`.
    """
    minimum = np.min(x, axis=1, initial=_FLT_MAX)
    maximum = np.max(x, axis=1, initial=-_FLT_MAX)
    # np.min propagates NaN; with NaN or a zero extreme the order decides.
    ordered = np.isnan(minimum) | (minimum == 0) | (maximum == 0)
    if ordered.any():
        minimum[ordered], maximum[ordered] = _avx2_row_min_max_in_order(x[ordered])
    return minimum, maximum


def _avx2_row_min_max_in_order(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The lane-by-lane search: eight lanes take ``_mm256_min_ps(lane, x)`` /
    ``_mm256_max_ps(lane, x)`` over the full 8-column blocks, then the lanes are folded
    in order with ``std::min`` / ``std::max``, then the tail columns. ``minps``
    returns its second operand when either is NaN; ``std::min(m, v)`` keeps ``m``
    unless ``v < m``.
    """
    rows, cols = x.shape
    full = cols // _AVX2_LANES * _AVX2_LANES
    lane_min = np.full((rows, _AVX2_LANES), _FLT_MAX, dtype=np.float32)
    lane_max = np.full((rows, _AVX2_LANES), -_FLT_MAX, dtype=np.float32)
    with np.errstate(invalid="ignore"):
        for start in range(0, full, _AVX2_LANES):
            block = x[:, start : start + _AVX2_LANES]
            lane_min = np.where(lane_min < block, lane_min, block)
            lane_max = np.where(lane_max > block, lane_max, block)
        minimum = np.full(rows, _FLT_MAX, dtype=np.float32)
        maximum = np.full(rows, -_FLT_MAX, dtype=np.float32)
        for value_min, value_max in zip(
            [*lane_min.T, *x[:, full:].T], [*lane_max.T, *x[:, full:].T], strict=True
        ):
            minimum = np.where(value_min < minimum, value_min, minimum)
            maximum = np.where(maximum < value_max, value_max, maximum)
    return minimum, maximum


def _sequential_row_min_max(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``std::min_element`` / ``std::max_element`` over each row (first element, then
    replaced by a strictly smaller / larger one), as ``choose_qparams_optimized`` uses."""
    minimum = x[:, 0].copy()
    maximum = x[:, 0].copy()
    with np.errstate(invalid="ignore"):
        for column in x.T[1:]:
            minimum = np.where(column < minimum, column, minimum)
            maximum = np.where(maximum < column, column, maximum)
    return minimum, maximum


def _scaled_offsets(x: np.ndarray, minimum: np.ndarray, inverse: np.ndarray) -> np.ndarray:
    """``(x - min) * inv`` in float32, two roundings (``_mm256_sub_ps`` then
    ``_mm256_mul_ps``; the scalar tails compute the same)."""
    with np.errstate(invalid="ignore", over="ignore"):
        return (x - minimum[:, None]) * inverse[:, None]


def _saturating_block_codes(scaled: np.ndarray, qmax: int) -> np.ndarray:
    """Codes from the 32-column AVX2 blocks: ``cvtps2dq`` (NaN and overflow give
    INT32_MIN), ``packs_epi32`` to int16, ``packus_epi16`` to [0, 255], then (N-bit)
    ``min_epu8`` with ``qmax``. The three clamps nest, so they are one clamp to
    ``[0, min(255, qmax)]``."""
    return np.clip(cvt_f32_to_i32(scaled), 0, min(255, qmax)).astype(np.uint8)


def _row_extremes(x: np.ndarray, given: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """The AVX2 routines' row min/max, or the caller's (``*_with_rowwise_min_max``)."""
    if given is None:
        return _avx2_row_min_max(x)
    return given[:, 0].copy(), given[:, 1].copy()


def _byte_prepack_rows(x: np.ndarray, given: np.ndarray | None) -> np.ndarray:
    """FBGEMM ``FloatOrHalfToFused8BitRowwiseQuantizedSBFloatAvx2`` on float32 rows."""
    cols = x.shape[1]
    minimum, maximum = _row_extremes(x, given)
    with np.errstate(invalid="ignore", over="ignore"):
        value_range = maximum - minimum
        scale = value_range / np.float32(255.0)
        inverse = np.float32(255.0) / (value_range + _BYTE_PREPACK_EPSILON)
    scaled = _scaled_offsets(x, minimum, inverse)
    blocked = cols // _AVX2_PACK_BLOCK * _AVX2_PACK_BLOCK
    codes = np.empty(x.shape, dtype=np.uint8)
    codes[:, :blocked] = _saturating_block_codes(scaled[:, :blocked], 255)
    # The 8-column blocks keep the low byte of each cvtps2dq result
    # (_mm256_shuffle_epi8) and the tail assigns lrintf to uint8_t: both truncate to
    # 8 bits, and they agree because a float beyond int32 is a multiple of 256.
    codes[:, blocked:] = lrintf(scaled[:, blocked:]) & 0xFF
    return _fused_rows(codes, scale, minimum, 8)


def _truncated_nbit_codes(scaled: np.ndarray, qmax: int) -> np.ndarray:
    """The scalar N-bit code: ``max(0, min((int)lrintf(v), qmax))``; the ``int`` cast
    keeps the low 32 bits of the long (NaN gives 0)."""
    return np.clip(wrap_i32(lrintf(scaled)).astype(np.int64), 0, qmax)


def _nbit_qparams(minimum: np.ndarray, maximum: np.ndarray, bits: int, to_half):
    """The fp16 bias and scale and the float32 inverse scale of N-bit rows.

    The row minimum is rounded to fp16 first and the range taken from that rounded
    value; the scale ``range / (2^bits - 1)`` is rounded to fp16 too; a zero scale
    or an infinite inverse becomes scale 1 (FloatOrHalfToFusedNBitRowwiseQuantizedSBHalfAvx2,
    and the same steps in qembeddingbag_prepack.cpp's scalar loop). ``to_half`` is
    the float -> fp16 conversion of the code at hand (F16C in FBGEMM, ``c10::Half``
    in ATen); they differ only for NaN payloads.
    """
    bias_half = to_half(minimum)
    rounded_minimum = fp16_to_float32(bias_half)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        value_range = maximum - rounded_minimum
        raw_scale = np.where(
            value_range == 0, np.float32(1.0), value_range / np.float32((1 << bits) - 1)
        )
        scale = fp16_to_float32(to_half(raw_scale))
        scale = np.where(scale == 0, np.float32(1.0), scale)
        inverse = np.float32(1.0) / scale
    infinite = np.isinf(inverse)
    scale = np.where(infinite, np.float32(1.0), scale)
    inverse = np.where(infinite, np.float32(1.0), inverse)
    return rounded_minimum, to_half(scale), inverse, bias_half


def _nbit_prepack_rows(x: np.ndarray, bits: int, given: np.ndarray | None) -> np.ndarray:
    """FBGEMM ``FloatOrHalfToFusedNBitRowwiseQuantizedSBHalfAvx2<float, bits>``."""
    cols = x.shape[1]
    qmax = (1 << bits) - 1
    minimum, maximum = _row_extremes(x, given)
    rounded_minimum, scale_half, inverse, bias_half = _nbit_qparams(
        minimum, maximum, bits, round_to_fp16
    )
    scaled = _scaled_offsets(x, rounded_minimum, inverse)
    blocked = cols // _AVX2_PACK_BLOCK * _AVX2_PACK_BLOCK
    codes = np.empty(x.shape, dtype=np.uint8)
    codes[:, :blocked] = _saturating_block_codes(scaled[:, :blocked], qmax)
    codes[:, blocked:] = _truncated_nbit_codes(scaled[:, blocked:], qmax)
    return _fused_rows(codes, scale_half, bias_half, bits)


def _quantization_loss(
    x: np.ndarray, minimum: np.ndarray, maximum: np.ndarray, bits: int
) -> np.ndarray:
    """ATen ``calculate_quant_loss`` (quantized/QTensor.cpp) for each row: the L2 norm
    of ``x - fake_quant(x)`` with an fp16-rounded minimum and scale, summed in float32
    in column order (scalar code built without FMA)."""
    qmax = np.float32((1 << bits) - 1)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        rounded_minimum = round_to_fp16_c10(minimum).astype(np.float32)
        value_range = maximum - rounded_minimum
        scale = np.where(
            value_range == 0,
            np.float32(1.0),
            round_to_fp16_c10(value_range / qmax).astype(np.float32),
        )
        inverse = np.where(scale == 0, np.float32(1.0), np.float32(1.0) / scale)
        level = np.rint((x - rounded_minimum[:, None]) * inverse[:, None])
        # std::min<float>(level, qmax) keeps a NaN level; std::max(0.f, NaN) gives 0.
        level = np.where(qmax < level, qmax, level)
        level = np.where(np.float32(0.0) < level, level, np.float32(0.0))
        error = x - (level * scale[:, None] + rounded_minimum[:, None])
        # norm += error * error, column by column: add.accumulate is a sequential
        # float32 sum (unlike add.reduce, which sums pairwise).
        norm = np.add.accumulate(error * error, axis=1)[:, -1]
        return np.sqrt(norm)


def _choose_qparams_optimized(x: np.ndarray, nbins: int, ratio: float, bits: int):
    """ATen ``choose_qparams_optimized`` (quantized/QTensor.cpp) for each row: a greedy
    search that shrinks ``[min, max]`` by ``(max - min) / nbins`` from whichever end
    lowers the quantization loss, keeping the best local optimum. Returns the chosen
    ``(min, max)`` per row."""
    low, high = _sequential_row_min_max(x)
    with np.errstate(invalid="ignore", over="ignore"):
        bins = np.float32(nbins)
        step = (high - low) / bins
        # float min_bins = n_bins_float * (1.0 - ratio): formed in double, then rounded.
        min_bins = np.float32(float(bins) * (1.0 - ratio))
        threshold = min_bins * step
    best_low, best_high = low.copy(), high.copy()
    loss = _quantization_loss(x, low, high, bits)
    best_loss = loss.copy()
    current_low, current_high, current_loss = low.copy(), high.copy(), loss
    with np.errstate(invalid="ignore", over="ignore"):
        active = current_low + threshold < current_high
        while active.any():
            rows = np.flatnonzero(active)
            sub = x[rows]
            lo, hi, cur = current_low[rows], current_high[rows], current_loss[rows]
            loss_left = _quantization_loss(sub, lo + step[rows], hi, bits)
            loss_right = _quantization_loss(sub, lo, hi - step[rows], bits)
            optimum = (cur < loss_left) & (cur < loss_right) & (cur < best_loss[rows])
            best_loss[rows[optimum]] = cur[optimum]
            best_low[rows[optimum]] = lo[optimum]
            best_high[rows[optimum]] = hi[optimum]
            move_left = loss_left < loss_right
            current_low[rows] = np.where(move_left, lo + step[rows], lo)
            current_high[rows] = np.where(move_left, hi, hi - step[rows])
            current_loss[rows] = np.where(move_left, loss_left, loss_right)
            active[rows] = current_low[rows] + threshold[rows] < current_high[rows]
    return best_low, best_high


def _optimized_nbit_prepack_rows(x: np.ndarray, bits: int, nbins: int, ratio: float):
    """``_qembeddingbag_nbit_prepack_helper`` with ``optimized_qparams=True``: the
    searched min/max, then its scalar quantize loop (no vector blocks)."""
    minimum, maximum = _choose_qparams_optimized(x, nbins, ratio, bits)
    rounded_minimum, scale_half, inverse, bias_half = _nbit_qparams(
        minimum, maximum, bits, round_to_fp16_c10
    )
    codes = _truncated_nbit_codes(_scaled_offsets(x, rounded_minimum, inverse), (1 << bits) - 1)
    return _fused_rows(codes, scale_half, bias_half, bits)


def module_prepack_rows(weight: QTensor) -> np.ndarray:
    """``PackedEmbeddingBagWeight::prepack`` (qembeddingbag_prepack.cpp): the codes as
    they are, the row's scale, and ``bias = (zero_point * scale) * -1`` (float32),
    stored as float32 for quint8 and as ``at::Half`` for quint4x2."""
    bits = weight.dtype.bits
    scales = weight.q_per_channel_scales()
    bias = -(weight.q_per_channel_zero_points() * scales)
    if bits != 8:
        scales, bias = round_to_fp16_c10(scales), round_to_fp16_c10(bias)
    return _fused_rows(weight.codes, scales, bias, bits)


def _dequantize_rows(packed: np.ndarray, bits: int) -> np.ndarray:
    """FBGEMM ``Fused8BitRowwiseQuantizedSBFloatToFloatOrHalf`` /
    ``FusedNBitRowwiseQuantizedSBHalfToFloatOrHalf`` (AVX2): ``fma(code, scale, bias)``."""
    rows = packed.reshape(-1, packed.shape[-1])
    data_bytes = rows.shape[1] - scale_bias_bytes(bits)
    scales, biases = row_scales_biases(rows, bits)
    codes = unpack_codes(rows[:, :data_bytes], bits).astype(np.float32)
    values = x86_nan(
        fma_f32(codes, scales[:, None], biases[:, None]), scales[:, None], biases[:, None]
    )
    return values.reshape(*packed.shape[:-1], codes.shape[1])


# -- bags ----------------------------------------------------------------------------


@dataclass(frozen=True)
class BagPlan:
    """Which positions of the flattened indices each output bag sums, and the table
    row each position reads.

    ``starts[b]:ends[b]`` are the positions of bag ``b``; ``rows[p]`` is the packed
    row for position ``p``, or -1 for a pruned row (skipped) and for positions no bag
    reads.
    """

    starts: np.ndarray
    ends: np.ndarray
    rows: np.ndarray


def bag_plan(
    num_rows: int,
    bits: int,
    indices: np.ndarray,
    offsets: np.ndarray | None,
    include_last_offset: bool,
    pruned_weights: bool,
    compressed_indices_mapping: np.ndarray | None,
) -> BagPlan:
    """The bags torch's kernels form from ``indices`` and ``offsets``, validated.

    qembeddingbag.cpp completes the offsets with ``len(indices)`` unless
    ``include_last_offset``. The dense 8-bit kernel runs per chunk of bags
    (``at::parallel_for``) on ``indices + offsets[start]``, so bag ``b`` reads
    positions ``offsets[b]:offsets[b+1]`` and leading / trailing positions outside
    every bag are ignored. The N-bit kernels and the pruned 8-bit kernel run once
    over all bags and walk the indices from position 0, taking
    ``offsets[b+1] - offsets[b]`` of them per bag: with ``offsets[0] > 0`` every bag
    is shifted left by ``offsets[0]``, and the last offset must equal
    ``len(indices)``.
    """
    count = indices.size
    flat = indices.reshape(-1).astype(np.int64)
    if offsets is None:
        # 2-D indices: one bag per row (qembeddingbag.cpp builds at::arange(0, numel, L)
        # and then treats it like given offsets, include_last_offset included).
        offsets = np.arange(0, count, indices.shape[-1], dtype=np.int64)
    boundaries = offsets.astype(np.int64)
    if include_last_offset:
        if boundaries.size == 0:
            raise ValueError(
                "offsets: include_last_offset=True needs at least one offset "
                "(the end of the last bag); got none"
            )
    else:
        boundaries = np.append(boundaries, np.int64(count))
    if boundaries[0] < 0:
        raise ValueError(f"offsets: expected offsets >= 0, got offsets[0] = {boundaries[0]}")
    decreasing = np.flatnonzero(np.diff(boundaries) < 0)
    if decreasing.size:
        at = int(decreasing[0])
        raise ValueError(
            f"offsets: expected non-decreasing offsets (including the implied last offset "
            f"len(indices) = {count} unless include_last_offset), got offsets[{at}] = "
            f"{boundaries[at]} > offsets[{at + 1}] = {boundaries[at + 1]}"
        )
    if boundaries[-1] > count:
        raise ValueError(
            f"offsets: the last offset {boundaries[-1]} is past the end of the {count} indices"
        )
    sparse = pruned_weights and not _is_dense_marker(compressed_indices_mapping)
    table_size = compressed_indices_mapping.size if sparse else num_rows
    walked = np.zeros(count, dtype=bool)  # positions the bags read
    if bits == 8 and not sparse:
        starts, ends = boundaries[:-1], boundaries[1:]
        walked[boundaries[0] : boundaries[-1]] = True
        checked = walked
    else:
        if boundaries[-1] != count:
            raise ValueError(
                f"offsets: the last offset must equal len(indices) = {count} for this "
                f"kernel (torch: 'the last offset value should be the size of the indices "
                f"tensor'), got {boundaries[-1]}"
            )
        first = boundaries[0]
        starts, ends = boundaries[:-1] - first, boundaries[1:] - first
        walked[: count - first] = True
        # When the walk ends short of the last index the kernel reports failure and
        # qembeddingbag.cpp then range-checks the indices of the unshifted bags.
        checked = walked.copy()
        checked[first:] = True
    bad = checked & ((flat < 0) | (flat >= table_size))
    if bad.any():
        position = int(np.flatnonzero(bad)[0])
        what = "compressed_indices_mapping entries" if sparse else "table rows"
        raise ValueError(
            f"indices: index {flat[position]} at position {position} is out of range "
            f"[0, {table_size}) ({table_size} {what})"
        )
    rows = np.where(walked, flat, -1)
    if sparse:
        mapping = compressed_indices_mapping.astype(np.int64)
        rows = np.where(walked, mapping[np.where(walked, flat, 0)], -1)
        wrong = walked & ((rows < -1) | (rows >= num_rows))
        if wrong.any():
            position = int(np.flatnonzero(wrong)[0])
            raise ValueError(
                f"compressed_indices_mapping: entry {flat[position]} maps to row "
                f"{rows[position]}, outside the {num_rows} packed rows (use -1 for a "
                "pruned row); torch would read outside the table"
            )
    return BagPlan(np.ascontiguousarray(starts), np.ascontiguousarray(ends), rows)


def _is_dense_marker(mapping: np.ndarray | None) -> bool:
    """qembeddingbag.cpp treats a mapping of exactly ``[0]`` as "not pruned"."""
    return mapping is not None and mapping.size == 1 and int(mapping[0]) == 0


def _sum_bags(
    packed: np.ndarray, bits: int, plan: BagPlan, weights: np.ndarray | None
) -> np.ndarray:
    """FBGEMM ``GenerateEmbeddingSpMDM`` / ``GenerateEmbeddingSpMDMNBit`` (asmjit, AVX2
    and AVX512 alike): per bag ``out = 0``, then for each position in order
    ``out = fma(code, s, out + b)`` (``vaddps`` then ``vfmadd231ps``), with
    ``s = scale * w`` and ``b = bias * w`` (``vmulps``) when weighted. NaNs propagate
    as the hardware passes them on (:func:`qemu.numerics.float32.x86_nan`)."""
    dim = embedding_dim(packed, bits)
    data_bytes = packed.shape[1] - scale_bias_bytes(bits)
    scales, biases = row_scales_biases(packed, bits)
    lengths = plan.ends - plan.starts
    out = np.zeros((lengths.size, dim), dtype=np.float32)
    for step in range(int(lengths.max(initial=0))):
        bags = np.flatnonzero(lengths > step)
        positions = plan.starts[bags] + step
        rows = plan.rows[positions]
        kept = rows >= 0
        bags, positions, rows = bags[kept], positions[kept], rows[kept]
        scale, bias = scales[rows, None], biases[rows, None]
        with np.errstate(invalid="ignore", over="ignore"):
            if weights is not None:
                weight = weights[positions, None]
                scale = x86_nan(scale * weight, scale, weight)
                bias = x86_nan(bias * weight, bias, weight)
            partial = out[bags]
            shifted = x86_nan(partial + bias, partial, bias)
        codes = unpack_codes(packed[rows, :data_bytes], bits).astype(np.float32)
        out[bags] = x86_nan(fma_f32(codes, scale, shifted), scale, shifted)
    return out


# -- argument checks -----------------------------------------------------------------


def _check_bool(value: object, argument: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{argument}: expected a bool, got {type(value).__name__} {value!r}")
    return bool(value)


def _check_float_weight(weight: object, argument: str = "weight") -> np.ndarray:
    """A float32 or float16 array (torch's prepack accepts both); sequences become float32."""
    if isinstance(weight, QTensor):
        raise TypeError(
            f"{argument}: expected a float array, got a QTensor (use embedding_bag_prepack "
            "for a quantized weight)"
        )
    if not isinstance(weight, np.ndarray):
        array = np.asarray(weight)
        if array.dtype.kind not in "fiu" or array.dtype.kind == "b":
            raise TypeError(f"{argument}: expected float values, got {type(weight).__name__}")
        return array.astype(np.float32)
    if weight.dtype not in (np.float32, np.float16):
        raise TypeError(
            f"{argument}: expected a float32 or float16 array, got dtype {weight.dtype} "
            "(torch's embedding prepack takes only float and half)"
        )
    return np.ascontiguousarray(weight)


def _check_packed(weight: object, bits: int, argument: str = "weight") -> np.ndarray:
    """A 2-D uint8 packed table whose rows are long enough for the scale and bias."""
    if not isinstance(weight, np.ndarray) or weight.dtype != np.uint8:
        got = weight.dtype if isinstance(weight, np.ndarray) else type(weight).__name__
        raise TypeError(f"{argument}: expected a uint8 array of packed rows, got {got}")
    if weight.ndim != 2:
        raise ValueError(f"{argument}: expected a 2-D packed table, got shape {weight.shape}")
    if weight.shape[1] < scale_bias_bytes(bits):
        raise ValueError(
            f"{argument}: {bits}-bit packed rows end with {scale_bias_bytes(bits)} bytes of "
            f"scale and bias, but the rows have {weight.shape[1]} bytes"
        )
    return np.ascontiguousarray(weight)


def _check_packed_rows(weight: object, bits: int) -> np.ndarray:
    """An 8-bit packed table of any rank (the byte unpack takes batches of tables)."""
    if isinstance(weight, np.ndarray) and weight.dtype == np.uint8 and weight.ndim >= 1:
        rows = weight.reshape(math.prod(weight.shape[:-1]), weight.shape[-1])
        return _check_packed(rows, bits).reshape(weight.shape)
    return _check_packed(weight, bits)


def _check_lookup_table(dim: int) -> None:
    """Lookups need ``D >= 1``: with ``D = 0`` torch's asmjit kernels never step
    through the indices, report failure, and whether an error is then raised depends
    on how ``at::parallel_for`` split the bags over threads."""
    if dim == 0:
        raise ValueError(
            "weight: the table has embedding dimension 0; torch's lookup kernels fail on it "
            "in a thread-dependent way, so qemu refuses it"
        )


def _check_int_array(
    value: object, argument: str, allowed: tuple[type, ...], default: type
) -> np.ndarray:
    if isinstance(value, QTensor):
        raise TypeError(f"{argument}: expected an integer array, got a QTensor")
    if isinstance(value, np.ndarray):
        if value.dtype.type not in allowed:
            names = " or ".join(np.dtype(t).name for t in allowed)
            raise TypeError(f"{argument}: expected {names}, got dtype {value.dtype}")
        return np.ascontiguousarray(value)
    array = np.asarray(value)
    if array.size and array.dtype.kind not in "iu":
        raise TypeError(f"{argument}: expected integers, got {type(value).__name__}")
    return array.astype(default)


def _check_indices(indices: object) -> np.ndarray:
    array = _check_int_array(indices, "indices", (np.int32, np.int64), np.int64)
    if array.ndim not in (1, 2):
        raise ValueError(f"indices: expected a 1-D or 2-D array, got shape {array.shape}")
    return array


class BagArguments(NamedTuple):
    """The canonical EmbeddingBag arguments, in torch's order (after the table)."""

    indices: np.ndarray
    offsets: np.ndarray | None
    scale_grad_by_freq: bool
    mode: int
    pruned_weights: bool
    per_sample_weights: np.ndarray | None
    compressed_indices_mapping: np.ndarray | None
    include_last_offset: bool

    def plan(self, num_rows: int, bits: int) -> BagPlan:
        return bag_plan(
            num_rows,
            bits,
            self.indices,
            self.offsets,
            self.include_last_offset,
            self.pruned_weights,
            self.compressed_indices_mapping,
        )


def _check_bag_arguments(
    bits: int,
    indices: object,
    offsets: object,
    scale_grad_by_freq: object,
    mode: object,
    pruned_weights: object,
    per_sample_weights: object,
    compressed_indices_mapping: object,
    include_last_offset: object,
) -> BagArguments:
    """Canonical EmbeddingBag arguments, refusing what torch refuses and what it would
    compute from undefined memory."""
    indices_array = _check_indices(indices)
    if indices_array.ndim == 2:
        if indices_array.shape[1] == 0:
            raise ValueError(
                "indices: 2-D indices with no columns make bags of length 0, for which "
                "torch cannot build offsets (arange with step 0)"
            )
        if offsets is not None:
            raise ValueError(
                "offsets: 2-D indices are a batch of fixed-length bags (one per row), so "
                "offsets must be None"
            )
        offsets_array = None
    else:
        if offsets is None:
            raise ValueError("offsets: 1-D indices need offsets (where each bag starts)")
        offsets_array = _check_int_array(offsets, "offsets", (np.int32, np.int64), np.int64)
        if offsets_array.ndim != 1:
            raise ValueError(f"offsets: expected a 1-D array, got shape {offsets_array.shape}")
    grad_by_freq = _check_bool(scale_grad_by_freq, "scale_grad_by_freq")
    mode_code = _check_mode(mode)
    pruned = _check_bool(pruned_weights, "pruned_weights")
    weights = _check_per_sample_weights(per_sample_weights, bits, indices_array)
    mapping = None
    if compressed_indices_mapping is not None:
        if not pruned:
            raise ValueError(
                "compressed_indices_mapping: given with pruned_weights=False, where torch "
                "ignores it; pass pruned_weights=True to use it"
            )
        mapping = _check_int_array(
            compressed_indices_mapping, "compressed_indices_mapping", (np.int32,), np.int32
        )
        if mapping.ndim != 1:
            raise ValueError(
                f"compressed_indices_mapping: expected a 1-D array, got shape {mapping.shape}"
            )
    elif pruned:
        raise ValueError(
            "compressed_indices_mapping: pruned_weights=True needs the mapping from "
            "indices to packed rows (torch fails with 'bad optional access')"
        )
    last = _check_bool(include_last_offset, "include_last_offset")
    return BagArguments(
        indices_array, offsets_array, grad_by_freq, mode_code, pruned, weights, mapping, last
    )


def _check_mode(mode: object) -> int:
    """0/1/2 or "sum"/"mean"/"max". torch accepts and then ignores the mode."""
    if isinstance(mode, str):
        if mode not in _MODES:
            raise ValueError(f"mode: expected 'sum', 'mean' or 'max', got {mode!r}")
        return _MODES[mode]
    if isinstance(mode, (bool, np.bool_)) or not isinstance(mode, (int, np.integer)):
        raise TypeError(f"mode: expected 0, 1, 2 or a mode name, got {type(mode).__name__}")
    if int(mode) not in _MODES.values():
        raise ValueError(f"mode: expected 0 (sum), 1 (mean) or 2 (max), got {mode}")
    return int(mode)


def _check_per_sample_weights(weights: object, bits: int, indices: np.ndarray) -> np.ndarray | None:
    if weights is None:
        return None
    if isinstance(weights, np.ndarray):
        accepted = (np.float32,) if bits == 8 else (np.float32, np.float16)
        if weights.dtype.type not in accepted:
            names = " or ".join(np.dtype(t).name for t in accepted)
            raise TypeError(
                f"per_sample_weights: expected {names} for {bits}-bit rows, got dtype "
                f"{weights.dtype}"
            )
        array = np.ascontiguousarray(weights)
    else:
        array = np.asarray(weights, dtype=np.float32)
    if array.shape != indices.shape and array.shape != (indices.size,):
        raise ValueError(
            f"per_sample_weights: expected one weight per index, shape {indices.shape}, got "
            f"shape {array.shape} (torch would read past the end of the weights)"
        )
    return array


def _check_embedding_qweight(weight: object, op: str) -> QTensor:
    """The quantized table torch's embedding prepack accepts: 2-D quint8 or quint4x2,
    quantized row-wise (``per_channel_affine_float_qparams`` along axis 0)."""
    if not isinstance(weight, QTensor):
        raise TypeError(f"weight: {op} expects a QTensor, got {type(weight).__name__}")
    if weight.dtype not in (QUINT8, QUINT4X2):
        raise TypeError(f"weight: embedding tables are quint8 or quint4x2, got {weight.dtype.name}")
    if weight.qscheme() != PER_CHANNEL_AFFINE_FLOAT_QPARAMS:
        raise ValueError(
            "weight: embedding weights must be quantized per_channel_affine_float_qparams "
            f"(a float zero point per row), got {weight.qscheme()}"
        )
    if weight.ndim != 2:
        raise ValueError(f"weight: expected a 2-D embedding table, got shape {weight.shape}")
    if weight.q_per_channel_axis() != 0:
        raise ValueError(
            "weight: embedding weights are quantized per row (axis 0); torch's prepack "
            f"assumes it and would read past the qparams of axis {weight.q_per_channel_axis()}"
        )
    if weight.dtype.sub_byte and weight.shape[1] % (8 // weight.dtype.bits):
        raise ValueError(
            f"weight: a {weight.dtype.name} table needs an even number of columns, got "
            f"{weight.shape[1]} (torch's prepack would read the packed rows misaligned)"
        )
    return weight


def _module_read_dim(weight: QTensor, bits: int) -> int:
    """The embedding dimension a ``bits``-bit lookup reads from ``weight``'s packed rows.

    torch's module-path lookups do not check that the packed table has their bit
    rate: ``embedding_byte`` reads a quint4x2 table's rows as 8-bit rows (this is what
    ``torch.ao.nn.quantized.Embedding.from_float`` runs with a 4-bit qconfig, as it
    builds the module with the default quint8 dtype). qemu reproduces the misread."""
    packed_width = weight.shape[1] * weight.dtype.bits // 8 + scale_bias_bytes(weight.dtype.bits)
    dim = (packed_width - scale_bias_bytes(bits)) * (8 // bits)
    if dim < 1:
        raise ValueError(
            f"weight: a {bits}-bit lookup of this {weight.dtype.name} table would read rows "
            f"of {dim} values (its packed rows are {packed_width} bytes); torch fails or "
            "reads undefined memory"
        )
    return dim


# -- public entries: prepack / unpack ------------------------------------------------


def embedding_bag_byte_prepack(
    weight: object, *, engine: str | None = None, backend: str | None = None
) -> np.ndarray:
    """Quantize a float table row-wise to 8 bits, as
    ``torch.ops.quantized.embedding_bag_byte_prepack`` does.

    Each row (the last axis; leading axes are batches of rows) becomes its codes
    followed by a float32 scale ``(max - min) / 255`` and a float32 bias ``min``; the
    codes are ``rint((x - min) * (255 / (max - min + 1e-8)))``.

    Parameters
    ----------
    weight : array_like of float32 or float16, at least 1-D

    Returns
    -------
    numpy.ndarray of uint8, shape ``weight.shape[:-1] + (D + 8,)``

    Examples
    --------
    >>> import numpy as np
    >>> packed = embedding_bag_byte_prepack(np.float32([[0.0, 1.0, 2.0]]))
    >>> packed[0, :3].tolist(), packed[0, 3:].view(np.float32).tolist()
    ([0, 128, 255], [0.007843137718737125, 0.0])
    """
    array = _check_float_weight(weight)
    if array.ndim == 0:
        raise ValueError("weight: expected at least one dimension (rows of an embedding table)")
    return dispatch.call(
        "embedding_bag_rowwise_prepack",
        array,
        8,
        False,
        200,
        0.16,
        None,
        engine=engine,
        backend=backend,
    )


def _check_rowwise_min_max(extremes: object, weight: np.ndarray) -> np.ndarray:
    """Caller-given row minima and maxima: shape ``(rows, 2)``, the table's dtype (torch
    reads them through a pointer of the table's type)."""
    if not isinstance(extremes, np.ndarray) or extremes.dtype != weight.dtype:
        got = extremes.dtype if isinstance(extremes, np.ndarray) else type(extremes).__name__
        raise TypeError(
            f"rowwise_min_max: expected a {weight.dtype} array like the weight, got {got}"
        )
    if weight.ndim != 2 or extremes.shape != (weight.shape[0], 2):
        raise ValueError(
            f"rowwise_min_max: expected shape (rows, 2) = ({weight.shape[0]}, 2) for a 2-D "
            f"table, got {extremes.shape} for a table of shape {weight.shape}"
        )
    return np.ascontiguousarray(extremes)


def embedding_bag_byte_prepack_with_rowwise_min_max(
    weight: object,
    rowwise_min_max: np.ndarray,
    *,
    engine: str | None = None,
    backend: str | None = None,
) -> np.ndarray:
    """:func:`embedding_bag_byte_prepack` of a 2-D table with each row's
    ``[min, max]`` given instead of searched, as
    ``torch.ops.quantized.embedding_bag_byte_prepack_with_rowwise_min_max`` does.
    The formulas take the given values as they are (a ``min`` above some entries gives
    codes that wrap or saturate as the kernel's do).

    Examples
    --------
    >>> import numpy as np
    >>> w = np.float32([[0.0, 1.0, 2.0]])
    >>> embedding_bag_byte_prepack_with_rowwise_min_max(w, np.float32([[0.0, 4.0]]))[0, :3].tolist()
    [0, 64, 128]
    """
    array = _check_float_weight(weight)
    extremes = _check_rowwise_min_max(rowwise_min_max, array)
    return dispatch.call(
        "embedding_bag_rowwise_prepack",
        array,
        8,
        False,
        200,
        0.16,
        extremes,
        engine=engine,
        backend=backend,
    )


def _nbit_prepack(weight, bits, optimized_qparams, nbins, ratio, extremes, engine, backend):
    array = _check_float_weight(weight)
    if extremes is not None:
        extremes = _check_rowwise_min_max(extremes, array)
    if array.ndim != 2:
        raise ValueError(
            f"weight: the {bits}-bit prepack takes a 2-D table, got shape {array.shape}"
        )
    per_byte = 8 // bits
    if array.shape[1] % per_byte:
        raise ValueError(
            f"weight: the {bits}-bit prepack needs a number of columns divisible by "
            f"{per_byte}, got {array.shape[1]}"
        )
    optimized = _check_bool(optimized_qparams, "optimized_qparams")
    if isinstance(nbins, (bool, np.bool_)) or not isinstance(nbins, (int, np.integer)):
        raise TypeError(f"nbins: expected an int, got {type(nbins).__name__}")
    if nbins < 1:
        raise ValueError(f"nbins: expected >= 1, got {nbins} (torch's search would not end)")
    if not isinstance(ratio, (int, float, np.number)) or isinstance(ratio, (bool, np.bool_)):
        raise TypeError(f"ratio: expected a float, got {type(ratio).__name__}")
    if not 0.0 <= float(ratio) <= 1.0:
        raise ValueError(f"ratio: expected a fraction in [0, 1], got {ratio}")
    if optimized and array.shape[1] == 0:
        raise ValueError(
            "weight: optimized_qparams=True needs at least one column (torch reads the "
            "minimum of an empty row from undefined memory)"
        )
    return dispatch.call(
        "embedding_bag_rowwise_prepack",
        array,
        bits,
        optimized,
        int(nbins),
        float(ratio),
        extremes,
        engine=engine,
        backend=backend,
    )


def embedding_bag_4bit_prepack(
    weight: object,
    optimized_qparams: bool = False,
    nbins: int = 200,
    ratio: float = 0.16,
    *,
    engine: str | None = None,
    backend: str | None = None,
) -> np.ndarray:
    """Quantize a 2-D float table row-wise to 4 bits, as
    ``torch.ops.quantized.embedding_bag_4bit_prepack`` does.

    The row minimum is rounded to fp16 (the stored bias) and the scale
    ``(max - min_fp16) / 15`` is rounded to fp16 too; codes are
    ``clamp(rint((x - min_fp16) / scale), 0, 15)``, two per byte (even column in the
    low nibble). With ``optimized_qparams=True`` the min/max come from torch's greedy
    ``choose_qparams_optimized`` search (``nbins``, ``ratio``).

    Returns
    -------
    numpy.ndarray of uint8, shape ``(rows, D / 2 + 4)``

    Examples
    --------
    >>> import numpy as np
    >>> embedding_bag_4bit_prepack(np.float32([[0.0, 1.0, 2.0, 3.0]]))[0, :2].tolist()
    [80, 250]
    """
    return _nbit_prepack(weight, 4, optimized_qparams, nbins, ratio, None, engine, backend)


def embedding_bag_2bit_prepack(
    weight: object,
    optimized_qparams: bool = False,
    nbins: int = 200,
    ratio: float = 0.16,
    *,
    engine: str | None = None,
    backend: str | None = None,
) -> np.ndarray:
    """Quantize a 2-D float table row-wise to 2 bits, as
    ``torch.ops.quantized.embedding_bag_2bit_prepack`` does (the 4-bit recipe with
    ``qmax = 3``, four codes per byte).

    Examples
    --------
    >>> import numpy as np
    >>> embedding_bag_2bit_prepack(np.float32([[0.0, 1.0, 2.0, 3.0]]))[0, 0]
    np.uint8(228)
    """
    return _nbit_prepack(weight, 2, optimized_qparams, nbins, ratio, None, engine, backend)


def embedding_bag_4bit_prepack_with_rowwise_min_max(
    weight: object,
    rowwise_min_max: np.ndarray,
    optimized_qparams: bool = False,
    nbins: int = 200,
    ratio: float = 0.16,
    *,
    engine: str | None = None,
    backend: str | None = None,
) -> np.ndarray:
    """:func:`embedding_bag_4bit_prepack` with each row's ``[min, max]`` given, as
    ``torch.ops.quantized.embedding_bag_4bit_prepack_with_rowwise_min_max`` does. With
    ``optimized_qparams=True`` torch searches the min/max itself and ignores them.

    Examples
    --------
    >>> import numpy as np
    >>> w = np.float32([[0.0, 1.0, 2.0, 3.0]])
    >>> embedding_bag_4bit_prepack_with_rowwise_min_max(w, np.float32([[0.0, 15.0]]))[0, :2].tolist()
    [16, 50]
    """
    return _nbit_prepack(
        weight, 4, optimized_qparams, nbins, ratio, rowwise_min_max, engine, backend
    )


def embedding_bag_2bit_prepack_with_rowwise_min_max(
    weight: object,
    rowwise_min_max: np.ndarray,
    optimized_qparams: bool = False,
    nbins: int = 200,
    ratio: float = 0.16,
    *,
    engine: str | None = None,
    backend: str | None = None,
) -> np.ndarray:
    """:func:`embedding_bag_2bit_prepack` with each row's ``[min, max]`` given, as
    ``torch.ops.quantized.embedding_bag_2bit_prepack_with_rowwise_min_max`` does.

    Examples
    --------
    >>> import numpy as np
    >>> w = np.float32([[0.0, 1.0, 2.0, 3.0]])
    >>> embedding_bag_2bit_prepack_with_rowwise_min_max(w, np.float32([[0.0, 6.0]]))[0, 0]
    np.uint8(144)
    """
    return _nbit_prepack(
        weight, 2, optimized_qparams, nbins, ratio, rowwise_min_max, engine, backend
    )


def _unpack(weight, bits, engine, backend):
    packed = _check_packed_rows(weight, bits) if bits == 8 else _check_packed(weight, bits)
    return dispatch.call(
        "embedding_bag_rowwise_unpack", packed, bits, engine=engine, backend=backend
    )


def embedding_bag_byte_unpack(
    weight: np.ndarray, *, engine: str | None = None, backend: str | None = None
) -> np.ndarray:
    """Dequantize 8-bit packed rows (any leading shape), as
    ``torch.ops.quantized.embedding_bag_byte_unpack`` does: ``fma(code, scale, bias)``.

    Examples
    --------
    >>> import numpy as np
    >>> packed = embedding_bag_byte_prepack(np.float32([[0.0, 1.0, 2.0]]))
    >>> embedding_bag_byte_unpack(packed).tolist()
    [[0.0, 1.003921627998352, 2.0]]
    """
    return _unpack(weight, 8, engine, backend)


def embedding_bag_4bit_unpack(
    weight: np.ndarray, *, engine: str | None = None, backend: str | None = None
) -> np.ndarray:
    """Dequantize 4-bit packed rows, as ``torch.ops.quantized.embedding_bag_4bit_unpack``.

    Examples
    --------
    >>> import numpy as np
    >>> embedding_bag_4bit_unpack(embedding_bag_4bit_prepack(np.float32([[0, 1, 14, 15]]))).tolist()
    [[0.0, 1.0, 14.0, 15.0]]
    """
    return _unpack(weight, 4, engine, backend)


def embedding_bag_2bit_unpack(
    weight: np.ndarray, *, engine: str | None = None, backend: str | None = None
) -> np.ndarray:
    """Dequantize 2-bit packed rows, as ``torch.ops.quantized.embedding_bag_2bit_unpack``.

    Examples
    --------
    >>> import numpy as np
    >>> embedding_bag_2bit_unpack(embedding_bag_2bit_prepack(np.float32([[0, 1, 2, 3]]))).tolist()
    [[0.0, 1.0, 2.0, 3.0]]
    """
    return _unpack(weight, 2, engine, backend)


def embedding_bag_prepack(
    weight: QTensor, *, engine: str | None = None, backend: str | None = None
) -> np.ndarray:
    """Pack a quantized embedding table (quint8 or quint4x2, ``per_channel_affine_float_qparams``
    along rows) into row-wise packed bytes, as ``torch.ops.quantized.embedding_bag_prepack``
    does for ``torch.ao.nn.quantized.Embedding`` / ``EmbeddingBag``.

    The codes are kept; each row gets its scale and ``bias = (zero_point * scale) * -1``,
    as float32 (quint8) or rounded to fp16 (quint4x2). The result is what the
    ``embedding_bag_*_rowwise_offsets`` lookups take.

    Examples
    --------
    >>> import numpy as np, qemu
    >>> q = qemu.QTensor.per_channel([[0, 2]], np.float32([0.5]), np.float32([1.0]), 0,
    ...                              "quint8", float_qparams=True)
    >>> packed = embedding_bag_prepack(q)
    >>> packed[0, :2].tolist(), packed[0, 2:].view(np.float32).tolist()
    ([0, 2], [0.5, -0.5])
    """
    if not isinstance(weight, QTensor):
        raise TypeError(f"weight: expected a QTensor, got {type(weight).__name__}")
    qweight = _check_embedding_qweight(weight, "embedding_bag_prepack")
    return dispatch.call("embedding_bag_prepack", qweight, engine=engine, backend=backend)


# -- public entries: lookups -----------------------------------------------------------


def _rowwise_offsets(bits, weight, indices, offsets, *rest, engine, backend):
    packed = _check_packed(weight, bits)
    _check_lookup_table(embedding_dim(packed, bits))
    arguments = _check_bag_arguments(bits, indices, offsets, *rest)
    arguments.plan(packed.shape[0], bits)  # validates the bags
    return dispatch.call(
        "embedding_bag_rowwise_offsets", packed, bits, *arguments, engine=engine, backend=backend
    )


def embedding_bag_byte_rowwise_offsets(
    weight: np.ndarray,
    indices: object,
    offsets: object = None,
    scale_grad_by_freq: bool = False,
    mode: int | str = 0,
    pruned_weights: bool = False,
    per_sample_weights: object = None,
    compressed_indices_mapping: object = None,
    include_last_offset: bool = False,
    *,
    engine: str | None = None,
    backend: str | None = None,
) -> np.ndarray:
    """Sum bags of rows of an 8-bit packed table, as
    ``torch.ops.quantized.embedding_bag_byte_rowwise_offsets`` does.

    Parameters
    ----------
    weight : numpy.ndarray of uint8, shape ``(rows, D + 8)``
        From :func:`embedding_bag_byte_prepack` or :func:`embedding_bag_prepack`.
    indices : array of int32 or int64
        1-D with ``offsets``, or 2-D (one bag per row, ``offsets=None``).
    offsets : array of int32 or int64, optional
        Where each bag starts; non-decreasing. Without ``include_last_offset`` the
        last bag ends at ``len(indices)``; with it, the last offset ends the last bag.
    scale_grad_by_freq : bool
        Accepted and ignored, as torch does.
    mode : 0, 1, 2 or "sum", "mean", "max"
        Accepted and **ignored, as torch does: every mode returns the sum**.
    pruned_weights, compressed_indices_mapping : bool, array of int32
        With pruning, ``indices`` index ``compressed_indices_mapping``, which maps to
        packed rows (-1: pruned row, skipped). A mapping ``[0]`` means "not pruned".
    per_sample_weights : array of float32, optional
        One weight per index; scale and bias are multiplied by it.
    include_last_offset : bool

    Returns
    -------
    numpy.ndarray of float32, shape ``(bags, D)``

    Examples
    --------
    >>> import numpy as np
    >>> packed = embedding_bag_byte_prepack(np.float32([[0, 1], [2, 4]]))
    >>> embedding_bag_byte_rowwise_offsets(packed, np.array([0, 1, 1]), np.array([0, 1])).tolist()
    [[0.0, 1.0], [4.0, 8.0]]
    """
    return _rowwise_offsets(
        8,
        weight,
        indices,
        offsets,
        scale_grad_by_freq,
        mode,
        pruned_weights,
        per_sample_weights,
        compressed_indices_mapping,
        include_last_offset,
        engine=engine,
        backend=backend,
    )


def embedding_bag_4bit_rowwise_offsets(
    weight: np.ndarray,
    indices: object,
    offsets: object = None,
    scale_grad_by_freq: bool = False,
    mode: int | str = 0,
    pruned_weights: bool = False,
    per_sample_weights: object = None,
    compressed_indices_mapping: object = None,
    include_last_offset: bool = False,
    *,
    engine: str | None = None,
    backend: str | None = None,
) -> np.ndarray:
    """Sum bags of rows of a 4-bit packed table, as
    ``torch.ops.quantized.embedding_bag_4bit_rowwise_offsets`` does. Arguments as in
    :func:`embedding_bag_byte_rowwise_offsets`; ``per_sample_weights`` may also be
    float16. The last offset must equal ``len(indices)``; with ``offsets[0] > 0`` the
    bags are shifted to start at position 0, as torch's kernel walks them.

    Examples
    --------
    >>> import numpy as np
    >>> packed = embedding_bag_4bit_prepack(np.float32([[0, 15], [0, 30]]))
    >>> embedding_bag_4bit_rowwise_offsets(packed, np.array([0, 1, 1]), np.array([0, 1])).tolist()
    [[0.0, 15.0], [0.0, 60.0]]
    """
    return _rowwise_offsets(
        4,
        weight,
        indices,
        offsets,
        scale_grad_by_freq,
        mode,
        pruned_weights,
        per_sample_weights,
        compressed_indices_mapping,
        include_last_offset,
        engine=engine,
        backend=backend,
    )


def embedding_bag_2bit_rowwise_offsets(
    weight: np.ndarray,
    indices: object,
    offsets: object = None,
    scale_grad_by_freq: bool = False,
    mode: int | str = 0,
    pruned_weights: bool = False,
    per_sample_weights: object = None,
    compressed_indices_mapping: object = None,
    include_last_offset: bool = False,
    *,
    engine: str | None = None,
    backend: str | None = None,
) -> np.ndarray:
    """Sum bags of rows of a 2-bit packed table, as
    ``torch.ops.quantized.embedding_bag_2bit_rowwise_offsets`` does (see
    :func:`embedding_bag_4bit_rowwise_offsets`).

    Examples
    --------
    >>> import numpy as np
    >>> packed = embedding_bag_2bit_prepack(np.float32([[0, 1, 2, 3]]))
    >>> embedding_bag_2bit_rowwise_offsets(packed, np.array([0, 0]), np.array([0])).tolist()
    [[0.0, 2.0, 4.0, 6.0]]
    """
    return _rowwise_offsets(
        2,
        weight,
        indices,
        offsets,
        scale_grad_by_freq,
        mode,
        pruned_weights,
        per_sample_weights,
        compressed_indices_mapping,
        include_last_offset,
        engine=engine,
        backend=backend,
    )


def _module_bag(bits, weight, indices, offsets, *rest, engine, backend):
    qweight = _check_embedding_qweight(weight, "embedding_bag")
    _module_read_dim(qweight, bits)
    arguments = _check_bag_arguments(bits, indices, offsets, *rest)
    arguments.plan(qweight.shape[0], bits)  # validates the bags
    return dispatch.call("embedding_bag", qweight, bits, *arguments, engine=engine, backend=backend)


def embedding_bag_byte(
    weight: QTensor,
    indices: object,
    offsets: object = None,
    scale_grad_by_freq: bool = False,
    mode: int | str = 0,
    pruned_weights: bool = False,
    per_sample_weights: object = None,
    compressed_indices_mapping: object = None,
    include_last_offset: bool = False,
    *,
    engine: str | None = None,
    backend: str | None = None,
) -> np.ndarray:
    """``torch.ops.quantized.embedding_bag_byte`` (what ``torch.ao.nn.quantized.EmbeddingBag``
    with quint8 weights runs): :func:`embedding_bag_prepack` of ``weight``, then
    :func:`embedding_bag_byte_rowwise_offsets`. ``mode`` is ignored (the module
    passes 0 whatever its ``mode``), so "mean" returns the sum.

    ``weight`` is normally quint8. torch does not check that the packed table has
    8-bit rows: given a quint4x2 table it reads the 4-bit rows as 8-bit ones, and so
    does qemu (see :func:`embedding_byte`).

    Examples
    --------
    >>> import numpy as np, qemu
    >>> q = qemu.QTensor.per_channel([[0, 2], [1, 1]], np.float32([0.5, 1.0]),
    ...                              np.float32([0.0, 0.0]), 0, "quint8", float_qparams=True)
    >>> embedding_bag_byte(q, np.array([0, 1]), np.array([0]), mode="mean").tolist()
    [[1.0, 2.0]]
    """
    return _module_bag(
        8,
        weight,
        indices,
        offsets,
        scale_grad_by_freq,
        mode,
        pruned_weights,
        per_sample_weights,
        compressed_indices_mapping,
        include_last_offset,
        engine=engine,
        backend=backend,
    )


def embedding_bag_4bit(
    weight: QTensor,
    indices: object,
    offsets: object = None,
    scale_grad_by_freq: bool = False,
    mode: int | str = 0,
    pruned_weights: bool = False,
    per_sample_weights: object = None,
    compressed_indices_mapping: object = None,
    include_last_offset: bool = False,
    *,
    engine: str | None = None,
    backend: str | None = None,
) -> np.ndarray:
    """``torch.ops.quantized.embedding_bag_4bit`` (``torch.ao.nn.quantized.EmbeddingBag``
    with quint4x2 weights): :func:`embedding_bag_prepack` (scale and bias rounded to
    fp16), then :func:`embedding_bag_4bit_rowwise_offsets`. A quint8 ``weight`` is
    read as 4-bit rows, as torch does.

    Examples
    --------
    >>> import numpy as np, qemu
    >>> q = qemu.QTensor.per_channel([[0, 2], [1, 1]], np.float32([0.5, 1.0]),
    ...                              np.float32([0.0, 0.0]), 0, "quint4x2", float_qparams=True)
    >>> embedding_bag_4bit(q, np.array([0, 1]), np.array([0])).tolist()
    [[1.0, 2.0]]
    """
    return _module_bag(
        4,
        weight,
        indices,
        offsets,
        scale_grad_by_freq,
        mode,
        pruned_weights,
        per_sample_weights,
        compressed_indices_mapping,
        include_last_offset,
        engine=engine,
        backend=backend,
    )


def _module_embedding(bits, weight, indices, pruned_weights, engine, backend):
    qweight = _check_embedding_qweight(weight, "embedding")
    _module_read_dim(qweight, bits)
    indices_array = _check_indices(indices)
    if _check_bool(pruned_weights, "pruned_weights"):
        raise ValueError(
            "pruned_weights: quantized::embedding_byte / embedding_4bit cannot take the "
            "compressed_indices_mapping a pruned table needs (torch fails with 'bad "
            "optional access')"
        )
    single_index_plan(qweight.shape[0], bits, indices_array)
    return dispatch.call(
        "embedding", qweight, bits, indices_array, False, engine=engine, backend=backend
    )


def single_index_plan(num_rows: int, bits: int, indices: np.ndarray) -> BagPlan:
    """The bags of ``embedding_byte`` / ``embedding_4bit``: ``QEmbedding::run`` passes
    offsets ``arange(numel)``, one index per bag, whatever the shape of ``indices``."""
    flat = indices.reshape(-1)
    offsets = np.arange(flat.size, dtype=np.int64)
    return bag_plan(num_rows, bits, flat, offsets, False, False, None)


def embedding_byte(
    weight: QTensor,
    indices: object,
    pruned_weights: bool = False,
    *,
    engine: str | None = None,
    backend: str | None = None,
) -> np.ndarray:
    """``torch.ops.quantized.embedding_byte`` (``torch.ao.nn.quantized.Embedding`` with
    quint8 weights): each index is a bag of one, ``fma(code, scale, bias)`` of its row.

    Given a quint4x2 ``weight`` it reads the 4-bit packed rows as 8-bit rows
    (``D / 2 - 4`` values per row, codes and scale taken from the wrong bytes), as
    torch does. That is what ``torch.ao.nn.quantized.Embedding.from_float`` runs with
    ``float_qparams_weight_only_qconfig_4bit``: it builds the module with the default
    quint8 dtype, so its forward calls ``embedding_byte`` on the 4-bit table.

    Returns
    -------
    numpy.ndarray of float32, shape ``indices.shape + (D,)``

    Examples
    --------
    >>> import numpy as np, qemu
    >>> q = qemu.QTensor.per_channel([[0, 2], [1, 1]], np.float32([0.5, 1.0]),
    ...                              np.float32([0.0, 1.0]), 0, "quint8", float_qparams=True)
    >>> embedding_byte(q, np.array([[1, 0]])).tolist()
    [[[0.0, 0.0], [0.0, 1.0]]]
    """
    return _module_embedding(8, weight, indices, pruned_weights, engine, backend)


def embedding_4bit(
    weight: QTensor,
    indices: object,
    pruned_weights: bool = False,
    *,
    engine: str | None = None,
    backend: str | None = None,
) -> np.ndarray:
    """``torch.ops.quantized.embedding_4bit`` (``torch.ao.nn.quantized.Embedding`` with
    quint4x2 weights); scale and bias are rounded to fp16 by the prepack. A quint8
    ``weight`` is read as 4-bit rows, as torch does.

    Examples
    --------
    >>> import numpy as np, qemu
    >>> q = qemu.QTensor.per_channel([[0, 2], [1, 1]], np.float32([0.5, 1.0]),
    ...                              np.float32([0.0, 1.0]), 0, "quint4x2", float_qparams=True)
    >>> embedding_4bit(q, np.array([0])).tolist()
    [[0.0, 1.0]]
    """
    return _module_embedding(4, weight, indices, pruned_weights, engine, backend)


# -- weight quantization (the float_qparams observer path) ---------------------------


def _float_qparams_rowwise(weight: np.ndarray, dtype: QDType) -> tuple[np.ndarray, np.ndarray]:
    """Per-row scale and float zero point as ``PerChannelMinMaxObserver`` with
    ``per_channel_affine_float_qparams`` computes them (observer.py:
    ``_calculate_qparams``), in float32 tensor arithmetic:
    ``scale = (max - min) / (qmax - qmin)``, 1 where ``scale <= eps``;
    ``zero_point = (-1 * min) / scale``."""
    # torch.aminmax returns the first of equal extremes, which matters for +0 / -0.
    rows = np.arange(weight.shape[0])
    minimum = weight[rows, np.argmax(weight == weight.min(axis=1)[:, None], axis=1)]
    maximum = weight[rows, np.argmax(weight == weight.max(axis=1)[:, None], axis=1)]
    with np.errstate(invalid="ignore", over="ignore"):
        scale = (maximum - minimum) / np.float32(dtype.qmax - dtype.qmin)
        scale = np.where(scale > _FLOAT32_EPS, scale, np.float32(1.0)).astype(np.float32)
        zero_point = (-minimum / scale).astype(np.float32)
    return scale, zero_point


def quantize_embedding_weight(
    weight: object,
    dtype: object = "quint8",
    *,
    engine: str | None = None,
    backend: str | None = None,
) -> QTensor:
    """Quantize a float embedding table as ``torch.ao.nn.quantized.Embedding.from_float``
    / ``EmbeddingBag.from_float`` do with ``float_qparams_weight_only_qconfig``: a
    ``PerChannelMinMaxObserver`` over rows (``per_channel_affine_float_qparams``), then
    ``torch.quantize_per_channel`` with those float zero points.

    Parameters
    ----------
    weight : array_like of float32, shape ``(rows, D)``
    dtype : "quint8" or "quint4x2"

    Examples
    --------
    >>> import numpy as np
    >>> q = quantize_embedding_weight(np.float32([[-1.0, 0.0, 1.0]]))
    >>> q.int_repr().tolist(), q.q_per_channel_zero_points().tolist()
    ([[0, 127, 255]], [127.49999237060547])
    """
    qdtype = as_qdtype(dtype)
    if qdtype not in (QUINT8, QUINT4X2):
        raise ValueError(
            f"dtype: embedding weights are quantized to quint8 or quint4x2, got {qdtype.name}"
        )
    array = _check_float_weight(weight)
    if array.dtype != np.float32:
        raise TypeError("weight: expected a float32 table (the observer runs on float32)")
    if array.ndim != 2:
        raise ValueError(f"weight: expected a 2-D embedding table, got shape {array.shape}")
    if array.shape[1] == 0:
        raise ValueError("weight: the observer needs at least one column per row")
    if not np.isfinite(array).all():
        raise ValueError(
            "weight: the table holds NaN or infinity, for which the observer's zero point "
            "is not finite"
        )
    scale, zero_point = _float_qparams_rowwise(array, qdtype)
    if np.isinf(scale).any():
        row = int(np.flatnonzero(np.isinf(scale))[0])
        raise ValueError(
            f"weight: row {row} spans more than the float32 range (max - min overflows), so "
            "the observer's scale is infinite; torch quantizes such a row to zeros with a "
            "NaN bias"
        )
    return quantize_per_channel(array, scale, zero_point, 0, qdtype, engine=engine, backend=backend)


# -- reference kernels -----------------------------------------------------------------


# Rows per block of the row-wise prepack: about this many elements (the int64 temporaries
# of a block then fit in a core's L2 cache).
_PREPACK_BLOCK_ELEMENTS = 1 << 16


@dispatch.reference("embedding_bag_rowwise_prepack")
def _rowwise_prepack_reference(
    ctx: dispatch.Context,
    weight: np.ndarray,
    bits: int,
    optimized_qparams: bool,
    nbins: int,
    ratio: float,
    rowwise_min_max: np.ndarray | None,
) -> np.ndarray:
    rows = _as_float32(weight.reshape(math.prod(weight.shape[:-1]), weight.shape[-1]))
    given = None if rowwise_min_max is None else _as_float32(rowwise_min_max)

    def pack(first: int, stop: int) -> np.ndarray:
        block = rows[first:stop]
        extremes = None if given is None else given[first:stop]
        if bits == 8:
            return _byte_prepack_rows(block, extremes)
        if optimized_qparams:
            return _optimized_nbit_prepack_rows(block, bits, nbins, ratio)
        return _nbit_prepack_rows(block, bits, extremes)

    # Every row is packed on its own; blocks of rows keep the temporaries in cache.
    step = max(1, _PREPACK_BLOCK_ELEMENTS // max(1, rows.shape[1]))
    if rows.shape[0] <= step:
        packed = pack(0, rows.shape[0])
    else:
        packed = np.concatenate([pack(i, i + step) for i in range(0, rows.shape[0], step)])
    return packed.reshape(*weight.shape[:-1], packed.shape[-1])


@dispatch.reference("embedding_bag_rowwise_unpack")
def _rowwise_unpack_reference(ctx: dispatch.Context, packed: np.ndarray, bits: int) -> np.ndarray:
    return _dequantize_rows(packed, bits)


@dispatch.reference("embedding_bag_prepack")
def _prepack_reference(ctx: dispatch.Context, weight: QTensor) -> np.ndarray:
    return module_prepack_rows(weight)


def rowwise_offsets_plan(
    packed: np.ndarray,
    bits: int,
    indices: np.ndarray,
    offsets: np.ndarray | None,
    pruned_weights: bool,
    per_sample_weights: np.ndarray | None,
    compressed_indices_mapping: np.ndarray | None,
    include_last_offset: bool,
) -> tuple[BagPlan, np.ndarray | None]:
    """The bag plan and float32 per-position weights of a validated lookup (shared by
    the reference and the numba kernels)."""
    plan = bag_plan(
        packed.shape[0],
        bits,
        indices,
        offsets,
        include_last_offset,
        pruned_weights,
        compressed_indices_mapping,
    )
    weights = None
    if per_sample_weights is not None:
        # Only ever multiplied, so NaN weights can be quieted up front.
        weights = quiet_nan(_as_float32(per_sample_weights.reshape(-1)))
    return plan, weights


def _as_float32(values: np.ndarray) -> np.ndarray:
    """float16 inputs are widened with vcvtph2ps (FBGEMM's loads, ATen's ``.to(kFloat)``)."""
    return fp16_to_float32(values) if values.dtype == np.float16 else values.astype(np.float32)


@dispatch.reference("embedding_bag_rowwise_offsets")
def _rowwise_offsets_reference(
    ctx: dispatch.Context,
    packed: np.ndarray,
    bits: int,
    indices: np.ndarray,
    offsets: np.ndarray | None,
    scale_grad_by_freq: bool,
    mode: int,
    pruned_weights: bool,
    per_sample_weights: np.ndarray | None,
    compressed_indices_mapping: np.ndarray | None,
    include_last_offset: bool,
) -> np.ndarray:
    plan, weights = rowwise_offsets_plan(
        packed,
        bits,
        indices,
        offsets,
        pruned_weights,
        per_sample_weights,
        compressed_indices_mapping,
        include_last_offset,
    )
    return _sum_bags(packed, bits, plan, weights)


@dispatch.reference("embedding_bag")
def _embedding_bag_reference(
    ctx: dispatch.Context, weight: QTensor, bits: int, *arguments
) -> np.ndarray:
    return _rowwise_offsets_reference(ctx, module_prepack_rows(weight), bits, *arguments)


@dispatch.reference("embedding")
def _embedding_reference(
    ctx: dispatch.Context, weight: QTensor, bits: int, indices: np.ndarray, pruned_weights: bool
) -> np.ndarray:
    packed = module_prepack_rows(weight)
    out = _sum_bags(packed, bits, single_index_plan(packed.shape[0], bits, indices), None)
    return out.reshape(*indices.shape, out.shape[-1])


__all__ = [
    "BagPlan",
    "bag_plan",
    "embedding_4bit",
    "embedding_bag_2bit_prepack",
    "embedding_bag_2bit_prepack_with_rowwise_min_max",
    "embedding_bag_2bit_rowwise_offsets",
    "embedding_bag_2bit_unpack",
    "embedding_bag_4bit",
    "embedding_bag_4bit_prepack",
    "embedding_bag_4bit_prepack_with_rowwise_min_max",
    "embedding_bag_4bit_rowwise_offsets",
    "embedding_bag_4bit_unpack",
    "embedding_bag_byte",
    "embedding_bag_byte_prepack",
    "embedding_bag_byte_prepack_with_rowwise_min_max",
    "embedding_bag_byte_rowwise_offsets",
    "embedding_bag_byte_unpack",
    "embedding_bag_prepack",
    "embedding_byte",
    "quantize_embedding_weight",
]
