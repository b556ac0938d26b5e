"""The seed's dynamic-quantization scenarios (TestQuantizeEagerPTQDynamic): torch's
quantize_dynamic / prepare_dynamic + convert_dynamic, then qemu.emulate of the result
equal to torch bit for bit on numpy and numba, for fbgemm and qnnpack.

qnnpack has no fp16 dynamic linear (``linear_prepack_fp16`` refuses it), so fp16
models run on fbgemm only, as the seed's own RNN-cell test skips them on qnnpack.
"""

from __future__ import annotations

import copy

import pytest

torch = pytest.importorskip("torch")
import torch.ao.nn.quantized.dynamic as nnqd  # noqa: E402
from seed import models  # noqa: E402
from seed.flows import check_emulation, check_weight_qparams, torch_engine, uniform  # noqa: E402
from torch.ao.quantization import (  # noqa: E402
    convert,
    default_dynamic_qconfig,
    float16_dynamic_qconfig,
    float_qparams_weight_only_qconfig,
    per_channel_dynamic_qconfig,
    propagate_qconfig_,
    quantize_dynamic,
)
from torch.ao.quantization.quantization_mappings import (  # noqa: E402
    get_default_dynamic_quant_module_mappings,
)

import qemu  # noqa: E402

# (engine, dtype) pairs torch runs.
CASES = [("fbgemm", torch.qint8), ("fbgemm", torch.float16), ("qnnpack", torch.qint8)]
CASE_IDS = ["fbgemm-qint8", "fbgemm-float16", "qnnpack-qint8"]


def convert_dynamic(model: torch.nn.Module, qconfig_dict: dict) -> torch.nn.Module:
    """The seed's prepare_dynamic + convert_dynamic; each int8 layer's weight qparams
    reproduced by qemu's copy of its weight observer."""
    propagate_qconfig_(model, qconfig_dict)
    float_model = copy.deepcopy(model)
    convert(model, get_default_dynamic_quant_module_mappings(), inplace=True)
    check_weight_qparams(float_model, model)
    return model


def qconfig_for(dtype):
    return float16_dynamic_qconfig if dtype == torch.float16 else default_dynamic_qconfig


@pytest.mark.parametrize("engine, dtype", CASES, ids=CASE_IDS)
@pytest.mark.parametrize(
    "make, spec",
    [
        (models.SingleLayerLinearDynamicModel, ["fc1"]),
        (models.TwoLayerLinearModel, ["fc2"]),
        (models.NestedModel, ["fc3", "sub2.fc1"]),
        (models.NestedModel, ["fc3", "sub2"]),
        (models.NestedModel, ["fc3", "sub2", "sub2.fc1"]),
    ],
    ids=["single_layer", "two_layers", "nested1", "nested2", "nested3"],
)
def test_linear_models(engine, dtype, make, spec):
    """Each model through the three APIs the seed uses: prepare/convert_dynamic with a
    qconfig dict, quantize_dynamic with the dict, quantize_dynamic with a name set."""
    qconfig = qconfig_for(dtype)
    torch.manual_seed(0)
    with torch_engine(engine):
        flows = [
            convert_dynamic(make().eval(), dict.fromkeys(spec, qconfig)),
            quantize_dynamic(make().eval(), dict.fromkeys(spec, qconfig)),
            quantize_dynamic(make().eval(), set(spec), dtype=dtype),
        ]
    for model in flows:
        check_emulation(model, (uniform(1, 3, 5),), engine)


@pytest.mark.parametrize("engine, dtype", CASES, ids=CASE_IDS)
def test_type_match_rule(engine, dtype):
    qconfig_dict = {"fc3": None, "sub2.fc1": None, torch.nn.Linear: qconfig_for(dtype)}
    with torch_engine(engine):
        model = convert_dynamic(models.NestedModel().eval(), qconfig_dict)
    assert type(model.fc3) is torch.nn.Linear and type(model.sub1.fc) is nnqd.Linear
    check_emulation(model, (uniform(2, 3, 5),), engine)


@pytest.mark.parametrize("engine", ["fbgemm", "qnnpack"])
def test_per_channel_linear_quantize(engine):
    qconfig_dict = {torch.nn.Linear: per_channel_dynamic_qconfig}
    with torch_engine(engine):
        flows = [
            convert_dynamic(models.NestedModel().eval(), qconfig_dict),
            quantize_dynamic(models.NestedModel().eval(), qconfig_dict),
        ]
    for model in flows:
        check_emulation(model, (uniform(3, 3, 5),), engine)


@pytest.mark.parametrize("engine", ["fbgemm", "qnnpack"])
def test_linear_relu_fusion(engine):
    model = models.LinearReluLinearModel().eval()
    torch.ao.quantization.fuse_modules(model, [["fc1", "relu"]], inplace=True)
    with torch_engine(engine):
        model = convert_dynamic(model, {"": default_dynamic_qconfig})
    assert type(model.fc1).__name__ == "LinearReLU"
    check_emulation(model, (uniform(4, 3, 5) - 0.5,), engine)


SEED_RNN_INPUT = torch.tensor([[100, -155], [-155, 100], [100, -155]], dtype=torch.float)


