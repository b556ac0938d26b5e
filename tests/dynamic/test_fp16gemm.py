"""fbgemm's fp16 GEMM order (qemu.numerics.fp16gemm) and its numba twin, without torch.

The torch comparisons are in test_linear_fp16_torch.py; here the reference is held to
hand-derived orders and the numba kernel to the reference.
"""

from __future__ import annotations

import numpy as np
import pytest
from dynamic.linear_cases import case_rng

from qemu.numerics.float32 import fma_f32
from qemu.numerics.fp16 import saturate_to_fp16
from qemu.numerics.fp16gemm import (
    CHUNK_ROWS,
    PARTITION_AVX2,
    accumulator_counts,
    gemm_fp16,
)
from qemu.testing import assert_bitexact, cases

_SPECIALS = np.array([0x7FC12300, 0x7FC00000, 0xFFC00000, 0x7F800000, 0xFF800000], np.uint32).view(
    np.float32
)


def test_partition_table_covers_every_chunk():
    assert len(PARTITION_AVX2) == CHUNK_ROWS
    for rows, groups in enumerate(PARTITION_AVX2, start=1):
        assert sum(height * count for height, count in groups) == rows
        assert all(1 <= height <= 6 for height, _ in groups)


def test_accumulator_counts_follow_the_partition():
    # 1 row: the 1-row kernel; 7 rows: a 5-row kernel then a 2-row one; 31: 6x5 + 1.
    assert accumulator_counts(1, "avx2").tolist() == [4]
    assert accumulator_counts(7, "avx2").tolist() == [1] * 5 + [2] * 2
    assert accumulator_counts(31, "avx2").tolist() == [1] * 30 + [4]
    # 121 rows: a chunk of 120 (6x20) and a chunk of 1.
    assert accumulator_counts(121, "avx2").tolist() == [1] * 120 + [4]
    assert accumulator_counts(121, "avx512").tolist() == [1] * 121


def _chain(x, w):
    acc = np.float32(x[0] * w[0])
    for k in range(1, x.size):
        acc = fma_f32(x[k], w[k], acc)
    return acc


def test_single_chain_on_avx512_and_split_chains_on_avx2():
    rng = case_rng("fp16gemm", "hand")
    x = rng.normal(0, 1, (1, 11)).astype(np.float32)
    w = saturate_to_fp16(rng.normal(0, 1, (1, 11)).astype(np.float32))
    wf = w.astype(np.float32)[0]
    assert_bitexact(gemm_fp16(x, w, "avx512")[0, 0], _chain(x[0], wf))
    # 1-row AVX2 kernel: k = 1+4j -> a0, 2+4j -> a1, ...; last (<= 4) k -> a0.
    a = [_chain(x[0, [0, 1, 5]], wf[[0, 1, 5]])]
    a += [_chain(x[0, [k, k + 4]], wf[[k, k + 4]]) for k in (2, 3, 4)]
    for k in (9, 10):
        a[0] = fma_f32(x[0, k], wf[k], a[0])
    expected = np.float32(np.float32(np.float32(a[0] + a[1]) + a[2]) + a[3])
    assert_bitexact(gemm_fp16(x, w, "avx2")[0, 0], expected)


def test_leftover_columns_add_each_k_block():
    # N = 20 on avx512: all columns are leftover; K = 600 is two K blocks summed.
    rng = case_rng("fp16gemm", "leftover")
    x = rng.normal(0, 1, (3, 600)).astype(np.float32)
    w = saturate_to_fp16(rng.normal(0, 1, (20, 600)).astype(np.float32))
    wf = w.astype(np.float32)
    out = gemm_fp16(x, w, "avx512")
    for i, j in [(0, 0), (2, 19)]:
        first = _chain(x[i, :512], wf[j, :512])
        second = fma_f32(x[i, 512], wf[j, 512], np.float32(0))
        for k in range(513, 600):
            second = fma_f32(x[i, k], wf[j, k], second)
        assert_bitexact(out[i, j], np.float32(first + second))


def test_nan_bits_follow_the_kernel():
    # x's NaN wins over an accumulator NaN; inf * 0 gives the default NaN.
    x = np.array([[np.inf, 1.0, _SPECIALS[0], _SPECIALS[1]]], np.float32)
    w = np.float16([[0, 1, 1, 1]])
    assert gemm_fp16(x[:, :2], w[:, :2], "avx512").view(np.uint32).tolist() == [[0xFFC00000]]
    assert gemm_fp16(x, w, "avx512").view(np.uint32).tolist() == [[0x7FC00000]]


@pytest.mark.parametrize("isa", ["avx512", "avx2"])
def test_numba_equals_reference(isa):
    from qemu.backends.numba_backend.fp16gemm import gemm_fp16 as numba_gemm

    pytest.importorskip("numba")
    rng = case_rng("fp16gemm", "numba", isa)
    for _ in range(cases(25)):
        m = int(rng.choice([1, 2, 3, 7, 31, 38, 125]))
        k = int(rng.integers(1, 1200)) if rng.random() < 0.3 else int(rng.integers(1, 20))
        n = int(rng.integers(1, 70))
        x = rng.normal(0, 1, (m, k)).astype(np.float32)
        if rng.random() < 0.5:
            special = rng.random(x.shape) < 0.05
            x[special] = _SPECIALS[rng.integers(0, _SPECIALS.size, special.sum())]
        w = saturate_to_fp16(rng.normal(0, 1, (n, k)).astype(np.float32))
        assert_bitexact(numba_gemm(x, w, isa), gemm_fp16(x, w, isa), f"{m}x{k}x{n}")
