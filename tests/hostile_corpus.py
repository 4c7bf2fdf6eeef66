"""The hostile and broken submissions that grading must survive.

Each entry is built from the reference solution or the untouched stub plus a cell of code that
runs at import; `deserves` is the submission it must score exactly like:
- "solution" / "stub": full marks / nothing;
- "adam_broken": the solution with Adam.step raising, so every test that uses Adam fails;
- "step_broken": the solution with Optimizer.step raising, so every test that steps fails;
- "at_most_stub": a cheat on top of the stub, which must not score more than the stub.
"""
from __future__ import annotations

import os


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

# Every process the attacker can name: PID 1, its parent, whatever /proc lists, but itself.
OTHERS = """
import os
def others():
    listed = {int(p) for p in os.listdir("/proc") if p.isdigit()}
    return sorted({1, os.getppid(), *listed} - {0, os.getpid()})
"""

# A module planted wherever the thief can write, under names a classmate's worker may import
# late (numpy and the standard library import some on first use): it copies the importer's cells
# beside itself, then hands over the real module.
PLANTED = ("difflib", "pprint", "calendar", "unittest", "pickle", "bz2", "lzma", "gzip", "shutil", "glob",
           "csv", "hashlib", "secrets", "uuid", "platform", "datetime", "decimal", "fractions", "queue")
PLANT = """
import importlib, os, sys
here = os.path.dirname(os.path.abspath(__file__))
frame = sys._getframe(1)
while frame is not None:
    cells = frame.f_locals.get("cells")
    if isinstance(cells, list) and cells and hasattr(cells[0], "source"):
        try:
            with open(os.path.join(here, "stolen_cells.py"), "w") as out:
                out.write("\\n".join(c.source for c in cells))
        except OSError:
            pass
        break
    frame = frame.f_back
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
del sys.modules[__name__]
importlib.import_module(__name__)
"""

# The thief: an honest no-op (the stub) that plants PLANT, drops its own classes and, when the
# grader asks for one, runs whatever cells it managed to steal.
THIEF = f"""
import os, tempfile, time
places = {{os.getcwd(), os.path.dirname(os.getcwd()), "/tmp", "/scratch", "/dev/shm", "/var/tmp",
          os.path.expanduser("~"), tempfile.gettempdir()}}
for top in ("/tmp", "/scratch", "/tmp/tito-jobs"):
    try:
        places |= {{os.path.join(top, d) for d in os.listdir(top)}}
    except OSError:
        pass

def plant():
    for place in places:
        for module in {PLANTED!r}:
            try:
                with open(os.path.join(place, module + ".py"), "w") as f:
                    f.write({PLANT!r})
            except OSError:
                pass

plant()
for name, value in list(globals().items()):
    if getattr(value, "__module__", None) == __name__ and isinstance(value, type):
        del globals()[name]

def __getattr__(name):
    for _ in range(30):
        for place in places:
            try:
                source = open(os.path.join(place, "stolen_cells.py")).read()
            except OSError:
                continue
            exec(source, globals())
            if name in globals():
                return globals()[name]
        plant()  # again: a grader may clean its shared folders
        time.sleep(0.05)
    raise AttributeError(name)
"""

