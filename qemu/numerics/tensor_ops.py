"""ATen's float32 tensor primitives whose rounding or summation order shows in results.

torch's observers are written as float32 tensor arithmetic (``torch/ao/quantization/
observer.py``). Elementwise ``+ - * /`` round as NumPy's float32 operators do, but
several ATen kernels they call round or order their work in ways NumPy's namesakes do
not: ``torch.sum`` is a cascade of 8-lane partial sums, ``torch.cumsum`` accumulates in
double, ``torch.histc`` bins by a float32 linear formula, ``torch.linspace`` uses a
fused multiply-add from both ends, ``torch.bincount`` adds its weights one by one.
NaN results and the signs of zero results follow each kernel too: ``torch.min``/``max``
of two tensors write their own NaNs (``0xFFFFFFFF`` from a vector lane mask,
``0x7FC00000`` from the scalar tail), ``aminmax`` of a whole tensor ``0xFFFFFFFF``,
``aminmax`` of rows the row's first NaN, and ``+``/``-`` return the *second* operand's
NaN where NumPy returns the first's. Each function here reproduces one of them;
``docs/numerics/observers.md`` cites the source and the test that confirms it.
"""

from __future__ import annotations

import numpy as np

from qemu.numerics.float32 import fma_f32, quiet_nan, x86_nan

# ATen's CPU reductions split a tensor across threads only above this many elements
# (at::internal::GRAIN_SIZE).
GRAIN_SIZE = 32768

# ``Vectorized<float>`` width of the kernels that run with their AVX2 build on this
# AVX512 host (``REGISTER_DISPATCH`` without ``ALSO_REGISTER_AVX512_DISPATCH``):
# ``maximum``/``minimum`` and ``aminmax``. Measured in
# tests/observers/test_tensor_ops_torch.py: the elementwise loop works in blocks of
# 2 x 8 floats, the all-reduce in 8 lanes.
MINMAX_LANES = 8
_MINMAX_BLOCK = 2 * MINMAX_LANES

# NaN bit patterns the minimum/maximum kernels write themselves (as uint32).
MASK_NAN_BITS = np.uint32(0xFFFFFFFF)  # at::vec::minimum/maximum: value | unordered mask
CANONICAL_NAN_BITS = np.uint32(0x7FC00000)  # std::numeric_limits<float>::quiet_NaN()

# ``Vectorized<float>`` width of ATen's sum kernel on x86. Measured: the kernel runs
# with 8 lanes on this AVX512 host as under ATEN_CPU_CAPABILITY=avx2 and =default
# (tests/observers/test_tensor_ops_torch.py); a 16-lane model mismatches.
SUM_LANES = 8

# ``multi_row_sum`` in ATen's SumKernel.cpp keeps this many cascade levels, and the
# row reduction interleaves this many independent accumulators (instruction-level
# parallelism).
_SUM_LEVELS = 4
_SUM_ILP = 4


