"""Dynamic linear against torch on every engine, for the numpy and numba backends.

The acceptance soak of issue 4 (10,000 random cases per engine and kind)::

    QEMU_SOAK=10000 .venv/bin/python -m pytest tests/dynamic/test_linear_dynamic_torch.py
"""

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
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import qemu
import qemu.ops
from qemu.testing import assert_bitexact, cases

torch = pytest.importorskip("torch")

ENGINES = qemu.engines.names()
FBGEMM_ENGINES = [name for name in ENGINES if qemu.engines.get(name).is_fbgemm]
EMULATORS = ("numpy", "numba")
FP16_OPS = (qemu.ops.linear_dynamic_fp16, qemu.ops.linear_relu_dynamic_fp16)
INT8_OPS = (qemu.ops.linear_dynamic, qemu.ops.linear_relu_dynamic)


def check_int8(x, w, b, reduce_range, engine, relu):
    op = INT8_OPS[relu]
    expected = op(x, w, b, reduce_range, engine=engine, backend="torch")
    for backend in EMULATORS:
        actual = op(x, w, b, reduce_range, engine=engine, backend=backend)
        assert_bitexact(actual, expected, f"{backend} {op.__name__}")


@pytest.mark.parametrize("per_channel, reduce_range", INT8_KINDS)
@pytest.mark.parametrize("engine", ENGINES)
def test_int8_random_cases(engine, per_channel, reduce_range):
    rng = case_rng("torch_linear_int8", engine, per_channel, reduce_range)
    for i in range(cases(10)):
        m, k, n = draw_shape(rng)
        x = draw_values(rng, (m, k))
        w = draw_int8_weight(rng, n, k, per_channel)
        check_int8(x, w, draw_bias(rng, n), reduce_range, engine, relu=bool(i % 2))


@pytest.mark.parametrize("engine", ENGINES)
def test_int8_pair_saturation_and_zero_points(engine):
    # Activations at the top of the uint8 range against weights at the ends of the
    # int8 range: every k pair overflows int16 on AVX2/AVX512 kernels (not with VNNI).
    rng = case_rng("torch_linear_int8_saturation", engine)
    x = rng.uniform(0.9, 1.0, (5, 64)).astype(np.float32)
    x[:, 0] = 0.0
    codes = rng.choice(np.int8([-128, 127, -127]), (9, 64))
    for w in (
        qemu.QTensor.per_tensor(codes, 0.01, 0, "qint8"),
        qemu.QTensor.per_tensor(codes.clip(-118, 117), 0.01, 10, "qint8"),
        qemu.QTensor.per_channel(codes, np.full(9, 0.02), np.arange(-4, 5), 0, "qint8"),
    ):
        for reduce_range in (False, True):
            check_int8(
                x, w, rng.normal(0, 1, 9).astype(np.float32), reduce_range, engine, relu=False
            )


def check_fp16(x, w, b, engine, relu):
    op = FP16_OPS[relu]
    expected = op(x, w, b, engine=engine, backend="torch")
    for backend in EMULATORS:
        assert_bitexact(
            op(x, w, b, engine=engine, backend=backend), expected, f"{backend} {op.__name__}"
        )


@pytest.mark.parametrize("engine", FBGEMM_ENGINES)
def test_fp16_random_cases(engine):
    rng = case_rng("torch_linear_fp16", engine)
    for i in range(cases(40)):
        m, k, n = draw_shape(rng)
        x = draw_values(rng, (m, k), specials=i % 7 == 0)
        w = draw_values(rng, (n, k), specials=i % 11 == 0)
        b = draw_bias(rng, n, specials=i % 5 == 0)
        check_fp16(x, w, b, engine, relu=bool(i % 2))


float32_values = st.floats(width=32, allow_nan=True, allow_infinity=True, allow_subnormal=True)


@given(
    data=st.data(),
    m=st.integers(0, 9),
    k=st.integers(1, 40),
    n=st.integers(1, 40),
    relu=st.booleans(),
    with_bias=st.booleans(),
)
def test_fp16_hypothesis(data, m, k, n, relu, with_bias):
    x = data.draw(hnp.arrays(np.float32, (m, k), elements=float32_values), label="x")
    w = data.draw(hnp.arrays(np.float32, (n, k), elements=float32_values), label="w")
    b = (
        data.draw(hnp.arrays(np.float32, (n,), elements=float32_values), label="b")
        if with_bias
        else None
    )
    check_fp16(x, w, b, "fbgemm", relu)


def test_fp16_three_dimensional_input():
    rng = case_rng("torch_linear_fp16_3d")
    x = rng.normal(0, 1, (4, 3, 600)).astype(np.float32)
    w = rng.normal(0, 1, (20, 600)).astype(np.float32)
    check_fp16(x, w, rng.normal(0, 1, 20).astype(np.float32), "fbgemm-avx2", relu=False)
