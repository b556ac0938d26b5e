"""``quantized::matmul`` through torch."""

from __future__ import annotations

import torch

from qemu.dispatch import Context, register
from qemu.interop import from_torch, to_torch
from qemu.qtensor import QTensor


@register("matmul", "torch")
def _matmul(ctx: Context, qa, qb, scale, zero_point) -> QTensor:
    return from_torch(torch.ops.quantized.matmul(to_torch(qa), to_torch(qb), scale, zero_point))
