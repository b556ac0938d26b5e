"""Shared comparison for the observer tests."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from qemu.testing import assert_bitexact


def _array(values: object) -> np.ndarray:
    return np.asarray(values.numpy() if hasattr(values, "numpy") else values)


def _first_float_mismatch(actual: np.ndarray, expected: np.ndarray) -> str:
    """The first differing float as bit patterns: NaN payloads and zero signs do not
    show in a printed float."""
    if actual.dtype.kind != "f" or actual.dtype != expected.dtype or actual.shape != expected.shape:
        return ""
    unsigned = np.dtype(f"u{actual.dtype.itemsize}")
    a, e = actual.view(unsigned), expected.view(unsigned)
    differs = np.argwhere(a != e)
    if not differs.size:
        return ""
    index = tuple(int(i) for i in differs[0])
    return f" (bits at {index}: actual {int(a[index]):#x}, expected {int(e[index]):#x})"


@pytest.fixture
def same() -> Callable[[object, object, str], None]:
    """``same(actual, expected, name)``: equal dtype and shape and every value bit for
    bit, NaN payloads and zero signs included (torch tensors are accepted)."""

    def check(actual: object, expected: object, name: str = "values") -> None:
        actual, expected = _array(actual), _array(expected)
        assert_bitexact(actual, expected, name + _first_float_mismatch(actual, expected))

    return check
