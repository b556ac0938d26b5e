"""u8 x s8 GEMM sums with the instructions fbgemm itself uses, for hosts with AVX512-VNNI.

fbgemm's VNNI kernels (``src/GenerateKernelU8S8S32ACC32Avx512VNNI.cc``) accumulate
``vpdpbusd``: four u8 x s8 products added exactly into an int32 lane. Its AVX2/AVX512
kernels (``src/GenerateKernelU8S8S32ACC32.cc: genComputeBlock``) use ``vpmaddubsw``
(products of k = 2p and 2p + 1 added into a *saturating* int16), ``vpmaddwd`` by ones
and ``vpaddd``. This module emits exactly those instructions: small GEMM microkernels
written in LLVM IR with llvmlite (numba's LLVM binding), compiled for this host on first
use, called through ctypes. So the saturation is the instruction's own, and the sums
are the ones :mod:`qemu.numerics.int8gemm` defines (tests/foundation/test_int8gemm.py
holds them equal).

Weights are packed as fbgemm packs B for these kernels: blocks of 32 output channels,
and in each block, for every group of four k, the four bytes of each channel side by
side (one 64-byte vector holds 16 channels x 4 k). K is padded with zeros to a multiple
of four: a zero k adds nothing, and pairs (2p, 2p + 1) stay aligned with the groups.
"""

from __future__ import annotations

import ctypes
import functools
import os
from dataclasses import dataclass

import numpy as np
from llvmlite import binding as llvm
from llvmlite import ir

# Output rows and columns per microkernel call: 6 x 32 int32 accumulators (12 zmm
# registers) per group of four k, like fbgemm's 512-bit row/column blocking.
ROWS = 6
COLUMNS = 32
_VECTORS = COLUMNS // 16

