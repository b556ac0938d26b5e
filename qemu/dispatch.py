"""The op registry: which function computes op X on backend Y.

Each op module (``qemu/quantize.py``, ``qemu/ops/*.py``) defines the public entry,
which validates its arguments once and calls :func:`call`, and the reference kernel,
registered here as the ``numpy`` backend with :func:`reference`. The ``numba`` and
``torch`` backends (``qemu.backends``) register their kernels for the same op names
when they are first used. Kernels receive a :class:`Context` and validated,
canonical arguments.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from qemu import config, engines


class BackendUnavailable(RuntimeError):
    """A backend cannot run here (package missing, or the host cannot run the engine)."""


@dataclass(frozen=True)
class Context:
    """What a kernel needs beyond its arguments: the engine and the emulated thread count."""

    engine: engines.Engine
    threads: int


_REGISTRY: dict[str, dict[str, Callable[..., Any]]] = {}


def register(op: str, backend: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``fn(ctx, *args)`` as ``backend``'s kernel for ``op``."""
    config.check_backend(backend)

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        kernels = _REGISTRY.setdefault(op, {})
        if backend in kernels:
            raise RuntimeError(f"op {op!r} already has a {backend} kernel: {kernels[backend]!r}")
        kernels[backend] = fn
        return fn

    return decorate


def reference(op: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register the NumPy reference kernel of ``op``."""
    return register(op, "numpy")


def kernel(op: str, backend: str) -> Callable[..., Any]:
    """The kernel of ``op`` on ``backend``, loading that backend first."""
    if backend != "numpy":
        from qemu import backends

        backends.load(backend)
    kernels = _REGISTRY.get(op, {})
    if backend not in kernels:
        have = ", ".join(sorted(kernels)) or "none"
        raise NotImplementedError(
            f"op {op!r} has no {backend} kernel (backends that have it: {have})"
        )
    return kernels[backend]


def resolve(engine: object = None, backend: object = None) -> tuple[Context, str]:
    """The context and backend for a call: explicit arguments, else ``qemu.use`` / env."""
    settings = config.current()
    chosen_engine = engines.get(settings.engine if engine is None else engine)
    chosen_backend = config.check_backend(settings.backend if backend is None else backend)
    return Context(chosen_engine, settings.threads), chosen_backend


def call(op: str, *args: Any, engine: object = None, backend: object = None) -> Any:
    """Run ``op`` on validated arguments with the chosen engine and backend."""
    context, chosen_backend = resolve(engine, backend)
    fn = kernel(op, chosen_backend)
    if chosen_backend == "torch":
        from qemu.backends.torch_backend import runner

        return runner.execute(op, context, args)
    return fn(context, *args)
