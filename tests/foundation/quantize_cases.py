"""Random quantize cases shared by the torch-free and the torch tests: shapes incl.
empty and 1-element, scales from 1e-10 to 1e10 and powers of two (exact ties),
zero points at the range ends, values with ties, NaN, infinities, huge and subnormal
numbers."""

from __future__ import annotations

import numpy as np

from qemu.dtypes import QDType

SHAPES = [(0,), (1,), (7,), (3, 5), (2, 0, 3), (4, 9), (2, 3, 17), (33,), (2, 1, 3, 4)]


def draw_scale(rng: np.random.Generator) -> float:
    kind = rng.integers(4)
    if kind == 0:
        return float(2.0 ** rng.integers(-20, 10))  # exact ties reachable
    if kind == 1:
        return float(10.0 ** rng.uniform(-10, 10))  # extreme scales
    return float(np.float32(10.0 ** rng.uniform(-4, 1)))


def draw_zero_point(rng: np.random.Generator, dtype: QDType) -> int:
    kind = rng.integers(4)
    if kind == 0:
        return dtype.qmin
    if kind == 1:
        return dtype.qmax
    if dtype.bits == 32:
        return int(rng.integers(-(2**31), 2**31))
    return int(rng.integers(dtype.qmin, dtype.qmax + 1))


def draw_values(
    rng: np.random.Generator, shape: tuple[int, ...], scale: float, zero_point: int, dtype: QDType
) -> np.ndarray:
    """Values spread over the representable range and past it, with exact .5 ties."""
    n = int(np.prod(shape))
    span = max(dtype.qmax - dtype.qmin, 1)
    codes = rng.uniform(-0.3 * span, 1.3 * span, n) + dtype.qmin - zero_point
    ties = rng.random(n) < 0.3
    codes[ties] = np.floor(codes[ties]) + 0.5
    values = (codes * scale).astype(np.float32)
    special = rng.random(n) < 0.05
    pool = np.float32([np.nan, np.inf, -np.inf, 0.0, -0.0, 3.4e38, -3.4e38, 1e-45, -1e-45, 1e-40])
    values[special] = rng.choice(pool, int(special.sum()))
    return values.reshape(shape)


def draw_channel_params(
    rng: np.random.Generator, channels: int, dtype: QDType, float_qparams: bool
):
    scales = np.array([draw_scale(rng) for _ in range(channels)])
    if float_qparams:
        scales = scales.astype(np.float32)
        points = rng.uniform(-2 * dtype.qmax, 2 * dtype.qmax, channels).astype(np.float32)
        return scales, points
    return scales, np.array([draw_zero_point(rng, dtype) for _ in range(channels)], dtype=np.int64)
