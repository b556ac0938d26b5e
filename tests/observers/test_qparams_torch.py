"""qemu.qparams against torch 2.13: the observers' qparams math, determine_qparams, and
both ChooseQuantizationParams, on random and adversarial ranges."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from qemu.qparams import (
    EPS_F32,
    calculate_qmin_qmax,
    calculate_qparams,
    choose_qparams_dynamic,
    choose_qparams_fbgemm,
    determine_qparams,
)
from qemu.testing import cases, seeded_rng

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.torch, pytest.mark.filterwarnings("ignore::UserWarning")]

from torch.ao.quantization import observer as torch_observer  # noqa: E402
from torch.ao.quantization import utils as torch_utils  # noqa: E402

F = np.float32
CUSTOM_RANGES = {
    "quint8": [(0, 127), (0, 255), (0, 15), (0, 100)],
    "qint8": [(-127, 127), (-128, 127), (-64, 63), (-8, 7), (-100, 27)],
    "qint32": [(0, 65535), (-(2**31), 2**31 - 1), (-1000, 1000), (-(2**15), 2**15 - 1)],
    "quint4x2": [(0, 15), (0, 7)],
}


def random_range(rng: np.random.Generator, channels: int) -> tuple[np.ndarray, np.ndarray]:
    """min/max pairs of the kinds observers see: wide, one-signed, flat, tiny, huge, and
    exact ties (integers times a power of two over a power-of-two-ish span)."""
    kind = int(rng.integers(0, 9))
    magnitude = 10.0 ** rng.uniform(-7, 7, channels)
    if kind == 0:
        low, high = np.sort(rng.normal(size=(2, channels)) * magnitude, axis=0)
    elif kind == 1:
        low, high = np.sort(np.abs(rng.normal(size=(2, channels))) * magnitude, axis=0)
    elif kind == 2:
        low, high = np.sort(-np.abs(rng.normal(size=(2, channels))) * magnitude, axis=0)
    elif kind == 3:
        low = high = rng.normal(size=channels) * magnitude
    elif kind == 4:
        low, high = np.zeros(channels), np.zeros(channels)
    elif kind == 5:
        step = 2.0 ** rng.integers(-10, 5)
        low = -rng.integers(0, 400, channels) * step / 2
        high = low + rng.choice([255, 127, 254, 15], channels) * step
    elif kind == 6:
        low, high = np.sort(rng.normal(size=(2, channels)) * 1e-30, axis=0)
    elif kind == 7:
        low, high = np.sort(rng.normal(size=(2, channels)) * 1e37, axis=0)
    else:
        low = -rng.integers(1, 300, channels) * 2.0**-8
        high = rng.integers(1, 300, channels) * 2.0**-8
    return F(low), F(high)


def test_calculate_qparams_matches_observer_math(same) -> None:
    rng = seeded_rng("calculate_qparams")
    for _ in range(cases(1500)):
        dtype = str(rng.choice(list(CUSTOM_RANGES)))
        per_channel = bool(rng.integers(0, 2))
        schemes = ["affine", "symmetric"] + (["affine_float_qparams"] if per_channel else [])
        qscheme = ("per_channel_" if per_channel else "per_tensor_") + str(rng.choice(schemes))
        custom = bool(rng.integers(0, 3) == 0)
        quant_min, quant_max = (
            CUSTOM_RANGES[dtype][rng.integers(len(CUSTOM_RANGES[dtype]))]
            if custom
            else (None, None)
        )
        reduce_range = bool(rng.integers(0, 2)) and not (
            "symmetric" in qscheme and dtype == "quint8"
        )
        eps = float(rng.choice([float(EPS_F32), 2**-12, 1e-5, 1e-30]))
        kwargs = dict(
            dtype=getattr(torch, dtype),
            qscheme=getattr(torch, qscheme),
            reduce_range=reduce_range,
            quant_min=quant_min,
            quant_max=quant_max,
            eps=eps,
        )
        cls = (
            torch_observer.PerChannelMinMaxObserver
            if per_channel
            else torch_observer.MinMaxObserver
        )
        reference = cls(**kwargs)
        channels = int(rng.integers(1, 6)) if per_channel else 1
        low, high = random_range(rng, channels)
        if not per_channel:
            low, high = low.reshape(()), high.reshape(())
        expected = reference._calculate_qparams(torch.from_numpy(low), torch.from_numpy(high))
        qmin, qmax = calculate_qmin_qmax(quant_min, quant_max, custom, dtype, reduce_range)
        assert (qmin, qmax) == (reference.quant_min, reference.quant_max)
        actual = calculate_qparams(low, high, qmin, qmax, dtype, qscheme, eps, custom)
        where = f"{qscheme} {dtype} [{quant_min}, {quant_max}] rr={reduce_range} {low} {high}"
        same(actual[0], expected[0], f"scale {where}")
        same(actual[1], expected[1], f"zero_point {where}")


def test_special_ranges_match_observer_math(same) -> None:
    inf, nan = np.inf, np.nan
    pairs = [(-inf, 1.0), (1.0, inf), (-inf, inf), (nan, nan), (nan, 1.0), (0.0, 0.0)]
    pairs += [(-0.0, -0.0), (-3.4e38, 3.4e38), (1e-45, 1e-45), (-1e-45, 0.0)]
    for dtype in ["quint8", "qint8", "qint32", "quint4x2"]:
        for qscheme in ["per_tensor_affine", "per_tensor_symmetric"]:
            reference = torch_observer.MinMaxObserver(
                dtype=getattr(torch, dtype), qscheme=getattr(torch, qscheme)
            )
            qmin, qmax = reference.quant_min, reference.quant_max
            for low, high in pairs:
                expected = reference._calculate_qparams(torch.tensor(low), torch.tensor(high))
                actual = calculate_qparams(F(low), F(high), qmin, qmax, dtype, qscheme)
                same(actual[0], expected[0], f"scale {dtype} {qscheme} [{low}, {high}]")
                same(actual[1], expected[1], f"zero_point {dtype} {qscheme} [{low}, {high}]")


def test_determine_qparams_matches_torch(same) -> None:
    rng = seeded_rng("determine_qparams")
    for _ in range(cases(300)):
        dtype = str(rng.choice(["quint8", "qint8"]))
        qscheme = str(
            rng.choice(
                ["per_tensor_affine", "per_channel_symmetric", "per_channel_affine_float_qparams"]
            )
        )
        channels = 1 if qscheme.startswith("per_tensor") else int(rng.integers(1, 5))
        low, high = random_range(rng, channels)
        qmin, qmax = calculate_qmin_qmax(None, None, False, dtype, False)
        eps = torch.tensor([float(EPS_F32)])
        expected = torch_utils.determine_qparams(
            torch.from_numpy(low),
            torch.from_numpy(high),
            qmin,
            qmax,
            getattr(torch, dtype),
            eps,
            False,
            getattr(torch, qscheme),
        )
        actual = determine_qparams(low, high, qmin, qmax, dtype, EPS_F32, False, qscheme)
        same(actual[0], expected[0], f"scale {qscheme} {low} {high}")
        same(actual[1], expected[1], f"zero_point {qscheme} {low} {high}")


def dynamic_range(rng: np.random.Generator, i: int) -> tuple[float, float]:
    """The range kinds of the research experiment: wide, all positive, all negative,
    constant, positive-only small, negative-only small, tiny both-signed, 2**-8 grid."""
    kind = i % 8
    if kind == 0:
        low, high = sorted(rng.normal(0, 1, 2) * 10 ** rng.uniform(-6, 3))
    elif kind == 1:
        low, high = 0.0, float(abs(rng.normal())) * 10 ** rng.uniform(-7, 2)
    elif kind == 2:
        low, high = -float(abs(rng.normal())) * 10 ** rng.uniform(-7, 2), 0.0
    elif kind == 3:
        low = high = float(rng.normal()) * 10 ** rng.uniform(-8, 1)
    elif kind == 4:
        low, high = sorted(rng.uniform(0.1, 5, 2))
    elif kind == 5:
        low, high = sorted(-rng.uniform(0.1, 5, 2))
    elif kind == 6:
        low, high = -float(rng.uniform(1e-6, 1e-3)), float(rng.uniform(1e-6, 1e-3))
    else:
        low, high = -float(rng.integers(1, 300)) * 2**-8, float(rng.integers(1, 300)) * 2**-8
    return float(F(low)), float(F(high))


@pytest.mark.parametrize("engine", ["fbgemm", "qnnpack"])
def test_choose_qparams_dynamic_matches_torch(engine: str) -> None:
    rng = seeded_rng("choose_qparams_dynamic", engine)
    previous = torch.backends.quantized.engine
    torch.backends.quantized.engine = engine
    try:
        for i in range(cases(800)):
            low, high = dynamic_range(rng, i)
            x = torch.tensor([low, high])
            reduce_range = bool(i % 2)
            torch_reduces = reduce_range and engine != "qnnpack"
            # torch._choose_qparams_per_tensor: ChooseQuantizationParams over [0, 255].
            expected = torch._choose_qparams_per_tensor(x, reduce_range)
            actual = choose_qparams_dynamic(low, high, 0, 255, torch_reduces)
            assert actual == expected, f"[{low}, {high}] reduce_range={reduce_range}"
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                q = torch.quantize_per_tensor_dynamic(x, torch.qint8, reduce_range)
            actual = choose_qparams_dynamic(low, high, -128, 127, torch_reduces)
            assert actual == (q.q_scale(), q.q_zero_point()), f"qint8 [{low}, {high}]"
    finally:
        torch.backends.quantized.engine = previous


def test_choose_qparams_fbgemm_matches_torch() -> None:
    rng = seeded_rng("choose_qparams_fbgemm")
    for i in range(cases(1000)):
        low, high = dynamic_range(rng, i)
        w = torch.tensor([[low, high]])
        # fbgemm_linear_quantize_weight: fbgemm::ChooseQuantizationParams over [-128, 127].
        _, _, scale, zero_point = torch.fbgemm_linear_quantize_weight(w)
        actual_scale, actual_zero_point = choose_qparams_fbgemm(low, high, -128, 127)
        assert (float(actual_scale), actual_zero_point) == (scale, zero_point), f"[{low}, {high}]"
