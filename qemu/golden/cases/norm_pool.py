"""Golden cases of the quantized norms (layer, group, instance, batch[_relu]) and pools
(avg 2-D / 3-D, adaptive avg 2-D / 3-D, max 1-D / 2-D): every dtype, contiguous and
channels-last inputs, eps from 0 to 1, zero variances, ceil mode, divisors, padding,
dilation, output sizes that do and do not divide the input (QNNPACK's path)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from qemu.dtypes import QUINT8
from qemu.engines import Engine
from qemu.golden.cases import draws
from qemu.golden.cases.registry import CaseArguments, generator
from qemu.qtensor import QTensor

RANDOM_CASES = 10


def draw_affine(rng, size):
    """A norm's (weight, bias), each None three times in ten."""
    weight = rng.normal(1, 0.5, size).astype(np.float32) if rng.random() < 0.7 else None
    bias = rng.normal(0, 0.5, size).astype(np.float32) if rng.random() < 0.7 else None
    return weight, bias


def draw_eps(rng):
    """eps from 0 to 1."""
    return float(rng.choice([1e-5, 1e-3, 0.1, 0.0, 1.0]))


def _output(rng, dtype):
    """Output qparams."""
    return [draws.draw_scale(rng), draws.draw_zero_point(rng, dtype)]


@generator("layer_norm")
def _layer_norm_cases(rng: np.random.Generator, engine: Engine) -> Iterable[CaseArguments]:
    # A constant row (zero variance), one element.
    yield [draws.draw_qtensor(rng, (2, 5), QUINT8, 0.5, 0), [5], None, None, 0.0, 0.5, 128], {}
    constant = QTensor.per_tensor(np.full((1, 6), 9), 0.5, 3, "quint8")
    yield [constant, [6], None, None, 1e-5, 2.0**-4, 0], {}
    yield [draws.draw_qtensor(rng, (1,), QUINT8), [1], None, None, 1e-5, 0.1, 255], {}
    for _ in range(RANDOM_CASES):
        dtype = draws.draw_dtype(rng)
        trailing = tuple(int(v) for v in rng.integers(1, 20, int(rng.integers(1, 3))))
        lead = tuple(int(v) for v in rng.integers(0, 4, int(rng.integers(0, 3))))
        zero_point = draws.draw_zero_point(rng, dtype)  # drawn before the scale
        x = draws.draw_qtensor(rng, lead + trailing, dtype, zero_point=zero_point)
        shape = trailing[-int(rng.integers(1, len(trailing) + 1)) :]
        yield (
            [
                x,
                list(shape),
                *draw_affine(rng, shape),
                draw_eps(rng),
                *_output(rng, dtype),
            ],
            {},
        )


def _group_input(rng):
    dtype = draws.draw_dtype(rng)
    groups = int(rng.integers(1, 4))
    channels = groups * int(rng.integers(1, 5))
    spatial = tuple(int(v) for v in rng.integers(1, 6, int(rng.integers(1, 4))))
    shape = (int(rng.integers(1, 3)), channels, *spatial)
    memory_format = "channels_last" if len(shape) == 4 and rng.random() < 0.5 else "contiguous"
    zero_point = draws.draw_zero_point(rng, dtype)  # drawn before the scale
    x = draws.draw_qtensor(rng, shape, dtype, zero_point=zero_point)
    return x, groups, channels, memory_format


@generator("group_norm", "instance_norm")
def _group_norm_cases(rng: np.random.Generator, engine: Engine, op: str) -> Iterable[CaseArguments]:
    # One element per group (zero variance); an extreme output scale, zero point at the end.
    single = draws.draw_qtensor(rng, (1, 2, 1, 1), QUINT8, 2.0**-2, 0)
    yield (
        [single, 2, None, None, 1e-5, 0.1, 255]
        if op == "group_norm"
        else [single, None, None, 1e-5, 0.1, 255],
        {},
    )
    x = draws.draw_qtensor(rng, (2, 4, 3), QUINT8)
    tail = [None, None, 1e-5, 1e-6, 255]
    yield [x, 2, *tail] if op == "group_norm" else [x, *tail], {}
    for _ in range(RANDOM_CASES + 2):
        x, groups, channels, memory_format = _group_input(rng)
        tail = [*draw_affine(rng, channels), draw_eps(rng), *_output(rng, x.dtype)]
        head = [x, groups] if op == "group_norm" else [x]
        yield [*head, *tail], {"memory_format": memory_format}


