"""Property-based differential tests (hypothesis) for the elementwise family: add / mul
with broadcasting and non-contiguous (permuted) inputs, scalar operands, cat along each
dim with differing input qparams, and a few activations, norms and pools -- torch,
numpy and numba bit-equal on every drawn case."""

import numpy as np
import pytest
from elementwise.cases import ENGINES, check_against_torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import qemu
import qemu.ops as ops

pytest.importorskip("torch")

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DTYPES = ["quint8", "qint8", "qint32"]

scales = st.one_of(
    st.integers(-8, 3).map(lambda e: 2.0**e),  # exact ties
    st.floats(1e-3, 10.0).map(lambda v: float(np.float32(v))),
)


@st.composite
def qtensors(draw, shape, dtype):
    qdtype = qemu.dtypes.as_qdtype(dtype)
    zero_point = draw(
        st.one_of(
            st.sampled_from([qdtype.qmin, qdtype.qmax]),
            st.integers(max(qdtype.qmin, -4096), min(qdtype.qmax, 4096)),
        )
    )
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    low, high = (-(2**20), 2**20) if dtype == "qint32" else (qdtype.qmin, qdtype.qmax + 1)
    codes = rng.integers(low, high, shape, dtype=np.int64)
    return qemu.QTensor.per_tensor(codes, draw(scales), zero_point, dtype)


@st.composite
def broadcast_pair(draw):
    ndim = draw(st.integers(1, 4))
    shape = tuple(draw(st.lists(st.integers(1, 9), min_size=ndim, max_size=ndim)))
    other = list(shape)
    for i in range(ndim):
        if draw(st.booleans()) and draw(st.booleans()):
            other[i] = 1
    drop = draw(st.integers(0, ndim - 1))
    other = tuple(other[drop:])
    return (shape, other) if draw(st.booleans()) else (other, shape)


def _order(draw, ndim):
    return tuple(draw(st.permutations(range(ndim)))) if ndim > 1 else "contiguous"


@SETTINGS
@given(data=st.data(), op=st.sampled_from(["add", "add_relu", "mul", "mul_relu"]))
def test_binary_broadcast_and_permuted(data, op):
    shape_a, shape_b = data.draw(broadcast_pair(), label="shapes")
    dtype = data.draw(st.sampled_from(DTYPES), label="dtype")
    qa = data.draw(qtensors(shape_a, dtype), label="qa")
    qb = data.draw(qtensors(shape_b, dtype), label="qb")
    scale = data.draw(scales, label="scale")
    zero_point = data.draw(st.integers(qa.dtype.qmin, min(qa.dtype.qmax, 4096)), label="zp")
    layouts = (_order(data.draw, qa.ndim), _order(data.draw, qb.ndim))
    engine = data.draw(st.sampled_from(ENGINES), label="engine")
    threads = data.draw(st.integers(1, 2), label="threads")
    check_against_torch(
        getattr(ops, op), (qa, qb, scale, zero_point), {"memory_format": layouts}, engine, threads
    )


@SETTINGS
@given(
    data=st.data(),
    op=st.sampled_from(["add_scalar", "add_scalar_relu", "mul_scalar", "mul_scalar_relu"]),
    other=st.one_of(st.floats(-50, 50), st.integers(-3, 3).map(float)),
)
def test_scalar_operands(data, op, other):
    ndim = data.draw(st.integers(1, 3))
    shape = tuple(data.draw(st.lists(st.integers(0, 9), min_size=ndim, max_size=ndim)))
    x = data.draw(qtensors(shape, data.draw(st.sampled_from(DTYPES))), label="x")
    engine = data.draw(st.sampled_from(ENGINES), label="engine")
    check_against_torch(getattr(ops, op), (x, other), {}, engine)


@SETTINGS
@given(data=st.data(), relu=st.booleans())
def test_cat_each_dim_differing_qparams(data, relu):
    ndim = data.draw(st.integers(1, 4))
    base = tuple(data.draw(st.lists(st.integers(1, 6), min_size=ndim, max_size=ndim)))
    dim = data.draw(st.integers(-ndim, ndim - 1), label="dim")
    dtype = data.draw(st.sampled_from(DTYPES), label="dtype")
    count = data.draw(st.integers(1, 3), label="count")
    xs = []
    for _ in range(count):
        shape = list(base)
        shape[dim] = data.draw(st.integers(1, 5))
        xs.append(data.draw(qtensors(tuple(shape), dtype)))
    scale = data.draw(scales, label="scale")
    zero_point = data.draw(st.integers(xs[0].dtype.qmin, min(xs[0].dtype.qmax, 4096)))
    memory_format = "channels_last" if ndim == 4 and data.draw(st.booleans()) else None
    engine = data.draw(st.sampled_from(ENGINES), label="engine")
    check_against_torch(
        ops.cat_relu if relu else ops.cat,
        (xs, dim, scale, zero_point),
        {"memory_format": memory_format},
        engine,
    )


@SETTINGS
@given(
    data=st.data(),
    op=st.sampled_from(["hardswish", "sigmoid", "tanh", "elu", "gelu", "leaky_relu"]),
)
def test_activations_any_layout(data, op):
    ndim = data.draw(st.integers(1, 4))
    shape = tuple(data.draw(st.lists(st.integers(1, 40), min_size=ndim, max_size=ndim)))
    x = data.draw(qtensors(shape, data.draw(st.sampled_from(DTYPES))), label="x")
    args = {
        "hardswish": (0.05, 3 if x.dtype.name != "qint8" else 0),
        "elu": (0.05, 3 if x.dtype.name != "qint8" else 0),
        "leaky_relu": (0.1,),
    }.get(op, ())
    engine = data.draw(st.sampled_from(ENGINES), label="engine")
    threads = data.draw(st.integers(1, 2), label="threads")
    check_against_torch(
        getattr(ops, op), (x, *args), {"memory_format": _order(data.draw, ndim)}, engine, threads
    )
