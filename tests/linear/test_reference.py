"""Static int8 linear / convolution without torch: hand-checked values, the exactness
bound of the float32 GEMM, the requantization primitives, prepack, fbgemm's kernel
choice, numpy == numba on random draws, and the errors."""

import weakref
from functools import partial

import numpy as np
import pytest
from linear.cases import ALL_OPS, ops_for, random_case

import qemu
import qemu.ops
from qemu.numerics.float32 import cvt_f32_to_i32, fma_f32, saturate_i16
from qemu.numerics.int8gemm import CENTERED_FLOAT32_EXACT_K, gemm_u8s8_exact
from qemu.numerics.requantize import (
    _fused_bias,
    fbgemm_requantization_params,
    qnnpack_requantization_scales,
    quantize_bias_qnnpack,
    quint8_output,
    requantize_fbgemm,
    requantize_qnnpack,
)
from qemu.ops.conv import ConvGeometry, fbgemm_conv_path
from qemu.ops.linear import prepack_fbgemm, prepack_qnnpack, qnnpack_int32_bias
from qemu.testing import assert_bitexact, cases, seeded_rng

ENGINES = qemu.engines.names()


def per_tensor(codes, scale, zero_point, dtype):
    return qemu.QTensor.per_tensor(np.array(codes).astype(np.int64), scale, zero_point, dtype)


# -- the exact GEMM -------------------------------------------------------------------


def test_centered_float32_chunk_bound():
    # 1024 products of magnitude 128 * 128 sum to at most 2^24, the last integer from
    # which float32 still holds every integer below it.
    assert CENTERED_FLOAT32_EXACT_K * 128 * 128 == 2**24


def test_gemm_is_exact_where_one_float32_product_is_not():
    k = 3 * CENTERED_FLOAT32_EXACT_K + 77
    a = np.zeros((2, k), np.uint8)  # centred: -128
    w = np.full((3, k), -128, np.int8)
    a[:, -1] = 1  # an odd last product (-127 * -128... centred), so the total is odd
    w[:, -1] = -127
    a[1, ::3] = 255
    exact = a.astype(np.int64) @ w.astype(np.int64).T
    assert_bitexact(gemm_u8s8_exact(a, w), exact, "chunked float32 BLAS")
    one_product = ((a.astype(np.float32) - 128) @ w.astype(np.float32).T).astype(np.int64)
    one_product += 128 * w.sum(axis=1, dtype=np.int64)
    assert (one_product != exact).any()  # without the chunks float32 rounds


def test_gemm_batches_groups():
    rng = seeded_rng("linear", "gemm-groups")
    a = rng.integers(0, 256, (3, 5, 40), dtype=np.uint8)
    w = rng.integers(-128, 128, (3, 4, 40), dtype=np.int8)
    expected = np.einsum("gmk,gnk->gmn", a.astype(np.int64), w.astype(np.int64))
    assert_bitexact(gemm_u8s8_exact(a, w), expected)


# -- requantization primitives --------------------------------------------------------


def _output_sequence(scaled, zero_point, lower, upper):
    """cvtps2dq, packs_epi32, adds_epi16, packus_epi16, max/min, step by step."""
    rounded = cvt_f32_to_i32(scaled).astype(np.int64)
    packed = saturate_i16(saturate_i16(rounded) + zero_point)
    return np.clip(np.clip(packed, 0, 255), lower, upper).astype(np.uint8)


