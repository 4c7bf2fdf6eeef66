"""`tito COMMAND ...`: one entry per command; each command is a module in `tito.commands`."""
from __future__ import annotations

import argparse
import importlib
import importlib.util

from tito.console import print_error
from tito.course import CourseError

COMMANDS = {
    "test": "run a module's visible tests and show what passes",
    "export": "write a module's #| export cells into the tinytorch package",
    "notebook": "create or refresh a module's paired .ipynb",
    "status": "show every module: not started, in progress, tests passing, exported",
    "grade": "(instructor) grade a folder of submissions with the hidden autograder",
    "validate": "(instructor) check the autograder on the solution, the stub, mutants and correct variants",
    "release": "(instructor) write the student release of a module: stubs, notebook, tito, tinytorch",
    "nbgrader": "(instructor) lay out an nbgrader course graded by the course autograder",
    "gradescope": "(instructor) build the Gradescope autograder zip",
    "bench": "(instructor) run the benchmarks in benchmarks/ and write results.json, .md and .png",
    "generate": "(instructor) write modules/ and the package from solutions/",
    "demo": "a tour: the stubs fail, the solution passes and trains a small network",
}
INSTRUCTOR_COMMANDS = [name for name, summary in COMMANDS.items() if summary.startswith("(instructor)")]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tito", description="The TinyTorch course tool.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, summary in COMMANDS.items():
        if importlib.util.find_spec(f"tito.commands.{name}") is None:
            continue  # the student release ships without the instructor's commands
        command = importlib.import_module(f"tito.commands.{name}")
        sub = commands.add_parser(name, help=summary, description=summary)
        command.add_arguments(sub)
        sub.set_defaults(run=command.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except CourseError as error:
        print_error(str(error))
        return 2
    except KeyboardInterrupt:
        print_error("interrupted")
        return 130
