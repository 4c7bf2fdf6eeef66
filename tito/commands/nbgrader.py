from pathlib import Path

from tito.console import console
from tito.course import load_course
from tito.nbgrader_course import build_course


def add_arguments(parser):
    parser.add_argument("module", help="module number, e.g. 06")
    parser.add_argument("--course", type=Path, required=True, help="folder for the nbgrader course")


def run(args) -> int:
    course = load_course()
    module = course.module(args.module)
    out = build_course(course, module, args.course)
    console.print(f"nbgrader course at {out}: cd there, then `nbgrader generate_assignment {module.folder}` "
                  f"(its release/ notebook is the one `tito release {module.number}` gives students), "
                  f"collect the students' notebooks into submitted/<student>/{module.folder}/, "
                  f"`nbgrader autograde {module.folder}`, `nbgrader export`")
    return 0
