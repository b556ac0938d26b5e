"""Engines: the arithmetic being reproduced.

An engine names one exact arithmetic, the same on every host: what torch 2.13
computes with ``torch.backends.quantized.engine`` set to ``fbgemm`` or ``qnnpack`` on
a given kind of x86 CPU. fbgemm's results depend on the instruction set it picks at
run time (``fbgemm/src/Utils.cc: fbgemmInstructionSet``), so each kind of host with
different numerics is its own engine; a variant exists only where measured numerics
differ (see ``docs/numerics/engines.md``).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Engine:
    """One exact arithmetic.

    Attributes
    ----------
    name:
        qemu's name, e.g. ``"fbgemm-avx2"``.
    torch_engine:
        the ``torch.backends.quantized.engine`` value torch runs it under.
    fbgemm_isa:
        fbgemm's ``inst_set_t`` on that host (``avx512_vnni``, ``avx512``, ``avx2``);
        ``None`` for qnnpack.
    aten_capability:
        the ATen CPU capability of that host (``avx512`` or ``avx2``), which picks the
        build of ATen's own vectorized kernels.
    reproduce_env:
        environment variables that make torch on a more capable x86 host compute this
        engine's numerics (used by the torch backend's subprocess).

    Examples
    --------
    >>> get("fbgemm-avx2").saturating_int8_gemm
    True
    """

    name: str
    torch_engine: str
    fbgemm_isa: str | None
    aten_capability: str
    description: str
    reproduce_env: dict[str, str] = field(default_factory=dict)

    @property
    def saturating_int8_gemm(self) -> bool:
        """fbgemm's u8 x s8 GEMM sums products in int16 pairs with saturation
        (``vpmaddubsw``) on AVX2 and AVX512; only VNNI (``vpdpbusd``) is exact."""
        return self.fbgemm_isa in ("avx2", "avx512")

    @property
    def fp16_gemm_isa(self) -> str | None:
        """The kernel family of fbgemm's fp16-weight GEMM (``src/FbgemmFP16.cc:
        getIsaHandlers``): ``"avx512"`` on AVX512 hosts with or without VNNI,
        ``"avx2"`` on AVX2 hosts; ``None`` for qnnpack, which has no fp16 GEMM."""
        if self.fbgemm_isa is None:
            return None
        return "avx2" if self.fbgemm_isa == "avx2" else "avx512"

    @property
    def is_fbgemm(self) -> bool:
        return self.torch_engine == "fbgemm"

    @property
    def is_qnnpack(self) -> bool:
        return self.torch_engine == "qnnpack"

    def __str__(self) -> str:
        return self.name


FBGEMM = Engine(
    "fbgemm",
    "fbgemm",
    "avx512_vnni",
    "avx512",
    "torch's fbgemm engine on an AVX512-VNNI host (e.g. Cascade Lake and later, Zen 4)",
)
FBGEMM_AVX512 = Engine(
    "fbgemm-avx512",
    "fbgemm",
    "avx512",
    "avx512",
    "torch's fbgemm engine on an AVX512 host without VNNI (e.g. Skylake-SP)",
    {"FBGEMM_ENABLE_INSTRUCTIONS": "AVX512", "ATEN_CPU_CAPABILITY": "avx512"},
)
FBGEMM_AVX2 = Engine(
    "fbgemm-avx2",
    "fbgemm",
    "avx2",
    "avx2",
    "torch's fbgemm engine on an AVX2-only host (e.g. Haswell, Zen 2)",
    {
        "FBGEMM_ENABLE_INSTRUCTIONS": "AVX2",
        "ATEN_CPU_CAPABILITY": "avx2",
        "MKL_ENABLE_INSTRUCTIONS": "AVX2",
    },
)
QNNPACK = Engine(
    "qnnpack",
    "qnnpack",
    None,
    "avx512",
    "torch's qnnpack engine on an x86-64 host",
)

ENGINES: dict[str, Engine] = {e.name: e for e in (FBGEMM, FBGEMM_AVX512, FBGEMM_AVX2, QNNPACK)}

_FBGEMM_ISA_ENGINES = {"avx512_vnni": FBGEMM, "avx512": FBGEMM_AVX512, "avx2": FBGEMM_AVX2}
# FBGEMM_ENABLE_INSTRUCTIONS values (fbgemm/src/Utils.cc: fbgemmEnvGetIsa) and the
# inst_set_t they name; the *_256 (ymm) variants are only picked on Xeon D hosts.
_FBGEMM_ENV_ISA = {"AVX2": "avx2", "AVX512": "avx512", "AVX512_E1": "avx512_vnni"}
_ISA_RANK = {"avx2": 0, "avx512": 1, "avx512_vnni": 2}


def names() -> list[str]:
    """All engine names.

    Examples
    --------
    >>> names()
    ['fbgemm', 'fbgemm-avx512', 'fbgemm-avx2', 'qnnpack']
    """
    return list(ENGINES)


def get(name: object, *, argument: str = "engine") -> Engine:
    """The engine called ``name`` (an :class:`Engine` passes through).

    Examples
    --------
    >>> get("qnnpack").torch_engine
    'qnnpack'
    """
    if isinstance(name, Engine):
        return name
    if not isinstance(name, str):
        raise TypeError(f"{argument}: expected an engine name, got {type(name).__name__} {name!r}")
    engine = ENGINES.get(name)
    if engine is None:
        raise ValueError(
            f"{argument}: unknown engine {name!r}; valid engines are "
            + ", ".join(repr(n) for n in ENGINES)
        )
    return engine


@functools.lru_cache(maxsize=1)
def _cpu_flags() -> frozenset[str]:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def hardware_fbgemm_isa(flags: AbstractSet[str] | None = None) -> str | None:
    """The instruction set fbgemm detects on this CPU, before any env override."""
    flags = _cpu_flags() if flags is None else flags
    if {"avx512f", "avx512bw", "avx512dq", "avx512vl"} <= flags:
        return "avx512_vnni" if "avx512_vnni" in flags else "avx512"
    if {"avx2", "fma"} <= flags:
        return "avx2"
    return None


def host(
    environ: dict[str, str] | None = None, flags: AbstractSet[str] | None = None
) -> str | None:
    """The fbgemm engine variant that torch runs on this host, or ``None`` where fbgemm
    does not run (no AVX2, or not x86).

    ``FBGEMM_ENABLE_INSTRUCTIONS`` is honoured the way fbgemm honours it: it can only
    select an instruction set the hardware supports.

    Examples
    --------
    >>> host(environ={}, flags={"avx2", "fma"})
    'fbgemm-avx2'
    """
    environ = os.environ if environ is None else environ
    detected = hardware_fbgemm_isa(flags)
    if detected is None:
        return None
    forced = _FBGEMM_ENV_ISA.get(environ.get("FBGEMM_ENABLE_INSTRUCTIONS", ""))
    isa = forced if forced is not None and _ISA_RANK[forced] <= _ISA_RANK[detected] else detected
    return _FBGEMM_ISA_ENGINES[isa].name


def reproducible_here(engine: Engine, flags: AbstractSet[str] | None = None) -> str | None:
    """Why torch cannot compute ``engine`` on this host, or ``None`` if it can (natively
    or in a subprocess with ``engine.reproduce_env``)."""
    if engine.is_qnnpack:
        return None
    detected = hardware_fbgemm_isa(flags)
    if detected is None:
        return "this CPU lacks AVX2+FMA, so torch's fbgemm engine does not run here"
    if _ISA_RANK[engine.fbgemm_isa] > _ISA_RANK[detected]:
        return (
            f"{engine.name} needs {engine.fbgemm_isa} but this CPU supports only {detected}; "
            "FBGEMM_ENABLE_INSTRUCTIONS cannot select a more capable instruction set"
        )
    return None
