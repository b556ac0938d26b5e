"""qemu: a bit-exact emulator of PyTorch's quantized CPU numerics.

Integer outputs equal torch's element for element, float outputs equal as bit
patterns, for each engine (``fbgemm``, ``fbgemm-avx512``, ``fbgemm-avx2``,
``qnnpack``) and on each backend (``numpy`` reference, ``numba``, ``torch``).

Examples
--------
>>> import numpy as np, qemu
>>> q = qemu.quantize_per_tensor(np.float32([0.1, 0.2]), 0.1, 0, "quint8")
>>> q.int_repr().tolist(), q.dequantize().tolist() == np.float32([0.1, 0.2]).tolist()
([1, 2], True)
"""

from qemu import engines, observers, qconfig, qparams
from qemu.config import use
from qemu.dtypes import QINT8, QINT32, QUINT2X4, QUINT4X2, QUINT8, QDType
from qemu.emulate import diff_model, emulate
from qemu.interop import from_torch
from qemu.qconfig import QConfig, get_default_dynamic_qconfig, get_default_qconfig
from qemu.qtensor import QTensor
from qemu.quantize import (
    dequantize,
    quantize_per_channel,
    quantize_per_tensor,
    quantize_per_tensor_dynamic,
)

__version__ = "0.1.0"

__all__ = [
    "QConfig",
    "QINT8",
    "QINT32",
    "QUINT2X4",
    "QUINT4X2",
    "QUINT8",
    "QDType",
    "QTensor",
    "dequantize",
    "diff_model",
    "emulate",
    "engines",
    "from_torch",
    "get_default_dynamic_qconfig",
    "get_default_qconfig",
    "observers",
    "qconfig",
    "qparams",
    "quantize_per_channel",
    "quantize_per_tensor",
    "quantize_per_tensor_dynamic",
    "use",
]
