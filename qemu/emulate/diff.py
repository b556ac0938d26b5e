"""``qemu.diff_model``: where, module by module, qemu's emulation and torch part."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import torch

from qemu import config
from qemu import engines as engine_registry
from qemu.emulate.base import EmulatedModule
from qemu.emulate.registry import _type_name, emulate, is_quantized_module
from qemu.interop import from_torch
from qemu.testing import compare_results


@dataclass
class ModuleComparison:
    """One quantized module's output: an emulation against torch, or two emulations."""

    path: str
    type: str
    elements: int
    mismatches: int
    max_difference: float

    @property
    def equal(self) -> bool:
        return self.mismatches == 0


def _first_divergence(modules: list[ModuleComparison]) -> ModuleComparison | None:
    return next((m for m in modules if not m.equal), None)


@dataclass
class PairDiff:
    """All modules of the model, in execution order, for one (engine, backend)."""

    engine: str
    backend: str
    modules: list[ModuleComparison] = field(default_factory=list)
    note: str = ""
    skipped: bool = False
    # The emulation's own module outputs (path, type, value), for comparing engines.
    outputs: list[tuple[str, str, Any]] = field(default_factory=list, repr=False)

    @property
    def first_divergence(self) -> ModuleComparison | None:
        return _first_divergence(self.modules)


@dataclass
class EngineParting:
    """Two engines' emulations of the model on one backend, module by module: where
    their arithmetic parts."""

    engines: tuple[str, str]
    backend: str
    modules: list[ModuleComparison] = field(default_factory=list)

    @property
    def first_divergence(self) -> ModuleComparison | None:
        return _first_divergence(self.modules)


def _module_lines(modules: list[ModuleComparison]) -> list[str]:
    lines = []
    for m in modules:
        mark = "ok" if m.equal else "DIFFERS"
        lines.append(
            f"  {m.path:<30} {m.type.rsplit('.', 1)[-1]:<22} {m.mismatches:>7}/{m.elements:<8} "
            f"max {m.max_difference:g}  {mark}"
        )
    return lines


@dataclass
class ModelDiff:
    """:func:`diff_model`'s report: ``pairs`` against torch, ``partings`` between the
    engines' emulations."""

    pairs: list[PairDiff]
    partings: list[EngineParting] = field(default_factory=list)

    def __str__(self) -> str:
        lines = []
        for pair in self.pairs:
            lines.append(f"== {pair.engine}/{pair.backend} against torch {pair.note}".rstrip())
            lines += _module_lines(pair.modules)
            if pair.skipped:
                continue
            first = pair.first_divergence
            lines.append(f"  first divergence: {first.path if first else 'none (bit-exact)'}")
        for parting in self.partings:
            a, b = parting.engines
            lines.append(f"== {a} against {b} (both emulated on {parting.backend})")
            lines += _module_lines(parting.modules)
            first = parting.first_divergence
            lines.append(f"  engines part at: {first.path if first else 'nowhere (bit-exact)'}")
        return "\n".join(lines)


def _compare(expected: list, actual: list) -> list[ModuleComparison]:
    comparisons = []
    for (path, kind, want), (_, _, got) in zip(expected, actual, strict=True):
        result = compare_results(got, want)
        comparisons.append(
            ModuleComparison(path, kind, result.total, result.mismatches, result.max_difference)
        )
    return comparisons


