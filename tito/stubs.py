"""Generate the student's copy of a module from the instructor's source.

`TodoStubs` is nbgrader's `ClearSolutions`, which replaces each `### BEGIN SOLUTION` ...
`### END SOLUTION` region with a stub, that also puts the region's `# TODO:` sentence into the
stub's exception, so a student who calls an unfinished function reads what to implement.
`tito generate`, `tito release` and the nbgrader course's `generate_assignment` all clear
solutions with it, so every student copy has the same stubs.
"""
from __future__ import annotations

import re
from pathlib import Path

from tito.course import Course, CourseError, Module
from tito.exporter import write_atomically
from tito.notebooks import PAIRING

STUB = 'raise NotImplementedError("{todo}")'
TODO = re.compile(r"^\s*# TODO:\s*(?P<todo>.+?)\s*$")
ANSWER = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)


def student_text(solution: Path) -> str:
    """The student's version of a solution source, in the same jupytext percent format."""
    import jupytext  # imported here: it costs a second, and only instructors generate stubs

    notebook = jupytext.read(solution)
    notebook, _ = todo_stubs().preprocess(notebook, {"source": str(solution)})
    notebook.metadata.setdefault("jupytext", {})["formats"] = PAIRING
    return jupytext.writes(notebook, fmt="py:percent")


def todo_stubs():
    from tito.nbgrader_hooks import TodoStubs  # imported here: nbgrader costs a second

    return TodoStubs()


def fill_todo_messages(source: str, solution: Path | str) -> str:
    """Replace each stub's `{todo}` with the `# TODO:` sentence on the line above it."""
    lines = source.split("\n")
    for i, line in enumerate(lines):
        if "{todo}" not in line:
            continue
        todo = TODO.match(lines[i - 1]) if i else None
        if not todo:
            raise ValueError(
                f"{solution}: every ### BEGIN SOLUTION needs a `# TODO: ...` line right above it "
                f"(missing above: {lines[i - 1].strip() if i else 'the start of the cell'!r}).")
        lines[i] = line.replace("{todo}", todo["todo"].replace("\\", "\\\\").replace('"', '\\"'))
    return "\n".join(lines)


def generate(module: Module) -> Path:
    """Write `modules/NN_name/name.py` from `solutions/NN_name/name.py`."""
    write_atomically(module.source, student_text(module.solution))
    return module.source


def check_no_answer_in_package(course: Course, before: str) -> None:
    """The package that grading shows students' code holds each module's student stub, never its
    solution: no line of an answer region may be in it (an export run on a filled-in module, or
    on the solution, would put them there, and a submission could import them)."""
    for module in filter(lambda m: m.solution.is_file(), course.modules):  # no solution, nothing to leak
        answers = {line.strip() for region in ANSWER.findall(module.solution.read_text())
                   for line in region.splitlines() if len(line.strip()) >= 20 and not line.strip().startswith("#")}
        package = module.package_file
        leaked = answers & {line.strip() for line in package.read_text().splitlines()} if package.is_file() else set()
        if leaked:
            raise CourseError(f"{package} holds lines of the solution of module {module.number} "
                              f"(e.g. {sorted(leaked)[0]!r}): run `tito generate {module.number}` and then "
                              f"`tito export {module.number}` on the student module (modules/) before {before}.")
