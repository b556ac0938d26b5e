"""The ``qemu`` command."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from qemu import backends, config, engines


def default_golden_directory() -> Path:
    """The shipped golden vectors: ``./golden`` when run from a checkout, else the
    ``golden/`` beside an editable install's sources."""
    for candidate in (Path.cwd() / "golden", Path(__file__).resolve().parents[1] / "golden"):
        if (candidate / "manifest.json").is_file():
            return candidate
    raise SystemExit(
        "qemu: no golden/ directory found here; pass DIR (the folder holding manifest.json)"
    )


def _print_report(report, verbose: bool) -> None:
    header = (
        f"{'op':<28} {'engine':<14} {'cases':>6} {'passed':>6} {'mismatching':>11} {'max diff':>9}"
    )
    print(header)
    print("-" * len(header))
    for row in report.rows:
        print(
            f"{row.op:<28} {row.engine:<14} {row.cases:>6} {row.passed:>6} {row.mismatches:>11} {row.max_difference:>9g}"
        )
    for row in report.rows:
        for failure in row.failures[: None if verbose else 5]:
            print(f"FAIL {failure}")
        if not verbose and len(row.failures) > 5:
            print(
                f"FAIL ... and {len(row.failures) - 5} more failures of {row.op}/{row.engine} (use --verbose)"
            )
    for problem in report.problems:
        print(
            f"FAIL {problem.file}: {problem.reason}; {len(problem.case_ids)} cases not run: {', '.join(problem.case_ids[:5])}{' ...' if len(problem.case_ids) > 5 else ''}"
        )
    cases = sum(r.cases for r in report.rows) + sum(len(p.case_ids) for p in report.problems)
    passed = sum(r.passed for r in report.rows)
    ops = {r.op for r in report.rows}
    used_engines = {r.engine for r in report.rows}
    verdict = "all passed" if report.ok else "FAILED"
    print(
        f"{report.directory}: {cases} cases, {len(ops)} ops, {len(used_engines)} engines, "
        f"backend {report.backend}: {passed} passed, {verdict}"
    )


