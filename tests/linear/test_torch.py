"""Static int8 linear / convolutions against torch 2.13 on every engine, for the numpy
and numba backends (fbgemm-avx2 and fbgemm-avx512 through torch in a subprocess with
FBGEMM_ENABLE_INSTRUCTIONS set).

The soak of issue 3 is
``QEMU_SOAK=20000 pytest tests/linear/test_torch.py -k random_cases``: 20,000 random
cases per op and engine, torch's results computed in batches of 500 per worker call.
``-k random_depthwise_cases`` soaks fbgemm's depthwise kernel alone: N of the same
draws that take it, per conv2d / conv3d op and engine.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from linear.cases import ALL_OPS, canonical, ops_for, random_case, torch_results

import qemu
import qemu.ops
from qemu.numerics.requantize import qnnpack_requantization_scales as requantization_scales
from qemu.ops.conv import ConvGeometry, fbgemm_conv_path
from qemu.testing import assert_bitexact, cases, seeded_rng

torch = pytest.importorskip("torch")

ENGINES = qemu.engines.names()
EMULATORS = ("numpy", "numba")


def run(name, args, engine, backend):
    return getattr(qemu.ops, name)(*args, engine=engine, backend=backend)


def _groupwise_unavailable(result) -> bool:
    return isinstance(result, dict) and result["error"].startswith("BackendUnavailable")


@pytest.mark.parametrize("op", ALL_OPS)
@pytest.mark.parametrize("engine", ENGINES)
def test_random_cases(op, engine):
    if op not in ops_for(engine):
        pytest.skip(f"{op} is refused on {engine} (torch's result is undefined)")
    rng = seeded_rng("linear-torch", op, engine)
    _check_against_torch([random_case(rng, op, engine) for _ in range(cases(20))], engine)


@pytest.mark.parametrize("op", ["conv2d", "conv2d_relu", "conv3d", "conv3d_relu"])
@pytest.mark.parametrize("engine", ENGINES)
def test_random_depthwise_cases(op, engine):
    # The draws of test_random_cases that take fbgemm's depthwise kernel (about one conv
    # draw in eight), so that a soak can aim at it: QEMU_SOAK=N runs N of them.
    rng = seeded_rng("linear-torch-depthwise", op, engine)
    drawn = []
    while len(drawn) < cases(5):
        case = random_case(rng, op, engine)
        if _takes_depthwise_kernel(*case[:2]):
            drawn.append(case)
    _check_against_torch(drawn, engine)


def _takes_depthwise_kernel(name, args) -> bool:
    try:
        checked = canonical(name, args, "fbgemm")[1]
    except ValueError:  # refused on fbgemm (a 3-D depthwise output smaller than its padding)
        return False
    x, w, _, transposed, stride, padding, output_padding, dilation, groups = checked[:9]
    geometry = ConvGeometry(transposed, stride, padding, output_padding, dilation, groups)
    return fbgemm_conv_path(geometry, x.shape[1], w.shape[0], w.shape[2:]) == "depthwise"


def _check_against_torch(drawn, engine):
    unverifiable = 0
    for (name, args, _), expected in zip(drawn, torch_results(engine, drawn), strict=True):
        if _groupwise_unavailable(expected):
            # This host's torch runs fbgemm's groupwise kernel with VNNI whatever the
            # engine; where qemu's engine result equals its exact one, torch's exact
            # result must equal both.
            exact = run(name, args, "fbgemm", "numpy")
            if not exact.equal(run(name, args, engine, "numpy")):
                unverifiable += 1
                continue
            expected = run(name, args, "fbgemm", "torch")
        assert not isinstance(expected, dict), f"torch failed on an accepted case: {expected}"
        for backend in EMULATORS:
            assert_bitexact(
                run(name, args, engine, backend), expected, f"{name} {engine} {backend}"
            )
    # A guard against a vacuous test, not a tolerance: groupwise draws whose saturated
    # result this host's torch cannot compute are skipped, and they must stay a minority
    # (3 of the 20 default conv2d draws on fbgemm-avx2 are such cases).
    assert unverifiable <= len(drawn) // 4


@settings(max_examples=cases(25))
@given(
    batch=st.integers(0, 5),
    features=st.integers(1, 40),
    outputs=st.integers(1, 12),
    input_zero_point=st.sampled_from([0, 1, 127, 128, 255]),
    weight_zero_point=st.integers(-128, 127),
    per_channel=st.booleans(),
    with_bias=st.booleans(),
    relu=st.booleans(),
    output_scale=st.sampled_from([2.0**-12, 0.01, 0.1, 1.0, 2.0, 2.0**8]),
    output_zero_point=st.sampled_from([0, 1, 128, 254, 255]),
    engine=st.sampled_from(["fbgemm", "qnnpack"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_linear_hypothesis(batch, features, outputs, input_zero_point, weight_zero_point,
                           per_channel, with_bias, relu, output_scale, output_zero_point,
                           engine, seed):  # fmt: skip
    rng = np.random.default_rng(seed)
    x = qemu.QTensor.per_tensor(rng.integers(0, 256, (batch, features)), 2.0**-5,
                                input_zero_point, "quint8")  # fmt: skip
    codes = rng.integers(-128, 128, (outputs, features))
    if per_channel:
        points = np.full(outputs, weight_zero_point)
        w = qemu.QTensor.per_channel(codes, rng.uniform(0.001, 0.1, outputs), points, 0, "qint8")
    else:
        w = qemu.QTensor.per_tensor(codes, 0.03, weight_zero_point, "qint8")
    bias = rng.normal(0, 4, outputs).astype(np.float32) if with_bias else None
    op = qemu.ops.linear_relu if relu else qemu.ops.linear
    args = (x, w, bias, output_scale, output_zero_point)
    expected = op(*args, engine=engine, backend="torch")
    for backend in EMULATORS:
        assert_bitexact(op(*args, engine=engine, backend=backend), expected, backend)


# -- saturation built on purpose --------------------------------------------------------


def _saturating_linear(rng, batch=4, features=64, outputs=16):
    x = qemu.QTensor.per_tensor(rng.choice([0, 255], (batch, features), p=[0.1, 0.9]),
                                0.02, 0, "quint8")  # fmt: skip
    w = qemu.QTensor.per_tensor(rng.choice([-128, 127], (outputs, features)), 0.01, 0, "qint8")
    return x, w


def test_linear_saturates_on_avx2_and_avx512_only():
    rng = seeded_rng("linear-torch", "saturating")
    x, w = _saturating_linear(rng)
    bias = rng.normal(0, 1, 16).astype(np.float32)
    results = {}
    for engine in ENGINES:
        expected = qemu.ops.linear(x, w, bias, 20.0, 128, engine=engine, backend="torch")
        for backend in EMULATORS:
            actual = qemu.ops.linear(x, w, bias, 20.0, 128, engine=engine, backend=backend)
            assert_bitexact(actual, expected, f"{engine} {backend}")
        results[engine] = expected.codes
    assert (results["fbgemm-avx2"] != results["fbgemm"]).mean() > 0.5
    assert_bitexact(results["fbgemm-avx512"], results["fbgemm-avx2"], "avx512 == avx2")
    assert_bitexact(results["qnnpack"], results["fbgemm"], "qnnpack == exact fbgemm")


@pytest.mark.parametrize(
    ("name", "channels", "kernel", "groups", "extra"),
    [
        ("im2col", (6, 10), (3, 3), 1, {}),
        ("im2col odd channels", (5, 7), (3, 3), 1, {}),
        ("pointwise", (32, 16), (1, 1), 1, {}),
        ("depthwise", (16, 32), (3, 3), 16, {"padding": 1}),
        ("depthwise 5x5", (8, 8), (5, 5), 8, {"padding": 2, "stride": 2}),
    ],
)
def test_conv_saturation_per_kernel(name, channels, kernel, groups, extra):
    rng = seeded_rng("linear-torch", "conv-saturating", name)
    cin, cout = channels
    x = qemu.QTensor.per_tensor(rng.choice([0, 255], (1, cin, 7, 6), p=[0.1, 0.9]), 0.02, 3,
                                "quint8")  # fmt: skip
    w = qemu.QTensor.per_tensor(rng.choice([-128, 127], (cout, cin // groups, *kernel)), 0.01, 0,
                                "qint8")  # fmt: skip
    outputs = {}
    for engine in ("fbgemm", "fbgemm-avx2", "qnnpack"):
        kwargs = dict(extra, groups=groups, scale=40.0, zero_point=128)
        expected = qemu.ops.conv2d(x, w, None, engine=engine, backend="torch", **kwargs)
        for backend in EMULATORS:
            actual = qemu.ops.conv2d(x, w, None, engine=engine, backend=backend, **kwargs)
            assert_bitexact(actual, expected, f"{name} {engine} {backend}")
        outputs[engine] = expected.codes
    differs_from_exact = (outputs["fbgemm-avx2"] != outputs["qnnpack"]).any()
    assert differs_from_exact, "the case does not saturate"
    if name.startswith("depthwise"):  # fbgemm's depthwise kernel saturates on VNNI too
        assert_bitexact(outputs["fbgemm"], outputs["fbgemm-avx2"], "depthwise on VNNI")
    else:
        assert_bitexact(outputs["fbgemm"], outputs["qnnpack"], "VNNI is exact")


def test_depthwise_3d_activation_sums_saturate_in_int16(monkeypatch):
    # 343 taps of activations near 255 (and a zero point near 255 for the padding):
    # the int16 sums fbgemm keeps for the weight zero point saturate at 32,767.
    rng = seeded_rng("linear-torch", "depthwise-asum")
    x = qemu.QTensor.per_tensor(rng.integers(240, 256, (1, 8, 4, 4, 4)), 0.02, 250, "quint8")
    w = qemu.QTensor.per_channel(rng.integers(-128, 128, (16, 1, 7, 7, 7)),
                                 rng.uniform(0.002, 0.02, 16), rng.integers(-10, 10, 16), 0,
                                 "qint8")  # fmt: skip
    bias = rng.normal(0, 1, 16).astype(np.float32)
    for engine in ("fbgemm", "fbgemm-avx2"):
        expected = qemu.ops.conv3d(x, w, bias, 1, 3, 1, 8, scale=30.0, zero_point=100,
                                   engine=engine, backend="torch")  # fmt: skip
        for backend in EMULATORS:
            actual = qemu.ops.conv3d(x, w, bias, 1, 3, 1, 8, scale=30.0, zero_point=100,
                                     engine=engine, backend=backend)  # fmt: skip
            assert_bitexact(actual, expected, f"{engine} {backend}")
    monkeypatch.setattr("qemu.ops.conv._INT16_MAX", 2**31 - 1)  # sums without saturation
    unsaturated = qemu.ops.conv3d(x, w, bias, 1, 3, 1, 8, scale=30.0, zero_point=100,
                                  engine="fbgemm", backend="numpy")  # fmt: skip
    assert (unsaturated.codes != expected.codes).mean() > 0.3


def test_qnnpack_dwconv3d_requantizes_in_double(monkeypatch):
    """qnnpack's 3x3x3 depthwise kernel rounds double(acc) * double(scale); its other
    kernels round the float32 product. With this output scale an accumulator of +-199
    gives +-60.5 exactly in float32 (a tie, rounded to even: 60) but +-60.5000013 in
    double (61)."""
    rng = seeded_rng("qnnpack-dwconv3d-double")
    output_scale = 3.2892560958862305
    rs = requantization_scales(np.float32([1.0]), 1.0, output_scale)[0]
    assert np.float32(199) * rs == np.float32(60.5) and 199 * float(rs) > 60.5
    taps = np.array([7] * 26 + [17])  # 199 in all
    for per_channel in (False, True):
        zw = rng.integers(-3, 4, 8) if per_channel else np.zeros(8, np.int64)
        signs = np.array([1, -1] * 4)
        codes = np.stack([zw[c] + signs[c] * rng.permutation(taps) for c in range(8)])
        codes = codes.reshape(8, 1, 3, 3, 3)
        if per_channel:
            w = qemu.QTensor.per_channel(codes, np.ones(8), zw, 0, "qint8")
        else:
            w = qemu.QTensor.per_tensor(codes, 1.0, 0, "qint8")
        x = qemu.QTensor.per_tensor(np.full((2, 8, 4, 4, 5), 129), 1.0, 128, "quint8")
        args = (x, w, None, 1, 0, 1, 8)
        kwargs = {"scale": output_scale, "zero_point": 128, "engine": "qnnpack"}
        expected = qemu.ops.conv3d(*args, **kwargs, backend="torch")
        assert set(expected.codes.reshape(2, 8, -1)[0, :2, 0].tolist()) == {128 + 61, 128 - 61}
        for backend in EMULATORS:
            assert_bitexact(qemu.ops.conv3d(*args, **kwargs, backend=backend), expected, backend)
        with monkeypatch.context() as patch:  # the float32 rule of the other kernels
            patch.setattr("qemu.ops.conv.qnnpack_dwconv3d", lambda *_: False)
            float32_rule = qemu.ops.conv3d(*args, **kwargs, backend="numpy")
        assert (float32_rule.codes != expected.codes).all()


def test_directconv_reproduces_torch_row_stride_defect():
    rng = seeded_rng("linear-torch", "directconv")
    x = qemu.QTensor.per_tensor(rng.integers(0, 256, (1, 16, 3, 4)), 0.02, 37, "quint8")
    w = qemu.QTensor.per_tensor(rng.integers(-128, 128, (16, 8, 2, 3)), 0.01, 2, "qint8")
    for engine in ("fbgemm", "fbgemm-avx2"):
        expected = qemu.ops.conv_transpose2d(x, w, None, 2, 0, 1, scale=0.3, zero_point=100,
                                             engine=engine, backend="torch")  # fmt: skip
        for backend in EMULATORS:
            actual = qemu.ops.conv_transpose2d(x, w, None, 2, 0, 1, scale=0.3, zero_point=100,
                                               engine=engine, backend=backend)  # fmt: skip
            assert_bitexact(actual, expected, f"{engine} {backend}")
    correct = qemu.ops.conv_transpose2d(x, w, None, 2, 0, 1, scale=0.3, zero_point=100,
                                        engine="qnnpack")  # fmt: skip
    assert (correct.codes != expected.codes).any()  # the defect is visible


def test_fbgemm_conv_of_an_input_smaller_than_the_kernel():
    # fbgemm's conv_param_t truncates (-1) / 2 to 0: one output from zero-point padding.
    rng = seeded_rng("linear-torch", "truncated-size")
    x = qemu.QTensor.per_tensor(rng.integers(0, 256, (2, 3, 2, 3)), 0.02, 77, "quint8")
    w = qemu.QTensor.per_tensor(rng.integers(-128, 128, (4, 3, 3, 3)), 0.01, 2, "qint8")
    expected = qemu.ops.conv2d(x, w, None, 2, scale=0.3, zero_point=100, backend="torch")
    assert expected.shape == (2, 4, 1, 1)
    for backend in EMULATORS:
        assert_bitexact(qemu.ops.conv2d(x, w, None, 2, scale=0.3, zero_point=100,
                                        backend=backend), expected)  # fmt: skip


# -- what torch refuses, qemu refuses ---------------------------------------------------


def test_refusals_match_torch():
    x = qemu.QTensor.per_tensor(np.zeros((1, 4, 5, 5), np.int64), 0.1, 0, "quint8")
    w_t = qemu.QTensor.per_channel(np.zeros((4, 3, 2, 2), np.int64), [0.1] * 3, [0] * 3, 1,
                                   "qint8")  # fmt: skip
    with pytest.raises(ValueError, match="Per Channel"):
        qemu.ops.conv_transpose2d(x, w_t, None, engine="fbgemm")
    with pytest.raises(RuntimeError, match="Per Channel"):
        torch.backends.quantized.engine = "fbgemm"
        torch.ops.quantized.conv_transpose2d_prepack(w_t.to_torch(), None, [1, 1], [0, 0],
                                                     [0, 0], [1, 1], 1)  # fmt: skip
    x8 = qemu.QTensor.per_tensor(np.zeros((2, 3), np.int64), 0.1, 0, "qint8")
    w = qemu.QTensor.per_tensor(np.zeros((4, 3), np.int64), 0.1, 0, "qint8")
    for engine in ("fbgemm", "qnnpack"):
        with pytest.raises(TypeError, match="quint8"):
            qemu.ops.linear(x8, w, engine=engine)
        with pytest.raises(RuntimeError, match="QUInt8"):
            torch.backends.quantized.engine = engine
            packed = torch.ops.quantized.linear_prepack(w.to_torch(), None)
            torch.ops.quantized.linear(x8.to_torch(), packed, 0.1, 0)


def test_qnnpack_refuses_non_normal_requantization_scales_like_torch():
    x = qemu.QTensor.per_tensor(np.zeros((2, 3), np.int64), 0.1, 0, "quint8")
    w = qemu.QTensor.per_tensor(np.zeros((4, 3), np.int64), 0.1, 0, "qint8")
    with pytest.raises(ValueError, match="finite and positive"):
        qemu.ops.linear(x, w, None, 1e37, 0, engine="qnnpack")
    torch.backends.quantized.engine = "qnnpack"
    packed = torch.ops.quantized.linear_prepack(w.to_torch(), None)
    with pytest.raises(RuntimeError, match="finite and positive"):
        torch.ops.quantized.linear(x.to_torch(), packed, 1e37, 0)


# -- the user's flow: eager post-training quantization ----------------------------------


class _Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.quant = torch.ao.quantization.QuantStub()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.relu = torch.nn.ReLU()
        self.depthwise = torch.nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.up = torch.nn.ConvTranspose2d(8, 4, 2, stride=2)
        self.fc = torch.nn.Linear(4 * 8 * 8, 10)
        self.dequant = torch.ao.quantization.DeQuantStub()

    def forward(self, x):
        x = self.relu(self.conv(self.quant(x)))
        x = self.up(self.depthwise(x))
        return self.dequant(self.fc(x.flatten(1)))


@pytest.mark.parametrize("engine", ["fbgemm", "qnnpack"])
def test_eager_ptq_modules(engine):
    torch.manual_seed(0)
    torch.backends.quantized.engine = engine
    model = _Model().eval()
    model.qconfig = torch.ao.quantization.get_default_qconfig(engine)
    model.up.qconfig = torch.ao.quantization.default_qconfig  # per-tensor for ConvTranspose
    torch.ao.quantization.fuse_modules(model, [["conv", "relu"]], inplace=True)
    prepared = torch.ao.quantization.prepare(model)
    prepared(torch.randn(4, 3, 4, 4))
    converted = torch.ao.quantization.convert(prepared)
    x = converted.quant(torch.randn(2, 3, 4, 4))
    for module, call in [
        (converted.conv, lambda q, w, b, m: qemu.ops.conv2d_relu(q, w, b, 1, 1, 1, 1, "zeros",
                                                                 m.scale, m.zero_point)),
        (converted.depthwise, lambda q, w, b, m: qemu.ops.conv2d(q, w, b, 1, 1, 1, 8, "zeros",
                                                                 m.scale, m.zero_point)),
        (converted.up, lambda q, w, b, m: qemu.ops.conv_transpose2d(q, w, b, 2, 0, 0, 1, 1,
                                                                    m.scale, m.zero_point)),
    ]:  # fmt: skip
        expected = module(x)
        weight, bias = qemu.from_torch(module.weight()), module.bias()
        bias = None if bias is None else bias.detach().numpy()
        for backend in EMULATORS:
            with qemu.use(engine=engine, backend=backend):
                actual = call(qemu.from_torch(x), weight, bias, module)
            assert_bitexact(actual, qemu.from_torch(expected), f"{module} {backend}")
        x = expected
    flat = x.flatten(1)
    expected = converted.fc(flat)
    for backend in EMULATORS:
        actual = qemu.ops.linear(qemu.from_torch(flat), qemu.from_torch(converted.fc.weight()),
                                 converted.fc.bias().detach().numpy(), converted.fc.scale,
                                 converted.fc.zero_point, engine=engine, backend=backend)  # fmt: skip
        assert_bitexact(actual, qemu.from_torch(expected), f"fc {backend}")


def test_canonical_arguments_are_what_the_entry_dispatches():
    rng = seeded_rng("linear-torch", "canonical")
    name, args, _ = random_case(rng, "conv2d", "fbgemm")
    op, checked = canonical(name, args, "fbgemm")
    expected = run(name, args, "fbgemm", "torch")
    batch = qemu.dispatch.call("batch", op, [checked], engine="fbgemm", backend="torch")
    assert_bitexact(batch[0], expected)
