"""linear_dynamic and linear_relu_dynamic without torch: a hand-derived value on each
engine, refused arguments, and the numba kernels against the reference."""

from __future__ import annotations

import numpy as np
import pytest
from dynamic.linear_cases import (
    INT8_KINDS,
    case_rng,
    draw_bias,
    draw_int8_weight,
    draw_shape,
    draw_values,
)

import qemu
import qemu.ops
from qemu.numerics.float32 import fma_f32
from qemu.qparams import choose_qparams_dynamic
from qemu.testing import assert_bitexact, cases


def test_hand_derived_value_fbgemm_and_qnnpack():
    x = np.float32([[0.3, -1.2, 2.5]])
    w = qemu.QTensor.per_tensor([[10, -20, 30]], 0.05, 2, "qint8")
    bias = np.float32([0.125])
    for engine, reduce_range in (("fbgemm", True), ("qnnpack", False)):
        scale, zero_point = choose_qparams_dynamic(-1.2, 2.5, 0, 255, reduce_range)
        inverse = np.float32(1) / np.float32(scale)
        codes = np.clip(np.rint(fma_f32(x[0], inverse, np.float32(zero_point))), 0, 255)
        acc = int(np.dot(codes - zero_point, np.array([10, -20, 30]) - 2))
        multiplier = np.float32(np.float32(scale) * np.float32(0.05))
        if engine == "fbgemm":
            expected = fma_f32(np.float32(acc), multiplier, bias[0])
        else:
            expected = np.float32(multiplier * np.float32(acc)) + bias[0]
        # qnnpack ignores reduce_range=True; fbgemm honours it.
        out = qemu.ops.linear_dynamic(x, w, bias, True, engine=engine)
        assert_bitexact(out, np.float32([[expected]]), engine)


def test_relu_after_the_bias():
    x = np.float32([[1.0, -1.0]])
    w = qemu.QTensor.per_tensor([[100, 100]], 0.01, 0, "qint8")
    out = qemu.ops.linear_relu_dynamic(x, w, np.float32([-0.5]))
    assert out.tolist() == [[0.0]]


@pytest.mark.parametrize(
    "x, weight, error, match",
    [
        (np.float32([[np.nan, 1.0]]), None, ValueError, "finite"),
        (np.float32([[np.inf, 1.0]]), None, ValueError, "finite"),
        (
            np.float32([[1.0, 2.0]]),
            qemu.QTensor.per_tensor([[1, 2]], 0.1, 0, "quint8"),
            TypeError,
            "qint8",
        ),
        (np.float32([[1.0, 2.0]]), np.float32([[1, 2]]), TypeError, "QTensor"),
        (
            np.float32([[1.0, 2.0]]),
            qemu.QTensor.per_channel([[1, 2]], [0.1, 0.2], [0, 0], 1, "qint8"),
            ValueError,
            "axis 0",
        ),
        (np.float32([[1.0, 2.0, 3.0]]), None, ValueError, "in_features"),
    ],
)
def test_bad_arguments_are_refused(x, weight, error, match):
    if weight is None:
        weight = qemu.QTensor.per_tensor([[1, 2]], 0.1, 0, "qint8")
    with pytest.raises(error, match=match):
        qemu.ops.linear_dynamic(x, weight)


def test_reduce_range_must_be_a_bool():
    w = qemu.QTensor.per_tensor([[1, 2]], 0.1, 0, "qint8")
    with pytest.raises(TypeError, match="reduce_range"):
        qemu.ops.linear_dynamic(np.float32([[1, 2]]), w, None, 1)


def test_qnnpack_refuses_a_subnormal_requantization_scale():
    # torch: "requantization scale must be finite and positive" (qnnpack checks isnormal).
    w = qemu.QTensor.per_tensor([[1, 2]], 1e-39, 0, "qint8")
    with pytest.raises(ValueError, match="requantization scale"):
        qemu.ops.linear_dynamic(np.float32([[1, 2]]), w, engine="qnnpack")
    qemu.ops.linear_dynamic(np.float32([[1, 2]]), w, engine="fbgemm")  # fbgemm takes it


def test_empty_batch():
    w = qemu.QTensor.per_tensor([[1, 2]], 0.1, 0, "qint8")
    assert qemu.ops.linear_dynamic(np.zeros((0, 2), np.float32), w).shape == (0, 1)


@pytest.mark.parametrize("per_channel, reduce_range", INT8_KINDS)
@pytest.mark.parametrize("engine", qemu.engines.names())
def test_numba_equals_numpy(engine, per_channel, reduce_range):
    pytest.importorskip("numba")
    rng = case_rng("linear_int8_numba", engine, per_channel, reduce_range)
    for i in range(cases(5)):
        m, k, n = draw_shape(rng)
        x = draw_values(rng, (m, k))
        w = draw_int8_weight(rng, n, k, per_channel)
        b = draw_bias(rng, n, specials=True)
        op = (qemu.ops.linear_dynamic, qemu.ops.linear_relu_dynamic)[i % 2]
        assert_bitexact(
            op(x, w, b, reduce_range, engine=engine, backend="numba"),
            op(x, w, b, reduce_range, engine=engine, backend="numpy"),
            f"{op.__name__} {m}x{k}x{n}",
        )


def test_no_output_features():
    # fbgemm returns an empty (M, 0) output; qnnpack's kernel dies with SIGFPE.
    w = qemu.QTensor.per_tensor(np.zeros((0, 2), np.int8), 0.1, 0, "qint8")
    x = np.float32([[1, 2]])
    assert qemu.ops.linear_dynamic(x, w, engine="fbgemm").shape == (1, 0)
    with pytest.raises(ValueError, match="SIGFPE"):
        qemu.ops.linear_dynamic(x, w, engine="qnnpack")
