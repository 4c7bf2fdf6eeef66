from tito.console import console
from tito.course import load_course
from tito.notebooks import sync_notebook


def add_arguments(parser):
    parser.add_argument("module", help="module number, e.g. 06")


def run(args) -> int:
    module = load_course().module(args.module)
    outcome = sync_notebook(module.source)
    console.print(outcome)
    return 0
