"""Golden cases of the binary and scalar elementwise ops (``add``, ``mul``, their relu
and scalar variants), ``cat`` / ``cat_relu`` and ``matmul``: every dtype, broadcast
partners, memory layouts, tie-heavy power-of-two scales, equal qparams, zero points
at the ends of the range, empty and 1-element tensors; one input past the 32,768
elements where ATen splits work between two threads."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from qemu.dtypes import QINT8, QINT32, QUINT8
from qemu.engines import Engine
from qemu.golden.cases import draws
from qemu.golden.cases.registry import CaseArguments, generator
from qemu.qtensor import QTensor

RANDOM_CASES = 12


def broadcast_partner(rng, shape):
    """A shape that broadcasts with ``shape``: equal, a suffix, or with ones."""
    kind = rng.integers(4)
    if kind == 0 or not shape:
        return shape
    if kind == 1:
        return shape[rng.integers(len(shape)) :]
    if kind == 2:
        return tuple(1 if rng.random() < 0.5 else s for s in shape)
    return tuple(1 for _ in shape)


@generator("add", "add_relu", "mul", "mul_relu")
def _binary_cases(rng: np.random.Generator, engine: Engine, op: str) -> Iterable[CaseArguments]:
    # Ties: equal power-of-two scales; zero points at the ends; extreme output scales.
    for dtype in (QUINT8, QINT8, QINT32):
        a = draws.draw_qtensor(rng, (2, 9), dtype, 0.5, dtype.qmin)
        b = draws.draw_qtensor(rng, (2, 9), dtype, 0.5, dtype.qmax if dtype != QINT32 else 7)
        yield [a, b, 0.5, dtype.qmin], {}
        yield [a, b, 1e-6, 0 if dtype.signed else dtype.qmax], {}
        yield [a, b, 1e6, 0], {}
    yield [draws.draw_qtensor(rng, (0,), QUINT8), draws.draw_qtensor(rng, (0,), QUINT8), 0.1, 3], {}
    yield [draws.draw_qtensor(rng, (1,), QINT8), draws.draw_qtensor(rng, (1,), QINT8), 0.1, 3], {}
    if op in ("add", "mul"):  # two threads on an input past ATen's 32,768-element grain
        # Every code pair in a regular pattern: the thread split depends on the count,
        # not the values, and a pattern keeps the shipped file small.
        count = np.arange(33000)
        big = QTensor.per_tensor(count % 256, 2.0**-3, 128, "quint8")
        other = QTensor.per_tensor(count // 256 % 256, 2.0**-3, 100, "quint8")
        yield [big, other, 2.0**-2, 128], {}, 2
    for _ in range(RANDOM_CASES):
        dtype = draws.draw_dtype(rng)
        shape = draws.draw_small_shape(rng)
        partner = broadcast_partner(rng, shape)
        a_shape, b_shape = (shape, partner) if rng.random() < 0.7 else (partner, shape)
        qa = draws.draw_qtensor(rng, a_shape, dtype)
        qb = draws.draw_qtensor(rng, b_shape, dtype)
        if rng.random() < 0.3:  # same qparams: equal-scale ties
            qb = draws.draw_qtensor(rng, b_shape, dtype, qa.q_scale(), qa.q_zero_point())
        layouts = (draws.draw_layout(rng, len(a_shape)), draws.draw_layout(rng, len(b_shape)))
        scale = (
            draws.draw_scale(rng)
            if rng.random() < 0.6
            else qa.q_scale() * 2.0 ** rng.integers(-1, 2)
        )
        yield [qa, qb, scale, draws.draw_zero_point(rng, dtype)], {"memory_format": layouts}


@generator("add_scalar", "add_scalar_relu", "mul_scalar", "mul_scalar_relu")
def _scalar_cases(rng: np.random.Generator, engine: Engine, op: str) -> Iterable[CaseArguments]:
    for dtype in (QUINT8, QINT8, QINT32):
        x = draws.draw_qtensor(rng, (2, 9), dtype, 0.25, dtype.qmax if dtype != QINT32 else 5)
        for other in (0.0, 0.125, -0.375, 1e6, -1e-7, 3.0):
            yield [x, other], {}
    yield [draws.draw_qtensor(rng, (0,), QUINT8), 1.5], {}
    yield [draws.draw_qtensor(rng, (1,), QINT8, 2.0**-4, -128), -2.0], {}
    for _ in range(RANDOM_CASES):
        dtype = draws.draw_dtype(rng)
        shape = draws.draw_small_shape(rng)
        x = draws.draw_qtensor(rng, shape, dtype)
        other = float(rng.choice([rng.normal() * 4, x.q_scale() * rng.integers(-5, 6) * 0.5]))
        yield [x, other], {"memory_format": draws.draw_layout(rng, len(shape))}


@generator("cat", "cat_relu")
def _cat_cases(rng: np.random.Generator, engine: Engine, op: str) -> Iterable[CaseArguments]:
    for dtype in (QUINT8, QINT8, QINT32):
        a = draws.draw_qtensor(rng, (2, 3), dtype, 0.5, dtype.qmin)
        b = draws.draw_qtensor(rng, (2, 5), dtype, 0.25, 0)
        yield [[a, b], 1, 0.5, 0], {}  # requantized, ties
        yield [[a, a], 0, None, None], {}  # the first input's qparams: codes copied
    yield [[draws.draw_qtensor(rng, (0, 4), QUINT8, 0.1, 3)] * 2, 0, 0.1, 3], {}
    yield [[draws.draw_qtensor(rng, (1,), QUINT8, 0.1, 3)], 0, 1e-6, 255], {}
    for _ in range(RANDOM_CASES):
        dtype = draws.draw_dtype(rng)
        shape = draws.draw_small_shape(rng, [s for s in draws.SMALL_SHAPES if len(s) >= 1])
        dim = int(rng.integers(-len(shape), len(shape)))
        parts = []
        for _ in range(int(rng.integers(1, 4))):
            part_shape = list(shape)
            part_shape[dim] = int(rng.integers(0, 4))
            same = parts and rng.random() < 0.4
            qparams = (parts[0].q_scale(), parts[0].q_zero_point()) if same else (None, None)
            parts.append(draws.draw_qtensor(rng, tuple(part_shape), dtype, *qparams))
        if rng.random() < 0.5:
            yield [parts, dim, draws.draw_scale(rng), draws.draw_zero_point(rng, dtype)], {}
        else:
            yield [parts, dim], {}


_MATMUL_SIZES = [0, 1, 2, 3, 5, 8, 9, 16, 17, 33]


@generator("matmul")
def _matmul_cases(rng: np.random.Generator, engine: Engine) -> Iterable[CaseArguments]:
    a = draws.draw_qtensor(rng, (3, 4), QUINT8, 0.5, 0)
    b = draws.draw_qtensor(rng, (4, 2), QUINT8, 0.5, 255)
    for scale, zero_point in [(0.5, 0), (0.25, 255), (1e-6, 128), (1e6, 0)]:
        yield [a, b, scale, zero_point], {}
    yield (
        [draws.draw_qtensor(rng, (1, 1), QINT8), draws.draw_qtensor(rng, (1, 1), QINT8), 0.1, 0],
        {},
    )
    yield (
        [draws.draw_qtensor(rng, (0, 3), QINT8), draws.draw_qtensor(rng, (3, 2), QINT8), 0.1, 0],
        {},
    )
    for _ in range(RANDOM_CASES):
        dtype = draws.draw_dtype(rng, draws.QTYPES_8BIT)
        m, k, n = (int(rng.choice(_MATMUL_SIZES)) for _ in range(3))
        if rng.random() < 0.2:
            k = int(rng.choice([191, 192, 193]))
        batch = [(), (), (1,), (2,), (2, 3)][rng.integers(5)]
        batch_b = tuple(1 if rng.random() < 0.3 else d for d in batch)
        qa = draws.draw_qtensor(rng, batch + (m, k), dtype)
        qb = draws.draw_qtensor(rng, batch_b + (k, n), dtype)
        if rng.random() < 0.5:
            scale = draws.draw_scale(rng)
        else:  # near the products' spread, so few codes saturate
            scale = qa.q_scale() * qb.q_scale() * max(k, 1) ** 0.5 * 40
        yield [qa, qb, float(scale), int(rng.integers(dtype.qmin, dtype.qmax + 1))], {}
