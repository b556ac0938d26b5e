"""ATen's float32 tensor primitives whose rounding or summation order shows in results.

torch's observers are written as float32 tensor arithmetic (``torch/ao/quantization/
observer.py``). Elementwise ``+ - * /`` match NumPy's float32 operators, but several
ATen kernels they call round or order their work in ways NumPy's namesakes do not:
``torch.sum`` is a cascade of 8-lane partial sums, ``torch.cumsum`` accumulates in
double, ``torch.histc`` bins by a float32 linear formula, ``torch.linspace`` uses a
fused multiply-add from both ends, ``torch.bincount`` adds its weights one by one.
Each function here reproduces one of them; ``docs/numerics/observers.md`` cites the
source and the test that confirms it.
"""

from __future__ import annotations

import numpy as np

from qemu.numerics.float32 import fma_f32

# ATen's CPU reductions split a tensor across threads only above this many elements
# (at::internal::GRAIN_SIZE).
GRAIN_SIZE = 32768

# ``Vectorized<float>`` width of ATen's sum kernel on x86. Measured: the kernel runs
# with 8 lanes on this AVX512 host as under ATEN_CPU_CAPABILITY=avx2 and =default
# (tests/observers/test_tensor_ops_torch.py); a 16-lane model mismatches.
SUM_LANES = 8

# ``multi_row_sum`` in ATen's SumKernel.cpp keeps this many cascade levels, and the
# row reduction interleaves this many independent accumulators (instruction-level
# parallelism).
_SUM_LEVELS = 4
_SUM_ILP = 4


def _ceil_log2(n: int) -> int:
    return 0 if n <= 1 else (n - 1).bit_length()


def _sequential_rows(rows: np.ndarray) -> np.ndarray:
    """``0 + r0 + r1 + ...`` row by row, one float32 rounding per addition.

    NumPy reduces along a non-contiguous leading axis one row at a time in order (the
    pairwise scheme applies only along the contiguous axis); the ``+ 0`` turns an
    all-negative-zero column into +0 as the C loop starting from 0.0f does.
    """
    return np.add.reduce(rows, axis=0) + np.float32(0)


