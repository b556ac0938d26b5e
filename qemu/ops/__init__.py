"""The quantized ops, one public entry per op, named and ordered like
``torch.ao.nn.quantized.functional`` / ``torch.ops.quantized``.

Each entry validates its arguments once and dispatches to the chosen backend; the
NumPy reference kernel of each op sits beside its entry in the family module.
"""

from qemu.ops.conv import (
    conv1d,
    conv1d_relu,
    conv2d,
    conv2d_relu,
    conv3d,
    conv3d_relu,
    conv_transpose1d,
    conv_transpose2d,
    conv_transpose3d,
)
from qemu.ops.dynamic import (
    linear_dynamic,
    linear_dynamic_fp16,
    linear_relu_dynamic,
    linear_relu_dynamic_fp16,
)
from qemu.ops.linear import linear, linear_relu
from qemu.ops.rnn import gru, gru_cell, lstm, lstm_cell, rnn_relu_cell, rnn_tanh_cell
from qemu.quantize import (
    dequantize,
    quantize_per_channel,
    quantize_per_tensor,
    quantize_per_tensor_dynamic,
)

__all__ = [
    "conv1d",
    "conv1d_relu",
    "conv2d",
    "conv2d_relu",
    "conv3d",
    "conv3d_relu",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "dequantize",
    "gru",
    "gru_cell",
    "linear",
    "linear_dynamic",
    "linear_dynamic_fp16",
    "linear_relu",
    "linear_relu_dynamic",
    "linear_relu_dynamic_fp16",
    "lstm",
    "lstm_cell",
    "quantize_per_channel",
    "quantize_per_tensor",
    "quantize_per_tensor_dynamic",
    "rnn_relu_cell",
    "rnn_tanh_cell",
]
