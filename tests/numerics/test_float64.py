"""fma_f64 (NumPy emulation) against the hardware FMA reached through numba's llvm.fma.f64."""

import numpy as np
from numba import njit
from qemu.backends.numba_backend.primitives import fma

from qemu.numerics.float64 import fma_f64


@njit(cache=True)
def _hardware_fma(a, b, c):
    out = np.empty_like(a)
    for i in range(a.size):
        out[i] = fma(a[i], b[i], c[i])
    return out


def _same(x, y):
    return (x.view(np.uint64) == y.view(np.uint64)) | (np.isnan(x) & np.isnan(y))


def test_fma_f64_random_and_cancelling():
    rng = np.random.default_rng(20240601)
    n = 500_000
    for cancel in (False, True):
        a = rng.standard_normal(n) * 2.0 ** rng.integers(-40, 40, n)
        b = rng.standard_normal(n) * 2.0 ** rng.integers(-40, 40, n)
        if cancel:  # c close to -a*b: the result is the product's rounding error
            c = -(a * b) * (1 + rng.integers(-3, 4, n) * 2.0**-52)
        else:
            c = rng.standard_normal(n) * 2.0 ** rng.integers(-80, 40, n)
        assert _same(fma_f64(a, b, c), _hardware_fma(a, b, c)).all()


def test_fma_f64_special_values():
    sp = np.array([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, 1e300, -1e300, 2.0**-1000])
    a, b, c = (g.ravel() for g in np.meshgrid(sp, sp, sp))
    assert _same(fma_f64(a, b, c), _hardware_fma(a, b, c)).all()
