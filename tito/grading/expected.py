"""The expected-values driver of an autograder's `make_expected.py` (see docs/authoring.md).

Every scenario runs once on a backend built on the reference library, and its observations pass
through the wire format, so that they have exactly the form the grader receives from a worker.
"""
from __future__ import annotations

from tito.grading.wire import decode, encode


def observe(scenarios: dict, backend, given: dict | None = None) -> dict:
    """scenario name -> its observations on `backend`, or `given[name]` where the expected
    values are no output of the reference at all (the spec written as data)."""
    given = given or {}
    return {name: decode(encode({"observations": given[name] if name in given else scenario(backend)}))
            ["observations"] for name, scenario in scenarios.items()}
