"""Torch-free checks of qemu.observers: state, hand-computed results, errors, with_args."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from qemu import observers
from qemu.observers import (
    FixedQParamsObserver,
    HistogramObserver,
    MinMaxObserver,
    MovingAverageMinMaxObserver,
    MovingAveragePerChannelMinMaxObserver,
    NoopObserver,
    PerChannelMinMaxObserver,
    PlaceholderObserver,
)
from qemu.qparams import EPS_F32
from qemu.qtensor import QTensor
from qemu.testing import assert_bitexact

F = np.float32


def test_minmax_records_and_returns_its_input() -> None:
    obs = MinMaxObserver()
    assert obs.min_val.shape == () and obs.min_val.dtype == np.float32
    assert (float(obs.min_val), float(obs.max_val)) == (np.inf, -np.inf)
    x = F([[0.5, -2.0], [3.0, 1.0]])
    assert obs(x) is x
    obs(F([]))  # empty tensors are ignored
    obs([-1, 4.5])  # sequences are converted, as torch.tensor would
    assert (float(obs.min_val), float(obs.max_val)) == (-2.0, 4.5)
    assert obs.min_val.shape == () and obs.max_val.dtype == np.float32
    obs.reset_min_max_vals()
    assert (float(obs.min_val), float(obs.max_val)) == (np.inf, -np.inf)


def test_minmax_before_data_returns_defaults() -> None:
    scale, zero_point = MinMaxObserver().calculate_qparams()
    assert scale.dtype == np.float32 and scale.tolist() == [1.0]
    assert zero_point.dtype == np.int64 and zero_point.tolist() == [0]


def test_minmax_nan_makes_the_range_nan() -> None:
    obs = MinMaxObserver(dtype="qint8")
    obs(F([1.0, np.nan]))
    obs(F([2.0]))
    assert np.isnan(obs.min_val) and np.isnan(obs.max_val)
    scale, zero_point = obs.calculate_qparams()
    assert np.isnan(scale).all() and zero_point.tolist() == [127]


@pytest.mark.parametrize("x", [np.float64([1.0]), np.int32([1]), "abc", [True]])
def test_observers_refuse_non_float32_input(x) -> None:
    with pytest.raises(TypeError, match="x"):
        MinMaxObserver()(x)


def test_observers_refuse_qtensors() -> None:
    with pytest.raises(TypeError, match="QTensor"):
        HistogramObserver()(QTensor.per_tensor([1], 1.0, 0, "quint8"))


def test_moving_average_update() -> None:
    obs = MovingAverageMinMaxObserver(averaging_constant=0.5)
    obs(F([0.0, 2.0]))  # the first tensor sets the range
    obs(F([-4.0, 4.0]))
    assert (float(obs.min_val), float(obs.max_val)) == (-2.0, 3.0)
    # c = f32(0.1): min + c * (cur - min) in three float32 roundings.
    obs = MovingAverageMinMaxObserver(averaging_constant=0.1)
    obs(F([1.0]))
    obs(F([0.3]))
    c = F(0.1)
    assert obs.min_val == F(1.0) + c * (F(0.3) - F(1.0))


@pytest.mark.parametrize(
    ("constant", "error"),
    [(0, ValueError), (-0.5, ValueError), (1.5, ValueError), ("a", TypeError)],
)
def test_moving_average_constant_must_be_in_unit_interval(constant, error) -> None:
    with pytest.raises(error, match="averaging_constant"):
        MovingAverageMinMaxObserver(averaging_constant=constant)
    with pytest.raises(error, match="averaging_constant"):
        MovingAveragePerChannelMinMaxObserver(averaging_constant=constant)


def test_moving_average_dynamic_needs_constant_one() -> None:
    with pytest.raises(ValueError, match="is_dynamic"):
        MovingAverageMinMaxObserver(is_dynamic=True)
    assert MovingAverageMinMaxObserver(averaging_constant=1, is_dynamic=True).is_dynamic


def test_per_channel_axes() -> None:
    x = np.arange(24, dtype=F).reshape(2, 3, 4) - 5
    for axis, expected in [
        (0, [-5, 7]),
        (1, [-5, -1, 3]),
        (2, [-5, -4, -3, -2]),
        (-1, [-5, -4, -3, -2]),
    ]:
        obs = PerChannelMinMaxObserver(ch_axis=axis)
        assert obs(x) is x
        assert obs.min_val.tolist() == expected and obs.min_val.dtype == np.float32
    obs = PerChannelMinMaxObserver(ch_axis=1)
    obs(x)
    obs(-x)
    assert obs.max_val.tolist() == [10.0, 14.0, 18.0]
    obs.reset_min_max_vals()
    assert obs.min_val.shape == (0,)


def test_per_channel_scheme_results() -> None:
    obs = PerChannelMinMaxObserver(qscheme="per_channel_affine_float_qparams")
    obs(F([[1, 2], [-3, 4]]))
    scale, zero_point = obs.calculate_qparams()
    assert scale.tolist() == [float(F(1) / F(255)), float(F(7) / F(255))]
    assert zero_point.dtype == np.float32
    obs = PerChannelMinMaxObserver(dtype="qint8", qscheme="per_channel_symmetric")
    obs(F([[1, -2], [0.5, 0.25]]))
    scale, zero_point = obs.calculate_qparams()
    assert scale.tolist() == [float(F(2) / F(127.5)), float(F(0.5) / F(127.5))]
    assert zero_point.dtype == np.int64 and zero_point.tolist() == [0, 0]


def test_per_channel_moving_average() -> None:
    obs = MovingAveragePerChannelMinMaxObserver(averaging_constant=0.5, ch_axis=1)
    obs(F([[0, 2], [0, 2]]))
    obs(F([[-2, 4], [-2, 4]]))
    assert obs.min_val.tolist() == [-1.0, 3.0] and obs.max_val.tolist() == [-1.0, 3.0]


@pytest.mark.parametrize(
    ("x", "axis", "words"),
    [
        (F([1.0, 2.0]), 0, "at least 2 dimensions"),
        (F(3.0), 0, "at least 2 dimensions"),
        (F([[1.0]]), 2, "ch_axis"),
        (F([[1.0]]), -3, "ch_axis"),
    ],
)
def test_per_channel_bad_input(x, axis, words) -> None:
    with pytest.raises(ValueError, match=words):
        PerChannelMinMaxObserver(ch_axis=axis)(x)


def test_per_channel_channel_count_must_broadcast() -> None:
    obs = PerChannelMinMaxObserver()
    obs(np.ones((3, 2), F))
    with pytest.raises(ValueError, match="channels"):
        obs(np.ones((2, 2), F))
    # Like torch.min, one channel broadcasts against three.
    obs(np.full((1, 2), -1, F))
    assert obs.min_val.tolist() == [-1.0, -1.0, -1.0]


def test_histogram_counts_and_range() -> None:
    obs = HistogramObserver(bins=4)
    assert obs.histogram.tolist() == [0.0] * 4 and obs.dst_nbins == 256
    assert obs(F([0.0, 1.0, 2.0, 3.0, 4.0])) is not None
    assert obs.histogram.tolist() == [1.0, 1.0, 1.0, 2.0]
    assert (float(obs.min_val), float(obs.max_val)) == (0.0, 4.0)
    obs(F([1.0, 3.9]))  # same range: counts add
    assert obs.histogram.tolist() == [1.0, 2.0, 1.0, 3.0]
    obs(F([-4.0]))  # wider range: the old histogram is re-binned (mass is kept)
    assert (float(obs.min_val), float(obs.max_val)) == (-4.0, 4.0)
    assert obs.histogram.sum() == 8.0 and obs.histogram[0] == 1.0


def test_histogram_point_mass_moves_as_one_bin() -> None:
    obs = HistogramObserver(bins=8)
    obs(F([2.0, 2.0, 2.0]))  # histc widens [2, 2] to [1, 3]
    assert obs.histogram.tolist() == [0, 0, 0, 0, 3, 0, 0, 0]
    obs(F([0.0]))
    assert obs.histogram.tolist() == [1, 0, 0, 0, 0, 0, 0, 3]


def test_histogram_drops_infinities_with_a_warning() -> None:
    obs = HistogramObserver(bins=4)
    with pytest.warns(UserWarning, match="inf"):
        obs(F([np.inf, 1.0, -np.inf, 3.0]))
    assert (float(obs.min_val), float(obs.max_val)) == (1.0, 3.0)
    with pytest.warns(UserWarning, match="inf"):
        obs(F([np.inf]))
    assert obs.histogram.sum() == 2.0


def test_histogram_nan_is_refused_after_recording_the_range() -> None:
    obs = HistogramObserver(bins=4)
    with pytest.raises(ValueError, match="NaN"):
        obs(F([np.nan, 1.0]))
    assert np.isnan(obs.min_val) and obs.histogram.sum() == 0.0
    obs = HistogramObserver(bins=4)
    obs(F([1.0, 2.0]))
    with pytest.raises(ValueError, match="NaN"):
        obs(F([np.nan]))
    assert (float(obs.min_val), float(obs.max_val)) == (1.0, 2.0)


def test_histogram_qparams() -> None:
    obs = HistogramObserver()
    with pytest.warns(UserWarning, match="must run observer"):
        assert [a.tolist() for a in obs.calculate_qparams()] == [[1.0], [0]]
    obs(F([3.0]))
    scale, zero_point = obs.calculate_qparams()
    assert zero_point.dtype == np.int32 and zero_point.tolist() == [0]
    # One point at 3 in [2, 4]: the search keeps the bins up to the point.
    assert scale.tolist() == [float(F(3) / F(255))]
    assert HistogramObserver(dtype="qint32").dst_nbins == 2**32
    assert HistogramObserver(dtype="quint4x2").dst_nbins == 256


def test_fixed_qparams() -> None:
    obs = FixedQParamsObserver(scale=0.1, zero_point=3)
    scale, zero_point = obs.calculate_qparams()
    assert scale.dtype == np.float32 and scale.tolist() == [float(F(0.1))]
    assert zero_point.dtype == np.int32 and zero_point.tolist() == [3]
    x = F([1.0])
    assert obs(x) is x


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        (dict(scale=0.0, zero_point=0), ValueError, "scale"),
        (dict(scale=float("nan"), zero_point=0), ValueError, "scale"),
        (dict(scale=0.1, zero_point=300), ValueError, "zero_point"),
        (dict(scale=0.1, zero_point=1.0), TypeError, "zero_point"),
        (dict(scale=0.1, zero_point=0, dtype="qint8"), ValueError, "quant_min"),
        (dict(scale=0.1, zero_point=0, quant_min=5, quant_max=5), ValueError, "quant_min"),
    ],
)
def test_fixed_qparams_errors(kwargs, error, words) -> None:
    with pytest.raises(error, match=words):
        FixedQParamsObserver(**kwargs)


def test_placeholders() -> None:
    assert PlaceholderObserver().dtype == "float32"
    assert PlaceholderObserver(dtype="quint8", is_dynamic=True).dtype.name == "quint8"
    assert NoopObserver().dtype == "float16"
    for obs in (PlaceholderObserver(), NoopObserver()):
        x = F([2.0])
        assert obs(x) is x
        with pytest.raises(RuntimeError, match="should not be called"):
            obs.calculate_qparams()
    with pytest.raises(ValueError, match="dtype"):
        NoopObserver(dtype="float8")


@pytest.mark.parametrize(
    ("cls", "kwargs", "error", "words"),
    [
        (MinMaxObserver, dict(dtype="uint8"), ValueError, "dtype"),
        (MinMaxObserver, dict(dtype=8), TypeError, "dtype"),
        (MinMaxObserver, dict(dtype="quint2x4"), ValueError, "quint2x4"),
        (MinMaxObserver, dict(qscheme="per_channel_affine"), ValueError, "qscheme"),
        (MinMaxObserver, dict(qscheme="affine"), ValueError, "qscheme"),
        (PerChannelMinMaxObserver, dict(qscheme="per_tensor_affine"), ValueError, "qscheme"),
        (HistogramObserver, dict(qscheme="per_channel_symmetric"), ValueError, "qscheme"),
        (MinMaxObserver, dict(reduce_range=1), TypeError, "reduce_range"),
        (MinMaxObserver, dict(eps=0.0), ValueError, "eps"),
        (MinMaxObserver, dict(eps=float("inf")), ValueError, "eps"),
        (MinMaxObserver, dict(eps="tiny"), TypeError, "eps"),
        (MinMaxObserver, dict(quant_min=0), ValueError, "quant_max"),
        (MinMaxObserver, dict(quant_min=1, quant_max=9), ValueError, "include 0"),
        (MinMaxObserver, dict(quant_min=0, quant_max=300), ValueError, "inside"),
        (MinMaxObserver, dict(quant_min=9, quant_max=0), ValueError, "include 0"),
        (
            MinMaxObserver,
            dict(qscheme="per_tensor_symmetric", reduce_range=True),
            ValueError,
            "reduce_range",
        ),
        (PerChannelMinMaxObserver, dict(ch_axis=1.0), TypeError, "ch_axis"),
        (PerChannelMinMaxObserver, dict(is_dynamic=True), ValueError, "is_dynamic"),
        (HistogramObserver, dict(bins=0), ValueError, "bins"),
        (HistogramObserver, dict(is_dynamic=True), ValueError, "is_dynamic"),
    ],
)
def test_constructor_errors_name_the_argument(cls, kwargs, error, words) -> None:
    with pytest.raises(error, match=words):
        cls(**kwargs)


def test_eps_is_a_float32_buffer() -> None:
    assert MinMaxObserver().eps.tolist() == [float(EPS_F32)]
    assert MinMaxObserver(eps=1e-5).eps.dtype == np.float32
    assert MinMaxObserver(eps=1e-5).eps.tolist() == [float(F(1e-5))]


def test_with_args_builds_fresh_observers() -> None:
    factory = MinMaxObserver.with_args(dtype="qint8").with_args(qscheme="per_tensor_symmetric")
    assert repr(factory) == (
        "MinMaxObserver.with_args(dtype='qint8', qscheme='per_tensor_symmetric')"
    )
    first, second = factory(), factory()
    assert first is not second and first.dtype.name == "qint8"
    override = factory(dtype="quint8", qscheme="per_tensor_affine", reduce_range=True)
    assert (override.dtype.name, override.quant_max) == ("quint8", 127)
    assert factory == MinMaxObserver.with_args(dtype="qint8", qscheme="per_tensor_symmetric")


def test_with_callable_args_are_called_per_observer() -> None:
    calls: list[int] = []

    def next_constant() -> float:
        calls.append(1)
        return 0.5

    factory = MovingAverageMinMaxObserver.with_callable_args(averaging_constant=next_constant)
    factory()
    factory()
    assert len(calls) == 2 and factory().averaging_constant == 0.5
    assert factory(averaging_constant=0.25).averaging_constant == 0.25 and len(calls) == 3


def test_every_observer_is_exported() -> None:
    for name in observers.__all__:
        assert hasattr(observers, name)


def test_minmax_state_is_bitexact_across_calls() -> None:
    obs = MinMaxObserver()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        obs(F([-0.0]))
    assert_bitexact(obs.min_val, np.asarray(F(-0.0)))
