"""qemu diff: pairs that agree, pairs that differ, reproducers that rerun."""

import numpy as np

from qemu.cli import main
from qemu.golden import cases
from qemu.golden.diff import diff
from qemu.golden.verify import verify


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
