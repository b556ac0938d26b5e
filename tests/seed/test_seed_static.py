"""The seed's static-quantization scenarios (TestQuantizeEagerOps and
TestQuantizeEagerPTQStatic of test_quantize_eager_ptq.py): torch prepares, calibrates
and converts; qemu.emulate of the result equals torch bit for bit on numpy and numba.

Scenarios that never convert a model (prepare-time errors and checks:
convtranspose_per_channel_fails_early, convtranspose_per_channel_qconfig_none,
activations_in_non_leaf_module_list, mha_batch_first_attr_is_copied_in_prepare) have
nothing to emulate and are not repeated here.
"""

from __future__ import annotations

import io

import pytest

torch = pytest.importorskip("torch")
import torch.ao.nn.quantized as nnq  # noqa: E402
from seed import models  # noqa: E402
from seed.flows import ObservedTensors, check_emulation, check_weight_qparams, torch_engine, uniform  # noqa: E402
from torch.ao.quantization import (  # noqa: E402
    DeQuantStub,
    PerChannelMinMaxObserver,
    QConfig,
    QuantStub,
    QuantWrapper,
    convert,
    default_dynamic_quant_observer,
    default_qconfig,
    float_qparams_weight_only_qconfig,
    float_qparams_weight_only_qconfig_4bit,
    get_default_qat_qconfig,
    get_default_qconfig,
    prepare,
    prepare_qat,
    quantize,
)

import qemu  # noqa: E402

ENGINES = ("fbgemm", "qnnpack")


CALIB = [[uniform(i, 2, 5)] for i in range(2)]
IMAGES = [[uniform(10 + i, 1, 3, 10, 10)] for i in range(2)]


def calibrated(model: torch.nn.Module, calibration: list, engine: str) -> torch.nn.Module:
    """prepare, calibrate, convert; the qparams of the activation observers and of each
    layer's weight observer reproduced by qemu's observers."""
    with torch_engine(engine):
        prepared = prepare(model)
        observed = ObservedTensors(prepared)
        for inputs in calibration:
            prepared(*inputs)
        converted = convert(prepared)
        assert observed.check(converted) > 0
    check_weight_qparams(prepared, converted)
    return converted


# -- TestQuantizeEagerOps ---------------------------------------------------------------


class Wrapped(torch.nn.Module):
    def __init__(self, layer: torch.nn.Module):
        super().__init__()
        self.quant, self.conv, self.dequant = QuantStub(), layer, DeQuantStub()

    def forward(self, x):
        return self.dequant(self.conv(self.quant(x)))


# Where torch does not run the scenario on qnnpack.
QNNPACK_FAILS = {
    "Conv1d": "torch's qnnpack fails on this converted 1x1x1 conv1d: forward raises 'required "
    "rank 4 tensor to use channels_last format', copying 'Weights are expected to have 4 "
    "dimensions, found shape [1, 1]'",
    "ConvTranspose1d": "as Conv1d: torch's qnnpack fails on this converted 1x1x1 weight",
    "Conv3d": "torch's qnnpack cannot unpack (so not copy) conv3d weights",
    "ConvTranspose3d": "torch's qnnpack conv_transpose3d ignores the depth (undefined output)",
}


# The seed's _test_reference_module_impl returns early on qnnpack; torch runs the 2-D
# convolutions and the linear there, so they run here too.
@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    "float_class, kwargs, shape",
    [
        (torch.nn.Conv1d, {}, (16, 1, 1)),
        (torch.nn.Conv2d, {}, (16, 1, 10, 10)),
        (torch.nn.Conv3d, {}, (16, 1, 10, 10, 10)),
        (torch.nn.ConvTranspose1d, {}, (16, 1, 1)),
        (torch.nn.ConvTranspose2d, {}, (16, 1, 10, 10)),
        (torch.nn.ConvTranspose3d, {}, (16, 1, 10, 10, 10)),
        (torch.nn.Linear, {"in_features": 5, "out_features": 10}, (16, 5)),
    ],
    ids=lambda v: getattr(v, "__name__", None) if isinstance(v, type) else None,
)
def test_reference_module_impl(float_class, kwargs, shape, engine):
    if engine == "qnnpack" and float_class.__name__ in QNNPACK_FAILS:
        pytest.skip(QNNPACK_FAILS[float_class.__name__])
    kwargs = kwargs or {"in_channels": 1, "out_channels": 1, "kernel_size": 1}
    torch.manual_seed(0)
    model = Wrapped(float_class(**kwargs))
    model.qconfig = default_qconfig
    x = uniform(1, *shape)
    converted = calibrated(model, [[x]], engine)
    assert type(converted.conv).__name__ == float_class.__name__
    check_emulation(converted, (x,), engine)


