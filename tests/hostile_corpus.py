"""The hostile and broken submissions that grading must survive.

Each entry is built from the reference solution or the untouched stub plus a cell of code that
runs at import; `deserves` is the submission it must score exactly like:
- "solution" / "stub": full marks / nothing;
- "adam_broken": the solution with Adam.step raising, so every test that uses Adam fails;
- "step_broken": the solution with Optimizer.step raising, so every test that steps fails;
- "at_most_stub": a cheat on top of the stub, which must not score more than the stub.
"""
from __future__ import annotations

def with_cell(source: str, code: str) -> str:
    """A module source with one more exported cell at its end."""
    return source + "\n\n# %%\n#| export\n" + code.strip() + "\n"


ADAM_RAISES = """
def _broken(self):
    raise RuntimeError("Adam is broken")
Adam.step = _broken
"""

STEP_RAISES = """
def _broken(self):
    raise RuntimeError("step is broken")
Optimizer.step = _broken
"""

CORPUS = {
    # Leaving early
    "sys_exit_at_import": ("solution", "import sys\nsys.exit(0)", "stub"),
    "os_exit_at_import": ("solution", "import os\nos._exit(0)", "stub"),
    "keyboard_interrupt_at_import": ("solution", "raise KeyboardInterrupt", "stub"),
    "loop_at_import": ("solution", "while True:\n    pass", "stub"),
    # Taking the machine down, or hanging on
    "loop_in_adam_step": ("solution", "def _spin(self):\n    while True:\n        pass\nAdam.step = _spin",
                          "adam_broken"),
    "loop_ignoring_signals": ("solution", """
import signal
signal.signal(signal.SIGTERM, signal.SIG_IGN)
signal.signal(signal.SIGINT, signal.SIG_IGN)
def _spin(self):
    while True:
        pass
Adam.step = _spin""", "adam_broken"),
    "memory_bomb_in_adam_step": ("solution", """
def _bomb(self):
    hoard = []
    while True:
        hoard.append(bytearray(10**8))
Adam.step = _bomb""", "adam_broken"),
    "memory_bomb_in_every_step": ("solution", """
def _bomb(self):
    hoard = []
    try:
        while True:
            hoard.append(b"x" * 10**7)  # written, so the memory is really taken
    except MemoryError:
        while True:  # and held: every test runs late, side by side with the others
            pass
Optimizer.step = _bomb""", "step_broken"),
    "fork_bomb_in_adam_step": ("solution", """
import os
def _bomb(self):
    for _ in range(10):  # 2**10 processes, were nothing to stop them
        try:
            os.fork()
        except OSError:
            pass
    while True:
        pass
Adam.step = _bomb""", "adam_broken"),
    "fills_the_disk_in_adam_step": ("solution", """
import itertools
def _fill(self):
    try:
        for i in itertools.count():
            with open(f"junk{i}", "wb") as f:
                f.write(bytes(500_000))
    except OSError:
        while True:
            pass
Adam.step = _fill""", "adam_broken"),
    "endless_recursion_in_adam_step": ("solution", "def _again(self):\n    return _again(self)\nAdam.step = _again",
                                       "adam_broken"),
    "background_process": ("solution", """
import subprocess
subprocess.Popen(["sleep", "424242"], start_new_session=True)""", "solution"),
    "kills_its_parent": ("solution", "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)", "solution"),
    "floods_output": ("solution", """
import sys
for stream in (sys.stdout, sys.stderr):
    try:
        for _ in range(300):
            stream.write("x" * 1_000_000)
    except OSError:
        pass""", "solution"),
    # Cheating
    "patches_numpy": ("stub", """
import numpy as np
np.allclose = lambda *a, **k: True
np.array_equal = lambda *a, **k: True
np.isclose = lambda *a, **k: np.True_
np.testing.assert_allclose = lambda *a, **k: None""", "at_most_stub"),
    "writes_conftest_and_results": ("stub", """
import json, os
for folder in (".", "..", "/tmp"):
    try:
        with open(os.path.join(folder, "conftest.py"), "w") as f:
            f.write("import pytest\\n")
        with open(os.path.join(folder, "results.json"), "w") as f:
            json.dump({"score": 100, "tests": []}, f)
        with open(os.path.join(folder, "grades.csv"), "w") as f:
            f.write("student,score\\nme,100\\n")
    except OSError:
        pass
print("===== 31 passed in 0.10s =====")
print("Score: 100/100")""", "at_most_stub"),
    "steals_the_solution": ("stub", """
import os
for top, folders, files in os.walk("/"):
    folders[:] = [f for f in folders if f not in ("proc", "sys", "dev")]
    for name in files:
        if name == "optimizers.py" and "solutions" in top:
            exec(open(os.path.join(top, name)).read().replace("# %%", "#"))
            break""", "at_most_stub"),
    # Broken
    "adam_broken": ("solution", ADAM_RAISES, "adam_broken"),
    "step_broken": ("solution", STEP_RAISES, "step_broken"),
}

RAW_FILES = {
    "syntax_error.py": "class SGD:\n    def step(self)\n        pass\n",
    "empty.py": "",
    "binary_garbage.py": bytes(range(256)) * 4,
    "truncated.ipynb": '{"cells": [{"cell_type": "code", "source": ["import num',
}
