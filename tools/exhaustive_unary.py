"""Check the float32 transcendental models on all 2^32 inputs against what torch runs.

Usage::

    .venv/bin/python tools/exhaustive_unary.py [CHECK ...] [--impl numpy|numba] [--workers 2]

With no CHECK, every check runs. Needs torch==2.13.0 (and glibc 2.36 on an FMA host for the
glibc checks). ``--impl numba`` takes about 40 minutes for everything on the (loaded) 2-core
dev host; ``--impl numpy`` is much slower because the models emulate every FMA (roughly two
hours of CPU per two cores for the float functions, four more for ``glibc_erf``). Results are
in ``docs/numerics/transcendental.md``.

Checks (model vs reference, bit patterns compared, NaN included):

=============  ==========================================  ====================================
check          model                                       reference
=============  ==========================================  ====================================
sleef_exp      sleef.expf_u10                              Sleef_expf16_u10 in libtorch_cpu
sleef_expm1    sleef.expm1f_u10                            Sleef_expm1f16_u10
sleef_tanh     sleef.tanhf_u10                             Sleef_tanhf16_u10
sleef_avx2     Sleef_{exp,expm1,tanh}f8_u10 (AVX2 build)   the f16 (AVX512) build
aten_erf       (x*0.5)*(1+aten_erf_vec(x*f32(1/sqrt2)))    F.gelu(x) with oneDNN disabled
glibc_expf     libm.expf                                   the host libm's expf (ifunc-resolved)
glibc_expm1f   libm.expm1f                                 the host libm's expm1f
glibc_tanhf    libm.tanhf                                  the host libm's tanhf
glibc_erf      libm.erf(float64(x) * M_SQRT1_2), float64    the host libm's double erf (qgelu tail)
mkl_tanh       mkl.vml_tanh                                torch.tanh
=============  ==========================================  ====================================
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BLOCK = 1 << 22
CHECKS = [
    "sleef_exp",
    "sleef_expm1",
    "sleef_tanh",
    "sleef_avx2",
    "aten_erf",
    "glibc_expf",
    "glibc_expm1f",
    "glibc_tanhf",
    "glibc_erf",
    "mkl_tanh",
]
_M_SQRT1_2 = 0.70710678118654752440
_SQRT1_2 = np.float32(0.7071067811865476)
_HALF = np.float32(0.5)
_ONE = np.float32(1.0)

_state: dict = {}


def _numba_map(f):
    from numba import njit

    @njit
    def loop(x):
        out = np.empty_like(x)
        for i in range(x.size):
            out[i] = f(x[i])
        return out

    return loop


def _setup(check: str, impl: str):
    """(model, reference) array functions for one check, built once per worker."""
    if check in _state:
        return _state[check]
    sys.path.insert(0, str(ROOT / "tests" / "numerics"))
    import native_oracles as oracles
    import torch

    torch.set_num_threads(1)
    if impl == "numba":
        from qemu.backends.numba_backend import transcendental as T

        m = {
            "sleef_exp": T.sleef_expf_u10,
            "sleef_expm1": T.sleef_expm1f_u10,
            "sleef_tanh": T.sleef_tanhf_u10,
            "aten_erf": T.aten_erf_vec,
            "glibc_expf": T.glibc_expf,
            "glibc_expm1f": T.glibc_expm1f,
            "glibc_tanhf": T.glibc_tanhf,
            "glibc_erf": T.glibc_erf,
            "mkl_tanh": T.mkl_vml_tanh,
        }
        model = {k: _numba_map(f) for k, f in m.items() if k == check}
    else:
        from qemu.numerics import libm, mkl, sleef

        model = {
            "sleef_exp": sleef.expf_u10,
            "sleef_expm1": sleef.expm1f_u10,
            "sleef_tanh": sleef.tanhf_u10,
            "aten_erf": sleef.aten_erf_vec,
            "glibc_expf": libm.expf,
            "glibc_expm1f": libm.expm1f,
            "glibc_tanhf": libm.tanhf,
            "glibc_erf": libm.erf,
            "mkl_tanh": mkl.vml_tanh,
        }
    if check.startswith("sleef_") and check != "sleef_avx2":
        name = check.split("_")[1]
        pair = (model[check], oracles.sleef(f"Sleef_{name}f16_u10"))
    elif check == "sleef_avx2":
        f8 = [oracles.sleef(f"Sleef_{n}f8_u10") for n in ("exp", "expm1", "tanh")]
        f16 = [oracles.sleef(f"Sleef_{n}f16_u10") for n in ("exp", "expm1", "tanh")]
        pair = (
            lambda x: np.concatenate([f(x) for f in f8]),
            lambda x: np.concatenate([f(x) for f in f16]),
        )
    elif check == "aten_erf":
        erf = model[check]

        def gelu_model(x):
            with np.errstate(all="ignore"):
                return (x * _HALF) * (_ONE + erf(x * _SQRT1_2))

        def gelu_torch(x):
            with torch.backends.mkldnn.flags(enabled=False):
                return torch.nn.functional.gelu(torch.from_numpy(x)).numpy()

        pair = (gelu_model, gelu_torch)
    elif check == "glibc_erf":
        erf, host_erf = model[check], oracles.libm("erf", double=True)
        pair = (
            lambda x: erf(x.astype(np.float64) * _M_SQRT1_2),
            lambda x: host_erf(x.astype(np.float64) * _M_SQRT1_2),
        )
    elif check.startswith("glibc_"):
        pair = (model[check], oracles.libm(check.split("_")[1]))
    else:
        pair = (model[check], lambda x: torch.tanh(torch.from_numpy(x)).numpy())
    _state[check] = pair
    return pair


def _run_block(args):
    check, impl, start = args
    model, reference = _setup(check, impl)
    x = np.arange(start, start + BLOCK, dtype=np.uint64).astype(np.uint32).view(np.float32)
    with np.errstate(all="ignore"):
        a, b = model(x), reference(x)
    a, b = (v.view(f"u{v.itemsize}") for v in (a, b))  # float64 for glibc_erf
    bad = np.flatnonzero(a != b)
    examples = [(int(x[i % x.size].view(np.uint32)), int(a[i]), int(b[i])) for i in bad[:5]]
    return check, bad.size, examples


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("checks", nargs="*", metavar="CHECK", help=" ".join(CHECKS))
    ap.add_argument("--impl", choices=["numpy", "numba"], default="numpy")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    checks = args.checks or CHECKS
    unknown = set(checks) - set(CHECKS)
    if unknown:
        ap.error(f"unknown checks {sorted(unknown)}; choose from {CHECKS}")
    ctx = mp.get_context("spawn")  # torch + OpenMP do not survive fork reliably
    with ctx.Pool(args.workers) as pool:
        for check in checks:
            t0 = time.time()
            total, examples = 0, []
            jobs = [(check, args.impl, s) for s in range(0, 1 << 32, BLOCK)]
            for _, n, ex in pool.imap_unordered(_run_block, jobs):
                total += n
                examples += ex
            inputs = (1 << 32) * (3 if check == "sleef_avx2" else 1)
            print(
                f"{check:13s} impl={args.impl:5s} inputs={inputs} mismatches={total} "
                f"time={time.time() - t0:.0f}s",
                flush=True,
            )
            for bits, got, want in examples[:5]:
                print(f"    x=0x{bits:08x} model=0x{got:08x} reference=0x{want:08x}", flush=True)


if __name__ == "__main__":
    main()
