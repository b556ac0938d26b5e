"""Golden vectors: the shipped set verifies on every emulator backend without torch,
and a damaged set fails naming the file and the cases."""

import json
import re
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

import qemu
from qemu import serialize
from qemu.cli import main
from qemu.golden.cases import GENERATORS
from qemu.golden.format import read, write
from qemu.golden.generate import generate
from qemu.testing import compare_results

SHIPPED = Path(__file__).resolve().parents[2] / "golden"


# Runs the CLI with torch made unimportable, as on a host without torch.
_WITHOUT_TORCH = (
    "import sys; sys.modules['torch'] = None; from qemu.cli import main; "
    "raise SystemExit(main(sys.argv[1:]))"
)


def _verify_without_torch(directory: Path, *arguments: str) -> subprocess.CompletedProcess:
    # Not run from the checkout: ``-c`` puts the working directory first on sys.path, and
    # the checkout's qemu/ (without qemu.backends) would shadow a non-editable install.
    return subprocess.run(
        [sys.executable, "-c", _WITHOUT_TORCH, "golden", "verify", str(directory), *arguments],
        capture_output=True,
        text=True,
        cwd=directory,
        timeout=600,
    )


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_shipped_golden_vectors_verify_without_torch(backend):
    run = _verify_without_torch(SHIPPED, "--backend", backend)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    summary = run.stdout.strip().splitlines()[-1]
    figures = re.search(
        r": (\d+) cases, (\d+) ops, 4 engines, backend (\w+): (\d+) passed", summary
    )
    assert figures, summary
    cases, ops, used_backend, passed = figures.groups()
    assert used_backend == backend and cases == passed and int(ops) >= 78


@pytest.fixture(scope="module")
def shipped_manifest():
    return json.loads((SHIPPED / "manifest.json").read_text())


def test_shipped_set_covers_every_op_and_engine(shipped_manifest):
    cases = shipped_manifest["cases"]
    without_torch_kernel = set(shipped_manifest["generator"]["no_kernel"])
    assert without_torch_kernel == {"embedding_bag_prepack"}  # torch hides the packed bytes
    assert {c["op"] for c in cases} == set(GENERATORS) - without_torch_kernel
    assert set(GENERATORS) == set(qemu.ops.__all__)
    assert {c["engine"] for c in cases} == set(qemu.engines.names())
    assert shipped_manifest["generator"]["source"] == "torch"
    size = sum(path.stat().st_size for path in SHIPPED.rglob("*") if path.is_file())
    assert size <= 20 * 2**20


def test_shipped_saturating_linear_differs_between_fbgemm_and_avx2(shipped_manifest, tmp_path):
    # Only the linear files are copied and read: the first linear cases are all-255
    # activations against 127 / -128 weights, whose u8 x s8 pair sums pass int16.
    keep = [c for c in shipped_manifest["cases"] if c["op"] == "linear"]
    for case in keep:
        (tmp_path / "linear").mkdir(exist_ok=True)
        shutil.copy(SHIPPED / case["file"], tmp_path / case["file"])
    files = {c["file"]: shipped_manifest["files"][c["file"]] for c in keep}
    (tmp_path / "manifest.json").write_text(
        json.dumps({**shipped_manifest, "files": files, "cases": keep})
    )
    golden, problems = read(tmp_path)
    assert problems == []
    expected = {case.id: case.expected for case in golden.cases}
    for index in ("0000", "0001", "0002"):
        exact, saturated = (
            expected[f"linear/fbgemm/{index}"],
            expected[f"linear/fbgemm-avx2/{index}"],
        )
        assert not compare_results(saturated, exact).equal
        assert compare_results(expected[f"linear/fbgemm-avx512/{index}"], saturated).equal


def test_damaged_shipped_copy_fails_naming_files_and_cases(tmp_path):
    copy = tmp_path / "golden"
    shutil.copytree(SHIPPED, copy)
    flipped = copy / "linear" / "fbgemm-avx2.npz"
    data = bytearray(flipped.read_bytes())
    data[len(data) // 2] ^= 0x10
    flipped.write_bytes(bytes(data))
    (copy / "conv2d" / "qnnpack.npz").unlink()
    run = _verify_without_torch(copy)
    assert run.returncode == 1
    out = run.stdout
    assert "FAIL linear/fbgemm-avx2.npz: sha256 differs" in out
    assert "linear/fbgemm-avx2/0000" in out
    assert "FAIL conv2d/qnnpack.npz: missing" in out and "conv2d/qnnpack/0000" in out
    # Every other file is still checked, and passes.
    manifest = json.loads((copy / "manifest.json").read_text())
    damaged = {"linear/fbgemm-avx2.npz", "conv2d/qnnpack.npz"}
    healthy = sum(case["file"] not in damaged for case in manifest["cases"])
    assert f"{len(manifest['cases'])} cases" in out.splitlines()[-1]
    assert f"backend numpy: {healthy} passed, FAILED" in out.splitlines()[-1]


def test_generators_draw_the_same_inputs_on_every_engine():
    """So the golden outputs of two engines compare case by case under the same ids.
    qnnpack alone gets per-channel weights for some transposed convolutions (same
    codes), and no cases at all for ops it cannot run (fp16 dynamic linear,
    conv_transpose3d); what else it refuses is drawn and counted as refused."""
    for op, make_cases in GENERATORS.items():
        drawn = {}
        for engine in qemu.engines.names():
            encoder = serialize.Encoder()
            rng = np.random.default_rng([0, zlib.crc32(op.encode())])
            items = [
                encoder.encode([list(c[0]), dict(c[1])])
                for c in make_cases(rng, qemu.engines.get(engine))
            ]
            drawn[engine] = (items, encoder.arrays)
        items, arrays = drawn["fbgemm"]
        for engine, (other_items, other_arrays) in drawn.items():
            if engine == "qnnpack" and not other_items:
                assert op in ("linear_dynamic_fp16", "linear_relu_dynamic_fp16", "conv_transpose3d")
                continue
            assert len(other_items) == len(items), (op, engine)
            if engine == "qnnpack" and op.startswith("conv_transpose"):
                continue  # per-channel scales where fbgemm has per-tensor ones
            assert other_items == items, (op, engine)
            assert all(
                np.array_equal(other_arrays[k], arrays[k], equal_nan=True) for k in arrays
            ), (op, engine)


def test_refused_cases_are_counted_and_ids_keep_their_index():
    golden = generate(["clamp"], ["qnnpack", "fbgemm"], source="numpy", progress=False)
    refused = golden.generator["refused"]["clamp/qnnpack"]
    assert refused["cases"] > 0 and "both bounds" in refused["first"]
    qnnpack_ids = {c.id.rsplit("/", 1)[1] for c in golden.cases if c.engine == "qnnpack"}
    fbgemm_ids = {c.id.rsplit("/", 1)[1] for c in golden.cases if c.engine == "fbgemm"}
    assert qnnpack_ids < fbgemm_ids and len(fbgemm_ids - qnnpack_ids) == refused["cases"]


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


def test_regenerating_in_place_replaces_the_previous_set(small_set, capsys):
    (small_set / "notes.txt").write_text("kept")
    smaller = generate(["dequantize"], ["fbgemm"], source="numpy", progress=False)
    write(small_set, smaller)
    arrays = sorted(str(p.relative_to(small_set)) for p in small_set.rglob("*.npz"))
    assert arrays == ["dequantize/fbgemm.npz"]
    assert (small_set / "notes.txt").read_text() == "kept"
    assert main(["golden", "verify", str(small_set)]) == 0


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