@generator("batch_norm", "batch_norm_relu")
def _batch_norm_cases(rng: np.random.Generator, engine: Engine, op: str) -> Iterable[CaseArguments]:
    for index in range(RANDOM_CASES + 2):
        dtype = draws.draw_dtype(rng)
        ndim = int(rng.integers(2, 6))
        channels = int(rng.integers(1, 20))
        batch = 0 if index == 0 else int(rng.integers(1, 3))
        shape = (batch, channels) + tuple(int(v) for v in rng.integers(1, 4, ndim - 2))
        x = draws.draw_qtensor(rng, shape, dtype)
        weight = rng.normal(1, 0.5, channels).astype(np.float32)
        bias = rng.normal(0, 0.5, channels).astype(np.float32)
        mean = rng.normal(0, 1, channels).astype(np.float32)
        var = rng.uniform(0.0, 3, channels).astype(np.float32)
        var[0] = 0.0 if index == 1 else var[0]
        memory_format = "channels_last" if ndim == 4 and rng.random() < 0.5 else "contiguous"
        args = [x, weight, bias, mean, var, draw_eps(rng), *_output(rng, dtype)]
        yield args, {"memory_format": memory_format}


def _pool_input(rng, spatial, batched=True):
    dtype = draws.draw_dtype(rng)
    channels = int(rng.integers(1, 12))
    sizes = tuple(int(v) for v in rng.integers(1, 9 if spatial < 3 else 5, spatial))
    shape = ((int(rng.integers(1, 3)),) if batched else ()) + (channels,) + sizes
    if len(shape) == 4 and rng.random() < 0.5:
        memory_format = "channels_last"
    elif len(shape) == 5 and rng.random() < 0.5:
        memory_format = "channels_last_3d"
    else:
        memory_format = "contiguous"
    return draws.draw_qtensor(rng, shape, dtype), {"memory_format": memory_format}


def draw_window(rng, spatial):
    """(kernel, stride or None, padding) of a pooling window."""
    kernel = tuple(int(v) for v in rng.integers(1, 4, spatial))
    stride = tuple(int(v) for v in rng.integers(1, 4, spatial)) if rng.random() < 0.8 else None
    padding = tuple(int(rng.integers(0, k // 2 + 1)) for k in kernel)
    return kernel, stride, padding


def _one_element(rng, spatial):
    """A 1-element input (ties: power-of-two scale, zero point at the top)."""
    return draws.draw_qtensor(rng, (1, 1) + (1,) * spatial, QUINT8, 2.0**-2, 255)


@generator("avg_pool2d", "avg_pool3d")
def _avg_pool_cases(rng: np.random.Generator, engine: Engine, op: str) -> Iterable[CaseArguments]:
    spatial = int(op[-2])
    yield [_one_element(rng, spatial), 1, None, 0, False, True, None], {}
    yield [_one_element(rng, spatial), 2, 1, 1, True, False, 3], {}
    for _ in range(RANDOM_CASES + 2):
        x, kwargs = _pool_input(rng, spatial, batched=spatial == 3 or rng.random() < 0.8)
        kernel, stride, padding = draw_window(rng, spatial)
        divisor = int(rng.integers(1, 10)) if rng.random() < 0.2 else None
        ceil_mode, include_pad = bool(rng.random() < 0.3), bool(rng.random() < 0.7)
        yield [x, kernel, stride, padding, ceil_mode, include_pad, divisor], kwargs


@generator("adaptive_avg_pool2d", "adaptive_avg_pool3d")
def _adaptive_pool_cases(
    rng: np.random.Generator, engine: Engine, op: str
) -> Iterable[CaseArguments]:
    spatial = int(op[-2])
    yield [_one_element(rng, spatial), 1], {}
    for _ in range(RANDOM_CASES + 2):
        x, kwargs = _pool_input(rng, spatial, batched=rng.random() < 0.8)
        sizes = x.shape[-spatial:]
        if rng.random() < 0.4:  # divisible sizes: QNNPACK's path for quint8
            out = tuple(max(1, n // int(rng.integers(1, 4))) for n in sizes)
        else:
            out = tuple(int(v) for v in rng.integers(1, 5, spatial))
        if spatial == 3 and out == (1, 1, 1) and kwargs["memory_format"] != "contiguous":
            # ATen's float mean over a channels_last_3d input is not modelled (pool.md).
            kwargs = {"memory_format": "contiguous"}
        yield [x, out], kwargs


@generator("max_pool1d", "max_pool2d")
def _max_pool_cases(rng: np.random.Generator, engine: Engine, op: str) -> Iterable[CaseArguments]:
    spatial = int(op[-2])
    yield [_one_element(rng, spatial), 2, 1, 1], {}
    for _ in range(RANDOM_CASES + 2):
        x, kwargs = _pool_input(rng, spatial, batched=rng.random() < 0.8)
        kernel, stride, padding = draw_window(rng, spatial)
        dilation = tuple(int(v) for v in rng.integers(1, 3, spatial))
        args = [x, kernel, stride, padding, dilation, bool(rng.random() < 0.3)]
        yield args, kwargs if spatial == 2 else {}
