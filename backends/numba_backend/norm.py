"""Numba backend of :mod:`qemu.ops.norm`.

layer_norm's per-element work (dequantize, the contracted affine FMA, the quantize of
the vector body or the scalar tail) is one compiled loop; the moments are exact
integer sums and come from the reference (:func:`qemu.ops.norm.layer_norm_rows`).
The group, instance and batch norms share the NumPy reference: it is vectorized over
rows and elements, and the order-sensitive float sums of the channels-last group norm
are sequential ``np.add.accumulate`` calls.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from qemu.backends.numba_backend.aten_vec import dequantize_val, indefinite_code, quantize_by_lane
from qemu.backends.numba_backend.primitives import fmaf

from qemu.dispatch import register
from qemu.dtypes import QINT32
from qemu.ops import norm as ref
from qemu.ops.common import per_tensor


@njit(cache=True)
def _layer_norm_rows(rows, lanes, zero_point, mean, rstd, gamma, beta, vec_inverse,
                     scalar_inverse, output_zero_point, qmin, qmax, is_qint32, indefinite,
                     out):  # fmt: skip
    """Twin of the per-element part of :func:`qemu.ops.norm.layer_norm_reference`:
    ``fake_scale_dequantize``, ``y = fma(f32((dq - mean) * rstd), gamma, beta)``, then
    the quantize of the element's lane; every value float32, as there."""
    negative_zero_point = -np.float32(zero_point)
    one = np.float32(1.0)
    for r in range(rows.shape[0]):
        for i in range(rows.shape[1]):
            code = rows[r, i]
            if lanes[i]:
                dq = fmaf(np.float32(code), one, negative_zero_point)
            else:
                dq = dequantize_val(code, one, zero_point)
            y = fmaf((dq - mean[r]) * rstd[r], gamma[i], beta[i])
            out[r, i] = quantize_by_lane(lanes[i], y, y, vec_inverse, scalar_inverse,
                                         output_zero_point, qmin, qmax, is_qint32,
                                         indefinite)  # fmt: skip


@register("layer_norm", "numba")
def _layer_norm(ctx, x, shape, gamma, beta, eps, scale, zero_point):
    dtype = x.dtype
    prepared = ref.layer_norm_rows(x, shape, eps)
    if prepared is None:
        return per_tensor(np.zeros(x.shape, np.int64), scale, zero_point, dtype)
    rows, mean, rstd, lanes = prepared
    n = rows.shape[1]
    # No gamma / beta: the reference's fma(p, 1, 0), which turns -0 into +0, as here.
    g = np.ones(n, np.float32) if gamma is None else np.ascontiguousarray(gamma, np.float32)
    b = np.zeros(n, np.float32) if beta is None else np.ascontiguousarray(beta, np.float32)
    with np.errstate(all="ignore"):
        inverse = np.float32(1.0) / np.float32(scale)
    out = np.empty(rows.shape, dtype=np.int64)
    _layer_norm_rows(np.ascontiguousarray(rows), lanes, x.q_zero_point(),
                     mean.astype(np.float32), rstd.astype(np.float32), g.reshape(-1),
                     b.reshape(-1), inverse, inverse, zero_point, dtype.qmin, dtype.qmax,
                     dtype == QINT32, indefinite_code(dtype == QINT32), out)  # fmt: skip
    return per_tensor(out.reshape(x.shape), scale, zero_point, dtype)


register("group_norm", "numba")(ref.group_norm_reference)
register("batch_norm", "numba")(ref.batch_norm_reference)
