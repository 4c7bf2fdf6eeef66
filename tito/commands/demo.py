from pathlib import Path

from tito.console import console, print_test_results
from tito.course import load_course
from tito.demo import train_with_solution
from tito.exporter import current_source
from tito.visible import run_visible_tests

def add_arguments(parser):
    parser.add_argument("--out", default="demo-output", help="folder for the convergence plot")


def run(args) -> int:
    course = load_course()
    module = course.module(course.assignment)

    console.rule(f"1. `tito test {module.number}` on the student's copy: the stubs fail, each with a hint")
    print_test_results(f"Module {module.number}: {module.source.relative_to(course.root)}",
                       run_visible_tests(current_source(module)))

    console.rule(f"2. `tito test {module.number} --solution`: the instructor's solution passes")
    solution_results = run_visible_tests(module.solution)
    print_test_results(f"Module {module.number}: {module.solution.relative_to(course.root)}", solution_results)

    console.rule("3. the solution exported (in a scratch copy) trains a small MLP with each optimizer")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    training = train_with_solution(course, module.number, out / "convergence.png")
    console.print(training.stdout + training.stderr, end="", markup=False)
    ok = training.returncode == 0 and all(r.passed for r in solution_results)
    console.print(f"[bold {'green' if ok else 'red'}]demo {'finished' if ok else 'FAILED'}[/]")
    return 0 if ok else 1
