import os
import statistics

from rich.markup import escape
from rich.table import Table

from tito.console import console
from tito.course import load_course
from tito.grading.judge import Grader, load_autograder
from tito.grading.validate import (MAX_LOSS, MAX_MEDIAN_LOSS, MAX_VISIBLE_GAP, catalogue_problems,
                                   catch_rates, losses, validate)
from tito.grading.worker import Limits


def add_arguments(parser):
    parser.add_argument("module", help="module number, e.g. 06")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)


def run(args) -> int:
    module = load_course().module(args.module)
    with Grader(load_autograder(module), Limits()) as grader:
        verdicts = validate(module, grader, args.jobs)
    table = Table(title=f"Validating the autograder of module {module.number}", title_justify="left")
    for column in ("implementation", "kind", "hidden", "visible", "tests failed", "verdict"):
        table.add_column(column)
    for v in verdicts:
        table.add_row(v.candidate.name, v.candidate.kind, f"{v.hidden:g}", f"{v.visible:g}",
                      escape(", ".join(v.failed)) or "-",
                      "[green]as expected[/]" if v.ok else f"[red]WRONG: {escape('; '.join(v.problems))}[/]")
    console.print(table)
    for concept, (caught, total) in catch_rates(verdicts).items():
        console.print(f"  {concept}: caught {caught}/{total} mutants")
    mutants = [v for v in verdicts if v.candidate.kind == "mutant"]
    lost = losses(verdicts)
    gaps = [abs(v.visible - v.hidden) for v in mutants]
    wrong = [v.candidate.name for v in verdicts if not v.ok]
    overall = catalogue_problems(verdicts)
    console.print(f"catch rate {sum(bool(v.failed) for v in mutants)}/{len(mutants)}; points lost by a "
                  f"mutant: at most {max(lost, default=0):g} (limit {MAX_LOSS}), median "
                  f"{statistics.median(lost) if lost else 0:g} (limit {MAX_MEDIAN_LOSS}); visible against "
                  f"hidden: at most {max(gaps, default=0):g} points apart (limit {MAX_VISIBLE_GAP})")
    if wrong or overall:
        console.print(f"[red]graded wrongly: {escape(', '.join(wrong + overall))}[/]")
        return 1
    console.print("[green]every grade as expected[/]")
    return 0
