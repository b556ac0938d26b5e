"""Quantized embeddings: ``nnq.Embedding`` and ``nnq.EmbeddingBag`` (8-bit and 4-bit
rowwise weights). The bag module calls its op with ``mode=0`` (sum) whatever mode it
was built with -- a torch defect emulated as it is (docs/models.md)."""

from __future__ import annotations

from typing import Any

import torch
import torch.ao.nn.quantized as nnq

import qemu.ops
from qemu.emulate.base import EmulatedModule, from_result
from qemu.emulate.registry import register
from qemu.interop import from_torch


def _optional_array(tensor: torch.Tensor | None) -> Any:
    return None if tensor is None else from_torch(tensor)


class EmulatedEmbedding(EmulatedModule):
    """``quantized::embedding_byte`` / ``embedding_4bit``."""

    def __init__(self, original: nnq.Embedding, engine: str, backend: str) -> None:
        super().__init__(original, engine, backend)
        self.weight = from_torch(original.weight())
        # The module's dtype picks the op, as its forward does; a quint4x2 module whose
        # weight was packed as 8-bit rows is read as 4-bit rows, as torch reads it.
        four_bit = original.dtype == torch.quint4x2
        self.op = qemu.ops.embedding_4bit if four_bit else qemu.ops.embedding_byte

    def forward(self, indices: torch.Tensor) -> torch.Tensor:
        return from_result(self.op(self.weight, from_torch(indices), **self.ops_kwargs()))


class EmulatedEmbeddingBag(EmulatedModule):
    """``quantized::embedding_bag_byte`` / ``embedding_bag_4bit`` with the module's
    arguments: ``scale_grad_by_freq=False, mode=0`` (sum), its pruned_weights and
    include_last_offset."""

    def __init__(self, original: nnq.EmbeddingBag, engine: str, backend: str) -> None:
        super().__init__(original, engine, backend)
        self.weight = from_torch(original.weight())
        # The module's dtype picks the op, as its forward does; a quint4x2 module whose
        # weight was packed as 8-bit rows is read as 4-bit rows, as torch reads it.
        four_bit = original.dtype == torch.quint4x2
        self.op = qemu.ops.embedding_bag_4bit if four_bit else qemu.ops.embedding_bag_byte
        self.pruned_weights = bool(original.pruned_weights)
        self.include_last_offset = bool(original.include_last_offset)

    def forward(
        self,
        indices: torch.Tensor,
        offsets: torch.Tensor | None = None,
        per_sample_weights: torch.Tensor | None = None,
        compressed_indices_mapping: torch.Tensor | None = None,
    ) -> torch.Tensor:
        result = self.op(
            self.weight,
            from_torch(indices),
            _optional_array(offsets),
            False,
            0,
            self.pruned_weights,
            _optional_array(per_sample_weights),
            _optional_array(compressed_indices_mapping),
            self.include_last_offset,
            **self.ops_kwargs(),
        )
        return from_result(result)


register(nnq.Embedding)(EmulatedEmbedding)
register(nnq.EmbeddingBag)(EmulatedEmbeddingBag)