def _as_qemu(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return from_torch(value)
    if isinstance(value, (tuple, list)):
        return tuple(_as_qemu(v) for v in value)
    if hasattr(value, "data") and hasattr(value, "batch_sizes"):  # PackedSequence
        return (from_torch(value.data), from_torch(value.batch_sizes))
    return value


def _record(model: torch.nn.Module, select) -> tuple[list[tuple[str, str, Any]], list[Any]]:
    """Register hooks that record (path, type, output) for the selected modules."""
    recorded: list[tuple[str, str, Any]] = []
    handles = []
    for path, module in model.named_modules():
        if select(module):
            kind = module.emulates if isinstance(module, EmulatedModule) else _type_name(module)

            def hook(_module, _inputs, output, path=path, kind=kind):
                recorded.append((path, kind, _as_qemu(output)))

            handles.append(module.register_forward_hook(hook))
    return recorded, handles


def _torch_reference(
    model: torch.nn.Module, engine: engine_registry.Engine, inputs: tuple
) -> tuple[list[tuple[str, str, Any]], str]:
    """Torch's module outputs for ``engine`` and a note on how they were obtained.

    In this process where torch computes the engine (qnnpack, this host's fbgemm): the
    model is deep-copied under the engine, which repacks its weights for it. An fbgemm
    variant the host runs only with a narrower instruction set (``fbgemm-avx2`` on a
    VNNI host) is reached op by op: the model emulated with backend "torch", whose ops
    run in a torch subprocess with that instruction set forced.
    """
    if engine.is_qnnpack or engine_registry.host() == engine.name:
        reference = copy.deepcopy(model)
        recorded, handles = _record(reference, is_quantized_module)
        note = ""
    else:
        reason = engine_registry.reproducible_here(engine)
        if reason is not None:
            raise _Unavailable(f"(skipped: {reason})")
        reference = emulate(model, engine=engine.name, backend="torch")
        recorded, handles = _record(reference, lambda m: isinstance(m, EmulatedModule))
        note = "(torch's ops in a subprocess with this engine's instruction set)"
    try:
        with torch.no_grad():
            reference(*inputs)
    finally:
        for handle in handles:
            handle.remove()
    return recorded, note


class _Unavailable(Exception):
    """Torch cannot compute the engine on this host; the message is the report's note."""


def diff_model(
    model: torch.nn.Module, *inputs: Any, engines: Any = None, backends: Any = None
) -> ModelDiff:
    """For each (engine, backend), run torch's model and qemu's emulation on ``inputs``
    and compare every quantized module's output in execution order; then, for each two
    engines, compare their emulations on each backend: where the engines part.

    Torch's side runs in this process under the engine's torch engine (the model's
    packed weights are repacked for it); an fbgemm variant this host runs only in a
    subprocess (e.g. ``fbgemm-avx2`` on a VNNI host) is computed op by op there, and an
    engine this CPU cannot run at all is reported with a note and no comparison with
    torch (its emulation still takes part in the engine comparison).

    Examples
    --------
    >>> print(qemu.diff_model(converted_model, x, engines=["fbgemm", "qnnpack"], backends="numba"))  # doctest: +SKIP
    """
    settings = config.current()
    engine_names = [engines] if isinstance(engines, str) else list(engines or [settings.engine])
    backend_names = [
        config.check_backend(b)
        for b in ([backends] if isinstance(backends, str) else list(backends or [settings.backend]))
    ]
    pairs = []
    for engine_name in engine_names:
        engine = engine_registry.get(engine_name)
        previous = torch.backends.quantized.engine
        torch.backends.quantized.engine = engine.torch_engine
        try:
            try:
                expected, note = _torch_reference(model, engine, inputs)
            except _Unavailable as unavailable:
                expected, note = None, str(unavailable)
            for backend in backend_names:
                pair = PairDiff(engine.name, backend, note=note, skipped=expected is None)
                pairs.append(pair)
                if backend == "torch" and expected is None:
                    continue  # torch cannot compute this engine here at all
                emulated = emulate(model, engine=engine.name, backend=backend)
                pair.outputs, handles = _record(emulated, lambda m: isinstance(m, EmulatedModule))
                with torch.no_grad():
                    emulated(*inputs)
                for handle in handles:
                    handle.remove()
                if expected is not None:
                    pair.modules = _compare(expected, pair.outputs)
        finally:
            torch.backends.quantized.engine = previous
    partings = []
    for backend in backend_names:
        emulations = [p for p in pairs if p.backend == backend and p.outputs]
        for i, first in enumerate(emulations):
            for second in emulations[i + 1 :]:
                partings.append(
                    EngineParting(
                        (first.engine, second.engine),
                        backend,
                        _compare(second.outputs, first.outputs),
                    )
                )
    return ModelDiff(pairs, partings)
