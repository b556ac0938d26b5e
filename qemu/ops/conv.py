"""Static int8 convolutions: ``conv{1,2,3}d[_relu]`` and ``conv_transpose{1,2,3}d``, as
torch 2.13 computes them on fbgemm and qnnpack.

Every convolution is a grouped u8 x s8 GEMM of "columns" (the activations each output
position sees, im2col) with the weights, followed by the requantization of
:mod:`qemu.ops.linear`. What differs between the kernels torch can pick is which
products fbgemm sums in saturating int16 pairs (``docs/numerics/conv.md``):

==============  ===========================================================================
im2col /        reduction index ``k = tap * IC/G + ic`` (taps in raster order, ic fastest),
pointwise /     out-of-image taps read the activation zero point; pairs (2p, 2p+1) of each
groupwise       group's k saturate on AVX2 / AVX512, exact on VNNI
depthwise       taps paired (2p, 2p+1) per channel, int16-saturated on every host; the
                activation sums are kept in saturating int16
directconv      ConvTranspose2d with a 2 x k kernel: input-channel pairs saturate on every
                host, and torch's kernel ignores the row stride (a defect, reproduced)
qnnpack         exact accumulation of (a - za)(w - zw) for every kernel
==============  ===========================================================================

conv1d runs as conv2d with a height of 1, as torch runs it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from qemu import dispatch
from qemu.engines import Engine
from qemu.numerics.float32 import wrap_i32
from qemu.numerics.int8gemm import gemm_u8s8_pair_saturated
from qemu.numerics.requantize import (
    qnnpack_requantization_scales,
    requantize_qnnpack_dwconv3d,
)
from qemu.ops.linear import (
    REFERENCE_STEPS,
    FbgemmPackedWeight,
    GemmSteps,
    QnnpackPackedWeight,
    cached_prepack,
    check_activation,
    check_bias,
    check_output_qparams,
    check_weight,
    fbgemm_output,
    gemm_accumulators,
    output_qtensor,
    qnnpack_int32_bias,
    weight_qparams,
)
from qemu.qtensor import QTensor

# fbgemm's depthwise kernel keeps the activation sums (row offsets) in int16 with
# saturating adds (GenerateI8Depthwise.cc: genMaddEpi16xNPacked, vpaddsw).
_INT16_MAX = 32767

PADDING_MODES = ("zeros", "reflect")

# -- geometry -------------------------------------------------------------------------


@dataclass(frozen=True)
class ConvGeometry:
    """A convolution's hyper-parameters as the kernels see them: conv1d already
    rewritten as a 2-D convolution of height 1. Tuples hold one value per spatial
    dimension (2 or 3 of them)."""

    transposed: bool
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    output_padding: tuple[int, ...]
    dilation: tuple[int, ...]
    groups: int

    @property
    def spatial_dims(self) -> int:
        return len(self.stride)

    def output_size(self, input_size: Sequence[int], kernel: Sequence[int], *, c_division: bool):
        """The output's spatial size. Forward: ``(S + 2p - d(K-1) - 1) / s + 1`` where
        ``c_division`` truncates toward zero like fbgemm's ``conv_param_t`` (so an input
        smaller than the kernel can still give one output), else floors."""
        sizes = []
        for d in range(self.spatial_dims):
            if self.transposed:
                size = (
                    (input_size[d] - 1) * self.stride[d]
                    - 2 * self.padding[d]
                    + self.dilation[d] * (kernel[d] - 1)
                    + self.output_padding[d]
                    + 1
                )
            else:
                span = input_size[d] + 2 * self.padding[d] - self.dilation[d] * (kernel[d] - 1) - 1
                quotient = int(span / self.stride[d]) if c_division else span // self.stride[d]
                size = quotient + 1
            sizes.append(size)
        return tuple(sizes)

    def input_indices(self, d: int, input_size: int, output_size: int, kernel: int) -> np.ndarray:
        """For spatial dimension ``d``: the input index each (output, tap) reads, shape
        (output_size, kernel); ``input_size`` (one past the end) where the tap falls
        outside the image and reads the activation zero point instead.

        Forward: ``i = o * s - p + k * dil``. Transposed (fbgemm's transposed im2col
        over the unflipped kernel): ``i = (o + p - k * dil) / s`` where that divides.
        """
        o = np.arange(output_size)[:, None]
        k = np.arange(kernel)[None, :]
        if self.transposed:
            numerator = o + self.padding[d] - k * self.dilation[d]
            index, remainder = np.divmod(numerator, self.stride[d])
            valid = (remainder == 0) & (index >= 0) & (index < input_size)
        else:
            index = o * self.stride[d] - self.padding[d] + k * self.dilation[d]
            valid = (index >= 0) & (index < input_size)
        return np.where(valid, index, input_size)


def padded_channels_last(x: np.ndarray, zero_point: int, before, after) -> np.ndarray:
    """Activations (N, C, *S) as (N, *S', C) uint8 with ``before[d]`` / ``after[d]``
    entries of ``zero_point`` around spatial dimension ``d``: what out-of-image taps
    read (``PackAWithIm2Col`` fills them with the activation zero point)."""
    batch, channels = x.shape[:2]
    spatial = x.shape[2:]
    shape = tuple(s + b + a for s, b, a in zip(spatial, before, after, strict=True))
    padded = np.full((batch, *shape, channels), zero_point, dtype=np.uint8)
    inner = tuple(slice(b, b + s) for s, b in zip(spatial, before, strict=True))
    padded[(slice(None), *inner)] = np.moveaxis(x, 1, -1)
    return padded


def tap_views(padded: np.ndarray, geometry: ConvGeometry, kernel, output_size, *,
              channels_first: bool = False):  # fmt: skip
    """For a forward convolution over :func:`padded_channels_last` activations: each tap's
    (N, *O, C) view of what the output positions read, taps in raster order. With
    ``channels_first``, over (N, C, *S') activations: (N, C, *O) views."""
    leading = (slice(None),) * (2 if channels_first else 1)
    for offsets in itertools.product(*(range(k) for k in kernel)):
        window = tuple(
            slice(k * d, k * d + s * (o - 1) + 1, s)
            for k, d, s, o in zip(
                offsets, geometry.dilation, geometry.stride, output_size, strict=True
            )
        )
        yield padded[(*leading, *window)]


def forward_padding(geometry: ConvGeometry, spatial, kernel, output_size):
    """(before, after) zero-point padding a forward convolution reads: the padding, and
    past the end whatever the output size reaches (fbgemm's truncated output size can
    reach past the padding)."""
    after = tuple(
        max(p, (o - 1) * s + (k - 1) * d + 1 - size - p)
        for p, s, k, d, size, o in zip(
            geometry.padding, geometry.stride, kernel, geometry.dilation, spatial, output_size,
            strict=True,
        )
    )  # fmt: skip
    return geometry.padding, after


def gather_columns(x: np.ndarray, zero_point: int, geometry: ConvGeometry, kernel, output_size):
    """im2col: for activations ``x`` (N, C, *S) uint8, the (N * P, T, C) uint8 array of
    what each of the P output positions sees through each of the T taps (raster
    order), out-of-image taps holding ``zero_point``."""
    batch, channels = x.shape[:2]
    spatial = x.shape[2:]
    positions, taps = batch * int(np.prod(output_size)), int(np.prod(kernel))
    if not geometry.transposed:
        before, after = forward_padding(geometry, spatial, kernel, output_size)
        padded = padded_channels_last(x, zero_point, before, after)
        columns = np.empty((batch, *output_size, taps, channels), dtype=np.uint8)
        for t, view in enumerate(tap_views(padded, geometry, kernel, output_size)):
            columns[..., t, :] = view
        return columns.reshape(positions, taps, channels)
    padded = padded_channels_last(x, zero_point, (0,) * len(spatial), (1,) * len(spatial))
    dims = geometry.spatial_dims
    indices = []
    for d in range(dims):
        index = geometry.input_indices(d, spatial[d], output_size[d], kernel[d])
        shape = [1] * (2 * dims)
        shape[d], shape[dims + d] = index.shape
        indices.append(index.reshape(shape))
    return padded[(slice(None), *indices)].reshape(positions, taps, channels)


def grouped_columns(columns: np.ndarray, groups: int) -> np.ndarray:
    """(M, T, C) columns as each group's GEMM operand (G, M, T * C/G): k = tap * C/G + ic."""
    rows, taps, channels = columns.shape
    if groups == 1:
        return columns.reshape(1, rows, taps * channels)
    per_group = channels // groups
    split = columns.reshape(rows, taps, groups, per_group).transpose(2, 0, 1, 3)
    return np.ascontiguousarray(split).reshape(groups, rows, taps * per_group)


def gemm_weight_codes(weight: QTensor, groups: int, transposed: bool) -> np.ndarray:
    """The weight's int8 codes as each group's B matrix (G, OC/G, T * IC/G), in the
    reduction order of :func:`grouped_columns` (what fbgemm's
    ``ConvertConvWeightsToChannelLastTensor`` lays out and qnnpack packs)."""
    codes = weight.codes
    taps = int(np.prod(codes.shape[2:]))
    if transposed:  # (IC, OC/G, *K)
        in_per_group = codes.shape[0] // groups
        grouped = codes.reshape(groups, in_per_group, codes.shape[1], taps).transpose(0, 2, 3, 1)
    else:  # (OC, IC/G, *K)
        out_per_group = codes.shape[0] // groups
        grouped = codes.reshape(groups, out_per_group, codes.shape[1], taps).transpose(0, 1, 3, 2)
    return np.ascontiguousarray(grouped).reshape(grouped.shape[0], grouped.shape[1], -1)


def qnnpack_dwconv3d(
    geometry: ConvGeometry, in_channels: int, out_channels: int, kernel: Sequence[int]
) -> bool:
    """Whether torch's qnnpack conv runs its 3x3x3 depthwise kernel (``qconv.cpp``:
    ``has_depthwise_dimensions`` and ``has_depthwise_grouping``): not transposed, a
    3x3x3 kernel, one input and one output channel per group, more than one group.

    Examples
    --------
    >>> geometry = ConvGeometry(False, (1, 1, 1), (1, 1, 1), (0, 0, 0), (1, 1, 1), 4)
    >>> qnnpack_dwconv3d(geometry, 4, 4, (3, 3, 3)), qnnpack_dwconv3d(geometry, 4, 8, (3, 3, 3))
    (True, False)
    """
    groups = geometry.groups
    return (
        not geometry.transposed
        and tuple(kernel) == (3, 3, 3)
        and groups > 1
        and in_channels == groups
        and out_channels == groups
    )


# -- fbgemm's choice of kernel --------------------------------------------------------


def fbgemm_conv_path(
    geometry: ConvGeometry,
    in_channels: int,
    out_channels: int,
    kernel: Sequence[int],
    vector_bytes: int = 64,
) -> str:
    """The kernel ``fbgemm/src/FbgemmConv.cc: ConvFastPath`` picks: ``"depthwise"``,
    ``"groupwise"``, ``"pointwise"``, ``"directconv"`` or ``"im2col"``.

    ``vector_bytes`` is the host's vector width (64 with AVX512, 32 with AVX2 only),
    which sets how many groups the groupwise kernel handles together
    (``PackWeightMatrixForGConv::numOfGroupsTogether``) and so whether it is taken.

    Examples
    --------
    >>> g = ConvGeometry(False, (1, 1), (1, 1), (0, 0), (1, 1), 32)
    >>> fbgemm_conv_path(g, 32, 32, (3, 3))
    'depthwise'
    """
    dims = geometry.spatial_dims
    g = geometry.groups
    if (
        not geometry.transposed
        and g == in_channels
        and out_channels in (g, 2 * g)
        and g % 8 == 0
        and all(s in (1, 2) for s in geometry.stride)
        and kernel[-2] == kernel[-1]
        and all(k in (3, 5, 7) for k in kernel)
        and all(d == 1 for d in geometry.dilation)
        and all(p == (k - 1) // 2 for p, k in zip(geometry.padding, kernel, strict=True))
    ):
        return "depthwise"
    in_per_group, out_per_group = in_channels // g, out_channels // g
    together = max(vector_bytes // out_per_group // max(in_per_group, 4), 1)
    planar_strides = geometry.stride[dims - 2 :]
    if (
        not geometry.transposed
        and in_per_group == out_per_group
        and in_per_group in (2, 4, 8, 16)
        and g >= together
        and all(k == 3 for k in kernel)
        and all(p == 1 for p in geometry.padding)
        and all(d == 1 for d in geometry.dilation)
        and (all(s == 1 for s in planar_strides) or all(s == 2 for s in planar_strides))
    ):
        return "groupwise"
    if (
        not geometry.transposed
        and all(k == 1 for k in kernel)
        and all(s == 1 for s in geometry.stride)
        and all(d == 1 for d in geometry.dilation)
        and all(p == 0 for p in geometry.padding)
    ):
        return "pointwise"
    if (
        geometry.transposed
        and dims == 2
        and g == 1
        and in_channels % 8 == 0
        and out_channels % 8 == 0
        and all(s in (1, 2) for s in geometry.stride)
        and kernel[0] == 2
        and kernel[1] <= 6
        and all(d == 1 for d in geometry.dilation)
        and all(p == 0 for p in geometry.padding)
    ):
        return "directconv"
    return "im2col"


# -- accumulation per kernel ----------------------------------------------------------


def depthwise_accumulators(
    x: np.ndarray,
    packed: FbgemmPackedWeight,
    input_zero_point: int,
    geometry: ConvGeometry,
    kernel,
    output_size,
) -> np.ndarray:
    """fbgemm's depthwise kernel (``GenerateI8Depthwise.cc``; every host runs its AVX2
    code): per output channel ``oc`` reading input channel ``c = oc // m``
    (``m = OC / C``, 1 or 2), the taps are taken in raster order two at a time and
    each pair's products are added in saturating int16 (``vpmaddubsw``; an odd last
    tap pairs with zero); the activation sums over the taps saturate at 32,767
    (``vpaddsw``). Out-of-image taps read the zero point. ``x`` (N, C, *S) gives int32
    (N * P, OC).

    The pair sums and their total are exact in float32 (below 2^24) and taken over the
    activations as they are laid out, channels first, so that each step is one pass
    over contiguous rows.
    """
    batch, channels = x.shape[:2]
    before, after = forward_padding(geometry, x.shape[2:], kernel, output_size)
    padding = [(0, 0), (0, 0), *zip(before, after, strict=True)]
    padded = np.pad(x, padding, constant_values=input_zero_point).astype(np.float32)
    taps = list(tap_views(padded, geometry, kernel, output_size, channels_first=True))
    codes = packed.codes.reshape(channels, -1, len(taps))  # (C, m, T): oc = c * m + j
    multiplier = codes.shape[1]
    # Per tap, (C, m, 1, ..., 1): broadcast over the output positions of each channel.
    weights = np.moveaxis(codes, -1, 0).astype(np.float32)
    weights = weights.reshape(weights.shape + (1,) * len(output_size))
    raw = np.zeros((batch, channels, multiplier, *output_size), dtype=np.float32)
    pair = np.empty_like(raw)
    product = np.empty_like(raw)
    for first in range(0, len(taps), 2):
        np.multiply(taps[first][:, :, None], weights[first], out=pair)
        if first + 1 < len(taps):  # an odd last tap pairs with zero
            np.multiply(taps[first + 1][:, :, None], weights[first + 1], out=product)
            pair += product
        raw += np.clip(pair, -32768, 32767, out=pair)
    # The rest in int32, which wraps as the kernel's int32 arithmetic does; channels last.
    positions = int(np.prod(output_size))
    acc = np.moveaxis(raw.reshape(batch, channels * multiplier, positions), 1, -1)
    acc = acc.astype(np.int32, order="C").reshape(-1, channels * multiplier)
    acc -= wrap_i32(int(input_zero_point) * packed.col_offsets)
    if packed.zero_points.any():
        sums = np.minimum(sum(taps), _INT16_MAX).astype(np.int32)  # (N, C, *O)
        sums = np.moveaxis(sums.reshape(batch, channels, positions), 1, -1).reshape(-1, channels)
        acc -= np.repeat(sums, multiplier, axis=1) * wrap_i32(packed.zero_points)
    return acc


def directconv_accumulators(
    x: np.ndarray,
    packed: FbgemmPackedWeight,
    weight: QTensor,
    input_zero_point: int,
    geometry: ConvGeometry,
    output_size: tuple[int, int],
) -> np.ndarray:
    """fbgemm's direct ConvTranspose2d (``PackWeightsForDirectConv.cc: fbgemmDirectConv``
    and its AVX2 JIT kernel, used on every host), image 0 only, as torch 2.13 runs it:

    * input row ``ih`` is written to output rows ``ih + kh``: the kernel ignores the
      row stride (columns use the real stride, ``iw * stride_w + kw``);
    * each (pixel, tap) dot product over the input channels adds channel pairs
      (2p, 2p+1) in saturating int16 (``vpmaddubsw``);
    * the activation sums (``directConvRowSum``) use the same wrong row placement,
      but the zero-point column offsets
      (``col_offsets_with_zero_pt_s8acc32_DirectConvT``) use the true strides.

    ``x`` (1, IC, H, W) uint8; gives int32 (OH * OW, OC).
    """
    _, in_channels, height, width = x.shape
    kernel_h, kernel_w = weight.shape[2:]
    out_channels = weight.shape[1]
    out_h, out_w = output_size
    stride_h, stride_w = geometry.stride
    pixels = np.moveaxis(x[0], 0, -1).reshape(height * width, in_channels)
    pixel_sums = pixels.sum(axis=1, dtype=np.int64).reshape(height, width)
    codes = weight.codes.astype(np.int8)  # (IC, OC, KH, KW)
    raw = np.zeros((out_h, out_w, out_channels), dtype=np.int64)
    row_sums = np.zeros((out_h, out_w), dtype=np.int64)
    col_offsets = np.zeros((out_h, out_w, out_channels), dtype=np.int64)
    hits = np.zeros((out_h, out_w), dtype=np.int64)
    columns = np.arange(width) * stride_w
    for kh, kw in itertools.product(range(kernel_h), range(kernel_w)):
        tap = np.ascontiguousarray(codes[:, :, kh, kw].T)  # (OC, IC)
        sums = gemm_u8s8_pair_saturated(pixels, tap).reshape(height, width, out_channels)
        raw[kh : kh + height, columns + kw] += sums
        row_sums[kh : kh + height, columns + kw] += pixel_sums
        true_rows = np.arange(height) * stride_h + kh
        col_offsets[true_rows[:, None], columns[None, :] + kw] += tap.sum(axis=1, dtype=np.int64)
        hits[true_rows[:, None], columns[None, :] + kw] += in_channels
    zero_points = packed.zero_points  # per-tensor: transposed per-channel is refused
    col_offsets = wrap_i32(col_offsets - zero_points * hits[:, :, None])
    acc = raw - int(input_zero_point) * col_offsets - row_sums[:, :, None] * zero_points
    return wrap_i32(acc.reshape(out_h * out_w, out_channels))


# -- prepack --------------------------------------------------------------------------


def prepack_fbgemm_conv(weight: QTensor, groups: int, transposed: bool) -> FbgemmPackedWeight:
    """fbgemm's prepacked convolution weight (``PackedConvWeight::prepack``): the GEMM
    matrix of :func:`gemm_weight_codes` with float32 scales, zero points and column
    offsets over ``T * IC/G``. Cached per weight QTensor."""
    return cached_prepack(
        weight,
        ("fbgemm-conv", groups, transposed),
        lambda: FbgemmPackedWeight.from_gemm_codes(
            gemm_weight_codes(weight, groups, transposed), weight
        ),
    )


def prepack_qnnpack_conv(weight: QTensor, groups: int, transposed: bool) -> QnnpackPackedWeight:
    """qnnpack's packed convolution weight (``PackedConvWeightsQnnp``): ``w + 128`` as
    uint8 with kernel zero points ``zw + 128`` and float32 scales. Cached per weight."""
    return cached_prepack(
        weight,
        ("qnnpack-conv", groups, transposed),
        lambda: QnnpackPackedWeight.from_gemm_codes(
            gemm_weight_codes(weight, groups, transposed), weight
        ),
    )


# -- validation -----------------------------------------------------------------------


def _int_tuple(value: object, dims: int, argument: str, minimum: int) -> tuple[int, ...]:
    items = (value,) * dims if isinstance(value, (int, np.integer)) else value
    try:
        items = tuple(items)
    except TypeError:
        raise TypeError(f"{argument}: expected an int or {dims} ints, got {value!r}") from None
    if len(items) != dims or not all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in items
    ):
        raise ValueError(f"{argument}: expected an int or {dims} ints, got {value!r}")
    if any(v < minimum for v in items):
        raise ValueError(f"{argument}: expected values >= {minimum}, got {value!r}")
    return tuple(int(v) for v in items)


def _as_2d(dims: int, values: tuple[int, ...], filler: int) -> tuple[int, ...]:
    """conv1d's parameters as torch's conv2d sees them (height 1 first)."""
    return (filler, *values) if dims == 1 else values


def _reflect_pad(input: QTensor, padding: tuple[int, ...]) -> QTensor:
    """What ``nn.quantized.ConvNd`` does for ``padding_mode="reflect"``: pad the
    quantized input with ``F.pad(mode="reflect")`` (the codes are copied) and run the
    convolution with zero padding."""
    spatial = input.shape[2:]
    for d, (pad, size) in enumerate(zip(padding, spatial, strict=True)):
        if pad >= size:
            raise ValueError(
                f"padding: reflect padding {pad} must be smaller than the input's size {size} "
                f"in spatial dimension {d} (torch refuses it)"
            )
    widths = ((0, 0), (0, 0)) + tuple((p, p) for p in padding)
    padded = np.pad(input.codes, widths, mode="reflect")
    return QTensor.per_tensor(padded, input.q_scale(), input.q_zero_point(), input.dtype)


def _check_conv(
    dims: int,
    transposed: bool,
    input: object,
    weight: object,
    bias: object,
    stride: object,
    padding: object,
    output_padding: object,
    dilation: object,
    groups: object,
    padding_mode: str,
    scale: object,
    zero_point: object,
    engine: str | Engine | None,
    backend: str | None,
) -> tuple:
    name = f"conv_transpose{dims}d" if transposed else f"conv{dims}d"
    input = check_activation(input)
    if input.ndim != dims + 2:
        raise ValueError(
            f"input: {name} expects {dims + 2} dimensions (N, C, {'spatial, ' * dims}), got shape "
            f"{input.shape}"
        )
    context, _ = dispatch.resolve(engine, backend)
    weight = _check_conv_weight(weight, dims, transposed, context.engine)
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"groups: expected an int >= 1, got {groups!r}")
    groups = int(groups)
    stride = _int_tuple(stride, dims, "stride", 1)
    padding = _int_tuple(padding, dims, "padding", 0)
    output_padding = _int_tuple(output_padding, dims, "output_padding", 0)
    dilation = _int_tuple(dilation, dims, "dilation", 1)
    in_channels = input.shape[1]
    if transposed:
        out_channels = weight.shape[1] * groups
        expected_in = weight.shape[0]
    else:
        out_channels = weight.shape[0]
        expected_in = weight.shape[1] * groups
    if weight.shape[0] % groups:
        raise ValueError(
            f"groups: {groups} does not divide the weight's first dimension {weight.shape[0]}"
        )
    if in_channels != expected_in:
        raise ValueError(
            f"input: expected {expected_in} channels for weight of shape {weight.shape} and "
            f"groups={groups}, got {in_channels}"
        )
    if in_channels == 0 or out_channels == 0:
        raise ValueError(
            f"weight: {name} with no input or output channels is refused (torch's fbgemm then "
            "returns uninitialized memory and qnnpack crashes)"
        )
    if padding_mode not in PADDING_MODES:
        raise ValueError(
            f"padding_mode: expected 'zeros' or 'reflect', got {padding_mode!r} (torch has no "
            "quantized 'replicate' / 'circular' padding: F.pad fails on quantized tensors)"
        )
    if padding_mode == "reflect":
        if transposed or dims == 3:
            raise ValueError(
                f"padding_mode: 'reflect' is not available for {name} (torch has no quantized "
                "reflection_pad3d, and ConvTranspose takes only zero padding)"
            )
        input = _reflect_pad(input, padding)
        padding = (0,) * dims
    bias = check_bias(bias, out_channels)
    scale, zero_point = check_output_qparams(scale, zero_point)
    geometry = ConvGeometry(
        transposed,
        _as_2d(dims, stride, 1),
        _as_2d(dims, padding, 0),
        _as_2d(dims, output_padding, 0),
        _as_2d(dims, dilation, 1),
        groups,
    )
    kernel = _as_2d(dims, weight.shape[2:], 1)
    spatial = _as_2d(dims, input.shape[2:], 1)
    is_fbgemm = context.engine.is_fbgemm
    out_size = geometry.output_size(spatial, kernel, c_division=is_fbgemm)
    if any(s < 1 for s in out_size):
        floor_size = geometry.output_size(spatial, kernel, c_division=False)
        raise ValueError(
            f"input: {name} of an input of spatial size {input.shape[2:]} gives an output of "
            f"size {floor_size[-dims:]}; every dimension must be >= 1"
        )
    if context.engine.is_qnnpack:
        _check_qnnpack_conv(name, dims, transposed, weight, groups, spatial, kernel, geometry)
        scales = weight_qparams(weight, weight.shape[1 if transposed else 0])[0]
        qnnpack_requantization_scales(scales.astype(np.float32), input.q_scale(), scale)
    else:
        _check_fbgemm_conv(input, geometry, in_channels, out_channels, kernel, out_size)
    return (
        input,
        weight,
        bias,
        transposed,
        geometry.stride,
        geometry.padding,
        geometry.output_padding,
        geometry.dilation,
        groups,
        scale,
        zero_point,
    )


def _check_conv_weight(weight: object, dims: int, transposed: bool, engine: Engine) -> QTensor:
    if not isinstance(weight, QTensor) or not transposed:
        return check_weight(weight, dims + 2, 0)
    if weight.is_per_channel and engine.is_fbgemm:
        raise ValueError(
            "weight: per-channel weights are refused for ConvTranspose on fbgemm (torch: "
            "'Per Channel Quantization is currently disabled for transposed conv')"
        )
    return check_weight(weight, dims + 2, 1)


def _check_fbgemm_conv(input, geometry, in_channels, out_channels, kernel, out_size):
    path = fbgemm_conv_path(geometry, in_channels, out_channels, kernel)
    if path == "directconv" and input.shape[0] > 1:
        raise ValueError(
            "input: torch's fbgemm ConvTranspose2d takes its direct-convolution kernel here "
            "(2 x k kernel, no groups, channels multiple of 8, stride 1 or 2, no padding), "
            "which computes only image 0 of a batch and leaves the others uninitialized; "
            "pass one image at a time"
        )
    if (
        path == "depthwise"
        and geometry.spatial_dims == 3
        and any(o < p for o, p in zip(out_size, geometry.padding, strict=True))
    ):
        raise ValueError(
            f"input: torch's fbgemm 3-D depthwise kernel writes past the end of its output "
            f"(heap corruption, often a crash) when an output size {out_size} is smaller than "
            f"the padding {geometry.padding}: its border loops (depthwise_3d_same_pad_) run to "
            "the padding without the output bound; qemu refuses it rather than guess"
        )


def _check_qnnpack_conv(name, dims, transposed, weight, groups, spatial, kernel, geometry):
    floor_size = geometry.output_size(spatial, kernel, c_division=False)
    if any(s < 1 for s in floor_size):
        raise ValueError(f"input: {name} of this input gives an empty output (qnnpack crashes)")
    if transposed and dims == 3:
        raise ValueError(
            "engine: torch's qnnpack conv_transpose3d is wrong: qnnpackDeConv is given only the "
            "height and width, so the depth dimension is ignored and most of the output is left "
            "uninitialized; qemu refuses it rather than guess"
        )
    if transposed and weight.is_per_channel and groups > 1:
        raise ValueError(
            "weight: per-channel grouped ConvTranspose on qnnpack is refused: torch reads "
            "groups * OC/G weight scales and zero points from a tensor holding OC/G of them "
            "(out of bounds), then usually fails with 'requantization scale must be finite "
            "and positive'"
        )


# -- public entries -------------------------------------------------------------------


def _conv(dims, relu, input, weight, bias, stride, padding, dilation, groups, padding_mode,
          scale, zero_point, engine, backend) -> QTensor:  # fmt: skip
    args = _check_conv(dims, False, input, weight, bias, stride, padding, 0, dilation, groups,
                       padding_mode, scale, zero_point, engine, backend)  # fmt: skip
    return dispatch.call("conv", *args, relu, engine=engine, backend=backend)


def _conv_transpose(dims, input, weight, bias, stride, padding, output_padding, groups, dilation,
                    scale, zero_point, engine, backend) -> QTensor:  # fmt: skip
    args = _check_conv(dims, True, input, weight, bias, stride, padding, output_padding, dilation,
                       groups, "zeros", scale, zero_point, engine, backend)  # fmt: skip
    return dispatch.call("conv", *args, False, engine=engine, backend=backend)


_CONV_DOC = """Quantized {dims}-D convolution{relu}, as ``torch.ao.nn.quantized.functional.conv{dims}d``
    / ``quantized::conv{dims}d{suffix}`` compute it (``nn.quantized.Conv{dims}d``'s
    ``padding_mode="reflect"`` included).

    Parameters
    ----------
    input : QTensor
        quint8, per-tensor, shape (N, C_in, {spatial}).
    weight : QTensor
        qint8, shape (C_out, C_in / groups, {kernel}); per-tensor or per-channel along
        axis 0; any zero point.
    bias : ndarray of float32 or None
        One value per output channel.
    stride, padding, dilation : int or tuple of {dims} ints
    groups : int
    padding_mode : str
        ``"zeros"``{reflect}.
    scale, zero_point : float, int
        The output's quantization.
    engine, backend : str, optional
        Defaults from :func:`qemu.use` / ``QEMU_ENGINE`` / ``QEMU_BACKEND``.

    Examples
    --------
    >>> import numpy as np, qemu
    >>> x = qemu.QTensor.per_tensor(np.full((1, 1{ones}), 130), 0.5, 128, "quint8")
    >>> w = qemu.QTensor.per_tensor(np.full((1, 1{ones}), 10), 0.1, 0, "qint8")
    >>> qemu.ops.conv{dims}d{suffix}(x, w, None, scale=0.25, zero_point=100).int_repr().ravel().tolist()
    [104]
    """

_CONV_TRANSPOSE_DOC = """Quantized {dims}-D transposed convolution, as
    ``quantized::conv_transpose{dims}d`` computes it (``nn.quantized.ConvTranspose{dims}d``).

    Parameters
    ----------
    input : QTensor
        quint8, per-tensor, shape (N, C_in, {spatial}).
    weight : QTensor
        qint8, shape (C_in, C_out / groups, {kernel}); per-tensor (fbgemm refuses
        per-channel weights; qnnpack takes them along axis 1 without groups).
    bias : ndarray of float32 or None
    stride, padding, output_padding, dilation : int or tuple of {dims} ints
    groups : int
    scale, zero_point : float, int
        The output's quantization.
    engine, backend : str, optional

    Examples
    --------
    >>> import numpy as np, qemu
    >>> x = qemu.QTensor.per_tensor(np.full((1, 1{ones}), 130), 0.5, 128, "quint8")
    >>> w = qemu.QTensor.per_tensor(np.full((1, 1{ones}), 10), 0.1, 0, "qint8")
    >>> qemu.ops.conv_transpose{dims}d(x, w, None, scale=0.25, zero_point=100).int_repr().ravel().tolist()
    [104]
    """


def _make_conv(dims: int, relu: bool):
    def conv(
        input: QTensor,
        weight: QTensor,
        bias: np.ndarray | None,
        stride: int | Sequence[int] = 1,
        padding: int | Sequence[int] = 0,
        dilation: int | Sequence[int] = 1,
        groups: int = 1,
        padding_mode: str = "zeros",
        scale: float = 1.0,
        zero_point: int = 0,
        *,
        engine: str | None = None,
        backend: str | None = None,
    ) -> QTensor:
        return _conv(dims, relu, input, weight, bias, stride, padding, dilation, groups,
                     padding_mode, scale, zero_point, engine, backend)  # fmt: skip

    suffix = "_relu" if relu else ""
    conv.__name__ = conv.__qualname__ = f"conv{dims}d{suffix}"
    conv.__doc__ = _CONV_DOC.format(
        dims=dims,
        relu=" fused with relu (outputs clamped below at the zero point)" if relu else "",
        suffix=suffix,
        spatial=", ".join("DHW"[3 - dims :]),
        kernel=", ".join(f"k{a}" for a in "DHW"[3 - dims :]),
        reflect=' or "reflect"' if dims < 3 else "",
        ones=", 1" * dims,
    )
    return conv


def _make_conv_transpose(dims: int):
    def conv_transpose(
        input: QTensor,
        weight: QTensor,
        bias: np.ndarray | None,
        stride: int | Sequence[int] = 1,
        padding: int | Sequence[int] = 0,
        output_padding: int | Sequence[int] = 0,
        groups: int = 1,
        dilation: int | Sequence[int] = 1,
        scale: float = 1.0,
        zero_point: int = 0,
        *,
        engine: str | None = None,
        backend: str | None = None,
    ) -> QTensor:
        return _conv_transpose(dims, input, weight, bias, stride, padding, output_padding,
                               groups, dilation, scale, zero_point, engine, backend)  # fmt: skip

    conv_transpose.__name__ = conv_transpose.__qualname__ = f"conv_transpose{dims}d"
    conv_transpose.__doc__ = _CONV_TRANSPOSE_DOC.format(
        dims=dims,
        spatial=", ".join("DHW"[3 - dims :]),
        kernel=", ".join(f"k{a}" for a in "DHW"[3 - dims :]),
        ones=", 1" * dims,
    )
    return conv_transpose


conv1d = _make_conv(1, False)
conv2d = _make_conv(2, False)
conv3d = _make_conv(3, False)
conv1d_relu = _make_conv(1, True)
conv2d_relu = _make_conv(2, True)
conv3d_relu = _make_conv(3, True)
conv_transpose1d = _make_conv_transpose(1)
conv_transpose2d = _make_conv_transpose(2)
conv_transpose3d = _make_conv_transpose(3)


# -- reference kernel -----------------------------------------------------------------


def conv_problem(input: QTensor, weight: QTensor, geometry: ConvGeometry):
    """The 2-D / 3-D view torch's kernels work on: (x, kernel, output size), with conv1d's
    height of 1 inserted."""
    x = input.codes
    kernel = weight.shape[2:]
    if x.ndim == 3:  # conv1d as conv2d: (N, C, L) -> (N, C, 1, L)
        x = x[:, :, None, :]
        kernel = (1, *kernel)
    output_size = geometry.output_size(x.shape[2:], kernel, c_division=True)
    return x, tuple(kernel), output_size


def channels_first(codes: np.ndarray, batch: int, output_size) -> np.ndarray:
    """(N * P, OC) codes as (N, OC, *O): a view, the codes stay channels-last in memory
    as torch's output does."""
    return np.moveaxis(codes.reshape((batch, *output_size, codes.shape[-1])), -1, 1)


def finish_conv(codes: np.ndarray, input: QTensor, scale, zero_point) -> QTensor:
    """(N, OC, *O) uint8 codes as the output QTensor (conv1d's height dropped)."""
    if input.ndim == 3:
        codes = codes[:, :, 0, :]
    return output_qtensor(codes, scale, zero_point)


def depthwise_output(
    x: np.ndarray,
    packed: FbgemmPackedWeight,
    input_zero_point: int,
    input_scale: float,
    bias: np.ndarray | None,
    scale: float,
    zero_point: int,
    relu: bool,
    geometry: ConvGeometry,
    kernel,
    output_size,
) -> np.ndarray:
    """fbgemm's depthwise convolution: :func:`depthwise_accumulators` requantized
    (``requantize_`` of ``FbgemmI8DepthwiseAvx2-inl.h``, the arithmetic of
    :func:`qemu.ops.linear.fbgemm_output`), uint8 (N, OC, *O)."""
    acc = depthwise_accumulators(x, packed, input_zero_point, geometry, kernel, output_size)
    codes = fbgemm_output(acc, packed, input_scale, bias, scale, zero_point, relu)
    return channels_first(codes, x.shape[0], output_size)


def run_conv(
    steps: GemmSteps,
    depthwise: Callable,
    ctx: dispatch.Context,
    input: QTensor,
    weight: QTensor,
    bias: np.ndarray | None,
    transposed: bool,
    stride: tuple[int, ...],
    padding: tuple[int, ...],
    output_padding: tuple[int, ...],
    dilation: tuple[int, ...],
    groups: int,
    scale: float,
    zero_point: int,
    relu: bool,
) -> QTensor:
    """The convolution kernel on validated arguments, with a backend's compute steps and
    depthwise convolution (as :func:`depthwise_output`)."""
    geometry = ConvGeometry(transposed, stride, padding, output_padding, dilation, groups)
    x, kernel, output_size = conv_problem(input, weight, geometry)
    za = input.q_zero_point()
    batch = x.shape[0]
    if ctx.engine.is_qnnpack:
        packed = prepack_qnnpack_conv(weight, groups, transposed)
        columns = grouped_columns(gather_columns(x, za, geometry, kernel, output_size), groups)
        acc = gemm_accumulators(columns, packed, za, False, steps.raw_sums)
        acc = wrap_i32(acc + qnnpack_int32_bias(packed, bias, input.q_scale()))
        out_channels = packed.codes.shape[0] * packed.codes.shape[1]
        if qnnpack_dwconv3d(geometry, x.shape[1], out_channels, kernel):
            rs = qnnpack_requantization_scales(packed.scales, input.q_scale(), scale)
            lower = zero_point if relu else 0
            codes = requantize_qnnpack_dwconv3d(acc, rs, zero_point, lower, 255)
        else:
            codes = steps.qnnpack_output(acc, packed, input.q_scale(), scale, zero_point, relu)
        return finish_conv(channels_first(codes, batch, output_size), input, scale, zero_point)
    packed = prepack_fbgemm_conv(weight, groups, transposed)
    out_channels = packed.codes.shape[0] * packed.codes.shape[1]
    path = fbgemm_conv_path(geometry, x.shape[1], out_channels, kernel)
    if path == "depthwise":
        codes = depthwise(x, packed, za, input.q_scale(), bias, scale, zero_point, relu,
                          geometry, kernel, output_size)  # fmt: skip
        return finish_conv(codes, input, scale, zero_point)
    if path == "directconv" and batch == 1:
        acc = directconv_accumulators(x, packed, weight, za, geometry, output_size)
    else:  # im2col, pointwise, groupwise (same numerics), directconv on an empty batch
        columns = grouped_columns(gather_columns(x, za, geometry, kernel, output_size), groups)
        saturating = ctx.engine.saturating_int8_gemm
        acc = gemm_accumulators(columns, packed, za, saturating, steps.raw_sums)
    codes = steps.fbgemm_output(acc, packed, input.q_scale(), bias, scale, zero_point, relu)
    return finish_conv(channels_first(codes, batch, output_size), input, scale, zero_point)


@dispatch.reference("conv")
def _conv_reference(ctx: dispatch.Context, *args) -> QTensor:
    return run_conv(REFERENCE_STEPS, depthwise_output, ctx, *args)
