"""Exact float64 building blocks: the fused multiply-add that glibc's FMA code paths use.

glibc selects, through ifunc, variants of some libm functions compiled with ``-mfma
-mavx2`` on hosts that have FMA (``sysdeps/x86_64/fpu/multiarch/Makefile``); GCC then
contracts the double-precision ``a * b + c`` of those sources into ``vfmadd*sd``. NumPy
has no double FMA, so it is emulated here from error-free transformations.
"""

from __future__ import annotations

import numpy as np

# Veltkamp's splitting constant for binary64: 2^27 + 1.
_SPLITTER = np.float64(134217729.0)


def two_sum(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Knuth's TwoSum: ``s = fl(a + b)`` and the exact error ``e = (a + b) - s``.

    Valid for finite operands whose sum does not overflow.

    Examples
    --------
    >>> s, e = two_sum(np.float64(1.0), np.float64(2.0**-60))
    >>> float(s), float(e)
    (1.0, 8.673617379884035e-19)
    """
    s = a + b
    b_virtual = s - a
    a_virtual = s - b_virtual
    return s, (a - a_virtual) + (b - b_virtual)


def two_prod(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dekker's TwoProduct without FMA: ``p = fl(a * b)`` and the exact error ``a*b - p``.

    Exact when neither split overflows (``|a|, |b| < 2^995``) and the error term does not
    underflow (``|a * b| >= 2^-969``, or the product is exact).

    Examples
    --------
    >>> p, e = two_prod(np.float64(1 + 2.0**-30), np.float64(1 + 2.0**-30))
    >>> float(e) == 2.0**-60
    True
    """

    def split(v):
        t = _SPLITTER * v
        hi = t - (t - v)
        return hi, v - hi

    a_hi, a_lo = split(a)
    b_hi, b_lo = split(b)
    p = a * b
    e = ((a_hi * b_hi - p) + a_hi * b_lo + a_lo * b_hi) + a_lo * b_lo
    return p, e


def _add_round_to_odd(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``x + y`` rounded to odd: truncate, then set the last bit if the sum was inexact."""
    s, e = two_sum(x, y)
    bits = np.asarray(s).view(np.int64)
    # Moving the bit pattern by +1 increases |s|, by -1 decreases it.
    step = np.where(np.signbit(e) == np.signbit(s), 1, -1)
    return (bits + np.where((e != 0) & ((bits & 1) == 0), step, 0)).view(np.float64)


def fma_f64(a, b, c) -> np.ndarray:
    """``a * b + c`` on float64 operands with a single rounding, as ``vfmadd*sd`` computes it.

    Boldo & Melquiond's emulation ("Emulation of FMA and correctly rounded sums: proved
    algorithms using rounding to odd", IEEE TC 2008, Algorithm 5.4): with the exact product
    ``uh + ul`` and ``th + tl = c + uh`` (TwoSum), the result is ``RN(th + RO(tl + ul))``.
    It is exact under the preconditions of :func:`two_prod` (no overflow, no underflow of the
    product's error term); every use in this package stays well inside them. Where an operand
    or the plain result is not finite, IEEE's special-value rules give the result (an
    infinite ``c`` with finite ``a``, ``b`` is returned as is).

    Examples
    --------
    >>> a = np.float64(1 + 2.0**-30)
    >>> float(fma_f64(a, a, np.float64(-1.0))) == 2.0**-29 + 2.0**-60
    True
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    c = np.asarray(c, dtype=np.float64)
    with np.errstate(all="ignore"):
        uh, ul = two_prod(a, b)
        th, tl = two_sum(c, uh)
        v = _add_round_to_odd(tl, ul)
        # th + (+0) would turn th = -0 into +0; with nothing left to add, th is the result.
        fused = np.where(v == 0, th, th + v)
        # An exact product of finite operands is never infinite, so an infinite c wins
        # even where the rounded product a * b overflows.
        plain = np.where(np.isfinite(a) & np.isfinite(b) & np.isinf(c), c, a * b + c)
        ok = np.isfinite(fused) & np.isfinite(plain)
        return np.where(ok, fused, plain)
