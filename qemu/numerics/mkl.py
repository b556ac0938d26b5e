"""MKL VML ``vmsTanh`` (HA) as ``torch.tanh`` runs it on float32 tensors.

ATen's float ``tanh`` kernel (``aten/src/ATen/native/cpu/UnaryOpsKernel.cpp``, the VML-backed
float kernels) hands each contiguous run, or a contiguous copy of a strided one, to
``at::vml::vtanh`` (``aten/src/ATen/cpu/vml.h``), which with MKL calls
``vmsTanh(n, in, out, VML_HA | VML_FTZDAZ_OFF | VML_ERRMODE_IGNORE)``. MKL is closed source, so
this module does not reproduce its algorithm: it reproduces its *results*, measured on all 2^32
float32 inputs (``tools/make_mkl_tanh_table.py``, ``tools/exhaustive_unary.py``):

* the result is the correctly rounded tanh, except for a set of inputs whose exact tanh lies
  within 0.014 ulp of a float32 rounding midpoint, where MKL returns the float on the other
  side of the exact value (the ``flip`` set);
* ``tanh(-x) == -tanh(x)`` bit for bit, and a NaN comes back as the quieted input.

The correctly rounded value is computed as ``f32(np.tanh(float64(x)))``. That double rounding
is exact unless the exact tanh is extremely close to a midpoint; every input within
``2^-16`` ulp of one (the ``hard`` set, found with 200-bit mpmath) is tabulated with torch's
output, so any double ``tanh`` with relative error below about ``2^-40`` (every libm and
NumPy build) gives the same bits.

Which MKL kernel that is: on this AMD host MKL dispatches ``vmsTanh`` to its SSE-only
``EX`` kernel whatever ``MKL_ENABLE_INSTRUCTIONS`` says; calling the ``E2`` and ``L9`` (AVX2)
kernels directly gives the same bits on all inputs, while the ``Z0`` (AVX-512) kernel, which
an Intel AVX-512 host is expected to use, differs on 1 647 100 inputs and is not modelled
(``docs/numerics/transcendental.md``).
"""

from __future__ import annotations

import functools
from importlib import resources

import numpy as np

_SIGN = np.uint32(0x80000000)
_QUIET = np.uint32(0x00400000)


@functools.cache
def _table() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    with resources.files("qemu.numerics").joinpath("data/mkl_tanh.npz").open("rb") as f:
        z = np.load(f, allow_pickle=False)
        flip = np.cumsum(z["flip_gaps"], dtype=np.uint32)
        hard_x = np.cumsum(z["hard_gaps"], dtype=np.uint32)
        return flip, hard_x, z["hard_y"].astype(np.uint32)


def _member(sorted_keys: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    idx = np.searchsorted(sorted_keys, keys)
    idx_c = np.minimum(idx, sorted_keys.size - 1)
    return sorted_keys[idx_c] == keys, idx_c


def vml_tanh(x) -> np.ndarray:
    """``vmsTanh`` HA on float32 (``torch.tanh`` of a float32 tensor on this host).

    Element-wise and independent of array length, alignment, position and thread count
    (checked against ``torch.tanh``; ``tests/numerics/test_mkl.py``).

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
    >>> vml_tanh(np.float32([0.5, -2.0, np.inf])).tolist()
    [0.46211716532707214, -0.9640275835990906, 1.0]
    """
    x = np.asarray(x, dtype=np.float32)
    flat = x.reshape(-1)
    bits = flat.view(np.uint32)
    mag = bits & ~_SIGN
    with np.errstate(invalid="ignore"):  # signalling NaNs raise "invalid" when widened
        t = np.tanh(mag.view(np.float32).astype(np.float64))
    y = t.astype(np.float32)
    flip, hard_x, hard_y = _table()
    in_flip, _ = _member(flip, mag)
    toward = np.where(t > y.astype(np.float64), np.float32(np.inf), np.float32(-np.inf))
    y = np.where(in_flip, np.nextafter(y, toward), y)
    in_hard, idx = _member(hard_x, mag)
    ybits = np.where(in_hard, hard_y[idx], y.view(np.uint32)) | (bits & _SIGN)
    ybits = np.where(np.isnan(flat), bits | _QUIET, ybits)
    return ybits.astype(np.uint32).view(np.float32).reshape(x.shape)
