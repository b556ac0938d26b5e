"""The quantized ops, one public entry per op, named and ordered like
``torch.ao.nn.quantized.functional`` / ``torch.ops.quantized``.

Each entry validates its arguments once and dispatches to the chosen backend; the
NumPy reference kernel of each op sits beside its entry in the family module.
"""

from qemu.ops.activation import (
    celu,
    clamp,
    elu,
    gelu,
    hardsigmoid,
    hardswish,
    hardtanh,
    leaky_relu,
    relu,
    relu6,
    sigmoid,
    softmax,
    tanh,
    threshold,
)
from qemu.ops.elementwise import (
    add,
    add_relu,
    add_scalar,
    add_scalar_relu,
    cat,
    cat_relu,
    mul,
    mul_relu,
    mul_scalar,
    mul_scalar_relu,
)
from qemu.ops.matmul import matmul
from qemu.ops.norm import batch_norm, batch_norm_relu, group_norm, instance_norm, layer_norm
from qemu.ops.pool import (
    adaptive_avg_pool2d,
    adaptive_avg_pool3d,
    avg_pool2d,
    avg_pool3d,
    max_pool1d,
    max_pool2d,
)
from qemu.quantize import (
    dequantize,
    quantize_per_channel,
    quantize_per_tensor,
    quantize_per_tensor_dynamic,
)

__all__ = [
    "adaptive_avg_pool2d",
    "adaptive_avg_pool3d",
    "add",
    "add_relu",
    "add_scalar",
    "add_scalar_relu",
    "avg_pool2d",
    "avg_pool3d",
    "batch_norm",
    "batch_norm_relu",
    "cat",
    "cat_relu",
    "celu",
    "clamp",
    "dequantize",
    "elu",
    "gelu",
    "group_norm",
    "hardsigmoid",
    "hardswish",
    "hardtanh",
    "instance_norm",
    "layer_norm",
    "max_pool1d",
    "max_pool2d",
    "leaky_relu",
    "matmul",
    "mul",
    "mul_relu",
    "mul_scalar",
    "mul_scalar_relu",
    "quantize_per_channel",
    "quantize_per_tensor",
    "quantize_per_tensor_dynamic",
    "relu",
    "relu6",
    "sigmoid",
    "softmax",
    "tanh",
    "threshold",
]
