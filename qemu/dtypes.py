"""Quantized dtypes and quantization schemes, named as torch names them.

Users pass them as strings (``"quint8"``, ``"per_channel_affine"``); where torch is
installed, torch's own objects (``torch.quint8``, ``torch.per_channel_affine``) are
accepted too and mean the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class QDType:
    """A quantized integer type: its name, code range and NumPy storage.

    Sub-byte types (``quint4x2``, ``quint2x4``) store one code per element in a
    ``uint8`` array; torch packs them (:meth:`qemu.QTensor.int_repr` packs too).

    Examples
    --------
    >>> QUINT8.qmin, QUINT8.qmax, QUINT8.storage
    (0, 255, dtype('uint8'))
    """

    name: str
    bits: int
    signed: bool
    storage: np.dtype

    @property
    def qmin(self) -> int:
        return -(2 ** (self.bits - 1)) if self.signed else 0

    @property
    def qmax(self) -> int:
        return 2 ** (self.bits - 1) - 1 if self.signed else 2**self.bits - 1

    @property
    def sub_byte(self) -> bool:
        return self.bits < 8

    def __repr__(self) -> str:
        return self.name

    def __str__(self) -> str:
        return self.name


QUINT8 = QDType("quint8", 8, False, np.dtype(np.uint8))
QINT8 = QDType("qint8", 8, True, np.dtype(np.int8))
QINT32 = QDType("qint32", 32, True, np.dtype(np.int32))
QUINT4X2 = QDType("quint4x2", 4, False, np.dtype(np.uint8))
QUINT2X4 = QDType("quint2x4", 2, False, np.dtype(np.uint8))

QDTYPES: dict[str, QDType] = {d.name: d for d in (QUINT8, QINT8, QINT32, QUINT4X2, QUINT2X4)}

PER_TENSOR_AFFINE = "per_tensor_affine"
PER_TENSOR_SYMMETRIC = "per_tensor_symmetric"
PER_CHANNEL_AFFINE = "per_channel_affine"
PER_CHANNEL_SYMMETRIC = "per_channel_symmetric"
PER_CHANNEL_AFFINE_FLOAT_QPARAMS = "per_channel_affine_float_qparams"

QSCHEMES: tuple[str, ...] = (
    PER_TENSOR_AFFINE,
    PER_TENSOR_SYMMETRIC,
    PER_CHANNEL_AFFINE,
    PER_CHANNEL_SYMMETRIC,
    PER_CHANNEL_AFFINE_FLOAT_QPARAMS,
)
PER_TENSOR_QSCHEMES = (PER_TENSOR_AFFINE, PER_TENSOR_SYMMETRIC)
PER_CHANNEL_QSCHEMES = (PER_CHANNEL_AFFINE, PER_CHANNEL_SYMMETRIC, PER_CHANNEL_AFFINE_FLOAT_QPARAMS)


def _torch_name(value: object, kind: str) -> str | None:
    """``torch.quint8`` -> ``"quint8"``, recognised by type name so torch is never imported."""
    cls = type(value)
    if cls.__module__ == "torch" and cls.__name__ == kind:
        return str(value).removeprefix("torch.")
    return None


def as_qdtype(dtype: object, *, argument: str = "dtype") -> QDType:
    """Return the :class:`QDType` a user-facing ``dtype`` argument names.

    Accepts a :class:`QDType`, its name (``"quint8"``, also ``"torch.quint8"``) or a
    torch dtype object.

    Examples
    --------
    >>> as_qdtype("qint8") is QINT8
    True
    """
    if isinstance(dtype, QDType):
        return dtype
    name = dtype if isinstance(dtype, str) else _torch_name(dtype, "dtype")
    if name is None:
        raise TypeError(
            f"{argument}: expected a quantized dtype name such as 'quint8', got "
            f"{type(dtype).__name__} {dtype!r}"
        )
    found = QDTYPES.get(name.removeprefix("torch."))
    if found is None:
        raise ValueError(
            f"{argument}: expected one of {', '.join(repr(n) for n in QDTYPES)}, got {dtype!r}"
        )
    return found


def as_qscheme(qscheme: object, *, argument: str = "qscheme") -> str:
    """Return the canonical name of a quantization scheme.

    Examples
    --------
    >>> as_qscheme("per_channel_symmetric")
    'per_channel_symmetric'
    """
    name = qscheme if isinstance(qscheme, str) else _torch_name(qscheme, "qscheme")
    if name is None:
        raise TypeError(
            f"{argument}: expected a qscheme name such as 'per_tensor_affine', got "
            f"{type(qscheme).__name__} {qscheme!r}"
        )
    name = name.removeprefix("torch.")
    if name not in QSCHEMES:
        raise ValueError(
            f"{argument}: expected one of {', '.join(repr(n) for n in QSCHEMES)}, got {qscheme!r}"
        )
    return name


FLOAT_DTYPES = ("float32", "float16", "bfloat16", "float64")


def float_dtype_name(dtype: object) -> str | None:
    """The name of a float dtype (``"float16"``, ``torch.float16``, ...), or ``None`` if
    ``dtype`` names no float dtype. Placeholder observers and
    ``quantize_per_tensor_dynamic`` take float dtypes beside the quantized ones.

    Examples
    --------
    >>> float_dtype_name("float16"), float_dtype_name("quint8")
    ('float16', None)
    """
    name = dtype if isinstance(dtype, str) else _torch_name(dtype, "dtype")
    if name is None:
        return None
    name = name.removeprefix("torch.")
    return name if name in FLOAT_DTYPES else None
