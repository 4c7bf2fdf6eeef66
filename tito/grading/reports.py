"""What grading writes: per student `results.json` (Gradescope's format), `feedback.md` and
`feedback.html`, then `grades.csv` and `report.html` for the whole class, rebuilt from the
per-student files, and the grader's record of which `results.json` it wrote.

Everything a student's code or file can put into these (an exception's text, a student id) is
quoted so that it cannot add a line, a heading, a formula or a tag of its own.
"""
from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import re
from pathlib import Path
from urllib.parse import quote

from tito.printable import printable
from tito.exporter import write_atomically
from tito.grading.judge import SubmissionResult

RESULTS = "results.json"
RECORD = ".tito-grade"  # OUT/.tito-grade/manifest.json: folder -> sha256 of the results.json we wrote
RESERVED = {"grades.csv", "report.html", RECORD}  # names in OUT that are no student's folder
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet evaluates a cell starting so


def write_submission(out: Path, folder: str, result: SubmissionResult, manifest: dict[str, str]) -> None:
    """Feedback first, then the record, then results: a folder whose `results.json` matches the
    record is a finished submission."""
    write_atomically(out / folder / "feedback.md", feedback_markdown(result))
    write_atomically(out / folder / "feedback.html", feedback_html(result))
    results = gradescope_results(result)
    results["extra_data"]["folder"] = folder
    text = json.dumps(results, indent=2) + "\n"
    manifest[folder] = _digest(text)
    write_atomically(out / RECORD / "manifest.json", json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    write_atomically(out / folder / RESULTS, text)


def read_manifest(out: Path) -> dict[str, str]:
    try:
        manifest = json.loads((out / RECORD / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(manifest, dict):
        return {}
    return {k: v for k, v in manifest.items() if isinstance(k, str) and isinstance(v, str)}


def finished_folders(out: Path, manifest: dict[str, str]) -> set[str]:
    """The folders whose results.json is the one this grader wrote (anything else is regraded)."""
    return {folder for folder in manifest if _read_verified(out, folder, manifest) is not None}


def load_results(out: Path, manifest: dict[str, str], folders: list[str]) -> list[dict]:
    """The verified results of `folders`, sorted by student."""
    found = (_read_verified(out, folder, manifest) for folder in folders)
    return sorted((r for r in found if r is not None), key=lambda r: (r["extra_data"]["student"], r["extra_data"]["folder"]))


def _read_verified(out: Path, folder: str, manifest: dict[str, str]) -> dict | None:
    if folder in RESERVED or "/" in folder or folder.startswith("."):
        return None
    try:
        text = (out / folder / RESULTS).read_text(encoding="utf-8")
    except (OSError, ValueError):
        return None
    return json.loads(text) if _digest(text) == manifest.get(folder) else None


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def gradescope_results(result: SubmissionResult) -> dict:
    return {
        "score": result.score,
        "max_score": result.max_score,
        "output": result.problem or f"{result.score:g}/{result.max_score:g} points",
        "tests": [
            {"name": o.concept, "number": o.name, "score": o.score, "max_score": o.points,
             "status": "passed" if o.status == "passed" else "failed",
             "output": o.message, "visibility": "visible"}
            for o in result.outcomes
        ],
        "extra_data": {"student": result.student, "source": result.source,
                       "problem": result.problem, "seconds": round(result.seconds, 3),
                       "incidents": [f"{o.name}: {o.message}" for o in result.outcomes
                                     if o.status in ("timeout", "crashed")]},
    }


# ---------------------------------------------------------------------------------------------
# Feedback, for the student


def feedback_markdown(result: SubmissionResult) -> str:
    lines = [f"# Feedback for {inline_code(result.student)}", "",
             f"**Score: {result.score:g} / {result.max_score:g}**", ""]
    if result.problem:
        lines += ["Nothing could be graded:", "", code_block(result.problem), ""]
    failed = [o for o in result.outcomes if o.status != "passed"]
    if failed and not result.problem:
        lines += ["## What to fix", ""]
        for o in failed:
            lines += [f"### {o.concept} ({o.points:g} points)", "", code_block(o.message), ""]
    lines += ["## Every test", "", "| test | result | points |", "| --- | --- | --- |"]
    lines += [f"| {o.concept} | {o.status} | {o.score:g}/{o.points:g} |" for o in result.outcomes]
    return "\n".join(lines + _printed_section(result)) + "\n"


def _printed_section(result: SubmissionResult) -> list[str]:
    """What the student's code printed, as a code block no text inside can close."""
    if not result.output:
        return []
    size = len(result.output.encode()) // 1024 or 1
    told = (f"The first {size} KB of what your code printed (the rest was cut):" if result.output_cut
            else "What your code printed:")
    return ["", "## What your code printed", "", told, "", code_block(result.output.rstrip("\n"))]


def feedback_html(result: SubmissionResult) -> str:
    """The same feedback as a page a browser shows; raw HTML in the markdown stays text."""
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(feedback_markdown(result))
    return _page(f"Feedback for {result.student}", body)


def code_block(text: str) -> str:
    """`text` as a fenced code block in a block quote: the fence is longer than any run of
    backticks in it, so the text cannot close it, and each of its lines starts with "> ", so
    none reads as a line of the feedback itself."""
    text = printable(text.replace("\r\n", "\n"))
    fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", text)), default=0))
    return "\n".join(f"> {line}".rstrip() for line in [f"{fence}text", *text.split("\n"), fence])


def inline_code(text: str) -> str:
    """`text` as inline code on one line (a newline in it is written as an escape)."""
    text = printable(text).replace("\n", "\\n").replace("\t", "\\t")
    fence = "`" * (1 + max((len(run) for run in re.findall(r"`+", text)), default=0))
    return f"{fence} {text} {fence}"


# ---------------------------------------------------------------------------------------------
# The class, for the instructor


def spreadsheet_safe(cell: str) -> str:
    """A cell that a spreadsheet shows as text instead of evaluating it."""
    return "'" + cell if cell.startswith(FORMULA_START) else cell


def write_grades_csv(out: Path, results: list[dict]) -> Path:
    tests = [t["number"] for t in results[0]["tests"]] if results else []
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["student", "score", "max_score", *tests])
    for r in results:
        scores = {t["number"]: t["score"] for t in r["tests"]}
        writer.writerow([spreadsheet_safe(printable(r["extra_data"]["student"])), f"{r['score']:g}", f"{r['max_score']:g}",
                         *(f"{scores.get(name, 0):g}" for name in tests)])
    write_atomically(out / "grades.csv", buffer.getvalue())
    return out / "grades.csv"


def pass_rates(results: list[dict]) -> list[tuple[str, float]]:
    if not results:
        return []
    names = [t["name"] for t in results[0]["tests"]]
    passed = {name: 0 for name in names}
    for r in results:
        for t in r["tests"]:
            passed[t["name"]] = passed.get(t["name"], 0) + (t["status"] == "passed")
    return [(name, passed[name] / len(results)) for name in names]


def write_report_html(out: Path, results: list[dict]) -> Path:
    charts = _histogram_svg(results) + _pass_rate_svg(results)
    rows = "".join(
        f"<tr><td><a href='{quote(r['extra_data']['folder'])}/feedback.html'>"
        f"{html.escape(printable(r['extra_data']['student']))}</a></td><td>{r['score']:g}/{r['max_score']:g}</td>"
        f"<td>{html.escape(printable(r['extra_data']['problem']))}</td></tr>" for r in results)
    body = (f"<h1>Grading report</h1><p>{len(results)} submissions.</p>{charts}"
            f"<h2>Students</h2><table><tr><th>student</th><th>score</th><th>problem</th></tr>{rows}</table>")
    write_atomically(out / "report.html", _page("Grading report", body))
    return out / "report.html"


def _page(title: str, body: str) -> str:
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(printable(title))}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}} td,th{{padding:.2em .8em;text-align:left}}
svg{{max-width:100%;height:auto}} pre{{background:#f4f4f4;padding:.5em;white-space:pre-wrap}}</style></head><body>
{body}
</body></html>"""


def score_bins(results: list[dict]) -> list[tuple[str, int]]:
    """How many submissions scored 0-9, 10-19, ..., 90-99 and 100 (of a maximum of 100)."""
    counts = [0] * 11
    for r in results:
        share = 100 * r["score"] / r["max_score"] if r["max_score"] else 0
        counts[min(10, max(0, int(share // 10)))] += 1
    return [(f"{10 * i}-{10 * i + 9}", n) for i, n in enumerate(counts[:10])] + [("100", counts[10])]


def bars_svg(rows: list[tuple[str, float]], top: float, unit: str, color: str) -> str:
    """A horizontal bar chart, one labelled bar per row, as inline SVG: a few rectangles and
    texts, where a plotting library would cost the run a second to import."""
    label_width, bar_width, height = 12 + 7 * max((len(label) for label, _ in rows), default=1), 320, 18
    width, total = label_width + bar_width + 60, height * len(rows) + 4
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{total}" '
             f'viewBox="0 0 {width} {total}" font-family="sans-serif" font-size="12">']
    for i, (label, value) in enumerate(rows):
        y, length = 2 + height * i, bar_width * value / top if top else 0
        parts += [f'<text x="{label_width - 6}" y="{y + 13}" text-anchor="end">{html.escape(label)}</text>',
                  f'<rect x="{label_width}" y="{y + 2}" width="{length:.1f}" height="{height - 4}" fill="{color}"/>',
                  f'<text x="{label_width + length + 4:.1f}" y="{y + 13}">{value:g}{unit}</text>']
    return "".join(parts) + "</svg>"


def _histogram_svg(results: list[dict]) -> str:
    bins = score_bins(results)
    return "<h2>Scores</h2>" + bars_svg(bins, max((n for _, n in bins), default=0), "", "#4c72b0")


def _pass_rate_svg(results: list[dict]) -> str:
    rows = [(printable(name), round(100 * rate)) for name, rate in pass_rates(results)]
    return "<h2>Tests: % of submissions passing</h2>" + bars_svg(rows, 100, "%", "#55a868")
