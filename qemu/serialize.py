"""A language-neutral encoding of op arguments and results: JSON plus named arrays.

Used by the golden-vector format and by the torch backend's subprocess. Nothing is
ever unpickled: arrays travel as ``.npz`` members read with ``allow_pickle=False``,
and everything else is plain JSON with a few tagged objects:

================================  ============================================
``{"$array": "a3"}``              the array stored under that name
``{"$qtensor": {...}}``           a QTensor: codes array, dtype, qscheme, params
``{"$tuple": [...]}``             a tuple (JSON arrays decode as lists)
``{"$dict": {...}}``              a dict with string keys
``{"$float": "nan"}``             a non-finite float ("nan", "inf", "-inf")
``{"$qdtype": "quint8"}``         a quantized dtype
================================  ============================================

Finite floats are JSON numbers (Python writes the shortest repr that reads back to
the same double).
"""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np

from qemu.dtypes import PER_CHANNEL_AFFINE_FLOAT_QPARAMS, QDType, as_qdtype
from qemu.qtensor import QTensor

_ALLOWED_ARRAY_KINDS = "biuf"


class Encoder:
    """Collects arrays while turning a value into JSON-ready data."""

    def __init__(self, prefix: str = "a") -> None:
        self.arrays: dict[str, np.ndarray] = {}
        self._prefix = prefix

    def _store(self, array: np.ndarray) -> dict[str, str]:
        if array.dtype.kind not in _ALLOWED_ARRAY_KINDS:
            raise TypeError(f"cannot encode an array of dtype {array.dtype}")
        name = f"{self._prefix}{len(self.arrays)}"
        self.arrays[name] = np.ascontiguousarray(array)
        return {"$array": name}

    def encode(self, value: Any) -> Any:
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, (int, np.integer)) and not isinstance(value, np.bool_):
            return int(value)
        if isinstance(value, (float, np.floating)):
            value = float(value)
            return value if math.isfinite(value) else {"$float": repr(value)}
        if isinstance(value, np.bool_):
            return bool(value)
        if isinstance(value, np.ndarray):
            return self._store(value)
        if isinstance(value, QDType):
            return {"$qdtype": value.name}
        if isinstance(value, QTensor):
            params: dict[str, Any] = {
                "codes": self._store(value.codes),
                "dtype": value.dtype.name,
                "qscheme": value.qscheme(),
            }
            if value.is_per_channel:
                params["scales"] = self._store(value.q_per_channel_scales())
                params["zero_points"] = self._store(value.q_per_channel_zero_points())
                params["axis"] = value.q_per_channel_axis()
            else:
                params["scale"] = value.q_scale()
                params["zero_point"] = value.q_zero_point()
            return {"$qtensor": params}
        if isinstance(value, tuple):
            return {"$tuple": [self.encode(v) for v in value]}
        if isinstance(value, list):
            return [self.encode(v) for v in value]
        if isinstance(value, dict):
            if not all(isinstance(k, str) for k in value):
                raise TypeError("cannot encode a dict with non-string keys")
            return {"$dict": {k: self.encode(v) for k, v in value.items()}}
        raise TypeError(f"cannot encode a value of type {type(value).__name__}")


def decode(data: Any, arrays: dict[str, np.ndarray], where: str = "value") -> Any:
    """The value :meth:`Encoder.encode` encoded, rebuilt from ``data`` and ``arrays``;
    anything malformed is a ``ValueError`` naming where it is."""
    if data is None or isinstance(data, (bool, int, float, str)):
        return data
    if isinstance(data, list):
        return [decode(v, arrays, f"{where}[{i}]") for i, v in enumerate(data)]
    if not isinstance(data, dict) or len(data) != 1:
        raise ValueError(f"{where}: expected a tagged object with one key, got {data!r:.80}")
    ((tag, body),) = data.items()
    if tag == "$array":
        if not isinstance(body, str) or body not in arrays:
            raise ValueError(f"{where}: refers to array {body!r}, which is missing")
        return arrays[body]
    if tag == "$tuple":
        if not isinstance(body, list):
            raise ValueError(f"{where}: $tuple must hold a list")
        return tuple(decode(v, arrays, f"{where}[{i}]") for i, v in enumerate(body))
    if tag == "$dict":
        if not isinstance(body, dict):
            raise ValueError(f"{where}: $dict must hold an object")
        return {k: decode(v, arrays, f"{where}.{k}") for k, v in body.items()}
    if tag == "$float":
        if body not in ("nan", "inf", "-inf"):
            raise ValueError(f"{where}: $float must be 'nan', 'inf' or '-inf', got {body!r}")
        return float(body)
    if tag == "$qtensor":
        return _decode_qtensor(body, arrays, where)
    if tag == "$qdtype":
        try:
            return as_qdtype(body)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{where}: {error}") from None
    raise ValueError(f"{where}: unknown tag {tag!r}")


def _decode_qtensor(body: Any, arrays: dict[str, np.ndarray], where: str) -> QTensor:
    if not isinstance(body, dict):
        raise ValueError(f"{where}: $qtensor must hold an object")
    try:
        codes = decode(body["codes"], arrays, f"{where}.codes")
        dtype = as_qdtype(body["dtype"])
        if body["qscheme"] == "per_tensor_affine":
            return QTensor.per_tensor(codes, body["scale"], body["zero_point"], dtype)
        return QTensor.per_channel(
            codes,
            decode(body["scales"], arrays, f"{where}.scales"),
            decode(body["zero_points"], arrays, f"{where}.zero_points"),
            body["axis"],
            dtype,
            float_qparams=body["qscheme"] == PER_CHANNEL_AFFINE_FLOAT_QPARAMS,
        )
    except KeyError as missing:
        raise ValueError(f"{where}: $qtensor lacks {missing}") from None
    except (TypeError, ValueError) as error:
        raise ValueError(f"{where}: invalid $qtensor: {error}") from None


def arrays_to_npz(arrays: dict[str, np.ndarray], *, compressed: bool = False) -> bytes:
    """The arrays as the bytes of an ``.npz`` file (a zip of ``.npy`` files, deflated
    when ``compressed``)."""
    buffer = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buffer, **arrays)
    return buffer.getvalue()


def npz_to_arrays(data: bytes) -> dict[str, np.ndarray]:
    """Arrays from ``.npz`` bytes, refusing pickled (object) members."""
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}
