"""qemu.qconfig: torch's default observers and qconfigs, by engine; against torch's own
when torch is installed."""

from __future__ import annotations

import numpy as np
import pytest

from qemu import qconfig
from qemu.observers import HistogramObserver, MinMaxObserver
from qemu.qconfig import QConfig, get_default_dynamic_qconfig, get_default_qconfig

# qemu name -> torch name, for everything mirrored.
OBSERVERS = [
    "default_observer",
    "default_placeholder_observer",
    "default_weight_observer",
    "weight_observer_range_neg_127_to_127",
    "default_histogram_observer",
    "default_per_channel_weight_observer",
    "per_channel_weight_observer_range_neg_127_to_127",
    "default_dynamic_quant_observer",
    "default_float_qparams_observer",
    "default_float_qparams_observer_4bit",
    "default_fixed_qparams_range_neg1to1_observer",
    "default_fixed_qparams_range_0to1_observer",
    "default_symmetric_fixed_qparams_observer",
    "default_affine_fixed_qparams_observer",
]
QCONFIGS = [
    "default_qconfig",
    "default_per_channel_qconfig",
    "default_dynamic_qconfig",
    "float16_dynamic_qconfig",
    "float16_static_qconfig",
    "per_channel_dynamic_qconfig",
    "float_qparams_weight_only_qconfig",
    "float_qparams_weight_only_qconfig_4bit",
    "default_symmetric_qnnpack_qconfig",
    "default_per_channel_symmetric_qnnpack_qconfig",
    "default_quint8_weight_qconfig",
]
ATTRIBUTES = (
    "quant_min",
    "quant_max",
    "reduce_range",
    "is_dynamic",
    "ch_axis",
    "bins",
    "averaging_constant",
    "has_customized_qrange",
)


@pytest.mark.parametrize("engine", ["fbgemm", "fbgemm-avx2", "fbgemm-avx512", "x86"])
def test_fbgemm_family_uses_histogram_with_reduced_range(engine: str) -> None:
    config = get_default_qconfig(engine)
    activation, weight = config.activation(), config.weight()
    assert isinstance(activation, HistogramObserver)
    assert (activation.reduce_range, activation.quant_min, activation.quant_max) == (True, 0, 127)
    assert (weight.qscheme, weight.dtype.name, weight.ch_axis) == (
        "per_channel_symmetric",
        "qint8",
        0,
    )
    assert config == get_default_qconfig("fbgemm")


def test_qnnpack_and_onednn_defaults() -> None:
    qnnpack = get_default_qconfig("qnnpack")
    assert qnnpack.activation().quant_max == 255
    assert isinstance(qnnpack.weight(), MinMaxObserver)
    assert qnnpack.weight().qscheme == "per_tensor_symmetric"
    onednn = get_default_qconfig("onednn")
    assert onednn.activation().quant_max == 255
    assert onednn.weight().qscheme == "per_channel_symmetric"


def test_dynamic_defaults_depend_on_dtype_only() -> None:
    for engine in ("fbgemm", "qnnpack", "x86"):
        assert get_default_dynamic_qconfig(engine) is qconfig.default_dynamic_qconfig
    assert get_default_dynamic_qconfig("fbgemm", "float16") is qconfig.float16_dynamic_qconfig
    weight = get_default_dynamic_qconfig("fbgemm", "quint4x2").weight()
    assert weight.dtype.name == "quint4x2"
    assert weight.qscheme == "per_channel_affine_float_qparams"
    activation = qconfig.default_dynamic_qconfig.activation()
    assert (activation.dtype.name, activation.is_dynamic, activation.quant_max) == (
        "quint8",
        True,
        255,
    )


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda: get_default_qconfig("arm"), "engine"),
        (lambda: get_default_qconfig(3), "engine"),
        (lambda: get_default_qconfig("fbgemm", version=1), "version"),
        (lambda: get_default_dynamic_qconfig("tpu"), "engine"),
        (lambda: get_default_dynamic_qconfig("fbgemm", "qint32"), "dtype"),
    ],
)
def test_bad_names(call, words) -> None:
    with pytest.raises((ValueError, TypeError), match=words):
        call()


def test_qconfig_refuses_instances() -> None:
    with pytest.raises(ValueError, match="activation"):
        QConfig(activation=MinMaxObserver(), weight=MinMaxObserver)
    config = QConfig(activation=MinMaxObserver, weight=qconfig.default_weight_observer)
    activation, weight = config
    assert activation is MinMaxObserver


def test_neg_127_to_127_weight_observers() -> None:
    for factory in (
        qconfig.weight_observer_range_neg_127_to_127,
        qconfig.per_channel_weight_observer_range_neg_127_to_127,
    ):
        obs = factory()
        assert (obs.quant_min, obs.quant_max) == (-127, 127)
        assert obs.eps.tolist() == [2**-12]
        obs(np.float32([[1e-6, -1e-6]]))
        assert np.all(obs.calculate_qparams()[0] == np.float32(2**-12))


def _describe(obs: object) -> dict:
    """The configuration an observer carries, spelled the same for torch and qemu."""
    described = {"class": type(obs).__name__}
    for key in ("dtype", "qscheme"):
        value = getattr(obs, key, None)
        described[key] = None if value is None else str(value).removeprefix("torch.")
    for key in ATTRIBUTES:
        if hasattr(obs, key):
            described[key] = getattr(obs, key)
    if hasattr(obs, "eps"):
        eps = obs.eps.numpy() if hasattr(obs.eps, "numpy") else obs.eps
        described["eps"] = float(np.asarray(eps).reshape(-1)[0])
    if type(obs).__name__ == "FixedQParamsObserver":
        described["scale"] = obs.scale.tolist()
        described["zero_point"] = obs.zero_point.tolist()
    return described


@pytest.mark.torch
@pytest.mark.parametrize("name", OBSERVERS)
def test_default_observers_match_torch(name: str) -> None:
    pytest.importorskip("torch")
    from torch.ao.quantization import observer as torch_observer

    assert _describe(getattr(qconfig, name)()) == _describe(getattr(torch_observer, name)())


@pytest.mark.torch
@pytest.mark.parametrize("name", QCONFIGS)
def test_qconfigs_match_torch(name: str) -> None:
    pytest.importorskip("torch")
    from torch.ao.quantization import qconfig as torch_qconfig

    ours, theirs = getattr(qconfig, name), getattr(torch_qconfig, name)
    for role in ("activation", "weight"):
        assert _describe(getattr(ours, role)()) == _describe(getattr(theirs, role)()), role


@pytest.mark.torch
@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize(
    ("engine", "backend"),
    [("fbgemm", "fbgemm"), ("fbgemm-avx2", "fbgemm"), ("qnnpack", "qnnpack"), ("x86", "x86")]
    + [("onednn", "onednn")],
)
def test_get_default_qconfig_matches_torch(engine: str, backend: str) -> None:
    torch = pytest.importorskip("torch")
    theirs = torch.ao.quantization.get_default_qconfig(backend)
    ours = get_default_qconfig(engine)
    for role in ("activation", "weight"):
        assert _describe(getattr(ours, role)()) == _describe(getattr(theirs, role)()), role
