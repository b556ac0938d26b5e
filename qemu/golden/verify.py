"""``qemu golden verify``: rerun every golden case on a qemu backend and compare."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import qemu
from qemu import ops
from qemu.golden.format import FileProblem, read
from qemu.testing import compare_results


@dataclass
class Row:
    """The verdict for one (op, engine): cases run, passed, mismatching elements."""

    op: str
    engine: str
    cases: int = 0
    passed: int = 0
    mismatches: int = 0
    max_difference: float = 0.0
    failures: list[str] = field(default_factory=list)


@dataclass
class Report:
    directory: str
    backend: str
    generator: dict
    rows: list[Row]
    problems: list[FileProblem]

    @property
    def ok(self) -> bool:
        return not self.problems and all(r.passed == r.cases for r in self.rows)


def verify(directory: Path, backend: str = "numpy") -> Report:
    """Run the golden cases in ``directory`` on ``backend`` and compare bit for bit."""
    golden, problems = read(directory)
    rows: dict[tuple[str, str], Row] = {}
    for case in golden.cases:
        row = rows.setdefault((case.op, case.engine), Row(case.op, case.engine))
        row.cases += 1
        try:
            entry = getattr(ops, case.op)
            with qemu.use(threads=case.threads):
                actual = entry(*case.args, **case.kwargs, engine=case.engine, backend=backend)
        except Exception as error:  # a case that cannot run is a failed case, reported
            row.failures.append(f"{case.id}: {type(error).__name__}: {error}")
            continue
        result = compare_results(actual, case.expected)
        if result.equal:
            row.passed += 1
        else:
            row.mismatches += result.mismatches
            row.max_difference = max(row.max_difference, result.max_difference)
            row.failures.append(f"{case.id} ({case.file}): {result.describe('output')}")
    ordered = sorted(rows.values(), key=lambda r: (r.op, r.engine))
    return Report(str(directory), backend, golden.generator, ordered, problems)
