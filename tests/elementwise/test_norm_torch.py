"""layer_norm / group_norm / instance_norm / batch_norm(_relu) against torch on every
engine, numpy and numba backends: contiguous and channels-last inputs (the NHWC
group norm, with its float sums from H*W >= 512 on 1 and 2 threads), qint32 too."""

import numpy as np
import pytest
from elementwise.cases import (
    ENGINES,
    QTYPES,
    check_against_torch,
    draw_dtype,
    draw_qtensor,
    draw_scale,
    draw_zero_point,
)

import qemu.ops as ops
from qemu.dtypes import QUINT8
from qemu.golden.cases.norm_pool import draw_affine, draw_eps
from qemu.testing import cases, seeded_rng

torch = pytest.importorskip("torch")


def _output(rng, dtype):
    return draw_scale(rng), draw_zero_point(rng, dtype)


@pytest.mark.parametrize("engine", ENGINES)
def test_layer_norm(engine):
    rng = seeded_rng("layer_norm", engine)
    for _ in range(cases(12)):
        dtype = draw_dtype(rng, QTYPES)
        trailing = tuple(int(v) for v in rng.integers(1, 40, int(rng.integers(1, 3))))
        lead = tuple(int(v) for v in rng.integers(0, 4, int(rng.integers(0, 3))))
        x = draw_qtensor(rng, lead + trailing, dtype)
        cut = int(rng.integers(1, len(trailing) + 1))
        shape = trailing[-cut:]
        weight, bias = draw_affine(rng, shape)
        args = (x, list(shape), weight, bias, draw_eps(rng), *_output(rng, dtype))
        check_against_torch(ops.layer_norm, args, {}, engine)


def _group_case(rng, big=False):
    dtype = draw_dtype(rng, QTYPES)
    groups = int(rng.integers(1, 4))
    channels = groups * int(rng.integers(1, 5))
    if big:
        spatial = (int(rng.integers(16, 40)), int(rng.integers(16, 40)))
    else:
        spatial = tuple(int(v) for v in rng.integers(1, 9, int(rng.integers(1, 4))))
    shape = (int(rng.integers(1, 4)), channels, *spatial)
    x = draw_qtensor(rng, shape, dtype)
    memory_format = "channels_last" if len(shape) == 4 and rng.random() < 0.6 else "contiguous"
    weight, bias = draw_affine(rng, channels)
    return x, groups, weight, bias, memory_format, dtype


@pytest.mark.parametrize("op", ["group_norm", "instance_norm"])
@pytest.mark.parametrize("engine", ENGINES)
def test_group_and_instance_norm(op, engine):
    rng = seeded_rng(op, engine)
    for i in range(cases(12)):
        x, groups, weight, bias, memory_format, dtype = _group_case(rng, big=i % 8 == 7)
        tail = (weight, bias, draw_eps(rng), *_output(rng, dtype))
        args = (x, groups, *tail) if op == "group_norm" else (x, *tail)
        check_against_torch(
            getattr(ops, op),
            args,
            {"memory_format": memory_format},
            engine,
            1 + int(rng.integers(2)),
        )


def test_channels_last_group_norm_refuses_uninitialized_batches():
    """torch leaves batches past C/G*H*W uninitialized (see docs/numerics/norm.md)."""
    x = draw_qtensor(seeded_rng("gn_uninit"), (6, 2, 1, 1), QUINT8)
    with pytest.raises(ValueError, match="uninitialized"):
        ops.instance_norm(x, None, None, 1e-5, 0.1, 10)


@pytest.mark.parametrize("op", ["batch_norm", "batch_norm_relu"])
@pytest.mark.parametrize("engine", ENGINES)
def test_batch_norm(op, engine):
    rng = seeded_rng(op, engine)
    for _ in range(cases(12)):
        dtype = draw_dtype(rng, QTYPES)
        ndim = int(rng.integers(2, 6))
        channels = int(rng.integers(1, 80))
        shape = (int(rng.integers(0 if rng.random() < 0.05 else 1, 3)), channels) + tuple(
            int(v) for v in rng.integers(1, 4, ndim - 2)
        )
        x = draw_qtensor(rng, shape, dtype)
        weight = rng.normal(1, 0.5, channels).astype(np.float32)
        bias = rng.normal(0, 0.5, channels).astype(np.float32)
        mean = rng.normal(0, 1, channels).astype(np.float32)
        var = rng.uniform(0.0, 3, channels).astype(np.float32)
        memory_format = "channels_last" if ndim == 4 and rng.random() < 0.5 else "contiguous"
        args = (x, weight, bias, mean, var, draw_eps(rng), *_output(rng, dtype))
        check_against_torch(getattr(ops, op), args, {"memory_format": memory_format}, engine)