@pytest.mark.parametrize("engine", ENGINES)
def test_int16_reference_module(engine):
    """A reference (is_reference=True) model: qint32 Quantize / DeQuantize emulated, the
    reference ConvTranspose2d left to torch; the weight observer's scale reproduced."""
    from torch.ao.quantization.observer import MovingAverageMinMaxObserver

    torch.manual_seed(0)
    model = torch.nn.Sequential()
    model.quant1, model.dequant1 = QuantStub(), DeQuantStub()
    model.conv = torch.nn.ConvTranspose2d(1, 1, 1)
    model.quant2, model.dequant2 = QuantStub(), DeQuantStub()
    int16 = {"dtype": torch.qint32, "quant_min": -(2**15), "quant_max": 2**15 - 1}
    model.qconfig = QConfig(
        activation=MovingAverageMinMaxObserver.with_args(**int16),
        weight=MovingAverageMinMaxObserver.with_args(qscheme=torch.per_tensor_symmetric, **int16),
    )
    x = uniform(2, 16, 1, 10, 10)
    with torch_engine(engine):
        prepared = prepare(model.eval())
        prepared(x)
        converted = convert(prepared, is_reference=True)
    check_emulation(converted, (x,), engine)
    mirror = qemu.observers.MovingAverageMinMaxObserver(
        averaging_constant=0.5, qscheme="per_tensor_symmetric", dtype="qint32",
        quant_min=-(2**15), quant_max=2**15 - 1,
    )  # fmt: skip
    mirror(model.conv.weight.detach().numpy())
    assert float(converted.conv.weight_scale) == float(mirror.calculate_qparams()[0][0])


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    "float_module, quantized_class",
    [(torch.nn.LeakyReLU(0.1), nnq.LeakyReLU), (torch.nn.ReLU(), torch.nn.ReLU)],
    ids=["leaky_relu", "relu"],
)
def test_activation_op_impl(engine, float_module, quantized_class):
    """The seed converts without calibrating: observers that saw nothing give scale 1,
    zero point 0."""
    model = Wrapped(float_module).eval()
    model.qconfig = default_qconfig
    with torch_engine(engine):
        prepared = prepare(model)
        observed = ObservedTensors(prepared)
        converted = convert(prepared)
    assert observed.check(converted) > 0  # qemu's observers that saw nothing agree
    assert type(converted.conv) is quantized_class
    check_emulation(converted, (uniform(3, 4, 6) * 4 - 2,), engine)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("train_mode", [False, True])
def test_functional_module(engine, train_mode):
    model = models.ModelWithFunctionals()
    x = torch.quantize_per_tensor(uniform(4, 10, 1), 0.01, 30, torch.quint8).dequantize()
    with torch_engine(engine):
        if train_mode:
            model.qconfig = get_default_qat_qconfig("fbgemm")
            prepared = prepare_qat(model)
        else:
            model.qconfig = get_default_qconfig("qnnpack")
            prepared = prepare(model)
        observed = ObservedTensors(prepared)  # none under QAT (fake-quantize modules)
        prepared(x)
        converted = convert(prepared.eval())
    assert observed.check(converted) == (0 if train_mode else 4)
    xq = torch.quantize_per_tensor(uniform(4, 10, 1), 0.01, 30, torch.quint8)
    check_emulation(converted, (xq,), engine)


