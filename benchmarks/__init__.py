"""Speed of qemu's backends against torch fbgemm, in one process, on the same inputs.

Each family adds rows in its own module here (``benchmarks/<family>.py``) with
:func:`row`; ``python -m benchmarks`` (from the repository root) imports every module
of this folder, checks each row's qemu results against torch's bit for bit and times
the rows asked for. A row's ``prepare()`` builds the inputs once and returns two
callables: ``torch_call()`` (torch with the fbgemm engine, weights prepacked as a
converted model holds them) and ``qemu_call(backend)`` returning the same result
through qemu (weights prepared on the first call, as qemu caches them). Each row also
names a ``tiny`` prepare: the same computation at a size the test suite can afford,
used to check every row's exactness without timing anything.

Modules import torch, NumPy and qemu inside ``prepare`` only: ``python -m benchmarks``
sets the thread counts of torch, numba and BLAS before any of them is loaded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Prepare = Callable[[], tuple[Callable[[], Any], Callable[[str], Any]]]


@dataclass(frozen=True)
class Row:
    """A registered benchmark row: ``prepare`` at the benchmark's size, ``tiny`` at a
    size for tests."""

    name: str
    description: str
    prepare: Prepare
    tiny: Prepare


ROWS: dict[str, Row] = {}


def row(name: str, description: str, tiny: Prepare) -> Callable[[Prepare], Prepare]:
    """Register ``prepare`` as benchmark row ``name``, with ``tiny`` its small twin.

    Examples
    --------
    >>> def _prepare():
    ...     return (lambda: 1), (lambda backend: 1)
    >>> _ = row("example", "an example", tiny=_prepare)(_prepare)
    >>> ROWS.pop("example").description
    'an example'
    """

    def decorate(prepare: Prepare) -> Prepare:
        if name in ROWS:
            raise RuntimeError(f"benchmark row {name!r} is defined twice")
        ROWS[name] = Row(name, description, prepare, tiny)
        return prepare

    return decorate


def as_qemu(value: Any) -> Any:
    """A torch result as qemu returns it: quantized tensors as QTensors, float tensors
    as arrays, tuples and lists item by item (so an LSTM's ``(out, (h, c))`` too)."""
    import torch

    import qemu

    if isinstance(value, torch.Tensor):
        return qemu.from_torch(value)
    if isinstance(value, (tuple, list)):
        return tuple(as_qemu(item) for item in value)
    return value


def mismatch(expected: Any, actual: Any) -> str | None:
    """``None`` if qemu's ``actual`` equals torch's ``expected`` bit for bit (codes,
    qparams, float bit patterns), else what differs.

    Examples
    --------
    >>> import numpy as np
    >>> mismatch(np.float32([1, 2]), np.float32([1, 2])) is None
    True
    """
    from qemu.testing import compare_results

    comparison = compare_results(as_qemu(actual), as_qemu(expected))
    return None if comparison.equal else comparison.describe()


def check_row(
    prepare: Prepare, backends: list[str]
) -> tuple[Callable[[], Any], Callable[[str], Any], dict[str, str]]:
    """Prepare a row and compare each qemu backend's result with torch's.

    Returns the row's two callables and, per backend that is not bit-exact, what
    differs (an empty dict when every backend is exact).
    """
    torch_call, qemu_call = prepare()
    expected = torch_call()
    failures = {}
    for backend in backends:
        difference = mismatch(expected, qemu_call(backend))
        if difference is not None:
            failures[backend] = difference
    return torch_call, qemu_call, failures