def parallel_chunks(n: int, threads: int) -> list[tuple[int, int]]:
    """The ``[start, stop)`` ranges ``at::parallel_for(0, n, GRAIN_SIZE, ...)`` gives its
    threads (OpenMP build): one range below ``GRAIN_SIZE`` elements or with one thread,
    else ``min(threads, ceil(n / GRAIN_SIZE))`` ranges of ``ceil(n / tasks)`` elements.

    Examples
    --------
    >>> parallel_chunks(70001, 2)
    [(0, 35001), (35001, 70001)]
    """
    if threads <= 1 or n < GRAIN_SIZE:
        return [(0, n)]
    tasks = min(threads, -(-n // GRAIN_SIZE))
    chunk = -(-n // tasks)
    return [(t * chunk, min(n, (t + 1) * chunk)) for t in range(tasks) if t * chunk < n]


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
    partials = np.zeros(threads, dtype=np.float32)
    for t, (start, stop) in enumerate(parallel_chunks(n, threads)):
        partials[t] = _cascade_sum(flat[start:stop])
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


# -- minimum, maximum, aminmax and the NaN-propagating arithmetic -------------------------


def _vector_block_mask(n: int, threads: int) -> np.ndarray:
    """Which elements of an ``n``-element elementwise op ATen's ``vectorized_loop``
    (``cpu/Loops.h``) computes with vectors: each thread's range in whole blocks of
    ``2 * 8`` floats from its start; the rest of the range is the scalar tail."""
    body = np.zeros(n, dtype=bool)
    for start, stop in parallel_chunks(n, threads):
        body[start : start + (stop - start) // _MINMAX_BLOCK * _MINMAX_BLOCK] = True
    return body


def _binary_operands(a: object, b: object) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    """Both operands as flat float32 arrays of the output's size. Only the layouts
    whose loop is modelled are accepted: each operand has the output's shape or a
    single element (which ATen broadcasts with stride 0 in the same loop)."""
    a = np.asarray(a, dtype=np.float32)
    b = np.asarray(b, dtype=np.float32)
    shape = np.broadcast_shapes(a.shape, b.shape)
    n = int(np.prod(shape, dtype=np.int64))
    operands = []
    for name, operand in (("a", a), ("b", b)):
        if operand.size == 1:
            operands.append(np.broadcast_to(operand.reshape(1), (n,)))
        elif operand.shape == shape:
            operands.append(np.ascontiguousarray(operand).reshape(n))
        else:
            raise ValueError(
                f"{name}: expected the output shape {shape} or a single element, got shape "
                f"{operand.shape} (other broadcasts run another loop, not modelled)"
            )
    return operands[0], operands[1], shape


def _minimum_or_maximum(a: object, b: object, threads: int, minimum: bool) -> np.ndarray:
    x, y, shape = _binary_operands(a, b)
    body = _vector_block_mask(x.size, threads)
    if minimum:
        # _mm256_min_ps(a, b) = a < b ? a : b; std::min(a, b) = b < a ? b : a.
        vector, scalar = np.where(x < y, x, y), np.where(y < x, y, x)
    else:
        # _mm256_max_ps(a, b) = a > b ? a : b; std::max(a, b) = a < b ? b : a.
        vector, scalar = np.where(x > y, x, y), np.where(x < y, y, x)
    bits = np.where(body, vector, scalar).view(np.uint32)
    nan = np.isnan(x) | np.isnan(y)
    bits = np.where(nan, np.where(body, MASK_NAN_BITS, CANONICAL_NAN_BITS), bits)
    return bits.astype(np.uint32).view(np.float32).reshape(shape)


def torch_minimum(a: object, b: object, threads: int = 1) -> np.ndarray:
    """``torch.min(a, b)`` / ``torch.minimum`` of float32 tensors, bit for bit.

    ``BinaryOpsKernel.cpp: minimum_kernel`` runs through ``cpu_kernel_vec``: each
    thread's range (:func:`parallel_chunks`) goes in blocks of two 8-float vectors
    through ``at::vec::minimum`` -- ``_mm256_min_ps(a, b)`` (``b`` on ties, so
    ``min(0.0, -0.0)`` is ``-0.0``) OR-ed with the all-ones unordered mask, so a NaN
    lane is ``0xFFFFFFFF`` -- and the leftover elements through the scalar lambda,
    ``std::min(a, b)`` (``a`` on ties) or ``quiet_NaN()`` = ``0x7FC00000`` if either is
    NaN. A single-element tensor (a 0-d observer buffer) always takes the scalar path.

    ``a`` and ``b`` must each have the output's shape or a single element.

    Examples
    --------
    >>> nan = np.float32(np.nan)
    >>> [hex(v) for v in torch_minimum(np.full(17, nan), np.float32(0)).view(np.uint32)[15:]]
    ['0xffffffff', '0x7fc00000']
    """
    return _minimum_or_maximum(a, b, threads, minimum=True)


def torch_maximum(a: object, b: object, threads: int = 1) -> np.ndarray:
    """``torch.max(a, b)`` / ``torch.maximum`` of float32 tensors, bit for bit: as
    :func:`torch_minimum` with ``_mm256_max_ps(a, b)`` (``b`` on ties) in the vector
    blocks and ``std::max(a, b)`` (``a`` on ties) in the tail; NaN lanes ``0xFFFFFFFF``,
    NaN tail elements ``0x7FC00000``.

    Examples
    --------
    >>> hex(torch_maximum(np.float32(np.nan), np.float32(1)).view(np.uint32))
    '0x7fc00000'
    """
    return _minimum_or_maximum(a, b, threads, minimum=False)


def _lane_fold(chunk: np.ndarray, minimum: bool) -> float:
    """``vec::reduce2_all`` (``functional_base.h``) of one thread's range with
    ``at::vec::minimum`` (or ``maximum``) on 8 lanes, for a NaN-free range: its value
    and the sign of a zero result.

    Fewer than 8 elements fold left to right in lane 0. Otherwise element ``i`` goes to
    lane ``i % 8`` and each lane keeps the *last* element equal to its extreme
    (``_mm256_min_ps`` returns its second operand on ties); the lanes then combine
    through ``VecReduceAllSIMD``: swap 128-bit halves, then 64-bit, then 32-bit pairs,
    ``v = op(v, shuffled)`` each time, and lane 0 is the result.
    """
    better = (lambda x, y: x < y) if minimum else (lambda x, y: x > y)
    extreme = float(chunk.min() if minimum else chunk.max())
    if extreme != 0:
        return extreme
    zeros = np.flatnonzero(chunk == 0)
    if chunk.size < MINMAX_LANES:
        return float(chunk[zeros[-1]])
    padding = np.float32(np.inf if minimum else -np.inf)
    padded = np.full(-(-chunk.size // MINMAX_LANES) * MINMAX_LANES, padding, dtype=np.float32)
    padded[: chunk.size] = chunk
    columns = padded.reshape(-1, MINMAX_LANES)
    lanes = (columns.min(axis=0) if minimum else columns.max(axis=0)).astype(np.float64).tolist()
    last_zero = np.full(MINMAX_LANES, -1)
    np.maximum.at(last_zero, zeros % MINMAX_LANES, zeros)
    for lane in np.flatnonzero(last_zero >= 0):
        lanes[lane] = float(chunk[last_zero[lane]])
    step = MINMAX_LANES // 2
    while step:
        lanes = [
            lanes[i] if better(lanes[i], lanes[i ^ step]) else lanes[i ^ step]
            for i in range(MINMAX_LANES)
        ]
        step //= 2
    return lanes[0]


def _zero_extreme(flat: np.ndarray, threads: int, minimum: bool) -> np.float32:
    """The zero ``aminmax_allreduce_kernel`` returns for a NaN-free tensor whose minimum
    (or maximum) is zero. Thread ranges (:func:`parallel_chunks`) reduce separately,
    then combine in order with ``min_impl``/``max_impl`` (``std::min``/``std::max``),
    which keep the earlier range's value on ties."""
    negative = np.signbit(flat[flat == 0])
    if negative.all() or not negative.any():
        # Zeros of one sign: the order cannot matter.
        return np.float32(-0.0 if negative[0] else 0.0)
    result = None
    for start, stop in parallel_chunks(flat.size, threads):
        partial = _lane_fold(flat[start:stop], minimum)
        if result is None or (partial < result if minimum else partial > result):
            result = partial
    return np.float32(result)


def torch_aminmax(x: object, threads: int = 1) -> tuple[np.float32, np.float32]:
    """``torch.aminmax(x)`` (all elements) of a non-empty float32 tensor, bit for bit.

    ``ReduceAllOpsKernel.cpp: aminmax_allreduce_kernel`` reduces ``x.contiguous()``
    (C order) with ``vec::reduce2_all`` on 8-float vectors of ``at::vec::minimum`` /
    ``maximum``, one range per thread above 32,768 elements (``at::parallel_reduce``),
    the ranges' results combined by the scalar ``min_impl``/``max_impl``. NaN, for both
    outputs: a tensor of one element returns it (quieted: the result is stored through
    a double ``Scalar``); a larger one returns the vector lane mask ``0xFFFFFFFF``, or
    ``0x7FC00000`` (``quiet_NaN()`` of the scalar combine) when it was split across
    threads. A zero result's sign follows the lane order (:func:`_lane_fold`).

    Examples
    --------
    >>> low, high = torch_aminmax(np.float32([3.0, -1.0, 2.0]))
    >>> float(low), float(high)
    (-1.0, 3.0)
    >>> hex(torch_aminmax(np.float32([1.0, np.nan]))[0].view(np.uint32))
    '0xffffffff'
    """
    flat = np.ravel(np.asarray(x, dtype=np.float32), order="C")
    if flat.size == 0:
        raise ValueError("x: aminmax of an empty tensor has no value (torch raises)")
    low, high = flat.min(), flat.max()  # NaN if any element is NaN
    if np.isnan(low):
        if flat.size == 1:
            value = quiet_nan(flat[0])
        elif len(parallel_chunks(flat.size, threads)) > 1:
            value = CANONICAL_NAN_BITS.view(np.float32)
        else:
            value = MASK_NAN_BITS.view(np.float32)
        return np.float32(value), np.float32(value)
    if low == 0:
        low = _zero_extreme(flat, threads, minimum=True)
    if high == 0:
        high = _zero_extreme(flat, threads, minimum=False)
    return np.float32(low), np.float32(high)


def torch_aminmax_rows(rows: object) -> tuple[np.ndarray, np.ndarray]:
    """``torch.aminmax(rows, dim=1)`` of a 2-D float32 tensor with non-empty rows.

    ``TensorCompareKernel.cpp: aminmax_kernel`` scans each row in order from its first
    element, replacing the minimum only by a strictly smaller value and the maximum
    only by a strictly larger one, so each keeps the *first* element equal to it (the
    sign of a zero result is that of the row's first zero); at the first NaN it stores
    that NaN, bits untouched (a signaling NaN stays signaling), as both and stops.

    Examples
    --------
    >>> low, high = torch_aminmax_rows(np.float32([[0.0, -0.0, 2.0]]))
    >>> low.view(np.uint32).tolist(), high.tolist()
    ([0], [2.0])
    """
    rows = np.asarray(rows, dtype=np.float32)
    if rows.ndim != 2 or rows.shape[1] == 0:
        raise ValueError(f"rows: expected a 2-D array with non-empty rows, got shape {rows.shape}")
    index = np.arange(rows.shape[0])
    nan = np.isnan(rows)
    first_nan = rows[index, nan.argmax(axis=1)]
    has_nan = nan.any(axis=1)
    results = []
    for extreme, padding in ((np.min, np.inf), (np.max, -np.inf)):
        values = extreme(np.where(nan, np.float32(padding), rows), axis=1)
        first = rows[index, (rows == values[:, None]).argmax(axis=1)]
        results.append(np.where(has_nan, first_nan, first))
    return results[0], results[1]


def torch_add(a: object, b: object) -> np.ndarray:
    """``a + b`` of float32 tensors with ATen's NaN: ``ufunc/add.h`` computes
    ``vec::fmadd(b, alpha, a)`` (scalar tail: ``a + alpha * b``, contracted to the same
    FMA), which takes its NaN from ``b`` first, then from ``a``; an invalid sum of
    infinities is the default NaN ``0xFFC00000``. NumPy's ``+`` returns ``a``'s NaN.

    Examples
    --------
    >>> a = np.uint32([0x7FC00001]).view(np.float32); b = np.uint32([0x7FC00002]).view(np.float32)
    >>> hex(torch_add(a, b).view(np.uint32)[0])
    '0x7fc00002'
    """
    a, b = np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32)
    with np.errstate(invalid="ignore", over="ignore"):
        return x86_nan(a + b, b, a)


def torch_sub(a: object, b: object) -> np.ndarray:
    """``a - b`` of float32 tensors with ATen's NaN: ``sub`` is ``add`` with
    ``alpha = -1``, ``fmadd(b, -1, a)``: ``b``'s NaN first (quieted, its sign kept: the
    NaN is not negated), then ``a``'s, else ``0xFFC00000`` for ``inf - inf``.

    Examples
    --------
    >>> a = np.uint32([0x7FC00001]).view(np.float32); b = np.uint32([0xFF800002]).view(np.float32)
    >>> hex(torch_sub(a, b).view(np.uint32)[0])
    '0xffc00002'
    """
    a, b = np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32)
    with np.errstate(invalid="ignore", over="ignore"):
        return x86_nan(a - b, b, a)


def torch_mul_scalar(x: object, scalar: float) -> np.ndarray:
    """``x * scalar`` (a Python number, rounded to float32 as ATen does for a wrapped
    scalar): a NaN element comes out quieted; ``inf * 0`` is ``0xFFC00000``.

    Only a non-NaN scalar is modelled: with NaN on both sides ATen's choice depends on
    the loop (measured: its auto-vectorized short loop swaps the operands).

    Examples
    --------
    >>> torch_mul_scalar(np.float32([2.0, -1.0]), 0.5).tolist()
    [1.0, -0.5]
    """
    factor = np.float32(scalar)
    if np.isnan(factor):
        raise ValueError("scalar: a NaN factor is not modelled (ATen's NaN choice varies)")
    x = np.asarray(x, dtype=np.float32)
    with np.errstate(invalid="ignore", over="ignore"):
        return x86_nan(x * factor, x, factor)


def torch_div(a: object, b: object) -> np.ndarray:
    """``a / b`` of float32 tensors (``div_true_kernel``, ``vdivps``): ``a``'s NaN first,
    then ``b``'s, else ``0xFFC00000`` for ``0 / 0`` and ``inf / inf``.

    Examples
    --------
    >>> hex(torch_div(np.float32([0.0]), np.float32([0.0])).view(np.uint32)[0])
    '0xffc00000'
    """
    a, b = np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore", under="ignore"):
        return x86_nan(a / b, a, b)


def torch_neg(x: object) -> np.ndarray:
    """``-x`` (``neg_kernel``): flips the sign bit only -- a NaN keeps its payload and a
    signaling NaN stays signaling.

    Examples
    --------
    >>> hex(torch_neg(np.uint32([0x7F800001]).view(np.float32)).view(np.uint32)[0])
    '0xff800001'
    """
    bits = np.asarray(x, dtype=np.float32).view(np.uint32)
    return (bits ^ np.uint32(0x80000000)).view(np.float32)
