"""QTensor: integer codes plus the quantization that maps them to real numbers.

It mirrors a torch quantized tensor's accessors (``int_repr``, ``q_scale``,
``q_per_channel_scales``, ...) and keeps the parameters in the precision torch keeps
them: a per-tensor scale is a Python float (a C double), per-channel affine scales
are float64 with int64 zero points, and ``per_channel_affine_float_qparams`` keeps
float32 scales and float32 zero points.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from qemu.dtypes import (
    PER_CHANNEL_AFFINE,
    PER_CHANNEL_AFFINE_FLOAT_QPARAMS,
    PER_TENSOR_AFFINE,
    QDType,
    as_qdtype,
)

if TYPE_CHECKING:
    import torch

TENSOR_QSCHEMES = (PER_TENSOR_AFFINE, PER_CHANNEL_AFFINE, PER_CHANNEL_AFFINE_FLOAT_QPARAMS)


def check_integer_codes(codes: object, dtype: QDType, argument: str = "codes") -> np.ndarray:
    """Return ``codes`` as an array of ``dtype``'s storage type, refusing values that
    fall outside the dtype's range or arrays that are not integer."""
    array = np.asarray(codes)
    if array.dtype.kind not in "iub":
        raise TypeError(f"{argument}: expected an integer array, got dtype {array.dtype}")
    if array.size and (array.min() < dtype.qmin or array.max() > dtype.qmax):
        raise ValueError(
            f"{argument}: values must lie in [{dtype.qmin}, {dtype.qmax}] for {dtype.name}, "
            f"got [{array.min()}, {array.max()}]"
        )
    return array.astype(dtype.storage)


def check_scale(scale: object, argument: str = "scale") -> float:
    """A per-tensor scale: a finite number > 0, returned as a Python float (double)."""
    if isinstance(scale, (bool, np.bool_)) or not isinstance(scale, (int, float, np.number)):
        raise TypeError(f"{argument}: expected a float, got {type(scale).__name__}")
    value = float(scale)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{argument}: expected a finite number > 0, got {value!r}")
    return value


def check_zero_point(zero_point: object, dtype: QDType, argument: str = "zero_point") -> int:
    """A per-tensor zero point: an integer within the dtype's range."""
    if isinstance(zero_point, (bool, np.bool_)) or not isinstance(zero_point, (int, np.integer)):
        raise TypeError(
            f"{argument}: expected an int, got {type(zero_point).__name__} {zero_point!r}"
        )
    value = int(zero_point)
    if not dtype.qmin <= value <= dtype.qmax:
        raise ValueError(
            f"{argument}: expected an integer in [{dtype.qmin}, {dtype.qmax}] for {dtype.name}, "
            f"got {value}"
        )
    return value


def check_axis(axis: object, ndim: int, argument: str = "axis") -> int:
    """A channel axis of an ``ndim``-dimensional tensor; like torch's per-channel
    quantizer, negative axes are refused."""
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{argument}: expected an int, got {type(axis).__name__} {axis!r}")
    if not 0 <= int(axis) < ndim:
        raise ValueError(
            f"{argument}: expected an axis in [0, {ndim}) for a {ndim}-dimensional tensor, got {axis}"
        )
    return int(axis)


