"""Quantized activations: ``nnq.ReLU6``, ``Hardswish``, ``ELU``, ``LeakyReLU``,
``Sigmoid``, ``Softmax`` and ``Dropout`` (the identity it is in torch).

Each output is laid out as torch's kernel writes it (measured with torch 2.13, held by
tests/models/test_emulate_modules.py): the input's suggested memory format, except
where a kernel allocates a contiguous result (ELU everywhere, qnnpack's ReLU6) and
Softmax (see ``_softmax``), so that a following layout-sensitive op sees the strides it
sees under torch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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


def _contiguous(x: torch.Tensor, qnnpack: bool) -> str:
    return "contiguous"


def _suggested(x: torch.Tensor, qnnpack: bool) -> str:
    return suggested_layout(x)


def _suggested_except_qnnpack(x: torch.Tensor, qnnpack: bool) -> str:
    return "contiguous" if qnnpack else suggested_layout(x)


class EmulatedActivation(EmulatedModule):
    """One unary quantized op, called as the torch module calls it."""

    def __init__(self, original: torch.nn.Module, engine: str, backend: str) -> None:
        super().__init__(original, engine, backend)
        self.call, self.output_layout = _ACTIVATIONS[type(original)](original)
        # quantized::relu6 honours inplace=True; quantized::leaky_relu ignores it (torch
        # warns "inplace=True is not supported for quantized::leaky_relu yet").
        self.inplace = isinstance(original, nnq.ReLU6) and bool(original.inplace)
        self.qnnpack = engines.get(engine).is_qnnpack

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        result = self.call(to_qtensor(x), memory_format=memory_layout(x), **self.ops_kwargs())
        output = from_result(result, self.output_layout(x, self.qnnpack))
        if self.inplace:
            return x.copy_(output)
        return output


def _relu6(m: nnq.ReLU6) -> tuple[Callable[..., Any], Callable[..., str]]:
    return qemu.ops.relu6, _suggested_except_qnnpack


def _hardswish(m: nnq.Hardswish):
    scale, zero_point = float(m.scale), int(m.zero_point)
    return lambda x, **kw: qemu.ops.hardswish(x, scale, zero_point, **kw), _suggested


def _elu(m: nnq.ELU):
    scale, zero_point, alpha = float(m.scale), int(m.zero_point), float(m.alpha)
    return lambda x, **kw: qemu.ops.elu(x, scale, zero_point, alpha, **kw), _contiguous


def _leaky_relu(m: nnq.LeakyReLU):
    slope, scale, zero_point = float(m.negative_slope), float(m.scale), int(m.zero_point)
    return lambda x, **kw: qemu.ops.leaky_relu(x, slope, scale, zero_point, **kw), _suggested


def _sigmoid(m: nnq.Sigmoid):
    scale, zero_point = float(m.output_scale), int(m.output_zero_point)
    return lambda x, **kw: qemu.ops.sigmoid(x, scale, zero_point, **kw), _suggested


def _softmax(m: nnq.Softmax):
    scale, zero_point, module_dim = float(m.scale), int(m.zero_point), m.dim

    def dim_of(ndim: int) -> int:
        # nnq.Softmax with dim=None picks the legacy implicit dim, as F.softmax does.
        return module_dim if module_dim is not None else (0 if ndim in (0, 1, 3) else 1)

    def call(x, **kw):
        return qemu.ops.softmax(x, dim_of(x.ndim), scale, zero_point, **kw)

    def layout(x: torch.Tensor, qnnpack: bool):
        # qsoftmax.cpp: the naive path (dequantize, softmax, quantize) writes a contiguous
        # result; qsoftmax_qnnpack (qnnpack, quint8, output qparams 2^-8 / 0) computes in
        # x's layout where dim has stride 1, contiguously where dim is the last, and
        # otherwise on x with dim and the last dim swapped, made contiguous, swapped back.
        if not (qnnpack and x.dtype == torch.quint8 and (scale, zero_point) == (2**-8, 0)):
            return "contiguous"
        dim = dim_of(x.dim())
        if x.stride(dim) == 1:
            return suggested_layout(x)
        if dim == x.dim() - 1:
            return "contiguous"
        order = list(range(x.dim()))
        order[dim], order[-1] = order[-1], order[dim]
        return tuple(order)

    return call, layout


_ACTIVATIONS = {
    nnq.ReLU6: _relu6,
    nnq.Hardswish: _hardswish,
    nnq.ELU: _elu,
    nnq.LeakyReLU: _leaky_relu,
    nnq.Sigmoid: _sigmoid,
    nnq.Softmax: _softmax,
}


class EmulatedDropout(EmulatedModule):
    """``nnq.Dropout``: returns its input (torch's quantized dropout is the identity)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


register(*_ACTIVATIONS)(EmulatedActivation)
register(nnq.Dropout)(EmulatedDropout)
