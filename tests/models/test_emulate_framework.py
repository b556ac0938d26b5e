"""emulate() / diff_model(): refusals, hooks, the stub modules."""

import pytest

import qemu
from qemu.emulate import EmulationError

torch = pytest.importorskip("torch")
from torch.ao.quantization import DeQuantStub, QuantStub, convert, default_qconfig, prepare  # noqa: E402


class StubModel(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.quant = QuantStub()
        self.dequant = DeQuantStub()

    def forward(self, x):
        return self.dequant(self.quant(x))


@pytest.fixture
def prepared():
    torch.backends.quantized.engine = "fbgemm"
    model = StubModel().eval()
    model.qconfig = default_qconfig
    model = prepare(model)
    model(torch.randn(5, 4, generator=torch.Generator().manual_seed(0)))
    return model


def test_float_and_prepared_models_are_refused(prepared):
    with pytest.raises(EmulationError, match="no quantized modules: quantize it first"):
        qemu.emulate(StubModel())
    with pytest.raises(
        EmulationError, match="prepared but not converted.*call torch.ao.quantization.convert"
    ):
        qemu.emulate(prepared)
    with pytest.raises(TypeError, match="model: expected a torch.nn.Module"):
        qemu.emulate("model")


def test_unknown_quantized_module_is_named(prepared):
    class Mystery(torch.ao.nn.quantized.Quantize):
        pass

    model = convert(prepared)
    model.extra = torch.nn.Sequential(Mystery(0.1, 0, torch.quint8))
    with pytest.raises(EmulationError, match=r"cannot emulate module 'extra.0' of type .*Mystery"):
        qemu.emulate(model)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_stub_model_is_bit_exact_and_hooks_survive(prepared, backend):
    model = convert(prepared)
    seen = []
    model.quant.register_forward_hook(lambda module, inputs, output: seen.append(output.int_repr()))
    emulated = qemu.emulate(model, engine="fbgemm", backend=backend)
    x = torch.randn(3, 4, generator=torch.Generator().manual_seed(1)) * 10
    expected = model(x)
    actual = emulated(x)
    assert torch.equal(actual.view(torch.int32), expected.view(torch.int32))
    assert len(seen) == 2 and torch.equal(seen[0], seen[1])
    assert "Emulated" in type(emulated.quant).__name__ and type(model.quant).__name__ == "Quantize"


def test_diff_model_reports_each_module(prepared):
    model = convert(prepared)
    report = qemu.diff_model(
        model, torch.randn(2, 4), engines=["fbgemm", "qnnpack"], backends=["numpy"]
    )
    assert [p.engine for p in report.pairs] == ["fbgemm", "qnnpack"]
    for pair in report.pairs:
        assert [m.path for m in pair.modules] == ["quant", "dequant"]
        assert pair.first_divergence is None
    assert "first divergence: none (bit-exact)" in str(report)
