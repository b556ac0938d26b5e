"""Numba twins of :mod:`qemu.numerics.sleef` and :mod:`qemu.numerics.libm`.

Scalar ``@njit`` functions (float32 in, float32 out) for use inside other numba kernels; each
gives the same bits as its NumPy counterpart on every input (``tests/numerics``). They follow
the same operation sequences; see the NumPy modules for where each one comes from. Every
constant is a module-level ``np.float32`` / ``np.float64`` so numba keeps the arithmetic in
the intended precision, and 32-bit integer wraparound is written out with masks because numba
widens integers to 64 bits. ``error_model="numpy"`` makes float division by zero give IEEE
inf/NaN instead of raising, as the C code does.

NaN results are produced explicitly from the input's bits: LLVM does not preserve which NaN
operand an instruction propagates (it may commute operands or fold negations into FMAs,
especially once these functions are inlined into a caller), while the C code's NaN follows
from x86's fixed rules.

Examples
--------
>>> from qemu.backends.numba_backend.transcendental import sleef_expf_u10, mkl_vml_tanh
>>> float(sleef_expf_u10(np.float32(1.0))), float(mkl_vml_tanh(np.float32(0.5)))
(2.7182817459106445, 0.46211716532707214)
"""

from __future__ import annotations

import numpy as np
from numba import njit
from qemu.backends.numba_backend.primitives import (
    cvt_f32_to_i32,
    f32_bits,
    f32_from_bits,
    f64_bits,
    f64_from_bits,
    fma,
    fmaf,
)

from qemu.numerics import libm as _libm
from qemu.numerics import mkl as _mkl
from qemu.numerics import sleef as _sleef

_F = np.float32
_ZERO = _F(0.0)
_ONE = _F(1.0)
_HALF = _F(0.5)
_TWO = _F(2.0)
_INF = _F(np.inf)
_M32 = np.int64(0xFFFFFFFF)

_R_LN2 = _sleef._R_LN2
_L2U = _sleef._L2U
_L2L = _sleef._L2L
_NEG_L2U = -_sleef._L2U
_NEG_L2L = -_sleef._L2L


@njit(cache=True, inline="always", error_model="numpy")
def _quiet(x):
    """The input NaN with its quiet bit set, as x86 arithmetic returns it."""
    return f32_from_bits(f32_bits(x) | np.uint32(0x00400000))


@njit(cache=True, inline="always", error_model="numpy")
def _quiet_negated(x):
    """The input NaN with its sign flipped and its quiet bit set (``-x`` then arithmetic)."""
    return f32_from_bits((f32_bits(x) ^ np.uint32(0x80000000)) | np.uint32(0x00400000))


@njit(cache=True, inline="always", error_model="numpy")
def _pow2i(q):
    """``(q + 127) << 23`` in wrapping int32 arithmetic, as a float32 bit pattern."""
    return f32_from_bits(np.uint32((((q + 127) & _M32) << 23) & _M32))


@njit(cache=True, inline="always", error_model="numpy")
def _ldexp2(d, q):
    half = q >> 1
    return (d * _pow2i(half)) * _pow2i(q - half)


@njit(cache=True, inline="always", error_model="numpy")
def _fms(a, b, c):
    return fmaf(a, b, -c)


@njit(cache=True, inline="always", error_model="numpy")
def _fnma(a, b, c):
    return fmaf(-a, b, c)


# Double-float helpers (Sleef src/common/df.h); pairs are (hi, lo) tuples of float32.


@njit(cache=True, inline="always", error_model="numpy")
def _df_add_f2_f(xh, xl, y):
    s = xh + y
    v = s - xh
    t = (xh - (s - v)) + (y - v)
    return s, t + xl


@njit(cache=True, inline="always", error_model="numpy")
def _df_add_f2_f2(xh, xl, yh, yl):
    s = xh + yh
    v = s - xh
    t = (xh - (s - v)) + (yh - v)
    return s, t + (xl + yl)


@njit(cache=True, inline="always", error_model="numpy")
def _df_add_f_f2_fast(x, yh, yl):
    s = x + yh
    return s, ((x - s) + yh) + yl


@njit(cache=True, inline="always", error_model="numpy")
def _df_add_f2_f2_fast(xh, xl, yh, yl):
    s = xh + yh
    return s, (((xh - s) + yh) + xl) + yl


