"""quantize / dequantize through torch itself."""

from __future__ import annotations

import numpy as np
import torch

from qemu.dispatch import Context, register
from qemu.dtypes import QDType
from qemu.interop import from_torch, to_torch
from qemu.qtensor import QTensor


@register("quantize_per_tensor", "torch")
def _quantize_per_tensor(
    ctx: Context, x: np.ndarray, scale: float, zero_point: int, dtype: QDType
) -> QTensor:
    return from_torch(
        torch.quantize_per_tensor(
            torch.from_numpy(x), scale, zero_point, getattr(torch, dtype.name)
        )
    )


@register("quantize_per_channel", "torch")
def _quantize_per_channel(
    ctx: Context,
    x: np.ndarray,
    scales: np.ndarray,
    zero_points: np.ndarray,
    axis: int,
    dtype: QDType,
) -> QTensor:
    result = torch.quantize_per_channel(
        torch.from_numpy(x),
        torch.from_numpy(scales),
        torch.from_numpy(zero_points),
        axis,
        getattr(torch, dtype.name),
    )
    return from_torch(result)


@register("dequantize", "torch")
def _dequantize(ctx: Context, q: QTensor) -> np.ndarray:
    return to_torch(q).dequantize().numpy()


@register("quantize_per_tensor_dynamic", "torch")
def _quantize_per_tensor_dynamic(
    ctx: Context, x: np.ndarray, dtype: QDType | str, reduce_range: bool
) -> QTensor | np.ndarray:
    torch_dtype = torch.float16 if dtype == "float16" else getattr(torch, dtype.name)
    result = torch.quantize_per_tensor_dynamic(torch.from_numpy(x), torch_dtype, reduce_range)
    return result.numpy() if dtype == "float16" else from_torch(result)
