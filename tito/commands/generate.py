from tito.console import console
from tito.course import load_course
from tito.exporter import export
from tito.stubs import generate


def add_arguments(parser):
    parser.add_argument("modules", nargs="*", help="module numbers (default: all)")


def run(args) -> int:
    course = load_course()
    modules = [course.module(n) for n in args.modules] or course.modules
    for module in modules:
        student = generate(module)
        target = export(module, student)
        console.print(f"{module.folder}: wrote {student.relative_to(course.root)} "
                      f"and {target.relative_to(course.root)}")
    return 0
