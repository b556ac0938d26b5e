"""Bit-exact comparison with a report worth reading when it fails.

Integers must be equal; floats must be equal as bit patterns (so ``-0.0 != 0.0`` and
NaN payloads count); QTensors must agree in codes, dtype, scheme and every
parameter's bits. A failure says how many elements differ, by how much (LSBs for
integers, ULPs for floats) and where the first difference is.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import numpy as np

from qemu.qtensor import QTensor

_UNSIGNED_OF = {2: np.uint16, 4: np.uint32, 8: np.uint64}
_SIGNED_OF = {2: np.int16, 4: np.int32, 8: np.int64}


@dataclass(frozen=True)
class Comparison:
    """How two arrays differ: ``mismatches`` elements out of ``total``."""

    total: int
    mismatches: int
    max_difference: float  # LSBs for integers, ULPs for floats (inf across NaN / signs)
    unit: str
    first_index: tuple[int, ...] | None
    first_actual: object
    first_expected: object

    @property
    def equal(self) -> bool:
        return self.mismatches == 0

    def describe(self, name: str = "values") -> str:
        if self.equal:
            return f"{name}: {self.total} elements bit-exact"
        return (
            f"{name}: {self.mismatches} of {self.total} elements differ; max difference "
            f"{self.max_difference:g} {self.unit}; first at index {self.first_index}: "
            f"actual {self.first_actual!r}, expected {self.first_expected!r}"
        )


def _ordered_float_bits(values: np.ndarray) -> np.ndarray:
    """Integers that are consecutive for adjacent floats (-0.0 and +0.0 both map to 0)."""
    signed_type = _SIGNED_OF[values.dtype.itemsize]
    signed = values.view(signed_type).astype(np.int64)
    magnitude = signed & np.int64(np.iinfo(signed_type).max)
    return np.where(signed < 0, -magnitude, magnitude)


def compare(actual: object, expected: object) -> Comparison:
    """Compare two arrays element for element, bitwise for floats.

    Examples
    --------
    >>> compare(np.float32([1.0, 2.0]), np.float32([1.0, np.nextafter(2, 3, dtype=np.float32)])).mismatches
    1
    """
    a = np.asarray(actual)
    e = np.asarray(expected)
    if a.shape != e.shape:
        raise AssertionError(f"shape differs: actual {a.shape}, expected {e.shape}")
    if a.dtype != e.dtype:
        raise AssertionError(f"dtype differs: actual {a.dtype}, expected {e.dtype}")
    if a.dtype.kind == "f":
        unsigned = _UNSIGNED_OF[a.dtype.itemsize]
        differs = a.view(unsigned) != e.view(unsigned)
        unit = "ULP"
        if differs.any():
            ordered_a = _ordered_float_bits(a[differs]).astype(np.float64)
            ordered_e = _ordered_float_bits(e[differs]).astype(np.float64)
            nan_involved = np.isnan(a[differs]) | np.isnan(e[differs])
            max_difference = (
                float("inf") if nan_involved.any() else float(np.max(np.abs(ordered_a - ordered_e)))
            )
        else:
            max_difference = 0.0
    else:
        differs = a != e
        unit = "LSB"
        max_difference = (
            float(np.max(np.abs(a[differs].astype(object) - e[differs].astype(object))))
            if differs.any()
            else 0.0
        )
    count = int(np.count_nonzero(differs))
    if count:
        first = tuple(int(i) for i in np.argwhere(differs)[0])
        first_actual, first_expected = a[first].item(), e[first].item()
    else:
        first, first_actual, first_expected = None, None, None
    return Comparison(int(a.size), count, max_difference, unit, first, first_actual, first_expected)


def result_arrays(value: object, name: str = "result") -> list[tuple[str, np.ndarray]]:
    """The named arrays that make up an op's result: a QTensor's codes and parameters,
    each item of a tuple or list, or the array itself."""
    if isinstance(value, QTensor):
        if value.is_per_channel:
            params = [
                ("axis", np.int64(value.q_per_channel_axis())),
                ("scales", value.q_per_channel_scales()),
                ("zero_points", value.q_per_channel_zero_points()),
            ]
        else:
            params = [
                ("scale", np.float64(value.q_scale())),
                ("zero_point", np.int64(value.q_zero_point())),
            ]
        dtype = np.array(value.dtype.name + "/" + value.qscheme())
        return [
            (f"{name}.{k}", np.asarray(v))
            for k, v in [("dtype", dtype), *params, ("codes", value.codes)]
        ]
    if isinstance(value, (tuple, list)):
        return [
            pair for i, item in enumerate(value) for pair in result_arrays(item, f"{name}[{i}]")
        ]
    return [(name, np.asarray(value))]


def compare_results(actual: object, expected: object) -> Comparison:
    """:func:`compare` over whole op results (QTensors, tuples, arrays): mismatches are
    summed over every part; the first differing part is the one reported. A difference
    in structure (shapes, dtypes, kinds) counts as every expected element differing."""
    expected_parts = result_arrays(expected)
    actual_parts = result_arrays(actual)
    total = sum(a.size for _, a in expected_parts)
    if [n for n, _ in actual_parts] != [n for n, _ in expected_parts]:
        return Comparison(
            total,
            total,
            float("inf"),
            "structure",
            None,
            actual_parts and actual_parts[0][0],
            expected_parts and expected_parts[0][0],
        )
    mismatches, worst, first = 0, 0.0, None
    for (part, a), (_, e) in zip(actual_parts, expected_parts, strict=True):
        try:
            result = compare(a, e)
        except AssertionError as difference:
            return Comparison(total, total, float("inf"), str(difference), (part,), None, None)
        mismatches += result.mismatches
        worst = max(worst, result.max_difference)
        if first is None and not result.equal:
            first = result
    if first is None:
        return Comparison(total, 0, 0.0, "", None, None, None)
    return Comparison(
        total,
        mismatches,
        worst,
        first.unit,
        first.first_index,
        first.first_actual,
        first.first_expected,
    )


def assert_bitexact(actual: object, expected: object, name: str = "values") -> None:
    """Raise ``AssertionError`` unless ``actual`` and ``expected`` are bit-for-bit equal.

    Accepts arrays, scalars, QTensors (codes, dtype, scheme and parameters compared)
    and tuples/lists of these (compared item by item).

    Examples
    --------
    >>> assert_bitexact(np.int8([1, 2]), np.int8([1, 2]))
    """
    if isinstance(expected, (tuple, list)):
        if not isinstance(actual, (tuple, list)) or len(actual) != len(expected):
            raise AssertionError(
                f"{name}: expected a sequence of {len(expected)} items, got {actual!r:.80}"
            )
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_bitexact(a, e, f"{name}[{i}]")
        return
    if isinstance(expected, QTensor) or isinstance(actual, QTensor):
        if not (isinstance(expected, QTensor) and isinstance(actual, QTensor)):
            raise AssertionError(
                f"{name}: one side is a QTensor, the other {type(actual).__name__}"
            )
        for field, a, e in (
            ("dtype", actual.dtype, expected.dtype),
            ("qscheme", actual.qscheme(), expected.qscheme()),
        ):
            if a != e:
                raise AssertionError(f"{name}.{field} differs: actual {a}, expected {e}")
        if expected.is_per_channel:
            pairs = [
                ("axis", actual.q_per_channel_axis(), expected.q_per_channel_axis()),
                ("scales", actual.q_per_channel_scales(), expected.q_per_channel_scales()),
                (
                    "zero_points",
                    actual.q_per_channel_zero_points(),
                    expected.q_per_channel_zero_points(),
                ),
            ]
        else:
            pairs = [
                ("scale", np.float64(actual.q_scale()), np.float64(expected.q_scale())),
                ("zero_point", np.int64(actual.q_zero_point()), np.int64(expected.q_zero_point())),
            ]
        for field, a, e in pairs + [("codes", actual.codes, expected.codes)]:
            result = compare(a, e)
            if not result.equal:
                raise AssertionError(result.describe(f"{name}.{field}"))
        return
    result = compare(actual, expected)
    if not result.equal:
        raise AssertionError(result.describe(name))


def cases(default: int) -> int:
    """How many cases a differential test runs: ``default``, or ``QEMU_SOAK`` if set.

    Examples
    --------
    >>> cases(50) >= 1
    True
    """
    soak = int(os.environ.get("QEMU_SOAK", "0"))
    return soak if soak > 0 else default


def seeded_rng(*key: object) -> np.random.Generator:
    """A NumPy generator seeded from a test's own key and ``QEMU_SOAK_SEED``, so each
    test draws the same cases on every run unless the soak seed changes.

    Examples
    --------
    >>> seeded_rng("a", 1).random() == seeded_rng("a", 1).random()
    True
    """
    text = "/".join(str(k) for k in key) + "/" + os.environ.get("QEMU_SOAK_SEED", "0")
    # A digest of the whole key: keys sharing their first bytes (every "linear-torch/..."
    # of one test, whatever the op and engine) must not share a stream.
    return np.random.default_rng(int.from_bytes(hashlib.sha256(text.encode()).digest()[:16]))