# -- TestQuantizeEagerPTQStatic ---------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_single_layer(engine):
    model = models.AnnotatedSingleLayerLinearModel(engine)
    converted = calibrated(model, CALIB, engine)
    check_emulation(converted, (uniform(5, 3, 5),), engine)
    with torch_engine(engine):
        one_line = quantize(models.AnnotatedSingleLayerLinearModel(engine),
                            lambda m, d: [m(*i) for i in d], [CALIB])  # fmt: skip
    check_emulation(one_line, (uniform(5, 3, 5),), engine)


@pytest.mark.parametrize("engine", ENGINES)
def test_two_layers(engine):
    converted = calibrated(models.AnnotatedTwoLayerLinearModel(), CALIB, engine)
    assert type(converted.fc1) is torch.nn.Linear  # float fc1 runs in torch
    check_emulation(converted, (uniform(6, 3, 5),), engine)


@pytest.mark.parametrize(
    "make, engines",
    [
        (lambda engine: models.AnnotatedNestedModel(engine), ENGINES),
        (lambda engine: models.AnnotatedSubNestedModel(), ENGINES),
        (lambda engine: models.AnnotatedCustomConfigNestedModel(), ENGINES),
        (lambda engine: models.AnnotatedSkipQuantModel(engine), ENGINES),
    ],
    ids=["nested1", "nested2", "nested3", "skip_quant"],
)
def test_nested(make, engines):
    for engine in engines:
        converted = calibrated(make(engine), CALIB, engine)
        check_emulation(converted, (uniform(7, 4, 5),), engine)


@pytest.mark.parametrize("engine", ENGINES)
def test_manual_and_dequant_stub(engine):
    converted = calibrated(models.QuantStubModel(), CALIB, engine)
    check_emulation(converted, (uniform(8, 3, 5),), engine)
    without_dequant = models.QuantStubModel().eval()
    without_dequant.dequant.qconfig = None
    converted = calibrated(without_dequant, CALIB, engine)
    assert type(converted.dequant) is DeQuantStub
    check_emulation(converted, (uniform(8, 3, 5),), engine)


@pytest.mark.parametrize("engine", ENGINES)
def test_resnet_base(engine):
    """Fused ConvReLU2d, QFunctional.add and a quantized Linear emulated; the float
    ReLU and AdaptiveAvgPool2d run in torch on quantized tensors."""
    torch.manual_seed(0)
    model = models.ResNetBase().float().eval()
    model.fuse_model()
    model = QuantWrapper(model)
    model.qconfig = get_default_qconfig(engine)
    converted = calibrated(model, IMAGES, engine)
    assert type(converted.module.myop) is nnq.QFunctional
    check_emulation(converted, (uniform(11, 2, 3, 10, 10),), engine)


@pytest.mark.parametrize("engine", ENGINES)
def test_normalization(engine):
    model = models.NormalizationTestModel()
    model.qconfig = get_default_qconfig("fbgemm")
    converted = calibrated(model, CALIB, engine)
    assert type(converted.instance_norm3d) is nnq.InstanceNorm3d
    check_emulation(converted, (uniform(12, 3, 5),), engine)


@pytest.mark.parametrize("engine", ENGINES)
def test_save_load_state_dict(engine):
    """A converted model's state_dict saved and loaded into a freshly converted model:
    the emulation of the loaded model gives torch's output of the original."""

    def fresh():
        model = QuantWrapper(models.TwoLayerLinearModel())
        model.qconfig = get_default_qconfig(engine)
        return model

    converted = calibrated(fresh(), CALIB, engine)
    x = uniform(13, 2, 5)
    with torch_engine(engine):
        expected = converted(x)
        buffer = io.BytesIO()
        torch.save(converted.state_dict(), buffer)
        loaded = convert(prepare(fresh()))
        buffer.seek(0)
        loaded.load_state_dict(torch.load(buffer))
        for backend in ("numpy", "numba"):
            actual = qemu.emulate(loaded, engine=engine, backend=backend)(x)
            assert torch.equal(actual.view(torch.int32), expected.view(torch.int32))
    check_emulation(loaded, (x,), engine)


@pytest.mark.parametrize("engine", ENGINES)
def test_activations(engine):
    converted = calibrated(models.ActivationsTestModel(), CALIB, engine)
    assert type(converted.elu) is nnq.ELU
    check_emulation(converted, (uniform(14, 3, 5) * 6 - 3,), engine)


