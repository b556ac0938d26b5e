"""The float32 transcendentals of ATen's ``Vectorized<float>`` on x86 (Sleef 3.x, u10 variants).

``aten/src/ATen/cpu/vec/vec512/vec512_float.h`` (AVX512 build) and ``vec256/vec256_float.h``
(AVX2 build) implement ``exp``, ``expm1`` and ``tanh`` by calling Sleef's
``Sleef_{exp,expm1,tanh}f16_u10`` / ``...f8_u10``, which torch links statically into
``libtorch_cpu.so``. On an AVX2 host the ``f8`` names dispatch to the ``avx2`` build, and the
``f16`` names are the ``avx512f`` build; both are compiled with FMA enabled
(``ENABLE_FMA_SP`` in Sleef's ``src/arch/helperavx2.h`` / ``helperavx512f.h``) and with
``-ffp-contract=off`` (Sleef's ``Configure.cmake``), so exactly the FMAs written in the
source are fused, nothing else. For ``exp``, ``expm1`` and ``tanh`` the two builds run the
same operation sequence and give identical bits on all 2^32 inputs (see
``docs/numerics/transcendental.md``), so one model serves both.

The algorithms below follow Sleef's ``src/libm/sleefsimdsp.c`` (``xexpf``, ``expk2f``,
``xexpm1f``, ``xtanhf``) and its double-float helpers in ``src/common/df.h``, re-expressed
for NumPy float32 arrays. A "double-float" is an unevaluated sum ``hi + lo`` of two float32
values; the helpers keep Sleef's operation order exactly, because the low parts are rounding
errors that only survive when every step matches.

``erf`` is ATen's own vector erf (Abramowitz & Stegun 7.1.26 with FMAs), built on Sleef's exp.
"""

from __future__ import annotations

import functools

import numpy as np

from qemu.numerics.float32 import cvt_f32_to_i32, fma_f32

_F = np.float32

# Sleef src/common/misc.h: 1/ln2 rounded to float, and ln2 split into a high part with
# trailing zero bits (so q * L2U is exact) and the float nearest the remainder.
_R_LN2 = _F(1.442695040888963407359924681001892137426645954152985934135449406931)
_L2U = _F(0.693145751953125)
_L2L = _F(1.428606765330187045e-06)

_ONE = _F(1.0)
_QUIET_BIT = np.uint32(0x00400000)
_SIGN_BIT = np.uint32(0x80000000)


def _elementwise(kernel):
    """Run a kernel written for 1-D float32 arrays on any array_like, keeping its shape."""

    @functools.wraps(kernel)
    def wrapper(x) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        with np.errstate(all="ignore"):  # inf/NaN lanes are part of the contract
            return kernel(x.reshape(-1)).astype(np.float32, copy=False).reshape(x.shape)

    return wrapper


def _bits(x: np.ndarray) -> np.ndarray:
    return x.view(np.uint32)


def _from_bits(b: np.ndarray) -> np.ndarray:
    return b.astype(np.uint32, copy=False).view(np.float32)


def _fnma(a, b, c) -> np.ndarray:
    """``c - a*b`` with one rounding (``vfnmadd``; Sleef's ``vfmanp`` / ``vmlanp``)."""
    return fma_f32(-a, b, c)


def _fms(a, b, c) -> np.ndarray:
    """``a*b - c`` with one rounding (``vfmsub``; Sleef's ``vfmapn``)."""
    return fma_f32(a, b, -c)


def _pow2i(q: np.ndarray) -> np.ndarray:
    """2^q as float32 built from bits, ``(q + 127) << 23`` in wrapping int32 arithmetic
    (Sleef ``vpow2i_vf_vi2``; garbage in, garbage out exactly as the integer unit does)."""
    return ((q + np.int32(127)).view(np.uint32) << np.uint32(23)).view(np.float32)


