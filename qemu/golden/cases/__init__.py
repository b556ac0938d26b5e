"""Case generators for golden vectors: for each public op in :mod:`qemu.ops`, a
deterministic set of cases, edge cases first (ties at .5, NaN and infinities, extreme
scales, zero points at the ends of the range, empty and 1-element tensors, int16
pair saturation for fbgemm-avx2 / -avx512), then random ones, all small.

A generator is ``fn(rng, engine) -> iterable of (args, kwargs[, threads])`` for the
op's public entry; one module per op family registers them with
:func:`~qemu.golden.cases.registry.generator`.
"""

from qemu.golden.cases import (  # noqa: F401  (each module registers its generators)
    activation,
    dynamic,
    elementwise,
    embedding,
    linear,
    norm_pool,
    quantize,
)
from qemu.golden.cases.registry import GENERATORS, CaseArguments, generator

__all__ = ["GENERATORS", "CaseArguments", "generator"]
