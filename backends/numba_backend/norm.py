"""Numba backend of :mod:`qemu.ops.norm`.

The NumPy reference of the norms is already vectorized over rows and elements (the
moments are exact integer sums; the per-element formula is one FMA and a quantize),
and the order-sensitive float sums of the channels-last group norm are sequential
``np.add.accumulate`` calls; the numba backend shares it.
"""

from __future__ import annotations

from qemu.dispatch import register
from qemu.ops import norm as ref

register("layer_norm", "numba")(ref.layer_norm_reference)
register("group_norm", "numba")(ref.group_norm_reference)
register("batch_norm", "numba")(ref.batch_norm_reference)
