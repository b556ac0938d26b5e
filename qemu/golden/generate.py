"""``qemu golden generate``: run every case generator through a backend (by default
torch, where torch can compute the engine here) and record the outputs."""

from __future__ import annotations

import datetime
import platform
import sys
from collections.abc import Sequence

import numpy as np

import qemu
from qemu import backends, engines, ops
from qemu.golden.cases import GENERATORS
from qemu.golden.format import Case, GoldenSet


def host_description() -> dict[str, object]:
    """What the generating host was: machine, fbgemm's ISA, the fbgemm engine variant."""
    description: dict[str, object] = {
        "machine": platform.machine(),
        "fbgemm_isa": engines.hardware_fbgemm_isa(),
        "fbgemm_engine": engines.host(),
    }
    if backends.unavailable_reason("torch") is None:
        import torch

        description["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    return description


def _torch_version() -> str | None:
    if backends.unavailable_reason("torch") is not None:
        return None
    from importlib.metadata import version

    return version("torch")


def default_source() -> str:
    return "torch" if backends.unavailable_reason("torch") is None else "numpy"


def generate(
    op_names: Sequence[str] | None = None,
    engine_names: Sequence[str] | None = None,
    source: str | None = None,
    seed: int = 0,
    progress: bool = True,
) -> GoldenSet:
    """Build the golden cases of ``op_names`` x ``engine_names`` from ``source``.

    Engines the source cannot compute here are skipped and listed under
    ``generator["skipped"]``; the same seed gives the same cases.
    """
    op_names = list(op_names or GENERATORS)
    unknown = [op for op in op_names if op not in GENERATORS]
    if unknown:
        raise ValueError(
            f"ops: no case generator for {', '.join(unknown)}; known: {', '.join(GENERATORS)}"
        )
    chosen_engines = [engines.get(name) for name in (engine_names or engines.names())]
    source = source or default_source()
    reason = backends.unavailable_reason(source)
    if reason is not None:
        raise ValueError(f"source: {reason}")
    skipped = {}
    if source == "torch":
        for engine in chosen_engines:
            why = engines.reproducible_here(engine)
            if why is not None:
                skipped[engine.name] = why
    golden = GoldenSet(
        generator={
            "qemu": qemu.__version__,
            "torch": _torch_version(),
            "source": source,
            "seed": seed,
            "host": host_description(),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "skipped": skipped,
        }
    )
    plan = [(op, e) for op in op_names for e in chosen_engines if e.name not in skipped]
    for step, (op, engine) in enumerate(plan, 1):
        rng = np.random.default_rng([seed, sum(map(ord, op)), sum(map(ord, engine.name))])
        entry = getattr(ops, op)
        for index, item in enumerate(GENERATORS[op](rng, engine)):
            args, kwargs, threads = (*item, 1) if len(item) == 2 else item
            with qemu.use(threads=threads):
                expected = entry(*args, **kwargs, engine=engine.name, backend=source)
            golden.cases.append(
                Case(
                    f"{op}/{engine.name}/{index:04d}",
                    op,
                    engine.name,
                    threads,
                    list(args),
                    dict(kwargs),
                    expected,
                )
            )
        if progress:
            print(
                f"\r[{step}/{len(plan)}] {op} on {engine.name}: {len(golden.cases)} cases",
                end="",
                file=sys.stderr,
            )
    if progress:
        print(file=sys.stderr)
    return golden
