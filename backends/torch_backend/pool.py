"""Pooling through torch's own quantized kernels (``torch.nn.functional`` on
quantized tensors, as ``torch.ao.nn.quantized.functional`` calls it)."""

from __future__ import annotations

import warnings

import torch
from qemu.backends.torch_backend.elementwise import torch_tensor

from qemu.dispatch import Context, register
from qemu.interop import from_torch
from qemu.qtensor import QTensor

F = torch.nn.functional


@register("avg_pool", "torch")
def _avg_pool(
    ctx: Context,
    x,
    kernel,
    stride,
    padding,
    ceil_mode,
    count_include_pad,
    divisor_override,
    outputs,
    order,
) -> QTensor:
    op = F.avg_pool2d if len(kernel) == 2 else F.avg_pool3d
    t = torch_tensor(x, order)
    return from_torch(
        op(t, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override)
    )


@register("adaptive_avg_pool", "torch")
def _adaptive_avg_pool(ctx: Context, x, outputs, order) -> QTensor:
    op = F.adaptive_avg_pool2d if len(outputs) == 2 else F.adaptive_avg_pool3d
    with warnings.catch_warnings():
        # "not implemented for QNNPACK. Falling back": the fallback is what qemu models.
        warnings.filterwarnings(
            "ignore", message=".*Adaptive Average Pool 3D", category=UserWarning
        )
        return from_torch(op(torch_tensor(x, order), outputs))


@register("max_pool", "torch")
def _max_pool(
    ctx: Context, x, kernel, stride, padding, dilation, ceil_mode, outputs, order
) -> QTensor:
    op = F.max_pool2d if len(kernel) == 2 else F.max_pool1d
    return from_torch(op(torch_tensor(x, order), kernel, stride, padding, dilation, ceil_mode))
