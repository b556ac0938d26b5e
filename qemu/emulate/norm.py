"""Quantized normalizations: ``nnq.BatchNorm2d/3d``, the fused ``nniq.BNReLU2d/3d``,
``nnq.LayerNorm``, ``GroupNorm`` and ``InstanceNorm1d/2d/3d``.

Output layouts as torch 2.13 writes them (measured; tests/models/test_emulate_modules.py
holds them): batch norm channels-last always; group and instance norm channels-last for
a 4-D channels-last input, contiguous otherwise (a channels-last 3-D input included);
layer norm contiguous.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.ao.nn.intrinsic.quantized as nniq
import torch.ao.nn.quantized as nnq

import qemu.ops
from qemu.emulate.base import (
    EmulatedModule,
    channels_last_order,
    from_result,
    memory_layout,
    suggested_layout,
    to_qtensor,
)
from qemu.emulate.registry import register


def _array(tensor: torch.Tensor | None) -> np.ndarray | None:
    return None if tensor is None else tensor.detach().numpy().astype(np.float32, copy=True)


class EmulatedNorm(EmulatedModule):
    """One quantized normalization with the module's affine parameters, statistics, eps
    and output qparams, read once."""

    def __init__(self, original: torch.nn.Module, engine: str, backend: str) -> None:
        super().__init__(original, engine, backend)
        self.kind = _KINDS[type(original)]
        self.weight = _array(original.weight)
        self.bias = _array(original.bias)
        self.eps = float(original.eps)
        self.scale = float(original.scale)
        self.zero_point = int(original.zero_point)
        if self.kind in ("batch_norm", "batch_norm_relu"):
            self.dims = 4 if "2d" in type(original).__name__ else 5
            self.mean = _array(original.running_mean)
            self.var = _array(original.running_var)
        if self.kind == "layer_norm":
            self.normalized_shape = tuple(original.normalized_shape)
        if self.kind == "group_norm":
            self.num_groups = int(original.num_groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, kw = to_qtensor(x), {"memory_format": memory_layout(x), **self.ops_kwargs()}
        out = self.scale, self.zero_point
        if self.kind in ("batch_norm", "batch_norm_relu"):
            if x.dim() != self.dims:
                raise ValueError(
                    f"input: expected {self.dims} dimensions, got shape {tuple(x.shape)}"
                )
            op = getattr(qemu.ops, self.kind)
            result = op(q, self.weight, self.bias, self.mean, self.var, self.eps, *out, **kw)
            return from_result(result, channels_last_order(x.dim()))
        if self.kind == "layer_norm":
            result = qemu.ops.layer_norm(
                q, self.normalized_shape, self.weight, self.bias, self.eps, *out, **kw
            )
            return from_result(result)
        if self.kind == "group_norm":
            result = qemu.ops.group_norm(
                q, self.num_groups, self.weight, self.bias, self.eps, *out, **kw
            )
        else:
            result = qemu.ops.instance_norm(q, self.weight, self.bias, self.eps, *out, **kw)
        return from_result(result, suggested_layout(x) if x.dim() == 4 else "contiguous")


_KINDS = {
    nnq.BatchNorm2d: "batch_norm",
    nnq.BatchNorm3d: "batch_norm",
    nniq.BNReLU2d: "batch_norm_relu",
    nniq.BNReLU3d: "batch_norm_relu",
    nnq.LayerNorm: "layer_norm",
    nnq.GroupNorm: "group_norm",
    nnq.InstanceNorm1d: "instance_norm",
    nnq.InstanceNorm2d: "instance_norm",
    nnq.InstanceNorm3d: "instance_norm",
}

register(*_KINDS)(EmulatedNorm)
