"""Rows of the dynamic quantization family (issue 4): int8 and fp16 dynamic linear
(64 x 1024 x 1024) and a dynamic quantized LSTM (input 128, hidden 256, 50 steps,
batch 8) with int8 and fp16 weights, float32 in and out."""

from __future__ import annotations

from benchmarks import row


def _linear_row(fp16: bool, m: int, k: int, n: int):
    def prepare():
        import numpy as np
        import torch

        import qemu
        import qemu.ops

        torch.backends.quantized.engine = "fbgemm"
        rng = np.random.default_rng(0)
        x = rng.normal(0, 1, (m, k)).astype(np.float32)
        w = rng.normal(0, 0.05, (n, k)).astype(np.float32)
        bias = rng.normal(0, 0.1, n).astype(np.float32)
        tx, tb = torch.from_numpy(x), torch.from_numpy(bias)
        if fp16:
            packed = torch.ops.quantized.linear_prepack_fp16(torch.from_numpy(w), tb)

            def torch_call():
                return torch.ops.quantized.linear_dynamic_fp16(tx, packed)

            def qemu_call(backend):
                return qemu.ops.linear_dynamic_fp16(x, w, bias, engine="fbgemm", backend=backend)

            return torch_call, qemu_call

        qw = qemu.quantize_per_tensor(w, float(np.abs(w).max() / 127), 0, "qint8")
        packed = torch.ops.quantized.linear_prepack(qw.to_torch(), tb)

        def torch_call():
            return torch.ops.quantized.linear_dynamic(tx, packed, True)

        def qemu_call(backend):
            return qemu.ops.linear_dynamic(x, qw, bias, True, engine="fbgemm", backend=backend)

        return torch_call, qemu_call

    return prepare


def _lstm_row(fp16: bool, inputs: int, hidden: int, steps: int, batch: int):
    def prepare():
        import numpy as np
        import torch
        from qemu.backends.torch_backend.rnn import cells_from_module

        import qemu.ops

        torch.backends.quantized.engine = "fbgemm"
        torch.manual_seed(0)
        module = torch.ao.quantization.quantize_dynamic(
            torch.nn.Sequential(torch.nn.LSTM(inputs, hidden)),
            {torch.nn.LSTM},
            dtype=torch.float16 if fp16 else torch.qint8,
        )[0]
        cells = cells_from_module(module)
        x = np.random.default_rng(0).normal(0, 1, (steps, batch, inputs)).astype(np.float32)
        tx = torch.from_numpy(x)

        def torch_call():
            with torch.no_grad():
                return module(tx)

        def qemu_call(backend):
            return qemu.ops.lstm(x, None, cells, engine="fbgemm", backend=backend)

        return torch_call, qemu_call

    return prepare


for _fp16, _label in ((False, "int8"), (True, "fp16")):
    row(
        f"linear_dynamic_{_label}-64x1024x1024",
        f"dynamic linear, {_label} weights, M x K x N = 64 x 1024 x 1024, bias",
        tiny=_linear_row(_fp16, 3, 40, 24),
    )(_linear_row(_fp16, 64, 1024, 1024))
    row(
        f"lstm_{_label}-I128-H256-T50-B8",
        f"dynamic LSTM, {_label} weights, input 128, hidden 256, 50 steps, batch 8",
        tiny=_lstm_row(_fp16, 4, 8, 3, 2),
    )(_lstm_row(_fp16, 128, 256, 50, 8))
del _fp16, _label
