"""Dynamic quantized linear through torch's own ops (``torch.ops.quantized``)."""

from __future__ import annotations

import torch

from qemu.dispatch import register
from qemu.interop import to_torch


def _optional(array):
    return None if array is None else torch.from_numpy(array)


def _int8(op, x, weight, bias, reduce_range):
    packed = torch.ops.quantized.linear_prepack(to_torch(weight), _optional(bias))
    return op(torch.from_numpy(x), packed, reduce_range).numpy()


@register("linear_dynamic", "torch")
def _linear_dynamic(ctx, x, weight, bias, reduce_range):
    return _int8(torch.ops.quantized.linear_dynamic, x, weight, bias, reduce_range)


@register("linear_relu_dynamic", "torch")
def _linear_relu_dynamic(ctx, x, weight, bias, reduce_range):
    return _int8(torch.ops.quantized.linear_relu_dynamic, x, weight, bias, reduce_range)


def _fp16(op, x, weight, bias):
    packed = torch.ops.quantized.linear_prepack_fp16(torch.from_numpy(weight), _optional(bias))
    return op(torch.from_numpy(x), packed).numpy()


@register("linear_dynamic_fp16", "torch")
def _linear_dynamic_fp16(ctx, x, weight, bias):
    return _fp16(torch.ops.quantized.linear_dynamic_fp16, x, weight, bias)


@register("linear_relu_dynamic_fp16", "torch")
def _linear_relu_dynamic_fp16(ctx, x, weight, bias):
    return _fp16(torch.ops.quantized.linear_relu_dynamic_fp16, x, weight, bias)
