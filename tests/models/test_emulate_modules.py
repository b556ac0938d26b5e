"""Every module type emulate() swaps, in small converted models run on both engines:
outputs bit-exact on numpy and numba, in the layout torch's kernels write (which the
next layout-sensitive op depends on). Complements tests/seed, whose models use few of
the norm, activation and functional modules."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
import torch.ao.nn.quantized as nnq  # noqa: E402
from seed.flows import as_qemu, check_emulation, normal, torch_engine  # noqa: E402
from torch.ao.nn.quantized import FloatFunctional  # noqa: E402
from torch.ao.quantization import (  # noqa: E402
    DeQuantStub,
    QuantStub,
    convert,
    default_qconfig,
    fuse_modules,
    prepare,
    quantize_dynamic,
)

import qemu  # noqa: E402
from qemu.emulate import EmulationError  # noqa: E402
from qemu.emulate.registry import handled_types  # noqa: E402
from qemu.testing import assert_bitexact, cases  # noqa: E402

ENGINES = ("fbgemm", "qnnpack")


class Zoo2d(torch.nn.Module):
    """Conv2d (reflect padding) + ReLU fused, BatchNorm2d + ReLU fused, BatchNorm2d,
    the activations, norms, QFunctional's ops, ConvTranspose2d, Sigmoid and Softmax."""

    def __init__(self):
        super().__init__()
        self.quant = QuantStub()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect")
        self.relu = torch.nn.ReLU()
        self.bn = torch.nn.BatchNorm2d(4)
        self.bn_relu = torch.nn.ReLU()
        self.bn2 = torch.nn.BatchNorm2d(4)
        self.relu6 = torch.nn.ReLU6()
        self.hardswish = torch.nn.Hardswish()
        self.leaky = torch.nn.LeakyReLU(0.2)
        self.elu = torch.nn.ELU(0.7)
        self.dropout = torch.nn.Dropout(0.5)
        self.group_norm = torch.nn.GroupNorm(2, 4)
        self.instance_norm = torch.nn.InstanceNorm2d(4, affine=True)
        self.layer_norm = torch.nn.LayerNorm([6])
        self.add, self.mul, self.add_relu = FloatFunctional(), FloatFunctional(), FloatFunctional()
        self.cat, self.scalars = FloatFunctional(), FloatFunctional()
        self.conv_transpose = torch.nn.ConvTranspose2d(8, 4, 3, stride=2, groups=2)
        self.sigmoid = torch.nn.Identity()  # nnq.Sigmoid / nnq.Softmax set after convert
        self.softmax = torch.nn.Identity()
        self.dequant = DeQuantStub()

    def forward(self, x):
        x = self.bn_relu(self.bn(self.relu(self.conv(self.quant(x)))))
        y = self.hardswish(self.relu6(self.bn2(x)))
        y = self.elu(self.leaky(self.dropout(y)))
        z = self.layer_norm(self.instance_norm(self.group_norm(x)))
        s = self.add_relu.add_relu(self.mul.mul(y, z), self.add.add(y, x))
        s = self.scalars.mul_scalar(self.scalars.add_scalar(s, 0.25), -1.5)
        s = self.conv_transpose(self.cat.cat([s, y], 1))
        return self.dequant(self.softmax(self.sigmoid(s)))


class Zoo1d3d(torch.nn.Module):
    """Conv1d + ReLU fused, ConvTranspose1d, InstanceNorm1d; Conv3d + ReLU fused,
    Conv3d, BatchNorm3d + ReLU fused, BatchNorm3d, InstanceNorm3d, ConvTranspose3d."""

    def __init__(self, convs3d: bool):
        super().__init__()
        self.quant1, self.quant3 = QuantStub(), QuantStub()
        self.conv1d, self.relu1d = torch.nn.Conv1d(2, 4, 3, padding=1), torch.nn.ReLU()
        self.conv_transpose1d = torch.nn.ConvTranspose1d(4, 2, 2, stride=2)
        self.instance_norm1d = torch.nn.InstanceNorm1d(2)
        identity = torch.nn.Identity
        self.conv3d = torch.nn.Conv3d(2, 3, 2) if convs3d else identity()
        self.relu3d = torch.nn.ReLU()
        self.conv3d_b = torch.nn.Conv3d(3, 3, 1, groups=3) if convs3d else identity()
        self.bn3d, self.bn3d_relu = torch.nn.BatchNorm3d(3), torch.nn.ReLU()
        self.bn3d_b = torch.nn.BatchNorm3d(3)
        self.instance_norm3d = torch.nn.InstanceNorm3d(3)
        self.conv_transpose3d = torch.nn.ConvTranspose3d(3, 2, 2) if convs3d else identity()
        self.dequant1, self.dequant3 = DeQuantStub(), DeQuantStub()

    def forward(self, x1, x3):
        a = self.instance_norm1d(self.conv_transpose1d(self.relu1d(self.conv1d(self.quant1(x1)))))
        b = self.bn3d_relu(self.bn3d(self.conv3d_b(self.relu3d(self.conv3d(self.quant3(x3))))))
        b = self.conv_transpose3d(self.instance_norm3d(self.bn3d_b(b)))
        return self.dequant1(a), self.dequant3(b)


