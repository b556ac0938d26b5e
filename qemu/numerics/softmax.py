"""ATen's float softmax kernels and QNNPACK's quantized soft-argmax, bit for bit.

``quantized::softmax`` dequantizes, runs ``at::softmax`` on float and quantizes again
(``qsoftmax.cpp::qsoftmax_naive``); under the qnnpack engine a quint8 input with output
qparams ``(2^-8, 0)`` takes QNNPACK's integer soft-argmax instead. Both are modelled
here; ``docs/numerics/activation.md`` has the derivations.

ATen (``aten/src/ATen/native/cpu/SoftMaxKernel.cpp``, built for the host's
``Vectorized<float>``: 16 lanes with AVX512, 8 with AVX2):

* softmax over the last dimension (``_vec_softmax_lastdim``), per row: ``m = max``;
  ``e = Sleef_expf_u10(x - m)`` for every element (``vec::map`` runs the vector lambda
  on the partial last vector too); ``s = reduce_all(+, e)`` -- lane-wise sums of whole
  vectors, the partial last vector added into its first lanes only, then a butterfly
  over the lanes (pair lane ``i`` with ``i ^ V/2``, ..., ``i ^ 1``); rows shorter than a
  vector are summed left to right; ``y = e * (1 / s)``. No thread dependence.
* softmax over another dimension (``_vec_softmax``): the tensor is viewed as
  ``(outer, dim, inner)``; ``at::parallel_for`` splits the ``outer * inner`` columns
  with grain ``max(32768 / dim, 1)`` and each chunk walks its columns in blocks of
  ``V`` that stay inside one ``inner`` row and inside the chunk (vector lambda:
  Sleef exp) and leaves the rest to the scalar tail (glibc ``expf``). Both sum along
  ``dim`` left to right and divide ``e / s``.

QNNPACK (``qnnpack/src/softargmax.c``, ``u8rmax``, ``u8lut32norm`` scalar kernel), per
row of ``channels`` codes: ``LUT[i] = lrint(q * exp((i - 255) * s))`` in double with
``q = min(UINT32_MAX / channels, 8388607)``; ``t = LUT[x - max + 255]``;
``S = sum(t)`` in uint32 (it wraps when ``lrint`` rounds ``q`` up and the row is flat);
``y = min(255, ((t << 8) + S / 2) / S)`` (integer division).
"""

from __future__ import annotations

import numpy as np

from qemu.numerics import aten_loops, libm, sleef

_F = np.float32


def vec_reduce_sum(acc: np.ndarray) -> np.ndarray:
    """``vec_reduce_all(+, acc)`` of ``Vectorized<float>`` (x86 shuffles): the lanes
    (last axis, 8 or 16) summed by the butterfly ``i ^ V/2``, ..., ``i ^ 1``; lane 0."""
    acc = np.asarray(acc, dtype=_F)
    width = acc.shape[-1]
    lane = np.arange(width)
    while width > 1:
        width //= 2
        acc = acc + acc[..., lane ^ width]
    return acc[..., 0]


def reduce_all_sum(rows: np.ndarray, vector_size: int) -> np.ndarray:
    """``vec::reduce_all<float>(+, row, n)`` of every row of a 2-D float32 array."""
    rows = np.asarray(rows, dtype=_F)
    count, n = rows.shape
    if n < vector_size:  # vec_reduce_all(op, loadu(data, n), n): lane 0, left to right
        total = rows[:, 0].copy() if n else np.zeros(count, _F)
        for i in range(1, n):
            total = total + rows[:, i]
        return total
    acc = rows[:, :vector_size].copy()
    whole = aten_loops.block_prefix(n, vector_size)
    for begin in range(vector_size, whole, vector_size):
        acc = acc + rows[:, begin : begin + vector_size]
    tail = n - whole
    if tail:  # Vec::set(acc, acc + partial, tail): only the first `tail` lanes change
        acc[:, :tail] = acc[:, :tail] + rows[:, whole:]
    return vec_reduce_sum(acc)


def softmax_lastdim(rows: np.ndarray, vector_size: int) -> np.ndarray:
    """``_vec_softmax_lastdim`` on a 2-D float32 array (softmax of every row)."""
    rows = np.asarray(rows, dtype=_F)
    if rows.size == 0:
        return rows.copy()
    with np.errstate(all="ignore"):
        shifted = rows - rows.max(axis=1, keepdims=True)
        e = sleef.expf_u10(shifted).astype(_F)
        inverse = _F(1.0) / reduce_all_sum(e, vector_size)
        return (e * inverse[:, None]).astype(_F)


