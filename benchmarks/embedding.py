"""Embedding lookup speed against torch's fbgemm kernels, in the same process on the
same inputs: a 100,000 x 64 table, 4096 bags of 20 indices, sum, 8-bit and 4-bit.

Run as ``python -m benchmarks.embedding``. Times are the best of several repeats;
the ratio is qemu's time over torch's (both single-threaded), so lower is better.
"""

from __future__ import annotations

import time

import numpy as np

ROWS, DIM, BAGS, BAG_LENGTH = 100_000, 64, 4096, 20


def _best_time(fn, *args, repeats: int = 5, **kwargs) -> float:
    fn(*args, **kwargs)  # warm up (numba compilation, torch's JIT kernel generation)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn(*args, **kwargs)
        best = min(best, time.perf_counter() - start)
    return best


def _row(name: str, backend: str, qemu_time: float, torch_time: float) -> None:
    print(
        f"{name:68} {backend:8} {qemu_time * 1e3:9.2f} {torch_time * 1e3:9.2f} "
        f"{qemu_time / torch_time:7.1f}"
    )


def _inputs():
    rng = np.random.default_rng(0)
    weight = rng.normal(size=(ROWS, DIM)).astype(np.float32)
    indices = rng.integers(0, ROWS, BAGS * BAG_LENGTH)
    offsets = np.arange(0, BAGS * BAG_LENGTH, BAG_LENGTH)
    return weight, indices, offsets


def run() -> None:
    """Print one row per (bit rate, backend): qemu time, torch time, ratio."""
    import torch

    from qemu.ops import embedding as ops

    torch.set_num_threads(1)
    torch.backends.quantized.engine = "fbgemm"
    weight, indices, offsets = _inputs()
    cases = [
        (ops.embedding_bag_byte_prepack, ops.embedding_bag_byte_rowwise_offsets),
        (ops.embedding_bag_4bit_prepack, ops.embedding_bag_4bit_rowwise_offsets),
    ]
    shape = f"{ROWS}x{DIM}, {BAGS} bags x {BAG_LENGTH}, sum"
    print(f"{'op':68} {'backend':8} {'qemu ms':>9} {'torch ms':>9} {'ratio':>7}")
    weight_t = torch.from_numpy(weight)
    for prepack, lookup in cases:
        packed = prepack(weight)
        torch_lookup = getattr(torch.ops.quantized, lookup.__name__)
        tensors = [torch.from_numpy(array) for array in (packed, indices, offsets)]
        torch_time = _best_time(torch_lookup, *tensors)
        for backend in ("numpy", "numba"):
            qemu_time = _best_time(lookup, packed, indices, offsets, backend=backend)
            _row(f"{lookup.__name__} ({shape})", backend, qemu_time, torch_time)
        torch_prepack = getattr(torch.ops.quantized, prepack.__name__)
        torch_time = _best_time(torch_prepack, weight_t, repeats=3)
        qemu_time = _best_time(prepack, weight, repeats=3)
        _row(f"{prepack.__name__} ({ROWS}x{DIM})", "numpy", qemu_time, torch_time)


if __name__ == "__main__":
    run()
