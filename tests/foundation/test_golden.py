"""Golden vectors: the shipped set verifies on every emulator backend without torch,
and a damaged set fails naming the file and the cases."""

import json
import shutil
from pathlib import Path

import pytest

from qemu.cli import main
from qemu.golden.format import read, write
from qemu.golden.generate import generate
from qemu.golden.verify import verify

SHIPPED = Path(__file__).resolve().parents[2] / "golden"


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_shipped_golden_vectors_verify(backend):
    report = verify(SHIPPED, backend=backend)
    assert report.problems == []
    failures = [f for row in report.rows for f in row.failures]
    assert failures == [], failures[:5]
    assert report.rows and all(row.passed == row.cases for row in report.rows)


@pytest.fixture
def small_set(tmp_path):
    golden = generate(
        ["quantize_per_tensor", "dequantize"], ["fbgemm", "qnnpack"], source="numpy", progress=False
    )
    write(tmp_path, golden)
    return tmp_path


def test_generation_is_deterministic(tmp_path, small_set):
    again = generate(
        ["quantize_per_tensor", "dequantize"], ["fbgemm", "qnnpack"], source="numpy", progress=False
    )
    write(tmp_path / "again", again)
    first = json.loads((small_set / "manifest.json").read_text())
    second = json.loads((tmp_path / "again" / "manifest.json").read_text())
    assert first["files"] == second["files"] and first["cases"] == second["cases"]


def test_flipped_byte_fails_naming_the_file_and_cases(small_set, capsys):
    target = small_set / "quantize_per_tensor" / "qnnpack.npz"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    assert main(["golden", "verify", str(small_set)]) == 1
    out = capsys.readouterr().out
    assert "FAIL quantize_per_tensor/qnnpack.npz: sha256 differs" in out
    assert "quantize_per_tensor/qnnpack/0000" in out
    # The other files are still checked.
    assert "dequantize                   fbgemm" in out


def test_deleted_file_fails(small_set, capsys):
    (small_set / "dequantize" / "fbgemm.npz").unlink()
    assert main(["golden", "verify", str(small_set), "--backend", "numba"]) == 1
    assert "FAIL dequantize/fbgemm.npz: missing" in capsys.readouterr().out


def test_wrong_expected_value_is_a_mismatch(small_set, capsys):
    golden, _ = read(small_set)
    case = next(c for c in golden.cases if c.op == "dequantize")
    case.expected = case.expected.copy()
    case.expected.reshape(-1)[0] += 1
    damaged = small_set.parent / "damaged"
    shutil.rmtree(damaged, ignore_errors=True)
    write(damaged, golden)
    assert main(["golden", "verify", str(damaged)]) == 1
    assert f"FAIL {case.id}" in capsys.readouterr().out


def test_json_report(small_set, capsys):
    assert main(["golden", "verify", str(small_set), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True and report["backend"] == "numpy"


def test_not_a_golden_directory(tmp_path, capsys):
    assert main(["golden", "verify", str(tmp_path)]) == 2
    assert "no golden manifest here" in capsys.readouterr().err
