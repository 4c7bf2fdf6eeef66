from rich.markup import escape
from rich.table import Table

from tito.console import console
from tito.course import load_course
from tito.status import course_status

COLORS = {"not started": "dim", "in progress": "yellow", "tests passing": "cyan", "exported": "green",
          "broken": "red"}


def add_arguments(parser):
    pass


def run(args) -> int:
    table = Table(title="Your progress", title_justify="left")
    for column in ("module", "state", "visible tests", "problem"):
        table.add_column(column)
    for status in course_status(load_course()):
        color = COLORS[status.state]
        table.add_row(status.module.folder, f"[{color}]{status.state}[/]", f"{status.passed}/{status.total}",
                      escape(status.problem))
    console.print(table)
    return 0
