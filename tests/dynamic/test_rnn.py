"""Dynamic quantized RNNs without torch: the documented order of operations rebuilt
from the ops and primitives, structural identities, refused arguments, and the numba
backend against the reference."""

from __future__ import annotations

import numpy as np
import pytest
from dynamic.linear_cases import case_rng
from dynamic.rnn_cases import MODES, draw_config, draw_weight, flatten

import qemu
import qemu.ops
from qemu.numerics.aten_elementwise import add
from qemu.numerics.aten_float import aten_sigmoid_rows, aten_tanh
from qemu.testing import assert_bitexact, cases


def _cell(rng, gates, inputs, hidden, int8):
    return (
        draw_weight(rng, gates * hidden, inputs, int8, False),
        draw_weight(rng, gates * hidden, hidden, int8, False),
        rng.normal(0, 0.1, gates * hidden).astype(np.float32),
        rng.normal(0, 0.1, gates * hidden).astype(np.float32),
    )


def _linear(x, w, b):
    if isinstance(w, qemu.QTensor):
        return qemu.ops.linear_dynamic(x, w, b, True)
    return qemu.ops.linear_dynamic_fp16(x, w, b)


@pytest.mark.parametrize("int8", [True, False])
def test_lstm_step_by_step(int8):
    # RNN.cpp LSTMCell: gates = linear_hh(h) + x_proj; sigmoid_ on chunk views, tanh;
    # c' = f * c + i * g; h' = o * tanh(c'). The input is projected over all steps at once.
    rng = case_rng("rnn_lstm_steps", int8)
    steps, batch, inputs, hidden = 4, 3, 5, 37
    x = rng.normal(0, 1, (steps, batch, inputs)).astype(np.float32)
    w_ih, w_hh, b_ih, b_hh = _cell(rng, 4, inputs, hidden, int8)
    projected = _linear(x, w_ih, b_ih)
    h = c = np.zeros((batch, hidden), np.float32)
    outputs = []
    for t in range(steps):
        gates = add(_linear(h, w_hh, b_hh), projected[t])
        i, f, o = (aten_sigmoid_rows(gates[:, k * hidden : (k + 1) * hidden]) for k in (0, 1, 3))
        g = aten_tanh(gates[:, 2 * hidden : 3 * hidden])
        c = add(f * c, i * g)
        h = o * aten_tanh(c)
        outputs.append(h)
    output, (h_n, c_n) = qemu.ops.lstm(x, None, [(w_ih, w_hh, b_ih, b_hh)])
    assert_bitexact([output, h_n[0], c_n[0]], [np.stack(outputs), h, c])


@pytest.mark.parametrize("int8", [True, False])
def test_gru_cell_order_of_operations(int8):
    # GRUCell: r = sigmoid(hh_r + ih_r), z = sigmoid(hh_z + ih_z),
    # n = tanh(ih_n + hh_n * r), h' = (h - n) * z + n.
    rng = case_rng("rnn_gru_cell", int8)
    batch, inputs, hidden = 4, 6, 33
    x = rng.normal(0, 1, (batch, inputs)).astype(np.float32)
    h = rng.normal(0, 1, (batch, hidden)).astype(np.float32)
    w_ih, w_hh, b_ih, b_hh = _cell(rng, 3, inputs, hidden, int8)
    gi, gh = _linear(x, w_ih, b_ih), _linear(h, w_hh, b_hh)
    r = aten_sigmoid_rows(add(gh[:, :hidden], gi[:, :hidden]))
    z = aten_sigmoid_rows(add(gh[:, hidden : 2 * hidden], gi[:, hidden : 2 * hidden]))
    n = aten_tanh(add(gi[:, 2 * hidden :], gh[:, 2 * hidden :] * r))
    expected = add((h - n) * z, n)
    assert_bitexact(qemu.ops.gru_cell(x, h, w_ih, w_hh, b_ih, b_hh), expected)


def test_simple_cells():
    rng = case_rng("rnn_simple_cells")
    x = rng.normal(0, 1, (3, 4)).astype(np.float32)
    h = rng.normal(0, 1, (3, 8)).astype(np.float32)
    w_ih, w_hh, b_ih, b_hh = _cell(rng, 1, 4, 8, True)
    pre = add(_linear(h, w_hh, b_hh), _linear(x, w_ih, b_ih))
    assert_bitexact(qemu.ops.rnn_tanh_cell(x, h, w_ih, w_hh, b_ih, b_hh), aten_tanh(pre))
    assert_bitexact(qemu.ops.rnn_relu_cell(x, h, w_ih, w_hh, b_ih, b_hh), np.maximum(pre, 0))


def test_reverse_direction_is_the_forward_recurrence_on_the_reversed_sequence():
    # The reverse direction projects the same values (so the same int8 qparams), then
    # runs from the last step to the first.
    rng = case_rng("rnn_reverse")
    x = rng.normal(0, 1, (5, 2, 3)).astype(np.float32)
    forward, reverse = _cell(rng, 3, 3, 7, True), _cell(rng, 3, 3, 7, True)
    output, h_n = qemu.ops.gru(x, None, [forward, reverse], bidirectional=True)
    backwards, h_back = qemu.ops.gru(x[::-1].copy(), None, [reverse])
    assert_bitexact(output[..., 7:], backwards[::-1])
    assert_bitexact(h_n[1], h_back[0])


