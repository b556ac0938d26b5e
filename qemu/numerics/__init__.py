"""Exact scalar building blocks shared by every op: the one place where rounding lives.

Each function here reproduces one machine-level operation that torch's kernels use
(a fused multiply-add, an x86 float-to-int conversion, a binary16 rounding, one of
ATen's or FBGEMM's quantize/dequantize formulas), vectorized over NumPy arrays.
"""

from qemu.numerics.float32 import (
    INT32_MAX,
    INT32_MIN,
    INT64_MIN,
    X86_DEFAULT_NAN,
    cvt_f32_to_i32,
    f32,
    fma_f32,
    lrintf,
    quiet_nan,
    rne,
    saturate_i16,
    trunc_f64_to_i64,
    wrap_i32,
    x86_nan,
)
from qemu.numerics.fp16 import (
    FP16_MAX,
    fp16_to_float32,
    round_to_fp16,
    round_to_fp16_c10,
    saturate_to_fp16,
)

__all__ = [
    "FP16_MAX",
    "INT32_MAX",
    "INT32_MIN",
    "INT64_MIN",
    "X86_DEFAULT_NAN",
    "cvt_f32_to_i32",
    "f32",
    "fma_f32",
    "fp16_to_float32",
    "lrintf",
    "quiet_nan",
    "rne",
    "round_to_fp16",
    "round_to_fp16_c10",
    "saturate_i16",
    "saturate_to_fp16",
    "trunc_f64_to_i64",
    "wrap_i32",
    "x86_nan",
]
