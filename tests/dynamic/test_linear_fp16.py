"""linear_dynamic_fp16 and its relu fusion without torch: errors, a hand-checked
value, and the numba kernels against the reference."""

from __future__ import annotations

import numpy as np
import pytest
from dynamic.linear_cases import case_rng, draw_bias, draw_shape, draw_values

import qemu.ops
from qemu.numerics.fp16 import saturate_to_fp16
from qemu.testing import assert_bitexact, cases


def test_hand_checked_value_and_bias_order():
    x = np.float32([[1.0, 2.0, 3.0]])
    w = np.float32([[0.5, 0.25, 1e6]])  # 1e6 saturates to 65504 in the fp16 weight
    out = qemu.ops.linear_dynamic_fp16(x, w, np.float32([-1.0]), engine="fbgemm")
    assert out.tolist() == [[np.float32(np.float32(0.5 + 0.5 + 3 * 65504.0) - 1.0)]]


def test_relu_keeps_negative_zero_and_nan():
    x = np.float32([[-1.0], [np.nan], [-2.0]])
    w = np.float32([[0.0], [1.0]])
    out = qemu.ops.linear_relu_dynamic_fp16(x, w, engine="fbgemm")
    bits = out.view(np.uint32)
    assert bits[0, 0] == 0x80000000 and out[0, 1] == 0  # -1 * 0 = -0.0 survives relu
    assert np.isnan(out[1]).all() and out[2, 1] == 0


def test_float16_weight_means_the_same_weight():
    rng = case_rng("fp16_weight_dtype")
    x = rng.normal(0, 1, (3, 5)).astype(np.float32)
    w = rng.normal(0, 1, (4, 5)).astype(np.float32)
    assert_bitexact(
        qemu.ops.linear_dynamic_fp16(x, saturate_to_fp16(w)),
        qemu.ops.linear_dynamic_fp16(x, w),
    )


def test_qnnpack_has_no_fp16_linear():
    x = np.zeros((1, 2), np.float32)
    w = np.zeros((3, 2), np.float32)
    for op in (qemu.ops.linear_dynamic_fp16, qemu.ops.linear_relu_dynamic_fp16):
        with pytest.raises(ValueError, match="qnnpack"):
            op(x, w, engine="qnnpack")


@pytest.mark.parametrize(
    "x, w, bias, error, match",
    [
        (np.zeros(3, np.float32), np.zeros((2, 3), np.float32), None, ValueError, "2 dimensions"),
        (np.zeros((1, 3), np.float64), np.zeros((2, 3), np.float32), None, TypeError, "float32"),
        (np.zeros((1, 3), np.float32), np.zeros(3, np.float32), None, ValueError, "2-D"),
        (
            np.zeros((1, 3), np.float32),
            np.zeros((2, 4), np.float32),
            None,
            ValueError,
            "in_features",
        ),
        (
            np.zeros((1, 0), np.float32),
            np.zeros((2, 0), np.float32),
            None,
            ValueError,
            "uninitialized",
        ),
        (
            np.zeros((1, 3), np.float32),
            np.zeros((2, 3), np.float32),
            np.zeros(3, np.float32),
            ValueError,
            "bias",
        ),
        (np.zeros((1, 3), np.float32), np.zeros((2, 3), np.int8), None, TypeError, "weight"),
    ],
)
def test_bad_arguments_are_refused(x, w, bias, error, match):
    with pytest.raises(error, match=match):
        qemu.ops.linear_dynamic_fp16(x, w, bias)


def test_empty_batch_and_batched_shapes():
    w = np.ones((3, 2), np.float32)
    assert qemu.ops.linear_dynamic_fp16(np.zeros((0, 2), np.float32), w).shape == (0, 3)
    x = np.ones((2, 4, 2), np.float32)
    assert qemu.ops.linear_dynamic_fp16(x, w).shape == (2, 4, 3)


@pytest.mark.parametrize("engine", ["fbgemm", "fbgemm-avx2"])
def test_numba_equals_numpy(engine):
    pytest.importorskip("numba")
    rng = case_rng("linear_fp16_numba", engine)
    for _ in range(cases(30)):
        m, k, n = draw_shape(rng, max_k=1100)
        x = draw_values(rng, (m, k), specials=rng.random() < 0.3)
        w = draw_values(rng, (n, k))
        b = draw_bias(rng, n, specials=rng.random() < 0.3)
        for op in (qemu.ops.linear_dynamic_fp16, qemu.ops.linear_relu_dynamic_fp16):
            assert_bitexact(
                op(x, w, b, engine=engine, backend="numba"),
                op(x, w, b, engine=engine, backend="numpy"),
                f"{op.__name__} {m}x{k}x{n}",
            )


def test_no_output_features():
    out = qemu.ops.linear_dynamic_fp16(np.float32([[1, 2]]), np.zeros((0, 2), np.float32))
    assert out.shape == (1, 0)