def test_packed_sequence_of_equal_lengths_is_the_padded_one():
    rng = case_rng("rnn_packed_equal")
    x = rng.normal(0, 1, (4, 3, 5)).astype(np.float32)
    cells = [_cell(rng, 4, 5, 6, True), _cell(rng, 4, 5, 6, True)]
    padded, (h, c) = qemu.ops.lstm(x, None, cells, bidirectional=True)
    packed, (hp, cp) = qemu.ops.lstm(
        x.reshape(12, 5), None, cells, bidirectional=True, batch_sizes=np.array([3, 3, 3, 3])
    )
    assert_bitexact([packed, hp, cp], [padded.reshape(12, 12), h, c])


def test_batch_first_transposes_input_and_output():
    rng = case_rng("rnn_batch_first")
    x = rng.normal(0, 1, (4, 3, 5)).astype(np.float32)
    cells = [_cell(rng, 3, 5, 6, False)]
    output, h = qemu.ops.gru(x, None, cells)
    output_bf, h_bf = qemu.ops.gru(np.swapaxes(x, 0, 1).copy(), None, cells, batch_first=True)
    assert_bitexact([np.swapaxes(output_bf, 0, 1), h_bf], [output, h])


def test_weights_as_mappings():
    rng = case_rng("rnn_mapping")
    w_ih, w_hh, b_ih, b_hh = _cell(rng, 4, 2, 3, True)
    x = rng.normal(0, 1, (2, 1, 2)).astype(np.float32)
    as_tuple = qemu.ops.lstm(x, None, [(w_ih, w_hh, b_ih, b_hh)])
    as_dict = qemu.ops.lstm(x, None, [{"w_ih": w_ih, "w_hh": w_hh, "b_ih": b_ih, "b_hh": b_hh}])
    assert_bitexact(flatten(as_dict), flatten(as_tuple))


def _bad_calls():
    rng = case_rng("rnn_bad")
    x = np.zeros((2, 1, 3), np.float32)
    int8 = _cell(rng, 4, 3, 2, True)
    fp16 = _cell(rng, 4, 3, 2, False)
    lstm = qemu.ops.lstm
    return [
        (lambda: lstm(x, None, [fp16], engine="qnnpack"), ValueError, "qnnpack"),
        (lambda: lstm(x, None, [(int8[0], fp16[1], None, None)]), TypeError, "both"),
        (lambda: lstm(x, None, [int8, int8]), ValueError, "num_layers"),
        (lambda: lstm(x, None, _cell(rng, 3, 3, 2, True)), TypeError, "params"),
        (lambda: qemu.ops.gru(x, None, [int8]), ValueError, "3 \\* hidden_size"),
        (lambda: lstm(np.zeros((2, 1, 4), np.float32), None, [int8]), ValueError, "input features"),
        (
            lambda: lstm(np.zeros((0, 1, 3), np.float32), None, [int8]),
            ValueError,
            "sequence length",
        ),
        (lambda: lstm(np.zeros((2, 3), np.float32), None, [int8]), ValueError, "3-D"),
        (lambda: lstm(np.full((2, 1, 3), np.nan, np.float32), None, [int8]), ValueError, "finite"),
        (lambda: lstm(x, (np.zeros((1, 2, 2), np.float32), None), [int8]), ValueError, "hx\\[0\\]"),
        (lambda: lstm(x, np.zeros((1, 1, 2), np.float32), [int8]), TypeError, "pair"),
        (
            lambda: lstm(x[0], None, [int8], batch_sizes=np.array([1, 2])),
            ValueError,
            "non-increasing",
        ),
        (lambda: lstm(x[0], None, [int8], batch_sizes=np.array([2])), ValueError, "add up"),
        (
            lambda: lstm(x[0], None, [int8], batch_first=True, batch_sizes=np.array([1, 1])),
            ValueError,
            "batch_first",
        ),
        (lambda: lstm(x, None, [int8], num_layers=0), ValueError, "num_layers"),
        (lambda: lstm(x, None, [int8], bidirectional=1), TypeError, "bidirectional"),
        (lambda: qemu.ops.lstm_cell(x, None, *int8), ValueError, "2-D"),
        (
            lambda: qemu.ops.gru_cell(x[0], None, *_cell(rng, 4, 3, 2, True)),
            ValueError,
            "3 \\* hidden_size",
        ),
    ]


@pytest.mark.parametrize("index", range(len(_bad_calls())))
def test_bad_arguments_are_refused(index):
    call, error, match = _bad_calls()[index]
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("engine", ["fbgemm", "fbgemm-avx2", "qnnpack"])
def test_numba_equals_numpy(engine, mode):
    pytest.importorskip("numba")
    rng = case_rng("rnn_numba", engine, mode)
    for i in range(cases(2)):
        op_name, args, kind = draw_config(rng, mode, qemu.engines.get(engine))
        op = getattr(qemu.ops, op_name)
        assert_bitexact(
            flatten(op(*args, engine=engine, backend="numba")),
            flatten(op(*args, engine=engine, backend="numpy")),
            f"{op_name} case {i} ({kind})",
        )
