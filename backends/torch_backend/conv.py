"""Static int8 convolutions through torch itself: ``conv{n}d_prepack`` /
``conv_transpose{n}d_prepack``, then the op, with the engine set by the runner."""

from __future__ import annotations

import numpy as np
import torch
from qemu.backends.torch_backend.linear import torch_bias

from qemu import engines
from qemu.dispatch import BackendUnavailable, Context, register
from qemu.interop import from_torch, to_torch
from qemu.ops.conv import ConvGeometry, conv_problem, fbgemm_conv_path
from qemu.qtensor import QTensor

_VECTOR_BYTES = {"avx512_vnni": 64, "avx512": 64, "avx2": 32}


def _check_host_computes(ctx: Context, input: QTensor, weight: QTensor, geometry: ConvGeometry):
    """fbgemm's groupwise kernel follows the hardware's VNNI support, not
    FBGEMM_ENABLE_INSTRUCTIONS (``GroupwiseConv.cc: getOrCreateConvKernel``): on a VNNI
    host torch cannot show a non-VNNI engine's groupwise numerics."""
    hardware = engines.hardware_fbgemm_isa()
    if not ctx.engine.is_fbgemm or hardware != "avx512_vnni" or not ctx.engine.saturating_int8_gemm:
        return
    x, kernel, _ = conv_problem(input, weight, geometry)
    out_channels = weight.shape[1] * geometry.groups if geometry.transposed else weight.shape[0]
    path = fbgemm_conv_path(geometry, x.shape[1], out_channels, kernel, _VECTOR_BYTES[hardware])
    if path == "groupwise":
        raise BackendUnavailable(
            f"the torch backend cannot compute {ctx.engine.name} for this convolution here: "
            "fbgemm's groupwise kernel picks VNNI from the hardware, ignoring "
            "FBGEMM_ENABLE_INSTRUCTIONS, so this host computes it exactly"
        )


@register("conv", "torch")
def _conv(
    ctx: Context,
    input: QTensor,
    weight: QTensor,
    bias: np.ndarray | None,
    transposed: bool,
    stride: tuple[int, ...],
    padding: tuple[int, ...],
    output_padding: tuple[int, ...],
    dilation: tuple[int, ...],
    groups: int,
    scale: float,
    zero_point: int,
    relu: bool,
) -> QTensor:
    geometry = ConvGeometry(transposed, stride, padding, output_padding, dilation, groups)
    _check_host_computes(ctx, input, weight, geometry)
    dims = input.ndim - 2
    if dims == 1:  # the kernel arguments are conv2d's; conv1d's prepack takes its own
        stride, padding, output_padding, dilation = (
            v[1:] for v in (stride, padding, output_padding, dilation)
        )
    ops = torch.ops.quantized
    w, b = to_torch(weight), torch_bias(bias)
    if transposed:
        prepack = getattr(ops, f"conv_transpose{dims}d_prepack")
        packed = prepack(
            w, b, list(stride), list(padding), list(output_padding), list(dilation), groups
        )
        op = getattr(ops, f"conv_transpose{dims}d")
    else:
        prepack = getattr(ops, f"conv{dims}d_prepack")
        packed = prepack(w, b, list(stride), list(padding), list(dilation), groups)
        op = getattr(ops, f"conv{dims}d_relu" if relu else f"conv{dims}d")
    return from_torch(op(to_torch(input), packed, scale, zero_point))
