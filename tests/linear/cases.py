"""Random linear / convolution cases for the torch-free and the torch tests.

Each case is ``(op_name, args, kwargs)`` for ``getattr(qemu.ops, op_name)``. The
draws cover per-tensor and per-channel weights with any zero point, bias or none,
batch sizes 0 and 1, odd channel counts (pairs straddling taps), every fbgemm conv
kernel (im2col, pointwise, groupwise, depthwise 2-D / 3-D with OC = C or 2C,
directconv) and saturating operands: full-range quint8 activations against qint8
weights at -128 / 127.
"""

from __future__ import annotations

import numpy as np

import qemu
from qemu import dispatch
from qemu.golden.cases.linear import conv_output_fits, draw_activation, draw_bias, draw_weight
from qemu.ops.conv import ConvGeometry, _check_conv, fbgemm_conv_path
from qemu.ops.linear import _check_linear

LINEAR_OPS = ("linear", "linear_relu")
CONV_OPS = tuple(f"conv{d}d{r}" for d in (1, 2, 3) for r in ("", "_relu"))
CONV_TRANSPOSE_OPS = tuple(f"conv_transpose{d}d" for d in (1, 2, 3))
ALL_OPS = LINEAR_OPS + CONV_OPS + CONV_TRANSPOSE_OPS


def ops_for(engine: str) -> tuple[str, ...]:
    """The ops an engine runs (qnnpack's conv_transpose3d is refused, see conv.md)."""
    if engine == "qnnpack":
        return tuple(op for op in ALL_OPS if op != "conv_transpose3d")
    return ALL_OPS


def _output(rng):
    if rng.random() < 0.1:  # multipliers past 1 and tiny scales: saturation, overflow
        scale = float(10.0 ** rng.uniform(-4, 1))
    else:
        scale = float(rng.uniform(0.05, 0.5))
    return scale, int(rng.integers(0, 256))


def linear_case(rng: np.random.Generator, op: str, engine: str):
    saturating = rng.random() < 0.3
    batch_shape = [(int(rng.integers(1, 9)),), (0,), (1,), (2, int(rng.integers(1, 4)))][
        int(rng.choice(4, p=[0.7, 0.05, 0.15, 0.1]))
    ]
    in_features = int(rng.integers(1, 70))
    out_features = int(rng.integers(1, 40))
    x = draw_activation(rng, batch_shape + (in_features,), saturating)
    per_channel = rng.random() < 0.5
    w = draw_weight(
        rng, (out_features, in_features), 0, per_channel, saturating, rng.random() < 0.3
    )
    scale, zero_point = _output(rng)
    return op, (x, w, draw_bias(rng, out_features), scale, zero_point), {}


def _spatial(rng, dims, low=1):
    top = {1: 16, 2: 9, 3: 5}[dims]
    return tuple(int(v) for v in rng.integers(low, top + 1, dims))


