"""All of tito's terminal output goes through here."""
from __future__ import annotations

from rich.console import Console
from rich.table import Table

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
        table.add_row(r.concept, verdict, f"{r.score:g}/{r.points:g}", r.hint)
    console.print(table)
    score, total = sum(r.score for r in results), sum(r.points for r in results)
    passed = sum(r.passed for r in results)
    color = "green" if passed == len(results) else "red"
    console.print(f"[bold {color}]{passed}/{len(results)} tests passed, visible score {score:g}/{total:g}[/]")