def _ldexp2(d: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``d * 2^(q>>1) * 2^(q - (q>>1))``: two float multiplications, so a subnormal result is
    rounded once, at the second one (Sleef ``vldexp2_vf_vf_vi2``)."""
    half = q >> 1
    rest = q - half
    return (d * _pow2i(half)) * _pow2i(rest)


def _q_of(v: np.ndarray) -> np.ndarray:
    """``vrint_vi2_vf``: ``cvtps2dq`` (ties to even; NaN / out of range -> INT32_MIN)."""
    return cvt_f32_to_i32(v).astype(np.int32)


def _zero_where_below(v: np.ndarray, d: np.ndarray, limit: np.float32) -> np.ndarray:
    """Sleef's ``vandnot(d < limit, v)``: the bits are cleared, giving +0.0."""
    return np.where(d < limit, _F(0.0), v)


# ---------------------------------------------------------------------------------------------
# Double-float arithmetic of src/common/df.h (the ENABLE_FMA_SP variants).
# A double-float is a tuple (hi, lo) of float32 arrays.


def _df_add_f2_f(x, y):
    """dfadd2_vf2_vf2_vf: (x.hi + x.lo) + y, no magnitude precondition."""
    s = x[0] + y
    v = s - x[0]
    t = (x[0] - (s - v)) + (y - v)
    return s, t + x[1]


def _df_add_f2_f2(x, y):
    """dfadd2_vf2_vf2_vf2: general double-float sum."""
    s = x[0] + y[0]
    v = s - x[0]
    t = (x[0] - (s - v)) + (y[0] - v)
    return s, t + (x[1] + y[1])


def _df_add_f_f2_fast(x, y):
    """dfadd_vf2_vf_vf2: x + y assuming |x| >= |y.hi|."""
    s = x + y[0]
    return s, ((x - s) + y[0]) + y[1]


def _df_add_f2_f2_fast(x, y):
    """dfadd_vf2_vf2_vf2: x + y assuming |x.hi| >= |y.hi|."""
    s = x[0] + y[0]
    return s, (((x[0] - s) + y[0]) + x[1]) + y[1]


def _df_mul_f2_f(x, y):
    """dfmul_vf2_vf2_vf."""
    s = x[0] * y
    return s, fma_f32(x[1], y, _fms(x[0], y, s))


def _df_mul_f2_f2(x, y):
    """dfmul_vf2_vf2_vf2."""
    s = x[0] * y[0]
    return s, fma_f32(x[0], y[1], fma_f32(x[1], y[0], _fms(x[0], y[0], s)))


def _df_square(x):
    """dfsqu_vf2_vf2."""
    s = x[0] * x[0]
    return s, fma_f32(x[0] + x[0], x[1], _fms(x[0], x[0], s))


def _df_reciprocal(d):
    """dfrec_vf2_vf2: 1 / (d.hi + d.lo)."""
    s = _ONE / d[0]
    return s, s * _fnma(d[1], s, _fnma(d[0], s, _ONE))


def _df_div(n, d):
    """dfdiv_vf2_vf2_vf2: (n.hi + n.lo) / (d.hi + d.lo)."""
    t = _ONE / d[0]
    s = n[0] * t
    u = _fms(t, n[0], s)
    v = _fnma(d[1], t, _fnma(d[0], t, _ONE))
    return s, fma_f32(s, v, fma_f32(n[1], t, u))


# ---------------------------------------------------------------------------------------------


def _expk2f(hi: np.ndarray, lo: np.ndarray):
    """Sleef ``expk2f``: exp of a double-float, returned as a double-float (hi, lo)."""
    q = _q_of((hi + lo) * _R_LN2)
    qf = q.astype(np.float32)
    s = _df_add_f2_f((hi, lo), qf * -_L2U)
    s = _df_add_f2_f(s, qf * -_L2L)

    u = _F(+0.1980960224e-3)
    u = fma_f32(u, s[0], _F(+0.1394256484e-2))
    u = fma_f32(u, s[0], _F(+0.8333456703e-2))
    u = fma_f32(u, s[0], _F(+0.4166637361e-1))

    t = _df_add_f2_f(_df_mul_f2_f(s, u), _F(+0.166666659414234244790680580464e0))
    t = _df_add_f2_f(_df_mul_f2_f2(s, t), _F(0.5))
    t = _df_add_f2_f2(s, _df_mul_f2_f2(_df_square(s), t))
    t = _df_add_f_f2_fast(_ONE, t)

    rhi = _zero_where_below(_ldexp2(t[0], q), hi, _F(-104))
    rlo = _zero_where_below(_ldexp2(t[1], q), hi, _F(-104))
    return rhi, rlo


@_elementwise
def expf_u10(x: np.ndarray) -> np.ndarray:
    """Sleef ``expf16_u10`` / ``expf8_u10`` (``xexpf``): ``Vectorized<float>::exp`` on x86.

    Range reduction ``s = x - q*ln2`` with ``q = rint(x/ln2)`` in two FMAs (Cody-Waite), a
    degree-6 polynomial by Horner FMAs, ``1 + (s*s*u + s)``, then scaling by ``2^q`` in two
    multiplications. Below -104 the result is +0, above 100 it is +inf. NaN inputs come back
    quieted with their payload.

    Parameters
    ----------
    x : array_like
        Inputs, converted to float32.

    Returns
    -------
    numpy.ndarray
        float32 array of the same shape.

    Examples
    --------
    >>> expf_u10(np.float32([0.0, 1.0, -104.5])).tolist()
    [1.0, 2.7182817459106445, 0.0]
    """
    d = x
    q = _q_of(d * _R_LN2)
    qf = q.astype(np.float32)
    s = fma_f32(qf, -_L2U, d)
    s = fma_f32(qf, -_L2L, s)

    u = _F(0.000198527617612853646278381)
    u = fma_f32(u, s, _F(0.00139304355252534151077271))
    u = fma_f32(u, s, _F(0.00833336077630519866943359))
    u = fma_f32(u, s, _F(0.0416664853692054748535156))
    u = fma_f32(u, s, _F(0.166666671633720397949219))
    u = fma_f32(u, s, _F(0.5))
    u = _ONE + fma_f32(s * s, u, s)

    u = _ldexp2(u, q)
    u = _zero_where_below(u, d, _F(-104))
    return np.where(_F(100) < d, _F(np.inf), u).astype(np.float32)


@_elementwise
def expm1f_u10(x: np.ndarray) -> np.ndarray:
    """Sleef ``expm1f16_u10`` / ``expm1f8_u10`` (``xexpm1f``): ``Vectorized<float>::expm1``.

    ``expk2f(x)`` as a double-float, minus 1 in double-float, then ``hi + lo``. Overrides:
    ``x > 88.72283172607421875`` gives +inf, ``x < -16.635532...`` gives -1, and ``-0``
    stays ``-0``.

    Examples
    --------
    >>> expm1f_u10(np.float32([0.0, -0.0, 1.0, -20.0])).tolist()
    [0.0, -0.0, 1.718281865119934, -1.0]
    """
    a = x
    d = _df_add_f2_f(_expk2f(a, np.zeros_like(a)), _F(-1.0))
    r = d[0] + d[1]
    r = np.where(a > _F(88.72283172607421875), _F(np.inf), r)
    r = np.where(a < _F(-16.635532333438687426013570), _F(-1.0), r)
    neg_zero = _bits(a) == _SIGN_BIT
    return np.where(neg_zero, _F(-0.0), r).astype(np.float32)


@_elementwise
def tanhf_u10(x: np.ndarray) -> np.ndarray:
    """Sleef ``tanhf16_u10`` / ``tanhf8_u10`` (``xtanhf``): ``Vectorized<float>::tanh``.

    With ``d = exp(|x|)`` as a double-float and ``e = 1/d``, ``tanh = (d - e) / (d + e)`` in
    double-float, then ``hi + lo``; ``|x| > 8.664339742`` gives 1; the sign of ``x`` is copied
    in by xor. A NaN input returns the all-ones pattern ``0xFFFFFFFF`` (Sleef ORs the NaN
    mask into the result), not the input's payload.

    Examples
    --------
    >>> tanhf_u10(np.float32([0.0, -0.0, 0.5, -9.0])).tolist()
    [0.0, -0.0, 0.46211716532707214, -1.0]
    """
    y = np.abs(x)
    d = _expk2f(y, np.zeros_like(y))
    e = _df_reciprocal(d)
    q = _df_div(_df_add_f2_f2_fast(d, (-e[0], -e[1])), _df_add_f2_f2_fast(d, e))
    y = q[0] + q[1]
    y = np.where((np.abs(x) > _F(8.664339742)) | np.isnan(y), _ONE, y).astype(np.float32)
    y = _from_bits(_bits(y) ^ (_bits(x) & _SIGN_BIT))
    return np.where(np.isnan(x), _from_bits(np.full(x.shape, 0xFFFFFFFF, np.uint32)), y)


# ATen's erf: Abramowitz & Stegun 7.1.26 coefficients, as float32 literals.
_ERF_P = _F(0.3275911)
_ERF_A1 = _F(0.254829592)
_ERF_A2 = _F(-0.284496736)
_ERF_A3 = _F(1.421413741)
_ERF_A4 = _F(-1.453152027)
_ERF_A5 = _F(1.061405429)


@_elementwise
def aten_erf_vec(x: np.ndarray) -> np.ndarray:
    """ATen ``Vectorized<float>::erf`` (``vec512_float.h`` / ``vec256_float.h``).

    ``t = 1 / fma(p, |x|, 1)`` (a true division), ``r`` = the A&S polynomial in ``t`` by four
    FMAs, ``w = -expf_u10(-(x*x))``, result ``fma(w * t, r, 1)`` with the sign of ``x``
    xor-ed in. Used by the vector bodies of float and quantized GELU. A NaN input returns the
    quieted input.

    Examples
    --------
    >>> aten_erf_vec(np.float32([0.0, 1.0, -1.0])).tolist()
    [0.0, 0.8427006602287292, -0.8427006602287292]
    """
    sign = _bits(x) & _SIGN_BIT
    t = _ONE / fma_f32(_ERF_P, np.abs(x), _ONE)
    r = fma_f32(_ERF_A5, t, _ERF_A4)
    r = fma_f32(r, t, _ERF_A3)
    r = fma_f32(r, t, _ERF_A2)
    r = fma_f32(r, t, _ERF_A1)
    neg_exp = -expf_u10(-(x * x))
    y = _from_bits(_bits(fma_f32(neg_exp * t, r, _ONE)) ^ sign)
    # Which NaN survives the NaN-with-NaN operations above depends on the operand order
    # GCC chose inside ATen's kernels, and no torch op exposes this erf alone, so a NaN
    # input is defined to give the quieted input (unverified; quantized GELU never sees NaN).
    return np.where(np.isnan(x), _from_bits(_bits(x) | _QUIET_BIT), y)
