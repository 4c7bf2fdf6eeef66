from tito.console import print_test_results
from tito.course import load_course
from tito.exporter import current_source
from tito.visible import run_visible_tests


def add_arguments(parser):
    parser.add_argument("module", help="module number, e.g. 06")
    parser.add_argument("--solution", action="store_true",
                        help="test the instructor's solution instead of your copy")


def run(args) -> int:
    module = load_course().module(args.module)
    path = module.solution if args.solution else current_source(module)
    results = run_visible_tests(path)
    print_test_results(f"Module {module.number} ({module.name}): {path.relative_to(module.root)}", results)
    return 0 if all(r.passed for r in results) else 1
