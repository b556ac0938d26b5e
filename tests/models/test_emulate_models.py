"""emulate() and diff_model() on converted models: what is not emulated fails by name,
diff_model's per-module report on static and dynamic models for both engines, and the
fbgemm variants a VNNI host reaches only through the torch subprocess."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
from seed import models  # noqa: E402
from seed.flows import as_qemu, torch_engine, uniform  # noqa: E402
from torch.ao.quantization import (  # noqa: E402
    DeQuantStub,
    MinMaxObserver,
    QConfig,
    QuantStub,
    QuantWrapper,
    convert,
    default_qconfig,
    default_weight_observer,
    get_default_qconfig,
    prepare,
    quantize_dynamic,
)

import qemu  # noqa: E402
from qemu.emulate import EmulationError  # noqa: E402
from qemu.testing import assert_bitexact  # noqa: E402


def static_model(engine: str) -> torch.nn.Module:
    torch.manual_seed(0)
    model = QuantWrapper(models.ResNetBase().eval())
    model.module.fuse_model()
    model.qconfig = get_default_qconfig(engine)
    with torch_engine(engine):
        prepared = prepare(model)
        prepared(uniform(0, 2, 3, 10, 10))
        return convert(prepared)


def dynamic_model(engine: str) -> torch.nn.Module:
    torch.manual_seed(0)
    with torch_engine(engine):
        return quantize_dynamic(models.NestedModel().eval())


class WithPReLU(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.quant, self.prelu, self.dequant = QuantStub(), torch.nn.PReLU(), DeQuantStub()

    def forward(self, x):
        return self.dequant(self.prelu(self.quant(x)))


def test_a_quantized_module_without_emulation_is_named():
    """nnq.PReLU (which convert makes of nn.PReLU) has no qemu op: the error names the
    module's path and type, before anything runs."""
    model = QuantWrapper(WithPReLU())
    model.qconfig = default_qconfig  # per-tensor weights: PReLU has one parameter
    with torch_engine("fbgemm"):
        prepared = prepare(model)
        prepared(uniform(1, 2, 4))
        converted = convert(prepared)
    with pytest.raises(
        EmulationError,
        match=r"cannot emulate module 'module\.prelu' of type "
        r"torch\.ao\.nn\.quantized\.modules\.activation\.PReLU",
    ):
        qemu.emulate(converted, engine="fbgemm")


@pytest.mark.parametrize("make", [static_model, dynamic_model], ids=["static", "dynamic"])
def test_diff_model_on_both_engines(make):
    for engine in ("fbgemm", "qnnpack"):
        model = make(engine)
        x = uniform(2, 2, 3, 10, 10) * 2 if make is static_model else uniform(2, 3, 5) * 4 - 2
        report = qemu.diff_model(model, x, engines=[engine], backends=["numpy", "numba"])
        assert [(p.engine, p.backend) for p in report.pairs] == [
            (engine, "numpy"),
            (engine, "numba"),
        ]
        for pair in report.pairs:
            paths = [m.path for m in pair.modules]
            if make is static_model:
                assert paths == ["quant", "module.conv1", "module.fc", "dequant"]
            else:
                assert paths == ["sub1.fc", "sub2.fc1", "sub2.fc2", "fc3"]
            assert all(m.elements > 0 and m.equal for m in pair.modules)
            assert pair.first_divergence is None
        assert str(report).count("first divergence: none (bit-exact)") == 2
        assert report.partings == []  # one engine: nothing to part from


def test_diff_model_shows_where_engines_part():
    """The dynamic model's emulations on fbgemm and qnnpack part at its first linear
    (qnnpack ignores reduce_range), each bit-exact against its own torch."""
    model = dynamic_model("fbgemm")
    report = qemu.diff_model(model, uniform(8, 3, 5) * 4 - 2, engines=["fbgemm", "qnnpack"],
                             backends="numpy")  # fmt: skip
    assert all(p.first_divergence is None for p in report.pairs)
    (parting,) = report.partings
    assert parting.engines == ("fbgemm", "qnnpack")
    assert parting.first_divergence.path == "sub1.fc"
    assert "engines part at: sub1.fc" in str(report)


def test_diff_model_names_the_first_divergence(monkeypatch):
    """A wrong emulated layer shows as the first divergence, with its mismatch count."""
    from qemu.emulate.linear import EmulatedLinear

    model = static_model("fbgemm")
    correct = EmulatedLinear.forward

    def off_by_one(self, x):
        out = correct(self, x)
        return torch.quantize_per_tensor(
            out.dequantize() + out.q_scale(), out.q_scale(), out.q_zero_point(), out.dtype
        )

    monkeypatch.setattr(EmulatedLinear, "forward", off_by_one)
    report = qemu.diff_model(model, uniform(3, 2, 3, 10, 10), engines="fbgemm", backends="numpy")
    (pair,) = report.pairs
    assert pair.first_divergence.path == "module.fc"
    assert pair.first_divergence.mismatches > 0
    assert "first divergence: module.fc" in str(report)


