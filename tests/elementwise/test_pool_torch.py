"""avg_pool2d/3d, adaptive_avg_pool2d/3d, max_pool1d/2d against torch on every engine,
numpy and numba backends: contiguous and channels-last inputs, padding, ceil_mode,
count_include_pad, divisor_override, dilation, qint32."""

import pytest
from elementwise.cases import ENGINES, QTYPES, check_against_torch, draw_dtype, draw_qtensor

import qemu.ops as ops
from qemu.golden.cases.norm_pool import draw_window
from qemu.testing import cases, seeded_rng

torch = pytest.importorskip("torch")


def _input(rng, spatial, batched=None):
    dtype = draw_dtype(rng, QTYPES)
    batched = rng.random() < 0.8 if batched is None else batched
    channels = int(rng.integers(1, 40))
    sizes = tuple(int(v) for v in rng.integers(1, 12 if spatial < 3 else 7, spatial))
    shape = ((int(rng.integers(1, 3)),) if batched else ()) + (channels,) + sizes
    x = draw_qtensor(rng, shape, dtype)
    if len(shape) == 4 and rng.random() < 0.5:
        memory_format = "channels_last"
    elif len(shape) == 5 and rng.random() < 0.5:
        memory_format = "channels_last_3d"
    else:
        memory_format = "contiguous"
    return x, {"memory_format": memory_format}


@pytest.mark.parametrize("spatial", [2, 3])
@pytest.mark.parametrize("engine", ENGINES)
def test_avg_pool(spatial, engine):
    rng = seeded_rng("avg_pool", spatial, engine)
    for _ in range(cases(12)):
        x, kwargs = _input(rng, spatial, batched=True if spatial == 3 else None)
        kernel, stride, padding = draw_window(rng, spatial)
        divisor = int(rng.integers(1, 10)) if rng.random() < 0.2 else None
        args = (
            x,
            kernel,
            stride,
            padding,
            bool(rng.random() < 0.3),
            bool(rng.random() < 0.7),
            divisor,
        )
        op = ops.avg_pool2d if spatial == 2 else ops.avg_pool3d
        check_against_torch(op, args, kwargs, engine)


@pytest.mark.parametrize("engine", ENGINES)
def test_avg_pool3d_ambiguous_layout(engine):
    """Inputs with D*H*W == 1, whose contiguous layout is also channels-last-3d:
    q_avg_pool3d keeps them as they are and allocates the output in their suggested
    (contiguous) format, into which the NDHWC kernel writes, so torch's result is
    permuted wherever padding makes the output larger than 1x1x1 (found by the
    10,000-case soak)."""
    rng = seeded_rng("avg_pool3d_ambiguous_layout", engine)
    for _ in range(cases(12)):
        shape = (int(rng.integers(1, 3)), int(rng.integers(2, 20)), 1, 1, 1)
        x = draw_qtensor(rng, shape, draw_dtype(rng, QTYPES))
        kernel = tuple(int(v) for v in rng.integers(1, 4, 3))
        kernel = (kernel[0], 2, kernel[2])  # pad 1 and stride 1 give two rows of output
        stride = (int(rng.integers(1, 3)), 1, int(rng.integers(1, 3)))
        padding = tuple(k // 2 for k in kernel)
        divisor = int(rng.integers(1, 10)) if rng.random() < 0.3 else None
        args = (x, kernel, stride, padding, bool(rng.random() < 0.3), True, divisor)
        memory_format = "contiguous" if rng.random() < 0.7 else "channels_last_3d"
        check_against_torch(ops.avg_pool3d, args, {"memory_format": memory_format}, engine)


@pytest.mark.parametrize("spatial", [2, 3])
@pytest.mark.parametrize("engine", ENGINES)
def test_adaptive_avg_pool(spatial, engine):
    rng = seeded_rng("adaptive_avg_pool", spatial, engine)
    op = ops.adaptive_avg_pool2d if spatial == 2 else ops.adaptive_avg_pool3d
    for _ in range(cases(12)):
        x, kwargs = _input(rng, spatial)
        sizes = x.shape[-spatial:]
        if rng.random() < 0.4:  # divisible sizes: QNNPACK's path for quint8
            out = tuple(max(1, n // int(rng.integers(1, 4))) for n in sizes)
        else:
            out = tuple(int(v) for v in rng.integers(1, 7, spatial))
        if spatial == 3 and out == (1, 1, 1) and kwargs["memory_format"] != "contiguous":
            continue  # float mean over a strided input: see test_adaptive_avg_pool3d_global_strided
        check_against_torch(op, (x, out), kwargs, engine)


@pytest.mark.xfail(
    strict=True,
    reason="ATen's float mean reduction order over a "
    "channels_last_3d input is not modelled (docs/numerics/pool.md)",
)
def test_adaptive_avg_pool3d_global_strided():
    rng = seeded_rng("adaptive_global_strided")
    for _ in range(cases(12)):
        x = draw_qtensor(rng, (2, 20, 4, 3, 6), draw_dtype(rng, QTYPES))
        check_against_torch(
            ops.adaptive_avg_pool3d, (x, 1), {"memory_format": "channels_last_3d"}, "fbgemm"
        )


@pytest.mark.parametrize("spatial", [1, 2])
@pytest.mark.parametrize("engine", ENGINES)
def test_max_pool(spatial, engine):
    rng = seeded_rng("max_pool", spatial, engine)
    op = ops.max_pool1d if spatial == 1 else ops.max_pool2d
    for _ in range(cases(12)):
        x, kwargs = _input(rng, spatial)
        kernel, stride, padding = draw_window(rng, spatial)
        dilation = tuple(int(v) for v in rng.integers(1, 3, spatial))
        args = (x, kernel, stride, padding, dilation, bool(rng.random() < 0.3))
        check_against_torch(op, args, kwargs if spatial == 2 else {}, engine)
