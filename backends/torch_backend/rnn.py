"""Dynamic quantized RNNs through torch: ``torch.quantized_lstm`` / ``quantized_gru``
and the ``quantized_*_cell_dynamic`` ops, with cell params packed as the
``torch.ao.nn.quantized.dynamic`` modules pack them; and :func:`cells_from_module`,
which reads those weights back out of a torch module in qemu's layout."""

from __future__ import annotations

import numpy as np
import torch

from qemu.dispatch import register
from qemu.interop import from_torch, to_torch
from qemu.qtensor import QTensor


def _tensor(array):
    return None if array is None else torch.from_numpy(np.ascontiguousarray(array))


def _pack(weight, bias):
    if isinstance(weight, QTensor):
        return torch.ops.quantized.linear_prepack(to_torch(weight), _tensor(bias))
    return torch.ops.quantized.linear_prepack_fp16(torch.from_numpy(weight), _tensor(bias))


def _bias_or_zeros(bias, weight):
    # The cell-params structs keep float biases they never use; they must be tensors.
    return _tensor(bias) if bias is not None else torch.zeros(weight.shape[0])


def _cell_params(cell, reduce_range):
    w_ih, w_hh, b_ih, b_hh = cell
    packed_ih, packed_hh = _pack(w_ih, b_ih), _pack(w_hh, b_hh)
    if isinstance(w_ih, QTensor):
        return torch.ops.quantized.make_quantized_cell_params_dynamic(
            packed_ih,
            packed_hh,
            _bias_or_zeros(b_ih, w_ih),
            _bias_or_zeros(b_hh, w_hh),
            reduce_range,
        )
    return torch.ops.quantized.make_quantized_cell_params_fp16(packed_ih, packed_hh)


def _sequence(
    mode, x, states, cells, num_layers, bidirectional, batch_first, batch_sizes, reduce_range
):
    params = [_cell_params(cell, reduce_range) for cell in cells]
    hx = [torch.from_numpy(s) for s in states]
    common = (True, num_layers, 0.0, False, bidirectional)
    if mode == "lstm":
        dtype = torch.qint8 if isinstance(cells[0][0], QTensor) else torch.float16
        extra = {"dtype": dtype, "use_dynamic": True}
        if batch_sizes is None:
            result = torch.quantized_lstm(
                torch.from_numpy(x), hx, params, *common, batch_first, **extra
            )
        else:
            result = torch.quantized_lstm(
                torch.from_numpy(x), torch.from_numpy(batch_sizes), hx, params, *common, **extra
            )
        return result[0].contiguous().numpy(), (result[1].numpy(), result[2].numpy())
    if batch_sizes is None:
        output, h = torch.quantized_gru(torch.from_numpy(x), hx[0], params, *common, batch_first)
    else:
        output, h = torch.quantized_gru(
            torch.from_numpy(x), torch.from_numpy(batch_sizes), hx[0], params, *common
        )
    return output.contiguous().numpy(), (h.numpy(),)


@register("lstm", "torch")
def _lstm(ctx, *args):
    return _sequence("lstm", *args)


@register("gru", "torch")
def _gru(ctx, *args):
    return _sequence("gru", *args)


_CELL_OPS = {
    "lstm": "quantized_lstm_cell_dynamic",
    "gru": "quantized_gru_cell_dynamic",
    "rnn_tanh": "quantized_rnn_tanh_cell_dynamic",
    "rnn_relu": "quantized_rnn_relu_cell_dynamic",
}


def _cell(mode, x, states, cell):
    w_ih, w_hh, b_ih, b_hh = cell
    op = getattr(torch.ops.quantized, _CELL_OPS[mode])
    hx = [torch.from_numpy(s) for s in states] if mode == "lstm" else torch.from_numpy(states[0])
    result = op(
        torch.from_numpy(x),
        hx,
        _pack(w_ih, b_ih),
        _pack(w_hh, b_hh),
        _bias_or_zeros(b_ih, w_ih),
        _bias_or_zeros(b_hh, w_hh),
    )
    if mode == "lstm":
        return result[0].numpy(), result[1].numpy()
    return (result.numpy(),)


def _register_cell(mode):
    @register(f"{mode}_cell", "torch")
    def run(ctx, x, states, cell):
        return _cell(mode, x, states, cell)


for _mode in _CELL_OPS:
    _register_cell(_mode)


def _unpack(packed):
    """(weight, bias) of a packed linear: a qint8 QTensor, or the fp16 weight as float32
    (``linear_unpack`` serves both kinds)."""
    weight, bias = torch.ops.quantized.linear_unpack(packed)
    weight = from_torch(weight) if weight.is_quantized else weight.numpy().copy()
    return weight, None if bias is None else bias.detach().numpy().copy()


def cells_from_module(module) -> list[tuple]:
    """The ``(w_ih, w_hh, b_ih, b_hh)`` cells of a ``torch.ao.nn.quantized.dynamic``
    LSTM / GRU (one per layer and direction, torch's order) or cell module (a list of
    one), in the layout :mod:`qemu.ops.rnn` takes.

    The packed linears hold the weights and the biases the kernels use; int8 weights come
    back as QTensors, fp16 weights as the float32 values of their fp16 rounding (which
    pack to themselves again).
    """
    if hasattr(module, "_all_weight_values"):
        pairs = []
        for value in module._all_weight_values:
            packed = value.param.__getstate__()[0][4]  # CellParamsSerializationType[4]
            pairs.append((packed[0], packed[1]))
    else:
        pairs = [(module._packed_weight_ih, module._packed_weight_hh)]
    cells = []
    for packed_ih, packed_hh in pairs:
        w_ih, b_ih = _unpack(packed_ih)
        w_hh, b_hh = _unpack(packed_hh)
        cells.append((w_ih, w_hh, b_ih, b_hh))
    return cells
