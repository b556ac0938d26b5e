"""Dynamic quantized RNNs against torch on every engine, numpy and numba backends.

The acceptance soak of issue 4 (500 random configurations per engine and op)::

    QEMU_SOAK=500 .venv/bin/python -m pytest tests/dynamic/test_rnn_torch.py
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from dynamic.linear_cases import case_rng
from dynamic.rnn_cases import MODES, draw_config, flatten

import qemu
import qemu.ops
from qemu.testing import assert_bitexact, cases

torch = pytest.importorskip("torch")
nnqd = pytest.importorskip("torch.ao.nn.quantized.dynamic")
from qemu.backends.torch_backend.rnn import cells_from_module  # noqa: E402

ENGINES = qemu.engines.names()
EMULATORS = ("numpy", "numba")
# The seed's RNN input (test_quantize_eager_ptq.py: test_quantized_rnn / _cell).
SEED_INPUT = np.float32([[100, -155], [-155, 100], [100, -155]])


def check(op_name, args, engine, label=""):
    op = getattr(qemu.ops, op_name)
    expected = flatten(op(*args, engine=engine, backend="torch"))
    for backend in EMULATORS:
        actual = flatten(op(*args, engine=engine, backend=backend))
        assert_bitexact(actual, expected, f"{backend} {op_name} {label}")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("engine", ENGINES)
def test_random_configurations(engine, mode):
    rng = case_rng("torch_rnn", engine, mode)
    for i in range(cases(4)):
        op_name, args, kind = draw_config(rng, mode, qemu.engines.get(engine))
        check(op_name, args, engine, f"case {i} ({kind})")


def _numpy(result) -> list[np.ndarray]:
    """A module's outputs (tensors, tuples of them, PackedSequence data) as a flat list."""
    if isinstance(result, torch.nn.utils.rnn.PackedSequence):
        return [result.data.numpy()]
    if isinstance(result, torch.Tensor):
        return [result.numpy()]
    return [array for item in result for array in _numpy(item)]


def _quantized_module(float_module, dtype, engine, per_channel=False):
    torch.backends.quantized.engine = engine
    if dtype == torch.float16:
        qconfig = torch.ao.quantization.float16_dynamic_qconfig
    elif per_channel:
        qconfig = torch.ao.quantization.per_channel_dynamic_qconfig
    else:
        qconfig = torch.ao.quantization.default_dynamic_qconfig
    wrapper = torch.nn.Sequential(float_module)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quantized = torch.ao.quantization.quantize_dynamic(
            wrapper, {type(float_module): qconfig}, dtype=dtype
        )
    return quantized[0]


SEED_DTYPES = [
    ("fbgemm", torch.qint8, False),
    ("fbgemm", torch.qint8, True),
    ("fbgemm", torch.float16, False),
    ("qnnpack", torch.qint8, False),
]


@pytest.mark.parametrize("engine, dtype, per_channel", SEED_DTYPES)
@pytest.mark.parametrize("module_type", ["LSTM", "GRU"])
def test_seed_rnn_flow(module_type, engine, dtype, per_channel):
    """test_quantized_rnn: nn.LSTM / nn.GRU(2, 2) quantized dynamically, run on the
    seed input repeated 10 steps, then on it packed with lengths 10, 5, 2."""
    torch.manual_seed(0)
    float_module = getattr(torch.nn, module_type)(2, 2)
    previous = torch.backends.quantized.engine
    try:
        module = _quantized_module(float_module, dtype, engine, per_channel)
        cells = cells_from_module(module)
        op = qemu.ops.lstm if module_type == "LSTM" else qemu.ops.gru
        x = np.repeat(SEED_INPUT[None], 10, axis=0)
        with torch.no_grad():
            expected = module(torch.from_numpy(x))
            packed = torch.nn.utils.rnn.pack_padded_sequence(
                torch.from_numpy(x), torch.tensor([10, 5, 2])
            )
            expected_packed = module(packed)
    finally:
        torch.backends.quantized.engine = previous
    expected, expected_packed = _numpy(expected), _numpy(expected_packed)
    for backend in EMULATORS:
        actual = flatten(op(x, None, cells, engine=engine, backend=backend))
        assert_bitexact(actual, expected, f"{backend} {module_type}")
        actual = flatten(
            op(
                packed.data.numpy(),
                None,
                cells,
                batch_sizes=packed.batch_sizes.numpy(),
                engine=engine,
                backend=backend,
            )
        )
        assert_bitexact(actual, expected_packed, f"{backend} packed {module_type}")


