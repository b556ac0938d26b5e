"""Static int8 linear through torch itself (prepack, then ``quantized::linear[_relu]``)."""

from __future__ import annotations

import numpy as np
import torch

from qemu.dispatch import Context, register
from qemu.interop import from_torch, to_torch
from qemu.qtensor import QTensor


def torch_bias(bias: np.ndarray | None) -> torch.Tensor | None:
    return None if bias is None else torch.from_numpy(np.ascontiguousarray(bias))


@register("linear", "torch")
def _linear(
    ctx: Context,
    input: QTensor,
    weight: QTensor,
    bias: np.ndarray | None,
    scale: float,
    zero_point: int,
    relu: bool,
) -> QTensor:
    packed = torch.ops.quantized.linear_prepack(to_torch(weight), torch_bias(bias))
    op = torch.ops.quantized.linear_relu if relu else torch.ops.quantized.linear
    return from_torch(op(to_torch(input), packed, scale, zero_point))
