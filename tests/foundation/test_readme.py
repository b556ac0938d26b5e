"""The README's tour runs as written (its Python blocks, in order, in one namespace)."""

import importlib.util
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_tour_runs():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README.md has no ```python blocks"
    if importlib.util.find_spec("torch") is None and any('backend="torch"' in b for b in blocks):
        pytest.skip("the tour calls the torch backend; torch is not installed")
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