def _golden_verify(args: argparse.Namespace) -> int:
    from qemu.golden.verify import verify

    directory = Path(args.dir) if args.dir else default_golden_directory()
    try:
        report = verify(directory, backend=args.backend)
    except (FileNotFoundError, ValueError) as error:
        print(f"qemu golden verify: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"ok": report.ok, **asdict(report)}, indent=1, default=str))
    else:
        _print_report(report, args.verbose)
    return 0 if report.ok else 1


def _golden_generate(args: argparse.Namespace) -> int:
    from qemu.golden.format import write
    from qemu.golden.generate import generate

    try:
        golden = generate(
            op_names=args.ops,
            engine_names=args.engines,
            source=args.source,
            seed=args.seed,
            progress=not args.quiet,
        )
    except ValueError as error:
        print(f"qemu golden generate: {error}", file=sys.stderr)
        return 2
    out = Path(args.out)
    write(out, golden)
    for name, why in golden.generator["skipped"].items():
        print(f"skipped engine {name}: {why}", file=sys.stderr)
    for op, why in golden.generator["no_kernel"].items():
        print(f"no cases for {op}: {why}", file=sys.stderr)
    for kind in ("unavailable", "refused"):
        left_out = golden.generator[kind]
        if left_out:
            count = sum(int(record["cases"]) for record in left_out.values())
            print(
                f"{count} cases {kind} ({', '.join(sorted(left_out))}); see manifest generator.{kind}",
                file=sys.stderr,
            )
    print(f"wrote {len(golden.cases)} cases to {out} (source {golden.generator['source']})")
    return 0


def _diff(args: argparse.Namespace) -> int:
    from qemu.golden.diff import diff, html_report

    pairs = [(e, b) for e in args.engines.split(",") for b in args.backends.split(",")]
    try:
        results = diff(
            args.op, pairs, count=args.cases, seed=args.seed, reproducer_directory=Path(args.out)
        )
    except ValueError as error:
        print(f"qemu diff: {error}", file=sys.stderr)
        return 2
    baseline = f"{pairs[0][0]}/{pairs[0][1]}"
    refused = results[0].baseline_refused if results else 0
    refusals = f" ({refused} refused by the baseline, left out)" if refused else ""
    print(f"{args.op}: {args.cases} cases{refusals}, each pair against {baseline}")
    header = (
        f"{'engine/backend':<28} {'equal cases':>11} {'mismatching elements':>22} {'max diff':>9}"
    )
    print(header)
    print("-" * len(header))
    for pair in results:
        share = f"{pair.mismatching_elements}/{pair.total_elements}"
        print(
            f"{pair.label:<28} {pair.equal_cases:>5}/{pair.cases:<5} {share:>22} {pair.max_difference:>9g}"
        )
        if pair.errors:
            print(f"  {len(pair.errors)} cases could not run, e.g. {pair.errors[0]}")
        if pair.reproducer_path:
            print(
                f"  smallest reproducer: {pair.reproducer_path}  (qemu golden verify {pair.reproducer_path} --backend {pair.backend})"
            )
    if args.report:
        try:
            html_report(Path(args.report), args.op, pairs[0], results)
        except ImportError as error:
            print(f"qemu diff: {error}", file=sys.stderr)
            return 2
        print(f"report: {args.report}")
    agree = all(p.equal_cases == p.cases and not p.errors for p in results)
    print("all pairs agree" if agree else "pairs differ")
    return 0 if agree else 1


def _engines(args: argparse.Namespace) -> int:
    host = engines.host()
    for engine in engines.ENGINES.values():
        mark = " (this host's torch)" if engine.name == host else ""
        print(f"{engine.name:<15} {engine.description}{mark}")
    return 0


def _backends(args: argparse.Namespace) -> int:
    for name in config.BACKENDS:
        reason = backends.unavailable_reason(name)
        print(f"{name:<6} {'available' if reason is None else 'unavailable: ' + reason}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qemu",
        description="Bit-exact emulator of PyTorch's quantized CPU numerics (fbgemm, qnnpack).",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    golden = commands.add_parser("golden", help="make and check golden vectors")
    golden_commands = golden.add_subparsers(dest="golden_command", required=True)

    verify = golden_commands.add_parser("verify", help="check golden vectors on a qemu backend")
    verify.add_argument("dir", nargs="?", help="golden directory (default: the shipped golden/)")
    verify.add_argument("--backend", choices=config.BACKENDS, default="numpy")
    verify.add_argument("--json", action="store_true", help="print the report as JSON")
    verify.add_argument("--verbose", action="store_true", help="list every failing case")
    verify.set_defaults(run=_golden_verify)

    generate = golden_commands.add_parser(
        "generate", help="make golden vectors (from torch by default)"
    )
    generate.add_argument("--ops", nargs="+", help="ops to generate (default: all)")
    generate.add_argument("--engines", nargs="+", help="engines (default: all)")
    generate.add_argument(
        "--source", choices=config.BACKENDS, help="who computes (default: torch if installed)"
    )
    generate.add_argument("--out", default="golden", help="output directory (default: golden)")
    generate.add_argument("--seed", type=int, default=0)
    generate.add_argument("--quiet", action="store_true", help="no progress output")
    generate.set_defaults(run=_golden_generate)

    compare = commands.add_parser(
        "diff", help="run the same cases on several engines/backends and compare"
    )
    compare.add_argument("--op", required=True, help="op name, as in qemu.ops")
    compare.add_argument(
        "--engines", default="fbgemm", help="comma-separated engines (default: fbgemm)"
    )
    compare.add_argument(
        "--backends", default="numpy", help="comma-separated backends (default: numpy)"
    )
    compare.add_argument(
        "--cases", type=int, default=100, help="number of random cases (default: 100)"
    )
    compare.add_argument("--seed", type=int, default=0)
    compare.add_argument(
        "--out", default="qemu-diff", help="where reproducers are written (default: qemu-diff)"
    )
    compare.add_argument("--report", help="also write an HTML report with difference histograms")
    compare.set_defaults(run=_diff)

    commands.add_parser(
        "engines", help="list the engines and which one this host's torch runs"
    ).set_defaults(run=_engines)
    commands.add_parser(
        "backends", help="list the backends and whether they can run here"
    ).set_defaults(run=_backends)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