@pytest.mark.parametrize("engine", ENGINES)
def test_forward_hooks_preserved(engine):
    counter = {"pre_forwards": 0, "forwards": 0}
    model = models.QuantStubModel()
    model.fc.register_forward_pre_hook(
        lambda m, i: counter.update(pre_forwards=counter["pre_forwards"] + 1)
    )
    model.fc.register_forward_hook(lambda m, i, o: counter.update(forwards=counter["forwards"] + 1))
    model.qconfig = get_default_qconfig(engine)
    converted = calibrated(model, CALIB, engine)
    counter.update(pre_forwards=0, forwards=0)
    emulated = qemu.emulate(converted, engine=engine, backend="numpy")
    with torch_engine(engine):
        emulated(uniform(15, 2, 5))
    assert counter == {"pre_forwards": 1, "forwards": 1}
    check_emulation(converted, (uniform(15, 2, 5),), engine)


INDICES = torch.tensor([9, 6, 5, 7, 8, 8, 9, 2, 8, 6, 6, 9, 1, 6, 8, 8, 3, 2, 3, 6, 3, 6, 5, 7,
                        0, 8, 4, 6, 5, 8, 2, 3])  # fmt: skip
OFFSETS = torch.tensor([0, 19, 20, 28, 28, 32])


@pytest.mark.parametrize(
    "qconfig", [float_qparams_weight_only_qconfig, float_qparams_weight_only_qconfig_4bit],
    ids=["8bit", "4bit"],
)  # fmt: skip
@pytest.mark.parametrize("engine", ENGINES)
def test_quantized_embedding(qconfig, engine):
    torch.manual_seed(0)
    model = models.EmbeddingModule().eval()
    model.qconfig = qconfig
    with torch_engine(engine):
        converted = convert(prepare(model))
    assert type(converted.emb) is nnq.Embedding
    check_emulation(converted, (INDICES,), engine)
    # EmbeddingWithStaticLinear: its float EmbeddingBag(mode="mean") converts to a
    # quantized bag that sums (the module passes mode=0), emulated as it is.
    model = models.EmbeddingWithStaticLinear().eval()
    with torch_engine(engine):
        converted = convert(prepare(model))
    inputs = (
        torch.LongTensor([1, 2, 4, 5, 4, 3, 2, 9]),
        torch.LongTensor([0, 4]),
        uniform(16, 2, 4),
    )
    check_emulation(converted, inputs, engine)


@pytest.mark.parametrize("dtype", ["quint8", "quint4x2"])
@pytest.mark.parametrize("engine", ENGINES)
def test_quantized_embedding_bag(dtype, engine):
    torch.manual_seed(0)
    observer = PerChannelMinMaxObserver.with_args(
        dtype=getattr(torch, dtype), qscheme=torch.per_channel_affine_float_qparams, ch_axis=0
    )
    qconfig = QConfig(activation=default_dynamic_quant_observer, weight=observer)
    model = models.EmbeddingBagModule().eval()
    model.qconfig = qconfig
    with torch_engine(engine):
        converted = convert(prepare(model))
    weights = uniform(17, len(INDICES)) * 0.49 + 0.01
    check_emulation(converted, (INDICES, OFFSETS, weights), engine)
    with_linear = models.EmbeddingBagWithLinear(with_weights=True).eval()
    with_linear.emb.qconfig = qconfig
    with torch_engine(engine):
        converted = convert(prepare(with_linear))
    assert type(converted.fc) is torch.nn.Linear
    check_emulation(converted, (INDICES, OFFSETS, weights, uniform(18, 5, 5)), engine)


@pytest.mark.parametrize("engine", ENGINES)
def test_quantwrapper_attaches_qconfig_to_dequant(engine):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 1, 1)).eval()
    model[0].qconfig = default_qconfig
    model[0] = QuantWrapper(model[0])
    x = uniform(19, 2, 1, 4, 4)
    converted = calibrated(model, [[x]], engine)
    assert isinstance(converted[0].dequant, nnq.DeQuantize)
    check_emulation(converted, (x,), engine)
