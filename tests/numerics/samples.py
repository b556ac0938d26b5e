"""Inputs shared by the transcendental tests: specials, branch thresholds, random samples."""

import numpy as np


def specials() -> np.ndarray:
    """Zeros, infinities, NaNs of both signs and payload kinds, subnormals, extremes."""
    bits = np.uint32(
        [
            0x00000000,
            0x80000000,
            0x7F800000,
            0xFF800000,  # +-0, +-inf
            0x7FC00000,
            0xFFC00000,
            0x7F800001,
            0xFF812345,
            0x7FFFFFFF,
            0xFFBFFFFF,  # NaNs
            0x00000001,
            0x80000001,
            0x007FFFFF,
            0x807FFFFF,
            0x00800000,
            0x80800000,  # subnormal/min
            0x7F7FFFFF,
            0xFF7FFFFF,
            0x3F800000,
            0xBF800000,  # max, +-1
        ]
    )
    return bits.view(np.float32)


def thresholds() -> np.ndarray:
    """Every branch point of the modelled functions, with its float neighbours."""
    t = np.float32(
        [
            -104.0,
            100.0,
            88.72283172607421875,
            -16.635532333438687,  # Sleef exp / expm1
            8.664339742,
            -8.664339742,  # Sleef tanh
            88.0,
            88.7216796875,
            -103.97208,
            -103.27893,  # glibc expf
            18.714973,
            0.34657359,
            1.0397208,
            2.9802322e-08,
            -0.25,
            0.25,  # glibc expm1f
            22.0,
            2.7755576e-17,
            1.0,
            -1.0,  # glibc tanhf
            9.0,
            1.2207031e-4,
            32.564632,
            -63.09946,  # MKL tanh edges; the two sse2/fma expf inputs
        ]
    )
    t = np.concatenate([t, -t])
    down, up = np.nextafter(t, np.float32(-np.inf)), np.nextafter(t, np.float32(np.inf))
    return np.concatenate([down, t, up])


def sample(n: int, lo: float, hi: float, seed: int) -> np.ndarray:
    """n random bit patterns, n uniform values in [lo, hi), n values spread over binades
    of both signs, plus the specials and thresholds."""
    rng = np.random.default_rng(seed)
    bits = rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32).view(np.float32)
    inside = rng.uniform(lo, hi, n).astype(np.float32)
    scales = np.float32(2.0) ** rng.integers(-40, 8, n).astype(np.float32)
    spread = (rng.uniform(-1, 1, n).astype(np.float32) * scales).astype(np.float32)
    return np.concatenate([specials(), thresholds(), bits, inside, spread])


def same_bits(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray(a, np.float32).view(np.uint32) == np.asarray(b, np.float32).view(np.uint32)
