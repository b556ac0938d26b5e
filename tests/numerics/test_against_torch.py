"""The transcendental models against torch itself (skipped where torch is absent).

Sleef functions are called inside libtorch_cpu through ``native_oracles``; glibc functions
through the host libm (only on the glibc 2.36, FMA-capable host the models describe); MKL
tanh and the sigmoid kernel through torch ops, over the layouts and thread counts the RNN
code uses.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from numerics.samples import same_bits, sample

torch = pytest.importorskip("torch")
from numerics import native_oracles  # noqa: E402  (imports torch's library, so after the skip)

from qemu.numerics import aten_float, libm, mkl, sleef  # noqa: E402

pytestmark = pytest.mark.torch
N = 200_000


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("width", [16, 8])
@pytest.mark.parametrize(
    "name, model, bounds",
    [
        ("exp", sleef.expf_u10, (-105, 101)),
        ("expm1", sleef.expm1f_u10, (-17, 89)),
        ("tanh", sleef.tanhf_u10, (-9, 9)),
    ],
)
def test_sleef_models_match_libtorch(name, model, bounds, width):
    x = sample(N, *bounds, seed=width)
    assert same_bits(model(x), native_oracles.sleef(f"Sleef_{name}f{width}_u10")(x)).all()


def test_torch_expm1_is_sleef_on_every_element():
    """torch.expm1 maps Vectorized::expm1 over the tensor, tails with masked loads: no glibc."""
    x = sample(N, -17, 89, seed=3)
    for n in (1, 7, 33, x.size):
        got = torch.expm1(torch.from_numpy(x[:n])).numpy()
        assert same_bits(got, sleef.expm1f_u10(x[:n])).all()


def test_aten_erf_through_gelu():
    """F.gelu on float32 with oneDNN off runs GeluKernel's vector body, built on ATen's erf;
    with oneDNN on (the default) it runs oneDNN's own GELU, which this package does not model."""
    x = sample(N, -6, 6, seed=4)
    x = x[: x.size - x.size % 32]
    with torch.backends.mkldnn.flags(enabled=False):
        got = torch.nn.functional.gelu(torch.from_numpy(x)).numpy()
    half, one, k = np.float32(0.5), np.float32(1.0), np.float32(0.7071067811865476)
    with np.errstate(all="ignore"):
        want = (x * half) * (one + sleef.aten_erf_vec(x * k))
    assert same_bits(got, want).all()


def _host_is_modelled() -> bool:
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    return native_oracles.glibc_version() == "2.36" and " fma " in flags and " avx2 " in flags


@pytest.mark.skipif(not _host_is_modelled(), reason="models glibc 2.36 on an FMA+AVX2 host")
@pytest.mark.parametrize(
    "name, model, bounds",
    [
        ("expf", libm.expf, (-105, 89)),
        ("expm1f", libm.expm1f, (-20, 89)),
        ("tanhf", libm.tanhf, (-10, 10)),
    ],
)
def test_glibc_models_match_host_libm(name, model, bounds):
    x = sample(N, *bounds, seed=5)
    assert same_bits(model(x), native_oracles.libm(name)(x)).all()


@pytest.mark.skipif(not _host_is_modelled(), reason="models glibc 2.36 on an FMA+AVX2 host")
def test_glibc_double_erf_matches_host_libm():
    rng = np.random.default_rng(13)
    n = 30_000  # the NumPy double erf costs ~14 emulated FMAs per element
    x = np.concatenate(
        [
            sample(n, -9, 9, seed=14).astype(np.float64) * 0.70710678118654752440,
            rng.uniform(-7, 7, n),
        ]
    )
    got = libm.erf(x)
    want = native_oracles.libm("erf", double=True)(x)
    assert (got.view(np.uint64) == want.view(np.uint64)).all()


def test_quantized_gelu_scalar_tail():
    """Short qint8 tensors (< 64 elements) run only qgelu_kernel's scalar lambda:
    dequantize_val, the double GELU, quantize_val (zero point added before rounding)."""
    rng = np.random.default_rng(15)
    codes = np.arange(-128, 128)
    for _ in range(50):
        scale = float(rng.choice([2.0 ** -int(rng.integers(2, 8)), rng.uniform(0.005, 0.2)]))
        zp = int(rng.integers(-20, 20))
        for start in range(0, 256, 40):
            c = codes[start : start + 40]
            qx = torch._make_per_tensor_quantized_tensor(
                torch.from_numpy(c.astype(np.int8)), scale, zp
            )
            got = torch.nn.functional.gelu(qx).int_repr().numpy()
            x = np.float32(scale) * (c - zp).astype(np.float32)
            y = aten_float.aten_qgelu_scalar_dy(x)
            q = np.rint(
                (y * (np.float32(1.0) / np.float32(scale))).astype(np.float32) + np.float32(zp)
            )
            assert (np.clip(q, -128, 127).astype(np.int8) == got).all()


