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
from qemu.ops.linear import linear, linear_relu
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
    "linear",
    "linear_relu",
    "quantize_per_channel",
    "quantize_per_tensor",
    "quantize_per_tensor_dynamic",
]
