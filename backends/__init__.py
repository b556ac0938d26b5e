"""Executors other than the NumPy reference: ``numba`` (fast kernels held bit-equal to
the reference) and ``torch`` (the real ATen / FBGEMM / QNNPACK kernels).

Installed as ``qemu.backends``. Nothing here imports numba or torch until a backend
is loaded.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util

from qemu.dispatch import BackendUnavailable

_PACKAGES = {"numba": "numba", "torch": "torch"}
_TORCH_VERSION = "2.13.0"


@functools.cache  # what is installed does not change while we run
def unavailable_reason(name: str) -> str | None:
    """Why backend ``name`` cannot run here, or ``None`` if it can.

    Examples
    --------
    >>> unavailable_reason("numpy") is None
    True
    """
    if name == "numpy":
        return None
    if name not in _PACKAGES:
        raise ValueError(
            f"backend: unknown backend {name!r}; valid backends are 'numpy', 'numba', 'torch'"
        )
    if importlib.util.find_spec(_PACKAGES[name]) is None:
        extra = " (pip install 'qemu-quant[torch]')" if name == "torch" else ""
        return (
            f"the {name} backend needs the {_PACKAGES[name]} package, which is not installed{extra}"
        )
    if name == "torch":
        from importlib.metadata import version

        found = version("torch").split("+")[0]
        if found != _TORCH_VERSION:
            return f"the torch backend emulates torch {_TORCH_VERSION}; torch {found} is installed"
    return None


def available() -> list[str]:
    """The backends that can run here.

    Examples
    --------
    >>> "numpy" in available()
    True
    """
    return [name for name in ("numpy", "numba", "torch") if unavailable_reason(name) is None]


def load(name: str) -> None:
    """Import backend ``name`` so that its kernels register themselves."""
    reason = unavailable_reason(name)
    if reason is not None:
        raise BackendUnavailable(reason)
    importlib.import_module(f"qemu.backends.{name}_backend")
