"""Dynamic quantized RNNs on numba: the recurrence of :mod:`qemu.ops.rnn` with the numba
GEMMs (where the time goes); the gate functions are the reference's own
(:mod:`qemu.numerics.aten_float`)."""

from __future__ import annotations

from qemu.backends.numba.fp16gemm import gemm_fp16_packed, pack_weights
from qemu.backends.numba.linear import accumulators

from qemu.dispatch import register
from qemu.numerics.aten_float import aten_tanh
from qemu.ops.rnn import GATES, Kernels, run_cell, run_sequence, sigmoid_gate_rows

KERNELS = Kernels(accumulators, gemm_fp16_packed, pack_weights, sigmoid_gate_rows, aten_tanh)


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
