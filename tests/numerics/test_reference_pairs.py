"""The models against recorded (input, torch output) pairs: runs without torch.

``tests/numerics/data/torch_reference.npz`` was written by ``tools/make_reference_pairs.py`` on
the dev host (torch 2.13.0, glibc 2.36, AVX512); see that script for where each output comes
from.
"""

from pathlib import Path

import numpy as np
import pytest
from numerics.samples import same_bits
from qemu.backends.numba_backend import transcendental as T

from qemu.numerics import aten_float, libm, mkl, sleef

PAIRS = np.load(Path(__file__).parent / "data" / "torch_reference.npz", allow_pickle=False)
_HALF = np.float32(0.5)
_ONE = np.float32(1.0)
_SQRT1_2 = np.float32(0.7071067811865476)


def _gelu(erf):
    return lambda x: (x * _HALF) * (_ONE + erf(x * _SQRT1_2))


def _sigmoid_scalar(x):
    # One-element tensors: the whole run is the scalar tail.
    return np.concatenate([aten_float.aten_sigmoid_contiguous(v[None]) for v in x])


MODELS = {
    "sleef_exp": (sleef.expf_u10, T.sleef_expf_u10),
    "sleef_expm1": (sleef.expm1f_u10, T.sleef_expm1f_u10),
    "sleef_tanh": (sleef.tanhf_u10, T.sleef_tanhf_u10),
    "aten_gelu": (_gelu(sleef.aten_erf_vec), None),
    "glibc_expf": (libm.expf, T.glibc_expf),
    "glibc_expm1f": (libm.expm1f, T.glibc_expm1f),
    "glibc_tanhf": (libm.tanhf, T.glibc_tanhf),
    "sigmoid_vector": (
        lambda x: aten_float.aten_sigmoid_contiguous(x[: x.size - x.size % 32]),
        T.aten_sigmoid_vector_lane,
    ),  # the NumPy model covers whole steps only
    "sigmoid_scalar": (_sigmoid_scalar, T.aten_sigmoid_scalar_lane),
    "mkl_tanh": (mkl.vml_tanh, T.mkl_vml_tanh),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_numpy_model_reproduces_torch(name):
    x = PAIRS[f"{name}_x"].view(np.float32)
    want = PAIRS[f"{name}_y"].view(np.float32)
    with np.errstate(all="ignore"):
        got = MODELS[name][0](x)
    want = want[: got.size]
    assert same_bits(got, want).all()


@pytest.mark.parametrize("name", sorted(k for k, v in MODELS.items() if v[1] is not None))
def test_numba_twin_reproduces_torch(name, numba_map):
    x = PAIRS[f"{name}_x"].view(np.float32)
    want = PAIRS[f"{name}_y"].view(np.float32)
    assert same_bits(numba_map(MODELS[name][1])(x), want).all()