def test_output_sequence():
    scaled = np.float32([-3e9, -40000, -5.5, -0.5, 0.5, 4.5, 300, 40000, 2**31, 3e9, np.nan,
                         np.inf, -np.inf, 2**24 + 3, -(2**24) - 3])  # fmt: skip
    assert quint8_output(scaled, 10, 0, 255).tolist() == [0, 0, 4, 10, 10, 14, 255, 255, 0, 0,
                                                          0, 0, 0, 255, 0]  # fmt: skip
    rng = seeded_rng("linear", "output-sequence")
    values = (rng.standard_normal(20000) * 10.0 ** rng.uniform(-2, 12, 20000)).astype(np.float32)
    values[::7] = np.rint(values[::7]) + 0.5  # ties
    for zero_point, lower, upper in [(0, 0, 255), (128, 128, 255), (255, 0, 255), (3, 3, 200)]:
        assert_bitexact(
            quint8_output(values, zero_point, lower, upper),
            _output_sequence(values, zero_point, lower, upper),
        )


def test_fbgemm_multiplier_is_a_float_division():
    ats, multiplier = fbgemm_requantization_params(0.1, np.float32([0.3]), 0.7)
    assert ats[0] == np.float32(0.1) * np.float32(0.3)
    assert multiplier[0] == ats[0] / np.float32(0.7)


def test_fbgemm_per_tensor_bias_is_fused():
    # bias * rcp + acc rounds once: the float32 product alone would round first.
    ats = np.float32([1 / 3])
    reciprocal = np.float32(1.0 / np.float64(ats[0]))
    rng = seeded_rng("linear", "fma-bias")
    bias = rng.normal(0, 50, 4000).astype(np.float32)
    acc = rng.integers(-(2**20), 2**20, 4000)
    fused = fma_f32(bias, reciprocal, acc.astype(np.float32))
    unfused = acc.astype(np.float32) + bias * reciprocal
    assert (fused != unfused).any()
    multiplier = np.float32([1.0])
    codes = requantize_fbgemm(
        acc[None], ats, multiplier, bias, per_channel=False, output_zero_point=0, relu=False
    )
    expected = _output_sequence(fused, 0, 0, 255)
    assert_bitexact(codes[0], expected)


def test_fused_bias_fast_path_catches_double_rounding():
    # acc + bias * rcp = 2^30 + 128 + 64 - 2^-24: float64 rounds it onto the float32
    # midpoint 2^30 + 192, whose tie then goes up to 2^30 + 256; one rounding stays at
    # 2^30 + 128.
    acc = np.float32([[2**30 + 128]])
    bias = np.float32([1 + 2**-15])
    reciprocal = np.float32(64 - 2**-9)
    double_rounded = acc.astype(np.float64) + np.float64(bias[0]) * np.float64(reciprocal)
    assert double_rounded.astype(np.float32)[0, 0] == 2**30 + 256
    assert _fused_bias(acc, bias, reciprocal)[0, 0] == 2**30 + 128
    assert fma_f32(bias, reciprocal, acc)[0, 0] == 2**30 + 128


def test_fbgemm_per_channel_bias_is_divided():
    ats = np.float32([0.1, 0.3])
    multiplier = np.float32([1.0, 1.0])
    bias = np.float32([7.0, -11.0])
    codes = requantize_fbgemm(
        np.array([[3, 4]]), ats, multiplier, bias, per_channel=True, output_zero_point=100,
        relu=False,
    )  # fmt: skip
    expected = np.rint(np.float32([3, 4]) + bias / ats).astype(np.int64) + 100
    assert codes.tolist() == [np.clip(expected, 0, 255).tolist()]


def test_fbgemm_overflow_gives_int32_min():
    # cvtps2dq of a value past int32 is INT32_MIN: a huge positive result becomes 0.
    codes = requantize_fbgemm(
        np.array([[2**30]]), np.float32([1.0]), np.float32([8.0]), None, per_channel=False,
        output_zero_point=7, relu=False,
    )  # fmt: skip
    assert codes.tolist() == [[0]]


