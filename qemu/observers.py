"""torch.ao.quantization's observers, with the same names, arguments, state and results.

An observer watches float32 tensors during calibration and turns what it saw into
quantization parameters. Each class here mirrors the torch 2.13 class of the same name
(``torch/ao/quantization/observer.py``): ``obs(x)`` records ``x`` and returns it,
``obs.calculate_qparams()`` returns float32 scales and integer zero points of torch's
shapes and dtypes, and the state torch keeps in buffers is kept in attributes of the
same names (``min_val``, ``max_val``, ``histogram``, ``eps``) as NumPy arrays of the
same shapes, so both can be compared after any sequence of calls.

Arithmetic follows torch's float32 tensor arithmetic operation by operation; where a
torch kernel rounds or orders its work in its own way (``torch.sum``, ``histc``,
``linspace``, ``cumsum``, ``bincount``) the model in :mod:`qemu.numerics.tensor_ops`
is used. ``docs/numerics/observers.md`` cites the source of each step and the test that
confirms it.

Examples
--------
>>> import numpy as np
>>> obs = MinMaxObserver(dtype="qint8", qscheme="per_tensor_symmetric")
>>> _ = obs(np.float32([-1.0, 0.5]))
>>> scale, zero_point = obs.calculate_qparams()
>>> scale.tolist(), zero_point.tolist()
([0.007843137718737125], [0])
"""

from __future__ import annotations

import bisect
import math
import struct
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from qemu import config
from qemu.dtypes import (
    PER_CHANNEL_AFFINE,
    PER_CHANNEL_QSCHEMES,
    PER_TENSOR_AFFINE,
    PER_TENSOR_QSCHEMES,
    QINT32,
    QUINT8,
    QDType,
    as_qdtype,
    as_qscheme,
    float_dtype_name,
)
from qemu.numerics.tensor_ops import (
    aten_bincount_f32,
    aten_cumsum_f32,
    aten_histc_f32,
    aten_linspace_f32,
    aten_sum_f32,
)
from qemu.qparams import (
    EPS_F32,
    SYMMETRIC_QSCHEMES,
    calculate_qmin_qmax,
    calculate_qparams,
    check_int,
    check_observer_dtype,
)
from qemu.qtensor import check_scale
from qemu.quantize import check_float_input

__all__ = [
    "FixedQParamsObserver",
    "HistogramObserver",
    "MinMaxObserver",
    "MovingAverageMinMaxObserver",
    "MovingAveragePerChannelMinMaxObserver",
    "NoopObserver",
    "ObserverBase",
    "ObserverFactory",
    "PerChannelMinMaxObserver",
    "PlaceholderObserver",
    "UniformQuantizationObserverBase",
]

# Rounds a Python float to float32 (nearest even) and back, faster than NumPy scalars
# in the histogram search loop.
_F32 = struct.Struct("f")


def _as_observer_dtype(dtype: object) -> QDType | str:
    """A quantized dtype, or the name of a float dtype (placeholder observers)."""
    return float_dtype_name(dtype) or as_qdtype(dtype)


def _check_bool(value: object, argument: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{argument}: expected a bool, got {type(value).__name__} {value!r}")
    return bool(value)


def _check_number(value: object, argument: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"{argument}: expected a float, got {type(value).__name__} {value!r}")
    return float(value)


def _check_eps(eps: object) -> np.ndarray:
    value = _check_number(eps, "eps")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"eps: expected a finite number > 0, got {value!r}")
    # register_buffer("eps", torch.tensor([eps])): a float32 tensor of shape (1,).
    return np.float32([value])


def _check_averaging_constant(value: object) -> float:
    constant = _check_number(value, "averaging_constant")
    if not 0 < constant <= 1:
        raise ValueError(f"averaging_constant: expected a number in (0, 1], got {constant!r}")
    return constant


