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
from qemu.ops.common import layout
from qemu.testing import assert_bitexact, cases, seeded_rng

torch = pytest.importorskip("torch")
from qemu.backends.torch.elementwise import torch_tensor  # noqa: E402


def _input(rng, dtypes=QTYPES):
    dtype = draw_dtype(rng, dtypes)
    shape = draw_shape(rng)
    x = draw_qtensor(rng, shape, dtype)
    return x, {"memory_format": draw_layout(rng, len(shape))}, 1 + int(rng.integers(2))


def _bound(rng, x):
    """A float bound on a code, between codes, or far outside the range."""
    kind = rng.integers(3)
    if kind == 0:
        return float((int(rng.integers(-300, 300)) - x.q_zero_point()) * x.q_scale())
    if kind == 1:
        return float((rng.integers(-300, 300) + 0.5) * x.q_scale())
    return float(rng.normal() * 10)


def _args(op, rng, x):
    if op in ("relu", "relu6", "hardsigmoid"):
        return ()
    if op == "hardtanh":
        low, high = sorted([_bound(rng, x), _bound(rng, x)])
        return (low, high) if rng.random() < 0.9 else (high, low)
    if op == "clamp":
        low, high = _bound(rng, x), _bound(rng, x)
        choice = rng.integers(4)
        return (low, None) if choice == 0 else (None, high) if choice == 1 else (low, high)
    if op == "leaky_relu":
        slope = float(rng.choice([0.01, 0.1, 0.2, -0.5, 1.5, rng.normal()]))
        if rng.random() < 0.3:
            return (slope,)
        return (slope, draw_scale(rng), draw_zero_point(rng, x.dtype))
    if op == "threshold":
        return (_bound(rng, x), _bound(rng, x))
    if op == "hardswish":
        return (
            draw_scale(rng) if rng.random() < 0.7 else x.q_scale(),
            draw_zero_point(rng, x.dtype),
        )
    raise AssertionError(op)


OPS = ["relu", "relu6", "hardtanh", "clamp", "leaky_relu", "threshold", "hardswish", "hardsigmoid"]


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("engine", ENGINES)
def test_activation(op, engine):
    rng = seeded_rng("activation", op, engine)
    for _ in range(cases(40)):
        x, kwargs, threads = _input(rng)
        check_against_torch(getattr(ops, op), (x, *_args(op, rng, x)), kwargs, engine, threads)


@pytest.mark.parametrize("op", ["hardswish", "hardsigmoid"])
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