@njit(cache=True, inline="always", error_model="numpy")
def _df_mul_f2_f(xh, xl, y):
    s = xh * y
    return s, fmaf(xl, y, _fms(xh, y, s))


@njit(cache=True, inline="always", error_model="numpy")
def _df_mul_f2_f2(xh, xl, yh, yl):
    s = xh * yh
    return s, fmaf(xh, yl, fmaf(xl, yh, _fms(xh, yh, s)))


@njit(cache=True, inline="always", error_model="numpy")
def _df_square(xh, xl):
    s = xh * xh
    return s, fmaf(xh + xh, xl, _fms(xh, xh, s))


@njit(cache=True, inline="always", error_model="numpy")
def _df_reciprocal(dh, dl):
    s = _ONE / dh
    return s, s * _fnma(dl, s, _fnma(dh, s, _ONE))


@njit(cache=True, inline="always", error_model="numpy")
def _df_div(nh, nl, dh, dl):
    t = _ONE / dh
    s = nh * t
    u = _fms(t, nh, s)
    v = _fnma(dl, t, _fnma(dh, t, _ONE))
    return s, fmaf(s, v, fmaf(nl, t, u))


_E0 = _F(+0.1980960224e-3)
_E1 = _F(+0.1394256484e-2)
_E2 = _F(+0.8333456703e-2)
_E3 = _F(+0.4166637361e-1)
_E4 = _F(+0.166666659414234244790680580464e0)
_NEG_104 = _F(-104.0)


@njit(cache=True, error_model="numpy")
def _expk2f(hi, lo):
    q = cvt_f32_to_i32((hi + lo) * _R_LN2)
    qf = _F(q)
    sh, sl = _df_add_f2_f(hi, lo, qf * _NEG_L2U)
    sh, sl = _df_add_f2_f(sh, sl, qf * _NEG_L2L)
    u = fmaf(_E0, sh, _E1)
    u = fmaf(u, sh, _E2)
    u = fmaf(u, sh, _E3)
    th, tl = _df_mul_f2_f(sh, sl, u)
    th, tl = _df_add_f2_f(th, tl, _E4)
    th, tl = _df_mul_f2_f2(sh, sl, th, tl)
    th, tl = _df_add_f2_f(th, tl, _HALF)
    qh, ql = _df_square(sh, sl)
    th, tl = _df_mul_f2_f2(qh, ql, th, tl)
    th, tl = _df_add_f2_f2(sh, sl, th, tl)
    th, tl = _df_add_f_f2_fast(_ONE, th, tl)
    rh = _ldexp2(th, q)
    rl = _ldexp2(tl, q)
    if hi < _NEG_104:
        return _ZERO, _ZERO
    return rh, rl


_P0 = _F(0.000198527617612853646278381)
_P1 = _F(0.00139304355252534151077271)
_P2 = _F(0.00833336077630519866943359)
_P3 = _F(0.0416664853692054748535156)
_P4 = _F(0.166666671633720397949219)
_HUNDRED = _F(100.0)


@njit(cache=True, error_model="numpy")
def sleef_expf_u10(d):
    """Sleef ``expf16_u10`` / ``expf8_u10``; twin of :func:`qemu.numerics.sleef.expf_u10`."""
    if d != d:
        return _quiet(d)
    q = cvt_f32_to_i32(d * _R_LN2)
    qf = _F(q)
    s = fmaf(qf, _NEG_L2U, d)
    s = fmaf(qf, _NEG_L2L, s)
    u = fmaf(_P0, s, _P1)
    u = fmaf(u, s, _P2)
    u = fmaf(u, s, _P3)
    u = fmaf(u, s, _P4)
    u = fmaf(u, s, _HALF)
    u = _ONE + fmaf(s * s, u, s)
    u = _ldexp2(u, q)
    if d < _NEG_104:
        u = _ZERO
    if _HUNDRED < d:
        u = _INF
    return u


_EXPM1_OVER = _F(88.72283172607421875)
_EXPM1_UNDER = _F(-16.635532333438687426013570)


