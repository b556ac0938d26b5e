"""Embedding lookups compiled with numba, in FBGEMM's order of operations.

The bag sum is the hot loop, so it is compiled: per bag, per index in order, per
column, ``out = fmaf(code, s, out + b)``, NaNs chosen as x86 chooses them (the
scales, biases and weights arrive quieted from :mod:`qemu.ops.embedding`). The prepack and unpack kernels have no
order-sensitive accumulation (every element is computed on its own, the NumPy code
is already vectorized), so this backend runs the reference for them.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from qemu.backends.numba.primitives import fmaf, x86_nan2

from qemu import dispatch
from qemu.dispatch import Context, register
from qemu.ops import embedding
from qemu.qtensor import QTensor

for _op in (
    "embedding_bag_rowwise_prepack",
    "embedding_bag_rowwise_unpack",
    "embedding_bag_prepack",
):
    register(_op, "numba")(dispatch.kernel(_op, "numpy"))


@njit(cache=True)
def _sum_bags(packed, bits, dim, scales, biases, starts, ends, rows, weights, weighted, out):
    per_byte = 8 // bits
    mask = (1 << bits) - 1
    for bag in range(starts.size):
        for column in range(dim):
            out[bag, column] = np.float32(0.0)
        for position in range(starts[bag], ends[bag]):
            row = rows[position]
            if row < 0:  # a pruned row: the kernel skips it
                continue
            scale = scales[row]
            bias = biases[row]
            if weighted:
                weight = weights[position]
                scale = x86_nan2(scale * weight, scale, weight)
                bias = x86_nan2(bias * weight, bias, weight)
            for column in range(dim):
                byte = packed[row, column // per_byte]
                code = np.float32((byte >> ((column % per_byte) * bits)) & mask)
                partial = out[bag, column]
                shifted = x86_nan2(partial + bias, partial, bias)
                out[bag, column] = x86_nan2(fmaf(code, scale, shifted), scale, shifted)


def _lookup(packed: np.ndarray, bits: int, plan: embedding.BagPlan, weights) -> np.ndarray:
    dim = embedding.embedding_dim(packed, bits)
    scales, biases = embedding.row_scales_biases(packed, bits)
    out = np.empty((plan.starts.size, dim), dtype=np.float32)
    weighted = weights is not None
    _sum_bags(
        packed,
        bits,
        dim,
        scales,
        biases,
        plan.starts,
        plan.ends,
        plan.rows,
        weights if weighted else np.empty(0, dtype=np.float32),
        weighted,
        out,
    )
    return out


@register("embedding_bag_rowwise_offsets", "numba")
def _rowwise_offsets(
    ctx: Context,
    packed: np.ndarray,
    bits: int,
    indices: np.ndarray,
    offsets: np.ndarray | None,
    scale_grad_by_freq: bool,
    mode: int,
    pruned_weights: bool,
    per_sample_weights: np.ndarray | None,
    compressed_indices_mapping: np.ndarray | None,
    include_last_offset: bool,
) -> np.ndarray:
    plan, weights = embedding.rowwise_offsets_plan(
        packed,
        bits,
        indices,
        offsets,
        pruned_weights,
        per_sample_weights,
        compressed_indices_mapping,
        include_last_offset,
    )
    return _lookup(packed, bits, plan, weights)


@register("embedding_bag", "numba")
def _embedding_bag(ctx: Context, weight: QTensor, bits: int, *arguments) -> np.ndarray:
    return _rowwise_offsets(ctx, embedding.module_prepack_rows(weight), bits, *arguments)


@register("embedding", "numba")
def _embedding(
    ctx: Context, weight: QTensor, bits: int, indices: np.ndarray, pruned_weights: bool
) -> np.ndarray:
    packed = embedding.module_prepack_rows(weight)
    out = _lookup(packed, bits, embedding.single_index_plan(packed.shape[0], bits, indices), None)
    return out.reshape(*indices.shape, out.shape[-1])