class ObserverFactory:
    """What ``Observer.with_args(...)`` returns: a callable that builds a fresh observer
    with preset keyword arguments (torch's ``_PartialWrapper``).

    Attributes
    ----------
    observer : type
        The observer class built.
    keywords : dict
        The preset constructor arguments.

    Examples
    --------
    >>> factory = MinMaxObserver.with_args(quant_min=0, quant_max=127)
    >>> factory
    MinMaxObserver.with_args(quant_min=0, quant_max=127)
    >>> factory().quant_max
    127
    """

    def __init__(
        self,
        observer: type[ObserverBase],
        keywords: dict[str, Any],
        callable_keywords: dict[str, Callable[[], Any]] | None = None,
    ) -> None:
        self.observer = observer
        self.keywords = dict(keywords)
        self.callable_keywords = dict(callable_keywords or {})

    def __call__(self, **overrides: Any) -> ObserverBase:
        # Like _PartialWrapper: callable arguments are evaluated per instance, and
        # explicit overrides win over everything preset.
        arguments = dict(self.keywords)
        arguments.update({k: f() for k, f in self.callable_keywords.items() if k not in overrides})
        arguments.update(overrides)
        return self.observer(**arguments)

    def with_args(self, **kwargs: Any) -> ObserverFactory:
        """A factory with more (or overriding) preset arguments."""
        return ObserverFactory(self.observer, {**self.keywords, **kwargs}, self.callable_keywords)

    def with_callable_args(self, **kwargs: Callable[[], Any]) -> ObserverFactory:
        """A factory whose listed arguments are computed by calling the given functions
        each time an observer is built."""
        return ObserverFactory(self.observer, self.keywords, {**self.callable_keywords, **kwargs})

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, ObserverFactory)
            and self.observer is other.observer
            and self.keywords == other.keywords
            and self.callable_keywords == other.callable_keywords
        )

    def __hash__(self) -> int:
        return hash((self.observer, tuple(sorted(self.keywords))))

    def __repr__(self) -> str:
        arguments = ", ".join(f"{k}={v!r}" for k, v in self.keywords.items())
        return f"{self.observer.__name__}.with_args({arguments})"


class ObserverBase:
    """Common base: ``dtype``, ``is_dynamic``, ``obs(x)`` calls :meth:`forward`.

    Subclasses implement :meth:`forward` (record ``x``, return it) and
    :meth:`calculate_qparams`.
    """

    def __init__(self, dtype: object, is_dynamic: bool = False) -> None:
        self.dtype = _as_observer_dtype(dtype)
        self.is_dynamic = _check_bool(is_dynamic, "is_dynamic")

    def __call__(self, x: object) -> np.ndarray:
        return self.forward(x)

    def forward(self, x: object) -> np.ndarray:
        raise NotImplementedError

    def calculate_qparams(self) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    @classmethod
    def with_args(cls, **kwargs: Any) -> ObserverFactory:
        """A factory building this observer with preset arguments (torch's ``with_args``).

        Examples
        --------
        >>> MinMaxObserver.with_args(dtype="qint8")().dtype
        qint8
        """
        return ObserverFactory(cls, kwargs)

    @classmethod
    def with_callable_args(cls, **kwargs: Callable[[], Any]) -> ObserverFactory:
        """A factory computing the listed arguments anew for each observer it builds."""
        return ObserverFactory(cls, {}, kwargs)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"

    def extra_repr(self) -> str:
        return f"dtype={self.dtype}, is_dynamic={self.is_dynamic}"


