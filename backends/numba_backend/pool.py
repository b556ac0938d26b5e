"""Numba backend of :mod:`qemu.ops.pool`.

The pooling references are exact integer window sums (cumulative sums) and one
vectorized requantization per output, already array code; the numba backend shares
them.
"""

from __future__ import annotations

from qemu.dispatch import register
from qemu.ops import pool as ref

register("avg_pool", "numba")(ref.avg_pool_reference)
register("adaptive_avg_pool", "numba")(ref.adaptive_avg_pool_reference)
register("max_pool", "numba")(ref.max_pool_reference)
