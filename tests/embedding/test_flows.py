"""The eager-mode flows of the seed tests (test_quantize_eager_ptq.py:
test_quantized_embedding, test_quantized_embedding_bag, test_embedding_bag_dynamic,
test_embedding_ops_dynamic) and torch's module-level defects, reproduced with qemu.

Every flow quantizes a float table with torch's observer path and runs the
quantized module; qemu quantizes the same float table with
``quantize_embedding_weight`` and looks up with its ops; both must agree bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import qemu
from qemu.ops import embedding as ops
from qemu.testing import assert_bitexact, cases

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

# The seed's indices and offsets (EmbeddingBag modules use include_last_offset=True).
SEED_INDICES = np.array(
    [9, 6, 5, 7, 8, 8, 9, 2, 8, 6, 6, 9, 1, 6, 8, 8, 3, 2, 3, 6, 3, 6, 5, 7, 0, 8, 4, 6, 5, 8, 2, 3]
)
SEED_OFFSETS = np.array([0, 19, 20, 28, 28, 32])
SEED_BAG_INDICES = np.array([1, 2, 4, 5, 4, 3, 2, 9])  # test_quantized_embedding
SEED_BAG_OFFSETS = np.array([0, 4])


@pytest.fixture(autouse=True)
def fbgemm_engine():
    previous = torch.backends.quantized.engine
    torch.backends.quantized.engine = "fbgemm"
    yield
    torch.backends.quantized.engine = previous


def _observer(dtype):
    from torch.ao.quantization.observer import PerChannelMinMaxObserver

    return PerChannelMinMaxObserver.with_args(
        dtype=getattr(torch, dtype), qscheme=torch.per_channel_affine_float_qparams, ch_axis=0
    )


def _qconfig(dtype):
    from torch.ao.quantization import QConfig, default_placeholder_observer

    return QConfig(activation=default_placeholder_observer, weight=_observer(dtype))


def _float_weight(module) -> np.ndarray:
    return module.weight.detach().numpy().copy()


@settings(max_examples=cases(200))
@given(
    dtype=st.sampled_from(["quint8", "quint4x2"]),
    rows=st.integers(1, 16),
    half_cols=st.integers(1, 20),
    kind=st.sampled_from(["normal", "grid", "constant_rows", "signed_zeros", "huge", "tiny"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_weight_quantization_equals_the_float_qparams_observer_path(
    embedding_draws, dtype, rows, half_cols, kind, seed
):
    from torch.ao.nn.quantized.modules.utils import _quantize_weight

    weight = embedding_draws.table(np.random.default_rng(seed), (rows, 2 * half_cols), kind)
    observer = _observer(dtype)()
    observer(torch.from_numpy(weight))
    if torch.isinf(observer.calculate_qparams()[0]).any():
        with pytest.raises(ValueError, match="spans more than the float32 range"):
            ops.quantize_embedding_weight(weight, dtype)
        return
    expected = qemu.from_torch(_quantize_weight(torch.from_numpy(weight), observer))
    assert_bitexact(ops.quantize_embedding_weight(weight, dtype), expected, "weight")


@pytest.mark.parametrize("dtype", ["quint8", "quint4x2"])
def test_seed_quantized_embedding(dtype):
    """test_quantized_embedding: Embedding(10, 12) through prepare/convert, and the
    EmbeddingBag of EmbeddingWithStaticLinear (mode 'mean' by default)."""
    from torch.ao.quantization import convert, prepare

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Embedding(10, 12)).eval()
    model.qconfig = _qconfig(dtype)
    weight = _float_weight(model[0])
    prepare(model, inplace=True)
    convert(model, inplace=True)
    assert type(model[0]) is torch.ao.nn.quantized.Embedding
    qweight = ops.quantize_embedding_weight(weight, dtype)
    assert_bitexact(qweight, qemu.from_torch(model[0].weight()), "weight")
    # torch defect: Embedding.from_float builds the module with the default dtype
    # quint8 whatever the qconfig says, so a quint4x2 table is read by embedding_byte
    # as if its packed rows were 8-bit rows (12 columns come out as 2 meaningless ones).
    expected = model(torch.from_numpy(SEED_INDICES)).numpy()
    assert expected.shape == ((32, 12) if dtype == "quint8" else (32, 2))
    assert_bitexact(ops.embedding_byte(qweight, SEED_INDICES), expected, "embedding")

    bag_model = torch.nn.Sequential(torch.nn.EmbeddingBag(10, 12)).eval()  # mode="mean"
    bag_model.qconfig = _qconfig(dtype)
    bag_weight = _float_weight(bag_model[0])
    prepare(bag_model, inplace=True)
    convert(bag_model, inplace=True)
    bag = ops.embedding_bag_byte if dtype == "quint8" else ops.embedding_bag_4bit
    expected = bag_model[0](torch.from_numpy(SEED_BAG_INDICES), torch.from_numpy(SEED_BAG_OFFSETS))
    actual = bag(
        ops.quantize_embedding_weight(bag_weight, dtype),
        SEED_BAG_INDICES,
        SEED_BAG_OFFSETS,
        mode="mean",
    )
    assert_bitexact(actual, expected.numpy(), "embedding bag")


@pytest.mark.parametrize("dtype", ["quint8", "quint4x2"])
def test_seed_quantized_embedding_bag(dtype):
    """test_quantized_embedding_bag: EmbeddingBag(10, 12, include_last_offset=True,
    mode='sum') with per-sample weights drawn from U(0.01, 0.5)."""
    from torch.ao.quantization import convert, prepare

    torch.manual_seed(1)
    model = torch.nn.Sequential(
        torch.nn.EmbeddingBag(10, 12, include_last_offset=True, mode="sum")
    ).eval()
    model.qconfig = _qconfig(dtype)
    weight = _float_weight(model[0])
    prepare(model, inplace=True)
    quantized = convert(model)
    weights = np.random.default_rng(1).uniform(0.01, 0.5, SEED_INDICES.size).astype(np.float32)
    expected = quantized[0](
        torch.from_numpy(SEED_INDICES), torch.from_numpy(SEED_OFFSETS), torch.from_numpy(weights)
    ).numpy()
    bag = ops.embedding_bag_byte if dtype == "quint8" else ops.embedding_bag_4bit
    for backend in ("numpy", "numba"):
        actual = bag(
            ops.quantize_embedding_weight(weight, dtype),
            SEED_INDICES,
            SEED_OFFSETS,
            per_sample_weights=weights,
            include_last_offset=True,
            backend=backend,
        )
        assert_bitexact(actual, expected, f"bags ({backend})")


def test_seed_embedding_dynamic_flows():
    """test_embedding_bag_dynamic and test_embedding_ops_dynamic: quantize_dynamic with
    float_qparams_weight_only_qconfig (quint8)."""
    from torch.ao.quantization import float_qparams_weight_only_qconfig, quantize_dynamic

    torch.manual_seed(2)
    bag_model = torch.nn.Sequential(
        torch.nn.EmbeddingBag(10, 12, include_last_offset=True, mode="sum")
    ).eval()
    weight = _float_weight(bag_model[0])
    quantized = quantize_dynamic(
        bag_model, {torch.nn.EmbeddingBag: float_qparams_weight_only_qconfig}
    )
    assert type(quantized[0]) is torch.ao.nn.quantized.EmbeddingBag
    expected = quantized[0](torch.from_numpy(SEED_INDICES), torch.from_numpy(SEED_OFFSETS)).numpy()
    qweight = ops.quantize_embedding_weight(weight, "quint8")
    actual = ops.embedding_bag_byte(qweight, SEED_INDICES, SEED_OFFSETS, include_last_offset=True)
    assert_bitexact(actual, expected, "embedding bag")
    # The same bags from the row-wise packed table.
    packed = ops.embedding_bag_prepack(qweight)
    actual = ops.embedding_bag_byte_rowwise_offsets(
        packed, SEED_INDICES, SEED_OFFSETS, include_last_offset=True
    )
    assert_bitexact(actual, expected, "row-wise embedding bag")

    model = torch.nn.Sequential(torch.nn.Embedding(10, 12)).eval()
    weight = _float_weight(model[0])
    quantized = quantize_dynamic(model, {torch.nn.Embedding: float_qparams_weight_only_qconfig})
    assert type(quantized[0]) is torch.ao.nn.quantized.Embedding
    expected = quantized(torch.from_numpy(SEED_INDICES)).numpy()
    actual = ops.embedding_byte(ops.quantize_embedding_weight(weight, "quint8"), SEED_INDICES)
    assert_bitexact(actual, expected, "embedding")


@pytest.mark.parametrize("mode", ["mean", "max"])
@pytest.mark.parametrize("dtype", ["quint8", "quint4x2"])
def test_torch_defect_every_mode_is_a_sum(dtype, mode):
    """nnq.EmbeddingBag.forward passes mode 0 and the kernels ignore the mode anyway:
    a module converted from EmbeddingBag(mode='mean' or 'max') returns the sum."""
    torch.manual_seed(3)
    float_bag = torch.nn.EmbeddingBag(10, 12, mode=mode, include_last_offset=True)
    float_bag.qconfig = _qconfig(dtype)
    quantized = torch.ao.nn.quantized.EmbeddingBag.from_float(float_bag)
    expected = quantized(torch.from_numpy(SEED_INDICES), torch.from_numpy(SEED_OFFSETS)).numpy()
    qweight = ops.quantize_embedding_weight(_float_weight(float_bag), dtype)
    bag = ops.embedding_bag_byte if dtype == "quint8" else ops.embedding_bag_4bit
    total = bag(qweight, SEED_INDICES, SEED_OFFSETS, mode="sum", include_last_offset=True)
    assert_bitexact(
        bag(qweight, SEED_INDICES, SEED_OFFSETS, mode=mode, include_last_offset=True),
        expected,
        mode,
    )
    assert_bitexact(total, expected, "sum")
    reference = float_bag(torch.from_numpy(SEED_INDICES), torch.from_numpy(SEED_OFFSETS))
    assert np.abs(total - reference.detach().numpy()).max() > 1.0  # the float module does not sum


def test_torch_defect_padding_idx_is_dropped():
    """EmbeddingBag.from_float does not carry padding_idx over: the float bag leaves the
    padding row out, the quantized one sums it in (qemu's ops, like torch's quantized
    ops, have no padding_idx)."""
    torch.manual_seed(4)
    float_bag = torch.nn.EmbeddingBag(10, 12, mode="sum", padding_idx=6, include_last_offset=True)
    with torch.no_grad():
        float_bag.weight[6] = 5.0  # a padding row far from zero
    float_bag.qconfig = _qconfig("quint8")
    quantized = torch.ao.nn.quantized.EmbeddingBag.from_float(float_bag)
    expected = quantized(torch.from_numpy(SEED_INDICES), torch.from_numpy(SEED_OFFSETS)).numpy()
    qweight = ops.quantize_embedding_weight(_float_weight(float_bag), "quint8")
    actual = ops.embedding_bag_byte(qweight, SEED_INDICES, SEED_OFFSETS, include_last_offset=True)
    assert_bitexact(actual, expected, "bags")
    float_out = float_bag(torch.from_numpy(SEED_INDICES), torch.from_numpy(SEED_OFFSETS)).detach()
    first_bag = SEED_INDICES[: SEED_OFFSETS[1]]
    without_padding = ops.embedding_bag_byte(qweight, first_bag[first_bag != 6], np.array([0]))
    # Four 6s in the first bag: with the padding row the sum is off by about 4 * 5.
    assert np.abs(without_padding[0] - float_out[0].numpy()).max() < 1.0
    assert np.abs(actual[0] - float_out[0].numpy()).min() > 10.0
