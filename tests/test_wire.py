"""What a worker sends is data, never code, never a verdict, and never more than the grader allows."""
import io
import json
import pickle
import zipfile

import numpy as np
import pytest

from tito.grading.contract import GradedTest
from tito.grading.judge import Incident, Report, import_error, is_ready, read_report, verdict
from tito.grading.wire import MAX_MESSAGE, WireError, decode, encode

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


def message_with_archive(archive: bytes, header: bytes = b'{"a": {"__array__": "a0"}}') -> bytes:
    return len(header).to_bytes(8, "little") + header + archive


def npz(members: dict[str, bytes], compression=zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def npy_header(shape, descr="<f8") -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def test_an_array_part_that_is_not_a_zip_is_refused():
    with pytest.raises(WireError, match="BadZipFile"):
        decode(message_with_archive(b"PK not really a zip archive"))


def test_an_array_claiming_8_tib_is_refused_before_it_is_allocated():
    blob = message_with_archive(npz({"a0.npy": npy_header((2 ** 40,))}))  # 8 TiB of float64
    with pytest.raises(WireError, match="shape"):
        decode(blob)


def test_a_compressed_bomb_is_refused_from_the_directory():
    bomb = npz({"a0.npy": npy_header((2 ** 23,)) + bytes(2 ** 26)}, zipfile.ZIP_DEFLATED)
    assert len(bomb) < 2 ** 20
    with pytest.raises(WireError):
        decode(message_with_archive(bomb))


def repeated_entry(archive: bytes, times: int) -> bytes:
    """The archive with its one central-directory entry repeated: every copy reads the same data."""
    end = archive.rindex(b"PK\x05\x06")
    start = int.from_bytes(archive[end + 16:end + 20], "little")
    entry = archive[start:end]
    directory = entry * times
    record = bytearray(archive[end:])
    record[8:10] = record[10:12] = times.to_bytes(2, "little")
    record[12:16] = len(directory).to_bytes(4, "little")
    return archive[:start] + directory + bytes(record)


def test_many_references_to_one_archive_member_cannot_multiply_it():
    one = npz({"a0.npy": npy_header((2 ** 17,)) + bytes(2 ** 20)})  # 1 MB, well under the limits
    assert decode(message_with_archive(repeated_entry(one, 2)))["a"].shape == (2 ** 17,)
    with pytest.raises(WireError, match="larger than a message may hold"):
        decode(message_with_archive(repeated_entry(one, 40)))  # 40 MB to read from 1 MB


@pytest.mark.parametrize("descr", ["|O", [("x", "<f8")], "|V8"])
def test_arrays_of_objects_or_records_are_refused(descr):
    blob = message_with_archive(npz({"a0.npy": npy_header((1,), descr) + bytes(8)}))
    with pytest.raises(WireError):
        decode(blob)


def test_a_short_array_and_a_long_header_are_refused():
    with pytest.raises(WireError):
        decode(message_with_archive(npz({"a0.npy": npy_header((4,)) + bytes(8)})))
    with pytest.raises(WireError, match="header of"):
        decode((10 ** 6).to_bytes(8, "little") + b"{}")


def test_a_message_over_the_limit_is_refused_unread():
    with pytest.raises(WireError, match="bytes"):
        decode(b"\x00" * (MAX_MESSAGE + 1))


def test_arrays_come_back_writable_in_their_layout():
    value = np.asfortranarray(np.arange(6.0).reshape(2, 3))
    back = decode(encode({"a": value}))["a"]
    assert np.array_equal(back, value) and back.flags.writeable


# The worker's vocabulary, as the grader reads it: observations or an exception, nothing else.

def test_a_report_is_observations_or_an_exception():
    assert read_report({"type": "result", "scenario": "s", "observations": {"x": 1}}, "s").observations == {"x": 1}
    error = {"type": "ValueError", "message": "bad", "where": "m.py:3"}
    assert read_report({"type": "result", "scenario": "s", "error": error}, "s").error == "ValueError: bad (at m.py:3)"
    assert import_error({"type": "import_error", "error": {"type": "NotImplementedError"}}) == "not implemented yet"
    assert is_ready({"type": "ready"}) and not is_ready({"type": "ready", "status": "passed"})


@pytest.mark.parametrize("message", [
    {"type": "result", "scenario": "s", "status": "passed"},
    {"type": "result", "scenario": "s", "observations": {}, "status": "passed"},
    {"type": "result", "scenario": "s", "observations": {}, "points": 100},
    {"type": "result", "scenario": "other", "observations": {}},
    {"type": "result", "observations": {}},
    {"type": "verdict", "scenario": "s", "observations": {}},
    {"type": np.array(["result", "result"]), "scenario": "s", "observations": {}},
    {"type": "result", "scenario": "s", "error": "not a dict"},
    {"type": "result", "scenario": "s", "error": {"type": "E", "status": "passed"}},
    {"type": "result", "scenario": "s", "error": {"message": "no type"}},
    {"type": "result", "scenario": "s", "error": {"type": np.array([1, 2])}},
    "timeout", None, [],
])
def test_anything_else_is_no_report(message):
    assert read_report(message, "s") is None


def test_only_the_grader_makes_a_status():
    test = GradedTest("t", "a concept", 5, "s", lambda observed, expected: None)  # accepts anything
    assert verdict(test, Report(observations={}), {}).status == "passed"
    assert verdict(test, Report(error="RuntimeError: x"), {}).score == 0
    assert verdict(test, Incident("timeout", "it ran too long"), {}).status == "timeout"


@pytest.mark.parametrize("tree", [
    {"a": {"__tuple__": [1, 2]}}, {"a": {"__scalar__": "a0"}}, {"__dict__": [[1, "an int key"]]},
    {"a": {"__array__": "missing"}}, {"a": {"__dict__": "not pairs"}}, {"a": {"__array__": ["a0"]}},
])
def test_only_json_s_view_of_plain_data_crosses(tree):
    """Tuples, numpy scalars and keys other than strings never cross: the checks read JSON's view."""
    scalar = npz({"a0.npy": _npy_bytes(np.float64(1.0))})
    with pytest.raises(WireError):
        decode(message_with_archive(scalar, json.dumps(tree).encode()))


def _npy_bytes(value) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(value))
    return buffer.getvalue()


def test_what_looks_like_a_tag_crosses_as_data():
    message = {"a": {"__array__": "a0"}, "b": ({"__tuple__": 1},), 3: np.float32(0.5)}
    assert decode(encode(message)) == {"a": {"__array__": "a0"}, "b": [{"__tuple__": 1}], "3": 0.5}


def test_a_verdict_s_message_says_what_happened_not_the_test_s_name():
    """Every report shows the test beside its message: the message must not name it again."""
    def raises(observed, expected):
        raise KeyError("x")

    test = GradedTest("t", "Adam's first step", 5, "s", raises)
    messages = [verdict(test, Incident("timeout", "it ran too long"), {}).message,
                verdict(test, Report(error="RuntimeError: x (at m.py:3)"), {}).message,
                verdict(test, Report(observations={}), {}).message]
    assert messages[:2] == ["it ran too long", "RuntimeError: x (at m.py:3)"]
    assert messages[2].startswith("the result could not be checked (KeyError")
    assert not any("Adam's first step" in m for m in messages)
