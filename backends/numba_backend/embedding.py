"""Embedding lookups compiled with numba, in FBGEMM's order of operations.

The bag sum is the hot loop, so it is compiled: per bag, per index in order, per
column, ``out = fmaf(code, s, out + b)``, NaNs chosen as x86 chooses them (the
scales, biases and weights arrive quieted from :mod:`qemu.ops.embedding`). The prepack and unpack kernels have no
order-sensitive accumulation (every element is computed on its own, the NumPy code
is already vectorized), so this backend runs the reference for them.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic
from qemu.backends.numba_backend.primitives import fmaf, x86_nan2

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


# Rows are fetched this many positions ahead, as FBGEMM's kernels do (prefetch=16):
# the table is usually far larger than the cache and the rows are random.
_PREFETCH_DISTANCE = 16


@intrinsic
def _prefetch(typingctx, array, offset):
    """``prefetcht0`` of byte ``offset`` of a C-contiguous array (``llvm.prefetch``)."""
    sig = types.void(array, offset)

    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        byte_pointer = ir.IntType(8).as_pointer()
        address = builder.gep(builder.bitcast(data, byte_pointer), [args[1]])
        int32 = ir.IntType(32)
        function_type = ir.FunctionType(ir.VoidType(), [byte_pointer, int32, int32, int32])
        prefetch = cgutils.get_or_insert_function(
            builder.module, function_type, "llvm.prefetch.p0i8"
        )
        builder.call(prefetch, [address, int32(0), int32(3), int32(1)])
        return context.get_dummy_value()

    return sig, codegen


@njit(cache=True, inline="always")
def _decode_row(packed, row, bits, dim, codes):
    """The codes of one packed row as float32 (even columns in the low bits)."""
    if bits == 8:
        for column in range(dim):
            codes[column] = np.float32(packed[row, column])
        return
    if bits == 4:
        for byte_index in range(dim >> 1):
            byte = packed[row, byte_index]
            codes[2 * byte_index] = np.float32(byte & 15)
            codes[2 * byte_index + 1] = np.float32(byte >> 4)
        return
    for byte_index in range(dim >> 2):
        byte = packed[row, byte_index]
        codes[4 * byte_index] = np.float32(byte & 3)
        codes[4 * byte_index + 1] = np.float32((byte >> 2) & 3)
        codes[4 * byte_index + 2] = np.float32((byte >> 4) & 3)
        codes[4 * byte_index + 3] = np.float32(byte >> 6)


@njit(cache=True)
def _sum_bag(
    packed, bits, scales, biases, start, end, rows, weights, weighted, exact_nan, codes, acc
):
    """One bag, ``acc = fma(code, s, acc + b)`` per row. Without ``exact_nan`` the
    loop vectorizes and NaNs carry whatever payload the compiled code picks; the
    caller then redoes a bag that came out with a NaN with ``exact_nan``, which picks
    them as x86 does."""
    dim = acc.size
    row_bytes = packed.shape[1]
    for column in range(dim):
        acc[column] = np.float32(0.0)
    for position in range(start, end):
        if position + _PREFETCH_DISTANCE < end:
            ahead = rows[position + _PREFETCH_DISTANCE]
            if ahead >= 0:
                _prefetch(packed, ahead * row_bytes)
        row = rows[position]
        if row < 0:  # a pruned row: the kernel skips it
            continue
        scale = scales[row]
        bias = biases[row]
        if weighted:
            weight = weights[position]
            scale = x86_nan2(scale * weight, scale, weight)
            bias = x86_nan2(bias * weight, bias, weight)
        _decode_row(packed, row, bits, dim, codes)
        if exact_nan:
            for column in range(dim):
                partial = acc[column]
                shifted = x86_nan2(partial + bias, partial, bias)
                acc[column] = x86_nan2(fmaf(codes[column], scale, shifted), scale, shifted)
        else:
            for column in range(dim):
                acc[column] = fmaf(codes[column], scale, acc[column] + bias)


@njit(cache=True)
def _sum_bags(packed, bits, scales, biases, starts, ends, rows, weights, weighted, out):
    codes = np.empty(out.shape[1], dtype=np.float32)
    for bag in range(starts.size):
        acc = out[bag]
        arguments = (packed, bits, scales, biases, starts[bag], ends[bag], rows, weights, weighted)
        _sum_bag(*arguments, False, codes, acc)
        for column in range(acc.size):
            if acc[column] != acc[column]:
                _sum_bag(*arguments, True, codes, acc)
                break


def _lookup(packed: np.ndarray, bits: int, plan: embedding.BagPlan, weights) -> np.ndarray:
    dim = embedding.embedding_dim(packed, bits)
    scales, biases = embedding.row_scales_biases(packed, bits)
    out = np.empty((plan.starts.size, dim), dtype=np.float32)
    weighted = weights is not None
    _sum_bags(
        packed,
        bits,
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