def test_qnnpack_scales_and_refusal():
    scales = qnnpack_requantization_scales(np.float32([0.5, 0.25]), 0.5, 0.5)
    inverse = np.float32(1) / np.float32(0.5)
    assert scales.tolist() == [np.float32(0.25) * inverse, np.float32(0.125) * inverse]
    with pytest.raises(ValueError, match="finite and positive"):
        qnnpack_requantization_scales(np.float32([1.0]), 1e-30, 1e10)
    codes = requantize_qnnpack(np.array([[3, -3]]), np.float32([0.5, 0.5]), 10, 10, 255)
    assert codes.tolist() == [[12, 10]]


def test_qnnpack_bias_quantization():
    assert quantize_bias_qnnpack(np.float32([1.0, np.nan]), np.array([0.5, 0.5])).tolist() == [
        2,
        -(2**31),
    ]


# -- prepack --------------------------------------------------------------------------


def test_prepack_fbgemm_column_offsets_and_cache():
    w = qemu.QTensor.per_channel(
        np.array([[1, 2, 3], [-4, 5, -6]]), [0.5, 0.25], [1, -2], 0, "qint8"
    )
    packed = prepack_fbgemm(w)
    assert packed.col_offsets.tolist() == [6 - 3, -5 + 6]
    assert packed.scales.dtype == np.float32 and packed.per_channel
    assert prepack_fbgemm(w) is packed
    assert prepack_fbgemm(w.with_codes(w.codes)) is not packed


def test_prepack_cache_entry_of_a_dead_weight_neither_hits_nor_evicts():
    """An entry left under an id by another weight is not returned for the weight that
    now has that id, and that other weight's death does not evict the new entry (the
    cache used to key on the codes array, whose late death popped whatever held the key)."""
    import gc
    import importlib

    linear_module = importlib.import_module("qemu.ops.linear")  # qemu.ops.linear is the op

    other = qemu.QTensor.per_channel(np.array([[1, -2, 3]]), [0.5], [0], 0, "qint8")
    weight = qemu.QTensor.per_channel(np.array([[1, -2, 3]]), [0.25], [1], 0, "qint8")
    key = (id(weight), "entry")
    stale_ref = weakref.ref(other, partial(linear_module._forget_prepacked, key))
    linear_module._PREPACKED[key] = (stale_ref, "stale")
    assert linear_module.cached_prepack(weight, "entry", lambda: "fresh") == "fresh"
    del other
    gc.collect()
    assert linear_module.cached_prepack(weight, "entry", lambda: "rebuilt") == "fresh"
    del weight
    gc.collect()
    assert key not in linear_module._PREPACKED


def test_prepack_qnnpack_shifts_weights_and_quantizes_bias():
    w = per_tensor([[-128, 0, 127]], 0.5, -3, "qint8")
    packed = prepack_qnnpack(w)
    assert packed.kernel.tolist() == [[[0, 128, 255]]]
    assert packed.kernel_zero_points.tolist() == [125]
    assert qnnpack_int32_bias(packed, np.float32([1.0]), 0.25).tolist() == [8]
    assert qnnpack_int32_bias(packed, None, 0.25).tolist() == [0]


# -- fbgemm's kernel choice -----------------------------------------------------------


@pytest.mark.parametrize(
    ("geometry", "channels", "kernel", "path"),
    [
        (ConvGeometry(False, (1, 1), (1, 1), (0, 0), (1, 1), 16), (16, 32), (3, 3), "depthwise"),
        (ConvGeometry(False, (2, 1), (2, 2), (0, 0), (1, 1), 8), (8, 8), (5, 5), "depthwise"),
        (ConvGeometry(False, (1, 1), (0, 1), (0, 0), (1, 1), 16), (16, 16), (3, 3), "im2col"),
        (
            ConvGeometry(False, (1, 1, 1), (2, 1, 1), (0,) * 3, (1,) * 3, 8),
            (8, 8),
            (5, 3, 3),
            "depthwise",
        ),  # fmt: skip
        (ConvGeometry(False, (1, 1), (1, 1), (0, 0), (1, 1), 8), (32, 32), (3, 3), "groupwise"),
        (ConvGeometry(False, (2, 2), (1, 1), (0, 0), (1, 1), 4), (32, 32), (3, 3), "groupwise"),
        (ConvGeometry(False, (2, 1), (1, 1), (0, 0), (1, 1), 4), (32, 32), (3, 3), "im2col"),
        (ConvGeometry(False, (1, 1), (0, 0), (0, 0), (1, 1), 2), (6, 8), (1, 1), "pointwise"),
        (ConvGeometry(True, (2, 2), (0, 0), (1, 0), (1, 1), 1), (8, 16), (2, 3), "directconv"),
        (ConvGeometry(True, (2, 2), (0, 0), (0, 0), (1, 1), 1), (8, 12), (2, 3), "im2col"),
    ],
)
def test_fbgemm_conv_path(geometry, channels, kernel, path):
    assert fbgemm_conv_path(geometry, *channels, kernel) == path


