"""Random dynamic-linear cases shared by the torch-free and the torch tests.

K is drawn log-uniformly from 1 to 4096 (so the 512-row K blocks of the fp16 GEMM
and the int16 pair saturation of the int8 GEMM both come up), M around the AVX2
partition boundaries (1, 2, 7, 31, 121 ...), N with and without leftover columns.
Values mix normal data, wide ranges, exact zeros and negative zeros.
"""

from __future__ import annotations

import hashlib

import numpy as np

from qemu.testing import seeded_rng


def case_rng(*key: object) -> np.random.Generator:
    """:func:`qemu.testing.seeded_rng` of a digest of ``key``: seeded_rng keeps only the
    first 8 bytes of its key text, so keys that share a prefix (the same test on every
    engine) would draw the same cases."""
    digest = hashlib.sha256("/".join(str(k) for k in key).encode()).hexdigest()
    return seeded_rng(digest)


ROW_COUNTS = (1, 2, 3, 5, 7, 8, 13, 14, 31, 32, 37, 38, 64, 121, 122)
SPECIALS = np.array([0x7FC12300, 0x7FC00000, 0xFFC00000, 0x7F800000, 0xFF800000], np.uint32).view(
    np.float32
)


def draw_shape(rng: np.random.Generator, max_k: int = 4096) -> tuple[int, int, int]:
    m = int(rng.choice(ROW_COUNTS)) if rng.random() < 0.7 else int(rng.integers(1, 40))
    k = int(np.exp(rng.uniform(0, np.log(max_k + 1))))
    k = min(max(k, 1), max_k)
    n = int(rng.integers(1, 80))
    # Large problems stay affordable for the NumPy reference.
    while m * k * n > 2_000_000 and m > 1:
        m //= 2
    return m, k, n


def draw_values(
    rng: np.random.Generator, shape: tuple[int, ...], specials: bool = False
) -> np.ndarray:
    scale = float(10.0 ** rng.uniform(-3, 3))
    kind = rng.integers(4)
    if kind == 0:
        x = rng.normal(0, scale, shape)
    elif kind == 1:
        x = rng.uniform(-scale, scale, shape)
    elif kind == 2:
        x = rng.uniform(0, scale, shape)  # all positive: the activation range starts at 0
    else:
        x = rng.integers(-3, 4, shape) * scale  # few distinct values, exact ties
    x = x.astype(np.float32)
    zeros = rng.random(shape) < 0.05
    x[zeros] = np.float32(0) * rng.choice(np.float32([1, -1]), zeros.sum())
    if specials:
        hit = rng.random(shape) < 0.03
        x[hit] = SPECIALS[rng.integers(0, SPECIALS.size, hit.sum())]
    return x


def draw_bias(rng: np.random.Generator, n: int, specials: bool = False) -> np.ndarray | None:
    if rng.random() < 0.25:
        return None
    return draw_values(rng, (n,), specials)


def draw_int8_weight(rng: np.random.Generator, n: int, k: int, per_channel: bool):
    """A qint8 weight (n, k) as torch's weight observers would make it, sometimes with
    nonzero zero points and codes at the ends of the range."""
    import qemu

    w = draw_values(rng, (n, k))
    nonzero_zero_points = rng.random() < 0.3
    if per_channel:
        scales = np.abs(w).max(axis=1) / 127 + float(10.0 ** rng.uniform(-6, -2))
        zero_points = rng.integers(-10, 11, n) if nonzero_zero_points else np.zeros(n, np.int64)
        return qemu.quantize_per_channel(w, scales, zero_points, 0, "qint8")
    scale = float(np.abs(w).max() / rng.choice([127, 127, 60, 300])) + 1e-6
    zero_point = int(rng.integers(-10, 11)) if nonzero_zero_points else 0
    return qemu.quantize_per_tensor(w, scale, zero_point, "qint8")


INT8_KINDS = [
    (per_channel, reduce_range) for per_channel in (False, True) for reduce_range in (True, False)
]
