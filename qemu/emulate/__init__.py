"""Whole-model emulation: ``qemu.emulate(model)`` and ``qemu.diff_model(model, ...)``.

A converted eager-mode torch model (the output of ``convert``, ``quantize`` or
``quantize_dynamic``) keeps its own forward code; emulate() swaps each quantized module
for one that computes the same output through :mod:`qemu.ops` on a qemu engine and
backend. Needs torch (the model is a torch model); torch is imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qemu.emulate.registry import (
    EmulationError,
    emulate,
    handled_types,
)

if TYPE_CHECKING:
    from qemu.emulate.diff import ModelDiff


def diff_model(model: Any, *inputs: Any, engines: Any = None, backends: Any = None) -> ModelDiff:
    """Compare, module by module in execution order, torch's outputs with qemu's.

    See :func:`qemu.emulate.diff.diff_model`.
    """
    from qemu.emulate.diff import diff_model as run

    return run(model, *inputs, engines=engines, backends=backends)


__all__ = ["EmulationError", "diff_model", "emulate", "handled_types"]
