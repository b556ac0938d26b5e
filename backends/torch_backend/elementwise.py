"""add / mul / scalar variants / cat through torch's own quantized kernels."""

from __future__ import annotations

import numpy as np
import torch

from qemu.dispatch import Context, register
from qemu.interop import from_torch, to_torch
from qemu.qtensor import QTensor


def torch_tensor(q: QTensor, order: tuple) -> torch.Tensor:
    """``q`` as a torch quantized tensor laid out in ``order`` (outermost dim first)."""
    t = to_torch(q)
    if tuple(order) != tuple(range(q.ndim)):
        t = t.permute(*order).contiguous().permute(*np.argsort(order).tolist())
    return t


@register("add", "torch")
def _add(ctx: Context, qa, qb, scale, zero_point, relu, layouts) -> QTensor:
    op = torch.ops.quantized.add_relu if relu else torch.ops.quantized.add
    return from_torch(
        op(torch_tensor(qa, layouts[0]), torch_tensor(qb, layouts[1]), scale, zero_point)
    )


@register("mul", "torch")
def _mul(ctx: Context, qa, qb, scale, zero_point, relu, layouts) -> QTensor:
    op = torch.ops.quantized.mul_relu if relu else torch.ops.quantized.mul
    return from_torch(
        op(torch_tensor(qa, layouts[0]), torch_tensor(qb, layouts[1]), scale, zero_point)
    )


@register("add_scalar", "torch")
def _add_scalar(ctx: Context, qa, other, relu, order) -> QTensor:
    op = torch.ops.quantized.add_scalar_relu if relu else torch.ops.quantized.add_scalar
    return from_torch(op(torch_tensor(qa, order), other))


@register("mul_scalar", "torch")
def _mul_scalar(ctx: Context, qa, other, relu, order) -> QTensor:
    op = torch.ops.quantized.mul_scalar_relu if relu else torch.ops.quantized.mul_scalar
    return from_torch(op(torch_tensor(qa, order), other))


@register("cat", "torch")
def _cat(ctx: Context, qxs, dim, scale, zero_point, relu, orders) -> QTensor:
    op = torch.ops.quantized.cat_relu if relu else torch.ops.quantized.cat
    tensors = [torch_tensor(q, order) for q, order in zip(qxs, orders, strict=True)]
    return from_torch(op(tensors, dim, scale, zero_point))