class UniformQuantizationObserverBase(ObserverBase):
    """Shared configuration of the observers that compute affine qparams.

    Parameters
    ----------
    dtype : str
        ``"quint8"`` (default), ``"qint8"``, ``"qint32"`` or ``"quint4x2"``.
    qscheme : str
        One of the five torch qschemes; each subclass accepts its per-tensor or its
        per-channel ones.
    reduce_range : bool
        Halve the default range (quint8 ``[0, 127]``, qint8 ``[-64, 63]``).
    quant_min, quant_max : int, optional
        A custom code range (both or neither); it must include 0 and fit the dtype.
    eps : float
        Lower bound of the scale, kept as float32 (default ``2**-23``).
    is_dynamic : bool
        Marks the observer as a placeholder for dynamic quantization.
    """

    _qschemes: tuple[str, ...] = PER_TENSOR_QSCHEMES + PER_CHANNEL_QSCHEMES

    def __init__(
        self,
        dtype: object = "quint8",
        qscheme: object = PER_TENSOR_AFFINE,
        reduce_range: bool = False,
        quant_min: int | None = None,
        quant_max: int | None = None,
        eps: float = EPS_F32,
        is_dynamic: bool = False,
    ) -> None:
        super().__init__(check_observer_dtype(dtype), is_dynamic)
        self.qscheme = as_qscheme(qscheme)
        if self.qscheme not in self._qschemes:
            raise ValueError(
                f"qscheme: {type(self).__name__} supports "
                + ", ".join(repr(s) for s in self._qschemes)
                + f", got {self.qscheme!r}"
            )
        self.reduce_range = _check_bool(reduce_range, "reduce_range")
        self.eps = _check_eps(eps)
        if (quant_min is None) != (quant_max is None):
            # torch silently falls back to the default range; that hides a mistake.
            raise ValueError(
                "quant_min, quant_max: give both for a custom range or neither, got "
                f"quant_min={quant_min!r}, quant_max={quant_max!r}"
            )
        self.has_customized_qrange = quant_min is not None
        self.quant_min, self.quant_max = calculate_qmin_qmax(
            quant_min, quant_max, self.has_customized_qrange, self.dtype, self.reduce_range
        )

    def _refuse_symmetric_reduced_quint8(self) -> None:
        # MinMaxObserver / PerChannelMinMaxObserver.__init__ raise NotImplementedError
        # for this combination (HistogramObserver does not).
        if self.qscheme in SYMMETRIC_QSCHEMES and self.reduce_range and self.dtype == QUINT8:
            raise ValueError(
                "reduce_range: cannot reduce the range of symmetric quint8 quantization "
                f"(qscheme={self.qscheme!r}, dtype='quint8')"
            )

    def _calculate_qparams(
        self, min_val: np.ndarray, max_val: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        return calculate_qparams(
            min_val,
            max_val,
            self.quant_min,
            self.quant_max,
            self.dtype,
            self.qscheme,
            self.eps[0],
            self.has_customized_qrange,
        )

    def extra_repr(self) -> str:
        return (
            f"dtype={self.dtype}, qscheme={self.qscheme}, quant_min={self.quant_min}, "
            f"quant_max={self.quant_max}"
        )


class MinMaxObserver(UniformQuantizationObserverBase):
    """Quantization parameters from the running minimum and maximum.

    ``min_val``/``max_val`` are float32 0-d arrays, ``inf``/``-inf`` until the first
    non-empty tensor. NaN in ``x`` makes them NaN (``torch.min`` propagates it).

    Examples
    --------
    >>> import numpy as np
    >>> obs = MinMaxObserver()
    >>> _ = obs(np.float32([-1.0, 2.0]))
    >>> [a.tolist() for a in obs.calculate_qparams()]
    [[0.0117647061124444], [85]]
    """

    _qschemes = PER_TENSOR_QSCHEMES

    def __init__(
        self,
        dtype: object = "quint8",
        qscheme: object = PER_TENSOR_AFFINE,
        reduce_range: bool = False,
        quant_min: int | None = None,
        quant_max: int | None = None,
        eps: float = EPS_F32,
        is_dynamic: bool = False,
    ) -> None:
        super().__init__(dtype, qscheme, reduce_range, quant_min, quant_max, eps, is_dynamic)
        self.min_val = np.array(np.inf, dtype=np.float32)
        self.max_val = np.array(-np.inf, dtype=np.float32)
        self._refuse_symmetric_reduced_quint8()

    def forward(self, x: object) -> np.ndarray:
        """Fold ``x``'s minimum and maximum into the running ones; return ``x``."""
        array = check_float_input(x)
        if array.size:
            # torch.min / torch.max of two tensors propagate NaN, as np.minimum does.
            self.min_val = np.asarray(np.minimum(array.min(), self.min_val))
            self.max_val = np.asarray(np.maximum(array.max(), self.max_val))
        return array

    def calculate_qparams(self) -> tuple[np.ndarray, np.ndarray]:
        """Scale (float32, shape ``(1,)``) and zero point (int32 affine, int64
        symmetric) of the running range; ``([1.0], [0])`` before any data."""
        return self._calculate_qparams(self.min_val, self.max_val)

    def reset_min_max_vals(self) -> None:
        self.min_val = np.array(np.inf, dtype=np.float32)
        self.max_val = np.array(-np.inf, dtype=np.float32)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}"


