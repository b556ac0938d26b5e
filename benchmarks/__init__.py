"""Speed of qemu's backends against torch fbgemm, in one process, on the same inputs.

Each family adds rows in its own module here (``benchmarks/<family>.py``) with
:func:`row`; ``python -m benchmarks`` (from the repository root) imports every module
of this folder and times the rows asked for. A row's ``prepare()`` builds the inputs
once and returns two callables: ``torch_call()`` (torch with the fbgemm engine, weights
prepacked as a converted model holds them) and ``qemu_call(backend)`` returning the
same result through qemu (weights prepared on the first call, as qemu caches them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Row:
    name: str
    description: str
    prepare: Callable[[], tuple[Callable[[], Any], Callable[[str], Any]]]


ROWS: dict[str, Row] = {}


def row(name: str, description: str):
    """Register ``prepare`` as benchmark row ``name``."""

    def decorate(prepare):
        if name in ROWS:
            raise RuntimeError(f"benchmark row {name!r} is defined twice")
        ROWS[name] = Row(name, description, prepare)
        return prepare

    return decorate
