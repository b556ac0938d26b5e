"""``python -m benchmarks [rows...] [--backends numpy,numba] [--seconds S] [--threads N]``:
time qemu's backends and torch fbgemm on each row, print the times and the ratios
qemu / torch (lower is faster), after checking that the results are bit-exact.

``--threads N`` gives torch, numba and the BLAS under NumPy the same N threads. On a
busy machine ``--threads 1 --clock cpu`` (process CPU time instead of wall time) gives
steady ratios: time spent waiting for a core is not counted."""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import time
import warnings

import benchmarks


def best_time(call, seconds: float, clock=time.perf_counter, repeats: int = 15) -> float:
    """The fastest mean time of ``repeats`` rounds of about ``seconds / repeats`` each."""
    call()  # warm up: compilation, caches, prepacking
    best = float("inf")
    for _ in range(repeats):
        count, start, wall = 0, clock(), time.perf_counter()
        while True:
            call()
            count += 1
            if time.perf_counter() - wall >= seconds / repeats:
                break
        best = min(best, (clock() - start) / count)
    return best


def _same(a, b) -> bool:
    import qemu

    return qemu.from_torch(a).equal(b) if not isinstance(a, qemu.QTensor) else a.equal(b)


def main(argv: list[str] | None = None) -> int:
    for module in pkgutil.iter_modules(benchmarks.__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"benchmarks.{module.name}")
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "rows", nargs="*", help=f"rows to run (default all): {', '.join(benchmarks.ROWS)}"
    )
    parser.add_argument("--backends", default="numpy,numba")
    parser.add_argument("--seconds", type=float, default=2.0, help="timing budget per call kind")
    parser.add_argument("--threads", type=int, help="threads for torch, numba and BLAS alike")
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="cpu: this process's CPU time, steady on a busy machine (use with --threads 1)",
    )
    args = parser.parse_args(argv)
    if args.threads:  # before NumPy's BLAS starts its thread pool
        for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[variable] = str(args.threads)
        os.environ["NUMBA_NUM_THREADS"] = str(args.threads)
    unknown = [r for r in args.rows if r not in benchmarks.ROWS]
    if unknown:
        parser.error(f"unknown rows {unknown}; known: {', '.join(benchmarks.ROWS)}")
    backends = args.backends.split(",")
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    warnings.filterwarnings("ignore", category=UserWarning)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    header = f"{'row':<28}{'torch fbgemm':>14}" + "".join(f"{b:>12}{'ratio':>8}" for b in backends)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; {args.clock} time per call"
    )
    print(header)
    for name in args.rows or list(benchmarks.ROWS):
        torch_call, qemu_call = benchmarks.ROWS[name].prepare()
        expected = torch_call()
        reference = best_time(torch_call, args.seconds, clock)
        line = f"{name:<28}{reference * 1e3:>11.3f} ms"
        for backend in backends:
            if not _same(expected, qemu_call(backend)):
                raise SystemExit(f"{name}: qemu's {backend} result differs from torch's")
            elapsed = best_time(lambda b=backend, call=qemu_call: call(b), args.seconds, clock)
            line += f"{elapsed * 1e3:>9.3f} ms{elapsed / reference:>7.2f}x"
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
