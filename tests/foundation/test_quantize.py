"""quantize/dequantize without torch: hand-checked formulas, numpy == numba, and clear
errors for bad input. The differential tests against torch are in
test_quantize_torch.py."""

import numpy as np
import pytest
from foundation.quantize_cases import (
    SHAPES,
    draw_channel_params,
    draw_scale,
    draw_values,
    draw_zero_point,
)

import qemu
from qemu.dtypes import QDTYPES
from qemu.testing import assert_bitexact, cases, seeded_rng

NAN, INF = float("nan"), float("inf")


def codes(x, scale, zero_point, dtype):
    return qemu.quantize_per_tensor(np.float32(x), scale, zero_point, dtype).codes.tolist()


def test_per_tensor_8bit_adds_zero_point_before_rounding():
    # fma(x, 1/s, zp) rounds once: 0.25/0.5 + 1 = 1.5 -> 2 (adding zp after rounding gives 1).
    assert codes([0.25, 0.75, -0.25], 0.5, 1, "quint8") == [2, 2, 0]
    assert codes([NAN, INF, -INF, 1e30], 0.5, 1, "quint8") == [255, 255, 0, 255]
    assert codes([NAN, INF, -INF], 0.5, 1, "qint8") == [127, 127, -128]


def test_qint32_and_per_channel_send_nan_to_the_x86_indefinite_integer():
    assert codes([NAN, INF, -INF, 2.5], 1.0, 0, "qint32") == [-(2**31), 2**31 - 1, -(2**31), 2]
    q = qemu.quantize_per_channel(np.float32([[NAN, INF, -INF]]), [1.0], [3], 0, "quint8")
    assert q.codes.tolist() == [[0, 255, 0]]


def test_sub_byte_adds_zero_point_after_rounding():
    assert codes([0.25, 0.75, NAN, 100.0], 0.5, 1, "quint4x2") == [1, 3, 0, 15]


def test_float_qparams_use_float_zero_points():
    q = qemu.quantize_per_channel(
        np.float32([[0.25, 0.75]]), np.float32([0.5]), np.float32([0.5]), 0, "quint8"
    )
    assert q.qscheme() == "per_channel_affine_float_qparams"
    assert q.codes.tolist() == [[1, 2]]
    assert q.dequantize().tolist() == [[0.25, 0.75]]
    # lrintf's int64 result is truncated to int32 before the clamp.
    big = np.float32([[NAN, INF, 2.0**31, 2.0**32 + 512, 1e30]])
    q = qemu.quantize_per_channel(big, np.float32([1]), np.float32([0]), 0, "qint8")
    assert q.codes.tolist() == [[0, 0, -128, 127, 0]]


def test_dequantize_wraps_qint32_difference():
    q = qemu.QTensor.per_tensor([-(2**31)], 1.0, 3, "qint32")
    assert q.dequantize().tolist() == [float(np.float32(2**31 - 3))]  # +2^31, not -2^31


def test_empty_and_zero_dimensional_inputs():
    assert qemu.quantize_per_tensor(np.zeros((0, 3), np.float32), 1.0, 0, "quint8").shape == (0, 3)
    assert qemu.quantize_per_tensor(np.float32(1.5), 1.0, 0, "qint8").codes.tolist() == 2
    assert qemu.quantize_per_tensor([0.5, 1.5], 1.0, 0, "qint8").codes.tolist() == [0, 2]


@pytest.mark.parametrize("dtype", list(QDTYPES))
def test_numba_equals_numpy_per_tensor(dtype):
    qdtype = QDTYPES[dtype]
    rng = seeded_rng("quantize_per_tensor", dtype)
    for i in range(cases(60)):
        shape = SHAPES[i % len(SHAPES)]
        scale, zero_point = draw_scale(rng), draw_zero_point(rng, qdtype)
        x = draw_values(rng, shape, scale, zero_point, qdtype)
        ref = qemu.quantize_per_tensor(x, scale, zero_point, dtype, backend="numpy")
        assert_bitexact(
            qemu.quantize_per_tensor(x, scale, zero_point, dtype, backend="numba"), ref, "quantize"
        )
        assert_bitexact(
            ref.dequantize(backend="numba"), ref.dequantize(backend="numpy"), "dequantize"
        )