def _multi_row_sum(rows: np.ndarray) -> np.ndarray:
    """ATen ``multi_row_sum``: column sums of ``rows`` (shape ``(size, width)``) through
    four cascade levels of ``2**level_power`` rows each."""
    size, width = rows.shape
    level_power = max(4, _ceil_log2(size) // _SUM_LEVELS)
    level_step = 1 << level_power
    level_mask = level_step - 1
    acc = np.zeros((_SUM_LEVELS, width), dtype=np.float32)
    i = 0
    while i + level_step <= size:
        # acc[0] is zero here (cleared by the previous cascade), so the block sum is a
        # plain running sum started from 0.
        acc[0] = _sequential_rows(rows[i : i + level_step])
        i += level_step
        for j in range(1, _SUM_LEVELS):
            acc[j] = acc[j] + acc[j - 1]
            acc[j - 1] = 0
            if i & (level_mask << (j * level_power)):
                break
    if i < size:
        acc[0] = _sequential_rows(rows[i:])
    for j in range(1, _SUM_LEVELS):
        acc[0] = acc[0] + acc[j]
    return acc[0]


def _row_sum(items: np.ndarray) -> np.ndarray:
    """ATen ``row_sum`` over ``items`` (shape ``(n, width)``; width 1 for scalars, the
    lane count for vectors): four interleaved accumulators, then the leftovers, then the
    accumulators folded left to right."""
    n, width = items.shape
    groups = n // _SUM_ILP
    if groups:
        partial = _multi_row_sum(items[: groups * _SUM_ILP].reshape(groups, _SUM_ILP * width))
        partial = partial.reshape(_SUM_ILP, width)
    else:
        partial = np.zeros((_SUM_ILP, width), dtype=np.float32)
    total = partial[0]
    for k in range(groups * _SUM_ILP, n):
        total = total + items[k]
    for k in range(1, _SUM_ILP):
        total = total + partial[k]
    return total


def _cascade_sum(x: np.ndarray) -> np.float32:
    """ATen ``cascade_sum`` of one contiguous float32 row on one thread."""
    n = x.size
    if n < SUM_LANES:
        # Too short for the vector path: scalar row_sum.
        return np.float32(0) + _row_sum(x.reshape(n, 1))[0]
    vectors = n // SUM_LANES
    lanes = _row_sum(x[: vectors * SUM_LANES].reshape(vectors, SUM_LANES))
    total = np.float32(0)
    for value in x[vectors * SUM_LANES :]:
        total = total + value
    for value in lanes:
        total = total + value
    # The kernel stores by accumulating into the zero-filled output.
    return np.float32(0) + total


def aten_sum_f32(x: np.ndarray, threads: int = 1) -> np.float32:
    """``torch.sum`` of a contiguous float32 tensor (all elements), bit for bit.

    ATen ``SumKernel.cpp: cascade_sum`` reads 8-float vectors through ``row_sum`` (four
    interleaved vector accumulators, each a four-level cascade of blocks of at least 16
    vectors), adds the leftover scalars, then the 8 lanes, left to right. With
    ``threads > 1`` and at least 32,768 elements, ``TensorIteratorBase::parallel_reduce``
    sums ``min(threads, ceil(n / 32768))`` equal chunks separately and then sums the
    per-thread partials (one slot per thread, unused slots 0) the same way.

    Examples
    --------
    >>> float(aten_sum_f32(np.float32([1e8, 1, -1e8, 1])))
    1.0
    """
    flat = np.ascontiguousarray(x, dtype=np.float32).reshape(-1)
    n = flat.size
    if threads <= 1 or n < GRAIN_SIZE:
        return _cascade_sum(flat)
    # at::parallel_for (OpenMP): as many tasks as grains allow, equal chunks.
    tasks = min(threads, -(-n // GRAIN_SIZE))
    chunk = -(-n // tasks)
    partials = np.zeros(threads, dtype=np.float32)
    for t in range(tasks):
        partials[t] = _cascade_sum(flat[t * chunk : (t + 1) * chunk])
    return _cascade_sum(partials)


def aten_cumsum_f32(x: np.ndarray) -> np.ndarray:
    """``torch.cumsum`` of a 1-D float32 tensor: ATen's ``cpu_cum_base_kernel`` runs the
    sum in ``acc_type<float, false>`` = double and rounds each prefix to float32.

    Examples
    --------
    >>> float(aten_cumsum_f32(np.float32([1, 2**-24, 2**-24]))[-1]) == 1 + 2**-23
    True
    """
    return np.cumsum(np.asarray(x, dtype=np.float32).astype(np.float64)).astype(np.float32)


def aten_linspace_f32(start: float, end: float, steps: int) -> np.ndarray:
    """``torch.linspace(start, end, steps)`` in float32 (``RangeFactoriesKernel.cpp:
    linspace_kernel``): ``step = f32(end - start) / (steps - 1)``; the first half is
    ``fma(step, i, start)``, the second half ``fma(-step, steps - 1 - i, end)`` (GCC
    contracts ``start + step * i``).

    Examples
    --------
    >>> aten_linspace_f32(0.0, 1.0, 5).tolist()
    [0.0, 0.25, 0.5, 0.75, 1.0]
    """
    first, last = np.float32(start), np.float32(end)
    if steps == 1:
        return np.array([first], dtype=np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        step = (last - first) / np.float32(steps - 1)
    index = np.arange(steps)
    halfway = steps // 2
    low = fma_f32(step, index[:halfway].astype(np.float32), first)
    high = fma_f32(-step, (steps - 1 - index[halfway:]).astype(np.float32), last)
    return np.concatenate([low, high]).astype(np.float32)


def _histc_range(x: np.ndarray, low: float, high: float) -> tuple[np.float32, np.float32]:
    """The float32 outer edges ``torch.histc`` bins between.

    ``Histogram.cpp: histc_select_outer_bin_edges`` replaces an empty range by the data's
    range and widens a still-empty range to ``[c - 1, c + 1]`` (in double). Measured in
    torch 2.13 (tests/observers/test_tensor_ops_torch.py): each widened edge is rounded to
    float32 and, where that rounding lands back on ``c`` (``|c| >= 2**24``), moved one
    float32 step away from ``c`` -- the stored source revision has no such step, but
    ``histc([1e10], min=1e10, max=1e10)`` puts the value in the middle bin, not bin 0.
    The edges are ``linspace(low, high, bins + 1)[0]`` and ``[-1]``, i.e.
    ``fma(step, 0, low)`` and ``fma(-step, 0, high)``: NaN when the step overflows.
    """
    if low == high and x.size:
        low, high = float(x.min()), float(x.max())
    if low == high:
        centre = np.float32(low)
        left, right = np.float32(low - 1), np.float32(high + 1)
        if left == centre:
            left = np.nextafter(centre, np.float32(-np.inf))
        if right == centre:
            right = np.nextafter(centre, np.float32(np.inf))
        return left, right
    edges = aten_linspace_f32(low, high, 2)
    return edges[0], edges[-1]


def aten_histc_f32(x: np.ndarray, bins: int, low: float, high: float) -> np.ndarray:
    """``torch.histc(x, bins, min=low, max=high)`` of float32 values, as float32 counts.

    ``HistogramKernel.cpp: histogramdd_cpu_contiguous`` with ``LINEAR_INTERPOLATION``:
    values outside ``[left, right]`` and NaN are skipped; the others go to bin
    ``trunc(f32(f32(f32(x - left) * bins) / f32(right - left)))``, the right edge into the
    last bin. A non-finite quotient (the range overflows float32) converts to
    ``INT64_MIN``, which as a float offset wraps the address back to bin 0 -- measured,
    not a documented behaviour. Counts are exact (per-thread partial histograms of
    integers), so the thread count does not matter.

    Examples
    --------
    >>> aten_histc_f32(np.float32([0, 0.5, 1]), 2, 0.0, 1.0).tolist()
    [1.0, 2.0]
    """
    x = np.asarray(x, dtype=np.float32).reshape(-1)
    left, right = _histc_range(x, low, high)
    with np.errstate(invalid="ignore"):
        inside = x[(x >= left) & (x <= right)]
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        position = ((inside - left) * np.float32(bins)) / (right - left)
    finite = np.isfinite(position)
    index = np.where(finite, np.trunc(np.where(finite, position, 0)), 0).astype(np.int64)
    index[index == bins] = bins - 1
    return np.bincount(index, minlength=bins).astype(np.float32)


def aten_bincount_f32(indices: np.ndarray, weights: np.ndarray, minlength: int) -> np.ndarray:
    """``torch.bincount(indices, weights=float32, minlength)``: ``_bincount_cpu_template``
    with float accumulation, adding the weights one at a time in input order.

    Examples
    --------
    >>> aten_bincount_f32(np.array([1, 1]), np.float32([0.5, 0.25]), 3).tolist()
    [0.0, 0.75, 0.0]
    """
    indices = np.asarray(indices, dtype=np.int64)
    out = np.zeros(max(minlength, int(indices.max()) + 1 if indices.size else 0), np.float32)
    # ufunc.at applies the additions unbuffered, in index order.
    np.add.at(out, indices, np.asarray(weights, dtype=np.float32))
    return out
