"""The examples in the transcendental modules' docstrings are true."""

import doctest

import numpy as np
import pytest
from qemu.backends.numba_backend import transcendental

from qemu.numerics import aten_float, float64, libm, mkl, sleef

MODULES = [aten_float, float64, libm, mkl, sleef, transcendental]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module, extraglobs={"np": np})
    assert result.failed == 0 and result.attempted > 0
