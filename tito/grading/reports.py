"""What grading writes: per student `results.json` (Gradescope's format) and `feedback.md`,
then `grades.csv` and `report.html` for the whole class, rebuilt from the per-student files."""
from __future__ import annotations

import csv
import html
import io
import json
import re
from pathlib import Path

from tito.exporter import write_atomically
from tito.grading.judge import SubmissionResult

RESULTS = "results.json"


def write_submission(out: Path, result: SubmissionResult) -> None:
    """Feedback first, results last: a folder with `results.json` is a finished submission."""
    folder = out / result.student
    write_atomically(folder / "feedback.md", feedback_markdown(result))
    write_atomically(folder / RESULTS, json.dumps(gradescope_results(result), indent=2) + "\n")


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
                       "incidents": [o.message for o in result.outcomes if o.status in ("timeout", "crashed")]},
    }


def feedback_markdown(result: SubmissionResult) -> str:
    lines = [f"# Feedback for {result.student}", "",
             f"**Score: {result.score:g} / {result.max_score:g}**", ""]
    if result.problem:
        lines += [f"Nothing could be graded: {result.problem}", ""]
    failed = [o for o in result.outcomes if o.status != "passed"]
    if failed and not result.problem:
        lines += ["## What to fix", ""]
        lines += [f"- **{o.concept}** ({o.points:g} points): {o.message}" for o in failed] + [""]
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
    text = "".join(c if c.isprintable() or c in "\n\t" else repr(c)[1:-1] for c in result.output)
    fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", text)), default=0))
    return ["", "## What your code printed", "", told, "", fence + "text", text.rstrip("\n"), fence]


def load_results(out: Path) -> list[dict]:
    """Every finished submission's results.json in OUT, sorted by student."""
    return [json.loads(path.read_text()) for path in sorted(out.glob(f"*/{RESULTS}"))]


def write_grades_csv(out: Path, results: list[dict]) -> Path:
    tests = [t["number"] for t in results[0]["tests"]] if results else []
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["student", "score", "max_score", *tests])
    for r in results:
        scores = {t["number"]: t["score"] for t in r["tests"]}
        writer.writerow([r["extra_data"]["student"], f"{r['score']:g}", f"{r['max_score']:g}",
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
        f"<tr><td><a href='{html.escape(r['extra_data']['student'])}/feedback.md'>"
        f"{html.escape(r['extra_data']['student'])}</a></td><td>{r['score']:g}/{r['max_score']:g}</td>"
        f"<td>{html.escape(r['extra_data']['problem'])}</td></tr>" for r in results)
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Grading report</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}} td,th{{padding:.2em .8em;text-align:left}}
svg{{max-width:100%;height:auto}}</style></head><body>
<h1>Grading report</h1><p>{len(results)} submissions.</p>{charts}
<h2>Students</h2><table><tr><th>student</th><th>score</th><th>problem</th></tr>{rows}</table>
</body></html>"""
    write_atomically(out / "report.html", page)
    return out / "report.html"


def _figure_svg(draw) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = draw(plt)
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue().split("?>", 1)[-1]  # inline: drop the XML declaration


def _histogram_svg(results: list[dict]) -> str:
    def draw(plt):
        fig, ax = plt.subplots(figsize=(7, 3))
        ax.hist([r["score"] for r in results], bins=range(0, 106, 5), color="#4c72b0")
        ax.set(xlabel="score", ylabel="submissions", title="Score distribution")
        return fig
    return "<h2>Scores</h2>" + _figure_svg(draw)


def _pass_rate_svg(results: list[dict]) -> str:
    rates = pass_rates(results)

    def draw(plt):
        fig, ax = plt.subplots(figsize=(7, 0.3 * len(rates) + 1))
        ax.barh([name for name, _ in rates][::-1], [100 * rate for _, rate in rates][::-1], color="#55a868")
        ax.set(xlabel="% of submissions passing", xlim=(0, 100), title="Pass rate of each test")
        return fig
    return "<h2>Tests</h2>" + _figure_svg(draw)
