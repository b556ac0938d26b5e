"""Random cases shared by the elementwise / activation / norm / pool tests: tie-heavy
qparams (power-of-two scales make exact .5 ties, so the vector and the scalar
formulas disagree on many elements), zero points at the range ends, shapes from empty
to past the 32,768-element thread split, memory layouts, thread counts; and the
check that runs an op on torch, numpy and numba and holds them bit-equal."""

from __future__ import annotations

import numpy as np

import qemu
from qemu import dispatch
from qemu.dtypes import QINT8, QINT32, QUINT8
from qemu.golden.cases.draws import (  # noqa: F401  (shared with the golden vectors)
    draw_codes,
    draw_dtype,
    draw_layout,
    draw_qtensor,
    draw_scale,
    draw_zero_point,
)
from qemu.testing import assert_bitexact

ENGINES = qemu.engines.names()
EMULATORS = ("numpy", "numba")
QTYPES = (QUINT8, QINT8, QINT32)
QTYPES_8BIT = (QUINT8, QINT8)

SMALL_SHAPES = [
    (0,),
    (1,),
    (5,),
    (63,),
    (64,),
    (65,),
    (130,),
    (3, 70),
    (2, 0, 3),
    (2, 1, 40),
    (4, 1, 129),
    (2, 3, 5, 17),
    (1, 8, 4, 4),
    (2, 5, 3, 2, 7),
    (200,),
    (3, 64),
]
BIG_SHAPES = [(32768,), (32769,), (40000,), (70001,), (3, 25000), (2, 40, 20, 21)]


def draw_shape(rng: np.random.Generator, big: float = 0.05, shapes=None, big_shapes=None):
    if rng.random() < big:
        pool = BIG_SHAPES if big_shapes is None else big_shapes
    else:
        pool = SMALL_SHAPES if shapes is None else shapes
    return tuple(pool[rng.integers(len(pool))])


def _ops_called(fn, args, kwargs, engine):
    """Run ``fn`` on torch, recording the dispatched op names; returns (result, error,
    ops)."""
    seen = []
    original = dispatch.call

    def spy(op, *a, **k):
        seen.append(op)
        return original(op, *a, **k)

    dispatch.call = spy
    try:
        return fn(*args, **kwargs, engine=engine, backend="torch"), None, seen
    except (ValueError, TypeError, RuntimeError, IndexError) as caught:
        return None, caught, seen
    finally:
        dispatch.call = original


def _same_kernel(ops: list[str], backend: str) -> bool:
    """Whether ``backend`` runs the NumPy reference itself for every op in ``ops`` (then
    running it again proves nothing and only costs time)."""
    return bool(ops) and all(
        dispatch.kernel(op, backend) is dispatch.kernel(op, "numpy") for op in ops
    )


def check_against_torch(fn, args, kwargs, engine: str, threads: int = 1, emulators=EMULATORS):
    """Run ``fn`` on torch and on each emulator; results bit-equal, or all refuse.

    A torch error must be matched by a ValueError / TypeError / IndexError from the
    emulators. An emulator whose kernel is the NumPy reference itself is skipped."""
    with qemu.use(threads=threads):
        expected, error, ops = _ops_called(fn, args, kwargs, engine)
        for backend in emulators:
            if backend != "numpy" and _same_kernel(ops, backend):
                continue
            label = f"{fn.__name__}[{engine}, {backend}, threads={threads}]"
            try:
                actual = fn(*args, **kwargs, engine=engine, backend=backend)
            except (ValueError, TypeError, IndexError) as caught:
                if error is None:
                    raise AssertionError(
                        f"{label} refused what torch computes: {caught}"
                    ) from caught
                continue
            if error is not None:
                raise AssertionError(f"{label} computed what torch refuses: {error}")
            assert_bitexact(actual, expected, label)
    return expected