def converted(model: torch.nn.Module, fuse: list, inputs: tuple, engine: str) -> torch.nn.Module:
    torch.manual_seed(0)
    model.eval()
    if fuse:
        fuse_modules(model, fuse, inplace=True)
    model.qconfig = default_qconfig
    with torch_engine(engine):
        prepared = prepare(model)
        for seed in range(2):
            prepared(*(normal(seed, *t.shape) * 2 for t in inputs))
        return convert(prepared)


@pytest.mark.parametrize("engine", ENGINES)
def test_zoo_2d(engine):
    x = normal(5, 2, 3, 6, 6)
    model = converted(Zoo2d(), [["conv", "relu"], ["bn", "bn_relu"]], (x,), engine)
    model.sigmoid = nnq.Sigmoid(1 / 256, 0)  # qnnpack takes only these qparams
    model.softmax = nnq.Softmax(1, 1 / 256, 0)
    assert type(model.conv).__name__ == "ConvReLU2d" and type(model.bn).__name__ == "BNReLU2d"
    assert type(model.bn2) is nnq.BatchNorm2d and type(model.dropout) is nnq.Dropout
    assert check_emulation(model, (x,), engine) == 16  # QFunctional's methods run no hooks


@pytest.mark.parametrize("engine", ENGINES)
def test_zoo_1d_3d(engine):
    # torch's qnnpack cannot unpack (so not copy) 3-D convolution weights, and has no
    # 3-D transposed convolution: its model keeps the 3-D norms only.
    convs3d = engine == "fbgemm"
    model = Zoo1d3d(convs3d)
    x1, x3 = normal(6, 2, 2, 7), normal(7, 1, 2 if convs3d else 3, 4, 5, 5)
    fuse = [["conv1d", "relu1d"], ["bn3d", "bn3d_relu"]]
    model = converted(model, fuse + ([["conv3d", "relu3d"]] if convs3d else []), (x1, x3), engine)
    assert type(model.bn3d).__name__ == "BNReLU3d" and type(model.bn3d_b) is nnq.BatchNorm3d
    check_emulation(model, (x1, x3), engine)


def test_qnnpack_conv3d_is_refused_with_advice():
    model = converted(
        Zoo1d3d(convs3d=True), [], (normal(6, 2, 2, 7), normal(7, 1, 2, 4, 5, 5)), "qnnpack"
    )
    with pytest.raises(
        EmulationError, match="cannot copy the model.*convert the model under fbgemm"
    ):
        qemu.emulate(model, engine="qnnpack")


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("dim", [1, 2, 3])
@pytest.mark.parametrize("qparams", [(2**-8, 0), (0.01, 5)], ids=["qnnpack_qparams", "other"])
def test_softmax_layouts(engine, dim, qparams):
    """Softmax after a convolution (channels-last input) along each dim: qnnpack's
    soft-argmax path writes three different layouts, the naive path one."""
    model = torch.nn.Sequential(
        QuantStub(), torch.nn.Conv2d(2, 3, 1), torch.nn.Identity(), DeQuantStub()
    )
    x = normal(8, 2, 2, 3, 4)
    model = converted(model, [], (x,), engine)
    model[2] = nnq.Softmax(dim, *qparams)
    check_emulation(model, (x,), engine)


def test_every_handled_type_is_exercised():
    """The modules the tests above and tests/seed run cover every registered type."""
    exercised = {
        "Quantize", "DeQuantize", "Linear", "LinearReLU", "Conv1d", "Conv2d", "Conv3d",
        "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d", "ConvReLU1d", "ConvReLU2d",
        "ConvReLU3d", "BatchNorm2d", "BatchNorm3d", "BNReLU2d", "BNReLU3d", "LayerNorm",
        "GroupNorm", "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d", "ReLU6",
        "Hardswish", "ELU", "LeakyReLU", "Sigmoid", "Softmax", "Dropout", "QFunctional",
        "Embedding", "EmbeddingBag", "LSTM", "GRU", "LSTMCell", "GRUCell", "RNNCell",
    }  # fmt: skip
    assert {name.rsplit(".", 1)[-1] for name in handled_types()} == exercised


