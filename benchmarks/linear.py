"""Rows of the static int8 linear / convolution family (issue 3)."""

from __future__ import annotations

from benchmarks import row


def _quantized_pair(shape_x, shape_w):
    """Random torch quantized activations and per-tensor symmetric qint8 weights."""
    import torch

    generator = torch.Generator().manual_seed(0)
    x = torch.randn(*shape_x, generator=generator)
    w = torch.randn(*shape_w, generator=generator) * 0.1
    qx = torch.quantize_per_tensor(x, float((x.max() - x.min()) / 255), 128, torch.quint8)
    qw = torch.quantize_per_tensor(w, float(w.abs().max() / 127), 0, torch.qint8)
    bias = torch.randn(shape_w[0], generator=generator)
    return qx, qw, bias


def _linear_row(m, k, n):
    def prepare():
        import torch

        import qemu
        import qemu.ops

        torch.backends.quantized.engine = "fbgemm"
        qx, qw, bias = _quantized_pair((m, k), (n, k))
        packed = torch.ops.quantized.linear_prepack(qw, bias)
        x, w, b = qemu.from_torch(qx), qemu.from_torch(qw), bias.numpy()

        def torch_call():
            return torch.ops.quantized.linear(qx, packed, 0.5, 100)

        def qemu_call(backend):
            return qemu.ops.linear(x, w, b, 0.5, 100, engine="fbgemm", backend=backend)

        return torch_call, qemu_call

    return prepare


def _conv_row(batch, channels, size, out_channels, kernel, padding, groups):
    def prepare():
        import torch

        import qemu
        import qemu.ops

        torch.backends.quantized.engine = "fbgemm"
        qx, qw, bias = _quantized_pair(
            (batch, channels, size, size), (out_channels, channels // groups, kernel, kernel)
        )
        packed = torch.ops.quantized.conv2d_prepack(qw, bias, [1, 1], [padding] * 2, [1, 1], groups)
        x, w, b = qemu.from_torch(qx), qemu.from_torch(qw), bias.numpy()

        def torch_call():
            return torch.ops.quantized.conv2d(qx, packed, 0.5, 100)

        def qemu_call(backend):
            return qemu.ops.conv2d(x, w, b, 1, padding, 1, groups, "zeros", 0.5, 100,
                                   engine="fbgemm", backend=backend)  # fmt: skip

        return torch_call, qemu_call

    return prepare


for _m, _k, _n in [(1, 1024, 1024), (64, 1024, 1024), (256, 2048, 2048)]:
    row(f"linear-{_m}x{_k}x{_n}", f"linear M x K x N = {_m} x {_k} x {_n}, bias",
        tiny=_linear_row(_m, 40, 24))(_linear_row(_m, _k, _n))  # fmt: skip
row("conv2d-1x64x56x56-3x3", "conv2d 1x64x56x56, 3x3 64->64, pad 1 (im2col)",
    tiny=_conv_row(1, 8, 6, 8, 3, 1, 1))(_conv_row(1, 64, 56, 64, 3, 1, 1))  # fmt: skip
row("conv2d-1x256x14x14-1x1", "conv2d 1x256x14x14, 1x1 256->1024 (pointwise)",
    tiny=_conv_row(1, 16, 4, 32, 1, 0, 1))(_conv_row(1, 256, 14, 1024, 1, 0, 1))  # fmt: skip
row("depthwise-1x32x112x112-3x3", "depthwise conv2d 1x32x112x112, 3x3, pad 1",
    tiny=_conv_row(1, 8, 6, 8, 3, 1, 8))(_conv_row(1, 32, 112, 32, 3, 1, 32))  # fmt: skip
del _m, _k, _n
