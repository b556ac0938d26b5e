"""The distribution ships every package, and nothing shadows a dependency."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib")
def test_every_package_directory_is_listed_in_pyproject():
    import tomllib

    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = set()
    for top, name in (("qemu", "qemu"), ("backends", "qemu.backends")):
        for init in (ROOT / top).rglob("__init__.py"):
            parts = init.parent.relative_to(ROOT / top).parts
            found.add(".".join((name, *parts)))
    assert found == listed


def test_no_module_shadows_a_dependency():
    # ARCHITECTURE.md: a module named like a dependency's top-level package would be
    # imported in its place by a script run from that folder.
    dependencies = {"numba", "numpy", "torch", "hypothesis", "pytest"}
    shadowing = [
        str(path.relative_to(ROOT))
        for top in ("qemu", "backends", "benchmarks", "tests")
        for path in (ROOT / top).rglob("*")
        if path.stem in dependencies and (path.suffix == ".py" or path.is_dir())
    ]
    assert shadowing == []
