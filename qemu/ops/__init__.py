"""The quantized ops, one public entry per op, named and ordered like
``torch.ao.nn.quantized.functional`` / ``torch.ops.quantized``.

Each entry validates its arguments once and dispatches to the chosen backend; the
NumPy reference kernel of each op sits beside its entry in the family module.
"""

from qemu.ops.dynamic import (
    linear_dynamic,
    linear_dynamic_fp16,
    linear_relu_dynamic,
    linear_relu_dynamic_fp16,
)
from qemu.ops.rnn import gru, gru_cell, lstm, lstm_cell, rnn_relu_cell, rnn_tanh_cell
from qemu.quantize import dequantize, quantize_per_channel, quantize_per_tensor

__all__ = [
    "dequantize",
    "gru",
    "gru_cell",
    "linear_dynamic",
    "linear_dynamic_fp16",
    "linear_relu_dynamic",
    "linear_relu_dynamic_fp16",
    "lstm",
    "lstm_cell",
    "quantize_per_channel",
    "quantize_per_tensor",
    "rnn_relu_cell",
    "rnn_tanh_cell",
]
