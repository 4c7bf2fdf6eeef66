"""What crosses from a worker to the grader: JSON plus an `.npz` archive, never pickle.

The data is `tinytorch.plaindata`'s tree in its JSON view (`exact=False`: keys are strings, tuples
lists, numpy scalars Python numbers), the form the checks read.

The worker runs a student's code, so its bytes are untrusted: decoding them must not run code,
anything that is not plain data is refused, and every size is checked against a bound before
anything of that size is allocated (a message, its archive's directory, each array's `.npy`
header), so that the grader's memory stays bounded whatever a worker sends.
"""
from __future__ import annotations

import io
import json
import math
import threading
import zipfile
from pathlib import Path

import numpy as np

from tinytorch.plaindata import decode as decode_tree, encode as encode_tree

# A correct worker's largest message is about 80 kB, with 17 kB of JSON and 56 arrays.
MAX_MESSAGE = 4 * 2 ** 20
MAX_ARRAY_BYTES = 16 * 2 ** 20  # all of one message's arrays, once read
MAX_ARRAYS = 4096
ARRAY_KINDS = "biufcSU"  # bools, integers, floats, complex numbers and strings: no objects


class WireError(ValueError):
    """The worker sent something that is not a well-formed message."""


def encode(message: dict) -> bytes:
    tree, arrays = encode_tree(message, exact=False, where="the message")
    header = json.dumps(tree, allow_nan=True).encode()
    archive = io.BytesIO()
    if arrays:
        np.savez(archive, **arrays)
    return len(header).to_bytes(8, "little") + header + archive.getvalue()


def decode(blob: bytes) -> dict:
    if not 8 <= len(blob) <= MAX_MESSAGE:
        raise WireError(f"a message of {len(blob)} bytes")
    size = int.from_bytes(blob[:8], "little")
    if size > len(blob) - 8:
        raise WireError(f"a header of {size} bytes in a message of {len(blob)}")
    try:
        header = json.loads(blob[8:8 + size])
        arrays = _load_arrays(blob[8 + size:])
        message = decode_tree(header, arrays, exact=False)
    except WireError:
        raise
    except Exception as error:  # the edge with untrusted bytes: json and zipfile raise many kinds
        raise WireError(f"{type(error).__name__}: {str(error)[:200]}") from None
    if not isinstance(message, dict):
        raise WireError("a message that is not a dict")
    return message


def _load_arrays(data: bytes) -> dict[str, np.ndarray]:
    """The arrays of an uncompressed `.npz`, as `np.savez` writes it, each size checked first."""
    if not data:
        return {}
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = archive.infolist()
        if len(members) > MAX_ARRAYS:
            raise WireError(f"{len(members)} arrays in one message")
        if sum(m.file_size for m in members) > MAX_ARRAY_BYTES:
            raise WireError("arrays larger than a message may hold")
        arrays = {}
        for member in members:
            if member.compress_type != zipfile.ZIP_STORED or not member.filename.endswith(".npy"):
                raise WireError(f"an archive member {member.filename[:80]!r} that np.savez does not write")
            with archive.open(member) as f:
                arrays[member.filename[:-4]] = _read_npy(f, member.file_size)
    return arrays


# numpy parses an .npy header with ast.literal_eval, which CPython 3.11 does not make safe to run
# in several threads at once ("AST constructor recursion depth mismatch"): one header at a time.
_HEADER_LOCK = threading.Lock()


def _read_npy(f, file_size: int) -> np.ndarray:
    version = np.lib.format.read_magic(f)
    if version not in ((1, 0), (2, 0)):
        raise WireError(f"an .npy file of version {version}")
    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    with _HEADER_LOCK:
        shape, fortran_order, dtype = read_header(f)
    if dtype.kind not in ARRAY_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise WireError(f"an array of dtype {dtype}")
    count = math.prod(shape)
    if count < 0 or count * dtype.itemsize > file_size:
        raise WireError(f"an array of shape {shape} ({dtype}) in {file_size} bytes")
    flat = np.empty(count, dtype)
    if f.readinto(flat.view(np.uint8)) != flat.nbytes:
        raise WireError("an array cut short")
    return flat.reshape(shape, order="F" if fortran_order else "C")


def frame(blob: bytes) -> bytes:
    """A message on a stream: its length, then the message."""
    return len(blob).to_bytes(8, "little") + blob


def save(stem: Path, value) -> None:
    """Data at rest in the same form: `stem.json` for the structure, `stem.npz` for the arrays."""
    tree, arrays = encode_tree(value, exact=False)
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(tree, indent=1) + "\n", encoding="utf-8")
    np.savez_compressed(stem.with_suffix(".npz"), **arrays)


def load(stem: Path):
    tree = json.loads(stem.with_suffix(".json").read_text(encoding="utf-8"))
    with np.load(stem.with_suffix(".npz"), allow_pickle=False) as archive:
        return decode_tree(tree, {key: archive[key] for key in archive.files}, exact=False)
