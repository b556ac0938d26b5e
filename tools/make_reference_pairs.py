"""Record (input, torch output) pairs for the torch-free tests of the transcendental models.

Usage (a few seconds; needs torch==2.13.0 on the glibc 2.36 x86-64 dev host)::

    .venv/bin/python tools/make_reference_pairs.py [--out tests/numerics/data/torch_reference.npz]

For every function the inputs are special values, the thresholds each implementation
branches on (and their float neighbours), random bit patterns and random values in the
range where the function is not trivially 0, +-1 or x. Outputs come from the code torch runs:

* ``sleef_exp``: ``Sleef_expf16_u10`` in libtorch_cpu (no torch op exposes it unmixed);
* ``sleef_expm1``: ``torch.expm1`` on a 64-element-aligned tensor (vector body = Sleef);
* ``sleef_tanh``: ``Sleef_tanhf16_u10`` in libtorch_cpu;
* ``aten_gelu``: ``F.gelu`` with oneDNN disabled (vector body, ATen's erf);
* ``glibc_expf``, ``glibc_expm1f``, ``glibc_tanhf``: the host libm (what ATen's scalar
  tails call; no float torch op exposes them unmixed: ``torch.expm1`` runs Sleef on every
  element, tails included);
* ``sigmoid_vector``: ``torch.sigmoid`` on a 32-aligned tensor; ``sigmoid_scalar``: on
  one-element tensors;
* ``mkl_tanh``: ``torch.tanh``, with the MKL flip and hard-case inputs among the samples.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "numerics"))
import native_oracles as oracles  # noqa: E402

N_RANDOM = 256


def neighbours(values) -> np.ndarray:
    v = np.float32(values)
    down, up = np.nextafter(v, np.float32(-np.inf)), np.nextafter(v, np.float32(np.inf))
    return np.concatenate([down, v, up])


def inputs(rng, lo: float, hi: float, thresholds) -> np.ndarray:
    specials = np.float32([0.0, -0.0, np.inf, -np.inf, 1.0, -1.0, 1e-45, -1e-45, 1.1754944e-38])
    nans = np.uint32([0x7FC00000, 0xFFC00000, 0x7F812345, 0xFFBFFFFF]).view(np.float32)
    bits = rng.integers(0, 2**32, N_RANDOM, dtype=np.uint64).astype(np.uint32).view(np.float32)
    inside = rng.uniform(lo, hi, N_RANDOM).astype(np.float32)
    return np.concatenate([specials, nans, neighbours(thresholds), bits, inside])


def torch_vector(fn, x: np.ndarray) -> np.ndarray:
    """Run fn on x padded to a multiple of 64 elements, so every element takes the vector body."""
    pad = (-x.size) % 64
    xp = np.concatenate([x, np.zeros(pad, np.float32)])
    return fn(torch.from_numpy(xp)).numpy()[: x.size]


def torch_scalar(fn, x: np.ndarray) -> np.ndarray:
    one_by_one = [fn(torch.from_numpy(x[i : i + 1])).numpy()[0] for i in range(x.size)]
    return np.array(one_by_one, np.float32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "tests/numerics/data/torch_reference.npz")
    args = ap.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(2026)
    from qemu.numerics import mkl

    flip, hard_x, _ = mkl._table()
    mkl_specials = np.concatenate(
        [rng.choice(flip, 128, replace=False), rng.choice(hard_x, 128, replace=False)]
    ).view(np.float32)
    mkl_specials = np.concatenate([mkl_specials, -mkl_specials])

    def gelu(t):
        with torch.backends.mkldnn.flags(enabled=False):
            return torch.nn.functional.gelu(t)

    exp_thr = [-104.0, 100.0, 88.72283, -103.972, -103.279, 88.0, -88.0, 0.5, -0.5]
    table = {
        "sleef_exp": (inputs(rng, -104, 89, exp_thr), oracles.sleef("Sleef_expf16_u10")),
        "sleef_expm1": (
            inputs(rng, -17, 89, [88.72283172607421875, -16.635532333438687, 0.0]),
            lambda x: torch_vector(torch.expm1, x),
        ),
        "sleef_tanh": (
            inputs(rng, -9, 9, [8.664339742, -8.664339742, 1e-4]),
            oracles.sleef("Sleef_tanhf16_u10"),
        ),
        "aten_gelu": (inputs(rng, -6, 6, [0.0, 3.0, -3.0, 10.0]), lambda x: torch_vector(gelu, x)),
        "glibc_expf": (
            inputs(rng, -104, 89, exp_thr + [-103.97208, -103.27893, 88.72284]),
            oracles.libm("expf"),
        ),
        "glibc_expm1f": (
            inputs(
                rng,
                -20,
                89,
                [18.714973, 0.34657359, 1.0397208, 2.9802322e-08, 88.7216796875, 88.72283, -0.25],
            ),
            oracles.libm("expm1f"),
        ),
        "glibc_tanhf": (
            inputs(rng, -10, 10, [22.0, 1.0, 2.7755576e-17, -22.0]),
            oracles.libm("tanhf"),
        ),
        "sigmoid_vector": (
            inputs(rng, -20, 20, [0.0, 104.0, -100.0]),
            lambda x: torch_vector(torch.sigmoid, x),
        ),
        "sigmoid_scalar": (
            inputs(rng, -20, 20, [0.0, 104.0, -100.0]),
            lambda x: torch_scalar(torch.sigmoid, x),
        ),
        "mkl_tanh": (
            np.concatenate([inputs(rng, -9, 9, [9.0, 1e-4, 22.0]), mkl_specials]),
            lambda x: torch.tanh(torch.from_numpy(x)).numpy(),
        ),
    }
    arrays = {}
    with np.errstate(all="ignore"):
        for name, (x, fn) in table.items():
            arrays[f"{name}_x"] = x.view(np.uint32)
            arrays[f"{name}_y"] = np.asarray(fn(x), np.float32).view(np.uint32)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **arrays)
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
