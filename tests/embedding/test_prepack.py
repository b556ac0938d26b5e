"""Row-wise prepack and unpack: hand-checked values, refusals, numpy == numba, and
bit-exact agreement with torch's packed bytes and dequantized values."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qemu import QTensor
from qemu.ops import embedding as ops
from qemu.testing import assert_bitexact, cases


def _floats(packed: np.ndarray, start: int) -> list[float]:
    return packed[..., start:].copy().view("<f4").tolist()


def _halves(packed: np.ndarray, start: int) -> list[float]:
    return packed[..., start:].copy().view("<f2").astype(float).tolist()


# -- hand-checked values ---------------------------------------------------------------


def test_byte_prepack_quantizes_with_255_over_range_plus_epsilon():
    # range 1e-7: the codes use 255 / (range + 1e-8), not 1 / scale = 255 / range, so
    # the row maximum maps to rint(1e-7 * 255 / 1.1e-7) = 232, not 255.
    packed = ops.embedding_bag_byte_prepack(np.float32([[0.0, 1e-7]]))
    assert packed[0, :2].tolist() == [0, 232]
    assert _floats(packed, 2) == [[np.float32(1e-7) / np.float32(255), 0.0]]


def test_byte_prepack_rounds_ties_to_even_and_stores_min_as_bias():
    packed = ops.embedding_bag_byte_prepack(np.float32([[2.0, 3.0, 4.0]]))
    assert packed[0, :3].tolist() == [0, 128, 255]  # 127.5 -> 128
    assert _floats(packed, 3) == [[np.float32(2.0) / np.float32(255), 2.0]]


def test_byte_prepack_keeps_leading_dimensions():
    weight = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    packed = ops.embedding_bag_byte_prepack(weight)
    assert packed.shape == (2, 3, 12)
    assert_bitexact(packed[1, 2], ops.embedding_bag_byte_prepack(weight[1, 2:3])[0])


def test_4bit_prepack_rounds_the_minimum_to_fp16_first():
    # fp16(0.1) = 0.0999755859375 is the stored bias; the range and the codes are
    # taken from it, and the scale (range / 15) is rounded to fp16 as well.
    packed = ops.embedding_bag_4bit_prepack(np.float32([[0.1, 1.6]]))
    scale, bias = _halves(packed, 1)[0]
    assert bias == float(np.float16(0.1))
    assert scale == float(np.float16((np.float32(1.6) - np.float32(bias)) / np.float32(15)))
    assert packed[0, 0] == 0 | (15 << 4)


def test_2bit_prepack_packs_four_codes_per_byte_low_bits_first():
    packed = ops.embedding_bag_2bit_prepack(np.float32([[0, 1, 2, 3, 3, 2, 1, 0]]))
    assert packed[0, :2].tolist() == [0 | 1 << 2 | 2 << 4 | 3 << 6, 3 | 2 << 2 | 1 << 4]
    assert _halves(packed, 2) == [[1.0, 0.0]]


def test_constant_row_gets_scale_one_in_nbit_and_zero_in_byte():
    weight = np.full((1, 4), 3.0, dtype=np.float32)
    assert _halves(ops.embedding_bag_4bit_prepack(weight), 2) == [[1.0, 3.0]]
    assert _floats(ops.embedding_bag_byte_prepack(weight), 4) == [[0.0, 3.0]]


def test_unpack_is_a_fused_multiply_add():
    # code 255, scale 1 + 2^-23, bias -fl(255 * scale): a separate multiply and add
    # give 0, the FMA gives the exact residual -2^-23.
    scale = np.float32(1 + 2**-23)
    bias = -(np.float32(255) * scale)
    packed = np.concatenate([[255], np.float32([scale, bias]).view(np.uint8)]).astype(np.uint8)
    assert ops.embedding_bag_byte_unpack(packed[None]).tolist() == [[-(2.0**-23)]]


def test_module_prepack_stores_bias_as_minus_zero_point_times_scale():
    scales, points = np.float32([0.1, 3.0]), np.float32([7.3, -2.5])
    for dtype, read in (("quint8", _floats), ("quint4x2", _halves)):
        q = QTensor.per_channel([[1, 2], [3, 4]], scales, points, 0, dtype, float_qparams=True)
        packed = ops.embedding_bag_prepack(q)
        stored = read(packed, packed.shape[1] - ops.scale_bias_bytes(q.dtype.bits))
        expected = np.stack([scales, -(points * scales)], axis=1)
        if dtype == "quint4x2":
            expected = expected.astype(np.float16)
        assert stored == expected.astype(float).tolist()


# -- refusals --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (
            lambda: ops.embedding_bag_byte_prepack(np.zeros(3, np.float64)),
            TypeError,
            "float32 or float16",
        ),
        (
            lambda: ops.embedding_bag_byte_prepack(np.float32(1.0)),
            ValueError,
            "at least one dimension",
        ),
        (
            lambda: ops.embedding_bag_4bit_prepack(np.zeros((2, 3), np.float32)),
            ValueError,
            "divisible by 2",
        ),
        (
            lambda: ops.embedding_bag_2bit_prepack(np.zeros((2, 6), np.float32)),
            ValueError,
            "divisible by 4",
        ),
        (
            lambda: ops.embedding_bag_4bit_prepack(np.zeros((2, 2, 2), np.float32)),
            ValueError,
            "2-D",
        ),
        (
            lambda: ops.embedding_bag_4bit_prepack(np.zeros((2, 2), np.float32), True, 0),
            ValueError,
            "nbins",
        ),
        (
            lambda: ops.embedding_bag_4bit_prepack(np.zeros((2, 2), np.float32), True, 10, 1.5),
            ValueError,
            "ratio",
        ),
        (
            lambda: ops.embedding_bag_4bit_prepack(np.zeros((2, 0), np.float32), True),
            ValueError,
            "column",
        ),
        (
            lambda: ops.embedding_bag_4bit_prepack(np.zeros((2, 2), np.float32), 1),
            TypeError,
            "bool",
        ),
        (lambda: ops.embedding_bag_byte_unpack(np.zeros((2, 7), np.uint8)), ValueError, "8 bytes"),
        (lambda: ops.embedding_bag_4bit_unpack(np.zeros((2, 8), np.int8)), TypeError, "uint8"),
        (lambda: ops.embedding_bag_4bit_unpack(np.zeros((2, 2, 8), np.uint8)), ValueError, "2-D"),
        (lambda: ops.embedding_bag_prepack(np.zeros((2, 2), np.float32)), TypeError, "QTensor"),
    ],
)
def test_bad_prepack_arguments_are_refused(call, error, words):
    with pytest.raises(error, match=words):
        call()


def test_module_prepack_refuses_what_torch_would_misread():
    affine = QTensor.per_channel([[1, 2]], [0.5], [0], 0, "quint8")
    with pytest.raises(ValueError, match="float_qparams"):
        ops.embedding_bag_prepack(affine)
    by_column = QTensor.per_channel(
        [[1, 2]], np.float32([1, 1]), np.float32([0, 0]), 1, "quint8", float_qparams=True
    )
    with pytest.raises(ValueError, match="axis 0"):
        ops.embedding_bag_prepack(by_column)
    odd = QTensor.per_channel(
        [[1, 2, 3]], np.float32([1]), np.float32([0]), 0, "quint4x2", float_qparams=True
    )
    with pytest.raises(ValueError, match="even number of columns"):
        ops.embedding_bag_prepack(odd)
    signed = QTensor.per_channel(
        [[1, 2]], np.float32([1]), np.float32([0]), 0, "qint8", float_qparams=True
    )
    with pytest.raises(TypeError, match="quint8 or quint4x2"):
        ops.embedding_bag_prepack(signed)


# -- differential ----------------------------------------------------------------------

_prepack_draw = dict(
    bits=st.sampled_from([8, 4, 2]),
    rows=st.integers(0, 12),
    units=st.integers(0, 24),
    kind=st.sampled_from(
        ["normal", "grid", "constant_rows", "signed_zeros", "special", "huge", "tiny"]
    ),
    half_input=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)


def _prepack_arguments(draws, bits, rows, units, kind, half_input, seed, optimized=False):
    rng = np.random.default_rng(seed)
    cols = units * 4 + (int(rng.integers(0, 4)) if bits == 8 else 0)
    weight = draws.table(rng, (rows, cols), kind)
    if half_input:
        weight = weight.astype(np.float16)
    if optimized:
        return (weight, True, int(rng.integers(1, 300)), float(rng.uniform(0, 1)))
    return (weight,)


@settings(max_examples=cases(100))
@given(**_prepack_draw)
def test_numba_prepack_and_unpack_equal_numpy(
    embedding_draws, bits, rows, units, kind, half_input, seed
):
    arguments = _prepack_arguments(embedding_draws, bits, rows, units, kind, half_input, seed)
    packed = embedding_draws.PREPACKS[bits](*arguments)
    assert_bitexact(embedding_draws.PREPACKS[bits](*arguments, backend="numba"), packed, "packed")
    unpack = embedding_draws.UNPACKS[bits]
    assert_bitexact(unpack(packed, backend="numba"), unpack(packed), "unpacked")


@pytest.mark.torch
@pytest.mark.parametrize("bits", [8, 4, 2])
@settings(max_examples=cases(100))
@given(**{name: draw for name, draw in _prepack_draw.items() if name != "bits"})
def test_prepack_and_unpack_equal_torch(embedding_draws, bits, rows, units, kind, half_input, seed):
    pytest.importorskip("torch")
    arguments = _prepack_arguments(embedding_draws, bits, rows, units, kind, half_input, seed)
    packed = embedding_draws.PREPACKS[bits](*arguments)
    assert_bitexact(packed, embedding_draws.PREPACKS[bits](*arguments, backend="torch"), "packed")
    unpack = embedding_draws.UNPACKS[bits]
    assert_bitexact(unpack(packed), unpack(packed, backend="torch"), "unpacked")


@pytest.mark.torch
@pytest.mark.parametrize("bits", [8, 4, 2])
@pytest.mark.parametrize("kind", ["normal", "special", "signed_zeros"])
def test_tables_larger_than_a_row_block_equal_torch(embedding_draws, bits, kind):
    # The reference packs row blocks of about 2^16 elements: 2,500 rows of 64 columns
    # make two whole blocks and a partial one.
    pytest.importorskip("torch")
    rng = np.random.default_rng(bits)
    weight = embedding_draws.table(rng, (2500, 64), kind)
    pack = embedding_draws.PREPACKS[bits]
    expected = pack(weight, backend="torch")
    assert_bitexact(pack(weight), expected, "packed")
    assert_bitexact(pack(weight, backend="numba"), expected, "numba packed")
    extremes = _given_extremes(rng, weight, "random")
    extra = () if bits == 8 else (False,)
    expected = _WITH_MIN_MAX[bits](weight, extremes, *extra, backend="torch")
    assert_bitexact(_WITH_MIN_MAX[bits](weight, extremes, *extra), expected, "with min max")


@pytest.mark.torch
@pytest.mark.parametrize("bits", [4, 2])
@settings(max_examples=cases(75))
@given(
    **{
        **{name: draw for name, draw in _prepack_draw.items() if name != "bits"},
        "units": st.integers(1, 16),
    }
)
def test_optimized_qparams_prepack_equals_torch(
    embedding_draws, bits, rows, units, kind, half_input, seed
):
    pytest.importorskip("torch")
    arguments = _prepack_arguments(
        embedding_draws, bits, rows, units, kind, half_input, seed, optimized=True
    )
    packed = embedding_draws.PREPACKS[bits](*arguments)
    assert_bitexact(packed, embedding_draws.PREPACKS[bits](*arguments, backend="torch"), "packed")


@pytest.mark.torch
@pytest.mark.parametrize("engine", ["fbgemm-avx2", "fbgemm-avx512", "qnnpack"])
@settings(max_examples=cases(15))
@given(**_prepack_draw)
def test_prepack_is_the_same_on_every_engine(
    embedding_draws, engine, bits, rows, units, kind, half_input, seed
):
    pytest.importorskip("torch")
    arguments = _prepack_arguments(embedding_draws, bits, rows, units, kind, half_input, seed)
    packed = embedding_draws.PREPACKS[bits](*arguments, engine=engine)
    torch_packed = embedding_draws.PREPACKS[bits](*arguments, engine=engine, backend="torch")
    assert_bitexact(packed, torch_packed, f"packed ({engine})")
    unpack = embedding_draws.UNPACKS[bits]
    assert_bitexact(unpack(packed), unpack(packed, engine=engine, backend="torch"), "unpacked")


_WITH_MIN_MAX = {
    8: ops.embedding_bag_byte_prepack_with_rowwise_min_max,
    4: ops.embedding_bag_4bit_prepack_with_rowwise_min_max,
    2: ops.embedding_bag_2bit_prepack_with_rowwise_min_max,
}


def _given_extremes(rng, weight, how):
    """Row [min, max] pairs: the true ones, widened, narrowed (codes out of range),
    swapped, or random."""
    values = weight.astype(np.float32)
    low = np.nanmin(values, axis=1, initial=np.inf) if values.size else np.zeros(len(values))
    high = np.nanmax(values, axis=1, initial=-np.inf) if values.size else np.zeros(len(values))
    low, high = np.nan_to_num(low), np.nan_to_num(high)
    span = high - low
    pairs = {
        "true": (low, high),
        "wide": (low - span, high + span),
        "narrow": (low + span / 3, high - span / 3),
        "swapped": (high, low),
        "random": tuple(rng.normal(size=(2, len(values))) * 10.0 ** rng.uniform(-3, 3)),
    }[how]
    return np.stack(pairs, axis=1).astype(weight.dtype)


@pytest.mark.torch
@pytest.mark.parametrize("bits", [8, 4, 2])
@settings(max_examples=cases(60))
@given(
    **{name: draw for name, draw in _prepack_draw.items() if name != "bits"},
    how=st.sampled_from(["true", "wide", "narrow", "swapped", "random"]),
    optimized=st.booleans(),
)
def test_prepack_with_rowwise_min_max_equals_torch(
    embedding_draws, bits, rows, units, kind, half_input, seed, how, optimized
):
    pytest.importorskip("torch")
    (weight,) = _prepack_arguments(embedding_draws, 4, rows, units, kind, half_input, seed)
    extremes = _given_extremes(np.random.default_rng(seed), weight, how)
    extra = () if bits == 8 else (optimized and units > 0,)
    pack = _WITH_MIN_MAX[bits]
    expected = pack(weight, extremes, *extra, backend="torch")
    assert_bitexact(pack(weight, extremes, *extra), expected, "packed")
    assert_bitexact(pack(weight, extremes, *extra, backend="numba"), expected, "numba packed")


def test_rowwise_min_max_must_match_the_table():
    weight = np.zeros((3, 4), np.float32)
    with pytest.raises(TypeError, match="float32 array like the weight"):
        ops.embedding_bag_byte_prepack_with_rowwise_min_max(weight, np.zeros((3, 2), np.float16))
    with pytest.raises(ValueError, match=r"shape \(rows, 2\)"):
        ops.embedding_bag_4bit_prepack_with_rowwise_min_max(weight, np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError, match="2-D table"):
        ops.embedding_bag_byte_prepack_with_rowwise_min_max(
            np.zeros((2, 3, 4), np.float32), np.zeros((2, 2), np.float32)
        )
