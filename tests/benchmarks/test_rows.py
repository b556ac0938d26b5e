"""Every benchmark row computes what torch computes: each row's tiny twin is checked bit
for bit on every emulating backend (no timing here; speed is for ``python -m
benchmarks``)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.torch


def test_every_row_is_bitexact_at_tiny_size(monkeypatch):
    pytest.importorskip("torch")
    monkeypatch.syspath_prepend(str(Path(__file__).parents[2]))  # the repository root
    import benchmarks
    from benchmarks.__main__ import load_rows

    load_rows()
    assert benchmarks.ROWS, "no benchmark rows registered"
    failures = {}
    for name, entry in benchmarks.ROWS.items():
        _, _, differences = benchmarks.check_row(entry.tiny, ["numpy", "numba"])
        if differences:
            failures[name] = differences
    assert not failures, failures
