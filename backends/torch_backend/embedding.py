"""Embedding prepack, unpack and lookups through torch's own quantized ops.

torch registers these ops for the CPU dispatch key whatever the quantized engine,
so every engine runs the same FBGEMM kernels; the runner still sets the engine, so
a difference would show.
"""

from __future__ import annotations

import numpy as np
import torch

from qemu.dispatch import Context, register
from qemu.interop import to_torch
from qemu.qtensor import QTensor

_PREFIX = {8: "embedding_bag_byte", 4: "embedding_bag_4bit", 2: "embedding_bag_2bit"}


def _tensor(array: np.ndarray | None) -> torch.Tensor | None:
    return None if array is None else torch.from_numpy(np.ascontiguousarray(array))


def _quantized_op(name: str):
    return getattr(torch.ops.quantized, name)


@register("embedding_bag_rowwise_prepack", "torch")
def _rowwise_prepack(
    ctx: Context,
    weight: np.ndarray,
    bits: int,
    optimized_qparams: bool,
    nbins: int,
    ratio: float,
    rowwise_min_max: np.ndarray | None,
) -> np.ndarray:
    name = _PREFIX[bits] + "_prepack"
    arguments = [_tensor(weight)]
    if rowwise_min_max is not None:
        name += "_with_rowwise_min_max"
        arguments.append(_tensor(rowwise_min_max))
    if bits != 8:
        arguments += [optimized_qparams, nbins, ratio]
    return _quantized_op(name)(*arguments).numpy()


@register("embedding_bag_rowwise_unpack", "torch")
def _rowwise_unpack(ctx: Context, packed: np.ndarray, bits: int) -> np.ndarray:
    return _quantized_op(_PREFIX[bits] + "_unpack")(_tensor(packed)).numpy()


def _bag_arguments(
    indices, offsets, scale_grad_by_freq, mode, pruned_weights, weights, mapping, last
) -> tuple:
    return (
        _tensor(indices),
        _tensor(offsets),
        scale_grad_by_freq,
        mode,
        pruned_weights,
        _tensor(weights),
        _tensor(mapping),
        last,
    )


@register("embedding_bag_rowwise_offsets", "torch")
def _rowwise_offsets(ctx: Context, packed: np.ndarray, bits: int, *arguments) -> np.ndarray:
    op = _quantized_op(_PREFIX[bits] + "_rowwise_offsets")
    return op(_tensor(packed), *_bag_arguments(*arguments)).numpy()


@register("embedding_bag", "torch")
def _embedding_bag(ctx: Context, weight: QTensor, bits: int, *arguments) -> np.ndarray:
    packed = torch.ops.quantized.embedding_bag_prepack(to_torch(weight))
    return _quantized_op(_PREFIX[bits])(packed, *_bag_arguments(*arguments)).numpy()


@register("embedding", "torch")
def _embedding(
    ctx: Context, weight: QTensor, bits: int, indices: np.ndarray, pruned_weights: bool
) -> np.ndarray:
    packed = torch.ops.quantized.embedding_bag_prepack(to_torch(weight))
    op = torch.ops.quantized.embedding_byte if bits == 8 else torch.ops.quantized.embedding_4bit
    return op(packed, _tensor(indices), pruned_weights).numpy()
