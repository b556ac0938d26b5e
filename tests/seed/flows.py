"""What every seed scenario checks: the converted torch model against ``qemu.emulate`` of
it on the numpy and numba backends (final output and every quantized module's output,
bit for bit, with the strides torch's kernels write), and the observers' qparams."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torch.ao.quantization import FakeQuantizeBase
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
    (quantized outputs also in torch's layout). For fbgemm, also the fbgemm variants
    this host reaches only through the torch subprocess. Returns the modules compared."""
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
        if engine == "fbgemm":
            check_subprocess_variants(model, inputs)
    return len(expected_modules)


def subprocess_variants() -> list[str]:
    """The fbgemm variants this host's torch computes only in a subprocess (AVX2 and
    AVX512 on a VNNI host): where int16 pair sums saturate, they part from ``fbgemm``."""
    names = ("fbgemm", "fbgemm-avx512", "fbgemm-avx2")
    return [
        name
        for name in names
        if name != qemu.engines.host()
        and qemu.engines.reproducible_here(qemu.engines.get(name)) is None
    ]


def check_subprocess_variants(model: torch.nn.Module, inputs: tuple) -> None:
    """The emulation on each subprocess-only fbgemm variant against torch's ops run in
    that subprocess (the emulation with backend "torch"), module by module."""
    for engine in subprocess_variants():
        expected, expected_modules = run(
            qemu.emulate(model, engine=engine, backend="torch"),
            inputs,
            lambda m: isinstance(m, EmulatedModule),
        )
        for backend in BACKENDS:
            emulated = qemu.emulate(model, engine=engine, backend=backend)
            actual, actual_modules = run(emulated, inputs, lambda m: isinstance(m, EmulatedModule))
            for (path, got, _), (_, want, _) in zip(actual_modules, expected_modules, strict=True):
                assert_bitexact(got, want, f"{engine}/{backend} {path}")
            assert_bitexact(as_qemu(actual), as_qemu(expected), f"{engine}/{backend} output")


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
        # Observers inside fake-quantize modules (QAT) are updated by fused kernels, not
        # called: they are not replayed.
        fake_quantizes = [
            path for path, m in prepared.named_modules() if isinstance(m, FakeQuantizeBase)
        ]
        self.observers = {
            path: m
            for path, m in prepared.named_modules()
            if isinstance(m, ObserverBase)
            and hasattr(m, "min_val")
            and not any(path.startswith(f + ".") for f in fake_quantizes)
        }
        self.seen: dict[str, list[np.ndarray]] = {path: [] for path in self.observers}
        for path, observer in self.observers.items():
            observer.register_forward_pre_hook(
                lambda _m, args, path=path: self.seen[path].append(args[0].detach().numpy().copy())
            )

    def check(self, converted: torch.nn.Module) -> int:
        """Assert qemu's observers choose the qparams torch's converted module carries
        (or, where it keeps none, torch's observer computes); returns the observers
        checked."""
        for path, observer in self.observers.items():
            mirror = mirror_observer(observer)
            for values in self.seen[path]:
                mirror(values)
            owner = path.rpartition(".activation_post_process")[0]
            carried = _output_qparams(converted.get_submodule(owner) if owner else converted)
            if carried is None:
                assert_same_qparams(mirror, observer, f"observer {path}")
                continue
            scale, zero_point = mirror.calculate_qparams()
            assert (float(scale[0]), int(zero_point[0])) == carried, f"observer {path}"
        return len(self.observers)


def _output_qparams(module: torch.nn.Module) -> tuple[float, int] | None:
    """The output (scale, zero point) a converted quantized module was given."""
    for scale, zero_point in (("scale", "zero_point"), ("output_scale", "output_zero_point")):
        if is_quantized_module(module) and hasattr(module, scale):
            return float(getattr(module, scale)), int(getattr(module, zero_point))
    return None


def mirror_observer(observer: ObserverBase) -> Any:
    """qemu's observer of the same class and arguments as a torch observer."""
    return getattr(qemu.observers, type(observer).__name__)(**_observer_kwargs(observer))


def assert_same_qparams(mirror: Any, observer: ObserverBase, name: str) -> None:
    scale, zero_point = observer.calculate_qparams()
    assert_bitexact(mirror.calculate_qparams(), (scale.numpy(), zero_point.numpy()), name)


def _quantized_weight(module: torch.nn.Module) -> torch.Tensor | None:
    """The quantized weight a converted module computes with (None for fp16 weights and
    modules without a single weight)."""
    if hasattr(module, "_packed_params") and hasattr(module._packed_params, "_weight_bias"):
        weight = module._packed_params._weight_bias()[0]
    elif hasattr(module, "_weight_bias"):
        weight = module._weight_bias()[0]
    elif callable(getattr(module, "weight", None)):
        weight = module.weight()
    else:
        return None
    return weight if weight.is_quantized else None


def check_weight_qparams(float_model: torch.nn.Module, converted: torch.nn.Module) -> int:
    """For every converted layer with a quantized weight, the weight observer of its
    qconfig, run by torch and by qemu on the float weight it quantized (after fusion),
    chooses the same qparams, and those are the ones the layer's weight carries.
    Returns the layers checked."""
    checked = 0
    for path, module in converted.named_modules():
        packed_params = type(module).__name__.endswith("PackedParams")  # a layer's child
        weight = (
            None if packed_params or not is_quantized_module(module) else _quantized_weight(module)
        )
        if weight is None:
            continue
        source = float_model.get_submodule(path)
        float_weight = source.weight if hasattr(source, "weight") else source[0].weight
        observer = source.qconfig.weight()
        mirror = mirror_observer(observer)
        observer(float_weight.detach())
        mirror(float_weight.detach().numpy())
        assert_same_qparams(mirror, observer, f"weight observer {path}")
        scale, zero_point = observer.calculate_qparams()
        if weight.qscheme() in (torch.per_tensor_affine, torch.per_tensor_symmetric):
            assert (weight.q_scale(), weight.q_zero_point()) == (float(scale), int(zero_point))
        else:
            assert torch.equal(weight.q_per_channel_scales(), scale.double())
            assert torch.equal(weight.q_per_channel_zero_points().double(), zero_point.double())
        checked += 1
    return checked
