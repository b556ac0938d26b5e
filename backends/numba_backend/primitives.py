"""Numba twins of the exact primitives in :mod:`qemu.numerics`.

Numba compiles without fast-math, so LLVM never contracts ``a * b + c`` on its own;
where torch's kernel fuses, we call :func:`fmaf` explicitly (``llvm.fma.f32``, a
single rounding whether or not the host has FMA hardware).
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

INT32_MIN = np.int64(-(2**31))
INT32_MAX = np.int64(2**31 - 1)
INT64_MIN = np.int64(-(2**63))


@intrinsic
def fmaf(typingctx, a, b, c):
    """float32 ``a * b + c`` with one rounding (``llvm.fma.f32``)."""
    sig = types.float32(types.float32, types.float32, types.float32)

    def codegen(context, builder, signature, args):
        f = ir.FloatType()
        fn = builder.module.declare_intrinsic("llvm.fma", [f], ir.FunctionType(f, [f, f, f]))
        return builder.call(fn, args)

    return sig, codegen


@njit(cache=True, inline="always")
def cvt_f32_to_i32(x):
    """x86 ``cvtps2dq``: ties to even; NaN / out of range -> INT32_MIN."""
    r = np.rint(np.float64(x))
    if r >= -2147483648.0 and r <= 2147483647.0:
        return np.int64(r)
    return INT32_MIN


@njit(cache=True, inline="always")
def lrintf(x):
    """glibc ``lrintf`` on x86-64: ties to even into int64; NaN / out of range -> INT64_MIN."""
    r = np.rint(np.float64(x))
    if abs(r) < 9.223372036854775808e18:
        return np.int64(r)
    return INT64_MIN


@intrinsic
def fma(typingctx, a, b, c):
    """float64 ``a * b + c`` with one rounding (``llvm.fma.f64``)."""
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, signature, args):
        d = ir.DoubleType()
        fn = builder.module.declare_intrinsic("llvm.fma", [d], ir.FunctionType(d, [d, d, d]))
        return builder.call(fn, args)

    return sig, codegen


def _bitcast(src, dst):
    def impl(typingctx, x):
        sig = dst(src)

        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], context.get_value_type(dst))

        return sig, codegen

    return impl


f32_bits = intrinsic(_bitcast(types.float32, types.uint32))
f32_bits.__doc__ = "The IEEE bit pattern of a float32, as uint32."
f32_from_bits = intrinsic(_bitcast(types.uint32, types.float32))
f32_from_bits.__doc__ = "The float32 with a given uint32 bit pattern."
f64_bits = intrinsic(_bitcast(types.float64, types.uint64))
f64_bits.__doc__ = "The IEEE bit pattern of a float64, as uint64."
f64_from_bits = intrinsic(_bitcast(types.uint64, types.float64))
f64_from_bits.__doc__ = "The float64 with a given uint64 bit pattern."


X86_DEFAULT_NAN = np.uint32(0xFFC00000).view(np.float32)


@njit(cache=True, inline="always")
def x86_nan2(result, first, second):
    """:func:`qemu.numerics.float32.x86_nan` for two operands that are already quiet:
    ``result`` unless NaN, else the first NaN operand, else the x86 default NaN."""
    if result == result:
        return result
    if first != first:
        return first
    if second != second:
        return second
    return X86_DEFAULT_NAN


@njit(cache=True, inline="always")
def fma_nan(a, b, c):
    """The NaN ``vfmadd`` returns for float32 ``a * b + c``: the first NaN operand
    (order a, b, c), quieted, else the x86 default NaN (inf * 0, inf - inf); twin of
    :func:`qemu.numerics.float32._fma_nan`. LLVM may order an FMA's operands either
    way, so the NaN is chosen here rather than by the instruction."""
    for operand in (a, b, c):
        if operand != operand:
            return f32_from_bits(f32_bits(operand) | np.uint32(0x00400000))
    return X86_DEFAULT_NAN


@njit(cache=True)
def _fma_flat(a, b, c, out):
    for i in range(out.size):
        result = fmaf(a[i], b[i], c[i])
        out[i] = result if result == result else fma_nan(a[i], b[i], c[i])


def fma_f32(a, b, c) -> np.ndarray:
    """Twin of :func:`qemu.numerics.float32.fma_f32` (float32 ``a * b + c``, one
    rounding, broadcasting, x86 NaN choice) for float32 arrays."""
    a, b, c = np.broadcast_arrays(*(np.asarray(v, dtype=np.float32) for v in (a, b, c)))
    out = np.empty(a.shape, dtype=np.float32)
    _fma_flat(*(np.ascontiguousarray(v).reshape(-1) for v in (a, b, c)), out.reshape(-1))
    return out
