"""Golden cases of the quantized activations and softmax: every code of quint8 once
(qnnpack's lookup tables), bounds on codes, between codes and outside the range,
every dtype, memory layouts, tie-heavy scales, zero points at the ends, empty and
1-element tensors; softmax along every dimension, flat rows (QNNPACK's table sums)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from qemu.dtypes import QINT8, QUINT8
from qemu.engines import Engine
from qemu.golden.cases import draws
from qemu.golden.cases.registry import CaseArguments, generator
from qemu.qtensor import QTensor

ACTIVATIONS = ("relu", "relu6", "hardtanh", "clamp", "leaky_relu", "threshold", "hardswish",
               "hardsigmoid", "sigmoid", "tanh", "elu", "celu", "gelu")  # fmt: skip
RANDOM_CASES = 10


def draw_bound(rng, x):
    """A float bound on a code, between codes, or far outside the range."""
    kind = rng.integers(3)
    if kind == 0:
        return float((int(rng.integers(-300, 300)) - x.q_zero_point()) * x.q_scale())
    if kind == 1:
        return float((rng.integers(-300, 300) + 0.5) * x.q_scale())
    return float(rng.normal() * 10)


def _arguments(op, rng, x):
    """The op's arguments after the input."""
    if op in ("relu", "relu6", "hardsigmoid", "tanh"):
        return []
    if op == "sigmoid":  # torch.sigmoid, or quantized::sigmoid with output qparams
        return (
            []
            if rng.random() < 0.5
            else [draws.draw_scale(rng), draws.draw_zero_point(rng, x.dtype)]
        )
    if op in ("elu", "celu"):
        alpha = float(rng.choice([1.0, 0.5, 2.0, rng.normal()]))
        return [draws.draw_scale(rng), draws.draw_zero_point(rng, x.dtype), alpha or 1.0]
    if op == "gelu":
        return ["none"] if rng.random() < 0.7 else ["tanh"]
    if op == "hardtanh":
        low, high = sorted([draw_bound(rng, x), draw_bound(rng, x)])
        return [low, high]
    if op == "clamp":
        low, high = draw_bound(rng, x), draw_bound(rng, x)
        # Half with both bounds: torch's quantized clamp under qnnpack needs both.
        choice = rng.integers(4)
        return [low, None] if choice == 0 else [None, high] if choice == 1 else [low, high]
    if op == "leaky_relu":
        slope = float(rng.choice([0.01, 0.1, 0.2, -0.5, 1.5, rng.normal()]))
        if rng.random() < 0.3:
            return [slope]
        return [slope, draws.draw_scale(rng), draws.draw_zero_point(rng, x.dtype)]
    if op == "threshold":
        return [draw_bound(rng, x), draw_bound(rng, x)]
    if op == "hardswish":
        scale = draws.draw_scale(rng) if rng.random() < 0.7 else x.q_scale()
        return [scale, draws.draw_zero_point(rng, x.dtype)]
    raise ValueError(f"op: no activation arguments for {op!r}")


@generator(*ACTIVATIONS)
def _activation_cases(rng: np.random.Generator, engine: Engine, op: str) -> Iterable[CaseArguments]:
    every_code = np.arange(256)
    for scale, zero_point in [(2.0**-4, 128), (0.05, 0), (2.0**-2, 255)]:
        x = QTensor.per_tensor(every_code, scale, zero_point, "quint8")
        yield [x, *_arguments(op, rng, x)], {}
    x = QTensor.per_tensor(every_code - 128, 1e-5, -128, "qint8")
    yield [x, *_arguments(op, rng, x)], {}
    for shape in [(0,), (1,)]:
        x = draws.draw_qtensor(rng, shape, QINT8)
        yield [x, *_arguments(op, rng, x)], {}
    for _ in range(RANDOM_CASES):
        shape = draws.draw_small_shape(rng)
        x = draws.draw_qtensor(rng, shape, draws.draw_dtype(rng))
        yield [x, *_arguments(op, rng, x)], {"memory_format": draws.draw_layout(rng, len(shape))}


_SOFTMAX_SHAPES = [
    (0,),
    (1,),
    (7,),
    (64,),
    (65,),
    (3, 1, 9),
    (2, 3, 5, 17),
    (1, 8, 4, 4),
    (4, 5, 1),
    (2, 300),
]


@generator("softmax")
def _softmax_cases(rng: np.random.Generator, engine: Engine) -> Iterable[CaseArguments]:
    # qnnpack's output qparams (2^-8, 0) and others; a flat row; a scalar.
    x = QTensor.per_tensor(np.arange(256).reshape(4, 64), 2.0**-3, 128, "quint8")
    yield [x, 1, 2.0**-8, 0], {}
    yield [x, 0, 0.01, 255], {}
    yield [QTensor.per_tensor(np.full((2, 40), 200), 0.1, 10, "quint8"), -1, 2.0**-8, 0], {}
    yield [draws.draw_qtensor(rng, (), QUINT8), 0, 2.0**-8, 0], {}
    yield [draws.draw_qtensor(rng, (0, 3), QUINT8), 1, 2.0**-8, 0], {}
    yield [draws.draw_qtensor(rng, (1,), QINT8), 0, 1e-6, 127], {}
    for _ in range(2 * RANDOM_CASES):
        dtype = draws.draw_dtype(rng)
        shape = draws.draw_small_shape(rng, _SOFTMAX_SHAPES)
        x = draws.draw_qtensor(rng, shape, dtype)
        dim = int(rng.integers(-len(shape), len(shape)))
        if rng.random() < 0.5:
            scale, zero_point = 2.0**-8, 0 if dtype != QINT8 else int(rng.integers(-128, 1))
        else:
            scale, zero_point = draws.draw_scale(rng), draws.draw_zero_point(rng, dtype)
        yield [x, dim, scale, zero_point], {"memory_format": draws.draw_layout(rng, len(shape))}
