"""The torch backend: the real ATen / FBGEMM / QNNPACK kernels of torch 2.13.

Importing this package registers every torch kernel; see :mod:`.runner` for how an
engine that this host does not run natively is reached.
"""

from qemu.backends.torch_backend import (  # noqa: F401
    activation,
    batch,
    conv,
    dynamic,
    elementwise,
    embedding,
    linear,
    matmul,
    norm,
    pool,
    quantize,
    rnn,
)
