"""The registry of golden case generators: ``GENERATORS[op] = fn(rng, engine)``."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from qemu.engines import Engine

CaseArguments = tuple[list[Any], dict[str, Any]] | tuple[list[Any], dict[str, Any], int]
"""``(args, kwargs)`` or ``(args, kwargs, threads)`` for the op's public entry."""

Generator = Callable[[np.random.Generator, Engine], Iterable[CaseArguments]]
GENERATORS: dict[str, Generator] = {}


def generator(*ops: str) -> Callable[[Generator], Generator]:
    """Register the decorated function as the case generator of each op in ``ops``.

    A generator shared by several ops gets the op name as ``fn.op`` through
    :func:`for_op`; it must draw the same inputs on every engine (so the golden
    outputs of two engines can be compared case by case), branching on the engine only
    to leave out what that engine refuses.
    """

    def decorate(fn: Callable[..., Iterable[CaseArguments]]) -> Generator:
        for op in ops:
            GENERATORS[op] = for_op(fn, op) if len(ops) > 1 else fn
        return fn

    return decorate


def for_op(fn: Callable[..., Iterable[CaseArguments]], op: str) -> Generator:
    """``fn(rng, engine, op)`` as a generator of ``op``."""

    def cases_of_op(rng: np.random.Generator, engine: Engine) -> Iterable[CaseArguments]:
        return fn(rng, engine, op)

    cases_of_op.__name__ = f"{fn.__name__}[{op}]"
    return cases_of_op
