"""glibc 2.36 libm (x86-64) float functions that ATen's scalar loops call.

ATen's ``cpu_kernel_vec`` runs the scalar lambda on the elements of a row that do not fill
a pair of vectors, and those lambdas call ``std::exp(float)`` / ``std::expm1`` /
``std::tanh``, i.e. glibc's ``expf``, ``expm1f`` and ``tanhf``. Which code those are on
x86-64:

* ``expf``: Szabolcs Nagy's table-driven algorithm (``sysdeps/ieee754/flt-32/e_expf.c``,
  table ``e_exp2f_data.c``), evaluated in double. ``sysdeps/x86_64/fpu/multiarch/e_expf.c``
  picks, through ifunc, ``__expf_fma`` (the same source compiled with ``-mfma -mavx2``) on
  CPUs with FMA and AVX2, else ``__expf_sse2``. In the FMA build GCC contracts five
  multiply-adds (checked in the disassembly of the ``libm.so.6`` on this host), including
  both uses of ``z = InvLn2N * x``: ``kd = fma(InvLn2N, x, Shift) - Shift`` and
  ``r = fma(InvLn2N, x, -kd)``. :func:`expf` models the FMA variant. A host without FMA runs
  the unfused ``__expf_sse2``, which differs from it on exactly two float32 inputs
  (``docs/numerics/transcendental.md``).
* ``expm1f`` and ``tanhf``: the Sun fdlibm float algorithms (``s_expm1f.c``, ``s_tanhf.c``),
  which have no ifunc variants in glibc 2.36 and are compiled for baseline x86-64 (SSE2,
  no FMA), so every float operation rounds separately, in source order.

All functions take array_like input and return float32 arrays of the same shape.
"""

from __future__ import annotations

import functools
from math import isqrt

import numpy as np

from qemu.numerics.float64 import fma_f64

_F = np.float32
_D = np.float64


def _elementwise(kernel):
    """Run a kernel written for 1-D float32 arrays on any array_like, keeping its shape."""

    @functools.wraps(kernel)
    def wrapper(x) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        with np.errstate(all="ignore"):  # overflow/NaN lanes are part of the contract
            out = kernel(x.reshape(-1))
        return out.astype(np.float32, copy=False).reshape(x.shape)

    return wrapper


# --------------------------------------------------------------------------------- expf

_EXP2F_TABLE_BITS = 5
_N = 1 << _EXP2F_TABLE_BITS


def _exp2_table() -> np.ndarray:
    """2^(i/32) for i = 0..31, each correctly rounded to double (the values e_exp2f_data.c
    tabulates, there stored as bit patterns with the exponent offset pre-subtracted)."""
    out = np.empty(_N, np.float64)
    for i in range(_N):
        # floor(2^(i/32) * 2^54) by five nested integer square roots (floor of a floor
        # root is the floor root); 2^(i/32) is irrational for i > 0, so there is no tie.
        r = 1 << (i + 32 * 54)
        for _ in range(5):
            r = isqrt(r)
        mantissa = (r >> 2) + ((r >> 1) & 1)  # round to nearest at 2^-52
        out[i] = float(mantissa) / 2.0**52
    return out


_EXP2_TAB = _exp2_table()
# e_exp2f_data.c: invln2_scaled = 0x1.71547652b82fep+0 * N, shift = 0x1.8p+52, and
# poly_scaled = {C0/N^3, C1/N^2, C2/N} (scaling by powers of two is exact).
_INVLN2_N = _D(float.fromhex("0x1.71547652b82fep+0") * _N)
_SHIFT = _D(float.fromhex("0x1.8p+52"))
_EXPF_C0 = _D(float.fromhex("0x1.c6af84b912394p-5") / _N**3)
_EXPF_C1 = _D(float.fromhex("0x1.ebfce50fac4f3p-3") / _N**2)
_EXPF_C2 = _D(float.fromhex("0x1.62e42ff0c52d6p-1") / _N)
# e_expf.c thresholds: log(0x1p128), log(0x1p-150), log(0x1p-149) as floats.
_EXPF_OVERFLOW = _F(float.fromhex("0x1.62e42ep6"))
_EXPF_UNDERFLOW = _F(float.fromhex("-0x1.9fe368p6"))
_EXPF_MAY_UNDERFLOW = _F(float.fromhex("-0x1.9d1d9ep6"))
# __math_may_uflowf returns 0x1.4p-75f * 0x1.4p-75f, which rounds to the least subnormal.
with np.errstate(under="ignore"):
    _EXPF_TINY = _F(float.fromhex("0x1.4p-75")) * _F(float.fromhex("0x1.4p-75"))


