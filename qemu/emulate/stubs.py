"""Quantize and DeQuantize (the converted QuantStub / DeQuantStub). Both write their
output in the input's suggested memory format, as torch's quantize_per_tensor and
dequantize do."""

from __future__ import annotations

import torch
import torch.ao.nn.quantized as nnq

import qemu
from qemu.emulate.base import (
    EmulatedModule,
    from_result,
    suggested_layout,
    to_float_array,
    to_qtensor,
)
from qemu.emulate.registry import register


class EmulatedQuantize(EmulatedModule):
    def __init__(self, original: nnq.Quantize, engine: str, backend: str) -> None:
        super().__init__(original, engine, backend)
        self.scale = float(original.scale)
        self.zero_point = int(original.zero_point)
        self.dtype = str(original.dtype).removeprefix("torch.")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values = to_float_array(x)
        return from_result(
            qemu.quantize_per_tensor(
                values, self.scale, self.zero_point, self.dtype, **self.ops_kwargs()
            ),
            suggested_layout(x),
        )


class EmulatedDeQuantize(EmulatedModule):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return from_result(qemu.dequantize(to_qtensor(x), **self.ops_kwargs()), suggested_layout(x))


register(nnq.Quantize)(EmulatedQuantize)
register(nnq.DeQuantize)(EmulatedDeQuantize)