@pytest.mark.parametrize(
    "dtype, float_qparams",
    [
        ("quint8", False),
        ("qint8", False),
        ("qint32", False),
        ("quint8", True),
        ("qint8", True),
        ("quint4x2", True),
        ("quint2x4", True),
    ],
)
def test_numba_equals_numpy_per_channel(dtype, float_qparams):
    qdtype = QDTYPES[dtype]
    rng = seeded_rng("quantize_per_channel", dtype, float_qparams)
    for i in range(cases(60)):
        shape = SHAPES[1:][i % (len(SHAPES) - 1)]
        axis = int(rng.integers(len(shape)))
        scales, points = draw_channel_params(rng, shape[axis], qdtype, float_qparams)
        x = draw_values(rng, shape, float(scales.max(initial=1.0)), 0, qdtype)
        ref = qemu.quantize_per_channel(x, scales, points, axis, dtype, backend="numpy")
        assert_bitexact(
            qemu.quantize_per_channel(x, scales, points, axis, dtype, backend="numba"),
            ref,
            "quantize",
        )
        assert_bitexact(
            ref.dequantize(backend="numba"), ref.dequantize(backend="numpy"), "dequantize"
        )


@pytest.mark.parametrize(
    "call, error, message",
    [
        (
            lambda: qemu.quantize_per_tensor(np.zeros(2), 1.0, 0, "quint8"),
            TypeError,
            "x: expected a float32 array, got dtype float64",
        ),
        (
            lambda: qemu.quantize_per_tensor(np.zeros(2, np.int32), 1.0, 0, "quint8"),
            TypeError,
            "x: expected a float32 array",
        ),
        (
            lambda: qemu.quantize_per_tensor(["a"], 1.0, 0, "quint8"),
            TypeError,
            "x: expected float values",
        ),
        (
            lambda: qemu.quantize_per_tensor(np.zeros(2, np.float32), 0.0, 0, "quint8"),
            ValueError,
            "scale: expected a finite number > 0",
        ),
        (
            lambda: qemu.quantize_per_tensor(np.zeros(2, np.float32), NAN, 0, "quint8"),
            ValueError,
            "scale: expected a finite number > 0",
        ),
        (
            lambda: qemu.quantize_per_tensor(np.zeros(2, np.float32), -1.0, 0, "quint8"),
            ValueError,
            "scale: expected a finite number > 0",
        ),
        (
            lambda: qemu.quantize_per_tensor(np.zeros(2, np.float32), 1.0, -1, "quint8"),
            ValueError,
            r"zero_point: expected an integer in \[0, 255\]",
        ),
        (
            lambda: qemu.quantize_per_tensor(np.zeros(2, np.float32), 1.0, 0, "int8"),
            ValueError,
            "dtype: expected one of",
        ),
        (
            lambda: qemu.quantize_per_tensor(
                np.zeros(2, np.float32), 1.0, 0, "quint8", engine="x86"
            ),
            ValueError,
            "engine: unknown engine 'x86'",
        ),
        (
            lambda: qemu.quantize_per_tensor(
                np.zeros(2, np.float32), 1.0, 0, "quint8", backend="cuda"
            ),
            ValueError,
            "backend: unknown backend 'cuda'",
        ),
        (
            lambda: qemu.quantize_per_channel(
                np.zeros((2, 3), np.float32), [1.0] * 2, [0] * 2, 2, "quint8"
            ),
            ValueError,
            r"axis: expected an axis in \[0, 2\)",
        ),
        (
            lambda: qemu.quantize_per_channel(
                np.zeros((2, 3), np.float32), [1.0] * 3, [0] * 3, 0, "quint8"
            ),
            ValueError,
            "scales: expected a 1-D array of 2",
        ),
        (
            lambda: qemu.quantize_per_channel(
                np.zeros((2, 3), np.float32), [1.0, 0.0], [0] * 2, 0, "quint8"
            ),
            ValueError,
            "scales: expected finite values > 0",
        ),
        (
            lambda: qemu.quantize_per_channel(
                np.zeros((2, 3), np.float32), [1.0] * 2, [0, 300], 0, "quint8"
            ),
            ValueError,
            "zero_points: expected integers",
        ),
        (
            lambda: qemu.quantize_per_channel(np.float32(1.0), [1.0], [0], 0, "quint8"),
            ValueError,
            "needs at least one dimension",
        ),
        (
            lambda: qemu.quantize_per_channel(
                np.zeros((2, 3), np.float32), [1.0] * 2, [0.0] * 2, 0, "qint32"
            ),
            ValueError,
            "not qint32",
        ),
        (
            lambda: qemu.quantize_per_channel(
                np.zeros((2, 3), np.float32), [1.0] * 2, [0] * 2, 0, "quint4x2"
            ),
            ValueError,
            "needs float zero points",
        ),
        (lambda: qemu.dequantize(np.zeros(2)), TypeError, "q: expected a QTensor"),
    ],
)
def test_bad_input_is_a_clear_error(call, error, message):
    with pytest.raises(error, match=message):
        call()
