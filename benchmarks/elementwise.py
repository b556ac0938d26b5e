"""Rows of the elementwise, normalization and pooling family (issue 6), on a
1 x 64 x 56 x 56 quint8 activation (a ResNet stage's size): add, layer_norm and
avg_pool2d, against torch's quantized kernels."""

from __future__ import annotations

from benchmarks import row


def _activations(shape: tuple[int, ...], count: int):
    """``count`` random quint8 torch tensors of ``shape`` with different qparams."""
    import torch

    generator = torch.Generator().manual_seed(0)
    return [
        torch.quantize_per_tensor(
            torch.randn(*shape, generator=generator), 0.02 + 0.01 * i, 120 + 5 * i, torch.quint8
        )
        for i in range(count)
    ]


def _add_row(shape: tuple[int, ...]):
    def prepare():
        import torch

        import qemu
        import qemu.ops

        torch.backends.quantized.engine = "fbgemm"
        qa, qb = _activations(shape, 2)
        a, b = qemu.from_torch(qa), qemu.from_torch(qb)

        def torch_call():
            return torch.ops.quantized.add(qa, qb, 0.05, 128)

        def qemu_call(backend):
            return qemu.ops.add(a, b, 0.05, 128, engine="fbgemm", backend=backend)

        return torch_call, qemu_call

    return prepare


def _layer_norm_row(shape: tuple[int, ...]):
    def prepare():
        import torch

        import qemu
        import qemu.ops

        torch.backends.quantized.engine = "fbgemm"
        (qx,) = _activations(shape, 1)
        normalized = list(shape[-2:])
        generator = torch.Generator().manual_seed(1)
        gamma = torch.rand(*normalized, generator=generator) + 0.5
        beta = torch.randn(*normalized, generator=generator) * 0.1
        x, g, b = qemu.from_torch(qx), gamma.numpy(), beta.numpy()

        def torch_call():
            return torch.ops.quantized.layer_norm(qx, normalized, gamma, beta, 1e-5, 0.03, 128)

        def qemu_call(backend):
            return qemu.ops.layer_norm(
                x, normalized, g, b, 1e-5, 0.03, 128, engine="fbgemm", backend=backend
            )

        return torch_call, qemu_call

    return prepare


def _avg_pool_row(shape: tuple[int, ...]):
    def prepare():
        import torch

        import qemu
        import qemu.ops

        torch.backends.quantized.engine = "fbgemm"
        (qx,) = _activations(shape, 1)
        x = qemu.from_torch(qx)

        def torch_call():
            return torch.nn.functional.avg_pool2d(qx, 3, 2, 1)

        def qemu_call(backend):
            return qemu.ops.avg_pool2d(x, 3, 2, 1, engine="fbgemm", backend=backend)

        return torch_call, qemu_call

    return prepare


_SHAPE, _TINY = (1, 64, 56, 56), (1, 4, 6, 6)
row("add-1x64x56x56", "quantized add of two 1x64x56x56 quint8 tensors", tiny=_add_row(_TINY))(
    _add_row(_SHAPE)
)
row(
    "layer_norm-1x64x56x56",
    "quantized layer_norm of a 1x64x56x56 tensor over its last two dims, with affine",
    tiny=_layer_norm_row(_TINY),
)(_layer_norm_row(_SHAPE))
row(
    "avg_pool2d-1x64x56x56-3x3s2",
    "quantized avg_pool2d of a 1x64x56x56 tensor, 3x3 window, stride 2, pad 1",
    tiny=_avg_pool_row(_TINY),
)(_avg_pool_row(_SHAPE))