@pytest.mark.parametrize("engine, dtype, per_channel", SEED_DTYPES)
@pytest.mark.parametrize("module_type", ["LSTMCell", "GRUCell", "RNNTanh", "RNNReLU"])
def test_seed_rnn_cell_flow(module_type, engine, dtype, per_channel):
    """test_quantized_rnn_cell: the four cells (2, 2) on the seed input."""
    torch.manual_seed(0)
    if module_type.startswith("RNN"):
        float_module = torch.nn.RNNCell(2, 2, nonlinearity=module_type[3:].lower())
        op = getattr(qemu.ops, f"rnn_{module_type[3:].lower()}_cell")
    else:
        float_module = getattr(torch.nn, module_type)(2, 2)
        op = qemu.ops.lstm_cell if module_type == "LSTMCell" else qemu.ops.gru_cell
    previous = torch.backends.quantized.engine
    try:
        module = _quantized_module(float_module, dtype, engine, per_channel)
        with torch.no_grad():
            expected = module(torch.from_numpy(SEED_INPUT))
    finally:
        torch.backends.quantized.engine = previous
    expected = _numpy(expected)
    (cell,) = cells_from_module(module)
    for backend in EMULATORS:
        actual = flatten(op(SEED_INPUT, None, *cell, engine=engine, backend=backend))
        assert_bitexact(actual, expected, f"{backend} {module_type}")


@pytest.mark.parametrize("engine", ENGINES)
def test_seed_input_on_every_engine(engine):
    """The seed's input through our own packing of int8 (and, on fbgemm, fp16) weights,
    compared with torch's kernels for that engine (subprocess for AVX2/AVX512)."""
    rng = case_rng("torch_rnn_seed", engine)
    x = np.repeat(SEED_INPUT[None], 10, axis=0)
    sizes = np.array([3] * 2 + [2] * 3 + [1] * 5, np.int64)
    packed = np.concatenate([x[t, : sizes[t]] for t in range(10)])
    kinds = [True] if qemu.engines.get(engine).is_qnnpack else [True, False]
    for int8 in kinds:
        from dynamic.rnn_cases import draw_weight

        for op_name, gates in (("lstm", 4), ("gru", 3)):
            cells = [
                (
                    draw_weight(rng, gates * 2, 2, int8, False),
                    draw_weight(rng, gates * 2, 2, int8, False),
                    rng.normal(0, 0.5, gates * 2).astype(np.float32),
                    rng.normal(0, 0.5, gates * 2).astype(np.float32),
                )
            ]
            check(op_name, (x, None, cells), engine, "padded")
            check(op_name, (packed, None, cells, 1, False, False, sizes), engine, "packed 10, 5, 2")


def test_two_threads_split_a_gate_row():
    # 131 x 301 = 39,431 gate elements: at 2 threads ATen's parallel_for cuts the sigmoid
    # mid-row, which moves the vector/scalar split of that row (and the outputs after).
    from dynamic.rnn_cases import draw_weight

    rng = case_rng("torch_rnn_threads")
    hidden, batch = 301, 131
    cells = [
        (
            draw_weight(rng, 4 * hidden, 6, True, False),
            draw_weight(rng, 4 * hidden, hidden, True, False),
            rng.normal(0, 0.1, 4 * hidden).astype(np.float32),
            None,
        )
    ]
    x = rng.normal(0, 1, (2, batch, 6)).astype(np.float32)
    with qemu.use(threads=2):
        check("lstm", (x, None, cells), "fbgemm", "2 threads")
