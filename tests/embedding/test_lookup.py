"""EmbeddingBag / Embedding lookups: hand-checked values, the bag layouts torch's
kernels form, refusals, numpy == numba, and bit-exact agreement with torch."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qemu import QTensor
from qemu.ops import embedding as ops
from qemu.testing import assert_bitexact, cases


def _byte_table(scales, biases, codes) -> np.ndarray:
    """An 8-bit packed table built by hand."""
    tail = np.stack([np.float32(scales), np.float32(biases)], axis=1).view(np.uint8)
    return np.concatenate([np.asarray(codes, dtype=np.uint8), tail], axis=1)


# -- hand-checked values ---------------------------------------------------------------


def test_each_row_is_added_with_one_fused_multiply_add(emulator_backend):
    # out = fma(code, scale, out + bias): code 255 with scale 1 + 2^-23 and bias
    # -fl(255 * scale) leaves the exact residual -2^-23 (separate operations give 0).
    scale = np.float32(1 + 2**-23)
    packed = _byte_table([scale], [-(np.float32(255) * scale)], [[255]])
    out = ops.embedding_bag_byte_rowwise_offsets(
        packed, np.array([0]), np.array([0]), backend=emulator_backend
    )
    assert out.tolist() == [[-(2.0**-23)]]


def test_bias_joins_the_sum_before_the_product(emulator_backend):
    # Two rows: out = fma(q1, s1, fma(q0, s0, 0 + b0) + b1). With b1 = 2^24 and a
    # first partial sum of 1.5 the add rounds (to even) before the product is added.
    packed = _byte_table([1.0, 0.5], [0.5, 2.0**24], [[1], [1]])
    out = ops.embedding_bag_byte_rowwise_offsets(
        packed, np.array([0, 1]), np.array([0]), backend=emulator_backend
    )
    assert out.tolist() == [[float(np.float32(np.float32(1.5) + np.float32(2.0**24)) + 0.5)]]


@pytest.mark.parametrize("mode", [0, 1, 2, "sum", "mean", "max"])
def test_every_mode_returns_the_sum(emulator_backend, mode):
    packed = ops.embedding_bag_byte_prepack(np.float32([[0, 1], [2, 4]]))
    out = ops.embedding_bag_byte_rowwise_offsets(
        packed, np.array([0, 1, 1]), np.array([0]), mode=mode, backend=emulator_backend
    )
    assert out.tolist() == [[4.0, 9.0]]


def test_per_sample_weight_scales_scale_and_bias(emulator_backend):
    packed = _byte_table([0.5], [3.0], [[4]])
    weights = np.float32([-2.0])
    out = ops.embedding_bag_byte_rowwise_offsets(
        packed, np.array([0]), np.array([0]), per_sample_weights=weights, backend=emulator_backend
    )
    assert out.tolist() == [[4 * -1.0 + -6.0]]


def test_empty_bags_are_zero_and_no_offsets_means_no_bags(emulator_backend):
    packed = ops.embedding_bag_4bit_prepack(np.float32([[1, 2], [3, 4]]))
    out = ops.embedding_bag_4bit_rowwise_offsets(
        packed, np.array([1]), np.array([0, 0, 1]), backend=emulator_backend
    )
    assert out[:, 0].tolist() == [0.0, 3.0, 0.0]
    none = ops.embedding_bag_4bit_rowwise_offsets(
        packed, np.array([1]), np.zeros(0, np.int64), backend=emulator_backend
    )
    assert none.shape == (0, 2)


def test_byte_bags_read_absolute_offsets_and_nbit_bags_are_shifted(emulator_backend):
    # offsets [1, 2] over 4 indices: the dense 8-bit kernel reads positions 1:2 and
    # 2:4; the 4-bit kernel walks from position 0 and reads 0:1 and 1:3.
    weight = np.float32([[0, 0], [1, 1], [2, 2], [4, 4]])
    indices, offsets = np.array([0, 1, 2, 3]), np.array([1, 2])
    byte = ops.embedding_bag_byte_rowwise_offsets(
        ops.embedding_bag_byte_prepack(weight), indices, offsets, backend=emulator_backend
    )
    nbit = ops.embedding_bag_4bit_rowwise_offsets(
        ops.embedding_bag_4bit_prepack(weight), indices, offsets, backend=emulator_backend
    )
    assert byte[:, 0].tolist() == [1.0, 6.0]
    assert nbit[:, 0].tolist() == [0.0, 3.0]


def test_byte_bags_may_end_before_the_last_index(emulator_backend):
    packed = ops.embedding_bag_byte_prepack(np.float32([[1], [2], [4]]))
    out = ops.embedding_bag_byte_rowwise_offsets(
        packed,
        np.array([0, 1, 2]),
        np.array([0, 1, 2]),
        include_last_offset=True,
        backend=emulator_backend,
    )
    assert out[:, 0].tolist() == [1.0, 2.0]


def test_2d_indices_are_one_bag_per_row(emulator_backend):
    packed = ops.embedding_bag_byte_prepack(np.float32([[1], [2], [4]]))
    out = ops.embedding_bag_byte_rowwise_offsets(
        packed, np.array([[0, 1], [2, 2]]), backend=emulator_backend
    )
    assert out[:, 0].tolist() == [3.0, 8.0]


def test_pruned_rows_are_skipped_and_a_zero_mapping_means_dense(emulator_backend):
    packed = ops.embedding_bag_byte_prepack(np.float32([[1], [2], [4]]))
    mapping = np.array([2, -1, 0], dtype=np.int32)
    out = ops.embedding_bag_byte_rowwise_offsets(
        packed,
        np.array([0, 1, 2]),
        np.array([0]),
        pruned_weights=True,
        compressed_indices_mapping=mapping,
        backend=emulator_backend,
    )
    assert out[:, 0].tolist() == [5.0]
    dense = ops.embedding_bag_byte_rowwise_offsets(
        packed,
        np.array([1, 2]),
        np.array([0]),
        pruned_weights=True,
        compressed_indices_mapping=np.zeros(1, np.int32),
        backend=emulator_backend,
    )
    assert dense[:, 0].tolist() == [6.0]


def test_embedding_keeps_the_shape_of_the_indices(emulator_backend):
    q = QTensor.per_channel(
        [[0, 2], [1, 1]],
        np.float32([0.5, 1.0]),
        np.float32([0.0, 1.0]),
        0,
        "quint8",
        float_qparams=True,
    )
    out = ops.embedding_byte(q, np.array([[1, 0, 0]], dtype=np.int32), backend=emulator_backend)
    assert out.tolist() == [[[0.0, 0.0], [0.0, 1.0], [0.0, 1.0]]]
    q4 = QTensor.per_channel(
        q.codes, np.float32([0.5, 1.0]), np.float32([0.0, 1.0]), 0, "quint4x2", float_qparams=True
    )
    empty = ops.embedding_4bit(q4, np.zeros((2, 0), np.int64), backend=emulator_backend)
    assert empty.shape == (2, 0, 2)


# -- refusals --------------------------------------------------------------------------

_PACKED = ops.embedding_bag_byte_prepack(np.arange(12, dtype=np.float32).reshape(3, 4))
_PACKED4 = ops.embedding_bag_4bit_prepack(np.arange(12, dtype=np.float32).reshape(3, 4))
_BAD_LOOKUPS = [
    # (bits, arguments, keyword arguments, error, words, whether torch raises too;
    # where it does not, it returns numbers read from memory it should not read)
    (
        8,
        (np.array([0, 3]), np.array([0])),
        {},
        ValueError,
        "index 3 at position 1 is out of range",
        True,
    ),
    (4, (np.array([-1, 0]), np.array([0])), {}, ValueError, "index -1 at position 0", True),
    (8, (np.array([0, 1, 2]), np.array([0, 2, 1])), {}, ValueError, "non-decreasing", True),
    (4, (np.array([0, 1, 2]), np.array([0, 2, 1])), {}, ValueError, "non-decreasing", False),
    (4, (np.array([0, 1, 2]), np.array([0, 4])), {}, ValueError, "non-decreasing", True),
    (8, (np.array([0, 1, 2]), np.array([-1, 2])), {}, ValueError, "offsets >= 0", True),
    (
        8,
        (np.array([0, 1]), np.array([0, 3])),
        {"include_last_offset": True},
        ValueError,
        "past the end",
        False,  # torch reads past the end of the indices
    ),
    (
        4,
        (np.array([0, 1]), np.array([0, 1])),
        {"include_last_offset": True},
        ValueError,
        "must equal len",
        True,
    ),
    (
        8,
        (np.array([0, 1]), np.zeros(0, np.int64)),
        {"include_last_offset": True},
        ValueError,
        "at least one offset",
        True,
    ),
    (
        8,
        (np.array([0, 1]), np.array([0])),
        {"per_sample_weights": np.ones(3, np.float32)},
        ValueError,
        "one weight per index",
        False,
    ),
    (
        4,
        (np.array([0, 1]), np.array([0])),
        {"per_sample_weights": np.ones(1, np.float32)},
        ValueError,
        "one weight per index",
        False,
    ),
    (
        8,
        (np.array([0, 1]), np.array([0])),
        {"per_sample_weights": np.ones(2, np.float16)},
        TypeError,
        "float32 for 8-bit",
        True,
    ),
    (
        4,
        (np.array([0, 1]), np.array([0])),
        {"per_sample_weights": np.ones(2, np.float64)},
        TypeError,
        "float32 or float16",
        True,
    ),
    (8, (np.array([0, 1], np.int16), np.array([0])), {}, TypeError, "int32 or int64", True),
    (8, (np.array([0, 1]), np.array([[0]])), {}, ValueError, "1-D", True),
    (8, (np.array([[0, 1]]), np.array([0])), {}, ValueError, "must be None", True),
    (8, (np.array([0, 1]), None), {}, ValueError, "need offsets", True),
    (8, (np.zeros((1, 1, 1), np.int64), None), {}, ValueError, "1-D or 2-D", True),
    (8, (np.zeros((2, 0), np.int64), None), {}, ValueError, "no columns", True),
    (
        8,
        (np.array([0]), np.array([0])),
        {"pruned_weights": True},
        ValueError,
        "needs the mapping",
        True,
    ),
    (
        8,
        (np.array([0]), np.array([0])),
        {"compressed_indices_mapping": np.zeros(2, np.int32)},
        ValueError,
        "pruned_weights=False",
        False,
    ),
    (
        8,
        (np.array([0]), np.array([0])),
        {"pruned_weights": True, "compressed_indices_mapping": np.zeros(2, np.int64)},
        TypeError,
        "int32",
        True,
    ),
    (
        4,
        (np.array([2]), np.array([0])),
        {"pruned_weights": True, "compressed_indices_mapping": np.zeros(2, np.int32)},
        ValueError,
        "mapping entries",
        True,
    ),
    (
        8,
        (np.array([1]), np.array([0])),
        {"pruned_weights": True, "compressed_indices_mapping": np.array([0, 3], np.int32)},
        ValueError,
        "maps to row 3",
        False,
    ),
    (
        8,
        (np.array([1]), np.array([0])),
        {"pruned_weights": True, "compressed_indices_mapping": np.array([0, -2], np.int32)},
        ValueError,
        "maps to row -2",
        False,
    ),
    (8, (np.array([0]), np.array([0])), {"mode": 3}, ValueError, "mode", False),
    (8, (np.array([0]), np.array([0])), {"mode": "median"}, ValueError, "mode", True),
    (8, (np.array([0]), np.array([0])), {"include_last_offset": 1}, TypeError, "bool", False),
]


def _lookup(bits):
    return (
        ops.embedding_bag_byte_rowwise_offsets
        if bits == 8
        else ops.embedding_bag_4bit_rowwise_offsets
    )


@pytest.mark.parametrize(
    ("bits", "arguments", "keywords", "error", "words", "torch_raises"), _BAD_LOOKUPS
)
def test_bad_lookups_are_refused(bits, arguments, keywords, error, words, torch_raises):
    with pytest.raises(error, match=words):
        _lookup(bits)(_PACKED if bits == 8 else _PACKED4, *arguments, **keywords)


def test_bad_tables_are_refused():
    with pytest.raises(TypeError, match="uint8"):
        ops.embedding_bag_byte_rowwise_offsets(
            _PACKED.astype(np.int8), np.array([0]), np.array([0])
        )
    with pytest.raises(ValueError, match="4 bytes"):
        ops.embedding_bag_4bit_rowwise_offsets(
            np.zeros((2, 3), np.uint8), np.array([0]), np.array([0])
        )
    with pytest.raises(ValueError, match="dimension 0"):
        ops.embedding_bag_byte_rowwise_offsets(
            np.zeros((2, 8), np.uint8), np.array([0]), np.array([0])
        )
    q = QTensor.per_channel(
        [[1, 2]], np.float32([1]), np.float32([0]), 0, "quint8", float_qparams=True
    )
    narrow = QTensor.per_channel(
        [[1, 2, 3, 4]], np.float32([1]), np.float32([0]), 0, "quint4x2", float_qparams=True
    )
    with pytest.raises(ValueError, match="rows of -2 values"):
        ops.embedding_byte(narrow, np.array([0]))
    signed = QTensor.per_channel(
        [[1, 2]], np.float32([1]), np.float32([0]), 0, "qint8", float_qparams=True
    )
    with pytest.raises(TypeError, match="quint8 or quint4x2"):
        ops.embedding_bag_byte(signed, np.array([0]), np.array([0]))
    with pytest.raises(ValueError, match="cannot take the compressed_indices_mapping"):
        ops.embedding_byte(q, np.array([0]), pruned_weights=True)
    with pytest.raises(ValueError, match="out of range"):
        ops.embedding_byte(q, np.array([1]))


@pytest.mark.torch
@pytest.mark.parametrize(
    ("bits", "arguments", "keywords"),
    [case[:3] for case in _BAD_LOOKUPS if case[5] and not isinstance(case[2].get("mode"), str)],
)
def test_torch_refuses_these_too(bits, arguments, keywords):
    torch = pytest.importorskip("torch")
    op = getattr(torch.ops.quantized, _lookup(bits).__name__)
    tensors = [None if a is None else torch.from_numpy(a) for a in arguments]
    keywords = {
        key: torch.from_numpy(value) if isinstance(value, np.ndarray) else value
        for key, value in keywords.items()
    }
    with pytest.raises((RuntimeError, TypeError, ValueError)):
        op(torch.from_numpy(_PACKED if bits == 8 else _PACKED4), *tensors, **keywords)


# -- numpy == numba, and both == torch -------------------------------------------------

_lookup_options = st.fixed_dictionaries(
    {
        "layout": st.sampled_from(["offsets", "offsets", "2d"]),
        "index_dtype": st.sampled_from([np.int32, np.int64]),
        "offset_dtype": st.sampled_from([np.int32, np.int64]),
        "include_last_offset": st.booleans(),
        "leading_offset": st.booleans(),
        "weights": st.sampled_from([None, "normal", "special", "float16"]),
        "pruning": st.sampled_from([None, None, "mapping", "dense_marker"]),
        "mode": st.sampled_from([0, 1, 2]),
        "table_kind": st.sampled_from(
            ["normal", "grid", "constant_rows", "signed_zeros", "special", "huge", "tiny"]
        ),
    }
)


@settings(max_examples=cases(150))
@given(bits=st.sampled_from([8, 4, 2]), options=_lookup_options, seed=st.integers(0, 2**32 - 1))
def test_numba_lookup_equals_numpy(embedding_draws, bits, options, seed):
    case = embedding_draws.lookup(np.random.default_rng(seed), bits, options)
    lookup = embedding_draws.LOOKUPS[bits]
    assert_bitexact(lookup(*case.arguments(), backend="numba"), lookup(*case.arguments()), "bags")


@pytest.mark.torch
@pytest.mark.parametrize("bits", [8, 4, 2])
@settings(max_examples=cases(300))
@given(options=_lookup_options, seed=st.integers(0, 2**32 - 1))
def test_lookup_equals_torch(embedding_draws, bits, options, seed):
    pytest.importorskip("torch")
    case = embedding_draws.lookup(np.random.default_rng(seed), bits, options)
    lookup = embedding_draws.LOOKUPS[bits]
    expected = lookup(*case.arguments(), backend="torch")
    assert_bitexact(lookup(*case.arguments()), expected, "numpy bags")
    assert_bitexact(lookup(*case.arguments(), backend="numba"), expected, "numba bags")


@pytest.mark.torch
@pytest.mark.parametrize("engine", ["fbgemm-avx2", "fbgemm-avx512", "qnnpack"])
@settings(max_examples=cases(20))
@given(bits=st.sampled_from([8, 4, 2]), options=_lookup_options, seed=st.integers(0, 2**32 - 1))
def test_lookup_is_the_same_on_every_engine(embedding_draws, engine, bits, options, seed):
    pytest.importorskip("torch")
    case = embedding_draws.lookup(np.random.default_rng(seed), bits, options)
    lookup = embedding_draws.LOOKUPS[bits]
    expected = lookup(*case.arguments(), engine=engine, backend="torch")
    assert_bitexact(lookup(*case.arguments(), engine=engine), expected, f"bags ({engine})")


def _quantized_table(rng, dtype, rows, dim, kind, draws):
    weight = draws.table(rng, (rows, dim), kind)
    weight[~np.isfinite(weight)] = 0.0  # the observer needs finite rows
    weight = np.clip(weight, -1e38, 1e38)  # whose range stays finite
    return ops.quantize_embedding_weight(weight, dtype)


@pytest.mark.torch
@pytest.mark.parametrize("dtype", ["quint8", "quint4x2"])
@settings(max_examples=cases(150))
@given(options=_lookup_options, seed=st.integers(0, 2**32 - 1))
def test_module_path_ops_equal_torch(embedding_draws, dtype, options, seed):
    """embedding_bag_byte / _4bit and embedding_byte / _4bit take the quantized table
    and pack it the way ``torch.ops.quantized.embedding_bag_prepack`` does."""
    pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    bits = 8 if dtype == "quint8" else 4
    case = embedding_draws.lookup(rng, bits, options)
    rows = case.packed.shape[0]
    weight = _quantized_table(
        rng, dtype, rows, 2 * int(rng.integers(1, 20)), options["table_kind"], embedding_draws
    )
    bag, single = (
        (ops.embedding_bag_byte, ops.embedding_byte)
        if bits == 8
        else (ops.embedding_bag_4bit, ops.embedding_4bit)
    )
    arguments = (weight, *case.arguments()[1:])
    expected = bag(*arguments, backend="torch")
    assert_bitexact(bag(*arguments), expected, "numpy bags")
    assert_bitexact(bag(*arguments, backend="numba"), expected, "numba bags")
    indices = rng.integers(0, rows, rng.integers(0, 4, 1 + int(rng.integers(0, 2)))).astype(
        options["index_dtype"]
    )
    if rng.random() < 0.2 and (bits == 8 or weight.shape[1] >= 10):
        # The other op on this table: torch reads the packed rows at the wrong bit rate.
        single = ops.embedding_4bit if bits == 8 else ops.embedding_byte
    expected = single(weight, indices, backend="torch")
    assert_bitexact(single(weight, indices), expected, "numpy embedding")
    assert_bitexact(single(weight, indices, backend="numba"), expected, "numba embedding")