def check_channel_qparams(
    scales: object,
    zero_points: object,
    channels: int,
    dtype: QDType,
    float_qparams: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel scales and zero points in the precision torch keeps them.

    Affine: float64 scales > 0 and int64 zero points within the dtype.
    Float qparams: float32 scales > 0 and finite float32 zero points.
    """
    scales_array = np.asarray(scales)
    points_array = np.asarray(zero_points)
    for name, array in (("scales", scales_array), ("zero_points", points_array)):
        if array.ndim != 1 or array.shape[0] != channels:
            raise ValueError(
                f"{name}: expected a 1-D array of {channels} values (one per channel), "
                f"got shape {array.shape}"
            )
    if scales_array.dtype.kind not in "fiu":
        raise TypeError(f"scales: expected a float array, got dtype {scales_array.dtype}")
    scales_array = scales_array.astype(np.float32 if float_qparams else np.float64)
    if not np.all(np.isfinite(scales_array) & (scales_array > 0)):
        raise ValueError(f"scales: expected finite values > 0, got {scales_array.tolist()}")
    if float_qparams:
        if points_array.dtype.kind not in "fiu":
            raise TypeError(f"zero_points: expected a float array, got dtype {points_array.dtype}")
        points_array = points_array.astype(np.float32)
        if not np.all(np.isfinite(points_array)):
            raise ValueError("zero_points: expected finite values")
    else:
        if points_array.dtype.kind not in "iu":
            raise TypeError(
                f"zero_points: expected an integer array, got dtype {points_array.dtype}"
            )
        points_array = points_array.astype(np.int64)
        if points_array.size and (
            points_array.min() < dtype.qmin or points_array.max() > dtype.qmax
        ):
            raise ValueError(
                f"zero_points: expected integers in [{dtype.qmin}, {dtype.qmax}] for "
                f"{dtype.name}, got {points_array.tolist()}"
            )
    return scales_array, points_array


class QTensor:
    """A quantized tensor: integer codes (one per element) with their dtype and qparams.

    Build one with :meth:`per_tensor` or :meth:`per_channel`, or get one from
    :func:`qemu.quantize_per_tensor` / :func:`qemu.quantize_per_channel` /
    :func:`qemu.from_torch`. Codes are read-only.

    Examples
    --------
    >>> import numpy as np
    >>> q = QTensor.per_tensor(np.array([0, 10, 20]), scale=0.5, zero_point=10, dtype="quint8")
    >>> q.dequantize().tolist()
    [-5.0, 0.0, 5.0]
    """

    # __weakref__: prepacked weights are cached per live QTensor (qemu.ops.linear.cached_prepack).
    __slots__ = ("_codes", "_dtype", "_qscheme", "_scale", "_zero_point", "_axis", "__weakref__")

    def __init__(
        self,
        codes: np.ndarray,
        dtype: QDType,
        qscheme: str,
        scale: float | np.ndarray,
        zero_point: int | np.ndarray,
        axis: int | None,
    ) -> None:
        # Internal: use per_tensor / per_channel, which validate.
        codes = np.asarray(codes)
        codes.flags.writeable = False
        self._codes = codes
        self._dtype = dtype
        self._qscheme = qscheme
        self._scale = scale
        self._zero_point = zero_point
        self._axis = axis

    @classmethod
    def per_tensor(cls, codes: object, scale: float, zero_point: int, dtype: object) -> QTensor:
        """A per-tensor affine QTensor from integer codes.

        Examples
        --------
        >>> QTensor.per_tensor([1, 2], 0.1, 0, "qint8").int_repr().tolist()
        [1, 2]
        """
        qdtype = as_qdtype(dtype)
        return cls(
            check_integer_codes(codes, qdtype),
            qdtype,
            PER_TENSOR_AFFINE,
            check_scale(scale),
            check_zero_point(zero_point, qdtype),
            None,
        )

    @classmethod
    def per_channel(
        cls,
        codes: object,
        scales: object,
        zero_points: object,
        axis: int,
        dtype: object,
        *,
        float_qparams: bool = False,
    ) -> QTensor:
        """A per-channel QTensor from integer codes; ``float_qparams=True`` gives the
        ``per_channel_affine_float_qparams`` scheme (float zero points).

        Examples
        --------
        >>> q = QTensor.per_channel([[1], [2]], [0.5, 0.25], [0, 0], 0, "qint8")
        >>> q.dequantize().tolist()
        [[0.5], [0.5]]
        """
        qdtype = as_qdtype(dtype)
        array = check_integer_codes(codes, qdtype)
        if array.ndim == 0:
            raise ValueError("codes: a per-channel tensor needs at least one dimension")
        channel_axis = check_axis(axis, array.ndim)
        scales_array, points_array = check_channel_qparams(
            scales, zero_points, array.shape[channel_axis], qdtype, float_qparams
        )
        qscheme = PER_CHANNEL_AFFINE_FLOAT_QPARAMS if float_qparams else PER_CHANNEL_AFFINE
        return cls(array, qdtype, qscheme, scales_array, points_array, channel_axis)

    # -- torch's accessors -------------------------------------------------------------

    @property
    def shape(self) -> tuple[int, ...]:
        return self._codes.shape

    @property
    def ndim(self) -> int:
        return self._codes.ndim

    @property
    def size(self) -> int:
        return self._codes.size

    @property
    def dtype(self) -> QDType:
        return self._dtype

    @property
    def codes(self) -> np.ndarray:
        """The integer code of every element (unpacked, also for sub-byte dtypes)."""
        return self._codes

    def qscheme(self) -> str:
        return self._qscheme

    @property
    def is_per_channel(self) -> bool:
        return self._axis is not None

    def int_repr(self) -> np.ndarray:
        """The stored integers as torch returns them: the codes for 8/32-bit dtypes; for
        sub-byte dtypes the packed bytes, flattened, element ``i`` in bits
        ``(i % k) * bits`` of byte ``i // k`` (k elements per byte).

        Examples
        --------
        >>> QTensor.per_tensor([1, 2, 3], 1.0, 0, "quint4x2").int_repr().tolist()
        [33, 3]
        """
        if not self._dtype.sub_byte:
            return self._codes.copy()
        per_byte = 8 // self._dtype.bits
        flat = self._codes.reshape(-1).astype(np.uint8)
        padded = np.zeros(-(-flat.size // per_byte) * per_byte, dtype=np.uint8)
        padded[: flat.size] = flat
        lanes = padded.reshape(-1, per_byte)
        shifts = (np.arange(per_byte) * self._dtype.bits).astype(np.uint8)
        return np.bitwise_or.reduce(lanes << shifts, axis=1).astype(np.uint8)

    def q_scale(self) -> float:
        self._require(per_channel=False, accessor="q_scale")
        return self._scale

    def q_zero_point(self) -> int:
        self._require(per_channel=False, accessor="q_zero_point")
        return self._zero_point

    def q_per_channel_scales(self) -> np.ndarray:
        self._require(per_channel=True, accessor="q_per_channel_scales")
        return self._scale.copy()

    def q_per_channel_zero_points(self) -> np.ndarray:
        self._require(per_channel=True, accessor="q_per_channel_zero_points")
        return self._zero_point.copy()

    def q_per_channel_axis(self) -> int:
        self._require(per_channel=True, accessor="q_per_channel_axis")
        return self._axis

    def _require(self, *, per_channel: bool, accessor: str) -> None:
        if per_channel != self.is_per_channel:
            kind = "per-channel" if per_channel else "per-tensor"
            raise ValueError(f"{accessor}() needs a {kind} tensor; this one is {self._qscheme}")

    def dequantize(self, *, engine: str | None = None, backend: str | None = None) -> np.ndarray:
        """Float32 values, as ``torch.Tensor.dequantize`` computes them.

        Examples
        --------
        >>> QTensor.per_tensor([3], 0.25, 1, "quint8").dequantize().tolist()
        [0.5]
        """
        from qemu.quantize import dequantize

        return dequantize(self, engine=engine, backend=backend)

    def to_torch(self) -> torch.Tensor:
        """The equivalent torch quantized tensor (needs torch)."""
        from qemu.interop import to_torch

        return to_torch(self)

    def with_codes(self, codes: np.ndarray) -> QTensor:
        """The same quantization with other codes of the same shape (validated)."""
        array = check_integer_codes(codes, self._dtype)
        if array.shape != self.shape:
            raise ValueError(f"codes: expected shape {self.shape}, got {array.shape}")
        return QTensor(array, self._dtype, self._qscheme, self._scale, self._zero_point, self._axis)

    def equal(self, other: QTensor) -> bool:
        """True when codes, dtype, qscheme and every parameter are bitwise equal."""
        return (
            isinstance(other, QTensor)
            and self._dtype == other._dtype
            and self._qscheme == other._qscheme
            and self._axis == other._axis
            and _bit_pattern(self._scale) == _bit_pattern(other._scale)
            and _bit_pattern(self._zero_point) == _bit_pattern(other._zero_point)
            and _bit_pattern(self._codes) == _bit_pattern(other._codes)
        )

    def __repr__(self) -> str:
        if self.is_per_channel:
            params = f"axis={self._axis}, scales={self._scale.tolist()}, zero_points={self._zero_point.tolist()}"
        else:
            params = f"scale={self._scale!r}, zero_point={self._zero_point}"
        return f"QTensor(shape={self.shape}, dtype={self._dtype}, {self._qscheme}, {params})"


def _bit_pattern(value: object) -> tuple[str, tuple[int, ...], bytes]:
    array = np.asarray(value)
    return array.dtype.str, array.shape, array.tobytes()
