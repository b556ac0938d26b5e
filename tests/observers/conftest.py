"""Shared comparison for the observer tests."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from qemu.testing import assert_bitexact


def _canonical(values: object) -> np.ndarray:
    """An array with every NaN replaced by the default quiet NaN: torch's NaN payloads
    depend on the kernel (a full ``aminmax`` returns 0xffffffff, ``torch.min`` of two
    tensors 0x7fc00000, a per-row ``aminmax`` the input's NaN), and qemu does not model
    them (``docs/numerics/observers.md``)."""
    array = np.asarray(values.numpy() if hasattr(values, "numpy") else values)
    if array.dtype.kind == "f":
        array = np.where(np.isnan(array), array.dtype.type(np.nan), array)
    return array


@pytest.fixture
def same() -> Callable[[object, object, str], None]:
    """``same(actual, expected, name)``: equal dtype and shape, NaN where the other has
    NaN, every other value bit for bit (torch tensors are accepted)."""

    def check(actual: object, expected: object, name: str = "values") -> None:
        assert_bitexact(_canonical(actual), _canonical(expected), name)

    return check
