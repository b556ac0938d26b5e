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
