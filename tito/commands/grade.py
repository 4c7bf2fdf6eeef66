import argparse
import math
import os
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from tito.console import console, print_grading_summary
from tito.course import CourseError, load_course
from tito.grading.judge import load_autograder
from tito.grading.sandbox import choose_isolation
from tito.grading.session import grade_all, plan, start_early
from tito.grading.submissions import find_submissions
from tito.grading.worker import Limits
from tito.stubs import check_no_answer_in_package

# A worker starts with about 110 MB of address space (Python, numpy and the scenarios, forked from
# the zygote), and tests run side by side get half the limit each: 256 MB leaves a correct one,
# run apart, room to allocate what it needs (measured: 128 MB holds the solution plus an 8 MB array).
MIN_MEMORY_MB = 256


def at_least(minimum: int, unit: str = ""):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"must be a whole number{unit} of at least {minimum}, not {text!r}")
        return value
    return parse


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a number of seconds above 0 (and finite), not {text!r}")
    return value


def folder(text: str) -> Path:
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"must be a folder; {text!r} exists and is not one")
    return path


def add_arguments(parser):
    defaults = Limits()
    parser.formatter_class = argparse.ArgumentDefaultsHelpFormatter
    parser.add_argument("module", help="module number, e.g. 06")
    parser.add_argument("submissions", type=Path, help="folder of <student>.py / .ipynb / <student>/")
    parser.add_argument("--out", type=folder, required=True, default=argparse.SUPPRESS,
                        help="folder for grades.csv, report.html and feedback, outside the submissions, "
                             "solutions/ and autograder/")
    parser.add_argument("--jobs", type=at_least(1), default=os.cpu_count() or 1,
                        help="submissions graded at once, each in a grading process with its own sandbox")
    parser.add_argument("--timeout", type=seconds, default=defaults.test_seconds, help="seconds per test")
    parser.add_argument("--cpu", type=at_least(1), default=defaults.cpu_seconds, help="CPU seconds per worker")
    parser.add_argument("--memory", type=at_least(MIN_MEMORY_MB, " of MB"), default=defaults.memory_mb,
                        help="MB of address space per worker")
    parser.add_argument("--resume", action="store_true", help="grade only submissions without results")
    parser.add_argument("--require-isolation", action="store_true",
                        help="refuse to grade when no sandbox is available")


def run(args) -> int:
    start_early()
    course = load_course()
    module = course.module(args.module)
    autograder = load_autograder(module)
    check_no_answer_in_package(course, "grading")
    check_out(args.out, [args.submissions, course.root / "solutions", autograder.folder.parent])
    work = plan(find_submissions(args.submissions, module), args.out, args.resume)
    limits = Limits(test_seconds=args.timeout, cpu_seconds=args.cpu, memory_mb=args.memory)
    isolation = choose_isolation(allow_none=not args.require_isolation)
    color = "green" if isolation.isolated else "bold yellow"
    console.print(f"isolation: [{color}]{isolation.summary}[/]")
    console.print(f"grading {len(work.pending)} submissions of module {module.number} with {args.jobs} jobs")
    with Progress("{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as progress:
        task = progress.add_task("grading", total=len(work.pending))
        results = grade_all(work, autograder, limits, isolation, args.out, args.jobs,
                            on_result=lambda r: progress.advance(task))
    print_grading_summary(results, args.out)
    return 0


def check_out(out: Path, inputs: list[Path]) -> None:
    """OUT is a folder of its own: neither inside nor around the submissions or the course's
    solutions and autograders, so that no output is ever read as an input."""
    where = out.resolve()
    for folder in inputs:
        other = folder.resolve()
        if where == other or other in where.parents or where in other.parents:
            raise CourseError(f"--out {out} overlaps {folder}: choose a folder outside the submissions, "
                              "solutions/ and autograder/ (for example graded/).")
