"""qemu diff: pairs that agree, pairs that differ, reproducers that rerun."""

import importlib.util

import numpy as np
import pytest

from qemu import ops
from qemu.cli import main
from qemu.golden import cases
from qemu.golden.diff import diff
from qemu.golden.format import read
from qemu.golden.verify import verify
from qemu.testing import assert_bitexact


def test_pairs_that_agree(capsys):
    assert (
        main(
            [
                "diff",
                "--op",
                "quantize_per_tensor",
                "--engines",
                "fbgemm,qnnpack",
                "--backends",
                "numpy,numba",
                "--cases",
                "12",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "qnnpack/numba" in out and "all pairs agree" in out


def test_a_difference_is_counted_and_reproduced(tmp_path, monkeypatch):
    # A stand-in op whose numba kernel differs from the reference on one element.
    from qemu import dispatch, ops

    monkeypatch.setitem(dispatch._REGISTRY, "diff_probe", {})  # removed again after the test

    @dispatch.reference("diff_probe")
    def _probe_reference(ctx, x):
        return x.copy()

    @dispatch.register("diff_probe", "numba")
    def _probe_numba(ctx, x):
        y = x.copy()
        y[y == 3] = 4
        return y

    def diff_probe(x, *, engine=None, backend=None):
        return dispatch.call("diff_probe", x, engine=engine, backend=backend)

    monkeypatch.setattr(ops, "diff_probe", diff_probe, raising=False)
    monkeypatch.setitem(
        cases.GENERATORS,
        "diff_probe",
        lambda rng, engine: [
            ([np.arange(6, dtype=np.int64)], {}),
            ([np.arange(9, dtype=np.int64)], {}),
        ],
    )
    (pair,) = diff(
        "diff_probe",
        [("fbgemm", "numpy"), ("fbgemm", "numba")],
        count=2,
        reproducer_directory=tmp_path,
    )
    assert (pair.cases, pair.equal_cases, pair.mismatching_elements, pair.max_difference) == (
        2,
        0,
        2,
        1.0,
    )
    args, _, expected = pair.reproducer
    assert args[0].tolist() == [3] and expected.tolist() == [3]  # cut down to the differing element
    report = verify(tmp_path / "diff_probe-fbgemm-numba-vs-fbgemm-numpy", backend="numba")
    assert report.rows[0].failures and not report.ok


def test_linear_saturation_fbgemm_against_avx2_writes_a_reproducer(tmp_path, capsys):
    # The first linear cases pair all-255 activations with 127 / -128 weights: their
    # u8 x s8 pair sums pass int16, which fbgemm-avx2 saturates and fbgemm does not.
    arguments = ["diff", "--op", "linear", "--engines", "fbgemm,fbgemm-avx2", "--cases", "4"]
    assert main([*arguments, "--out", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "fbgemm-avx2/numpy" in out and "pairs differ" in out
    (pair,) = diff("linear", [("fbgemm", "numpy"), ("fbgemm-avx2", "numpy")], count=4)
    assert pair.equal_cases == 0 and pair.mismatching_elements > 0
    reproducer = tmp_path / "linear-fbgemm-avx2-numpy-vs-fbgemm-numpy"
    assert f"smallest reproducer: {reproducer}" in out
    # Rerunning it shows the difference: fbgemm's output, checked as fbgemm-avx2.
    assert main(["golden", "verify", str(reproducer)]) == 1
    assert "FAIL linear/fbgemm-avx2/repro" in capsys.readouterr().out
    (case,) = read(reproducer)[0].cases
    assert_bitexact(ops.linear(*case.args, engine="fbgemm"), case.expected)


def test_qnnpack_against_fbgemm_reports_what_it_finds(tmp_path, capsys):
    code = main(
        ["diff", "--op", "linear_dynamic", "--engines", "fbgemm,qnnpack", "--cases", "12",
         "--out", str(tmp_path)]
    )  # fmt: skip
    out = capsys.readouterr().out
    (pair,) = diff("linear_dynamic", [("fbgemm", "numpy"), ("qnnpack", "numpy")], count=12)
    row = next(line for line in out.splitlines() if line.startswith("qnnpack/numpy"))
    assert f"{pair.equal_cases:>5}/{pair.cases:<5}" in row
    assert f"{pair.mismatching_elements}/{pair.total_elements}" in row
    assert code == (0 if pair.equal_cases == pair.cases else 1)
    assert pair.mismatching_elements > 0  # qnnpack ignores reduce_range, fbgemm does not


@pytest.mark.parametrize("op", sorted(cases.GENERATORS))
def test_diff_runs_for_every_op(op):
    results = diff(
        op, [("fbgemm", "numpy"), ("fbgemm-avx2", "numpy"), ("qnnpack", "numpy")], count=3
    )
    for pair in results:
        assert pair.cases + pair.baseline_refused >= 3
        assert pair.equal_cases + len(pair.errors) <= pair.cases


def test_a_baseline_without_cases_is_refused():
    with pytest.raises(ValueError, match="no cases for qnnpack"):
        diff("linear_dynamic_fp16", [("qnnpack", "numpy"), ("fbgemm", "numpy")], count=2)


def test_html_report_needs_the_plot_extra(tmp_path, capsys):
    report = tmp_path / "diff.html"
    code = main(
        ["diff", "--op", "linear", "--engines", "fbgemm,fbgemm-avx2", "--cases", "3",
         "--out", str(tmp_path), "--report", str(report)]
    )  # fmt: skip
    if importlib.util.find_spec("matplotlib") is None:
        assert code == 2 and "pip install 'qemu-quant[plot]'" in capsys.readouterr().err
    else:
        assert code == 1 and "<img src='data:image/png;base64," in report.read_text()
