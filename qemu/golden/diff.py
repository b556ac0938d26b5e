"""``qemu diff``: run the same cases through several (engine, backend) pairs and show
where they part.

The first pair is the baseline; every other pair is compared with it case by case,
bit for bit. For each pair that differs, the smallest mismatching case (by input
size; for elementwise results, cut down to the first differing element where that
still differs) is written as a one-case golden directory whose expected output is
the baseline's, so ``qemu golden verify DIR --backend B`` reproduces it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import qemu
from qemu import engines, ops
from qemu.golden.cases import GENERATORS
from qemu.golden.format import Case, GoldenSet, write
from qemu.qtensor import QTensor
from qemu.testing import compare_results, result_arrays


@dataclass
class PairResult:
    """How one (engine, backend) pair compares with the baseline."""

    engine: str
    backend: str
    baseline_refused: int = 0
    cases: int = 0
    equal_cases: int = 0
    mismatching_elements: int = 0
    total_elements: int = 0
    max_difference: float = 0.0
    errors: list[str] = field(default_factory=list)
    differences: list[float] = field(default_factory=list)
    reproducer: tuple[list[Any], dict[str, Any], Any] | None = None
    reproducer_path: str | None = None

    @property
    def label(self) -> str:
        return f"{self.engine}/{self.backend}"


def _input_size(args: list[Any]) -> int:
    return sum(a.size for a in args if isinstance(a, (np.ndarray, QTensor)))


def draw_cases(
    op: str, engine: str, count: int, seed: int
) -> list[tuple[list[Any], dict[str, Any]]]:
    """``count`` cases of ``op``: its golden generator run with successive seeds."""
    if op not in GENERATORS:
        raise ValueError(f"op: no case generator for {op!r}; known: {', '.join(GENERATORS)}")
    drawn: list[tuple[list[Any], dict[str, Any]]] = []
    for round_index in itertools.count():
        rng = np.random.default_rng([seed, round_index])
        before = len(drawn)
        for item in GENERATORS[op](rng, engines.get(engine)):
            drawn.append((list(item[0]), dict(item[1])))
            if len(drawn) == count:
                return drawn
        if len(drawn) == before:
            raise ValueError(
                f"engines: the {op} generator has no cases for {engine} (the first engine "
                "is the baseline; put one that runs this op first)"
            )
    return drawn


def _run(op: str, args: list[Any], kwargs: dict[str, Any], engine: str, backend: str) -> Any:
    return getattr(ops, op)(*args, **kwargs, engine=engine, backend=backend)


def _element_differences(actual: Any, expected: Any) -> list[float]:
    """Per-element differences (LSBs / ULPs) between two results of the same structure."""
    found = []
    for (_, a), (_, e) in zip(result_arrays(actual), result_arrays(expected), strict=True):
        if a.shape != e.shape or a.dtype != e.dtype:
            continue
        if a.dtype.kind == "f":
            width = {2: np.int16, 4: np.int32, 8: np.int64}[a.dtype.itemsize]
            ordered = [
                np.where(v.view(width) < 0, -(v.view(width) & np.iinfo(width).max), v.view(width))
                for v in (a, e)
            ]
            found.extend(
                np.abs(ordered[0].astype(np.float64) - ordered[1])
                .reshape(-1)[(a != e).reshape(-1)]
                .tolist()
            )
        elif a.dtype.kind in "iu":
            found.extend(
                np.abs(a.astype(np.float64) - e).reshape(-1)[(a != e).reshape(-1)].tolist()
            )
    return found


def _shrink(
    op: str, args: list[Any], kwargs: dict[str, Any], pair: PairResult, baseline: tuple[str, str]
):
    """For an elementwise op on an array first argument, try the first differing element alone."""
    if not args or not isinstance(args[0], np.ndarray) or args[0].ndim == 0:
        return None
    try:
        expected = _run(op, args, kwargs, *baseline)
        actual = _run(op, args, kwargs, pair.engine, pair.backend)
        parts = [
            (a, e)
            for (_, a), (_, e) in zip(result_arrays(actual), result_arrays(expected), strict=True)
        ]
        values = [(a, e) for a, e in parts if a.shape == args[0].shape]
        if not values:
            return None
        a, e = values[-1]
        index = np.argwhere(a != e if a.dtype.kind != "f" else a.view(np.uint8) != e.view(np.uint8))
        if index.size == 0:
            return None
        element = args[0][tuple(index[0][: args[0].ndim])].reshape(1)
        small = [element, *args[1:]]
        small_expected = _run(op, small, kwargs, *baseline)
        if not compare_results(
            _run(op, small, kwargs, pair.engine, pair.backend), small_expected
        ).equal:
            return small, kwargs, small_expected
    except (TypeError, ValueError, IndexError):
        return None
    return None


def diff(
    op: str,
    pairs: list[tuple[str, str]],
    count: int = 100,
    seed: int = 0,
    reproducer_directory: Path | None = None,
) -> list[PairResult]:
    """Compare every pair in ``pairs`` with ``pairs[0]`` on ``count`` cases of ``op``."""
    if len(pairs) < 2:
        raise ValueError("pairs: need at least two (engine, backend) pairs to compare")
    for engine, _ in pairs:
        engines.get(engine)
    baseline = pairs[0]
    cases = []
    expected_outputs = []
    refused = 0
    for args, kwargs in draw_cases(op, baseline[0], count, seed):
        try:
            expected_outputs.append(_run(op, args, kwargs, *baseline))
        except (ValueError, TypeError, IndexError):  # the baseline engine refuses this case
            refused += 1
            continue
        cases.append((args, kwargs))
    results = []
    for engine, backend in pairs[1:]:
        pair = PairResult(engine, backend, baseline_refused=refused)
        smallest = None
        for (args, kwargs), expected in zip(cases, expected_outputs, strict=True):
            pair.cases += 1
            try:
                actual = _run(op, args, kwargs, engine, backend)
            except Exception as error:  # the pair cannot run this case: reported, not fatal
                pair.errors.append(f"{type(error).__name__}: {error}")
                continue
            result = compare_results(actual, expected)
            pair.total_elements += result.total
            if result.equal:
                pair.equal_cases += 1
                continue
            pair.mismatching_elements += result.mismatches
            pair.max_difference = max(pair.max_difference, result.max_difference)
            pair.differences.extend(_element_differences(actual, expected))
            if smallest is None or _input_size(args) < _input_size(smallest[0]):
                smallest = (args, kwargs, expected)
        if smallest is not None:
            pair.reproducer = _shrink(op, smallest[0], smallest[1], pair, baseline) or smallest
            if reproducer_directory is not None:
                pair.reproducer_path = str(
                    _write_reproducer(reproducer_directory, op, baseline, pair)
                )
        results.append(pair)
    return results


def _write_reproducer(
    directory: Path, op: str, baseline: tuple[str, str], pair: PairResult
) -> Path:
    args, kwargs, expected = pair.reproducer
    target = directory / f"{op}-{pair.engine}-{pair.backend}-vs-{baseline[0]}-{baseline[1]}"
    golden = GoldenSet(
        generator={
            "qemu": qemu.__version__,
            "source": f"{baseline[0]}/{baseline[1]} (qemu diff baseline)",
            "note": f"expected output is {baseline[0]} on {baseline[1]}; "
            f"run: qemu golden verify {target} --backend {pair.backend}",
            "skipped": {},
        },
        cases=[Case(f"{op}/{pair.engine}/repro", op, pair.engine, 1, args, kwargs, expected)],
    )
    write(target, golden)
    return target


def html_report(path: Path, op: str, baseline: tuple[str, str], results: list[PairResult]) -> None:
    """A self-contained HTML page with a histogram of the differences of each pair
    (needs matplotlib: ``pip install 'qemu-quant[plot]'``)."""
    import base64
    import io

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise ImportError("--report needs matplotlib (pip install 'qemu-quant[plot]')") from error
    sections = []
    for pair in results:
        figure, axis = plt.subplots(figsize=(6, 3))
        if pair.differences:
            axis.hist(pair.differences, bins=min(50, max(5, len(set(pair.differences)))))
            axis.set_yscale("log")
        axis.set_title(f"{op}: {pair.label} vs {baseline[0]}/{baseline[1]}")
        axis.set_xlabel("difference (LSB or ULP)")
        axis.set_ylabel("elements")
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", bbox_inches="tight")
        plt.close(figure)
        image = base64.b64encode(buffer.getvalue()).decode()
        sections.append(
            f"<h2>{pair.label}</h2><p>{pair.equal_cases}/{pair.cases} cases equal; "
            f"{pair.mismatching_elements} of {pair.total_elements} elements differ; "
            f"max difference {pair.max_difference:g}</p><img src='data:image/png;base64,{image}'>"
        )
    title = f"qemu diff: {op}, baseline {baseline[0]}/{baseline[1]}"
    path.write_text(
        f"<!doctype html><meta charset=utf-8><title>{title}</title><h1>{title}</h1>{''.join(sections)}\n"
    )
