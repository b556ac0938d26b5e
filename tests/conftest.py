"""Shared test settings.

Hypothesis runs derandomized, so every CI run draws the same cases. ``QEMU_SOAK=N``
raises every differential test to N cases for long soak runs (``QEMU_SOAK_SEED``
shifts the seed of NumPy-drawn cases so repeated soaks explore new ones); tests read
both through :func:`qemu.testing.cases` and :func:`qemu.testing.seeded_rng`.
Tests that need torch import it with ``pytest.importorskip("torch")`` and skip
cleanly where it is absent.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "qemu",
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("qemu")


@pytest.fixture(params=["numpy", "numba"])
def emulator_backend(request) -> str:
    """The backends that must equal torch (and each other) everywhere."""
    return request.param
