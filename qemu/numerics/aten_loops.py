"""Which element of an ATen elementwise kernel runs the vector lambda and which the
scalar one, and the memory layouts that decide it.

ATen's quantized elementwise kernels (add, hardswish, elu, ...) are
``cpu_kernel_vec(iter, scalar_op, vector_op)`` calls
(``aten/src/ATen/native/cpu/Loops.h``). The two lambdas dequantize and quantize with
different formulas (see :mod:`qemu.numerics.affine`), so an emulator must know, for
every output element, which one computed it. That depends on:

* the iteration order TensorIterator chooses (``aten/src/ATen/TensorIterator.cpp``:
  ``compute_strides``, ``reorder_dimensions``, ``coalesce_dimensions``): dimensions
  sorted by the operands' strides, adjacent dimensions merged where memory allows;
* the thread split (``TensorIteratorBase::for_each``, ``at::parallel_for``): more
  than ``GRAIN_SIZE = 32768`` elements and more than one thread give
  ``T = min(threads, ceil(N / 32768))`` chunks of ``ceil(N / T)`` iterations;
* the 2-D loop (``serial_for_each`` / ``DimCounter::max_2d_step`` /
  ``VectorizedLoop2d``): each run of the innermost (coalesced) dimension inside a
  chunk is one ``vectorized_loop`` call, which handles ``2 * Vec::size()`` elements
  per step with the vector lambda and the remaining ``< 2 * Vec::size()`` with the
  scalar one -- if the row is contiguous for every operand (or one input is a
  broadcast scalar); otherwise ``basic_loop`` runs the scalar lambda everywhere.

This module is the one place that models it: :func:`vector_lanes` answers the
question for any shapes, layouts, vector width and thread count; every op uses it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

GRAIN_SIZE = 32768  # at::internal::GRAIN_SIZE

CONTIGUOUS = "contiguous"
CHANNELS_LAST = "channels_last"
CHANNELS_LAST_3D = "channels_last_3d"


# -- memory layouts -------------------------------------------------------------------


def dim_order(ndim: int, memory_format: object, argument: str = "memory_format") -> tuple:
    """The dimensions of an ``ndim``-dimensional tensor from outermost to innermost in
    memory, for a layout given as ``"contiguous"``, ``"channels_last"`` (4-D),
    ``"channels_last_3d"`` (5-D) or an explicit order (a permutation of
    ``range(ndim)``, as ``x.permute(order).contiguous().permute(inverse)`` lays out).

    Examples
    --------
    >>> dim_order(4, "channels_last")
    (0, 2, 3, 1)
    """
    if memory_format is None or memory_format == CONTIGUOUS:
        return tuple(range(ndim))
    if memory_format == CHANNELS_LAST:
        if ndim != 4:
            raise ValueError(f"{argument}: channels_last needs a 4-D tensor, got {ndim} dimensions")
        return (0, 2, 3, 1)
    if memory_format == CHANNELS_LAST_3D:
        if ndim != 5:
            raise ValueError(
                f"{argument}: channels_last_3d needs a 5-D tensor, got {ndim} dimensions"
            )
        return (0, 2, 3, 4, 1)
    if isinstance(memory_format, str):
        raise ValueError(
            f"{argument}: expected 'contiguous', 'channels_last', 'channels_last_3d' or a "
            f"permutation of the dimensions, got {memory_format!r}"
        )
    try:
        order = tuple(int(d) for d in memory_format)  # type: ignore[union-attr]
    except TypeError as error:
        raise TypeError(
            f"{argument}: expected a layout name or a permutation, got {memory_format!r}"
        ) from error
    if sorted(order) != list(range(ndim)):
        raise ValueError(
            f"{argument}: expected a permutation of range({ndim}), got {memory_format!r}"
        )
    return order


def _strides_like_channels_last(shape, strides, order) -> bool:
    """c10 ``is_channels_last_strides_2d_s4`` / ``_3d_s5`` (``c10/core/MemoryFormat.h``)."""
    if strides[1] == 0:
        return False
    minimum = 0
    for dim in order:
        if shape[dim] == 0 or strides[dim] < minimum:
            return False
        if dim == 0 and minimum == strides[1]:
            return False
        minimum = strides[dim] * (shape[dim] if shape[dim] > 1 else 1)
    return True


def suggest_memory_format(shape: Sequence[int], strides: Sequence[int]) -> str:
    """``Tensor.suggest_memory_format()``: the layout torch allocates an op's output in.

    Examples
    --------
    >>> suggest_memory_format((2, 3, 4, 5), (60, 1, 15, 3))
    'channels_last'
    """
    if len(shape) == 4 and _strides_like_channels_last(shape, strides, (1, 3, 2, 0)):
        return CHANNELS_LAST
    if len(shape) == 5 and _strides_like_channels_last(shape, strides, (1, 4, 3, 2, 0)):
        return CHANNELS_LAST_3D
    return CONTIGUOUS


def is_contiguous_as(shape: Sequence[int], strides: Sequence[int], memory_format: str) -> bool:
    """``Tensor.is_contiguous(memory_format)``: dense in that layout, strides of size-1
    dimensions ignored (``c10/core/TensorImpl``, ``compute_contiguous`` /
    ``compute_channels_last_contiguous_2d``/``_3d``). Only the default format treats
    every empty tensor as contiguous.

    Examples
    --------
    >>> is_contiguous_as((2, 5, 1, 1), (5, 1, 1, 1), "channels_last")
    True
    """
    ndim = len(shape)
    if memory_format == CONTIGUOUS:
        if int(np.prod(shape, dtype=np.int64)) == 0:
            return True
        order = tuple(range(ndim))
    elif memory_format == CHANNELS_LAST:
        if ndim != 4:
            return False
        order = (0, 2, 3, 1)
    elif memory_format == CHANNELS_LAST_3D:
        if ndim != 5:
            return False
        order = (0, 2, 3, 4, 1)
    else:
        raise ValueError(f"memory_format: unknown layout {memory_format!r}")
    expected = 1
    for dim in reversed(order):
        if shape[dim] != 1:
            if strides[dim] != expected:
                return False
            expected *= shape[dim]
    return True


def contiguous_strides(shape: Sequence[int]) -> tuple[int, ...]:
    """c10's contiguous strides: ``stride[i] = stride[i + 1] * max(size[i + 1], 1)``.

    Examples
    --------
    >>> contiguous_strides((2, 0, 3))
    (3, 3, 1)
    """
    strides, step = [0] * len(shape), 1
    for dim in range(len(shape) - 1, -1, -1):
        strides[dim] = step
        step *= max(int(shape[dim]), 1)
    return tuple(strides)


def empty_strides(shape: Sequence[int], memory_format: str) -> tuple[int, ...]:
    """Strides of a freshly allocated tensor (``at::empty(shape, memory_format)``):
    c10's contiguous strides, or ``get_channels_last_strides_2d``/``_3d`` (sizes
    multiplied as they are).

    Examples
    --------
    >>> empty_strides((2, 3, 1, 1), "channels_last")
    (3, 1, 3, 3)
    """
    if memory_format == CONTIGUOUS:
        return contiguous_strides(shape)
    strides, step = [0] * len(shape), 1
    for dim in reversed(dim_order(len(shape), memory_format)):
        strides[dim] = step
        step *= int(shape[dim])
    return tuple(strides)


def layout_strides(shape: Sequence[int], memory_format: object) -> tuple[int, ...]:
    """Element strides of a tensor of ``shape`` laid out in ``memory_format``, as the
    torch backend builds it from a freshly allocated contiguous tensor ``x``:
    ``x.permute(order).contiguous().permute(inverse)``. ``contiguous()`` keeps the
    strides when the permuted view already is contiguous (size-1 dimensions are
    ignored), so e.g. a channels-last tensor with ``H * W == 1`` keeps contiguous
    strides -- as ``x.contiguous(memory_format=torch.channels_last)`` does.

    Examples
    --------
    >>> layout_strides((2, 3, 4, 5), "channels_last"), layout_strides((1, 3, 1, 1), "channels_last")
    ((60, 1, 15, 3), (3, 1, 1, 1))
    """
    shape = tuple(int(s) for s in shape)
    order = dim_order(len(shape), memory_format)
    base = contiguous_strides(shape)
    permuted_shape = [shape[d] for d in order]
    permuted = [base[d] for d in order]
    if not is_contiguous_as(permuted_shape, permuted, CONTIGUOUS):
        permuted = list(contiguous_strides(permuted_shape))
    strides = [0] * len(shape)
    for position, dim in enumerate(order):
        strides[dim] = permuted[position]
    return tuple(strides)


def broadcast_strides(
    operand_shape: Sequence[int], strides: Sequence[int], shape: Sequence[int]
) -> tuple[int, ...]:
    """An operand's strides in the iteration ``shape``: missing leading dimensions and
    broadcast (size-1) dimensions get stride 0 (``TensorIteratorBase::compute_strides``).
    """
    offset = len(shape) - len(operand_shape)
    out = [0] * len(shape)
    for i, size in enumerate(operand_shape):
        out[offset + i] = 0 if (size == 1 and shape[offset + i] != 1) else int(strides[i])
    return tuple(out)


# -- TensorIterator and cpu_kernel_vec ---------------------------------------------------


def _iteration_permutation(shape, operand_strides, resized) -> list[int]:
    """``TensorIteratorBase::reorder_dimensions``: dimensions fastest first."""
    ndim = len(shape)
    perm = list(range(ndim - 1, -1, -1))
    if ndim <= 1:
        return list(range(ndim))

    def should_swap(dim0: int, dim1: int) -> int:
        for strides, skip in zip(operand_strides, resized, strict=True):
            if skip:
                continue
            stride0, stride1 = strides[dim0], strides[dim1]
            if stride0 == 0 or stride1 == 0:
                continue
            if stride0 < stride1:
                return -1
            if stride0 > stride1:
                return 1
            if shape[dim0] > shape[dim1]:
                return 1
        return 0

    for i in range(1, ndim):
        dim1 = i
        for dim0 in range(i - 1, -1, -1):
            comparison = should_swap(perm[dim0], perm[dim1])
            if comparison > 0:
                perm[dim0], perm[dim1] = perm[dim1], perm[dim0]
                dim1 = dim0
            elif comparison < 0:
                break
    return perm


def _coalesce(shape: list[int], strides: list[list[int]]) -> tuple[list[int], list[list[int]]]:
    """``TensorIteratorBase::coalesce_dimensions`` on fastest-first shape/strides."""
    shape = list(shape)
    strides = [list(s) for s in strides]
    if len(shape) <= 1:
        return shape, strides
    prev = 0
    for dim in range(1, len(shape)):
        mergeable = (
            shape[prev] == 1
            or shape[dim] == 1
            or all(shape[prev] * s[prev] == s[dim] for s in strides)
        )
        if mergeable:
            if shape[prev] == 1:
                for s in strides:
                    s[prev] = s[dim]
            shape[prev] *= shape[dim]
        else:
            prev += 1
            if prev != dim:
                for s in strides:
                    s[prev] = s[dim]
                shape[prev] = shape[dim]
    return shape[: prev + 1], [s[: prev + 1] for s in strides]


def thread_chunks(numel: int, threads: int, grain: int = GRAIN_SIZE) -> list[tuple[int, int]]:
    """The ``[begin, end)`` ranges ``at::parallel_for`` gives its threads.

    Examples
    --------
    >>> thread_chunks(70001, 2)
    [(0, 35001), (35001, 70001)]
    """
    if numel <= 0:
        return []
    if threads <= 1 or numel <= grain:
        return [(0, numel)]
    count = min(threads, math.ceil(numel / grain))
    size = math.ceil(numel / count)
    return [(b, min(numel, b + size)) for b in range(0, numel, size)]


def vector_lanes(
    shape: Sequence[int],
    operand_strides: Sequence[Sequence[int]],
    vector_size: int,
    threads: int,
    *,
    output_resized: bool = False,
) -> np.ndarray:
    """Boolean array of ``shape``: True where ``cpu_kernel_vec`` computes the element
    with the vector lambda, False where with the scalar lambda.

    Parameters
    ----------
    shape:
        the iteration (output) shape.
    operand_strides:
        element strides of every operand in ``shape``, output first then inputs, with
        0 on broadcast dimensions (see :func:`broadcast_strides`).
    vector_size:
        ``Vectorized<scalar_t>::size()`` of the kernel's build (32 for 8-bit types
        and 8 for qint32 in AVX2 kernels); ``vectorized_loop`` steps by twice that.
    threads:
        torch's intra-op thread count.
    output_resized:
        the output operand had the wrong shape and TensorIterator resizes it, so its
        strides take no part in choosing the order.

    Examples
    --------
    >>> int(vector_lanes((70,), [(1,), (1,)], 32, 1).sum())
    64
    """
    shape = [int(s) for s in shape]
    numel = int(np.prod(shape, dtype=np.int64))
    if numel == 0:
        return np.zeros(shape, dtype=bool)
    ndim = len(shape)
    resized = [output_resized] + [False] * (len(operand_strides) - 1)
    perm = _iteration_permutation(shape, operand_strides, resized)
    permuted_shape = [shape[d] for d in perm]
    permuted_strides = []
    for strides, skip in zip(operand_strides, resized, strict=True):
        if skip:  # the resized output is allocated dense in iteration order
            dense, step = [], 1
            for size in permuted_shape:
                dense.append(step)
                step *= size
            permuted_strides.append(dense)
        else:
            permuted_strides.append([int(strides[d]) for d in perm])
    coalesced_shape, coalesced_strides = _coalesce(permuted_shape, permuted_strides)
    row = coalesced_shape[0] if coalesced_shape else 1
    inner = [s[0] if s else 0 for s in coalesced_strides]
    vectorizable = inner[0] == 1 and (
        all(s == 1 for s in inner[1:])
        or any(
            inner[i] == 0 and all(s == 1 for s in inner[1:i] + inner[i + 1 :])
            for i in range(1, len(inner))
        )
    )
    if vectorizable:
        lanes = row_prefix_lanes(numel, row, 2 * vector_size, thread_chunks(numel, threads))
    else:
        lanes = np.zeros(numel, dtype=bool)
    # Iteration index k enumerates the permuted dims with perm[0] fastest.
    ordered = lanes.reshape(permuted_shape[::-1])
    axes_dims = perm[::-1]  # dimension of each axis of `ordered`
    return np.transpose(ordered, np.argsort(axes_dims)) if ndim > 1 else ordered.reshape(shape)


def row_prefix_lanes(
    numel: int, row: int, step: int, chunks: Sequence[tuple[int, int]]
) -> np.ndarray:
    """Boolean mask of ``numel`` iterations laid out as rows of ``row``: True on the
    iterations a loop of whole ``step``-iteration vector steps covers, when every thread
    chunk ``[begin, end)`` of ``chunks`` starts a fresh loop in each row it touches (the
    rest of each row-and-chunk segment is the scalar tail).

    This is the split of ``vectorized_loop`` inside ``cpu_kernel_vec`` (step
    ``2 * Vec::size()``) and of the softmax kernel over a non-last dimension
    (``_vec_softmax``: step ``Vec::size()``, rows of ``inner_size``).

    Examples
    --------
    >>> row_prefix_lanes(10, 5, 2, [(0, 10)]).astype(int).tolist()
    [1, 1, 1, 1, 0, 1, 1, 1, 1, 0]
    >>> row_prefix_lanes(10, 10, 2, [(0, 5), (5, 10)]).astype(int).tolist()
    [1, 1, 1, 1, 0, 1, 1, 1, 1, 0]
    """
    lanes = np.zeros(numel, dtype=bool)
    if numel <= 0 or row <= 0:
        return lanes
    whole_row = np.zeros(row, dtype=bool)
    whole_row[: row // step * step] = True
    for begin, end in chunks:
        # A chunk is a cut-off row (from begin to the next row start), whole rows, and a
        # cut-off row (to end); each segment's loop covers its whole steps from its start.
        first_row_start = min(end, -(-begin // row) * row)
        last_row_start = max(first_row_start, end - end % row)
        for start, stop in ((begin, first_row_start), (last_row_start, end)):
            lanes[start : start + (stop - start) // step * step] = True
        lanes[first_row_start:last_row_start].reshape(-1, row)[:] = whole_row
    return lanes


def element_offsets(shape: Sequence[int], strides: Sequence[int]) -> np.ndarray:
    """Memory offset of every element of a tensor of ``shape`` with ``strides``
    (an array of ``shape``)."""
    offsets = np.zeros(tuple(int(s) for s in shape), dtype=np.int64)
    for axis, (size, stride) in enumerate(zip(shape, strides, strict=True)):
        view = [1] * len(shape)
        view[axis] = int(size)
        offsets = offsets + (np.arange(int(size), dtype=np.int64) * int(stride)).reshape(view)
    return offsets


def to_memory(values: np.ndarray, strides: Sequence[int]) -> np.ndarray:
    """The storage of a dense tensor holding ``values`` with ``strides``: a 1-D array in
    memory order.

    Examples
    --------
    >>> to_memory(np.array([[1, 2], [3, 4]]), (1, 2)).tolist()
    [1, 3, 2, 4]
    """
    values = np.asarray(values)
    memory = np.empty(values.size, dtype=values.dtype)
    memory[element_offsets(values.shape, strides).reshape(-1)] = values.reshape(-1)
    return memory


def from_memory(memory: np.ndarray, shape: Sequence[int], strides: Sequence[int]) -> np.ndarray:
    """The values of a tensor of ``shape`` and ``strides`` over the 1-D storage
    ``memory`` (the inverse of :func:`to_memory`)."""
    return np.asarray(memory)[element_offsets(shape, strides)]


def elementwise_lanes(
    out_shape: Sequence[int],
    out_format: object,
    inputs: Sequence[tuple[Sequence[int], object]],
    vector_size: int,
    threads: int,
    *,
    output_shape_given: Sequence[int] | None = None,
) -> np.ndarray:
    """:func:`vector_lanes` for an op whose output of ``out_shape`` is allocated dense in
    ``out_format`` and whose inputs are dense tensors ``(shape, memory_format)``.

    ``output_shape_given`` is the shape the op allocated its output with when it
    differs from the broadcast shape (quantized::add allocates ``qa.sizes()`` and lets
    TensorIterator resize it); ``out_format`` is then ignored.

    Examples
    --------
    >>> int(elementwise_lanes((65,), "contiguous", [((65,), "contiguous")], 32, 1).sum())
    64
    """
    out_shape = tuple(int(s) for s in out_shape)
    resized = output_shape_given is not None and tuple(output_shape_given) != out_shape
    # A resized output's own layout is never consulted (it is re-strided densely).
    strides = [layout_strides(out_shape, CONTIGUOUS if resized else out_format)]
    for shape, memory_format in inputs:
        strides.append(broadcast_strides(shape, layout_strides(shape, memory_format), out_shape))
    return vector_lanes(out_shape, strides, vector_size, threads, output_resized=resized)


def block_prefix(length: int, block: int) -> int:
    """How many of ``length`` elements a loop of whole ``block``-element steps covers.

    Examples
    --------
    >>> block_prefix(70, 32)
    64
    """
    return length // block * block