@_elementwise
def expf(x: np.ndarray) -> np.ndarray:
    """glibc ``expf`` as ``__expf_fma`` computes it (the variant FMA+AVX2 hosts run).

    With ``z = x * 32/ln2`` rounded to the integer ``k`` and ``r = z - k``,
    ``exp(x) = 2^(k/32) * 2^(r/32)``: the first factor is ``2^((k mod 32)/32)`` from the
    table times ``2^(k div 32)``, the second ``C0*r^3 + C1*r^2 + C2*r + 1`` evaluated in
    double as ``(C0*r + C1)*r^2 + (C2*r + 1)``; the double product is rounded to float once.

    Examples
    --------
    >>> expf(np.float32([0.0, 1.0, -103.5, 89.0])).tolist()
    [1.0, 2.7182817459106445, 1.401298464324817e-45, inf]
    """
    xd = x.astype(np.float64)
    # GCC fused both uses of z = InvLn2N * x, so r is the exact z - k rounded once.
    kd = fma_f64(_INVLN2_N, xd, _SHIFT) - _SHIFT
    r = fma_f64(_INVLN2_N, xd, -kd)
    z = fma_f64(_EXPF_C0, r, _EXPF_C1)
    y = fma_f64(_EXPF_C2, r, _D(1.0))
    y = fma_f64(z, r * r, y)
    k = np.where(np.isfinite(kd), kd, 0).astype(np.int64)
    s = np.ldexp(_EXP2_TAB[k % _N], (k // _N).astype(np.int32))
    out = (y * s).astype(np.float32)

    # The special cases e_expf.c filters out before the main path (|x| >= 88 or NaN).
    abstop = (x.view(np.uint32) >> np.uint32(20)) & np.uint32(0x7FF)
    special = abstop >= np.uint32(0x42B)
    out = np.where(special & (x < _EXPF_MAY_UNDERFLOW), _EXPF_TINY, out)
    out = np.where(special & (x < _EXPF_UNDERFLOW), _F(0.0), out)
    out = np.where(special & (x > _EXPF_OVERFLOW), _F(np.inf), out)
    out = np.where(abstop >= np.uint32(0x7F8), x + x, out)  # NaN quieted, +inf kept
    return np.where(x == _F(-np.inf), _F(0.0), out)


# ------------------------------------------------------------------------------- expm1f

# s_expm1f.c constants (float).
_O_THRESHOLD = _F(8.8721679688e01)
_LN2_HI = _F(6.9313812256e-01)
_LN2_LO = _F(9.0580006145e-06)
_INVLN2 = _F(1.4426950216e00)
_Q1 = _F(-3.3333335072e-02)
_Q2 = _F(1.5873016091e-03)
_Q3 = _F(-7.9365076090e-05)
_Q4 = _F(4.0082177293e-06)
_Q5 = _F(-2.0109921195e-07)
_ONE = _F(1.0)
_HALF = _F(0.5)
_TWO = _F(2.0)


def _add_to_exponent(y: np.ndarray, k: np.ndarray) -> np.ndarray:
    """``SET_FLOAT_WORD(y, GET_FLOAT_WORD(y) + (k << 23))`` in wrapping 32-bit arithmetic."""
    b = y.view(np.uint32).astype(np.int64) + (k.astype(np.int64) << 23)
    return (b & 0xFFFFFFFF).astype(np.uint32).view(np.float32)


@_elementwise
def expm1f(x: np.ndarray) -> np.ndarray:
    """glibc ``expm1f`` (fdlibm ``s_expm1f.c``; float arithmetic, no FMA).

    Reduction ``x = k*ln2 + r`` with ``r = hi - lo`` and correction ``c``; a rational
    approximation in ``r`` (``r1``, ``t``, ``e``); reconstruction by one of six formulas
    chosen by ``k``, some of which add ``k`` to the exponent field directly.

    Examples
    --------
    >>> expm1f(np.float32([0.0, 1e-8, 1.0, -20.0])).tolist()
    [0.0, 9.99999993922529e-09, 1.718281865119934, -1.0]
    """
    bits = x.view(np.uint32)
    hx = bits & np.uint32(0x7FFFFFFF)
    neg = bits >= np.uint32(0x80000000)

    # Argument reduction (hx > 0.5*ln2). Near +-ln2 the reduction uses k = +-1 directly.
    near = hx < np.uint32(0x3F851592)
    k_far = _INVLN2 * x + np.where(neg, -_HALF, _HALF)
    k_far = np.where(np.abs(k_far) < _F(2.0**31), k_far, 0).astype(np.int32)  # cvttss2si
    t_far = k_far.astype(np.float32)
    hi = np.where(near, np.where(neg, x + _LN2_HI, x - _LN2_HI), x - t_far * _LN2_HI)
    lo = np.where(near, np.where(neg, -_LN2_LO, _LN2_LO), t_far * _LN2_LO)
    k = np.where(near, np.where(neg, -1, 1), k_far).astype(np.int32)
    reduce = hx > np.uint32(0x3EB17218)
    xr = np.where(reduce, hi - lo, x)
    c = np.where(reduce, (hi - xr) - lo, _F(0.0))
    k = np.where(reduce, k, 0)

    hfx = _HALF * xr
    hxs = xr * hfx
    r1 = _ONE + hxs * (_Q1 + hxs * (_Q2 + hxs * (_Q3 + hxs * (_Q4 + hxs * _Q5))))
    t = _F(3.0) - r1 * hfx
    e = hxs * ((r1 - t) / (_F(6.0) - xr * t))

    out_k0 = xr - (xr * e - hxs)
    e = xr * (e - c) - c
    e = e - hxs
    out_km1 = _HALF * (xr - e) - _HALF
    out_k1 = np.where(xr < _F(-0.25), -_TWO * (e - (xr + _HALF)), _ONE + _TWO * (xr - e))
    out_wide = _add_to_exponent(_ONE - (e - xr), k) - _ONE
    # Shift counts are clipped only to keep unused lanes defined: the small form is
    # selected for 2 <= k < 23, the big one for 23 <= k <= 56.
    k_small = np.clip(k, 0, 31).astype(np.uint32)
    t_small = (np.uint32(0x3F800000) - (np.uint32(0x1000000) >> k_small)).view(np.float32)
    out_small = _add_to_exponent(t_small - (e - xr), k)
    k_big = np.clip(k, 0, 127).astype(np.uint32)
    t_big = ((np.uint32(0x7F) - k_big) << np.uint32(23)).view(np.float32)
    out_big = _add_to_exponent((xr - (e + t_big)) + _ONE, k)

    out = np.where(k < 23, out_small, out_big)
    out = np.where((k <= -2) | (k > 56), out_wide, out)
    out = np.where(k == 1, out_k1, out)
    out = np.where(k == -1, out_km1, out)
    out = np.where(k == 0, out_k0, out)

    # Early returns, innermost last so that the first applicable one wins.
    out = np.where(hx < np.uint32(0x33000000), x, out)  # |x| < 2^-25: x itself
    large = hx >= np.uint32(0x4195B844)  # |x| >= 27*ln2
    out = np.where(large & neg, _F(-1.0), out)  # tiny - one
    huge = hx >= np.uint32(0x42B17218)
    out = np.where(huge & (x > _O_THRESHOLD), _F(np.inf), out)
    out = np.where(huge & (hx == np.uint32(0x7F800000)), np.where(neg, _F(-1.0), x), out)
    return np.where(hx > np.uint32(0x7F800000), x + x, out)


# -------------------------------------------------------------------------------- tanhf


@_elementwise
def tanhf(x: np.ndarray) -> np.ndarray:
    """glibc ``tanhf`` (fdlibm ``s_tanhf.c``; float arithmetic, no FMA).

    For ``1 <= |x| < 22``: ``1 - 2/(expm1f(2|x|) + 2)``; for ``2^-55 <= |x| < 1``:
    ``-t/(t + 2)`` with ``t = expm1f(-2|x|)``; ``x*(1 + x)`` below ``2^-55``; ``1 - 1e-30``
    (= 1) from 22 on; the sign is applied last.

    Examples
    --------
    >>> tanhf(np.float32([0.0, 0.5, -1.0, 30.0])).tolist()
    [0.0, 0.46211716532707214, -0.7615941762924194, 1.0]
    """
    bits = x.view(np.uint32)
    ix = bits & np.uint32(0x7FFFFFFF)
    neg = bits >= np.uint32(0x80000000)
    ax = np.abs(x)

    t_big = expm1f(_TWO * ax)
    z_big = _ONE - _TWO / (t_big + _TWO)
    t_mid = expm1f(-_TWO * ax)
    z_mid = -t_mid / (t_mid + _TWO)
    z = np.where(ix >= np.uint32(0x3F800000), z_big, z_mid)
    z = np.where(ix >= np.uint32(0x41B00000), _ONE - _F(1.0e-30), z)
    out = np.where(neg, -z, z)
    out = np.where(ix < np.uint32(0x24000000), x * (_ONE + x), out)
    out = np.where(ix == 0, x, out)
    inf_or_nan = np.where(neg, _ONE / x - _ONE, _ONE / x + _ONE)
    return np.where(ix >= np.uint32(0x7F800000), inf_or_nan, out)
