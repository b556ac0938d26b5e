"""add / add_relu / mul / mul_relu / add_scalar(_relu) / mul_scalar(_relu) / cat(_relu)
against torch on every engine, numpy and numba backends.

Soak (the issue's acceptance run): ``QEMU_SOAK=10000 pytest tests/elementwise``.
"""

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
from qemu.dtypes import QINT8, QUINT8
from qemu.golden.cases.elementwise import broadcast_partner
from qemu.testing import cases, seeded_rng

torch = pytest.importorskip("torch")


def _binary_case(rng):
    dtype = draw_dtype(rng, QTYPES)
    shape = draw_shape(rng)
    partner = broadcast_partner(rng, shape)
    a_shape, b_shape = (shape, partner) if rng.random() < 0.7 else (partner, shape)
    qa = draw_qtensor(rng, a_shape, dtype)
    qb = draw_qtensor(rng, b_shape, dtype)
    if rng.random() < 0.3:  # same qparams: equal-scale ties
        qb = draw_qtensor(rng, b_shape, dtype, qa.q_scale(), qa.q_zero_point())
    kind = rng.integers(3)
    layouts = draw_layout(rng, len(a_shape))
    if kind == 1 and len(a_shape) == len(b_shape):
        layouts = (draw_layout(rng, len(a_shape)), draw_layout(rng, len(b_shape)))
    elif len(a_shape) != len(b_shape) or kind == 2:
        layouts = (draw_layout(rng, len(a_shape)), draw_layout(rng, len(b_shape)))
    scale = draw_scale(rng) if rng.random() < 0.6 else qa.q_scale() * 2.0 ** rng.integers(-1, 2)
    zero_point = draw_zero_point(rng, dtype)
    threads = 1 + int(rng.integers(2))
    return (qa, qb, scale, zero_point), {"memory_format": layouts}, threads


@pytest.mark.parametrize("op", ["add", "add_relu", "mul", "mul_relu"])
@pytest.mark.parametrize("engine", ENGINES)
def test_binary_ops(op, engine):
    rng = seeded_rng("elementwise", op, engine)
    for _ in range(cases(12)):
        args, kwargs, threads = _binary_case(rng)
        check_against_torch(getattr(ops, op), args, kwargs, engine, threads)


@pytest.mark.parametrize("engine", ENGINES)
def test_qnnpack_add_paths(engine):
    """quint8, equal shapes, scale ratios around QNNPACK's limits and add_relu with zo
    at the top of the range: QNNPACK's fixed-point kernel or its refusals."""
    rng = seeded_rng("qnnpack_add", engine)
    for _ in range(cases(12)):
        shape = draw_shape(rng)
        qa = draw_qtensor(rng, shape, QUINT8)
        qb = draw_qtensor(rng, shape, qa.dtype)
        ratio = 2.0 ** rng.uniform(-16, 10)
        scale = qa.q_scale() / ratio
        zero_point = int(rng.choice([0, 128, 254, 255, int(rng.integers(256))]))
        op = ops.add_relu if rng.random() < 0.5 else ops.add
        check_against_torch(op, (qa, qb, scale, zero_point), {}, engine, 1 + int(rng.integers(2)))


@pytest.mark.parametrize("op", ["add_scalar", "add_scalar_relu", "mul_scalar", "mul_scalar_relu"])
@pytest.mark.parametrize("engine", ENGINES)
def test_scalar_ops(op, engine):
    rng = seeded_rng("elementwise", op, engine)
    for _ in range(cases(12)):
        dtype = draw_dtype(rng, QTYPES)
        shape = draw_shape(rng)
        qa = draw_qtensor(rng, shape, dtype)
        kind = rng.integers(5)
        if kind == 0:
            other = 0.0
        elif kind == 1:  # lands on the range ends, forcing requantization
            other = float(qa.q_scale() * rng.integers(-400, 400))
        elif kind == 2:
            other = float(rng.normal() * 1e3)
        else:
            other = float(rng.normal() * qa.q_scale() * 50)
        if op.startswith("mul"):
            other = float(rng.choice([0.0, rng.normal(), -abs(rng.normal()), 2.0, -1.0]))
        memory_format = draw_layout(rng, len(shape))
        check_against_torch(
            getattr(ops, op),
            (qa, other),
            {"memory_format": memory_format},
            engine,
            1 + int(rng.integers(2)),
        )


CAT_SHAPES = [(1, 3, 2, 2), (2, 33, 3, 2), (2, 8, 1, 1), (1, 70, 2, 3), (3, 5), (4,), (2, 3, 4)]


@pytest.mark.parametrize("op", ["cat", "cat_relu"])
@pytest.mark.parametrize("engine", ENGINES)
def test_cat(op, engine):
    rng = seeded_rng("elementwise", op, engine)
    for _ in range(cases(12)):
        dtype = draw_dtype(rng, QTYPES)
        base = CAT_SHAPES[rng.integers(len(CAT_SHAPES))]
        ndim = len(base)
        dim = int(rng.integers(-ndim, ndim))
        if ndim == 4 and rng.random() < 0.6:
            dim = 1  # the NHWC fast path when channels-last
        axis = dim % ndim
        qxs = []
        for _i in range(1 + int(rng.integers(3))):
            shape = list(base)
            shape[axis] = int(rng.integers(1, 45 if axis == 1 else 4))
            if rng.random() < 0.3 and qxs:
                qxs.append(
                    draw_qtensor(rng, tuple(shape), dtype, qxs[0].q_scale(), qxs[0].q_zero_point())
                )
            else:
                qxs.append(draw_qtensor(rng, tuple(shape), dtype))
        scale = None if rng.random() < 0.2 else draw_scale(rng)
        zero_point = None if scale is None else draw_zero_point(rng, dtype)
        memory_format = "channels_last" if ndim == 4 and rng.random() < 0.7 else "contiguous"
        check_against_torch(
            getattr(ops, op),
            (qxs, dim, scale, zero_point),
            {"memory_format": memory_format},
            engine,
        )


@pytest.mark.parametrize("engine", ["fbgemm", "qnnpack"])
def test_thread_split_changes_add(engine):
    """Past 32,768 elements torch splits the loop per thread; the scalar tail of each
    chunk moves, and qemu follows the thread count."""
    rng = seeded_rng("threads_split", engine)
    shape = (70001,)
    qa = draw_qtensor(rng, shape, QINT8, 0.5, 3)  # qint8: ATen kernel on every engine
    qb = draw_qtensor(rng, shape, qa.dtype, 0.25, 7)
    one = check_against_torch(ops.add, (qa, qb, 1.0, 5), {}, engine, 1)
    two = check_against_torch(ops.add, (qa, qb, 1.0, 5), {}, engine, 2)
    assert np.any(one.codes != two.codes)
