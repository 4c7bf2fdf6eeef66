"""tito's steps in nbgrader's pipelines, named by the nbgrader_config.py that `tito nbgrader` writes.

- `TodoStubs` clears solutions with the stubs `tito generate` writes (`generate_assignment`, and
  `tito release`, which runs the same release pipeline).
- `UngradeStrangers` (sanitizing, before `OverwriteCells`) makes a cell that claims to be graded
  but is no graded cell of the assignment (a visible test, as in the module's source, or a
  student's own) an ordinary one: nbgrader would stop on it, and the student get no grade.
- `HiddenTestVerdicts` (autograde, after `Execute`) grades the notebook being autograded with the
  course's sandboxed grader, as `tito grade` would, and sets each hidden test cell to the grader's
  verdict: no output when it passed, one error output with the grader's message when not.
  Whatever the student's kernel printed, raised or patched, nbgrader's `SaveAutoGrades` reads
  only that.
- `Execute` is nbgrader's, except that the student's kernel runs inside bubblewrap where it
  works (`SandboxedKernelManager`), and that a kernel that dies or stops answering ends the run
  of that notebook, not its grading: the verdicts never depended on it.
"""
from __future__ import annotations

import copy
import functools
import logging
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import tinytorch
from jupyter_client.manager import AsyncKernelManager
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbgrader import preprocessors as nbgrader_steps
from nbgrader.api import Gradebook
from nbgrader.converters import Autograde, GenerateAssignment
from traitlets import Integer, List, Unicode

import tito
from tito.course import load_course
from tito.grading.judge import Grader, load_autograder
from tito.grading.submissions import Submission
from tito.grading.worker import Limits
from tito.release import hidden_cell, hidden_id
from tito.stubs import STUB, fill_todo_messages

INSTRUCTOR_FOLDERS = ("solutions", "autograder", "tests")  # of the course repository
LOG = logging.getLogger(__name__)
NOTEBOOK_SECONDS = 900  # of the whole notebook in the student's kernel
VERDICT_NAMES = {"failed": "Failed", "error": "Error", "timeout": "TimedOut", "crashed": "Crashed"}


class TodoStubs(nbgrader_steps.ClearSolutions):
    """nbgrader's ClearSolutions, whose stub raises NotImplementedError with the region's TODO."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.code_stub = {"python": STUB}

    def preprocess_cell(self, cell, resources, index):
        cell, resources = super().preprocess_cell(cell, resources, index)
        if cell.cell_type == "code":
            cell.source = fill_todo_messages(cell.source, resources.get("source", "the notebook"))
        return cell, resources


class SandboxedKernelManager(AsyncKernelManager):
    """Starts the student's kernel in bubblewrap: the whole machine read-only but for the
    notebook's own folder and a private /tmp; the `hidden` folders (the nbgrader course, the
    instructor's home, the course repository's solutions/, autograder/ and tests/) empty; no
    capability; its own PID namespace, ended with the process that started it, so nothing it starts outlives it. It keeps the network:
    it talks to nbgrader over local TCP. Without a working bubblewrap it runs as nbgrader's."""

    hidden = List(Unicode(), help="folders the kernel must not see").tag(config=True)

    async def start_kernel(self, **kw):
        self.notebook_folder = str(Path(kw.get("cwd") or os.getcwd()).resolve())
        await super().start_kernel(**kw)

    def format_kernel_cmd(self, extra_arguments=None):
        command = super().format_kernel_cmd(extra_arguments)
        prefix = kernel_sandbox(self.notebook_folder, tuple(self.hidden), self.connection_file)
        if not prefix:
            self.log.warning("bubblewrap does not work here: the student's kernel runs unconfined")
        return [*prefix, *command]


def kernel_sandbox(folder: str, hidden: tuple[str, ...], connection_file: str) -> list[str]:
    """The bubblewrap command line around a kernel working in `folder`, or [] where it fails."""
    if not shutil.which("bwrap"):
        return []
    repository = Path(tito.__file__).resolve().parent.parent
    hide = [*hidden, str(Path.home()), *(str(repository / name) for name in INSTRUCTOR_FOLDERS)]
    needed = [sys.base_prefix, sys.prefix, str(Path(tito.__file__).resolve().parent),
              str(Path(next(iter(tinytorch.__path__))).resolve()), connection_file]
    prefix = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
              "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--cap-drop", "ALL", "--die-with-parent"]
    for path in sorted({os.path.realpath(p) for p in hide if os.path.isdir(p)}):
        prefix += ["--tmpfs", path]
    for path in needed:
        if os.path.exists(path) and any(_inside(path, h) for h in [*hide, "/tmp"]):
            prefix += ["--ro-bind", path, path]
    # In its own PID namespace the kernel's parent is PID 1: it must not take that for its
    # parent's death (JPY_PARENT_PID), and it ends with its sandbox anyway.
    prefix += ["--bind", folder, folder, "--chdir", folder, "--unsetenv", "JPY_PARENT_PID",
               "--setenv", "HOME", "/tmp", "--setenv", "IPYTHONDIR", "/tmp/.ipython",
               "--setenv", "MPLCONFIGDIR", "/tmp", "--"]
    return prefix if _works(tuple(prefix)) else []


def _inside(path: str, folder: str) -> bool:
    return os.path.realpath(path).startswith(os.path.realpath(folder).rstrip("/") + "/")


@functools.lru_cache(maxsize=None)
def _works(prefix: tuple[str, ...]) -> bool:
    probe = subprocess.run([*prefix, sys.executable, "-c", "import ipykernel, numpy"], capture_output=True)
    return probe.returncode == 0