def test_groupwise_needs_enough_groups_for_the_vector_width():
    geometry = ConvGeometry(False, (1, 1), (1, 1), (0, 0), (1, 1), 4)
    assert fbgemm_conv_path(geometry, 8, 8, (3, 3), vector_bytes=64) == "im2col"
    assert fbgemm_conv_path(geometry, 8, 8, (3, 3), vector_bytes=32) == "groupwise"


# -- hand-checked values ---------------------------------------------------------------


def test_linear_pair_saturation_by_hand():
    # x = [255, 255] (za 0), w = [-128, -128]: exact -65280, one saturated pair -32768.
    x = per_tensor([[255, 255]], 1.0, 0, "quint8")
    w = per_tensor([[-128, -128]], 1.0, 0, "qint8")
    for engine, acc in [("fbgemm", -65280), ("fbgemm-avx2", -32768), ("fbgemm-avx512", -32768),
                        ("qnnpack", -65280)]:  # fmt: skip
        for backend in ("numpy", "numba"):
            out = qemu.ops.linear(x, w, None, 512.0, 200, engine=engine, backend=backend)
            assert out.int_repr().tolist() == [[200 + round(acc / 512)]], (engine, backend)


def test_conv_reads_zero_point_outside_the_image():
    # A 3x3 kernel of ones over a 1x1 image with padding 1: eight taps read za = 10.
    x = per_tensor(np.full((1, 1, 1, 1), 20), 1.0, 10, "quint8")
    w = per_tensor(np.ones((1, 1, 3, 3)), 1.0, 0, "qint8")
    for engine in ENGINES:
        out = qemu.ops.conv2d(x, w, None, 1, 1, scale=1.0, zero_point=0, engine=engine)
        assert out.int_repr().tolist() == [[[[10]]]], engine


def test_depthwise_saturates_tap_pairs_on_vnni_too():
    # 8 channels, 3x3 taps of 255 * -128: every pair saturates to -32768 on fbgemm.
    x = per_tensor(np.full((1, 8, 3, 3), 255), 1.0, 0, "quint8")
    w = per_tensor(np.full((8, 1, 3, 3), -128), 1.0, 0, "qint8")
    for engine in ("fbgemm", "fbgemm-avx2"):
        for backend in ("numpy", "numba"):
            out = qemu.ops.conv2d(x, w, None, 1, 1, 1, 8, scale=2**20, zero_point=128,
                                  engine=engine, backend=backend)  # fmt: skip
            center = out.int_repr()[0, :, 1, 1]
            assert (center == 128 + round((-4 * 32768 - 255 * 128) / 2**20)).all()
    exact = qemu.ops.conv2d(x, w, None, 1, 1, 1, 8, scale=2**20, zero_point=128, engine="qnnpack")
    assert (exact.int_repr()[0, :, 1, 1] == 128 + round(-9 * 255 * 128 / 2**20)).all()


