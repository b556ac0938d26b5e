"""``nnq.QFunctional`` (what convert makes of ``FloatFunctional``): the model calls its
methods -- add, add_relu, add_scalar, mul, mul_scalar, cat, matmul -- not its
forward, so the emulated module offers the same methods."""

from __future__ import annotations

import torch
import torch.ao.nn.quantized as nnq

import qemu.ops
from qemu.emulate.base import (
    EmulatedModule,
    from_result,
    memory_layout,
    suggested_layout,
    to_qtensor,
)
from qemu.emulate.registry import register


class EmulatedQFunctional(EmulatedModule):
    """The ``torch.ops.quantized`` op of each method, with the module's output qparams
    (the scalar ops and matmul requantize as torch's methods do: scalar ops choose their
    own qparams)."""

    def __init__(self, original: nnq.QFunctional, engine: str, backend: str) -> None:
        super().__init__(original, engine, backend)
        self.scale = float(original.scale)
        self.zero_point = int(original.zero_point)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError(
            "QFunctional is not intended to use the 'forward'. Please use the underlying operation"
        )

    def _binary(self, op, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        result = op(
            to_qtensor(x, "x"),
            to_qtensor(y, "y"),
            self.scale,
            self.zero_point,
            memory_format=(memory_layout(x), memory_layout(y)),
            **self.ops_kwargs(),
        )
        return from_result(result, suggested_layout(x))

    def _scalar(self, op, x: torch.Tensor, y: float) -> torch.Tensor:
        result = op(to_qtensor(x, "x"), y, memory_format=memory_layout(x), **self.ops_kwargs())
        return from_result(result, suggested_layout(x))

    def add(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self._binary(qemu.ops.add, x, y)

    def add_relu(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self._binary(qemu.ops.add_relu, x, y)

    def mul(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self._binary(qemu.ops.mul, x, y)

    def add_scalar(self, x: torch.Tensor, y: float) -> torch.Tensor:
        return self._scalar(qemu.ops.add_scalar, x, y)

    def mul_scalar(self, x: torch.Tensor, y: float) -> torch.Tensor:
        return self._scalar(qemu.ops.mul_scalar, x, y)

    def cat(self, x: list[torch.Tensor], dim: int = 0) -> torch.Tensor:
        layouts = {memory_layout(t) for t in x}
        if len(layouts) > 1:
            raise ValueError(
                f"x: qemu's cat takes inputs of one memory layout, got {sorted(map(str, layouts))}"
            )
        result = qemu.ops.cat(
            [to_qtensor(t, f"x[{i}]") for i, t in enumerate(x)],
            dim,
            self.scale,
            self.zero_point,
            memory_format=layouts.pop(),
            **self.ops_kwargs(),
        )
        return from_result(result, suggested_layout(x[0]))

    def matmul(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        result = qemu.ops.matmul(
            to_qtensor(x, "x"), to_qtensor(y, "y"), self.scale, self.zero_point, **self.ops_kwargs()
        )
        return from_result(result)

    def extra_repr(self) -> str:
        return f"scale={self.scale}, zero_point={self.zero_point}, {super().extra_repr()}"


register(nnq.QFunctional)(EmulatedQFunctional)
