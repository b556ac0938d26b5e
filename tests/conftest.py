"""Shared test settings.

Hypothesis runs derandomized, so every CI run draws the same cases. ``QEMU_SOAK=N``
raises every differential test to N cases for long soak runs (``QEMU_SOAK_SEED``
shifts the seed of the NumPy-drawn batches so repeated soaks explore new cases).
Tests that need torch import it with ``pytest.importorskip("torch")`` and skip
cleanly where it is absent.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

SOAK = int(os.environ.get("QEMU_SOAK", "0"))
SOAK_SEED = int(os.environ.get("QEMU_SOAK_SEED", "0"))

settings.register_profile(
    "qemu",
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("qemu")


def cases(default: int) -> int:
    """How many cases a differential test runs: ``default``, or ``QEMU_SOAK`` if set."""
    return SOAK if SOAK else default


def rng(*key: object) -> np.random.Generator:
    """A NumPy generator seeded from the test's own key (and ``QEMU_SOAK_SEED``)."""
    text = "/".join(str(k) for k in key) + f"/{SOAK_SEED}"
    return np.random.default_rng(int.from_bytes(text.encode(), "little") % (2**63))


@pytest.fixture(params=["numpy", "numba"])
def emulator_backend(request) -> str:
    """The backends that must equal torch (and each other) everywhere."""
    return request.param
