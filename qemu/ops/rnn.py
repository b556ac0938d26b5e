"""Dynamic quantized RNNs: ``lstm``, ``gru`` and the cells ``lstm_cell``, ``gru_cell``,
``rnn_tanh_cell``, ``rnn_relu_cell``, as ``torch.ao.nn.quantized.dynamic`` runs them
(``aten/src/ATen/native/RNN.cpp``: ``quantized_lstm``, ``quantized_gru``,
``quantized_*_cell_dynamic``).

Weights
-------
Each cell (one layer, one direction) takes its weights the way the dynamic module packs
them (``RNNBase._all_weight_values`` / ``RNNCellBase._packed_weight_ih/hh``):

``(w_ih, w_hh, b_ih, b_hh)``
    ``w_ih`` (gates * hidden, input) and ``w_hh`` (gates * hidden, hidden) are both a
    qint8 :class:`~qemu.QTensor` (per-tensor, or per-channel along axis 0) -- the int8
    module -- or both a float32 / float16 array, the float weight that torch rounds to
    fp16 at ``linear_prepack_fp16`` -- the float16 module. ``b_ih`` and ``b_hh`` are
    float32 (gates * hidden) vectors or ``None``; they are the biases packed with the
    weights. A mapping with those four keys is accepted too.

gates is 4 for LSTM (i, f, g, o), 3 for GRU (r, z, n), 1 for the simple cells. A
multi-layer / bidirectional RNN takes a list of ``num_layers * num_directions`` cells
in torch's order: layer 0 forward, layer 0 reverse, layer 1 forward, ...; layers after
the first take ``num_directions * hidden`` inputs.

Arithmetic (``docs/numerics/rnn.md``)
-------------------------------------
* The input projection of a whole layer is one dynamic linear over all time steps
  (``FullLayer`` / ``PackedLayer`` pre-compute it on CPU), so int8 activation qparams
  come from the whole sequence; the reverse direction projects the input again with
  its own weights. The hidden projection runs every step, on the rows still active
  in a packed sequence.
* Gates: ``linear_hh(h).add_(x_proj)``; ``sigmoid_`` in place on the gate chunk views
  (every row its own vector body and scalar tail: :func:`~qemu.numerics.aten_float.
  aten_sigmoid_rows`), ``tanh`` through MKL (:func:`~qemu.numerics.aten_float.aten_tanh`).
* LSTM: ``c' = f * c + i * g``, ``h' = o * tanh(c')``. GRU: ``r = sigmoid(hh_r + ih_r)``,
  ``z = sigmoid(hh_z + ih_z)``, ``n = tanh(ih_n + hh_n * r)``, ``h' = (h - n) * z + n``.
  Simple cells: ``tanh`` / ``relu`` of ``linear_hh(h) + linear_ih(x)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from qemu import dispatch
from qemu.numerics.affine import quantize_fbgemm
from qemu.numerics.aten_elementwise import add, relu
from qemu.numerics.aten_float import (
    VECTOR_STEP,
    aten_sigmoid_contiguous,
    aten_tanh,
    parallel_chunks,
)
from qemu.numerics.float32 import fma_f32
from qemu.numerics.fp16 import saturate_to_fp16
from qemu.numerics.fp16gemm import gemm_fp16
from qemu.ops.dynamic import (
    check_bias,
    check_fp16_weight,
    check_int8_weight,
    linear_fp16_reference,
    linear_int8_reference,
    require_fp16_engine,
)
from qemu.ops.linear import gemm_accumulators
from qemu.qtensor import QTensor
from qemu.quantize import check_float_input

GATES = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}

CellWeights = tuple  # (w_ih, w_hh, b_ih, b_hh), canonical: QTensor or float32 arrays

# -- validation -----------------------------------------------------------------------


def _check_bool(value: object, argument: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{argument}: expected a bool, got {type(value).__name__} {value!r}")
    return bool(value)


def _check_positive_int(value: object, argument: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{argument}: expected an int, got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"{argument}: expected an integer >= 1, got {value}")
    return int(value)


def check_cell_weights(
    cell: object, gates: int, input_size: int | None, engine: object, argument: str
) -> CellWeights:
    """One cell's ``(w_ih, w_hh, b_ih, b_hh)``, validated against torch's shape checks
    (``check_rnn_cell_forward_weights``) and the packing rules of the dynamic linears."""
    if isinstance(cell, Mapping):
        missing = {"w_ih", "w_hh"} - set(cell)
        if missing:
            raise ValueError(f"{argument}: missing {sorted(missing)} (keys w_ih, w_hh, b_ih, b_hh)")
        cell = (cell["w_ih"], cell["w_hh"], cell.get("b_ih"), cell.get("b_hh"))
    if not isinstance(cell, Sequence) or isinstance(cell, (str, bytes)) or len(cell) != 4:
        raise TypeError(
            f"{argument}: expected (w_ih, w_hh, b_ih, b_hh) or a mapping with those keys, "
            f"got {type(cell).__name__}"
        )
    w_ih, w_hh, b_ih, b_hh = cell
    if isinstance(w_ih, QTensor) != isinstance(w_hh, QTensor):
        raise TypeError(
            f"{argument}: w_ih and w_hh must both be qint8 QTensors (int8 module) or both "
            "float arrays (float16 module)"
        )
    if isinstance(w_ih, QTensor):
        w_ih = check_int8_weight(w_ih, f"{argument}.w_ih")
        w_hh = check_int8_weight(w_hh, f"{argument}.w_hh")
    else:
        w_ih = check_fp16_weight(w_ih, f"{argument}.w_ih")
        w_hh = check_fp16_weight(w_hh, f"{argument}.w_hh")
        require_fp16_engine(engine, "an RNN with float16 weights")
    hidden = w_hh.shape[1]
    for name, w in (("w_ih", w_ih), ("w_hh", w_hh)):
        if w.shape[0] != gates * hidden:
            raise ValueError(
                f"{argument}.{name}: first dimension must be {gates} * hidden_size = "
                f"{gates * hidden}, got {w.shape[0]}"
            )
    if input_size is not None and w_ih.shape[1] != input_size:
        raise ValueError(
            f"{argument}.w_ih: expected {input_size} input features, got {w_ih.shape[1]}"
        )
    if hidden == 0 or w_ih.shape[1] == 0:
        raise ValueError(
            f"{argument}: hidden and input sizes must be >= 1 (an empty reduction gives "
            "uninitialized memory in torch's fbgemm kernels)"
        )
    return (
        w_ih,
        w_hh,
        check_bias(b_ih, gates * hidden, f"{argument}.b_ih"),
        check_bias(b_hh, gates * hidden, f"{argument}.b_hh"),
    )


def _check_finite(array: np.ndarray, argument: str) -> np.ndarray:
    if not np.isfinite(array).all():
        raise ValueError(
            f"{argument}: expected finite values; NaN and infinities make the int8 "
            "activation range undefined, and qemu does not model which NaN payload "
            "torch's gate arithmetic returns"
        )
    return array


def _check_state(state: object, shape: tuple[int, ...], argument: str) -> np.ndarray:
    if state is None:
        return np.zeros(shape, np.float32)
    array = _check_finite(check_float_input(state, argument), argument)
    if array.shape != shape:
        raise ValueError(f"{argument}: expected shape {shape}, got {array.shape}")
    return array


def _check_batch_sizes(batch_sizes: object, total: int) -> np.ndarray:
    array = np.asarray(batch_sizes)
    if array.dtype.kind not in "iu" or array.ndim != 1 or array.size == 0:
        raise TypeError(
            f"batch_sizes: expected a non-empty 1-D integer array (PackedSequence.batch_sizes), "
            f"got {array.dtype} of shape {array.shape}"
        )
    array = array.astype(np.int64)
    if array.min() < 1 or (np.diff(array) > 0).any():
        raise ValueError(
            f"batch_sizes: expected positive, non-increasing sizes (sequences sorted by "
            f"decreasing length), got {array.tolist()}"
        )
    if array.sum() != total:
        raise ValueError(
            f"batch_sizes: they add up to {int(array.sum())} but input has {total} rows"
        )
    return array


def _check_layers(
    params: object, num_layers: int, directions: int, gates: int, input_size: int, engine
):
    if isinstance(params, (Mapping, str, bytes)) or not isinstance(params, Sequence):
        raise TypeError(
            "params: expected a list of (w_ih, w_hh, b_ih, b_hh) cells, one per layer and "
            f"direction, got {type(params).__name__}"
        )
    if params and isinstance(params[0], (QTensor, np.ndarray)):
        raise TypeError(
            "params: expected a list of cells, got a single cell's weights; pass "
            "[(w_ih, w_hh, b_ih, b_hh)]"
        )
    if len(params) != num_layers * directions:
        raise ValueError(
            f"params: expected num_layers * num_directions = {num_layers * directions} cells, "
            f"got {len(params)}"
        )
    cells = []
    hidden = None
    for index, cell in enumerate(params):
        layer = index // directions
        expected_input = input_size if layer == 0 else directions * hidden
        checked = check_cell_weights(cell, gates, expected_input, engine, f"params[{index}]")
        if hidden is None:
            hidden = checked[1].shape[1]
        elif checked[1].shape[1] != hidden:
            raise ValueError(
                f"params[{index}].w_hh: hidden size {checked[1].shape[1]} differs from "
                f"params[0]'s {hidden}"
            )
        cells.append(checked)
    return cells, hidden


def _sequence_arguments(
    mode,
    input,
    hx,
    params,
    num_layers,
    bidirectional,
    batch_first,
    batch_sizes,
    reduce_range,
    engine,
):
    num_layers = _check_positive_int(num_layers, "num_layers")
    directions = 2 if _check_bool(bidirectional, "bidirectional") else 1
    batch_first = _check_bool(batch_first, "batch_first")
    reduce_range = _check_bool(reduce_range, "reduce_range")
    x = _check_finite(check_float_input(input, "input"), "input")
    if batch_sizes is None:
        if x.ndim != 3:
            raise ValueError(
                f"input: expected a 3-D (seq_len, batch, input_size) array "
                f"({'batch, seq_len' if batch_first else 'seq_len, batch'} order), got shape {x.shape}"
            )
        steps, batch = (x.shape[1], x.shape[0]) if batch_first else x.shape[:2]
        if steps == 0:
            raise ValueError(
                "input: expected a sequence length > 0 (torch refuses an empty sequence)"
            )
        sizes = None
    else:
        if batch_first:
            raise ValueError("batch_first: a packed sequence has no batch dimension to move")
        if x.ndim != 2:
            raise ValueError(
                f"input: a packed sequence's data is 2-D (sum of lengths, input_size), got shape {x.shape}"
            )
        sizes = _check_batch_sizes(batch_sizes, x.shape[0])
        batch = int(sizes[0])
    if batch == 0:
        raise ValueError("input: expected a batch of at least one sequence")
    cells, hidden = _check_layers(params, num_layers, directions, GATES[mode], x.shape[-1], engine)
    state_shape = (num_layers * directions, batch, hidden)
    if mode == "lstm":
        if hx is None:
            hx = (None, None)
        if not isinstance(hx, (tuple, list)) or len(hx) != 2:
            raise TypeError("hx: expected None or a pair (h_0, c_0)")
        states = (
            _check_state(hx[0], state_shape, "hx[0]"),
            _check_state(hx[1], state_shape, "hx[1]"),
        )
    else:
        states = (_check_state(hx, state_shape, "hx"),)
    return x, states, cells, num_layers, directions == 2, batch_first, sizes, reduce_range


# -- public entries -------------------------------------------------------------------


def lstm(
    input: object,
    hx: tuple[object, object] | None,
    params: Sequence[object],
    num_layers: int = 1,
    bidirectional: bool = False,
    batch_first: bool = False,
    batch_sizes: object = None,
    reduce_range: bool = True,
    *,
    engine: str | None = None,
    backend: str | None = None,
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """A dynamic quantized LSTM, as ``torch.ao.nn.quantized.dynamic.LSTM`` runs it
    (``torch.quantized_lstm`` with ``use_dynamic=True``).

    Parameters
    ----------
    input : float32 array
        (seq_len, batch, input_size), (batch, seq_len, input_size) with ``batch_first``,
        or a packed sequence's ``data`` (sum of lengths, input_size) with ``batch_sizes``.
    hx : (h_0, c_0) or None
        Each (num_layers * num_directions, batch, hidden_size); ``None`` means zeros.
    params : list of cells
        ``(w_ih, w_hh, b_ih, b_hh)`` per layer and direction (see the module docs).
    num_layers, bidirectional, batch_first
        As ``nn.LSTM``.
    batch_sizes : int array, optional
        ``PackedSequence.batch_sizes``: the input is packed data, sorted by decreasing
        length (``pack_padded_sequence(..., enforce_sorted=True)``, or already permuted).
    reduce_range : bool
        For int8 cells: the dynamic module (version 2) passes True; qnnpack ignores it.

    Returns
    -------
    output, (h_n, c_n)
        output (seq_len, batch, num_directions * hidden_size) -- batch first with
        ``batch_first``, packed data (sum of lengths, ...) with ``batch_sizes`` -- and
        the final states, each (num_layers * num_directions, batch, hidden_size).

    Examples
    --------
    >>> import numpy as np, qemu
    >>> w = np.full((4, 1), 0.5, np.float32)
    >>> out, (h, c) = qemu.ops.lstm(np.ones((2, 1, 1), np.float32), None, [(w, w, None, None)])
    >>> out.shape, h.shape
    ((2, 1, 1), (1, 1, 1))
    """
    args = _sequence_arguments(
        "lstm",
        input,
        hx,
        params,
        num_layers,
        bidirectional,
        batch_first,
        batch_sizes,
        reduce_range,
        engine,
    )
    output, states = dispatch.call("lstm", *args, engine=engine, backend=backend)
    return output, tuple(states)


def gru(
    input: object,
    hx: object,
    params: Sequence[object],
    num_layers: int = 1,
    bidirectional: bool = False,
    batch_first: bool = False,
    batch_sizes: object = None,
    reduce_range: bool = True,
    *,
    engine: str | None = None,
    backend: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """A dynamic quantized GRU, as ``torch.ao.nn.quantized.dynamic.GRU`` runs it
    (``torch.quantized_gru``). Arguments as :func:`lstm`, with one state ``h_0``.

    Returns
    -------
    output, h_n

    Examples
    --------
    >>> import numpy as np, qemu
    >>> w = np.full((3, 1), 0.5, np.float32)
    >>> out, h = qemu.ops.gru(np.ones((2, 1, 1), np.float32), None, [(w, w, None, None)])
    >>> out.shape, h.shape
    ((2, 1, 1), (1, 1, 1))
    """
    args = _sequence_arguments(
        "gru",
        input,
        hx,
        params,
        num_layers,
        bidirectional,
        batch_first,
        batch_sizes,
        reduce_range,
        engine,
    )
    output, states = dispatch.call("gru", *args, engine=engine, backend=backend)
    return output, states[0]


def _cell_arguments(mode, input, hx, w_ih, w_hh, b_ih, b_hh, engine):
    x = _check_finite(check_float_input(input, "input"), "input")
    if x.ndim != 2:
        raise ValueError(f"input: expected a 2-D (batch, input_size) array, got shape {x.shape}")
    cell = check_cell_weights((w_ih, w_hh, b_ih, b_hh), GATES[mode], x.shape[1], engine, "weights")
    shape = (x.shape[0], cell[1].shape[1])
    if mode == "lstm":
        if hx is None:
            hx = (None, None)
        if not isinstance(hx, (tuple, list)) or len(hx) != 2:
            raise TypeError("hx: expected None or a pair (h, c)")
        states = (_check_state(hx[0], shape, "hx[0]"), _check_state(hx[1], shape, "hx[1]"))
    else:
        states = (_check_state(hx, shape, "hx"),)
    return x, states, cell


def lstm_cell(
    input: object,
    hx: tuple[object, object] | None,
    w_ih: object,
    w_hh: object,
    b_ih: object = None,
    b_hh: object = None,
    *,
    engine: str | None = None,
    backend: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """One LSTM step, as ``quantized::quantized_lstm_cell_dynamic`` computes it (the
    ``nn.quantized.dynamic.LSTMCell`` forward; reduce_range is always True).

    Parameters
    ----------
    input : float32 array (batch, input_size)
    hx : (h, c) or None (zeros), each (batch, hidden_size)
    w_ih, w_hh, b_ih, b_hh
        One cell's weights (see the module docs).

    Returns
    -------
    (h', c')

    Examples
    --------
    >>> import numpy as np, qemu
    >>> w = np.full((4, 1), 0.5, np.float32)
    >>> h, c = qemu.ops.lstm_cell(np.ones((1, 1), np.float32), None, w, w)
    >>> h.shape
    (1, 1)
    """
    x, states, cell = _cell_arguments("lstm", input, hx, w_ih, w_hh, b_ih, b_hh, engine)
    return tuple(dispatch.call("lstm_cell", x, states, cell, engine=engine, backend=backend))


def gru_cell(
    input: object,
    hx: object,
    w_ih: object,
    w_hh: object,
    b_ih: object = None,
    b_hh: object = None,
    *,
    engine: str | None = None,
    backend: str | None = None,
) -> np.ndarray:
    """One GRU step, as ``quantized::quantized_gru_cell_dynamic`` computes it.

    Examples
    --------
    >>> import numpy as np, qemu
    >>> w = np.full((3, 1), 0.5, np.float32)
    >>> qemu.ops.gru_cell(np.ones((1, 1), np.float32), None, w, w).shape
    (1, 1)
    """
    x, states, cell = _cell_arguments("gru", input, hx, w_ih, w_hh, b_ih, b_hh, engine)
    return dispatch.call("gru_cell", x, states, cell, engine=engine, backend=backend)[0]


def rnn_tanh_cell(
    input: object,
    hx: object,
    w_ih: object,
    w_hh: object,
    b_ih: object = None,
    b_hh: object = None,
    *,
    engine: str | None = None,
    backend: str | None = None,
) -> np.ndarray:
    """``tanh(linear_hh(h) + linear_ih(x))``, as ``quantized::quantized_rnn_tanh_cell_dynamic``.

    Examples
    --------
    >>> import numpy as np, qemu
    >>> w = np.full((1, 1), 0.5, np.float32)
    >>> qemu.ops.rnn_tanh_cell(np.ones((1, 1), np.float32), None, w, w).tolist()
    [[0.46211716532707214]]
    """
    x, states, cell = _cell_arguments("rnn_tanh", input, hx, w_ih, w_hh, b_ih, b_hh, engine)
    return dispatch.call("rnn_tanh_cell", x, states, cell, engine=engine, backend=backend)[0]


def rnn_relu_cell(
    input: object,
    hx: object,
    w_ih: object,
    w_hh: object,
    b_ih: object = None,
    b_hh: object = None,
    *,
    engine: str | None = None,
    backend: str | None = None,
) -> np.ndarray:
    """``relu(linear_hh(h) + linear_ih(x))``, as ``quantized::quantized_rnn_relu_cell_dynamic``.

    Examples
    --------
    >>> import numpy as np, qemu
    >>> w = np.full((1, 1), 0.5, np.float32)
    >>> qemu.ops.rnn_relu_cell(np.ones((1, 1), np.float32), None, w, w).tolist()
    [[0.5]]
    """
    x, states, cell = _cell_arguments("rnn_relu", input, hx, w_ih, w_hh, b_ih, b_hh, engine)
    return dispatch.call("rnn_relu_cell", x, states, cell, engine=engine, backend=backend)[0]


# -- the computation, shared by the numpy and numba backends ---------------------------


@dataclass(frozen=True)
class Kernels:
    """What a backend supplies to the recurrence: ``int8_accumulate`` (as
    :func:`qemu.ops.linear.gemm_accumulators`; int8 weights are prepacked once per
    QTensor by the static linear's cache), ``fp16_gemm(rows, packed, isa)`` on weights
    ``pack_fp16`` prepared once per op call, the gate functions
    ``sigmoid_rows(x2d, num_threads, capability)`` and ``tanh(x)``, and the int8
    linear's activation quantize and dequantizing FMA (see
    :func:`qemu.ops.dynamic.linear_int8_reference`)."""

    int8_accumulate: Callable
    fp16_gemm: Callable
    pack_fp16: Callable
    sigmoid_rows: Callable
    tanh: Callable
    int8_quantize: Callable = quantize_fbgemm
    int8_fma: Callable = fma_f32


def gate_runs(rows: int, cols: int, num_threads: int) -> np.ndarray:
    """The inner runs ATen's ``cpu_kernel_vec`` makes of a (rows, cols) view whose rows
    are not adjacent in memory (a gate chunk): ``[begin, end)`` flat offsets, int64
    (runs, 2). Every row is a run; with more than one thread and at least 32,768
    elements, ``at::parallel_for``'s chunks (``aten_float.parallel_chunks``) cut rows,
    and each piece is a run of its own."""
    chunks = parallel_chunks(rows * cols, num_threads)
    if len(chunks) <= 1:
        starts = np.arange(rows, dtype=np.int64) * cols
        return np.stack([starts, starts + cols], axis=1)
    runs = []
    for begin, end in chunks:
        position = begin
        while position < end:
            stop = min(end, (position // cols + 1) * cols)
            runs.append((position, stop))
            position = stop
    return np.array(runs, dtype=np.int64)


def sigmoid_gate_rows(view: np.ndarray, num_threads: int, capability: str) -> np.ndarray:
    """``sigmoid_`` on a (batch, hidden) gate chunk view: in every run of
    :func:`gate_runs` the first ``n - n % step`` elements take the vector body, the rest
    the scalar tail -- the elements of :func:`~qemu.numerics.aten_float.aten_sigmoid_rows`,
    computed in two batched calls of :func:`~qemu.numerics.aten_float.aten_sigmoid_contiguous`
    (a run whose length is a multiple of the step is all vector body, one shorter than a
    step all scalar tail)."""
    rows, cols = view.shape
    step = VECTOR_STEP[capability]
    flat = np.ascontiguousarray(view, dtype=np.float32).reshape(-1)
    runs = gate_runs(rows, cols, num_threads)
    lengths = runs[:, 1] - runs[:, 0]
    run_of = np.repeat(np.arange(runs.shape[0]), lengths)
    offset = np.arange(flat.size) - runs[run_of, 0]
    vector = offset < (lengths - lengths % step)[run_of]
    out = np.empty_like(flat)
    out[vector] = aten_sigmoid_contiguous(flat[vector], 1, capability)
    tail = np.flatnonzero(~vector)
    for start in range(0, tail.size, step - 1):
        piece = tail[start : start + step - 1]
        out[piece] = aten_sigmoid_contiguous(flat[piece], 1, capability)
    return out.reshape(rows, cols)


REFERENCE_KERNELS = Kernels(
    gemm_accumulators, gemm_fp16, saturate_to_fp16, sigmoid_gate_rows, aten_tanh
)


class _Cell:
    """One (layer, direction) cell: its two linears, weights prepared once, and the
    step function."""

    def __init__(self, kernels: Kernels, ctx, mode: str, weights: CellWeights, reduce_range: bool):
        self.kernels = kernels
        self.ctx = ctx
        self.mode = mode
        w_ih, w_hh, self.b_ih, self.b_hh = weights
        self.reduce_range = reduce_range
        self.hidden = w_hh.shape[1]
        self.ih = self._prepare(w_ih)
        self.hh = self._prepare(w_hh)

    def _prepare(self, weight):
        if isinstance(weight, QTensor):
            return weight, None
        return weight, self.kernels.pack_fp16(saturate_to_fp16(weight))

    def _linear(self, x, prepared, bias):
        weight, packed = prepared
        if not np.isfinite(x).all():
            raise ValueError(
                "a hidden state became infinite inside the recurrence; torch's int8 activation "
                "range and NaN choices past that point are not modelled"
            )
        if isinstance(weight, QTensor):
            return linear_int8_reference(
                self.ctx,
                x,
                weight,
                bias,
                self.reduce_range,
                accumulate=self.kernels.int8_accumulate,
                quantize=self.kernels.int8_quantize,
                fma=self.kernels.int8_fma,
            )
        return linear_fp16_reference(
            self.ctx, x, weight, bias, gemm=self.kernels.fp16_gemm, packed=packed
        )

    def project_input(self, x):
        return self._linear(x, self.ih, self.b_ih)

    def _sigmoid(self, view):
        return self.kernels.sigmoid_rows(
            view, num_threads=self.ctx.threads, capability=self.ctx.engine.aten_capability
        )

    def step(self, projected, state):
        """One step from the input projection ``projected`` (batch, gates * hidden)."""
        h = state[0]
        hh = self._linear(h, self.hh, self.b_hh)
        size = self.hidden
        tanh = self.kernels.tanh
        with np.errstate(over="ignore", invalid="ignore"):
            if self.mode == "lstm":
                gates = add(hh, projected)  # linear_hh(hx).add_(input)
                i, f, o = (self._sigmoid(gates[:, k * size : (k + 1) * size]) for k in (0, 1, 3))
                g = tanh(gates[:, 2 * size : 3 * size])
                c = add(f * state[1], i * g)  # (forgetgate * cx).add_(ingate * cellgate)
                result = (o * tanh(c), c)
            elif self.mode == "gru":
                r = self._sigmoid(add(hh[:, :size], projected[:, :size]))
                z = self._sigmoid(add(hh[:, size : 2 * size], projected[:, size : 2 * size]))
                n = tanh(add(projected[:, 2 * size :], hh[:, 2 * size :] * r))
                result = (add((h - n) * z, n),)  # (hidden - n).mul_(z).add_(n)
            else:
                pre = add(hh, projected)
                result = (tanh(pre) if self.mode == "rnn_tanh" else relu(pre),)
        for value in result:
            if np.isnan(value).any():
                raise ValueError(
                    "a NaN appeared inside the recurrence (the gate pre-activations "
                    "overflowed); qemu does not model which NaN payload torch returns"
                )
        return result


def _full_direction(cell: _Cell, x, state, reverse: bool):
    """FullLayer: project every step at once, then run the recurrence."""
    steps = x.shape[0]
    projected = cell.project_input(x)
    outputs = [None] * steps
    order = range(steps - 1, -1, -1) if reverse else range(steps)
    for t in order:
        state = cell.step(projected[t], state)
        outputs[t] = state[0]
    return np.stack(outputs), state


def _packed_direction(cell: _Cell, data, batch_sizes, state, reverse: bool):
    """PackedLayer / ReversedPackedLayer: only the sequences still running take a step."""
    projected = cell.project_input(data)
    starts = np.concatenate([[0], np.cumsum(batch_sizes)])
    outputs = [None] * len(batch_sizes)
    if not reverse:
        finished = []
        running = state
        for t, size in enumerate(batch_sizes):
            if size < running[0].shape[0]:
                finished.append(tuple(s[size:] for s in running))
                running = tuple(s[:size] for s in running)
            running = cell.step(projected[starts[t] : starts[t + 1]], running)
            outputs[t] = running[0]
        finished.append(running)
        final = tuple(np.concatenate(parts) for parts in zip(*reversed(finished), strict=True))
    else:
        running = tuple(s[: batch_sizes[-1]] for s in state)
        for t in range(len(batch_sizes) - 1, -1, -1):
            size = batch_sizes[t]
            active = running[0].shape[0]
            if size > active:
                running = tuple(
                    np.concatenate([r, s[active:size]]) for r, s in zip(running, state, strict=True)
                )
            running = cell.step(projected[starts[t] : starts[t + 1]], running)
            outputs[t] = running[0]
        final = running
    return np.concatenate(outputs), final


def run_sequence(
    kernels: Kernels,
    ctx,
    mode,
    x,
    states,
    cells,
    num_layers,
    bidirectional,
    batch_first,
    batch_sizes,
    reduce_range,
):
    """``_rnn_impl`` / ``_lstm_impl``: layers in turn, each direction over the layer input."""
    directions = 2 if bidirectional else 1
    layer_input = np.swapaxes(x, 0, 1) if batch_first else x
    finals = []
    for layer in range(num_layers):
        outputs = []
        for direction in range(directions):
            index = layer * directions + direction
            cell = _Cell(kernels, ctx, mode, cells[index], reduce_range)
            state = tuple(s[index] for s in states)
            if batch_sizes is None:
                output, final = _full_direction(cell, layer_input, state, reverse=direction == 1)
            else:
                output, final = _packed_direction(
                    cell, layer_input, batch_sizes, state, reverse=direction == 1
                )
            outputs.append(output)
            finals.append(final)
        layer_input = outputs[0] if directions == 1 else np.concatenate(outputs, axis=-1)
    output = np.swapaxes(layer_input, 0, 1) if batch_first else layer_input
    stacked = tuple(np.stack([f[k] for f in finals]) for k in range(len(states)))
    return np.ascontiguousarray(output), stacked


def run_cell(kernels: Kernels, ctx, mode, x, states, cell_weights):
    """The ``quantized_*_cell_dynamic`` ops: one step, input projected by itself,
    reduce_range always True."""
    cell = _Cell(kernels, ctx, mode, cell_weights, reduce_range=True)
    return cell.step(cell.project_input(x), states)


def _register_reference(mode: str) -> None:
    if mode in ("lstm", "gru"):

        @dispatch.reference(mode)
        def sequence(
            ctx, x, states, cells, num_layers, bidirectional, batch_first, batch_sizes, reduce_range
        ):
            return run_sequence(
                REFERENCE_KERNELS,
                ctx,
                mode,
                x,
                states,
                cells,
                num_layers,
                bidirectional,
                batch_first,
                batch_sizes,
                reduce_range,
            )

    @dispatch.reference(f"{mode}_cell")
    def cell(ctx, x, states, cell_weights):
        return run_cell(REFERENCE_KERNELS, ctx, mode, x, states, cell_weights)


for _mode in GATES:
    _register_reference(_mode)
