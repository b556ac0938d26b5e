"""QTensor construction, validation and torch-named accessors."""

import numpy as np
import pytest

import qemu
from qemu import QTensor


def test_per_tensor_accessors():
    q = QTensor.per_tensor(np.array([[0, 10], [20, 255]]), 0.5, 10, "quint8")
    assert q.shape == (2, 2) and q.dtype is qemu.QUINT8 and q.qscheme() == "per_tensor_affine"
    assert q.q_scale() == 0.5 and q.q_zero_point() == 10
    assert q.int_repr().dtype == np.uint8 and q.int_repr().tolist() == [[0, 10], [20, 255]]
    assert q.dequantize().tolist() == [[-5.0, 0.0], [5.0, 122.5]]
    with pytest.raises(ValueError, match="needs a per-channel tensor"):
        q.q_per_channel_scales()


def test_per_channel_accessors_keep_torch_precisions():
    q = QTensor.per_channel(np.zeros((2, 3), np.int64), [0.1, 0.2], [1, -2], 0, "qint8")
    assert q.q_per_channel_scales().dtype == np.float64
    assert q.q_per_channel_zero_points().dtype == np.int64
    assert q.q_per_channel_axis() == 0 and q.qscheme() == "per_channel_affine"
    f = QTensor.per_channel(
        np.zeros((2, 3), np.int64), [0.1, 0.2], [0.5, 1.5], 0, "quint8", float_qparams=True
    )
    assert f.qscheme() == "per_channel_affine_float_qparams"
    assert (
        f.q_per_channel_scales().dtype == np.float32
        and f.q_per_channel_zero_points().dtype == np.float32
    )
    with pytest.raises(ValueError, match="needs a per-tensor tensor"):
        q.q_scale()


def test_sub_byte_int_repr_packs_like_torch():
    # torch packs element i into bits (i % k) * bits of byte i // k, flattened.
    q = QTensor.per_tensor(np.array([[1, 2, 3], [4, 5, 15]]), 1.0, 0, "quint4x2")
    assert q.int_repr().tolist() == [0x21, 0x43, 0xF5]
    q2 = QTensor.per_tensor(np.array([1, 2, 3, 0, 3]), 1.0, 0, "quint2x4")
    assert q2.int_repr().tolist() == [1 | 2 << 2 | 3 << 4, 3]


def test_codes_are_read_only():
    q = QTensor.per_tensor([1, 2], 1.0, 0, "qint8")
    with pytest.raises(ValueError):
        q.codes[0] = 5


@pytest.mark.parametrize(
    "build, error, message",
    [
        (
            lambda: QTensor.per_tensor([300], 1.0, 0, "quint8"),
            ValueError,
            r"codes: values must lie in \[0, 255\]",
        ),
        (
            lambda: QTensor.per_tensor([1.5], 1.0, 0, "quint8"),
            TypeError,
            "codes: expected an integer array",
        ),
        (
            lambda: QTensor.per_tensor([1], 0.0, 0, "quint8"),
            ValueError,
            "scale: expected a finite number > 0",
        ),
        (
            lambda: QTensor.per_tensor([1], float("nan"), 0, "quint8"),
            ValueError,
            "scale: expected a finite",
        ),
        (lambda: QTensor.per_tensor([1], "1", 0, "quint8"), TypeError, "scale: expected a float"),
        (
            lambda: QTensor.per_tensor([1], 1.0, 256, "quint8"),
            ValueError,
            r"zero_point: expected an integer in \[0, 255\]",
        ),
        (
            lambda: QTensor.per_tensor([1], 1.0, 0.5, "quint8"),
            TypeError,
            "zero_point: expected an int",
        ),
        (
            lambda: QTensor.per_tensor([1], 1.0, 0, "uint8"),
            ValueError,
            "dtype: expected one of 'quint8'",
        ),
        (
            lambda: QTensor.per_tensor([1], 1.0, 0, 8),
            TypeError,
            "dtype: expected a quantized dtype name",
        ),
        (
            lambda: QTensor.per_channel([[1]], [1.0], [0], 2, "qint8"),
            ValueError,
            r"axis: expected an axis in \[0, 2\)",
        ),
        (
            lambda: QTensor.per_channel([[1]], [1.0], [0], -1, "qint8"),
            ValueError,
            "axis: expected an axis",
        ),
        (
            lambda: QTensor.per_channel([[1]], [1.0, 2.0], [0, 0], 0, "qint8"),
            ValueError,
            "scales: expected a 1-D array of 1",
        ),
        (
            lambda: QTensor.per_channel([[1]], [-1.0], [0], 0, "qint8"),
            ValueError,
            "scales: expected finite values > 0",
        ),
        (
            lambda: QTensor.per_channel([[1]], [1.0], [200], 0, "qint8"),
            ValueError,
            r"zero_points: expected integers in \[-128, 127\]",
        ),
        (
            lambda: QTensor.per_channel([[1]], [1.0], [0.5], 0, "qint8"),
            TypeError,
            "zero_points: expected an integer array",
        ),
    ],
)
def test_bad_construction_is_a_clear_error(build, error, message):
    with pytest.raises(error, match=message):
        build()


def test_equal_is_bitwise():
    a = QTensor.per_tensor([1, 2], 0.1, 0, "qint8")
    assert a.equal(QTensor.per_tensor([1, 2], 0.1, 0, "qint8"))
    assert not a.equal(QTensor.per_tensor([1, 2], np.nextafter(0.1, 1), 0, "qint8"))
    assert not a.equal(QTensor.per_tensor([1, 3], 0.1, 0, "qint8"))
    assert not a.equal(QTensor.per_tensor([1, 2], 0.1, 0, "quint8"))
