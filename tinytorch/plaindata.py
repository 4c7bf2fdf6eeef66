"""Plain data (numbers, strings, None, lists, tuples, dicts and numpy arrays and scalars) as JSON
plus arrays: the one form in which grading results cross processes and checkpoints reach disk.

`encode` gives a JSON-ready tree whose arrays are references into a dict of arrays; `decode`
inverts it and refuses, with a ValueError saying where, anything it did not write: its input may
come from a student's process. In the tree a JSON object is a dict with string keys, unless its
one key is a tag: `{"__array__": name}`, `{"__scalar__": name}` (a 0-d array), `{"__tuple__":
[...]}` or `{"__dict__": [[key, value], ...]}` (a dict whose keys are not all strings).

`exact=True` keeps dict keys' types, tuples and numpy scalar types; `exact=False` gives JSON's
own view (keys become strings, tuples lists, numpy scalars Python numbers), the form the grader's
checks read, and decoding then refuses the tags that view never holds.

`save` and `load` keep plain data in one `.npz` file, the tree as one entry beside the arrays,
read with `allow_pickle=False` (opening it never runs code) and written to a temporary file that
then replaces the old one (a crash in the middle of a save leaves the previous file as it was).
numpy and the standard library only: this module also ships with the grader.
"""
from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

ARRAY, SCALAR, TUPLE, DICT = "__array__", "__scalar__", "__tuple__", "__dict__"
TAGS = (ARRAY, SCALAR, TUPLE, DICT)
TREE_ENTRY = "__plaindata_tree__"
MAX_DEPTH = 100


def encode(value, exact: bool = True, where: str = "the data") -> tuple[object, dict[str, np.ndarray]]:
    """`value` as a JSON-ready tree and the arrays it refers to.

    Raises TypeError naming what is not plain data, and where it is.
    """
    arrays: dict[str, np.ndarray] = {}
    return _encode(value, arrays, exact, where), arrays


def decode(tree, arrays: dict[str, np.ndarray], exact: bool = True):
    """The inverse of `encode`; ValueError, saying where, for anything `encode` does not write."""
    return _decode(tree, arrays, exact, "the data", 0)


def save(path, value) -> Path:
    """Write `value` (exactly: keys' types, tuples, numpy scalars kept) to the one file `path`."""
    path = Path(path)
    tree, arrays = encode(value, where=path.name)
    arrays[TREE_ENTRY] = np.frombuffer(json.dumps(tree).encode(), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False) as f:
        try:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        except BaseException:
            os.unlink(f.name)
            raise
    os.replace(f.name, path)
    return path