def softmax_inner_vector_lanes(
    outer: int, dim: int, inner: int, vector_size: int, threads: int
) -> np.ndarray:
    """``(outer, inner)`` mask of the columns ``_vec_softmax`` computes with the
    vector lambda (Sleef exp) rather than the scalar tail (glibc expf)."""
    columns = outer * inner
    grain = max(aten_loops.GRAIN_SIZE // max(dim, 1), 1)
    chunks = aten_loops.thread_chunks(columns, threads, grain)
    lanes = aten_loops.row_prefix_lanes(columns, inner, vector_size, chunks)
    return lanes.reshape(outer, inner)


def softmax_inner(x: np.ndarray, vector_size: int, threads: int) -> np.ndarray:
    """``_vec_softmax`` on a float32 array of shape ``(outer, dim, inner)`` (softmax
    along axis 1)."""
    x = np.asarray(x, dtype=_F)
    outer, dim, inner = x.shape
    if x.size == 0:
        return x.copy()
    lanes = softmax_inner_vector_lanes(outer, dim, inner, vector_size, threads)
    with np.errstate(all="ignore"):
        shifted = x - x.max(axis=1, keepdims=True)
        e = np.where(lanes[:, None, :], sleef.expf_u10(shifted), libm.expf(shifted)).astype(_F)
        total = e[:, 0, :].copy()
        for d in range(1, dim):
            total = total + e[:, d, :]
        return (e / total[:, None, :]).astype(_F)


def aten_softmax(x: np.ndarray, dim: int, vector_size: int, threads: int) -> np.ndarray:
    """``at::softmax(x, dim)`` of a float32 array on CPU (``softmax_cpu_out``): the
    input made contiguous, a 0-d input viewed as 1-d, ``dim`` already wrapped."""
    x = np.asarray(x, dtype=_F)
    shape = x.shape
    work = x.reshape(1) if x.ndim == 0 else x
    if work.size == 0:
        return x.copy()
    if dim == work.ndim - 1:
        out = softmax_lastdim(work.reshape(-1, work.shape[-1]), vector_size)
    else:
        outer = int(np.prod(work.shape[:dim], dtype=np.int64))
        inner = int(np.prod(work.shape[dim + 1 :], dtype=np.int64))
        out = softmax_inner(work.reshape(outer, work.shape[dim], inner), vector_size, threads)
    return out.reshape(shape)


# -- QNNPACK ----------------------------------------------------------------------------

_UINT32_MAX = 2**32 - 1


def qnnpack_softargmax_table(channels: int, input_scale: np.float32) -> np.ndarray:
    """``pytorch_qnnp_create_softargmax_nc_q8``'s 256-entry uint32 lookup table:
    ``lrint(min(UINT32_MAX / channels, 8388607) * exp((i - 255) * input_scale))`` in
    double with glibc's ``exp`` (``__exp_fma``; anything below ``exp(-512)`` rounds to
    0 after the scaling)."""
    qscale = min(float(_UINT32_MAX) / float(channels), 8388607.0)
    x = (np.arange(256, dtype=np.float64) - 255.0) * np.float64(np.float32(input_scale))
    small = x <= -512.0
    e = np.where(small, 0.0, libm._exp_fma(np.where(small, 0.0, x)))
    return np.rint(qscale * e).astype(np.uint64).astype(np.uint32)


def qnnpack_softargmax_sums(rows: np.ndarray, table: np.ndarray) -> np.ndarray:
    """The uint32 (wrapping) row sums ``S`` of ``LUT[x - max + 255]``."""
    rows = np.asarray(rows, dtype=np.int64)
    t = table[rows - rows.max(axis=1, keepdims=True) + 255].astype(np.uint64)
    return (t.sum(axis=1) & np.uint64(_UINT32_MAX)).astype(np.uint64)


def qnnpack_softargmax(rows: np.ndarray, table: np.ndarray) -> np.ndarray:
    """``u8lut32norm`` after ``u8rmax`` on every row of a 2-D array of quint8 codes;
    every row sum must be non-zero (:func:`qnnpack_softargmax_sums`)."""
    rows = np.asarray(rows, dtype=np.int64)
    if rows.size == 0:
        return np.zeros(rows.shape, dtype=np.uint8)
    t = table[rows - rows.max(axis=1, keepdims=True) + 255].astype(np.uint64)
    total = (t.sum(axis=1) & np.uint64(_UINT32_MAX))[:, None]
    q = ((t << np.uint64(8)) + (total >> np.uint64(1))) // total
    return np.minimum(q, 255).astype(np.uint8)
