"""The ATen tensor-op models against torch 2.13 itself, on inputs where the obvious
NumPy counterparts disagree with torch."""

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
from qemu.testing import assert_bitexact, cases, seeded_rng

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

F = np.float32
SIZES = [1, 2, 5, 7, 8, 9, 16, 31, 64, 65, 127, 128, 129, 255, 256, 257, 1000]
SIZES += [2047, 2048, 2049, 4096, 5000, 10000, 32767, 32768, 32769, 65536, 70001]


def _hard_values(rng: np.random.Generator, n: int, kind: int) -> np.ndarray:
    """Values whose float32 sums depend on the order: wide magnitudes, uniform
    fractions, or multiples of small powers of two (histogram weights)."""
    if kind == 0:
        return (rng.normal(size=n) * 10.0 ** rng.uniform(-5, 5, size=n)).astype(F)
    if kind == 1:
        return rng.random(n).astype(F) * F(3.3)
    return (rng.integers(0, 1000, n) / 16.0**3 / 7).astype(F)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_sum_order_matches_torch(threads: int) -> None:
    rng = seeded_rng("sum", threads)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    numpy_differs = 0
    try:
        for i in range(cases(150)):
            n = int(rng.choice(SIZES))
            x = _hard_values(rng, n, i % 3)
            expected = torch.sum(torch.from_numpy(x)).numpy()
            assert_bitexact(aten_sum_f32(x, threads), expected, f"sum n={n}")
            numpy_differs += np.sum(x).view(np.uint32) != expected.view(np.uint32)
    finally:
        torch.set_num_threads(previous)
    assert numpy_differs > 0  # the inputs do tell orders apart


def test_cumsum_matches_torch() -> None:
    rng = seeded_rng("cumsum")
    for i in range(cases(50)):
        x = _hard_values(rng, int(rng.choice(SIZES[:20])), i % 3)
        assert_bitexact(aten_cumsum_f32(x), torch.cumsum(torch.from_numpy(x), 0).numpy())


def test_linspace_matches_torch() -> None:
    rng = seeded_rng("linspace")
    for _ in range(cases(100)):
        a = float(F(rng.normal(0, 10) * 10.0 ** rng.uniform(-3, 3)))
        b = float(F(a + abs(rng.normal(0, 10)) * 10.0 ** rng.uniform(-3, 3) + 1e-3))
        steps = int(rng.choice([2, 3, 17, 101, 257, 2049, 32769]))
        expected = torch.linspace(a, b, steps).numpy()
        assert_bitexact(aten_linspace_f32(a, b, steps), expected, f"linspace({a}, {b}, {steps})")


def test_histc_matches_torch_near_bin_edges() -> None:
    rng = seeded_rng("histc")
    for _ in range(cases(200)):
        bins = int(rng.choice([1, 7, 100, 256, 1000, 2048]))
        low = F(rng.normal() * 10.0 ** rng.uniform(-3, 3))
        high = F(low + abs(rng.normal()) * 10.0 ** rng.uniform(-3, 3))
        if not high > low:
            continue
        # Values within a few ulps of the bin edges, where float32 and double binning
        # disagree, plus values outside the range.
        k = rng.integers(0, bins + 1, 300)
        edge = float(low) + (float(high) - float(low)) * k / bins
        x = (edge * (1 + rng.integers(-3, 4, 300) * 2.0**-24)).astype(F)
        expected = torch.histc(torch.from_numpy(x), bins, min=float(low), max=float(high))
        assert_bitexact(aten_histc_f32(x, bins, float(low), float(high)), expected.numpy())


def test_histc_empty_range_matches_torch() -> None:
    rng = seeded_rng("histc-constant")
    for i in range(cases(300)):
        magnitude = rng.uniform(-8, 38) if i % 2 else rng.uniform(5, 9)
        c = F(rng.normal() * 10.0**magnitude)
        bins = int(rng.choice([1, 7, 100, 2048, 3000]))
        expected = torch.histc(torch.tensor([c]), bins, min=float(c), max=float(c)).numpy()
        assert_bitexact(aten_histc_f32(F([c]), bins, float(c), float(c)), expected, f"c={c}")
    for c in [0.0, 1.0, 4.0, 2.0**23, 2.0**24, 2.0**24 + 2, 2.0**25, -(2.0**24), 1e10]:
        expected = torch.histc(torch.tensor([c, c]), 2048, min=c, max=c).numpy()
        assert_bitexact(aten_histc_f32(F([c, c]), 2048, c, c), expected, f"c={c}")


def test_histc_overflowing_range_matches_torch() -> None:
    for low, high in [(-1e36, 1e36), (-3e38, 3e38), (-1e38, 2e38), (0.0, 3.4e38)]:
        x = F([low, high, 0.0, high / 2, low / 3])
        expected = torch.histc(torch.from_numpy(x), 2048, min=low, max=high).numpy()
        assert_bitexact(aten_histc_f32(x, 2048, low, high), expected, f"[{low}, {high}]")


def test_bincount_matches_torch() -> None:
    rng = seeded_rng("bincount")
    for _ in range(cases(30)):
        bins = int(rng.choice([7, 256, 2048]))
        idx = np.sort(rng.integers(0, bins, bins * 16))
        w = (rng.random(bins * 16) * 100).astype(F)
        expected = torch.bincount(torch.from_numpy(idx), torch.from_numpy(w), bins).numpy()
        assert_bitexact(aten_bincount_f32(idx, w, bins), expected)


def test_floor_divide_matches_torch() -> None:
    # HistogramObserver's torch.div(..., rounding_mode="floor") by a float scalar.
    rng = seeded_rng("floordiv")
    for _ in range(cases(50)):
        a = ((np.arange(2048) - int(rng.integers(0, 2048))) * F(rng.uniform(1e-3, 1))).astype(F)
        b = float(rng.uniform(1e-3, 1))
        expected = torch.div(torch.from_numpy(a), b, rounding_mode="floor").numpy()
        assert_bitexact(np.floor_divide(a, F(b)), expected)