def saturating_model() -> torch.nn.Module:
    """A linear whose int8 pair sums overflow int16 (full-range quint8 activations and
    weights near +-127): fbgemm's AVX2 / AVX512 kernels saturate them, VNNI does not."""
    torch.manual_seed(0)
    model = QuantWrapper(torch.nn.Linear(64, 4))
    with torch.no_grad():
        model.module.weight.copy_(torch.sign(torch.randn(4, 64)))
    model.qconfig = QConfig(
        activation=MinMaxObserver.with_args(quant_min=0, quant_max=255),
        weight=default_weight_observer,
    )
    with torch_engine("fbgemm"):
        prepared = prepare(model)
        prepared(torch.ones(3, 64))
        return convert(prepared)


@pytest.mark.skipif(qemu.engines.host() != "fbgemm", reason="needs an AVX512-VNNI host")
def test_fbgemm_avx2_through_the_subprocess_where_it_matters():
    """On a VNNI host torch computes fbgemm-avx2 only in a subprocess: diff_model reaches
    it there, the emulation equals it, and it parts from the VNNI engine's result."""
    model = saturating_model()
    x = torch.ones(3, 64)
    report = qemu.diff_model(
        model, x, engines=["fbgemm", "fbgemm-avx2"], backends=["numpy", "numba"]
    )
    assert all(p.first_divergence is None and len(p.modules) == 3 for p in report.pairs)
    assert "subprocess" in report.pairs[2].note
    # Both engines bit-exact against their torch, and they part at the saturating linear.
    assert [(p.engines, p.backend) for p in report.partings] == [
        (("fbgemm", "fbgemm-avx2"), "numpy"),
        (("fbgemm", "fbgemm-avx2"), "numba"),
    ]
    for parting in report.partings:
        assert parting.first_divergence.path == "module"
        assert [m.equal for m in parting.modules] == [True, False, False]
    assert str(report).count("engines part at: module") == 2
    for make in (static_model, dynamic_model):
        model = make("fbgemm")
        x = uniform(4, 2, 3, 10, 10) if make is static_model else uniform(4, 3, 5)
        reference = qemu.emulate(model, engine="fbgemm-avx2", backend="torch")(x)
        for backend in ("numpy", "numba"):
            actual = qemu.emulate(model, engine="fbgemm-avx2", backend=backend)(x)
            assert_bitexact(as_qemu(actual), as_qemu(reference), f"{make.__name__} {backend}")


def test_rnn_dropout_in_training_mode_is_refused():
    """Between-layer dropout in training mode is random in torch: refused, eval() works
    (the emulated modules take the original's training flag)."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.LSTM(2, 3, num_layers=2, dropout=0.5))
    with torch_engine("fbgemm"):
        quantized = quantize_dynamic(model.eval())
    x = uniform(5, 4, 1, 2)
    quantized.train()
    with pytest.raises(ValueError, match="dropout: 0.5 between layers in training mode"):
        qemu.emulate(quantized, engine="fbgemm", backend="numpy")(x)
    quantized.eval()
    emulated = qemu.emulate(quantized, engine="fbgemm", backend="numpy")
    assert not emulated[0].training
    with torch_engine("fbgemm"):
        assert_bitexact(as_qemu(emulated(x)), as_qemu(quantized(x)))


@pytest.mark.parametrize("engine", ["fbgemm", "qnnpack"])
def test_shared_and_root_modules(engine):
    """A quantized module reached by two paths is replaced at both (by one emulated
    module); a model that is itself one quantized module comes back emulated."""
    torch.manual_seed(0)
    with torch_engine(engine):
        linear = quantize_dynamic(torch.nn.Sequential(torch.nn.Linear(5, 5)))[0]
        model = torch.nn.Sequential(linear, torch.nn.ReLU(), linear)
        x = uniform(6, 3, 5)
        expected, expected_single = model(x), linear(x)
    emulated = qemu.emulate(model, engine=engine, backend="numba")
    assert emulated[0] is emulated[2] and type(emulated[2]).__name__ == "EmulatedDynamicLinear"
    alone = qemu.emulate(linear, engine=engine, backend="numba")
    assert type(alone).__name__ == "EmulatedDynamicLinear"
    assert_bitexact(as_qemu(emulated(x)), as_qemu(expected))
    assert_bitexact(as_qemu(alone(x)), as_qemu(expected_single))
