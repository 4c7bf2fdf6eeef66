from tito.console import console
from tito.course import load_course
from tito.exporter import current_source, export


def add_arguments(parser):
    parser.add_argument("module", help="module number, e.g. 06")


def run(args) -> int:
    module = load_course().module(args.module)
    source = current_source(module)
    target = export(module, source)
    console.print(f"exported {source.relative_to(module.root)} -> {target.relative_to(module.root)}")
    return 0
