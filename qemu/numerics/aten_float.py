"""ATen's float32 ``sigmoid`` and ``tanh`` kernels as the dynamic RNN gate math runs them.

``torch.sigmoid`` / ``Tensor.sigmoid_`` on float32 is ``sigmoid_kernel`` in
``aten/src/ATen/native/cpu/UnaryOpsKernel.cpp``, driven by ``cpu_kernel_vec``
(``aten/src/ATen/native/cpu/Loops.h``). For every contiguous inner run of ``n`` elements it
applies the vector lambda to pairs of ``Vectorized<float>`` (``2 * 16 = 32`` elements on the
AVX512 build this host dispatches to, ``2 * 8 = 16`` on an AVX2 host) and the scalar lambda to
the remaining ``n % 32`` (or ``n % 16``):

* vector: ``1 / (1 + exp(-x))`` with Sleef's ``expf16_u10`` (:func:`~qemu.numerics.sleef.expf_u10`),
  a float add and an IEEE division; the negation flips the sign bit (a NaN input comes back
  with its sign flipped, on both paths);
* scalar: ``1.0f / (1.0f + expf(-x))`` with glibc's ``expf`` (:func:`~qemu.numerics.libm.expf`).

Which elements form a run depends on the layout and the thread count:

* A contiguous tensor of any shape is one run of ``numel`` elements, unless
  ``numel >= 32768`` (``at::internal::GRAIN_SIZE``) and more than one thread is used: then
  ``at::parallel_for`` cuts it into ``T = min(threads, ceil(numel / 32768))`` chunks of
  ``ceil(numel / T)`` elements, each a run of its own (:func:`aten_sigmoid_contiguous`).
* A 2-D strided view whose rows are not adjacent in memory -- the ``(B, H)`` gate chunks an
  LSTM/GRU cell gets from ``gates.chunk(4, 1)`` and updates with ``sigmoid_`` -- is iterated
  row by row, so each row (or the part of a row inside a thread's chunk) is a run
  (:func:`aten_sigmoid_rows`).

``torch.tanh`` on float32 goes to MKL VML instead, which is element-wise with no layout
dependence (:func:`aten_tanh`).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from qemu.numerics.libm import erf, expf
from qemu.numerics.mkl import vml_tanh
from qemu.numerics.sleef import expf_u10

GRAIN_SIZE = 32768
# Elements per cpu_kernel_vec vector iteration: 2 * Vectorized<float>::size().
VECTOR_STEP = {"avx512": 32, "avx2": 16}

_ONE = np.float32(1.0)


def parallel_chunks(numel: int, num_threads: int) -> list[tuple[int, int]]:
    """The ``[begin, end)`` ranges ``at::parallel_for(0, numel, GRAIN_SIZE, ...)`` gives threads.

    Examples
    --------
    >>> parallel_chunks(40000, 2)
    [(0, 20000), (20000, 40000)]
    >>> parallel_chunks(40000, 1)
    [(0, 40000)]
    """
    if numel == 0:
        return []
    if num_threads <= 1 or numel < GRAIN_SIZE:
        return [(0, numel)]
    threads = min(num_threads, -(-numel // GRAIN_SIZE))
    size = -(-numel // threads)
    return [(b, min(numel, b + size)) for b in range(0, numel, size)]


def _row_runs(rows: int, cols: int, num_threads: int) -> Iterator[tuple[int, int, int]]:
    """(row, first column, end column) of every inner run when each row is its own loop."""
    for begin, end in parallel_chunks(rows * cols, num_threads):
        pos = begin
        while pos < end:
            r, c = divmod(pos, cols)
            stop = min(end - r * cols, cols)
            yield r, c, stop
            pos = r * cols + stop


def _sigmoid_vector(x: np.ndarray) -> np.ndarray:
    return _ONE / (_ONE + expf_u10(-x))


def _sigmoid_scalar(x: np.ndarray) -> np.ndarray:
    return _ONE / (_ONE + expf(-x))


def _sigmoid_run(x: np.ndarray, step: int) -> np.ndarray:
    split = x.size - x.size % step
    with np.errstate(all="ignore"):
        return np.concatenate([_sigmoid_vector(x[:split]), _sigmoid_scalar(x[split:])])


def aten_sigmoid_contiguous(x, num_threads: int = 1, capability: str = "avx512") -> np.ndarray:
    """``torch.sigmoid`` of a contiguous float32 tensor (``sigmoid_kernel``).

    Parameters
    ----------
    x : array_like
        The tensor's values in memory order (any shape; it is one flat run).
    num_threads : int
        ``torch.get_num_threads()`` at the call; matters only from 32768 elements on.
    capability : {"avx512", "avx2"}
        ATen's CPU capability; sets the vector step (32 or 16 elements).

    Returns
    -------
    numpy.ndarray
        float32 array of the same shape.

    Examples
    --------
    >>> y = aten_sigmoid_contiguous(np.zeros(33, np.float32))
    >>> bool(y[0] == y[32] == 0.5)
    True
    """
    x = np.asarray(x, dtype=np.float32)
    flat = x.reshape(-1)
    step = VECTOR_STEP[capability]
    out = np.empty_like(flat)
    for begin, end in parallel_chunks(flat.size, num_threads):
        out[begin:end] = _sigmoid_run(flat[begin:end], step)
    return out.reshape(x.shape)


def aten_sigmoid_rows(x, num_threads: int = 1, capability: str = "avx512") -> np.ndarray:
    """``sigmoid_`` on a 2-D strided view whose rows are separate inner loops.

    This is the LSTM/GRU gate case: ``gates.chunk(4, 1)`` yields ``(B, H)`` views with row
    stride ``4H``, so TensorIterator cannot merge the rows and every row gets its own
    vector body and scalar tail (``H % 32`` scalar elements per row, not ``(B*H) % 32``).
    A ``(1, H)`` view is the same as a contiguous run of ``H``.

    Parameters
    ----------
    x : array_like
        2-D array holding the view's values, row by row.
    num_threads : int
        ``torch.get_num_threads()``; from ``B*H >= 32768`` on, thread chunks cut rows.
    capability : {"avx512", "avx2"}
        ATen's CPU capability; sets the vector step (32 or 16 elements).

    Returns
    -------
    numpy.ndarray
        float32 array of the same shape.

    Examples
    --------
    >>> g = np.linspace(-4, 4, 2 * 40, dtype=np.float32).reshape(2, 40)
    >>> bool((aten_sigmoid_rows(g)[1] == aten_sigmoid_contiguous(g[1])).all())
    True
    """
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"expected a 2-D view, got shape {x.shape}")
    step = VECTOR_STEP[capability]
    rows, cols = x.shape
    if len(parallel_chunks(rows * cols, num_threads)) <= 1:
        # Every row is a whole run: the same columns take the vector body in each row.
        split = cols - cols % step
        with np.errstate(all="ignore"):
            return np.concatenate(
                [_sigmoid_vector(x[:, :split]), _sigmoid_scalar(x[:, split:])], axis=1
            )
    out = np.empty_like(x)
    for r, c0, c1 in _row_runs(rows, cols, num_threads):
        out[r, c0:c1] = _sigmoid_run(x[r, c0:c1], step)
    return out


def aten_tanh(x) -> np.ndarray:
    """``torch.tanh`` of a float32 tensor, any layout: MKL ``vmsTanh`` per element.

    Examples
    --------
    >>> aten_tanh(np.float32([0.0, 1.0])).tolist()
    [0.0, 0.7615941762924194]
    """
    return vml_tanh(x)


_M_SQRT1_2 = 0.70710678118654752440


def aten_qgelu_scalar_dy(x) -> np.ndarray:
    """``value_dy`` of ``qgelu_kernel``'s scalar lambda, as the float ``quantize_val`` gets.

    ``QuantizedOpKernels.cpp`` writes ``value_dx * 0.5 * (1 + std::erf(value_dx * M_SQRT1_2))``
    with a float ``value_dx`` and double literals, so the product is evaluated in double with
    glibc's double ``erf`` (:func:`qemu.numerics.libm.erf`) and rounded to float once when
    passed to ``quantize_val``. (The vector body uses ATen's float erf instead.)

    Examples
    --------
    >>> aten_qgelu_scalar_dy(np.float32([-1.0, 0.0, 2.0])).tolist()
    [-0.15865525603294373, 0.0, 1.9544997215270996]
    """
    xd = np.asarray(x, dtype=np.float32).astype(np.float64)
    return ((xd * 0.5) * (1.0 + erf(xd * _M_SQRT1_2))).astype(np.float32)
