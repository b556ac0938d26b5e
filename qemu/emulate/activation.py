"""Quantized activations: ``nnq.ReLU6``, ``Hardswish``, ``ELU``, ``LeakyReLU``,
``Sigmoid``, ``Softmax`` and ``Dropout`` (the identity it is in torch).

Each output is laid out as torch's kernel writes it (measured with torch 2.13, held by
tests/models/test_emulate_modules.py): the input's suggested memory format, except
where a kernel allocates a contiguous result (ELU everywhere, qnnpack's ReLU6) and
Softmax (:meth:`EmulatedSoftmax.output_layout`), so that a following layout-sensitive
op sees the strides it sees under torch.
"""

from __future__ import annotations

import torch
import torch.ao.nn.quantized as nnq

import qemu.ops
from qemu import engines
from qemu.emulate.base import (
    EmulatedModule,
    from_result,
    memory_layout,
    suggested_layout,
    to_qtensor,
)
from qemu.emulate.registry import register

# Per module type: the op, the module attributes it takes after the input (in order,
# with their types), and the layout of its output: the input's suggested layout, or
# contiguous.
_QPARAMS = (("scale", float), ("zero_point", int))
_ACTIVATIONS = {
    nnq.ReLU6: (qemu.ops.relu6, (), "suggested, contiguous on qnnpack"),
    nnq.Hardswish: (qemu.ops.hardswish, _QPARAMS, "suggested"),
    nnq.ELU: (qemu.ops.elu, (*_QPARAMS, ("alpha", float)), "contiguous"),
    nnq.LeakyReLU: (qemu.ops.leaky_relu, (("negative_slope", float), *_QPARAMS), "suggested"),
    nnq.Sigmoid: (
        qemu.ops.sigmoid,
        (("output_scale", float), ("output_zero_point", int)),
        "suggested",
    ),
}


class EmulatedActivation(EmulatedModule):
    """One unary quantized op, called with the module's arguments (read once)."""

    def __init__(self, original: torch.nn.Module, engine: str, backend: str) -> None:
        super().__init__(original, engine, backend)
        self.op, attributes, layout = _ACTIVATIONS[type(original)]
        self.arguments = tuple(kind(getattr(original, name)) for name, kind in attributes)
        qnnpack = engines.get(engine).is_qnnpack
        self.keeps_layout = layout == "suggested" or (
            layout.startswith("suggested") and not qnnpack
        )
        # quantized::relu6 honours inplace=True; quantized::leaky_relu ignores it (torch
        # warns "inplace=True is not supported for quantized::leaky_relu yet").
        self.inplace = isinstance(original, nnq.ReLU6) and bool(original.inplace)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        result = self.op(
            to_qtensor(x), *self.arguments, memory_format=memory_layout(x), **self.ops_kwargs()
        )
        output = from_result(result, suggested_layout(x) if self.keeps_layout else "contiguous")
        if self.inplace:
            return x.copy_(output)
        return output


class EmulatedSoftmax(EmulatedModule):
    """``quantized::softmax`` along the module's dim (the legacy implicit dim for None)."""

    def __init__(self, original: nnq.Softmax, engine: str, backend: str) -> None:
        super().__init__(original, engine, backend)
        self.dim = original.dim
        self.scale = float(original.scale)
        self.zero_point = int(original.zero_point)
        self.qnnpack = engines.get(engine).is_qnnpack

    def dim_for(self, ndim: int) -> int:
        # nnq.Softmax with dim=None picks the legacy implicit dim, as F.softmax does.
        return self.dim if self.dim is not None else (0 if ndim in (0, 1, 3) else 1)

    def output_layout(self, x: torch.Tensor) -> str | tuple[int, ...]:
        """qsoftmax.cpp: the naive path (dequantize, softmax, quantize) writes a contiguous
        result; ``qsoftmax_qnnpack`` (qnnpack, quint8, output qparams 2^-8 / 0) computes
        in x's layout where dim has stride 1, contiguously where dim is the last, and
        otherwise on x with dim and the last dim swapped, made contiguous, swapped back."""
        qnnpack_path = (
            self.qnnpack and x.dtype == torch.quint8 and (self.scale, self.zero_point) == (2**-8, 0)
        )
        if not qnnpack_path:
            return "contiguous"
        dim = self.dim_for(x.dim())
        if x.stride(dim) == 1:
            return suggested_layout(x)
        if dim == x.dim() - 1:
            return "contiguous"
        order = list(range(x.dim()))
        order[dim], order[-1] = order[-1], order[dim]
        return tuple(order)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        result = qemu.ops.softmax(
            to_qtensor(x),
            self.dim_for(x.dim()),
            self.scale,
            self.zero_point,
            memory_format=memory_layout(x),
            **self.ops_kwargs(),
        )
        return from_result(result, self.output_layout(x))


class EmulatedDropout(EmulatedModule):
    """``nnq.Dropout``: returns its input (torch's quantized dropout is the identity)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


register(*_ACTIVATIONS)(EmulatedActivation)
register(nnq.Softmax)(EmulatedSoftmax)
register(nnq.Dropout)(EmulatedDropout)