def load(path):
    """What `save` wrote to `path`. ValueError says what is wrong with a file it did not write
    (FileNotFoundError when there is none); nothing in the file runs."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
        return decode(json.loads(arrays.pop(TREE_ENTRY).tobytes()), arrays)
    except FileNotFoundError:
        raise
    except ValueError as error:
        if "allow_pickle" in str(error):
            raise ValueError(f"{path} holds pickled objects; it was refused and nothing in it ran.") from None
        raise ValueError(f"{path} is not a file tinytorch saved ({str(error)[:200]}).") from None
    except (KeyError, OSError, EOFError, zipfile.BadZipFile, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is truncated or not a file tinytorch saved "
                         f"({type(error).__name__}).") from None


# A tree has thousands of nodes; the place of each is named only when something is wrong
# there. `where` is the root's name or a (parent's where, key) pair; `_text` spells it out.
_LEAVES = frozenset({type(None), bool, int, float, str})  # exactly these types: subclasses go the long way


def _text(where) -> str:
    keys = []
    while isinstance(where, tuple):
        where, key = where
        keys.append(f"[{key!r}]")
    return where + "".join(reversed(keys))


def _encode(value, arrays, exact, where):
    if type(value) in _LEAVES:
        return value
    if isinstance(value, (np.ndarray, np.generic)):
        if value.dtype == object:
            raise TypeError(f"{_text(where)} is an array of Python objects, which is not plain data")
        if isinstance(value, np.generic) and not exact:
            return value.item()
        key = f"a{len(arrays)}"
        arrays[key] = np.asarray(value)
        return {ARRAY if isinstance(value, np.ndarray) else SCALAR: key}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        if all(type(v) in _LEAVES for v in value):
            items = list(value)
        else:
            items = [_encode(v, arrays, exact, (where, i)) for i, v in enumerate(value)]
        return {TUPLE: items} if isinstance(value, tuple) and exact else items
    if isinstance(value, dict):
        return _encode_dict(value, arrays, exact, where)
    raise TypeError(f"{_text(where)} is a {type(value).__name__}; plain data is numpy arrays and scalars, "
                    "numbers, bools, strings, None, lists, tuples and dicts")


def _encode_dict(value: dict, arrays, exact, where):
    items = {(k if exact else str(k)): v for k, v in value.items()}
    if all(isinstance(k, str) for k in items) and not (len(items) == 1 and next(iter(items)) in TAGS):
        return {k: _encode(v, arrays, exact, (where, k)) for k, v in items.items()}
    key_of = f"a key of {_text(where)}"
    return {DICT: [[_encode(k, arrays, exact, key_of), _encode(v, arrays, exact, (where, k))]
                   for k, v in items.items()]}


def _decode(tree, arrays, exact, where, depth):
    if depth > MAX_DEPTH:
        raise ValueError(f"{_text(where)} is nested more than {MAX_DEPTH} deep")
    if type(tree) in _LEAVES:
        return tree
    if isinstance(tree, list):
        if depth < MAX_DEPTH and all(type(v) in _LEAVES for v in tree):
            return list(tree)
        return [_decode(v, arrays, exact, (where, i), depth + 1) for i, v in enumerate(tree)]
    if not isinstance(tree, dict):
        raise ValueError(f"{_text(where)} is a {type(tree).__name__}, which is not in the tree's vocabulary")
    if len(tree) != 1 or next(iter(tree)) not in TAGS:
        return {k: _decode(v, arrays, exact, (where, k), depth + 1) for k, v in tree.items()}
    (tag, content), = tree.items()
    if tag in (ARRAY, SCALAR):
        return _decode_array(tag, content, arrays, exact, where)
    if tag == TUPLE:
        if not exact or not isinstance(content, list):
            raise ValueError(f"{_text(where)} is a malformed or unexpected {TUPLE}")
        return tuple(_decode(v, arrays, exact, (where, i), depth + 1) for i, v in enumerate(content))
    return _decode_dict(content, arrays, exact, where, depth)


def _decode_array(tag, content, arrays, exact, where):
    if not isinstance(content, str) or content not in arrays:
        raise ValueError(f"{_text(where)} refers to an array {str(content)[:80]!r} that is not there")
    array = arrays[content]
    if tag == ARRAY:
        return array
    if not exact or array.ndim != 0:
        raise ValueError(f"{_text(where)} is a malformed or unexpected {SCALAR}")
    return array[()]


def _decode_dict(content, arrays, exact, where, depth):
    if not isinstance(content, list) or not all(isinstance(p, list) and len(p) == 2 for p in content):
        raise ValueError(f"{_text(where)} is a {DICT} that is not a list of [key, value] pairs")
    result = {}
    for key_tree, value_tree in content:
        key = _decode(key_tree, arrays, exact, f"a key of {_text(where)}", depth + 1)
        if not _hashable(key):
            raise ValueError(f"a key of {_text(where)} is a {type(key).__name__}, which cannot be a key")
        if not exact and not isinstance(key, str):
            raise ValueError(f"a key of {_text(where)} is a {type(key).__name__}, not a string")
        result[key] = _decode(value_tree, arrays, exact, (where, key), depth + 1)
    return result


def _hashable(value) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True