def _conv_geometry(rng, dims, transposed, engine):
    """(batch, in_channels, out_channels, groups, kernel, stride, padding, dilation,
    output_padding, spatial): a random geometry, often one of fbgemm's special kernels."""
    batch = int(rng.choice([1, 1, 2, 3, 0], p=[0.4, 0.2, 0.2, 0.15, 0.05]))
    kind = rng.choice(["general", "special"], p=[0.6, 0.4])
    one = (1,) * dims
    zero = (0,) * dims
    if kind == "special" and not transposed and dims >= 2:
        special = rng.choice(["depthwise", "groupwise", "pointwise"])
        if special == "depthwise":
            groups = int(rng.choice([8, 16, 24]))
            k = int(rng.choice([3, 5, 3, 7] if dims == 2 else [3, 5, 3]))
            kernel = (int(rng.choice([3, 5])),) * (dims - 2) + (k, k)
            if dims == 3 and rng.random() < 0.1:
                kernel = (7, 7, 7)  # 343 taps: the int16 activation sums saturate
            stride = tuple(int(s) for s in rng.choice([1, 2], dims))
            padding = tuple((k - 1) // 2 for k in kernel)
            out_channels = groups * int(rng.choice([1, 2]))
            spatial = tuple(int(v) for v in rng.integers(1, 8 if dims == 2 else 5, dims))
            return batch, groups, out_channels, groups, kernel, stride, padding, one, zero, spatial
        if special == "groupwise":
            per_group = int(rng.choice([2, 4, 8, 16]))
            groups = max(64 // per_group // max(per_group, 4), 1) * int(rng.choice([1, 2]))
            planar = int(rng.choice([1, 2]))
            stride = (int(rng.choice([1, 2])),) * (dims - 2) + (planar, planar)
            spatial = tuple(int(v) for v in rng.integers(1, 7 if dims == 2 else 4, dims))
            channels = groups * per_group
            return batch, channels, channels, groups, (3,) * dims, stride, one, one, zero, spatial
        groups = int(rng.choice([1, 1, 2]))
        channels = groups * int(rng.integers(1, 9))
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
            _spatial(rng, dims),
        )
    if kind == "special" and transposed and dims == 2:  # fbgemm's directconv
        channels = int(rng.choice([8, 16]))
        kernel = (2, int(rng.integers(1, 7)))
        stride = tuple(int(s) for s in rng.choice([1, 2], 2))
        output_padding = tuple(int(rng.integers(0, s)) for s in stride)
        return (
            1,
            channels,
            int(rng.choice([8, 16])),
            1,
            kernel,
            stride,
            zero,
            one,
            output_padding,
            _spatial(rng, 2),
        )
    groups = int(rng.choice([1, 1, 1, 2, 3]))
    in_channels = groups * int(rng.integers(1, 6))
    out_channels = groups * int(rng.integers(1, 6))
    kernel = tuple(int(v) for v in rng.integers(1, 4 if dims == 3 else 5, dims))
    stride = tuple(int(v) for v in rng.integers(1, 4, dims))
    dilation = tuple(int(v) for v in rng.integers(1, 3, dims))
    padding = tuple(int(rng.integers(0, k * d + 1)) for k, d in zip(kernel, dilation, strict=True))
    output_padding = zero
    if transposed:
        output_padding = tuple(
            int(rng.integers(0, max(s, d))) for s, d in zip(stride, dilation, strict=True)
        )
    spatial = _spatial(rng, dims)
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


def conv_case(rng: np.random.Generator, op: str, engine: str):
    transposed = op.startswith("conv_transpose")
    dims = int(op[len("conv_transpose") if transposed else len("conv")])
    while True:
        geometry = _conv_geometry(rng, dims, transposed, engine)
        batch, cin, cout, groups, kernel, stride, padding, dilation, output_padding, spatial = (
            geometry
        )
        if conv_output_fits(spatial, kernel, stride, padding, dilation, output_padding, transposed):
            break
    saturating = rng.random() < 0.3
    x = draw_activation(rng, (batch, cin, *spatial), saturating)
    if transposed:
        w_shape, axis = (cin, cout // groups, *kernel), 1
        per_channel = engine == "qnnpack" and groups == 1 and rng.random() < 0.5
    else:
        w_shape, axis = (cout, cin // groups, *kernel), 0
        per_channel = rng.random() < 0.5
    w = draw_weight(rng, w_shape, axis, per_channel, saturating, rng.random() < 0.3)
    scale, zero_point = _output(rng)
    bias = draw_bias(rng, cout)
    if transposed:
        args = (x, w, bias, stride, padding, output_padding, groups, dilation, scale, zero_point)
        if (
            engine.startswith("fbgemm")
            and batch > 1
            and _is_directconv(
                dims, transposed, cin, cout, groups, kernel, stride, padding, dilation
            )
        ):
            args = (_first_image(x),) + args[1:]
        return op, args, {}
    padding_mode = (
        "reflect"
        if dims < 3
        and rng.random() < 0.1
        and all(p < s for p, s in zip(padding, spatial, strict=True))
        else "zeros"
    )
    return op, (x, w, bias, stride, padding, dilation, groups, padding_mode, scale, zero_point), {}


def _is_directconv(dims, transposed, cin, cout, groups, kernel, stride, padding, dilation):
    if dims != 2:
        return False
    geometry = ConvGeometry(transposed, stride, padding, (0, 0), dilation, groups)
    return fbgemm_conv_path(geometry, cin, cout, kernel) == "directconv"


def _first_image(x):
    return qemu.QTensor.per_tensor(x.codes[:1], x.q_scale(), x.q_zero_point(), "quint8")


def canonical(op: str, args: tuple, engine: str) -> tuple[str, tuple]:
    """The dispatch op and the validated arguments ``qemu.ops.<op>(*args)`` passes to its
    kernels (raises what the public entry raises)."""
    relu = op.endswith("_relu")
    if op in LINEAR_OPS:
        return "linear", _check_linear(*args, engine, None) + (relu,)
    transposed = op.startswith("conv_transpose")
    dims = int(op[len("conv_transpose") if transposed else len("conv")])
    if transposed:
        x, w, b, stride, padding, output_padding, groups, dilation, scale, zero_point = args
        mode = "zeros"
    else:
        x, w, b, stride, padding, dilation, groups, mode, scale, zero_point = args
        output_padding = 0
    checked = _check_conv(dims, transposed, x, w, b, stride, padding, output_padding, dilation,
                          groups, mode, scale, zero_point, engine, None)  # fmt: skip
    return "conv", checked + (relu,)


def random_case(rng: np.random.Generator, op: str, engine: str):
    """A random case of ``op`` that qemu accepts on ``engine``."""
    while True:
        case = linear_case(rng, op, engine) if op in LINEAR_OPS else conv_case(rng, op, engine)
        try:
            canonical(case[0], case[1], engine)
        except ValueError:  # a configuration refused on this engine (see conv.md): redraw
            continue
        return case


def torch_results(engine: str, drawn: list, chunk: int = 500) -> list:
    """torch's result for each drawn case, computed in batches (one worker request per
    ``chunk`` cases for a subprocess engine); errors come back as ``{"error": ...}``."""
    results = []
    for start in range(0, len(drawn), chunk):
        by_op: dict[str, list] = {}
        order = []
        for name, args, _ in drawn[start : start + chunk]:
            op, checked = canonical(name, args, engine)
            by_op.setdefault(op, []).append(checked)
            order.append((op, len(by_op[op]) - 1))
        answers = {
            op: dispatch.call("batch", op, cases, engine=engine, backend="torch")
            for op, cases in by_op.items()
        }
        results.extend(answers[op][i] for op, i in order)
    return results
