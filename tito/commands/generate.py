import subprocess
from pathlib import Path

from tito.console import console
from tito.course import CourseError, Module, load_course
from tito.exporter import export
from tito.stubs import generate, student_text


def add_arguments(parser):
    parser.add_argument("modules", nargs="*", help="module numbers (default: all)")
    parser.add_argument("--force", action="store_true",
                        help="overwrite the student copies in modules/ even where they hold uncommitted edits")


def run(args) -> int:
    course = load_course()
    modules = [course.module(n) for n in args.modules] or course.modules
    edited = [] if args.force else [path for m in modules for path in uncommitted_edits(m)]
    if edited:
        names = ", ".join(str(p.relative_to(course.root)) for p in edited)
        raise CourseError(f"{names} {'has' if len(edited) == 1 else 'have'} uncommitted edits that "
                          "`tito generate` would overwrite (modules/ is made from solutions/). Move the "
                          "edits to solutions/ or commit them, or add --force to overwrite them.")
    for module in modules:
        student = generate(module)
        target = export(module, student)
        console.print(f"{module.folder}: wrote {student.relative_to(course.root)} "
                      f"and {target.relative_to(course.root)}")
    return 0


def uncommitted_edits(module: Module) -> list[Path]:
    """The module's student copy, when git says it differs from the last commit and it is not
    already what `tito generate` would write. Outside a git checkout there is nothing to compare."""
    path = module.source
    try:
        status = subprocess.run(["git", "status", "--porcelain", "--", str(path)], cwd=module.root,
                                capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return []
    if not status.strip() or not path.is_file():
        return []
    return [] if path.read_text(encoding="utf-8") == student_text(module.solution) else [path]
