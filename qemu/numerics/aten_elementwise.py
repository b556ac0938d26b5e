"""ATen's float32 elementwise arithmetic (add, relu), down to which NaN comes out.

The values of ``a + b``, ``a * b`` and ``relu`` are plain IEEE float32 (NumPy agrees),
but when both operands are NaN the kernel keeps one of them, and NumPy's loops do
not promise which. The choices below were measured on torch 2.13 (AVX512 and AVX2
capabilities alike, vector body and scalar tail alike).
"""

from __future__ import annotations

import numpy as np

# x86's "real indefinite": the NaN an invalid operation (inf - inf, 0 * inf) returns.
DEFAULT_NAN_BITS = np.uint32(0xFFC00000)
_QUIET_BIT = np.uint32(0x00400000)


def choose_nan(result: np.ndarray, *operands: object) -> np.ndarray:
    """``result`` (float32) with its NaNs replaced as x86 chooses them: the first NaN
    among ``operands`` (in priority order), quieted; else the default NaN.

    Examples
    --------
    >>> a = np.array([0x7FC00001], np.uint32).view(np.float32)
    >>> b = np.array([0x7FC00002], np.uint32).view(np.float32)
    >>> hex(choose_nan(a + b, b, a).view(np.uint32)[0])
    '0x7fc00002'
    """
    result = np.asarray(result, dtype=np.float32)
    if not np.isnan(result).any():
        return result
    bits = np.where(np.isnan(result), DEFAULT_NAN_BITS, result.view(np.uint32))
    for operand in reversed(operands):
        operand = np.ascontiguousarray(np.broadcast_to(np.float32(operand), result.shape))
        bits = np.where(np.isnan(operand), operand.view(np.uint32) | _QUIET_BIT, bits)
    return bits.view(np.float32)


def add(a, b) -> np.ndarray:
    """``torch.add(a, b)`` / ``a.add_(b)`` on float32: the vector body is
    ``vec::fmadd(b, alpha, a)`` with alpha = 1, so b's NaN wins over a's.

    Examples
    --------
    >>> add(np.float32([1.5]), np.float32([2.25])).tolist()
    [3.75]
    """
    a = np.asarray(a, dtype=np.float32)
    b = np.asarray(b, dtype=np.float32)
    with np.errstate(invalid="ignore", over="ignore"):
        return choose_nan(a + b, b, a)


def relu(x) -> np.ndarray:
    """``torch.relu`` on float32 (``clamp_min(0)``): negative values become +0.0,
    while -0.0 and NaN pass unchanged.

    Examples
    --------
    >>> relu(np.float32([-1.0, -0.0, 2.0])).tolist()
    [0.0, -0.0, 2.0]
    """
    x = np.asarray(x, dtype=np.float32)
    return np.where(x < 0, np.float32(0), x)
