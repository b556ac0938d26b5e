"""What every seed scenario checks: the converted torch model against ``qemu.emulate`` of
it on the numpy and numba backends (final output and every quantized module's output,
bit for bit, with the strides torch's kernels write), and the observers' qparams."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torch.ao.quantization.observer import ObserverBase
from torch.nn.utils.rnn import PackedSequence

import qemu
import qemu.observers
from qemu.emulate.base import EmulatedModule
from qemu.emulate.registry import is_quantized_module
from qemu.interop import from_torch
from qemu.testing import assert_bitexact

BACKENDS = ("numpy", "numba")


def uniform(seed: int, *shape: int) -> torch.Tensor:
    """Seeded ``torch.rand`` (the seed file's calibration and test data)."""
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


def normal(seed: int, *shape: int) -> torch.Tensor:
    """Seeded ``torch.randn``."""
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


@contextmanager
def torch_engine(name: str):
    """torch's quantized engine set to ``name`` for the block (the seed's
    ``override_quantized_engine``)."""
    previous = torch.backends.quantized.engine
    torch.backends.quantized.engine = name
    try:
        yield
    finally:
        torch.backends.quantized.engine = previous


def as_qemu(value: Any) -> Any:
    """A module output as qemu values: tensors converted, PackedSequence as its data and
    batch sizes, tuples item by item."""
    if isinstance(value, PackedSequence):
        return (from_torch(value.data), from_torch(value.batch_sizes))
    if isinstance(value, torch.Tensor):
        return from_torch(value)
    if isinstance(value, (tuple, list)):
        return tuple(as_qemu(v) for v in value)
    return value


def _strides(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.stride()
    if isinstance(value, (tuple, list)):
        return tuple(_strides(v) for v in value)
    return None


def _record(model: torch.nn.Module, select) -> tuple[list, list]:
    seen, handles = [], []
    for path, module in model.named_modules():
        if select(module):
            handles.append(
                module.register_forward_hook(
                    lambda _m, _i, out, path=path: seen.append((path, as_qemu(out), _strides(out)))
                )
            )
    return seen, handles


def run(model: torch.nn.Module, inputs: tuple, select) -> tuple[Any, list]:
    seen, handles = _record(model, select)
    try:
        with torch.no_grad():
            output = model(*inputs)
    finally:
        for handle in handles:
            handle.remove()
    return output, seen


def check_emulation(model: torch.nn.Module, inputs: tuple, engine: str) -> int:
    """Run ``model`` under torch's ``engine`` and its emulation on each qemu backend;
    assert every quantized module's output and the model's output equal bit for bit
    (quantized outputs also in torch's layout). Returns the modules compared."""
    with torch_engine(engine):
        expected, expected_modules = run(model, inputs, is_quantized_module)
        for backend in BACKENDS:
            emulated = qemu.emulate(model, engine=engine, backend=backend)
            actual, actual_modules = run(emulated, inputs, lambda m: isinstance(m, EmulatedModule))
            assert [p for p, _, _ in actual_modules] == [p for p, _, _ in expected_modules]
            for (path, got, got_strides), (_, want, want_strides) in zip(
                actual_modules, expected_modules, strict=True
            ):
                assert_bitexact(got, want, f"{engine}/{backend} {path}")
                assert got_strides == want_strides, f"{engine}/{backend} {path}: layout"
            assert_bitexact(as_qemu(actual), as_qemu(expected), f"{engine}/{backend} output")
    return len(expected_modules)


def _observer_kwargs(observer: ObserverBase) -> dict:
    kwargs: dict[str, Any] = {
        "dtype": str(observer.dtype).removeprefix("torch."),
        "qscheme": str(observer.qscheme).removeprefix("torch."),
        "reduce_range": bool(observer.reduce_range),
        "eps": float(observer.eps),
    }
    if observer.has_customized_qrange:
        kwargs.update(quant_min=int(observer.quant_min), quant_max=int(observer.quant_max))
    for name in ("ch_axis", "averaging_constant", "bins"):
        if hasattr(observer, name):
            kwargs[name] = getattr(observer, name)
    return kwargs


class ObservedTensors:
    """Records what each activation observer of a prepared model sees during
    calibration, to replay it into qemu's observer of the same class and arguments."""

    def __init__(self, prepared: torch.nn.Module) -> None:
        self.observers = {
            path: m
            for path, m in prepared.named_modules()
            if isinstance(m, ObserverBase) and hasattr(m, "min_val")
        }
        self.seen: dict[str, list[np.ndarray]] = {path: [] for path in self.observers}
        for path, observer in self.observers.items():
            observer.register_forward_pre_hook(
                lambda _m, args, path=path: self.seen[path].append(args[0].detach().numpy().copy())
            )

    def check(self) -> int:
        """Assert qemu's observers choose torch's qparams; returns the observers checked."""
        for path, observer in self.observers.items():
            mirror = getattr(qemu.observers, type(observer).__name__)(**_observer_kwargs(observer))
            for values in self.seen[path]:
                mirror(values)
            scale, zero_point = observer.calculate_qparams()
            assert_bitexact(
                mirror.calculate_qparams(),
                (scale.numpy(), zero_point.numpy()),
                f"observer {path}",
            )
        return len(self.observers)
