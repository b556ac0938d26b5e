"""Conversions between qemu and torch tensors. torch is imported only when called."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from qemu.dtypes import as_qdtype
from qemu.qtensor import QTensor

if TYPE_CHECKING:
    import torch


def _torch():
    try:
        import torch
    except ImportError as error:
        raise ImportError("this needs torch==2.13.0 (pip install 'qemu-quant[torch]')") from error
    return torch


def from_torch(t: torch.Tensor) -> QTensor | np.ndarray:
    """A torch tensor as qemu sees it: a quantized tensor becomes a :class:`QTensor`
    (codes, dtype and qparams copied bit for bit), any other tensor a NumPy array.

    Examples
    --------
    >>> import torch, qemu  # doctest: +SKIP
    >>> qemu.from_torch(torch.quantize_per_tensor(torch.ones(2), 0.5, 1, torch.quint8)).codes  # doctest: +SKIP
    array([3, 3], dtype=uint8)
    """
    torch = _torch()
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"t: expected a torch.Tensor, got {type(t).__name__}")
    t = t.detach()
    if not t.is_quantized:
        return t.cpu().contiguous().numpy().copy()
    dtype = as_qdtype(t.dtype, argument="t.dtype")
    codes = _unpacked_codes(t, dtype)
    if t.qscheme() in (torch.per_tensor_affine, torch.per_tensor_symmetric):
        return QTensor.per_tensor(codes, t.q_scale(), t.q_zero_point(), dtype)
    scales = t.q_per_channel_scales().numpy()
    zero_points = t.q_per_channel_zero_points().numpy()
    float_qparams = t.qscheme() == torch.per_channel_affine_float_qparams
    return QTensor.per_channel(
        codes, scales, zero_points, t.q_per_channel_axis(), dtype, float_qparams=float_qparams
    )


def _unpacked_codes(t: torch.Tensor, dtype) -> np.ndarray:
    stored = t.int_repr().contiguous().numpy()
    if not dtype.sub_byte:
        return stored.reshape(tuple(t.shape)).copy()
    per_byte = 8 // dtype.bits
    mask = (1 << dtype.bits) - 1
    shifts = np.arange(per_byte, dtype=np.uint8) * dtype.bits
    unpacked = ((stored.reshape(-1, 1) >> shifts) & mask).reshape(-1)
    return unpacked[: t.numel()].reshape(tuple(t.shape)).astype(np.uint8)


def to_torch(q: QTensor) -> torch.Tensor:
    """The torch quantized tensor with the same codes, dtype and qparams.

    The tensor is allocated empty with the qparams and its storage filled with
    :meth:`QTensor.int_repr`'s bytes, which is exact for every dtype and scheme
    (torch has no public constructor from packed sub-byte codes).
    """
    torch = _torch()
    if not isinstance(q, QTensor):
        raise TypeError(f"q: expected a QTensor, got {type(q).__name__}")
    torch_dtype = getattr(torch, q.dtype.name)
    if q.is_per_channel:
        result = torch._empty_per_channel_affine_quantized(
            list(q.shape),
            scales=torch.from_numpy(q.q_per_channel_scales()),
            zero_points=torch.from_numpy(q.q_per_channel_zero_points()),
            axis=q.q_per_channel_axis(),
            dtype=torch_dtype,
        )
    else:
        result = torch._empty_affine_quantized(
            list(q.shape), scale=q.q_scale(), zero_point=q.q_zero_point(), dtype=torch_dtype
        )
    stored = np.ascontiguousarray(q.int_repr()).reshape(-1).view(np.uint8)
    raw = torch.empty(0, dtype=torch.uint8).set_(result.untyped_storage())
    raw[: stored.size].copy_(torch.from_numpy(stored.copy()))
    return result
