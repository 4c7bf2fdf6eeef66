"""What a worker sends is data, never code, never a verdict, and never more than the grader allows."""
import json
import pickle

import numpy as np
import pytest

from tito.grading.contract import GradedTest
from tito.grading.judge import Incident, Report, import_error, is_ready, read_report, verdict
from tito.grading.wire import MAX_MESSAGE, MAX_ARRAYS, WireError, decode, encode, load, save

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
    with pytest.raises(WireError):
        decode(raw_message([["a0", "|O8", [2]]], pickle.dumps(np.array([1, 2], dtype=object))))


def test_deeply_nested_garbage_is_refused():
    header = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(WireError):
        decode(len(header).to_bytes(8, "little") + header)


def raw_message(index: list, data: bytes, tree=None) -> bytes:
    header = json.dumps([{"a": {"__array__": "a0"}} if tree is None else tree, index]).encode()
    return len(header).to_bytes(8, "little") + header + data


def test_a_header_that_is_not_tree_and_index_is_refused():
    for header in (b'{"a": 1}', b"[1, 2, 3]", b'[{}, {"a0": 1}]'):
        with pytest.raises(WireError):
            decode(len(header).to_bytes(8, "little") + header)


def test_an_array_claiming_8_tib_is_refused_before_it_is_allocated():
    with pytest.raises(WireError, match="shape"):
        decode(raw_message([["a0", "<f8", [2 ** 39, 2]]], bytes(64)))


def test_two_entries_cannot_share_or_reuse_bytes():
    one = ["a0", "<f8", [4]]
    assert decode(raw_message([one], bytes(32)))["a"].shape == (4,)
    with pytest.raises(WireError):  # a second array of the same name
        decode(raw_message([one, one], bytes(64)))
    with pytest.raises(WireError, match="does not hold"):  # two arrays, the bytes of one
        decode(raw_message([one, ["a1", "<f8", [4]]], bytes(32), {"a": {"__array__": "a0"}, "b": {"__array__": "a1"}}))


@pytest.mark.parametrize("dtype", ["|O8", "|V8", "<U0", "|S0", "<i3", "f8", "<f8,<i4", 3])
def test_arrays_of_objects_records_or_empty_items_are_refused(dtype):
    with pytest.raises(WireError):
        decode(raw_message([["a0", dtype, [1]]], bytes(8)))


@pytest.mark.parametrize("shape", [[-1], [1.5], [True], "4", [1] * 33])
def test_a_shape_of_anything_but_a_few_sizes_is_refused(shape):
    with pytest.raises(WireError):
        decode(raw_message([["a0", "<f8", shape]], bytes(8)))


def test_a_short_array_bytes_left_over_and_a_long_header_are_refused():
    with pytest.raises(WireError):
        decode(raw_message([["a0", "<f8", [4]]], bytes(8)))
    with pytest.raises(WireError, match="after the last array"):
        decode(raw_message([["a0", "<f8", [1]]], bytes(16)))
    with pytest.raises(WireError, match="header of"):
        decode((10 ** 6).to_bytes(8, "little") + b"{}")


def test_many_arrays_are_refused_from_the_index():
    index = [[f"a{i}", "|u1", [0]] for i in range(5000)]
    with pytest.raises(WireError, match="at most"):
        decode(raw_message(index, b""))


def test_a_message_over_the_limit_is_refused_unread():
    with pytest.raises(WireError, match="bytes"):
        decode(b"\x00" * (MAX_MESSAGE + 1))


def test_arrays_come_back_writable_in_their_layout():
    value = np.asfortranarray(np.arange(6.0).reshape(2, 3))
    back = decode(encode({"a": value}))["a"]
    assert np.array_equal(back, value) and back.flags.writeable


def test_data_at_rest_is_the_wire_s_header_and_bytes_in_two_files(tmp_path):
    many = {f"run{i}": np.full(3, float(i)) for i in range(MAX_ARRAYS + 1)}  # more than a message may hold
    save(tmp_path / "expected", {"runs": many, "label": ("adam", 2)})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["expected.bin", "expected.json"]
    back = load(tmp_path / "expected")
    assert back["label"] == ["adam", 2] and back["runs"]["run7"].tolist() == [7.0] * 3
    assert len(back["runs"]) == MAX_ARRAYS + 1


def test_data_at_rest_whose_two_files_disagree_says_to_make_them_again(tmp_path):
    save(tmp_path / "expected", {"a": np.arange(4.0)})
    (tmp_path / "expected.bin").write_bytes(b"\x00" * 8)
    with pytest.raises(WireError, match="do not match.*make_expected.py"):
        load(tmp_path / "expected")


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
    scalar = np.float64(1.0).tobytes()
    with pytest.raises(WireError):
        decode(raw_message([["a0", "<f8", []]], scalar, tree))


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
