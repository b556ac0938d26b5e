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
from qemu.ops.embedding import (
    embedding_4bit,
    embedding_bag_2bit_prepack,
    embedding_bag_2bit_prepack_with_rowwise_min_max,
    embedding_bag_2bit_rowwise_offsets,
    embedding_bag_2bit_unpack,
    embedding_bag_4bit,
    embedding_bag_4bit_prepack,
    embedding_bag_4bit_prepack_with_rowwise_min_max,
    embedding_bag_4bit_rowwise_offsets,
    embedding_bag_4bit_unpack,
    embedding_bag_byte,
    embedding_bag_byte_prepack,
    embedding_bag_byte_prepack_with_rowwise_min_max,
    embedding_bag_byte_rowwise_offsets,
    embedding_bag_byte_unpack,
    embedding_bag_prepack,
    embedding_byte,
    quantize_embedding_weight,
)
from qemu.ops.linear import (
    linear,
    linear_relu,
)
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
    "embedding_4bit",
    "embedding_bag_2bit_prepack",
    "embedding_bag_2bit_prepack_with_rowwise_min_max",
    "embedding_bag_2bit_rowwise_offsets",
    "embedding_bag_2bit_unpack",
    "embedding_bag_4bit",
    "embedding_bag_4bit_prepack",
    "embedding_bag_4bit_prepack_with_rowwise_min_max",
    "embedding_bag_4bit_rowwise_offsets",
    "embedding_bag_4bit_unpack",
    "embedding_bag_byte",
    "embedding_bag_byte_prepack",
    "embedding_bag_byte_prepack_with_rowwise_min_max",
    "embedding_bag_byte_rowwise_offsets",
    "embedding_bag_byte_unpack",
    "embedding_bag_prepack",
    "embedding_byte",
    "linear",
    "linear_relu",
    "quantize_embedding_weight",
    "quantize_per_channel",
    "quantize_per_tensor",
    "quantize_per_tensor_dynamic",
]
