from pathlib import Path

from tito.console import console
from tito.course import load_course
from tito.release import release


def add_arguments(parser):
    parser.add_argument("module", help="module number, e.g. 06")
    parser.add_argument("--out", type=Path, required=True, help="an empty or new folder")


def run(args) -> int:
    course = load_course()
    out = release(course, course.module(args.module), args.out)
    console.print(f"released module {args.module} to {out} (no solutions, no autograder)")
    return 0
