"""``quantized::matmul``: dequantize both inputs, multiply in float32, quantize.

On x86 builds ``qmatmul.cpp`` runs ``at::matmul(qa.dequantize(), qb.dequantize())``
and ``at::quantize_per_tensor`` on every engine (its ruy path is mobile-only).
:mod:`qemu.numerics.sgemm` models the float products: MKL ``sgemm`` for 2-D inputs
and for batches of at least 400 multiply-adds, ATen's own loop below that. qemu takes
inputs of equal rank >= 2 (the contract of torch's ruy build; x86 torch also takes
1-D and mixed ranks, which run MKL's dot/gemv kernels not modelled here), with
broadcastable batch dimensions. ``docs/numerics/elementwise.md`` has the details.
"""

from __future__ import annotations

import numpy as np

from qemu import dispatch
from qemu.dtypes import QINT8, QUINT8
from qemu.numerics import sgemm
from qemu.numerics.affine import dequantize_val
from qemu.ops.common import check_output_qparams, check_qtensor, per_tensor
from qemu.qtensor import QTensor
from qemu.quantize import quantize_per_tensor_codes


def matmul(
    qa: QTensor,
    qb: QTensor,
    scale: float,
    zero_point: int,
    *,
    engine: str | None = None,
    backend: str | None = None,
) -> QTensor:
    """``torch.ops.quantized.matmul(qa, qb, scale, zero_point)``.

    Examples
    --------
    >>> import qemu
    >>> a = qemu.QTensor.per_tensor([[1, 2], [3, 4]], 0.5, 0, "qint8")
    >>> matmul(a, a, 0.25, 0).int_repr().tolist()
    [[7, 10], [15, 22]]
    """
    qa = check_qtensor(qa, "qa", (QUINT8, QINT8))
    qb = check_qtensor(qb, "qb", (QUINT8, QINT8))
    if qa.dtype != qb.dtype:
        raise ValueError(
            f"qb: matmul operands must have the same dtype, got {qa.dtype.name} and {qb.dtype.name}"
        )
    if qa.ndim != qb.ndim or qa.ndim < 2:
        raise ValueError(
            f"qa, qb: qemu's matmul takes operands of equal rank >= 2, got {qa.ndim} and {qb.ndim}"
        )
    if qa.shape[-1] != qb.shape[-2]:
        raise ValueError(
            f"qb: size {qb.shape[-2]} of dimension -2 does not match size {qa.shape[-1]} of "
            "qa's last dimension"
        )
    try:
        np.broadcast_shapes(qa.shape[:-2], qb.shape[:-2])
    except ValueError:
        raise ValueError(
            f"qa, qb: batch dimensions {qa.shape[:-2]} and {qb.shape[:-2]} do not broadcast"
        ) from None
    scale, zero_point = check_output_qparams(scale, zero_point, qa.dtype)
    return dispatch.call("matmul", qa, qb, scale, zero_point, engine=engine, backend=backend)


def float_matmul(ctx: dispatch.Context, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``at::matmul`` of two float32 arrays of equal rank >= 2 (contiguous)."""
    if a.ndim == 2:
        return sgemm.mkl_sgemm(a, b, threads=ctx.threads)
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    m, k, n = a.shape[-2], a.shape[-1], b.shape[-1]
    count = int(np.prod(batch, dtype=np.int64))
    a3 = np.broadcast_to(a, batch + (m, k)).reshape(count, m, k)
    b3 = np.broadcast_to(b, batch + (k, n)).reshape(count, k, n)
    return sgemm.aten_bmm(a3, b3, threads=ctx.threads).reshape(batch + (m, n))


@dispatch.reference("matmul")
def matmul_reference(ctx, qa, qb, scale, zero_point) -> QTensor:
    a = dequantize_val(qa.codes, qa.q_scale(), qa.q_zero_point())
    b = dequantize_val(qb.codes, qb.q_scale(), qb.q_zero_point())
    y = float_matmul(ctx, a, b)
    codes = quantize_per_tensor_codes(y, scale, zero_point, qa.dtype)
    return per_tensor(codes, scale, zero_point, qa.dtype)


__all__ = ["matmul"]
