"""Torch-free checks of qemu.qparams: hand-computed values, ties, special ranges, errors."""

from __future__ import annotations

import numpy as np
import pytest

from qemu.qparams import (
    EPS_F32,
    SMALL_SCALE_THRESHOLD,
    calculate_qmin_qmax,
    calculate_qparams,
    choose_qparams_dynamic,
    choose_qparams_fbgemm,
    determine_qparams,
)

F = np.float32


@pytest.mark.parametrize(
    ("dtype", "reduce_range", "expected"),
    [
        ("quint8", False, (0, 255)),
        ("quint8", True, (0, 127)),
        ("qint8", False, (-128, 127)),
        ("qint8", True, (-64, 63)),
        ("qint32", False, (-(2**31), 2**31 - 1)),
        ("qint32", True, (-(2**31), 2**31 - 1)),  # reduce_range is ignored
        ("quint4x2", True, (0, 15)),
    ],
)
def test_default_ranges(dtype: str, reduce_range: bool, expected: tuple[int, int]) -> None:
    assert calculate_qmin_qmax(None, None, False, dtype, reduce_range) == expected


def test_custom_ranges_halve_with_floor_division() -> None:
    assert calculate_qmin_qmax(-127, 127, True, "qint8", False) == (-127, 127)
    assert calculate_qmin_qmax(-127, 127, True, "qint8", True) == (-64, 63)
    assert calculate_qmin_qmax(0, 65535, True, "qint32", False) == (0, 65535)
    assert calculate_qmin_qmax(0, 65535, True, "qint32", True) == (0, 32767)


@pytest.mark.parametrize(
    ("quant_min", "quant_max", "dtype", "error", "words"),
    [
        (1, 5, "quint8", ValueError, "include 0"),
        (0, 0, "quint8", ValueError, "quant_min < quant_max"),
        (0, 256, "quint8", ValueError, "inside [0, 255]"),
        (-200, 55, "qint8", ValueError, "inside [-128, 127]"),
        (0, 2**32 - 1, "qint32", ValueError, "inside"),
        (0.0, 127, "quint8", TypeError, "quant_min"),
        (0, True, "quint8", TypeError, "quant_max"),
        (0, 15, "quint2x4", ValueError, "quint2x4"),
        (0, 15, "int4", ValueError, "dtype"),
    ],
)
def test_bad_ranges_are_refused(quant_min, quant_max, dtype, error, words) -> None:
    with pytest.raises(error, match=words.replace("[", r"\[")):
        calculate_qmin_qmax(quant_min, quant_max, True, dtype, False)


def test_affine_hand_values() -> None:
    scale, zero_point = calculate_qparams(F(-1), F(2), 0, 255, "quint8")
    assert scale.dtype == np.float32 and scale.tolist() == [float(F(3) / F(255))]
    assert zero_point.dtype == np.int32 and zero_point.tolist() == [85]


@pytest.mark.parametrize(("low", "expected"), [(-2.5, 2), (-3.5, 4), (-0.5, 0), (-1.5, 2)])
def test_affine_zero_point_rounds_half_to_even(low: float, expected: int) -> None:
    # scale = (max - min) / 255 = 1 exactly, so min / scale is an exact tie.
    _, zero_point = calculate_qparams(F(low), F(low + 255), 0, 255, "quint8")
    assert zero_point.tolist() == [expected]


def test_eps_floors_the_scale() -> None:
    scale, zero_point = calculate_qparams(F(0), F(0), 0, 255, "quint8")
    assert scale.tolist() == [float(EPS_F32)] and zero_point.tolist() == [0]
    scale, _ = calculate_qparams(F(0), F(1e-6), -127, 127, "qint8", eps=2**-12)
    assert scale.tolist() == [2**-12]


def test_symmetric_zero_points() -> None:
    scale, zero_point = calculate_qparams(F(-3), F(1), 0, 255, "quint8", "per_tensor_symmetric")
    assert scale.tolist() == [float(F(3) / F(127.5))]
    assert zero_point.dtype == np.int64 and zero_point.tolist() == [128]
    _, zero_point = calculate_qparams(
        F(-3), F(1), 0, 127, "quint8", "per_tensor_symmetric", has_customized_qrange=True
    )
    assert zero_point.tolist() == [63]  # (0 + 127) // 2
    _, zero_point = calculate_qparams(
        F([-3, 2]), F([1, 5]), -128, 127, "qint8", "per_channel_symmetric"
    )
    assert zero_point.tolist() == [0, 0]


def test_float_qparams() -> None:
    scale, zero_point = calculate_qparams(
        F([-3, 1]), F([4, 2]), 0, 255, "quint8", "per_channel_affine_float_qparams"
    )
    assert scale.tolist() == [float(F(7) / F(255)), float(F(1) / F(255))]
    assert zero_point.dtype == np.float32
    assert zero_point.tolist() == [float(F(3) / (F(7) / F(255))), float(F(-1) / (F(1) / F(255)))]
    # A flat channel gets scale 1 (scale <= eps) and zero point -min.
    scale, zero_point = calculate_qparams(
        F([2.5]), F([2.5]), 0, 255, "quint8", "per_channel_affine_float_qparams"
    )
    assert scale.tolist() == [1.0] and zero_point.tolist() == [-2.5]


def test_never_observed_defaults() -> None:
    for mins, maxs in [(F(np.inf), F(-np.inf)), (F([]), F([]))]:
        scale, zero_point = calculate_qparams(mins, maxs, 0, 255, "quint8")
        assert scale.dtype == np.float32 and scale.tolist() == [1.0]
        assert zero_point.dtype == np.int64 and zero_point.tolist() == [0]


