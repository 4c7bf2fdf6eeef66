"""What crosses from a worker to the grader: a JSON header, then the bytes of the arrays; never pickle.

The header is `[tree, index]`: `tinytorch.plaindata`'s tree in its JSON view (`exact=False`: keys
are strings, tuples lists, numpy scalars Python numbers), the form the checks read, and one
`[name, dtype, shape]` per array, whose bytes follow one another, in C order, after the header.

The worker runs a student's code, so its bytes are untrusted: decoding them must not run code,
anything that is not plain data is refused, and every size is checked against a bound before
anything of that size is allocated, so that the grader's memory stays bounded whatever a worker
sends. Arrays are read with `np.frombuffer`, at a few microseconds each: a worker sends hundreds.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np

from tinytorch.plaindata import decode as decode_tree, encode as encode_tree

# A correct worker's largest message is about 80 kB, with 17 kB of JSON and 56 arrays.
MAX_MESSAGE = 4 * 2 ** 20
MAX_ARRAY_BYTES = 16 * 2 ** 20  # all of one message's arrays, once read
MAX_ARRAYS = 4096
MAX_DIMENSIONS = 32  # numpy's own limit is 64
# bools, integers, floats, complex numbers and strings, each item at least one byte: no objects
ARRAY_DTYPE = re.compile(r"[<>|][biufcSU][1-9][0-9]{0,5}")


class WireError(ValueError):
    """The worker sent something that is not a well-formed message."""


def encode(message: dict) -> bytes:
    header, body = _header_and_body(message, "the message")
    return b"".join([len(header).to_bytes(8, "little"), header, body])


def _header_and_body(value, where: str, indent: int | None = None) -> tuple[bytes, bytes]:
    tree, arrays = encode_tree(value, exact=False, where=where)
    contiguous = {name: np.ascontiguousarray(a) for name, a in arrays.items()}
    index = [[name, a.dtype.str, list(a.shape)] for name, a in contiguous.items()]
    header = json.dumps([tree, index], allow_nan=True, indent=indent).encode()
    return header, b"".join(a.tobytes() for a in contiguous.values())


def decode(blob: bytes) -> dict:
    if not 8 <= len(blob) <= MAX_MESSAGE:
        raise WireError(f"a message of {len(blob)} bytes")
    size = int.from_bytes(blob[:8], "little")
    if size > len(blob) - 8:
        raise WireError(f"a header of {size} bytes in a message of {len(blob)}")
    try:
        header = json.loads(blob[8:8 + size])
        if not (isinstance(header, list) and len(header) == 2):
            raise WireError("a header that is not [tree, index]")
        tree, index = header
        message = decode_tree(tree, _read_arrays(index, memoryview(blob)[8 + size:]), exact=False)
    except WireError:
        raise
    except Exception as error:  # the edge with untrusted bytes: json and the tree raise many kinds
        raise WireError(f"{type(error).__name__}: {str(error)[:200]}") from None
    if not isinstance(message, dict):
        raise WireError("a message that is not a dict")
    return message


def _read_arrays(index, data: memoryview, most_bytes: int = MAX_ARRAY_BYTES,
                 most_arrays: int = MAX_ARRAYS) -> dict[str, np.ndarray]:
    """The arrays `index` describes, from `data`, which they must fill exactly; each checked
    before it is read."""
    if not isinstance(index, list) or len(index) > most_arrays:
        raise WireError(f"an index of arrays that is not a list of at most {most_arrays} entries")
    arrays, offset = {}, 0
    for entry in index:
        name, dtype, shape = _checked_entry(entry)
        count = math.prod(shape)
        end = offset + count * dtype.itemsize
        if name in arrays or end > min(len(data), most_bytes):
            raise WireError(f"an array {name[:80]!r} of shape {tuple(shape)} ({dtype}) that the message "
                            "does not hold, or a second one of that name")
        arrays[name] = np.frombuffer(data, dtype, count, offset).reshape(shape).copy()
        offset = end
    if offset != len(data):
        raise WireError(f"{len(data) - offset} bytes after the last array")
    return arrays


def _checked_entry(entry) -> tuple[str, np.dtype, list[int]]:
    if not (isinstance(entry, list) and len(entry) == 3 and isinstance(entry[0], str)
            and isinstance(entry[1], str) and isinstance(entry[2], list) and len(entry[2]) <= MAX_DIMENSIONS
            and all(type(n) is int and 0 <= n < 2 ** 40 for n in entry[2])):
        raise WireError(f"an array entry {str(entry)[:120]} that is not [name, dtype, shape]")
    return entry[0], _dtype(entry[1]), entry[2]


_DTYPES: dict[str, np.dtype] = {}  # the few a correct worker sends, each checked once
KEPT_DTYPES = 64


def _dtype(text: str) -> np.dtype:
    dtype = _DTYPES.get(text)
    if dtype is None:
        if not ARRAY_DTYPE.fullmatch(text):
            raise WireError(f"an array of dtype {text[:40]!r}: only numbers and strings are plain data")
        dtype = np.dtype(text)
        if len(_DTYPES) < KEPT_DTYPES:
            _DTYPES[text] = dtype
    return dtype


def frame(blob: bytes) -> bytes:
    """A message on a stream: its length, then the message."""
    return len(blob).to_bytes(8, "little") + blob


def save(stem: Path, value) -> None:
    """Data at rest in the same form: the header in `stem.json` (indented, for a reviewer's
    diff), the arrays' bytes in `stem.bin`. Loading it costs milliseconds, however many arrays."""
    header, body = _header_and_body(value, str(stem), indent=1)
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_bytes(header + b"\n")
    stem.with_suffix(".bin").write_bytes(body)


def load(stem: Path):
    """What `save` wrote."""
    return decode_tree(*load_parts(stem), exact=False)


def load_parts(stem: Path) -> tuple[object, dict[str, np.ndarray]]:
    """The tree and the arrays `save` wrote; files of the course, so only their consistency is
    checked."""
    tree, index = json.loads(stem.with_suffix(".json").read_bytes())
    body = stem.with_suffix(".bin").read_bytes()
    try:
        return tree, _read_arrays(index, memoryview(body), len(body), len(index))
    except WireError as error:
        raise WireError(f"{stem}.json and {stem}.bin do not match ({error}): run make_expected.py again") from None
