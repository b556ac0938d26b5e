"""The base of every emulated module and the tensor conversions it needs."""

from __future__ import annotations

from typing import Any

import torch

from qemu.interop import from_torch, to_torch


class EmulatedModule(torch.nn.Module):
    """A stand-in for one torch quantized module; subclasses implement ``forward``
    through :mod:`qemu.ops` with ``self.engine`` and ``self.backend``."""

    def __init__(self, original: torch.nn.Module, engine: str, backend: str) -> None:
        super().__init__()
        self.engine = engine
        self.backend = backend
        self.emulates = f"{type(original).__module__}.{type(original).__qualname__}"

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


def from_result(value: Any) -> Any:
    """qemu results (QTensor, float32 arrays, tuples of them) as torch tensors."""
    from qemu.qtensor import QTensor

    if isinstance(value, QTensor):
        return to_torch(value)
    if isinstance(value, tuple):
        return tuple(from_result(v) for v in value)
    return torch.from_numpy(value)
