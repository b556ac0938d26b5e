"""Torch-free checks of the ATen float32 tensor-op models the observers use."""

from __future__ import annotations

import numpy as np
import pytest

from qemu.numerics.float32 import quiet_nan, x86_nan
from qemu.numerics.tensor_ops import (
    aten_bincount_f32,
    aten_cumsum_f32,
    aten_histc_f32,
    aten_linspace_f32,
    aten_sum_f32,
    parallel_chunks,
    torch_add,
    torch_aminmax,
    torch_aminmax_rows,
    torch_div,
    torch_maximum,
    torch_minimum,
    torch_mul_scalar,
    torch_neg,
    torch_sub,
)
from qemu.testing import assert_bitexact

F = np.float32


def nan(bits: int) -> np.float32:
    return np.uint32(bits).view(F)


def bits(values: object) -> list[int]:
    return np.atleast_1d(np.asarray(values, dtype=F)).view(np.uint32).tolist()


def _scalar_cascade(x: np.ndarray, lanes: int = 8) -> np.float32:
    """An independent, element-by-element transcription of ATen's cascade_sum order
    (SumKernel.cpp), used to check the vectorized model."""

    def multi_row(rows: list[list[np.float32]]) -> list[np.float32]:
        size, width = len(rows), len(rows[0]) if rows else 0
        power = max(4, (max(size, 1) - 1).bit_length() // 4) if size > 1 else 4
        step, mask = 1 << power, (1 << power) - 1
        acc = [[F(0)] * width for _ in range(4)]
        i = 0
        while i + step <= size:
            for _ in range(step):
                acc[0] = [a + b for a, b in zip(acc[0], rows[i], strict=True)]
                i += 1
            for j in range(1, 4):
                acc[j] = [a + b for a, b in zip(acc[j], acc[j - 1], strict=True)]
                acc[j - 1] = [F(0)] * width
                if i & (mask << (j * power)):
                    break
        while i < size:
            acc[0] = [a + b for a, b in zip(acc[0], rows[i], strict=True)]
            i += 1
        for j in range(1, 4):
            acc[0] = [a + b for a, b in zip(acc[0], acc[j], strict=True)]
        return acc[0]

    def row_sum(items: list[list[np.float32]]) -> list[np.float32]:
        n, width = len(items), len(items[0])
        groups = n // 4
        rows = [sum((items[4 * g + k] for k in range(4)), []) for g in range(groups)]
        flat = multi_row(rows) if groups else [F(0)] * (4 * width)
        parts = [flat[k * width : (k + 1) * width] for k in range(4)]
        total = parts[0]
        for k in range(groups * 4, n):
            total = [a + b for a, b in zip(total, items[k], strict=True)]
        for k in range(1, 4):
            total = [a + b for a, b in zip(total, parts[k], strict=True)]
        return total

    values = [F(v) for v in x]
    if len(values) < lanes:
        return F(0) + row_sum([[v] for v in values])[0]
    vectors = len(values) // lanes
    lane_sums = row_sum([values[v * lanes : (v + 1) * lanes] for v in range(vectors)])
    total = F(0)
    for v in values[vectors * lanes :] + lane_sums:
        total = total + v
    return F(0) + total


@pytest.mark.parametrize("n", [1, 3, 7, 8, 9, 31, 64, 65, 255, 257, 1000, 2048, 4100, 9000])
def test_sum_matches_scalar_transcription(n: int) -> None:
    rng = np.random.default_rng(n)
    x = (rng.normal(size=n) * 10.0 ** rng.uniform(-4, 4, size=n)).astype(F)
    assert_bitexact(aten_sum_f32(x), _scalar_cascade(x))


def test_sum_is_not_numpy_pairwise_sum() -> None:
    # Hand case: 1e8 then ones; sequential float32 adds lose the ones that a careful
    # cascade keeps in separate accumulators.
    x = np.concatenate([F([1e8]), np.ones(40, F)])
    assert float(aten_sum_f32(x)) == _scalar_cascade(x)
    assert float(aten_sum_f32(F([1e8, 1, -1e8, 1]))) == 1.0


def test_sum_of_negative_zeros_is_positive_zero() -> None:
    # The kernel accumulates into a zero-filled output: -0.0 never survives.
    assert aten_sum_f32(np.full(20, -0.0, F)).view(np.uint32) == 0
    assert aten_sum_f32(F([-0.0])).view(np.uint32) == 0


def test_threaded_sum_splits_into_grain_chunks() -> None:
    rng = np.random.default_rng(7)
    x = rng.random(70001).astype(F)
    chunk = -(-70001 // 2)
    expected = _scalar_cascade(F([_scalar_cascade(x[:chunk]), _scalar_cascade(x[chunk:])]))
    assert_bitexact(aten_sum_f32(x, threads=2), expected)
    # Below 32768 elements the thread count does not matter.
    assert_bitexact(aten_sum_f32(x[:30000], threads=2), aten_sum_f32(x[:30000]))


def test_cumsum_accumulates_in_double() -> None:
    out = aten_cumsum_f32(F([1, 2**-24, 2**-24]))
    assert out.tolist() == [1.0, 1.0, 1 + 2**-23]


def test_linspace_endpoints_and_halves() -> None:
    edges = aten_linspace_f32(-1.0, 3.0, 9)
    assert edges.tolist() == [-1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0]
    # The upper half is measured from the end: the last value is exactly `end`.
    edges = aten_linspace_f32(0.1, 0.7, 7)
    assert edges[-1] == F(0.7) and edges[0] == F(0.1)


def test_histc_bins_by_float32_formula() -> None:
    x = F([0.0, 0.25, 0.5, 0.75, 1.0, -0.1, 1.1, np.nan])
    assert aten_histc_f32(x, 4, 0.0, 1.0).tolist() == [1.0, 1.0, 1.0, 2.0]


def test_histc_widens_an_empty_range() -> None:
    # min == max: the data's range; constant data: [c - 1, c + 1], each edge moved one
    # float32 step away from c where the rounding lands on c.
    assert aten_histc_f32(F([5.0]), 4, 5.0, 5.0).tolist() == [0.0, 0.0, 1.0, 0.0]
    assert aten_histc_f32(F([1e10]), 7, 1e10, 1e10).argmax() == 3
    # 2**24: c - 1 is a float, c + 1 rounds to c, so the right edge is c + 2.
    assert aten_histc_f32(F([2.0**24]), 2048, 2.0**24, 2.0**24).argmax() == 682


def test_histc_overflowing_quotient_lands_in_bin_zero() -> None:
    x = F([1e36, 0.0, -1e36])
    assert aten_histc_f32(x, 2048, -1e36, 1e36)[0] == 3.0
    # A range whose width overflows float32 gives NaN edges: nothing is counted.
    assert aten_histc_f32(F([0.0]), 8, -3e38, 3e38).sum() == 0.0


def test_bincount_adds_weights_in_order() -> None:
    weights = F([1e8, 1, 1, -1e8])
    assert aten_bincount_f32(np.zeros(4, np.int64), weights, 2).tolist() == [0.0, 0.0]
    assert aten_bincount_f32(np.array([2]), F([0.5]), 1).tolist() == [0.0, 0.0, 0.5]


# -- NaN payloads and signed zeros ------------------------------------------------------


def test_quiet_nan_sets_only_the_quiet_bit() -> None:
    x = np.uint32([0x7F800001, 0xFF800002, 0x7FC00003, 0x3F800000]).view(F)
    assert bits(quiet_nan(x)) == [0x7FC00001, 0xFFC00002, 0x7FC00003, 0x3F800000]


def test_x86_nan_prefers_first_then_second_then_default() -> None:
    a, b = nan(0x7F800001), nan(0xFFC00002)
    assert bits(x86_nan(F(np.nan), a, b)) == [0x7FC00001]
    assert bits(x86_nan(F(np.nan), F(1), b)) == [0xFFC00002]
    assert bits(x86_nan(F(np.nan), F(1), F(2))) == [0xFFC00000]
    assert bits(x86_nan(F([1.5, 2.5]), F([1, 2]), F([3, 4]))) == bits(F([1.5, 2.5]))


def test_parallel_chunks_follow_at_parallel_for() -> None:
    assert parallel_chunks(32768, 2) == [(0, 32768)]
    assert parallel_chunks(32788, 2) == [(0, 16394), (16394, 32788)]
    assert parallel_chunks(100003, 2) == [(0, 50002), (50002, 100003)]
    assert parallel_chunks(100003, 1) == [(0, 100003)]


def test_minimum_nan_is_lane_mask_in_blocks_and_canonical_in_tail() -> None:
    # 40 elements: two blocks of 16 through vectors, 8 in the scalar tail.
    x = np.full(40, nan(0x7FC00001), F)
    assert set(bits(torch_minimum(x, F(0))[:32])) == {0xFFFFFFFF}
    assert set(bits(torch_maximum(F(0), x)[32:])) == {0x7FC00000}
    # A 0-d buffer (the MinMaxObserver state) always takes the scalar path.
    assert bits(torch_minimum(F(nan(0x7F800001)), F(1))) == [0x7FC00000]
    assert torch_minimum(np.array(1, F), np.array(2, F)).shape == ()
    # Two threads: each thread's range has its own tail (measured on 32,788 elements).
    result = torch_minimum(np.full(32788, nan(0x7FC00001), F), F(0), threads=2)
    tail = np.flatnonzero(result.view(np.uint32) == 0x7FC00000).tolist()
    assert tail == list(range(16384, 16394)) + list(range(32778, 32788))


def test_minimum_ties_take_second_in_blocks_and_first_in_tail() -> None:
    zeros, negative_zeros = np.zeros(17, F), np.full(17, -0.0, F)
    low = torch_minimum(zeros, negative_zeros)
    assert bits(low[[0, 15, 16]]) == [0x80000000, 0x80000000, 0]
    high = torch_maximum(negative_zeros, zeros)
    assert bits(high[[0, 16]]) == [0, 0x80000000]


def test_minimum_refuses_unmodelled_broadcasts() -> None:
    with pytest.raises(ValueError, match="single element"):
        torch_minimum(np.zeros((3, 1), F), np.zeros((1, 3), F))


def test_aminmax_nan_payloads() -> None:
    lone = torch_aminmax(np.array(nan(0xFF800005)))
    assert bits(lone) == [0xFFC00005, 0xFFC00005]
    assert bits(torch_aminmax(F([1.0, nan(0x7FC00001)]))) == [0xFFFFFFFF, 0xFFFFFFFF]
    large = np.ones(70001, F)
    large[-1] = nan(0x7FC00001)
    assert bits(torch_aminmax(large, threads=1)) == [0xFFFFFFFF, 0xFFFFFFFF]
    assert bits(torch_aminmax(large, threads=2)) == [0x7FC00000, 0x7FC00000]
    assert bits(torch_aminmax(large[-32768:], threads=2)) == [0xFFFFFFFF, 0xFFFFFFFF]


def _reduce2_all_transcription(x: np.ndarray, minimum: bool, threads: int) -> float:
    """Element-by-element transcription of aminmax_allreduce_kernel's order on a NaN-
    free tensor: per thread range, 8 lanes (or lane 0 alone below 8 elements) updated by
    ``a < b ? a : b`` (second on ties), lanes combined by swapping halves, quarters,
    pairs; ranges combined by std::min (first on ties)."""

    def op(a: float, b: float) -> float:
        return a if (a < b if minimum else a > b) else b

    partials = []
    for start, stop in parallel_chunks(x.size, threads):
        chunk = [float(v) for v in x[start:stop]]
        if len(chunk) < 8:
            acc = chunk[0]
            for value in chunk[1:]:
                acc = op(acc, value)
            partials.append(acc)
            continue
        lanes = chunk[:8]
        for i in range(8, len(chunk)):
            lanes[i % 8] = op(lanes[i % 8], chunk[i])
        for step in (4, 2, 1):
            lanes = [op(lanes[i], lanes[i ^ step]) for i in range(8)]
        partials.append(lanes[0])
    result = partials[0]
    for partial in partials[1:]:
        if partial < result if minimum else partial > result:
            result = partial
    return result


@pytest.mark.parametrize("threads", [1, 2])
def test_aminmax_zero_sign_matches_lane_transcription(threads: int) -> None:
    rng = np.random.default_rng(threads)
    sizes = [1, 2, 3, 7, 8, 9, 15, 16, 17, 23, 64, 100, 257]
    sizes += [32769, 40000] if threads > 1 else []
    for n in sizes:
        for trial in range(20 if n < 1000 else 2):
            x = rng.choice(F([0.0, -0.0, 1.0]), n).astype(F)
            if trial % 2:
                x = -x
            low, high = torch_aminmax(x, threads)
            assert np.signbit(low) == np.signbit(_reduce2_all_transcription(x, True, threads))
            assert np.signbit(high) == np.signbit(_reduce2_all_transcription(x, False, threads))


def test_aminmax_rows_keep_first_nan_and_first_extreme() -> None:
    rows = F([[1.0, nan(0x7F800001), nan(0xFFC00002)], [0.0, -0.0, 2.0], [-0.0, 0.0, -1.0]])
    low, high = torch_aminmax_rows(rows)
    assert bits(low) == [0x7F800001, 0x00000000, 0xBF800000]  # the signaling NaN stays
    assert bits(high) == [0x7F800001, 0x40000000, 0x80000000]
    with pytest.raises(ValueError, match="non-empty rows"):
        torch_aminmax_rows(np.zeros((2, 0), F))


def test_arithmetic_nan_rules() -> None:
    a, b = nan(0x7FC00001), nan(0xFF800002)
    # + and -: the second operand's NaN, quieted, not negated.
    assert bits(torch_add(a, b)) == bits(torch_sub(a, b)) == [0xFFC00002]
    assert bits(torch_sub(F(1), b)) == [0xFFC00002]
    # /: the first operand's.
    assert bits(torch_div(a, b)) == [0x7FC00001]
    # Invalid operations without a NaN operand: the default NaN.
    inf = F(np.inf)
    assert bits(torch_sub(inf, inf)) == bits(torch_div(F(0), F(0))) == [0xFFC00000]
    assert bits(torch_mul_scalar(inf, 0.0)) == [0xFFC00000]
    assert bits(torch_mul_scalar(b, -1)) == [0xFFC00002]
    with pytest.raises(ValueError, match="NaN factor"):
        torch_mul_scalar(F(1), float("nan"))
    # Negation flips the sign bit only.
    assert bits(torch_neg(F([nan(0x7F800001), 0.0]))) == [0xFF800001, 0x80000000]
