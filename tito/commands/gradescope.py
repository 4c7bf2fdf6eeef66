from pathlib import Path

from tito.console import console
from tito.course import load_course
from tito.gradescope_bundle import build_bundle


def add_arguments(parser):
    parser.add_argument("module", help="module number, e.g. 06")
    parser.add_argument("--out", type=Path, default=Path("autograder.zip"), help="the zip to write")


def run(args) -> int:
    course = load_course()
    out = build_bundle(course, course.module(args.module), args.out)
    console.print(f"wrote {out}: upload it as the assignment's autograder on Gradescope")
    return 0