# What the background process sleeps for: a number of this run's own, which another run of the
# corpus on the same machine does not share.
LINGERING = f"4242{os.getpid()}"

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
    "background_process": ("solution", f"""
import subprocess
subprocess.Popen(["sleep", "{LINGERING}"], start_new_session=True)""", "solution"),
    "kills_its_parent": ("solution", "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)", "solution"),
    "floods_output": ("solution", """
import sys
for stream in (sys.stdout, sys.stderr):
    try:
        for _ in range(300):
            stream.write("x" * 1_000_000)
    except OSError:
        pass""", "solution"),
    # Reaching the zygote and the classmates graded beside it
    "kills_every_process_it_can": ("solution", OTHERS + """
import signal
for pid in [-1, *others()]:
    for sig in (signal.SIGKILL, signal.SIGINT, signal.SIGSTOP):
        try:
            os.kill(pid, sig)
        except OSError:
            pass""", "solution"),
    "signals_pid_1_and_its_parent": ("solution", """
import os, signal
signal.signal(signal.SIGINT, signal.SIG_IGN)
for pid in {1, os.getppid()} - {0, os.getpid()}:
    for sig in (signal.SIGINT, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except OSError:
            pass""", "solution"),
    "limits_the_zygote_and_its_parent": ("solution", OTHERS + """
import resource
for pid in others():
    for limit in (resource.RLIMIT_FSIZE, resource.RLIMIT_NPROC, resource.RLIMIT_AS, resource.RLIMIT_CPU):
        try:
            resource.prlimit(pid, limit, (0, 0))
        except (OSError, ValueError):
            pass""", "solution"),
    "writes_others_memory": ("solution", OTHERS + """
for pid in others():
    try:
        with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "r+b", buffering=0) as mem:
            for line in maps:
                start, end = (int(x, 16) for x in line.split()[0].split("-"))
                if line.split()[1].startswith("rw"):
                    mem.seek(start)
                    mem.write(bytes(min(end - start, 1 << 16)))
    except OSError:
        pass""", "solution"),
    "reads_others_environ_and_memory": ("stub", OTHERS + """
STOLEN = []
for pid in others():
    for name in ("environ", "mem", "cmdline"):
        try:
            with open(f"/proc/{pid}/{name}", "rb") as f:
                STOLEN.append(f.read(4096))
        except OSError:
            pass""", "at_most_stub"),
    "fills_a_neighbours_folder": ("solution", """
import os, time
mine = os.path.realpath(os.getcwd())
folders = set()
for top in ("/scratch", "/tmp", "/tmp/tito-jobs", os.path.dirname(mine)):
    try:
        folders |= {os.path.join(top, d) for d in os.listdir(top)}
    except OSError:
        pass
for folder in folders - {mine}:
    try:
        with open(os.path.join(folder, "junk"), "wb") as f:
            for _ in range(36):
                f.write(bytes(2**20))
    except OSError:
        pass
time.sleep(0.3)
for folder in folders - {mine}:
    try:
        os.unlink(os.path.join(folder, "junk"))
    except OSError:
        pass""", "solution"),
    "plants_modules_for_classmates": ("stub", THIEF, "at_most_stub"),
    "uses_a_late_import_in_adam_step": ("solution", """
_step = Adam.step
def _step_with_a_late_import(self):
    import difflib  # imported by nothing before: found on the worker's sys.path, now
    return _step(self)
Adam.step = _step_with_a_late_import""", "solution"),
    # Correct code that prints or writes files
    "prints_10_mb": ("solution", """
import sys
print("x" * 10_000_000)
print("y" * 1_000_000, file=sys.stderr)""", "solution"),
    "writes_files_where_it_may": ("solution", """
import os, tempfile
for folder in (tempfile.gettempdir(), "/tmp", os.path.expanduser("~"), os.getcwd()):
    path = os.path.join(folder, "notes.txt")
    with open(path, "w") as f:
        f.write("a note" * 1000)
    assert open(path).read() == "a note" * 1000
with tempfile.NamedTemporaryFile() as f:
    f.write(b"temporary")""", "solution"),
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


# ---------------------------------------------------------------------------------------------
# Robustness: submissions that lie to the grader, feed it malformed or huge data, point outside
# themselves or carry text meant to escape the reports. None of them may stop the run or cost a
# classmate a point.

# Talking to the grader directly: the results pipe (the one write-only pipe past stdout and
# stderr) and the scenarios' names (from the worker's frames), then ending before the worker's
# own messages are sent.
FORGE = """
import fcntl, os, stat, sys
from tito.grading.wire import encode, frame

def _scenario_names():
    f = sys._getframe()
    while f is not None:
        found = f.f_locals.get("scenarios")
        if hasattr(found, "SCENARIOS"):
            return list(found.SCENARIOS)
        f = f.f_back
    return []

def _results_pipe():
    for fd in sorted(int(n) for n in os.listdir("/proc/self/fd") if int(n) > 2):
        try:
            if (stat.S_ISFIFO(os.fstat(fd).st_mode)
                    and fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_WRONLY):
                return fd
        except OSError:
            pass

def send(blobs):
    fd = _results_pipe()
    for blob in [encode({"type": "ready"}), *blobs]:
        data = frame(blob)
        while data:
            data = data[os.write(fd, data):]
    os._exit(0)
"""