class MovingAverageMinMaxObserver(MinMaxObserver):
    """Quantization parameters from exponential moving averages of min and max.

    The first non-empty tensor sets the range; later ones update it as torch does,
    ``min_val + c * (cur_min - min_val)`` in three float32 operations (no fused
    multiply-add), with ``c = f32(averaging_constant)``.

    Examples
    --------
    >>> import numpy as np
    >>> obs = MovingAverageMinMaxObserver(averaging_constant=0.5)
    >>> _ = obs(np.float32([0.0, 2.0])); _ = obs(np.float32([0.0, 4.0]))
    >>> float(obs.max_val)
    3.0
    """

    def __init__(
        self,
        averaging_constant: float = 0.01,
        dtype: object = "quint8",
        qscheme: object = PER_TENSOR_AFFINE,
        reduce_range: bool = False,
        quant_min: int | None = None,
        quant_max: int | None = None,
        eps: float = EPS_F32,
        is_dynamic: bool = False,
    ) -> None:
        self.averaging_constant = _check_averaging_constant(averaging_constant)
        if _check_bool(is_dynamic, "is_dynamic") and self.averaging_constant != 1:
            raise ValueError(
                "is_dynamic: MovingAverageMinMaxObserver supports dynamic quantization only "
                f"with averaging_constant=1, got {self.averaging_constant!r}"
            )
        super().__init__(dtype, qscheme, reduce_range, quant_min, quant_max, eps, is_dynamic)

    def forward(self, x: object) -> np.ndarray:
        array = check_float_input(x)
        if not array.size:
            return array
        current_min, current_max = array.min(), array.max()
        if self.min_val == np.inf and self.max_val == -np.inf:
            self.min_val, self.max_val = np.asarray(current_min), np.asarray(current_max)
        else:
            constant = np.float32(self.averaging_constant)
            with np.errstate(invalid="ignore", over="ignore"):  # inf - inf is NaN, as in torch
                self.min_val = self.min_val + constant * (current_min - self.min_val)
                self.max_val = self.max_val + constant * (current_max - self.max_val)
        return array


def _channel_rows(array: np.ndarray, ch_axis: int) -> np.ndarray:
    """``x.permute(...)`` swapping axis 0 and ``ch_axis``, flattened from dim 1: one row
    per channel, elements in torch's order."""
    if array.ndim < 2:
        raise ValueError(
            f"x: per-channel observers need at least 2 dimensions (torch flattens from dim 1), "
            f"got shape {array.shape}"
        )
    if not -array.ndim <= ch_axis < array.ndim:
        raise ValueError(
            f"ch_axis: expected an axis in [{-array.ndim}, {array.ndim}) for a "
            f"{array.ndim}-dimensional x, got {ch_axis}"
        )
    swapped = np.swapaxes(array, 0, ch_axis)
    return swapped.reshape(swapped.shape[0], -1)


def _broadcast_state(new: np.ndarray, old: np.ndarray, argument: str) -> None:
    try:
        np.broadcast_shapes(new.shape, old.shape)
    except ValueError:
        raise ValueError(
            f"{argument}: x has {new.shape[0]} channels along ch_axis but the observer has "
            f"recorded {old.shape[0]}"
        ) from None


