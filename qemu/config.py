"""Defaults for engine, backend and thread count: ``qemu.use(...)`` and ``QEMU_*`` env vars."""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace

from qemu import engines

BACKENDS = ("numpy", "numba", "torch")


@dataclass(frozen=True)
class Settings:
    """What an op runs with when its call does not say.

    ``threads`` is torch's intra-op thread count being emulated: ATen splits tensors of
    32,768 elements or more into one chunk per thread, each with its own scalar tail,
    so some results depend on it.
    """

    engine: str
    backend: str
    threads: int


def check_backend(name: object, *, argument: str = "backend") -> str:
    if not isinstance(name, str):
        raise TypeError(f"{argument}: expected a backend name, got {type(name).__name__} {name!r}")
    if name not in BACKENDS:
        raise ValueError(
            f"{argument}: unknown backend {name!r}; valid backends are "
            + ", ".join(repr(b) for b in BACKENDS)
        )
    return name


def check_threads(threads: object, *, argument: str = "threads") -> int:
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"{argument}: expected an integer >= 1, got {threads!r}")
    return threads


def _from_environment() -> Settings:
    threads_text = os.environ.get("QEMU_THREADS", "1")
    try:
        threads = int(threads_text)
    except ValueError:
        raise ValueError(f"QEMU_THREADS: expected an integer >= 1, got {threads_text!r}") from None
    return Settings(
        engine=engines.get(os.environ.get("QEMU_ENGINE", "fbgemm"), argument="QEMU_ENGINE").name,
        backend=check_backend(os.environ.get("QEMU_BACKEND", "numpy"), argument="QEMU_BACKEND"),
        threads=check_threads(threads, argument="QEMU_THREADS"),
    )


_current: contextvars.ContextVar[Settings | None] = contextvars.ContextVar(
    "qemu_settings", default=None
)


def current() -> Settings:
    """The settings in force: the innermost ``use(...)``, else ``QEMU_ENGINE``,
    ``QEMU_BACKEND``, ``QEMU_THREADS``, else fbgemm / numpy / 1 thread.

    Examples
    --------
    >>> with use(engine="qnnpack"):
    ...     current().engine
    'qnnpack'
    """
    settings = _current.get()
    return settings if settings is not None else _from_environment()


@contextlib.contextmanager
def use(
    engine: str | None = None, backend: str | None = None, threads: int | None = None
) -> Iterator[Settings]:
    """Run the block with other defaults; unnamed settings stay as they are.

    Examples
    --------
    >>> import qemu
    >>> with qemu.use(engine="fbgemm-avx2", backend="numba"):
    ...     pass
    """
    settings = current()
    if engine is not None:
        settings = replace(settings, engine=engines.get(engine).name)
    if backend is not None:
        settings = replace(settings, backend=check_backend(backend))
    if threads is not None:
        settings = replace(settings, threads=check_threads(threads))
    token = _current.set(settings)
    try:
        yield settings
    finally:
        _current.reset(token)
