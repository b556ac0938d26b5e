"""quantize_per_tensor / quantize_per_channel / dequantize against torch, on every
engine, for the numpy and numba backends.

``QEMU_SOAK=100000 pytest tests/foundation/test_quantize_torch.py`` is the soak of
the foundation issue (100,000 random cases per engine, dtype and scheme).
"""

import numpy as np
import pytest
from foundation.quantize_cases import (
    SHAPES,
    draw_channel_params,
    draw_scale,
    draw_values,
    draw_zero_point,
)
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import qemu
from qemu.dtypes import QDTYPES
from qemu.numerics.affine import quantize_fbgemm, quantize_val
from qemu.testing import assert_bitexact, cases, seeded_rng

torch = pytest.importorskip("torch")

ENGINES = qemu.engines.names()
EMULATORS = ("numpy", "numba")
PER_CHANNEL = [
    ("quint8", False),
    ("qint8", False),
    ("qint32", False),
    ("quint8", True),
    ("qint8", True),
    ("quint4x2", True),
    ("quint2x4", True),
]


def check_per_tensor(x, scale, zero_point, dtype, engine):
    expected = qemu.quantize_per_tensor(x, scale, zero_point, dtype, engine=engine, backend="torch")
    expected_values = expected.dequantize(engine=engine, backend="torch")
    for backend in EMULATORS:
        actual = qemu.quantize_per_tensor(
            x, scale, zero_point, dtype, engine=engine, backend=backend
        )
        assert_bitexact(actual, expected, f"{backend} quantize_per_tensor")
        assert_bitexact(
            actual.dequantize(engine=engine, backend=backend),
            expected_values,
            f"{backend} dequantize",
        )


def check_per_channel(x, scales, zero_points, axis, dtype, engine):
    expected = qemu.quantize_per_channel(
        x, scales, zero_points, axis, dtype, engine=engine, backend="torch"
    )
    expected_values = expected.dequantize(engine=engine, backend="torch")
    for backend in EMULATORS:
        actual = qemu.quantize_per_channel(
            x, scales, zero_points, axis, dtype, engine=engine, backend=backend
        )
        assert_bitexact(actual, expected, f"{backend} quantize_per_channel")
        assert_bitexact(
            actual.dequantize(engine=engine, backend=backend),
            expected_values,
            f"{backend} dequantize",
        )


@pytest.mark.parametrize("dtype", list(QDTYPES))
@pytest.mark.parametrize("engine", ENGINES)
def test_per_tensor_random_cases(engine, dtype):
    qdtype = QDTYPES[dtype]
    rng = seeded_rng("torch_quantize_per_tensor", engine, dtype)
    for i in range(cases(100)):
        scale, zero_point = draw_scale(rng), draw_zero_point(rng, qdtype)
        x = draw_values(rng, SHAPES[i % len(SHAPES)], scale, zero_point, qdtype)
        check_per_tensor(x, scale, zero_point, dtype, engine)


@pytest.mark.parametrize("dtype, float_qparams", PER_CHANNEL)
@pytest.mark.parametrize("engine", ENGINES)
def test_per_channel_random_cases(engine, dtype, float_qparams):
    qdtype = QDTYPES[dtype]
    rng = seeded_rng("torch_quantize_per_channel", engine, dtype, float_qparams)
    for i in range(cases(60)):
        shape = SHAPES[1:][i % (len(SHAPES) - 1)]
        axis = int(rng.integers(len(shape)))
        scales, points = draw_channel_params(rng, shape[axis], qdtype, float_qparams)
        x = draw_values(rng, shape, float(scales.max(initial=1.0)), 0, qdtype)
        check_per_channel(x, scales, points, axis, dtype, engine)


float32_values = st.floats(width=32, allow_nan=True, allow_infinity=True, allow_subnormal=True)


@given(
    data=st.data(),
    dtype=st.sampled_from(["quint8", "qint8", "qint32", "quint4x2"]),
    scale=st.one_of(st.floats(1e-12, 1e12), st.integers(-30, 30).map(lambda e: 2.0**e)),
    shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=6),
)
def test_per_tensor_hypothesis(data, dtype, scale, shape):
    qdtype = QDTYPES[dtype]
    zero_point = data.draw(st.integers(qdtype.qmin, qdtype.qmax), label="zero_point")
    x = data.draw(hnp.arrays(np.float32, shape, elements=float32_values), label="x")
    check_per_tensor(x, scale, zero_point, dtype, "fbgemm")


def test_per_tensor_fma_where_the_roundings_disagree():
    # Inputs built so that one FMA rounding and two float roundings give different codes:
    # torch must side with the FMA (NUMERICS_A 1.1) on every one of them.
    rng = seeded_rng("fma_power")
    found = 0
    while found < cases(2000):
        scale = float(np.float32(10.0 ** rng.uniform(-3, 0)))
        zero_point = int(rng.integers(0, 256))
        k = rng.integers(-zero_point, 256 - zero_point, 4096)
        x = ((k + 0.5) * scale * (1 + rng.uniform(-1e-6, 1e-6, 4096))).astype(np.float32)
        differs = quantize_fbgemm(x, scale, zero_point, 0, 255) != quantize_val(
            x, scale, zero_point, 0, 255
        )
        if differs.any():
            check_per_tensor(x[differs], scale, zero_point, "quint8", "fbgemm")
            found += int(differs.sum())


def test_per_channel_two_roundings_where_the_fma_disagrees():
    rng = seeded_rng("two_rounding_power")
    found = 0
    while found < cases(1000):
        scale = float(np.float32(10.0 ** rng.uniform(-3, 0)))
        zero_point = int(rng.integers(-128, 128))
        k = rng.integers(-128 - zero_point, 128 - zero_point, 4096)
        x = ((k + 0.5) * scale * (1 + rng.uniform(-1e-6, 1e-6, 4096))).astype(np.float32)
        differs = quantize_fbgemm(x, scale, zero_point, -128, 127) != quantize_val(
            x, scale, zero_point, -128, 127
        )
        if differs.any():
            column = x[differs].reshape(-1, 1)
            check_per_channel(
                column, np.array([scale]), np.array([zero_point]), 1, "qint8", "fbgemm"
            )
            found += int(differs.sum())


def test_from_torch_and_to_torch_round_trip():
    x = torch.randn(3, 4, generator=torch.Generator().manual_seed(0))
    tensors = [
        torch.quantize_per_tensor(x, 0.05, 3, torch.quint8),
        torch.quantize_per_tensor(x, 0.05, -3, torch.qint8),
        torch.quantize_per_tensor(x, 0.05, 7, torch.qint32),
        torch.quantize_per_tensor(x, 0.3, 2, torch.quint4x2),
        torch.quantize_per_channel(
            x, torch.tensor([0.1, 0.2, 0.3]), torch.tensor([1, 2, 3]), 0, torch.quint8
        ),
        torch.quantize_per_channel(
            x, torch.tensor([0.1, 0.2, 0.3, 0.4]), torch.tensor([0.5, 1, 2, 3.5]), 1, torch.quint4x2
        ),
    ]
    for t in tensors:
        q = qemu.from_torch(t)
        back = q.to_torch()
        assert back.dtype == t.dtype and back.qscheme() == t.qscheme()
        assert torch.equal(back.int_repr(), t.int_repr())
        assert_bitexact(q.dequantize(), t.dequantize().numpy(), str(t.dtype))
    assert_bitexact(qemu.from_torch(x), x.numpy(), "float tensor")