class PerChannelMinMaxObserver(UniformQuantizationObserverBase):
    """Running minimum and maximum of each slice along ``ch_axis``.

    ``min_val``/``max_val`` are float32 arrays of shape ``(channels,)``, empty until the
    first non-empty tensor. Negative ``ch_axis`` values count from the end, as in torch.

    Examples
    --------
    >>> import numpy as np
    >>> obs = PerChannelMinMaxObserver(dtype="qint8", qscheme="per_channel_symmetric")
    >>> _ = obs(np.float32([[1, -2], [0.5, 0.25]]))
    >>> obs.calculate_qparams()[0].tolist()
    [0.01568627543747425, 0.003921568859368563]
    """

    _qschemes = PER_CHANNEL_QSCHEMES

    def __init__(
        self,
        ch_axis: int = 0,
        dtype: object = "quint8",
        qscheme: object = PER_CHANNEL_AFFINE,
        reduce_range: bool = False,
        quant_min: int | None = None,
        quant_max: int | None = None,
        eps: float = EPS_F32,
        is_dynamic: bool = False,
    ) -> None:
        if _check_bool(is_dynamic, "is_dynamic"):
            raise ValueError(f"is_dynamic: {type(self).__name__} has no dynamic mode")
        super().__init__(dtype, qscheme, reduce_range, quant_min, quant_max, eps, is_dynamic)
        self.ch_axis = check_int(ch_axis, "ch_axis")
        self.min_val = np.zeros(0, dtype=np.float32)
        self.max_val = np.zeros(0, dtype=np.float32)
        self._refuse_symmetric_reduced_quint8()

    def forward(self, x: object) -> np.ndarray:
        array = check_float_input(x)
        if not array.size:
            return array
        rows = _channel_rows(array, self.ch_axis)
        current_min, current_max = rows.min(axis=1), rows.max(axis=1)
        if self.min_val.size == 0 or self.max_val.size == 0:
            self.min_val, self.max_val = current_min, current_max
        else:
            _broadcast_state(current_min, self.min_val, "x")
            self._update(current_min, current_max)
        return array

    def _update(self, current_min: np.ndarray, current_max: np.ndarray) -> None:
        self.min_val = np.minimum(current_min, self.min_val)
        self.max_val = np.maximum(current_max, self.max_val)

    def calculate_qparams(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-channel scales (float32) and zero points (int32 affine, int64 symmetric,
        float32 for ``per_channel_affine_float_qparams``)."""
        return self._calculate_qparams(self.min_val, self.max_val)

    def reset_min_max_vals(self) -> None:
        self.min_val = np.zeros(0, dtype=np.float32)
        self.max_val = np.zeros(0, dtype=np.float32)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}"


class MovingAveragePerChannelMinMaxObserver(PerChannelMinMaxObserver):
    """Per-channel exponential moving averages of min and max (see
    :class:`MovingAverageMinMaxObserver` for the update).

    Examples
    --------
    >>> import numpy as np
    >>> obs = MovingAveragePerChannelMinMaxObserver(averaging_constant=0.5)
    >>> _ = obs(np.float32([[0, 2]])); _ = obs(np.float32([[0, 4]]))
    >>> obs.max_val.tolist()
    [3.0]
    """

    def __init__(
        self,
        averaging_constant: float = 0.01,
        ch_axis: int = 0,
        dtype: object = "quint8",
        qscheme: object = PER_CHANNEL_AFFINE,
        reduce_range: bool = False,
        quant_min: int | None = None,
        quant_max: int | None = None,
        eps: float = EPS_F32,
        is_dynamic: bool = False,
    ) -> None:
        super().__init__(
            ch_axis, dtype, qscheme, reduce_range, quant_min, quant_max, eps, is_dynamic
        )
        self.averaging_constant = _check_averaging_constant(averaging_constant)

    def _update(self, current_min: np.ndarray, current_max: np.ndarray) -> None:
        constant = np.float32(self.averaging_constant)
        with np.errstate(invalid="ignore", over="ignore"):  # inf - inf is NaN, as in torch
            self.min_val = self.min_val + constant * (current_min - self.min_val)
            self.max_val = self.max_val + constant * (current_max - self.max_val)


class HistogramObserver(UniformQuantizationObserverBase):
    """Quantization parameters that minimize the L2 quantization error of a running
    histogram (torch's ``HistogramObserver``, reproduced operation by operation).

    ``forward`` keeps a float32 histogram of ``bins`` bins over ``[min_val, max_val]``;
    when a tensor widens the range the old histogram is upsampled 16 times and re-binned
    into the new range. ``calculate_qparams`` searches for the sub-range with the least
    estimated error and returns its affine or symmetric qparams. Infinite values are
    dropped (with a warning); NaN raises ``ValueError`` (torch's ``histc`` refuses it),
    after updating ``min_val``/``max_val`` on a first call as torch does.

    ``torch.sum`` over more than 32,768 bins splits across threads; the thread count
    comes from :func:`qemu.use` / ``QEMU_THREADS``.

    Examples
    --------
    >>> import numpy as np
    >>> obs = HistogramObserver(bins=64)
    >>> _ = obs(np.linspace(0, 1, 100, dtype=np.float32))
    >>> obs.histogram.sum()
    np.float32(100.0)
    """

    _qschemes = PER_TENSOR_QSCHEMES
    upsample_rate = 16

    def __init__(
        self,
        bins: int = 2048,
        dtype: object = "quint8",
        qscheme: object = PER_TENSOR_AFFINE,
        reduce_range: bool = False,
        quant_min: int | None = None,
        quant_max: int | None = None,
        eps: float = EPS_F32,
        is_dynamic: bool = False,
    ) -> None:
        if _check_bool(is_dynamic, "is_dynamic"):
            raise ValueError("is_dynamic: HistogramObserver has no dynamic mode")
        super().__init__(dtype, qscheme, reduce_range, quant_min, quant_max, eps, is_dynamic)
        self.bins = check_int(bins, "bins")
        if self.bins < 1:
            raise ValueError(f"bins: expected an integer >= 1, got {self.bins}")
        self.histogram = np.zeros(self.bins, dtype=np.float32)
        self.min_val = np.array(np.inf, dtype=np.float32)
        self.max_val = np.array(-np.inf, dtype=np.float32)
        # 2 ** torch.iinfo(dtype).bits: 256 for every 8-bit dtype and for quint4x2 (torch
        # reports 8 bits for it), whatever the range; 2**32 for qint32.
        self.dst_nbins = 2 ** (32 if self.dtype == QINT32 else 8)

    # -- recording -------------------------------------------------------------------

    def forward(self, x: object) -> np.ndarray:
        array = check_float_input(x)
        if not array.size:
            return array
        values = array.reshape(-1)
        x_min, x_max = values.min(), values.max()
        if x_min == -np.inf or x_max == np.inf:
            warnings.warn("inf detected in input tensor, ignoring input", stacklevel=2)
            values = values[np.abs(values) != np.inf]
            if not values.size:
                return array
            x_min, x_max = values.min(), values.max()
        if self.min_val == np.inf or self.max_val == -np.inf:
            # reset_histogram stores the range before histc checks it.
            self.min_val, self.max_val = np.asarray(x_min), np.asarray(x_max)
            self._refuse_nan(x_min, x_max)
            self.histogram = aten_histc_f32(values, self.bins, float(x_min), float(x_max))
            return array
        new_min = np.minimum(self.min_val, x_min)
        new_max = np.maximum(self.max_val, x_max)
        self._refuse_nan(new_min, new_max)
        update = aten_histc_f32(values, self.bins, float(new_min), float(new_max))
        if new_min == self.min_val and new_max == self.max_val:
            self.histogram = self.histogram + update
        else:
            with np.errstate(all="ignore"):  # extreme ranges overflow as they do in torch
                self.histogram = self._combine_histograms(update, new_min, new_max)
            self.min_val, self.max_val = np.asarray(new_min), np.asarray(new_max)
        return array

    @staticmethod
    def _refuse_nan(low: np.floating, high: np.floating) -> None:
        if np.isnan(low) or np.isnan(high):
            raise ValueError(
                "x: NaN values cannot be histogrammed (torch.histc raises 'range of [nan, "
                "nan] is not finite')"
            )

    def _combine_histograms(
        self, update: np.ndarray, new_min: np.ndarray, new_max: np.ndarray
    ) -> np.ndarray:
        """``_combine_histograms``: the old histogram moved into the widened range, plus
        the new tensor's histogram."""
        if self.min_val == self.max_val:
            # All old mass sits at one point: one histc bin times the old total.
            total = aten_sum_f32(self.histogram, config.current().threads)
            point = aten_histc_f32(self.min_val, self.bins, float(new_min), float(new_max))
            return point * total + update
        return update + self._upscale_histogram(new_min, new_max)

    def _upscale_histogram(self, new_min: np.ndarray, new_max: np.ndarray) -> np.ndarray:
        """``_upscale_histogram``: split each bin into 16 equal parts at their midpoints
        and re-bin the midpoints into ``bins`` bins over ``[new_min, new_max]``."""
        rate = self.upsample_rate
        weights = np.repeat(self.histogram, rate) / np.float32(rate)
        fine_bins = self.bins * rate
        bin_size = (self.max_val - self.min_val) / np.float32(fine_bins)
        midpoints = aten_linspace_f32(float(self.min_val), float(self.max_val), fine_bins + 1)
        midpoints = midpoints[:-1] + np.float32(0.5) * bin_size
        boundaries = aten_linspace_f32(float(new_min), float(new_max), self.bins + 1)
        # torch.bucketize(right=True) - 1, clamped into the histogram.
        buckets = np.searchsorted(boundaries, midpoints, side="right") - 1
        buckets = np.clip(buckets, 0, self.bins - 1)
        return aten_bincount_f32(buckets, weights, self.bins)

    # -- the parameter search ----------------------------------------------------------

    def _get_norm(
        self, delta_begin: np.ndarray, delta_end: np.ndarray, density: np.ndarray
    ) -> np.ndarray:
        """``density * (end**3 - begin**3) / 3``, as written: cubes as two products."""
        cubes = delta_end * delta_end * delta_end - delta_begin * delta_begin * delta_begin
        return density * (cubes / np.float32(3))

    def _compute_quantization_error(self, next_start_bin: int, next_end_bin: int) -> float:
        """``_compute_quantization_error``: the estimated L2 error of quantizing with
        bins ``[next_start_bin, next_end_bin]`` as the range.

        The bin widths are Python floats (doubles) computed from ``.item()`` values,
        rounded to float32 where they meet the float32 tensors.
        """
        bin_width = (float(self.max_val) - float(self.min_val)) / self.bins
        dst_bin_width = bin_width * (next_end_bin - next_start_bin + 1) / self.dst_nbins
        if dst_bin_width == 0.0:
            return 0.0
        with np.errstate(all="ignore"):  # extreme ranges overflow as they do in torch
            return self._error_sum(bin_width, dst_bin_width, next_start_bin)

    def _error_sum(self, bin_width: float, dst_bin_width: float, next_start_bin: int) -> float:
        f = np.float32
        width, dst_width = f(bin_width), f(dst_bin_width)
        top = f(self.dst_nbins - 1)
        src_bin_begin = (np.arange(self.bins) - next_start_bin).astype(f) * width
        src_bin_end = src_bin_begin + width
        dst_bin_of_begin = np.clip(np.floor_divide(src_bin_begin, dst_width), f(0), top)
        dst_bin_of_begin_center = (dst_bin_of_begin + f(0.5)) * dst_width
        dst_bin_of_end = np.clip(np.floor_divide(src_bin_end, dst_width), f(0), top)
        density = self.histogram / width
        half = f(dst_bin_width / 2)
        norm = np.zeros(self.bins, dtype=f)
        norm = norm + self._get_norm(
            src_bin_begin - dst_bin_of_begin_center, np.full(self.bins, half), density
        )
        inner_bins = dst_bin_of_end - dst_bin_of_begin - f(1)
        norm = norm + inner_bins * self._get_norm(f(-dst_bin_width / 2), half, density)
        dst_bin_of_end_center = dst_bin_of_end * dst_width + half
        norm = norm + self._get_norm(
            f(-dst_bin_width / 2), src_bin_end - dst_bin_of_end_center, density
        )
        return float(aten_sum_f32(norm, config.current().threads))

    def _non_linear_param_search(self) -> tuple[np.ndarray, np.ndarray]:
        """``_non_linear_param_search``: shrink ``[alpha, beta]`` quantiles by 1e-5 steps
        (Python doubles) while the estimated error does not grow.

        torch scans ``cSum`` bin by bin comparing float32 values with
        ``float32(alpha * total)``; ``cSum`` never decreases, so a binary search finds
        the same bins. (float32 values compare the same as Python floats.)
        """
        bin_width = (self.max_val - self.min_val) / np.float32(self.bins)
        total = float(aten_sum_f32(self.histogram, config.current().threads))
        c_sum = aten_cumsum_f32(self.histogram).tolist()
        to_f32 = _F32.unpack
        pack = _F32.pack
        stepsize = 1e-5
        alpha, beta = 0.0, 1.0
        start_bin, end_bin = 0, self.bins - 1
        norm_min = math.inf
        while alpha < beta:
            next_alpha = alpha + stepsize
            next_beta = beta - stepsize
            # l: first bin from start_bin with not cSum[l] < f32(next_alpha * total).
            low = bisect.bisect_left(c_sum, to_f32(pack(next_alpha * total))[0])
            left = min(max(start_bin, low), end_bin)
            # r: last bin down from end_bin with not cSum[r] > f32(next_beta * total).
            high = bisect.bisect_right(c_sum, to_f32(pack(next_beta * total))[0]) - 1
            right = max(min(end_bin, high), start_bin)
            next_start_bin, next_end_bin = start_bin, end_bin
            if left - start_bin > end_bin - right:
                next_start_bin = left
                alpha = next_alpha
            else:
                next_end_bin = right
                beta = next_beta
            if next_start_bin == start_bin and next_end_bin == end_bin:
                # Here left == start_bin, and alpha (so left) stays put while only beta
                # steps down: skip ahead, one subtraction per step as in torch, to the
                # first step whose right bound moves; the loop then redoes that step.
                c_end = c_sum[end_bin]
                while alpha < beta:
                    lower = beta - stepsize
                    if end_bin != start_bin and c_end > to_f32(pack(lower * total))[0]:
                        break
                    beta = lower
                continue
            norm = self._compute_quantization_error(next_start_bin, next_end_bin)
            if norm > norm_min:
                break
            norm_min = norm
            start_bin, end_bin = next_start_bin, next_end_bin
        new_min = self.min_val + bin_width * np.float32(start_bin)
        new_max = self.min_val + bin_width * np.float32(end_bin + 1)
        return np.asarray(new_min), np.asarray(new_max)

    def calculate_qparams(self) -> tuple[np.ndarray, np.ndarray]:
        """Scale and zero point of the searched range; ``([1.0], [0])`` before any data."""
        if self.min_val == np.inf and self.max_val == -np.inf:
            warnings.warn(
                "must run observer before calling calculate_qparams; returning default "
                "scale and zero point",
                stacklevel=2,
            )
            return np.float32([1.0]), np.int64([0])
        with np.errstate(all="ignore"):  # extreme ranges overflow as they do in torch
            new_min, new_max = self._non_linear_param_search()
        return self._calculate_qparams(new_min, new_max)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}"


class FixedQParamsObserver(ObserverBase):
    """Returns fixed qparams whatever it observes (used for ops with a known output
    range such as sigmoid and tanh). ``scale`` is kept as float32, ``zero_point`` as
    int32, both of shape ``(1,)``.

    Examples
    --------
    >>> obs = FixedQParamsObserver(scale=1.0 / 256.0, zero_point=0)
    >>> [a.tolist() for a in obs.calculate_qparams()]
    [[0.00390625], [0]]
    """

    def __init__(
        self,
        scale: float,
        zero_point: int,
        dtype: object = "quint8",
        qscheme: object = PER_TENSOR_AFFINE,
        quant_min: int = 0,
        quant_max: int = 255,
        is_dynamic: bool = False,
    ) -> None:
        if _check_bool(is_dynamic, "is_dynamic"):
            raise ValueError("is_dynamic: FixedQParamsObserver has no dynamic mode")
        super().__init__(as_qdtype(dtype), is_dynamic)
        self.qscheme = as_qscheme(qscheme)
        low, high = check_int(quant_min, "quant_min"), check_int(quant_max, "quant_max")
        if not self.dtype.qmin <= low < high <= self.dtype.qmax:
            raise ValueError(
                f"quant_min, quant_max: expected quant_min < quant_max inside "
                f"[{self.dtype.qmin}, {self.dtype.qmax}] for {self.dtype.name}, got "
                f"[{low}, {high}]"
            )
        point = check_int(zero_point, "zero_point")
        if not low <= point <= high:
            raise ValueError(f"zero_point: expected an integer in [{low}, {high}], got {point}")
        self.quant_min, self.quant_max = low, high
        self.scale = np.float32([check_scale(scale)])
        self.zero_point = np.int32([point])

    def forward(self, x: object) -> np.ndarray:
        return check_float_input(x)

    def calculate_qparams(self) -> tuple[np.ndarray, np.ndarray]:
        return self.scale, self.zero_point


class PlaceholderObserver(ObserverBase):
    """Observes nothing; carries the dtype (and range) a quantized module's
    ``from_float`` needs, e.g. ``float16`` or a dynamic ``quint8`` activation.

    ``compute_dtype`` is accepted for compatibility and, as in torch 2.13, has no effect
    on ``is_dynamic``. ``calculate_qparams`` raises ``RuntimeError``.

    Examples
    --------
    >>> PlaceholderObserver(dtype="float16").dtype
    'float16'
    """

    def __init__(
        self,
        dtype: object = "float32",
        custom_op_name: str = "",
        compute_dtype: object = None,
        quant_min: int | None = None,
        quant_max: int | None = None,
        qscheme: object = None,
        eps: float | None = None,
        is_dynamic: bool = False,
    ) -> None:
        super().__init__(dtype, is_dynamic)
        self.qscheme = PER_TENSOR_AFFINE if qscheme is None else as_qscheme(qscheme)
        self.eps = float(EPS_F32) if eps is None else _check_number(eps, "eps")
        self.quant_min = None if quant_min is None else check_int(quant_min, "quant_min")
        self.quant_max = None if quant_max is None else check_int(quant_max, "quant_max")
        if not isinstance(custom_op_name, str):
            raise TypeError(f"custom_op_name: expected a str, got {type(custom_op_name).__name__}")
        self.custom_op = custom_op_name
        self.compute_dtype = compute_dtype

    def forward(self, x: object) -> np.ndarray:
        return check_float_input(x)

    def calculate_qparams(self) -> tuple[np.ndarray, np.ndarray]:
        raise RuntimeError("calculate_qparams should not be called for PlaceholderObserver")


class NoopObserver(ObserverBase):
    """Observes nothing; carries a dtype (default ``float16``). ``calculate_qparams``
    raises ``RuntimeError``.

    Examples
    --------
    >>> NoopObserver().dtype
    'float16'
    """

    def __init__(self, dtype: object = "float16", custom_op_name: str = "") -> None:
        super().__init__(dtype, False)
        if not isinstance(custom_op_name, str):
            raise TypeError(f"custom_op_name: expected a str, got {type(custom_op_name).__name__}")
        self.custom_op = custom_op_name

    def forward(self, x: object) -> np.ndarray:
        return check_float_input(x)

    def calculate_qparams(self) -> tuple[np.ndarray, np.ndarray]:
        raise RuntimeError("calculate_qparams should not be called for NoopObserver")