def test_min_max_arguments() -> None:
    # Numbers are rounded to float32, as torch's buffers hold them.
    scale, _ = calculate_qparams(-1, 2, 0, 255, "quint8")
    assert scale.tolist() == [float(F(3) / F(255))]
    with pytest.raises(TypeError, match="min_val"):
        calculate_qparams(np.zeros((2, 2), F), F([1, 1]), 0, 255, "quint8")
    with pytest.raises(TypeError, match="max_val"):
        calculate_qparams(F(0), "1", 0, 255, "quint8")


def test_inverted_range_is_refused() -> None:
    with pytest.raises(ValueError, match="min_val <= max_val"):
        calculate_qparams(F([0, 3]), F([1, 2]), 0, 255, "quint8", "per_channel_affine")


@pytest.mark.parametrize(
    ("dtype", "qmin", "qmax", "expected"), [("qint8", -128, 127, 127), ("quint8", 0, 255, 0)]
)
def test_nan_range_zero_point_wraps_like_torch(dtype, qmin, qmax, expected) -> None:
    # round(NaN).to(int32) is -2**31; qmin - (-2**31) wraps in int32, then the clamp.
    scale, zero_point = calculate_qparams(F(np.nan), F(np.nan), qmin, qmax, dtype)
    assert np.isnan(scale).all() and zero_point.tolist() == [expected]


def test_qint32_full_range() -> None:
    # (qmax - qmin) rounds to 2**32 in float32; the quotient min / scale overflows
    # nothing but the zero point lands far from 0.
    scale, zero_point = calculate_qparams(F(-5), F(-1), -(2**31), 2**31 - 1, "qint32")
    assert scale.tolist() == [float(EPS_F32)]
    assert zero_point.tolist() == [-(2**31) + 41943040]
    _, zero_point = calculate_qparams(F(1), F(5), -(2**31), 2**31 - 1, "qint32")
    assert zero_point.tolist() == [-(2**31)]


def test_determine_qparams_returns_double_and_int64() -> None:
    scale, zero_point = determine_qparams(
        F([-3, 1]), F([4, 2]), 0, 255, "quint8", EPS_F32, False, "per_channel_affine_float_qparams"
    )
    assert scale.dtype == np.float64 and zero_point.dtype == np.int64
    assert zero_point.tolist() == [109, -254]  # float zero points truncated toward zero
    assert scale.tolist() == [float(F(7) / F(255)), float(F(1) / F(255))]


def test_dynamic_hand_values() -> None:
    assert choose_qparams_dynamic(-1.0, 2.0, 0, 255) == (3.0 / 255, 85)
    assert choose_qparams_dynamic(-1.0, 2.0, 0, 255, reduce_range=True) == (3.0 / 127, 42)
    # C++ integer division truncates toward zero: -127 / 2 == -63.
    assert choose_qparams_dynamic(-1.0, 1.0, -127, 127, reduce_range=True) == (2.0 / 126, 0)
    # All positive / all negative: zero is pulled into the range.
    assert choose_qparams_dynamic(2.0, 3.0, 0, 255) == (3.0 / 255, 0)
    assert choose_qparams_dynamic(-3.0, -2.0, 0, 255) == (3.0 / 255, 255)


def test_dynamic_zero_range_uses_scale_point_one() -> None:
    assert choose_qparams_dynamic(0.0, 0.0, 0, 255) == (0.1, 0)
    # From min: error |-128| - 0 = 128; from max: 127 - 0 = 127 -> from max.
    assert choose_qparams_dynamic(0.0, 0.0, -128, 127) == (0.1, 127)


def test_dynamic_small_scale_is_raised() -> None:
    threshold = float(SMALL_SCALE_THRESHOLD)
    assert threshold == 6.0999998822808266e-05
    assert choose_qparams_dynamic(1e-30, 2e-30, 0, 255) == (threshold, 0)
    assert choose_qparams_dynamic(1e-30, 2e-30, -128, 127) == (threshold, -128)
    # Both signs: the range is stretched by f32(6.1e-5 / f32(scale)).
    assert choose_qparams_dynamic(-1e-4, 1e-3, 0, 255) == (threshold, 23)


def test_fbgemm_variant_keeps_a_float_scale() -> None:
    scale, zero_point = choose_qparams_fbgemm(-1.0, 2.0, -128, 127)
    assert scale.dtype == np.float32 and scale == F(3.0 / 255) and zero_point == -43
    scale, zero_point = choose_qparams_fbgemm(0.0, 0.0, -128, 127)
    assert scale == F(0.1) and zero_point == 127
    scale, zero_point = choose_qparams_fbgemm(1e-30, 2e-30, -128, 127)
    assert scale == SMALL_SCALE_THRESHOLD and zero_point == -128


@pytest.mark.parametrize("chooser", [choose_qparams_dynamic, choose_qparams_fbgemm])
def test_choose_refuses_bad_ranges(chooser) -> None:
    with pytest.raises(ValueError, match="min_value <= max_value"):
        chooser(2.0, 1.0, 0, 255)
    with pytest.raises(ValueError, match="min_value <= max_value"):
        chooser(float("nan"), 1.0, 0, 255)
    with pytest.raises(ValueError, match="qmin < qmax"):
        chooser(0.0, 1.0, 5, 5)
    with pytest.raises(TypeError, match="qmin"):
        chooser(0.0, 1.0, 0.0, 255)
    with pytest.raises(ValueError, match="qmin < qmax"):
        choose_qparams_dynamic(0.0, 1.0, 0, 1, reduce_range=True)
