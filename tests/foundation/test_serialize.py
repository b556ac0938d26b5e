"""The JSON + arrays encoding used by golden vectors and the torch worker."""

import json

import numpy as np
import pytest

import qemu
from qemu import serialize
from qemu.testing import assert_bitexact


def round_trip(value):
    encoder = serialize.Encoder()
    data = json.loads(json.dumps(encoder.encode(value)))
    arrays = serialize.npz_to_arrays(serialize.arrays_to_npz(encoder.arrays))
    return serialize.decode(data, arrays)


def test_round_trip_of_every_supported_value():
    per_channel = qemu.QTensor.per_channel(
        [[1, 2], [3, 4]], [0.1, 0.2], [0.5, 1.5], 0, "quint4x2", float_qparams=True
    )
    value = {
        "none": None,
        "flags": [True, False],
        "ints": (1, -(2**40)),
        "floats": (0.1, float("inf"), float("-inf")),
        "text": "quint8",
        "array": np.float32([1.5, -0.0]),
        "qt": qemu.QTensor.per_tensor([1, 2], 0.1, 3, "qint8"),
        "pc": per_channel,
        "dtype": qemu.QUINT8,
    }
    back = round_trip(value)
    assert back["none"] is None and back["flags"] == [True, False] and back["ints"] == (1, -(2**40))
    assert back["floats"] == (0.1, float("inf"), float("-inf")) and back["text"] == "quint8"
    assert_bitexact(back["array"], value["array"])
    assert back["qt"].equal(value["qt"]) and back["pc"].equal(per_channel)
    assert back["dtype"] is qemu.QUINT8
    assert np.isnan(round_trip(float("nan")))


@pytest.mark.parametrize(
    "data, arrays, message",
    [
        ({"$array": "a9"}, {}, "refers to array 'a9', which is missing"),
        ({"$float": "1.0"}, {}, "\\$float must be 'nan', 'inf' or '-inf'"),
        ({"$what": 1}, {}, "unknown tag '\\$what'"),
        ({"a": 1, "b": 2}, {}, "expected a tagged object with one key"),
        ({"$qtensor": {"dtype": "quint8"}}, {}, "\\$qtensor lacks 'codes'"),
        ({"$qdtype": "int4"}, {}, "expected one of"),
    ],
)
def test_malformed_data_is_a_value_error(data, arrays, message):
    with pytest.raises(ValueError, match=message):
        serialize.decode(data, arrays)


def test_object_arrays_are_never_encoded_or_unpickled():
    with pytest.raises(TypeError, match="cannot encode an array of dtype object"):
        serialize.Encoder().encode(np.array([{}], dtype=object))
    import io

    buffer = io.BytesIO()
    np.savez(buffer, bad=np.array([{}], dtype=object))
    with pytest.raises(ValueError, match="allow_pickle"):
        serialize.npz_to_arrays(buffer.getvalue())