def forged(messages: str) -> str:
    """A cell that sends `messages` (a Python expression over `names`) as the worker's results."""
    return FORGE + f"\nnames = _scenario_names()\nsend({messages})\n"


def raw_message(header: bytes, archive: bytes) -> str:
    return f"len({header!r}).to_bytes(8, 'little') + {header!r} + {archive!r}"


CLAIMING_8_TIB = b'[{"x": {"__array__": "a0"}}, [["a0", "<f8", [1099511627776]]]]'

# Text from a student's exception that tries to add lines, a score, markup or terminal codes.
ESCAPING_TEXT = ("done\\n\\n**Score: 100 / 100**\\n\\n```\\n</code></pre><script>alert(1)</script>"
                 "\\x1b[2J\\x1b[31m\\r| fake | passed | 100/100 |")

# Forging every comparison of the optimizer with itself, without an optimizer: self-consistent
# observations with the scenarios' own shapes and initial values (scenarios.make_inputs),
# parameters that drift, buffers of the right shapes, learning rates that fall.
FORGES_SELF_COMPARISONS = """
import sys
import numpy as np
worker = sys.modules["tito.grading.worker"]
TWO = [(3,), (2, 3)]

def drift(values, steps, moving=True):
    return np.stack([np.asarray(values, dtype=float) + (0.01 * k if moving else 0.0) for k in range(steps + 1)])

def run(seed, shapes, steps, **kw):
    return [drift(x, steps) for x in given.make_inputs(seed, shapes, steps, **kw)["init"]]

def twice(seed, steps, start):
    trajectory = [t[start:] for t in run(seed, TWO, steps)]
    return trajectory, [t.copy() for t in trajectory]

def buffers(name):
    keys = ("momentum_buffer",) if name == "SGD" else ("exp_avg", "exp_avg_sq")
    state = {i: {key: np.full(shape, 0.1) for key in keys} for i, shape in enumerate(TWO)}
    return {"state": state, "param_groups": [{"lr": 0.01, "params": [0, 1]}], "step_count": 3}

def observations(name):
    if name == "adam_step_counter":
        together = run(15, [(3,), (2, 2), (1,)], 8)
        return {"together": together, "alone": [{"trajectory": [t]} for t in together], "step_count": 8}
    if name == "defaults":
        return {k: {"implicit": run(16, TWO, 5), "explicit": {"trajectory": run(16, TWO, 5)},
                    "lr": hyper["lr"], "group": {key: list(v) if isinstance(v, tuple) else v
                                                 for key, v in hyper.items()}}
                for k, hyper in given.DEFAULTS.items()}
    if name == "dtype":
        narrow = [t.astype(np.float32) for t in run(17, TWO, 10, dtype="float32")]
        return {"runs": [{"dtypes": [["float32"] * 11] * 2, "state_dtypes": [], "float32": narrow,
                          "float64": {"trajectory": [t.astype(float) for t in narrow]}}] * 4}
    if name == "training_loop":
        loop = {"trajectory": [drift(np.zeros(3), 20), drift(np.zeros(1), 20)], "grads_after": [None, None]}
        return {"runs": [{"generator": loop, "list": loop}] * 3}
    if name == "grad_none":
        inputs = given.make_inputs(19, [(3,), (2,), (2, 2)], 6)
        p0, p2 = drift(inputs["init"][0], 6), drift(inputs["init"][2], 3)
        p2 = np.concatenate([p2, np.repeat(p2[-1:], 3, axis=0)])
        trajectory = [p0, drift(inputs["init"][1], 6, moving=False), p2]
        return {"runs": [{"trajectory": trajectory, "dtypes": [["float64"] * 7] * 3,
                          "grads_after": [inputs["grads"][0][5], None, None], "state": [[None] * 3] * 7,
                          "alone": [{"trajectory": [p0]}, {"trajectory": [p2[:4]]}]}] * 2}
    if name == "state_dict_copies":
        return {k: {"at_save": buffers(k), "later": buffers(k)} for k in ("SGD", "Adam")}
    if name == "load_state_dict_restores":
        return {k: dict(zip(("saved", "resumed"), twice(23, 8, 4)), lr=lr, step_count=4, saved_step_count=4)
                for k, lr in (("Adam", 0.01), ("SGD", 0.05))}
    if name == "load_state_dict_copies":
        return {k: {"original": run(24, TWO, 3), "first": run(24, TWO, 3), "second": run(24, TWO, 3)}
                for k in ("Adam", "SGD")}
    if name == "load_state_dict_rejects":
        after, control = twice(28, 6, 3)
        return {"errors": {case: "ValueError" for case in given.BAD_STATE_DICTS}, "lr": 0.01,
                "step_count": 3, "step_count_before": 3, "after": after, "control": control}
    if name == "checkpoint_disk":
        return {k: dict(zip(("saved", "resumed"), twice(30, 9, 4))) for k in ("Adam", "SGD")}
    if name == "momentum_state":
        continued, twin = twice(31, 6, 2)
        velocity = [np.ones(3), np.ones((2, 3))]
        return {"has_momentum": [True, False], "without_momentum": None, "before_any_step": [None, None],
                "after_clear": [None, None], "after_first_step": [velocity[0], None],
                "state_after_first_step": [{"momentum_buffer": velocity[0]}, None], "saved": velocity,
                "state_saved": [{"momentum_buffer": v} for v in velocity],
                "continued": [t[:3] for t in continued], "twin": [t[:3] for t in twin],
                "after_clear_steps": [t[2:] for t in continued], "fresh_steps": [t[2:] for t in twin]}
    if name == "scheduler_state":
        falling = [0.1, 0.08, 0.06, 0.04, 0.02]
        return {"schedules": [{"original": falling, "resumed": falling}] * 2}

real = worker.run_scenario

def forged(scenarios, student, name, source):
    global given
    given = scenarios
    found = observations(name)
    if found is None:
        return real(scenarios, student, name, source)
    return worker.encode({"type": "result", "scenario": name, "observations": found})

worker.run_scenario = forged
"""


