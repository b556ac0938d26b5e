"""Dynamic quantized RNNs on numba: the recurrence of :mod:`qemu.ops.rnn` with the numba
GEMMs and the numba gate functions (the transcendental family's twins of Sleef, glibc
and MKL); the float adds and products between them are single IEEE operations, the
same in NumPy."""

from __future__ import annotations

import numpy as np
from numba import njit
from qemu.backends.numba_backend.fp16gemm import gemm_fp16_packed, pack_weights
from qemu.backends.numba_backend.linear import accumulators
from qemu.backends.numba_backend.primitives import fma_f32
from qemu.backends.numba_backend.quantize import quantize_fbgemm
from qemu.backends.numba_backend.transcendental import aten_sigmoid_run, mkl_vml_tanh

from qemu.dispatch import register
from qemu.numerics.aten_float import VECTOR_STEP
from qemu.ops.rnn import GATES, Kernels, gate_runs, run_cell, run_sequence


@njit(cache=True)
def _sigmoid_runs(flat, runs, step, out):
    for i in range(runs.shape[0]):
        begin, end = runs[i, 0], runs[i, 1]
        aten_sigmoid_run(flat[begin:end], out[begin:end], step)


def sigmoid_gate_rows(view: np.ndarray, num_threads: int, capability: str) -> np.ndarray:
    """Numba twin of :func:`qemu.ops.rnn.sigmoid_gate_rows`."""
    flat = np.ascontiguousarray(view, dtype=np.float32).reshape(-1)
    out = np.empty_like(flat)
    runs = gate_runs(view.shape[0], view.shape[1], num_threads)
    _sigmoid_runs(flat, runs, VECTOR_STEP[capability], out)
    return out.reshape(view.shape)


@njit(cache=True)
def _tanh(flat, out):
    for i in range(flat.size):
        out[i] = mkl_vml_tanh(flat[i])


def tanh(x: np.ndarray) -> np.ndarray:
    """Numba twin of :func:`qemu.numerics.aten_float.aten_tanh` (MKL ``vmsTanh``)."""
    flat = np.ascontiguousarray(x, dtype=np.float32).reshape(-1)
    out = np.empty_like(flat)
    _tanh(flat, out)
    return out.reshape(np.shape(x))


KERNELS = Kernels(
    accumulators, gemm_fp16_packed, pack_weights, sigmoid_gate_rows, tanh, quantize_fbgemm, fma_f32
)


def _register(mode: str) -> None:
    if mode in ("lstm", "gru"):

        @register(mode, "numba")
        def sequence(ctx, *args):
            return run_sequence(KERNELS, ctx, mode, *args)

    @register(f"{mode}_cell", "numba")
    def cell(ctx, x, states, cell_weights):
        return run_cell(KERNELS, ctx, mode, x, states, cell_weights)


for _mode in GATES:
    _register(_mode)
