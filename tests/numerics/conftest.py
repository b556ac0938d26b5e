"""Fixtures for the numerics tests."""

import numpy as np
import pytest


@pytest.fixture(scope="session")
def numba_map():
    """Wrap a scalar @njit function into an array loop (one compiled loop per function)."""
    from numba import njit

    cache = {}

    def make(f):
        if f not in cache:

            @njit
            def loop(x):
                out = np.empty_like(x)
                for i in range(x.size):
                    out[i] = f(x[i])
                return out

            cache[f] = loop
        return cache[f]

    return make
