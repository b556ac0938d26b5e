"""Golden cases of static quantized linear and convolution (``linear``, ``linear_relu``,
``conv{1,2,3}d[_relu]``, ``conv_transpose{1,2,3}d``).

Edge cases first: operands at the ends of their ranges whose u8 x s8 pair sums pass
the int16 range (fbgemm's AVX2 / AVX512 ``vpmaddubsw`` saturates them, VNNI does
not, so the fbgemm and fbgemm-avx2 outputs differ), power-of-two scales (requantized
values at exact .5 ties), extreme output scales, zero points at the ends, empty
batches and 1-element problems. Then random geometries, often one of fbgemm's special
conv kernels (pointwise, groupwise, depthwise, directconv).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from qemu.engines import Engine
from qemu.golden.cases.registry import CaseArguments, generator
from qemu.ops.conv import ConvGeometry, fbgemm_conv_path
from qemu.qtensor import QTensor

LINEAR_OPS = ("linear", "linear_relu")
CONV_OPS = tuple(f"conv{d}d{r}" for d in (1, 2, 3) for r in ("", "_relu"))
CONV_TRANSPOSE_OPS = tuple(f"conv_transpose{d}d" for d in (1, 2, 3))
RANDOM_CASES = 10


def draw_activation(rng, shape, saturating, zero_point=None):
    """A quint8 activation; ``saturating`` puts its codes at the ends of the range."""
    zero = int(rng.integers(0, 256)) if zero_point is None else zero_point
    if saturating:
        drawn = rng.choice(np.array([0, 255, 255, 254, 1]), shape)
    else:
        drawn = rng.integers(0, 256, shape)
    scale = (
        float(rng.uniform(0.005, 0.05)) if rng.random() < 0.9 else float(2.0 ** -rng.integers(1, 9))
    )
    return QTensor.per_tensor(drawn, scale, zero, "quint8")


def draw_weight(rng, shape, axis, per_channel, saturating, symmetric):
    """A qint8 weight, per-tensor or per-channel along ``axis``; ``saturating`` puts its
    codes at +-127 / -128."""
    if saturating:
        drawn = rng.choice(np.array([-128, 127, -127, 126]), shape)
    else:
        spread = int(rng.choice([128, 64, 16]))
        drawn = rng.integers(-spread, spread, shape)
    if per_channel:
        channels = shape[axis]
        scales = rng.uniform(0.002, 0.02, channels)
        points = np.zeros(channels, np.int64) if symmetric else rng.integers(-10, 10, channels)
        return QTensor.per_channel(drawn, scales, points, axis, "qint8")
    point = 0 if symmetric else int(rng.integers(-10, 10))
    return QTensor.per_tensor(drawn, float(rng.uniform(0.002, 0.02)), point, "qint8")


def draw_bias(rng, channels):
    """None, an ordinary float32 bias, or one of a wide magnitude."""
    kind = rng.random()
    if kind < 0.3:
        return None
    if kind < 0.9:
        return (rng.normal(0, 1, channels) * 3).astype(np.float32)
    return (rng.normal(0, 1, channels) * float(10.0 ** rng.uniform(-3, 3))).astype(np.float32)


def _output(rng):
    kind = rng.random()
    if kind < 0.15:  # multipliers past 1 and tiny scales: saturation
        return float(10.0 ** rng.uniform(-4, 1)), int(rng.choice([0, 255]))
    if kind < 0.4:  # a power of two: requantized values at .5 ties
        return float(2.0 ** rng.integers(-4, 0)), int(rng.integers(0, 256))
    return float(rng.uniform(0.05, 0.5)), int(rng.integers(0, 256))


@generator(*LINEAR_OPS)
def _linear_cases(rng: np.random.Generator, engine: Engine, op: str) -> Iterable[CaseArguments]:
    # Saturating pairs: every code 255 against 127 / -128 weights.
    for k in (2, 9, 64):
        x = QTensor.per_tensor(np.full((2, k), 255), 0.02, 0, "quint8")
        w = QTensor.per_tensor(
            np.where(np.arange(3 * k).reshape(3, k) % 5 == 4, -128, 127), 0.01, 0, "qint8"
        )
        yield [x, w, None, 4.0, 128], {}
    x = draw_activation(rng, (4, 33), True, zero_point=255)
    yield [x, draw_weight(rng, (5, 33), 0, True, True, False), draw_bias(rng, 5), 0.25, 0], {}
    # Ties, extreme scales, zero points at the ends.
    x = QTensor.per_tensor(rng.integers(0, 256, (3, 7)), 0.5, 0, "quint8")
    w = QTensor.per_tensor(rng.integers(-128, 128, (4, 7)), 0.25, 0, "qint8")
    for scale, zero_point in [(2.0**-3, 0), (2.0**-1, 255), (1e-6, 0), (1e4, 255), (1e-30, 127)]:
        yield [x, w, None, scale, zero_point], {}
    # Empty batch, one element.
    yield (
        [
            draw_activation(rng, (0, 5), False),
            draw_weight(rng, (3, 5), 0, False, False, True),
            None,
            0.1,
            3,
        ],
        {},
    )
    yield (
        [
            draw_activation(rng, (1, 1), False),
            draw_weight(rng, (1, 1), 0, True, False, True),
            np.float32([0.5]),
            0.1,
            3,
        ],
        {},
    )
    for _ in range(RANDOM_CASES):
        saturating = rng.random() < 0.3
        batch = [(int(rng.integers(1, 9)),), (1,), (2, int(rng.integers(1, 4)))][rng.integers(3)]
        k, n = int(rng.integers(1, 70)), int(rng.integers(1, 24))
        x = draw_activation(rng, batch + (k,), saturating)
        w = draw_weight(rng, (n, k), 0, rng.random() < 0.5, saturating, rng.random() < 0.3)
        yield [x, w, draw_bias(rng, n), *_output(rng)], {}


def conv_output_fits(spatial, kernel, stride, padding, dilation, output_padding, transposed):
    """Whether every output size of the (transposed) convolution is at least 1."""
    for s, k, st, p, d, extra in zip(
        spatial, kernel, stride, padding, dilation, output_padding, strict=True
    ):
        if transposed:
            size = (s - 1) * st - 2 * p + d * (k - 1) + extra + 1
        else:
            size = (s + 2 * p - d * (k - 1) - 1) // st + 1
        if size < 1:
            return False
    return True


def _geometry(rng, dims, transposed):
    """(batch, in_channels, out_channels, groups, kernel, stride, padding, dilation,
    output_padding, spatial), often one of fbgemm's special conv kernels."""
    batch = int(rng.choice([1, 1, 2, 3]))
    one, zero = (1,) * dims, (0,) * dims
    special = rng.random() < 0.4
    if special and not transposed and dims >= 2:
        kind = rng.choice(["depthwise", "groupwise", "pointwise"])
        if kind == "depthwise":
            groups = int(rng.choice([8, 16]))
            k = int(rng.choice([3, 5]))
            kernel = (3,) * (dims - 2) + (k, k)
            stride = tuple(int(s) for s in rng.choice([1, 2], dims))
            padding = tuple((kk - 1) // 2 for kk in kernel)
            spatial = tuple(int(v) for v in rng.integers(1, 6 if dims == 2 else 4, dims))
            return (
                batch,
                groups,
                groups * int(rng.choice([1, 2])),
                groups,
                kernel,
                stride,
                padding,
                one,
                zero,
                spatial,
            )
        if kind == "groupwise":
            per_group = int(rng.choice([4, 8]))
            groups = 2
            planar = int(rng.choice([1, 2]))
            stride = (1,) * (dims - 2) + (planar, planar)
            spatial = tuple(int(v) for v in rng.integers(1, 6 if dims == 2 else 4, dims))
            channels = groups * per_group
            return batch, channels, channels, groups, (3,) * dims, stride, one, one, zero, spatial
        groups = int(rng.choice([1, 1, 2]))
        channels = groups * int(rng.integers(1, 9))
        spatial = tuple(int(v) for v in rng.integers(1, {2: 6, 3: 4}[dims] + 1, dims))
        return (
            batch,
            channels,
            groups * int(rng.integers(1, 9)),
            groups,
            one,
            one,
            zero,
            one,
            zero,
            spatial,
        )
    if special and transposed and dims == 2:  # fbgemm's directconv
        kernel = (2, int(rng.integers(1, 5)))
        stride = tuple(int(s) for s in rng.choice([1, 2], 2))
        output_padding = tuple(int(rng.integers(0, s)) for s in stride)
        spatial = tuple(int(v) for v in rng.integers(1, 6, 2))
        return 1, 8, 8, 1, kernel, stride, zero, one, output_padding, spatial
    groups = int(rng.choice([1, 1, 2, 3]))
    in_channels = groups * int(rng.integers(1, 4))
    out_channels = groups * int(rng.integers(1, 4))
    kernel = tuple(int(v) for v in rng.integers(1, 3 if dims == 3 else 4, dims))
    stride = tuple(int(v) for v in rng.integers(1, 3, dims))
    dilation = tuple(int(v) for v in rng.integers(1, 3, dims))
    padding = tuple(
        int(rng.integers(0, k * d // 2 + 1)) for k, d in zip(kernel, dilation, strict=True)
    )
    output_padding = zero
    if transposed:
        output_padding = tuple(
            int(rng.integers(0, max(s, d))) for s, d in zip(stride, dilation, strict=True)
        )
    spatial = tuple(int(v) for v in rng.integers(1, {1: 12, 2: 6, 3: 4}[dims] + 1, dims))
    return (
        batch,
        in_channels,
        out_channels,
        groups,
        kernel,
        stride,
        padding,
        dilation,
        output_padding,
        spatial,
    )


def _conv_arguments(rng, engine, dims, transposed, geometry, saturating):
    batch, cin, cout, groups, kernel, stride, padding, dilation, output_padding, spatial = geometry
    if transposed and dims == 2 and batch > 1:
        # fbgemm's directconv transposed kernel reads one image only (docs/numerics/conv.md);
        # such geometries are drawn with a batch of one.
        path = fbgemm_conv_path(
            ConvGeometry(True, stride, padding, (0, 0), dilation, groups), cin, cout, kernel
        )
        batch = 1 if path == "directconv" else batch
    x = draw_activation(rng, (batch, cin, *spatial), saturating)
    if transposed:
        w_shape, axis = (cin, cout // groups, *kernel), 1
        per_channel = rng.random() < 0.5 and groups == 1
        w = draw_weight(rng, w_shape, axis, False, saturating, rng.random() < 0.3)
        # Per-channel transposed weights run on qnnpack only (fbgemm refuses them): the
        # same codes get per-channel scales there, drawn on every engine so that the
        # other inputs stay the same.
        scales = rng.uniform(0.002, 0.02, w_shape[axis])
        if per_channel and engine.is_qnnpack:
            points = np.full(w_shape[axis], w.q_zero_point(), np.int64)
            w = QTensor.per_channel(w.codes, scales, points, axis, "qint8")
    else:
        w_shape, axis = (cout, cin // groups, *kernel), 0
        per_channel = rng.random() < 0.5
        w = draw_weight(rng, w_shape, axis, per_channel, saturating, rng.random() < 0.3)
    scale, zero_point = _output(rng)
    bias = draw_bias(rng, cout)
    if transposed:
        return [x, w, bias, stride, padding, output_padding, groups, dilation, scale, zero_point]
    reflect = (
        dims < 3
        and rng.random() < 0.1
        and all(p < s for p, s in zip(padding, spatial, strict=True))
    )
    mode = "reflect" if reflect else "zeros"
    return [x, w, bias, stride, padding, dilation, groups, mode, scale, zero_point]


@generator(*CONV_OPS, *CONV_TRANSPOSE_OPS)
def _conv_cases(rng: np.random.Generator, engine: Engine, op: str) -> Iterable[CaseArguments]:
    transposed = op.startswith("conv_transpose")
    dims = int(op[len("conv_transpose") if transposed else len("conv")])
    if op == "conv_transpose3d" and engine.is_qnnpack:  # refused: see docs/numerics/conv.md
        return
    one, zero = (1,) * dims, (0,) * dims
    # Saturating pairs on a plain geometry; a 1x1 problem; an empty batch.
    plain = (2, 4, 4, 1, (2,) * dims, one, zero, one, zero, (3,) * dims)
    yield _conv_arguments(rng, engine, dims, transposed, plain, True), {}
    # Extreme output scales with the zero point at either end; a power-of-two scale (ties).
    for scale, zero_point in [(1e-6, 255), (1e4, 0), (2.0**-3, 0)]:
        arguments = _conv_arguments(rng, engine, dims, transposed, plain, False)
        yield [*arguments[:-2], scale, zero_point], {}
    tiny = (1, 1, 1, 1, one, one, zero, one, zero, one)
    yield _conv_arguments(rng, engine, dims, transposed, tiny, False), {}
    empty = (0, 2, 2, 1, one, one, zero, one, zero, (2,) * dims)
    yield _conv_arguments(rng, engine, dims, transposed, empty, False), {}
    for _ in range(RANDOM_CASES):
        while True:
            geometry = _geometry(rng, dims, transposed)
            if conv_output_fits(*geometry[-1:], *geometry[4:9], transposed):
                break
        yield _conv_arguments(rng, engine, dims, transposed, geometry, rng.random() < 0.3), {}