@pytest.mark.parametrize("engine", ENGINES)
def test_empty_batches(engine):
    for groups, shape in [(8, (8, 1, 3, 3)), (1, (4, 8, 3, 3))]:  # depthwise, im2col
        x = per_tensor(np.zeros((0, 8, 5, 5)), 0.1, 3, "quint8")
        w = per_tensor(np.ones(shape), 0.1, 0, "qint8")
        for backend in ("numpy", "numba"):
            out = qemu.ops.conv2d(x, w, None, 1, 1, 1, groups, engine=engine, backend=backend)
            assert out.shape == (0, shape[0], 5, 5)
    x = per_tensor(np.zeros((0, 8, 2, 2)), 0.1, 3, "quint8")
    w = per_tensor(np.ones((8, 8, 2, 2)), 0.1, 0, "qint8")
    for backend in ("numpy", "numba"):
        out = qemu.ops.conv_transpose2d(x, w, None, 2, engine=engine, backend=backend)
        assert out.shape == (0, 8, 4, 4)


def test_reflect_padding_copies_codes():
    x = per_tensor(np.arange(5).reshape(1, 1, 5) + 100, 1.0, 100, "quint8")
    w = per_tensor(np.ones((1, 1, 1)), 1.0, 0, "qint8")
    out = qemu.ops.conv1d(x, w, None, 1, 2, 1, 1, "reflect", 1.0, 0)
    assert out.int_repr().tolist() == [[[2, 1, 0, 1, 2, 3, 4, 3, 2]]]


# -- numpy == numba ---------------------------------------------------------------------


@pytest.mark.parametrize("op", ALL_OPS)
@pytest.mark.parametrize("engine", ENGINES)
def test_numba_equals_numpy(op, engine):
    if op not in ops_for(engine):
        pytest.skip(f"{op} is refused on {engine}")
    rng = seeded_rng("linear-numba", op, engine)
    for _ in range(cases(15)):
        name, args, kwargs = random_case(rng, op, engine)
        fn = getattr(qemu.ops, name)
        expected = fn(*args, **kwargs, engine=engine, backend="numpy")
        actual = fn(*args, **kwargs, engine=engine, backend="numba")
        assert_bitexact(actual, expected, f"{name} numba")