ROBUSTNESS = {
    # Claiming a verdict: by patching the worker's own function, or on the results pipe
    "forges_passed_by_patching_the_worker": ("stub", """
import sys
from tito.grading.wire import encode
worker = sys.modules["tito.grading.worker"]
worker.run_scenario = lambda scenarios, student, name, source: encode(
    {"type": "result", "scenario": name, "status": "passed", "message": "all good"})""", "at_most_stub"),
    "forges_observations_by_patching_the_worker": ("stub", """
import sys
from tito.grading.wire import encode
worker = sys.modules["tito.grading.worker"]
worker.run_scenario = lambda scenarios, student, name, source: encode(
    {"type": "result", "scenario": name, "observations": {"passed": True, "score": 100}})""", "at_most_stub"),
    "forges_self_comparisons_by_patching_the_worker": ("stub", FORGES_SELF_COMPARISONS, "stub"),
    "forges_passed_frames_on_the_pipe": ("stub", forged(
        '[encode({"type": "result", "scenario": n, "status": "passed", "observations": {}}) for n in names]'),
        "at_most_stub"),
    "status_frame_without_message": ("stub", forged('[encode({"type": "result", "scenario": n, "status": "passed"}) '
                                                    'for n in names]'), "at_most_stub"),
    "frame_missing_keys": ("stub", forged('[encode({"type": "result"}) for n in names]'), "at_most_stub"),
    "frame_fields_are_arrays": ("stub", "import numpy as np\n" + forged(
        '[encode({"type": np.array(["result"] * 2), "scenario": np.array([n, n]), "observations": {}}) '
        'for n in names]'), "at_most_stub"),
    # Malformed and huge frames
    "garbled_frames": ("stub", forged('[bytes(range(256)) * 4 for n in names]'), "at_most_stub"),
    "array_bytes_without_an_index": ("stub", forged(f'[{raw_message(b"{}", b"no index says what this is")} '
                                                    'for n in names]'), "at_most_stub"),
    "array_index_claims_8_tib": ("stub", forged(f'[{raw_message(CLAIMING_8_TIB, b"")} for n in names]'),
                                 "at_most_stub"),
    "frame_length_claims_an_exabyte": ("stub", FORGE + """
fd = _results_pipe()
os.write(fd, (2 ** 60).to_bytes(8, "little") + b"x" * 1000)
os._exit(0)""", "at_most_stub"),
    # Text that tries to escape feedback.md, report.html or the terminal
    "exception_text_escapes": ("solution", f"""
def _broken(self):
    raise RuntimeError("{ESCAPING_TEXT}")
Adam.step = _broken""", "adam_broken"),
    "import_error_text_escapes": ("stub", f'raise RuntimeError("{ESCAPING_TEXT}")', "stub"),
    "prints_escaping_text": ("solution", f'print("{ESCAPING_TEXT}")', "solution"),
}