@njit(cache=True, error_model="numpy")
def sleef_expm1f_u10(a):
    """Sleef ``expm1f16_u10`` / ``expm1f8_u10``; twin of :func:`qemu.numerics.sleef.expm1f_u10`."""
    if a != a:
        return _quiet(a)
    eh, el = _expk2f(a, _ZERO)
    dh, dl = _df_add_f2_f(eh, el, -_ONE)
    x = dh + dl
    if a > _EXPM1_OVER:
        x = _INF
    if a < _EXPM1_UNDER:
        x = -_ONE
    if f32_bits(a) == np.uint32(0x80000000):
        x = -_ZERO
    return x


_TANH_ONE_ABOVE = _F(8.664339742)


@njit(cache=True, error_model="numpy")
def sleef_tanhf_u10(x):
    """Sleef ``tanhf16_u10`` / ``tanhf8_u10``; twin of :func:`qemu.numerics.sleef.tanhf_u10`."""
    if x != x:
        return f32_from_bits(np.uint32(0xFFFFFFFF))
    ax = abs(x)
    dh, dl = _expk2f(ax, _ZERO)
    eh, el = _df_reciprocal(dh, dl)
    nh, nl = _df_add_f2_f2_fast(dh, dl, -eh, -el)
    mh, ml = _df_add_f2_f2_fast(dh, dl, eh, el)
    qh, ql = _df_div(nh, nl, mh, ml)
    y = qh + ql
    if ax > _TANH_ONE_ABOVE or y != y:
        y = _ONE
    return f32_from_bits(f32_bits(y) ^ (f32_bits(x) & np.uint32(0x80000000)))


@njit(cache=True, error_model="numpy")
def aten_erf_vec(x):
    """ATen ``Vectorized<float>::erf`` on one lane; twin of
    :func:`qemu.numerics.sleef.aten_erf_vec`."""
    if x != x:
        return _quiet(x)
    sign = f32_bits(x) & np.uint32(0x80000000)
    t = _ONE / fmaf(_sleef._ERF_P, abs(x), _ONE)
    r = fmaf(_sleef._ERF_A5, t, _sleef._ERF_A4)
    r = fmaf(r, t, _sleef._ERF_A3)
    r = fmaf(r, t, _sleef._ERF_A2)
    r = fmaf(r, t, _sleef._ERF_A1)
    neg_exp = -sleef_expf_u10(-(x * x))
    y = fmaf(neg_exp * t, r, _ONE)
    return f32_from_bits(f32_bits(y) ^ sign)


# ------------------------------------------------------------------------------ glibc

_EXP2_TAB = _libm._EXP2_TAB.copy()
_INVLN2_N = _libm._INVLN2_N
_SHIFT = _libm._SHIFT
_C0 = _libm._EXPF_C0
_C1 = _libm._EXPF_C1
_C2 = _libm._EXPF_C2
_EXPF_OVERFLOW = _libm._EXPF_OVERFLOW
_EXPF_UNDERFLOW = _libm._EXPF_UNDERFLOW
_EXPF_MAY_UNDERFLOW = _libm._EXPF_MAY_UNDERFLOW
_EXPF_TINY = _libm._EXPF_TINY


@njit(cache=True, error_model="numpy")
def glibc_expf(x):
    """glibc 2.36 ``__expf_fma``; twin of :func:`qemu.numerics.libm.expf`."""
    abstop = (f32_bits(x) >> np.uint32(20)) & np.uint32(0x7FF)
    if abstop >= np.uint32(0x42B):
        if f32_bits(x) == np.uint32(0xFF800000):
            return _ZERO
        if abstop >= np.uint32(0x7F8):
            return x if x == x else _quiet(x)  # x + x
        if x > _EXPF_OVERFLOW:
            return _INF
        if x < _EXPF_UNDERFLOW:
            return _ZERO
        if x < _EXPF_MAY_UNDERFLOW:
            return _EXPF_TINY
    xd = np.float64(x)
    kd = fma(_INVLN2_N, xd, _SHIFT) - _SHIFT
    r = fma(_INVLN2_N, xd, -kd)
    z = fma(_C0, r, _C1)
    y = fma(_C2, r, 1.0)
    y = fma(z, r * r, y)
    k = np.int64(kd)
    # 2^(k/32) = table[k mod 32] * 2^(k div 32), by adding to the exponent field.
    s = f64_from_bits(np.uint64(np.int64(f64_bits(_EXP2_TAB[k & 31])) + ((k >> 5) << 52)))
    return np.float32(y * s)


