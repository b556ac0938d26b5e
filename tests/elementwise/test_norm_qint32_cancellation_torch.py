"""qint32 layer / group / instance norm where the float pipeline cancels, so every
rounding reaches the codes (docs/numerics/norm.md): the zero point at an end of the
int32 range, codes clustered far from 0 (``S2/N - m*m``), output scales so small that
codes pass 2^24, and row lengths whose ``hsum_sq`` tail rounds its first four squares
(``len % 8 >= 4``). Also the channels-last group norm with a bias but no weight, whose
per-channel bias is not an FMA (every dtype)."""

import numpy as np
import pytest
from elementwise.cases import ENGINES, QTYPES, check_against_torch, draw_dtype, draw_qtensor

import qemu.ops as ops
from qemu.dtypes import QINT32
from qemu.qtensor import QTensor
from qemu.testing import cases, seeded_rng

torch = pytest.importorskip("torch")


def _norm_cases(
    key: str,
    zero_point: int,
    output_scales: tuple[float, float],
    count: int,
    centre: int = 0,
    spread: int = 2**20,
):
    """(op, args, kwargs) of random qint32 layer / group / instance norms, codes in
    ``centre`` +- ``spread``."""
    rng = seeded_rng("norm_qint32", key, zero_point)
    for index in range(count):
        op = ("layer_norm", "group_norm", "instance_norm")[index % 3]
        groups = int(rng.integers(1, 4))
        channels = groups * int(rng.integers(1, 6))
        shape = (1, channels, int(rng.integers(1, 5)), int(rng.integers(1, 5)))
        codes = np.clip(centre + rng.integers(-spread, spread, shape), -(2**31), 2**31 - 1)
        x = QTensor.per_tensor(codes, float(rng.choice([5.0, 0.0185, 1e-3])), zero_point, QINT32)
        gamma = rng.normal(0, 1, channels).astype(np.float32) if rng.random() < 0.7 else None
        eps = float(rng.choice([0.0, 1e-5, 0.1]))
        out = (float(10.0 ** rng.uniform(*output_scales)), int(rng.integers(-3000, 3000)))
        layout = "channels_last" if rng.random() < 0.5 else "contiguous"
        if op == "layer_norm":
            yield op, (x, list(shape[1:]), None, None, eps, *out), {}
        elif op == "group_norm":
            yield op, (x, groups, gamma, None, eps, *out), {"memory_format": layout}
        else:
            yield op, (x, gamma, None, eps, *out), {"memory_format": layout}


def _check(cases):
    for op, args, kwargs in cases:
        check_against_torch(getattr(ops, op), args, kwargs, "fbgemm")


@pytest.mark.parametrize("zero_point", [-(2**31), 2**31 - 1])
def test_qint32_norm_zero_point_at_the_int32_ends(zero_point):
    _check(_norm_cases("ends", zero_point, (-3, 0), cases(150)))


def test_qint32_norm_tiny_output_scale():
    _check(_norm_cases("tiny", 0, (-8, -6), cases(150)))


@pytest.mark.parametrize("centre", [2**22, -(2**23), 2**30])
def test_qint32_norm_clustered_codes(centre):
    _check(_norm_cases("clustered", 0, (-3, 0), cases(150), centre=centre, spread=2**8))


@pytest.mark.parametrize("zero_point", [-(2**30), 0, 2**30])
def test_qint32_norm_zero_points_within_the_range(zero_point):
    _check(_norm_cases("within", zero_point, (-4, 0), cases(60)))


def test_qint32_layer_norm_rows_with_a_rounded_hsum_sq_tail():
    """Rows of ``8k + 4`` to ``8k + 7`` clustered codes: the first four squares of the
    ``hsum_sq`` tail are rounded before they are added, the rest fused."""
    rng = seeded_rng("hsum_sq_tail")
    for _ in range(cases(150)):
        length = 8 * int(rng.integers(0, 4)) + int(rng.integers(4, 8))
        centre = int(rng.integers(-(2**23), 2**23))
        spread = int(2 ** rng.integers(4, 16))
        codes = centre + rng.integers(-spread, spread, (int(rng.integers(1, 4)), length))
        x = QTensor.per_tensor(codes, 0.0185, int(rng.integers(-(2**23), 2**23)), QINT32)
        args = (x, [length], None, None, float(rng.choice([0.0, 1e-5])), 0.01, 7)
        check_against_torch(ops.layer_norm, args, {}, "fbgemm")


@pytest.mark.parametrize("engine", ENGINES)
def test_channels_last_group_norm_with_a_bias_and_no_weight(engine):
    """``bias_c = f32(f32(-rstd * mean) + beta_c)``, not an FMA, on both sides of
    ``H*W = 512``; power-of-two output scales make the extra rounding reach codes."""
    rng = seeded_rng("gn_nhwc_bias_only", engine)
    for index in range(cases(40)):
        dtype = draw_dtype(rng, QTYPES)
        groups = int(rng.integers(1, 4))
        channels = groups * int(rng.integers(1, 12))
        spatial = (16, 32) if index % 4 == 3 else tuple(int(v) for v in rng.integers(1, 6, 2))
        x = draw_qtensor(rng, (int(rng.integers(1, 3)), channels, *spatial), dtype, 0.0185)
        bias = rng.normal(0, 1, channels).astype(np.float32)
        zero_point = 10 if dtype != QINT32 else int(rng.integers(-3000, 3000))
        args = (x, groups, None, bias, 1e-5, float(2.0 ** -rng.integers(3, 8)), zero_point)
        check_against_torch(
            ops.group_norm, args, {"memory_format": "channels_last"}, engine, 1 + index % 2
        )
