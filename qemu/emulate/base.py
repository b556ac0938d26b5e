"""The base of every emulated module and the tensor conversions it needs."""

from __future__ import annotations

from typing import Any

import torch

from qemu.interop import from_torch, to_torch
from qemu.numerics import aten_loops


class EmulatedModule(torch.nn.Module):
    """A stand-in for one torch quantized module; subclasses implement ``forward``
    through :mod:`qemu.ops` with ``self.engine`` and ``self.backend``."""

    def __init__(self, original: torch.nn.Module, engine: str, backend: str) -> None:
        super().__init__()
        self.engine = engine
        self.backend = backend
        self.emulates = f"{type(original).__module__}.{type(original).__qualname__}"
        self.train(original.training)

    def ops_kwargs(self) -> dict[str, str]:
        return {"engine": self.engine, "backend": self.backend}

    def extra_repr(self) -> str:
        return f"emulates={self.emulates}, engine={self.engine}, backend={self.backend}"


def to_qtensor(tensor: torch.Tensor, argument: str = "input") -> Any:
    """A torch quantized tensor as a QTensor (refusing float tensors where a quantized one
    is expected, as torch's quantized modules do)."""
    if not isinstance(tensor, torch.Tensor) or not tensor.is_quantized:
        raise TypeError(
            f"{argument}: expected a quantized tensor, got {getattr(tensor, 'dtype', type(tensor).__name__)}"
        )
    return from_torch(tensor)


def to_float_array(tensor: torch.Tensor, argument: str = "input") -> Any:
    if not isinstance(tensor, torch.Tensor) or tensor.is_quantized or tensor.dtype != torch.float32:
        raise TypeError(
            f"{argument}: expected a float32 tensor, got {getattr(tensor, 'dtype', type(tensor).__name__)}"
        )
    return from_torch(tensor)


def from_result(value: Any, layout: str | tuple[int, ...] = "contiguous") -> Any:
    """qemu results (QTensor, float32 arrays, tuples of them) as torch tensors; quantized
    results laid out in ``layout`` (the layout torch's kernel writes)."""
    from qemu.qtensor import QTensor

    if isinstance(value, QTensor):
        return laid_out(to_torch(value), layout)
    if isinstance(value, tuple):
        return tuple(from_result(v, layout) for v in value)
    return laid_out(torch.from_numpy(value), layout)


def memory_layout(tensor: torch.Tensor) -> str | tuple[int, ...]:
    """How a torch tensor lies in memory, in the form ``qemu.ops``' ``memory_format`` takes:
    a layout name where one fits, else its dimensions from outermost to innermost stride.

    Several ATen kernels pick their vector / scalar split from the layout, so an
    emulated module hands the ops the layout torch's module would have seen.
    """
    if tensor.is_contiguous():
        return "contiguous"
    if tensor.dim() == 4 and tensor.is_contiguous(memory_format=torch.channels_last):
        return "channels_last"
    if tensor.dim() == 5 and tensor.is_contiguous(memory_format=torch.channels_last_3d):
        return "channels_last_3d"
    strides = tensor.stride()
    return tuple(sorted(range(tensor.dim()), key=lambda d: (-strides[d], d)))


def suggested_layout(tensor: torch.Tensor) -> str:
    """``tensor.suggest_memory_format()`` as a layout name: where most ATen quantized
    kernels allocate their output."""
    return aten_loops.suggest_memory_format(tuple(tensor.shape), tensor.stride())


def channels_last_order(ndim: int) -> tuple[int, ...]:
    """(N, spatial..., C): the layout fbgemm and qnnpack convolutions and batch norms write
    (``at::MemoryFormat::ChannelsLast`` and its 3-D / 1-D analogues)."""
    return (0, *range(2, ndim), 1)


def laid_out(tensor: torch.Tensor, layout: str | tuple[int, ...]) -> torch.Tensor:
    """``tensor`` (contiguous) re-laid in ``layout`` with the same values."""
    order = aten_loops.dim_order(tensor.dim(), layout)
    if order == tuple(range(tensor.dim())):
        return tensor
    inverse = [order.index(d) for d in range(tensor.dim())]
    # clone, not contiguous(): a permuted tensor whose only misplaced dims have size 1
    # already counts as contiguous and would keep its strides.
    return tensor.permute(order).clone(memory_format=torch.contiguous_format).permute(inverse)
