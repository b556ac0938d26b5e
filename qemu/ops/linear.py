"""Static int8 linear (``quantized::linear``, ``quantized::linear_relu``) and the GEMM
machinery the convolutions share: weight preparation (prepack), accumulation with the
zero-point corrections, requantization -- as torch 2.13 computes them on fbgemm and
qnnpack.

The arithmetic, per engine (``docs/numerics/linear.md`` has the sources and tests):

* fbgemm: ``acc = raw - za * col_offsets[n] - row_offsets[m] * zw[n]`` in wrapping
  int32, where ``raw = sum_k a[m, k] w[n, k]`` on raw uint8 activations and int8
  weights -- exact on VNNI (``fbgemm``), int16 pair-saturated on AVX2 / AVX512
  (``fbgemm-avx2``, ``fbgemm-avx512``); then
  :func:`qemu.numerics.requantize.requantize_fbgemm` with the float bias.
* qnnpack: ``acc = qbias[n] + sum_k (a - za)(w + 128 - (zw + 128))``, exact, with the
  bias quantized to int32 at the input scale; then
  :func:`qemu.numerics.requantize.requantize_qnnpack`.

The weight preparation is reusable (dynamic linear builds on it): :func:`prepack_fbgemm`
and :func:`prepack_qnnpack` return what torch's prepack keeps, cached per weight
QTensor (QTensors are immutable), so a model's weights are prepared once.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from functools import cached_property, partial
from typing import Any

import numpy as np

from qemu import dispatch
from qemu.dtypes import PER_CHANNEL_AFFINE, PER_TENSOR_AFFINE, QINT8, QUINT8
from qemu.engines import Engine
from qemu.numerics.float32 import wrap_i32
from qemu.numerics.int8gemm import (
    BlasWeights,
    blas_weights,
    gemm_u8s8_exact,
    gemm_u8s8_pair_saturated,
)
from qemu.numerics.requantize import (
    fbgemm_requantization_params,
    qnnpack_requantization_scales,
    quantize_bias_qnnpack,
    requantize_fbgemm,
    requantize_qnnpack,
)
from qemu.qtensor import QTensor, check_scale, check_zero_point
from qemu.quantize import check_float_input

# -- validation shared with the convolutions ------------------------------------------


def check_activation(input: object, argument: str = "input") -> QTensor:
    """A per-tensor quint8 QTensor: the only activation fbgemm and qnnpack take (torch
    sends qnnpack's qint8 activations to XNNPACK, which qemu does not emulate)."""
    if not isinstance(input, QTensor):
        raise TypeError(f"{argument}: expected a QTensor, got {type(input).__name__}")
    if input.dtype != QUINT8:
        raise TypeError(
            f"{argument}: expected a quint8 QTensor, got {input.dtype} (torch's fbgemm and "
            "qnnpack kernels take quint8 activations only)"
        )
    if input.qscheme() != PER_TENSOR_AFFINE:
        raise ValueError(
            f"{argument}: expected a per-tensor quantized QTensor, got {input.qscheme()}"
        )
    return input


def check_weight(weight: object, ndim: int, channel_axis: int = 0) -> QTensor:
    """A qint8 QTensor of ``ndim`` dimensions, per-tensor or per-channel along
    ``channel_axis`` (the output channels)."""
    if not isinstance(weight, QTensor):
        raise TypeError(f"weight: expected a QTensor, got {type(weight).__name__}")
    if weight.dtype != QINT8:
        raise TypeError(f"weight: expected a qint8 QTensor, got {weight.dtype} (torch refuses it)")
    if weight.ndim != ndim:
        raise ValueError(f"weight: expected {ndim} dimensions, got shape {weight.shape}")
    if weight.qscheme() not in (PER_TENSOR_AFFINE, PER_CHANNEL_AFFINE):
        raise ValueError(
            f"weight: expected per-tensor or per-channel affine quantization, got {weight.qscheme()}"
        )
    if weight.is_per_channel and weight.q_per_channel_axis() != channel_axis:
        raise ValueError(
            f"weight: per-channel weights must be quantized along axis {channel_axis} (the output "
            f"channels), got axis {weight.q_per_channel_axis()} (torch would read the scales of "
            "the wrong axis, past their end)"
        )
    return weight


def check_bias(bias: object, channels: int) -> np.ndarray | None:
    """``None`` or a float32 vector with one value per output channel."""
    if bias is None:
        return None
    array = check_float_input(bias, "bias")
    if array.shape != (channels,):
        raise ValueError(
            f"bias: expected a 1-D float32 array of {channels} values (one per output channel), "
            f"got shape {array.shape}"
        )
    return array


def check_output_qparams(scale: object, zero_point: object) -> tuple[float, int]:
    """The output's scale (finite, > 0) and quint8 zero point."""
    return check_scale(scale), check_zero_point(zero_point, QUINT8)


def output_qtensor(codes: np.ndarray, scale: float, zero_point: int) -> QTensor:
    """The quint8 result (codes already in range)."""
    return QTensor(codes, QUINT8, PER_TENSOR_AFFINE, scale, zero_point, None)


# -- weight preparation ---------------------------------------------------------------

_PREPACKED: dict[tuple[int, Hashable], tuple[weakref.ref, Any]] = {}


def cached_prepack(weight: QTensor, key: Hashable, build: Callable[[], Any]) -> Any:
    """``build()``, computed once per live weight QTensor and ``key``.

    QTensors are immutable, so what is derived from one stays valid while it lives; the
    entry holds the QTensor weakly and goes when it does. An id can be reused by a new
    QTensor once the old one is gone, so a hit also checks the entry's QTensor is this
    one, and a dead entry's callback removes only its own entry, not a newer one that
    took over its id.
    """
    entry_key = (id(weight), key)
    entry = _PREPACKED.get(entry_key)
    if entry is not None and entry[0]() is weight:
        return entry[1]
    value = build()
    reference = weakref.ref(weight, partial(_forget_prepacked, entry_key))
    _PREPACKED[entry_key] = (reference, value)
    return value


def _forget_prepacked(entry_key: tuple[int, Hashable], reference: weakref.ref) -> None:
    entry = _PREPACKED.get(entry_key)
    if entry is not None and entry[0] is reference:
        del _PREPACKED[entry_key]


def weight_qparams(weight: QTensor, channels: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """``(scales, zero_points, per_channel)`` with one double scale and int64 zero point
    per output channel (a per-tensor weight's repeated)."""
    if weight.is_per_channel:
        return weight.q_per_channel_scales(), weight.q_per_channel_zero_points(), True
    scales = np.full(channels, weight.q_scale(), dtype=np.float64)
    return scales, np.full(channels, weight.q_zero_point(), dtype=np.int64), False


@dataclass(frozen=True, eq=False)
class FbgemmPackedWeight:
    """What torch's fbgemm prepack keeps (``qlinear_prepack.cpp:
    PackedLinearWeight::prepack``, ``qconv_prepack.cpp: PackedConvWeight::prepack``).

    Attributes
    ----------
    codes:
        int8 (G, N/G, K): each group's B matrix, one row per output channel in the
        GEMM's reduction order (linear: G = 1, k = input feature).
    scales:
        float32 (N,): the weight scales as the kernel sees them (``(float)q_scale``).
    zero_points:
        int64 (N,).
    per_channel:
        per-channel weights (requantization with ``OUT_CHANNEL`` granularity).
    col_offsets:
        int64 (N,) holding int32 values: ``sum_k w[n, k] - zw[n] * K``
        (``calc_col_offsets_transpose``), with which fbgemm removes the activation
        zero point.
    """

    codes: np.ndarray
    scales: np.ndarray
    zero_points: np.ndarray
    per_channel: bool
    col_offsets: np.ndarray

    @classmethod
    def from_gemm_codes(cls, codes: np.ndarray, weight: QTensor) -> FbgemmPackedWeight:
        """Pack the (G, N/G, K) int8 GEMM matrix of ``weight`` with its qparams."""
        groups, per_group, k_size = codes.shape
        scales, zero_points, per_channel = weight_qparams(weight, groups * per_group)
        sums = codes.sum(axis=-1, dtype=np.int64).reshape(-1)
        col_offsets = wrap_i32(sums - zero_points * k_size).astype(np.int64)
        return cls(codes, scales.astype(np.float32), zero_points, per_channel, col_offsets)

    @property
    def groups(self) -> int:
        return self.codes.shape[0]

    @cached_property
    def blas(self) -> BlasWeights:
        """The float32 copy :func:`qemu.numerics.int8gemm.gemm_u8s8_exact` multiplies by."""
        return blas_weights(self.codes)


def prepack_fbgemm(weight: QTensor) -> FbgemmPackedWeight:
    """fbgemm's prepacked linear weight: the qint8 codes as they are, float32 scales,
    int32 zero points and column offsets. Cached per weight QTensor.

    Examples
    --------
    >>> w = QTensor.per_tensor([[1, 2], [3, -4]], 0.5, 1, "qint8")
    >>> prepack_fbgemm(w).col_offsets.tolist()
    [1, -3]
    """
    weight = check_weight(weight, 2)
    return cached_prepack(
        weight,
        "fbgemm-linear",
        lambda: FbgemmPackedWeight.from_gemm_codes(weight.codes[None], weight),
    )


@dataclass(frozen=True, eq=False)
class QnnpackPackedWeight:
    """What torch's qnnpack path packs (``qlinear.cpp / qconv.cpp:
    PackedLinearWeightsQnnp / PackedConvWeightsQnnp``, ``QnnpackUtils.h:
    make_zero_points_and_scales_tensor``).

    Attributes
    ----------
    codes:
        int8 (G, N/G, K), the GEMM matrix as in :class:`FbgemmPackedWeight`.
    kernel:
        uint8 (G, N/G, K): ``codes + 128``, what qnnpack multiplies by.
    kernel_zero_points:
        uint8 (N,): ``zw + 128``.
    scales:
        float32 (N,): ``(float)`` of the weight scales.
    bias_scales:
        float64 (N,): the double weight scales, which times the input scale quantize
        the bias (:func:`qnnpack_int32_bias`).
    per_channel:
        per-channel weights.
    """

    codes: np.ndarray
    kernel: np.ndarray
    kernel_zero_points: np.ndarray
    scales: np.ndarray
    bias_scales: np.ndarray
    per_channel: bool

    @classmethod
    def from_gemm_codes(cls, codes: np.ndarray, weight: QTensor) -> QnnpackPackedWeight:
        """Pack the (G, N/G, K) int8 GEMM matrix of ``weight`` with its qparams."""
        channels = codes.shape[0] * codes.shape[1]
        scales, zero_points, per_channel = weight_qparams(weight, channels)
        kernel = (codes.astype(np.int16) + 128).astype(np.uint8)
        kernel_zero_points = (zero_points + 128).astype(np.uint8)
        return cls(
            codes, kernel, kernel_zero_points, scales.astype(np.float32), scales, per_channel
        )

    @property
    def zero_points(self) -> np.ndarray:
        """The weight zero points (int64): ``kernel_zero_points - 128``."""
        return self.kernel_zero_points.astype(np.int64) - 128

    @cached_property
    def col_offsets(self) -> np.ndarray:
        """``sum_k w[n, k] - zw[n] * K``: qnnpack's exact accumulation
        ``sum_k (a - za)(w - zw)`` expressed in the raw GEMM sum (int64)."""
        sums = self.codes.sum(axis=-1, dtype=np.int64).reshape(-1)
        return sums - self.zero_points * self.codes.shape[-1]

    @property
    def groups(self) -> int:
        return self.codes.shape[0]

    @cached_property
    def blas(self) -> BlasWeights:
        return blas_weights(self.codes)


def prepack_qnnpack(weight: QTensor) -> QnnpackPackedWeight:
    """qnnpack's packed linear weight: ``w + 128`` as uint8 with kernel zero points
    ``zw + 128``, float32 scales. The int32 bias depends on the input scale and is
    made per call by :func:`qnnpack_int32_bias`. Cached per weight QTensor.

    Examples
    --------
    >>> w = QTensor.per_tensor([[1, -128]], 0.5, -3, "qint8")
    >>> p = prepack_qnnpack(w)
    >>> p.kernel.tolist(), p.kernel_zero_points.tolist()
    ([[[129, 0]]], [125])
    """
    weight = check_weight(weight, 2)
    return cached_prepack(
        weight,
        "qnnpack-linear",
        lambda: QnnpackPackedWeight.from_gemm_codes(weight.codes[None], weight),
    )


def qnnpack_int32_bias(
    packed: QnnpackPackedWeight, bias: np.ndarray | None, input_scale: float
) -> np.ndarray:
    """The int32 bias qnnpack adds to its accumulators: the float bias (zeros when there
    is none) quantized to qint32 with scale ``double(w_scale) * input_scale``
    (``QuantUtils.h: QuantizeBias``). int64 array of int32 values.

    Examples
    --------
    >>> p = prepack_qnnpack(QTensor.per_tensor([[1]], 0.5, 0, "qint8"))
    >>> qnnpack_int32_bias(p, np.float32([1.0]), 0.25).tolist()
    [8]
    """
    channels = packed.bias_scales.shape[0]
    values = np.zeros(channels, dtype=np.float32) if bias is None else bias
    return quantize_bias_qnnpack(values, packed.bias_scales * float(input_scale))


# -- accumulation ---------------------------------------------------------------------


def raw_gemm_sums(columns: np.ndarray, packed, saturating_pairs: bool) -> np.ndarray:
    """``sum_k columns[g, m, k] * codes[g, n, k]`` per group, int64 (G, M, N/G): exact,
    or with fbgemm's int16 pair saturation (pairs (2p, 2p+1) of each group's K)."""
    if not saturating_pairs:
        return gemm_u8s8_exact(columns, packed.codes, packed.blas)
    return np.stack(
        [gemm_u8s8_pair_saturated(columns[g], packed.codes[g]) for g in range(packed.groups)]
    )


def corrected_accumulators(
    raw: np.ndarray, row_offsets: np.ndarray | None, input_zero_point: int, packed
) -> np.ndarray:
    """fbgemm's zero-point corrections in wrapping int32,
    ``raw - za * col_offsets[n] - row_offsets[m] * zw[n]``, with the output channels
    of the groups side by side: (G, M, N/G) int64 raw sums (overwritten) and (G, M) row
    offsets (sums of each group's activation row) give int32 (M, N). With exact raw
    sums this is ``sum_k (a - za)(w - zw)`` modulo 2^32, qnnpack's accumulation too.
    ``row_offsets`` is ``None`` when every weight zero point is 0 (fbgemm skips them).
    """
    groups, rows, per_group = raw.shape
    acc = raw  # updated in place: the caller's raw sums are not needed afterwards
    acc -= int(input_zero_point) * packed.col_offsets.reshape(groups, 1, per_group)
    if row_offsets is not None:
        acc -= row_offsets[:, :, None] * packed.zero_points.reshape(groups, 1, per_group)
    return wrap_i32(acc.transpose(1, 0, 2).reshape(rows, groups * per_group))


def row_sums(columns: np.ndarray, packed) -> np.ndarray | None:
    """The activation row sums fbgemm's A packing computes (``PackAWithRowOffset``),
    int64 (G, M); ``None`` where every weight zero point is 0 and they cannot matter."""
    if not packed.zero_points.any():
        return None
    return columns.sum(axis=-1, dtype=np.int64)


def gemm_accumulators(
    columns: np.ndarray,
    packed,
    input_zero_point: int,
    saturating_pairs: bool,
    raw_sums: Callable = raw_gemm_sums,
) -> np.ndarray:
    """The int32 accumulators (before any int32 bias) of a grouped u8 x s8 GEMM with
    the zero-point corrections: (G, M, K) uint8 columns give int32 (M, N). ``raw_sums``
    computes the raw sums (a backend may pass its own)."""
    raw = raw_sums(columns, packed, saturating_pairs)
    return corrected_accumulators(raw, row_sums(columns, packed), input_zero_point, packed)


# -- requantization -------------------------------------------------------------------


def fbgemm_output(
    acc: np.ndarray,
    packed: FbgemmPackedWeight,
    input_scale: float,
    bias: np.ndarray | None,
    scale: float,
    zero_point: int,
    relu: bool,
) -> np.ndarray:
    """uint8 codes from fbgemm accumulators (output channel last)."""
    act_times_w_scale, multiplier = fbgemm_requantization_params(
        input_scale, packed.scales if packed.per_channel else packed.scales[:1], scale
    )
    return requantize_fbgemm(
        acc,
        act_times_w_scale,
        multiplier,
        bias,
        per_channel=packed.per_channel,
        output_zero_point=zero_point,
        relu=relu,
    )


def qnnpack_output(
    acc: np.ndarray,
    packed: QnnpackPackedWeight,
    input_scale: float,
    scale: float,
    zero_point: int,
    relu: bool,
) -> np.ndarray:
    """uint8 codes from qnnpack accumulators that include the int32 bias. With relu the
    lower clamp is ``QuantizeValue(0.0)``, i.e. the zero point (``activationLimits``)."""
    requantization_scales = qnnpack_requantization_scales(packed.scales, input_scale, scale)
    return requantize_qnnpack(
        acc, requantization_scales, zero_point, zero_point if relu else 0, 255
    )


# -- public entries -------------------------------------------------------------------


def _check_linear(
    input: object,
    weight: object,
    bias: object,
    scale: object,
    zero_point: object,
    engine: str | Engine | None,
    backend: str | None,
) -> tuple:
    input = check_activation(input)
    if input.ndim < 2:
        raise ValueError(
            f"input: expected at least 2 dimensions (..., in_features), got shape {input.shape} "
            "(torch refuses 1-D input)"
        )
    weight = check_weight(weight, 2)
    out_features, in_features = weight.shape
    if input.shape[-1] != in_features:
        raise ValueError(
            f"input: expected {in_features} features in the last dimension (weight shape "
            f"{weight.shape}), got shape {input.shape}"
        )
    bias = check_bias(bias, out_features)
    scale, zero_point = check_output_qparams(
        input.q_scale() if scale is None else scale,
        input.q_zero_point() if zero_point is None else zero_point,
    )
    context, _ = dispatch.resolve(engine, backend)
    if context.engine.is_fbgemm and in_features == 0:
        raise ValueError(
            "weight: in_features = 0 is refused: torch's fbgemm linear then returns "
            "uninitialized memory"
        )
    if context.engine.is_qnnpack:
        if out_features == 0:
            raise ValueError(
                "weight: out_features = 0 is refused: torch's qnnpack linear crashes (SIGFPE) on it"
            )
        scales = weight_qparams(weight, out_features)[0].astype(np.float32)
        qnnpack_requantization_scales(scales, input.q_scale(), scale)
    return input, weight, bias, scale, zero_point


def linear(
    input: QTensor,
    weight: QTensor,
    bias: np.ndarray | None = None,
    scale: float | None = None,
    zero_point: int | None = None,
    *,
    engine: str | None = None,
    backend: str | None = None,
) -> QTensor:
    """Quantized linear, as ``torch.ao.nn.quantized.functional.linear`` /
    ``quantized::linear`` compute it: ``y = x W^T + b`` requantized to quint8.

    Parameters
    ----------
    input : QTensor
        quint8, per-tensor, shape (..., in_features).
    weight : QTensor
        qint8, shape (out_features, in_features); per-tensor, or per-channel along
        axis 0; any zero point.
    bias : ndarray of float32, optional
        One value per output feature.
    scale, zero_point : float, int, optional
        The output's quantization; default: the input's (as torch's functional).
    engine, backend : str, optional
        Defaults from :func:`qemu.use` / ``QEMU_ENGINE`` / ``QEMU_BACKEND``.

    Examples
    --------
    >>> import numpy as np, qemu
    >>> x = qemu.QTensor.per_tensor([[130, 120]], 0.5, 128, "quint8")
    >>> w = qemu.QTensor.per_tensor([[10, -20]], 0.1, 0, "qint8")
    >>> qemu.ops.linear(x, w, np.float32([0.5]), 0.25, 100).int_repr().tolist()
    [[138]]
    """
    return _linear(input, weight, bias, scale, zero_point, False, engine, backend)


def linear_relu(
    input: QTensor,
    weight: QTensor,
    bias: np.ndarray | None = None,
    scale: float | None = None,
    zero_point: int | None = None,
    *,
    engine: str | None = None,
    backend: str | None = None,
) -> QTensor:
    """:func:`linear` fused with relu (``quantized::linear_relu``): outputs below the
    zero point are clamped to it.

    Examples
    --------
    >>> import numpy as np, qemu
    >>> x = qemu.QTensor.per_tensor([[130, 120]], 0.5, 128, "quint8")
    >>> w = qemu.QTensor.per_tensor([[-10, 20]], 0.1, 0, "qint8")
    >>> qemu.ops.linear_relu(x, w, None, 0.25, 100).int_repr().tolist()
    [[100]]
    """
    return _linear(input, weight, bias, scale, zero_point, True, engine, backend)


def _linear(input, weight, bias, scale, zero_point, relu, engine, backend) -> QTensor:
    args = _check_linear(input, weight, bias, scale, zero_point, engine, backend)
    return dispatch.call("linear", *args, relu, engine=engine, backend=backend)


# -- kernels ---------------------------------------------------------------------------


@dataclass(frozen=True)
class GemmSteps:
    """The compute steps of a quantized GEMM or convolution that a backend supplies; the
    arithmetic around them (prepack, zero-point corrections, int32 bias, kernel choice)
    is shared. :data:`REFERENCE_STEPS` are the NumPy reference's.

    Attributes
    ----------
    raw_sums:
        ``(columns (G, M, K) uint8, packed, saturating_pairs) -> int64 (G, M, N/G)``, as
        :func:`raw_gemm_sums`.
    fbgemm_output, qnnpack_output:
        the requantizations, as :func:`fbgemm_output` and :func:`qnnpack_output`.
    """

    raw_sums: Callable
    fbgemm_output: Callable
    qnnpack_output: Callable


REFERENCE_STEPS = GemmSteps(raw_gemm_sums, fbgemm_output, qnnpack_output)


def run_linear(
    steps: GemmSteps,
    ctx: dispatch.Context,
    input: QTensor,
    weight: QTensor,
    bias: np.ndarray | None,
    scale: float,
    zero_point: int,
    relu: bool,
) -> QTensor:
    """The linear kernel on validated arguments, with a backend's compute steps."""
    out_features, in_features = weight.shape
    columns = input.codes.reshape(1, int(np.prod(input.shape[:-1])), in_features)
    za = input.q_zero_point()
    if ctx.engine.is_qnnpack:
        packed = prepack_qnnpack(weight)
        acc = gemm_accumulators(columns, packed, za, False, steps.raw_sums)
        acc = wrap_i32(acc + qnnpack_int32_bias(packed, bias, input.q_scale()))
        codes = steps.qnnpack_output(acc, packed, input.q_scale(), scale, zero_point, relu)
    else:
        packed = prepack_fbgemm(weight)
        saturating = ctx.engine.saturating_int8_gemm
        acc = gemm_accumulators(columns, packed, za, saturating, steps.raw_sums)
        codes = steps.fbgemm_output(acc, packed, input.q_scale(), bias, scale, zero_point, relu)
    return output_qtensor(codes.reshape(input.shape[:-1] + (out_features,)), scale, zero_point)


@dispatch.reference("linear")
def _linear_reference(ctx: dispatch.Context, *args) -> QTensor:
    return run_linear(REFERENCE_STEPS, ctx, *args)
