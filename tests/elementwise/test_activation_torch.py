"""Activations against torch on every engine, numpy and numba backends: relu, relu6,
hardtanh, clamp, leaky_relu, threshold, hardswish, hardsigmoid."""

import numpy as np
import pytest
from elementwise.cases import (
    ENGINES,
    QTYPES,
    check_against_torch,
    draw_dtype,
    draw_layout,
    draw_qtensor,
    draw_scale,
    draw_shape,
    draw_zero_point,
)

import qemu.ops as ops
from qemu import QTensor, from_torch
from qemu.dtypes import QINT8
from qemu.golden.cases.activation import draw_bound
from qemu.ops.common import layout
from qemu.testing import assert_bitexact, cases, seeded_rng

torch = pytest.importorskip("torch")
from qemu.backends.torch_backend.elementwise import torch_tensor  # noqa: E402


def _input(rng, dtypes=QTYPES):
    dtype = draw_dtype(rng, dtypes)
    shape = draw_shape(rng)
    x = draw_qtensor(rng, shape, dtype)
    return x, {"memory_format": draw_layout(rng, len(shape))}, 1 + int(rng.integers(2))


def _args(op, rng, x):
    if op in ("relu", "relu6", "hardsigmoid", "tanh"):
        return ()
    if op == "sigmoid":  # torch.sigmoid, or quantized::sigmoid with output qparams
        return () if rng.random() < 0.5 else (draw_scale(rng), draw_zero_point(rng, x.dtype))
    if op in ("elu", "celu"):
        alpha = float(rng.choice([1.0, 0.5, 2.0, rng.normal()]))
        return (draw_scale(rng), draw_zero_point(rng, x.dtype), alpha or 1.0)
    if op == "gelu":
        return ("none",) if rng.random() < 0.7 else ("tanh",)
    if op == "hardtanh":
        low, high = sorted([draw_bound(rng, x), draw_bound(rng, x)])
        return (low, high) if rng.random() < 0.9 else (high, low)
    if op == "clamp":
        low, high = draw_bound(rng, x), draw_bound(rng, x)
        choice = rng.integers(4)
        return (low, None) if choice == 0 else (None, high) if choice == 1 else (low, high)
    if op == "leaky_relu":
        slope = float(rng.choice([0.01, 0.1, 0.2, -0.5, 1.5, rng.normal()]))
        if rng.random() < 0.3:
            return (slope,)
        return (slope, draw_scale(rng), draw_zero_point(rng, x.dtype))
    if op == "threshold":
        return (draw_bound(rng, x), draw_bound(rng, x))
    if op == "hardswish":
        return (
            draw_scale(rng) if rng.random() < 0.7 else x.q_scale(),
            draw_zero_point(rng, x.dtype),
        )
    raise AssertionError(op)


OPS = [
    "relu",
    "relu6",
    "hardtanh",
    "clamp",
    "leaky_relu",
    "threshold",
    "hardswish",
    "hardsigmoid",
    "sigmoid",
    "tanh",
    "elu",
    "celu",
    "gelu",
]


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("engine", ENGINES)
def test_activation(op, engine):
    rng = seeded_rng("activation", op, engine)
    for _ in range(cases(12)):
        x, kwargs, threads = _input(rng)
        check_against_torch(getattr(ops, op), (x, *_args(op, rng, x)), kwargs, engine, threads)


@pytest.mark.parametrize("op", ["hardswish", "hardsigmoid", "sigmoid", "tanh"])
def test_qnnpack_lookup_tables_every_code(op):
    """All 256 codes through QNNPACK's tables, over many input/output qparams."""
    rng = seeded_rng("qnnpack_lut", op)
    for _ in range(cases(200)):
        x = QTensor.per_tensor(np.arange(256), draw_scale(rng), int(rng.integers(256)), "quint8")
        args = (x, *_args(op, rng, x))
        check_against_torch(getattr(ops, op), args, {}, "qnnpack")


@pytest.mark.parametrize("engine", ["fbgemm", "qnnpack"])
def test_leaky_relu_functional_keeps_qparams(engine):
    """F.leaky_relu without scale equals quantized::leaky_relu with the input's qparams."""
    rng = seeded_rng("leaky_relu_functional", engine)
    torch.backends.quantized.engine = engine
    torch.set_num_threads(1)
    for _ in range(cases(20)):
        x, kwargs, _threads = _input(rng)
        expected = ops.leaky_relu(x, 0.2, engine=engine, backend="numpy", **kwargs)
        order = layout(kwargs["memory_format"], x.ndim)
        got = torch.nn.functional.leaky_relu(torch_tensor(x, order), 0.2)
        assert_bitexact(from_torch(got), expected, "F.leaky_relu")


SOFTMAX_SHAPES = [
    (0,),
    (1,),
    (7,),
    (15,),
    (16,),
    (17,),
    (33,),
    (100,),
    (3, 5),
    (4, 31),
    (2, 3, 64),
    (2, 0, 3),
    (3, 1, 9),
    (2, 3, 5, 17),
    (1, 8, 4, 4),
    (2, 5, 3, 2, 7),
    (4, 5, 1),
    (2, 300),
    (513,),
    (2, 1024),
]
SOFTMAX_BIG_SHAPES = [(2, 40, 20, 21), (64, 3, 200), (3, 25000), (40000,)]


def _softmax_case(rng):
    dtype = draw_dtype(rng)
    shape = draw_shape(rng, 0.08, SOFTMAX_SHAPES, SOFTMAX_BIG_SHAPES)
    if rng.random() < 0.05:
        shape = ()
    x = draw_qtensor(rng, shape, dtype)
    if rng.random() < 0.1 and x.size:  # flat rows: QNNPACK's table sums wrap
        x = QTensor.per_tensor(
            np.full(shape, x.codes.reshape(-1)[0]), x.q_scale(), x.q_zero_point(), dtype
        )
    rank = max(len(shape), 1)
    dim = int(rng.integers(-rank, rank))
    if rng.random() < 0.5:
        scale, zero_point = 2.0**-8, 0 if dtype != QINT8 else int(rng.integers(-128, 1))
    else:
        scale, zero_point = draw_scale(rng), draw_zero_point(rng, dtype)
    kwargs = {"memory_format": draw_layout(rng, len(shape))}
    return (x, dim, scale, zero_point), kwargs, 1 + int(rng.integers(2))


@pytest.mark.parametrize("engine", ENGINES)
def test_softmax(engine):
    rng = seeded_rng("softmax", engine)
    for _ in range(cases(40)):
        args, kwargs, threads = _softmax_case(rng)
        check_against_torch(ops.softmax, args, kwargs, engine, threads)
