"""Torch-free checks of the ATen float32 tensor-op models the observers use."""

from __future__ import annotations

import numpy as np
import pytest

from qemu.numerics.tensor_ops import (
    aten_bincount_f32,
    aten_cumsum_f32,
    aten_histc_f32,
    aten_linspace_f32,
    aten_sum_f32,
)
from qemu.testing import assert_bitexact

F = np.float32


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
