import os

from rich.table import Table

from tito.console import console
from tito.course import load_course
from tito.grading.judge import Grader, load_autograder
from tito.grading.validate import catch_rates, validate
from tito.grading.worker import Limits


def add_arguments(parser):
    parser.add_argument("module", help="module number, e.g. 06")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)


def run(args) -> int:
    module = load_course().module(args.module)
    with Grader(load_autograder(module), Limits()) as grader:
        graded = validate(module, grader, args.jobs)
    table = Table(title=f"Validating the autograder of module {module.number}", title_justify="left")
    for column in ("implementation", "kind", "score", "verdict"):
        table.add_column(column)
    for candidate, result in graded:
        ok = candidate.acceptable(result)
        table.add_row(candidate.name, candidate.kind, f"{result.score:g}/{result.max_score:g}",
                      "[green]as expected[/]" if ok else "[red]WRONG[/]")
    console.print(table)
    for concept, (caught, total) in catch_rates(graded).items():
        console.print(f"  {concept}: caught {caught}/{total} mutants")
    wrong = [c.name for c, r in graded if not c.acceptable(r)]
    mutants = [c for c, _ in graded if c.kind == "mutant"]
    caught = sum(c.acceptable(r) for c, r in graded if c.kind == "mutant")
    console.print(f"catch rate {caught}/{len(mutants)}; "
                  + (f"[red]graded wrongly: {', '.join(wrong)}[/]" if wrong else "[green]every grade as expected[/]"))
    return 1 if wrong else 0
