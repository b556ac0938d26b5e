"""Activations through torch's own quantized kernels."""

from __future__ import annotations

import torch
from qemu.backends.torch_backend.elementwise import torch_tensor

from qemu.dispatch import Context, register
from qemu.dtypes import QUINT8
from qemu.interop import from_torch
from qemu.ops import activation as ref
from qemu.ops.common import check_qnnpack_nc_input
from qemu.qtensor import QTensor

F = torch.nn.functional


@register("relu", "torch")
def _relu(ctx: Context, x, order) -> QTensor:
    return from_torch(torch.relu(torch_tensor(x, order)))


@register("clamp", "torch")
def _clamp(ctx: Context, x, low, high, variant, order) -> QTensor:
    t = torch_tensor(x, order)
    if variant == "relu6":
        return from_torch(torch.ops.quantized.relu6(t))
    if variant == "hardtanh":
        return from_torch(F.hardtanh(t, low, high))
    return from_torch(torch.clamp(t, low, high))


@register("leaky_relu", "torch")
def _leaky_relu(ctx: Context, x, slope, scale, zero_point, order) -> QTensor:
    return from_torch(
        torch.ops.quantized.leaky_relu(torch_tensor(x, order), slope, False, scale, zero_point)
    )


@register("threshold", "torch")
def _threshold(ctx: Context, x, limit, replacement, order) -> QTensor:
    return from_torch(torch.ops.quantized.threshold(torch_tensor(x, order), limit, replacement))


def _refuse_qnnpack_crash(ctx: Context, x: QTensor, op: str) -> None:
    """torch's QNNPACK hardswish / hardsigmoid divide by size(0) and kill the process
    on an empty batch; refuse before calling them."""
    if ctx.engine.is_qnnpack and x.dtype == QUINT8:
        check_qnnpack_nc_input(x, "input", op, batch="crashes")


@register("hardswish", "torch")
def _hardswish(ctx: Context, x, scale, zero_point, order) -> QTensor:
    _refuse_qnnpack_crash(ctx, x, "hardswish")
    return from_torch(torch.ops.quantized.hardswish(torch_tensor(x, order), scale, zero_point))


@register("hardsigmoid", "torch")
def _hardsigmoid(ctx: Context, x, order) -> QTensor:
    _refuse_qnnpack_crash(ctx, x, "hardsigmoid")
    return from_torch(F.hardsigmoid(torch_tensor(x, order)))


@register("sigmoid", "torch")
def _sigmoid(ctx: Context, x, scale, zero_point, fixed, order) -> QTensor:
    t = torch_tensor(x, order)
    if fixed:
        return from_torch(torch.sigmoid(t))
    return from_torch(torch.ops.quantized.sigmoid(t, scale, zero_point))


@register("tanh", "torch")
def _tanh(ctx: Context, x, order) -> QTensor:
    return from_torch(torch.tanh(torch_tensor(x, order)))


@register("elu", "torch")
def _elu(ctx: Context, x, scale, zero_point, alpha, coef, input_coef, variant, order) -> QTensor:
    t = torch_tensor(x, order)
    if variant == "celu":
        return from_torch(torch.ops.quantized.celu(t, scale, zero_point, alpha))
    return from_torch(torch.ops.quantized.elu(t, scale, zero_point, alpha, coef, input_coef))


@register("gelu", "torch")
def _gelu(ctx: Context, x, approximate, order) -> QTensor:
    return from_torch(F.gelu(torch_tensor(x, order), approximate=approximate))


@register("softmax", "torch")
def _softmax(ctx: Context, x, dim, scale, zero_point, order) -> QTensor:
    if ref.softmax_runs_qnnpack(ctx, x, scale, zero_point):
        ref.check_qnnpack_softmax(x, dim, order)  # torch divides by zero on these
    return from_torch(torch.ops.quantized.softmax(torch_tensor(x, order), dim, scale, zero_point))
