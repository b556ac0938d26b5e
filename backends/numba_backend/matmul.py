"""Numba backend of :mod:`qemu.ops.matmul`.

The float products are sequences of whole-array float32 operations over ``k`` (MKL's
orders, :mod:`qemu.numerics.sgemm`); the numba backend shares the NumPy reference.
"""

from __future__ import annotations

from qemu.dispatch import register
from qemu.ops.matmul import matmul_reference

register("matmul", "numba")(matmul_reference)
