"""Random dynamic-RNN configurations shared by the torch-free and the torch tests:
LSTM, GRU and the four cells; int8 (per-tensor or per-channel) and fp16 weights; one
or two layers, one or two directions, padded (time or batch first) or packed
sequences, with or without biases and initial states. Hidden sizes straddle the
sigmoid kernels' 16- and 32-element vector steps."""

from __future__ import annotations

import numpy as np

import qemu
from qemu.golden.cases.dynamic import draw_rnn_weight as draw_weight
from qemu.golden.cases.dynamic import packed_batch_sizes

MODES = ("lstm", "gru", "lstm_cell", "gru_cell", "rnn_tanh_cell", "rnn_relu_cell")
GATES = {"lstm": 4, "gru": 3, "lstm_cell": 4, "gru_cell": 3, "rnn_tanh_cell": 1, "rnn_relu_cell": 1}
HIDDEN_SIZES = (1, 2, 5, 15, 16, 17, 31, 32, 33, 40, 64, 70)


def draw_config(rng, mode: str, engine: qemu.engines.Engine):
    """(op name, positional arguments, weights kind) for one random configuration."""
    gates = GATES[mode]
    int8 = engine.is_qnnpack or bool(rng.integers(2))
    per_channel = bool(rng.integers(2))
    steps, batch = int(rng.integers(1, 7)), int(rng.integers(1, 6))
    inputs, hidden = int(rng.integers(1, 20)), int(rng.choice(HIDDEN_SIZES))
    with_bias = rng.random() < 0.8
    scale = float(rng.choice([0.5, 1.0, 3.0]))

    def cell(input_size):
        bias = lambda: rng.normal(0, 0.1, gates * hidden).astype(np.float32) if with_bias else None  # noqa: E731
        return (
            draw_weight(rng, gates * hidden, input_size, int8, per_channel),
            draw_weight(rng, gates * hidden, hidden, int8, per_channel),
            bias(),
            bias(),
        )

    def state(shape):
        return rng.normal(0, 1, shape).astype(np.float32)

    kind = "int8" if int8 else "fp16"
    if mode in ("lstm", "gru"):
        layers, bidirectional = int(rng.integers(1, 3)), bool(rng.integers(2))
        directions = 2 if bidirectional else 1
        cells = [
            cell(inputs if layer == 0 else directions * hidden)
            for layer in range(layers)
            for _ in range(directions)
        ]
        packed = rng.random() < 0.4
        batch_first = not packed and rng.random() < 0.3
        if packed:
            batch_sizes = packed_batch_sizes(rng, steps, batch)
            x = rng.normal(0, scale, (int(batch_sizes.sum()), inputs)).astype(np.float32)
        else:
            batch_sizes = None
            x = rng.normal(
                0, scale, (batch, steps, inputs) if batch_first else (steps, batch, inputs)
            )
            x = x.astype(np.float32)
        hx = None
        if rng.random() < 0.5:
            shape = (layers * directions, batch, hidden)
            hx = (state(shape), state(shape)) if mode == "lstm" else state(shape)
        reduce_range = bool(rng.random() < 0.8)
        return (
            mode,
            (x, hx, cells, layers, bidirectional, batch_first, batch_sizes, reduce_range),
            kind,
        )
    x = rng.normal(0, scale, (batch, inputs)).astype(np.float32)
    hx = None
    if rng.random() < 0.6:
        hx = (
            (state((batch, hidden)), state((batch, hidden)))
            if mode == "lstm_cell"
            else state((batch, hidden))
        )
    return mode, (x, hx) + cell(inputs), kind


def flatten(result) -> list[np.ndarray]:
    """Outputs and states of any RNN op as a flat list of arrays."""
    if isinstance(result, np.ndarray):
        return [result]
    return [array for item in result for array in flatten(item)]
