import os
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from tito.console import console, print_grading_summary
from tito.course import load_course
from tito.grading.judge import Grader, load_autograder
from tito.grading.sandbox import choose_isolation
from tito.grading.session import grade_all, to_grade
from tito.grading.submissions import find_submissions
from tito.grading.worker import Limits


def add_arguments(parser):
    defaults = Limits()
    parser.add_argument("module", help="module number, e.g. 06")
    parser.add_argument("submissions", type=Path, help="folder of <student>.py / .ipynb / <student>/")
    parser.add_argument("--out", type=Path, required=True, help="folder for grades.csv, report.html, feedback")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="submissions graded at once")
    parser.add_argument("--timeout", type=float, default=defaults.test_seconds, help="seconds per test")
    parser.add_argument("--cpu", type=int, default=defaults.cpu_seconds, help="CPU seconds per worker")
    parser.add_argument("--memory", type=int, default=defaults.memory_mb, help="MB per worker")
    parser.add_argument("--resume", action="store_true", help="grade only submissions without results")
    parser.add_argument("--require-isolation", action="store_true",
                        help="refuse to grade when no sandbox is available")


def run(args) -> int:
    module = load_course().module(args.module)
    autograder = load_autograder(module)
    pending = to_grade(find_submissions(args.submissions, module), args.out, args.resume)
    limits = Limits(test_seconds=args.timeout, cpu_seconds=args.cpu, memory_mb=args.memory)
    isolation = choose_isolation(allow_none=not args.require_isolation)
    color = "green" if isolation.isolated else "bold yellow"
    console.print(f"isolation: [{color}]{isolation.summary}[/]")
    console.print(f"grading {len(pending)} submissions of module {module.number} with {args.jobs} jobs")
    with Grader(autograder, limits, isolation) as grader, Progress(
            "{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=console, transient=True) as progress:
        task = progress.add_task("grading", total=len(pending))
        results = grade_all(pending, grader, args.out, args.jobs, on_result=lambda r: progress.advance(task))
    print_grading_summary(results, args.out)
    return 0
