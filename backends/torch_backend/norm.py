"""Normalization through torch's own quantized kernels."""

from __future__ import annotations

import torch
from qemu.backends.torch_backend.elementwise import torch_tensor

from qemu.dispatch import Context, register
from qemu.interop import from_torch
from qemu.qtensor import QTensor


def _tensor(array):
    return None if array is None else torch.from_numpy(array.copy())


@register("layer_norm", "torch")
def _layer_norm(ctx: Context, x, shape, gamma, beta, eps, scale, zero_point) -> QTensor:
    t = torch_tensor(x, tuple(range(x.ndim)))
    return from_torch(
        torch.ops.quantized.layer_norm(
            t, list(shape), _tensor(gamma), _tensor(beta), eps, scale, zero_point
        )
    )


@register("group_norm", "torch")
def _group_norm(
    ctx: Context, x, groups, gamma, beta, eps, scale, zero_point, instance, order
) -> QTensor:
    t = torch_tensor(x, order)
    if instance:
        return from_torch(
            torch.ops.quantized.instance_norm(
                t, _tensor(gamma), _tensor(beta), eps, scale, zero_point
            )
        )
    return from_torch(
        torch.ops.quantized.group_norm(
            t, groups, _tensor(gamma), _tensor(beta), eps, scale, zero_point
        )
    )


_BATCH_NORM = {2: "batch_norm1d", 3: "batch_norm1d", 4: "batch_norm2d", 5: "batch_norm3d"}


@register("batch_norm", "torch")
def _batch_norm(
    ctx: Context, x, weight, bias, mean, var, eps, scale, zero_point, relu, order
) -> QTensor:
    name = _BATCH_NORM[x.ndim] + ("_relu" if relu else "")
    op = getattr(torch.ops.quantized, name)
    return from_torch(
        op(
            torch_tensor(x, order),
            _tensor(weight),
            _tensor(bias),
            _tensor(mean),
            _tensor(var),
            eps,
            scale,
            zero_point,
        )
    )
