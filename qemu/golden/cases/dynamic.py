"""Golden cases of dynamic quantized linear (int8 and fp16 weights, with and without
relu) and the dynamic RNN ops (``lstm``, ``gru`` and the four cells).

int8: activations quantized per batch with or without ``reduce_range``; without it,
full-range u8 activations against +-127 weights saturate fbgemm-avx2's int16 pair
sums. fp16: K past fbgemm's 512-row blocks once, fp16 overflow and subnormals, NaN
and infinities. RNN: int8 (per-tensor, per-channel) and fp16 weights, one or two
layers and directions, padded or packed sequences, with and without initial states.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from qemu.engines import Engine
from qemu.golden.cases import draws
from qemu.golden.cases.registry import CaseArguments, generator
from qemu.quantize import quantize_per_channel, quantize_per_tensor

INT8_OPS = ("linear_dynamic", "linear_relu_dynamic")
FP16_OPS = ("linear_dynamic_fp16", "linear_relu_dynamic_fp16")
RANDOM_CASES = 8


def _int8_weight(rng, n, k, per_channel):
    w = draws.draw_floats(rng, (n, k))
    nonzero_points = rng.random() < 0.3
    if per_channel:
        scales = np.abs(w).max(axis=1) / 127 + float(10.0 ** rng.uniform(-6, -2))
        points = rng.integers(-10, 11, n) if nonzero_points else np.zeros(n, np.int64)
        return quantize_per_channel(w, scales, points, 0, "qint8")
    scale = float(np.abs(w).max() / rng.choice([127, 127, 60, 300])) + 1e-6
    point = int(rng.integers(-10, 11)) if nonzero_points else 0
    return quantize_per_tensor(w, scale, point, "qint8")


def _shape(rng):
    m = int(rng.choice([1, 2, 3, 5, 7, 8, 13]))
    k = int(np.exp(rng.uniform(0, np.log(200))))
    return m, max(k, 1), int(rng.integers(1, 20))


@generator(*INT8_OPS)
def _linear_dynamic_cases(
    rng: np.random.Generator, engine: Engine, op: str
) -> Iterable[CaseArguments]:
    # Saturating int16 pairs: activations spanning [0, max] quantize to codes 0 and 255.
    x = np.tile(np.float32([0.0, 10.0]), (3, 16))
    w = quantize_per_tensor(np.full((4, 32), 1.27, np.float32), 0.01, 0, "qint8")
    yield [x, w, None, False], {}
    yield [x, w, None, True], {}
    # Exact zeros, one element, an empty batch, a 3-D input, specials in the bias.
    yield [np.zeros((2, 5), np.float32), _int8_weight(rng, 3, 5, False), None, True], {}
    yield [np.float32([[-0.5]]), _int8_weight(rng, 1, 1, True), np.float32([0.25]), False], {}
    yield [np.zeros((0, 4), np.float32), _int8_weight(rng, 2, 4, False), None, True], {}
    yield (
        [
            draws.draw_floats(rng, (2, 3, 6)),
            _int8_weight(rng, 5, 6, True),
            draws.draw_floats(rng, (5,)),
            True,
        ],
        {},
    )
    for _ in range(RANDOM_CASES):
        m, k, n = _shape(rng)
        bias = draws.draw_floats(rng, (n,)) if rng.random() < 0.75 else None
        w = _int8_weight(rng, n, k, rng.random() < 0.5)
        yield [draws.draw_floats(rng, (m, k)), w, bias, bool(rng.random() < 0.5)], {}


@generator(*FP16_OPS)
def _linear_dynamic_fp16_cases(
    rng: np.random.Generator, engine: Engine, op: str
) -> Iterable[CaseArguments]:
    if engine.is_qnnpack:  # qnnpack has no fp16 GEMM; torch refuses to pack the weight
        return
    # fp16 weight rounding: overflow past 65504, subnormals, NaN and infinities.
    w = np.float32([[65504.0, 65520.0, 7e4, 6e-8], [1e-40, -0.0, np.inf, np.nan]])
    yield [np.float32([[1.0, 1.0, 1e-3, 1e4], [0.5, -2.0, 0.0, 1.0]]), w, None], {}
    yield [np.float32([[3.0]]), np.float32([[1.0 / 3.0]]), np.float32([0.1])], {}
    yield [np.zeros((0, 3), np.float32), draws.draw_floats(rng, (2, 3)), None], {}
    # K past the 512-row block of fbgemm's fp16 GEMM.
    yield (
        [
            draws.draw_floats(rng, (2, 530)),
            draws.draw_floats(rng, (3, 530)),
            draws.draw_floats(rng, (3,)),
        ],
        {},
    )
    yield (
        [
            draws.draw_floats(rng, (2, 2, 7), True),
            draws.draw_floats(rng, (4, 7)),
            draws.draw_floats(rng, (4,), True),
        ],
        {},
    )
    for _ in range(RANDOM_CASES):
        m, k, n = _shape(rng)
        bias = draws.draw_floats(rng, (n,)) if rng.random() < 0.75 else None
        yield [draws.draw_floats(rng, (m, k)), draws.draw_floats(rng, (n, k)), bias], {}


RNN_OPS = ("lstm", "gru", "lstm_cell", "gru_cell", "rnn_tanh_cell", "rnn_relu_cell")
_GATES = {
    "lstm": 4,
    "gru": 3,
    "lstm_cell": 4,
    "gru_cell": 3,
    "rnn_tanh_cell": 1,
    "rnn_relu_cell": 1,
}
# Hidden sizes around the sigmoid kernels' 16- and 32-element vector steps.
_HIDDEN_SIZES = (1, 2, 5, 15, 16, 17, 33)


def draw_rnn_weight(rng, n, k, int8, per_channel):
    """A float32 (n, k) gate weight, quantized to qint8 (symmetric) if ``int8``."""
    w = rng.normal(0, float(rng.choice([0.1, 0.3, 1.0])), (n, k)).astype(np.float32)
    if not int8:
        return w
    if per_channel:
        return quantize_per_channel(
            w, np.abs(w).max(axis=1) / 127 + 1e-4, np.zeros(n, np.int64), 0, "qint8"
        )
    return quantize_per_tensor(w, float(np.abs(w).max() / 127) + 1e-6, 0, "qint8")


def packed_batch_sizes(rng, steps, batch):
    """``batch_sizes`` of a packed sequence of ``batch`` random lengths, the longest ``steps``."""
    lengths = sorted(rng.integers(1, steps + 1, batch).tolist(), reverse=True)
    lengths[0] = steps
    return np.array([sum(length > t for length in lengths) for t in range(steps)], np.int64)


def _rnn_case(rng, op, int8):
    gates = _GATES[op]
    per_channel = bool(rng.integers(2))
    steps, batch = int(rng.integers(1, 5)), int(rng.integers(1, 4))
    inputs, hidden = int(rng.integers(1, 12)), int(rng.choice(_HIDDEN_SIZES))
    with_bias = rng.random() < 0.8
    magnitude = float(rng.choice([0.5, 1.0, 3.0]))

    def bias():
        return rng.normal(0, 0.1, gates * hidden).astype(np.float32) if with_bias else None

    def cell(input_size):
        w_ih = draw_rnn_weight(rng, gates * hidden, input_size, int8, per_channel)
        w_hh = draw_rnn_weight(rng, gates * hidden, hidden, int8, per_channel)
        return [w_ih, w_hh, bias(), bias()]

    def state(shape):
        return rng.normal(0, 1, shape).astype(np.float32)

    if op in ("lstm", "gru"):
        layers, bidirectional = int(rng.integers(1, 3)), bool(rng.integers(2))
        directions = 2 if bidirectional else 1
        params = [
            cell(inputs if layer == 0 else directions * hidden)
            for layer in range(layers)
            for _ in range(directions)
        ]
        packed = rng.random() < 0.4
        batch_first = not packed and rng.random() < 0.3
        if packed:
            batch_sizes = packed_batch_sizes(rng, steps, batch)
            x = rng.normal(0, magnitude, (int(batch_sizes.sum()), inputs)).astype(np.float32)
        else:
            batch_sizes = None
            shape = (batch, steps, inputs) if batch_first else (steps, batch, inputs)
            x = rng.normal(0, magnitude, shape).astype(np.float32)
        hx = None
        if rng.random() < 0.5:
            shape = (layers * directions, batch, hidden)
            hx = (state(shape), state(shape)) if op == "lstm" else state(shape)
        reduce_range = bool(rng.random() < 0.8)
        return [x, hx, params, layers, bidirectional, batch_first, batch_sizes, reduce_range]
    x = rng.normal(0, magnitude, (batch, inputs)).astype(np.float32)
    hx = None
    if rng.random() < 0.6:
        hx = (
            (state((batch, hidden)), state((batch, hidden)))
            if op == "lstm_cell"
            else state((batch, hidden))
        )
    return [x, hx, *cell(inputs)]


@generator(*RNN_OPS)
def _rnn_cases(rng: np.random.Generator, engine: Engine, op: str) -> Iterable[CaseArguments]:
    # Every other case has fp16 weights; qnnpack refuses those (it has no fp16 GEMM) and
    # generate counts them as refused, so the ids of the int8 cases match fbgemm's.
    for index in range(RANDOM_CASES):
        yield _rnn_case(rng, op, index % 2 == 0), {}
