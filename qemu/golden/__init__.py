"""Golden vectors: cases (op, engine, arguments) with the outputs torch computed, in a
language-neutral format (``docs/golden-format.md``), and the tools that make and
check them."""

from qemu.golden.format import Case, GoldenSet, read, write

__all__ = ["Case", "GoldenSet", "read", "write"]
