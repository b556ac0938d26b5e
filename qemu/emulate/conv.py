"""Static quantized convolutions: ``nnq.Conv1d/2d/3d``, ``nnq.ConvTranspose1d/2d/3d``
and the fused ``nniq.ConvReLU1d/2d/3d`` (the modules the seed's ConvBn / ConvBnReLU
fusions convert to as well)."""

from __future__ import annotations

import torch
import torch.ao.nn.intrinsic.quantized as nniq
import torch.ao.nn.quantized as nnq

import qemu.ops
from qemu.emulate.base import EmulatedModule, channels_last_order, from_result, to_qtensor
from qemu.emulate.linear import weight_and_bias
from qemu.emulate.registry import register

_CONVS = {
    nnq.Conv1d: "conv1d",
    nnq.Conv2d: "conv2d",
    nnq.Conv3d: "conv3d",
    nniq.ConvReLU1d: "conv1d_relu",
    nniq.ConvReLU2d: "conv2d_relu",
    nniq.ConvReLU3d: "conv3d_relu",
}
_TRANSPOSED = {
    nnq.ConvTranspose1d: "conv_transpose1d",
    nnq.ConvTranspose2d: "conv_transpose2d",
    nnq.ConvTranspose3d: "conv_transpose3d",
}


class EmulatedConv(EmulatedModule):
    """``quantized::conv*`` / ``conv_transpose*`` through qemu, with the module's geometry
    and prepacked weight; the output is channels-last, as both engines write it."""

    def __init__(self, original: torch.nn.Module, engine: str, backend: str) -> None:
        super().__init__(original, engine, backend)
        self.weight, self.bias = weight_and_bias(original)
        self.transposed = type(original) in _TRANSPOSED
        self.op = getattr(qemu.ops, {**_CONVS, **_TRANSPOSED}[type(original)])
        self.dims = len(original.kernel_size)
        if self.transposed:
            # Argument order of quantized::conv_transpose*: output_padding before groups.
            self.geometry = (
                original.stride,
                original.padding,
                original.output_padding,
                original.groups,
                original.dilation,
            )
        else:
            self.geometry = (
                original.stride,
                original.padding,
                original.dilation,
                original.groups,
                original.padding_mode,
            )
        self.scale = float(original.scale)
        self.zero_point = int(original.zero_point)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != self.dims + 2:
            raise ValueError(
                f"input: expected {self.dims + 2} dimensions (N, C, spatial...), got shape "
                f"{tuple(x.shape)}"
            )
        result = self.op(
            to_qtensor(x),
            self.weight,
            self.bias,
            *self.geometry,
            self.scale,
            self.zero_point,
            **self.ops_kwargs(),
        )
        return from_result(result, channels_last_order(x.dim()))


register(*_CONVS, *_TRANSPOSED)(EmulatedConv)
