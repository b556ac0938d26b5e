"""The numba backend: compiled kernels that follow the real kernels' order of
operations and are held bit-equal to the NumPy reference by the tests.

Importing this package registers every numba kernel.
"""

from qemu.backends.numba_backend import (  # noqa: F401
    activation,
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
