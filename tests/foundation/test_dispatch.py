"""Engines, backends, defaults and the registry."""

import os
import subprocess
import sys
import tempfile

import numpy as np
import pytest

import qemu
from qemu import backends, config, dispatch, engines

x = np.float32([0.25, 0.75])


def test_engine_names_and_traits():
    assert engines.names() == ["fbgemm", "fbgemm-avx512", "fbgemm-avx2", "qnnpack"]
    assert not engines.get("fbgemm").saturating_int8_gemm
    assert (
        engines.get("fbgemm-avx2").saturating_int8_gemm
        and engines.get("fbgemm-avx512").saturating_int8_gemm
    )
    assert engines.get("qnnpack").is_qnnpack and engines.get("qnnpack").fbgemm_isa is None
    with pytest.raises(
        ValueError, match="unknown engine 'x86'; valid engines are 'fbgemm', 'fbgemm-avx512'"
    ):
        engines.get("x86")
    with pytest.raises(TypeError, match="engine: expected an engine name"):
        engines.get(3)


@pytest.mark.parametrize(
    "flags, environ, expected",
    [
        (
            {"avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512_vnni", "avx2", "fma"},
            {},
            "fbgemm",
        ),
        ({"avx512f", "avx512bw", "avx512dq", "avx512vl", "avx2", "fma"}, {}, "fbgemm-avx512"),
        ({"avx2", "fma"}, {}, "fbgemm-avx2"),
        ({"sse4_2"}, {}, None),
        (
            {"avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512_vnni", "avx2", "fma"},
            {"FBGEMM_ENABLE_INSTRUCTIONS": "AVX2"},
            "fbgemm-avx2",
        ),
        (
            {"avx2", "fma"},
            {"FBGEMM_ENABLE_INSTRUCTIONS": "AVX512"},
            "fbgemm-avx2",
        ),  # cannot force upwards
    ],
)
def test_host_follows_fbgemm_isa_selection(flags, environ, expected):
    assert engines.host(environ=environ, flags=flags) == expected


def test_reproducible_here_refuses_more_capable_isas():
    avx2_host = {"avx2", "fma"}
    assert engines.reproducible_here(engines.get("fbgemm-avx2"), flags=avx2_host) is None
    assert "needs avx512_vnni" in engines.reproducible_here(engines.get("fbgemm"), flags=avx2_host)
    assert "lacks AVX2" in engines.reproducible_here(engines.get("fbgemm"), flags=set())
    assert engines.reproducible_here(engines.get("qnnpack"), flags=set()) is None


def test_use_sets_defaults_and_restores_them():
    before = config.current()
    with qemu.use(engine="qnnpack", backend="numba", threads=2) as settings:
        assert (settings.engine, settings.backend, settings.threads) == ("qnnpack", "numba", 2)
        with qemu.use(threads=1):
            assert config.current() == config.Settings("qnnpack", "numba", 1)
        context, backend = dispatch.resolve()
        assert context.engine.name == "qnnpack" and context.threads == 2 and backend == "numba"
    assert config.current() == before


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"engine": "avx2"}, "engine: unknown engine 'avx2'"),
        (
            {"backend": "jax"},
            "backend: unknown backend 'jax'; valid backends are 'numpy', 'numba', 'torch'",
        ),
        ({"threads": 0}, "threads: expected an integer >= 1"),
    ],
)
def test_use_rejects_unknown_names(kwargs, message):
    with pytest.raises(ValueError, match=message):
        with qemu.use(**kwargs):
            pass


def _run(code: str, **env: str) -> subprocess.CompletedProcess:
    # From a neutral directory, so that the installed qemu is imported, not the checkout's.
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        cwd=tempfile.gettempdir(),
    )


def test_environment_variables_set_defaults():
    code = "import qemu.config as c; s = c.current(); print(s.engine, s.backend, s.threads)"
    result = _run(code, QEMU_ENGINE="qnnpack", QEMU_BACKEND="numba", QEMU_THREADS="2")
    assert result.stdout.split() == ["qnnpack", "numba", "2"]
    result = _run(code, QEMU_ENGINE="x86")
    assert "QEMU_ENGINE: unknown engine 'x86'" in result.stderr


def test_registry_reports_missing_kernels():
    with pytest.raises(NotImplementedError, match="op 'no_such_op' has no numpy kernel"):
        dispatch.kernel("no_such_op", "numpy")
    with pytest.raises(RuntimeError, match="already has a numpy kernel"):
        dispatch.reference("quantize_per_tensor")(lambda ctx: None)


def test_backends_available_and_reasons():
    assert backends.available()[0] == "numpy"
    assert backends.unavailable_reason("numpy") is None
    with pytest.raises(ValueError, match="unknown backend 'cuda'"):
        backends.unavailable_reason("cuda")


def test_reference_imports_neither_numba_nor_torch():
    code = (
        "import sys, numpy as np, qemu, qemu.ops; "
        "q = qemu.quantize_per_tensor(np.float32([1]), 0.5, 0, 'quint8'); q.dequantize(); "
        "print(sorted(m for m in ('numba', 'torch') if m in sys.modules))"
    )
    assert _run(code).stdout.strip() == "[]"


def test_missing_backend_package_is_a_clear_error():
    # Hide torch and numba from a fresh interpreter, as on a host without them.
    code = (
        "import sys; sys.modules['torch'] = None; sys.modules['numba'] = None\n"
        "import importlib.util as u; real = u.find_spec\n"
        "u.find_spec = lambda name, *a: None if name in ('torch', 'numba') else real(name, *a)\n"
        "import numpy as np, qemu\n"
        "from qemu import backends\n"
        "print(backends.available())\n"
        "try:\n"
        "    qemu.quantize_per_tensor(np.float32([1]), 0.5, 0, 'quint8', backend='torch')\n"
        "except Exception as e:\n"
        "    print(type(e).__name__, e)\n"
    )
    lines = _run(code).stdout.splitlines()
    assert lines[0] == "['numpy']"
    assert lines[1].startswith("BackendUnavailable the torch backend needs the torch package")


def test_torch_worker_gets_only_its_engines_variables(monkeypatch):
    """A process running under fbgemm-avx2's variables (a native soak) that asks the
    fbgemm worker for a result must get an fbgemm worker, not another AVX2 one."""
    pytest.importorskip("torch")  # the torch backend package imports torch
    from qemu.backends.torch_backend.runner import worker_environment

    monkeypatch.setenv("FBGEMM_ENABLE_INSTRUCTIONS", "AVX2")
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx2")
    monkeypatch.setenv("MKL_ENABLE_INSTRUCTIONS", "AVX2")
    monkeypatch.setenv("QEMU_SOME_SETTING", "kept")
    fbgemm = worker_environment(engines.FBGEMM)
    assert not {
        "FBGEMM_ENABLE_INSTRUCTIONS",
        "ATEN_CPU_CAPABILITY",
        "MKL_ENABLE_INSTRUCTIONS",
    } & set(fbgemm)
    assert fbgemm["QEMU_SOME_SETTING"] == "kept"
    avx512 = worker_environment(engines.FBGEMM_AVX512)
    assert (avx512["FBGEMM_ENABLE_INSTRUCTIONS"], avx512["ATEN_CPU_CAPABILITY"]) == (
        "AVX512",
        "avx512",
    )
    assert "MKL_ENABLE_INSTRUCTIONS" not in avx512
