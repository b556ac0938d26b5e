"""Draws shared by the golden case generators: tie-heavy scales, zero points at the
ends of the range, codes clustered at the zero point, float values with specials."""

from __future__ import annotations

import numpy as np

from qemu.dtypes import QINT8, QINT32, QUINT8, QDType
from qemu.qtensor import QTensor

QTYPES = (QUINT8, QINT8, QINT32)
QTYPES_8BIT = (QUINT8, QINT8)

# NaN (with a payload too), infinities, signed zeros, float32 extremes, a subnormal.
SPECIAL_FLOATS = np.array(
    [np.nan, np.uint32(0x7FC0ABCD).view(np.float32), np.inf, -np.inf, 0.0, -0.0, 3.4e38,
     -3.4e38, 1e-45],
    dtype=np.float32,
)  # fmt: skip


def draw_scale(rng: np.random.Generator) -> float:
    """Half powers of two (exact .5 ties reachable), mostly ordinary, sometimes extreme."""
    kind = rng.integers(10)
    if kind < 5:
        return float(2.0 ** rng.integers(-8, 4))
    if kind < 9:
        return float(np.float32(10.0 ** rng.uniform(-3, 1)))
    return float(10.0 ** rng.uniform(-8, 6))


def draw_zero_point(rng: np.random.Generator, dtype: QDType) -> int:
    """One in three at an end of the range."""
    kind = rng.integers(6)
    if kind == 0:
        return dtype.qmin
    if kind == 1:
        return dtype.qmax
    if dtype == QINT32:
        return int(rng.integers(-(2**12), 2**12))
    return int(rng.integers(dtype.qmin, dtype.qmax + 1))


def draw_codes(
    rng: np.random.Generator, shape: tuple[int, ...], dtype: QDType, zero_point: int
) -> np.ndarray:
    """Codes over the whole range, a fifth of them at or next to the zero point."""
    if dtype == QINT32:
        span = [2**8, 2**20, 2**31][rng.integers(3)]
        return rng.integers(max(-(2**31), -span), min(2**31, span), shape, dtype=np.int64)
    drawn = rng.integers(dtype.qmin, dtype.qmax + 1, shape, dtype=np.int64)
    near = rng.random(shape) < 0.2
    drawn[near] = np.clip(zero_point + rng.integers(-3, 4, int(near.sum())), dtype.qmin, dtype.qmax)
    return drawn


def draw_qtensor(
    rng: np.random.Generator,
    shape: tuple[int, ...],
    dtype: QDType,
    scale: float | None = None,
    zero_point: int | None = None,
) -> QTensor:
    """A per-tensor QTensor of random codes (qparams drawn unless given)."""
    scale = draw_scale(rng) if scale is None else scale
    zero_point = draw_zero_point(rng, dtype) if zero_point is None else zero_point
    return QTensor.per_tensor(draw_codes(rng, shape, dtype, zero_point), scale, zero_point, dtype)


def draw_dtype(rng: np.random.Generator, dtypes: tuple[QDType, ...] = QTYPES) -> QDType:
    """One of ``dtypes``."""
    return dtypes[rng.integers(len(dtypes))]


SMALL_SHAPES = [(0,), (1,), (5,), (17,), (64,), (65,), (3, 11), (2, 0, 3), (2, 1, 9),
                (2, 3, 4, 5), (1, 8, 3, 3), (2, 3, 2, 2, 3)]  # fmt: skip


def draw_small_shape(
    rng: np.random.Generator, shapes: list[tuple[int, ...]] | None = None
) -> tuple:
    """One of ``shapes`` (default :data:`SMALL_SHAPES`: empty to 5-D, all small)."""
    pool = SMALL_SHAPES if shapes is None else shapes
    return tuple(pool[rng.integers(len(pool))])


def draw_layout(rng: np.random.Generator, ndim: int) -> object:
    """A memory format: contiguous, channels-last, or a permutation of the dimensions."""
    kind = rng.integers(4)
    if kind == 0 and ndim == 4:
        return "channels_last"
    if kind == 0 and ndim == 5:
        return "channels_last_3d"
    if kind == 1 and ndim >= 2:
        return tuple(int(d) for d in rng.permutation(ndim))
    return "contiguous"


def draw_floats(
    rng: np.random.Generator, shape: tuple[int, ...], specials: bool = False
) -> np.ndarray:
    """float32 values of a random magnitude: normal, uniform, all positive, or a few
    distinct multiples (exact ties); some signed zeros; specials if asked."""
    magnitude = float(10.0 ** rng.uniform(-3, 3))
    kind = rng.integers(4)
    if kind == 0:
        values = rng.normal(0, magnitude, shape)
    elif kind == 1:
        values = rng.uniform(-magnitude, magnitude, shape)
    elif kind == 2:
        values = rng.uniform(0, magnitude, shape)
    else:
        values = rng.integers(-3, 4, shape) * magnitude
    values = values.astype(np.float32)
    zeros = rng.random(shape) < 0.05
    values[zeros] = np.float32(0) * rng.choice(np.float32([1, -1]), int(zeros.sum()))
    if specials:
        hit = rng.random(shape) < 0.05
        values[hit] = SPECIAL_FLOATS[rng.integers(0, SPECIAL_FLOATS.size, int(hit.sum()))]
    return values
