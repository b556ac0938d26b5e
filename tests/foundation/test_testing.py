"""The bit-exact assertion reports what a reader needs."""

import numpy as np
import pytest

import qemu
from qemu.testing import assert_bitexact, compare


def test_float_mismatch_report_counts_ulps_and_locates_the_first():
    a = np.float32([1.0, 2.0, 3.0])
    e = np.float32([1.0, np.nextafter(np.float32(2), np.float32(3)), 3.0])
    with pytest.raises(
        AssertionError,
        match=r"y: 1 of 3 elements differ; max difference 1 ULP; first at index \(1,\)",
    ):
        assert_bitexact(a, e, "y")


def test_signed_zero_and_nan_payloads_count():
    assert compare(np.float32([0.0]), np.float32([-0.0])).mismatches == 1
    quiet = np.uint32([0x7FC00000, 0xFFC00000]).view(np.float32)
    assert compare(quiet[:1], quiet[1:]).mismatches == 1
    assert compare(quiet, quiet.copy()).equal


def test_integer_report_in_lsb():
    result = compare(np.int8([1, 5, 9]), np.int8([1, 2, 9]))
    assert (result.mismatches, result.max_difference, result.unit, result.first_index) == (
        1,
        3.0,
        "LSB",
        (1,),
    )


def test_qtensor_parameters_are_compared_bitwise():
    a = qemu.QTensor.per_tensor([1], 0.1, 0, "qint8")
    b = qemu.QTensor.per_tensor([1], np.nextafter(0.1, 1.0), 0, "qint8")
    with pytest.raises(AssertionError, match="q.scale: 1 of 1 elements differ"):
        assert_bitexact(a, b, "q")


def test_shape_and_dtype_must_match():
    with pytest.raises(AssertionError, match="shape differs"):
        assert_bitexact(np.zeros(2), np.zeros(3))
    with pytest.raises(AssertionError, match="dtype differs"):
        assert_bitexact(np.zeros(2, np.float32), np.zeros(2, np.float64))