@pytest.mark.parametrize("engine", ENGINES)
def test_inplace_activations_as_torch(engine):
    """quantized::relu6 writes into its input with inplace=True; quantized::leaky_relu
    ignores the flag and returns a new tensor. The emulation does the same."""
    model = torch.nn.Sequential(
        torch.nn.Identity(), nnq.LeakyReLU(0.2, 10, 0.1, inplace=True), nnq.ReLU6(inplace=True)
    )
    x = torch.quantize_per_tensor(normal(9, 2, 3, 4) * 4, 0.05, 100, torch.quint8)
    for backend in ("numpy", "numba"):
        leaky_input, relu6_input = x.clone(), x.clone()
        emulated = qemu.emulate(model, engine=engine, backend=backend)
        with torch_engine(engine):
            assert emulated[1](leaky_input).data_ptr() != leaky_input.data_ptr()
            assert emulated[2](relu6_input).data_ptr() == relu6_input.data_ptr()
            expected = torch.ops.quantized.relu6(x, False)
        assert torch.equal(leaky_input.int_repr(), x.int_repr())
        assert torch.equal(relu6_input.int_repr(), expected.int_repr())


_BUILT: dict[tuple[str, str], torch.nn.Module] = {}


def _zoo_2d(engine: str) -> torch.nn.Module:
    if ("zoo2d", engine) not in _BUILT:
        model = converted(
            Zoo2d(), [["conv", "relu"], ["bn", "bn_relu"]], (normal(5, 2, 3, 6, 6),), engine
        )
        model.sigmoid, model.softmax = nnq.Sigmoid(1 / 256, 0), nnq.Softmax(1, 1 / 256, 0)
        _BUILT["zoo2d", engine] = model
    return _BUILT["zoo2d", engine]


class Recurrent(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm, self.gru = (
            torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True),
            torch.nn.GRU(8, 5),
        )
        self.fc = torch.nn.Linear(5, 2)

    def forward(self, x):
        return self.fc(self.gru(self.lstm(x)[0])[0])


def _recurrent(engine: str, fp16: bool) -> torch.nn.Module:
    key = ("recurrent-fp16" if fp16 else "recurrent", engine)
    if key not in _BUILT:
        torch.manual_seed(0)
        with torch_engine(engine):
            _BUILT[key] = quantize_dynamic(
                Recurrent().eval(), dtype=torch.float16 if fp16 else torch.qint8
            )
    return _BUILT[key]


@settings(max_examples=cases(6))
@given(
    engine=st.sampled_from(ENGINES),
    seed=st.integers(0, 2**16),
    scale=st.sampled_from([0.05, 1.0, 4.0, 40.0]),
    batch=st.integers(1, 3),
    height=st.integers(3, 8),
)
def test_zoo_2d_random_inputs(engine, seed, scale, batch, height):
    """The 2-D zoo on inputs of other shapes and ranges than it was calibrated on
    (values clamped at the activation ranges included)."""
    check_emulation(_zoo_2d(engine), (normal(seed, batch, 3, height, 6) * scale,), engine)


@settings(max_examples=cases(6))
@given(
    case=st.sampled_from([("fbgemm", False), ("fbgemm", True), ("qnnpack", False)]),
    seed=st.integers(0, 2**16),
    scale=st.sampled_from([0.05, 1.0, 10.0, 300.0]),
    steps=st.integers(1, 5),
    batch=st.integers(1, 4),
)
def test_recurrent_random_inputs(case, seed, scale, steps, batch):
    """Dynamic LSTM (2 layers, bidirectional) -> GRU -> linear, int8 or fp16 weights."""
    engine, fp16 = case
    check_emulation(_recurrent(engine, fp16), (normal(seed, steps, batch, 3) * scale,), engine)


@pytest.mark.parametrize("engine", ENGINES)
def test_emulated_models_pickle(engine):
    """An emulated model survives pickling (torch.save of the whole model) and computes
    the same afterwards."""
    for model, x in [
        (_zoo_2d(engine), normal(10, 1, 3, 4, 6)),
        (_recurrent(engine, fp16=False), normal(11, 3, 2, 3)),
    ]:
        emulated = qemu.emulate(model, engine=engine, backend="numpy")
        restored = pickle.loads(pickle.dumps(emulated))
        with torch_engine(engine):
            assert_bitexact(as_qemu(restored(x)), as_qemu(emulated(x)))
