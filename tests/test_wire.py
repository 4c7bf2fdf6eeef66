"""What a worker sends is data, never code."""
import pickle

import numpy as np
import pytest

from tito.grading.wire import WireError, decode, encode

pytestmark = pytest.mark.grading


def test_round_trip_keeps_arrays_numbers_and_structure():
    message = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "n": 3, "x": 1.5, "s": "hi",
               "none": None, "flag": True, "nested": [{"b": np.array([1, 2])}, (1, 2)]}
    back = decode(encode(message))
    assert back["a"].dtype == np.float32 and np.array_equal(back["a"], message["a"])
    assert back["nested"][0]["b"].tolist() == [1, 2] and back["nested"][1] == [1, 2]
    assert (back["n"], back["x"], back["s"], back["none"], back["flag"]) == (3, 1.5, "hi", None, True)


def test_objects_cannot_be_sent():
    with pytest.raises(TypeError):
        encode({"x": object()})
    with pytest.raises(TypeError):
        encode({"x": np.array([object()])})


@pytest.mark.parametrize("blob", [b"", b"\x00" * 8, b"garbage!" * 4, pickle.dumps({"a": 1})])
def test_garbage_is_refused(blob):
    with pytest.raises(WireError):
        decode(blob)


def test_a_pickled_array_is_refused():
    header = b'{"a": {"__array__": "a0"}}'
    archive = pickle.dumps(np.array([1, 2], dtype=object))
    with pytest.raises(WireError):
        decode(len(header).to_bytes(8, "little") + header + archive)


def test_deeply_nested_garbage_is_refused():
    header = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(WireError):
        decode(len(header).to_bytes(8, "little") + header)
