"""What a hidden test's cell does when it runs in a notebook's kernel: it decides nothing.

The verdict of a hidden test is the course autograder's, set by nbgrader's autograde step
(`tito.nbgrader_hooks.HiddenTestVerdicts`) outside the kernel, which has just run the student's
cells and may have been changed by them in any way. In the student's own notebook the cell only
says so. During `nbgrader autograde` it fails, so that a course whose configuration lost that
step grades every hidden test 0, never 100.
"""
from __future__ import annotations

import os


class NotGradedHere(AssertionError):
    """nbgrader ran the hidden tests' cells without the step that grades them."""


def hidden_test(test_name: str) -> None:
    if os.environ.get("NBGRADER_EXECUTION") == "autograde":
        raise NotGradedHere(
            f"the hidden test {test_name!r} is graded by tito's nbgrader preprocessor, and this "
            "course's nbgrader_config.py does not run it: build the course with `tito nbgrader`.")
    print(f"Hidden test {test_name!r}: graded by the course autograder when you submit. "
          "`tito test` runs the tests you can see.")