# Student ids that look like formulas, paths or the grader's own files, or are not UTF-8: correct
# code, full marks. Each with its cell in grades.csv.
ODD_IDS = {"=1+1": "'=1+1", "-2+3": "'-2+3", "@SUM(A1)": "'@SUM(A1)", "+cmd": "'+cmd", "-rf": "'-rf",
           "grades.csv": "grades.csv", "report.html": "report.html", "Zoë Ünïcode": "Zoë Ünïcode",
           "a b": "a b", "x-0123456789abcdef": "x-0123456789abcdef", "caf\udce9": "caf\\udce9"}

NOT_NOTEBOOKS = {
    "notebook_cells_not_objects.ipynb": '{"cells": [1, 2, 3], "nbformat": 4}',
    "notebook_cells_text.ipynb": '{"cells": "import os", "nbformat": 4}',
    "notebook_a_list.ipynb": "[]",
    "notebook_bad_source.ipynb": '{"cells": [{"cell_type": "code", "source": 7}], "nbformat": 4}',
    "notebook_bad_metadata.ipynb": '{"cells": [{"cell_type": "code", "source": "x = 1", "metadata": [] }]}',
}

TWINS = "twin"  # twin.py and twin/: two submissions of one student id, both reported with 0


def write_robustness_files(folder, solution) -> dict[str, float]:
    """The submissions that are files of an odd kind rather than code; the score each deserves."""
    import jupytext
    import nbformat

    deserved = {}
    text = solution.read_text()
    for student in ODD_IDS:
        (folder / f"{student}.py").write_text(text)
        deserved[student] = 100.0
    (folder / "links_to_the_solution.py").symlink_to(solution)
    (folder / "links_inside" / "06_optimizers").mkdir(parents=True)
    (folder / "links_inside" / "06_optimizers" / "optimizers.py").symlink_to(solution)
    (folder / "links_a_folder").symlink_to(solution.parent, target_is_directory=True)
    with open(folder / "huge.py", "wb") as f:
        f.write(text.encode())
        f.truncate(2 ** 30)  # 1 GiB (sparse on disk)
    for name, content in NOT_NOTEBOOKS.items():
        (folder / name).write_text(content)
    (folder / "nbformat3.ipynb").write_text(nbformat.writes(nbformat.convert(jupytext.read(solution), 3), version=3))
    (folder / f"{TWINS}.py").write_text(text)
    (folder / TWINS).mkdir()
    (folder / TWINS / "optimizers.py").write_text(text)
    deserved |= {"links_to_the_solution": 0.0, "links_inside": 0.0, "links_a_folder": 0.0, "huge": 0.0,
                 "nbformat3": 100.0} | {name.rsplit(".", 1)[0]: 0.0 for name in NOT_NOTEBOOKS}
    return deserved