class Execute(nbgrader_steps.Execute):
    notebook_timeout = Integer(NOTEBOOK_SECONDS, help="seconds the whole notebook may run, after which its "
                               "kernel is stopped (the verdicts never depend on it)").tag(config=True)

    def __init__(self, **kwargs):
        kwargs.setdefault("kernel_manager_class", SandboxedKernelManager)
        super().__init__(**kwargs)
        self._deadline = math.inf

    def preprocess(self, nb, resources, km=None):
        self._deadline = time.monotonic() + self.notebook_timeout
        try:
            return super().preprocess(nb, resources, km=km)
        except (DeadKernelError, CellTimeoutError, TimeoutError) as stopped:
            self.log.warning("The kernel stopped (%s): the hidden tests are graded all the same.", stopped)
            return nb, resources

    def preprocess_cell(self, cell, resources, index):
        if time.monotonic() >= self._deadline:
            raise TimeoutError(f"the notebook ran for more than {self.notebook_timeout} s")
        return super().preprocess_cell(cell, resources, index)

    def _get_timeout(self, cell):
        """A cell's limit, never past the notebook's deadline."""
        timeout = super()._get_timeout(cell)
        left = max(1, math.ceil(self._deadline - time.monotonic()))
        return left if timeout is None else min(timeout, left)


class UngradeStrangers(nbgrader_steps.NbGraderPreprocessor):
    def preprocess(self, nb, resources):
        ids = resources["nbgrader"]
        with Gradebook(ids["db_url"]) as gradebook:
            graded = {c.name for c in gradebook.find_notebook(ids["notebook"], ids["assignment"]).grade_cells}
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade") and meta.get("grade_id") not in graded:
                meta["grade"] = False
        return nb, resources


class HiddenTestVerdicts(nbgrader_steps.NbGraderPreprocessor):
    course_root = Unicode(help="the course folder, with course.toml and autograder/").tag(config=True)
    module = Unicode(help="the module's number, e.g. 06").tag(config=True)

    def preprocess(self, nb, resources):
        module = load_course(Path(self.course_root)).module(self.module)
        autograder = load_autograder(module)
        result = grade_notebook(nb, module, autograder, resources["nbgrader"]["student"], self.log)
        outcomes = {o.name: o for o in result.outcomes}
        cells = {cell.metadata.get("nbgrader", {}).get("grade_id"): cell for cell in nb.cells}
        for test in autograder.tests:
            cell = cells.get(hidden_id(test.name))
            if cell is None:  # deleted: the test is graded all the same
                cell = hidden_cell(test)
                nb.cells.append(cell)
            checksum = cell.metadata.get("nbgrader", {}).get("checksum")
            canonical = hidden_cell(test)
            cell.update(cell_type="code", source=canonical.source, metadata=canonical.metadata,
                        execution_count=None, outputs=verdict_outputs(outcomes[test.name]))
            if checksum:
                cell.metadata.nbgrader["checksum"] = checksum
        return nb, resources


def grade_notebook(nb, module, autograder, student: str, log: logging.Logger = LOG):
    """The grader's result for the notebook in memory (the cells nbgrader is autograding, never a
    file the student's kernel could have rewritten), graded from a private copy of its code alone:
    the outputs its execution left (a progress bar, figures) count against no size limit."""
    code = copy.deepcopy(nb)
    for cell in code.cells:
        cell.pop("attachments", None)
        if cell.cell_type == "code":
            cell.update(outputs=[], execution_count=None)
    with tempfile.TemporaryDirectory(prefix="tito-nbgrader-") as folder:
        path = Path(folder) / Path(module.file).with_suffix(".ipynb").name
        nbformat.write(code, path)
        with Grader(autograder, Limits()) as grader:
            (log.info if grader.isolation.isolated else log.warning)("Grading in %s", grader.isolation.summary)
            return grader.grade(Submission(student, path))


def verdict_outputs(outcome) -> list:
    if outcome.status == "passed":
        return []
    name = VERDICT_NAMES.get(outcome.status, "Failed")
    return [nbformat.v4.new_output("error", ename=name, evalue=outcome.message,
                                   traceback=[f"{name}: {outcome.message}"])]


def generate_preprocessors() -> list:
    """nbgrader's `generate_assignment` pipeline, clearing solutions with tito's stubs."""
    return [TodoStubs if step is nbgrader_steps.ClearSolutions else step
            for step in _default(GenerateAssignment, "preprocessors")]


def release_preprocessors() -> list:
    """The same pipeline without its database step, for `tito release`."""
    return [step() for step in generate_preprocessors() if step is not nbgrader_steps.SaveCells]


def sanitize_preprocessors() -> list:
    """nbgrader's sanitizing steps, with cells that are not graded in the assignment ungraded
    before `OverwriteCells` looks them up."""
    steps = _default(Autograde, "sanitize_preprocessors")
    overwrite = steps.index(nbgrader_steps.OverwriteCells)
    return [*steps[:overwrite], UngradeStrangers, *steps[overwrite:]]


def autograde_preprocessors() -> list:
    """nbgrader's autograde pipeline with our Execute, and the verdicts set right before they are
    saved (after Execute and after every step that rewrites outputs)."""
    steps = [Execute if step is nbgrader_steps.Execute else step
             for step in _default(Autograde, "autograde_preprocessors")]
    save = steps.index(nbgrader_steps.SaveAutoGrades)
    return [*steps[:save], HiddenTestVerdicts, *steps[save:]]


def _default(converter, pipeline: str) -> list:
    return list(converter.class_traits()[pipeline].default())
