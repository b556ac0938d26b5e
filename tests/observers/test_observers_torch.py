"""Every observer class against torch 2.13: random calibration sequences, with the full
observer state compared after every call and the qparams at the end.

``QEMU_SOAK=1000`` runs 1,000 sequences per class (``docs/numerics/observers.md`` lists
the figures of the last soak).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from qemu import observers
from qemu.testing import cases, seeded_rng

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.torch, pytest.mark.filterwarnings("ignore::UserWarning")]

from torch.ao.quantization import observer as torch_observer  # noqa: E402

F = np.float32
DTYPES = ["quint8", "qint8", "qint32", "quint4x2"]
CUSTOM_RANGES = {
    "quint8": [(0, 127), (0, 255), (0, 15), (0, 100)],
    "qint8": [(-127, 127), (-128, 127), (-64, 63), (-8, 7), (-100, 27)],
    "qint32": [(0, 65535), (-(2**31), 2**31 - 1), (-1000, 1000), (-(2**15), 2**15 - 1)],
    "quint4x2": [(0, 15), (0, 7)],
}
STATE = {
    "MinMaxObserver": ("min_val", "max_val"),
    "MovingAverageMinMaxObserver": ("min_val", "max_val"),
    "PerChannelMinMaxObserver": ("min_val", "max_val"),
    "MovingAveragePerChannelMinMaxObserver": ("min_val", "max_val"),
    "HistogramObserver": ("min_val", "max_val", "histogram"),
}
PER_CHANNEL = ("PerChannelMinMaxObserver", "MovingAveragePerChannelMinMaxObserver")


def random_config(rng: np.random.Generator, name: str) -> dict:
    """Constructor arguments (qemu spelling) covering dtypes, qschemes, reduce_range,
    custom ranges, eps, averaging constants, channel axes and bin counts."""
    per_channel = name in PER_CHANNEL
    dtype = str(rng.choice(DTYPES, p=[0.35, 0.35, 0.15, 0.15]))
    schemes = ["affine", "symmetric"] + (["affine_float_qparams"] if per_channel else [])
    qscheme = ("per_channel_" if per_channel else "per_tensor_") + str(rng.choice(schemes))
    config = {"dtype": dtype, "qscheme": qscheme}
    refused = "symmetric" in qscheme and dtype == "quint8" and name != "HistogramObserver"
    if rng.integers(0, 2) and not refused:
        config["reduce_range"] = True
    if rng.integers(0, 3) == 0:
        ranges = CUSTOM_RANGES[dtype]
        config["quant_min"], config["quant_max"] = ranges[rng.integers(len(ranges))]
    if rng.integers(0, 4) == 0:
        config["eps"] = float(rng.choice([2**-12, 1e-5, 0.1, 1e-30]))
    if name.startswith("MovingAverage"):
        config["averaging_constant"] = float(
            rng.choice([0.01, 0.1, 0.37, 1.0, float(rng.uniform(1e-3, 1))])
        )
    if per_channel:
        config["ch_axis"] = int(rng.integers(-3, 3))
    if name == "HistogramObserver":
        config["bins"] = int(rng.choice([2048, 2048, 256, 100, 17]))
    return config


def torch_config(config: dict) -> dict:
    converted = dict(config)
    converted["dtype"] = getattr(torch, config["dtype"])
    converted["qscheme"] = getattr(torch, config["qscheme"])
    return converted


def random_values(rng: np.random.Generator, shape: tuple[int, ...], histogram: bool) -> np.ndarray:
    """One calibration tensor: normal data at a random magnitude and offset, or one of
    the hard cases (constant, zeros, one-signed, ties on a 2**-k grid, tiny, huge,
    infinities, NaN)."""
    size = int(np.prod(shape))
    kind = int(rng.integers(0, 14))
    magnitude = 10.0 ** rng.uniform(-6, 6)
    if kind <= 4:
        values = rng.normal(rng.normal(), 1, size) * magnitude
    elif kind == 5:
        values = np.full(size, rng.normal() * magnitude)
    elif kind == 6:
        values = np.zeros(size)
    elif kind == 7:
        values = np.abs(rng.normal(size=size)) * magnitude
    elif kind == 8:
        values = -np.abs(rng.normal(size=size)) * magnitude
    elif kind == 9:
        values = rng.integers(-300, 300, size) * 2.0 ** float(rng.integers(-12, 4))
    elif kind == 10:
        values = rng.normal(size=size) * 1e-30
    elif kind == 11:
        values = rng.normal(size=size) * 10.0 ** rng.uniform(30, 38)
    else:
        values = rng.normal(size=size) * magnitude
        specials = [np.inf, -np.inf] + ([] if histogram and rng.integers(0, 4) else [np.nan])
        values[rng.integers(0, size, max(1, size // 8))] = rng.choice(specials)
    return F(values).reshape(shape)


def random_shape(rng: np.random.Generator, per_channel: bool, channels: int, axis: int) -> tuple:
    if not per_channel:
        ndim = int(rng.integers(0, 4))
        limit = int(rng.choice([3, 12, 40]))
        return tuple(int(n) for n in rng.integers(1, limit, ndim))
    ndim = int(rng.integers(max(2, axis + 1, -axis), 5))
    shape = [int(n) for n in rng.integers(1, 7, ndim)]
    shape[axis] = channels
    return tuple(shape)


def run_sequence(rng: np.random.Generator, name: str, same) -> None:
    config = random_config(rng, name)
    ours = getattr(observers, name)(**config)
    theirs = getattr(torch_observer, name)(**torch_config(config))
    per_channel = name in PER_CHANNEL
    channels = int(rng.integers(1, 6))
    axis = config.get("ch_axis", 0)
    for call in range(int(rng.integers(1, 6))):
        x = random_values(rng, random_shape(rng, per_channel, channels, axis), name.startswith("H"))
        try:
            theirs(torch.from_numpy(x.copy()))
        except (RuntimeError, IndexError) as error:
            with pytest.raises(ValueError):
                ours(x)
            torch_error = error
        else:
            torch_error = None
            assert ours(x) is x  # records x and returns it, like torch's forward
        where = f"{name}({config}) after call {call}, torch error {torch_error!r}"
        for attribute in STATE[name]:
            same(getattr(ours, attribute), getattr(theirs, attribute), f"{attribute} of {where}")
    try:
        expected = theirs.calculate_qparams()
    except AssertionError:
        # A moving average can round min above max; torch asserts min <= max.
        with pytest.raises(ValueError, match="min_val <= max_val"):
            ours.calculate_qparams()
        return
    actual = ours.calculate_qparams()
    same(actual[0], expected[0], f"scale of {name}({config})")
    same(actual[1], expected[1], f"zero_point of {name}({config})")


@pytest.mark.parametrize(
    ("name", "default"),
    [
        ("MinMaxObserver", 150),
        ("MovingAverageMinMaxObserver", 150),
        ("PerChannelMinMaxObserver", 150),
        ("MovingAveragePerChannelMinMaxObserver", 150),
        ("HistogramObserver", 10),
    ],
)
def test_calibration_sequences_match_torch(name: str, default: int, same) -> None:
    rng = seeded_rng("observer-sequences", name)
    for _ in range(cases(default)):
        run_sequence(rng, name, same)


def test_fixed_qparams_observer_matches_torch(same) -> None:
    rng = seeded_rng("fixed-qparams")
    for _ in range(cases(100)):
        scale = float(rng.choice([2.0 / 256, 1.0 / 256, float(rng.uniform(1e-6, 10))]))
        zero_point = int(rng.integers(0, 256))
        ours = observers.FixedQParamsObserver(scale, zero_point)
        theirs = torch_observer.FixedQParamsObserver(scale, zero_point)
        x = F(rng.normal(size=5))
        assert ours(x) is x
        for actual, expected, what in zip(
            ours.calculate_qparams(),
            theirs.calculate_qparams(),
            ("scale", "zero_point"),
            strict=True,
        ):
            same(actual, expected, f"{what} of FixedQParamsObserver({scale}, {zero_point})")


@pytest.mark.parametrize("name", ["PlaceholderObserver", "NoopObserver"])
def test_placeholder_observers_match_torch(name: str) -> None:
    theirs = getattr(torch_observer, name)(dtype=torch.float16)
    ours = getattr(observers, name)(dtype="float16")
    x = F([1.5, -2.0])
    assert ours(x) is x and theirs(torch.from_numpy(x)).dtype == torch.float32
    assert (ours.dtype, ours.is_dynamic) == ("float16", theirs.is_dynamic)
    with pytest.raises(Exception, match="should not be called"):
        theirs.calculate_qparams()
    with pytest.raises(RuntimeError, match="should not be called"):
        ours.calculate_qparams()


@pytest.mark.parametrize(
    "config",
    [
        dict(name="MinMaxObserver", qscheme="per_tensor_symmetric", reduce_range=True),
        dict(name="PerChannelMinMaxObserver", qscheme="per_channel_symmetric", reduce_range=True),
        dict(name="MinMaxObserver", qscheme="per_channel_affine"),
        dict(name="HistogramObserver", qscheme="per_channel_symmetric"),
        dict(name="PerChannelMinMaxObserver", qscheme="per_tensor_affine"),
        dict(name="MinMaxObserver", quant_min=1, quant_max=5),
        dict(name="MinMaxObserver", dtype="qint8", quant_min=-5, quant_max=300),
        dict(name="MinMaxObserver", dtype="quint2x4"),
        dict(name="MovingAverageMinMaxObserver", is_dynamic=True),
        dict(name="PerChannelMinMaxObserver", is_dynamic=True),
        dict(name="HistogramObserver", is_dynamic=True),
        dict(name="FixedQParamsObserver", scale=0.1, zero_point=0, is_dynamic=True),
    ],
    ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()),
)
def test_constructor_errors_where_torch_raises(config: dict) -> None:
    arguments = dict(config)
    name = arguments.pop("name")
    converted = dict(arguments)
    for key in ("dtype", "qscheme"):
        if key in converted:
            converted[key] = getattr(torch, converted[key])
    with pytest.raises((NotImplementedError, AssertionError)):
        getattr(torch_observer, name)(**converted)
    with pytest.raises(ValueError):
        getattr(observers, name)(**arguments)


def test_histogram_symmetric_quint8_reduced_is_accepted_like_torch(same) -> None:
    # Only MinMax and PerChannel refuse this combination; the zero point (128) then lies
    # outside [0, 127], as in torch.
    ours = observers.HistogramObserver(qscheme="per_tensor_symmetric", reduce_range=True)
    theirs = torch_observer.HistogramObserver(qscheme=torch.per_tensor_symmetric, reduce_range=True)
    x = F(np.linspace(-1, 3, 50))
    ours(x)
    theirs(torch.from_numpy(x))
    for actual, expected in zip(ours.calculate_qparams(), theirs.calculate_qparams(), strict=True):
        same(actual, expected, "qparams")


def test_histogram_nan_poisons_state_like_torch(same) -> None:
    ours, theirs = observers.HistogramObserver(), torch_observer.HistogramObserver()
    x = F([1.0, np.nan])
    with pytest.raises(RuntimeError):
        theirs(torch.from_numpy(x))
    with pytest.raises(ValueError, match="NaN"):
        ours(x)
    for attribute in STATE["HistogramObserver"]:
        same(getattr(ours, attribute), getattr(theirs, attribute), attribute)
    # Later finite data still fails: the stored range is NaN.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(RuntimeError):
            theirs(torch.ones(3))
    with pytest.raises(ValueError):
        ours(np.ones(3, F))


@pytest.mark.parametrize("threads", [1, 2])
def test_histogram_with_more_bins_than_a_grain_matches_torch(threads: int, same) -> None:
    # torch.sum splits a 40,000-bin histogram's error norms across threads: the error
    # estimates themselves are compared (with 2 threads, a 1-thread sum order differs
    # from torch on about half of them), then the qparams.
    import qemu

    rng = seeded_rng("histogram-threads", threads)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        ours = observers.HistogramObserver(bins=40000)
        theirs = torch_observer.HistogramObserver(bins=40000)
        for scale in (1.0, 3.0):
            x = F(rng.normal(size=20000) * scale)
            ours(x)
            theirs(torch.from_numpy(x))
        same(ours.histogram, theirs.histogram, "histogram")
        with qemu.use(threads=threads):
            for _ in range(20):
                start, end = int(rng.integers(0, 20000)), int(rng.integers(20000, 40000))
                expected_error = theirs._compute_quantization_error(start, end)
                assert ours._compute_quantization_error(start, end) == expected_error
            actual = ours.calculate_qparams()
        expected = theirs.calculate_qparams()
    finally:
        torch.set_num_threads(previous)
    same(actual[0], expected[0], "scale")
    same(actual[1], expected[1], "zero_point")
