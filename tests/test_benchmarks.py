"""The benchmarks still run: each one's quick mode gives every figure, and they are positive.

Their targets are for the report (`tito bench`), not for this test: the quick modes are too
small, and a shared machine too noisy, for a timing to pass or fail on.
"""
import argparse
import json

import pytest

from tito import bench
from tito.commands import bench as bench_command

pytestmark = pytest.mark.bench

MEASURED = {  # the figures each benchmark reports in every one of its cases
    "grade_throughput": {"nbgrader autograde", "tito grade"},
    "tito_test_latency": {"tito test 06", "python modules/06_optimizers/optimizers.py", "python -c 'import numpy'"},
    "optimizer_step": {"a += b", "solution SGD", "solution Momentum", "solution Adam", "solution AdamW",
                       "torch foreach=False Adam", "torch foreach=True Adam"},
}


@pytest.mark.parametrize("name", bench.BENCHMARKS)
def test_quick_mode_gives_positive_figures(course, name):
    result = bench.load_benchmark(course.root, name).run(quick=True)
    assert result["title"] and result["targets"]
    for case in {r["case"] for r in result["rows"]}:
        names = {r["name"] for r in result["rows"] if r["case"] == case}
        assert MEASURED[name] <= names, (case, names)
    for r in result["rows"]:
        assert r["runs"] >= 1 and 0 < r["low"] <= r["median"] <= r["high"], r
        assert all(value >= 0 for value in r["extra"].values()), r
    assert all(isinstance(t["met"], bool) and t["value"] for t in result["targets"])
    json.dumps(result)  # what results.json holds


FAKE = {"title": "fake", "notes": ["a note"], "targets": [bench.target("fast", "1 s", True)],
        "rows": [bench.row("case", "one", "s", [1.0, 2.0, 3.0], **{"x other": 2.0}),
                 bench.row("case", "other", "s", [2.0, 4.0])]}


def test_command_prints_tables_and_writes_json_markdown_and_plot(course, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bench, "load_benchmark", lambda root, name: argparse.Namespace(run=lambda quick: FAKE))
    monkeypatch.chdir(course.root)
    parser = argparse.ArgumentParser()
    bench_command.add_arguments(parser)
    assert bench_command.run(parser.parse_args(["optimizer_step", "--out", str(tmp_path)])) == 0
    printed = capsys.readouterr().out
    assert "fake" in printed and "met: fast (1 s)" in printed and "0 targets not met" in printed
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["benchmarks"]["optimizer_step"]["rows"][0]["median"] == 2.0
    assert results["machine"]["cores"] >= 1 and not results["quick"]
    table = (tmp_path / "results.md").read_text()
    assert table.startswith("Measured on ") and "| case | one | 2 | 1–3 | s | 2 |" in table
    assert (tmp_path / "results.png").stat().st_size > 0


def test_the_readme_shows_the_targets_of_the_committed_results(course):
    results = json.loads((course.root / bench.FOLDER / "results.json").read_text())
    readme = (course.root / "README.md").read_text()
    assert bench.with_targets(readme, results) == readme, "run tito bench, or rewrite the README's table"
    assert sum(len(b["targets"]) for b in results["benchmarks"].values()) == readme.count("| met |") + readme.count(
        "| **not met** |")


def test_the_command_writes_the_readme_table_with_the_repository_results(course_copy, monkeypatch, capsys):
    monkeypatch.setattr(bench, "load_benchmark", lambda root, name: argparse.Namespace(run=lambda quick: FAKE))
    parser = argparse.ArgumentParser()
    bench_command.add_arguments(parser)
    assert bench_command.run(parser.parse_args(["optimizer_step"])) == 0
    readme = (course_copy.root / "README.md").read_text()
    assert "| fake | fast | 1 s | met |" in readme and "## Layout" in readme


def test_an_unknown_benchmark_is_named(course):
    with pytest.raises(bench.CourseError, match="Unknown benchmark nope: choose from grade_throughput"):
        bench.run_benchmarks(course.root, ["nope"], quick=True)
