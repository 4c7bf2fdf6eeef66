"""All of tito's terminal output goes through here."""
from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tito.printable import printable

console = Console(highlight=False)


def print_error(message: str) -> None:
    console.print(f"[bold red]error:[/] {message}", soft_wrap=True)


def print_test_results(title: str, results) -> None:
    table = Table(title=title, title_justify="left", show_lines=False)
    table.add_column("test")
    table.add_column("result")
    table.add_column("points", justify="right")
    table.add_column("hint", overflow="fold")
    for r in results:
        verdict = "[green]pass[/]" if r.passed else "[red]FAIL[/]"
        table.add_row(escape(r.concept), verdict, f"{r.score:g}/{r.points:g}", escape(r.hint))
    console.print(table)
    score, total = sum(r.score for r in results), sum(r.points for r in results)
    passed = sum(r.passed for r in results)
    color = "green" if passed == len(results) else "red"
    console.print(f"[bold {color}]{passed}/{len(results)} tests passed, visible score {score:g}/{total:g}[/]")


def print_grading_summary(results: list[dict], out) -> None:
    """The class at a glance: score distribution, most-failed tests, and what broke."""
    from statistics import mean, median

    from tito.grading.reports import pass_rates

    scores = [r["score"] for r in results]
    if not scores:
        console.print("no submissions were graded")
        return
    console.print(f"[bold]{len(scores)} submissions[/]: min {min(scores):g}, median {median(scores):g}, "
                  f"mean {mean(scores):.1f}, max {max(scores):g} (of {results[0]['max_score']:g})")
    for low in range(0, 100, 20):
        count = sum(low <= s < low + 20 or (low == 80 and s == 100) for s in scores)
        console.print(f"  {low:>3}-{low + 20 if low < 80 else 100:<3} {'#' * count} {count}")
    worst = sorted(pass_rates(results), key=lambda item: item[1])[:5]
    console.print("most failed: " + "; ".join(f"{name} ({100 * (1 - rate):.0f}% fail)" for name, rate in worst))
    for r in results:
        extra = r["extra_data"]
        if extra["problem"] or extra["incidents"]:
            why = extra["problem"] or "; ".join(extra["incidents"])
            console.print(f"  [yellow]{escape(printable(extra['student']))}[/]: {escape(printable(why))}")
    console.print(f"wrote {out}/grades.csv, {out}/report.html and one folder of feedback per student")