# The seed runs both qconfigs; fp16 weights ignore the qconfig (one model, run once).
RNN_CASES = [
    pytest.param(engine, dtype, qconfig, id=f"{case}-{name}")
    for (engine, dtype), case in zip(CASES, CASE_IDS, strict=True)
    for qconfig, name in [
        (default_dynamic_qconfig, "per_tensor"),
        (per_channel_dynamic_qconfig, "per_channel"),
    ]
    if dtype == torch.qint8 or name == "per_tensor"
]


@pytest.mark.parametrize("engine, dtype, qconfig", RNN_CASES)
@pytest.mark.parametrize("module_type", ["LSTM", "GRU"])
def test_quantized_rnn(engine, dtype, qconfig, module_type):
    """The seed's input (10 steps of [[100, -155], ...]) as a tensor and as a packed
    sequence of lengths 10, 5, 2; the packed module is wrapped, as in the seed."""
    torch.manual_seed(0)
    model = models.RNNDynamicModel(module_type).eval()
    qconfig_dict = {torch.nn.LSTM: qconfig, torch.nn.GRU: qconfig}
    with torch_engine(engine):
        if dtype == torch.float16:
            quantized = quantize_dynamic(model=model, dtype=dtype)
        else:
            quantized = quantize_dynamic(model=model, qconfig_spec=qconfig_dict, dtype=dtype)
    x = SEED_RNN_INPUT.unsqueeze(0).repeat(10, 1, 1)
    check_emulation(quantized, (x,), engine)
    packed = torch.nn.utils.rnn.pack_padded_sequence(x, torch.tensor([10, 5, 2]))
    check_emulation(torch.nn.Sequential(quantized.mod), (packed,), engine)
    unsorted = torch.nn.utils.rnn.pack_padded_sequence(
        x, torch.tensor([2, 10, 5]), enforce_sorted=False
    )
    hidden = uniform(5, 1, 3, 2)
    state = (hidden, hidden * 2) if module_type == "LSTM" else hidden
    check_emulation(torch.nn.Sequential(quantized.mod), (unsorted,), engine)
    check_emulation(models.RNNWithHidden(quantized.mod), (x, state), engine)
    check_emulation(models.RNNWithHidden(quantized.mod), (unsorted, state), engine)


@pytest.mark.parametrize("engine, dtype", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("module_type", ["LSTMCell", "GRUCell", "RNNTanh", "RNNReLU"])
def test_quantized_rnn_cell(engine, dtype, module_type):
    torch.manual_seed(0)
    model = models.RNNCellDynamicModel(module_type).eval()
    qconfig = default_dynamic_qconfig
    qconfig_dict = {
        torch.nn.LSTMCell: qconfig,
        torch.nn.GRUCell: qconfig,
        torch.nn.RNNCell: qconfig,
    }
    with torch_engine(engine):
        if dtype == torch.float16:
            quantized = quantize_dynamic(model=model, dtype=dtype)
        else:
            quantized = quantize_dynamic(model=model, qconfig_spec=qconfig_dict, dtype=dtype)
    check_emulation(quantized, (SEED_RNN_INPUT,), engine)


@pytest.mark.parametrize("engine, dtype", CASES, ids=CASE_IDS)
def test_forward_hooks_preserved(engine, dtype):
    counter = {"pre": 0, "post": 0}
    model = models.SingleLayerLinearDynamicModel().eval()
    model.fc1.register_forward_pre_hook(lambda m, i: counter.update(pre=counter["pre"] + 1))
    model.fc1.register_forward_hook(lambda m, i, o: counter.update(post=counter["post"] + 1))
    with torch_engine(engine):
        model = convert_dynamic(model, {"fc1": qconfig_for(dtype)})
    emulated = qemu.emulate(model, engine=engine, backend="numba")
    emulated(uniform(6, 2, 5))
    assert counter == {"pre": 1, "post": 1}
    assert len(emulated.fc1._forward_hooks) == 1 and len(emulated.fc1._forward_pre_hooks) == 1
    check_emulation(model, (uniform(6, 2, 5),), engine)


INDICES = torch.tensor([9, 6, 5, 7, 8, 8, 9, 2, 8, 6, 6, 9, 1, 6, 8, 8, 3, 2, 3, 6, 3, 6, 5, 7,
                        0, 8, 4, 6, 5, 8, 2, 3])  # fmt: skip
OFFSETS = torch.tensor([0, 19, 20, 28, 28, 32])


@pytest.mark.parametrize("engine", ["fbgemm", "qnnpack"])
@pytest.mark.parametrize(
    "bag", [True, False], ids=["embedding_bag_dynamic", "embedding_ops_dynamic"]
)
def test_embeddings_dynamic(engine, bag):
    """quantize_dynamic of an embedding (weight-only float-qparams) beside a linear."""
    torch.manual_seed(0)
    embedding = torch.nn.EmbeddingBag if bag else torch.nn.Embedding
    qconfig_dict = {
        embedding: float_qparams_weight_only_qconfig,
        torch.nn.Linear: default_dynamic_qconfig,
    }
    model = (
        models.EmbeddingBagWithLinear(with_weights=False) if bag else models.EmbeddingWithLinear()
    )
    with torch_engine(engine):
        model = quantize_dynamic(model.eval(), qconfig_dict)
    inputs = (INDICES, OFFSETS) if bag else (INDICES,)
    check_emulation(model, (*inputs, uniform(7, 5, 5)), engine)