_O_THRESHOLD = _libm._O_THRESHOLD
_LN2_HI = _libm._LN2_HI
_LN2_LO = _libm._LN2_LO
_INVLN2 = _libm._INVLN2
_Q1 = _libm._Q1
_Q2 = _libm._Q2
_Q3 = _libm._Q3
_Q4 = _libm._Q4
_Q5 = _libm._Q5
_THREE = _F(3.0)
_SIX = _F(6.0)
_QUARTER = _F(0.25)
_TINY30 = _F(1.0e-30)


@njit(cache=True, inline="always", error_model="numpy")
def _add_to_exponent(y, k):
    return f32_from_bits(np.uint32((np.int64(f32_bits(y)) + (k << 23)) & _M32))


@njit(cache=True, error_model="numpy")
def glibc_expm1f(x):
    """glibc 2.36 ``expm1f`` (fdlibm); twin of :func:`qemu.numerics.libm.expm1f`."""
    bits = f32_bits(x)
    hx = bits & np.uint32(0x7FFFFFFF)
    neg = bits >= np.uint32(0x80000000)
    if hx >= np.uint32(0x4195B844):
        if hx >= np.uint32(0x42B17218):
            if hx > np.uint32(0x7F800000):
                return _quiet(x)  # x + x
            if hx == np.uint32(0x7F800000):
                return -_ONE if neg else x
            if x > _O_THRESHOLD:
                return _INF
        if neg:
            return -_ONE
    c = _ZERO
    k = 0
    if hx > np.uint32(0x3EB17218):
        if hx < np.uint32(0x3F851592):
            if not neg:
                hi = x - _LN2_HI
                lo = _LN2_LO
                k = 1
            else:
                hi = x + _LN2_HI
                lo = -_LN2_LO
                k = -1
        else:
            k = int(_INVLN2 * x + (-_HALF if neg else _HALF))  # truncation, cvttss2si
            t = _F(k)
            hi = x - t * _LN2_HI
            lo = t * _LN2_LO
        x = hi - lo
        c = (hi - x) - lo
    elif hx < np.uint32(0x33000000):
        return x
    hfx = _HALF * x
    hxs = x * hfx
    r1 = _ONE + hxs * (_Q1 + hxs * (_Q2 + hxs * (_Q3 + hxs * (_Q4 + hxs * _Q5))))
    t = _THREE - r1 * hfx
    e = hxs * ((r1 - t) / (_SIX - x * t))
    if k == 0:
        return x - (x * e - hxs)
    e = x * (e - c) - c
    e = e - hxs
    if k == -1:
        return _HALF * (x - e) - _HALF
    if k == 1:
        if x < -_QUARTER:
            return -_TWO * (e - (x + _HALF))
        return _ONE + _TWO * (x - e)
    if k <= -2 or k > 56:
        return _add_to_exponent(_ONE - (e - x), k) - _ONE
    if k < 23:
        t = f32_from_bits(np.uint32(0x3F800000 - (0x1000000 >> k)))
        return _add_to_exponent(t - (e - x), k)
    t = f32_from_bits(np.uint32((0x7F - k) << 23))
    return _add_to_exponent((x - (e + t)) + _ONE, k)


@njit(cache=True, error_model="numpy")
def glibc_tanhf(x):
    """glibc 2.36 ``tanhf`` (fdlibm); twin of :func:`qemu.numerics.libm.tanhf`."""
    bits = f32_bits(x)
    ix = bits & np.uint32(0x7FFFFFFF)
    neg = bits >= np.uint32(0x80000000)
    if ix > np.uint32(0x7F800000):
        return _quiet(x)  # 1/x +- 1
    if ix == np.uint32(0x7F800000):
        return -_ONE if neg else _ONE
    if ix < np.uint32(0x41B00000):
        if ix == 0:
            return x
        if ix < np.uint32(0x24000000):
            return x * (_ONE + x)
        if ix >= np.uint32(0x3F800000):
            t = glibc_expm1f(_TWO * abs(x))
            z = _ONE - _TWO / (t + _TWO)
        else:
            t = glibc_expm1f(-_TWO * abs(x))
            z = -t / (t + _TWO)
    else:
        z = _ONE - _TINY30
    return -z if neg else z


# ----------------------------------------------------------------- ATen float kernels


