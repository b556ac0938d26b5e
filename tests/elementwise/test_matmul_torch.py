"""quantized::matmul against torch on every engine, numpy and numba backends, and
the float products (MKL's summation orders, qemu.numerics.sgemm) against torch.matmul
directly, where a wrong order shows in almost every output."""

import numpy as np
import pytest
from elementwise.cases import ENGINES, QTYPES_8BIT, check_against_torch, draw_qtensor, draw_scale

import qemu.ops as ops
from qemu.numerics import sgemm
from qemu.testing import assert_bitexact, cases, seeded_rng

torch = pytest.importorskip("torch")

DIMS = [0, 1, 2, 3, 4, 5, 7, 8, 9, 12, 13, 16, 17, 31, 33, 64, 100]
KS = [0, 1, 2, 3, 5, 8, 9, 16, 17, 31, 64, 100, 191, 192, 193, 250, 383, 384, 385, 500]


def _draw(rng, values):
    return int(values[rng.integers(len(values))])


def _case(rng, n_one=False):
    dtype = QTYPES_8BIT[rng.integers(2)]
    m, k, n = _draw(rng, DIMS), _draw(rng, KS), _draw(rng, DIMS)
    if n_one:
        m, n = 4 * int(rng.integers(0, 8)) + int(rng.integers(1, 4)), 1
    batch = [(), (), (1,), (2,), (3,), (2, 3), (1, 2)][rng.integers(7)]
    batch_b = tuple(1 if rng.random() < 0.3 else d for d in batch)
    a = draw_qtensor(rng, batch + (m, k), dtype)
    b = draw_qtensor(rng, batch_b + (k, n), dtype)
    if rng.random() < 0.5:
        scale = draw_scale(rng)
    else:  # near the products' spread, so few codes saturate
        spread = a.q_scale() * b.q_scale() * max(k, 1) ** 0.5 * 40
        scale = float(2.0 ** np.round(np.log2(spread))) if rng.random() < 0.5 else spread
    zero_point = int(rng.integers(dtype.qmin, dtype.qmax + 1))
    return a, b, scale, zero_point


@pytest.mark.parametrize("engine", ENGINES)
def test_matmul(engine):
    rng = seeded_rng("matmul", engine)
    for _ in range(cases(30)):
        a, b, scale, zero_point = _case(rng, n_one=rng.random() < 0.15)
        threads = 1 + int(rng.integers(2))
        check_against_torch(ops.matmul, (a, b, scale, zero_point), {}, engine, threads)


FLOAT_MS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 16, 33]
FLOAT_NS = [1, 1, 2, 3, 4, 5, 7, 8, 9, 11, 12, 13, 15, 16, 17, 33, 64, 100, 101, 128]
FLOAT_KS = [1, 2, 4, 5, 9, 16, 17, 33, 191, 193, 250, 384, 385, 1000]


@pytest.mark.parametrize("threads", [1, 2])
def test_float_products_match_torch_matmul(threads):
    """The float32 products themselves, on random normal data: any wrong summation
    order shows here (the quantized test only sees it near rounding boundaries)."""
    rng = seeded_rng("sgemm_float", threads)
    torch.set_num_threads(threads)
    for _ in range(cases(60)):
        m, n, k = (_draw(rng, v) for v in (FLOAT_MS, FLOAT_NS, FLOAT_KS))
        batch = int(rng.integers(1, 4)) if rng.random() < 0.3 else 0
        shape_a, shape_b = (
            ((batch,) if batch else ()) + (m, k),
            ((batch,) if batch else ()) + (k, n),
        )
        a = rng.standard_normal(shape_a).astype(np.float32)
        b = rng.standard_normal(shape_b).astype(np.float32)
        expected = torch.matmul(torch.from_numpy(a), torch.from_numpy(b)).numpy()
        if batch:
            got = sgemm.aten_bmm(a, b, threads=threads)
        else:
            got = sgemm.mkl_sgemm(a, b, threads=threads)
        wrong = int((got.view(np.uint32) != expected.view(np.uint32)).sum())
        assert wrong == 0, f"{shape_a} @ {shape_b} on {threads} threads: {wrong} outputs differ"


@pytest.mark.parametrize("bad", ["dtype", "rank", "k", "batch", "qint32"])
def test_matmul_refusals(bad):
    a = qemu_tensor((2, 3), "quint8")
    b = qemu_tensor((3, 4), "quint8")
    if bad == "dtype":
        b = qemu_tensor((3, 4), "qint8")
    elif bad == "rank":
        b = qemu_tensor((1, 3, 4), "quint8")
    elif bad == "k":
        b = qemu_tensor((2, 4), "quint8")
    elif bad == "batch":
        a, b = qemu_tensor((2, 2, 3), "quint8"), qemu_tensor((3, 3, 4), "quint8")
    else:
        a, b = qemu_tensor((2, 3), "qint32"), qemu_tensor((3, 4), "qint32")
    with pytest.raises(ValueError):
        ops.matmul(a, b, 0.1, 0)


def qemu_tensor(shape, dtype):
    from qemu import QTensor

    return QTensor.per_tensor(
        np.zeros(shape, dtype=np.int64) + (0 if dtype != "quint8" else 3), 0.1, 0, dtype
    )


def test_matmul_matches_float_composition():
    """The reference equals dequantize -> numpy-modelled matmul -> quantize_per_tensor
    (sanity of the wiring, independent of torch)."""
    rng = seeded_rng("matmul_wiring")
    a, b, scale, zero_point = _case(rng)
    got = ops.matmul(a, b, scale, zero_point, backend="numpy")
    assert_bitexact(ops.matmul(a, b, scale, zero_point, backend="numba"), got, "numba")