def test_mkl_tanh_sampled_and_tabulated():
    flip, hard_x, _ = mkl._table()
    x = np.concatenate([sample(N, -9, 9, seed=6), flip.view(np.float32), hard_x.view(np.float32)])
    x = np.concatenate([x, -x])
    assert same_bits(mkl.vml_tanh(x), torch.tanh(torch.from_numpy(x)).numpy()).all()


def test_mkl_tanh_ignores_length_offset_stride_and_threads():
    flip, hard_x, _ = mkl._table()
    rng = np.random.default_rng(7)
    pool = np.concatenate([flip[:2000], hard_x[:2000]]).view(np.float32)
    buf = np.zeros(4200, np.float32)
    for n in list(range(1, 40)) + [127, 128, 129, 2049, 4096]:
        x = pool[rng.integers(0, pool.size, n)]
        want = mkl.vml_tanh(x)
        off = int(rng.integers(0, 17))
        buf[off : off + n] = x
        assert same_bits(torch.tanh(torch.from_numpy(buf)[off : off + n]).numpy(), want).all()
        strided = np.zeros(2 * n, np.float32)
        strided[::2] = x
        assert same_bits(torch.tanh(torch.from_numpy(strided)[::2]).numpy(), want).all()
        inplace = torch.from_numpy(x.copy())
        inplace.tanh_()
        assert same_bits(inplace.numpy(), want).all()
    torch.set_num_threads(2)
    x = pool[rng.integers(0, pool.size, 100_003)]
    assert same_bits(torch.tanh(torch.from_numpy(x)).numpy(), mkl.vml_tanh(x)).all()


@pytest.mark.parametrize("threads", [1, 2])
def test_sigmoid_contiguous(threads):
    torch.set_num_threads(threads)
    x = sample(40_000, -30, 30, seed=8)
    for n in list(range(1, 70)) + [32767, 32768, 32769, 65537, x.size]:
        got = torch.sigmoid(torch.from_numpy(x[:n])).numpy()
        assert same_bits(got, aten_float.aten_sigmoid_contiguous(x[:n], threads)).all(), n


@pytest.mark.parametrize("threads", [1, 2])
def test_sigmoid_on_lstm_gate_chunks(threads):
    """gates.chunk(4, 1)[k].sigmoid_() on (B, 4H) gates: each row of the view is a run."""
    torch.set_num_threads(threads)
    rng = np.random.default_rng(9)
    for batch, hidden in [(1, 45), (3, 20), (5, 33), (4, 100), (430, 77)]:
        gates = rng.normal(0, 6, (batch, 4 * hidden)).astype(np.float32)
        t = torch.from_numpy(gates.copy())
        for k, chunk in enumerate(t.chunk(4, 1)):
            chunk.sigmoid_()
            want = aten_float.aten_sigmoid_rows(gates[:, k * hidden : (k + 1) * hidden], threads)
            assert same_bits(chunk.numpy(), want).all(), (batch, hidden, k)


def test_sigmoid_step_under_avx2_capability():
    """On an AVX2 build the vector step is 16; checked in a child with ATEN_CPU_CAPABILITY=avx2."""
    code = (
        "import numpy as np, torch\n"
        "from qemu.numerics.aten_float import aten_sigmoid_contiguous as f\n"
        "assert torch.backends.cpu.get_cpu_capability() == 'AVX2'\n"
        "x = np.random.default_rng(10).normal(0, 6, 5000).astype(np.float32)\n"
        "bad = sum(int((torch.sigmoid(torch.from_numpy(x[:n])).numpy().view(np.uint32)"
        " != f(x[:n], capability='avx2').view(np.uint32)).sum()) for n in range(1, 100))\n"
        "print(bad)\n"
    )
    env = dict(os.environ, ATEN_CPU_CAPABILITY="avx2")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "0"