@njit(cache=True, error_model="numpy")
def aten_sigmoid_vector_lane(x):
    """One lane of ``sigmoid_kernel``'s vector body: ``1 / (1 + Sleef_expf(-x))``."""
    if x != x:
        return _quiet_negated(x)
    return _ONE / (_ONE + sleef_expf_u10(-x))


@njit(cache=True, error_model="numpy")
def aten_sigmoid_scalar_lane(x):
    """``sigmoid_kernel``'s scalar lambda: ``1.0f / (1.0f + expf(-x))`` with glibc ``expf``."""
    if x != x:
        return _quiet_negated(x)
    return _ONE / (_ONE + glibc_expf(-x))


@njit(cache=True)
def aten_sigmoid_run(x, out, step):
    """``sigmoid_kernel`` on one contiguous inner run (``cpu_kernel_vec``): the first
    ``n - n % step`` elements by the vector body, the rest by the scalar lambda; ``step`` is
    32 on AVX512 builds, 16 on AVX2. Twin of ``qemu.numerics.aten_float``'s per-run split."""
    n = x.size
    split = n - n % step
    for i in range(split):
        out[i] = aten_sigmoid_vector_lane(x[i])
    for i in range(split, n):
        out[i] = aten_sigmoid_scalar_lane(x[i])


# -------------------------------------------------------------------------- MKL VML

_FLIP, _HARD_X, _HARD_Y = _mkl._table()


@njit(cache=True, inline="always")
def _find(sorted_keys, key):
    i = np.searchsorted(sorted_keys, key)
    return i if i < sorted_keys.size and sorted_keys[i] == key else -1


@njit(cache=True, error_model="numpy")
def mkl_vml_tanh(x):
    """MKL ``vmsTanh`` HA (``torch.tanh`` on float32); twin of
    :func:`qemu.numerics.mkl.vml_tanh`: the correctly rounded tanh, moved to the other side
    of the exact value on the tabulated ``flip`` inputs, tabulated outright on ``hard`` ones."""
    bits = f32_bits(x)
    if x != x:
        return f32_from_bits(bits | np.uint32(0x00400000))
    mag = bits & np.uint32(0x7FFFFFFF)
    t = np.tanh(np.float64(f32_from_bits(mag)))
    y = np.float32(t)
    if _find(_FLIP, mag) >= 0:
        y = np.nextafter(y, _INF if t > np.float64(y) else -_INF)
    h = _find(_HARD_X, mag)
    ybits = _HARD_Y[h] if h >= 0 else f32_bits(y)
    return f32_from_bits(ybits | (bits & np.uint32(0x80000000)))


# ------------------------------------------------------------- glibc double exp / erf

_EXP_H = _libm._EXP_H.copy()
_EXP_T = _libm._EXP_T.copy()
_EXP_INVLN2N = _libm._EXP_INVLN2N
_EXP_NEGLN2HIN = _libm._EXP_NEGLN2HIN
_EXP_NEGLN2LON = _libm._EXP_NEGLN2LON
_EXP_C2 = _libm._EXP_C2
_EXP_C3 = _libm._EXP_C3
_EXP_C4 = _libm._EXP_C4
_EXP_C5 = _libm._EXP_C5


@njit(cache=True, error_model="numpy")
def glibc_exp_fma(x):
    """glibc 2.36 ``__exp_fma`` for float64 ``|x| < 512``; twin of ``qemu.numerics.libm._exp_fma``
    (larger arguments are outside the model and return NaN)."""
    if not abs(x) < 512.0:
        return np.nan
    if abs(x) < 2.0**-54:
        return 1.0 + x
    kd = fma(x, _EXP_INVLN2N, _SHIFT) - _SHIFT
    r = fma(kd, _EXP_NEGLN2HIN, x)
    r = fma(kd, _EXP_NEGLN2LON, r)
    k = np.int64(kd)
    idx = k & 127
    scale = f64_from_bits(np.uint64(np.int64(f64_bits(_EXP_H[idx])) + ((k >> 7) << 52)))
    r2 = r * r
    tmp = fma(fma(r, _EXP_C3, _EXP_C2), r2, _EXP_T[idx] + r)
    tmp = fma(r2 * r2, fma(r, _EXP_C5, _EXP_C4), tmp)
    return fma(scale, tmp, scale)


