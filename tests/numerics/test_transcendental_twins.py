"""NumPy models == numba twins, bit for bit, on sampled inputs (no torch needed)."""

import zlib

import numpy as np
import pytest
from numerics.samples import same_bits, sample
from qemu.backends.numba_backend import transcendental as T

from qemu.numerics import aten_float, libm, mkl, sleef

N = 300_000  # per kind of sample; about 1M inputs per function

CASES = [
    # (NumPy model, numba twin, range where the function is not trivial)
    (sleef.expf_u10, T.sleef_expf_u10, (-105, 101)),
    (sleef.expm1f_u10, T.sleef_expm1f_u10, (-17, 89)),
    (sleef.tanhf_u10, T.sleef_tanhf_u10, (-9, 9)),
    (sleef.aten_erf_vec, T.aten_erf_vec, (-5, 5)),
    (libm.expf, T.glibc_expf, (-105, 89)),
    (libm.expm1f, T.glibc_expm1f, (-20, 89)),
    (libm.tanhf, T.glibc_tanhf, (-10, 10)),
    (mkl.vml_tanh, T.mkl_vml_tanh, (-9, 9)),
]


@pytest.mark.parametrize("model, twin, bounds", CASES, ids=lambda c: getattr(c, "__name__", ""))
def test_numpy_equals_numba(model, twin, bounds, numba_map):
    x = sample(N, *bounds, seed=zlib.crc32(model.__name__.encode()))
    assert same_bits(model(x), numba_map(twin)(x)).all()


def test_mkl_table_entries(numba_map):
    """Every tabulated MKL input, both signs, through both implementations."""
    flip, hard_x, _ = mkl._table()
    x = np.concatenate([flip, hard_x]).view(np.float32)
    x = np.concatenate([x, -x])
    assert same_bits(mkl.vml_tanh(x), numba_map(T.mkl_vml_tanh)(x)).all()


@pytest.mark.parametrize("n", [1, 31, 32, 33, 95, 1000])
@pytest.mark.parametrize("step", [32, 16])
def test_sigmoid_run(n, step):
    x = sample(n, -30, 30, seed=n)[-n:]
    out = np.empty_like(x)
    T.aten_sigmoid_run(x, out, step)
    capability = {32: "avx512", 16: "avx2"}[step]
    assert same_bits(out, aten_float.aten_sigmoid_contiguous(x, capability=capability)).all()


def test_glibc_erf_and_qgelu_tail(numba_map):
    """Double erf on the arguments qgelu's scalar tail produces, plus random doubles."""
    rng = np.random.default_rng(11)
    x32 = sample(30_000, -9, 9, seed=12)  # the NumPy double erf costs ~14 emulated FMAs
    x64 = np.concatenate(
        [
            x32.astype(np.float64) * 0.70710678118654752440,
            rng.uniform(-7, 7, 30_000),
            rng.standard_normal(30_000) * 1e-5,
        ]
    )
    got = libm.erf(x64)
    assert (got.view(np.uint64) == numba_map(T.glibc_erf)(x64).view(np.uint64)).all()
    dy = aten_float.aten_qgelu_scalar_dy(x32)
    assert same_bits(dy, numba_map(T.aten_qgelu_scalar_dy)(x32)).all()
