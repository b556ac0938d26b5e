"""Dynamic quantized modules: ``nnqd.Linear``, ``nniqd.LinearReLU`` (int8 and fp16
weights), ``nnqd.LSTM`` / ``GRU`` (tensors and packed sequences) and the cells
``LSTMCell`` / ``GRUCell`` / ``RNNCell``. Float in, float out."""

from __future__ import annotations

from typing import Any

import torch
import torch.ao.nn.intrinsic.quantized.dynamic as nniqd
import torch.ao.nn.quantized.dynamic as nnqd
from torch.nn.utils.rnn import PackedSequence

import qemu.ops
from qemu.backends.torch_backend.rnn import cells_from_module
from qemu.emulate.base import EmulatedModule, from_result, to_float_array
from qemu.emulate.linear import weight_and_bias
from qemu.emulate.registry import register
from qemu.qtensor import QTensor


class EmulatedDynamicLinear(EmulatedModule):
    """``quantized::linear_dynamic`` (int8) / ``linear_dynamic_fp16``, ``_relu`` when fused."""

    def __init__(self, original: nnqd.Linear, engine: str, backend: str) -> None:
        super().__init__(original, engine, backend)
        self.weight, self.bias = weight_and_bias(original._packed_params)
        relu = isinstance(original, nniqd.LinearReLU)
        self.int8 = isinstance(self.weight, QTensor)
        if self.int8:
            self.op = qemu.ops.linear_relu_dynamic if relu else qemu.ops.linear_dynamic
            # nnqd.Linear before version 4 called linear_dynamic without reduce_range
            # (the op's default, False); the fused module always passes True.
            version = getattr(original, "version", None)
            self.reduce_range = relu or not (version is None or version < 4)
        else:
            self.op = qemu.ops.linear_relu_dynamic_fp16 if relu else qemu.ops.linear_dynamic_fp16

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values = to_float_array(x)
        if self.int8:
            result = self.op(values, self.weight, self.bias, self.reduce_range, **self.ops_kwargs())
        else:
            result = self.op(values, self.weight, self.bias, **self.ops_kwargs())
        return from_result(result)


def _cell_reduce_range(original: torch.nn.Module) -> bool:
    """reduce_range held in an int8 RNN's cell params (``CellParamsSerializationType``'s
    integer list: ``make_quantized_cell_params_dynamic(..., reduce_range)``)."""
    for value in original._all_weight_values:
        state = value.param.__getstate__()[0]
        if state[0] == "quantized_dynamic":
            return bool(state[3][0]) if state[3] else False
    return True


def _permuted(states: Any, permutation: torch.Tensor | None) -> Any:
    """``permute_hidden``: states reordered along the batch dimension."""
    if permutation is None or states is None:
        return states
    if isinstance(states, tuple):
        return tuple(s.index_select(1, permutation) for s in states)
    return states.index_select(1, permutation)


class EmulatedRNN(EmulatedModule):
    """``torch.quantized_lstm`` / ``quantized_gru`` with ``use_dynamic=True``: padded
    tensors or ``PackedSequence`` inputs, states permuted as the module permutes them."""

    def __init__(self, original: torch.nn.Module, engine: str, backend: str) -> None:
        super().__init__(original, engine, backend)
        self.cells = cells_from_module(original)
        self.lstm = isinstance(original, nnqd.LSTM)
        self.num_layers = int(original.num_layers)
        self.bidirectional = bool(original.bidirectional)
        self.batch_first = bool(original.batch_first)
        self.reduce_range = _cell_reduce_range(original)
        self.dropout = float(original.dropout)

    def forward(self, input: Any, hx: Any = None) -> Any:
        if self.training and self.dropout > 0 and self.num_layers > 1:
            raise ValueError(
                f"dropout: {self.dropout} between layers in training mode is random; call "
                "eval() on the model (torch applies no dropout then)"
            )
        packed = isinstance(input, PackedSequence)
        if packed:
            data, batch_sizes, sorted_indices, unsorted_indices = input
            hx = _permuted(hx, sorted_indices)
            batch_sizes_array = batch_sizes.numpy()
        else:
            data, batch_sizes_array, unsorted_indices = input, None, None
        states = None
        if hx is not None:
            states = (
                tuple(to_float_array(h, "hx") for h in hx)
                if self.lstm
                else to_float_array(hx, "hx")
            )
        op = qemu.ops.lstm if self.lstm else qemu.ops.gru
        output, final = op(
            to_float_array(data),
            states,
            self.cells,
            self.num_layers,
            self.bidirectional,
            self.batch_first if not packed else False,
            batch_sizes_array,
            self.reduce_range,
            **self.ops_kwargs(),
        )
        output, final = from_result(output), from_result(final)
        if packed:
            output = PackedSequence(output, batch_sizes, sorted_indices, unsorted_indices)
        return output, _permuted(final, unsorted_indices)


_CELL_OPS = {
    nnqd.LSTMCell: lambda module: qemu.ops.lstm_cell,
    nnqd.GRUCell: lambda module: qemu.ops.gru_cell,
    nnqd.RNNCell: lambda module: getattr(qemu.ops, f"rnn_{module.nonlinearity}_cell"),
}


class EmulatedRNNCell(EmulatedModule):
    """``quantized::quantized_{lstm,gru,rnn_tanh,rnn_relu}_cell_dynamic``."""

    def __init__(self, original: torch.nn.Module, engine: str, backend: str) -> None:
        super().__init__(original, engine, backend)
        if isinstance(original, nnqd.RNNCell) and original.nonlinearity not in ("tanh", "relu"):
            raise ValueError(
                f"nonlinearity: expected 'tanh' or 'relu', got {original.nonlinearity!r}"
            )
        (self.cell,) = cells_from_module(original)
        self.op = _CELL_OPS[type(original)](original)
        self.lstm = isinstance(original, nnqd.LSTMCell)

    def forward(self, input: torch.Tensor, hx: Any = None) -> Any:
        if hx is not None:
            hx = (
                tuple(to_float_array(h, "hx") for h in hx)
                if self.lstm
                else to_float_array(hx, "hx")
            )
        return from_result(self.op(to_float_array(input), hx, *self.cell, **self.ops_kwargs()))


register(nnqd.Linear, nniqd.LinearReLU)(EmulatedDynamicLinear)
register(nnqd.LSTM, nnqd.GRU)(EmulatedRNN)
register(*_CELL_OPS)(EmulatedRNNCell)
