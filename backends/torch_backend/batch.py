"""Many cases of one op in a single torch-backend call.

``qemu.dispatch.call("batch", op, cases, engine=..., backend="torch")`` runs the torch
kernel of ``op`` on each tuple of validated arguments in ``cases`` and returns the
results in order -- an error as ``{"error": "<Type>: <message>"}`` -- with one worker
round trip for the whole batch instead of one per case, which is what differential
soaks and golden generation on a subprocess engine (``fbgemm-avx2``) need.
"""

from __future__ import annotations

from typing import Any

from qemu import dispatch
from qemu.dispatch import Context, register


@register("batch", "torch")
def _batch(ctx: Context, op: str, cases: list) -> list[Any]:
    kernel = dispatch.kernel(op, "torch")
    results: list[Any] = []
    for args in cases:
        try:
            results.append(kernel(ctx, *args))
        except Exception as error:  # reported per case; the caller decides
            results.append({"error": f"{type(error).__name__}: {error}"})
    return results
