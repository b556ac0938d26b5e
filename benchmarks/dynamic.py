"""Dynamic quantized linear and LSTM: qemu's backends against torch fbgemm.

Each row times one op on the same inputs with torch (engine ``fbgemm``, prepacked
weights, this process) and with qemu's numpy and numba backends on the ``fbgemm``
engine, and prints the qemu times as ratios to torch's (2.0 = twice as slow).

Run: ``python -m benchmarks.dynamic`` from the repository root.
"""

from __future__ import annotations

import time
import warnings

import numpy as np

import qemu
import qemu.ops

ENGINE = "fbgemm"
BACKENDS = ("numpy", "numba")


def _best_time(fn, repeats: int) -> float:
    """The fastest of ``repeats`` timed calls, after one untimed call (numba compiles,
    caches warm up)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _row(name: str, torch_fn, qemu_fn, repeats: int) -> str:
    torch_time = _best_time(torch_fn, repeats * 5)
    ratios = []
    for backend in BACKENDS:
        ratios.append(
            f"{backend} {_best_time(lambda backend=backend: qemu_fn(backend), repeats) / torch_time:8.1f}x"
        )
    return f"{name:42s} torch {torch_time * 1e3:8.3f} ms   " + "   ".join(ratios)


def _linear_rows(torch, rng, repeats):
    m, k, n = 64, 1024, 1024
    x = rng.normal(0, 1, (m, k)).astype(np.float32)
    w = rng.normal(0, 0.05, (n, k)).astype(np.float32)
    bias = rng.normal(0, 0.1, n).astype(np.float32)
    qw = qemu.quantize_per_tensor(w, float(np.abs(w).max() / 127), 0, "qint8")
    tx, tb = torch.from_numpy(x), torch.from_numpy(bias)
    packed = torch.ops.quantized.linear_prepack(qw.to_torch(), tb)
    packed16 = torch.ops.quantized.linear_prepack_fp16(torch.from_numpy(w), tb)
    yield _row(
        f"linear_dynamic int8 {m}x{k}x{n}",
        lambda: torch.ops.quantized.linear_dynamic(tx, packed, True),
        lambda backend: qemu.ops.linear_dynamic(x, qw, bias, True, engine=ENGINE, backend=backend),
        repeats,
    )
    yield _row(
        f"linear_dynamic_fp16 {m}x{k}x{n}",
        lambda: torch.ops.quantized.linear_dynamic_fp16(tx, packed16),
        lambda backend: qemu.ops.linear_dynamic_fp16(x, w, bias, engine=ENGINE, backend=backend),
        repeats,
    )


def _lstm_rows(torch, rng, repeats):
    from qemu.backends.torch_backend.rnn import cells_from_module

    inputs, hidden, steps, batch = 128, 256, 50, 8
    x = rng.normal(0, 1, (steps, batch, inputs)).astype(np.float32)
    torch.manual_seed(0)
    for dtype, label in ((torch.qint8, "int8"), (torch.float16, "fp16")):
        module = torch.ao.quantization.quantize_dynamic(
            torch.nn.Sequential(torch.nn.LSTM(inputs, hidden)), {torch.nn.LSTM}, dtype=dtype
        )[0]
        cells = cells_from_module(module)
        tx = torch.from_numpy(x)
        yield _row(
            f"lstm {label} I{inputs} H{hidden} T{steps} B{batch}",
            lambda module=module, tx=tx: module(tx),
            lambda backend, cells=cells: qemu.ops.lstm(
                x, None, cells, engine=ENGINE, backend=backend
            ),
            max(1, repeats // 2),
        )


def run(repeats: int = 3) -> list[str]:
    """Time every row and print it; returns the printed rows."""
    import torch

    torch.backends.quantized.engine = "fbgemm"
    rng = np.random.default_rng(0)
    rows = []
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        for row in (*_linear_rows(torch, rng, repeats), *_lstm_rows(torch, rng, repeats)):
            print(row, flush=True)
            rows.append(row)
    return rows


if __name__ == "__main__":
    run()