_ERX = _libm._ERX
_EFX = _libm._EFX
_PP = np.array(_libm._PP)
_QQ = np.array(_libm._QQ)
_PA = np.array(_libm._PA)
_QA = np.array(_libm._QA)
_RA = np.array(_libm._RA)
_SA = np.array(_libm._SA)
_RB = np.array(_libm._RB)
_SB = np.array(_libm._SB)


@njit(cache=True, error_model="numpy")
def glibc_erf(x):
    """glibc 2.36 double ``erf`` (fdlibm); twin of :func:`qemu.numerics.libm.erf`."""
    hx = np.uint32(f64_bits(x) >> np.uint64(32))
    ix = hx & np.uint32(0x7FFFFFFF)
    neg = hx >= np.uint32(0x80000000)
    if ix >= np.uint32(0x7FF00000):
        if x != x:
            return f64_from_bits(f64_bits(x) | np.uint64(0x0008000000000000))
        return -1.0 if neg else 1.0
    if ix < np.uint32(0x3FEB0000):
        if ix < np.uint32(0x3E300000):
            if ix < np.uint32(0x00800000):
                return 0.0625 * (16.0 * x + (16.0 * _EFX) * x)
            return x + _EFX * x
        z = x * x
        r1 = _PP[0] + z * _PP[1]
        z2 = z * z
        r2 = _PP[2] + z * _PP[3]
        z4 = z2 * z2
        s1 = 1.0 + z * _QQ[1]
        s2 = _QQ[2] + z * _QQ[3]
        s3 = _QQ[4] + z * _QQ[5]
        r = r1 + z2 * r2 + z4 * _PP[4]
        s = s1 + z2 * s2 + z4 * s3
        return x + x * (r / s)
    if ix < np.uint32(0x3FF40000):
        s = abs(x) - 1.0
        s2 = s * s
        s4 = s2 * s2
        s6 = s4 * s2
        p = (
            (_PA[0] + s * _PA[1])
            + s2 * (_PA[2] + s * _PA[3])
            + s4 * (_PA[4] + s * _PA[5])
            + s6 * _PA[6]
        )
        q = (
            (1.0 + s * _QA[1])
            + s2 * (_QA[2] + s * _QA[3])
            + s4 * (_QA[4] + s * _QA[5])
            + s6 * _QA[6]
        )
        return -_ERX - p / q if neg else _ERX + p / q
    if ix >= np.uint32(0x40180000):
        return 1e-300 - 1.0 if neg else 1.0 - 1e-300
    a = abs(x)
    s = 1.0 / (a * a)
    s2 = s * s
    s4 = s2 * s2
    s6 = s4 * s2
    if ix < np.uint32(0x4006DB6E):
        big_r = (
            (_RA[0] + s * _RA[1])
            + s2 * (_RA[2] + s * _RA[3])
            + s4 * (_RA[4] + s * _RA[5])
            + s6 * (_RA[6] + s * _RA[7])
        )
        big_s = (
            (1.0 + s * _SA[1])
            + s2 * (_SA[2] + s * _SA[3])
            + s4 * (_SA[4] + s * _SA[5])
            + s6 * (_SA[6] + s * _SA[7])
            + (s4 * s4) * _SA[8]
        )
    else:
        big_r = (
            (_RB[0] + s * _RB[1])
            + s2 * (_RB[2] + s * _RB[3])
            + s4 * (_RB[4] + s * _RB[5])
            + s6 * _RB[6]
        )
        big_s = (
            (1.0 + s * _SB[1])
            + s2 * (_SB[2] + s * _SB[3])
            + s4 * (_SB[4] + s * _SB[5])
            + s6 * (_SB[6] + s * _SB[7])
        )
    z = f64_from_bits(f64_bits(a) & np.uint64(0xFFFFFFFF00000000))
    r = glibc_exp_fma(-z * z - 0.5625) * glibc_exp_fma((z - a) * (z + a) + big_r / big_s)
    return r / a - 1.0 if neg else 1.0 - r / a


_M_SQRT1_2 = 0.70710678118654752440


@njit(cache=True, error_model="numpy")
def aten_qgelu_scalar_dy(x):
    """``value_dy`` of ``qgelu_kernel``'s scalar lambda rounded to float; twin of
    :func:`qemu.numerics.aten_float.aten_qgelu_scalar_dy`."""
    xd = np.float64(x)
    return np.float32((xd * 0.5) * (1.0 + glibc_erf(xd * _M_SQRT1_2)))
