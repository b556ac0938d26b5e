"""quantize_per_tensor_dynamic: hand values, errors, numpy == numba everywhere, and
both against torch 2.13 (``QEMU_SOAK=20000`` for the long run)."""

from __future__ import annotations

import numpy as np
import pytest

from qemu.quantize import quantize_per_tensor_dynamic
from qemu.testing import assert_bitexact, cases, seeded_rng

F = np.float32


def random_input(rng: np.random.Generator, i: int) -> np.ndarray:
    """Wide, all-positive, all-negative, constant, tiny-range, zero and 2**-8-grid
    inputs of random shapes (the ranges of the research experiment, as whole tensors)."""
    shape = tuple(int(n) for n in rng.integers(1, 9, int(rng.integers(1, 4))))
    size = int(np.prod(shape))
    magnitude = 10.0 ** rng.uniform(-7, 3)
    kind = i % 8
    if kind == 0:
        values = rng.normal(size=size) * magnitude
    elif kind == 1:
        values = np.abs(rng.normal(size=size)) * magnitude
    elif kind == 2:
        values = -np.abs(rng.normal(size=size)) * magnitude
    elif kind == 3:
        values = np.full(size, rng.normal() * 10.0 ** rng.uniform(-8, 1))
    elif kind == 4:
        values = rng.uniform(-1, 1, size) * 10.0 ** rng.uniform(-30, -4)
    elif kind == 5:
        values = np.zeros(size)
    elif kind == 6:
        values = rng.uniform(1e-6, 1e-3) * rng.uniform(-1, 1, size)
    else:
        values = rng.integers(-300, 300, size) * 2.0**-8
    return F(values).reshape(shape)


def test_hand_values() -> None:
    q = quantize_per_tensor_dynamic(F([-1.0, 2.0]), "quint8")
    assert (q.q_scale(), q.q_zero_point(), q.int_repr().tolist()) == (3 / 255, 85, [0, 255])
    q = quantize_per_tensor_dynamic(F([-1.0, 2.0]), "quint8", reduce_range=True)
    assert (q.q_scale(), q.q_zero_point(), q.int_repr().tolist()) == (3 / 127, 42, [0, 127])
    q = quantize_per_tensor_dynamic(F([0.0]), "qint8")
    assert (q.q_scale(), q.q_zero_point(), q.int_repr().tolist()) == (0.1, 127, [127])


def test_qnnpack_ignores_reduce_range() -> None:
    x = F([-1.0, 2.0])
    plain = quantize_per_tensor_dynamic(x, "quint8", engine="qnnpack")
    reduced = quantize_per_tensor_dynamic(x, "quint8", True, engine="qnnpack")
    assert_bitexact(reduced, plain)
    assert quantize_per_tensor_dynamic(x, "quint8", True, engine="fbgemm-avx2").q_scale() == 3 / 127


def test_float16_is_a_conversion() -> None:
    with np.errstate(over="raise"):  # the overflow to inf is expected, not warned about
        out = quantize_per_tensor_dynamic(F([1.0, 2.0**-25, 70000.0]), "float16")
    assert out.dtype == np.float16 and out.tolist() == [1.0, 0.0, float("inf")]


@pytest.mark.parametrize(
    ("x", "dtype", "reduce_range", "error", "words"),
    [
        (F([]), "quint8", False, ValueError, "non-empty"),
        (F([1.0, np.nan]), "quint8", False, ValueError, "NaN"),
        (F([1.0, np.inf]), "qint8", False, ValueError, "finite"),
        (F([-np.inf, 1.0]), "qint8", False, ValueError, "finite"),
        (F([1.0]), "qint32", False, ValueError, "dtype"),
        (F([1.0]), "int8", False, ValueError, "dtype"),
        (F([1.0]), "quint8", 1, TypeError, "reduce_range"),
        (np.float64([1.0]), "quint8", False, TypeError, "float32"),
    ],
)
def test_bad_input(x, dtype, reduce_range, error, words) -> None:
    with pytest.raises(error, match=words):
        quantize_per_tensor_dynamic(x, dtype, reduce_range)


@pytest.mark.parametrize("engine", ["fbgemm", "qnnpack"])
def test_numba_equals_numpy(engine: str) -> None:
    rng = seeded_rng("dynamic-numba", engine)
    for i in range(cases(300)):
        x = random_input(rng, i)
        dtype = ("quint8", "qint8")[i % 2]
        reduce_range = bool(i // 2 % 2)
        expected = quantize_per_tensor_dynamic(x, dtype, reduce_range, engine=engine)
        actual = quantize_per_tensor_dynamic(x, dtype, reduce_range, engine=engine, backend="numba")
        assert_bitexact(actual, expected, f"{dtype} reduce_range={reduce_range} x={x}")


@pytest.mark.torch
@pytest.mark.parametrize("engine", ["fbgemm", "qnnpack"])
def test_matches_torch(engine: str) -> None:
    pytest.importorskip("torch")
    rng = seeded_rng("dynamic-torch", engine)
    for i in range(cases(150)):
        x = random_input(rng, i)
        dtype = ("quint8", "qint8")[i % 2]
        reduce_range = bool(i // 2 % 2)
        expected = quantize_per_tensor_dynamic(
            x, dtype, reduce_range, engine=engine, backend="torch"
        )
        for backend in ("numpy", "numba"):
            actual = quantize_per_tensor_dynamic(
                x, dtype, reduce_range, engine=engine, backend=backend
            )
            assert_bitexact(actual, expected, f"{backend} {dtype} rr={reduce_range} x={x}")
    x = F([1.0, 2.0**-25, 70000.0, -3.5])
    expected = quantize_per_tensor_dynamic(x, "float16", engine=engine, backend="torch")
    assert_bitexact(quantize_per_tensor_dynamic(x, "float16"), expected)
