"""``python -m benchmarks [rows...] [--backends numpy,numba] [--seconds S] [--threads N]
[--clock wall|cpu]``: check that qemu's backends reproduce torch fbgemm bit for bit on
each row, then time them and print the times and the ratios qemu / torch (lower is
faster). A row whose qemu result differs is reported as FAILED with what differs, is
not timed, and makes the command exit with status 1.

``--threads N`` gives torch, numba, the BLAS under NumPy and qemu's emulated ATen
thread count the same N. On a busy machine ``--threads 1 --clock cpu`` (process CPU
time instead of wall time) gives steady ratios: time spent waiting for a core is not
counted."""

from __future__ import annotations

import argparse
import functools
import importlib
import os
import pkgutil
import sys
import time
import warnings

import benchmarks


def best_time(call, seconds: float, clock=time.perf_counter, repeats: int = 15) -> float:
    """The fastest mean time of ``repeats`` rounds of about ``seconds / repeats`` each
    (at least one call per round), after one untimed call (compilation, caches)."""
    call()
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


# Families in the order of their issues (3 to 6); modules not named here follow.
_FAMILY_ORDER = ("linear", "dynamic", "embedding", "elementwise")


def load_rows() -> None:
    names = [m.name for m in pkgutil.iter_modules(benchmarks.__path__) if m.name[0] != "_"]
    names.sort(key=lambda n: (_FAMILY_ORDER.index(n) if n in _FAMILY_ORDER else 99, n))
    for name in names:
        importlib.import_module(f"benchmarks.{name}")


def _set_threads(threads: int) -> None:
    """Thread counts for every library, before NumPy, numba or torch start a pool."""
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = str(threads)
    os.environ["NUMBA_NUM_THREADS"] = str(threads)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("rows", nargs="*", help="rows to run (default all; --list names them)")
    parser.add_argument("--list", action="store_true", help="print the rows and exit")
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
    if args.threads:
        if "numpy" in sys.modules or "torch" in sys.modules:
            warnings.warn("NumPy or torch was loaded before --threads could apply", stacklevel=1)
        _set_threads(args.threads)
    load_rows()
    if args.list:
        for entry in benchmarks.ROWS.values():
            print(f"{entry.name:<34}{entry.description}")
        return 0
    unknown = [r for r in args.rows if r not in benchmarks.ROWS]
    if unknown:
        parser.error(f"unknown rows {unknown}; known: {', '.join(benchmarks.ROWS)}")
    backends = args.backends.split(",")
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    warnings.filterwarnings("ignore", category=UserWarning)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    # ATen splits large tensors per thread; qemu emulates the split torch will make.
    os.environ["QEMU_THREADS"] = str(torch.get_num_threads())
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; {args.clock} time per call"
    )
    print(f"{'row':<34}{'torch fbgemm':>14}" + "".join(f"{b:>12}{'ratio':>8}" for b in backends))
    failed = []
    for name in args.rows or list(benchmarks.ROWS):
        with torch.no_grad():
            torch_call, qemu_call, failures = benchmarks.check_row(
                benchmarks.ROWS[name].prepare, backends
            )
            if failures:
                failed.append(name)
                print(f"{name:<34}FAILED, not bit-exact:", flush=True)
                for backend, difference in failures.items():
                    print(f"    {backend}: {difference}", flush=True)
                continue
            reference = best_time(torch_call, args.seconds, clock)
            line = f"{name:<34}{reference * 1e3:>11.3f} ms"
            for backend in backends:
                elapsed = best_time(functools.partial(qemu_call, backend), args.seconds, clock)
                line += f"{elapsed * 1e3:>9.3f} ms{elapsed / reference:>7.2f}x"
        print(line, flush=True)
    if failed:
        print(f"FAILED (not bit-exact): {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