@pytest.mark.parametrize("dims", [2, 3])
def test_depthwise_numba_equals_numpy_on_long_rows(dims):
    # The random cases' images are at most 7 wide, while the numba depthwise kernel's
    # vector loops run their main body only on output rows of 64 and more: long rows,
    # both strides, OC = C and 2C, weight zero points (activation sums), saturating
    # operands and channels-last input (a previous convolution's output).
    rng = seeded_rng("linear-numba-depthwise-rows", dims)
    for _ in range(cases(6)):
        channels, multiple = int(rng.choice([8, 16])), int(rng.choice([1, 2]))
        k = int(rng.choice([3, 5, 7]))
        kernel = (int(rng.choice([3, 5])),) * (dims - 2) + (k, k)
        stride = tuple(int(s) for s in rng.choice([1, 2], dims))
        padding = tuple((size - 1) // 2 for size in kernel)
        spatial = (*kernel[:-1], int(rng.integers(64, 200)))
        saturating = rng.random() < 0.5
        shape = (2, *spatial, channels)
        codes = rng.choice([0, 255], shape) if saturating else rng.integers(0, 256, shape)
        x = per_tensor(np.moveaxis(codes, -1, 1), 0.05, int(rng.integers(0, 256)), "quint8")
        w_shape = (channels * multiple, 1, *kernel)
        w_codes = (
            rng.choice([-128, 127], w_shape) if saturating else rng.integers(-128, 128, w_shape)
        )
        w = per_tensor(w_codes, 0.01, int(rng.choice([0, 3, -100])), "qint8")
        bias = rng.normal(0, 5, w_shape[0]).astype(np.float32) if rng.random() < 0.7 else None
        op = getattr(qemu.ops, f"conv{dims}d" + ("_relu" if rng.random() < 0.3 else ""))
        args = (x, w, bias, stride, padding, 1, channels, "zeros", float(rng.uniform(0.5, 20)), 100)
        geometry = ConvGeometry(False, stride, padding, (0,) * dims, (1,) * dims, channels)
        assert fbgemm_conv_path(geometry, channels, w_shape[0], kernel) == "depthwise"
        expected = op(*args, engine="fbgemm", backend="numpy")
        assert_bitexact(op(*args, engine="fbgemm", backend="numba"), expected, "numba")


# -- errors ---------------------------------------------------------------------------


def _linear_operands():
    x = per_tensor(np.zeros((2, 3)), 0.1, 0, "quint8")
    w = per_tensor(np.zeros((4, 3)), 0.1, 0, "qint8")
    return x, w


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        (
            lambda x, w: (np.zeros((2, 3), np.uint8), w, None),
            TypeError,
            "input: expected a QTensor",
        ),
        (
            lambda x, w: (per_tensor(np.zeros((2, 3)), 0.1, 0, "qint8"), w, None),
            TypeError,
            "quint8",
        ),
        (
            lambda x, w: (x, per_tensor(np.zeros((4, 3)), 0.1, 0, "quint8"), None),
            TypeError,
            "qint8",
        ),
        (
            lambda x, w: (per_tensor(np.zeros(3), 0.1, 0, "quint8"), w, None),
            ValueError,
            "at least 2",
        ),
        (
            lambda x, w: (x, per_tensor(np.zeros((4, 2)), 0.1, 0, "qint8"), None),
            ValueError,
            "2 features",
        ),  # fmt: skip
        (
            lambda x, w: (
                x,
                qemu.QTensor.per_channel(
                    np.zeros((4, 3), np.int64), [1.0] * 3, [0] * 3, 1, "qint8"
                ),
                None,
            ),
            ValueError,
            "axis 0",
        ),  # fmt: skip
        (lambda x, w: (x, w, np.zeros(3, np.float32)), ValueError, "4 values"),
        (lambda x, w: (x, w, np.zeros(4, np.float64)), TypeError, "float32"),
    ],
)
def test_linear_argument_errors(change, error, match):
    args = change(*_linear_operands())
    with pytest.raises(error, match=match):
        qemu.ops.linear(*args)


def test_linear_output_qparams_and_engine_refusals():
    x, w = _linear_operands()
    with pytest.raises(ValueError, match="zero_point"):
        qemu.ops.linear(x, w, None, 0.1, 256)
    with pytest.raises(ValueError, match="scale"):
        qemu.ops.linear(x, w, None, 0.0, 0)
    empty_k = per_tensor(np.zeros((2, 0)), 0.1, 0, "quint8")
    with pytest.raises(ValueError, match="uninitialized"):
        qemu.ops.linear(empty_k, per_tensor(np.zeros((4, 0)), 0.1, 0, "qint8"), engine="fbgemm")
    assert qemu.ops.linear(empty_k, per_tensor(np.zeros((4, 0)), 0.1, 0, "qint8"),
                           engine="qnnpack").shape == (2, 4)  # fmt: skip
    with pytest.raises(ValueError, match="SIGFPE"):
        qemu.ops.linear(x, per_tensor(np.zeros((0, 3)), 0.1, 0, "qint8"), engine="qnnpack")
    with pytest.raises(ValueError, match="finite and positive"):
        qemu.ops.linear(x, w, None, 1e37, 0, engine="qnnpack")


