"""Build qemu/numerics/data/mkl_tanh.npz, the exception table of :mod:`qemu.numerics.mkl`.

Usage (about 8 minutes, one core; needs torch==2.13.0 and mpmath)::

    .venv/bin/python tools/make_mkl_tanh_table.py [--out qemu/numerics/data/mkl_tanh.npz]

``torch.tanh`` on float32 calls MKL ``vmsTanh`` (HA). Its result is the correctly rounded
tanh except near rounding midpoints, where MKL's internal error makes it round the other way.
The script

1. runs ``torch.tanh`` on every positive finite float32 and compares it with
   ``f32(np.tanh(float64(x)))``; it checks that every difference is "the float on the other
   side of the exact value" (so the table need not store the output) -- the ``flip`` set;
2. finds, with mpmath at 200 bits, every positive input whose exact tanh lies within
   ``HARD_ULPS`` of a float32 midpoint -- the ``hard`` set, stored with torch's output, so the
   runtime model never depends on how accurate the host's double ``tanh`` is near midpoints;
3. checks the negative half, NaN and infinities follow from odd symmetry / NaN quieting, so
   only positive inputs are tabulated.

Arrays are stored as sorted gaps (``np.diff``) of the uint32 bit patterns, which compress
well; the file is read with ``allow_pickle=False``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import mpmath
import numpy as np
import torch

HARD_ULPS = 2.0**-16  # same constant as qemu.numerics.mkl
SLACK_ULPS = 2.0**-24  # bound on |np.tanh(f64) - tanh| in float32 ulps, with margin
STEP = 1 << 24
POS_FINITE_END = 0x7F800000


def midpoint_offset(t: np.ndarray) -> np.ndarray:
    """Signed position of t relative to the midpoint of its float32 bracket, in ulps."""
    f = t.astype(np.float32)
    lo = np.where(f.astype(np.float64) > t, np.nextafter(f, np.float32(0)), f)
    hi = np.nextafter(lo, np.float32(np.inf))
    lo64, hi64 = lo.astype(np.float64), hi.astype(np.float64)
    return (t - lo64) / (hi64 - lo64) - 0.5


def exact_midpoint_offset(bits: int) -> float:
    x = mpmath.mpf(float(np.uint32(bits).view(np.float32)))
    t = mpmath.tanh(x)
    f = np.float32(float(t))
    lo = f if mpmath.mpf(float(f)) <= t else np.nextafter(f, np.float32(0))
    hi = np.nextafter(lo, np.float32(np.inf))
    lo_, hi_ = mpmath.mpf(float(lo)), mpmath.mpf(float(hi))
    return float((t - lo_) / (hi_ - lo_) - 0.5)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("qemu/numerics/data/mkl_tanh.npz"))
    args = ap.parse_args()
    mpmath.mp.prec = 200
    torch.set_num_threads(1)
    t0 = time.time()
    flips, candidates = [], []
    asym = nan_bad = 0
    with np.errstate(all="ignore"):
        for start in range(0, 1 << 31, STEP):
            b = np.arange(start, start + STEP, dtype=np.uint32)
            x = b.view(np.float32)
            y = torch.tanh(torch.from_numpy(x)).numpy()
            yneg = torch.tanh(torch.from_numpy(-x)).numpy()
            asym += int(np.sum(yneg.view(np.uint32) != (y.view(np.uint32) ^ np.uint32(0x80000000))))
            nan = np.isnan(x)
            nan_bad += int(np.sum(y[nan].view(np.uint32) != (b[nan] | np.uint32(0x400000))))
            fin = b < POS_FINITE_END
            t = np.tanh(x.astype(np.float64))
            cr = t.astype(np.float32)
            off = midpoint_offset(t)
            candidates.append(b[fin & (np.abs(off) < HARD_ULPS + SLACK_ULPS)])
            d = fin & (y.view(np.uint32) != cr.view(np.uint32))
            other = np.where(
                t[d] > cr[d].astype(np.float64),
                np.nextafter(cr[d], np.float32(np.inf)),
                np.nextafter(cr[d], np.float32(-np.inf)),
            )
            if not np.array_equal(other.view(np.uint32), y[d].view(np.uint32)):
                raise SystemExit("a difference is not a midpoint flip: the table cannot hold it")
            flips.append(b[d])
    print(
        f"scan: {time.time() - t0:.0f} s; odd-symmetry violations {asym}; NaN not quieted {nan_bad}"
    )
    if asym or nan_bad:
        raise SystemExit("torch.tanh is not odd / NaN-quieting: the table format cannot hold it")
    flip = np.concatenate(flips)
    cand = np.concatenate(candidates)
    hard = np.array(
        [c for c in cand.tolist() if abs(exact_midpoint_offset(c)) < HARD_ULPS], dtype=np.uint32
    )
    hard_y = torch.tanh(torch.from_numpy(hard.view(np.float32))).numpy().view(np.uint32)
    n_diff = flip.size
    flip = np.setdiff1d(flip, hard)
    print(
        f"differences from correctly rounded: {n_diff} positive inputs; "
        f"hard cases {hard.size}; flip set {flip.size}"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out,
        flip_gaps=np.diff(flip, prepend=np.uint32(0)).astype(np.uint32),
        hard_gaps=np.diff(hard, prepend=np.uint32(0)).astype(np.uint32),
        hard_y=hard_y,
        hard_ulps=np.float64(HARD_ULPS),
    )
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes) in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
