"""Golden cases of quantize_per_tensor, quantize_per_channel, dequantize and
quantize_per_tensor_dynamic: every dtype, specials, ties, extreme qparams."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from qemu.dtypes import QDTYPES, QDType
from qemu.engines import Engine
from qemu.golden.cases import draws
from qemu.golden.cases.registry import CaseArguments, generator
from qemu.qtensor import QTensor


def _values_with_edges(
    rng: np.random.Generator, n: int, scale: float, zero_point: int, dtype: QDType
) -> np.ndarray:
    """Values over and past the representable range: half of them exact .5 ties (for a
    power-of-two scale), plus NaN, infinities, signed zeros, huge and subnormal numbers."""
    codes = (
        rng.integers(dtype.qmin - 8, dtype.qmax + 8, n)
        - zero_point
        + np.where(rng.random(n) < 0.5, 0.5, rng.random(n))
    )
    values = (codes * scale).astype(np.float32)
    specials = np.float32([np.nan, np.inf, -np.inf, 0.0, -0.0, 3.4e38, -3.4e38, 1e-45])
    values[: min(n, specials.size)] = specials[: min(n, specials.size)]
    return values


_PER_TENSOR_DTYPES = ["quint8", "qint8", "qint32", "quint4x2"]


@generator("quantize_per_tensor")
def _quantize_per_tensor_cases(rng: np.random.Generator, engine: Engine) -> Iterable[CaseArguments]:
    for dtype_name in _PER_TENSOR_DTYPES:
        dtype = QDTYPES[dtype_name]
        yield [np.zeros(0, np.float32), 0.5, dtype.qmin, dtype_name], {}
        yield [np.float32([2.5]), 1.0, 0, dtype_name], {}
        for scale, zero_point in [
            (0.5, dtype.qmin),
            (2.0**-10, dtype.qmax),
            (1e-10, (dtype.qmin + dtype.qmax + 1) // 2),
            (1e10, dtype.qmin),
            (float(np.float32(0.0123)), int(rng.integers(dtype.qmin, min(dtype.qmax, 2**20) + 1))),
        ]:
            yield (
                [
                    _values_with_edges(rng, 67, scale, zero_point, dtype).reshape(67),
                    scale,
                    zero_point,
                    dtype_name,
                ],
                {},
            )


@generator("quantize_per_channel")
def _quantize_per_channel_cases(
    rng: np.random.Generator, engine: Engine
) -> Iterable[CaseArguments]:
    for dtype_name, float_qparams in [
        ("quint8", False),
        ("qint8", False),
        ("qint32", False),
        ("quint8", True),
        ("quint4x2", True),
    ]:
        dtype = QDTYPES[dtype_name]
        for shape, axis in [((3, 5), 0), ((2, 4, 3), 2), ((1, 1), 1)]:
            channels = shape[axis]
            scales = np.array([2.0**-4, 1e-6, 0.37][:channels] + [0.1] * max(0, channels - 3))
            if float_qparams:
                scales = scales.astype(np.float32)
                points = rng.uniform(0, dtype.qmax, channels).astype(np.float32)
            else:
                points = rng.integers(dtype.qmin, min(dtype.qmax, 2**20) + 1, channels).astype(
                    np.int64
                )
            values = _values_with_edges(
                rng, int(np.prod(shape)), float(scales[0]), 0, dtype
            ).reshape(shape)
            yield [values, scales, points, axis, dtype_name], {}


@generator("dequantize")
def _dequantize_cases(rng: np.random.Generator, engine: Engine) -> Iterable[CaseArguments]:
    for dtype_name in _PER_TENSOR_DTYPES:
        dtype = QDTYPES[dtype_name]
        codes = rng.integers(dtype.qmin, dtype.qmax, 40, endpoint=True)
        codes[:2] = [dtype.qmin, dtype.qmax]
        for scale, zero_point in [
            (0.1, dtype.qmin),
            (3e-9, dtype.qmax),
            (1e8, 0 if dtype.signed else 1),
        ]:
            yield [QTensor.per_tensor(codes, scale, zero_point, dtype)], {}
    codes = rng.integers(-128, 128, (4, 6))
    yield [QTensor.per_channel(codes, [0.1, 1e-7, 3.0, 0.5], [0, 127, -128, 5], 0, "qint8")], {}
    yield (
        [
            QTensor.per_channel(
                codes + 128,
                np.float32([0.1, 2e-3, 3, 7]),
                np.float32([0.5, 100, -3, 9]),
                0,
                "quint8",
                float_qparams=True,
            )
        ],
        {},
    )


@generator("quantize_per_tensor_dynamic")
def _quantize_per_tensor_dynamic_cases(
    rng: np.random.Generator, engine: Engine
) -> Iterable[CaseArguments]:
    for dtype_name in ["quint8", "qint8", "float16"]:
        for reduce_range in (False, True):
            yield [np.float32([2.5]), dtype_name, reduce_range], {}
            yield [np.float32([0.0, -0.0]), dtype_name, reduce_range], {}
            yield [np.float32([-1.0, 2.0**-25, 70000.0, 1e-30]), dtype_name, reduce_range], {}
            yield [draws.draw_floats(rng, (3, 13)), dtype_name, reduce_range], {}
            yield [draws.draw_floats(rng, (40,)), dtype_name, reduce_range], {}