def _conv_operands(dims=2, transposed=False, per_channel=False, channels=(2, 3), batch=1):
    x = per_tensor(np.zeros((batch, channels[0]) + (4,) * dims), 0.1, 0, "quint8")
    shape = (channels[0], channels[1]) if transposed else (channels[1], channels[0])
    codes = np.zeros(shape + (2,) * dims, np.int64)
    if per_channel:
        axis = 1 if transposed else 0
        count = shape[axis]
        w = qemu.QTensor.per_channel(codes, [0.1] * count, [0] * count, axis, "qint8")
    else:
        w = per_tensor(codes, 0.1, 0, "qint8")
    return x, w


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda x, w: qemu.ops.conv2d(x, w, None, 0), ValueError, "stride"),
        (lambda x, w: qemu.ops.conv2d(x, w, None, 1, -1), ValueError, "padding"),
        (lambda x, w: qemu.ops.conv2d(x, w, None, 1, 0, 0), ValueError, "dilation"),
        (lambda x, w: qemu.ops.conv2d(x, w, None, (1, 1, 1)), ValueError, "2 ints"),
        (lambda x, w: qemu.ops.conv2d(x, w, None, 1, 0, 1, 2), ValueError, "groups"),
        (
            lambda x, w: qemu.ops.conv2d(x, w, None, 1, 0, 1, 1, "circular"),
            ValueError,
            "padding_mode",
        ),  # fmt: skip
        (
            lambda x, w: qemu.ops.conv2d(x, w, None, 1, 4, 1, 1, "reflect"),
            ValueError,
            "smaller than",
        ),  # fmt: skip
        (lambda x, w: qemu.ops.conv2d(x, w, np.zeros(2, np.float32)), ValueError, "3 values"),
        (lambda x, w: qemu.ops.conv3d(x, w, None), ValueError, "5 dimensions"),
        (lambda x, w: qemu.ops.conv2d(x, w, None, 1, 0, 5), ValueError, "every dimension"),
    ],
)
def test_conv_argument_errors(call, error, match):
    with pytest.raises(error, match=match):
        call(*_conv_operands())


def test_conv_engine_refusals():
    x, w = _conv_operands(transposed=True, per_channel=True)
    with pytest.raises(ValueError, match="Per Channel Quantization is currently disabled"):
        qemu.ops.conv_transpose2d(x, w, None, engine="fbgemm")
    assert qemu.ops.conv_transpose2d(x, w, None, engine="qnnpack").shape == (1, 3, 5, 5)
    x, w = _conv_operands(transposed=True, per_channel=True, channels=(2, 2))
    with pytest.raises(ValueError, match="per-channel grouped ConvTranspose"):
        qemu.ops.conv_transpose2d(x, w, None, 1, 0, 0, 2, engine="qnnpack")
    x, w = _conv_operands(dims=3, transposed=True)
    with pytest.raises(ValueError, match="conv_transpose3d is wrong"):
        qemu.ops.conv_transpose3d(x, w, None, engine="qnnpack")
    x, w = _conv_operands(transposed=True, channels=(8, 8), batch=2)
    with pytest.raises(ValueError, match="only image 0"):
        qemu.ops.conv_transpose2d(x, w, None, 2, engine="fbgemm")
    assert qemu.ops.conv_transpose2d(x, w, None, 2, engine="qnnpack").shape == (2, 8, 8, 8)
    x = per_tensor(np.zeros((1, 8, 1, 4, 4)), 0.1, 0, "quint8")
    w = per_tensor(np.zeros((8, 1, 5, 3, 3)), 0.1, 0, "qint8")
    with pytest.raises(ValueError, match="heap corruption"):
        qemu.ops.conv3d(x, w, None, 1, (2, 1, 1), 1, 8, engine="fbgemm")
    x = per_tensor(np.zeros((1, 2, 2, 3)), 0.1, 0, "quint8")
    w = per_tensor(np.zeros((3, 2, 3, 3)), 0.1, 0, "qint8")
    assert qemu.ops.conv2d(x, w, None, 2, engine="fbgemm").shape == (1, 3, 1, 1)
    with pytest.raises(ValueError, match="every dimension"):
        qemu.ops.conv2d(x, w, None, 2, engine="qnnpack")
