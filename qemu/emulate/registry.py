"""Which torch module becomes which emulated module, and the swap itself."""

from __future__ import annotations

import copy
import importlib
from collections.abc import Callable
from typing import Any

from qemu import config, engines

# Modules defining handlers; each registers its torch classes when imported (they
# import torch, so they are loaded only when emulate() runs).
_HANDLER_MODULES = (
    "qemu.emulate.stubs",
    "qemu.emulate.linear",
    "qemu.emulate.conv",
    "qemu.emulate.dynamic",
    "qemu.emulate.embedding",
    "qemu.emulate.activation",
    "qemu.emulate.norm",
    "qemu.emulate.functional",
)

_HANDLERS: dict[type, Callable[..., Any]] = {}

# Quantized modules live here; any other module computes in float (or is a container).
_QUANTIZED_PREFIXES = (
    "torch.ao.nn.quantized",
    "torch.ao.nn.intrinsic.quantized",
    "torch.nn.quantized",
)
# Reference modules compute in float with simulated weight quantization: torch runs them.
_FLOAT_QUANTIZED_PREFIXES = ("torch.ao.nn.quantized.reference",)


class EmulationError(ValueError):
    """The model cannot be emulated as it is; the message says what to do."""


def register(*torch_classes: type) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``build(module, engine, backend) -> torch.nn.Module`` for exact types."""

    def decorate(build: Callable[..., Any]) -> Callable[..., Any]:
        for cls in torch_classes:
            _HANDLERS[cls] = build
        return build

    return decorate


def _load_handlers() -> None:
    for name in _HANDLER_MODULES:
        importlib.import_module(name)


def handled_types() -> list[str]:
    """The torch module types emulate() swaps, as ``module.Class`` names."""
    _load_handlers()
    return sorted(f"{cls.__module__}.{cls.__qualname__}" for cls in _HANDLERS)


def _type_name(module: Any) -> str:
    cls = type(module)
    return f"{cls.__module__}.{cls.__qualname__}"


def is_quantized_module(module: Any) -> bool:
    """True for torch's quantized modules and user subclasses of them (which may change
    what they compute, so they are not taken for the base class)."""
    for cls in type(module).__mro__:
        name = f"{cls.__module__}.{cls.__qualname__}"
        if name.startswith(_FLOAT_QUANTIZED_PREFIXES) or cls.__name__ == "FloatFunctional":
            return False
        if name.startswith(_QUANTIZED_PREFIXES):
            return True
    return False


def _check_converted(model: Any) -> None:
    from torch.ao.quantization import FakeQuantizeBase
    from torch.ao.quantization.observer import ObserverBase

    names = [(path, m) for path, m in model.named_modules()]
    observers = [path for path, m in names if isinstance(m, (ObserverBase, FakeQuantizeBase))]
    if observers:
        raise EmulationError(
            f"model is prepared but not converted (it still holds observers, e.g. at '{observers[0]}'): "
            "calibrate it, then call torch.ao.quantization.convert(model) and emulate the result"
        )
    if not any(is_quantized_module(m) for _, m in names):
        raise EmulationError(
            "model has no quantized modules: quantize it first (torch.ao.quantization.prepare, "
            "calibrate, convert; or quantize / quantize_dynamic), then emulate the converted model"
        )


def _copy_hooks(source: Any, target: Any) -> None:
    """Forward hooks and pre-hooks registered on the torch module stay on its replacement."""
    for attribute in (
        "_forward_hooks",
        "_forward_hooks_with_kwargs",
        "_forward_hooks_always_called",
        "_forward_pre_hooks",
        "_forward_pre_hooks_with_kwargs",
    ):
        if hasattr(source, attribute):
            setattr(target, attribute, copy.copy(getattr(source, attribute)))


def emulate(model: Any, *, engine: str | None = None, backend: str | None = None) -> Any:
    """A copy of a converted torch model whose quantized modules compute through qemu.

    Parameters
    ----------
    model : torch.nn.Module
        The output of ``torch.ao.quantization.convert`` / ``quantize`` / ``quantize_dynamic``.
    engine, backend : str, optional
        qemu engine and backend (defaults from :func:`qemu.use` / ``QEMU_ENGINE`` /
        ``QEMU_BACKEND``). Match ``engine`` to the torch engine the model was converted
        under (its packed weights are engine-specific).

    Returns
    -------
    torch.nn.Module
        A deep copy with every quantized module replaced; the model's own forward code
        and forward hooks are kept. A model that is itself one quantized module comes
        back as its replacement.

    Raises
    ------
    EmulationError
        If the model is float or only prepared, or holds a quantized module qemu cannot
        emulate (the message names its path and type).

    Examples
    --------
    >>> emulated = qemu.emulate(converted_model, engine="fbgemm", backend="numba")  # doctest: +SKIP
    >>> emulated(x)  # same bits as converted_model(x) under torch's fbgemm  # doctest: +SKIP
    """
    import torch

    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    settings = config.current()
    chosen_engine = engines.get(engine if engine is not None else settings.engine).name
    chosen_backend = config.check_backend(backend if backend is not None else settings.backend)
    _check_converted(model)
    _load_handlers()
    try:
        emulated = copy.deepcopy(model)
    except RuntimeError as error:
        # Copying unpacks and repacks every packed weight; torch's qnnpack can do neither
        # for some convolutions ("QNNPACK only supports conv2d_unpack right now", and a
        # converted 1x1x1 conv1d whose weight unpacks as 2-D).
        raise EmulationError(
            f"cannot copy the model: torch failed to copy a packed weight ({error}); "
            "convert the model under fbgemm and emulate it with the engine you want "
            "(the quantized weights are the same, the engine's numerics are qemu's)"
        ) from error
    # Every place a module sits gets the same replacement: a module shared by two paths
    # (named_modules lists it once by default) must not keep running in torch at one.
    replacements: dict[int, Any] = {}
    placements: list[tuple[str, Any]] = []
    for path, module in emulated.named_modules(remove_duplicate=False):
        if _inside_replaced(path, placements):
            continue
        build = _HANDLERS.get(type(module))
        if build is None:
            if is_quantized_module(module):
                raise EmulationError(
                    f"cannot emulate module '{path}' of type {_type_name(module)}: qemu has no "
                    f"emulation for it (the emulated types: from qemu.emulate import handled_types)"
                )
            continue
        if id(module) not in replacements:
            try:
                replacement = build(module, chosen_engine, chosen_backend)
            except EmulationError as error:
                raise EmulationError(
                    f"cannot emulate module '{path}' of type {_type_name(module)}: {error}"
                ) from error
            _copy_hooks(module, replacement)
            replacements[id(module)] = replacement
        placements.append((path, replacements[id(module)]))
    if placements and placements[0][0] == "":
        return placements[0][1]  # the model is itself one quantized module
    for path, replacement in placements:
        _set_submodule(emulated, path, replacement)
    return emulated


def _inside_replaced(path: str, placements: list[tuple[str, Any]]) -> bool:
    """True for the submodules of a module already being replaced (its packed params)."""
    return any(path.startswith(prefix + ".") if prefix else bool(path) for prefix, _ in placements)


def _set_submodule(root: Any, path: str, replacement: Any) -> None:
    parent_path, _, name = path.rpartition(".")
    parent = root.get_submodule(parent_path) if parent_path else root
    parent._modules[name] = replacement
