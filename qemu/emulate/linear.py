"""Static quantized linear: ``nnq.Linear`` and the fused ``nniq.LinearReLU``."""

from __future__ import annotations

import torch
import torch.ao.nn.intrinsic.quantized as nniq
import torch.ao.nn.quantized as nnq

import qemu.ops
from qemu.emulate.base import EmulatedModule, from_result, to_qtensor
from qemu.emulate.registry import register
from qemu.interop import from_torch


def weight_and_bias(packed_owner: torch.nn.Module) -> tuple:
    """(weight QTensor or float32 array, float32 bias or None) out of a module's packed
    params (``_weight_bias()``: what ``quantized::linear_unpack`` / ``conv*_unpack`` give
    back, the weights the kernels were prepacked from)."""
    weight, bias = packed_owner._weight_bias()
    weight = from_torch(weight) if weight.is_quantized else weight.detach().numpy().copy()
    return weight, None if bias is None else bias.detach().numpy().copy()


class EmulatedLinear(EmulatedModule):
    """``quantized::linear`` (``linear_relu`` for the fused module) through qemu."""

    def __init__(self, original: nnq.Linear, engine: str, backend: str) -> None:
        super().__init__(original, engine, backend)
        self.weight, self.bias = weight_and_bias(original)
        self.scale = float(original.scale)
        self.zero_point = int(original.zero_point)
        self.op = qemu.ops.linear_relu if isinstance(original, nniq.LinearReLU) else qemu.ops.linear

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        result = self.op(
            to_qtensor(x), self.weight, self.bias, self.scale, self.zero_point, **self.ops_kwargs()
        )
        return from_result(result)


register(nnq.Linear, nniq.LinearReLU)(EmulatedLinear)