# Largest K whose sums cannot leave int32 (the kernels accumulate in int32 lanes):
# 255 * 128 per product exactly, 32,767 per saturated pair.
MAX_EXACT_K = (2**31 - 1) // (255 * 128)
MAX_PAIR_SATURATED_K = 2 * ((2**31 - 1) // 32767)

# The host features the kernels need (LLVM's names).
_FEATURES = ("avx512f", "avx512bw", "avx512vnni")


@functools.cache
def available() -> bool:
    """Whether this host runs the kernels (AVX512-F/BW/VNNI, and an llvmlite with the
    new pass manager, 0.44 or later). ``QEMU_VNNI=0`` in the environment turns them off,
    so that the portable path can be exercised here.

    Examples
    --------
    >>> isinstance(available(), bool)
    True
    """
    if os.environ.get("QEMU_VNNI", "1") == "0" or not hasattr(llvm, "create_pass_builder"):
        return False
    features = llvm.get_host_cpu_features()
    return all(features.get(name, False) for name in _FEATURES)


def max_k(saturating_pairs: bool) -> int:
    """The largest K the kernels take: beyond it a sum could leave their int32 lanes.

    Examples
    --------
    >>> max_k(saturating_pairs=False)
    65793
    """
    return MAX_PAIR_SATURATED_K if saturating_pairs else MAX_EXACT_K


@dataclass(frozen=True, eq=False)
class PackedWeights:
    """int8 weights (N, K) in the kernels' layout: ``blocks`` is (ceil(N / 32), K4 / 4,
    32, 4) with ``K4`` = K rounded up to a multiple of 4, zeros in the padding."""

    blocks: np.ndarray
    n: int
    k: int


def pack_weights(w: np.ndarray) -> PackedWeights:
    """Pack int8 weights of shape (N, K) for :func:`gemm_u8s8`.

    Examples
    --------
    >>> pack_weights(np.int8([[1, 2, 3]])).blocks.shape
    (1, 1, 32, 4)
    """
    if w.dtype != np.int8 or w.ndim != 2:
        raise TypeError(f"w: expected int8 weights of shape (N, K), got {w.dtype} {w.shape}")
    n, k = w.shape
    k4, n32 = -(-k // 4) * 4, -(-n // COLUMNS) * COLUMNS
    padded = np.zeros((n32, k4), np.int8)
    padded[:n, :k] = w
    blocks = padded.reshape(n32 // COLUMNS, COLUMNS, k4 // 4, 4).transpose(0, 2, 1, 3)
    return PackedWeights(np.ascontiguousarray(blocks), n, k)


def gemm_u8s8(a: np.ndarray, weights: PackedWeights, *, saturating_pairs: bool) -> np.ndarray:
    """``sum_k a[m, k] * w[n, k]``, exact or with int16 pair saturation (as
    :func:`qemu.numerics.int8gemm.gemm_u8s8`), as int32 of shape (M, N).

    Examples
    --------
    >>> w = pack_weights(np.int8([[-128, -128]]))
    >>> gemm_u8s8(np.uint8([[255, 255]]), w, saturating_pairs=True).tolist() if available() else [[-32768]]
    [[-32768]]
    """
    if not available():
        raise RuntimeError("the VNNI kernels need a host with AVX512-F/BW/VNNI")
    if a.dtype != np.uint8 or a.ndim != 2 or a.shape[1] != weights.k:
        raise ValueError(f"a: expected uint8 (M, {weights.k}), got {a.dtype} {a.shape}")
    limit = max_k(saturating_pairs)
    if weights.k > limit:
        raise ValueError(f"K = {weights.k} can overflow the int32 lanes (at most {limit})")
    m = a.shape[0]
    groups = weights.blocks.shape[1]
    if groups * 4 != weights.k:
        a = np.pad(a, ((0, 0), (0, groups * 4 - weights.k)))
    a = np.ascontiguousarray(a)
    out = np.empty((m, weights.blocks.shape[0] * COLUMNS), np.int32)
    if m and groups and out.size:
        kernel = _kernels()["pair_saturated" if saturating_pairs else "exact"]
        kernel(
            a.ctypes.data, a.strides[0], m, weights.blocks.ctypes.data,
            weights.blocks.shape[0], groups, out.ctypes.data, out.shape[1],
        )  # fmt: skip
    else:
        out[:] = 0
    return out[:, : weights.n]


# -- code generation --------------------------------------------------------------------


def _i64(value: int) -> ir.Constant:
    return ir.Constant(ir.IntType(64), value)


def _microkernel(module, name: str, rows: int, saturating_pairs: bool):
    """``rows`` x 32 int32 sums over ``groups`` groups of four k, stored (not added) to
    C. Arguments (all i64): A (u8, row stride ``lda`` bytes), packed B block, C (int32,
    row stride ``ldc`` elements), ``groups`` >= 1."""
    i8, i16, i32, i64 = (ir.IntType(b) for b in (8, 16, 32, 64))
    v16i32, v64i8, v32i16 = ir.VectorType(i32, 16), ir.VectorType(i8, 64), ir.VectorType(i16, 32)
    pointer = ir.PointerType()
    function = ir.Function(module, ir.FunctionType(ir.VoidType(), [i64] * 6), name=name)
    function.linkage = "internal"
    a_address, lda, b_address, c_address, ldc, groups = function.args
    entry, loop, done = (function.append_basic_block(s) for s in ("entry", "loop", "done"))

    def intrinsic(intrinsic_name, result, *operands):
        existing = module.globals.get(intrinsic_name)
        return existing or ir.Function(module, ir.FunctionType(result, operands), intrinsic_name)

    dpbusd = intrinsic("llvm.x86.avx512.vpdpbusd.512", v16i32, v16i32, v64i8, v64i8)
    maddubs = intrinsic("llvm.x86.avx512.pmaddubs.w.512", v32i16, v64i8, v64i8)
    maddwd = intrinsic("llvm.x86.avx512.pmaddw.d.512", v16i32, v32i16, v32i16)
    ones = ir.Constant(v32i16, [1] * 32)

    b = ir.IRBuilder(entry)
    a_base, b_base, c_base = (b.inttoptr(x, pointer) for x in (a_address, b_address, c_address))
    b.branch(loop)

    b.position_at_end(loop)
    group = b.phi(i64)
    group.add_incoming(_i64(0), entry)
    sums = [[b.phi(v16i32) for _ in range(_VECTORS)] for _ in range(rows)]
    for row in sums:
        for phi in row:
            phi.add_incoming(ir.Constant(v16i32, None), entry)
    b_offset = b.mul(group, _i64(COLUMNS * 4))
    columns = []
    for j in range(_VECTORS):
        address = b.gep(b_base, [b.add(b_offset, _i64(64 * j))], source_etype=i8)
        columns.append(b.load(address, typ=v64i8))
        columns[-1].align = 1
    updated = []
    for r in range(rows):
        offset = b.add(b.mul(_i64(r), lda), b.shl(group, _i64(2)))
        address = b.gep(a_base, [offset], source_etype=i8)
        four = b.load(address, typ=i32)  # a[r, 4g .. 4g+3], broadcast to every lane
        four.align = 1
        lane = b.insert_element(ir.Constant(v16i32, ir.Undefined), four, ir.Constant(i32, 0))
        splat = b.shuffle_vector(lane, ir.Constant(v16i32, ir.Undefined), ir.Constant(v16i32, None))
        splat = b.bitcast(splat, v64i8)
        row = []
        for j in range(_VECTORS):
            if saturating_pairs:
                pairs = b.call(maddubs, [splat, columns[j]])
                row.append(b.add(sums[r][j], b.call(maddwd, [pairs, ones])))
            else:
                row.append(b.call(dpbusd, [sums[r][j], splat, columns[j]]))
        updated.append(row)
    following = b.add(group, _i64(1))
    group.add_incoming(following, loop)
    for r in range(rows):
        for j in range(_VECTORS):
            sums[r][j].add_incoming(updated[r][j], loop)
    b.cbranch(b.icmp_signed("<", following, groups), loop, done)

    b.position_at_end(done)
    row_bytes = b.mul(ldc, _i64(4))
    for r in range(rows):
        for j in range(_VECTORS):
            offset = b.add(b.mul(_i64(r), row_bytes), _i64(64 * j))
            store = b.store(updated[r][j], b.gep(c_base, [offset], source_etype=i8))
            store.align = 1
    b.ret_void()
    return function


def _driver(module, name: str, saturating_pairs: bool):
    """The GEMM: for each 32-column block of B, the rows of A in steps of :data:`ROWS`
    (the last step with the microkernel for the rows that are left). Arguments (i64): A,
    lda (bytes), M, packed B, column blocks, groups of four k, C, ldc (elements)."""
    i64 = ir.IntType(64)
    kernels = [
        _microkernel(module, f"{name}_{rows}", rows, saturating_pairs)
        for rows in range(1, ROWS + 1)
    ]
    function = ir.Function(module, ir.FunctionType(ir.VoidType(), [i64] * 8), name=name)
    a_address, lda, m, b_address, blocks, groups, c_address, ldc = function.args
    entry = function.append_basic_block("entry")
    blocks_head, block_body, rows_head, rows_full, tail, block_next, finish = (
        function.append_basic_block(s)
        for s in ("blocks_head", "block_body", "rows_head", "rows_full", "tail", "next", "exit")
    )
    tails = [function.append_basic_block(f"tail_{rows}") for rows in range(1, ROWS)]

    b = ir.IRBuilder(entry)
    b.branch(blocks_head)

    b.position_at_end(blocks_head)
    block = b.phi(i64)
    block.add_incoming(_i64(0), entry)
    b.cbranch(b.icmp_signed("<", block, blocks), block_body, finish)

    b.position_at_end(block_body)
    b_block = b.add(b_address, b.mul(block, b.mul(groups, _i64(COLUMNS * 4))))
    c_block = b.add(c_address, b.mul(block, _i64(COLUMNS * 4)))
    b.branch(rows_head)

    b.position_at_end(rows_head)
    row = b.phi(i64)
    row.add_incoming(_i64(0), block_body)
    left = b.sub(m, row)

    def call(kernel):
        a_row = b.add(a_address, b.mul(row, lda))
        c_row = b.add(c_block, b.mul(row, b.mul(ldc, _i64(4))))
        b.call(kernel, [a_row, lda, b_block, c_row, ldc, groups])

    b.cbranch(b.icmp_signed(">=", left, _i64(ROWS)), rows_full, tail)
    b.position_at_end(rows_full)
    call(kernels[ROWS - 1])
    row.add_incoming(b.add(row, _i64(ROWS)), rows_full)
    b.branch(rows_head)

    b.position_at_end(tail)
    switch = b.switch(left, block_next)
    for rows, target in enumerate(tails, start=1):
        switch.add_case(_i64(rows), target)
        b.position_at_end(target)
        call(kernels[rows - 1])
        b.branch(block_next)

    b.position_at_end(block_next)
    block.add_incoming(b.add(block, _i64(1)), block_next)
    b.branch(blocks_head)

    b.position_at_end(finish)
    b.ret_void()


@functools.cache
def _kernels() -> dict:
    """Compile both GEMMs for this host (once per process) and return them as ctypes
    functions, keyed "exact" and "pair_saturated"."""
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    module = ir.Module(name="qemu_vnni")
    module.triple = llvm.get_process_triple()
    _driver(module, "gemm_exact", saturating_pairs=False)
    _driver(module, "gemm_pair_saturated", saturating_pairs=True)
    compiled = llvm.parse_assembly(str(module))
    compiled.verify()
    machine = llvm.Target.from_default_triple().create_target_machine(
        cpu=llvm.get_host_cpu_name(), features=llvm.get_host_cpu_features().flatten(), opt=3
    )
    builder = llvm.create_pass_builder(machine, llvm.create_pipeline_tuning_options(3))
    builder.getModulePassManager().run(compiled, builder)
    engine = llvm.create_mcjit_compiler(compiled, machine)
    engine.finalize_object()
    signature = ctypes.CFUNCTYPE(None, *[ctypes.c_int64] * 8)
    kernels = {
        key: signature(engine.get_function_address(f"gemm_{key}"))
        for key in ("exact", "pair_saturated")
    }
    kernels["_engine"] = engine  # the machine code lives as long as its engine
    return kernels
