"""``qemu golden generate``: run every case generator through a backend (by default
torch, where torch can compute the engine here) and record the outputs."""

from __future__ import annotations

import datetime
import platform
import sys
import zlib
from collections.abc import Sequence

import numpy as np

import qemu
from qemu import backends, engines, ops
from qemu.dispatch import BackendUnavailable
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


def _count(table: dict[str, dict[str, object]], key: str, error: Exception) -> None:
    """Count one left-out case under ``key``, keeping the first reason."""
    record = table.setdefault(key, {"cases": 0, "first": f"{type(error).__name__}: {error}"[:300]})
    record["cases"] = int(record["cases"]) + 1


def _drawn(op: str, engine: engines.Engine, rng: np.random.Generator):
    """The cases of ``op``'s generator; a failing generator is named in the error."""
    cases = iter(GENERATORS[op](rng, engine))
    while True:
        try:
            item = next(cases)
        except StopIteration:
            return
        except Exception as error:
            raise RuntimeError(
                f"the {op} case generator failed on {engine.name}: {error}"
            ) from error
        yield item


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
    ``generator["skipped"]``; cases an engine refuses are counted under
    ``generator["refused"]`` (per ``op/engine``, with the first error); the same seed
    gives the same cases.
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
            "no_kernel": {},
            "unavailable": {},
            "refused": {},
        }
    )
    plan = [(op, e) for op in op_names for e in chosen_engines if e.name not in skipped]
    for step, (op, engine) in enumerate(plan, 1):
        # Seeded by the op alone: every engine gets the same inputs (except the cases a
        # generator leaves out for an engine), so their outputs compare case by case.
        rng = np.random.default_rng([seed, zlib.crc32(op.encode())])
        entry = getattr(ops, op)
        # A case keeps its generator index as id on every engine, holes where left out.
        for index, item in enumerate(_drawn(op, engine, rng)):
            args, kwargs, threads = (*item, 1) if len(item) == 2 else item
            try:
                with qemu.use(threads=threads):
                    expected = entry(*args, **kwargs, engine=engine.name, backend=source)
            except NotImplementedError as error:
                # The source has no kernel for this op (torch does not expose
                # embedding_bag_prepack's packed bytes): no golden cases for it.
                golden.generator["no_kernel"][op] = str(error)
                break
            except BackendUnavailable as error:
                # The source cannot compute this case for this engine here (fbgemm's
                # groupwise conv ignores FBGEMM_ENABLE_INSTRUCTIONS): left out, counted.
                _count(golden.generator["unavailable"], f"{op}/{engine.name}", error)
                continue
            except (ValueError, TypeError, IndexError, RuntimeError) as error:
                # The engine refuses this case (qemu's validation or torch itself): not
                # a golden case, but counted in the manifest so nothing is lost silently.
                _count(golden.generator["refused"], f"{op}/{engine.name}", error)
                continue
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
