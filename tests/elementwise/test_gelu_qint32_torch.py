"""qint32 gelu where one float32 ulp is many codes: a scale of 2^-26 makes every bit of
the float result visible, so any difference in the float math shows as a code."""

import numpy as np
import pytest
from elementwise.cases import ENGINES, check_against_torch

import qemu.ops as ops
from qemu import QTensor
from qemu.testing import cases, seeded_rng

pytest.importorskip("torch")


@pytest.mark.parametrize("approximate", ["none", "tanh"])
@pytest.mark.parametrize("engine", ENGINES)
def test_gelu_qint32_fine_scale(engine, approximate):
    """Dense inputs in [-8, 8) (the vector body) plus the negative half where
    ``1 + tanh`` cancels. Without the fused ``x + kappa * x^3`` of the vector body,
    about 1 input in 300 came out one or more codes off."""
    rng = seeded_rng("gelu_qint32_fine_scale", engine, approximate)
    for _ in range(cases(1)):
        codes = rng.integers(-(2**29), 2**29, size=2**15 - 1)  # one thread, with a tail
        codes[: 2**13] = rng.integers(-(2**28), 0, size=2**13)
        x = QTensor.per_tensor(codes, 2.0**-26, 0, "qint32")
        check_against_torch(ops.gelu, (x, approximate), {}, engine)


def test_gelu_tanh_soak_case(engine="fbgemm"):
    """The element the 10,000-case activation soak found 5 codes off (x = -1.9937649)."""
    x = QTensor.per_tensor(np.full(16, -175016984), 1.1392083740397728e-08, -3805, "qint32")
    expected = check_against_torch(ops.gelu, (x, "tanh"), {}, engine)
    assert expected.int_repr().tolist() == [-4036541] * 16
